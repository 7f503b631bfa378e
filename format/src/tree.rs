//! Trees (SPEC §9): one deterministic blob per directory listing its entries sorted by name,
//! so a directory whose entries did not change encodes to the same bytes, gets the same id and
//! is stored once across snapshots.

use crate::FormatError;
use crate::id::{ChunkId, ID_LEN, ObjectId, TreeId};
use crate::limits::{
    MAX_CHUNK_LEN, MAX_FILE_CHUNKS, MAX_NAME_LEN, MAX_SYMLINK_LEN, MAX_TREE_LEN, MAX_TREE_NODES,
};
use crate::sqlite::DatabaseInfo;
use crate::timestamp::Timestamp;
use crate::wire::{Reader, Writer, check_range};

/// One chunk of a file's content, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ChunkRef {
    /// The data blob holding the chunk.
    pub id: ChunkId,
    /// The chunk's plaintext length.
    pub raw_len: u32,
}

/// What a node is, with what only that kind carries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "lowercase"))]
pub enum NodeKind {
    /// A regular file: its content as a list of chunks.
    File {
        /// The chunks, concatenated in order, are the file's content.
        chunks: Vec<ChunkRef>,
    },
    /// A directory: the tree listing its entries.
    Dir {
        /// The subtree.
        subtree: TreeId,
    },
    /// A symbolic link.
    Symlink {
        /// The link's target, as raw bytes.
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes_lossy"))]
        target: Vec<u8>,
    },
    /// A SQLite database, stored as its dump (SPEC §16) rather than its file's bytes; restore
    /// rebuilds the database from the dump.
    Database {
        /// The chunks, concatenated in order, are the dump.
        chunks: Vec<ChunkRef>,
        /// What the database held, for listing and for schema checks before a restore.
        info: DatabaseInfo,
    },
}

impl NodeKind {
    fn code(&self) -> u8 {
        match self {
            NodeKind::File { .. } => 1,
            NodeKind::Dir { .. } => 2,
            NodeKind::Symlink { .. } => 3,
            NodeKind::Database { .. } => 4,
        }
    }

    /// The data chunks the node's content is made of: a file's content or a database's dump.
    #[must_use]
    pub fn chunks(&self) -> Option<&[ChunkRef]> {
        match self {
            NodeKind::File { chunks } | NodeKind::Database { chunks, .. } => Some(chunks),
            NodeKind::Dir { .. } | NodeKind::Symlink { .. } => None,
        }
    }
}

/// File-system metadata of a node (SPEC §9.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NodeMeta {
    /// Permission bits and set-id/sticky bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Last modification.
    pub mtime: Timestamp,
    /// Last status change; used only to detect changes.
    pub ctime: Timestamp,
    /// Device id of the source file system; recorded, not compared (it changes when a file
    /// system is mounted again).
    pub device: u64,
    /// Inode number in the source file system; used only to detect changes.
    pub inode: u64,
    /// Content length: file bytes, symlink target length, 0 for directories.
    pub size: u64,
}

/// One entry of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Node {
    /// The entry's name: raw bytes, not necessarily UTF-8.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes_lossy"))]
    pub name: Vec<u8>,
    /// Kind and kind-specific content.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub kind: NodeKind,
    /// Metadata.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub meta: NodeMeta,
}

/// A directory listing: nodes in strictly increasing byte order of name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Tree {
    /// The entries.
    pub nodes: Vec<Node>,
}

/// Bytes of a node before its kind-specific part, excluding the name's bytes.
const NODE_FIXED_LEN: usize = 2 + 1 + 12 + 2 * Timestamp::LEN + 8 * 3;
/// Bytes of one chunk reference.
const CHUNK_REF_LEN: usize = ID_LEN + 4;

impl Tree {
    /// Encodes the tree; fails if its nodes are not sorted and unique or break a rule of §9.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let mut w = Writer::with_capacity(4 + self.nodes.len() * (NODE_FIXED_LEN + 48));
        w.count_u32("tree.node_count", self.nodes.len(), MAX_TREE_NODES)?;
        let mut previous: Option<&[u8]> = None;
        for node in &self.nodes {
            check_order(previous, &node.name)?;
            encode_node(node, &mut w)?;
            previous = Some(&node.name);
        }
        check_range("tree.len", w.len() as u64, 0, u64::from(MAX_TREE_LEN))?;
        Ok(w.into_bytes())
    }

    /// Decodes a tree blob's plaintext.
    pub fn decode(bytes: &[u8]) -> Result<Tree, FormatError> {
        let mut r = Reader::new(bytes);
        let count = r.count_u32("tree.node_count", MAX_TREE_NODES, NODE_FIXED_LEN + 1)?;
        let mut nodes: Vec<Node> = Vec::with_capacity(count);
        for _ in 0..count {
            let node = decode_node(&mut r)?;
            check_order(nodes.last().map(|n| n.name.as_slice()), &node.name)?;
            nodes.push(node);
        }
        r.finish("tree")?;
        Ok(Tree { nodes })
    }
}

