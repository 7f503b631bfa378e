//! Every maximum a decoder enforces. SPEC.md §3 lists the same numbers; change both together.

/// Largest plaintext chunk a repository may be configured to produce (SPEC §6).
pub const MAX_CHUNK_LEN: u32 = 16 << 20;
/// Smallest configurable minimum chunk size (SPEC §6).
pub const MIN_CHUNK_LEN: u32 = 64;
/// Largest raw (uncompressed) payload of a tree blob (SPEC §9).
pub const MAX_TREE_LEN: u32 = 256 << 20;
/// Largest raw payload of any blob: the larger of chunk and tree limits (SPEC §5).
pub const MAX_BLOB_RAW_LEN: u32 = MAX_TREE_LEN;
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
/// Largest raw payload of a snapshot file (SPEC §10).
pub const MAX_SNAPSHOT_LEN: u32 = 16 << 20;
/// Most nodes in one tree (one directory) (SPEC §9).
pub const MAX_TREE_NODES: u32 = 1 << 22;
/// Most chunks one file node may list (SPEC §9): 16 TiB at the smallest average chunk size.
pub const MAX_FILE_CHUNKS: u32 = 1 << 26;
/// Longest file name in a tree node, in bytes (SPEC §9).
pub const MAX_NAME_LEN: u16 = 4096;
/// Longest symlink target, in bytes (SPEC §9).
pub const MAX_SYMLINK_LEN: u16 = 4096;
/// Longest host name, user name, tag, source path or metadata key (SPEC §10).
pub const MAX_LABEL_LEN: u16 = 4096;
/// Most source paths, tags or metadata entries in a snapshot (SPEC §10).
pub const MAX_SNAPSHOT_LIST: u16 = 4096;
/// Longest host or user name in a key slot (SPEC §4).
pub const MAX_KEY_LABEL_LEN: u16 = 255;
/// Argon2id memory cost bounds in KiB (SPEC §4): checked before any allocation.
pub const ARGON2_MIN_MEMORY_KIB: u32 = 8;
/// See [`ARGON2_MIN_MEMORY_KIB`]: 2 GiB.
pub const ARGON2_MAX_MEMORY_KIB: u32 = 2 << 20;
/// Argon2id time cost (passes) bounds (SPEC §4).
pub const ARGON2_MAX_TIME: u32 = 64;
/// Argon2id parallelism bounds (SPEC §4).
pub const ARGON2_MAX_LANES: u32 = 64;
/// Most bytes of a whole-file object (config, key, index, snapshot) a reader loads (SPEC §3).
pub const MAX_FILE_LEN: u64 = 512 << 20;
