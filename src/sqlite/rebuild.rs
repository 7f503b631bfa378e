//! Rebuilding a database from its dump (SPEC §16.3): a fresh file with the dumped settings,
//! the tables, their rows, then indexes, views and triggers (so no trigger fires while rows
//! go back in), checked by SQLite's `integrity_check`.

use std::io::Read;
use std::path::Path;

use cairn_format::FormatError;
use cairn_format::sqlite::{
    DUMP_HEADER_LEN, DumpHeader, RECORD_PREFIX_LEN, Record, SchemaKind, Value, record_len,
};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Statement};

use super::dump::{is_internal, quote, starts_with_words};

/// Why a rebuild failed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// The dump is not a valid dump.
    #[error("{0}")]
    Damaged(#[from] FormatError),
    /// The dump is well formed but does not describe a database SQLite accepts.
    #[error("{0}")]
    Rejected(String),
    /// Reading the dump or writing the database failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// SQLite failed to write the database.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The table whose rows are being inserted.
struct OpenTable<'c> {
    name: String,
    insert: Statement<'c>,
    width: usize,
    rows: u64,
}

/// Builds the database described by the dump `dump` (`len` bytes) at `dest`, which must not
/// exist, and checks it with `integrity_check`. The caller removes `dest` if this fails.
pub fn rebuild(dump: &mut dyn Read, len: u64, dest: &Path) -> Result<DumpHeader, RebuildError> {
    let header = build(dump, len, dest)?;
    check_file_integrity(dest)?;
    Ok(header)
}

/// [`rebuild`] without the integrity check, for callers that run it beside other checks.
pub(crate) fn build(dump: &mut dyn Read, len: u64, dest: &Path) -> Result<DumpHeader, RebuildError> {
    let mut header = [0u8; DUMP_HEADER_LEN];
    read_exact(dump, &mut header, "dump header")?;
    let header = DumpHeader::decode(&header)?;
    let mut remaining = len.checked_sub(DUMP_HEADER_LEN as u64).ok_or_else(|| truncated("dump header"))?;
    let conn = Connection::open(dest)?;
    // The file is a temporary one until it is checked and renamed into place, so it needs no
    // journal; it is synced once complete.
    conn.execute_batch(&format!(
        "PRAGMA page_size = {}; PRAGMA encoding = '{}'; PRAGMA auto_vacuum = {};
         PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF;
         PRAGMA trusted_schema = OFF; BEGIN",
        header.page_size,
        header.encoding.pragma_name(),
        header.auto_vacuum,
    ))?;
    let mut record = Vec::new();
    let mut table: Option<OpenTable<'_>> = None;
    let mut tables = 0u32;
    let mut rows = 0u64;
    loop {
        let mut prefix = [0u8; RECORD_PREFIX_LEN];
        read_exact(dump, &mut prefix, "dump record")?;
        remaining =
            remaining.checked_sub(RECORD_PREFIX_LEN as u64).ok_or_else(|| truncated("dump record"))?;
        let body_len = record_len(prefix, remaining)?;
        remaining -= body_len as u64;
        record.resize(body_len, 0);
        read_exact(dump, &mut record, "dump record")?;
        match Record::decode(&record)? {
            Record::Schema { kind, name, sql, .. } => {
                if table.is_some() {
                    return Err(out_of_order("a schema record inside a table's rows"));
                }
                create(&conn, kind, name, sql)?;
                tracing::trace!(name, "created");
            }
            Record::Table { name, without_rowid, columns } => {
                if table.is_some() {
                    return Err(out_of_order("a table started inside another"));
                }
                table = Some(open_table(&conn, name, without_rowid, &columns)?);
            }
            Record::Row(values) => {
                let open = table.as_mut().ok_or_else(|| out_of_order("a row outside a table"))?;
                insert(open, &values)?;
            }
            Record::TableEnd { rows: count } => {
                let open = table.take().ok_or_else(|| out_of_order("a table end outside a table"))?;
                if open.rows != count {
                    return Err(RebuildError::Rejected(format!(
                        "table {} ends after {} rows but says {count}",
                        open.name, open.rows
                    )));
                }
                tables += 1;
                rows += count;
            }
            Record::End { tables: t, rows: r } => {
                if table.is_some() || t != tables || r != rows || remaining != 0 {
                    return Err(out_of_order("the end record does not match the dump"));
                }
                break;
            }
        }
    }
    drop(table);
    conn.execute_batch(&format!(
        "COMMIT; PRAGMA user_version = {}; PRAGMA application_id = {}; PRAGMA journal_mode = {}",
        header.user_version,
        header.application_id,
        if header.wal { "WAL" } else { "DELETE" },
    ))?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(header)
}

