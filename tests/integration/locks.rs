//! Locks: backups never wait; forget, prune and repair exclude each other; prune removes
//! nothing while anyone else works; stale locks (old, or of a dead process) block nobody.
//! Concurrency runs the real binary in separate processes.

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use cairn::format::lock::LockKind;
use cairn::{CancelToken, ErrorKind, PruneOptions, internals};
use tempfile::TempDir;

use crate::harness::{PASSWORD, TestRepo, random_bytes, write};
use crate::prune::{assert_checks_clean, assert_restores, repository_files};

const FRESH: Duration = Duration::ZERO;
const STALE: Duration = Duration::from_mins(31);

fn lock_files(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("locks")).map_or(0, Iterator::count)
}

/// A repository with two snapshots, the first forgotten: a prune has something to remove.
fn repo_with_garbage() -> (TestRepo, TempDir) {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let data = src.path().join("data");
    write(&data.join("old.bin"), &random_bytes(1 << 20, 1));
    let first = repo.backup(&[&data]).snapshot;
    std::fs::remove_file(data.join("old.bin")).unwrap();
    write(&data.join("new.bin"), &random_bytes(1 << 20, 2));
    repo.backup(&[&data]);
    repo.reopen().forget_snapshots(&[first.id.to_string()]).unwrap();
    (repo, src)
}

fn this_host() -> String {
    gethostname::gethostname().into_string().unwrap()
}

#[test]
fn backups_never_wait_and_leave_no_lock_behind() {
    let (repo, src) = repo_with_garbage();
    let handle = repo.reopen();
    internals::write_foreign_lock(&handle, LockKind::Exclusive, "elsewhere", 7, FRESH).unwrap();
    let outcome = repo.backup(&[&src.path().join("data")]);
    assert_restores(&handle, &outcome.snapshot, &src.path().join("data"));
    assert_eq!(lock_files(repo.path()), 1, "only the foreign lock remains");
}

#[test]
fn a_live_exclusive_lock_stops_forget_prune_and_repair_until_it_is_stale() {
    let (repo, _src) = repo_with_garbage();
    let handle = repo.reopen();
    internals::write_foreign_lock(&handle, LockKind::Exclusive, "elsewhere", 7, FRESH).unwrap();
    let before = repository_files(repo.path());
    let cancel = CancelToken::new();
    for error in [
        handle.prune(&PruneOptions::default(), &cancel).unwrap_err(),
        handle.repair_index(&cancel).unwrap_err(),
        handle.forget_snapshots(&["00".into()]).unwrap_err(),
    ] {
        assert_eq!(error.kind(), ErrorKind::Locked, "{error}");
        assert!(error.to_string().contains("test on elsewhere (pid 7"), "{error}");
    }
    assert_eq!(repository_files(repo.path()), before);
    // The command line says the same, with exit code 11.
    let output = Process::cargo_bin("cairn")
        .unwrap()
        .env("CAIRN_REPOSITORY", repo.path())
        .env("CAIRN_PASSWORD", PASSWORD)
        .arg("prune")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(11), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cairn unlock"));

    assert_eq!(handle.unlock(false).unwrap().removed.len(), 0, "a live lock is kept");
    handle.unlock(true).unwrap();
    internals::write_foreign_lock(&handle, LockKind::Exclusive, "elsewhere", 7, STALE).unwrap();
    internals::write_foreign_lock(&handle, LockKind::Exclusive, &this_host(), u32::MAX - 1, FRESH).unwrap();
    assert!(
        handle.prune(&PruneOptions::default(), &cancel).unwrap().bytes_freed() > 0,
        "stale locks are ignored"
    );
}

/// While another operation holds a shared lock, prune plans but removes nothing; forget
/// (which only removes snapshot files) goes ahead.
#[test]
fn prune_removes_nothing_while_a_shared_lock_is_live() {
    let (repo, _src) = repo_with_garbage();
    let handle = repo.reopen();
    internals::write_foreign_lock(&handle, LockKind::Shared, "phone", 42, FRESH).unwrap();
    let before = repository_files(repo.path());
    let error = handle.prune(&PruneOptions::default(), &CancelToken::new()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Locked);
    assert!(error.to_string().contains("prune removed nothing"), "{error}");
    assert_eq!(repository_files(repo.path()), before);
    let dry = PruneOptions { dry_run: true, ..PruneOptions::default() };
    assert!(handle.prune(&dry, &CancelToken::new()).unwrap().bytes_freed() > 0, "a dry run still plans");
}

#[test]
fn unlock_removes_stale_and_dead_locks_and_keeps_live_ones() {
    let repo = TestRepo::new();
    let handle = repo.reopen();
    internals::write_foreign_lock(&handle, LockKind::Shared, "phone", 1, FRESH).unwrap();
    internals::write_foreign_lock(&handle, LockKind::Shared, "tablet", 2, STALE).unwrap();
    internals::write_foreign_lock(&handle, LockKind::Exclusive, &this_host(), u32::MAX - 1, FRESH).unwrap();
    let report = handle.unlock(false).unwrap();
    assert_eq!((report.removed.len(), report.kept.len()), (2, 1), "{report:?}");
    assert!(report.kept[0].contains("phone"));
    assert_eq!(lock_files(repo.path()), 1);
    assert_eq!(handle.unlock(true).unwrap().removed.len(), 1);
    assert_eq!(lock_files(repo.path()), 0);
}