fn check_order(previous: Option<&[u8]>, name: &[u8]) -> Result<(), FormatError> {
    if previous.is_some_and(|prev| prev >= name) {
        return Err(FormatError::InvalidValue {
            field: "tree.node.name",
            reason: "names are not in strictly increasing byte order",
        });
    }
    Ok(())
}

/// The SPEC §9.3 rules every node obeys; encoder and decoder both apply them.
fn check_node(node: &Node) -> Result<(), FormatError> {
    check_name(&node.name)?;
    let meta = &node.meta;
    check_range("tree.node.mode", u64::from(meta.mode), 0, 0o7777)?;
    check_range("tree.node.mtime", u64::from(meta.mtime.nanos), 0, 999_999_999)?;
    check_range("tree.node.ctime", u64::from(meta.ctime.nanos), 0, 999_999_999)?;
    match &node.kind {
        NodeKind::File { chunks } => check_file_size(chunks, meta.size),
        NodeKind::Database { chunks, .. } => check_chunk_lens(chunks).map(|_| ()),
        NodeKind::Dir { .. } if meta.size != 0 => Err(invalid("tree.node.size", "a directory's size is 0")),
        NodeKind::Dir { .. } => Ok(()),
        NodeKind::Symlink { target } => {
            if target.is_empty() || target.contains(&0) {
                return Err(invalid("tree.node.target", "empty or contains NUL"));
            }
            if meta.size != target.len() as u64 {
                return Err(invalid("tree.node.size", "a symlink's size is its target's length"));
            }
            Ok(())
        }
    }
}

fn check_name(name: &[u8]) -> Result<(), FormatError> {
    let bad = name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0);
    if bad {
        return Err(invalid("tree.node.name", "empty, '.', '..', or contains '/' or NUL"));
    }
    Ok(())
}

fn encode_node(node: &Node, w: &mut Writer) -> Result<(), FormatError> {
    check_node(node)?;
    w.bytes16("tree.node.name", &node.name, MAX_NAME_LEN)?;
    w.u8(node.kind.code());
    let meta = &node.meta;
    w.u32(meta.mode);
    w.u32(meta.uid);
    w.u32(meta.gid);
    meta.mtime.encode(w);
    meta.ctime.encode(w);
    w.u64(meta.device);
    w.u64(meta.inode);
    w.u64(meta.size);
    match &node.kind {
        NodeKind::File { chunks } => encode_chunks(chunks, w)?,
        NodeKind::Database { chunks, info } => {
            encode_chunks(chunks, w)?;
            info.encode(w)?;
        }
        NodeKind::Dir { subtree } => w.bytes(subtree.0.as_bytes()),
        NodeKind::Symlink { target } => w.bytes16("tree.node.target", target, MAX_SYMLINK_LEN)?,
    }
    Ok(())
}

fn decode_node(r: &mut Reader<'_>) -> Result<Node, FormatError> {
    let name = r.bytes16("tree.node.name", MAX_NAME_LEN)?.to_vec();
    let kind_code = r.u8("tree.node.kind")?;
    let meta = NodeMeta {
        mode: r.u32("tree.node.mode")?,
        uid: r.u32("tree.node.uid")?,
        gid: r.u32("tree.node.gid")?,
        mtime: Timestamp::decode(r, "tree.node.mtime")?,
        ctime: Timestamp::decode(r, "tree.node.ctime")?,
        device: r.u64("tree.node.device")?,
        inode: r.u64("tree.node.inode")?,
        size: r.u64("tree.node.size")?,
    };
    let kind = match kind_code {
        1 => NodeKind::File { chunks: decode_chunks(r)? },
        2 => NodeKind::Dir { subtree: TreeId(ObjectId(r.array("tree.node.subtree")?)) },
        3 => NodeKind::Symlink { target: r.bytes16("tree.node.target", MAX_SYMLINK_LEN)?.to_vec() },
        4 => NodeKind::Database { chunks: decode_chunks(r)?, info: DatabaseInfo::decode(r)? },
        other => {
            return Err(FormatError::Unsupported { field: "tree.node.kind", found: u64::from(other) });
        }
    };
    let node = Node { name, kind, meta };
    check_node(&node)?;
    Ok(node)
}

