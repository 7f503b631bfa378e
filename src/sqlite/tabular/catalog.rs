//! Which tables of a database an export writes, their columns, and the query that reads each
//! in a deterministic order.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// A table, view or virtual table of the `main` schema, as `PRAGMA table_list` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub name: String,
    /// `table`, `view`, `virtual` or `shadow`.
    pub kind: String,
    pub without_rowid: bool,
}

impl Entry {
    /// Whether an export of every table includes this one: ordinary tables only, not
    /// SQLite's own (names starting `sqlite_` are reserved to it, in any case).
    fn is_exported_by_default(&self) -> bool {
        self.kind == "table" && !self.name.to_ascii_lowercase().starts_with("sqlite_")
    }
}

/// A table ready to export.
#[derive(Debug)]
pub(super) struct Table {
    pub name: String,
    /// The columns `SELECT *` gives, in order.
    pub columns: Vec<Column>,
    /// Selects exactly `columns`, in a deterministic row order.
    pub query: String,
}

/// A column of an exported table.
#[derive(Debug)]
pub(super) struct Column {
    pub name: String,
    /// The type the schema declares, as written there; empty when none is.
    pub declared_type: String,
}

/// Names by which a rowid table's rowid can be selected, unless a column takes the name.
const ROWID_NAMES: [&str; 3] = ["rowid", "_rowid_", "oid"];

/// Every table and view of the `main` schema.
pub(super) fn list(conn: &Connection) -> rusqlite::Result<Vec<Entry>> {
    let mut statement = conn.prepare("SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main'")?;
    let rows = statement.query_map([], |row| {
        Ok(Entry { name: row.get(0)?, kind: row.get(1)?, without_rowid: row.get(2)? })
    })?;
    rows.collect()
}

/// The entries to export: those `requested`, in that order and each once, matched as SQLite
/// matches names (ASCII case-insensitively); with none requested, every ordinary table by name.
pub(super) fn choose(entries: Vec<Entry>, requested: &[String]) -> Result<Vec<Entry>> {
    if requested.is_empty() {
        let mut tables: Vec<Entry> = entries.into_iter().filter(Entry::is_exported_by_default).collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        return Ok(tables);
    }
    let mut chosen: Vec<Entry> = Vec::with_capacity(requested.len());
    for name in requested {
        let entry = entries
            .iter()
            .find(|entry| entry.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| unknown_table(name, &entries))?;
        if !chosen.contains(entry) {
            chosen.push(entry.clone());
        }
    }
    Ok(chosen)
}

/// Most table names an unknown-table error lists.
const MAX_NAMES_LISTED: usize = 10;

fn unknown_table(name: &str, entries: &[Entry]) -> Error {
    let mut known: Vec<&str> =
        entries.iter().filter(|e| e.is_exported_by_default()).map(|e| e.name.as_str()).collect();
    known.sort_unstable();
    let listed = known.iter().take(MAX_NAMES_LISTED).map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
    let more = known.len().saturating_sub(MAX_NAMES_LISTED);
    let tables = match (known.len(), more) {
        (0, _) => "it has no tables".to_owned(),
        (_, 0) => format!("its tables are {listed}"),
        _ => format!("its tables are {listed} and {more} more (leave out the table list to export all)"),
    };
    Error::invalid("table name", format!("the database has no table or view named {name:?}; {tables}"))
}

