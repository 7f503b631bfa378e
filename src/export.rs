//! `cairn export`: one database of a snapshot written out as CSV or JSON files, a file per
//! table, for the user's own use (data portability). The database is rebuilt from the
//! snapshot into a temporary directory first; nothing is written where it came from.

use std::io::Read;
use std::path::Path;

use cairn_format::tree::NodeKind;

use crate::error::{Error, Result};
use crate::index::Index;
use crate::progress::CancelToken;
use crate::repository::Repository;
use crate::restore::RebuiltDatabase;
use crate::snapshot::SnapshotInfo;
use crate::sqlite::tabular::{TableExportOptions, TableExportReport, export_tables};

impl Repository {
    /// Writes the tables of the database at `path` in `snapshot` into `out_dir`. The
    /// database may be stored as a dump (the default for databases) or as a file holding a
    /// SQLite database (`--sqlite-mode file` or `off`).
    pub fn export_database(
        &self,
        snapshot: &SnapshotInfo,
        path: &str,
        out_dir: &Path,
        options: &TableExportOptions,
        cancel: &CancelToken,
    ) -> Result<TableExportReport> {
        let _lock = crate::lock::LockGuard::shared_if_writable(self, "export");
        let index = Index::load(self)?;
        let node = crate::tree::find_node(self, &index, &snapshot.snapshot.tree, path.as_bytes())?;
        let not_a_database = || {
            Error::invalid(
                "database path",
                format!("{path} in the snapshot is not a SQLite database; list the snapshot with `cairn ls`"),
            )
        };
        match node.map(|n| n.kind) {
            Some(NodeKind::Database { chunks, .. }) => {
                let db = RebuiltDatabase::new(self, &index, &chunks, path)?;
                export_tables(db.path(), out_dir, options, cancel)
            }
            Some(NodeKind::File { chunks }) => {
                let dir = tempfile::Builder::new()
                    .prefix("cairn-db-")
                    .tempdir()
                    .map_err(|e| Error::system("creating a temporary directory", e))?;
                let copy = dir.path().join("database.sqlite");
                let mut reader = crate::dump::ContentReader::new(self, &index, &chunks);
                let mut head = [0u8; 16];
                let starts = reader.read_exact(&mut head);
                if let Some(e) = reader.error.take() {
                    return Err(e);
                }
                if starts.is_err() || &head != crate::sqlite::SQLITE_MAGIC {
                    return Err(not_a_database());
                }
                let mut file = std::fs::File::create(&copy)
                    .map_err(|e| Error::system("writing a temporary database", e))?;
                let copied = std::io::Write::write_all(&mut file, &head)
                    .and_then(|()| std::io::copy(&mut reader, &mut file));
                if let Some(e) = reader.error.take() {
                    return Err(e);
                }
                copied.map_err(|e| Error::system("writing a temporary database", e))?;
                drop(file);
                export_tables(&copy, out_dir, options, cancel)
            }
            _ => Err(not_a_database()),
        }
    }
}
