//! Every object kind survives encode → decode, and decoding arbitrary or damaged bytes returns
//! an error instead of panicking (SPEC §3.2).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used, clippy::panic)]

use cairn_format::config::{ChunkerParams, Config};
use cairn_format::envelope::{BlobType, decode_payload};
use cairn_format::id::{ChunkId, IndexId, ObjectId, PackId, SnapshotId, TreeId};
use cairn_format::index::{IndexFile, IndexPack};
use cairn_format::key::{KdfParams, KeySlot, SlotKdf};
use cairn_format::pack::{MIN_SEALED_LEN, PackEntry, PackHeader, decode_trailer};
use cairn_format::snapshot::{Snapshot, Summary};
use cairn_format::sqlite::{DatabaseInfo, Record, TableRows, Value, record_len};
use cairn_format::timestamp::Timestamp;
use cairn_format::tree::{ChunkRef, Node, NodeKind, NodeMeta, Tree};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;

fn any_id() -> impl Strategy<Value = ObjectId> {
    any::<[u8; 32]>().prop_map(ObjectId)
}

fn any_time() -> impl Strategy<Value = Timestamp> {
    (any::<i64>(), 0u32..1_000_000_000).prop_map(|(secs, nanos)| Timestamp { secs, nanos })
}

fn any_config() -> impl Strategy<Value = Config> {
    (any_id(), 6u32..=20, 0u8..=22, 16u32..=29, 16u32..=29, any::<i64>()).prop_map(
        |(repo_id, avg_log, level, data_log, tree_log, created)| {
            let avg_len = 1u32 << avg_log.max(9);
            Config {
                repo_id,
                chunker: ChunkerParams {
                    min_len: (avg_len / 4).max(64),
                    avg_len,
                    max_len: (avg_len * 4).min(16 << 20),
                },
                compression_level: level,
                data_pack_len: 1 << data_log,
                tree_pack_len: 1 << tree_log,
                created_unix_s: created,
            }
        },
    )
}

fn any_key_slot() -> impl Strategy<Value = KeySlot> {
    (any_id(), 1u32..=64, 1u32..=64, any::<[u8; 32]>(), any::<i64>(), ".{0,20}", ".{0,20}").prop_map(
        |(repo_id, time_cost, lanes, salt, created, hostname, username)| KeySlot {
            repo_id,
            kdf: if time_cost % 5 == 0 {
                SlotKdf::RecoveryCode
            } else {
                SlotKdf::Argon2id(KdfParams { memory_kib: 8 * lanes, time_cost, lanes })
            },
            salt,
            created_unix_s: created,
            hostname,
            username,
            wrapped_key: [7; 72],
        },
    )
}

fn any_blob_type() -> impl Strategy<Value = BlobType> {
    prop_oneof![Just(BlobType::Data), Just(BlobType::Tree)]
}

/// Entries that tile a pack from offset 8, as a writer produces them.
fn any_entries() -> impl Strategy<Value = Vec<PackEntry>> {
    (any_blob_type(), vec((any_id(), MIN_SEALED_LEN..100_000u32), 1..20)).prop_map(|(blob_type, blobs)| {
        let mut offset = 8u32;
        blobs
            .into_iter()
            .map(|(id, sealed_len)| {
                let entry =
                    PackEntry { blob_type, id, offset, sealed_len, raw_len: sealed_len - MIN_SEALED_LEN };
                offset += sealed_len;
                entry
            })
            .collect()
    })
}

fn any_index() -> impl Strategy<Value = IndexFile> {
    (vec(any_id(), 0..4), vec((any_id(), any_entries()), 0..6)).prop_map(|(supersedes, packs)| IndexFile {
        supersedes: supersedes.into_iter().map(IndexId).collect(),
        packs: packs
            .into_iter()
            .map(|(id, blobs)| {
                let end = blobs.last().map_or(8, |b: &PackEntry| b.end());
                IndexPack { id: PackId(id), pack_len: u32::try_from(end + 200).unwrap(), blobs }
            })
            .collect(),
    })
}

fn any_name() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>().prop_filter("no / or NUL", |b| *b != b'/' && *b != 0), 1..40)
        .prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

fn any_meta() -> impl Strategy<Value = NodeMeta> {
    (0u32..=0o7777, any::<u32>(), any::<u32>(), any_time(), any_time(), any::<u64>(), any::<u64>()).prop_map(
        |(mode, uid, gid, mtime, ctime, device, inode)| NodeMeta {
            mode,
            uid,
            gid,
            mtime,
            ctime,
            device,
            inode,
            size: 0,
        },
    )
}

fn any_kind() -> impl Strategy<Value = NodeKind> {
    prop_oneof![
        vec((any_id(), 1u32..(16 << 20)), 0..8).prop_map(|chunks| NodeKind::File {
            chunks: chunks.into_iter().map(|(id, raw_len)| ChunkRef { id: ChunkId(id), raw_len }).collect()
        }),
        any_id().prop_map(|id| NodeKind::Dir { subtree: TreeId(id) }),
        vec(1u8..=255, 1..100).prop_map(|target| NodeKind::Symlink { target }),
        (
            vec((any_id(), 1u32..(1 << 16)), 0..8),
            any::<i32>(),
            any::<i32>(),
            9u32..=16,
            vec((".{1,20}", any::<u64>()), 0..4)
        )
            .prop_map(|(chunks, user_version, application_id, shift, tables)| NodeKind::Database {
                chunks: chunks
                    .into_iter()
                    .map(|(id, raw_len)| ChunkRef { id: ChunkId(id), raw_len })
                    .collect(),
                info: DatabaseInfo {
                    user_version,
                    application_id,
                    page_size: 1 << shift,
                    tables: tables.into_iter().map(|(name, rows)| TableRows { name, rows }).collect(),
                },
            }),
    ]
}

