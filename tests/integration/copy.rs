//! `copy`: the offline queue. Snapshots taken into a local staging repository are copied to
//! another repository (the cloud, when online): deduplicated, idempotent, resumable.

use std::path::Path;

use assert_cmd::Command;
use cairn::{CancelToken, CopyOptions, SnapshotInfo};
use tempfile::TempDir;

use crate::harness::{PASSWORD, TestRepo, copy_dir, dir_size, random_bytes, write};
use crate::prune::{assert_checks_clean, assert_restores};
use crate::servers::{Server, remote};

/// Three generations of an app's data in a staging repository, each kept as a copy of the
/// source tree as it was.
fn staging() -> (TestRepo, TempDir, Vec<(SnapshotInfo, std::path::PathBuf)>) {
    staging_with(|data, n| {
        if n == 0 {
            write(&data.join("media/a.jpg"), &random_bytes(1_500_000, 1));
        }
        write(&data.join("app.db"), &random_bytes(2 << 20, 10 + n));
        write(&data.join(format!("media/new-{n}.jpg")), &random_bytes(400_000, 20 + n));
    })
}

/// A staging repository with three snapshots of `data`, generation `n` written by
/// `generation(data, n)`, each kept as a copy of the source tree as it was.
fn staging_with(
    generation: impl Fn(&Path, u64),
) -> (TestRepo, TempDir, Vec<(SnapshotInfo, std::path::PathBuf)>) {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let data = src.path().join("data");
    let mut generations = Vec::new();
    for n in 0..3u64 {
        generation(&data, n);
        let info = repo.backup(&[&data]).snapshot;
        let kept = src.path().join(format!("gen{n}/data"));
        copy_dir(&data, &kept);
        generations.push((info, kept));
    }
    (repo, src, generations)
}

#[test]
fn copy_is_deduplicated_idempotent_and_keeps_parents() {
    let (source, src, generations) = staging();
    let dest = TestRepo::new();
    let report = dest.repo.copy_from(&source.reopen(), &CopyOptions::default(), &CancelToken::new()).unwrap();
    assert_eq!(report.copied.len(), 3);
    assert!(report.rechunked, "independent repositories have different keys");
    let copies = dest.repo.snapshots().unwrap().snapshots;
    assert_eq!(copies.len(), 3);
    for ((original, tree), copy) in generations.iter().zip(&copies) {
        assert_eq!(copy.snapshot.time, original.snapshot.time);
        assert_eq!(copy.snapshot.hostname, original.snapshot.hostname);
        assert_restores(&dest.repo, copy, tree);
    }
    assert_eq!(copies[1].snapshot.parent, Some(copies[0].id), "the parent's copy is the parent");
    assert_checks_clean(&dest.repo);
    let (source_bytes, dest_bytes) = (source.bytes_under("data"), dest.bytes_under("data"));
    assert!(dest_bytes * 10 < source_bytes * 11, "deduplicated: {dest_bytes} bytes for {source_bytes}");

    let again = dest.repo.copy_from(&source.reopen(), &CopyOptions::default(), &CancelToken::new()).unwrap();
    assert!(again.copied.is_empty() && again.already_copied.len() == 3, "{again:?}");
    assert_eq!(again.blobs_added, 0);

    let data = src.path().join("data");
    write(&data.join("app.db"), &random_bytes(2 << 20, 99));
    let newest = source.backup(&[&data]).snapshot;
    let only = CopyOptions { snapshots: vec!["latest".into()] };
    let report = dest.repo.copy_from(&source.reopen(), &only, &CancelToken::new()).unwrap();
    assert_eq!(report.copied.len(), 1);
    let copy = dest.repo.find_snapshot(&report.copied[0].1.to_string()).unwrap();
    assert_eq!(copy.snapshot.parent, Some(copies[2].id));
    assert_eq!(copy.snapshot.time, newest.snapshot.time);
    assert_restores(&dest.repo, &copy, &data);
}

/// A destination made with the source's keys gets the source's blobs as they are: the same
/// chunk and tree ids, the source's compression (the destination would store these
/// compressible files uncompressed if it cut and sealed them itself), and snapshots that
/// restore bit-exact.
#[test]
fn a_destination_sharing_the_keys_gets_the_blobs_as_they_are() {
    let (source, _src, generations) = staging_compressible();
    let uncompressed = cairn::InitOptions { compression_level: 0, ..cairn::InitOptions::default() };
    let dest = TestRepo::sharing_keys_with(&source.repo, &uncompressed);
    assert_ne!(dest.repo.config().repo_id, source.repo.config().repo_id, "a repository of its own");
    let report = dest.repo.copy_from(&source.reopen(), &CopyOptions::default(), &CancelToken::new()).unwrap();
    assert!(!report.rechunked, "{report:?}");
    assert_eq!(report.copied.len(), 3);
    let copies = dest.repo.snapshots().unwrap().snapshots;
    for ((original, tree), copy) in generations.iter().zip(&copies) {
        assert_eq!(copy.snapshot.tree, original.snapshot.tree, "the same tree ids");
        assert_restores(&dest.repo, copy, tree);
    }
    assert_checks_clean(&dest.repo);
    let (source_bytes, dest_bytes) = (source.bytes_under("data"), dest.bytes_under("data"));
    assert!(
        dest_bytes * 10 < source_bytes * 11,
        "kept compressed: {dest_bytes} bytes for the source's {source_bytes}"
    );
    let again = dest.repo.copy_from(&source.reopen(), &CopyOptions::default(), &CancelToken::new()).unwrap();
    assert_eq!((again.copied.len(), again.blobs_added), (0, 0), "{again:?}");
}

