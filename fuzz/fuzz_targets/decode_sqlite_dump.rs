//! The SQLite dump decoders never panic; every accepted header and record encodes back to the
//! same bytes. The property lives in `cairn_format::fuzzing`, so `cargo test` replays this
//! target's corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_format::fuzzing::sqlite_dump(data));
