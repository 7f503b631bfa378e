//! Resumable backups: a backup killed with SIGKILL halfway through its uploads, run again,
//! reuses the packs already stored instead of sending them again (SPEC §12.4), on the local
//! file system, S3 (moto) and WebDAV (rclone).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::cloud::cairn_remote;
use crate::harness::{PASSWORD, assert_same_tree, random_bytes, restored, write};
use crate::servers::{RemoteLocation, Server, remote};

/// Source size: 12 files of 4 MiB of incompressible data.
const FILES: u64 = 12;
const FILE_LEN: usize = 4 << 20;

/// Bytes stored under `data/`.
fn data_bytes(location: &RemoteLocation) -> u64 {
    let storage = cairn::storage::open(&location.location, &location.options).unwrap();
    storage.list("data").unwrap().iter().map(|meta| meta.len).sum()
}

fn local_location(dir: &Path) -> RemoteLocation {
    RemoteLocation {
        location: dir.to_str().unwrap().to_string(),
        options: cairn::storage::StorageOptions::default(),
        env: Vec::new(),
    }
}

fn run(location: &RemoteLocation, cache: &Path, args: &[&str]) -> String {
    let output = cairn_remote(location, cache).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "cairn {args:?}: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn init(location: &RemoteLocation, cache: &Path) {
    run(location, cache, &["init", "--kdf-memory-kib", "64", "--kdf-time", "1", "--kdf-lanes", "1"]);
}

/// Starts a throttled backup and kills it once about half the source is stored.
fn kill_halfway(location: &RemoteLocation, cache: &Path, source: &Path) -> u64 {
    let total = FILES * FILE_LEN as u64;
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("cairn"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAIRN_REPOSITORY", &location.location)
        .env("CAIRN_PASSWORD", PASSWORD)
        .env("XDG_CACHE_HOME", cache)
        .envs(location.env.iter().map(|(k, v)| (*k, v.as_str())))
        // 12 MiB/s: the 48 MiB take about four seconds, time enough to watch.
        .args(["backup", "--quiet", "--limit-upload", "12288"])
        .arg(source)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_mins(2);
    while data_bytes(location) < total / 2 {
        assert!(child.try_wait().unwrap().is_none(), "the backup finished before it could be killed");
        assert!(Instant::now() < deadline, "the backup made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    data_bytes(location)
}

/// Kill at ~50 %, re-run: the re-run completes, reuses the stored packs, and what it sends
/// again is under 10 % of what was already stored. Prints the figures for BENCHMARKS.md.
fn resume_after_kill(name: &str, location: &RemoteLocation, clean: &RemoteLocation) {
    let cache = TempDir::new().unwrap();
    let src = TempDir::new().unwrap();
    let source = src.path().join("app");
    for i in 0..FILES {
        write(&source.join(format!("media/{i}.bin")), &random_bytes(FILE_LEN, 500 + i));
    }
    init(location, cache.path());
    let stored_before = kill_halfway(location, cache.path(), &source);

    let summary = run(location, cache.path(), &["backup", "--json", source.to_str().unwrap()]);
    let summary: serde_json::Value = serde_json::from_str(summary.lines().last().unwrap()).unwrap();
    let stored_after = data_bytes(location);

    init(clean, cache.path());
    run(clean, cache.path(), &["backup", "--quiet", source.to_str().unwrap()]);
    let needed = data_bytes(clean);
    let resent = stored_after.saturating_sub(needed);
    eprintln!(
        "resume {name}: killed after {stored_before} bytes stored; re-run reused {} packs ({} bytes), \
         repository {stored_after} bytes vs {needed} for an uninterrupted backup: {resent} bytes sent again \
         ({:.1} % of what was stored)",
        summary["resumed_packs"],
        summary["resumed_bytes"],
        resent as f64 * 100.0 / stored_before as f64
    );
    assert!(summary["resumed_packs"].as_u64().unwrap() > 0, "{summary}");
    assert!(resent * 10 < stored_before, "re-sent {resent} of {stored_before} bytes");

    run(location, cache.path(), &["check", "--read-data"]);
    let target = TempDir::new().unwrap();
    run(location, cache.path(), &["restore", "latest", "--target", target.path().to_str().unwrap()]);
    assert_same_tree(&source, &restored(target.path(), &source));
}

#[test]
fn killed_backup_resumes_local() {
    let (a, b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    resume_after_kill(
        "local",
        &local_location(&a.path().join("repo")),
        &local_location(&b.path().join("repo")),
    );
}

#[test]
fn killed_backup_resumes_s3() {
    let (Some(location), Some(clean)) = (remote(Server::S3), remote(Server::S3)) else { return };
    resume_after_kill("s3", &location, &clean);
}

#[test]
fn killed_backup_resumes_webdav() {
    let (Some(location), Some(clean)) = (remote(Server::Webdav), remote(Server::Webdav)) else { return };
    resume_after_kill("webdav", &location, &clean);
}
