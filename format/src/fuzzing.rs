//! The properties every fuzz target checks, one function per target (`fuzz/`), kept here so
//! that `cargo test` replays the committed seed corpora and every crash input ever found
//! through exactly the same code (`format/tests/replay.rs`). Not part of the API.
//!
//! Each function takes arbitrary bytes and panics only if a property breaks: a decoder may
//! reject anything, but what it accepts must encode back to the same bytes (or, for
//! snapshots, to bytes that decode to the same value).
#![allow(clippy::panic, clippy::expect_used)] // A broken property must crash the fuzzer.

use crate::config::Config;
use crate::envelope::{ObjectType, decode_payload};
use crate::header::{FILE_HEADER_LEN, FileKind, decode_file_header};
use crate::index::IndexFile;
use crate::key::KeySlot;
use crate::limits::{
    MAX_CHUNK_LEN, MAX_INDEX_LEN, MAX_LOCK_LEN, MAX_PACK_HEADER_LEN, MAX_POLICY_LEN, MAX_SNAPSHOT_LEN,
    MAX_TREE_LEN,
};
use crate::lock::Lock;
use crate::pack::{PackHeader, decode_trailer};
use crate::policy::PolicyFile;
use crate::snapshot::Snapshot;
use crate::tree::Tree;
use crate::wire::Reader;

/// A fuzz target's property check.
pub type Check = fn(&[u8]);

/// Every fuzz target, by its name under `fuzz/fuzz_targets/`.
pub const TARGETS: [(&str, Check); 11] = [
    ("decode_config", config),
    ("decode_key_slot", key_slot),
    ("decode_pack", pack),
    ("decode_index", index),
    ("decode_tree", tree),
    ("decode_snapshot", snapshot),
    ("decode_payload", payload),
    ("decode_lock", lock),
    ("decode_policy", policy),
    ("sealed", opened_payload),
    ("decode_sqlite_dump", sqlite_dump),
];

/// A SQLite dump stream (SPEC §16): its header, then records read one at a time the way a
/// restore reads them; every accepted piece must encode back to the same bytes (dumps are
/// chunked and deduplicated, so the encoding is canonical).
pub fn sqlite_dump(data: &[u8]) {
    use crate::sqlite::{DUMP_HEADER_LEN, DumpHeader, RECORD_PREFIX_LEN, Record, record_len};
    let Some((header, mut rest)) = data.split_at_checked(DUMP_HEADER_LEN) else { return };
    if let Ok(decoded) = DumpHeader::decode(header) {
        assert_eq!(decoded.encode().as_slice(), header);
    }
    while let Some((prefix, body)) = rest.split_at_checked(RECORD_PREFIX_LEN) {
        let prefix: [u8; RECORD_PREFIX_LEN] = prefix.try_into().expect("split at the prefix length");
        let Ok(len) = record_len(prefix, body.len() as u64) else { return };
        let Some((record, tail)) = body.split_at_checked(len) else { return };
        let Ok(decoded) = Record::decode(record) else { return };
        let mut again = Vec::new();
        decoded.encode_into(&mut again).expect("a decoded record encodes");
        assert_eq!(again.get(RECORD_PREFIX_LEN..), Some(record));
        rest = tail;
    }
}

/// A config file.
pub fn config(data: &[u8]) {
    if let Ok((config, signed, mac)) = Config::decode(data) {
        let again = config.encode_unsigned().expect("a decoded config encodes");
        assert_eq!(again.as_slice(), signed);
        assert_eq!([signed, &mac[..]].concat(), data);
    }
}

/// A key slot file; accepted KDF parameters are within bounds.
pub fn key_slot(data: &[u8]) {
    if let Ok((slot, _)) = KeySlot::decode(data) {
        if let crate::key::SlotKdf::Argon2id(params) = slot.kdf {
            assert!(params.validate().is_ok());
        }
        assert_eq!(slot.encode().expect("a decoded slot encodes"), data);
    }
}

/// A pack trailer and header body: the first 8 bytes are the pack length (LE) the decoders
/// are told, the rest the bytes they decode.
pub fn pack(data: &[u8]) {
    let Some((len_bytes, rest)) = data.split_first_chunk::<8>() else { return };
    let pack_len = u64::from_le_bytes(*len_bytes);
    let _ = decode_trailer(rest.get(..8).unwrap_or(rest), pack_len);
    if let Ok(header) = PackHeader::decode(rest, pack_len) {
        assert_eq!(header.encode().expect("a decoded header encodes"), rest);
    }
}

