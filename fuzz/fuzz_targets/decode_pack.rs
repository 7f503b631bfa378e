//! Pack trailer and header decoders never panic; an accepted header round-trips.
#![no_main]
use cairn_format::pack::{PackHeader, decode_trailer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len_bytes, rest)) = data.split_first_chunk::<8>() else { return };
    let pack_len = u64::from_le_bytes(*len_bytes);
    let _ = decode_trailer(rest.get(..8).unwrap_or(rest), pack_len);
    if let Ok(header) = PackHeader::decode(rest, pack_len) {
        assert_eq!(header.encode().expect("a decoded header encodes"), rest);
    }
});
