//! Table export (`cairn::sqlite::tabular`): a real SQLite file holding every kind of value,
//! exported as CSV and JSON and read back with strict readers, value by value.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn::sqlite::tabular::{CsvOptions, TableExportOptions, TableExportReport, TableFormat, export_tables};
use cairn::{CancelToken, ErrorKind};
use rusqlite::Connection;
use rusqlite::types::Value;
use tempfile::TempDir;

/// The name of a table no file system would take as a file name.
const WEIRD: &str = "../we\"ird/ Name 日本";

/// Every kind of value SQLite stores, in `id` order, in a column without affinity so each
/// keeps its storage class.
fn sample_values() -> Vec<Value> {
    let text = |s: &str| Value::Text(s.to_owned());
    vec![
        Value::Null,
        Value::Integer(i64::MIN),
        Value::Integer(i64::MAX),
        Value::Integer(0),
        Value::Integer(-1),
        Value::Real(-0.0),
        Value::Real(1e308),
        Value::Real(5e-324),
        Value::Real(0.1),
        Value::Real(1.0),
        Value::Real(f64::INFINITY),
        Value::Real(f64::NEG_INFINITY),
        text("a,b"),
        text("a;b"),
        text("say \"hi\""),
        text("cr\r"),
        text("lf\nlf"),
        text("crlf\r\n"),
        text("  leading"),
        text("trailing "),
        text("😀 日本語 שלום"),
        text(""),
        text("=1+2"),
        text("-5"),
        text("ID"),
        Value::Blob(Vec::new()),
        Value::Blob(vec![0, 1, 2, 0xFE, 0xFF]),
        Value::Blob(b"nul\0inside".to_vec()),
    ]
}

/// Text SQLite holds that is not UTF-8: Latin-1 "café".
const LATIN1: &[u8] = b"caf\xE9";

/// A database with: `samples` (every value, plus invalid UTF-8 text last), `tags` (WITHOUT
/// ROWID, inserted out of key order), [`WEIRD`], `counter` (AUTOINCREMENT, so
/// `sqlite_sequence` exists), a view and an FTS5 table with its shadow tables.
fn sample_db(dir: &Path) -> PathBuf {
    let path = dir.join("app.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE samples (id INTEGER PRIMARY KEY, v);
         CREATE TABLE tags (name TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
         INSERT INTO tags VALUES ('b', 2), ('c', 3), ('a', 1);
         CREATE TABLE \"../we\"\"ird/ Name 日本\" (\"col, one\" TEXT, \"x\"\"y\" REAL);
         INSERT INTO \"../we\"\"ird/ Name 日本\" VALUES ('v', 2.5);
         CREATE TABLE counter (id INTEGER PRIMARY KEY AUTOINCREMENT, n);
         INSERT INTO counter (n) VALUES (1);
         CREATE VIEW big_tags AS SELECT name FROM tags WHERE n > 1;
         CREATE VIRTUAL TABLE search USING fts5(body);
         INSERT INTO search VALUES ('hello world');",
    )
    .unwrap();
    for (id, value) in (1i64..).zip(sample_values()) {
        conn.execute("INSERT INTO samples VALUES (?1, ?2)", rusqlite::params![id, value]).unwrap();
    }
    conn.execute("INSERT INTO samples VALUES (1000, CAST(?1 AS TEXT))", [Value::Blob(LATIN1.to_vec())])
        .unwrap();
    path
}

fn csv(options: CsvOptions) -> TableExportOptions {
    TableExportOptions { format: TableFormat::Csv(options), tables: Vec::new() }
}

fn exact_csv() -> TableExportOptions {
    csv(CsvOptions { guard_formulas: false, ..CsvOptions::default() })
}

fn export(db: &Path, out: &Path, options: &TableExportOptions) -> TableExportReport {
    export_tables(db, out, options, &CancelToken::new()).unwrap()
}

fn file_of<'a>(report: &'a TableExportReport, table: &str) -> &'a Path {
    &report.tables.iter().find(|t| t.name == table).unwrap_or_else(|| panic!("{table} not exported")).path
}

/// A CSV field as read: its text, and whether it was quoted (which tells "" from NULL).
#[derive(Debug, PartialEq)]
struct Field {
    text: String,
    quoted: bool,
}

