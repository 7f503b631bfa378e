//! The tree decoder never panics; an accepted tree round-trips byte for byte (trees are
//! content-addressed, so their encoding must be canonical).
#![no_main]
use cairn_format::tree::Tree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = Tree::decode(data) {
        assert_eq!(tree.encode().expect("a decoded tree encodes"), data);
    }
});
