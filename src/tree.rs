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

/// Fails when `path` (a snapshot path, components separated by `/`) is nested deeper than
/// readers follow (SPEC §9.3): recursive walks stop there instead of exhausting the stack.
pub(crate) fn check_depth(path: &[u8], tree: &TreeId) -> Result<()> {
    #[allow(clippy::naive_bytecount)] // paths are short and checked once per directory
    check_level(path.iter().filter(|&&b| b == b'/').count(), tree)
}

/// Fails when a tree `depth` levels below a root is deeper than readers follow (SPEC §9.3).
pub(crate) fn check_level(depth: usize, tree: &TreeId) -> Result<()> {
    if depth > cairn_format::limits::MAX_TREE_DEPTH {
        return Err(Error::corrupt(
            ObjectKind::TreeBlob,
            tree,
            crate::error::Damage::Format(cairn_format::FormatError::OutOfRange {
                field: "tree depth",
                value: depth as u64,
                min: 0,
                max: cairn_format::limits::MAX_TREE_DEPTH as u64,
            }),
        ));
    }
    Ok(())
}

/// Stack for recursive walks over trees: deep enough for [`MAX_TREE_DEPTH`] levels whatever
/// thread the caller uses (an app's worker thread may have a 1 MiB stack). Virtual memory
/// only; untouched pages cost nothing.
///
/// [`MAX_TREE_DEPTH`]: cairn_format::limits::MAX_TREE_DEPTH
const WALK_STACK: usize = 256 << 20;

/// Runs a recursive walk on a thread with a stack large enough for the deepest tree.
pub(crate) fn with_walk_stack<R: Send>(walk: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("cairn-walk".into())
            .stack_size(WALK_STACK)
            .spawn_scoped(scope, walk)
            .map_or_else(
                |e| panic!("cannot start a thread for the tree walk: {e}"),
                |handle| handle.join().unwrap_or_else(|payload| std::panic::resume_unwind(payload)),
            )
    })
}

/// Calls `visit` with the path and node of every entry below tree `root`, in path order
/// (depth first, a directory before its contents), entering directories only when
/// `descend` is set. Iterative: depth costs heap, not stack, up to [`MAX_TREE_DEPTH`].
///
/// [`MAX_TREE_DEPTH`]: cairn_format::limits::MAX_TREE_DEPTH
pub(crate) fn walk_tree(
    repo: &Repository,
    index: &Index,
    root: &TreeId,
    prefix: &[u8],
    descend: bool,
    visit: &mut dyn FnMut(&[u8], &Node) -> Result<()>,
) -> Result<()> {
    struct Frame {
        nodes: std::vec::IntoIter<Node>,
        prefix: Vec<u8>,
    }
    let mut stack =
        vec![Frame { nodes: load_tree(repo, index, root)?.nodes.into_iter(), prefix: prefix.to_vec() }];
    while let Some(frame) = stack.last_mut() {
        let Some(node) = frame.nodes.next() else {
            stack.pop();
            continue;
        };
        let path = [frame.prefix.as_slice(), b"/", &node.name].concat();
        visit(&path, &node)?;
        if let (true, NodeKind::Dir { subtree }) = (descend, &node.kind) {
            check_depth(&path, subtree)?;
            let nodes = load_tree(repo, index, subtree)?.nodes.into_iter();
            stack.push(Frame { nodes, prefix: path });
        }
    }
    Ok(())
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