/// [`staging`] with text-like files that compress well.
fn staging_compressible() -> (TestRepo, TempDir, Vec<(SnapshotInfo, std::path::PathBuf)>) {
    staging_with(|data, n| {
        let text: Vec<u8> = random_bytes(1 << 20, 30 + n).iter().flat_map(|b| [b'a' + b % 8, b' ']).collect();
        write(&data.join(format!("notes-{n}.txt")), &text);
        write(&data.join("media/photo.jpg"), &random_bytes(300_000, 40 + n));
    })
}

/// `cairn init --from-repo A --share-keys` makes a repository `cairn copy` fills without
/// cutting files again; without --from-repo it is a usage error.
#[test]
fn cli_init_share_keys_then_copy_moves_blobs_as_they_are() {
    let (source, _src, generations) = staging();
    let cache = TempDir::new().unwrap();
    let dest = TempDir::new().unwrap();
    let to = dest.path().join("repo");
    let init = |extra: &[&str]| {
        let mut cmd = Command::cargo_bin("cairn").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CAIRN_PASSWORD", "another password")
            .env("CAIRN_FROM_PASSWORD", PASSWORD)
            .env("XDG_CACHE_HOME", cache.path())
            .arg("-r")
            .arg(&to)
            .args(["init", "--kdf-memory-kib", "64", "--kdf-time", "1", "--kdf-lanes", "1", "--share-keys"])
            .args(extra);
        cmd
    };
    let refused = init(&[]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--from-repo"));
    init(&["--from-repo", source.path().to_str().unwrap()]).assert().success();

    let output = cairn_copy(source.path(), to.to_str().unwrap(), &[], cache.path())
        .env("CAIRN_PASSWORD", "another password")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["rechunked"], false, "{report}");
    assert_eq!(report["copied"].as_array().map(Vec::len), Some(3), "{report}");
    let storage = cairn::storage::open_location(to.to_str().unwrap()).unwrap();
    let dest =
        cairn::Repository::open(storage, &cairn::Credentials::Password("another password".into())).unwrap();
    for ((original, tree), copy) in generations.iter().zip(&dest.snapshots().unwrap().snapshots) {
        assert_eq!(copy.snapshot.tree, original.snapshot.tree);
        assert_restores(&dest, copy, tree);
    }
}

fn cairn_copy(from: &Path, to: &str, env: &[(&'static str, String)], cache: &Path) -> Command {
    let mut cmd = Command::cargo_bin("cairn").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAIRN_PASSWORD", PASSWORD)
        .env("CAIRN_FROM_PASSWORD", PASSWORD)
        .env("XDG_CACHE_HOME", cache)
        .args(["copy", "--json", "--from-repo"])
        .arg(from)
        .args(["--to-repo", to]);
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd
}

/// Killed right after its first snapshot, `cairn copy` run again copies the rest, once.
fn killed_copy_resumes(to: &str, env: &[(&'static str, String)], options: &cairn::storage::StorageOptions) {
    let (source, _src, generations) = staging();
    let cache = TempDir::new().unwrap();
    let mut init = Command::cargo_bin("cairn").unwrap();
    init.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAIRN_PASSWORD", PASSWORD)
        .env("XDG_CACHE_HOME", cache.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["-r", to, "init", "--kdf-memory-kib", "64", "--kdf-time", "1", "--kdf-lanes", "1"])
        .assert()
        .success();
    let killed = cairn_copy(source.path(), to, env, cache.path())
        .env("CAIRN_CRASHPOINT", "copy-after-snapshot")
        .output()
        .unwrap();
    assert!(!killed.status.success(), "the crash point stops the copy");
    let output = cairn_copy(source.path(), to, env, cache.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["copied"].as_array().map(Vec::len), Some(2), "{report}");
    assert_eq!(report["already_copied"].as_array().map(Vec::len), Some(1), "{report}");

    let storage_options =
        cairn::storage::StorageOptions { spool_dir: Some(cache.path().to_path_buf()), ..options.clone() };
    let storage = cairn::storage::open(to, &storage_options).unwrap();
    let dest =
        cairn::Repository::open(storage, &cairn::Credentials::Password(cairn::Password::from(PASSWORD)))
            .unwrap();
    let copies = dest.snapshots().unwrap().snapshots;
    assert_eq!(copies.len(), 3, "each snapshot copied once");
    for ((_, tree), copy) in generations.iter().zip(&copies) {
        assert_restores(&dest, copy, tree);
    }
    assert_checks_clean(&dest);
}

#[test]
fn killed_copy_resumes_local() {
    let dest = TempDir::new().unwrap();
    killed_copy_resumes(
        dest.path().join("repo").to_str().unwrap(),
        &[],
        &cairn::storage::StorageOptions::default(),
    );
    assert!(dir_size(dest.path()) > 0);
}

#[test]
fn killed_copy_to_s3_resumes() {
    let Some(remote) = remote(Server::S3) else { return };
    killed_copy_resumes(&remote.location, &remote.env, &remote.options);
}
