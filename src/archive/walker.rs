//! The reading half of a backup: walks the sources depth first, reuses the parent snapshot's
//! node for every file whose metadata did not change, reads and chunks the others in
//! parallel, and builds one tree per directory bottom-up.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cairn_format::envelope::BlobType;
use cairn_format::id::TreeId;
use cairn_format::timestamp::Timestamp;
use cairn_format::tree::{ChunkRef, Node, NodeKind, NodeMeta, Tree};
use crossbeam_channel::Sender;
use rayon::prelude::*;

use super::pipeline::{SealBatch, SealJob, Shared, add};
use crate::chunker::Chunker;
use crate::error::{Error, Result};
use crate::glob::PathFilter;
use crate::sqlite::dump::{DumpError, Dumper};
use crate::sqlite::{COMPANION_SUFFIXES, SqliteMode, companion_name};
use crate::tree::load_tree;

thread_local! {
    /// Each reader thread's chunking buffer (two maximum-size chunks), kept from one file to
    /// the next instead of being allocated per file.
    static READ_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// One backup source: its absolute path and the name it gets in the snapshot's root tree.
pub(crate) struct Source {
    pub(crate) path: PathBuf,
    pub(crate) name: Vec<u8>,
}

/// Which files a backup reads as SQLite databases.
pub(crate) struct Databases {
    mode: SqliteMode,
    /// Paths given with `--sqlite`, absolute and normalized like the sources.
    listed: HashSet<PathBuf>,
}

impl Databases {
    pub(crate) fn new(mode: SqliteMode, paths: &[PathBuf]) -> Result<Databases> {
        let mut listed = HashSet::with_capacity(paths.len());
        for path in paths {
            let absolute = std::path::absolute(path)
                .map_err(|e| Error::SourceUnreadable { path: path.clone(), source: e })?;
            listed.insert(super::normalize(&absolute));
        }
        Ok(Databases { mode, listed })
    }

    fn is_database(&self, path: &Path) -> bool {
        self.listed.contains(path) || (self.mode != SqliteMode::Off && crate::sqlite::has_sqlite_header(path))
    }
}

/// The companion files (`-wal`, `-shm`, `-journal`) of the databases in one directory.
#[derive(Default)]
struct Companions {
    /// Names not stored as files: their content is read through SQLite with the database.
    skipped: HashSet<Vec<u8>>,
    /// Databases with a non-empty WAL or journal: changed even if the file's metadata is not.
    active: HashSet<Vec<u8>>,
}

/// Walks sources and builds trees, sending new blobs to the pipeline.
pub(crate) struct Walker<'s, 'a> {
    pub(crate) shared: &'s Shared<'a>,
    pub(crate) chunker: Chunker,
    /// The chunker of database dumps (SPEC §16.4).
    pub(crate) dump_chunker: Chunker,
    pub(crate) databases: &'s Databases,
    pub(crate) excludes: &'s PathFilter,
    pub(crate) seal: Sender<SealJob>,
    pub(crate) readers: &'s rayon::ThreadPool,
}

/// A directory entry and what to do with it.
enum Pending {
    Done(Node),
    Read { path: PathBuf, name: Vec<u8>, meta: Metadata, existed: bool },
}

impl Walker<'_, '_> {
    /// Archives every source and stores the root tree.
    pub(crate) fn run(&self, sources: &[Source], parent_root: Option<&TreeId>) -> Result<TreeId> {
        let parent = self.load_parent(parent_root);
        let mut entries = Vec::with_capacity(sources.len());
        for source in sources {
            let meta = std::fs::symlink_metadata(&source.path)
                .map_err(|e| Error::SourceUnreadable { path: source.path.clone(), source: e })?;
            entries.push((source.name.clone(), source.path.clone(), meta));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.archive_entries(entries, parent.as_ref())
    }

    /// A parent tree that cannot be read only costs re-reading files: warn, go on without it.
    fn load_parent(&self, id: Option<&TreeId>) -> Option<Tree> {
        let id = id?;
        match load_tree(self.shared.repo, self.shared.index, id) {
            Ok(tree) => Some(tree),
            Err(e) => {
                self.shared.notice(
                    Path::new("(parent snapshot)"),
                    format!("cannot read a tree of the parent snapshot, so its files are read again: {e}"),
                );
                None
            }
        }
    }

    fn archive_dir(&self, dir: &Path, parent: Option<&Tree>) -> Result<Option<TreeId>> {
        let listing = match std::fs::read_dir(dir) {
            Ok(listing) => listing,
            Err(e) => {
                self.shared.warn(dir, format!("cannot list directory: {e}"));
                return Ok(None);
            }
        };
        let mut entries = Vec::new();
        for entry in listing {
            self.shared.check()?;
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    self.shared.warn(dir, format!("cannot list directory: {e}"));
                    return Ok(None);
                }
            };
            let path = entry.path();
            if self.excludes.matches(&path) {
                continue;
            }
            match entry.metadata() {
                Ok(meta) => entries.push((entry.file_name().as_bytes().to_vec(), path, meta)),
                Err(e) => self.shared.warn(&path, format!("cannot stat: {e}")),
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.archive_entries(entries, parent).map(Some)
    }

    /// Builds the tree of one directory from its (sorted) entries and stores it.
    fn archive_entries(
        &self,
        entries: Vec<(Vec<u8>, PathBuf, Metadata)>,
        parent: Option<&Tree>,
    ) -> Result<TreeId> {
        let companions = self.companions(&entries);
        let mut pending = Vec::with_capacity(entries.len());
        for (name, path, meta) in entries {
            self.shared.check()?;
            if companions.skipped.contains(&name) {
                continue;
            }
            let previous = parent.and_then(|tree| find(tree, &name));
            let file_type = meta.file_type();
            if file_type.is_file() {
                let active = companions.active.contains(&name);
                pending.push(self.plan_file(name, path, meta, previous, active));
            } else if file_type.is_dir() {
                if let Some(node) = self.archive_subdir(name, &path, &meta, previous)? {
                    pending.push(Pending::Done(node));
                }
            } else if file_type.is_symlink() {
                match std::fs::read_link(&path) {
                    Ok(target) => {
                        let target = target.as_os_str().as_bytes().to_vec();
                        let mut node_meta = node_meta(&meta);
                        node_meta.size = target.len() as u64;
                        pending.push(Pending::Done(Node {
                            name,
                            kind: NodeKind::Symlink { target },
                            meta: node_meta,
                        }));
                    }
                    Err(e) => self.shared.warn(&path, format!("cannot read symlink: {e}")),
                }
            }
            // Sockets, FIFOs and device nodes are not stored (SPEC §9).
        }
        let mut nodes = self.read_files(pending)?;
        // A database that could not be read through SQLite brings its companion files back.
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        self.store_tree(&Tree { nodes })
    }

    /// Finds the companion files of databases among a directory's (sorted) entries.
    fn companions(&self, entries: &[(Vec<u8>, PathBuf, Metadata)]) -> Companions {
        let mut found = Companions::default();
        for (name, _, meta) in entries {
            for suffix in COMPANION_SUFFIXES {
                let Some(base) = name.strip_suffix(suffix.as_bytes()) else { continue };
                let Ok(at) = entries.binary_search_by(|e| e.0.as_slice().cmp(base)) else { continue };
                let (_, base_path, base_meta) = &entries[at];
                if !base_meta.is_file() || !self.databases.is_database(base_path) {
                    continue;
                }
                found.skipped.insert(name.clone());
                if suffix != "-shm" && meta.len() > 0 {
                    found.active.insert(base.to_vec());
                }
            }
        }
        found
    }

    /// A directory below the source: its tree, unless it is nested deeper than trees may be
    /// (SPEC §9.3), in which case it is left out with a warning.
    fn archive_subdir(
        &self,
        name: Vec<u8>,
        path: &Path,
        meta: &Metadata,
        previous: Option<&Node>,
    ) -> Result<Option<Node>> {
        if path.components().count() > cairn_format::limits::MAX_TREE_DEPTH {
            self.shared.warn(path, "nested too deeply; not backed up".into());
            return Ok(None);
        }
        let previous_subtree = previous.and_then(|node| match &node.kind {
            NodeKind::Dir { subtree } => Some(*subtree),
            _ => None,
        });
        let parent_tree = self.load_parent(previous_subtree.as_ref());
        let Some(subtree) = self.archive_dir(path, parent_tree.as_ref())? else {
            return Ok(None);
        };
        let counters = &self.shared.counters;
        match previous_subtree {
            None => add(&counters.dirs_new, 1),
            Some(old) if old == subtree => add(&counters.dirs_unmodified, 1),
            Some(_) => add(&counters.dirs_changed, 1),
        }
        Ok(Some(Node {
            name,
            kind: NodeKind::Dir { subtree },
            meta: NodeMeta { size: 0, ..node_meta(meta) },
        }))
    }

    /// Reuses the parent's node when size, mtime, ctime and inode are unchanged and every
    /// chunk is still stored; otherwise the file must be read. A database with a non-empty
    /// WAL or journal (`active`) is always read: its committed content may be there.
    fn plan_file(
        &self,
        name: Vec<u8>,
        path: PathBuf,
        meta: Metadata,
        previous: Option<&Node>,
        active: bool,
    ) -> Pending {
        let current = node_meta(&meta);
        if let Some(node) = previous
            && let Some(chunks) = node.kind.chunks()
            && !active
            && unchanged(&node.meta, &current)
            && chunks.iter().all(|c| self.shared.has(BlobType::Data, &c.id.0))
        {
            let counters = &self.shared.counters;
            add(&counters.files_unmodified, 1);
            add(&counters.total_files, 1);
            add(&counters.total_bytes, current.size);
            self.shared.meter.add_done(1, current.size);
            return Pending::Done(Node {
                name,
                kind: node.kind.clone(),
                meta: NodeMeta { size: node.meta.size, ..current },
            });
        }
        let existed = previous.is_some_and(|n| n.kind.chunks().is_some());
        Pending::Read { path, name, meta, existed }
    }

    /// Reads the files among `pending` in parallel; unreadable ones are dropped with a warning.
    fn read_files(&self, pending: Vec<Pending>) -> Result<Vec<Node>> {
        let results: Vec<Result<Vec<Node>>> = self.readers.install(|| {
            pending
                .into_par_iter()
                .map(|item| match item {
                    Pending::Done(node) => Ok(vec![node]),
                    Pending::Read { path, name, meta, existed } if self.databases.is_database(&path) => {
                        self.read_database(&path, name, &meta, existed)
                    }
                    Pending::Read { path, name, meta, existed } => {
                        Ok(self.read_file(&path, name, &meta, existed)?.into_iter().collect())
                    }
                })
                .collect()
        });
        let mut nodes = Vec::with_capacity(results.len());
        for result in results {
            nodes.extend(result?);
        }
        Ok(nodes)
    }

    fn read_file(&self, path: &Path, name: Vec<u8>, meta: &Metadata, existed: bool) -> Result<Option<Node>> {
        self.shared.check()?;
        self.shared.meter.set_current(path);
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) => {
                self.shared.warn(path, format!("cannot open: {e}"));
                self.shared.meter.add_done(1, meta.len());
                return Ok(None);
            }
        };
        let Some((chunks, size)) = self.chunk_content(file, path, true)? else { return Ok(None) };
        self.shared.meter.add_done(1, 0);
        self.warn_if_changed(path, meta, size);
        self.count_file(existed, size);
        Ok(Some(Node { name, kind: NodeKind::File { chunks }, meta: NodeMeta { size, ..node_meta(meta) } }))
    }

    /// Chunks a stream and sends its new chunks to the pipeline; a read error drops the file
    /// with a warning (`None`).
    fn chunk_content(
        &self,
        reader: impl std::io::Read,
        path: &Path,
        metered: bool,
    ) -> Result<Option<(Vec<ChunkRef>, u64)>> {
        let mut chunks = Vec::new();
        let mut size = 0u64;
        let mut batch = SealBatch::new(self.shared, &self.seal);
        let mut stream = self.chunker.chunks_in(reader, READ_BUFFER.take());
        while let Some(chunk) = stream.next_chunk() {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    self.shared.warn(path, format!("read failed: {e}"));
                    READ_BUFFER.set(stream.into_buffer());
                    batch.send()?;
                    return Ok(None);
                }
            };
            let chunk_ref = self.add_chunk(chunk, metered, &mut batch)?;
            size += u64::from(chunk_ref.raw_len);
            chunks.push(chunk_ref);
        }
        READ_BUFFER.set(stream.into_buffer());
        batch.send()?;
        Ok(Some((chunks, size)))
    }

    /// Counts a chunk that was read, and adds it to `batch` unless it is stored.
    fn add_chunk(&self, chunk: &[u8], metered: bool, batch: &mut SealBatch<'_, '_>) -> Result<ChunkRef> {
        self.shared.check()?;
        let raw_len = u32::try_from(chunk.len()).expect("chunks are at most 16 MiB");
        if metered {
            self.shared.meter.add_done(0, u64::from(raw_len));
        }
        add(&self.shared.counters.bytes_read, u64::from(raw_len));
        let id = self.shared.repo.sealer().chunk_id(chunk);
        if !self.shared.claim(BlobType::Data, &id.0) {
            add(&self.shared.counters.data_blobs_added, 1);
            add(&self.shared.counters.data_added_raw, u64::from(raw_len));
            batch.add(BlobType::Data, id.0, chunk)?;
        }
        Ok(ChunkRef { id, raw_len })
    }

    fn count_file(&self, existed: bool, size: u64) {
        let counters = &self.shared.counters;
        add(if existed { &counters.files_changed } else { &counters.files_new }, 1);
        add(&counters.total_files, 1);
        add(&counters.total_bytes, size);
    }

    /// Reads a database through SQLite at one consistent point and stores its dump; one a dump
    /// cannot reproduce (or any, with `--sqlite-mode file`) is stored as its page image. One
    /// SQLite cannot read is stored as plain files, itself and its companions, with a warning.
    fn read_database(&self, path: &Path, name: Vec<u8>, meta: &Metadata, existed: bool) -> Result<Vec<Node>> {
        self.shared.check()?;
        self.shared.meter.set_current(path);
        if self.databases.mode == SqliteMode::File {
            return self.read_page_image(path, name, meta, existed);
        }
        let dumper = match Dumper::open(path) {
            Ok(dumper) => dumper,
            Err(DumpError::Unsupported(reason)) => {
                self.shared
                    .notice(path, format!("stored as its page image: a dump cannot hold its {reason}"));
                return self.read_page_image(path, name, meta, existed);
            }
            Err(e) => return self.read_as_plain_files(path, &name, meta, existed, &e.to_string()),
        };
        let mut chunks = Vec::new();
        let mut batch = SealBatch::new(self.shared, &self.seal);
        let dumped = crate::sqlite::dump_in_chunks(dumper, &self.dump_chunker, |chunk| {
            chunks.push(self.add_chunk(chunk, false, &mut batch)?);
            Ok(())
        })?;
        batch.send()?;
        let summary = match dumped {
            Ok(summary) => summary,
            Err(DumpError::Unsupported(reason)) => {
                self.shared
                    .notice(path, format!("stored as its page image: a dump cannot hold its {reason}"));
                return self.read_page_image(path, name, meta, existed);
            }
            Err(e) => return self.read_as_plain_files(path, &name, meta, existed, &e.to_string()),
        };
        self.shared.meter.add_done(1, meta.len());
        self.count_file(existed, meta.len());
        let info = cairn_format::sqlite::DatabaseInfo {
            user_version: summary.header.user_version,
            application_id: summary.header.application_id,
            page_size: summary.header.page_size,
            tables: summary.tables,
        };
        // The node keeps the database file's metadata, size included, for change detection.
        Ok(vec![Node { name, kind: NodeKind::Database { chunks, info }, meta: node_meta(meta) }])
    }

    /// Stores a database's page image, copied with SQLite's online backup API, as a file.
    fn read_page_image(
        &self,
        path: &Path,
        name: Vec<u8>,
        meta: &Metadata,
        existed: bool,
    ) -> Result<Vec<Node>> {
        let dir = tempfile::Builder::new()
            .prefix("cairn-page-image-")
            .tempdir()
            .map_err(|e| Error::system("creating a temporary directory", e))?;
        let copy = dir.path().join("database");
        if let Err(e) = crate::sqlite::copy_page_image(path, &copy) {
            return self.read_as_plain_files(path, &name, meta, existed, &e.to_string());
        }
        let file = std::fs::File::open(&copy).map_err(|e| Error::system("reading a database copy", e))?;
        let Some((chunks, size)) = self.chunk_content(file, path, false)? else { return Ok(Vec::new()) };
        self.shared.meter.add_done(1, meta.len());
        self.count_file(existed, size);
        Ok(vec![Node { name, kind: NodeKind::File { chunks }, meta: NodeMeta { size, ..node_meta(meta) } }])
    }

    /// The fallback for a database SQLite cannot read: its bytes and its companions' bytes,
    /// as they are, so nothing that was there is left out.
    fn read_as_plain_files(
        &self,
        path: &Path,
        name: &[u8],
        meta: &Metadata,
        existed: bool,
        reason: &str,
    ) -> Result<Vec<Node>> {
        self.shared.warn(
            path,
            format!(
                "cannot read it through SQLite ({reason}); stored as plain files with its -wal/-journal files"
            ),
        );
        let mut nodes: Vec<Node> = self.read_file(path, name.to_vec(), meta, existed)?.into_iter().collect();
        let dir = path.parent().unwrap_or_else(|| Path::new("/"));
        for suffix in COMPANION_SUFFIXES {
            let companion_name = companion_name(name, suffix);
            let companion = dir.join(OsStr::from_bytes(&companion_name));
            if let Ok(companion_meta) = std::fs::symlink_metadata(&companion)
                && companion_meta.is_file()
            {
                nodes.extend(self.read_file(&companion, companion_name, &companion_meta, false)?);
            }
        }
        Ok(nodes)
    }

    /// A file written to while it was read is stored as read, with a warning: the copy may
    /// mix old and new content.
    fn warn_if_changed(&self, path: &Path, before: &Metadata, read: u64) {
        let changed = match std::fs::symlink_metadata(path) {
            Ok(after) => {
                after.len() != read
                    || after.mtime() != before.mtime()
                    || after.mtime_nsec() != before.mtime_nsec()
            }
            Err(_) => true,
        };
        if changed || read != before.len() {
            self.shared.warn(path, "changed while it was read; the stored copy may be inconsistent".into());
        }
    }

    fn store_tree(&self, tree: &Tree) -> Result<TreeId> {
        let bytes = tree.encode().map_err(|e| Error::invalid("directory listing", e.to_string()))?;
        let id = self.shared.repo.sealer().tree_id(&bytes);
        if !self.shared.claim(BlobType::Tree, &id.0) {
            add(&self.shared.counters.tree_blobs_added, 1);
            add(&self.shared.counters.data_added_raw, bytes.len() as u64);
            let mut batch = SealBatch::new(self.shared, &self.seal);
            batch.add(BlobType::Tree, id.0, &bytes)?;
            batch.send()?;
        }
        Ok(id)
    }
}

