//! Loading trees and finding nodes by path inside a snapshot.

use cairn_format::envelope::BlobType;
use cairn_format::id::TreeId;
use cairn_format::tree::{Node, NodeKind, Tree};

use crate::error::{Error, ObjectKind, Result};
use crate::index::Index;
use crate::pack::read_blob;
use crate::repository::Repository;

/// Reads and decodes a tree blob.
pub(crate) fn load_tree(repo: &Repository, index: &Index, id: &TreeId) -> Result<Tree> {
    let bytes = read_blob(repo, index, BlobType::Tree, &id.0)?;
    Tree::decode(&bytes).map_err(|e| Error::from_format(ObjectKind::TreeBlob, id, e))
}

/// Splits a snapshot path (`app/db/x.sqlite`, leading and trailing `/` ignored) into
/// components.
pub(crate) fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect()
}

/// The node at `path` below the tree `root`; `None` for the root itself.
pub(crate) fn find_node(
    repo: &Repository,
    index: &Index,
    root: &TreeId,
    path: &[u8],
) -> Result<Option<Node>> {
    let parts = components(path);
    let mut tree_id = *root;
    let mut found = None;
    for (i, part) in parts.iter().enumerate() {
        let tree = load_tree(repo, index, &tree_id)?;
        let node = tree.nodes.into_iter().find(|n| n.name == *part).ok_or_else(|| not_found(path))?;
        if i + 1 < parts.len() {
            match &node.kind {
                NodeKind::Dir { subtree } => tree_id = *subtree,
                _ => return Err(not_found(path)),
            }
        }
        found = Some(node);
    }
    Ok(found)
}

fn not_found(path: &[u8]) -> Error {
    Error::PathNotFound { path: String::from_utf8_lossy(path).into_owned() }
}
