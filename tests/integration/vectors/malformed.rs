//! Malformed inputs and the error class each must get (SPEC §14): made from the vector
//! repository by small, named mutations. Decoder-level cases are checked by `cairn-format`'s
//! own test (`format/tests/vectors.rs`); repository-level cases, which need keys, here.

use std::path::Path;

use cairn::format::FormatError;
use cairn::format::id::{ObjectId, PackId, SnapshotId};
use cairn::format::tree::Tree;
use cairn::{Damage, Error, Repository, internals};
use serde_json::{Value, json};

use super::view::{Object, file_ids, pack_path};

/// One malformed input.
pub struct Case {
    pub name: String,
    /// A `cairn-format` decoder, or `repository` for a file placed in a copy of the vector
    /// repository and read with `operation`.
    pub decoder: String,
    pub class: &'static str,
    pub why: &'static str,
    pub bytes: Vec<u8>,
    pub header_offset: Option<u64>,
    /// Repository-level cases: the file the malformed one replaces, where it is stored,
    /// and the operation that reads it.
    pub replaces: Option<String>,
    pub stored_as: Option<String>,
    pub operation: Option<&'static str>,
}

impl Case {
    fn decoder(name: &str, decoder: &str, class: &'static str, why: &'static str, bytes: Vec<u8>) -> Case {
        Case {
            name: name.into(),
            decoder: decoder.into(),
            class,
            why,
            bytes,
            header_offset: None,
            replaces: None,
            stored_as: None,
            operation: None,
        }
    }

    fn repository(
        name: &str,
        operation: &'static str,
        class: &'static str,
        why: &'static str,
        replaces: Option<String>,
        dir: &str,
        bytes: Vec<u8>,
    ) -> Case {
        let stored_as = match replaces.as_deref() {
            Some(path) if why.contains("in place") => path.to_string(),
            _ => format!("{dir}/{}", blake3::hash(&bytes).to_hex()),
        };
        Case {
            name: name.into(),
            decoder: "repository".into(),
            class,
            why,
            bytes,
            header_offset: None,
            replaces,
            stored_as: Some(stored_as),
            operation: Some(operation),
        }
    }

    pub fn manifest_entry(&self) -> Value {
        let mut entry = json!({
            "name": self.name, "file": format!("malformed/{}", self.name), "decoder": self.decoder,
            "class": self.class, "why": self.why,
        });
        let fields = [
            ("header_offset", self.header_offset.map(Value::from)),
            ("replaces", self.replaces.clone().map(Value::from)),
            ("stored_as", self.stored_as.clone().map(Value::from)),
            ("operation", self.operation.map(Value::from)),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                entry[key] = value;
            }
        }
        entry
    }
}

fn with(bytes: &[u8], offset: usize, value: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[offset..offset + value.len()].copy_from_slice(value);
    out
}

fn flipped(bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[offset] ^= 0x01;
    out
}

fn find<'a>(objects: &'a [Object], decoder: &str, min_len: usize) -> &'a Object {
    objects.iter().find(|o| o.decoder == decoder && o.body.len() >= min_len).expect("an object of that kind")
}

