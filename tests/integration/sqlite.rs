//! App databases: live SQLite databases backed up at one consistent point while a writer
//! keeps writing, in WAL and rollback-journal mode; every schema feature and value type back
//! after a restore (per-table checksums, schema, settings, `integrity_check`); small daily
//! increments; schema-version checks; in-place restores that take a safety snapshot and leave
//! the old or the new database whatever moment they are killed at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use cairn::format::tree::NodeKind;
use cairn::sqlite::SqliteMode;
use cairn::{BackupOptions, CancelToken, ErrorKind, NoProgress, RestoreOptions};
use rusqlite::Connection;
use tempfile::TempDir;

use crate::harness::{PASSWORD, TestRepo, random_bytes, write};

/// What a database holds, compared after a restore: each table's row count and checksum
/// (values with their types, in rowid or key order), the schema, and the settings.
#[derive(Debug, PartialEq, Eq)]
struct Digest {
    tables: BTreeMap<String, (u64, String)>,
    schema: Vec<(String, String, Option<String>)>,
    settings: Vec<String>,
}

fn digest(path: &Path) -> Digest {
    let conn = Connection::open(path).unwrap();
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(verdict, "ok", "integrity_check of {}", path.display());
    let names: Vec<(String, bool)> = conn
        .prepare(
            "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut tables = BTreeMap::new();
    for (name, without_rowid) in names {
        if name == "sqlite_schema" || name == "sqlite_temp_schema" {
            continue;
        }
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let select = if without_rowid {
            format!("SELECT * FROM {quoted} ORDER BY 1, 2")
        } else {
            format!("SELECT rowid, * FROM {quoted} ORDER BY rowid")
        };
        let mut stmt = conn.prepare(&select).unwrap();
        let width = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        let mut hasher = blake3::Hasher::new();
        let mut count = 0u64;
        while let Some(row) = rows.next().unwrap() {
            count += 1;
            for i in 0..width {
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => hasher.update(b"N"),
                    rusqlite::types::ValueRef::Integer(v) => hasher.update(b"I").update(&v.to_le_bytes()),
                    rusqlite::types::ValueRef::Real(v) => {
                        hasher.update(b"R").update(&v.to_bits().to_le_bytes())
                    }
                    rusqlite::types::ValueRef::Text(v) => {
                        hasher.update(b"T").update(&(v.len() as u64).to_le_bytes()).update(v)
                    }
                    rusqlite::types::ValueRef::Blob(v) => {
                        hasher.update(b"B").update(&(v.len() as u64).to_le_bytes()).update(v)
                    }
                };
            }
        }
        tables.insert(name, (count, hasher.finalize().to_hex().to_string()));
    }
    let mut schema: Vec<(String, String, Option<String>)> = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    schema.sort();
    let settings = ["user_version", "application_id", "page_size", "encoding", "auto_vacuum", "journal_mode"]
        .iter()
        .map(|p| {
            let value: rusqlite::types::Value =
                conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0)).unwrap();
            format!("{p}={value:?}")
        })
        .collect();
    Digest { tables, schema, settings }
}