/// A strict RFC 4180 reader: records end in CRLF (the last one too), a quoted field's only
/// escape is `""`, and a quote inside an unquoted field, a bare CR or LF outside quotes or
/// anything between a closing quote and the next separator fails the test.
fn parse_csv(text: &str, delimiter: char) -> Vec<Vec<Field>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let mut field = Field { text: String::new(), quoted: false };
        if chars.peek() == Some(&'"') {
            chars.next();
            field.quoted = true;
            loop {
                match chars.next().expect("unterminated quoted field") {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.text.push('"');
                    }
                    '"' => break,
                    c => field.text.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == delimiter || c == '\r' {
                    break;
                }
                assert!(c != '"' && c != '\n', "bare {c:?} in unquoted field {:?}", field.text);
                field.text.push(c);
                chars.next();
            }
        }
        record.push(field);
        match chars.next() {
            Some(c) if c == delimiter => {}
            Some('\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF ends a record");
                records.push(std::mem::take(&mut record));
            }
            other => panic!("{other:?} after a field"),
        }
    }
    assert!(record.is_empty(), "the last record must end in CRLF");
    records
}

fn read_csv(path: &Path, delimiter: char) -> Vec<Vec<Field>> {
    let bytes = fs::read(path).unwrap();
    assert!(!bytes.starts_with(b"\xEF\xBB\xBF"), "no BOM unless asked for");
    parse_csv(&String::from_utf8(bytes).expect("CSV is UTF-8"), delimiter)
}

/// The CSV text of a value (`None` for NULL, an unquoted empty field); finite reals are
/// checked by [`assert_same_real`] instead, as their exact form is the encoder's to choose.
fn csv_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(r) => {
            assert!(r.is_infinite(), "finite reals are compared by value");
            Some(if *r > 0.0 { "Infinity" } else { "-Infinity" }.to_owned())
        }
        Value::Text(s) => Some(s.clone()),
        Value::Blob(b) => Some(BASE64.encode(b)),
    }
}

/// A real's text must read back bit for bit and not look like an integer.
fn assert_same_real(text: &str, real: f64) {
    assert_eq!(text.parse::<f64>().unwrap().to_bits(), real.to_bits(), "{text} for {real:?}");
    assert!(text.contains(['.', 'e']), "{text} would read back as an integer");
}

/// Every value's exact text comes back through a strict reader; NULL and "" stay apart.
#[test]
fn csv_round_trips_every_value_as_exact_text() {
    let dir = TempDir::new().unwrap();
    let db = sample_db(dir.path());
    let report = export(&db, &dir.path().join("out"), &exact_csv());
    let records = read_csv(file_of(&report, "samples"), ',');
    assert_eq!(
        records[0],
        [Field { text: "id".into(), quoted: false }, Field { text: "v".into(), quoted: false }]
    );
    let values = sample_values();
    assert_eq!(records.len(), 1 + values.len() + 1);
    for (i, value) in values.iter().enumerate() {
        let record = &records[i + 1];
        assert_eq!(record[0].text, (i + 1).to_string());
        match value {
            Value::Null => assert_eq!(record[1], Field { text: String::new(), quoted: false }, "NULL"),
            Value::Real(real) if real.is_finite() => assert_same_real(&record[1].text, *real),
            _ => assert_eq!(Some(&record[1].text), csv_text(value).as_ref(), "{value:?}"),
        }
    }
    assert_eq!(records[values.len() + 1][1].text, "caf\u{FFFD}");
    let samples = report.tables.iter().find(|t| t.name == "samples").unwrap();
    assert_eq!((samples.rows, samples.invalid_utf8_values, samples.formula_guarded_values), (29, 1, 0));
    let raw = fs::read_to_string(file_of(&report, "samples")).unwrap();
    assert!(raw.contains("\r\n10,1.0\r\n") && raw.contains("\r\n6,-0.0\r\n"), "reals stay reals");
    assert!(
        raw.contains("\r\n22,\"\"\r\n") && raw.starts_with("id,v\r\n1,\r\n"),
        "empty text is \"\", NULL is nothing"
    );
}

/// By default text that a spreadsheet would run as a formula gets a `'`; numbers never do.
#[test]
fn csv_guards_formulas_by_default_and_never_numbers() {
    let dir = TempDir::new().unwrap();
    let db = sample_db(dir.path());
    let report = export(&db, &dir.path().join("out"), &csv(CsvOptions::default()));
    let records = read_csv(file_of(&report, "samples"), ',');
    assert_eq!(records[23][1].text, "'=1+2");
    assert_eq!(records[24][1].text, "'-5");
    assert_eq!(records[5][1].text, "-1", "an INTEGER is never altered");
    assert_eq!(records[12][1].text, "-Infinity", "a REAL is never altered");
    let samples = report.tables.iter().find(|t| t.name == "samples").unwrap();
    assert_eq!(samples.formula_guarded_values, 2);
}

