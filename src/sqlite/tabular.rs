//! Exports a SQLite database's tables as CSV or JSON files for the user's own use (the
//! data-export requirement): CSV that spreadsheet programs open cleanly, JSON that keeps every
//! SQLite type. One file per table, written whole or not at all, never over an existing file.
//!
//! The choices, made once here:
//!
//! - **Which tables.** With no names given, every ordinary table of the `main` schema
//!   (`WITHOUT ROWID` and `STRICT` ones included), but not SQLite's `sqlite_*` tables, views,
//!   virtual tables (full-text indexes and the like) or their shadow tables: those hold
//!   SQLite's bookkeeping or data derived from the ordinary tables. Named explicitly, any table
//!   or view of `main` is exported, those included: the caller asked for it. Names match as
//!   SQLite matches them, ASCII case-insensitively; an unknown name fails before anything is
//!   written, and the error lists the tables there are.
//! - **Columns.** What `SELECT *` gives: generated columns included, the hidden columns of
//!   virtual tables not.
//! - **Row order.** Rowid order for ordinary tables, primary-key order for `WITHOUT ROWID`
//!   ones, every column in turn for views and virtual tables: the same database always gives
//!   the same files. All tables are read in one transaction, so they agree with each other.
//! - **File names.** `<stem>.csv` or `<stem>.json`, where the stem keeps the ASCII letters,
//!   digits, `_` and `-` of the table's name and writes every other byte of its UTF-8 as `%XX`
//!   (upper-case hex), so `order items` becomes `order%20items` and `../x` becomes
//!   `%2E%2E%2Fx`. A stem never holds a separator, never starts with a dot, and decodes back to
//!   the name, so distinct tables get distinct files, also on case-insensitive file systems
//!   (SQLite's own names are ASCII case-insensitive; other bytes are escaped). The empty name
//!   is `%`; a Windows device name (`CON`, `nul`, `COM1`, …) has its first letter escaped; a
//!   stem over 160 bytes keeps its first 120 and gains `~` and 16 hex digits of the name's
//!   BLAKE3 hash (`~` is escaped everywhere else, so such stems meet no others).
//! - **Values**, in both formats: integers exact over the whole `i64` range; reals in the
//!   shortest form that reads back as the same `f64`, always with a `.` or an exponent so they
//!   stay reals (`1.0`, `-0.0`, `1e+308`, `5e-324`); infinities as `Infinity` and `-Infinity`
//!   (SQLite stores them; it stores no NaN, which would be written `NaN`); blobs in standard,
//!   padded base64. CSV and JSON differ as described on [`CsvOptions`] and [`TableFormat::Json`].

mod catalog;
mod csv;
mod file_name;
mod json;
mod output;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use self::catalog::Table;
use self::output::OutputFile;
use crate::error::{Error, Result};
use crate::progress::CancelToken;

/// What to export, and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableExportOptions {
    /// The file format.
    pub format: TableFormat,
    /// Tables (or views) to export, in this order; empty means every ordinary table, by name.
    pub tables: Vec<String>,
}

/// The file format of an export, with the settings only that format has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// RFC 4180 CSV, as described on [`CsvOptions`].
    Csv(CsvOptions),
    /// One JSON object per table, `{"table": NAME, "columns": [{"name": …, "type": DECLARED},
    /// …], "rows": [[v1, v2, …], …]}`, a row per line: rows as arrays keep column order and
    /// duplicate column names (views may have them), and the declared types let the data be
    /// loaded back into a table like the original. NULL is `null`, INTEGER a number (its text
    /// is exact; readers that parse numbers into doubles, like JavaScript's, lose digits past
    /// 2^53, and no string copy is added for them), REAL a number, TEXT a string. What JSON
    /// cannot hold as such is an object with one key: a blob `{"blob_base64": …}`, an infinity
    /// `{"real": "Infinity"}` or `{"real": "-Infinity"}`, and text that is not valid UTF-8
    /// (SQLite does not check) `{"text_base64": …}` with its exact bytes.
    Json,
}

