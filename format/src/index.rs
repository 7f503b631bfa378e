//! Index files (SPEC §8): for each pack, its length and the blobs it holds, so a reader finds
//! any blob without opening packs. Index files are write-once; one may name older index files
//! it supersedes, which readers then ignore.

use crate::FormatError;
use crate::header::FILE_HEADER_LEN;
use crate::id::{ID_LEN, IndexId, ObjectId, PackId};
use crate::limits::{MAX_INDEX_PACKS, MAX_PACK_ENTRIES, MAX_PACK_LEN, MAX_SUPERSEDED};
use crate::pack::{MIN_PACK_LEN, PACK_ENTRY_LEN, PackEntry};
use crate::wire::{Reader, Writer, check_range};

/// One pack as an index file describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct IndexPack {
    /// The pack's id (hash of its bytes).
    pub id: PackId,
    /// The pack file's length in bytes.
    pub pack_len: u32,
    /// Its blobs.
    pub blobs: Vec<PackEntry>,
}

/// The decoded payload of an index file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct IndexFile {
    /// Index files whose content this one includes; readers skip them.
    pub supersedes: Vec<IndexId>,
    /// The packs described.
    pub packs: Vec<IndexPack>,
}

impl IndexFile {
    /// Encodes the payload body.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let blobs: usize = self.packs.iter().map(|p| p.blobs.len()).sum();
        let mut w = Writer::with_capacity(8 + self.packs.len() * 40 + blobs * PACK_ENTRY_LEN);
        w.count_u32("index.supersedes_count", self.supersedes.len(), MAX_SUPERSEDED)?;
        for id in &self.supersedes {
            w.bytes(id.0.as_bytes());
        }
        w.count_u32("index.pack_count", self.packs.len(), MAX_INDEX_PACKS)?;
        for pack in &self.packs {
            w.bytes(pack.id.0.as_bytes());
            w.u32(pack.pack_len);
            w.count_u32("index.pack.blob_count", pack.blobs.len(), MAX_PACK_ENTRIES)?;
            for blob in &pack.blobs {
                w.u8(blob.blob_type.code());
                w.bytes(blob.id.as_bytes());
                w.u32(blob.offset);
                w.u32(blob.sealed_len);
                w.u32(blob.raw_len);
            }
        }
        Ok(w.into_bytes())
    }

    /// Decodes a payload body.
    pub fn decode(bytes: &[u8]) -> Result<IndexFile, FormatError> {
        let mut r = Reader::new(bytes);
        let count = r.count_u32("index.supersedes_count", MAX_SUPERSEDED, ID_LEN)?;
        let mut supersedes = Vec::with_capacity(count);
        for _ in 0..count {
            supersedes.push(IndexId(ObjectId(r.array("index.supersedes")?)));
        }
        let count = r.count_u32("index.pack_count", MAX_INDEX_PACKS, ID_LEN + 8)?;
        let mut packs = Vec::with_capacity(count);
        for _ in 0..count {
            packs.push(decode_pack(&mut r)?);
        }
        r.finish("index")?;
        Ok(IndexFile { supersedes, packs })
    }
}

fn decode_pack(r: &mut Reader<'_>) -> Result<IndexPack, FormatError> {
    let id = PackId(ObjectId(r.array("index.pack.id")?));
    let pack_len = r.u32("index.pack.len")?;
    check_range("index.pack.len", u64::from(pack_len), MIN_PACK_LEN, MAX_PACK_LEN)?;
    let count = r.count_u32("index.pack.blob_count", MAX_PACK_ENTRIES, PACK_ENTRY_LEN)?;
    if count == 0 {
        return Err(invalid("index.pack.blob_count", "a pack holds at least one blob"));
    }
    let mut blobs: Vec<PackEntry> = Vec::with_capacity(count);
    for _ in 0..count {
        let blob = PackEntry::decode(r, "index.pack.blob")?;
        let previous_end = blobs.last().map_or(FILE_HEADER_LEN as u64, PackEntry::end);
        if u64::from(blob.offset) < previous_end {
            return Err(invalid("index.pack.blob.offset", "blobs overlap or are out of order"));
        }
        if blob.end() > u64::from(pack_len) {
            return Err(invalid("index.pack.blob", "blob extends past the end of its pack"));
        }
        if blobs.first().is_some_and(|first| first.blob_type != blob.blob_type) {
            return Err(invalid("index.pack.blob.type", "a pack holds blobs of one type"));
        }
        blobs.push(blob);
    }
    Ok(IndexPack { id, pack_len, blobs })
}

fn invalid(field: &'static str, reason: &'static str) -> FormatError {
    FormatError::InvalidValue { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::BlobType;

    #[test]
    fn index_round_trips() {
        let index = IndexFile {
            supersedes: vec![IndexId(ObjectId([5; 32]))],
            packs: vec![IndexPack {
                id: PackId(ObjectId([6; 32])),
                pack_len: 1000,
                blobs: vec![PackEntry {
                    blob_type: BlobType::Tree,
                    id: ObjectId([7; 32]),
                    offset: 8,
                    sealed_len: 200,
                    raw_len: 150,
                }],
            }],
        };
        assert_eq!(IndexFile::decode(&index.encode().unwrap()).unwrap(), index);
    }

    #[test]
    fn blob_past_pack_end_is_rejected() {
        let index = IndexFile {
            supersedes: vec![],
            packs: vec![IndexPack {
                id: PackId(ObjectId([6; 32])),
                pack_len: 100,
                blobs: vec![PackEntry {
                    blob_type: BlobType::Data,
                    id: ObjectId([7; 32]),
                    offset: 8,
                    sealed_len: 200,
                    raw_len: 150,
                }],
            }],
        };
        assert!(IndexFile::decode(&index.encode().unwrap()).is_err());
    }
}