/// A database using every schema feature a dump must carry, with every kind of value.
fn feature_database(path: &Path, encoding: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA page_size = 8192; PRAGMA encoding = '{encoding}'; PRAGMA auto_vacuum = INCREMENTAL;
         PRAGMA user_version = 42; PRAGMA application_id = 0x43414952;
         CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
                            email TEXT COLLATE NOCASE, created REAL DEFAULT (julianday('now')));
         CREATE TABLE settings(key TEXT PRIMARY KEY, value ANY) STRICT, WITHOUT ROWID;
         CREATE TABLE items(user_id INTEGER REFERENCES users(id) ON DELETE CASCADE, title TEXT,
                            price INTEGER, doubled INTEGER GENERATED ALWAYS AS (price * 2) VIRTUAL,
                            upper_title TEXT GENERATED ALWAYS AS (upper(title)) STORED, data BLOB);
         CREATE TABLE \"odd \"\"name\"\"\"(\"select\" TEXT, \"x y\" INTEGER);
         CREATE TABLE log(at INTEGER, what TEXT);
         CREATE INDEX items_user ON items(user_id, price DESC);
         CREATE UNIQUE INDEX users_email ON users(email) WHERE email IS NOT NULL;
         CREATE INDEX items_expr ON items(lower(title));
         CREATE VIEW expensive AS SELECT * FROM items WHERE price > 100;
         CREATE VIEW expensive_titles AS SELECT title FROM expensive;
         CREATE TRIGGER items_log AFTER INSERT ON items BEGIN INSERT INTO log VALUES (new.price, new.title); END;"
    ))
    .unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..2000i64 {
        conn.execute(
            "INSERT INTO users(name, email) VALUES (?1, ?2)",
            (format!("user {i}"), (i % 3 != 0).then(|| format!("U{i}@Example.com"))),
        )
        .unwrap();
        conn.execute(
            "INSERT INTO items(user_id, title, price, data) VALUES (?1, ?2, ?3, ?4)",
            (
                i + 1,
                format!("item, \"{i}\"\n😀 ünïcödé"),
                i * 37 - 5000,
                random_bytes(usize::try_from(i % 50).unwrap() * 10, i.cast_unsigned()),
            ),
        )
        .unwrap();
    }
    conn.execute("DELETE FROM users WHERE id % 7 = 0", []).unwrap();
    let extremes: [(&str, rusqlite::types::Value); 9] = [
        ("min", rusqlite::types::Value::Integer(i64::MIN)),
        ("max", rusqlite::types::Value::Integer(i64::MAX)),
        ("null", rusqlite::types::Value::Null),
        ("neg zero", rusqlite::types::Value::Real(-0.0)),
        ("inf", rusqlite::types::Value::Real(f64::INFINITY)),
        ("tiny", rusqlite::types::Value::Real(5e-324)),
        ("empty text", rusqlite::types::Value::Text(String::new())),
        ("empty blob", rusqlite::types::Value::Blob(Vec::new())),
        ("blob", rusqlite::types::Value::Blob(vec![0, 255, 0, 10, 13])),
    ];
    for (key, value) in extremes {
        conn.execute("INSERT INTO settings VALUES (?1, ?2)", (key, value)).unwrap();
    }
    conn.execute("INSERT INTO \"odd \"\"name\"\"\" VALUES ('a;b', 1), (NULL, NULL)", []).unwrap();
    conn.execute_batch("COMMIT; ANALYZE;").unwrap();
    // SQLite does not check that text is UTF-8; a dump keeps such bytes as they are (only
    // meaningful in a UTF-8 database).
    if encoding == "UTF-8" {
        conn.execute("INSERT INTO log VALUES (-1, CAST(X'61FF62' AS TEXT))", []).unwrap();
    }
}

fn options(mode: SqliteMode) -> BackupOptions {
    BackupOptions { sqlite_mode: mode, ..BackupOptions::default() }
}

fn restore_into(
    repo: &TestRepo,
    snapshot: &cairn::SnapshotInfo,
    target: &Path,
    options: &RestoreOptions,
) -> cairn::Result<cairn::RestoreOutcome> {
    repo.repo.restore(snapshot, target, options, &NoProgress, &CancelToken::new())
}

/// The entries at and directly below `path` in a snapshot.
fn ls(
    repo: &TestRepo,
    snapshot: &cairn::SnapshotInfo,
    path: &str,
) -> Vec<(String, cairn::format::tree::Node)> {
    let mut entries = Vec::new();
    repo.repo
        .ls(snapshot, path, false, &mut |entry| {
            entries.push((String::from_utf8_lossy(&entry.path).into_owned(), entry.node.clone()));
            Ok(())
        })
        .unwrap();
    entries
}

fn names(repo: &TestRepo, snapshot: &cairn::SnapshotInfo, path: &str) -> Vec<String> {
    ls(repo, snapshot, path).into_iter().map(|(name, _)| name).collect()
}

