//! SQLite database dumps (SPEC §16): the canonical logical form in which cairn stores a
//! database, so that a day of changed rows costs about those rows and not the database's
//! rewritten pages.
//!
//! A dump is a byte stream: a fixed header with the settings a database is created with, then
//! records, each a `u32` length and that many bytes. The stream is chunked like file content
//! (with [`DUMP_CHUNKER`]), so it is read back as concatenated chunks; a reader takes one
//! record at a time ([`record_len`], then [`Record::decode`]) and never needs more than one
//! record in memory.
//!
//! Canonical: one database content gives one byte stream. Tables are dumped in bytewise order
//! of name and rows in rowid (or primary-key) order, so rows appended by an app land at the end
//! of their table's stretch and leave every earlier chunk as it was.

use crate::FormatError;
use crate::config::ChunkerParams;
use crate::wire::{Reader, check_range};

/// The first 8 bytes of every dump.
pub const DUMP_MAGIC: [u8; 8] = *b"cairnSQL";
/// The dump version this crate writes and reads.
pub const DUMP_VERSION: u8 = 1;
/// Length of the dump header.
pub const DUMP_HEADER_LEN: usize = 24;
/// Bytes of a record's length prefix.
pub const RECORD_PREFIX_LEN: usize = 4;
/// Largest record: SQLite's largest row (`SQLITE_MAX_LENGTH`, 10^9 bytes) with room for the
/// per-value encoding overhead.
pub const MAX_RECORD_LEN: u32 = 1 << 30;
/// Most columns a dumped table may have (SQLite's hard upper bound).
pub const MAX_COLUMNS: u16 = 32767;
/// Most tables a database node may list (SPEC §9.1).
pub const MAX_DB_TABLES: u32 = 1 << 16;
/// Longest name (of a table, index, view, trigger or column) in a dump or a node.
pub const MAX_SQL_NAME_LEN: u16 = 4096;
/// Chunking of dump streams (SPEC §16.4): small chunks, because rows change in small places.
pub const DUMP_CHUNKER: ChunkerParams =
    ChunkerParams { min_len: 4 << 10, avg_len: 16 << 10, max_len: 64 << 10 };

/// A database's text encoding (`PRAGMA encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum TextEncoding {
    /// UTF-8.
    Utf8,
    /// UTF-16 little-endian.
    Utf16le,
    /// UTF-16 big-endian.
    Utf16be,
}

impl TextEncoding {
    /// The name `PRAGMA encoding` uses.
    #[must_use]
    pub fn pragma_name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf16le => "UTF-16le",
            TextEncoding::Utf16be => "UTF-16be",
        }
    }

    /// The encoding `PRAGMA encoding` names, if it is one.
    #[must_use]
    pub fn from_pragma_name(name: &str) -> Option<TextEncoding> {
        [TextEncoding::Utf8, TextEncoding::Utf16le, TextEncoding::Utf16be]
            .into_iter()
            .find(|e| e.pragma_name().eq_ignore_ascii_case(name))
    }

    fn code(self) -> u8 {
        match self {
            TextEncoding::Utf8 => 1,
            TextEncoding::Utf16le => 2,
            TextEncoding::Utf16be => 3,
        }
    }
}

/// The settings a database is created with, and its header fields that are not rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpHeader {
    /// `PRAGMA page_size`: a power of two from 512 to 65536.
    pub page_size: u32,
    /// `PRAGMA encoding`.
    pub encoding: TextEncoding,
    /// `PRAGMA user_version`: the app's schema version.
    pub user_version: i32,
    /// `PRAGMA application_id`.
    pub application_id: i32,
    /// `PRAGMA auto_vacuum`: 0 none, 1 full, 2 incremental.
    pub auto_vacuum: u8,
    /// Whether the database is in WAL mode (a setting stored in the database file).
    pub wal: bool,
}

