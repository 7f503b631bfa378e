//! Sizes and counts (`cairn stats`): of one snapshot, and of the whole repository.

use std::collections::HashSet;

use cairn_format::envelope::BlobType;
use cairn_format::header::FileKind;
use cairn_format::id::{ChunkId, TreeId};
use cairn_format::index::IndexFile;
use cairn_format::tree::NodeKind;
use rayon::prelude::*;

use crate::error::{Error, ObjectKind, Result};
use crate::index::Index;
use crate::repository::Repository;
use crate::seal::SealedFile;
use crate::snapshot::SnapshotInfo;
use crate::tree::load_tree;

/// What one snapshot holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Bytes a full restore writes.
    pub restore_size: u64,
    /// Distinct chunks the snapshot needs.
    pub unique_chunks: u64,
    /// Plaintext bytes of those chunks (content after deduplication).
    pub unique_size: u64,
    /// Bytes those chunks occupy in the repository (compressed and encrypted).
    pub stored_size: u64,
}

/// What the whole repository holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepositoryStats {
    /// Snapshots.
    pub snapshots: u64,
    /// Index files.
    pub index_files: u64,
    /// Packs named by the index.
    pub packs: u64,
    /// Bytes of those packs.
    pub pack_bytes: u64,
    /// Data blobs.
    pub data_blobs: u64,
    /// Tree blobs.
    pub tree_blobs: u64,
    /// Plaintext bytes of all blobs.
    pub raw_bytes: u64,
    /// Bytes of all blobs as stored.
    pub stored_bytes: u64,
}

impl Repository {
    /// Counts and sizes of one snapshot.
    pub fn snapshot_stats(&self, snapshot: &SnapshotInfo) -> Result<SnapshotStats> {
        let _lock = crate::lock::LockGuard::shared_if_writable(self, "stats");
        let index = Index::load(self)?;
        let mut stats = SnapshotStats::default();
        let mut chunks: HashSet<ChunkId> = HashSet::new();
        let mut stack: Vec<TreeId> = vec![snapshot.snapshot.tree];
        while let Some(id) = stack.pop() {
            for node in load_tree(self, &index, &id)?.nodes {
                match node.kind {
                    NodeKind::Dir { subtree } => {
                        stats.dirs += 1;
                        stack.push(subtree);
                    }
                    NodeKind::Symlink { .. } => stats.symlinks += 1,
                    NodeKind::File { chunks: list } | NodeKind::Database { chunks: list, .. } => {
                        stats.files += 1;
                        stats.restore_size += node.meta.size;
                        for chunk in list {
                            if chunks.insert(chunk.id) {
                                stats.unique_chunks += 1;
                                stats.unique_size += u64::from(chunk.raw_len);
                                if let Some(location) = index.get(BlobType::Data, &chunk.id.0) {
                                    stats.stored_size += u64::from(location.sealed_len);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(stats)
    }

    /// Counts and sizes of the whole repository, from its index files.
    pub fn repository_stats(&self) -> Result<RepositoryStats> {
        let ids = self.list(FileKind::Index)?;
        let files: Vec<(cairn_format::id::IndexId, IndexFile)> = ids
            .par_iter()
            .map(|id| {
                let body = self.read_file(SealedFile::Index, id)?;
                let file =
                    IndexFile::decode(&body).map_err(|e| Error::from_format(ObjectKind::Index, id, e))?;
                Ok((cairn_format::id::IndexId(*id), file))
            })
            .collect::<Result<_>>()?;
        let mut stats = RepositoryStats {
            snapshots: self.list(FileKind::Snapshot)?.len() as u64,
            index_files: files.len() as u64,
            ..RepositoryStats::default()
        };
        let mut seen_packs = HashSet::new();
        let mut seen_blobs = HashSet::new();
        for (_, file) in &files {
            for pack in &file.packs {
                if !seen_packs.insert(pack.id) {
                    continue;
                }
                stats.packs += 1;
                stats.pack_bytes += u64::from(pack.pack_len);
                for blob in &pack.blobs {
                    if !seen_blobs.insert((blob.blob_type, blob.id)) {
                        continue;
                    }
                    match blob.blob_type {
                        BlobType::Data => stats.data_blobs += 1,
                        BlobType::Tree => stats.tree_blobs += 1,
                    }
                    stats.raw_bytes += u64::from(blob.raw_len);
                    stats.stored_bytes += u64::from(blob.sealed_len);
                }
            }
        }
        Ok(stats)
    }
}