/// The node a snapshot holds at `path` (below the root).
fn node_at(repo: &TestRepo, snapshot: &cairn::SnapshotInfo, path: &str) -> cairn::format::tree::Node {
    ls(repo, snapshot, path)
        .into_iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("{path} not in snapshot"))
        .1
}

#[test]
fn every_schema_feature_and_value_type_survives_a_restore() {
    for encoding in ["UTF-8", "UTF-16le", "UTF-16be"] {
        let repo = TestRepo::new();
        let source = TempDir::new().unwrap();
        let db = source.path().join("app/app.db");
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        feature_database(&db, encoding);
        let before = digest(&db);
        let outcome = repo.backup(&[&source.path().join("app")]);
        let node = node_at(&repo, &outcome.snapshot, "/app/app.db");
        let NodeKind::Database { info, .. } = &node.kind else { panic!("stored as {:?}", node.kind) };
        assert_eq!(info.user_version, 42);
        assert_eq!(info.application_id, 0x4341_4952);
        assert_eq!(info.page_size, 8192);
        let items = info.tables.iter().find(|t| t.name == "items").unwrap();
        assert_eq!(items.rows, before.tables["items"].0);
        let target = TempDir::new().unwrap();
        restore_into(&repo, &outcome.snapshot, target.path(), &RestoreOptions::default()).unwrap();
        assert_eq!(digest(&target.path().join("app/app.db")), before, "encoding {encoding}");
    }
}

/// A selective restore of one database (an include pattern naming it) writes that database
/// alone, rebuilt and whole, and nothing else of the snapshot.
#[test]
fn one_database_is_restored_alone() {
    let repo = TestRepo::new();
    let source = TempDir::new().unwrap();
    let app = source.path().join("app");
    let db = app.join("data/app.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    feature_database(&db, "UTF-8");
    write(&app.join("media/photo.jpg"), &random_bytes(200_000, 3));
    write(&app.join("data/settings.json"), b"{}");
    let before = digest(&db);
    let outcome = repo.backup(&[&app]);
    let target = TempDir::new().unwrap();
    let only = RestoreOptions { include: vec!["/app/data/app.db".into()], ..RestoreOptions::default() };
    restore_into(&repo, &outcome.snapshot, target.path(), &only).unwrap();
    assert_eq!(digest(&target.path().join("app/data/app.db")), before);
    assert!(!target.path().join("app/media").exists(), "nothing else is restored");
    assert!(!target.path().join("app/data/settings.json").exists());
}

#[test]
fn corpus_database_keeps_every_table_checksum() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/make_corpus.py");
    if !script.exists() {
        eprintln!("skipped: {} is not here", script.display());
        return;
    }
    let source = TempDir::new().unwrap();
    let corpus = source.path().join("corpus");
    let made = Process::new("python3")
        .arg(&script)
        .args(["--out", corpus.to_str().unwrap(), "--gen", "0", "--scale", "0.02"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let repo = TestRepo::new();
    let db_only = TestRepo::new();
    let first = db_only.backup(&[&corpus.join("app.db")]);
    repo.backup(&[&corpus]);
    let day = Process::new("python3")
        .arg(&script)
        .args([
            "--out",
            corpus.to_str().unwrap(),
            "--gen",
            "1",
            "--mode",
            "app-day",
            "--schema-change",
            "yes",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(day.success());
    let expected = digest(&corpus.join("app.db"));
    let second = repo.backup(&[&corpus]);
    // A day of app use (with a migration) stores a small fraction of the database.
    let db_size = std::fs::metadata(corpus.join("app.db")).unwrap().len();
    let day = db_only.backup(&[&corpus.join("app.db")]).snapshot.snapshot.summary.data_added;
    assert!(day < db_size / 5, "a day added {day} bytes for a {db_size}-byte database");
    assert!(first.snapshot.snapshot.summary.data_added > 2 * day);
    let target = TempDir::new().unwrap();
    restore_into(
        &repo,
        &second.snapshot,
        target.path(),
        &RestoreOptions { verify: true, ..RestoreOptions::default() },
    )
    .unwrap();
    assert_eq!(digest(&target.path().join("corpus/app.db")), expected);
}

/// A database with a counter that every transaction of the writer moves in step with the
/// rows it inserts, so any consistent point has `count(*) = max(id) = counter`.
fn live_database(path: &Path, wal: bool) {
    let conn = Connection::open(path).unwrap();
    let mode = if wal { "WAL" } else { "DELETE" };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = {mode};
         CREATE TABLE events(id INTEGER PRIMARY KEY, body BLOB, note TEXT);
         CREATE TABLE counter(n INTEGER); INSERT INTO counter VALUES (0);"
    ))
    .unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for i in 1..=20_000i64 {
        conn.execute(
            "INSERT INTO events VALUES (?1, ?2, 'seed')",
            (i, random_bytes(1000, i.cast_unsigned())),
        )
        .unwrap();
    }
    conn.execute_batch("UPDATE counter SET n = 20000; COMMIT").unwrap();
}

/// Writes until told to stop: each transaction inserts a row, rewrites an older one and
/// moves the counter. Returns how many transactions committed.
fn writer(path: PathBuf, stop: Arc<AtomicBool>, committed: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let conn = Connection::open(&path).unwrap();
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        let mut next: i64 = conn.query_row("SELECT n FROM counter", [], |r| r.get(0)).unwrap();
        while !stop.load(Ordering::Relaxed) {
            next += 1;
            let tx = conn.unchecked_transaction().unwrap();
            tx.execute(
                "INSERT INTO events VALUES (?1, ?2, 'live')",
                (next, random_bytes(1000, next.cast_unsigned())),
            )
            .unwrap();
            tx.execute("UPDATE events SET note = 'edited ' || ?1 WHERE id = ?1 % 20000 + 1", [next]).unwrap();
            tx.execute("UPDATE counter SET n = ?1", [next]).unwrap();
            tx.commit().unwrap();
            committed.fetch_add(1, Ordering::Relaxed);
        }
    })
}