impl DumpHeader {
    /// The header's bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; DUMP_HEADER_LEN] {
        let mut out = [0u8; DUMP_HEADER_LEN];
        out[..8].copy_from_slice(&DUMP_MAGIC);
        out[8] = DUMP_VERSION;
        out[9..13].copy_from_slice(&self.page_size.to_le_bytes());
        out[13] = self.encoding.code();
        out[14..18].copy_from_slice(&self.user_version.to_le_bytes());
        out[18..22].copy_from_slice(&self.application_id.to_le_bytes());
        out[22] = self.auto_vacuum;
        out[23] = u8::from(self.wal);
        out
    }

    /// Decodes a dump's first [`DUMP_HEADER_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<DumpHeader, FormatError> {
        let mut r = Reader::new(bytes);
        if r.array::<8>("dump.magic")? != DUMP_MAGIC {
            return Err(FormatError::BadMagic { expected: "SQLite dump" });
        }
        let version = r.u8("dump.version")?;
        if version != DUMP_VERSION {
            return Err(FormatError::UnsupportedVersion {
                object: "SQLite dump",
                found: version,
                supported: DUMP_VERSION,
            });
        }
        let page_size = r.u32("dump.page_size")?;
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(invalid("dump.page_size", "not a power of two from 512 to 65536"));
        }
        let encoding = match r.u8("dump.encoding")? {
            1 => TextEncoding::Utf8,
            2 => TextEncoding::Utf16le,
            3 => TextEncoding::Utf16be,
            other => {
                return Err(FormatError::Unsupported { field: "dump.encoding", found: u64::from(other) });
            }
        };
        let user_version = i32::from_le_bytes(r.array("dump.user_version")?);
        let application_id = i32::from_le_bytes(r.array("dump.application_id")?);
        let auto_vacuum = r.u8("dump.auto_vacuum")?;
        check_range("dump.auto_vacuum", u64::from(auto_vacuum), 0, 2)?;
        let wal = match r.u8("dump.wal")? {
            0 => false,
            1 => true,
            _ => return Err(invalid("dump.wal", "neither 0 nor 1")),
        };
        r.finish("dump header")?;
        Ok(DumpHeader { page_size, encoding, user_version, application_id, auto_vacuum, wal })
    }
}

/// The length a record's 4-byte prefix announces, checked against [`MAX_RECORD_LEN`] and the
/// bytes the dump still holds (`remaining`, after the prefix), before anything is allocated.
pub fn record_len(prefix: [u8; RECORD_PREFIX_LEN], remaining: u64) -> Result<usize, FormatError> {
    let len = u32::from_le_bytes(prefix);
    check_range("dump.record.len", u64::from(len), 1, u64::from(MAX_RECORD_LEN))?;
    if u64::from(len) > remaining {
        return Err(FormatError::Truncated {
            field: "dump.record",
            needed: u64::from(len),
            available: remaining,
        });
    }
    usize::try_from(len).map_err(|_| invalid("dump.record.len", "does not fit in memory on this platform"))
}

/// What kind of schema object a [`SchemaEntry`] creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SchemaKind {
    /// `CREATE TABLE`.
    Table,
    /// `CREATE INDEX`.
    Index,
    /// `CREATE VIEW`.
    View,
    /// `CREATE TRIGGER`.
    Trigger,
}

impl SchemaKind {
    /// The `type` column of `sqlite_schema` for this kind.
    #[must_use]
    pub fn schema_type(self) -> &'static str {
        match self {
            SchemaKind::Table => "table",
            SchemaKind::Index => "index",
            SchemaKind::View => "view",
            SchemaKind::Trigger => "trigger",
        }
    }

    fn code(self) -> u8 {
        match self {
            SchemaKind::Table => 1,
            SchemaKind::Index => 2,
            SchemaKind::View => 3,
            SchemaKind::Trigger => 4,
        }
    }
}

