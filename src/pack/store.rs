//! Stores a modest number of blobs from one thread (the trees `repair snapshots` rewrites):
//! sealed into spooled packs, each pack stored when full, and one index file naming them all
//! written at the end, before anything may reference them (SPEC §12).

use std::collections::HashSet;

use cairn_format::envelope::BlobType;
use cairn_format::header::FileKind;
use cairn_format::id::ObjectId;
use cairn_format::index::IndexPack;

use super::PackBuilder;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::layout;
use crate::repository::Repository;
use crate::storage::StorageErrorKind;

/// Blobs being stored synchronously.
pub(crate) struct BlobStore<'a> {
    repo: &'a Repository,
    index: &'a Index,
    open: Option<PackBuilder>,
    stored: Vec<IndexPack>,
    pending: HashSet<(BlobType, ObjectId)>,
}

impl<'a> BlobStore<'a> {
    pub(crate) fn new(repo: &'a Repository, index: &'a Index) -> Self {
        BlobStore { repo, index, open: None, stored: Vec::new(), pending: HashSet::new() }
    }

    /// Stores a blob unless the index or this store already has it.
    pub(crate) fn store(&mut self, blob_type: BlobType, id: ObjectId, raw: &[u8]) -> Result<()> {
        if self.index.contains(blob_type, &id) || !self.pending.insert((blob_type, id)) {
            return Ok(());
        }
        let sealed =
            self.repo.sealer().seal_blob(blob_type, &id, raw).map_err(|e| Error::system("encryption", e))?;
        let raw_len = u32::try_from(raw.len()).map_err(|_| Error::invalid("blob", "larger than 4 GiB"))?;
        let builder = match &mut self.open {
            Some(builder) => builder,
            None => self.open.insert(PackBuilder::new(blob_type, self.repo.storage().spool_dir())?),
        };
        builder.add(id, &sealed, raw_len)?;
        if builder.is_full(u64::from(self.repo.config().tree_pack_len)) {
            self.flush_pack()?;
        }
        Ok(())
    }

    fn flush_pack(&mut self) -> Result<()> {
        let Some(builder) = self.open.take() else { return Ok(()) };
        if builder.is_empty() {
            return Ok(());
        }
        let pack = builder.finish(self.repo.sealer())?;
        match self
            .repo
            .storage()
            .create_from_spool(&layout::file_path(FileKind::Pack, &pack.id.0), &pack.spool_path)
        {
            Ok(()) => {}
            Err(e) if e.kind == StorageErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        self.stored.push(pack.index_entry());
        Ok(())
    }

    /// Stores the last pack and writes the index file naming every pack stored.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.flush_pack()?;
        crate::index::write_index(self.repo, std::mem::take(&mut self.stored), Vec::new())?;
        Ok(())
    }
}
