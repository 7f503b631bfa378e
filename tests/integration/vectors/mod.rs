//! The committed test vectors under `format/vectors/` (described in its README.md): a small
//! repository with a known password, the decoded view of every object in it, the plaintext
//! bodies `cairn-format` decodes, and malformed inputs with their error class (SPEC §14).
//!
//! `CAIRN_BLESS_VECTORS=1 cargo test vectors` writes them anew (a new repository: keys and
//! nonces are random) together with the fuzz seed corpora under `fuzz/seeds/`;
//! `CAIRN_BLESS_VECTORS=seeds` writes only the seeds made from fixed values. Re-bless only
//! for a deliberate format change: the committed repository is the compatibility contract,
//! and every later cairn must keep reading it exactly as recorded.

mod malformed;
mod seeds;
mod view;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cairn::format::config::ChunkerParams;
use cairn::{BackupOptions, CancelToken, InitOptions, NoProgress, Password, Repository, RestoreOptions};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{FAST_KDF, copy_dir, random_bytes, write};

const PASSWORD: &str = "cairn test vectors";

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/vectors")
}

fn open(dir: &Path) -> Repository {
    let storage = cairn::storage::open_location(dir.to_str().unwrap()).unwrap();
    Repository::open(storage, &cairn::Credentials::Password(Password::from(PASSWORD))).unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
}

/// The source the vector snapshots are taken of: a file split into several chunks, a small
/// text, an empty file, a symlink and a nested directory, with fixed modification times.
fn vector_source(root: &Path) {
    let app = root.join("app");
    write(&app.join("notes.txt"), b"cairn test vectors: first version\n");
    write(&app.join("data.bin"), &random_bytes(40 << 10, 2026));
    write(&app.join("empty"), b"");
    write(&app.join("sub/deep/readme.md"), &b"a compressible line of text\n".repeat(200));
    std::os::unix::fs::symlink("notes.txt", app.join("link")).unwrap();
    let mtime = SystemTime::UNIX_EPOCH + Duration::new(1_767_323_045, 123_456_789);
    for file in ["notes.txt", "data.bin", "empty", "sub/deep/readme.md"] {
        std::fs::File::options().write(true).open(app.join(file)).unwrap().set_modified(mtime).unwrap();
    }
}

/// Backs `root/app` up twice, changing a file in between, so the second snapshot has a parent
/// and shares most trees and chunks with it.
fn take_snapshots(repo: &Repository, root: &Path) {
    let options = BackupOptions {
        host: Some("vectors".into()),
        tags: vec!["vectors".into()],
        meta: vec![("app.version".into(), "1.0".into())],
        ..BackupOptions::default()
    };
    let sources = [root.join("app")];
    repo.backup(&sources, &options, &NoProgress, &CancelToken::new()).unwrap();
    write(&root.join("app/notes.txt"), b"cairn test vectors: second version\n");
    repo.backup(&sources, &options, &NoProgress, &CancelToken::new()).unwrap();
}

fn init(dir: &Path) -> Repository {
    let options = InitOptions {
        kdf: FAST_KDF,
        chunker: ChunkerParams { min_len: 1024, avg_len: 4096, max_len: 16384 },
        compression_level: 3,
        data_pack_len: 64 << 10,
        tree_pack_len: 64 << 10,
    };
    let storage = cairn::storage::open_location(dir.to_str().unwrap()).unwrap();
    Repository::init(storage, &Password::from(PASSWORD), &options).unwrap()
}

