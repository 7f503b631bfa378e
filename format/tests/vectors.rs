//! The committed test vectors (`format/vectors/`, see its README.md), checked with this crate
//! alone: every file of the vector repository frames correctly, every plaintext object
//! decodes and encodes back to the same bytes, and every decoder-level malformed input fails
//! with its class (SPEC §14). The engine's test (`tests/integration/vectors/`) checks the
//! decoded values, the decryption and the repository-level cases.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use cairn_format::FormatError;
use cairn_format::config::Config;
use cairn_format::envelope::{decode_payload, split_sealed};
use cairn_format::header::{FILE_HEADER_LEN, FileKind, decode_file_header};
use cairn_format::index::IndexFile;
use cairn_format::key::KeySlot;
use cairn_format::limits::MAX_SNAPSHOT_LEN;
use cairn_format::pack::{PACK_TRAILER_LEN, PackHeader, decode_trailer};
use cairn_format::snapshot::Snapshot;
use cairn_format::tree::Tree;
use cairn_format::wire::Reader;
use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn manifest(name: &str) -> Vec<Value> {
    let bytes = std::fs::read(vectors().join(name)).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap().as_array().unwrap().clone()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Decodes `bytes` with the named decoder; on success, checks the encoding round-trips.
fn decode(decoder: &str, bytes: &[u8], header_offset: Option<u64>) -> Result<(), FormatError> {
    match decoder {
        "config" => {
            let (config, signed, _) = Config::decode(bytes)?;
            assert_eq!(config.encode_unsigned()?, signed);
        }
        "key_slot" => assert_eq!(KeySlot::decode(bytes)?.0.encode()?, bytes),
        "tree" => assert_eq!(Tree::decode(bytes)?.encode()?, bytes),
        "index" => assert_eq!(IndexFile::decode(bytes)?.encode()?, bytes),
        "snapshot" => assert_eq!(Snapshot::decode(bytes)?.encode()?, bytes),
        "pack_header" => assert_eq!(PackHeader::decode(bytes, header_offset.unwrap())?.encode()?, bytes),
        "payload" => {
            decode_payload(bytes, MAX_SNAPSHOT_LEN)?.decompress()?;
        }
        "file_header:index" => decode_file_header(&mut Reader::new(bytes), FileKind::Index)?,
        other => panic!("unknown decoder {other}"),
    }
    Ok(())
}

fn class(error: &FormatError) -> &'static str {
    match error {
        FormatError::UnsupportedVersion { .. } | FormatError::Unsupported { .. } => "unsupported",
        _ => "format",
    }
}

/// Every file of the vector repository has a valid file header of its kind and a sealed part
/// of the right shape; packs end in a trailer that points at their sealed header.
#[test]
fn repository_files_frame_correctly() {
    let repo = vectors().join("repo");
    let config = std::fs::read(repo.join("config")).unwrap();
    decode("config", &config, None).unwrap();
    let mut counts = [0usize; 4];
    for path in files_under(&repo) {
        let bytes = std::fs::read(&path).unwrap();
        let dir = path.parent().unwrap().strip_prefix(&repo).unwrap().to_str().unwrap().to_string();
        let (kind, slot) = match dir.split('/').next().unwrap() {
            "keys" => (FileKind::Key, 0),
            "data" => (FileKind::Pack, 1),
            "index" => (FileKind::Index, 2),
            "snapshots" => (FileKind::Snapshot, 3),
            _ => continue,
        };
        counts[slot] += 1;
        decode_file_header(&mut Reader::new(&bytes), kind).unwrap();
        match kind {
            FileKind::Key => decode("key_slot", &bytes, None).unwrap(),
            FileKind::Pack => {
                let len = bytes.len() as u64;
                let (offset, sealed_len) =
                    decode_trailer(&bytes[bytes.len() - PACK_TRAILER_LEN..], len).unwrap();
                let start = usize::try_from(offset).unwrap();
                split_sealed(&bytes[start..start + sealed_len as usize], "pack.header").unwrap();
            }
            _ => {
                split_sealed(&bytes[FILE_HEADER_LEN..], "file").unwrap();
            }
        }
    }
    assert!(counts.iter().all(|&n| n > 0), "keys, packs, index files, snapshots: {counts:?}");
}

#[test]
fn plaintext_objects_decode_and_encode_back() {
    let objects = manifest("objects.json");
    assert!(objects.len() >= 8);
    for object in objects {
        let file = object["file"].as_str().unwrap();
        let bytes = std::fs::read(vectors().join(file)).unwrap();
        let decoder = object["decoder"].as_str().unwrap();
        decode(decoder, &bytes, object["header_offset"].as_u64()).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn malformed_inputs_fail_with_their_class() {
    let cases = manifest("malformed.json");
    let mut checked = 0;
    for case in cases.iter().filter(|c| c["decoder"] != "repository") {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(vectors().join(case["file"].as_str().unwrap())).unwrap();
        let error = decode(case["decoder"].as_str().unwrap(), &bytes, case["header_offset"].as_u64())
            .expect_err(name);
        assert_eq!(class(&error), case["class"], "{name}: {error}");
        checked += 1;
    }
    assert!(checked >= 20, "{checked} decoder-level cases");
}
