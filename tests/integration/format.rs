//! Properties of what a backup writes, checked through the public API and the raw files:
//! pack names, the index's agreement with pack headers, and progress reports.

use std::collections::BTreeSet;
use std::sync::Mutex;

use cairn::{BackupOptions, CancelToken, Progress, ProgressReport};
use tempfile::TempDir;

use crate::harness::{TestRepo, random_bytes, write};

fn pack_files(repo: &TestRepo) -> Vec<std::path::PathBuf> {
    let mut packs = Vec::new();
    for dir in std::fs::read_dir(repo.path().join("data")).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            packs.push(file.unwrap().path());
        }
    }
    packs
}

/// Every pack is named by the BLAKE3 of its bytes, and the pack headers alone list exactly
/// what the index says: the index can be rebuilt from the packs.
#[test]
fn packs_are_content_named_and_their_headers_rebuild_the_index() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    for i in 0..6 {
        write(&src.path().join(format!("data/d{i}/f.bin")), &random_bytes(3 << 20, i));
    }
    repo.backup(&[&src.path().join("data")]);
    let mut from_headers = BTreeSet::new();
    for pack in pack_files(&repo) {
        let name = pack.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&pack).unwrap();
        assert_eq!(blake3::hash(&bytes).to_hex().as_str(), name, "pack named by its hash");
        let (id, header) = repo.repo.pack_header(&name).unwrap();
        for entry in header.entries {
            from_headers.insert((id.to_string(), entry.blob_type, entry.id, entry.offset, entry.sealed_len));
        }
    }
    let mut from_index = BTreeSet::new();
    for file in std::fs::read_dir(repo.path().join("index")).unwrap() {
        let name = file.unwrap().file_name().into_string().unwrap();
        let (_, index) = repo.repo.index_file(&name).unwrap();
        for pack in index.packs {
            for blob in pack.blobs {
                from_index.insert((
                    pack.id.to_string(),
                    blob.blob_type,
                    blob.id,
                    blob.offset,
                    blob.sealed_len,
                ));
            }
        }
    }
    assert!(!from_index.is_empty());
    assert_eq!(from_headers, from_index);
}

/// Data and tree blobs never share a pack.
#[test]
fn data_and_tree_blobs_are_in_separate_packs() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    write(&src.path().join("data/a/f"), &random_bytes(100_000, 1));
    write(&src.path().join("data/b/g"), &random_bytes(100_000, 2));
    repo.backup(&[&src.path().join("data")]);
    for pack in pack_files(&repo) {
        let (_, header) = repo.repo.pack_header(pack.file_name().unwrap().to_str().unwrap()).unwrap();
        let types: BTreeSet<_> = header.entries.iter().map(|e| e.blob_type).collect();
        assert_eq!(types.len(), 1, "{types:?}");
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<ProgressReport>>);

impl Progress for Recorder {
    fn report(&self, report: &ProgressReport) {
        self.0.lock().unwrap().push(report.clone());
    }
}

/// Progress reports arrive, totals become final, and the last report accounts for every file
/// and byte.
#[test]
fn progress_reports_reach_the_totals() {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    let root = src.path().join("p");
    for i in 0..8 {
        write(&root.join(format!("{i}.bin")), &random_bytes(2 << 20, i));
    }
    let recorder = Recorder::default();
    repo.repo
        .backup(std::slice::from_ref(&root), &BackupOptions::default(), &recorder, &CancelToken::new())
        .unwrap();
    let reports = recorder.0.into_inner().unwrap();
    let last = reports.last().expect("at least the final report");
    assert!(last.totals_final);
    assert_eq!((last.files_done, last.files_total), (8, 8));
    assert_eq!((last.bytes_done, last.bytes_total), (16 << 20, 16 << 20));
    assert!(reports.windows(2).all(|w| w[0].bytes_done <= w[1].bytes_done), "progress never goes back");
}

/// Every file of the repository, with its path relative to the root.
fn repository_files(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files
}

/// Chunk ids are keyed: nobody holding the repository can confirm that it stores a file they
/// know by its plain BLAKE3 or SHA-256, neither in file contents nor in file names, and no
/// plaintext is stored in the clear.
#[test]
fn plain_hashes_and_plaintext_of_backed_up_files_appear_nowhere() {
    use sha2::Digest as _;
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    // One chunk each (below the minimum chunk length): a chunk's plain hash is the file's.
    let random = random_bytes(100 << 10, 77);
    let mut text: Vec<u8> =
        (0..4000).flat_map(|i| format!("row {i}: the same words again\n").into_bytes()).collect();
    text.truncate(100 << 10);
    write(&src.path().join("photo.bin"), &random);
    write(&src.path().join("notes.txt"), &text);
    repo.backup(&[src.path()]);

    let mut needles: Vec<Vec<u8>> = Vec::new();
    for content in [&random, &text] {
        for digest in [blake3::hash(content).as_bytes().to_vec(), sha2::Sha256::digest(content).to_vec()] {
            let digest: [u8; 32] = digest.try_into().unwrap();
            needles.push(cairn_format::id::ObjectId(digest).to_string().into_bytes());
            needles.push(digest.to_vec());
        }
        needles.push(content[4096..4160].to_vec());
    }
    // Behind the encryption, too: blob ids are keyed hashes, not the plain ones.
    let chunk_id_key =
        blake3::derive_key("cairn 2026-11-23 v1 chunk id", repo.repo.master_key().expose_bytes());
    let mut blob_ids = BTreeSet::new();
    for pack in pack_files(&repo) {
        let (_, header) = repo.repo.pack_header(pack.file_name().unwrap().to_str().unwrap()).unwrap();
        blob_ids.extend(header.entries.iter().map(|entry| entry.id.0));
    }
    for content in [&random, &text] {
        assert!(blob_ids.contains(blake3::keyed_hash(&chunk_id_key, content).as_bytes()));
        assert!(!blob_ids.contains(blake3::hash(content).as_bytes()));
    }
    let files = repository_files(repo.path());
    assert!(files.len() > 4, "the backup wrote packs, index and snapshot");
    for (name, bytes) in &files {
        for needle in &needles {
            assert!(
                !name.as_bytes().windows(needle.len()).any(|w| w == needle.as_slice()),
                "{name} names the file"
            );
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{name} holds a plain hash or plaintext"
            );
        }
    }
}
