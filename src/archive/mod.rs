//! Backup: turns source directories into a snapshot. Files whose metadata did not change
//! since the parent snapshot are not read again; new content is chunked, deduplicated,
//! sealed and packed by parallel stages with bounded queues; packs are durable before the
//! index names them, and the index before the snapshot (SPEC §12).

mod pipeline;
mod resume;
mod scan;
mod walker;

use std::path::{Component, Path, PathBuf};

use cairn_format::envelope::BlobType;
use cairn_format::header::FileKind;
use cairn_format::id::{SnapshotId, TreeId};
use cairn_format::snapshot::{Snapshot, Summary};

use crate::error::{Error, Result};
use crate::glob::PathFilter;
use crate::index::Index;
use crate::lock::LockGuard;
use crate::progress::{CancelToken, Meter, Phase, Progress, SourceWarning, with_ticker};
use crate::repository::Repository;
use crate::snapshot::SnapshotInfo;
use pipeline::Shared;
pub use resume::Resumed;
pub(crate) use resume::adopt_unindexed_packs;
use walker::{Source, Walker};

/// Which snapshot a backup compares against to skip unchanged files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ParentChoice {
    /// The newest snapshot of the same host and the same source paths.
    #[default]
    Auto,
    /// None: read every file.
    None,
    /// This snapshot.
    Snapshot(SnapshotId),
}

/// How to back up.
#[derive(Clone, Debug, Default)]
pub struct BackupOptions {
    /// Host name recorded in the snapshot; this machine's when `None`.
    pub host: Option<String>,
    /// Tags for the snapshot.
    pub tags: Vec<String>,
    /// Patterns of paths not to back up (see `cairn backup --help`).
    pub excludes: Vec<String>,
    /// The parent snapshot.
    pub parent: ParentChoice,
    /// Caller metadata stored in the snapshot, e.g. `("app.version", "2.3")`.
    pub meta: Vec<(String, String)>,
    /// Worker threads for reading and for sealing; the number of CPUs when `None`.
    pub threads: Option<usize>,
    /// How SQLite databases are recognised and read.
    pub sqlite_mode: crate::sqlite::SqliteMode,
    /// Files to read as SQLite databases whatever `sqlite_mode` recognises (with
    /// [`SqliteMode::Off`](crate::sqlite::SqliteMode::Off), the only ones).
    pub sqlite_paths: Vec<PathBuf>,
}

/// What a backup produced.
#[derive(Debug)]
pub struct BackupOutcome {
    /// The new snapshot.
    pub snapshot: SnapshotInfo,
    /// Source entries that could not be read and are missing from the snapshot, or that
    /// changed while they were read.
    pub warnings: Vec<SourceWarning>,
    /// Packs an interrupted earlier backup had stored, which this one reused.
    pub resumed: Resumed,
}