fn cairn(repo: &Path, args: &[&str]) -> Process {
    let mut cmd = Process::cargo_bin("cairn").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAIRN_REPOSITORY", repo)
        .env("CAIRN_PASSWORD", PASSWORD)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn finish(child: Child) -> (Option<i32>, String) {
    let output = child.wait_with_output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Backup and prune started together, as separate processes, at varying offsets: the
/// backup always succeeds; the prune either completes or removes nothing (exit 11); every
/// snapshot restores afterwards and the repository checks clean.
#[test]
fn backup_and_prune_running_at_once_both_leave_restorable_snapshots() {
    let (repo, src) = repo_with_garbage();
    let data = src.path().join("data");
    for (round, delay_ms) in [0u64, 5, 20, 60, 150].into_iter().enumerate() {
        let round = u64::try_from(round).unwrap();
        write(&data.join(format!("round{round}.bin")), &random_bytes(4 << 20, 1000 + round));
        let backup = cairn(repo.path(), &["backup", data.to_str().unwrap()]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let prune = cairn(repo.path(), &["forget", "--keep-last", "2", "--prune"]).spawn().unwrap();
        let (backup_code, backup_err) = finish(backup);
        let (prune_code, prune_err) = finish(prune);
        assert_eq!(backup_code, Some(0), "round {round}: {backup_err}");
        assert!(matches!(prune_code, Some(0 | 11)), "round {round}: {prune_code:?} {prune_err}");
        let handle = repo.reopen();
        let latest = handle.find_snapshot("latest").unwrap();
        assert_restores(&handle, &latest, &data);
        assert_checks_clean(&handle);
    }
    let handle = repo.reopen();
    handle.prune(&PruneOptions::default(), &CancelToken::new()).unwrap();
    for snapshot in handle.snapshots().unwrap().snapshots {
        let target = TempDir::new().unwrap();
        handle
            .restore(
                &snapshot,
                target.path(),
                &cairn::RestoreOptions::default(),
                &cairn::NoProgress,
                &CancelToken::new(),
            )
            .unwrap();
    }
    assert_checks_clean(&handle);
    assert_eq!(lock_files(repo.path()), 0);
}

/// Four devices back up into one repository at the same moment: no read-modify-write of a
/// shared object, so all succeed and all restore.
#[test]
fn many_devices_back_up_at_once() {
    let repo = TestRepo::new();
    let sources = TempDir::new().unwrap();
    let mut children = Vec::new();
    for device in 0..4u64 {
        let dir = sources.path().join(format!("device{device}"));
        write(&dir.join("shared.bin"), &random_bytes(2 << 20, 77));
        write(&dir.join("own.bin"), &random_bytes(2 << 20, device));
        let host = format!("device{device}");
        children
            .push(cairn(repo.path(), &["backup", "--host", &host, dir.to_str().unwrap()]).spawn().unwrap());
    }
    for child in children {
        let (code, err) = finish(child);
        assert_eq!(code, Some(0), "{err}");
    }
    let handle = repo.reopen();
    let snapshots = handle.snapshots().unwrap().snapshots;
    assert_eq!(snapshots.len(), 4);
    // Devices that ran at the same time each stored the shared file; prune keeps one copy.
    handle.prune(&PruneOptions::default(), &CancelToken::new()).unwrap();
    let mut copies = std::collections::BTreeMap::<String, usize>::new();
    for entry in std::fs::read_dir(repo.path().join("index")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        for pack in handle.index_file(&name).unwrap().1.packs {
            for blob in pack.blobs {
                *copies.entry(blob.id.to_string()).or_default() += 1;
            }
        }
    }
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
    for snapshot in &snapshots {
        let name = snapshot.snapshot.hostname.clone();
        assert_restores(&handle, snapshot, &sources.path().join(name));
    }
    assert_checks_clean(&handle);
}

/// A backup holds a pack that is stored but not yet named by any index (paused right after
/// the upload): a prune started then removes nothing, that pack survives, and the backup
/// completes into a snapshot that restores.
#[test]
fn prune_never_removes_a_pack_a_running_backup_has_not_indexed_yet() {
    let (repo, src) = repo_with_garbage();
    let data = src.path().join("data");
    write(&data.join("fresh.bin"), &random_bytes(1 << 20, 99));
    let packs_before = crate::prune::repository_files(repo.path());
    let backup = cairn(repo.path(), &["backup", data.to_str().unwrap()])
        .env("CAIRN_CRASHPOINT", "backup-after-pack:pause")
        .spawn()
        .unwrap();
    // Wait until the backup's first pack is stored.
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    let new_pack = loop {
        assert!(std::time::Instant::now() < deadline, "the backup stored no pack");
        let now = crate::prune::repository_files(repo.path());
        if let Some(path) = now.keys().find(|p| p.starts_with("data") && !packs_before.contains_key(*p)) {
            break path.clone();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let error = repo.reopen().prune(&PruneOptions::default(), &CancelToken::new()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Locked, "{error}");
    assert!(repo.path().join(&new_pack).exists(), "the unindexed pack survives");
    let (code, err) = finish(backup);
    assert_eq!(code, Some(0), "{err}");
    let handle = repo.reopen();
    assert_restores(&handle, &handle.find_snapshot("latest").unwrap(), &data);
    handle.prune(&PruneOptions::default(), &CancelToken::new()).unwrap();
    assert_restores(&handle, &handle.find_snapshot("latest").unwrap(), &data);
    assert_checks_clean(&handle);
}
