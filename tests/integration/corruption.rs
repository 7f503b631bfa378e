//! Damaged repositories: every damage is reported as an error naming the object, never a
//! panic, and damage to one object does not make the others unreadable.

use std::fs;
use std::path::{Path, PathBuf};

use cairn::{CancelToken, Credentials, ErrorKind, NoProgress, Password, Repository, RestoreOptions};
use tempfile::TempDir;

use crate::harness::{PASSWORD, TestRepo, copy_dir, random_bytes, write};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
        }
    }
    out.sort();
    out
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

fn open(dir: &Path, password: &str) -> cairn::Result<Repository> {
    let storage = cairn::storage::open_location(dir.to_str().unwrap())?;
    Repository::open(storage, &Credentials::Password(Password::from(password)))
}

fn restore_latest(repo: &Repository) -> cairn::Result<cairn::RestoreOutcome> {
    let target = TempDir::new().unwrap();
    let snapshot = repo.find_snapshot("latest")?;
    repo.restore(&snapshot, target.path(), &RestoreOptions::default(), &NoProgress, &CancelToken::new())
}

fn small_repo() -> (TestRepo, TempDir) {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    write(&src.path().join("data/a.bin"), &random_bytes(3 << 20, 1));
    write(&src.path().join("data/b.txt"), b"hello");
    repo.backup(&[&src.path().join("data")]);
    (repo, src)
}

#[test]
fn wrong_password_is_an_auth_error() {
    let (repo, _src) = small_repo();
    let error = open(repo.path(), "not the password").err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert!(open(repo.path(), PASSWORD).is_ok());
}

#[test]
fn missing_repository_is_its_own_error() {
    let dir = TempDir::new().unwrap();
    let error = open(&dir.path().join("nothing"), PASSWORD).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::RepositoryMissing);
}

/// A flipped bit in a data blob fails authentication on restore; the error names the blob
/// and its pack.
#[test]
fn flipped_bit_in_a_pack_is_detected_on_restore() {
    let (repo, _src) = small_repo();
    let packs = files_under(&repo.path().join("data"));
    for pack in &packs {
        flip_byte(pack, 100);
    }
    let error = restore_latest(&repo.reopen()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    let message = error.to_string();
    assert!(message.contains("blob") && message.contains("pack"), "{message}");
}

/// A pack copied over another pack's name: every blob read from it fails its AAD check.
#[test]
fn pack_swapped_under_another_name_is_detected() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    write(&src.path().join("one/x"), &random_bytes(1 << 20, 5));
    repo.backup(&[&src.path().join("one")]);
    let first_packs = files_under(&repo.path().join("data"));
    write(&src.path().join("two/y"), &random_bytes(1 << 20, 6));
    repo.backup(&[&src.path().join("two")]);
    let second_packs: Vec<PathBuf> =
        files_under(&repo.path().join("data")).into_iter().filter(|p| !first_packs.contains(p)).collect();
    let victim = second_packs.iter().max_by_key(|p| fs::metadata(p).unwrap().len()).unwrap();
    let donor = first_packs.iter().max_by_key(|p| fs::metadata(p).unwrap().len()).unwrap();
    fs::copy(donor, victim).unwrap();
    let error = restore_latest(&repo.reopen()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
}

/// One unreadable snapshot file is listed as damaged; the others stay usable.
#[test]
fn truncated_snapshot_is_listed_as_damaged_and_others_restore() {
    let (repo, src) = small_repo();
    repo.backup(&[&src.path().join("data")]);
    let snapshots = files_under(&repo.path().join("snapshots"));
    assert_eq!(snapshots.len(), 2);
    let bytes = fs::read(&snapshots[0]).unwrap();
    fs::write(&snapshots[0], &bytes[..bytes.len() / 2]).unwrap();
    let reopened = repo.reopen();
    let listing = reopened.snapshots().unwrap();
    assert_eq!((listing.snapshots.len(), listing.damaged.len()), (1, 1));
    assert_eq!(listing.damaged[0].1.kind(), ErrorKind::Corrupt);
    let target = TempDir::new().unwrap();
    reopened
        .restore(
            &listing.snapshots[0],
            target.path(),
            &RestoreOptions::default(),
            &NoProgress,
            &CancelToken::new(),
        )
        .unwrap();
}

/// A changed byte in the plaintext config fails its MAC.
#[test]
fn tampered_config_is_detected() {
    let (repo, _src) = small_repo();
    let config = repo.path().join("config");
    // Byte 63 is inside the creation time: still a valid config, but no longer the MACed one.
    flip_byte(&config, 63);
    let error = open(repo.path(), PASSWORD).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert!(error.to_string().contains("config"), "{error}");
}

/// A config from a newer format version is "upgrade cairn", not corruption.
#[test]
fn newer_config_version_is_incompatible_not_corrupt() {
    let (repo, _src) = small_repo();
    let config = repo.path().join("config");
    let mut bytes = fs::read(&config).unwrap();
    bytes[7] = 2;
    fs::write(&config, bytes).unwrap();
    let error = open(repo.path(), PASSWORD).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::IncompatibleVersion, "{error}");
    assert!(error.to_string().contains("upgrade cairn"));
}

