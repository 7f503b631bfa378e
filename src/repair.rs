//! Repairs (`cairn repair index`, `cairn repair snapshots`). Each writes new files next to the
//! old ones and never deletes anything unless asked: a repair must not lose what a later,
//! better repair could still use.

use std::collections::{HashMap, HashSet};

use cairn_format::envelope::BlobType;
use cairn_format::header::FileKind;
use cairn_format::id::{IndexId, PackId, SnapshotId, TreeId};
use cairn_format::index::IndexPack;
use cairn_format::snapshot::Snapshot;
use cairn_format::timestamp::Timestamp;
use cairn_format::tree::{Node, NodeKind, Tree};
use rayon::prelude::*;

use crate::error::{Error, ObjectKind, Result};
use crate::index::Index;
use crate::layout;
use crate::pack::{BlobStore, read_blob, read_pack_header};
use crate::progress::CancelToken;
use crate::repository::Repository;
use crate::snapshot::SnapshotInfo;
use crate::tree::load_tree;

/// Snapshot metadata key naming the snapshot a repaired copy was made from.
const REPAIRED_FROM: &str = "cairn.repaired-from";

/// Packs per index file a rebuild writes (a few MiB of index each).
const PACKS_PER_INDEX_FILE: usize = 50_000;

/// What `repair index` did.
#[derive(Clone, Debug, Default)]
pub struct IndexRepair {
    /// Packs whose headers were read and indexed.
    pub packs_indexed: u64,
    /// Packs whose headers could not be read: their blobs are lost.
    pub unreadable_packs: Vec<(PackId, String)>,
    /// Index files written.
    pub index_files_written: u64,
    /// Older index files the new ones supersede (left in place).
    pub superseded: u64,
}

/// How to repair snapshots.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnapshotRepairOptions {
    /// Also read every data blob and treat those that fail to open as lost (slow).
    pub read_data: bool,
    /// Delete each original snapshot once its repaired copy is stored, and each snapshot
    /// whose root tree is lost (nothing of it can be restored).
    pub forget: bool,
}

/// One snapshot that `repair snapshots` rewrote.
#[derive(Clone, Debug)]
pub struct RepairedSnapshot {
    /// The damaged original.
    pub original: SnapshotId,
    /// The new snapshot without the lost entries.
    pub repaired: SnapshotId,
    /// Paths left out of the new snapshot.
    pub removed: Vec<String>,
}

/// What `repair snapshots` did.
#[derive(Clone, Debug, Default)]
pub struct SnapshotRepair {
    /// Snapshots rewritten.
    pub repaired: Vec<RepairedSnapshot>,
    /// Snapshots whose root tree itself is lost: nothing to rewrite.
    pub unrepairable: Vec<SnapshotId>,
    /// Snapshots that needed nothing.
    pub intact: u64,
    /// Originals and unrepairable snapshots deleted (with `forget`).
    pub forgotten: Vec<SnapshotId>,
}

impl Repository {
    /// Rebuilds the index from the headers of every pack in the repository. The new index
    /// files supersede every existing one; those stay in place, ignored.
    pub fn repair_index(&self, cancel: &CancelToken) -> Result<IndexRepair> {
        let _lock = crate::lock::LockGuard::exclusive(self, "repair index")?;
        let old: Vec<IndexId> = self.list(FileKind::Index)?.into_iter().map(IndexId).collect();
        let packs = layout::list_with_len(self.storage(), FileKind::Pack)?;
        let results: Vec<(PackId, u64, Result<Vec<cairn_format::pack::PackEntry>>)> = packs
            .par_iter()
            .map(|(id, len)| {
                let id = PackId(*id);
                if cancel.is_cancelled() {
                    return (id, *len, Err(Error::Cancelled));
                }
                (id, *len, read_pack_header(self, &id).map(|header| header.entries))
            })
            .collect();
        let mut report = IndexRepair { superseded: old.len() as u64, ..IndexRepair::default() };
        let mut indexed = Vec::new();
        for (id, len, result) in results {
            match result {
                Ok(blobs) => indexed.push(IndexPack {
                    id,
                    pack_len: u32::try_from(len).map_err(|_| Error::invalid("pack", "larger than 4 GiB"))?,
                    blobs,
                }),
                Err(e @ (Error::Cancelled | Error::Storage(_))) => return Err(e),
                Err(e) => report.unreadable_packs.push((id, e.to_string())),
            }
        }
        report.packs_indexed = indexed.len() as u64;
        // The first new file carries the supersedes list: once it is durable the old files
        // are ignored, and the other new files are already there.
        let mut chunks: Vec<Vec<IndexPack>> = Vec::new();
        while indexed.len() > PACKS_PER_INDEX_FILE {
            let rest = indexed.split_off(PACKS_PER_INDEX_FILE);
            chunks.push(std::mem::replace(&mut indexed, rest));
        }
        chunks.push(indexed);
        let first = chunks.remove(0);
        for chunk in chunks {
            crate::index::write_index(self, chunk, Vec::new())?;
            report.index_files_written += 1;
        }
        crate::crashpoint::hit("repair-index-before-superseding");
        if crate::index::write_index(self, first, old)?.is_some() {
            report.index_files_written += 1;
        }
        Ok(report)
    }

