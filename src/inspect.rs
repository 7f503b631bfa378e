//! Looking inside a repository: listing a snapshot's entries and decoding individual files
//! (`cairn ls`, `cairn cat`).

use cairn_format::header::FileKind;
use cairn_format::id::{IndexId, KeyId, PackId};
use cairn_format::index::IndexFile;
use cairn_format::key::KeySlot;
use cairn_format::pack::PackHeader;
use cairn_format::tree::{Node, NodeKind};

use crate::error::{Damage, Error, ObjectKind, Result};
use crate::index::Index;
use crate::pack::read_pack_header;
use crate::repository::{Repository, object_kind};
use crate::seal::SealedFile;
use crate::snapshot::{SnapshotInfo, resolve_prefix};
use crate::tree::{components, find_node, walk_tree};

/// One entry of a snapshot.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Path inside the snapshot, starting with `/`, as raw bytes.
    pub path: Vec<u8>,
    /// The tree node.
    pub node: Node,
}

impl Repository {
    /// Calls `visit` for entries of a snapshot in path order. With `path` empty or `/`, the
    /// whole snapshot; otherwise the entry at `path` and, for a directory, what is in it —
    /// everything below with `recursive`, its direct children without.
    pub fn ls(
        &self,
        snapshot: &SnapshotInfo,
        path: &str,
        recursive: bool,
        visit: &mut dyn FnMut(&Entry) -> Result<()>,
    ) -> Result<()> {
        let _lock = crate::lock::LockGuard::shared_if_writable(self, "ls");
        let index = Index::load(self)?;
        let parts = components(path.as_bytes());
        let root = snapshot.snapshot.tree;
        if parts.is_empty() {
            return walk_tree(self, &index, &root, b"", true, &mut |path, node| {
                visit(&Entry { path: path.to_vec(), node: node.clone() })
            });
        }
        let node = find_node(self, &index, &root, path.as_bytes())?
            .ok_or_else(|| Error::PathNotFound { path: path.to_string() })?;
        let base: Vec<u8> = parts.iter().flat_map(|p| [b"/".as_slice(), p].concat()).collect();
        let subtree = match &node.kind {
            NodeKind::Dir { subtree } => Some(*subtree),
            _ => None,
        };
        visit(&Entry { path: base.clone(), node })?;
        match subtree {
            Some(subtree) => walk_tree(self, &index, &subtree, &base, recursive, &mut |path, node| {
                visit(&Entry { path: path.to_vec(), node: node.clone() })
            }),
            None => Ok(()),
        }
    }

    /// The key slot whose id starts with `prefix`.
    pub fn key_slot(&self, prefix: &str) -> Result<(KeyId, KeySlot)> {
        let id = self.resolve(FileKind::Key, prefix)?;
        let (slot, _) = crate::key_slot::load_slot(self.storage(), &id)?;
        Ok((KeyId(id), slot))
    }

    /// The decoded index file whose id starts with `prefix`.
    pub fn index_file(&self, prefix: &str) -> Result<(IndexId, IndexFile)> {
        let id = self.resolve(FileKind::Index, prefix)?;
        let body = self.read_file(SealedFile::Index, &id)?;
        let file = IndexFile::decode(&body).map_err(|e| Error::from_format(ObjectKind::Index, id, e))?;
        Ok((IndexId(id), file))
    }

    /// The decoded header of the pack whose id starts with `prefix`.
    pub fn pack_header(&self, prefix: &str) -> Result<(PackId, PackHeader)> {
        let id = PackId(self.resolve(FileKind::Pack, prefix)?);
        Ok((id, read_pack_header(self, &id)?))
    }

    fn resolve(&self, kind: FileKind, prefix: &str) -> Result<cairn_format::id::ObjectId> {
        resolve_prefix(&self.list(kind)?, prefix, || {
            Error::corrupt(object_kind(kind), prefix, Damage::Missing)
        })
    }
}
