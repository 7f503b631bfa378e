//! The snapshot decoder never panics; an accepted snapshot decodes again to the same value
//! (extra summary counters of newer writers are dropped, so bytes may differ).
#![no_main]
use cairn_format::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = Snapshot::decode(data) {
        let again = snapshot.encode().expect("a decoded snapshot encodes");
        assert_eq!(Snapshot::decode(&again).expect("re-encoding decodes"), snapshot);
    }
});
