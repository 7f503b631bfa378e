//! The payload and file-header decoders never panic and respect the raw-length cap.
#![no_main]
use cairn_format::envelope::decode_payload;
use cairn_format::header::{FileKind, decode_file_header};
use cairn_format::wire::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = decode_payload(data, 1 << 20) {
        assert!(payload.raw_len <= 1 << 20);
    }
    for kind in [FileKind::Config, FileKind::Key, FileKind::Pack, FileKind::Index, FileKind::Snapshot] {
        let _ = decode_file_header(&mut Reader::new(data), kind);
    }
});