/// Reads the columns of `entry` and builds the query that exports it.
pub(super) fn describe(conn: &Connection, entry: &Entry) -> rusqlite::Result<Table> {
    let mut statement = conn.prepare("SELECT name, type, pk, hidden FROM pragma_table_xinfo(?1, 'main')")?;
    let all: Vec<SchemaColumn> = statement
        .query_map([&entry.name], |row| {
            Ok(SchemaColumn {
                name: row.get(0)?,
                declared_type: row.get(1)?,
                primary_key_position: row.get(2)?,
                hidden: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let columns: Vec<Column> = all
        .iter()
        .filter(|c| c.hidden != HIDDEN_VIRTUAL_TABLE_COLUMN)
        .map(|c| Column { name: c.name.clone(), declared_type: c.declared_type.clone() })
        .collect();
    let list = columns.iter().map(|c| quote(&c.name)).collect::<Vec<_>>().join(", ");
    let query = format!("SELECT {list} FROM \"main\".{} ORDER BY {}", quote(&entry.name), order(entry, &all));
    Ok(Table { name: entry.name.clone(), columns, query })
}

/// `hidden` of `PRAGMA table_xinfo` for a virtual table's hidden column, which `SELECT *`
/// leaves out (generated columns, 2 and 3, it includes).
const HIDDEN_VIRTUAL_TABLE_COLUMN: i64 = 1;

/// A row of `PRAGMA table_xinfo`.
struct SchemaColumn {
    name: String,
    declared_type: String,
    /// 1-based position in the primary key; 0 when not part of it.
    primary_key_position: i64,
    hidden: i64,
}

/// The `ORDER BY` terms that make an export deterministic: the rowid, the primary key of a
/// `WITHOUT ROWID` table, or, for views, virtual tables and rowid tables whose columns take
/// every name of the rowid, every column in turn (rows still tied are identical).
fn order(entry: &Entry, columns: &[SchemaColumn]) -> String {
    let every_column = || {
        let visible = columns.iter().filter(|c| c.hidden != HIDDEN_VIRTUAL_TABLE_COLUMN).count();
        (1..=visible.max(1)).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
    };
    if entry.kind != "table" {
        return every_column();
    }
    if entry.without_rowid {
        let mut key: Vec<&SchemaColumn> = columns.iter().filter(|c| c.primary_key_position > 0).collect();
        key.sort_by_key(|c| c.primary_key_position);
        return key.iter().map(|c| quote(&c.name)).collect::<Vec<_>>().join(", ");
    }
    ROWID_NAMES
        .iter()
        .find(|rowid| !columns.iter().any(|c| c.name.eq_ignore_ascii_case(rowid)))
        .map_or_else(every_column, |rowid| (*rowid).to_owned())
}

/// `name` as an SQL identifier: in double quotes, inner ones doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, kind: &str) -> Entry {
        Entry { name: name.to_owned(), kind: kind.to_owned(), without_rowid: false }
    }

    fn catalog() -> Vec<Entry> {
        vec![
            entry("users", "table"),
            entry("sqlite_sequence", "table"),
            entry("Notes", "table"),
            entry("recent", "view"),
            entry("search", "virtual"),
            entry("search_data", "shadow"),
        ]
    }

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// Views, virtual, shadow and SQLite's own tables hold derived data or bookkeeping.
    #[test]
    fn all_tables_means_ordinary_user_tables_sorted_by_name() {
        assert_eq!(names(&choose(catalog(), &[]).unwrap()), ["Notes", "users"]);
    }

    /// SQLite itself resolves `notes` to `Notes`; asking twice must not write a file twice.
    #[test]
    fn requested_names_match_case_insensitively_in_order_and_once() {
        let requested = ["recent", "notes", "NOTES", "sqlite_sequence"].map(String::from);
        assert_eq!(names(&choose(catalog(), &requested).unwrap()), ["recent", "Notes", "sqlite_sequence"]);
    }

    /// The error must name the culprit and show what could have been meant.
    #[test]
    fn unknown_name_is_reported_with_the_tables_there_are() {
        let message = choose(catalog(), &["user".to_owned()]).unwrap_err().to_string();
        assert!(message.contains("\"user\""), "{message}");
        assert!(message.contains("its tables are \"Notes\", \"users\""), "{message}");
    }

    /// A table named like SQL must stay one identifier.
    #[test]
    fn quoted_identifier_doubles_inner_quotes() {
        assert_eq!(quote(r#"a"; DROP TABLE x; --"#), r#""a""; DROP TABLE x; --""#);
    }
}
