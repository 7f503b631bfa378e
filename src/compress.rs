//! zstd compression of payload bodies (SPEC §5.3). Decompression is capped at the payload's
//! authenticated `raw_len`, so a crafted frame cannot make cairn allocate more than that.

use std::cell::RefCell;

use cairn_format::envelope::Codec;

/// A zstd context and an output buffer, kept per thread and level: creating a context costs
/// more than compressing a small chunk, and reusing the buffer avoids an allocation per blob.
struct Scratch {
    level: i32,
    compressor: zstd::bulk::Compressor<'static>,
    output: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// Compresses `raw` at zstd `level` (1..=22) and calls `use_body` with the compressed bytes,
/// or with `None` when `level` is 0 or compression would not make the body smaller (it is
/// then stored as is).
pub(crate) fn with_compressed<R>(level: u8, raw: &[u8], use_body: impl FnOnce(Option<&[u8]>) -> R) -> R {
    if level == 0 || raw.len() < 64 {
        return use_body(None);
    }
    let level = i32::from(level);
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|s| s.level != level)
            && let Ok(compressor) = zstd::bulk::Compressor::new(level)
        {
            *slot = Some(Scratch { level, compressor, output: Vec::new() });
        }
        let Some(scratch) = slot.as_mut() else {
            return use_body(None);
        };
        scratch.output.clear();
        scratch.output.reserve(zstd::zstd_safe::compress_bound(raw.len()));
        match scratch.compressor.compress_to_buffer(raw, &mut scratch.output) {
            Ok(len) if len < raw.len() => use_body(Some(&scratch.output)),
            _ => use_body(None),
        }
    })
}

/// [`with_compressed`] returning an owned copy, for tests.
#[cfg(test)]
pub(crate) fn compress(level: u8, raw: &[u8]) -> Option<Vec<u8>> {
    with_compressed(level, raw, |body| body.map(<[u8]>::to_vec))
}

/// The first four bytes of a zstd frame (RFC 8878 §3.1.1), little-endian 0xFD2FB528.
const ZSTD_FRAME_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Why a body could not be decoded.
#[derive(Debug)]
pub(crate) struct DecompressError;

/// Decodes a body stored with `codec` into exactly `raw_len` bytes.
pub(crate) fn decompress(codec: Codec, body: &[u8], raw_len: u32) -> Result<Vec<u8>, DecompressError> {
    let raw_len = usize::try_from(raw_len).map_err(|_| DecompressError)?;
    let raw = match codec {
        Codec::None => body.to_vec(),
        Codec::Zstd => {
            // Exactly one zstd frame (SPEC §5.3), not a skippable one: the decoder would
            // otherwise accept several frames, or a skippable frame alone as empty output.
            if !body.starts_with(&ZSTD_FRAME_MAGIC) {
                return Err(DecompressError);
            }
            let frame_len = zstd::zstd_safe::find_frame_compressed_size(body).map_err(|_| DecompressError)?;
            if frame_len != body.len() {
                return Err(DecompressError);
            }
            zstd::bulk::decompress(body, raw_len).map_err(|_| DecompressError)?
        }
    };
    if raw.len() == raw_len { Ok(raw) } else { Err(DecompressError) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_data_round_trips() {
        let raw = b"abcabcabc".repeat(1000);
        let body = compress(3, &raw).unwrap();
        assert!(body.len() < raw.len());
        assert_eq!(decompress(Codec::Zstd, &body, 9000).unwrap(), raw);
    }

    #[test]
    fn incompressible_data_is_stored_raw() {
        let mut raw = vec![0u8; 4096];
        crate::crypto::random_bytes(&mut raw).unwrap();
        assert!(compress(3, &raw).is_none());
    }

    #[test]
    fn two_concatenated_frames_are_rejected() {
        let raw = vec![7u8; 10_000];
        let body = compress(3, &raw).unwrap();
        let twice = [body.clone(), body].concat();
        assert!(decompress(Codec::Zstd, &twice, 20_000).is_err());
    }

    #[test]
    fn a_skippable_frame_is_not_a_body() {
        let skippable = [0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0];
        assert!(decompress(Codec::Zstd, &skippable, 0).is_err());
        let body = compress(3, &[9u8; 1000]).unwrap();
        assert!(decompress(Codec::Zstd, &[&skippable[..], &body].concat(), 1000).is_err());
    }

    /// A frame that claims more than `raw_len` must fail, not allocate what it claims.
    #[test]
    fn output_beyond_raw_len_is_rejected() {
        let raw = vec![7u8; 100_000];
        let body = compress(3, &raw).unwrap();
        assert!(decompress(Codec::Zstd, &body, 1000).is_err());
        assert!(decompress(Codec::Zstd, &body, 100_001).is_err());
    }
}
