//! The whole life of a repository on real network storage, through the `cairn` binary as a
//! user or a scheduled job runs it: S3 (moto) and WebDAV (rclone) on loopback.

use std::path::Path;

use assert_cmd::Command;
use tempfile::TempDir;

use crate::harness::{PASSWORD, assert_same_tree, random_bytes, restored, write};
use crate::servers::{RemoteLocation, Server, remote};

/// `cairn` with only the remote's credentials in its environment.
pub fn cairn_remote(remote: &RemoteLocation, cache: &Path) -> Command {
    let mut cmd = Command::cargo_bin("cairn").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAIRN_REPOSITORY", &remote.location)
        .env("CAIRN_PASSWORD", PASSWORD)
        .env("XDG_CACHE_HOME", cache);
    for (name, value) in &remote.env {
        cmd.env(name, value);
    }
    cmd
}

fn source_tree(root: &Path, generation: u64) {
    write(&root.join("app.db"), &random_bytes(3 << 20, 100 + generation));
    write(&root.join("media/a.jpg"), &random_bytes(700_000, 1));
    write(&root.join("media/b.jpg"), &random_bytes(1_200_000, 2));
    write(&root.join("notes.txt"), format!("generation {generation}\n").as_bytes());
}

/// init, two backups, restore, check --read-data, forget --prune, check, restore again.
fn full_cycle(server: Server) {
    let Some(remote) = remote(server) else { return };
    let cache = TempDir::new().unwrap();
    let src = TempDir::new().unwrap();
    let root = src.path().join("app");
    let run = |args: &[&str]| {
        let output = cairn_remote(&remote, cache.path()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(0), "cairn {args:?} on {server:?}: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    run(&["init", "--kdf-memory-kib", "64", "--kdf-time", "1", "--kdf-lanes", "1"]);
    source_tree(&root, 1);
    run(&["backup", "--quiet", root.to_str().unwrap()]);
    source_tree(&root, 2);
    run(&["backup", "--quiet", root.to_str().unwrap()]);
    let snapshots: serde_json::Value = serde_json::from_str(&run(&["snapshots", "--json"])).unwrap();
    assert_eq!(snapshots.as_array().map(Vec::len), Some(2));

    let target = TempDir::new().unwrap();
    run(&["restore", "latest", "--verify", "--target", target.path().to_str().unwrap()]);
    assert_same_tree(&root, &restored(target.path(), &root));
    run(&["check", "--read-data"]);

    run(&["forget", "--keep-last", "1", "--prune"]);
    run(&["check", "--read-data"]);
    let again = TempDir::new().unwrap();
    run(&["restore", "latest", "--target", again.path().to_str().unwrap()]);
    assert_same_tree(&root, &restored(again.path(), &root));
}

#[test]
fn s3_full_cycle() {
    full_cycle(Server::S3);
}

#[test]
fn webdav_full_cycle() {
    full_cycle(Server::Webdav);
}

/// A wrong WebDAV password is an authentication failure: exit code 12, one line, and the
/// password appears nowhere in the output.
#[test]
fn webdav_wrong_credentials_exit_12() {
    let Some(mut remote) = remote(Server::Webdav) else { return };
    for (name, value) in &mut remote.env {
        if *name == "CAIRN_WEBDAV_PASSWORD" {
            *value = "not-the-password".into();
        }
    }
    let cache = TempDir::new().unwrap();
    let output = cairn_remote(&remote, cache.path())
        .args(["init", "--kdf-memory-kib", "64", "--kdf-time", "1", "--kdf-lanes", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(12), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("credentials"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
}