/// Excel needs the BOM to read UTF-8; `;` is the separator where `,` is the decimal comma.
#[test]
fn csv_with_bom_and_semicolon() {
    let dir = TempDir::new().unwrap();
    let db = sample_db(dir.path());
    let options = csv(CsvOptions { delimiter: b';', bom: true, guard_formulas: false });
    let report = export(&db, &dir.path().join("out"), &options);
    let bytes = fs::read(file_of(&report, "samples")).unwrap();
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").expect("BOM first")).unwrap();
    assert!(text.contains("\r\n13;a,b\r\n14;\"a;b\"\r\n"), "only the delimiter in use is quoted");
    let records = parse_csv(text, ';');
    for (i, value) in sample_values().iter().enumerate() {
        match value {
            Value::Real(real) if real.is_finite() => assert_same_real(&records[i + 1][1].text, *real),
            _ => assert_eq!(records[i + 1][1].text, csv_text(value).unwrap_or_default()),
        }
    }
    let weird = parse_csv(&fs::read_to_string(file_of(&report, WEIRD)).unwrap()[3..], ';');
    assert_eq!(weird[0].iter().map(|f| f.text.as_str()).collect::<Vec<_>>(), ["col, one", "x\"y"]);
}

/// JSON numbers stay numbers of the right kind, and the rest comes back byte for byte.
#[test]
fn json_round_trips_every_value_with_its_type() {
    let dir = TempDir::new().unwrap();
    let db = sample_db(dir.path());
    let options = TableExportOptions { format: TableFormat::Json, tables: Vec::new() };
    let report = export(&db, &dir.path().join("out"), &options);
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(file_of(&report, "samples")).unwrap()).unwrap();
    assert_eq!(json["table"], "samples");
    assert_eq!(
        json["columns"],
        serde_json::json!([{"name": "id", "type": "INTEGER"}, {"name": "v", "type": ""}])
    );
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), sample_values().len() + 1);
    for (row, expected) in rows.iter().zip(sample_values()) {
        let value = json_value(&row[1]);
        if let (Value::Real(got), Value::Real(want)) = (&value, &expected) {
            assert_eq!(got.to_bits(), want.to_bits(), "{row}");
        }
        assert_eq!(value, expected, "{row}");
    }
    assert_eq!(rows.last().unwrap()[1], serde_json::json!({"text_base64": BASE64.encode(LATIN1)}));
    let samples = report.tables.iter().find(|t| t.name == "samples").unwrap();
    assert_eq!((samples.invalid_utf8_values, samples.formula_guarded_values), (1, 0));
    let tags: serde_json::Value =
        serde_json::from_slice(&fs::read(file_of(&report, "tags")).unwrap()).unwrap();
    assert_eq!(tags["rows"], serde_json::json!([["a", 1], ["b", 2], ["c", 3]]), "primary-key order");
}

/// Reads a JSON value back into the SQLite value it stands for, strictly by its JSON type.
fn json_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Number(n) if n.is_f64() => Value::Real(n.as_f64().unwrap()),
        serde_json::Value::Number(n) => Value::Integer(n.as_i64().expect("integers fit i64")),
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Object(tagged) => match tagged.iter().next().unwrap() {
            (tag, serde_json::Value::String(s)) if tag == "blob_base64" => {
                Value::Blob(BASE64.decode(s).unwrap())
            }
            (tag, serde_json::Value::String(s)) if tag == "real" => Value::Real(s.parse().unwrap()),
            other => panic!("unexpected tag {other:?}"),
        },
        other => panic!("unexpected JSON {other}"),
    }
}

/// Views, virtual tables, their shadow tables and SQLite's own tables are not user tables;
/// named explicitly they are exported. File names are safe whatever the table's name.
#[test]
fn default_tables_are_ordinary_ones_and_names_become_safe_files() {
    let dir = TempDir::new().unwrap();
    let db = sample_db(dir.path());
    let out = dir.path().join("out");
    let report = export(&db, &out, &exact_csv());
    let names: Vec<&str> = report.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, [WEIRD, "counter", "samples", "tags"]);
    let weird = file_of(&report, WEIRD);
    assert_eq!(weird, out.join("%2E%2E%2Fwe%22ird%2F%20Name%20%E6%97%A5%E6%9C%AC.csv"));
    let mut files: Vec<String> =
        fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files.len(), 4, "no temporary files left: {files:?}");
    let tags = read_csv(file_of(&report, "tags"), ',');
    assert_eq!(tags.iter().map(|r| r[0].text.as_str()).collect::<Vec<_>>(), ["name", "a", "b", "c"]);

    let chosen = TableExportOptions {
        tables: vec!["BIG_TAGS".into(), "search".into(), "sqlite_sequence".into()],
        ..exact_csv()
    };
    let report = export(&db, &dir.path().join("chosen"), &chosen);
    let texts = |table: &str| -> Vec<Vec<String>> {
        read_csv(file_of(&report, table), ',')
            .into_iter()
            .map(|r| r.into_iter().map(|f| f.text).collect())
            .collect()
    };
    assert_eq!(texts("big_tags"), [["name"], ["b"], ["c"]], "a view, matched ignoring ASCII case");
    assert_eq!(texts("search"), [["body"], ["hello world"]], "a virtual table, without hidden columns");
    assert_eq!(texts("sqlite_sequence"), [["name", "seq"], ["counter", "1"]]);
}

