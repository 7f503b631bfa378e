//! The key-slot decoder never panics, checks KDF bounds, and round-trips what it accepts.
//! The property lives in `cairn_format::fuzzing`, so `cargo test` replays this target's corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_format::fuzzing::key_slot(data));
