//! zstd compression of payload bodies (SPEC §5.3). Decompression is capped at the payload's
//! authenticated `raw_len`, so a crafted frame cannot make cairn allocate more than that.

use std::cell::RefCell;

use cairn_format::envelope::Codec;

thread_local! {
    /// One compression context per thread and level: creating one costs more than compressing
    /// a small chunk.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// Compresses `raw` at zstd `level` (1..=22). Returns `None` when `level` is 0 or the result
/// would not be smaller, in which case the body is stored as is.
pub(crate) fn compress(level: u8, raw: &[u8]) -> Option<Vec<u8>> {
    if level == 0 || raw.len() < 64 {
        return None;
    }
    let level = i32::from(level);
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        let (_, compressor) = slot.as_mut()?;
        let compressed = compressor.compress(raw).ok()?;
        (compressed.len() < raw.len()).then_some(compressed)
    })
}

/// Why a body could not be decoded.
#[derive(Debug)]
pub(crate) struct DecompressError;

/// Decodes a body stored with `codec` into exactly `raw_len` bytes.
pub(crate) fn decompress(codec: Codec, body: &[u8], raw_len: u32) -> Result<Vec<u8>, DecompressError> {
    let raw_len = usize::try_from(raw_len).map_err(|_| DecompressError)?;
    let raw = match codec {
        Codec::None => body.to_vec(),
        Codec::Zstd => {
            // Exactly one frame (SPEC §5.3): the decoder would otherwise accept several.
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

    /// A frame that claims more than `raw_len` must fail, not allocate what it claims.
    #[test]
    fn output_beyond_raw_len_is_rejected() {
        let raw = vec![7u8; 100_000];
        let body = compress(3, &raw).unwrap();
        assert!(decompress(Codec::Zstd, &body, 1000).is_err());
        assert!(decompress(Codec::Zstd, &body, 100_001).is_err());
    }
}