/// One value of a row, as SQLite stores it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// NULL.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// An IEEE 754 double (never NaN: SQLite stores NaN as NULL).
    Real(f64),
    /// Text in the database's encoding, converted to UTF-8; SQLite does not check it, so the
    /// bytes need not be valid UTF-8.
    Text(&'a [u8]),
    /// A blob.
    Blob(&'a [u8]),
}

/// One record of a dump.
#[derive(Clone, Debug, PartialEq)]
pub enum Record<'a> {
    /// A schema object, with the SQL that creates it (`sqlite_schema.sql`).
    Schema {
        /// Table, index, view or trigger.
        kind: SchemaKind,
        /// The object's name.
        name: &'a str,
        /// The table it belongs to (its own name for tables and views).
        table: &'a str,
        /// The `CREATE` statement.
        sql: &'a str,
    },
    /// The start of a table's rows.
    Table {
        /// The table's name.
        name: &'a str,
        /// Whether the table is `WITHOUT ROWID`; otherwise every row starts with its rowid.
        without_rowid: bool,
        /// The columns each row holds values for, in order (generated columns are left out:
        /// SQLite computes them).
        columns: Vec<&'a str>,
    },
    /// One row: the rowid (for rowid tables) as an integer, then one value per column.
    Row(Vec<Value<'a>>),
    /// The end of a table's rows, with their count.
    TableEnd {
        /// Rows in the table.
        rows: u64,
    },
    /// The end of the dump.
    End {
        /// Tables in the dump.
        tables: u32,
        /// Rows in all tables.
        rows: u64,
    },
}

const TAG_SCHEMA: u8 = 1;
const TAG_TABLE: u8 = 2;
const TAG_ROW: u8 = 3;
const TAG_TABLE_END: u8 = 4;
const TAG_END: u8 = 5;

const VALUE_NULL: u8 = 0;
const VALUE_INTEGER: u8 = 1;
const VALUE_REAL: u8 = 2;
const VALUE_TEXT: u8 = 3;
const VALUE_BLOB: u8 = 4;

impl<'a> Record<'a> {
    /// Appends the record, with its length prefix, to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let start = out.len();
        out.extend_from_slice(&[0; RECORD_PREFIX_LEN]);
        match self {
            Record::Schema { kind, name, table, sql } => {
                out.push(TAG_SCHEMA);
                out.push(kind.code());
                put_name(out, "dump.schema.name", name)?;
                put_name(out, "dump.schema.table", table)?;
                put_len_bytes(out, sql.as_bytes());
            }
            Record::Table { name, without_rowid, columns } => {
                out.push(TAG_TABLE);
                put_name(out, "dump.table.name", name)?;
                out.push(u8::from(*without_rowid));
                let count = u16::try_from(columns.len())
                    .ok()
                    .filter(|&c| c <= MAX_COLUMNS)
                    .ok_or_else(|| invalid("dump.table.column_count", "more columns than SQLite allows"))?;
                out.extend_from_slice(&count.to_le_bytes());
                for column in columns {
                    put_name(out, "dump.table.column", column)?;
                }
            }
            Record::Row(values) => {
                out.push(TAG_ROW);
                for value in values {
                    put_value(out, value);
                }
            }
            Record::TableEnd { rows } => {
                out.push(TAG_TABLE_END);
                out.extend_from_slice(&rows.to_le_bytes());
            }
            Record::End { tables, rows } => {
                out.push(TAG_END);
                out.extend_from_slice(&tables.to_le_bytes());
                out.extend_from_slice(&rows.to_le_bytes());
            }
        }
        let len = out.len() - start - RECORD_PREFIX_LEN;
        let len = u32::try_from(len)
            .ok()
            .filter(|&l| l <= MAX_RECORD_LEN)
            .ok_or_else(|| invalid("dump.record.len", "a row is larger than SQLite allows"))?;
        if let Some(prefix) = out.get_mut(start..start + RECORD_PREFIX_LEN) {
            prefix.copy_from_slice(&len.to_le_bytes());
        }
        Ok(())
    }

    /// Decodes one record's bytes (without its length prefix).
    pub fn decode(bytes: &'a [u8]) -> Result<Record<'a>, FormatError> {
        let mut r = Reader::new(bytes);
        let record = match r.u8("dump.record.tag")? {
            TAG_SCHEMA => {
                let kind = match r.u8("dump.schema.kind")? {
                    1 => SchemaKind::Table,
                    2 => SchemaKind::Index,
                    3 => SchemaKind::View,
                    4 => SchemaKind::Trigger,
                    other => {
                        return Err(FormatError::Unsupported {
                            field: "dump.schema.kind",
                            found: u64::from(other),
                        });
                    }
                };
                let name = take_name(&mut r, "dump.schema.name")?;
                let table = take_name(&mut r, "dump.schema.table")?;
                let sql = take_str(&mut r, "dump.schema.sql")?;
                Record::Schema { kind, name, table, sql }
            }
            TAG_TABLE => {
                let name = take_name(&mut r, "dump.table.name")?;
                let without_rowid = match r.u8("dump.table.without_rowid")? {
                    0 => false,
                    1 => true,
                    _ => return Err(invalid("dump.table.without_rowid", "neither 0 nor 1")),
                };
                let count = r.count_u16("dump.table.column_count", MAX_COLUMNS, 3)?;
                if count == 0 {
                    return Err(invalid("dump.table.column_count", "a table has at least one column"));
                }
                let mut columns = Vec::with_capacity(count);
                for _ in 0..count {
                    columns.push(take_name(&mut r, "dump.table.column")?);
                }
                Record::Table { name, without_rowid, columns }
            }
            TAG_ROW => {
                // Each value takes at least one byte, which bounds the allocation.
                let mut values = Vec::with_capacity(r.remaining().min(usize::from(MAX_COLUMNS) + 1));
                while r.remaining() > 0 {
                    values.push(take_value(&mut r)?);
                }
                Record::Row(values)
            }
            TAG_TABLE_END => Record::TableEnd { rows: r.u64("dump.table_end.rows")? },
            TAG_END => Record::End { tables: r.u32("dump.end.tables")?, rows: r.u64("dump.end.rows")? },
            other => {
                return Err(FormatError::Unsupported { field: "dump.record.tag", found: u64::from(other) });
            }
        };
        r.finish("dump record")?;
        Ok(record)
    }
}

fn put_name(out: &mut Vec<u8>, field: &'static str, name: &str) -> Result<(), FormatError> {
    let len = u16::try_from(name.len())
        .ok()
        .filter(|&l| l <= MAX_SQL_NAME_LEN)
        .ok_or_else(|| invalid(field, "longer than 4096 bytes"))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

fn put_len_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Records are at most 2^30 bytes, checked once the record is complete.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_value(out: &mut Vec<u8>, value: &Value<'_>) {
    match value {
        Value::Null => out.push(VALUE_NULL),
        Value::Integer(v) => {
            out.push(VALUE_INTEGER);
            put_varint(out, zigzag(*v));
        }
        Value::Real(v) => {
            out.push(VALUE_REAL);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        Value::Text(bytes) => {
            out.push(VALUE_TEXT);
            put_varint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        Value::Blob(bytes) => {
            out.push(VALUE_BLOB);
            put_varint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
    }
}

fn take_name<'a>(r: &mut Reader<'a>, field: &'static str) -> Result<&'a str, FormatError> {
    let bytes = r.bytes16(field, MAX_SQL_NAME_LEN)?;
    if bytes.is_empty() {
        return Err(invalid(field, "empty"));
    }
    std::str::from_utf8(bytes).map_err(|_| invalid(field, "not UTF-8"))
}

fn take_str<'a>(r: &mut Reader<'a>, field: &'static str) -> Result<&'a str, FormatError> {
    let len = r.u32(field)?;
    let bytes = r.take(usize::try_from(len).unwrap_or(usize::MAX), field)?;
    std::str::from_utf8(bytes).map_err(|_| invalid(field, "not UTF-8"))
}

fn take_value<'a>(r: &mut Reader<'a>) -> Result<Value<'a>, FormatError> {
    Ok(match r.u8("dump.row.value.type")? {
        VALUE_NULL => Value::Null,
        VALUE_INTEGER => Value::Integer(unzigzag(take_varint(r, "dump.row.value.integer")?)),
        VALUE_REAL => {
            let v = f64::from_bits(r.u64("dump.row.value.real")?);
            if v.is_nan() {
                return Err(invalid("dump.row.value.real", "NaN (SQLite stores NaN as NULL)"));
            }
            Value::Real(v)
        }
        VALUE_TEXT => Value::Text(take_varint_bytes(r, "dump.row.value.text")?),
        VALUE_BLOB => Value::Blob(take_varint_bytes(r, "dump.row.value.blob")?),
        other => {
            return Err(FormatError::Unsupported { field: "dump.row.value.type", found: u64::from(other) });
        }
    })
}

fn take_varint_bytes<'a>(r: &mut Reader<'a>, field: &'static str) -> Result<&'a [u8], FormatError> {
    let len = take_varint(r, field)?;
    r.take(usize::try_from(len).unwrap_or(usize::MAX), field)
}

/// LEB128: 7 bits a byte, least significant first, high bit set on all but the last byte.
#[allow(clippy::cast_possible_truncation)] // each byte is masked to 7 bits (or is below 0x80)
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint; the encoding must be the shortest one (so the stream stays
/// canonical) and fit in 64 bits.
fn take_varint(r: &mut Reader<'_>, field: &'static str) -> Result<u64, FormatError> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = r.u8(field)?;
        let bits = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return Err(invalid(field, "varint overflows 64 bits"));
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(invalid(field, "varint is not in its shortest form"));
            }
            return Ok(value);
        }
    }
    Err(invalid(field, "varint overflows 64 bits"))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1).cast_signed() ^ -(v & 1).cast_signed()
}

