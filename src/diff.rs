//! Differences between two snapshots (`cairn diff`). Subtrees with equal ids are equal and
//! skipped unread, so comparing two snapshots of a mostly unchanged folder is fast.

use std::cmp::Ordering;

use cairn_format::id::TreeId;
use cairn_format::tree::{Node, NodeKind};

use crate::error::Result;
use crate::index::Index;
use crate::repository::Repository;
use crate::snapshot::SnapshotInfo;
use crate::tree::load_tree;

/// How an entry differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Only in the second snapshot.
    Added,
    /// Only in the first snapshot.
    Removed,
    /// Content differs (or the entry changed type).
    Modified,
    /// Same content, different metadata (mode, owner, mtime).
    Metadata,
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffEntry {
    /// Path inside the snapshots, starting with `/`.
    pub path: Vec<u8>,
    /// Whether it is a directory (in the snapshot that has it).
    pub is_dir: bool,
    /// The change.
    pub change: Change,
}

/// Counts of differences.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Entries added.
    pub added: u64,
    /// Entries removed.
    pub removed: u64,
    /// Entries with different content.
    pub modified: u64,
    /// Entries with different metadata only.
    pub metadata: u64,
}

impl Repository {
    /// Calls `visit` for every difference from `from` to `to`, in path order.
    pub fn diff(
        &self,
        from: &SnapshotInfo,
        to: &SnapshotInfo,
        visit: &mut dyn FnMut(&DiffEntry) -> Result<()>,
    ) -> Result<DiffStats> {
        let index = Index::load(self)?;
        let mut walk = DiffWalk { repo: self, index: &index, stats: DiffStats::default(), visit };
        walk.trees(Some(&from.snapshot.tree), Some(&to.snapshot.tree), b"")?;
        Ok(walk.stats)
    }
}

struct DiffWalk<'a> {
    repo: &'a Repository,
    index: &'a Index,
    stats: DiffStats,
    visit: &'a mut dyn FnMut(&DiffEntry) -> Result<()>,
}

impl DiffWalk<'_> {
    fn trees(&mut self, old: Option<&TreeId>, new: Option<&TreeId>, prefix: &[u8]) -> Result<()> {
        if old == new {
            return Ok(());
        }
        let load = |id: Option<&TreeId>| -> Result<Vec<Node>> {
            id.map_or(Ok(Vec::new()), |id| Ok(load_tree(self.repo, self.index, id)?.nodes))
        };
        let (left, right) = (load(old)?, load(new)?);
        let (mut i, mut j) = (0, 0);
        while i < left.len() || j < right.len() {
            let order = match (left.get(i), right.get(j)) {
                (Some(left), Some(right)) => left.name.cmp(&right.name),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    self.one_side(&left[i], prefix, Change::Removed)?;
                    i += 1;
                }
                Ordering::Greater => {
                    self.one_side(&right[j], prefix, Change::Added)?;
                    j += 1;
                }
                Ordering::Equal => {
                    self.both(&left[i], &right[j], prefix)?;
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(())
    }

    /// An entry (and everything below it) present on one side only.
    fn one_side(&mut self, node: &Node, prefix: &[u8], change: Change) -> Result<()> {
        let path = [prefix, b"/", &node.name].concat();
        self.report(&path, node, change)?;
        if let NodeKind::Dir { subtree } = &node.kind {
            match change {
                Change::Added => self.trees(None, Some(subtree), &path)?,
                _ => self.trees(Some(subtree), None, &path)?,
            }
        }
        Ok(())
    }

    fn both(&mut self, old: &Node, new: &Node, prefix: &[u8]) -> Result<()> {
        let path = [prefix, b"/", &new.name].concat();
        match (&old.kind, &new.kind) {
            (NodeKind::Dir { subtree: a }, NodeKind::Dir { subtree: b }) => {
                if metadata_differs(old, new) {
                    self.report(&path, new, Change::Metadata)?;
                }
                self.trees(Some(a), Some(b), &path)
            }
            (NodeKind::File { chunks: a }, NodeKind::File { chunks: b }) if a == b => {
                if metadata_differs(old, new) {
                    self.report(&path, new, Change::Metadata)?;
                }
                Ok(())
            }
            (NodeKind::Symlink { target: a }, NodeKind::Symlink { target: b }) if a == b => {
                if metadata_differs(old, new) {
                    self.report(&path, new, Change::Metadata)?;
                }
                Ok(())
            }
            (NodeKind::Dir { .. }, _) | (_, NodeKind::Dir { .. }) => {
                self.one_side(old, prefix, Change::Removed)?;
                self.one_side(new, prefix, Change::Added)
            }
            _ => self.report(&path, new, Change::Modified),
        }
    }

    fn report(&mut self, path: &[u8], node: &Node, change: Change) -> Result<()> {
        let counter = match change {
            Change::Added => &mut self.stats.added,
            Change::Removed => &mut self.stats.removed,
            Change::Modified => &mut self.stats.modified,
            Change::Metadata => &mut self.stats.metadata,
        };
        *counter += 1;
        (self.visit)(&DiffEntry {
            path: path.to_vec(),
            is_dir: matches!(node.kind, NodeKind::Dir { .. }),
            change,
        })
    }
}

/// Metadata a user would care about; ctime, inode and device change on any copy and are
/// only hints for change detection.
fn metadata_differs(a: &Node, b: &Node) -> bool {
    (a.meta.mode, a.meta.uid, a.meta.gid, a.meta.mtime) != (b.meta.mode, b.meta.uid, b.meta.gid, b.meta.mtime)
}
