//! Incremental backups: unchanged data costs nearly nothing, a small change costs about its
//! size, and the parent snapshot is found automatically.

use std::fs;
use std::os::unix::fs::FileExt;

use cairn::{BackupOptions, ParentChoice};
use tempfile::TempDir;

use crate::harness::{TestRepo, assert_same_tree, random_bytes, restored, write};

fn dataset(root: &std::path::Path) -> u64 {
    write(&root.join("db/app.db"), &random_bytes(40 << 20, 1));
    for i in 0..20 {
        write(&root.join(format!("media/{i}.jpg")), &random_bytes(500_000 + i * 1000, 100 + i as u64));
    }
    write(&root.join("settings.json"), b"{\"theme\":\"dark\"}");
    crate::harness::dir_size(root)
}

/// A second backup of unchanged data adds under 1% of its size, reads nothing and stores
/// no new blob.
#[test]
fn unchanged_second_backup_adds_under_one_percent() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("app");
    let size = dataset(&root);
    let first = repo.backup(&[&root]);
    let before = repo.bytes_under("");
    let second = repo.backup(&[&root]);
    let growth = repo.bytes_under("") - before;
    let summary = &second.snapshot.snapshot.summary;
    assert_eq!(second.snapshot.snapshot.parent, Some(first.snapshot.id), "parent found automatically");
    assert_eq!(summary.bytes_read, 0);
    assert_eq!(summary.files_unmodified, 22);
    assert_eq!((summary.data_blobs_added, summary.tree_blobs_added), (0, 0));
    assert_eq!(second.snapshot.snapshot.tree, first.snapshot.snapshot.tree);
    assert!(growth * 100 < size, "grew by {growth} bytes for {size} bytes of data");
    repo.assert_no_leftovers();
}

/// Overwriting 64 KiB in the middle of a 40 MiB file stores about the chunks around it,
/// not the file; every other file is taken from the parent unread.
#[test]
fn small_change_adds_about_the_changed_bytes() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("app");
    dataset(&root);
    repo.backup(&[&root]);
    let db = fs::File::options().write(true).open(root.join("db/app.db")).unwrap();
    db.write_all_at(&random_bytes(64 << 10, 7), 20 << 20).unwrap();
    drop(db);
    let before = repo.bytes_under("");
    let second = repo.backup(&[&root]);
    let growth = repo.bytes_under("") - before;
    let summary = &second.snapshot.snapshot.summary;
    assert_eq!((summary.files_changed, summary.files_unmodified), (1, 21));
    assert_eq!(summary.bytes_read, 40 << 20, "only the changed file is read");
    // One or two chunks (average 1 MiB, at most 4 MiB each) around the change, plus trees.
    assert!(growth < 9 << 20, "grew by {growth} bytes");
    assert!(growth > 64 << 10, "grew by {growth} bytes");
    let target = repo.restore(&second);
    assert_same_tree(&root, &restored(target.path(), &root));
}

/// Identical content in different files and directories is stored once.
#[test]
fn duplicate_content_is_stored_once() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("dups");
    let content = random_bytes(6 << 20, 5);
    for dir in ["a", "b", "c"] {
        write(&root.join(dir).join("copy.bin"), &content);
    }
    let outcome = repo.backup(&[&root]);
    let summary = &outcome.snapshot.snapshot.summary;
    assert!(summary.data_added < 7 << 20, "stored {} bytes for three copies", summary.data_added);
    // Trees differ (inodes and ctimes are recorded); the content is stored once.
    let stats = repo.repo.snapshot_stats(&outcome.snapshot).unwrap();
    assert_eq!(stats.unique_size, 6 << 20);
    assert_eq!(summary.data_blobs_added, stats.unique_chunks);
    let target = repo.restore(&outcome);
    assert_same_tree(&root, &restored(target.path(), &root));
}

/// `ParentChoice::None` reads everything again but stores nothing new.
#[test]
fn forced_full_read_deduplicates_everything() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("app");
    let size = dataset(&root);
    repo.backup(&[&root]);
    let options = BackupOptions { parent: ParentChoice::None, ..BackupOptions::default() };
    let second = repo.backup_with(&[&root], &options);
    let summary = &second.snapshot.snapshot.summary;
    assert_eq!(summary.bytes_read, size);
    assert_eq!(summary.data_blobs_added, 0);
    assert_eq!(second.snapshot.snapshot.parent, None);
}