impl Default for TableFormat {
    fn default() -> Self {
        TableFormat::Csv(CsvOptions::default())
    }
}

impl TableFormat {
    /// The extension of the files written, without the dot.
    #[must_use]
    pub fn extension(&self) -> &'static str {
        match self {
            TableFormat::Csv(_) => "csv",
            TableFormat::Json => "json",
        }
    }
}

/// CSV settings. The files follow RFC 4180 as spreadsheet programs read it: UTF-8, a header
/// row of column names, CRLF after every record, a field quoted when it holds the delimiter,
/// `"`, CR or LF or starts or ends with a space or tab (`"` doubled inside), and also the first
/// header field when it starts with `ID` (Excel would take the file for SYLK). NULL is an
/// empty field and empty text a quoted empty field (`""`), as Postgres `COPY` tells them
/// apart; spreadsheets show both as empty. Text that is not valid UTF-8 has each invalid
/// sequence replaced by U+FFFD (counted in [`ExportedTable::invalid_utf8_values`]; JSON keeps
/// such bytes exactly).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// The field separator: `,` by default, `;` where the decimal separator is a comma, or
    /// any other ASCII punctuation, space or tab except `"`.
    pub delimiter: u8,
    /// Starts each file with a UTF-8 byte order mark, which Excel needs to read UTF-8 rather
    /// than the system's legacy code page.
    pub bom: bool,
    /// Prefixes `'` to text values starting with `=`, `+`, `-`, `@`, tab or CR, as OWASP
    /// advises against CSV injection: spreadsheet programs run such cells as formulas, and an
    /// app's data holds text other people wrote. On by default; the `'` is then part of the
    /// value (counted in [`ExportedTable::formula_guarded_values`]), so turn it off for files
    /// meant for programs. Numbers, blobs and column names are never altered.
    pub guard_formulas: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { delimiter: b',', bom: false, guard_formulas: true }
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableExportReport {
    /// Every table written, in the order written.
    pub tables: Vec<ExportedTable>,
}

/// One table written to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedTable {
    /// The table's name in the database.
    pub name: String,
    /// The file written.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Text values that were not valid UTF-8: altered in CSV, kept exactly in JSON.
    pub invalid_utf8_values: u64,
    /// Text values prefixed with `'` by [`CsvOptions::guard_formulas`].
    pub formula_guarded_values: u64,
}

/// Exports tables of the SQLite database at `db` into `out_dir` (created if missing), one file
/// per table, as described in the [module documentation](self). The database is opened
/// read-only and read in one transaction; rows are streamed, so a table of any size needs
/// little memory. Every target is checked before the first is written: if one exists, nothing
/// is written. Cancelling stops between rows; files already complete stay.
pub fn export_tables(
    db: &Path,
    out_dir: &Path,
    options: &TableExportOptions,
    cancel: &CancelToken,
) -> Result<TableExportReport> {
    if let TableFormat::Csv(csv_options) = &options.format {
        csv::check_delimiter(csv_options.delimiter)?;
    }
    let conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(database_error(db))?;
    let tables = choose_tables(&conn, db, &options.tables)?;
    let targets: Vec<PathBuf> = tables
        .iter()
        .map(|table| out_dir.join(file_name::file_name(&table.name, options.format.extension())))
        .collect();
    output::create_dir(out_dir)?;
    for target in &targets {
        output::refuse_existing(target)?;
    }
    let mut report = TableExportReport::default();
    for (table, target) in tables.iter().zip(targets) {
        cancel.check()?;
        let exported = match &options.format {
            TableFormat::Csv(csv_options) => {
                export_table(&conn, db, table, target, csv::CsvEncoder::new(csv_options), cancel)?
            }
            TableFormat::Json => {
                export_table(&conn, db, table, target, json::JsonEncoder::default(), cancel)?
            }
        };
        report.tables.push(exported);
    }
    Ok(report)
}