/// Writes every vector file anew.
fn bless() {
    let dir = vectors_dir();
    for generated in ["repo", "objects", "malformed"] {
        let _ = std::fs::remove_dir_all(dir.join(generated));
    }
    let source = TempDir::new().unwrap();
    vector_source(source.path());
    let repo_dir = dir.join("repo");
    let repo = init(&repo_dir);
    take_snapshots(&repo, source.path());
    let foreign_dir = TempDir::new().unwrap();
    let foreign = init(foreign_dir.path());
    take_snapshots(&foreign, source.path());
    let foreign_id = view::file_ids(foreign_dir.path(), "snapshots")[0];
    let foreign_snapshot =
        std::fs::read(foreign_dir.path().join("snapshots").join(foreign_id.to_string())).unwrap();

    write_json(&dir.join("expected.json"), &view::view(&repo_dir, &repo, PASSWORD));
    let objects = view::objects(&repo_dir, &repo);
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    let mut manifest = Vec::new();
    for object in &objects {
        std::fs::write(dir.join("objects").join(&object.file), &object.body).unwrap();
        manifest.push(json!({"file": format!("objects/{}", object.file), "decoder": object.decoder,
                             "header_offset": object.header_offset}));
    }
    write_json(&dir.join("objects.json"), &Value::from(manifest));
    let cases = malformed::cases(&repo_dir, &repo, &objects, foreign_snapshot);
    std::fs::create_dir_all(dir.join("malformed")).unwrap();
    for case in &cases {
        std::fs::write(dir.join("malformed").join(&case.name), &case.bytes).unwrap();
    }
    write_json(&dir.join("malformed.json"), &cases.iter().map(malformed::Case::manifest_entry).collect());
    seeds::write(&repo_dir, &objects, &cases);
}

/// Every regular file of every snapshot restores to the recorded length and hash.
fn check_restores(repo: &Repository, expected: &Value) {
    let mut checked = 0;
    for info in repo.snapshots().unwrap().snapshots {
        let target = TempDir::new().unwrap();
        let options = RestoreOptions { verify: true, ..RestoreOptions::default() };
        repo.restore(&info, target.path(), &options, &NoProgress, &CancelToken::new()).unwrap();
        for file in expected["files"].as_array().unwrap() {
            if file["snapshot"] != info.id.to_string() {
                continue;
            }
            let path = target.path().join(file["path"].as_str().unwrap().trim_start_matches('/'));
            let content = std::fs::read(&path).unwrap();
            assert_eq!(content.len() as u64, file["len"].as_u64().unwrap(), "{}", path.display());
            assert_eq!(blake3::hash(&content).to_hex().as_str(), file["blake3"], "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} files checked");
}

#[test]
fn committed_vectors_read_as_recorded() {
    match std::env::var("CAIRN_BLESS_VECTORS").as_deref() {
        Ok("1") => bless(),
        // Only the fuzz seeds made from fixed values (new object kinds), not the repository.
        Ok("seeds") => seeds::write_constructed(),
        _ => {}
    }
    let dir = vectors_dir();
    let copy = TempDir::new().unwrap();
    copy_dir(&dir.join("repo"), copy.path());
    let repo = open(copy.path());

    // The decoded view, part by part so a failure names the part.
    let expected = read_json(&dir.join("expected.json"));
    let actual = view::view(copy.path(), &repo, PASSWORD);
    for (part, value) in expected.as_object().unwrap() {
        assert_eq!(&actual[part], value, "format/vectors/expected.json: {part} differs");
    }
    check_restores(&repo, &expected);

    // The plaintext objects are exactly what the repository's objects decrypt to.
    let objects = view::objects(copy.path(), &repo);
    let manifest = read_json(&dir.join("objects.json"));
    assert_eq!(manifest.as_array().unwrap().len(), objects.len());
    for object in &objects {
        let committed = std::fs::read(dir.join("objects").join(&object.file)).unwrap();
        assert!(committed == object.body, "objects/{} differs from the repository's", object.file);
    }

    // Repository-level malformed inputs get their class.
    let cases = read_json(&dir.join("malformed.json"));
    let mut repository_cases = 0;
    for entry in cases.as_array().unwrap().iter().filter(|e| e["decoder"] == "repository") {
        let bytes = std::fs::read(dir.join(entry["file"].as_str().unwrap())).unwrap();
        let copy = TempDir::new().unwrap();
        copy_dir(&dir.join("repo"), copy.path());
        let error = malformed::run_repository_case(copy.path(), entry, &bytes, PASSWORD);
        assert_eq!(malformed::class_of(&error), entry["class"], "{}: {error}", entry["name"]);
        repository_cases += 1;
    }
    assert!(repository_cases >= 10);
    seeds::check_present();
}
