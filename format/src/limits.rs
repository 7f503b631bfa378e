//! Every maximum a decoder enforces. SPEC.md §3.2 lists the same numbers; change both together.

/// Range of a config's `chunker.min_len` (SPEC §6.1).
pub const CHUNK_MIN_LEN_RANGE: (u32, u32) = (64, 1 << 20);
/// Range of a config's `chunker.avg_len` (SPEC §6.1).
pub const CHUNK_AVG_LEN_RANGE: (u32, u32) = (256, 4 << 20);
/// Range of a config's `chunker.max_len` (SPEC §6.1).
pub const CHUNK_MAX_LEN_RANGE: (u32, u32) = (1024, MAX_CHUNK_LEN);
/// Largest plaintext chunk a repository may be configured to produce (SPEC §6.1).
pub const MAX_CHUNK_LEN: u32 = 16 << 20;
/// Largest raw (uncompressed) payload of a tree blob (SPEC §9).
pub const MAX_TREE_LEN: u32 = 256 << 20;
/// Largest pack file (SPEC §7). Offsets in packs and indexes are `u32`.
pub const MAX_PACK_LEN: u64 = 1 << 30;
/// Most blobs a pack header may list (SPEC §7).
pub const MAX_PACK_ENTRIES: u32 = 1 << 20;
/// Largest raw payload of a pack header (SPEC §7).
pub const MAX_PACK_HEADER_LEN: u32 = 64 << 20;
/// Largest raw payload of an index file (SPEC §8).
pub const MAX_INDEX_LEN: u32 = 256 << 20;
/// Most packs one index file may describe (SPEC §8).
pub const MAX_INDEX_PACKS: u32 = 1 << 20;
/// Most index files one index file may supersede (SPEC §8).
pub const MAX_SUPERSEDED: u32 = 1 << 16;
/// Largest raw payload of a lock file (SPEC §10.4).
pub const MAX_LOCK_LEN: u32 = 64 << 10;
/// Largest raw payload of a policy file (SPEC §10.5).
pub const MAX_POLICY_LEN: u32 = 1 << 20;
/// Largest raw payload of a snapshot file (SPEC §10).
pub const MAX_SNAPSHOT_LEN: u32 = 16 << 20;
/// Most nodes in one tree (one directory) (SPEC §9).
pub const MAX_TREE_NODES: u32 = 1 << 22;
/// Most chunks one file node may list (SPEC §9): 64 TiB at the default 1 MiB average chunk,
/// 16 GiB at the smallest configurable average of 256 bytes.
pub const MAX_FILE_CHUNKS: u32 = 1 << 26;
/// Longest file name in a tree node, in bytes (SPEC §9).
pub const MAX_NAME_LEN: u16 = 4096;
/// Longest symlink target, in bytes (SPEC §9).
pub const MAX_SYMLINK_LEN: u16 = 4096;
/// Longest host name, user name, tag, source path or metadata key (SPEC §10).
pub const MAX_LABEL_LEN: u16 = 4096;
/// Longest snapshot metadata value (SPEC §10).
pub const MAX_META_VALUE_LEN: u16 = u16::MAX;
/// Most source paths, tags or metadata entries in a snapshot (SPEC §10).
pub const MAX_SNAPSHOT_LIST: u16 = 4096;
/// Most summary counters a snapshot may carry; v1 writes 14 (SPEC §10.2).
pub const MAX_SUMMARY_COUNTERS: u16 = 1024;
/// Longest host or user name in a key slot (SPEC §4.2).
pub const MAX_KEY_LABEL_LEN: u16 = 255;
/// Length of every config file (SPEC §4.1); a reader refuses anything else unread.
pub const CONFIG_FILE_LEN: u64 = 102;
/// Largest key-slot file: fixed fields, two labels of [`MAX_KEY_LABEL_LEN`] bytes, the
/// wrapped key (SPEC §4.2).
pub const MAX_KEY_FILE_LEN: u64 = 169 + 2 * MAX_KEY_LABEL_LEN as u64;
/// Deepest nesting of trees below a snapshot's root that readers follow (SPEC §9.3): more
/// than any file system allows in a path, and a bound for recursive readers.
pub const MAX_TREE_DEPTH: usize = 4096;
/// Argon2id memory cost bounds in KiB (SPEC §4.2): checked before any allocation.
pub const ARGON2_MIN_MEMORY_KIB: u32 = 8;
/// See [`ARGON2_MIN_MEMORY_KIB`]: 2 GiB.
pub const ARGON2_MAX_MEMORY_KIB: u32 = 2 << 20;
/// Argon2id time cost (passes) bounds (SPEC §4.2).
pub const ARGON2_MAX_TIME: u32 = 64;
/// Argon2id parallelism bounds (SPEC §4.2).
pub const ARGON2_MAX_LANES: u32 = 64;
