//! Content-defined chunking (SPEC §6): FastCDC 2020 with normalization level 1, cutting with a
//! gear table derived entirely from the chunker subkey (not the `fastcdc` crate's public table
//! xored with a 64-bit seed), so cut points depend on the key. Bytes in, chunks out.

use std::io::{self, Read};

use cairn_format::config::ChunkerParams;
use fastcdc::v2020::{Normalization, cut_gear, select_masks};

use crate::crypto::SubKey;

/// Splits byte streams into chunks at content-defined, key-dependent boundaries.
pub struct Chunker {
    gear: Box<[u64; 256]>,
    gear_shifted: Box<[u64; 256]>,
    min_len: usize,
    avg_len: usize,
    max_len: usize,
    mask_s: u64,
    mask_l: u64,
}

impl Chunker {
    /// A chunker for `params` (already validated by the config decoder) and key.
    pub(crate) fn new(key: &SubKey, params: ChunkerParams) -> Chunker {
        let mut table = [0u8; 256 * 8];
        blake3::Hasher::new_keyed(key.bytes()).finalize_xof().fill(&mut table);
        let mut gear = Box::new([0u64; 256]);
        for (slot, bytes) in gear.iter_mut().zip(table.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            *slot = u64::from_le_bytes(word);
        }
        let gear_shifted = Box::new(gear.map(|g| g << 1));
        let to_usize = |v: u32| usize::try_from(v).expect("chunk sizes are at most 16 MiB");
        let avg_len = to_usize(params.avg_len);
        let (mask_s, mask_l) = select_masks(avg_len, Normalization::Level1);
        Chunker {
            gear,
            gear_shifted,
            min_len: to_usize(params.min_len),
            avg_len,
            max_len: to_usize(params.max_len),
            mask_s,
            mask_l,
        }
    }

    /// Length of the first chunk of `data`, where `data` holds at least `max_len` bytes or
    /// reaches the end of the stream.
    pub(crate) fn cut(&self, data: &[u8]) -> usize {
        let (_, len) = cut_gear(
            data,
            self.min_len,
            self.avg_len,
            self.max_len,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
            &self.gear[..],
            &self.gear_shifted[..],
        );
        len
    }

    /// Chunks of a byte stream, in order.
    pub fn chunks<R: Read>(&self, reader: R) -> Chunks<'_, R> {
        self.chunks_in(reader, Vec::new())
    }

    /// [`Chunker::chunks`] reading into `buffer` (recycled from an earlier stream with
    /// [`Chunks::into_buffer`]), which grows to two maximum-size chunks.
    pub(crate) fn chunks_in<R: Read>(&self, reader: R, mut buffer: Vec<u8>) -> Chunks<'_, R> {
        buffer.clear();
        buffer.reserve(2 * self.max_len);
        Chunks { chunker: self, reader, buf: buffer, start: 0, eof: false }
    }
}

/// Iterator over the chunks of a stream; holds at most two maximum-size chunks of input.
pub struct Chunks<'a, R> {
    chunker: &'a Chunker,
    reader: R,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
}