/// A zstd frame of `len` zeros, compressed as a stream.
fn zeros_frame(len: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..len / zeros.len() {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

fn payload(codec: u8, raw_len: u32, body: &[u8]) -> Vec<u8> {
    [&[codec][..], &raw_len.to_le_bytes(), body].concat()
}

/// Cases for the decoders alone.
#[allow(clippy::too_many_lines)] // a table of cases
fn decoder_cases(repo_dir: &Path, objects: &[Object]) -> Vec<Case> {
    let config = std::fs::read(repo_dir.join("config")).unwrap();
    let key_id = file_ids(repo_dir, "keys")[0];
    let key = std::fs::read(repo_dir.join("keys").join(key_id.to_string())).unwrap();
    let tree = &objects
        .iter()
        .find(|o| o.decoder == "tree" && Tree::decode(&o.body).unwrap().nodes.len() >= 2)
        .expect("a tree of several entries (the vector source's app/)")
        .body;
    let nodes = Tree::decode(tree).unwrap().nodes;
    let single = |i: usize| Tree { nodes: vec![nodes[i].clone()] }.encode().unwrap()[4..].to_vec();
    let unsorted = [&2u32.to_le_bytes()[..], &single(1), &single(0)].concat();
    let first_name_len = usize::from(u16::from_le_bytes([tree[4], tree[5]]));
    let snapshot = &find(objects, "snapshot", 0).body;
    let index = &find(objects, "index", 0).body;
    let supersedes = u32::from_le_bytes(index[..4].try_into().unwrap()) as usize;
    let first_blob_type = 4 + 32 * supersedes + 4 + 40;
    let pack_header = find(objects, "pack_header", 0);
    let index_file =
        std::fs::read(repo_dir.join("index").join(file_ids(repo_dir, "index")[0].to_string())).unwrap();
    let bomb = zeros_frame(64 << 20);
    let small = zstd::bulk::compress(&[5u8; 4096], 3).unwrap();

    let mut cases = vec![
        Case::decoder(
            "config-bad-magic",
            "config",
            "format",
            "first magic byte altered",
            flipped(&config, 0),
        ),
        Case::decoder(
            "config-version-2",
            "config",
            "unsupported",
            "file header version 2",
            with(&config, 7, &[2]),
        ),
        Case::decoder(
            "config-truncated",
            "config",
            "format",
            "last byte missing",
            config[..config.len() - 1].to_vec(),
        ),
        Case::decoder(
            "config-trailing-byte",
            "config",
            "format",
            "one byte after the MAC",
            [&config[..], &[0]].concat(),
        ),
        Case::decoder(
            "config-unknown-chunker",
            "config",
            "unsupported",
            "chunker.algorithm 2",
            with(&config, 40, &[2]),
        ),
        Case::decoder(
            "config-avg-not-power-of-two",
            "config",
            "format",
            "chunker.avg_len 3000",
            with(&config, 45, &3000u32.to_le_bytes()),
        ),
        Case::decoder("key-unknown-kdf", "key_slot", "unsupported", "kdf 9", with(&key, 40, &[9])),
        Case::decoder(
            "key-kdf-memory-4tib",
            "key_slot",
            "format",
            "Argon2id asking for 4 TiB of memory",
            with(&key, 41, &u32::MAX.to_le_bytes()),
        ),
        Case::decoder(
            "key-truncated",
            "key_slot",
            "format",
            "last byte missing",
            key[..key.len() - 1].to_vec(),
        ),
        Case::decoder(
            "tree-count-past-buffer",
            "tree",
            "format",
            "node_count 2^22 with far fewer bytes left",
            with(tree, 0, &(1u32 << 22).to_le_bytes()),
        ),
        Case::decoder(
            "tree-unknown-node-kind",
            "tree",
            "unsupported",
            "first node of kind 9",
            with(tree, 6 + first_name_len, &[9]),
        ),
        Case::decoder("tree-unsorted", "tree", "format", "two nodes out of name order", unsorted),
        Case::decoder(
            "tree-trailing-byte",
            "tree",
            "format",
            "one byte after the last node",
            [&tree[..], &[0]].concat(),
        ),
        Case::decoder(
            "snapshot-has-parent-2",
            "snapshot",
            "format",
            "has_parent 2",
            with(snapshot, 44, &[2]),
        ),
        Case::decoder(
            "snapshot-truncated",
            "snapshot",
            "format",
            "last byte missing",
            snapshot[..snapshot.len() - 1].to_vec(),
        ),
        Case::decoder(
            "index-unknown-blob-type",
            "index",
            "unsupported",
            "first entry's blob_type 7",
            with(index, first_blob_type, &[7]),
        ),
        Case::decoder("payload-unknown-codec", "payload", "unsupported", "codec 7", payload(7, 0, b"")),
        Case::decoder(
            "payload-zstd-bomb",
            "payload",
            "format",
            "a zstd frame of 64 MiB of zeros in a payload of raw_len 1 MiB",
            payload(1, 1 << 20, &bomb),
        ),
        Case::decoder(
            "payload-two-frames",
            "payload",
            "format",
            "two zstd frames",
            payload(1, 8192, &[&small[..], &small].concat()),
        ),
        Case::decoder(
            "payload-raw-len-too-large",
            "payload",
            "format",
            "raw_len 2^32-1, above every maximum",
            payload(1, u32::MAX, &small),
        ),
        Case::decoder(
            "index-file-version-2",
            "file_header:index",
            "unsupported",
            "index file header version 2",
            with(&index_file, 7, &[2]),
        ),
    ];
    let mut no_entries = Case::decoder(
        "pack-header-no-entries",
        "pack_header",
        "format",
        "entry_count 0",
        with(&pack_header.body, 0, &0u32.to_le_bytes()),
    );
    no_entries.header_offset = pack_header.header_offset;
    cases.push(no_entries);
    cases
}

/// Cases that need the repository's keys: files altered, replaced or brought in.
#[allow(clippy::too_many_lines)] // a table of cases
fn repository_cases(repo_dir: &Path, repo: &Repository, foreign_snapshot: Vec<u8>) -> Vec<Case> {
    let read = |path: &str| std::fs::read(repo_dir.join(path)).unwrap();
    let index_path = format!("index/{}", file_ids(repo_dir, "index")[0]);
    let index = read(&index_path);
    let snapshot_path = format!("snapshots/{}", file_ids(repo_dir, "snapshots")[0]);
    let key_path = format!("keys/{}", file_ids(repo_dir, "keys")[0]);
    let key = read(&key_path);
    let config = read("config");
    let data_pack = file_ids(repo_dir, "data")
        .into_iter()
        .find(|id| {
            let (body, offset) = internals::pack_header_body(repo, &PackId(*id)).unwrap();
            let header = cairn::format::pack::PackHeader::decode(&body, offset).unwrap();
            header.entries[0].blob_type == cairn::format::envelope::BlobType::Data
        })
        .unwrap();
    let pack_rel = pack_path(Path::new(""), &data_pack).to_string_lossy().into_owned();
    let pack = read(&pack_rel);
    let (_, header_offset) = internals::pack_header_body(repo, &PackId(data_pack)).unwrap();
    let header_offset = usize::try_from(header_offset).unwrap();
    let some = |p: &str| Some(p.to_string());
    vec![
        Case::repository(
            "index-altered-and-renamed",
            "index",
            "auth",
            "one ciphertext bit flipped, stored under the new content's hash",
            some(&index_path),
            "index",
            flipped(&index, index.len() - 20),
        ),
        Case::repository(
            "index-altered-in-place",
            "index",
            "auth",
            "one ciphertext bit flipped in place: the file no longer hashes to its name",
            some(&index_path),
            "index",
            flipped(&index, index.len() - 20),
        ),
        Case::repository(
            "index-empty",
            "index",
            "format",
            "a zero-length index file",
            None,
            "index",
            Vec::new(),
        ),
        Case::repository(
            "snapshot-from-another-repository",
            "snapshot",
            "auth",
            "a valid snapshot file of another repository (same password)",
            None,
            "snapshots",
            foreign_snapshot,
        ),
        Case::repository(
            "snapshot-version-2",
            "snapshot",
            "unsupported",
            "file header version 2, stored under its hash",
            some(&snapshot_path),
            "snapshots",
            with(&read(&snapshot_path), 7, &[2]),
        ),
        Case::repository(
            "pack-blob-altered",
            "restore", // of every snapshot
            "auth",
            "one bit of the first data blob's ciphertext flipped in place",
            some(&pack_rel),
            "data",
            flipped(&pack, 8 + 30),
        ),
        Case::repository(
            "pack-header-altered",
            "pack_header",
            "auth",
            "one bit of the sealed pack header flipped in place",
            some(&pack_rel),
            "data",
            flipped(&pack, header_offset + 30),
        ),
        Case::repository(
            "pack-truncated",
            "pack_header",
            "format",
            "the last 3 bytes cut off in place",
            some(&pack_rel),
            "data",
            pack[..pack.len() - 3].to_vec(),
        ),
        Case::repository(
            "key-altered-and-renamed",
            "open",
            "auth",
            "one bit of the only slot's wrapped key flipped, stored under its hash",
            some(&key_path),
            "keys",
            flipped(&key, key.len() - 20),
        ),
        Case::repository(
            "config-mac-altered",
            "open",
            "auth",
            "one bit of the config MAC flipped in place",
            some("config"),
            "",
            flipped(&config, config.len() - 1),
        ),
        Case::repository(
            "config-version-2",
            "open",
            "unsupported",
            "config file header version 2, in place",
            some("config"),
            "",
            with(&config, 7, &[2]),
        ),
    ]
}

/// Every malformed case, made from the vector repository.
pub fn cases(repo_dir: &Path, repo: &Repository, objects: &[Object], foreign_snapshot: Vec<u8>) -> Vec<Case> {
    let mut cases = decoder_cases(repo_dir, objects);
    cases.extend(repository_cases(repo_dir, repo, foreign_snapshot));
    cases
}

/// The error class of SPEC §14 that an error of the library belongs to.
pub fn class_of(error: &Error) -> &'static str {
    let of_format = |e: &FormatError| match e {
        FormatError::UnsupportedVersion { .. } | FormatError::Unsupported { .. } => "unsupported",
        _ => "format",
    };
    match error {
        Error::WrongPassword { .. } => "auth",
        Error::Incompatible { .. } => "unsupported",
        Error::Corrupt { damage, .. } => match damage {
            Damage::Decryption | Damage::Checksum => "auth",
            Damage::Format(e) => of_format(e),
            Damage::Truncated | Damage::TooLarge | Damage::Rebuild(_) => "format",
            Damage::Missing => "missing",
        },
        _ => "other",
    }
}

/// Places a repository-level case's file in `copy` (a copy of the vector repository) and
/// runs its operation; returns the error the operation failed with.
pub fn run_repository_case(copy: &Path, entry: &Value, bytes: &[u8], password: &str) -> Error {
    if let Some(replaces) = entry["replaces"].as_str() {
        std::fs::remove_file(copy.join(replaces)).unwrap();
    }
    let stored_as = copy.join(entry["stored_as"].as_str().unwrap());
    std::fs::create_dir_all(stored_as.parent().unwrap()).unwrap();
    std::fs::write(&stored_as, bytes).unwrap();
    let id = ObjectId::from_hex(stored_as.file_name().unwrap().to_str().unwrap());
    let open = || {
        let storage = cairn::storage::open_location(copy.to_str().unwrap()).unwrap();
        Repository::open(storage, &cairn::Credentials::Password(cairn::Password::from(password)))
    };
    let result = match entry["operation"].as_str().unwrap() {
        "open" => open().map(|_| ()),
        "index" => open().unwrap().index_file(&id.unwrap().to_string()).map(|_| ()),
        "snapshot" => open().unwrap().load_snapshot(&SnapshotId(id.unwrap())).map(|_| ()),
        "pack_header" => open().unwrap().pack_header(&id.unwrap().to_string()).map(|_| ()),
        "restore" => {
            let repo = open().unwrap();
            repo.snapshots().unwrap().snapshots.iter().try_for_each(|snapshot| {
                let target = tempfile::TempDir::new().unwrap();
                let options = cairn::RestoreOptions::default();
                repo.restore(
                    snapshot,
                    target.path(),
                    &options,
                    &cairn::NoProgress,
                    &cairn::CancelToken::new(),
                )
                .map(|_| ())
            })
        }
        other => panic!("unknown operation {other}"),
    };
    result.expect_err("a malformed file must be rejected")
}
