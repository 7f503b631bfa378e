//! [`Storage`] on OpenDAL. No OpenDAL type leaves this file.
//!
//! OpenDAL is async; this adapter owns a small tokio runtime and drives OpenDAL's blocking
//! operator from the engine's threads. For the local file system it writes through OpenDAL's
//! atomic-write directory (temp file, fsync, rename) and then fsyncs the parent directory,
//! which OpenDAL does not, so a created file's name is durable too (SPEC §12).

use std::path::{Path, PathBuf};

use opendal::{ErrorKind as DalKind, blocking, services};

use super::{ObjectMeta, Storage, StorageError, StorageErrorKind};

/// Name of the directory, inside the repository, where files are written before their rename.
pub(crate) const TEMP_DIR: &str = "tmp";

/// Storage backed by an OpenDAL operator.
pub struct OpendalStorage {
    op: blocking::Operator,
    /// Keeps the runtime the operator runs on alive.
    _runtime: tokio::runtime::Runtime,
    location: String,
    /// The repository's directory.
    root: PathBuf,
    /// Where packs are assembled: the repository's `tmp/`, so storing one is a rename.
    spool_dir: PathBuf,
    /// Directories whose own entry (and their parents') has been fsynced.
    durable_dirs: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
}

impl OpendalStorage {
    /// Storage in a local directory (created on first write).
    pub fn local(root: &Path) -> Result<OpendalStorage, StorageError> {
        let root = std::path::absolute(root).map_err(|e| setup_error(root, &e.to_string()))?;
        let location = root.display().to_string();
        let temp_dir = root.join(TEMP_DIR);
        let builder =
            services::Fs::default().root(&location).atomic_write_dir(&temp_dir.display().to_string());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cairn-storage")
            .enable_all()
            .build()
            .map_err(|e| setup_error(&root, &e.to_string()))?;
        let op = {
            let _guard = runtime.enter();
            let op = opendal::Operator::new(builder).map_err(|e| setup_error(&root, &e.to_string()))?;
            blocking::Operator::new(op).map_err(|e| setup_error(&root, &e.to_string()))?
        };
        Ok(OpendalStorage {
            op,
            _runtime: runtime,
            location,
            spool_dir: root.join(TEMP_DIR),
            root,
            durable_dirs: std::sync::Mutex::default(),
        })
    }

    fn error(&self, operation: &'static str, path: &str, err: &opendal::Error) -> StorageError {
        StorageError {
            kind: classify(err),
            operation,
            location: self.location.clone(),
            path: path.to_string(),
            message: one_line(err),
        }
    }

    /// Makes the directory entry of a just-renamed file durable, and, the first time a
    /// directory is used, the entries of the directories above it (OpenDAL may just have
    /// created them, and a new directory's name is only durable once its parent is synced).
    fn sync_parent_dir(&self, path: &str) -> Result<(), StorageError> {
        let root = &self.root;
        let dir = match Path::new(path).parent() {
            Some(parent) => root.join(parent),
            None => root.clone(),
        };
        let fsync = |dir: &Path| {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StorageError {
                kind: io_kind(&e),
                operation: "write",
                location: self.location.clone(),
                path: path.to_string(),
                message: format!("fsync of directory {} failed: {e}", dir.display()),
            })
        };
        fsync(&dir)?;
        let mut known = self.durable_dirs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.contains(&dir) {
            return Ok(());
        }
        // Up to the directory holding the repository, whose entry for it may be new too.
        for ancestor in dir.ancestors().skip(1) {
            fsync(ancestor)?;
            if Some(ancestor) == root.parent() {
                break;
            }
        }
        known.insert(dir);
        Ok(())
    }
}

fn setup_error(root: &Path, message: &str) -> StorageError {
    StorageError {
        kind: StorageErrorKind::Other,
        operation: "open",
        location: root.display().to_string(),
        path: String::new(),
        message: message.to_string(),
    }
}

impl Storage for OpendalStorage {
    fn location(&self) -> &str {
        &self.location
    }

    fn create(&self, path: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let options = opendal::options::WriteOptions { if_not_exists: true, ..Default::default() };
        self.op.write_options(path, bytes, options).map_err(|e| self.error("write", path, &e))?;
        self.sync_parent_dir(path)
    }

    fn spool_dir(&self) -> &Path {
        &self.spool_dir
    }

