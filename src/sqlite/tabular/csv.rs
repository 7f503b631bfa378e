//! RFC 4180 CSV as spreadsheet programs read it (the rules are on [`CsvOptions`]).

use std::borrow::Cow;
use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rusqlite::types::ValueRef;

use super::catalog::Table;
use super::{CsvOptions, RowEncoder, ValueCounts, real_text};
use crate::error::{Error, Result};

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Checks that `delimiter` can separate fields unambiguously and keeps the file UTF-8: ASCII,
/// not `"`, CR or LF (the quoting rules need them), and not a letter, digit or control byte
/// other than tab (which would make every number or word a quoted field).
pub(super) fn check_delimiter(delimiter: u8) -> Result<()> {
    let usable =
        delimiter == b'\t' || ((delimiter.is_ascii_punctuation() || delimiter == b' ') && delimiter != b'"');
    if usable {
        return Ok(());
    }
    Err(Error::invalid(
        "CSV delimiter",
        format!(
            "{:?} cannot separate fields; use `,`, `;`, tab or other ASCII punctuation",
            char::from(delimiter)
        ),
    ))
}

/// Writes rows as CSV records.
pub(super) struct CsvEncoder {
    options: CsvOptions,
    counts: ValueCounts,
}

impl CsvEncoder {
    pub(super) fn new(options: &CsvOptions) -> CsvEncoder {
        CsvEncoder { options: options.clone(), counts: ValueCounts::default() }
    }

    fn write_value(&mut self, out: &mut impl Write, value: ValueRef<'_>) -> io::Result<()> {
        let delimiter = self.options.delimiter;
        match value {
            ValueRef::Null => Ok(()),
            ValueRef::Integer(integer) => write_field(out, &integer.to_string(), delimiter, false),
            ValueRef::Real(real) => write_field(out, &real_text(real), delimiter, false),
            ValueRef::Text([]) => out.write_all(b"\"\""),
            ValueRef::Text(bytes) => {
                let text = self.text(bytes);
                write_field(out, &text, delimiter, false)
            }
            ValueRef::Blob(bytes) => write_field(out, &BASE64.encode(bytes), delimiter, false),
        }
    }

    /// A text value as written: invalid UTF-8 replaced, formulas guarded, both counted.
    fn text<'a>(&mut self, bytes: &'a [u8]) -> Cow<'a, str> {
        let text = String::from_utf8_lossy(bytes);
        if matches!(text, Cow::Owned(_)) {
            self.counts.invalid_utf8 += 1;
        }
        if self.options.guard_formulas && is_formula(&text) {
            self.counts.formula_guarded += 1;
            return Cow::Owned(format!("'{text}"));
        }
        text
    }
}

impl RowEncoder for CsvEncoder {
    fn begin(&mut self, out: &mut impl Write, table: &Table) -> io::Result<()> {
        if self.options.bom {
            out.write_all(BOM)?;
        }
        for (i, column) in table.columns.iter().enumerate() {
            if i > 0 {
                out.write_all(&[self.options.delimiter])?;
            }
            // Excel takes a file starting with `ID` for SYLK and refuses it; a quote avoids that.
            let looks_like_sylk = i == 0 && column.name.starts_with("ID");
            write_field(out, &column.name, self.options.delimiter, looks_like_sylk)?;
        }
        out.write_all(b"\r\n")
    }

    fn row(&mut self, out: &mut impl Write, values: &[ValueRef<'_>]) -> io::Result<()> {
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.write_all(&[self.options.delimiter])?;
            }
            self.write_value(out, *value)?;
        }
        out.write_all(b"\r\n")
    }

    fn end(&mut self, _out: &mut impl Write) -> io::Result<()> {
        Ok(())
    }

    fn counts(&self) -> ValueCounts {
        self.counts
    }
}

/// Whether spreadsheet programs would evaluate a cell starting like `text` (OWASP's list).
fn is_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Whether `field` must be quoted: it holds the delimiter, a quote or a line break, or starts
/// or ends with a space or tab, which some readers would trim.
fn needs_quotes(field: &str, delimiter: u8) -> bool {
    field.bytes().any(|b| b == delimiter || matches!(b, b'"' | b'\r' | b'\n'))
        || field.starts_with([' ', '\t'])
        || field.ends_with([' ', '\t'])
}

