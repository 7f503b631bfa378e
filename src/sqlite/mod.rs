//! App databases: how a backup reads a live SQLite database consistently and stores it so
//! that a day of app use costs about the rows that changed, and how a restore rebuilds it.
//!
//! A database is read through SQLite in one read transaction and stored as its canonical
//! dump (SPEC §16, [`dump`]), chunked with small chunks; restore rebuilds the database from
//! the dump ([`rebuild`]), checks it with `integrity_check` and by dumping it again, and only
//! then renames it into place. A database whose schema a dump cannot reproduce (virtual
//! tables, for one) is stored as its page image, copied with SQLite's online backup API: still
//! consistent, restored byte for byte, but without small increments.

pub mod dump;
pub(crate) mod pipe;
pub mod rebuild;
pub mod tabular;

use std::io::Read;
use std::path::Path;

/// The first 16 bytes of every SQLite 3 database file.
pub const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Suffixes of the files SQLite keeps beside a database while it is in use.
pub const COMPANION_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// How a backup treats SQLite databases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteMode {
    /// Recognise databases by their header, read each through SQLite at one consistent point
    /// and store its dump (small daily increments); a database a dump cannot reproduce is
    /// stored as its consistent page image.
    #[default]
    Auto,
    /// Read databases through SQLite at one consistent point, but store the page image
    /// (byte-exact restore, no small increments).
    File,
    /// Treat databases as ordinary files: their bytes and their `-wal`/`-shm`/`-journal`
    /// files are copied as they are, which is only consistent if no app is writing.
    Off,
}

impl std::str::FromStr for SqliteMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(SqliteMode::Auto),
            "file" => Ok(SqliteMode::File),
            "off" => Ok(SqliteMode::Off),
            other => Err(format!("unknown SQLite mode {other:?}: use auto, file or off")),
        }
    }
}

/// Whether the file at `path` starts with the SQLite header. Unreadable or short files are
/// not databases.
#[must_use]
pub fn has_sqlite_header(path: &Path) -> bool {
    let mut head = [0u8; 16];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head == SQLITE_MAGIC
}

/// The name of a database's companion file with `suffix`.
#[must_use]
pub fn companion_name(db_name: &[u8], suffix: &str) -> Vec<u8> {
    let mut name = db_name.to_vec();
    name.extend_from_slice(suffix.as_bytes());
    name
}

/// Copies the database at `source` into `dest` (a new file) with SQLite's online backup API,
/// in one step, so the copy is the database at one committed point.
pub fn copy_page_image(source: &Path, dest: &Path) -> rusqlite::Result<()> {
    use rusqlite::backup::{Backup, StepResult};
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let src = rusqlite::Connection::open_with_flags(source, flags)?;
    src.busy_timeout(std::time::Duration::from_mins(1))?;
    let mut dst = rusqlite::Connection::open(dest)?;
    {
        let backup = Backup::new(&src, &mut dst)?;
        // Busy and Locked only happen between steps of an incremental copy; a copy in one step
        // waits through the busy timeout instead. Retry a few times in case it runs out.
        let mut attempts = 0;
        while backup.step(-1)? != StepResult::Done {
            attempts += 1;
            if attempts == 5 {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("the database stayed locked by a writer".into()),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    dst.close().map_err(|(_, e)| e)
}

/// Dumps the database `dumper` has open on a thread of its own, cutting the dump with
/// `chunker` and handing each chunk to `each` in order. The outer error is `each`'s (a
/// cancelled backup, a failed store); the inner one says why the dump itself failed.
pub(crate) fn dump_in_chunks(
    dumper: dump::Dumper,
    chunker: &crate::chunker::Chunker,
    mut each: impl FnMut(&[u8]) -> crate::Result<()>,
) -> crate::Result<Result<dump::DumpSummary, dump::DumpError>> {
    std::thread::scope(|scope| {
        let (mut writer, reader) = pipe::pipe();
        let dumping = std::thread::Builder::new()
            .name("cairn-sqlite-dump".into())
            .spawn_scoped(scope, move || dumper.write_to(&mut writer))
            .map_err(|e| crate::Error::system("starting a thread", e))?;
        let mut stream = chunker.chunks(reader);
        let mut failure = None;
        while let Some(chunk) = stream.next_chunk() {
            // The pipe's reader never fails: a failed dump just ends the stream early.
            let Ok(chunk) = chunk else { break };
            if let Err(e) = each(chunk) {
                failure = Some(e);
                break;
            }
        }
        // Dropping the reader makes a dump that is still running fail to write, and stop.
        drop(stream);
        let dumped = dumping.join().map_err(|_| {
            crate::Error::system("dumping a database", std::io::Error::other("the thread panicked"))
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(dumped),
        }
    })
}