fn invalid(field: &'static str, reason: &'static str) -> FormatError {
    FormatError::InvalidValue { field, reason }
}

/// What a database node records about its database (SPEC §9.1), readable without the dump.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DatabaseInfo {
    /// `PRAGMA user_version`: the app's schema version.
    pub user_version: i32,
    /// `PRAGMA application_id`.
    pub application_id: i32,
    /// `PRAGMA page_size`.
    pub page_size: u32,
    /// Each table's row count, in the dump's order.
    pub tables: Vec<TableRows>,
}

/// A table's name and row count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TableRows {
    /// The table's name.
    pub name: String,
    /// Its rows.
    pub rows: u64,
}

impl DatabaseInfo {
    /// Appends the info's encoding (SPEC §9.1) to a tree node being written.
    pub(crate) fn encode(&self, w: &mut crate::wire::Writer) -> Result<(), FormatError> {
        w.u32(self.user_version.cast_unsigned());
        w.u32(self.application_id.cast_unsigned());
        w.u32(self.page_size);
        w.count_u32("tree.node.db.table_count", self.tables.len(), MAX_DB_TABLES)?;
        for table in &self.tables {
            w.bytes16("tree.node.db.table.name", table.name.as_bytes(), MAX_SQL_NAME_LEN)?;
            w.u64(table.rows);
        }
        Ok(())
    }

