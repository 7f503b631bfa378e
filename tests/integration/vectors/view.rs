//! The decoded view of a repository that `format/vectors/expected.json` records: every
//! object decoded, every file's content hash, and the plaintext bodies `cairn-format` decodes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cairn::format::config::Config;
use cairn::format::envelope::BlobType;
use cairn::format::header::FileKind;
use cairn::format::id::{ObjectId, PackId, SnapshotId, TreeId};
use cairn::format::key::KeySlot;
use cairn::format::tree::{NodeKind, Tree};
use cairn::{Repository, internals};
use serde_json::{Value, json};

/// A plaintext object as `cairn-format` decodes it, and the decoder that takes it.
pub struct Object {
    pub file: String,
    pub decoder: &'static str,
    /// For a pack header: the offset of its sealed header in the pack.
    pub header_offset: Option<u64>,
    pub body: Vec<u8>,
}

/// Ids of the files in one directory of the repository (two levels for `data/`).
pub fn file_ids(repo_dir: &Path, dir: &str) -> Vec<ObjectId> {
    let mut ids = Vec::new();
    let mut dirs = vec![repo_dir.join(dir)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                ids.push(ObjectId::from_hex(path.file_name().unwrap().to_str().unwrap()).unwrap());
            }
        }
    }
    ids.sort();
    ids
}

pub fn pack_path(repo_dir: &Path, id: &ObjectId) -> PathBuf {
    let hex = id.to_string();
    repo_dir.join("data").join(&hex[..2]).join(hex)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

/// Every tree reachable from the snapshots, in id order, each with its plaintext.
fn trees(repo: &Repository, roots: &[TreeId]) -> Vec<(TreeId, Vec<u8>, Tree)> {
    let mut seen = BTreeSet::new();
    let mut pending: Vec<TreeId> = roots.to_vec();
    let mut trees = Vec::new();
    while let Some(id) = pending.pop() {
        if !seen.insert(id) {
            continue;
        }
        let body = internals::blob(repo, BlobType::Tree, &id.0).unwrap();
        let tree = Tree::decode(&body).unwrap();
        for node in &tree.nodes {
            if let NodeKind::Dir { subtree } = &node.kind {
                pending.push(*subtree);
            }
        }
        trees.push((id, body, tree));
    }
    trees.sort_by_key(|(id, _, _)| *id);
    trees
}

/// Every regular file of every snapshot: path, length and plain BLAKE3 of its content.
fn files(repo: &Repository) -> Vec<Value> {
    let mut files = Vec::new();
    for info in repo.snapshots().unwrap().snapshots {
        repo.ls(&info, "", true, &mut |entry| {
            if let NodeKind::File { chunks } = &entry.node.kind {
                let mut hasher = blake3::Hasher::new();
                for chunk in chunks {
                    hasher.update(&internals::blob(repo, BlobType::Data, &chunk.id.0).unwrap());
                }
                files.push(json!({
                    "snapshot": info.id.to_string(),
                    "path": String::from_utf8_lossy(&entry.path),
                    "len": entry.node.meta.size,
                    "blake3": hasher.finalize().to_hex().as_str(),
                }));
            }
            Ok(())
        })
        .unwrap();
    }
    files
}

/// The decoded view of the repository at `repo_dir`, opened as `repo`.
pub fn view(repo_dir: &Path, repo: &Repository, password: &str) -> Value {
    let (config, _, mac) = Config::decode(&std::fs::read(repo_dir.join("config")).unwrap()).unwrap();
    let keys: Vec<Value> = file_ids(repo_dir, "keys")
        .iter()
        .map(|id| {
            let bytes = std::fs::read(repo_dir.join("keys").join(id.to_string())).unwrap();
            let (slot, _) = KeySlot::decode(&bytes).unwrap();
            json!({"id": id, "slot": slot, "salt": hex(&slot.salt), "wrapped_key": hex(&slot.wrapped_key)})
        })
        .collect();
    let snapshots = repo.snapshots().unwrap().snapshots;
    let roots: Vec<TreeId> = snapshots.iter().map(|s| s.snapshot.tree).collect();
    let index: Vec<Value> = file_ids(repo_dir, "index")
        .iter()
        .map(|id| json!({"id": id, "index": repo.index_file(&id.to_string()).unwrap().1}))
        .collect();
    let packs: Vec<Value> = file_ids(repo_dir, "data")
        .iter()
        .map(|id| {
            let (body, header_offset) = internals::pack_header_body(repo, &PackId(*id)).unwrap();
            let header = cairn::format::pack::PackHeader::decode(&body, header_offset).unwrap();
            json!({"id": id, "len": std::fs::metadata(pack_path(repo_dir, id)).unwrap().len(),
                   "header_offset": header_offset, "header": header})
        })
        .collect();
    json!({
        "password": password,
        "master_key": hex(repo.master_key().expose_bytes()),
        "config": {"config": config, "mac": hex(&mac)},
        "keys": keys,
        "snapshots": snapshots.iter().map(|s| json!({"id": s.id, "snapshot": s.snapshot})).collect::<Vec<_>>(),
        "trees": trees(repo, &roots).iter().map(|(id, _, tree)| json!({"id": id, "tree": tree})).collect::<Vec<_>>(),
        "index_files": index,
        "packs": packs,
        "files": files(repo),
    })
}

/// The plaintext bodies of every snapshot, tree, index file and pack header.
pub fn objects(repo_dir: &Path, repo: &Repository) -> Vec<Object> {
    let mut objects = Vec::new();
    let snapshots = file_ids(repo_dir, "snapshots");
    for id in &snapshots {
        let body = internals::file_body(repo, FileKind::Snapshot, id).unwrap();
        objects.push(Object {
            file: format!("snapshot-{id}"),
            decoder: "snapshot",
            header_offset: None,
            body,
        });
    }
    let roots: Vec<TreeId> =
        snapshots.iter().map(|id| repo.load_snapshot(&SnapshotId(*id)).unwrap().tree).collect();
    for (id, body, _) in trees(repo, &roots) {
        objects.push(Object { file: format!("tree-{id}"), decoder: "tree", header_offset: None, body });
    }
    for id in file_ids(repo_dir, "index") {
        let body = internals::file_body(repo, FileKind::Index, &id).unwrap();
        objects.push(Object { file: format!("index-{id}"), decoder: "index", header_offset: None, body });
    }
    for id in file_ids(repo_dir, "data") {
        let (body, offset) = internals::pack_header_body(repo, &PackId(id)).unwrap();
        objects.push(Object {
            file: format!("pack-header-{id}"),
            decoder: "pack_header",
            header_offset: Some(offset),
            body,
        });
    }
    objects
}
