//! Sources that misbehave: unreadable or changing files are skipped or stored with a
//! warning, and the snapshot is still written.

use std::path::Path;

use cairn::ErrorKind;
use tempfile::TempDir;

use crate::harness::{TestRepo, write};

/// `/proc/self/mem` opens but fails to read at offset 0 (EIO) for any user, root included:
/// a dependable unreadable file.
#[test]
fn unreadable_file_is_skipped_with_a_warning() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("ok");
    write(&root.join("fine.txt"), b"fine");
    let outcome = repo.backup(&[&root, Path::new("/proc/self/mem")]);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert_eq!(outcome.warnings[0].path, Path::new("/proc/self/mem"));
    assert_eq!(outcome.snapshot.snapshot.summary.source_errors, 1);
    let target = repo.restore(&outcome);
    assert!(target.path().join("ok/fine.txt").exists());
    assert!(!target.path().join("mem").exists());
}

/// `/proc/self/status` reports size 0 when listed yet has content when read, as a file
/// that grows during the backup does: it is stored as read, with a warning.
#[test]
fn file_that_grows_while_read_is_stored_with_a_warning() {
    let repo = TestRepo::new();
    let outcome = repo.backup(&[Path::new("/proc/self/status")]);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert!(outcome.warnings[0].message.contains("changed while it was read"));
    let target = repo.restore(&outcome);
    let content = std::fs::read_to_string(target.path().join("status")).unwrap();
    assert!(content.contains("Name:"));
}

#[test]
fn missing_source_is_an_error_naming_it() {
    let repo = TestRepo::new();
    let missing = Path::new("/nonexistent/cairn-source");
    let error = repo
        .repo
        .backup(
            &[missing.to_path_buf()],
            &cairn::BackupOptions::default(),
            &cairn::NoProgress,
            &cairn::CancelToken::new(),
        )
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SourceUnreadable);
    assert!(error.to_string().contains("/nonexistent/cairn-source"));
}

#[test]
fn two_sources_with_one_name_are_refused() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let (a, b) = (src.path().join("x/data"), src.path().join("y/data"));
    write(&a.join("f"), b"1");
    write(&b.join("f"), b"2");
    let error = repo
        .repo
        .backup(&[a, b], &cairn::BackupOptions::default(), &cairn::NoProgress, &cairn::CancelToken::new())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
}
