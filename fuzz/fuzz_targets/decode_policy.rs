//! The policy decoder never panics; an accepted policy round-trips byte for byte.
//! The property lives in `cairn_format::fuzzing`, so `cargo test` replays this target's corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_format::fuzzing::policy(data));
