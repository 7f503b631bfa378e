//! `forget` and `prune`: what they remove, what they keep, and that they refuse to act on a
//! listing they cannot trust.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn::format::policy::{GroupBy, Retention};
use cairn::storage::faults::{FaultPlan, FaultyStorage};
use cairn::{
    BackupOptions, CancelToken, CheckOptions, Credentials, ErrorKind, ForgetOptions, NoProgress, Password,
    PruneOptions, ReadData, Repository, RestoreOptions, SnapshotInfo,
};
use tempfile::TempDir;

use crate::harness::{PASSWORD, TestRepo, assert_same_tree, copy_dir, random_bytes, restored, write};

/// Every file of the repository with its length, to prove nothing changed.
pub fn repository_files(root: &Path) -> BTreeMap<PathBuf, u64> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if !path.starts_with(root.join("tmp")) && !path.starts_with(root.join("locks")) {
                files.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::metadata(&path).unwrap().len(),
                );
            }
        }
    }
    files
}

fn prune(repo: &Repository) -> cairn::Result<cairn::PruneReport> {
    repo.prune(&PruneOptions::default(), &CancelToken::new())
}

/// Restores `snapshot` and compares it with `source` (the one directory it backed up).
pub fn assert_restores(repo: &Repository, snapshot: &SnapshotInfo, source: &Path) {
    let target = TempDir::new().unwrap();
    let options = RestoreOptions { verify: true, ..RestoreOptions::default() };
    repo.restore(snapshot, target.path(), &options, &NoProgress, &CancelToken::new()).unwrap();
    assert_same_tree(source, &restored(target.path(), source));
}

/// `check --read-data` finds no damage (orphans and unused data are allowed).
pub fn assert_checks_clean(repo: &Repository) {
    let options = CheckOptions { read_data: ReadData::All };
    let report = repo.check(&options, &NoProgress, &CancelToken::new()).unwrap();
    assert!(!report.is_damaged(), "{:#?}", report.findings);
}

#[test]
fn prune_removes_what_only_forgotten_snapshots_used() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let data = src.path().join("data");
    write(&data.join("old.bin"), &random_bytes(3 << 20, 1));
    let first = repo.backup(&[&data]).snapshot;
    std::fs::remove_file(data.join("old.bin")).unwrap();
    write(&data.join("new.bin"), &random_bytes(3 << 20, 2));
    let second = repo.backup(&[&data]).snapshot;
    let before = repo.bytes_under("data");

    let handle = repo.reopen();
    assert_eq!(handle.forget_snapshots(&[first.id.to_string()]).unwrap(), [first.id]);
    let report = prune(&handle).unwrap();
    assert!(report.packs_removed >= 1, "{report:?}");
    assert!(report.bytes_freed() >= 3 << 20, "{report:?}");
    let after = repo.bytes_under("data");
    assert!(before - after >= 3 << 20, "{before} -> {after}");
    assert_restores(&handle, &second, &data);
    assert_checks_clean(&handle);
    let again = prune(&handle).unwrap();
    assert_eq!((again.packs_removed, again.packs_repacked, again.bytes_freed()), (0, 0, 0), "{again:?}");
}

/// A pack half used after a forget is rewritten: its used blobs copied (not re-encrypted)
/// into a new pack, the rest freed.
#[test]
fn mostly_unused_packs_are_repacked() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let data = src.path().join("data");
    // Many one-chunk files in one backup share its packs; half of them go.
    for i in 0..40 {
        write(&data.join(format!("f{i:02}.bin")), &random_bytes(64 << 10, 100 + i));
    }
    let first = repo.backup(&[&data]).snapshot;
    for i in (1..40).step_by(2) {
        std::fs::remove_file(data.join(format!("f{i:02}.bin"))).unwrap();
    }
    let second = repo.backup(&[&data]).snapshot;
    let handle = repo.reopen();
    handle.forget_snapshots(&[first.id.to_string()]).unwrap();
    let report = prune(&handle).unwrap();
    assert!(report.packs_repacked >= 1 && report.packs_written >= 1, "{report:?}");
    assert!(report.bytes_repacked >= 20 * (64 << 10), "{report:?}");
    assert!(report.bytes_freed() >= 20 * (64 << 10), "{report:?}");
    assert_restores(&handle, &second, &data);
    assert_checks_clean(&handle);
    assert_eq!(prune(&handle).unwrap().packs_repacked, 0, "a second prune finds nothing to repack");
}

/// Two devices stored the same data at once (neither saw the other's index): prune keeps
/// exactly one copy of each blob, and both snapshots restore.
#[test]
fn duplicate_blobs_from_concurrent_backups_keep_one_copy() {
    let repo = TestRepo::new();
    let other_device = TempDir::new().unwrap();
    copy_dir(repo.path(), other_device.path());
    let src = TempDir::new().unwrap();
    let data = src.path().join("data");
    write(&data.join("shared.bin"), &random_bytes(2 << 20, 5));
    let a =
        repo.backup_with(&[&data], &BackupOptions { host: Some("phone".into()), ..BackupOptions::default() });
    let storage = cairn::storage::open_location(other_device.path().to_str().unwrap()).unwrap();
    let device = Repository::open(storage, &Credentials::Password(Password::from(PASSWORD))).unwrap();
    let options = BackupOptions { host: Some("laptop".into()), ..BackupOptions::default() };
    let b = device.backup(std::slice::from_ref(&data), &options, &NoProgress, &CancelToken::new()).unwrap();
    // What the second device wrote arrives in the shared repository.
    for (relative, _) in repository_files(other_device.path()) {
        let target = repo.path().join(&relative);
        if !target.exists() {
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(other_device.path().join(&relative), target).unwrap();
        }
    }
    let handle = repo.reopen();
    let copies = |handle: &Repository| -> BTreeMap<String, usize> {
        let mut copies = BTreeMap::new();
        for entry in std::fs::read_dir(repo.path().join("index")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            for pack in handle.index_file(&name).unwrap().1.packs {
                for blob in pack.blobs {
                    *copies.entry(blob.id.to_string()).or_default() += 1;
                }
            }
        }
        copies
    };
    assert!(copies(&handle).values().all(|&n| n == 2), "each blob stored twice");
    let report = prune(&handle).unwrap();
    assert!(report.unused_blobs > 0, "{report:?}");
    assert!(copies(&handle).values().all(|&n| n == 1), "{:?}", copies(&handle));
    assert_restores(&handle, &a.snapshot, &data);
    assert_restores(&handle, &b.snapshot, &data);
    assert_checks_clean(&handle);
}