/// Begins the one read transaction of the export and describes the tables chosen.
fn choose_tables(conn: &Connection, db: &Path, requested: &[String]) -> Result<Vec<Table>> {
    let sqlite = database_error(db);
    conn.execute_batch("BEGIN").map_err(&sqlite)?;
    let chosen = catalog::choose(catalog::list(conn).map_err(&sqlite)?, requested)?;
    chosen.iter().map(|entry| catalog::describe(conn, entry).map_err(&sqlite)).collect()
}

/// Writes one table through `encoder` into a new file at `target`.
fn export_table<E: RowEncoder>(
    conn: &Connection,
    db: &Path,
    table: &Table,
    target: PathBuf,
    mut encoder: E,
    cancel: &CancelToken,
) -> Result<ExportedTable> {
    let mut out = OutputFile::create(target)?;
    encoder.begin(out.writer(), table).map_err(|e| out.failed(e))?;
    let rows = write_rows(conn, db, table, &mut encoder, &mut out, cancel)?;
    encoder.end(out.writer()).map_err(|e| out.failed(e))?;
    let path = out.commit()?;
    let counts = encoder.counts();
    Ok(ExportedTable {
        name: table.name.clone(),
        path,
        rows,
        invalid_utf8_values: counts.invalid_utf8,
        formula_guarded_values: counts.formula_guarded,
    })
}

/// Streams the table's rows into `out`, one row in memory at a time; returns how many.
fn write_rows<E: RowEncoder>(
    conn: &Connection,
    db: &Path,
    table: &Table,
    encoder: &mut E,
    out: &mut OutputFile,
    cancel: &CancelToken,
) -> Result<u64> {
    let sqlite = database_error(db);
    let mut statement = conn.prepare(&table.query).map_err(&sqlite)?;
    let mut rows = statement.query([]).map_err(&sqlite)?;
    let mut count = 0u64;
    while let Some(row) = rows.next().map_err(&sqlite)? {
        cancel.check()?;
        let values = (0..table.columns.len())
            .map(|i| row.get_ref(i))
            .collect::<rusqlite::Result<Vec<ValueRef<'_>>>>()
            .map_err(&sqlite)?;
        encoder.row(out.writer(), &values).map_err(|e| out.failed(e))?;
        count += 1;
    }
    Ok(count)
}

fn database_error(db: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::DatabaseUnreadable { path: db.to_path_buf(), source: Box::new(source) }
}

/// Turns a table into one file format, row by row, so no table has to fit in memory.
trait RowEncoder {
    /// Writes what comes before the first row.
    fn begin(&mut self, out: &mut impl Write, table: &Table) -> io::Result<()>;
    /// Writes one row; `values` are in the order of the table's columns.
    fn row(&mut self, out: &mut impl Write, values: &[ValueRef<'_>]) -> io::Result<()>;
    /// Writes what comes after the last row.
    fn end(&mut self, out: &mut impl Write) -> io::Result<()>;
    /// What the encoder had to alter or tag so far.
    fn counts(&self) -> ValueCounts;
}

/// Values an encoder could not write as they were, by reason.
#[derive(Clone, Copy, Debug, Default)]
struct ValueCounts {
    invalid_utf8: u64,
    formula_guarded: u64,
}

/// A REAL as text: the shortest form that reads back as the same `f64`, with a `.` or an
/// exponent so that it stays a real (`1.0`, not `1`); `Infinity`, `-Infinity` and `NaN` for
/// the values JSON has no number for.
fn real_text(value: f64) -> String {
    match serde_json::Number::from_f64(value) {
        Some(number) => number.to_string(),
        None if value.is_nan() => "NaN".to_owned(),
        None if value > 0.0 => "Infinity".to_owned(),
        None => "-Infinity".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::real_text;

    /// Reals must read back bit for bit and never look like integers.
    #[test]
    fn reals_are_shortest_round_trip_text_that_stays_real() {
        for (value, text) in [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e308, "1e+308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(real_text(value), text);
        }
        for value in [1.0, -0.0, 0.1, 1e308, 5e-324, f64::MAX, f64::MIN_POSITIVE, 123_456.789e-20] {
            assert_eq!(real_text(value).parse::<f64>().unwrap().to_bits(), value.to_bits());
        }
    }
}
