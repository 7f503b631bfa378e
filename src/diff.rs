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
        let _lock = crate::lock::LockGuard::shared_if_writable(self, "diff");
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

/// Two listings being merged: the entries of one directory in each snapshot.
struct Frame {
    old: std::iter::Peekable<std::vec::IntoIter<Node>>,
    new: std::iter::Peekable<std::vec::IntoIter<Node>>,
    prefix: Vec<u8>,
}

impl DiffWalk<'_> {
    /// Merges the two trees directory by directory with an explicit stack (depth costs heap,
    /// not stack), reporting in path order; equal subtrees are skipped unread.
    fn trees(&mut self, old: Option<&TreeId>, new: Option<&TreeId>, prefix: &[u8]) -> Result<()> {
        let mut stack = Vec::new();
        self.push(&mut stack, old, new, prefix)?;
        while let Some(frame) = stack.last_mut() {
            let order = match (frame.old.peek(), frame.new.peek()) {
                (None, None) => {
                    stack.pop();
                    continue;
                }
                (Some(old), Some(new)) => old.name.cmp(&new.name),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
            };
            let prefix = frame.prefix.clone();
            let (old, new) = match order {
                Ordering::Less => (frame.old.next(), None),
                Ordering::Greater => (None, frame.new.next()),
                Ordering::Equal => (frame.old.next(), frame.new.next()),
            };
            self.step(&mut stack, old, new, &prefix)?;
        }
        Ok(())
    }

    /// Compares one name present in the old listing, the new one, or both.
    fn step(
        &mut self,
        stack: &mut Vec<Frame>,
        old: Option<Node>,
        new: Option<Node>,
        prefix: &[u8],
    ) -> Result<()> {
        let name = match (&old, &new) {
            (_, Some(node)) | (Some(node), None) => node.name.clone(),
            (None, None) => return Ok(()),
        };
        let path = [prefix, b"/", &name].concat();
        match (old, new) {
            (Some(old), Some(new)) => match (&old.kind, &new.kind) {
                (NodeKind::Dir { subtree: a }, NodeKind::Dir { subtree: b }) => {
                    self.report_if_metadata(&path, &old, &new)?;
                    self.push(stack, Some(a), Some(b), &path)
                }
                (NodeKind::File { chunks: a }, NodeKind::File { chunks: b })
                | (NodeKind::Database { chunks: a, .. }, NodeKind::Database { chunks: b, .. })
                    if a == b =>
                {
                    self.report_if_metadata(&path, &old, &new)
                }
                (NodeKind::Symlink { target: a }, NodeKind::Symlink { target: b }) if a == b => {
                    self.report_if_metadata(&path, &old, &new)
                }
                (NodeKind::Dir { .. }, _) | (_, NodeKind::Dir { .. }) => {
                    // A directory became something else or the reverse: the old entry (and
                    // what was below it) went, the new one came. The new subtree is pushed
                    // first so the old one is listed first.
                    self.report(&path, &old, Change::Removed)?;
                    self.report(&path, &new, Change::Added)?;
                    if let NodeKind::Dir { subtree } = &new.kind {
                        self.push(stack, None, Some(subtree), &path)?;
                    }
                    if let NodeKind::Dir { subtree } = &old.kind {
                        self.push(stack, Some(subtree), None, &path)?;
                    }
                    Ok(())
                }
                _ => self.report(&path, &new, Change::Modified),
            },
            (Some(old), None) => {
                self.report(&path, &old, Change::Removed)?;
                match &old.kind {
                    NodeKind::Dir { subtree } => self.push(stack, Some(subtree), None, &path),
                    _ => Ok(()),
                }
            }
            (None, Some(new)) => {
                self.report(&path, &new, Change::Added)?;
                match &new.kind {
                    NodeKind::Dir { subtree } => self.push(stack, None, Some(subtree), &path),
                    _ => Ok(()),
                }
            }
            (None, None) => Ok(()),
        }
    }

    /// Starts comparing two directories, unless they are the same tree.
    fn push(
        &self,
        stack: &mut Vec<Frame>,
        old: Option<&TreeId>,
        new: Option<&TreeId>,
        prefix: &[u8],
    ) -> Result<()> {
        if old == new {
            return Ok(());
        }
        if let Some(tree) = new.or(old) {
            crate::tree::check_depth(prefix, tree)?;
        }
        let load = |id: Option<&TreeId>| -> Result<Vec<Node>> {
            id.map_or(Ok(Vec::new()), |id| Ok(load_tree(self.repo, self.index, id)?.nodes))
        };
        stack.push(Frame {
            old: load(old)?.into_iter().peekable(),
            new: load(new)?.into_iter().peekable(),
            prefix: prefix.to_vec(),
        });
        Ok(())
    }

    fn report_if_metadata(&mut self, path: &[u8], old: &Node, new: &Node) -> Result<()> {
        if metadata_differs(old, new) { self.report(path, new, Change::Metadata) } else { Ok(()) }
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
