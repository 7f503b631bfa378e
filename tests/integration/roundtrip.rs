//! What goes in comes out: every kind of entry and awkward size restores bit-exact with its
//! metadata.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

use cairn::format::tree::NodeKind;
use tempfile::TempDir;

use crate::harness::{TestRepo, assert_same_tree, random_bytes, restored, write};

/// Chunker sizes of the default config: the boundaries a file size can sit on.
const MIN: usize = 256 << 10;
const AVG: usize = 1 << 20;
const MAX: usize = 4 << 20;

#[test]
fn awkward_sizes_names_and_metadata_round_trip() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("data");
    write(&root.join("empty"), b"");
    write(&root.join("one-byte"), b"x");
    for (i, size) in
        [MIN - 1, MIN, MIN + 1, AVG, MAX - 1, MAX, MAX + 1, 2 * MAX, 3 * MAX + 7].into_iter().enumerate()
    {
        write(&root.join(format!("size-{size}")), &random_bytes(size, i as u64));
    }
    write(&root.join("zeros"), &vec![0u8; 3 * MAX]);
    write(&root.join("unicode-ñame-日本語-🙂"), b"unicode");
    write(&root.join(std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9")), b"not utf-8");
    write(&root.join("deep/a/b/c/d/file"), b"deep");
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::os::unix::fs::symlink("size-1048576", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).unwrap();
    write(&root.join("exec"), b"#!/bin/sh\n");
    fs::set_permissions(root.join("exec"), fs::Permissions::from_mode(0o755)).unwrap();
    write(&root.join("private"), b"secret");
    fs::set_permissions(root.join("private"), fs::Permissions::from_mode(0o600)).unwrap();
    write(&root.join("readonly"), b"ro");
    fs::set_permissions(root.join("readonly"), fs::Permissions::from_mode(0o444)).unwrap();
    let old = fs::File::options().write(true).open(root.join("one-byte")).unwrap();
    let past = std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000_000, 123_456_789);
    old.set_modified(past).unwrap();
    drop(old);

    let outcome = repo.backup(&[&root]);
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    let target = repo.restore(&outcome);
    assert_same_tree(&root, &restored(target.path(), &root));
}

/// A sparse file restores with the same bytes, and its holes stay holes.
#[test]
fn sparse_file_round_trips_and_stays_sparse() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("sparse");
    fs::create_dir_all(&root).unwrap();
    let file = fs::File::create(root.join("disk.img")).unwrap();
    file.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"header", 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"trailer", (64 << 20) - 7).unwrap();
    drop(file);
    let outcome = repo.backup(&[&root]);
    let target = repo.restore(&outcome);
    let restored_file = restored(target.path(), &root).join("disk.img");
    assert_same_tree(&root, &restored(target.path(), &root));
    let blocks = std::os::unix::fs::MetadataExt::blocks(&fs::metadata(&restored_file).unwrap());
    assert!(blocks * 512 < 16 << 20, "restored file allocates {} bytes", blocks * 512);
}

/// Several hundred megabytes spanning hundreds of chunks, compressible and not.
#[test]
fn large_file_spanning_many_chunks_round_trips() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("big");
    let mut content = random_bytes(200 << 20, 99);
    let text = b"the quick brown fox jumps over the lazy dog ".repeat((100 << 20) / 44);
    content.extend_from_slice(&text);
    write(&root.join("big.bin"), &content);
    let outcome = repo.backup(&[&root]);
    let summary = &outcome.snapshot.snapshot.summary;
    assert!(summary.data_blobs_added > 150, "{} chunks", summary.data_blobs_added);
    assert!(summary.data_added < content.len() as u64, "the text part compresses");
    let target = repo.restore(&outcome);
    assert_same_tree(&root, &restored(target.path(), &root));
}

/// Several sources become entries of one snapshot, each restored under its own name.
#[test]
fn several_sources_restore_side_by_side() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let (a, b) = (src.path().join("photos"), src.path().join("db.sqlite"));
    write(&a.join("1.jpg"), &random_bytes(10_000, 1));
    write(&b, &random_bytes(5_000, 2));
    let outcome = repo.backup(&[&a, &b]);
    let target = repo.restore(&outcome);
    assert_same_tree(&a, &target.path().join("photos"));
    assert_eq!(fs::read(&b).unwrap(), fs::read(target.path().join("db.sqlite")).unwrap());
}

/// Restoring with include patterns writes only what matches.
#[test]
fn include_patterns_select_entries() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("app");
    write(&root.join("media/a.jpg"), b"a");
    write(&root.join("media/b.png"), b"b");
    write(&root.join("notes/n.txt"), b"n");
    let outcome = repo.backup(&[&root]);
    let target = TempDir::new().unwrap();
    let options =
        cairn::RestoreOptions { include: vec!["*.jpg".into(), "/app/notes".into()], ..Default::default() };
    repo.repo
        .restore(&outcome.snapshot, target.path(), &options, &cairn::NoProgress, &cairn::CancelToken::new())
        .unwrap();
    let out = target.path().join("app");
    assert!(out.join("media/a.jpg").exists());
    assert!(!out.join("media/b.png").exists());
    assert_eq!(fs::read(out.join("notes/n.txt")).unwrap(), b"n");
}

/// `ls` walks the snapshot in path order and reports kinds.
#[test]
fn ls_lists_every_entry_in_order() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("r");
    write(&root.join("b/c"), b"c");
    write(&root.join("a"), b"a");
    let outcome = repo.backup(&[&root]);
    let mut seen = Vec::new();
    repo.repo
        .ls(&outcome.snapshot, "/", true, &mut |entry| {
            let kind = if matches!(entry.node.kind, NodeKind::Dir { .. }) { "d" } else { "f" };
            seen.push(format!("{kind} {}", String::from_utf8_lossy(&entry.path)));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, ["d /r", "f /r/a", "d /r/b", "f /r/b/c"]);
}

/// A directory tree 600 levels deep backs up, restores, lists, diffs and dumps from an
/// ordinary test thread (2 MiB of stack): the walks do not recurse on the caller's stack.
#[test]
fn deep_directory_tree_round_trips() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("deep");
    let mut dir = root.clone();
    for _ in 0..600 {
        dir.push("d");
    }
    write(&dir.join("leaf"), b"bottom");
    let outcome = repo.backup(&[&root]);
    assert!(outcome.warnings.is_empty());
    let target = repo.restore(&outcome);
    assert_same_tree(&root, &restored(target.path(), &root));
    let mut entries = 0;
    repo.repo
        .ls(&outcome.snapshot, "/", true, &mut |_| {
            entries += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(entries, 602);
    write(&dir.join("leaf"), b"changed");
    let second = repo.backup(&[&root]);
    let mut changes = 0;
    repo.repo
        .diff(&outcome.snapshot, &second.snapshot, &mut |_| {
            changes += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(changes, 1);
    let mut tar = Vec::new();
    repo.repo.dump(&second.snapshot, "/", &mut tar).unwrap();
    assert!(tar.len() > 600 * 512);
}