fn any_value() -> impl Strategy<Value = (u8, i64, f64, Vec<u8>)> {
    (
        0u8..5,
        any::<i64>(),
        any::<f64>().prop_filter("SQLite has no NaN", |v| !v.is_nan()),
        vec(any::<u8>(), 0..40),
    )
}

fn as_value((kind, int, real, bytes): &(u8, i64, f64, Vec<u8>)) -> Value<'_> {
    match kind {
        0 => Value::Null,
        1 => Value::Integer(*int),
        2 => Value::Real(*real),
        3 => Value::Text(bytes),
        _ => Value::Blob(bytes),
    }
}

fn any_tree() -> impl Strategy<Value = Tree> {
    btree_map(any_name(), (any_kind(), any_meta()), 0..20).prop_map(|nodes| Tree {
        nodes: nodes
            .into_iter()
            .map(|(name, (kind, mut meta))| {
                meta.size = match &kind {
                    NodeKind::File { chunks } => chunks.iter().map(|c| u64::from(c.raw_len)).sum(),
                    NodeKind::Symlink { target } => target.len() as u64,
                    NodeKind::Dir { .. } => 0,
                    // A database node's size is its file's, unrelated to the dump's chunks.
                    NodeKind::Database { .. } => 4096,
                };
                Node { name, kind, meta }
            })
            .collect(),
    })
}

fn any_snapshot() -> impl Strategy<Value = Snapshot> {
    (
        any_time(),
        any_id(),
        proptest::option::of(any_id()),
        ".{0,30}",
        vec(vec(any::<u8>(), 0..50), 0..4),
        btree_set(".{0,10}", 0..4),
        btree_map(".{0,10}", ".{0,30}", 0..4),
        any::<[u64; 4]>(),
    )
        .prop_map(|(time, tree, parent, hostname, paths, tags, meta, counters)| Snapshot {
            time,
            tree: TreeId(tree),
            parent: parent.map(SnapshotId),
            hostname: hostname.clone(),
            username: hostname,
            paths,
            tags: tags.into_iter().collect(),
            program: "cairn test".into(),
            summary: Summary {
                files_new: counters[0],
                data_added: counters[1],
                total_bytes: counters[2],
                source_errors: counters[3],
                ..Summary::default()
            },
            meta: meta.into_iter().collect(),
        })
}

/// Damages an encoding: flips a byte, truncates, or both.
fn damage(mut bytes: Vec<u8>, at: usize, flip: u8, cut: usize) -> Vec<u8> {
    if !bytes.is_empty() {
        let i = at % bytes.len();
        bytes[i] ^= flip;
        bytes.truncate(bytes.len() - cut % bytes.len());
    }
    bytes
}

proptest! {
    #[test]
    fn dump_rows_round_trip(values in vec(any_value(), 0..20)) {
        let row = Record::Row(values.iter().map(as_value).collect());
        let mut bytes = Vec::new();
        row.encode_into(&mut bytes).unwrap();
        let len = record_len(bytes[..4].try_into().unwrap(), (bytes.len() - 4) as u64).unwrap();
        prop_assert_eq!(len, bytes.len() - 4);
        prop_assert_eq!(Record::decode(&bytes[4..]).unwrap(), row);
    }

    #[test]
    fn dump_records_never_panic(bytes in vec(any::<u8>(), 0..200)) {
        let _ = Record::decode(&bytes);
    }

    #[test]
    fn config_survives_encode_decode(config in any_config()) {
        let mut bytes = config.encode_unsigned()?;
        bytes.extend_from_slice(&[0; 32]);
        prop_assert_eq!(Config::decode(&bytes)?.0, config);
    }

    #[test]
    fn key_slot_survives_encode_decode(slot in any_key_slot()) {
        prop_assert_eq!(KeySlot::decode(&slot.encode()?)?.0, slot);
    }

    #[test]
    fn pack_header_survives_encode_decode(entries in any_entries()) {
        let end = entries.last().unwrap().end();
        let header = PackHeader { entries };
        prop_assert_eq!(PackHeader::decode(&header.encode()?, end)?, header);
    }

    #[test]
    fn index_survives_encode_decode(index in any_index()) {
        prop_assert_eq!(IndexFile::decode(&index.encode()?)?, index);
    }

    #[test]
    fn tree_survives_encode_decode(tree in any_tree()) {
        prop_assert_eq!(Tree::decode(&tree.encode()?)?, tree);
    }

    #[test]
    fn snapshot_survives_encode_decode(snapshot in any_snapshot()) {
        prop_assert_eq!(Snapshot::decode(&snapshot.encode()?)?, snapshot);
    }

    #[test]
    fn decoders_never_panic_on_garbage(bytes in vec(any::<u8>(), 0..2048), len in any::<u64>()) {
        let _ = Config::decode(&bytes);
        let _ = KeySlot::decode(&bytes);
        let _ = PackHeader::decode(&bytes, len);
        let _ = decode_trailer(&bytes, len);
        let _ = IndexFile::decode(&bytes);
        let _ = Tree::decode(&bytes);
        let _ = Snapshot::decode(&bytes);
        let _ = decode_payload(&bytes, 1 << 20);
    }

    #[test]
    fn decoders_never_panic_on_damaged_objects(
        tree in any_tree(),
        snapshot in any_snapshot(),
        index in any_index(),
        at in any::<usize>(),
        flip in 1u8..,
        cut in any::<usize>(),
    ) {
        let _ = Tree::decode(&damage(tree.encode()?, at, flip, cut));
        let _ = Snapshot::decode(&damage(snapshot.encode()?, at, flip, cut));
        let _ = IndexFile::decode(&damage(index.encode()?, at, flip, cut));
    }
}
