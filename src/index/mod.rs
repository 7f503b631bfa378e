//! The in-memory index: where each blob is stored (SPEC §8). Loaded from every index file,
//! held as two sorted arrays of 42-byte entries (one per blob type) with a 64 Ki-bucket table
//! over the first two id bytes. Because the bucket gives those two bytes, an entry stores only
//! the other 30, plus 12 bytes of location: a repository of a million blobs costs about 45 MB,
//! and a lookup is a short binary search.

mod writer;

pub(crate) use writer::{IndexWriter, write as write_index};

use std::collections::{HashMap, HashSet};

use cairn_format::envelope::BlobType;
use cairn_format::header::FileKind;
use cairn_format::id::{IndexId, ObjectId, PackId};
use cairn_format::index::IndexFile;
use rayon::prelude::*;

use crate::error::{Error, ObjectKind, Result};
use crate::repository::Repository;
use crate::seal::SealedFile;

/// Where a blob is: which pack (a position in [`Index::packs`]), and its sealed box's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLocation {
    /// Position of the pack in [`Index::packs`].
    pub pack: u32,
    /// Offset of the sealed box in the pack.
    pub offset: u32,
    /// Length of the sealed box.
    pub sealed_len: u32,
}

impl BlobLocation {
    fn to_bytes(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..4].copy_from_slice(&self.pack.to_le_bytes());
        out[4..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..].copy_from_slice(&self.sealed_len.to_le_bytes());
        out
    }

    fn from_bytes(bytes: &[u8; 12]) -> BlobLocation {
        let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        BlobLocation { pack: word(0), offset: word(4), sealed_len: word(8) }
    }
}

/// Id bytes an entry stores: all but the two its bucket stands for.
const TAIL_LEN: usize = 30;

/// One blob: id bytes 2..32 and its location, byte arrays only, so 42 bytes with no padding.
#[derive(Clone, Copy)]
struct Entry {
    tail: [u8; TAIL_LEN],
    location: [u8; 12],
}

/// Blobs of one type sorted by id, with `buckets[b]..buckets[b + 1]` the entries whose id
/// starts with the big-endian 16-bit value `b`.
struct BlobTable {
    entries: Vec<Entry>,
    buckets: Vec<u32>,
}

const BUCKETS: usize = 1 << 16;

fn bucket_of(id: &[u8; 32]) -> usize {
    usize::from(id[0]) << 8 | usize::from(id[1])
}

fn tail_of(id: &[u8; 32]) -> [u8; TAIL_LEN] {
    let mut tail = [0u8; TAIL_LEN];
    tail.copy_from_slice(&id[2..]);
    tail
}

impl BlobTable {
    fn build(mut blobs: Vec<([u8; 32], BlobLocation)>) -> BlobTable {
        blobs.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // The same blob may be in two packs (two backups stored it at once); keep one.
        blobs.dedup_by(|a, b| a.0 == b.0);
        let mut buckets = vec![0u32; BUCKETS + 1];
        for (id, _) in &blobs {
            buckets[bucket_of(id) + 1] += 1;
        }
        for b in 1..=BUCKETS {
            buckets[b] += buckets[b - 1];
        }
        let entries = blobs
            .iter()
            .map(|(id, location)| Entry { tail: tail_of(id), location: location.to_bytes() })
            .collect();
        BlobTable { entries, buckets }
    }

    fn get(&self, id: &ObjectId) -> Option<BlobLocation> {
        let b = bucket_of(&id.0);
        let range = (self.buckets[b] as usize)..(self.buckets[b + 1] as usize);
        let slice = &self.entries[range];
        let tail = &id.0[2..];
        slice
            .binary_search_by(|entry| entry.tail.as_slice().cmp(tail))
            .ok()
            .map(|i| BlobLocation::from_bytes(&slice[i].location))
    }

    /// The blob's position among this table's entries: a dense number for bitsets.
    fn position(&self, id: &ObjectId) -> Option<usize> {
        let b = bucket_of(&id.0);
        let start = self.buckets[b] as usize;
        let slice = &self.entries[start..self.buckets[b + 1] as usize];
        let tail = &id.0[2..];
        slice.binary_search_by(|entry| entry.tail.as_slice().cmp(tail)).ok().map(|i| start + i)
    }

    fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>() + self.buckets.capacity() * 4
    }
}

/// Every blob of the repository and where it is.
pub struct Index {
    packs: Vec<PackId>,
    data: BlobTable,
    tree: BlobTable,
    files: Vec<IndexId>,
    superseded: HashSet<IndexId>,
}

impl Index {
    /// Loads every index file of `repo`, skipping those another index file supersedes.
    ///
    /// An index file that cannot be read or decoded is skipped with a warning (unless another
    /// index file supersedes it): the blobs it named are then unknown, which costs a backup
    /// some re-uploading and a restore a clear "missing blob" error, but never the whole
    /// repository. `cairn repair index` rebuilds the index from the packs. A storage failure
    /// is not damage and stops the load.
    pub(crate) fn load(repo: &Repository) -> Result<Index> {
        let files = read_index_files(repo)?;
        let index = Index::from_files(files.readable);
        for (id, error) in files.damaged {
            if !index.superseded.contains(&id) {
                repo.warn(&format!(
                    "index file {} skipped: {error}; run `cairn repair index` to rebuild the index from the packs",
                    id.short()
                ));
            }
        }
        Ok(index)
    }

    /// Index files superseded by one that was read.
    #[must_use]
    pub fn is_superseded(&self, id: &IndexId) -> bool {
        self.superseded.contains(id)
    }

    /// Builds the index from decoded index files (pure; what [`Index::load`] does after
    /// reading them).
    #[must_use]
    pub fn from_files(files: Vec<(IndexId, IndexFile)>) -> Index {
        let superseded: HashSet<IndexId> =
            files.iter().flat_map(|(_, f)| f.supersedes.iter().copied()).collect();
        let mut pack_numbers: HashMap<PackId, u32> = HashMap::new();
        let mut packs = Vec::new();
        let (mut data, mut tree) = (Vec::new(), Vec::new());
        let mut loaded = Vec::new();
        for (id, file) in files {
            if superseded.contains(&id) {
                continue;
            }
            loaded.push(id);
            for pack in file.packs {
                let number = *pack_numbers.entry(pack.id).or_insert_with(|| {
                    packs.push(pack.id);
                    u32::try_from(packs.len() - 1).expect("fewer than 2^32 packs")
                });
                for blob in pack.blobs {
                    let entry = (
                        blob.id.0,
                        BlobLocation { pack: number, offset: blob.offset, sealed_len: blob.sealed_len },
                    );
                    match blob.blob_type {
                        BlobType::Data => data.push(entry),
                        BlobType::Tree => tree.push(entry),
                    }
                }
            }
        }
        Index { packs, data: BlobTable::build(data), tree: BlobTable::build(tree), files: loaded, superseded }
    }

    /// Where the blob is, if the index has it.
    #[must_use]
    pub fn get(&self, blob_type: BlobType, id: &ObjectId) -> Option<BlobLocation> {
        match blob_type {
            BlobType::Data => self.data.get(id),
            BlobType::Tree => self.tree.get(id),
        }
    }

    /// The blob's position among the blobs of its type (`0..blob_count`), for bitsets over
    /// every blob of the repository.
    #[must_use]
    pub fn position(&self, blob_type: BlobType, id: &ObjectId) -> Option<usize> {
        match blob_type {
            BlobType::Data => self.data.position(id),
            BlobType::Tree => self.tree.position(id),
        }
    }

    /// Whether the index has the blob.
    #[must_use]
    pub fn contains(&self, blob_type: BlobType, id: &ObjectId) -> bool {
        self.get(blob_type, id).is_some()
    }

    /// The pack holding the blob and where it is in it, if the index has it (and names the
    /// pack it points at).
    #[must_use]
    pub fn locate(&self, blob_type: BlobType, id: &ObjectId) -> Option<(PackId, BlobLocation)> {
        let location = self.get(blob_type, id)?;
        Some((self.pack(location.pack)?, location))
    }

    /// The pack at position `number`.
    #[must_use]
    pub fn pack(&self, number: u32) -> Option<PackId> {
        self.packs.get(number as usize).copied()
    }

    /// Every pack the index names.
    #[must_use]
    pub fn packs(&self) -> &[PackId] {
        &self.packs
    }

