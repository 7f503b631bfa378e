//! One contract for every storage backend: the promises of `cairn::storage::Storage` that
//! the engine relies on, checked against the local file system, S3 (moto) and WebDAV
//! (rclone) on loopback; `fake_drive.rs` runs the same contract against the fake Drive.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn::storage::{Storage, StorageErrorKind};
use tempfile::TempDir;

use crate::harness::random_bytes;
use crate::servers::{Server, remote};

/// Files created to check that listings page: more than S3's and Drive's 1000 per page.
const MANY: usize = 1010;

/// Checks every promise of the storage contract on an empty repository location.
pub fn check_contract(storage: &dyn Storage) {
    create_is_exclusive_and_confirmed(storage);
    missing_objects_are_not_found(storage);
    spooled_files_and_ranged_reads(storage);
    delete_is_idempotent(storage);
    listings_are_complete_past_one_page(storage);
}

fn kind<T: std::fmt::Debug>(result: Result<T, cairn::storage::StorageError>) -> StorageErrorKind {
    result.expect_err("expected a failure").kind
}

fn create_is_exclusive_and_confirmed(storage: &dyn Storage) {
    storage.create("keys/k1", b"first".to_vec()).unwrap();
    assert_eq!(kind(storage.create("keys/k1", b"second".to_vec())), StorageErrorKind::AlreadyExists);
    assert_eq!(storage.read("keys/k1", 100).unwrap(), b"first", "create never overwrites");
    assert_eq!(storage.len("keys/k1").unwrap(), 5);
    assert_eq!(kind(storage.read("keys/k1", 4)), StorageErrorKind::TooLarge, "max_len is enforced");
    storage.create("keys/empty", Vec::new()).unwrap();
    assert_eq!(storage.read("keys/empty", 0).unwrap(), b"");
}

fn missing_objects_are_not_found(storage: &dyn Storage) {
    assert_eq!(kind(storage.read("snapshots/none", 100)), StorageErrorKind::NotFound);
    assert_eq!(kind(storage.len("snapshots/none")), StorageErrorKind::NotFound);
    assert_eq!(kind(storage.read_range("snapshots/none", 0, 1)), StorageErrorKind::NotFound);
    assert!(storage.list("nothing-here").unwrap().is_empty(), "a missing directory lists empty");
}

fn spooled_files_and_ranged_reads(storage: &dyn Storage) {
    let content = random_bytes(3 << 20, 77);
    let spool = storage.spool_dir().join(format!("contract-{}", std::process::id()));
    std::fs::create_dir_all(storage.spool_dir()).unwrap();
    std::fs::write(&spool, &content).unwrap();
    storage.create_from_spool("data/ab/abcd", &spool).unwrap();
    assert!(!spool.exists(), "the spool file is consumed");
    assert_eq!(storage.len("data/ab/abcd").unwrap(), content.len() as u64);
    assert_eq!(storage.read_range("data/ab/abcd", 1000, 5000).unwrap(), &content[1000..6000]);
    let tail = content.len() as u64 - 8;
    assert_eq!(storage.read_range("data/ab/abcd", tail, 8).unwrap(), &content[content.len() - 8..]);
    assert!(storage.read_range("data/ab/abcd", tail, 9).is_err(), "a read past the end is never short");
    std::fs::write(&spool, b"other").unwrap();
    assert_eq!(kind(storage.create_from_spool("data/ab/abcd", &spool)), StorageErrorKind::AlreadyExists);
    assert_eq!(storage.read("data/ab/abcd", 4 << 20).unwrap(), content, "never overwritten");
}

fn delete_is_idempotent(storage: &dyn Storage) {
    storage.create("locks/l1", b"lock".to_vec()).unwrap();
    storage.remove("locks/l1").unwrap();
    storage.remove("locks/l1").unwrap();
    assert_eq!(kind(storage.len("locks/l1")), StorageErrorKind::NotFound);
    storage.remove("locks/never-existed").unwrap();
}

fn listings_are_complete_past_one_page(storage: &dyn Storage) {
    let names: Vec<String> = (0..MANY).map(|i| format!("index/{i:04x}")).collect();
    // Four writers at once: remote round trips dominate.
    std::thread::scope(|scope| {
        for part in names.chunks(MANY.div_ceil(4)) {
            scope.spawn(move || {
                for (i, name) in part.iter().enumerate() {
                    storage.create(name, vec![b'x'; i % 7 + 1]).unwrap();
                }
            });
        }
    });
    let listed: BTreeMap<String, u64> =
        storage.list("index").unwrap().into_iter().map(|meta| (meta.path, meta.len)).collect();
    assert_eq!(listed.len(), MANY, "every file, each once");
    for name in names.iter().step_by(101) {
        assert_eq!(listed[name], storage.len(name).unwrap(), "{name}: listed length equals stat length");
    }
    let data: Vec<_> = storage.list("data").unwrap().into_iter().map(|m| m.path).collect();
    assert_eq!(data, ["data/ab/abcd"], "nested directories are listed recursively, files only");
}

#[test]
fn contract_local() {
    let dir = TempDir::new().unwrap();
    let storage = cairn::storage::open_location(dir.path().to_str().unwrap()).unwrap();
    check_contract(storage.as_ref());
}

fn contract_remote(server: Server) {
    let Some(remote) = remote(server) else { return };
    let spool = TempDir::new().unwrap();
    let options = cairn::storage::StorageOptions {
        spool_dir: Some(spool.path().to_path_buf()),
        ..remote.options.clone()
    };
    let storage: Arc<dyn Storage> = cairn::storage::open(&remote.location, &options).unwrap();
    check_contract(storage.as_ref());
}

#[test]
fn contract_s3() {
    contract_remote(Server::S3);
}

#[test]
fn contract_webdav() {
    contract_remote(Server::Webdav);
}

/// Wrong credentials fail at once, as an authentication error, not after retries.
#[test]
fn webdav_wrong_password_is_an_auth_error() {
    let Some(mut remote) = remote(Server::Webdav) else { return };
    remote.options.webdav.password = Some(cairn::storage::Secret::new("wrong"));
    let storage = cairn::storage::open(&remote.location, &remote.options).unwrap();
    let started = std::time::Instant::now();
    let error = storage.create("config", b"x".to_vec()).unwrap_err();
    assert_eq!(error.kind, StorageErrorKind::Unauthorized, "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "not retried");
    assert!(!error.to_string().contains("wrong"), "the password is never shown: {error}");
    let repo_error = cairn::Error::from(error);
    assert_eq!(repo_error.kind(), cairn::ErrorKind::Auth);
}
