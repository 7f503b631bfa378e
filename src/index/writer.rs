//! Collects the packs a backup has made durable and writes index files naming them, in
//! checkpoints during long backups and once at the end (SPEC §12: packs before the index
//! that names them).

use std::time::{Duration, Instant};

use cairn_format::id::IndexId;
use cairn_format::index::{IndexFile, IndexPack};

use crate::error::{Error, Result};
use crate::repository::Repository;
use crate::seal::SealedFile;

/// Write an index checkpoint once this many packs are unindexed…
const CHECKPOINT_PACKS: usize = 32;
/// …or this long after the previous checkpoint.
const CHECKPOINT_AGE: Duration = Duration::from_mins(1);

/// Packs uploaded but not yet named by an index file.
pub(crate) struct IndexWriter {
    pending: Vec<IndexPack>,
    last_flush: Instant,
}

impl IndexWriter {
    pub(crate) fn new() -> Self {
        IndexWriter { pending: Vec::new(), last_flush: Instant::now() }
    }

    /// Records a durable pack.
    pub(crate) fn add(&mut self, pack: IndexPack) {
        self.pending.push(pack);
    }

    /// Whether enough has piled up that a checkpoint should be written.
    pub(crate) fn wants_checkpoint(&self) -> bool {
        self.pending.len() >= CHECKPOINT_PACKS
            || (!self.pending.is_empty() && self.last_flush.elapsed() >= CHECKPOINT_AGE)
    }

    /// Takes the pending packs, to be written by [`write`] (outside any lock).
    pub(crate) fn take(&mut self) -> Vec<IndexPack> {
        self.last_flush = Instant::now();
        std::mem::take(&mut self.pending)
    }
}

/// Writes one index file naming `packs` and superseding `supersedes`; nothing is written
/// when both are empty. Returns its id and length.
pub(crate) fn write(
    repo: &Repository,
    packs: Vec<IndexPack>,
    supersedes: Vec<IndexId>,
) -> Result<Option<(IndexId, u64)>> {
    if packs.is_empty() && supersedes.is_empty() {
        return Ok(None);
    }
    let file = IndexFile { supersedes, packs };
    let body = file.encode().map_err(|e| Error::invalid("index", e.to_string()))?;
    let (id, len) = repo.write_file(SealedFile::Index, &body)?;
    Ok(Some((IndexId(id), len)))
}
