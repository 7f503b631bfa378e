//! Reading a live SQLite database into its canonical dump (SPEC §16), through SQLite itself:
//! one read transaction, so the dump is the database at one committed point however busy its
//! writers are (in WAL mode they go on writing; in rollback-journal mode they wait for the
//! read to end, as SQLite's locking says).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use cairn_format::sqlite::{DumpHeader, Record, SchemaKind, TableRows, TextEncoding, Value};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

/// Dumped records are handed on in pieces of about this size.
const FLUSH_LEN: usize = 256 << 10;
/// How long a dump waits for a writer holding an exclusive lock (rollback-journal mode).
const BUSY_TIMEOUT: Duration = Duration::from_mins(1);

/// Why a database was not dumped.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The database uses something a dump does not reproduce; its page image is stored instead.
    #[error("{0}")]
    Unsupported(String),
    /// SQLite could not read it.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The dump could not be handed on (the backup stopped).
    #[error("{0}")]
    Write(#[from] std::io::Error),
}

/// A schema object other than a table, created after the rows.
struct SchemaObject {
    kind: SchemaKind,
    name: String,
    table: String,
    sql: String,
}

/// How one table is read.
struct TablePlan {
    name: String,
    sql: String,
    without_rowid: bool,
    columns: Vec<String>,
    select: String,
}

/// What a dump held.
#[derive(Clone, Debug)]
pub struct DumpSummary {
    /// The database's settings.
    pub header: DumpHeader,
    /// Each table's rows, in dump order.
    pub tables: Vec<TableRows>,
}

/// An open read transaction on a database and the plan of its dump. Planning reads the schema
/// and rejects what a dump cannot reproduce before a byte is written, so a caller can still
/// fall back to the page image.
pub struct Dumper {
    conn: Connection,
    header: DumpHeader,
    tables: Vec<TablePlan>,
    others: Vec<SchemaObject>,
}

impl Dumper {
    /// Opens `path` read-only, starts a read transaction and plans the dump.
    pub fn open(path: &Path) -> Result<Dumper, DumpError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("BEGIN")?;
        // The first read fixes the transaction's view of the database.
        let objects = read_schema(&conn)?;
        let header = read_header(&conn)?;
        let mut tables = Vec::new();
        let mut others = Vec::new();
        for object in objects {
            if object.kind == SchemaKind::Table {
                tables.push(plan_table(&conn, object)?);
            } else {
                others.push(object);
            }
        }
        tables.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        // Indexes and triggers by name; views keep their creation order, since a view may be
        // defined on an earlier one.
        others.sort_by(|a, b| match (a.kind, b.kind) {
            (SchemaKind::View, SchemaKind::View) => std::cmp::Ordering::Equal,
            (x, y) if x == y => a.name.as_bytes().cmp(b.name.as_bytes()),
            (x, y) => x.cmp(&y),
        });
        Ok(Dumper { conn, header, tables, others })
    }

    /// The database's settings.
    #[must_use]
    pub fn header(&self) -> &DumpHeader {
        &self.header
    }

    /// Writes the dump to `out` and ends the read transaction.
    pub fn write_to(self, out: &mut dyn Write) -> Result<DumpSummary, DumpError> {
        let mut buf = Vec::with_capacity(FLUSH_LEN * 2);
        buf.extend_from_slice(&self.header.encode());
        for table in &self.tables {
            let record = Record::Schema {
                kind: SchemaKind::Table,
                name: &table.name,
                table: &table.name,
                sql: &table.sql,
            };
            encode(&record, &mut buf)?;
        }
        let mut counts = Vec::with_capacity(self.tables.len());
        let mut total = 0u64;
        for table in &self.tables {
            let rows = self.dump_rows(table, &mut buf, out)?;
            total += rows;
            counts.push(TableRows { name: table.name.clone(), rows });
        }
        for object in &self.others {
            let record = Record::Schema {
                kind: object.kind,
                name: &object.name,
                table: &object.table,
                sql: &object.sql,
            };
            encode(&record, &mut buf)?;
        }
        let tables =
            u32::try_from(self.tables.len()).map_err(|_| unsupported("more tables than a dump holds"))?;
        encode(&Record::End { tables, rows: total }, &mut buf)?;
        out.write_all(&buf)?;
        out.flush()?;
        self.conn.execute_batch("COMMIT")?;
        Ok(DumpSummary { header: self.header, tables: counts })
    }

    fn dump_rows(&self, table: &TablePlan, buf: &mut Vec<u8>, out: &mut dyn Write) -> Result<u64, DumpError> {
        let columns: Vec<&str> = table.columns.iter().map(String::as_str).collect();
        encode(&Record::Table { name: &table.name, without_rowid: table.without_rowid, columns }, buf)?;
        let mut stmt = self.conn.prepare(&table.select)?;
        let width = stmt.column_count();
        let mut rows = stmt.query([])?;
        let mut count = 0u64;
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Integer(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(v) => Value::Text(v),
                    ValueRef::Blob(v) => Value::Blob(v),
                });
            }
            encode(&Record::Row(values), buf)?;
            count += 1;
            if buf.len() >= FLUSH_LEN {
                out.write_all(buf)?;
                buf.clear();
            }
        }
        encode(&Record::TableEnd { rows: count }, buf)?;
        Ok(count)
    }
}

fn encode(record: &Record<'_>, buf: &mut Vec<u8>) -> Result<(), DumpError> {
    record.encode_into(buf).map_err(|e| unsupported(&e.to_string()))
}

fn unsupported(reason: &str) -> DumpError {
    DumpError::Unsupported(reason.to_string())
}