impl Repository {
    /// Backs up `sources` (files or directories) into a new snapshot.
    ///
    /// Cancelling through `cancel` stores what was already read and returns
    /// [`Error::Cancelled`] without a snapshot; a re-run reuses the stored data.
    pub fn backup(
        &self,
        sources: &[PathBuf],
        options: &BackupOptions,
        progress: &dyn Progress,
        cancel: &CancelToken,
    ) -> Result<BackupOutcome> {
        let started = crate::clock::now();
        let sources = resolve_sources(sources)?;
        let excludes = PathFilter::new(&options.excludes)?;
        let databases = walker::Databases::new(options.sqlite_mode, &options.sqlite_paths)?;
        let host = options.host.clone().unwrap_or_else(crate::clock::hostname);
        let paths: Vec<Vec<u8>> = sources.iter().map(|s| path_bytes(&s.path)).collect();
        // The lock comes first: a prune that does not see it may only have finished before
        // the index below is read (SPEC §12).
        let lock = LockGuard::shared(self, "backup")?;
        let mut index = Index::load(self)?;
        let resumed = adopt_unindexed_packs(self, &lock, &index)?;
        if resumed.packs > 0 {
            index = Index::load(self)?;
        }
        let parent = self.choose_parent(&options.parent, &host, &paths)?;
        let threads = options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
            .max(1);
        let readers = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("cairn-read-{i}"))
            .build()
            .map_err(|e| Error::system("starting threads", std::io::Error::other(e)))?;
        let meter = Meter::new(Phase::Backup);
        let shared = Shared::new(self, &index, &lock, &meter, progress, cancel, threads);
        let parent_root = parent.as_ref().map(|p| &p.snapshot.tree);
        let roots: Vec<&Path> = sources.iter().map(|s| s.path.as_path()).collect();
        let root = with_ticker(&meter, progress, || {
            std::thread::scope(|scope| {
                let seal = pipeline::start(scope, &shared, threads);
                scope.spawn(|| scan::count(&roots, &excludes, &meter, &|| shared.check().is_err()));
                let walker = Walker {
                    shared: &shared,
                    chunker: self.chunker(),
                    dump_chunker: self.dump_chunker(),
                    databases: &databases,
                    excludes: &excludes,
                    seal,
                    readers: &readers,
                };
                // The walk recurses once per directory level, so it gets a deep stack
                // whatever thread called us. Dropping the walker when it ends closes the seal
                // queue; the scope then waits for the stages to drain.
                let sources = &sources;
                crate::tree::with_walk_stack(move || walker.run(sources, parent_root))
            })
        });
        // Index whatever was stored, even after a failure or cancellation, so a re-run
        // reuses it; then the first error wins.
        let flushed = shared.flush_index();
        let root = match (shared.take_failure(), root) {
            (Some(failure), _) => return Err(failure),
            (None, Err(e)) => return Err(e),
            (None, Ok(root)) => root,
        };
        flushed?;
        let warnings = shared.take_warnings();
        let snapshot = Snapshot {
            time: started,
            tree: root,
            parent: parent.as_ref().map(|p| p.id),
            hostname: host,
            username: crate::clock::username(),
            paths,
            tags: sorted_unique(options.tags.clone()),
            program: concat!("cairn ", env!("CARGO_PKG_VERSION")).to_string(),
            summary: summary(&shared, started, warnings.len()),
            meta: sorted_meta(&options.meta)?,
        };
        lock.check()?;
        self.confirm_blobs_survived_prune(&index, &root)?;
        crate::crashpoint::hit("backup-before-snapshot");
        let id = self.save_snapshot(&snapshot)?;
        crate::crashpoint::hit("backup-after-snapshot");
        drop(lock);
        Ok(BackupOutcome { snapshot: SnapshotInfo { id, snapshot }, warnings, resumed })
    }

    /// Defence in depth for the commit point: if an index file this backup loaded has gone
    /// (a prune rewrote the index meanwhile), every blob the new snapshot reaches must still
    /// be indexed, or the snapshot is not written. The locking rules (SPEC §12) already
    /// prevent this; the check costs one listing when nothing changed.
    fn confirm_blobs_survived_prune(&self, loaded: &Index, root: &TreeId) -> Result<()> {
        let present: std::collections::HashSet<_> = self.list(FileKind::Index)?.into_iter().collect();
        if loaded.files().iter().all(|file| present.contains(&file.0)) {
            return Ok(());
        }
        let index = Index::load(self)?;
        let lost = || Error::LockLost { reason: "a prune removed data this backup refers to".into() };
        crate::tree::walk_tree(self, &index, root, b"", true, &mut |_, node| match &node.kind {
            kind if !kind
                .chunks()
                .unwrap_or_default()
                .iter()
                .all(|c| index.contains(BlobType::Data, &c.id.0)) =>
            {
                Err(lost())
            }
            _ => Ok(()),
        })
        .map_err(|e| match e {
            Error::Corrupt { .. } => lost(),
            other => other,
        })
    }

    fn choose_parent(
        &self,
        choice: &ParentChoice,
        host: &str,
        paths: &[Vec<u8>],
    ) -> Result<Option<SnapshotInfo>> {
        match choice {
            ParentChoice::None => Ok(None),
            ParentChoice::Snapshot(id) => {
                Ok(Some(SnapshotInfo { id: *id, snapshot: self.load_snapshot(id)? }))
            }
            ParentChoice::Auto => {
                let mut wanted = paths.to_vec();
                wanted.sort();
                Ok(self.snapshots()?.snapshots.into_iter().rev().find(|info| {
                    let mut theirs = info.snapshot.paths.clone();
                    theirs.sort();
                    info.snapshot.hostname == host && theirs == wanted
                }))
            }
        }
    }
}

fn summary(shared: &Shared<'_>, started: cairn_format::timestamp::Timestamp, warnings: usize) -> Summary {
    let c = &shared.counters;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    Summary {
        started,
        finished: crate::clock::now(),
        files_new: get(&c.files_new),
        files_changed: get(&c.files_changed),
        files_unmodified: get(&c.files_unmodified),
        dirs_new: get(&c.dirs_new),
        dirs_changed: get(&c.dirs_changed),
        dirs_unmodified: get(&c.dirs_unmodified),
        data_blobs_added: get(&c.data_blobs_added),
        tree_blobs_added: get(&c.tree_blobs_added),
        data_added_raw: get(&c.data_added_raw),
        data_added: get(&c.data_added),
        bytes_read: get(&c.bytes_read),
        total_files: get(&c.total_files),
        total_bytes: get(&c.total_bytes),
        source_errors: warnings as u64,
    }
}

/// Makes each source absolute (lexically: `..` is resolved without following symlinks, as
/// the user wrote it) and names it by its last component, which must be unique.
fn resolve_sources(paths: &[PathBuf]) -> Result<Vec<Source>> {
    if paths.is_empty() {
        return Err(Error::invalid("sources", "give at least one path to back up"));
    }
    let mut sources: Vec<Source> = Vec::with_capacity(paths.len());
    for path in paths {
        let absolute = std::path::absolute(path)
            .map_err(|e| Error::SourceUnreadable { path: path.clone(), source: e })?;
        let path = normalize(&absolute);
        let name = walker::source_name(&path).ok_or_else(|| {
            Error::invalid("source", format!("{} has no name; back up the directories in it", path.display()))
        })?;
        if sources.iter().any(|s| s.name == name) {
            return Err(Error::invalid(
                "sources",
                format!(
                    "two sources are named {}; back them up in separate snapshots",
                    String::from_utf8_lossy(&name)
                ),
            ));
        }
        sources.push(Source { path, name });
    }
    Ok(sources)
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

fn sorted_unique(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items.dedup();
    items
}

fn sorted_meta(meta: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let mut meta = meta.to_vec();
    meta.sort();
    if meta.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Error::invalid("snapshot metadata", "a key is given twice"));
    }
    Ok(meta)
}
