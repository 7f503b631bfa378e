//! Restoring a database node: rebuild the database from its dump into a temporary file next
//! to the target, check it (SQLite's `integrity_check`, then a fresh dump of it must cut into
//! exactly the snapshot's chunks), sync it, and only then put it in place of whatever database
//! was there, so a crash at any point leaves the old database or the new one, never a mix.

use std::io::Read;
use std::path::Path;

use cairn_format::tree::ChunkRef;

use crate::error::{Damage, Error, ObjectKind, Result};
use crate::repository::Repository;
use crate::sqlite::dump::{DumpError, Dumper};
use crate::sqlite::rebuild::{RebuildError, build, check_file_integrity};
use crate::sqlite::{COMPANION_SUFFIXES, companion_name};

/// A database rebuilt from a snapshot into a temporary directory, removed on drop: what
/// `cairn dump` and table exports read.
pub(crate) struct RebuiltDatabase {
    // Field order: the path goes before the directory holding it.
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl RebuiltDatabase {
    /// Rebuilds the database whose dump is `chunks`, reading the chunks in order.
    pub(crate) fn new(
        repo: &Repository,
        index: &crate::index::Index,
        chunks: &[ChunkRef],
        label: &str,
    ) -> Result<RebuiltDatabase> {
        let dir = tempfile::Builder::new()
            .prefix("cairn-db-")
            .tempdir()
            .map_err(|e| Error::system("creating a temporary directory", e))?;
        let path = dir.path().join("database.sqlite");
        let len = chunks.iter().map(|c| u64::from(c.raw_len)).sum();
        let mut reader = crate::dump::ContentReader::new(repo, index, chunks);
        let result = rebuild_checked(repo, &mut reader, len, chunks, &path, label);
        if let Some(e) = reader.error.take() {
            return Err(e);
        }
        result?;
        Ok(RebuiltDatabase { path, _dir: dir })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Rebuilds the database of dump `dump` (`len` bytes) at `dest` (a new file) and checks it
/// against the dump's chunks; `label` names the database in errors.
pub(crate) fn rebuild_checked(
    repo: &Repository,
    dump: &mut dyn Read,
    len: u64,
    chunks: &[ChunkRef],
    dest: &Path,
    label: &str,
) -> Result<()> {
    tracing::debug!(database = label, dump_bytes = len, "rebuilding");
    let built = build(dump, len, dest).map_err(|e| rebuild_error(e, dest, label));
    if let Err(e) = built {
        remove_with_companions(dest);
        return Err(e);
    }
    tracing::debug!(database = label, "rebuilt; checking");
    // The two checks read the finished file independently: run them side by side.
    let checked = std::thread::scope(|scope| {
        let integrity = std::thread::Builder::new()
            .name("cairn-sqlite-check".into())
            .spawn_scoped(scope, || check_file_integrity(dest).map_err(|e| rebuild_error(e, dest, label)))
            .map_err(|e| Error::system("starting a thread", e))?;
        let same = matches_dump(repo, dest, chunks, label);
        tracing::debug!(database = label, "dumped again and compared");
        let sound = integrity.join().map_err(|_| {
            Error::system("checking a database", std::io::Error::other("the thread panicked"))
        })?;
        sound.and(same)
    });
    tracing::debug!(database = label, ok = checked.is_ok(), "checked");
    if checked.is_err() {
        remove_with_companions(dest);
    }
    checked
}

/// Dumps the rebuilt database again and compares the chunks with the snapshot's: the same
/// rows, schema and settings give the same canonical dump, hence the same keyed chunk ids.
fn matches_dump(repo: &Repository, db: &Path, chunks: &[ChunkRef], label: &str) -> Result<()> {
    let dumper = Dumper::open(db).map_err(|e| mismatch(label, &e.to_string()))?;
    let chunker = repo.dump_chunker();
    let mut position = 0usize;
    let mut same = true;
    let dumped = crate::sqlite::dump_in_chunks(dumper, &chunker, |chunk| {
        let id = repo.sealer().chunk_id(chunk);
        same &= chunks.get(position).is_some_and(|c| c.id == id && c.raw_len as usize == chunk.len());
        position += 1;
        Ok(())
    })?;
    dumped.map_err(|e: DumpError| mismatch(label, &e.to_string()))?;
    if same && position == chunks.len() {
        Ok(())
    } else {
        Err(mismatch(label, "the rebuilt database dumps differently from the snapshot"))
    }
}

fn mismatch(label: &str, reason: &str) -> Error {
    Error::corrupt(ObjectKind::Database, label, Damage::Rebuild(reason.to_string()))
}

/// Maps a rebuild failure: a damaged or rejected dump is damage in the repository; SQLite
/// failing to write is the target's problem.
fn rebuild_error(e: RebuildError, dest: &Path, label: &str) -> Error {
    use rusqlite::ErrorCode;
    match e {
        RebuildError::Damaged(format) => Error::corrupt(ObjectKind::Database, label, Damage::Format(format)),
        RebuildError::Rejected(reason) => mismatch(label, &reason),
        RebuildError::Io(source) => Error::TargetUnwritable { path: dest.to_path_buf(), source },
        RebuildError::Sqlite(e) => match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Error::TargetUnwritable {
                path: dest.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::StorageFull, e.to_string()),
            },
            Some(
                ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::PermissionDenied
                | ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked,
            ) => Error::TargetUnwritable {
                path: dest.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            },
            _ => mismatch(label, &e.to_string()),
        },
    }
}

/// Puts the complete, checked database `temp` in place of `dest`.
///
/// A database in use is more than its file: a `-wal` holds committed pages not yet in the
/// file, a hot `-journal` holds pages to roll back. Renaming a new file over the old one with
/// those left beside it would make SQLite apply them to the new file and corrupt it. So the
/// old database is first folded into its own file (SQLite rolls back a hot journal and
/// checkpoints the WAL when it opens and closes it), its companions are removed (the file alone
/// is then the whole old database), and the new file is renamed in. At every step either the
/// old database or the new one is complete. An old database SQLite cannot open is replaced
/// as it is: it was restored over because it is broken.
pub(crate) fn replace_database(temp: &Path, dest: &Path) -> std::io::Result<()> {
    sync_file(temp)?;
    if dest.exists() {
        fold_in_companions(dest);
        crate::crashpoint::hit("restore-db-folded");
        remove_companions(dest)?;
        crate::crashpoint::hit("restore-db-companions-removed");
    }
    std::fs::rename(temp, dest)?;
    sync_parent(dest)
}

fn fold_in_companions(db: &Path) {
    let Ok(conn) = rusqlite::Connection::open(db) else { return };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    // Reading the schema rolls back a hot journal; a TRUNCATE checkpoint empties the WAL.
    let _ = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0));
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    let _ = conn.close();
}

fn remove_companions(db: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let (Some(dir), Some(name)) = (db.parent(), db.file_name()) else { return Ok(()) };
    for suffix in COMPANION_SUFFIXES {
        let companion = dir.join(std::ffi::OsString::from_vec(companion_name(name.as_bytes(), suffix)));
        match std::fs::remove_file(&companion) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes a temporary database and anything SQLite left beside it.
pub(crate) fn remove_with_companions(db: &Path) {
    let _ = std::fs::remove_file(db);
    let _ = remove_companions(db);
}

pub(crate) fn sync_file(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Makes a rename in `path`'s directory durable.
pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}