    /// Number of blobs of a type.
    #[must_use]
    pub fn blob_count(&self, blob_type: BlobType) -> usize {
        match blob_type {
            BlobType::Data => self.data.entries.len(),
            BlobType::Tree => self.tree.entries.len(),
        }
    }

    /// The index files loaded.
    #[must_use]
    pub fn files(&self) -> &[IndexId] {
        &self.files
    }

    /// Bytes of heap the index holds (entries, buckets, pack list).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.data.heap_bytes()
            + self.tree.heap_bytes()
            + self.packs.capacity() * std::mem::size_of::<PackId>()
    }
}

/// The index files of a repository: those decoded, and those that could not be read with why.
pub(crate) struct IndexFiles {
    pub(crate) readable: Vec<(IndexId, IndexFile)>,
    pub(crate) damaged: Vec<(IndexId, Error)>,
}

/// Every index file of `repo`. Storage failures are returned as errors: they say nothing
/// about the files.
pub(crate) fn read_index_files(repo: &Repository) -> Result<IndexFiles> {
    let ids = repo.list(FileKind::Index)?;
    let results: Vec<(IndexId, Result<IndexFile>)> = ids
        .par_iter()
        .map(|id| {
            let file = repo.read_file(SealedFile::Index, id).and_then(|body| {
                IndexFile::decode(&body).map_err(|e| Error::from_format(ObjectKind::Index, id, e))
            });
            (IndexId(*id), file)
        })
        .collect();
    let mut files = IndexFiles { readable: Vec::new(), damaged: Vec::new() };
    for (id, result) in results {
        match result {
            Ok(file) => files.readable.push((id, file)),
            Err(e @ Error::Storage(_)) => return Err(e),
            Err(e) => files.damaged.push((id, e)),
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::index::IndexPack;
    use cairn_format::pack::PackEntry;

    fn file(pack: u8, blobs: &[(BlobType, u8)]) -> IndexFile {
        IndexFile {
            supersedes: vec![],
            packs: vec![IndexPack {
                id: PackId(ObjectId([pack; 32])),
                pack_len: 10_000,
                blobs: blobs
                    .iter()
                    .enumerate()
                    .map(|(i, &(blob_type, id))| PackEntry {
                        blob_type,
                        id: ObjectId([id; 32]),
                        offset: 8 + 100 * u32::try_from(i).unwrap(),
                        sealed_len: 100,
                        raw_len: 55,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn lookups_find_each_blob_by_type() {
        let index = Index::from_files(vec![(
            IndexId(ObjectId([1; 32])),
            file(9, &[(BlobType::Data, 3), (BlobType::Tree, 4)]),
        )]);
        let loc = index.get(BlobType::Data, &ObjectId([3; 32])).unwrap();
        assert_eq!((loc.offset, loc.sealed_len), (8, 100));
        assert_eq!(index.pack(loc.pack).unwrap(), PackId(ObjectId([9; 32])));
        assert!(index.get(BlobType::Tree, &ObjectId([3; 32])).is_none());
        assert!(index.contains(BlobType::Tree, &ObjectId([4; 32])));
        assert!(!index.contains(BlobType::Data, &ObjectId([5; 32])));
    }

    #[test]
    fn superseded_index_files_are_ignored() {
        let old = IndexId(ObjectId([1; 32]));
        let mut new = file(8, &[(BlobType::Data, 3)]);
        new.supersedes.push(old);
        let index = Index::from_files(vec![
            (old, file(9, &[(BlobType::Data, 7)])),
            (IndexId(ObjectId([2; 32])), new),
        ]);
        assert!(!index.contains(BlobType::Data, &ObjectId([7; 32])));
        assert!(index.contains(BlobType::Data, &ObjectId([3; 32])));
        assert_eq!(index.files().len(), 1);
    }

    /// Two backups may store the same blob in two packs; the index keeps one entry.
    #[test]
    fn duplicate_blobs_across_packs_are_tolerated() {
        let index = Index::from_files(vec![
            (IndexId(ObjectId([1; 32])), file(8, &[(BlobType::Data, 3)])),
            (IndexId(ObjectId([2; 32])), file(9, &[(BlobType::Data, 3)])),
        ]);
        assert_eq!(index.blob_count(BlobType::Data), 1);
        assert_eq!(index.packs().len(), 2);
    }
}
