//! Stores blobs from one thread (the trees `repair snapshots` rewrites, the chunks and trees
//! `copy` writes): sealed into spooled packs, one open pack per blob type, each stored when
//! full, and index files naming them written at checkpoints and at the end, before anything
//! may reference them (SPEC §12).

use std::collections::HashSet;

use cairn_format::envelope::BlobType;
use cairn_format::id::ObjectId;
use cairn_format::index::IndexPack;

use super::PackBuilder;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::repository::Repository;
use crate::seal::BlobPayload;

/// Blobs being stored synchronously.
pub(crate) struct BlobStore<'a> {
    repo: &'a Repository,
    index: &'a Index,
    /// The open pack of each blob type (a pack holds blobs of one type).
    open: Vec<(BlobType, PackBuilder)>,
    stored: Vec<IndexPack>,
    pending: HashSet<(BlobType, ObjectId)>,
    /// Blobs sealed so far, and their sealed bytes.
    added: (u64, u64),
}

impl<'a> BlobStore<'a> {
    pub(crate) fn new(repo: &'a Repository, index: &'a Index) -> Self {
        BlobStore {
            repo,
            index,
            open: Vec::new(),
            stored: Vec::new(),
            pending: HashSet::new(),
            added: (0, 0),
        }
    }

    /// Stores a blob unless the index or this store already has it.
    pub(crate) fn store(&mut self, blob_type: BlobType, id: ObjectId, raw: &[u8]) -> Result<()> {
        if !self.is_new(blob_type, id) {
            return Ok(());
        }
        let sealed =
            self.repo.sealer().seal_blob(blob_type, &id, raw).map_err(|e| Error::system("encryption", e))?;
        let raw_len = u32::try_from(raw.len()).map_err(|_| Error::invalid("blob", "larger than 4 GiB"))?;
        self.add_sealed(blob_type, id, &sealed, raw_len)
    }

    /// Stores a blob of another repository with the same content keys, given as the payload
    /// read there, unless the index or this store already has it. The payload keeps its
    /// compression.
    pub(crate) fn store_payload(
        &mut self,
        blob_type: BlobType,
        id: ObjectId,
        payload: &BlobPayload,
    ) -> Result<()> {
        if !self.is_new(blob_type, id) {
            return Ok(());
        }
        let sealed = self
            .repo
            .sealer()
            .seal_blob_payload(blob_type, &id, payload)
            .map_err(|e| Error::system("encryption", e))?;
        self.add_sealed(blob_type, id, &sealed, payload.raw_len)
    }

    /// Whether the blob is neither indexed nor stored by this store yet; if so, it counts
    /// as stored from now on, and the caller must [`BlobStore::add_sealed`] it.
    pub(crate) fn is_new(&mut self, blob_type: BlobType, id: ObjectId) -> bool {
        !self.index.contains(blob_type, &id) && self.pending.insert((blob_type, id))
    }

    /// Adds a blob sealed for this repository to the open pack of its type, storing the
    /// pack when it is full.
    pub(crate) fn add_sealed(
        &mut self,
        blob_type: BlobType,
        id: ObjectId,
        sealed: &[u8],
        raw_len: u32,
    ) -> Result<()> {
        let slot = if let Some(slot) = self.open.iter().position(|(t, _)| *t == blob_type) {
            slot
        } else {
            self.open.push((blob_type, PackBuilder::new(blob_type, self.repo.storage().spool_dir())?));
            self.open.len() - 1
        };
        let builder = &mut self.open[slot].1;
        builder.add(id, sealed, raw_len)?;
        self.added.0 += 1;
        self.added.1 += sealed.len() as u64;
        let target = match blob_type {
            BlobType::Data => self.repo.config().data_pack_len,
            BlobType::Tree => self.repo.config().tree_pack_len,
        };
        if builder.is_full(u64::from(target)) {
            let (_, full) = self.open.swap_remove(slot);
            self.store_pack(full)?;
        }
        Ok(())
    }

    fn store_pack(&mut self, builder: PackBuilder) -> Result<()> {
        if builder.is_empty() {
            return Ok(());
        }
        let pack = builder.finish(self.repo.sealer())?;
        pack.store(self.repo)?;
        self.stored.push(pack.index_entry());
        Ok(())
    }

    /// Blobs this store sealed, and their sealed bytes.
    pub(crate) fn added(&self) -> (u64, u64) {
        self.added
    }

    /// Stores the open packs and writes an index file naming every pack stored since the
    /// last checkpoint: after it, everything stored so far may be referenced.
    pub(crate) fn checkpoint(&mut self) -> Result<()> {
        for (_, builder) in std::mem::take(&mut self.open) {
            self.store_pack(builder)?;
        }
        crate::index::write_index(self.repo, std::mem::take(&mut self.stored), Vec::new())?;
        Ok(())
    }

    /// Stores the last packs and writes the index file naming every pack stored.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.checkpoint()
    }
}
