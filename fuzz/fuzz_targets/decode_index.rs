//! The index decoder never panics; an accepted index round-trips.
#![no_main]
use cairn_format::index::IndexFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = IndexFile::decode(data) {
        assert_eq!(index.encode().expect("a decoded index encodes"), data);
    }
});