/// An unknown table is the caller's mistake, named, with the tables there are; nothing is
/// written, not even the directory's files for the tables that do exist.
#[test]
fn unknown_table_is_refused_before_anything_is_written() {
    let dir = TempDir::new().unwrap();
    let db = sample_db(dir.path());
    let out = dir.path().join("out");
    let options = TableExportOptions { tables: vec!["tags".into(), "nope".into()], ..exact_csv() };
    let err = export_tables(&db, &out, &options, &CancelToken::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let message = err.to_string();
    assert!(message.contains("\"nope\"") && message.contains("\"samples\""), "{message}");
    assert!(!out.exists());
}

/// Exported files are the user's: a second export into the same place must not replace them.
#[test]
fn existing_files_are_never_replaced() {
    let dir = TempDir::new().unwrap();
    let db = sample_db(dir.path());
    let out = dir.path().join("out");
    let options = TableExportOptions { tables: vec!["tags".into(), "samples".into()], ..exact_csv() };
    fs::create_dir(&out).unwrap();
    fs::write(out.join("samples.csv"), b"mine").unwrap();
    let err = export_tables(&db, &out, &options, &CancelToken::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("samples.csv"), "{err}");
    assert_eq!(fs::read(out.join("samples.csv")).unwrap(), b"mine");
    assert!(!out.join("tags.csv").exists(), "checked before the first file is written");
}

/// A file that is not a database, or no file, fails as an unreadable source, naming it.
#[test]
fn unreadable_database_is_reported() {
    let dir = TempDir::new().unwrap();
    let not_db = dir.path().join("not.db");
    fs::write(&not_db, vec![b'x'; 4096]).unwrap();
    for db in [not_db, dir.path().join("missing.db")] {
        let err = export_tables(&db, &dir.path().join("out"), &exact_csv(), &CancelToken::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SourceUnreadable, "{err}");
        assert!(err.to_string().contains(&db.display().to_string()), "{err}");
    }
    assert!(!dir.path().join("missing.db").exists(), "opened read-only, never created");
}

/// A quote as delimiter would make the CSV ambiguous.
#[test]
fn unusable_delimiter_is_refused() {
    let dir = TempDir::new().unwrap();
    let db = sample_db(dir.path());
    let options = csv(CsvOptions { delimiter: b'"', ..CsvOptions::default() });
    let err = export_tables(&db, &dir.path().join("out"), &options, &CancelToken::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// A cancelled export stops and leaves no partial file.
#[test]
fn cancelled_export_leaves_no_partial_file() {
    let dir = TempDir::new().unwrap();
    let db = sample_db(dir.path());
    let out = dir.path().join("out");
    let cancel = CancelToken::new();
    cancel.cancel();
    let err = export_tables(&db, &out, &exact_csv(), &cancel).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
}

/// Rows are streamed: a table far larger than one buffer is written whole, in rowid order.
#[test]
fn large_table_is_streamed_in_rowid_order() {
    const ROWS: usize = 200_000;
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("big.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE big (n INTEGER, s TEXT);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200000)
         INSERT INTO big SELECT i * 3, printf('row %d, \"quoted\"', i) FROM c;",
    )
    .unwrap();
    drop(conn);
    let report = export(&db, &dir.path().join("csv"), &exact_csv());
    assert_eq!(report.tables[0].rows, 200_000);
    let records = read_csv(&report.tables[0].path, ',');
    assert_eq!(records.len(), ROWS + 1);
    for (i, record) in (1i64..).zip(&records[1..]) {
        assert_eq!(record[0].text, (i * 3).to_string());
        assert_eq!(record[1].text, format!("row {i}, \"quoted\""));
    }
    let json = TableExportOptions { format: TableFormat::Json, tables: Vec::new() };
    let report = export(&db, &dir.path().join("json"), &json);
    let value: serde_json::Value =
        serde_json::from_slice(&fs::read(&report.tables[0].path).unwrap()).unwrap();
    let rows = value["rows"].as_array().unwrap();
    assert_eq!(rows.len(), ROWS);
    assert_eq!(rows[ROWS - 1], serde_json::json!([ROWS * 3, format!("row {ROWS}, \"quoted\"")]));
}
