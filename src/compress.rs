//! zstd compression of payload bodies (SPEC §5.3). Decompression, which parses stored bytes,
//! is `cairn-format`'s (`Payload::decompress`).

use std::cell::RefCell;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_data_is_compressed() {
        let raw = b"abcabcabc".repeat(1000);
        let body = compress(3, &raw).unwrap();
        assert!(body.len() < raw.len());
        assert_eq!(zstd::bulk::decompress(&body, 9000).unwrap(), raw);
    }

    #[test]
    fn incompressible_data_is_stored_raw() {
        let mut raw = vec![0u8; 4096];
        crate::crypto::random_bytes(&mut raw).unwrap();
        assert!(compress(3, &raw).is_none());
    }
}