/// A parent from another host is not used automatically.
#[test]
fn parent_must_match_host_and_paths() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("app");
    dataset(&root);
    let options = BackupOptions { host: Some("other-phone".into()), ..BackupOptions::default() };
    repo.backup_with(&[&root], &options);
    let mine = repo.backup(&[&root]);
    assert_eq!(mine.snapshot.snapshot.parent, None);
    assert_eq!(mine.snapshot.snapshot.summary.files_new, 22);
}

/// Excluded paths are not in the snapshot; tags and metadata are.
#[test]
fn excludes_tags_and_metadata_are_honoured() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("app");
    write(&root.join("keep.txt"), b"keep");
    write(&root.join("cache/blob.tmp"), b"tmp");
    write(&root.join("x.tmp"), b"tmp");
    let options = BackupOptions {
        excludes: vec!["*.tmp".into(), format!("{}/cache", root.display())],
        tags: vec!["daily".into(), "app".into(), "daily".into()],
        meta: vec![("app.version".into(), "2.3".into())],
        ..BackupOptions::default()
    };
    let outcome = repo.backup_with(&[&root], &options);
    let snapshot = &outcome.snapshot.snapshot;
    assert_eq!(snapshot.tags, ["app", "daily"]);
    assert_eq!(snapshot.meta, [("app.version".to_string(), "2.3".to_string())]);
    let target = repo.restore(&outcome);
    let out = restored(target.path(), &root);
    assert!(out.join("keep.txt").exists());
    assert!(!out.join("x.tmp").exists());
    assert!(!out.join("cache").exists());
}

/// `diff` reports added, removed, modified and metadata-only changes.
#[test]
fn diff_reports_each_kind_of_change() {
    use cairn::Change;
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("d");
    write(&root.join("same"), b"same");
    write(&root.join("modified"), b"v1");
    write(&root.join("removed"), b"gone");
    write(&root.join("chmod"), b"mode");
    let first = repo.backup(&[&root]);
    write(&root.join("modified"), b"v2 longer");
    fs::remove_file(root.join("removed")).unwrap();
    write(&root.join("added/new"), b"new");
    fs::set_permissions(root.join("chmod"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let second = repo.backup(&[&root]);
    let mut changes = Vec::new();
    let stats = repo
        .repo
        .diff(&first.snapshot, &second.snapshot, &mut |entry| {
            changes.push((String::from_utf8_lossy(&entry.path).into_owned(), entry.change));
            Ok(())
        })
        .unwrap();
    assert!(changes.contains(&("/d/added".into(), Change::Added)));
    assert!(changes.contains(&("/d/added/new".into(), Change::Added)));
    assert!(changes.contains(&("/d/removed".into(), Change::Removed)));
    assert!(changes.contains(&("/d/modified".into(), Change::Modified)));
    assert!(changes.contains(&("/d/chmod".into(), Change::Metadata)));
    assert!(!changes.iter().any(|(p, _)| p == "/d/same"));
    assert_eq!((stats.added, stats.removed, stats.modified), (2, 1, 1));
}

/// Snapshot and repository statistics agree with what was stored.
#[test]
fn stats_count_files_and_deduplicated_bytes() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("s");
    let content = random_bytes(2 << 20, 3);
    write(&root.join("a"), &content);
    write(&root.join("b"), &content);
    let outcome = repo.backup(&[&root]);
    let stats = repo.repo.snapshot_stats(&outcome.snapshot).unwrap();
    assert_eq!((stats.files, stats.dirs), (2, 1));
    assert_eq!(stats.restore_size, 4 << 20);
    assert_eq!(stats.unique_size, 2 << 20);
    let repo_stats = repo.repo.repository_stats().unwrap();
    assert_eq!(repo_stats.snapshots, 1);
    assert_eq!(repo_stats.data_blobs, stats.unique_chunks);
    assert_eq!(repo_stats.pack_bytes, repo.bytes_under("data"));
}