    /// Reads the info of a database node.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<DatabaseInfo, FormatError> {
        let user_version = r.u32("tree.node.db.user_version")?.cast_signed();
        let application_id = r.u32("tree.node.db.application_id")?.cast_signed();
        let page_size = r.u32("tree.node.db.page_size")?;
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(invalid("tree.node.db.page_size", "not a power of two from 512 to 65536"));
        }
        let count = r.count_u32("tree.node.db.table_count", MAX_DB_TABLES, 11)?;
        let mut tables = Vec::with_capacity(count);
        for _ in 0..count {
            let name = r.string16("tree.node.db.table.name", MAX_SQL_NAME_LEN)?;
            let rows = r.u64("tree.node.db.table.rows")?;
            tables.push(TableRows { name, rows });
        }
        Ok(DatabaseInfo { user_version, application_id, page_size, tables })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: &Record<'_>) {
        let mut out = Vec::new();
        record.encode_into(&mut out).unwrap();
        let prefix: [u8; 4] = out[..4].try_into().unwrap();
        let len = record_len(prefix, (out.len() - 4) as u64).unwrap();
        assert_eq!(len, out.len() - 4);
        assert_eq!(&Record::decode(&out[4..]).unwrap(), record);
    }

    #[test]
    fn records_round_trip() {
        round_trip(&Record::Schema {
            kind: SchemaKind::Index,
            name: "i",
            table: "t",
            sql: "CREATE INDEX i ON t(a)",
        });
        round_trip(&Record::Table { name: "t x", without_rowid: true, columns: vec!["a", "b"] });
        round_trip(&Record::Row(vec![
            Value::Integer(i64::MIN),
            Value::Integer(i64::MAX),
            Value::Integer(-1),
            Value::Null,
            Value::Real(-0.0),
            Value::Real(f64::INFINITY),
            Value::Text(b"a\xff\n"),
            Value::Blob(&[0, 1, 2]),
            Value::Blob(&[]),
        ]));
        round_trip(&Record::TableEnd { rows: 7 });
        round_trip(&Record::End { tables: 2, rows: 9 });
    }

    #[test]
    fn header_round_trips_and_rejects_unknown_versions() {
        let header = DumpHeader {
            page_size: 4096,
            encoding: TextEncoding::Utf16be,
            user_version: -3,
            application_id: 0x1234_5678,
            auto_vacuum: 2,
            wal: true,
        };
        let bytes = header.encode();
        assert_eq!(DumpHeader::decode(&bytes).unwrap(), header);
        let mut newer = bytes;
        newer[8] = 2;
        assert!(matches!(DumpHeader::decode(&newer), Err(FormatError::UnsupportedVersion { .. })));
        let mut odd_page = bytes;
        odd_page[9] = 1;
        assert!(DumpHeader::decode(&odd_page).is_err());
    }

    #[test]
    fn varints_must_be_shortest_and_fit() {
        let overlong = [TAG_ROW, VALUE_INTEGER, 0x80, 0x00];
        assert!(Record::decode(&overlong).is_err());
        let too_long = [TAG_ROW, VALUE_INTEGER, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Record::decode(&too_long).is_err());
        let max = [TAG_ROW, VALUE_INTEGER, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Record::decode(&max).unwrap(), Record::Row(vec![Value::Integer(i64::MIN)]));
    }

    #[test]
    fn lengths_are_checked_before_use() {
        assert!(record_len(0u32.to_le_bytes(), 10).is_err());
        assert!(record_len(11u32.to_le_bytes(), 10).is_err());
        assert!(record_len((MAX_RECORD_LEN + 1).to_le_bytes(), u64::MAX).is_err());
        let text_past_end = [TAG_ROW, VALUE_TEXT, 0x05, b'a'];
        assert!(Record::decode(&text_past_end).is_err());
        let nan = {
            let mut v = vec![TAG_ROW, VALUE_REAL];
            v.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
            v
        };
        assert!(Record::decode(&nan).is_err());
    }
}