impl<R: Read> Chunks<'_, R> {
    /// Reads until a full maximum-size chunk is buffered or the stream ends.
    fn fill(&mut self) -> io::Result<()> {
        let max = self.chunker.max_len;
        if self.eof || self.buf.len() - self.start >= max {
            return Ok(());
        }
        self.buf.drain(..self.start);
        self.start = 0;
        let capacity = 2 * max;
        while !self.eof && self.buf.len() < max {
            let filled = self.buf.len();
            self.buf.resize(capacity, 0);
            match self.reader.read(&mut self.buf[filled..]) {
                Ok(0) => {
                    self.buf.truncate(filled);
                    self.eof = true;
                }
                Ok(n) => self.buf.truncate(filled + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.buf.truncate(filled),
                Err(e) => {
                    self.buf.truncate(filled);
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Chunks<'_, R> {
    /// The read buffer, for the next stream.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// The next chunk, borrowed from the internal buffer until the next call; `None` at the
    /// end of the stream. Callers that keep a chunk copy it, so chunks that are already
    /// stored cost no allocation.
    pub(crate) fn next_chunk(&mut self) -> Option<io::Result<&[u8]>> {
        if let Err(e) = self.fill() {
            return Some(Err(e));
        }
        let pending = &self.buf[self.start..];
        if pending.is_empty() {
            return None;
        }
        let len = self.chunker.cut(pending);
        let start = self.start;
        self.start += len;
        Some(Ok(&self.buf[start..start + len]))
    }
}

impl<R: Read> Iterator for Chunks<'_, R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().map(|chunk| chunk.map(<[u8]>::to_vec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params() -> ChunkerParams {
        ChunkerParams { min_len: 1024, avg_len: 4096, max_len: 16384 }
    }

    fn chunker(key: u8) -> Chunker {
        Chunker::new(&SubKey::from_bytes([key; 32]), params())
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 33).to_le_bytes()[0]
            })
            .collect()
    }

    fn lengths(c: &Chunker, data: &[u8]) -> Vec<usize> {
        c.chunks(data).map(|chunk| chunk.unwrap().len()).collect()
    }

    /// Cut points are part of the format: if they moved, every existing repository would
    /// store all its data again. This pins them for a fixed key and input.
    #[test]
    fn cut_points_are_unchanged() {
        let data = pseudo_random(200_000, 7);
        let lens = lengths(&chunker(1), &data);
        let expected = [
            6691, 5625, 5792, 3428, 4902, 4182, 2087, 6008, 3938, 4493, 1050, 4234, 1633, 4567, 10037, 6483,
            7166, 9452, 5284, 6139, 4211, 11902, 6128, 1167, 5909, 4250, 5637, 4131, 7472, 4552, 5102, 2358,
            5142, 6378, 2513, 5112, 1306, 2350, 5108, 1651, 2602, 1828,
        ];
        assert_eq!(lens, expected, "cut points changed");
        assert_eq!(lens.iter().sum::<usize>(), data.len());
    }

    #[test]
    fn different_keys_cut_differently() {
        let data = pseudo_random(200_000, 9);
        assert_ne!(lengths(&chunker(1), &data), lengths(&chunker(2), &data));
    }

    #[test]
    fn an_insertion_changes_few_chunks() {
        let data = pseudo_random(400_000, 11);
        let mut edited = data.clone();
        edited.insert(200_000, 0xff);
        let c = chunker(3);
        let before: Vec<Vec<u8>> = c.chunks(&data[..]).map(Result::unwrap).collect();
        let after: Vec<Vec<u8>> = c.chunks(&edited[..]).map(Result::unwrap).collect();
        let changed = after.iter().filter(|chunk| !before.contains(chunk)).count();
        assert!(changed <= 3, "{changed} chunks changed");
    }

    proptest! {
        #[test]
        fn chunks_tile_the_input_within_size_bounds(len in 0usize..100_000, seed in any::<u64>()) {
            let data = pseudo_random(len, seed);
            let c = chunker(4);
            let chunks: Vec<Vec<u8>> = c.chunks(&data[..]).map(Result::unwrap).collect();
            prop_assert_eq!(chunks.concat(), data);
            for (i, chunk) in chunks.iter().enumerate() {
                prop_assert!(chunk.len() <= 16384);
                if i + 1 < chunks.len() {
                    prop_assert!(chunk.len() >= 1024);
                }
            }
        }

        /// A reader that returns data in odd pieces must give the same chunks.
        #[test]
        fn chunks_do_not_depend_on_read_sizes(seed in any::<u64>(), piece in 1usize..5000) {
            struct Trickle<'a>(&'a [u8], usize);
            impl Read for Trickle<'_> {
                fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                    let n = self.1.min(out.len()).min(self.0.len());
                    out[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let data = pseudo_random(60_000, seed);
            let c = chunker(5);
            let whole: Vec<Vec<u8>> = c.chunks(&data[..]).map(Result::unwrap).collect();
            let trickled: Vec<Vec<u8>> = c.chunks(Trickle(&data, piece)).map(Result::unwrap).collect();
            prop_assert_eq!(whole, trickled);
        }
    }
}
