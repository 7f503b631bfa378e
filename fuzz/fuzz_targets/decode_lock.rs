//! The lock decoder never panics; an accepted lock round-trips byte for byte.
//! The property lives in `cairn_format::fuzzing`, so `cargo test` replays this target's corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_format::fuzzing::lock(data));
