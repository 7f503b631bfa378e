//! JSON that keeps every SQLite value and type (the shape is on [`TableFormat::Json`]).
//!
//! [`TableFormat::Json`]: super::TableFormat::Json

use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rusqlite::types::ValueRef;

use super::catalog::Table;
use super::{RowEncoder, ValueCounts, real_text};

/// Writes a table as one JSON object, streaming its rows.
#[derive(Default)]
pub(super) struct JsonEncoder {
    rows: u64,
    counts: ValueCounts,
}

impl JsonEncoder {
    fn write_value(&mut self, out: &mut impl Write, value: ValueRef<'_>) -> io::Result<()> {
        match value {
            ValueRef::Null => out.write_all(b"null"),
            ValueRef::Integer(integer) => write!(out, "{integer}"),
            ValueRef::Real(real) if real.is_finite() => out.write_all(real_text(real).as_bytes()),
            ValueRef::Real(real) => write_tagged(out, "real", &real_text(real)),
            ValueRef::Text(bytes) => {
                if let Ok(text) = std::str::from_utf8(bytes) {
                    return write_string(out, text);
                }
                self.counts.invalid_utf8 += 1;
                write_tagged(out, "text_base64", &BASE64.encode(bytes))
            }
            ValueRef::Blob(bytes) => write_tagged(out, "blob_base64", &BASE64.encode(bytes)),
        }
    }
}

impl RowEncoder for JsonEncoder {
    fn begin(&mut self, out: &mut impl Write, table: &Table) -> io::Result<()> {
        out.write_all(b"{\"table\":")?;
        write_string(out, &table.name)?;
        out.write_all(b",\"columns\":[")?;
        for (i, column) in table.columns.iter().enumerate() {
            out.write_all(if i == 0 { b"{\"name\":" } else { b",{\"name\":" })?;
            write_string(out, &column.name)?;
            out.write_all(b",\"type\":")?;
            write_string(out, &column.declared_type)?;
            out.write_all(b"}")?;
        }
        out.write_all(b"],\"rows\":[")
    }

    fn row(&mut self, out: &mut impl Write, values: &[ValueRef<'_>]) -> io::Result<()> {
        out.write_all(if self.rows == 0 { b"\n[" } else { b",\n[" })?;
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            self.write_value(out, *value)?;
        }
        self.rows += 1;
        out.write_all(b"]")
    }

    fn end(&mut self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(if self.rows == 0 { b"]}\n" } else { b"\n]}\n" })
    }

    fn counts(&self) -> ValueCounts {
        self.counts
    }
}

/// `{"<tag>":"<text>"}`: a value JSON has no plain form for.
fn write_tagged(out: &mut impl Write, tag: &str, text: &str) -> io::Result<()> {
    out.write_all(b"{")?;
    write_string(out, tag)?;
    out.write_all(b":")?;
    write_string(out, text)?;
    out.write_all(b"}")
}

/// `text` as a JSON string; `serde_json` does the escaping.
fn write_string(out: &mut impl Write, text: &str) -> io::Result<()> {
    serde_json::to_writer(out, text).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::tabular::catalog::Column;

    /// Every value must come back with its type: numbers as numbers, the rest unambiguous.
    #[test]
    fn values_keep_their_types_and_tag_what_json_lacks() {
        let table = Table {
            name: "t\"1".to_owned(),
            columns: vec![Column { name: "a".to_owned(), declared_type: "INTEGER".to_owned() }],
            query: String::new(),
        };
        let mut encoder = JsonEncoder::default();
        let mut out = Vec::new();
        encoder.begin(&mut out, &table).unwrap();
        encoder
            .row(
                &mut out,
                &[
                    ValueRef::Null,
                    ValueRef::Integer(i64::MIN),
                    ValueRef::Real(1.0),
                    ValueRef::Real(f64::NEG_INFINITY),
                    ValueRef::Text("a\"\n😀".as_bytes()),
                    ValueRef::Text(b"\xFF"),
                    ValueRef::Blob(b""),
                ],
            )
            .unwrap();
        encoder.end(&mut out).unwrap();
        let expected = concat!(
            r#"{"table":"t\"1","columns":[{"name":"a","type":"INTEGER"}],"rows":["#,
            "\n",
            r#"[null,-9223372036854775808,1.0,{"real":"-Infinity"},"a\"\n😀",{"text_base64":"/w=="},{"blob_base64":""}]"#,
            "\n]}\n"
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(encoder.counts().invalid_utf8, 1);
    }
}