/// Every schema object with SQL (automatic indexes have none: SQLite makes them with their
/// tables), in creation order.
fn read_schema(conn: &Connection) -> Result<Vec<SchemaObject>, DumpError> {
    let mut stmt = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid",
    )?;
    let mut rows = stmt.query([])?;
    let mut objects = Vec::new();
    while let Some(row) = rows.next()? {
        let kind_name: String = row.get(0)?;
        let name: String = row.get(1)?;
        let table: String = row.get(2)?;
        let sql: String = row.get(3)?;
        let kind = match kind_name.as_str() {
            "table" => SchemaKind::Table,
            "index" => SchemaKind::Index,
            "view" => SchemaKind::View,
            "trigger" => SchemaKind::Trigger,
            other => return Err(unsupported(&format!("schema object {name} of unknown type {other}"))),
        };
        if kind == SchemaKind::Table && starts_with_words(&sql, &["CREATE", "VIRTUAL", "TABLE"]) {
            return Err(unsupported(&format!("virtual table {name}")));
        }
        if kind == SchemaKind::Table && is_internal(&name) && !RESTORABLE_INTERNAL.contains(&name.as_str()) {
            return Err(unsupported(&format!("internal table {name}")));
        }
        for label in [&name, &table] {
            if label.is_empty() || label.len() > usize::from(cairn_format::sqlite::MAX_SQL_NAME_LEN) {
                return Err(unsupported(&format!("schema name of {} bytes", label.len())));
            }
        }
        objects.push(SchemaObject { kind, name, table, sql });
    }
    Ok(objects)
}

fn read_header(conn: &Connection) -> Result<DumpHeader, DumpError> {
    let pragma_i64 = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0));
    let encoding_name: String = conn.query_row("PRAGMA encoding", [], |row| row.get(0))?;
    let journal_mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    let encoding = TextEncoding::from_pragma_name(&encoding_name)
        .ok_or_else(|| unsupported(&format!("text encoding {encoding_name}")))?;
    let page_size = u32::try_from(pragma_i64("page_size")?).map_err(|_| unsupported("page size"))?;
    let auto_vacuum = u8::try_from(pragma_i64("auto_vacuum")?).map_err(|_| unsupported("auto_vacuum"))?;
    // Both are 32-bit header fields; SQLite returns them sign-extended.
    let user_version = i32::try_from(pragma_i64("user_version")?).map_err(|_| unsupported("user_version"))?;
    let application_id =
        i32::try_from(pragma_i64("application_id")?).map_err(|_| unsupported("application_id"))?;
    Ok(DumpHeader {
        page_size,
        encoding,
        user_version,
        application_id,
        auto_vacuum,
        wal: journal_mode.eq_ignore_ascii_case("wal"),
    })
}

fn plan_table(conn: &Connection, object: SchemaObject) -> Result<TablePlan, DumpError> {
    let without_rowid: bool = conn.query_row(
        "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
        [&object.name],
        |row| row.get(0),
    )?;
    let mut all_names = Vec::new();
    let mut columns = Vec::new();
    let mut key: Vec<(i64, String)> = Vec::new();
    let mut stmt = conn.prepare("SELECT name, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid")?;
    let mut rows = stmt.query([&object.name])?;
    while let Some(row) = rows.next()? {
        let name: String = row.get(0)?;
        let pk: i64 = row.get(1)?;
        let hidden: i64 = row.get(2)?;
        all_names.push(name.to_ascii_lowercase());
        if pk > 0 {
            key.push((pk, name.clone()));
        }
        // Hidden 2 and 3 are generated columns: SQLite computes them on restore.
        if hidden == 0 {
            if name.is_empty() || name.len() > usize::from(cairn_format::sqlite::MAX_SQL_NAME_LEN) {
                return Err(unsupported(&format!(
                    "a column name of {} bytes in table {}",
                    name.len(),
                    object.name
                )));
            }
            columns.push(name);
        }
    }
    if columns.is_empty() {
        return Err(unsupported(&format!("table {} without stored columns", object.name)));
    }
    let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let select = if without_rowid {
        key.sort();
        let order = key.iter().map(|(_, c)| quote(c)).collect::<Vec<_>>().join(", ");
        format!("SELECT {list} FROM {} ORDER BY {order}", quote(&object.name))
    } else {
        let alias = ["rowid", "_rowid_", "oid"]
            .into_iter()
            .find(|a| !all_names.iter().any(|n| n == a))
            .ok_or_else(|| unsupported(&format!("table {} hides its rowid behind columns", object.name)))?;
        format!("SELECT {alias}, {list} FROM {} ORDER BY {alias}", quote(&object.name))
    };
    Ok(TablePlan { name: object.name, sql: object.sql, without_rowid, columns, select })
}

/// The internal tables a dump carries: SQLite creates them itself, and their rows can be
/// written back (the AUTOINCREMENT counters and ANALYZE's statistics).
pub(crate) const RESTORABLE_INTERNAL: [&str; 3] = ["sqlite_sequence", "sqlite_stat1", "sqlite_stat4"];

/// An SQL identifier in double quotes, inner quotes doubled.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Names SQLite reserves for itself.
pub(crate) fn is_internal(name: &str) -> bool {
    name.as_bytes().get(..7).is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"sqlite_"))
}

/// Whether `sql` begins with these keywords (any case, any whitespace between them).
pub(crate) fn starts_with_words(sql: &str, words: &[&str]) -> bool {
    let mut rest = sql.split_ascii_whitespace();
    words.iter().all(|w| rest.next().is_some_and(|t| t.eq_ignore_ascii_case(w)))
}