/// A failed or short listing of packs, snapshots or index files: prune changes nothing.
#[test]
fn listing_failures_during_prune_delete_nothing() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let data = src.path().join("data");
    for i in 0..4 {
        write(&data.join(format!("f{i}.bin")), &random_bytes(1 << 20, 10 + i));
        repo.backup(&[&data]);
    }
    let handle = repo.reopen();
    let all: Vec<String> = handle.snapshots().unwrap().snapshots.iter().map(|s| s.id.to_string()).collect();
    handle.forget_snapshots(&all[..2]).unwrap();
    let before = repository_files(repo.path());
    for (dir, short) in
        [("data", false), ("data", true), ("snapshots", false), ("index", false), ("locks", false)]
    {
        let inner = cairn::storage::open_location(repo.path().to_str().unwrap()).unwrap();
        let fault = if short { "list-short" } else { "permanent" };
        let plan = FaultPlan::parse(&format!("{fault}@list/{dir}")).unwrap();
        let storage = Arc::new(FaultyStorage::new(inner, plan));
        let faulty = Repository::open(storage, &Credentials::Password(Password::from(PASSWORD))).unwrap();
        let error = prune(&faulty).unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::Storage | ErrorKind::InvalidInput),
            "{dir} short={short}: {error}"
        );
        assert_eq!(repository_files(repo.path()), before, "{dir} short={short}: something changed");
    }
    assert!(prune(&handle).unwrap().bytes_freed() > 0, "the real listing prunes");
}

#[test]
fn forget_refuses_to_empty_a_group_and_prune_an_empty_repository() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let data = src.path().join("data");
    write(&data.join("f.bin"), &random_bytes(1000, 1));
    repo.backup_with(&[&data], &BackupOptions { tags: vec!["daily".into()], ..BackupOptions::default() });
    let handle = repo.reopen();
    // A typo in the tag keeps nothing: refused.
    let typo =
        Retention { keep_tags: vec!["dialy".into()], group_by: GroupBy::DEFAULT, ..Retention::default() };
    let options = ForgetOptions { retention: Some(typo.clone()), ..ForgetOptions::default() };
    let error = handle.forget(&options).unwrap_err();
    assert!(error.to_string().contains("--unsafe-allow-remove-all"), "{error}");
    assert_eq!(handle.snapshots().unwrap().snapshots.len(), 1);
    let no_rules = ForgetOptions::default();
    assert_eq!(handle.forget(&no_rules).unwrap_err().kind(), ErrorKind::InvalidInput);
    let allowed = ForgetOptions { retention: Some(typo), allow_remove_all: true, ..ForgetOptions::default() };
    assert_eq!(handle.forget(&allowed).unwrap().removed.len(), 1);
    assert_eq!(prune(&handle).unwrap_err().kind(), ErrorKind::InvalidInput, "no snapshot: refused");
    let all = PruneOptions { allow_empty: true, ..PruneOptions::default() };
    assert!(handle.prune(&all, &CancelToken::new()).unwrap().packs_removed > 0);
    assert_eq!(repo.bytes_under("data"), 0);
}

/// The stored policy applies when `forget` is given no rules; a dry run removes nothing.
#[test]
fn stored_policy_and_dry_run() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let data = src.path().join("data");
    for i in 0..3 {
        write(&data.join("f.bin"), &random_bytes(1000, i));
        repo.backup(&[&data]);
    }
    let handle = repo.reopen();
    let keep_one = Retention { keep_last: 1, group_by: GroupBy::DEFAULT, ..Retention::default() };
    handle.set_retention_policy(&keep_one).unwrap();
    assert_eq!(handle.retention_policy().unwrap().unwrap().0, keep_one);
    let dry = handle.forget(&ForgetOptions { dry_run: true, ..ForgetOptions::default() }).unwrap();
    assert_eq!(dry.removed.len(), 2);
    assert_eq!(handle.snapshots().unwrap().snapshots.len(), 3);
    let done = handle.forget(&ForgetOptions::default()).unwrap();
    assert_eq!(done.removed, dry.removed);
    assert_eq!(handle.snapshots().unwrap().snapshots.len(), 1);
    let balanced = cairn::Preset::Balanced.retention();
    handle.set_retention_policy(&balanced).unwrap();
    assert_eq!(handle.retention_policy().unwrap().unwrap().0, balanced, "the newest policy is in force");
    assert_eq!(std::fs::read_dir(repo.path().join("policy")).unwrap().count(), 1, "older policies removed");
    let kept: BTreeSet<_> = handle.snapshots().unwrap().snapshots.iter().map(|s| s.id).collect();
    assert_eq!(kept.len(), 1);
}