/// Writes one field, quoted when it needs to be or `force_quotes` asks, with quotes doubled.
fn write_field(out: &mut impl Write, field: &str, delimiter: u8, force_quotes: bool) -> io::Result<()> {
    if !force_quotes && !needs_quotes(field, delimiter) {
        return out.write_all(field.as_bytes());
    }
    out.write_all(b"\"")?;
    for (i, part) in field.split('"').enumerate() {
        if i > 0 {
            out.write_all(b"\"\"")?;
        }
        out.write_all(part.as_bytes())?;
    }
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: &str, delimiter: u8) -> String {
        let mut out = Vec::new();
        write_field(&mut out, text, delimiter, false).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn row(options: &CsvOptions, values: &[ValueRef<'_>]) -> (String, ValueCounts) {
        let mut encoder = CsvEncoder::new(options);
        let mut out = Vec::new();
        encoder.row(&mut out, values).unwrap();
        (String::from_utf8(out).unwrap(), encoder.counts())
    }

    /// A field that is not quoted must not be able to end the field or the record early.
    #[test]
    fn fields_with_delimiter_quote_or_line_break_are_quoted() {
        assert_eq!(field("plain", b','), "plain");
        assert_eq!(field("a,b", b','), "\"a,b\"");
        assert_eq!(field("a,b", b';'), "a,b");
        assert_eq!(field("a;b", b';'), "\"a;b\"");
        assert_eq!(field("a\tb", b'\t'), "\"a\tb\"");
        assert_eq!(field("say \"hi\"", b','), "\"say \"\"hi\"\"\"");
        assert_eq!(field("\"", b','), "\"\"\"\"");
        assert_eq!(field("line\nbreak", b','), "\"line\nbreak\"");
        assert_eq!(field("cr\rlf\r\n", b','), "\"cr\rlf\r\n\"");
        assert_eq!(field("日本語 😀 שלום", b','), "日本語 😀 שלום");
    }

    /// Readers that trim unquoted fields would lose these spaces.
    #[test]
    fn leading_or_trailing_whitespace_is_quoted() {
        assert_eq!(field(" x", b','), "\" x\"");
        assert_eq!(field("x ", b','), "\"x \"");
        assert_eq!(field("\tx", b','), "\"\tx\"");
        assert_eq!(field("a b", b','), "a b");
    }

    /// NULL and empty text must stay distinguishable, and numbers untouched.
    #[test]
    fn null_is_empty_and_empty_text_is_quoted() {
        let options = CsvOptions::default();
        let values = [ValueRef::Null, ValueRef::Text(b""), ValueRef::Integer(-1), ValueRef::Real(-0.5)];
        assert_eq!(row(&options, &values).0, ",\"\",-1,-0.5\r\n");
    }

    /// Formulas in text must not run in a spreadsheet; numbers that look alike stay numbers.
    #[test]
    fn formula_guard_prefixes_text_only() {
        let options = CsvOptions::default();
        let values = [
            ValueRef::Text(b"=1+2"),
            ValueRef::Text(b"-5"),
            ValueRef::Text(b"@x"),
            ValueRef::Text(b"a=b"),
            ValueRef::Integer(-5),
            ValueRef::Real(-1.5),
        ];
        let (text, counts) = row(&options, &values);
        assert_eq!(text, "'=1+2,'-5,'@x,a=b,-5,-1.5\r\n");
        assert_eq!(counts.formula_guarded, 3);
        let unguarded = CsvOptions { guard_formulas: false, ..CsvOptions::default() };
        assert_eq!(row(&unguarded, &values[..3]).0, "=1+2,-5,@x\r\n");
    }

    /// CSV must stay UTF-8; the loss is counted so the caller can say so.
    #[test]
    fn invalid_utf8_is_replaced_and_counted() {
        let (text, counts) =
            row(&CsvOptions::default(), &[ValueRef::Text(b"a\xFFb"), ValueRef::Blob(b"\0\xFF")]);
        assert_eq!(text, "a\u{FFFD}b,AP8=\r\n");
        assert_eq!(counts.invalid_utf8, 1);
    }

    /// A quote or line break as delimiter would make fields ambiguous.
    #[test]
    fn delimiters_that_break_quoting_are_refused() {
        for good in [b',', b';', b'\t', b'|', b' '] {
            assert!(check_delimiter(good).is_ok(), "{good}");
        }
        for bad in [b'"', b'\r', b'\n', b'a', b'0', 0, 0xC3] {
            assert!(check_delimiter(bad).is_err(), "{bad}");
        }
    }
}
