//! What an app does with cairn, start to finish: it registers its SQLite database and its
//! media folder, takes a snapshot while it keeps writing, with a progress display and a
//! cancel button's handle, lists its snapshots with their metadata, and restores one in place
//! with a safety snapshot and a schema check.
//!
//! `cargo run --example app_backup` runs it on a demo app directory in a temporary folder
//! (`.ci/test` runs it too). An app would use its own data directory and a repository in the
//! user's cloud (`s3:…`, `webdav:…`, `gdrive:/…`, or an iCloud Drive folder).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cairn::format::tree::NodeKind;
use cairn::{
    BackupOptions, CancelToken, Credentials, ErrorKind, InitOptions, Password, Progress, ProgressReport,
    Repository, RestoreOptions, SourceWarning,
};

/// The newest database schema (`PRAGMA user_version`) this build of the app understands.
const SCHEMA_VERSION: i32 = 3;

/// The app's progress display: here a line per report; an app updates its progress bar.
struct ProgressLine {
    last_percent: Mutex<u64>,
}

impl Progress for ProgressLine {
    fn report(&self, report: &ProgressReport) {
        let percent = (report.bytes_done * 100).checked_div(report.bytes_total).unwrap_or(0);
        let mut last = self.last_percent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if percent != *last {
            *last = percent;
            println!(
                "  {:?}: {percent}% ({} of {} files)",
                report.phase, report.files_done, report.files_total
            );
        }
    }

    fn warning(&self, warning: &SourceWarning) {
        println!("  skipped {}: {}", warning.path.display(), warning.message);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let app_dir = scratch.path().join("app-data");
    make_demo_app(&app_dir)?;

    // 1. Open (or create) the repository. The password comes from the platform keystore in
    //    a real app; `Credentials::MasterKey` skips the password hashing altogether.
    let storage = cairn::storage::open_location(scratch.path().join("repository").to_str().ok_or("path")?)?;
    let password = Password::from("demo password, kept in the keystore");
    let repo = Repository::init(storage, &password, &InitOptions::default())?;
    drop(repo);
    let storage = cairn::storage::open_location(scratch.path().join("repository").to_str().ok_or("path")?)?;
    let repo = Repository::open(storage, &Credentials::Password(password))?;

    // 2. Back up the app's directory while the app keeps writing to its database. The
    //    database is found by its header and read through SQLite at one consistent point;
    //    its -wal/-shm files are not stored as files. The cancel token is what the app's
    //    cancel button holds: `cancel.cancel()` from any thread stops the backup cleanly.
    let cancel = CancelToken::new();
    let cancel_button = cancel.clone();
    let writer = std::thread::spawn({
        let db = app_dir.join("app.db");
        move || keep_writing(&db, 200)
    });
    let options = BackupOptions {
        tags: vec!["daily".into()],
        meta: vec![("app.id".into(), "org.example.habits".into()), ("app.version".into(), "2.3.0".into())],
        ..BackupOptions::default()
    };
    println!("backing up {}", app_dir.display());
    let progress = ProgressLine { last_percent: Mutex::new(u64::MAX) };
    let first = repo.backup(std::slice::from_ref(&app_dir), &options, &progress, &cancel)?;
    writer.join().map_err(|_| "writer thread panicked")??;
    drop(cancel_button);

    // A second backup the next "day": only what changed is stored.
    keep_writing(&app_dir.join("app.db"), 50)?;
    let second = repo.backup(std::slice::from_ref(&app_dir), &options, &progress, &CancelToken::new())?;
    println!(
        "second backup stored {} bytes (the first stored {})",
        second.snapshot.snapshot.summary.data_added, first.snapshot.snapshot.summary.data_added
    );

    // 3. List the snapshots with what an app shows: time, the app's own metadata, and the
    //    database's schema version and row counts recorded in the snapshot.
    for info in repo.snapshots()?.snapshots {
        let meta: Vec<String> = info.snapshot.meta.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "snapshot {} at {} [{}]",
            info.id.short(),
            cairn::rfc3339(info.snapshot.time),
            meta.join(", ")
        );
        repo.ls(&info, "/app-data/app.db", false, &mut |entry| {
            if let NodeKind::Database { info, .. } = &entry.node.kind {
                let tables: Vec<String> =
                    info.tables.iter().map(|t| format!("{} {}", t.name, t.rows)).collect();
                println!("  database schema v{}: {}", info.user_version, tables.join(", "));
            }
            Ok(())
        })?;
    }

    // 4. Restore the first snapshot in place, as "restore from backup" in the app's settings
    //    does (with the app's database closed). What is there now is first kept in a safety
    //    snapshot tagged `pre-restore`; each file is replaced by an atomic rename of a checked
    //    copy, so a crash leaves the old or the new database, and running it again finishes.
    let restore = RestoreOptions {
        safety_snapshot: true,
        max_schema_version: Some(SCHEMA_VERSION),
        ..RestoreOptions::default()
    };
    let target = app_dir.parent().ok_or("no parent")?;
    match repo.restore(&first.snapshot, target, &restore, &progress, &CancelToken::new()) {
        Ok(outcome) => println!(
            "restored {} files ({} databases); what was there is in safety snapshot {}",
            outcome.files,
            outcome.databases,
            outcome.safety_snapshot.map(|id| id.short()).unwrap_or_default()
        ),
        Err(e) if e.kind() == ErrorKind::SchemaIncompatible => {
            println!("this backup is from a newer version of the app: {e}");
        }
        Err(e) => return Err(e.into()),
    }
    let rows: i64 = rusqlite::Connection::open(app_dir.join("app.db"))?.query_row(
        "SELECT count(*) FROM notes",
        [],
        |r| r.get(0),
    )?;
    println!("the database is back to {rows} notes");
    Ok(())
}

/// A small app directory: a WAL-mode database and a media folder.
fn make_demo_app(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir.join("media"))?;
    let conn = rusqlite::Connection::open(dir.join("app.db"))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA user_version = {SCHEMA_VERSION};
         CREATE TABLE notes(id INTEGER PRIMARY KEY, created INTEGER, body TEXT);
         CREATE INDEX notes_created ON notes(created);"
    ))?;
    for i in 0..1000 {
        conn.execute("INSERT INTO notes(created, body) VALUES (?1, ?2)", (i, format!("note {i}")))?;
    }
    for i in 0..5 {
        let photo: Vec<u8> =
            (0..200_000u32).map(|b| b.wrapping_mul(31).wrapping_add(i).to_le_bytes()[0]).collect();
        std::fs::write(dir.join(format!("media/photo-{i}.jpg")), photo)?;
    }
    Ok(())
}

/// What the app does all day: add notes, one transaction each.
fn keep_writing(db: &PathBuf, notes: i64) -> Result<(), rusqlite::Error> {
    let conn = rusqlite::Connection::open(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    for i in 0..notes {
        conn.execute(
            "INSERT INTO notes(created, body) VALUES (?1, 'written during the backup')",
            [10_000 + i],
        )?;
    }
    Ok(())
}
