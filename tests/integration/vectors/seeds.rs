//! Seed corpora for the fuzz targets (`fuzz/seeds/<target>/`), made from the vectors: valid
//! objects so the fuzzer starts deep inside each decoder, and the malformed cases so it
//! starts at the edges. `cargo test` replays them (`format/tests/replay.rs`).

use std::path::{Path, PathBuf};

use cairn::format::envelope::{Codec, encode_payload_header};
use cairn::format::fuzzing::TARGETS;

use super::malformed::Case;
use super::view::{Object, file_ids};

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds")
}

/// The payload a writer would seal for `body`: stored raw, and zstd-compressed.
fn payloads(body: &[u8]) -> [Vec<u8>; 2] {
    let raw_len = u32::try_from(body.len()).unwrap();
    let compressed = zstd::bulk::compress(body, 3).unwrap();
    [
        [&encode_payload_header(Codec::None, raw_len)[..], body].concat(),
        [&encode_payload_header(Codec::Zstd, raw_len)[..], &compressed].concat(),
    ]
}

/// The `sealed` target's selector byte for a decoder (`cairn_format::fuzzing::sealed_object`).
fn selector(decoder: &str) -> u8 {
    match decoder {
        "tree" => 1,
        "pack_header" => 2,
        "index" => 3,
        _ => 4,
    }
}

fn put(target: &str, name: &str, bytes: &[u8]) {
    let dir = seeds_dir().join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Seeds for the objects the vector repository has none of (it holds no lock or policy
/// file): made from fixed values, so writing them again gives the same bytes.
pub fn write_constructed() {
    use cairn::format::lock::{Lock, LockKind};
    use cairn::format::policy::{GroupBy, PolicyFile, Retention};
    use cairn::format::timestamp::Timestamp;
    let at = Timestamp { secs: 1_795_450_000, nanos: 123 };
    let lock = Lock {
        kind: LockKind::Shared,
        session: [0x5a; 16],
        created: at,
        refreshed: at,
        pid: 4242,
        hostname: "phone".into(),
        username: "user".into(),
        operation: "backup".into(),
    };
    let policy = PolicyFile {
        retention: Retention {
            keep_last: 3,
            keep_daily: 14,
            keep_weekly: 8,
            keep_monthly: 12,
            keep_within_secs: 86_400,
            keep_tags: vec!["keep".into()],
            group_by: GroupBy::DEFAULT,
            ..Retention::default()
        },
        set_at: at,
    };
    let lock = lock.encode().unwrap();
    let policy = policy.encode().unwrap();
    put("decode_lock", "lock", &lock);
    put("decode_policy", "policy", &policy);
    for (name, selector, body) in [("lock", 5u8, &lock), ("policy", 6, &policy)] {
        for (i, payload) in payloads(body).iter().enumerate() {
            put("sealed", &format!("{name}-{i}"), &[&[selector][..], payload].concat());
        }
    }
}

pub fn write(repo_dir: &Path, objects: &[Object], cases: &[Case]) {
    let _ = std::fs::remove_dir_all(seeds_dir());
    write_constructed();
    put("decode_config", "config", &std::fs::read(repo_dir.join("config")).unwrap());
    for id in file_ids(repo_dir, "keys") {
        put(
            "decode_key_slot",
            &format!("key-{}", id.short()),
            &std::fs::read(repo_dir.join("keys").join(id.to_string())).unwrap(),
        );
    }
    for object in objects {
        let name = &object.file[..object.file.len().min(object.file.rfind('-').unwrap() + 9)];
        let offset = object.header_offset.unwrap_or(0).to_le_bytes();
        let target = match object.decoder {
            "pack_header" => {
                put("decode_pack", name, &[&offset[..], &object.body].concat());
                None
            }
            "index" => Some("decode_index"),
            "tree" => Some("decode_tree"),
            _ => Some("decode_snapshot"),
        };
        if let Some(target) = target {
            put(target, name, &object.body);
        }
        for (i, payload) in payloads(&object.body).iter().enumerate() {
            put("decode_payload", &format!("{name}-{i}"), payload);
            let prefix: &[u8] = if object.decoder == "pack_header" { &offset } else { &[] };
            put(
                "sealed",
                &format!("{name}-{i}"),
                &[&[selector(object.decoder)][..], prefix, payload].concat(),
            );
        }
    }
    for case in cases {
        let target = match case.decoder.as_str() {
            "config" => "decode_config",
            "key_slot" => "decode_key_slot",
            "tree" => "decode_tree",
            "snapshot" => "decode_snapshot",
            "index" => "decode_index",
            "payload" | "file_header:index" => "decode_payload",
            "pack_header" => {
                let offset = case.header_offset.unwrap().to_le_bytes();
                put("decode_pack", &case.name, &[&offset[..], &case.bytes].concat());
                continue;
            }
            _ => continue,
        };
        put(target, &case.name, &case.bytes);
    }
}

/// Every fuzz target has a committed seed corpus.
pub fn check_present() {
    for (target, _) in TARGETS {
        let count = std::fs::read_dir(seeds_dir().join(target)).map_or(0, Iterator::count);
        assert!(count > 0, "fuzz/seeds/{target} is empty; run CAIRN_BLESS_VECTORS=1 cargo test vectors");
    }
}