fn find<'t>(tree: &'t Tree, name: &[u8]) -> Option<&'t Node> {
    tree.nodes.binary_search_by(|n| n.name.as_slice().cmp(name)).ok().and_then(|i| tree.nodes.get(i))
}

/// Change detection as restic does it: size, mtime, ctime and inode must all match.
fn unchanged(old: &NodeMeta, new: &NodeMeta) -> bool {
    old.size == new.size && old.mtime == new.mtime && old.ctime == new.ctime && old.inode == new.inode
}

/// The tree metadata of a file-system entry.
pub(crate) fn node_meta(meta: &Metadata) -> NodeMeta {
    NodeMeta {
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: unix_time(meta.mtime(), meta.mtime_nsec()),
        ctime: unix_time(meta.ctime(), meta.ctime_nsec()),
        device: meta.dev(),
        inode: meta.ino(),
        size: meta.len(),
    }
}

fn unix_time(secs: i64, nanos: i64) -> Timestamp {
    Timestamp { secs, nanos: u32::try_from(nanos.clamp(0, 999_999_999)).unwrap_or(0) }
}

/// The name a source gets in the root tree: its last path component.
pub(crate) fn source_name(path: &Path) -> Option<Vec<u8>> {
    path.file_name().map(OsStr::as_bytes).map(<[u8]>::to_vec)
}