    fn create_from_spool(&self, path: &str, spool_file: &Path) -> Result<(), StorageError> {
        let spool_error = |message: String| StorageError {
            kind: StorageErrorKind::Other,
            operation: "write",
            location: self.location.clone(),
            path: path.to_string(),
            message,
        };
        let relative = spool_file.strip_prefix(&self.root).ok().and_then(Path::to_str).ok_or_else(|| {
            spool_error(format!("spool file {} is outside the repository", spool_file.display()))
        })?;
        let exists = self.op.exists(path).map_err(|e| self.error("stat", path, &e))?;
        if exists {
            let _ = std::fs::remove_file(spool_file);
            return Err(StorageError {
                kind: StorageErrorKind::AlreadyExists,
                operation: "write",
                location: self.location.clone(),
                path: path.to_string(),
                message: "already exists".into(),
            });
        }
        if let Err(e) = self.op.rename(relative, path) {
            let _ = std::fs::remove_file(spool_file);
            return Err(self.error("write", path, &e));
        }
        self.sync_parent_dir(path)
    }

    fn read(&self, path: &str, max_len: u64) -> Result<Vec<u8>, StorageError> {
        let len = self.len(path)?;
        if len > max_len {
            return Err(StorageError {
                kind: StorageErrorKind::TooLarge,
                operation: "read",
                location: self.location.clone(),
                path: path.to_string(),
                message: format!("{len} bytes, more than the {max_len} any valid file of its kind has"),
            });
        }
        let buffer = self.op.read(path).map_err(|e| self.error("read", path, &e))?;
        Ok(buffer.to_vec())
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let end = offset.checked_add(len).ok_or_else(|| StorageError {
            kind: StorageErrorKind::Other,
            operation: "read",
            location: self.location.clone(),
            path: path.to_string(),
            message: "range overflows".into(),
        })?;
        let options = opendal::options::ReadOptions { range: (offset..end).into(), ..Default::default() };
        let bytes = self.op.read_options(path, options).map_err(|e| self.error("read", path, &e))?.to_vec();
        if bytes.len() as u64 != len {
            return Err(StorageError {
                kind: StorageErrorKind::OutOfRange,
                operation: "read",
                location: self.location.clone(),
                path: path.to_string(),
                message: format!("short read: wanted {len} bytes at {offset}, got {}", bytes.len()),
            });
        }
        Ok(bytes)
    }

    fn len(&self, path: &str) -> Result<u64, StorageError> {
        let meta = self.op.stat(path).map_err(|e| self.error("stat", path, &e))?;
        Ok(meta.content_length())
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        match self.op.delete(path) {
            Ok(()) => {}
            Err(e) if e.kind() == DalKind::NotFound => {}
            Err(e) => return Err(self.error("delete", path, &e)),
        }
        self.sync_parent_dir(path)
    }

    fn list(&self, dir: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let dir = format!("{}/", dir.trim_end_matches('/'));
        let options = opendal::options::ListOptions { recursive: true, ..Default::default() };
        let entries = match self.op.list_options(&dir, options) {
            Ok(entries) => entries,
            Err(e) if e.kind() == DalKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("list", &dir, &e)),
        };
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if !entry.metadata().is_file() {
                continue;
            }
            let path = entry.path().to_string();
            // The fs service does not always fill in lengths while listing; stat what it lacks.
            let len = match entry.metadata().content_length() {
                0 => self.len(&path)?,
                len => len,
            };
            out.push(ObjectMeta { path, len });
        }
        Ok(out)
    }
}

fn classify(err: &opendal::Error) -> StorageErrorKind {
    match err.kind() {
        DalKind::NotFound => StorageErrorKind::NotFound,
        DalKind::AlreadyExists | DalKind::ConditionNotMatch => StorageErrorKind::AlreadyExists,
        DalKind::PermissionDenied => StorageErrorKind::PermissionDenied,
        DalKind::RangeNotSatisfied => StorageErrorKind::OutOfRange,
        _ => source_io_kind(err).unwrap_or(StorageErrorKind::Other),
    }
}

/// OpenDAL wraps I/O errors; a full disk shows only in the source chain.
fn source_io_kind(err: &opendal::Error) -> Option<StorageErrorKind> {
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io_kind(io));
        }
        source = e.source();
    }
    None
}

fn io_kind(err: &std::io::Error) -> StorageErrorKind {
    match err.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => StorageErrorKind::StorageFull,
        std::io::ErrorKind::PermissionDenied => StorageErrorKind::PermissionDenied,
        std::io::ErrorKind::NotFound => StorageErrorKind::NotFound,
        _ => StorageErrorKind::Other,
    }
}

/// OpenDAL's messages span lines and list context; keep the first line.
fn one_line(err: &opendal::Error) -> String {
    let text = err.to_string();
    text.lines().next().unwrap_or_default().to_string()
}
