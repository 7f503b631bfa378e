//! Cancellation leaves the repository as a crash would, minus the waste: what was read is
//! stored and indexed, no snapshot is written, and a re-run reuses the stored data.

use std::path::Path;
use std::time::Duration;

use cairn::{BackupOptions, CancelToken, ErrorKind, NoProgress};
use tempfile::TempDir;

use crate::harness::{TestRepo, assert_same_tree, random_bytes, restored, write};

fn any_pack(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("data")).is_ok_and(|subdirs| {
        subdirs.flatten().any(|d| std::fs::read_dir(d.path()).is_ok_and(|mut f| f.next().is_some()))
    })
}

#[test]
fn cancelled_backup_keeps_stored_data_for_the_rerun() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("big");
    for i in 0..12 {
        write(&root.join(format!("{i}.bin")), &random_bytes(16 << 20, i));
    }
    let cancel = CancelToken::new();
    let result = std::thread::scope(|scope| {
        let watcher = cancel.clone();
        let repo_dir = repo.path().to_path_buf();
        scope.spawn(move || {
            while !any_pack(&repo_dir) {
                std::thread::sleep(Duration::from_millis(2));
            }
            watcher.cancel();
        });
        repo.repo.backup(std::slice::from_ref(&root), &BackupOptions::default(), &NoProgress, &cancel)
    });
    let error = result.expect_err("the backup was cancelled");
    assert_eq!(error.kind(), ErrorKind::Cancelled);

    let reopened = repo.reopen();
    assert!(reopened.snapshots().unwrap().snapshots.is_empty(), "no snapshot after a cancel");
    let stored = repo.bytes_under("data");
    assert!(stored > 0);
    assert!(repo.bytes_under("index") > 0, "what was stored is indexed");
    repo.assert_no_leftovers();

    let rerun = repo.backup(&[&root]);
    let summary = &rerun.snapshot.snapshot.summary;
    let total = 12 * (16u64 << 20);
    assert!(
        summary.data_added + stored >= total && summary.data_added < total - stored / 2,
        "rerun stored {} of {total} bytes after {stored} were kept",
        summary.data_added
    );
    let target = repo.restore(&rerun);
    assert_same_tree(&root, &restored(target.path(), &root));
}

#[test]
fn cancel_before_start_writes_nothing_but_leaves_a_valid_repository() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("x");
    write(&root.join("f"), b"content");
    let cancel = CancelToken::new();
    cancel.cancel();
    let error = repo
        .repo
        .backup(std::slice::from_ref(&root), &BackupOptions::default(), &NoProgress, &cancel)
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert!(repo.reopen().snapshots().unwrap().snapshots.is_empty());
    let outcome = repo.backup(&[&root]);
    assert!(outcome.warnings.is_empty());
}