/// SQLite's page cache for an integrity check, in KiB: the check looks up every row in every
/// index of its table, in row order, so the default 2 MiB cache would read most index pages
/// from the file again and again.
const CHECK_CACHE_KIB: u32 = 8 << 10;

/// Opens the database file at `path` read-only and runs [`check_integrity`] on it.
pub fn check_file_integrity(path: &Path) -> Result<(), RebuildError> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{CHECK_CACHE_KIB}"))?;
    check_integrity(&conn)
}

/// Runs `PRAGMA integrity_check` on an open database; anything but `ok` is an error quoting
/// SQLite's first finding.
pub fn check_integrity(conn: &Connection) -> Result<(), RebuildError> {
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if verdict == "ok" { Ok(()) } else { Err(RebuildError::Rejected(format!("integrity_check: {verdict}"))) }
}

/// Creates one schema object. Only a single `CREATE` statement of the record's kind is run:
/// a dump is authenticated, but the statement still cannot attach files or run anything else.
fn create(conn: &Connection, kind: SchemaKind, name: &str, sql: &str) -> Result<(), RebuildError> {
    let allowed = match kind {
        SchemaKind::Table => starts_with_words(sql, &["CREATE", "TABLE"]),
        SchemaKind::Index => {
            starts_with_words(sql, &["CREATE", "INDEX"])
                || starts_with_words(sql, &["CREATE", "UNIQUE", "INDEX"])
        }
        SchemaKind::View => starts_with_words(sql, &["CREATE", "VIEW"]),
        SchemaKind::Trigger => starts_with_words(sql, &["CREATE", "TRIGGER"]),
    };
    if !allowed {
        return Err(RebuildError::Rejected(format!(
            "schema object {name} is not a plain CREATE {}",
            kind.schema_type()
        )));
    }
    match name {
        // SQLite makes this table itself with the first AUTOINCREMENT table.
        "sqlite_sequence" => Ok(()),
        // SQLite makes the statistics tables itself; ANALYZE of the (index-free) schema table
        // creates them without adding rows of any user table.
        "sqlite_stat1" | "sqlite_stat4" => {
            let exists: bool = conn.query_row(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [name],
                |row| row.get(0),
            )?;
            if !exists {
                conn.execute_batch("ANALYZE sqlite_schema")?;
            }
            Ok(conn.execute_batch(&format!("DELETE FROM {name}"))?)
        }
        _ if is_internal(name) => Err(RebuildError::Rejected(format!("internal table {name}"))),
        _ => {
            conn.execute(sql, [])?;
            Ok(())
        }
    }
}

fn open_table<'c>(
    conn: &'c Connection,
    name: &str,
    without_rowid: bool,
    columns: &[&str],
) -> Result<OpenTable<'c>, RebuildError> {
    let mut names: Vec<String> = Vec::with_capacity(columns.len() + 1);
    if !without_rowid {
        names.push("rowid".into());
    }
    names.extend(columns.iter().map(|c| quote(c)));
    let placeholders = (1..=names.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    if name == "sqlite_sequence" {
        // Rows inserted so far into AUTOINCREMENT tables made entries here; the dumped
        // ones replace them, and later inserts only raise a counter that is already as high.
        conn.execute_batch("DELETE FROM sqlite_sequence")?;
    }
    let sql = format!("INSERT INTO {}({}) VALUES ({placeholders})", quote(name), names.join(", "));
    let insert = conn.prepare(&sql)?;
    Ok(OpenTable { name: name.to_string(), insert, width: names.len(), rows: 0 })
}

fn insert(table: &mut OpenTable<'_>, values: &[Value<'_>]) -> Result<(), RebuildError> {
    if values.len() != table.width {
        return Err(RebuildError::Rejected(format!(
            "a row of table {} has {} values for {} columns",
            table.name,
            values.len(),
            table.width
        )));
    }
    for (i, value) in values.iter().enumerate() {
        let value = match *value {
            Value::Null => ValueRef::Null,
            Value::Integer(v) => ValueRef::Integer(v),
            Value::Real(v) => ValueRef::Real(v),
            // Text goes back as the bytes it was, valid UTF-8 or not.
            Value::Text(v) => ValueRef::Text(v),
            Value::Blob(v) => ValueRef::Blob(v),
        };
        table.insert.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(value))?;
    }
    table.insert.raw_execute()?;
    table.rows += 1;
    Ok(())
}

fn read_exact(dump: &mut dyn Read, buf: &mut [u8], what: &'static str) -> Result<(), RebuildError> {
    dump.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof { truncated(what) } else { RebuildError::Io(e) }
    })
}

fn truncated(what: &'static str) -> RebuildError {
    RebuildError::Damaged(FormatError::Truncated { field: what, needed: 1, available: 0 })
}

fn out_of_order(what: &str) -> RebuildError {
    RebuildError::Rejected(format!("the dump is out of order: {what}"))
}
