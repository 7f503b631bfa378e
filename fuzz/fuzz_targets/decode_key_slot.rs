//! The key-slot decoder never panics, checks KDF bounds, and round-trips what it accepts.
#![no_main]
use cairn_format::key::KeySlot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((slot, _)) = KeySlot::decode(data) {
        assert!(slot.kdf.validate().is_ok());
        assert_eq!(slot.encode().expect("a decoded slot encodes"), data);
    }
});