fn assert_consistent_point(path: &Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(verdict, "ok");
    let (count, max): (i64, i64) =
        conn.query_row("SELECT count(*), max(id) FROM events", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let counter: i64 = conn.query_row("SELECT n FROM counter", [], |r| r.get(0)).unwrap();
    assert_eq!((count, max), (counter, counter), "rows 1..={counter} and nothing else");
    let edited: i64 =
        conn.query_row("SELECT count(*) FROM events WHERE note LIKE 'edited %'", [], |r| r.get(0)).unwrap();
    assert!(edited <= counter - 20_000);
    counter
}

fn live_backup(wal: bool) {
    let source = TempDir::new().unwrap();
    let db = source.path().join("app/live.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    live_database(&db, wal);
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let handle = writer(db.clone(), stop.clone(), committed.clone());
    while committed.load(Ordering::Relaxed) < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let repo = TestRepo::new();
    let before = committed.load(Ordering::Relaxed);
    let outcome = repo.backup(&[&source.path().join("app")]);
    let during = committed.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    assert!(during > 0 || !wal, "the writer committed nothing during the backup");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(
        names(&repo, &outcome.snapshot, "/app"),
        ["/app", "/app/live.db"],
        "companion files are not stored"
    );
    let target = TempDir::new().unwrap();
    restore_into(&repo, &outcome.snapshot, target.path(), &RestoreOptions::default()).unwrap();
    let restored = target.path().join("app/live.db");
    let counter = assert_consistent_point(&restored);
    assert!(counter > 20_000);
    let journal: String =
        Connection::open(&restored).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(journal, if wal { "wal" } else { "delete" });
}

#[test]
fn a_database_written_during_the_backup_is_captured_at_one_point_in_wal_mode() {
    live_backup(true);
}

#[test]
fn a_database_written_during_the_backup_is_captured_at_one_point_in_rollback_mode() {
    live_backup(false);
}

#[test]
fn committed_rows_still_in_the_wal_are_backed_up_and_an_active_wal_forces_a_new_read() {
    let source = TempDir::new().unwrap();
    let db = source.path().join("app/app.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(x); INSERT INTO t VALUES (1)").unwrap();
    let repo = TestRepo::new();
    let first = repo.backup(&[&source.path().join("app")]);
    // The app keeps its connection open; the new row is only in the WAL.
    conn.execute("INSERT INTO t VALUES (2)", []).unwrap();
    assert!(std::fs::metadata(source.path().join("app/app.db-wal")).unwrap().len() > 0);
    let second = repo.backup(&[&source.path().join("app")]);
    assert_eq!(second.snapshot.snapshot.summary.files_unmodified, 0, "the database was read again");
    let target = TempDir::new().unwrap();
    restore_into(&repo, &second.snapshot, target.path(), &RestoreOptions::default()).unwrap();
    let restored = Connection::open(target.path().join("app/app.db")).unwrap();
    let sum: i64 = restored.query_row("SELECT sum(x) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(sum, 3);
    drop(conn);
    assert!(first.snapshot.id != second.snapshot.id);
}

#[test]
fn an_unchanged_database_is_not_read_again() {
    let source = TempDir::new().unwrap();
    let db = source.path().join("app/app.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    feature_database(&db, "UTF-8");
    let repo = TestRepo::new();
    repo.backup(&[&source.path().join("app")]);
    let again = repo.backup(&[&source.path().join("app")]);
    let summary = &again.snapshot.snapshot.summary;
    assert_eq!((summary.files_unmodified, summary.bytes_read, summary.data_added), (1, 0, 0));
}

#[test]
fn a_day_of_appended_and_edited_rows_costs_about_those_rows() {
    let source = TempDir::new().unwrap();
    let db = source.path().join("app/app.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    live_database(&db, false);
    let repo = TestRepo::new();
    let first = repo.backup(&[&source.path().join("app")]);
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for i in 20_001..=20_200i64 {
        conn.execute("INSERT INTO events VALUES (?1, ?2, 'new')", (i, random_bytes(1000, i.cast_unsigned())))
            .unwrap();
    }
    conn.execute_batch("UPDATE events SET note = 'edited' WHERE id IN (3, 9000, 19999); COMMIT").unwrap();
    drop(conn);
    let second = repo.backup(&[&source.path().join("app")]);
    let (full, day) =
        (first.snapshot.snapshot.summary.data_added_raw, second.snapshot.snapshot.summary.data_added_raw);
    // 200 new rows of ~1 KB and three edits: a few hundred KiB, not the 20 MB database.
    assert!(day < full / 20, "the day stored {day} bytes of {full}");
}

#[test]
fn virtual_tables_are_stored_as_a_consistent_page_image() {
    let source = TempDir::new().unwrap();
    let db = source.path().join("app/search.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE docs USING fts5(body); INSERT INTO docs VALUES ('hello world'), ('good night');",
    )
    .unwrap();
    drop(conn);
    let before = digest(&db);
    let repo = TestRepo::new();
    let outcome = repo.backup(&[&source.path().join("app")]);
    let node = node_at(&repo, &outcome.snapshot, "/app/search.db");
    assert!(matches!(node.kind, NodeKind::File { .. }), "a page image is a file node");
    let target = TempDir::new().unwrap();
    restore_into(&repo, &outcome.snapshot, target.path(), &RestoreOptions::default()).unwrap();
    let restored = target.path().join("app/search.db");
    assert_eq!(digest(&restored), before);
    let hits: i64 = Connection::open(&restored)
        .unwrap()
        .query_row("SELECT count(*) FROM docs WHERE docs MATCH 'night'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(hits, 1);
}

#[test]
fn sqlite_modes_file_and_off() {
    let source = TempDir::new().unwrap();
    let db = source.path().join("app/app.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(x); INSERT INTO t VALUES (7)").unwrap();
    let repo = TestRepo::new();
    let as_file = repo.backup_with(&[&source.path().join("app")], &options(SqliteMode::File));
    let names = |outcome: &cairn::BackupOutcome| names(&repo, &outcome.snapshot, "/app");
    assert_eq!(names(&as_file), ["/app", "/app/app.db"]);
    assert!(matches!(node_at(&repo, &as_file.snapshot, "/app/app.db").kind, NodeKind::File { .. }));
    let target = TempDir::new().unwrap();
    restore_into(&repo, &as_file.snapshot, target.path(), &RestoreOptions::default()).unwrap();
    let x: i64 = Connection::open(target.path().join("app/app.db"))
        .unwrap()
        .query_row("SELECT x FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(x, 7, "the page image holds what was only in the WAL");
    let off = repo.backup_with(
        &[&source.path().join("app")],
        &BackupOptions { parent: cairn::ParentChoice::None, ..options(SqliteMode::Off) },
    );
    assert_eq!(names(&off), ["/app", "/app/app.db", "/app/app.db-shm", "/app/app.db-wal"]);
    // --sqlite lists a database explicitly even with detection off.
    let listed = BackupOptions {
        sqlite_paths: vec![db.clone()],
        parent: cairn::ParentChoice::None,
        ..options(SqliteMode::Off)
    };
    let listed = repo.backup_with(&[&source.path().join("app")], &listed);
    assert_eq!(names(&listed), ["/app", "/app/app.db"]);
    assert!(matches!(node_at(&repo, &listed.snapshot, "/app/app.db").kind, NodeKind::Database { .. }));
    drop(conn);
}

#[test]
fn a_database_sqlite_cannot_read_is_kept_as_plain_files_with_a_warning() {
    let source = TempDir::new().unwrap();
    let root = source.path().join("app");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend_from_slice(&random_bytes(10_000, 5));
    write(&root.join("broken.db"), &bytes);
    write(&root.join("broken.db-journal"), b"journal bytes");
    let repo = TestRepo::new();
    let outcome = repo.backup(&[&root]);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    let target = TempDir::new().unwrap();
    restore_into(&repo, &outcome.snapshot, target.path(), &RestoreOptions::default()).unwrap();
    assert_eq!(std::fs::read(target.path().join("app/broken.db")).unwrap(), bytes);
    assert_eq!(std::fs::read(target.path().join("app/broken.db-journal")).unwrap(), b"journal bytes");
}

#[test]
fn a_newer_schema_version_is_refused_before_anything_is_written() {
    let source = TempDir::new().unwrap();
    let db = source.path().join("app/app.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    feature_database(&db, "UTF-8");
    let repo = TestRepo::new();
    let outcome = repo.backup(&[&source.path().join("app")]);
    let target = TempDir::new().unwrap();
    let options = RestoreOptions { max_schema_version: Some(41), ..RestoreOptions::default() };
    let error = restore_into(&repo, &outcome.snapshot, target.path(), &options).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SchemaIncompatible);
    assert_eq!(error.category().map(cairn::Category::name), Some("SCHEMA_INCOMPATIBLE"));
    assert!(error.to_string().contains("schema version 42"), "{error}");
    assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 0, "nothing was written");
    let options = RestoreOptions { max_schema_version: Some(42), ..RestoreOptions::default() };
    restore_into(&repo, &outcome.snapshot, target.path(), &options).unwrap();
}

/// An app directory at two points: the snapshot to restore (`old`) and what is there now.
struct InPlace {
    source: TempDir,
    repo: TestRepo,
    old: cairn::BackupOutcome,
    old_digest: Digest,
    new_digest: Digest,
}

impl InPlace {
    fn new() -> InPlace {
        let source = TempDir::new().unwrap();
        let root = source.path().join("app");
        std::fs::create_dir_all(root.join("media")).unwrap();
        live_database(&root.join("app.db"), true);
        write(&root.join("media/a.jpg"), &random_bytes(50_000, 1));
        let repo = TestRepo::new();
        let old = repo.backup(&[&root]);
        let old_digest = digest(&root.join("app.db"));
        // The app goes on: new rows (some only in the WAL), a changed photo.
        let conn = Connection::open(root.join("app.db")).unwrap();
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; BEGIN").unwrap();
        for i in 20_001..=23_000i64 {
            conn.execute(
                "INSERT INTO events VALUES (?1, ?2, 'later')",
                (i, random_bytes(1000, i.cast_unsigned())),
            )
            .unwrap();
        }
        conn.execute_batch("UPDATE counter SET n = 23000; COMMIT").unwrap();
        std::mem::forget(conn); // the WAL stays, as after an app was killed
        write(&root.join("media/a.jpg"), &random_bytes(50_000, 2));
        let new_digest = digest(&root.join("app.db"));
        InPlace { source, repo, old, old_digest, new_digest }
    }

    fn root(&self) -> PathBuf {
        self.source.path().join("app")
    }
}

#[test]
fn an_in_place_restore_takes_a_safety_snapshot_that_restores_what_was_replaced() {
    let world = InPlace::new();
    let options = RestoreOptions { safety_snapshot: true, ..RestoreOptions::default() };
    let dry = restore_into(
        &world.repo,
        &world.old.snapshot,
        world.source.path(),
        &RestoreOptions { dry_run: true, ..options.clone() },
    )
    .unwrap();
    let actions: Vec<(String, &str)> = dry
        .changes
        .iter()
        .map(|c| (c.path.file_name().unwrap().to_string_lossy().into_owned(), c.action.name()))
        .collect();
    assert_eq!(actions, [("app.db".to_string(), "replace"), ("a.jpg".to_string(), "replace")]);
    assert_eq!(digest(&world.root().join("app.db")), world.new_digest, "a dry run writes nothing");
    let outcome = restore_into(&world.repo, &world.old.snapshot, world.source.path(), &options).unwrap();
    assert_eq!(digest(&world.root().join("app.db")), world.old_digest);
    assert!(!world.root().join("app.db-wal").exists(), "the old WAL went with the old database");
    assert_eq!(std::fs::read(world.root().join("media/a.jpg")).unwrap(), random_bytes(50_000, 1));
    let safety = outcome.safety_snapshot.expect("a safety snapshot was taken");
    let snapshots = world.repo.repo.snapshots().unwrap().snapshots;
    let taken = snapshots.iter().find(|s| s.id == safety).unwrap();
    assert_eq!(taken.snapshot.tags, [cairn::PRE_RESTORE_TAG]);
    let back = TempDir::new().unwrap();
    restore_into(&world.repo, taken, back.path(), &RestoreOptions::default()).unwrap();
    assert_eq!(digest(&back.path().join("app/app.db")), world.new_digest);
    assert_eq!(std::fs::read(back.path().join("app/media/a.jpg")).unwrap(), random_bytes(50_000, 2));
}

fn cli(repo: &Path) -> Process {
    let mut cmd = Process::cargo_bin("cairn").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAIRN_REPOSITORY", repo)
        .env("CAIRN_PASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn an_in_place_restore_killed_at_any_point_leaves_the_old_or_the_new_database() {
    let world = InPlace::new();
    let snapshot = world.old.snapshot.id.to_string();
    let target = world.source.path().to_str().unwrap().to_string();
    let restore_args = ["restore", snapshot.as_str(), "--target", target.as_str()];
    let check = |label: &str| {
        let now = digest(&world.root().join("app.db"));
        assert!(now == world.old_digest || now == world.new_digest, "{label}: neither old nor new");
        now == world.old_digest
    };
    // At the named steps of putting a database in place.
    for point in ["restore-db-rebuilt", "restore-db-folded", "restore-db-companions-removed"] {
        let status =
            cli(world.repo.path()).args(restore_args).env("CAIRN_CRASHPOINT", point).status().unwrap();
        assert!(!status.success(), "{point} was reached");
        check(point);
        // Back to the newer state for the next round, through the safety snapshot if needed.
        reset_to_new(&world);
    }
    // And at random moments.
    let mut seed = 0x5eed_u64;
    for round in 0..6 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let delay = Duration::from_millis(50 + (seed >> 33) % 700);
        let mut child = cli(world.repo.path()).args(restore_args).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        check(&format!("round {round}, killed after {delay:?}"));
        let rerun = cli(world.repo.path()).args(restore_args).output().unwrap();
        assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
        assert!(check("after the re-run"), "the re-run finished the restore");
        reset_to_new(&world);
    }
}

/// Puts the newer database back (from the newest pre-restore snapshot) for the next round.
fn reset_to_new(world: &InPlace) {
    if digest(&world.root().join("app.db")) == world.new_digest {
        return;
    }
    let repo = world.repo.reopen();
    let snapshots = repo.snapshots().unwrap().snapshots;
    let safety = snapshots
        .iter()
        .rev()
        .find(|s| {
            s.snapshot.tags.iter().any(|t| t == cairn::PRE_RESTORE_TAG) && {
                let t = TempDir::new().unwrap();
                repo.restore(s, t.path(), &RestoreOptions::default(), &NoProgress, &CancelToken::new())
                    .is_ok()
                    && digest(&t.path().join("app/app.db")) == world.new_digest
            }
        })
        .expect("a safety snapshot holds the newer database");
    repo.restore(safety, world.source.path(), &RestoreOptions::default(), &NoProgress, &CancelToken::new())
        .unwrap();
    assert_eq!(digest(&world.root().join("app.db")), world.new_digest);
}

#[test]
fn a_damaged_dump_fails_the_restore_and_leaves_the_database_there_alone() {
    let world = InPlace::new();
    // Rewrite every data pack's last byte of each blob region: the dump's chunks no longer
    // authenticate.
    let data = world.repo.path().join("data");
    for dir in std::fs::read_dir(&data).unwrap() {
        for pack in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = pack.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            for i in (64..bytes.len().saturating_sub(64)).step_by(4096) {
                bytes[i] ^= 0x55;
            }
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let result =
        restore_into(&world.repo, &world.old.snapshot, world.source.path(), &RestoreOptions::default());
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(digest(&world.root().join("app.db")), world.new_digest);
    let leftovers: Vec<_> = std::fs::read_dir(world.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".cairn-restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn cairn_export_writes_a_snapshot_database_as_csv_and_json() {
    let source = TempDir::new().unwrap();
    let db = source.path().join("app/app.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    feature_database(&db, "UTF-8");
    let repo = TempDir::new().unwrap();
    let status = cli(repo.path())
        .args(["init", "--kdf-memory-kib", "64", "--kdf-time", "1", "--kdf-lanes", "1"])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(cli(repo.path()).arg("backup").arg(source.path().join("app")).status().unwrap().success());
    let out = TempDir::new().unwrap();
    let json_dir = out.path().join("json");
    let exported = cli(repo.path())
        .args([
            "export",
            "latest",
            "--db",
            "/app/app.db",
            "--format",
            "json",
            "--tables",
            "settings,items",
            "--out",
        ])
        .arg(&json_dir)
        .output()
        .unwrap();
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json_dir.join("settings.json")).unwrap()).unwrap();
    let rows = settings["rows"].as_array().unwrap();
    let max = rows.iter().find(|r| r[0] == "max").unwrap();
    assert_eq!(max[1].as_i64(), Some(i64::MAX), "integers keep all 64 bits");
    let count = digest(&db).tables["items"].0;
    let items: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json_dir.join("items.json")).unwrap()).unwrap();
    assert_eq!(items["rows"].as_array().unwrap().len() as u64, count);
    let csv_dir = out.path().join("csv");
    let exported = cli(repo.path())
        .args(["export", "latest", "--db", "/app/app.db", "--delimiter", ";", "--bom", "--out"])
        .arg(&csv_dir)
        .output()
        .unwrap();
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let users = std::fs::read(csv_dir.join("users.csv")).unwrap();
    assert!(
        users.starts_with(b"\xEF\xBB\xBFid;name;email;created\r\n"),
        "{:?}",
        String::from_utf8_lossy(&users[..40])
    );
    // A path that is not a database is refused in one line.
    let refused = cli(repo.path())
        .args(["export", "latest", "--db", "/app", "--out"])
        .arg(out.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a SQLite database"));
}