fn encode_chunks(chunks: &[ChunkRef], w: &mut Writer) -> Result<(), FormatError> {
    w.count_u32("tree.node.chunk_count", chunks.len(), MAX_FILE_CHUNKS)?;
    for chunk in chunks {
        w.bytes(chunk.id.0.as_bytes());
        w.u32(chunk.raw_len);
    }
    Ok(())
}

fn decode_chunks(r: &mut Reader<'_>) -> Result<Vec<ChunkRef>, FormatError> {
    let count = r.count_u32("tree.node.chunk_count", MAX_FILE_CHUNKS, CHUNK_REF_LEN)?;
    let mut chunks = Vec::with_capacity(count);
    for _ in 0..count {
        let id = ChunkId(ObjectId(r.array("tree.node.chunk.id")?));
        let raw_len = r.u32("tree.node.chunk.raw_len")?;
        chunks.push(ChunkRef { id, raw_len });
    }
    Ok(chunks)
}

/// Checks every chunk's length and returns their sum.
fn check_chunk_lens(chunks: &[ChunkRef]) -> Result<u64, FormatError> {
    let mut total: u64 = 0;
    for chunk in chunks {
        check_range("tree.node.chunk.raw_len", u64::from(chunk.raw_len), 1, u64::from(MAX_CHUNK_LEN))?;
        total += u64::from(chunk.raw_len);
    }
    Ok(total)
}

fn check_file_size(chunks: &[ChunkRef], size: u64) -> Result<(), FormatError> {
    if check_chunk_lens(chunks)? != size {
        return Err(invalid("tree.node.size", "differs from the sum of the chunk lengths"));
    }
    Ok(())
}

fn invalid(field: &'static str, reason: &'static str) -> FormatError {
    FormatError::InvalidValue { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &[u8], lens: &[u32]) -> Node {
        Node {
            name: name.to_vec(),
            kind: NodeKind::File {
                chunks: lens
                    .iter()
                    .map(|&raw_len| ChunkRef {
                        id: ChunkId(ObjectId([raw_len.to_le_bytes()[0]; 32])),
                        raw_len,
                    })
                    .collect(),
            },
            meta: NodeMeta {
                mode: 0o644,
                size: lens.iter().map(|&l| u64::from(l)).sum(),
                ..NodeMeta::default()
            },
        }
    }

    #[test]
    fn tree_round_trips() {
        let tree = Tree {
            nodes: vec![
                file(b"a", &[10, 20]),
                Node {
                    name: b"b\xff".to_vec(),
                    kind: NodeKind::Symlink { target: b"../x".to_vec() },
                    meta: NodeMeta { size: 4, ..NodeMeta::default() },
                },
                Node {
                    name: b"c".to_vec(),
                    kind: NodeKind::Dir { subtree: TreeId(ObjectId([1; 32])) },
                    meta: NodeMeta::default(),
                },
            ],
        };
        assert_eq!(Tree::decode(&tree.encode().unwrap()).unwrap(), tree);
    }

    #[test]
    fn database_nodes_round_trip() {
        let mut db = file(b"app.db", &[100, 200]);
        let NodeKind::File { chunks } = db.kind else { unreachable!() };
        db.kind = NodeKind::Database {
            chunks,
            info: DatabaseInfo {
                user_version: 7,
                application_id: -2,
                page_size: 4096,
                tables: vec![crate::sqlite::TableRows { name: "notes".into(), rows: 12 }],
            },
        };
        // A database node's size is the database file's, not the dump's.
        db.meta.size = 8192;
        let tree = Tree { nodes: vec![db] };
        assert_eq!(Tree::decode(&tree.encode().unwrap()).unwrap(), tree);
    }

    #[test]
    fn unsorted_or_duplicate_names_are_rejected() {
        let unsorted = Tree { nodes: vec![file(b"b", &[1]), file(b"a", &[1])] };
        assert!(unsorted.encode().is_err());
        let duplicate = Tree { nodes: vec![file(b"a", &[1]), file(b"a", &[1])] };
        assert!(duplicate.encode().is_err());
    }

    #[test]
    fn size_must_match_chunks() {
        let mut node = file(b"a", &[5]);
        node.meta.size = 6;
        assert!(Tree { nodes: vec![node] }.encode().is_err());
    }

    #[test]
    fn path_separators_in_names_are_rejected() {
        assert!(Tree { nodes: vec![file(b"a/b", &[1])] }.encode().is_err());
        assert!(Tree { nodes: vec![file(b"..", &[1])] }.encode().is_err());
    }
}