    /// Writes, for every snapshot that needs data the repository no longer has, a new
    /// snapshot without the files and directories whose data is lost. The original is kept
    /// unless `options.forget` is set.
    pub fn repair_snapshots(
        &self,
        options: &SnapshotRepairOptions,
        cancel: &CancelToken,
    ) -> Result<SnapshotRepair> {
        let _lock = crate::lock::LockGuard::exclusive(self, "repair snapshots")?;
        let index = Index::load(self)?;
        let listing = self.snapshots()?;
        let packs: HashSet<PackId> =
            layout::list_ids(self.storage(), FileKind::Pack)?.into_iter().map(PackId).collect();
        let mut store = BlobStore::new(self, &index);
        let mut rewriter = Rewriter {
            repo: self,
            index: &index,
            packs: &packs,
            read_data: options.read_data,
            done: HashMap::new(),
        };
        let mut report = SnapshotRepair::default();
        let mut pending: Vec<(SnapshotInfo, TreeId, Vec<String>)> = Vec::new();
        // Copies made by an earlier repair, so running it again does not make another.
        let earlier: HashMap<(String, TreeId), SnapshotId> = listing
            .snapshots
            .iter()
            .filter_map(|info| {
                let from = info.snapshot.meta.iter().find(|(key, _)| key == REPAIRED_FROM)?;
                Some(((from.1.clone(), info.snapshot.tree), info.id))
            })
            .collect();
        for info in listing.snapshots {
            cancel.check()?;
            let mut removed = Vec::new();
            let rewritten = crate::tree::with_walk_stack(|| {
                rewriter.tree(&info.snapshot.tree, b"", 0, &mut store, &mut removed)
            })?;
            match rewritten {
                None => report.unrepairable.push(info.id),
                Some(root) if root == info.snapshot.tree => report.intact += 1,
                Some(root) => pending.push((info, root, removed)),
            }
        }
        // Trees are durable and indexed before any snapshot names them.
        store.finish()?;
        for (info, root, removed) in pending {
            let repaired = match earlier.get(&(info.id.to_string(), root)) {
                Some(existing) => *existing,
                None => self.save_snapshot(&repaired_snapshot(&info, root))?,
            };
            crate::crashpoint::hit("repair-snapshots-after-save");
            if options.forget {
                self.storage().remove(&layout::file_path(FileKind::Snapshot, &info.id.0))?;
                report.forgotten.push(info.id);
            }
            report.repaired.push(RepairedSnapshot { original: info.id, repaired, removed });
        }
        if options.forget {
            for id in &report.unrepairable {
                self.storage().remove(&layout::file_path(FileKind::Snapshot, &id.0))?;
                report.forgotten.push(*id);
            }
        }
        Ok(report)
    }
}

