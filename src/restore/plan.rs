//! What a restore will write: the directories, files and symlinks selected from a snapshot,
//! with each file's chunks, and the pack reads that fetch every needed blob once, grouped by
//! pack and merged into ranges.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;

use cairn_format::envelope::BlobType;
use cairn_format::id::{ChunkId, TreeId};
use cairn_format::tree::{ChunkRef, NodeKind, NodeMeta};

use crate::error::{Damage, Error, ObjectKind, Result};
use crate::glob::PathFilter;
use crate::index::Index;
use crate::repository::Repository;
use crate::tree::load_tree;

pub(crate) struct DirPlan {
    pub(crate) path: PathBuf,
    pub(crate) meta: NodeMeta,
}

pub(crate) struct FilePlan {
    pub(crate) path: PathBuf,
    pub(crate) temp: PathBuf,
    /// The metadata of what `temp` receives: for a database, its dump.
    pub(crate) meta: NodeMeta,
    pub(crate) chunks: Vec<ChunkRef>,
    /// Chunks not yet written; the file is finished when it reaches zero.
    pub(crate) remaining: AtomicUsize,
    /// Set when the chunks are a database's dump, to be rebuilt into the database.
    pub(crate) database: Option<DatabasePlan>,
}

/// A database to rebuild from the dump a [`FilePlan`] assembles.
pub(crate) struct DatabasePlan {
    /// Where the database is rebuilt before it is put in place.
    pub(crate) temp: PathBuf,
    /// The database file's metadata in the snapshot.
    pub(crate) meta: NodeMeta,
    /// Its path in the snapshot, for messages.
    pub(crate) label: String,
    /// Its schema version.
    pub(crate) user_version: i32,
}

pub(crate) struct LinkPlan {
    pub(crate) path: PathBuf,
    pub(crate) target: Vec<u8>,
    pub(crate) meta: NodeMeta,
}

/// Where one blob's plaintext goes: file number and offset.
#[derive(Clone, Copy)]
pub(crate) struct Target {
    pub(crate) file: usize,
    pub(crate) offset: u64,
}

/// One blob to fetch, and where its plaintext goes.
pub(crate) struct BlobRead {
    pub(crate) id: ChunkId,
    /// Plaintext length the trees give for the chunk; the blob must have exactly this many.
    pub(crate) raw_len: u32,
    pub(crate) targets: Vec<Target>,
}

/// One ranged read of a pack for a restore.
pub(crate) type PackRead = crate::pack::PackRead<BlobRead>;

#[derive(Default)]
pub(crate) struct Plan {
    /// Parents before children.
    pub(crate) dirs: Vec<DirPlan>,
    pub(crate) files: Vec<FilePlan>,
    pub(crate) links: Vec<LinkPlan>,
    pub(crate) bytes: u64,
}

/// Collects what to restore from the tree `root` into `target`. With include patterns, only
/// matching entries (with everything below matching directories) and the directories leading
/// to them are selected; patterns with `/` match the snapshot path from its root, e.g.
/// `/app/media/**`.
pub(crate) fn build(
    repo: &Repository,
    index: &Index,
    root: &TreeId,
    target: &Path,
    include: &PathFilter,
) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut walk = Walk { repo, index, include, plan: &mut plan };
    walk.dir(root, target, Path::new("/"), include.is_empty())?;
    Ok(plan)
}

struct Walk<'a> {
    repo: &'a Repository,
    index: &'a Index,
    include: &'a PathFilter,
    plan: &'a mut Plan,
}

impl Walk<'_> {
    /// Adds the selected contents of tree `id`; returns whether anything was selected.
    fn dir(&mut self, id: &TreeId, dest: &Path, snapshot_path: &Path, selected: bool) -> Result<bool> {
        crate::tree::check_depth(snapshot_path.as_os_str().as_bytes(), id)?;
        let tree = load_tree(self.repo, self.index, id)?;
        let mut any = false;
        for node in tree.nodes {
            let name = OsStr::from_bytes(&node.name);
            let inner = snapshot_path.join(name);
            let path = dest.join(name);
            let chosen = selected || self.include.matches(&inner);
            match node.kind {
                NodeKind::Dir { subtree } => {
                    let position = self.plan.dirs.len();
                    self.plan.dirs.push(DirPlan { path: path.clone(), meta: node.meta });
                    if self.dir(&subtree, &path, &inner, chosen)? || chosen {
                        any = true;
                    } else {
                        self.plan.dirs.truncate(position);
                    }
                }
                NodeKind::File { chunks } if chosen => {
                    let number = self.plan.files.len();
                    self.plan.bytes += node.meta.size;
                    self.plan.files.push(FilePlan {
                        temp: dest.join(format!(".cairn-restore-{number}.tmp")),
                        path,
                        meta: node.meta,
                        remaining: AtomicUsize::new(chunks.len()),
                        chunks,
                        database: None,
                    });
                    any = true;
                }
                NodeKind::Database { chunks, info } if chosen => {
                    let number = self.plan.files.len();
                    let dump_len: u64 = chunks.iter().map(|c| u64::from(c.raw_len)).sum();
                    self.plan.bytes += dump_len;
                    self.plan.files.push(FilePlan {
                        temp: dest.join(format!(".cairn-restore-{number}.dump")),
                        path,
                        meta: NodeMeta { size: dump_len, mode: 0o600, ..node.meta },
                        remaining: AtomicUsize::new(chunks.len()),
                        chunks,
                        database: Some(DatabasePlan {
                            temp: dest.join(format!(".cairn-restore-{number}.tmp")),
                            meta: node.meta,
                            label: inner.display().to_string(),
                            user_version: info.user_version,
                        }),
                    });
                    any = true;
                }
                NodeKind::Symlink { target } if chosen => {
                    self.plan.links.push(LinkPlan { path, target, meta: node.meta });
                    any = true;
                }
                _ => {}
            }
        }
        Ok(any)
    }
}

/// Groups every chunk the plan needs by pack and merges neighbours into reads; each distinct
/// chunk is fetched once and written to every place it occurs.
pub(crate) fn pack_reads(plan: &Plan, index: &Index) -> Result<Vec<PackRead>> {
    let mut targets: HashMap<ChunkId, (u32, Vec<Target>)> = HashMap::new();
    for (number, file) in plan.files.iter().enumerate() {
        let mut offset = 0u64;
        for chunk in &file.chunks {
            let (raw_len, list) = targets.entry(chunk.id).or_insert_with(|| (chunk.raw_len, Vec::new()));
            if *raw_len != chunk.raw_len {
                return Err(Error::corrupt(
                    ObjectKind::TreeBlob,
                    chunk.id,
                    Damage::Format(length_mismatch()),
                ));
            }
            list.push(Target { file: number, offset });
            offset += u64::from(chunk.raw_len);
        }
    }
    let mut located = Vec::with_capacity(targets.len());
    for (id, (raw_len, targets)) in targets {
        let (pack, location) = index
            .locate(BlobType::Data, &id.0)
            .ok_or_else(|| Error::corrupt(ObjectKind::DataBlob, id, Damage::Missing))?;
        let blob = BlobRead { id, raw_len, targets };
        located.push((pack, u64::from(location.offset), u64::from(location.sealed_len), blob));
    }
    let reads = crate::pack::ranged_reads(located);
    Ok(reads)
}

/// Two trees, or a tree and its blob, disagree about a chunk's length.
pub(crate) fn length_mismatch() -> cairn_format::FormatError {
    cairn_format::FormatError::InvalidValue {
        field: "tree.node.chunk.raw_len",
        reason: "differs from the length of the chunk's blob",
    }
}
