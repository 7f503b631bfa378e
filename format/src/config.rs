//! The repository config (SPEC §4.1): plaintext, so any reader learns the format version and
//! repository id without a key, and authenticated by a MAC under the config subkey.

use crate::FormatError;
use crate::header::{FileKind, decode_file_header, encode_file_header};
use crate::id::ObjectId;
use crate::limits::{CHUNK_AVG_LEN_RANGE, CHUNK_MAX_LEN_RANGE, CHUNK_MIN_LEN_RANGE};
use crate::wire::{Reader, Writer, check_range};

/// Length of the MAC that ends the config.
pub const CONFIG_MAC_LEN: usize = 32;

/// Content-defined chunking parameters (SPEC §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ChunkerParams {
    /// Smallest chunk, except a file's last.
    pub min_len: u32,
    /// Target average chunk length; a power of two.
    pub avg_len: u32,
    /// Largest chunk.
    pub max_len: u32,
}

impl ChunkerParams {
    /// Checks the SPEC §6 constraints.
    pub fn validate(&self) -> Result<(), FormatError> {
        let in_range = |field, value: u32, (min, max): (u32, u32)| {
            check_range(field, u64::from(value), u64::from(min), u64::from(max))
        };
        in_range("config.chunker.min_len", self.min_len, CHUNK_MIN_LEN_RANGE)?;
        in_range("config.chunker.avg_len", self.avg_len, CHUNK_AVG_LEN_RANGE)?;
        in_range("config.chunker.max_len", self.max_len, CHUNK_MAX_LEN_RANGE)?;
        if !self.avg_len.is_power_of_two() {
            return Err(invalid("config.chunker.avg_len", "not a power of two"));
        }
        if !self.min_len.is_multiple_of(2) || !self.max_len.is_multiple_of(2) {
            return Err(invalid("config.chunker", "min_len and max_len must be even"));
        }
        if !(self.min_len < self.avg_len && self.avg_len < self.max_len) {
            return Err(invalid("config.chunker", "needs min_len < avg_len < max_len"));
        }
        Ok(())
    }
}

/// The decoded repository config.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Config {
    /// Random id of the repository, bound into every AAD.
    pub repo_id: ObjectId,
    /// Chunking parameters.
    pub chunker: ChunkerParams,
    /// zstd level for blobs and metadata, 1..=22, or 0 to store everything uncompressed.
    pub compression_level: u8,
    /// Size at which a data pack is closed.
    pub data_pack_len: u32,
    /// Size at which a tree pack is closed.
    pub tree_pack_len: u32,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix_s: i64,
}

/// Chunker algorithm code 1: `FastCDC` 2020, normalization level 1, keyed gear table (SPEC §6).
const CHUNKER_FASTCDC_KEYED: u8 = 1;

impl Config {
    /// The bytes covered by the MAC: the whole config except the MAC itself.
    pub fn encode_unsigned(&self) -> Result<Vec<u8>, FormatError> {
        self.validate()?;
        let mut w = Writer::with_capacity(96);
        w.bytes(&encode_file_header(FileKind::Config));
        w.bytes(self.repo_id.as_bytes());
        w.u8(CHUNKER_FASTCDC_KEYED);
        w.u32(self.chunker.min_len);
        w.u32(self.chunker.avg_len);
        w.u32(self.chunker.max_len);
        w.u8(self.compression_level);
        w.u32(self.data_pack_len);
        w.u32(self.tree_pack_len);
        w.i64(self.created_unix_s);
        Ok(w.into_bytes())
    }

    /// Decodes a config file into the config, the bytes the MAC covers, and the MAC.
    pub fn decode(bytes: &[u8]) -> Result<(Config, &[u8], [u8; CONFIG_MAC_LEN]), FormatError> {
        let mut r = Reader::new(bytes);
        decode_file_header(&mut r, FileKind::Config)?;
        let repo_id = ObjectId(r.array("config.repo_id")?);
        let algorithm = r.u8("config.chunker.algorithm")?;
        if algorithm != CHUNKER_FASTCDC_KEYED {
            return Err(FormatError::Unsupported {
                field: "config.chunker.algorithm",
                found: u64::from(algorithm),
            });
        }
        let chunker = ChunkerParams {
            min_len: r.u32("config.chunker.min_len")?,
            avg_len: r.u32("config.chunker.avg_len")?,
            max_len: r.u32("config.chunker.max_len")?,
        };
        let config = Config {
            repo_id,
            chunker,
            compression_level: r.u8("config.compression_level")?,
            data_pack_len: r.u32("config.data_pack_len")?,
            tree_pack_len: r.u32("config.tree_pack_len")?,
            created_unix_s: r.i64("config.created")?,
        };
        let signed_len = bytes.len() - r.remaining();
        let mac = r.array("config.mac")?;
        r.finish("config")?;
        config.validate()?;
        let signed = bytes.get(..signed_len).ok_or(invalid("config", "length"))?;
        Ok((config, signed, mac))
    }

    fn validate(&self) -> Result<(), FormatError> {
        self.chunker.validate()?;
        check_range("config.compression_level", u64::from(self.compression_level), 0, 22)?;
        let max_pack = crate::limits::MAX_PACK_LEN / 2;
        check_range("config.data_pack_len", u64::from(self.data_pack_len), 1 << 16, max_pack)?;
        check_range("config.tree_pack_len", u64::from(self.tree_pack_len), 1 << 16, max_pack)?;
        Ok(())
    }
}

fn invalid(field: &'static str, reason: &'static str) -> FormatError {
    FormatError::InvalidValue { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Config {
        Config {
            repo_id: ObjectId([7; 32]),
            chunker: ChunkerParams { min_len: 256 << 10, avg_len: 1 << 20, max_len: 4 << 20 },
            compression_level: 3,
            data_pack_len: 16 << 20,
            tree_pack_len: 4 << 20,
            created_unix_s: 1_790_000_000,
        }
    }

    #[test]
    fn config_round_trips_with_its_mac() {
        let config = sample();
        let mut bytes = config.encode_unsigned().unwrap();
        let unsigned_len = bytes.len();
        bytes.extend_from_slice(&[9; 32]);
        let (decoded, signed, mac) = Config::decode(&bytes).unwrap();
        assert_eq!(decoded, config);
        assert_eq!(signed.len(), unsigned_len);
        assert_eq!(mac, [9; 32]);
    }

    #[test]
    fn odd_chunker_sizes_are_rejected() {
        let mut config = sample();
        config.chunker.avg_len = 1_000_000;
        assert!(config.encode_unsigned().is_err());
    }
}