/// The repaired copy of a snapshot: same host, paths and parent, the new root, the tag
/// `repaired`, and the original's id in its metadata. Its time is the original's plus one
/// nanosecond, so that while both exist the copy sorts after the original and `latest` means
/// the copy that restores.
fn repaired_snapshot(info: &SnapshotInfo, root: TreeId) -> Snapshot {
    let mut snapshot = info.snapshot.clone();
    snapshot.tree = root;
    let time = snapshot.time;
    snapshot.time = if time.nanos < 999_999_999 {
        Timestamp { nanos: time.nanos + 1, ..time }
    } else {
        Timestamp { secs: time.secs.saturating_add(1), nanos: 0 }
    };
    if !snapshot.tags.iter().any(|t| t == "repaired") {
        snapshot.tags.push("repaired".into());
        snapshot.tags.sort();
    }
    snapshot.meta.retain(|(key, _)| key != REPAIRED_FROM);
    snapshot.meta.push((REPAIRED_FROM.into(), info.id.to_string()));
    snapshot.meta.sort();
    snapshot
}

/// Rewrites trees without what is lost, remembering results so trees shared between
/// snapshots are examined once.
struct Rewriter<'a> {
    repo: &'a Repository,
    index: &'a Index,
    /// Packs that exist: a blob the index places in a missing pack is lost.
    packs: &'a HashSet<PackId>,
    read_data: bool,
    /// Tree → its rewritten id (`None`: the tree itself is lost), and the paths below it
    /// (relative) that were left out.
    done: HashMap<TreeId, (Option<TreeId>, Vec<Vec<u8>>)>,
}

impl Rewriter<'_> {
    /// The id of `id` rewritten, or `None` when the tree cannot be read at all; paths left
    /// out are appended to `removed` (prefixed with `prefix`).
    fn tree(
        &mut self,
        id: &TreeId,
        prefix: &[u8],
        depth: usize,
        store: &mut BlobStore<'_>,
        removed: &mut Vec<String>,
    ) -> Result<Option<TreeId>> {
        if let Some((result, lost)) = self.done.get(id) {
            removed.extend(lost.iter().map(|p| String::from_utf8_lossy(&[prefix, p].concat()).into_owned()));
            return Ok(*result);
        }
        let tree = match load_tree(self.repo, self.index, id) {
            Ok(tree) => tree,
            Err(e @ Error::Storage(_)) => return Err(e),
            Err(_) => {
                self.done.insert(*id, (None, Vec::new()));
                return Ok(None);
            }
        };
        let mut lost: Vec<Vec<u8>> = Vec::new();
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for node in tree.nodes {
            let path = [b"/".as_slice(), &node.name].concat();
            match &node.kind {
                NodeKind::Dir { subtree } if depth < cairn_format::limits::MAX_TREE_DEPTH => {
                    let mut below = Vec::new();
                    match self.tree(subtree, &path, depth + 1, store, &mut below)? {
                        Some(new) => {
                            lost.extend(below.into_iter().map(String::into_bytes));
                            nodes.push(Node { kind: NodeKind::Dir { subtree: new }, ..node });
                        }
                        None => lost.push(path),
                    }
                }
                NodeKind::Dir { .. } => lost.push(path),
                NodeKind::File { chunks } | NodeKind::Database { chunks, .. }
                    if !self.all_present(chunks) =>
                {
                    lost.push(path);
                }
                _ => nodes.push(node),
            }
        }
        let result = if lost.is_empty() {
            *id
        } else {
            let bytes =
                Tree { nodes }.encode().map_err(|e| Error::from_format(ObjectKind::TreeBlob, id, e))?;
            let new = self.repo.sealer().tree_id(&bytes);
            store.store(BlobType::Tree, new.0, &bytes)?;
            new
        };
        removed.extend(lost.iter().map(|p| String::from_utf8_lossy(&[prefix, p].concat()).into_owned()));
        self.done.insert(*id, (Some(result), lost));
        Ok(Some(result))
    }

    fn all_present(&self, chunks: &[cairn_format::tree::ChunkRef]) -> bool {
        chunks.iter().all(|chunk| {
            self.index.locate(BlobType::Data, &chunk.id.0).is_some_and(|(pack, _)| self.packs.contains(&pack))
                && (!self.read_data
                    || read_blob(self.repo, self.index, BlobType::Data, &chunk.id.0)
                        .is_ok_and(|raw| raw.len() == chunk.raw_len as usize))
        })
    }
}
