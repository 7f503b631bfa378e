//! Hostile sizes are rejected without allocating what they ask for: zstd frames claiming a
//! huge content size or window, Argon2 parameters asking for terabytes, length fields
//! pointing past the buffer. Its own test binary, so the process's peak memory (`VmHWM`)
//! measures these decodes alone.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used, clippy::panic)]

use cairn_format::envelope::{Codec, decode_payload, encode_payload_header};
use cairn_format::key::KdfParams;

/// zstd frame magic (RFC 8878 §3.1.1).
const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// A last raw block (RFC 8878 §3.1.1.2) holding `content`.
fn raw_block(content: &[u8]) -> Vec<u8> {
    let header = 1 | (u32::try_from(content.len()).unwrap() << 3);
    [&header.to_le_bytes()[..3], content].concat()
}

/// One zstd frame of `len` zeros, compressed in a stream so it is never held raw.
fn zstd_bomb(len: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..len / zeros.len() {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

/// Peak resident memory of this process so far, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn decompress(frame: &[u8], raw_len: u32) -> Result<Vec<u8>, cairn_format::FormatError> {
    let bytes = [&encode_payload_header(Codec::Zstd, raw_len)[..], frame].concat();
    decode_payload(&bytes, 16 << 20)?.decompress()
}

#[test]
fn hostile_sizes_are_rejected_with_bounded_memory() {
    let before = peak_rss_kib();

    // Frame_Content_Size 2^40 (1 TiB) with an 8-byte FCS field and a 1 KiB window.
    let huge_content = [&MAGIC[..], &[0xC0, 0x00], &(1u64 << 40).to_le_bytes(), &raw_block(b"")].concat();
    assert!(decompress(&huge_content, 1000).is_err());

    // Window_Descriptor exponent 31: a 2 TiB window, beyond any decoder's limit.
    let huge_window = [&MAGIC[..], &[0x00, 0xF8], &raw_block(b"hello")].concat();
    assert!(decompress(&huge_window, 5).is_err());

    // A 2 GiB window is legal; single-pass decoding into the raw_len buffer never allocates it.
    let big_window = [&MAGIC[..], &[0x00, 0xA8], &raw_block(b"hello")].concat();
    assert_eq!(decompress(&big_window, 5).unwrap(), b"hello");

    // A frame that really expands to 1 GiB, presented with a small raw_len.
    let bomb = zstd_bomb(1 << 30);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    assert!(decompress(&bomb, 1 << 20).is_err());

    // raw_len itself is capped before anything is allocated.
    let capped = [&encode_payload_header(Codec::Zstd, u32::MAX)[..], &bomb].concat();
    assert!(decode_payload(&capped, 16 << 20).is_err());

    // Argon2 asking for 4 TiB of memory or 2^32 passes.
    for params in [
        KdfParams { memory_kib: u32::MAX, time_cost: 1, lanes: 1 },
        KdfParams { memory_kib: 64, time_cost: u32::MAX, lanes: 1 },
        KdfParams { memory_kib: 64, time_cost: 1, lanes: u32::MAX },
    ] {
        assert!(params.validate().is_err(), "{params:?}");
    }

    // Length and count fields pointing far past the buffer.
    let mut tree = cairn_format::tree::Tree { nodes: Vec::new() }.encode().unwrap();
    tree.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(cairn_format::tree::Tree::decode(&tree).is_err());
    assert!(cairn_format::index::IndexFile::decode(&[0xFF; 64]).is_err());
    assert!(cairn_format::snapshot::Snapshot::decode(&[0xFF; 64]).is_err());

    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 32, "peak memory grew by {grown_mib} MiB");
}