/// An index file body.
pub fn index(data: &[u8]) {
    if let Ok(index) = IndexFile::decode(data) {
        assert_eq!(index.encode().expect("a decoded index encodes"), data);
    }
}

/// A tree body; trees are content-addressed, so the encoding must be canonical.
pub fn tree(data: &[u8]) {
    if let Ok(tree) = Tree::decode(data) {
        assert_eq!(tree.encode().expect("a decoded tree encodes"), data);
    }
}

/// A snapshot body; extra summary counters of newer writers are dropped on re-encoding, so
/// only the decoded value must survive.
pub fn snapshot(data: &[u8]) {
    if let Ok(snapshot) = Snapshot::decode(data) {
        let again = snapshot.encode().expect("a decoded snapshot encodes");
        assert_eq!(Snapshot::decode(&again).expect("re-encoding decodes"), snapshot);
    }
}

/// A lock file body.
pub fn lock(data: &[u8]) {
    if let Ok(lock) = Lock::decode(data) {
        assert_eq!(lock.encode().expect("a decoded lock encodes"), data);
    }
}

/// A policy file body.
pub fn policy(data: &[u8]) {
    if let Ok(policy) = PolicyFile::decode(data) {
        assert_eq!(policy.encode().expect("a decoded policy encodes"), data);
    }
}

/// A payload header and body (raw-length cap respected, decompression bounded) and a file
/// header of every kind.
pub fn payload(data: &[u8]) {
    if let Ok(payload) = decode_payload(data, 1 << 20) {
        assert!(payload.raw_len <= 1 << 20);
        if let Ok(raw) = payload.decompress() {
            assert_eq!(raw.len() as u64, u64::from(payload.raw_len));
        }
    }
    for kind in [
        FileKind::Config,
        FileKind::Key,
        FileKind::Pack,
        FileKind::Index,
        FileKind::Snapshot,
        FileKind::Lock,
        FileKind::Policy,
    ] {
        if decode_file_header(&mut Reader::new(data), kind).is_ok() {
            assert!(data.len() >= FILE_HEADER_LEN);
        }
    }
}

/// The kind of sealed object the `sealed` target's first byte selects.
#[must_use]
pub fn sealed_object(selector: u8) -> ObjectType {
    match selector % 7 {
        0 => ObjectType::DataBlob,
        1 => ObjectType::TreeBlob,
        2 => ObjectType::PackHeader,
        3 => ObjectType::Index,
        4 => ObjectType::Snapshot,
        5 => ObjectType::Lock,
        _ => ObjectType::Policy,
    }
}

/// What a reader does with a box's plaintext once the AEAD has accepted it: the `sealed`
/// target seals its input with a test key so that these decoders are reached at all. The
/// first byte selects the object ([`sealed_object`]); for a pack header the next 8 bytes are
/// the header's offset in its pack; the rest is the payload.
pub fn opened_payload(data: &[u8]) {
    let Some((&selector, plaintext)) = data.split_first() else { return };
    let object = sealed_object(selector);
    let (header_offset, plaintext) = match object {
        ObjectType::PackHeader => match plaintext.split_first_chunk::<8>() {
            Some((offset, rest)) => (u64::from_le_bytes(*offset), rest),
            None => return,
        },
        _ => (0, plaintext),
    };
    let max_raw_len = match object {
        ObjectType::DataBlob => MAX_CHUNK_LEN,
        ObjectType::TreeBlob => MAX_TREE_LEN,
        ObjectType::PackHeader => MAX_PACK_HEADER_LEN,
        ObjectType::Index => MAX_INDEX_LEN,
        ObjectType::Snapshot | ObjectType::KeySlot => MAX_SNAPSHOT_LEN,
        ObjectType::Lock => MAX_LOCK_LEN,
        ObjectType::Policy => MAX_POLICY_LEN,
    };
    let Ok(payload) = decode_payload(plaintext, max_raw_len) else { return };
    let Ok(raw) = payload.decompress() else { return };
    assert_eq!(raw.len() as u64, u64::from(payload.raw_len));
    match object {
        ObjectType::TreeBlob => tree(&raw),
        ObjectType::PackHeader => {
            if let Ok(header) = PackHeader::decode(&raw, header_offset) {
                assert_eq!(header.encode().expect("a decoded header encodes"), raw);
            }
        }
        ObjectType::Index => index(&raw),
        ObjectType::Snapshot => snapshot(&raw),
        ObjectType::Lock => lock(&raw),
        ObjectType::Policy => policy(&raw),
        ObjectType::DataBlob | ObjectType::KeySlot => {}
    }
}