/// Every file of the repository truncated at several points, or replaced by garbage, in
/// turn: opening, listing and restoring return errors (or succeed), and never panic.
#[test]
fn truncated_or_garbage_files_never_panic() {
    let (repo, _src) = small_repo();
    let pristine = TempDir::new().unwrap();
    copy_dir(repo.path(), pristine.path());
    for file in files_under(pristine.path()) {
        let relative = file.strip_prefix(pristine.path()).unwrap().to_path_buf();
        let original = fs::read(&file).unwrap();
        let len = original.len();
        let variants: Vec<Vec<u8>> = vec![
            Vec::new(),
            original[..len / 2].to_vec(),
            original[..len.saturating_sub(1)].to_vec(),
            random_bytes(len, 77),
            [original.clone(), b"trailing".to_vec()].concat(),
        ];
        for variant in variants {
            let work = TempDir::new().unwrap();
            copy_dir(pristine.path(), work.path());
            fs::write(work.path().join(&relative), &variant).unwrap();
            let outcome = std::panic::catch_unwind(|| {
                if let Ok(repo) = open(work.path(), PASSWORD) {
                    let _ = repo.snapshots();
                    let _ = restore_latest(&repo);
                    let _ = repo.repository_stats();
                }
            });
            assert!(outcome.is_ok(), "panicked with damaged {}", relative.display());
        }
    }
}

/// With its only key slot damaged, the repository reports the damage, not a wrong password.
#[test]
fn damaged_only_key_slot_is_reported_as_damage() {
    let (repo, _src) = small_repo();
    let keys = files_under(&repo.path().join("keys"));
    assert_eq!(keys.len(), 1);
    let bytes = fs::read(&keys[0]).unwrap();
    fs::write(&keys[0], &bytes[..10]).unwrap();
    let error = open(repo.path(), PASSWORD).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert!(error.to_string().contains("key"), "{error}");
}

/// A changed repository id in the plaintext config is reported as a damaged config, not as
/// a wrong password.
#[test]
fn tampered_repository_id_is_a_damaged_config() {
    let (repo, _src) = small_repo();
    flip_byte(&repo.path().join("config"), 20);
    let error = open(repo.path(), PASSWORD).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert!(error.to_string().contains("config"), "{error}");
}

/// An emptied index file does not make the repository unopenable: it is skipped with a
/// warning naming it, and a new backup indexes the packs it named again from their headers
/// (as it resumes an interrupted backup) instead of storing their blobs again.
#[test]
fn empty_index_file_is_skipped_with_a_warning() {
    let (repo, src) = small_repo();
    let index = files_under(&repo.path().join("index"));
    fs::write(&index[0], b"").unwrap();
    let mut reopened = repo.reopen();
    let warnings = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    reopened.set_warning_sink(std::sync::Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string())));
    let outcome = reopened
        .backup(
            &[src.path().join("data")],
            &cairn::BackupOptions::default(),
            &NoProgress,
            &CancelToken::new(),
        )
        .unwrap();
    let warnings = warnings.lock().unwrap().clone();
    assert!(warnings.iter().any(|w| w.contains("index file") && w.contains("repair index")), "{warnings:?}");
    assert!(outcome.resumed.packs > 0, "the packs the lost index named are indexed again");
    assert_eq!(outcome.snapshot.snapshot.summary.data_blobs_added, 0, "nothing is stored twice");
    let target = TempDir::new().unwrap();
    reopened
        .restore(
            &outcome.snapshot,
            target.path(),
            &RestoreOptions::default(),
            &NoProgress,
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!(fs::read(target.path().join("data/b.txt")).unwrap(), b"hello");
}

/// A tree blob's sealed box put where a data blob of the same sealed length was: the type is
/// bound into the AAD, so the restore refuses it and `check --read-data` names that data blob.
#[test]
fn tree_blob_presented_as_data_is_rejected() {
    use cairn::format::envelope::BlobType;
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    write(&src.path().join("first/a.txt"), b"first");
    repo.backup(&[&src.path().join("first")]);
    let handle = repo.reopen();
    let entries_of = |blob_type: BlobType| {
        let mut found = Vec::new();
        for pack in files_under(&repo.path().join("data")) {
            let (_, header) = handle.pack_header(pack.file_name().unwrap().to_str().unwrap()).unwrap();
            found.extend(
                header.entries.into_iter().filter(|e| e.blob_type == blob_type).map(|e| (pack.clone(), e)),
            );
        }
        found
    };
    let (tree_pack, tree) = entries_of(BlobType::Tree).remove(0);
    // Random bytes are stored uncompressed: sealed length = raw length + 45 (SPEC §5).
    let len = tree.sealed_len as usize - 45;
    write(&src.path().join("second/same-length.bin"), &random_bytes(len, 9));
    repo.backup(&[&src.path().join("second")]);
    let (data_pack, data) = entries_of(BlobType::Data)
        .into_iter()
        .find(|(_, e)| e.sealed_len == tree.sealed_len)
        .expect("a data blob of the tree blob's sealed length");
    let tree_box = fs::read(&tree_pack).unwrap()[tree.offset as usize..][..tree.sealed_len as usize].to_vec();
    let mut bytes = fs::read(&data_pack).unwrap();
    bytes[data.offset as usize..][..data.sealed_len as usize].copy_from_slice(&tree_box);
    fs::write(&data_pack, bytes).unwrap();

    let repo = repo.reopen();
    let error = restore_latest(&repo).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    let options = cairn::CheckOptions { read_data: cairn::ReadData::All };
    let report = repo.check(&options, &NoProgress, &CancelToken::new()).unwrap();
    let damaged: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.problem == cairn::Problem::DamagedBlob)
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(damaged, [data.id.to_string()]);
}
