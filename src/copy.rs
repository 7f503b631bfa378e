//! Copying snapshots between repositories (`cairn copy`): the offline queue. An app backs up
//! to a local staging repository while offline and copies to the cloud when it is online.
//!
//! Repositories created independently have their own keys, so the same content has other
//! chunk boundaries, chunk ids and tree ids in each: a copy reads each file from the source
//! and chunks it again with the destination's chunker, deduplicating against the
//! destination's index. Two memos keep this from reading every snapshot in full: a source
//! tree already copied maps straight to its destination tree, and a file whose source chunk
//! list was already copied maps straight to its destination chunk list. So a snapshot that
//! shares most of its content with one already copied costs only what changed.
//!
//! A destination made with the source's keys ([`Repository::init_sharing_keys`]) names
//! content as the source does, so a copy moves each blob it lacks as it is: opened and
//! checked in the source, sealed again for the destination, never cut or compressed again,
//! and trees are not rewritten.
//!
//! A copy is idempotent: each copied snapshot carries `copied-from: <source id>` in its
//! metadata, and a source snapshot already copied is skipped. It is resumable: the
//! destination's index and each snapshot are written one snapshot at a time, and packs a
//! killed copy stored are indexed by the next run, as for an interrupted backup (SPEC §12.5).

use std::collections::HashMap;
use std::io::Read;

use cairn_format::envelope::BlobType;
use cairn_format::id::{ObjectId, SnapshotId, TreeId};
use cairn_format::snapshot::Snapshot;
use cairn_format::tree::{ChunkRef, Node, NodeKind, Tree};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::index::Index;
use crate::lock::LockGuard;
use crate::pack::{BlobStore, PackRead};
use crate::progress::CancelToken;
use crate::repository::Repository;
use crate::snapshot::SnapshotInfo;

/// The metadata key naming the source snapshot of a copy.
pub const COPIED_FROM: &str = "copied-from";

/// Which snapshots to copy.
#[derive(Clone, Debug, Default)]
pub struct CopyOptions {
    /// Snapshot ids (or unique prefixes, or `latest`) in the source; empty: all of them.
    pub snapshots: Vec<String>,
}

/// What a copy did.
#[derive(Clone, Debug, Default)]
pub struct CopyReport {
    /// Source snapshot → its new copy in the destination.
    pub copied: Vec<(SnapshotId, SnapshotId)>,
    /// Source snapshots the destination already had a copy of, with that copy.
    pub already_copied: Vec<(SnapshotId, SnapshotId)>,
    /// Blobs stored in the destination (the rest were deduplicated).
    pub blobs_added: u64,
    /// Their bytes, compressed and sealed.
    pub bytes_added: u64,
    /// Whether files were read and cut again with the destination's chunker. They are not
    /// when the destination shares the source's keys ([`Repository::init_sharing_keys`]):
    /// then blobs move as they are, keeping their ids and compression.
    pub rechunked: bool,
}

impl Repository {
    /// Copies snapshots of `source` into this repository (see the module documentation).
    pub fn copy_from(
        &self,
        source: &Repository,
        options: &CopyOptions,
        cancel: &CancelToken,
    ) -> Result<CopyReport> {
        let _source_lock = LockGuard::shared_if_writable(source, "copy (source)");
        let lock = LockGuard::shared(self, "copy")?;
        let mut index = Index::load(self)?;
        if crate::archive::adopt_unindexed_packs(self, &lock, &index)?.packs > 0 {
            index = Index::load(self)?;
        }
        let source_index = Index::load(source)?;
        let wanted = selected(source, options)?;
        let mut done: HashMap<SnapshotId, SnapshotId> = self
            .snapshots()?
            .snapshots
            .into_iter()
            .filter_map(|info| {
                let (_, from) = info.snapshot.meta.iter().find(|(key, _)| key == COPIED_FROM)?;
                let from = SnapshotId(cairn_format::id::ObjectId::from_hex(from)?);
                Some((from, info.id))
            })
            .collect();
        let mut copier = Copier {
            source,
            source_index: &source_index,
            dest: self,
            store: BlobStore::new(self, &index),
            same_keys: shares_content_keys(source, self),
            trees: HashMap::new(),
            files: HashMap::new(),
            wanted: Vec::new(),
            cancel,
        };
        let mut report = CopyReport { rechunked: !copier.same_keys, ..CopyReport::default() };
        for info in wanted {
            cancel.check()?;
            if let Some(copy) = done.get(&info.id) {
                report.already_copied.push((info.id, *copy));
                continue;
            }
            let root = crate::tree::with_walk_stack(|| copier.tree(&info.snapshot.tree, 0))?;
            copier.copy_wanted()?;
            // The trees and chunks are durable and indexed before the snapshot names them.
            lock.check()?;
            copier.store.checkpoint()?;
            let copy = copied_snapshot(&info, root, &done);
            lock.check()?;
            let id = self.save_snapshot(&copy)?;
            crate::crashpoint::hit("copy-after-snapshot");
            done.insert(info.id, id);
            report.copied.push((info.id, id));
        }
        (report.blobs_added, report.bytes_added) = copier.store.added();
        Ok(report)
    }
}

/// The source snapshots to copy, oldest first (so a parent is copied before its children).
fn selected(source: &Repository, options: &CopyOptions) -> Result<Vec<SnapshotInfo>> {
    if options.snapshots.is_empty() {
        return Ok(source.snapshots()?.snapshots);
    }
    let mut infos =
        options.snapshots.iter().map(|query| source.find_snapshot(query)).collect::<Result<Vec<_>>>()?;
    infos.sort_by_key(|info| (info.snapshot.time, info.id));
    infos.dedup_by(|a, b| a.id == b.id);
    Ok(infos)
}

/// The copy of `info` with root `root`: the same time, host, paths, tags, summary and
/// metadata, the parent's copy as parent (if it was copied), and `copied-from`.
fn copied_snapshot(info: &SnapshotInfo, root: TreeId, done: &HashMap<SnapshotId, SnapshotId>) -> Snapshot {
    let mut copy = info.snapshot.clone();
    copy.tree = root;
    copy.parent = info.snapshot.parent.and_then(|parent| done.get(&parent).copied());
    copy.meta.retain(|(key, _)| key != COPIED_FROM);
    copy.meta.push((COPIED_FROM.into(), info.id.to_string()));
    copy.meta.sort();
    copy
}

/// Rewrites source trees into the destination, remembering what it already did.
struct Copier<'a> {
    source: &'a Repository,
    source_index: &'a Index,
    dest: &'a Repository,
    store: BlobStore<'a>,
    /// The repositories cut and name content alike (see [`shares_content_keys`]): blobs move
    /// as they are, under the same ids, without being read as files and cut again.
    same_keys: bool,
    /// Source tree → destination tree.
    trees: HashMap<TreeId, TreeId>,
    /// Source chunk list of a file → destination chunk list.
    files: HashMap<Vec<ChunkRef>, Vec<ChunkRef>>,
    /// Data blobs the destination lacks, to be copied as they are (with shared keys).
    wanted: Vec<ObjectId>,
    cancel: &'a CancelToken,
}

/// Whether `dest` cuts and names content exactly as `source` does: the same chunk-id and
/// chunker keys and chunk sizes, as for a repository made with
/// [`Repository::init_sharing_keys`]. Then every source blob id is valid in `dest`.
fn shares_content_keys(source: &Repository, dest: &Repository) -> bool {
    source.sealer().same_content_keys(dest.sealer()) && source.config().chunker == dest.config().chunker
}

impl Copier<'_> {
    /// The destination id of source tree `id`, `depth` levels below the snapshot's root,
    /// storing it (and everything below) as needed.
    fn tree(&mut self, id: &TreeId, depth: usize) -> Result<TreeId> {
        if let Some(done) = self.trees.get(id) {
            return Ok(*done);
        }
        crate::tree::check_level(depth, id)?;
        self.cancel.check()?;
        let copied =
            if self.same_keys { self.tree_as_is(id, depth)? } else { self.tree_rechunked(id, depth)? };
        self.trees.insert(*id, copied);
        Ok(copied)
    }

    /// Copies a tree and the trees below it as they are, under the same ids; the chunks they
    /// name that the destination lacks are noted in `wanted`, for [`Copier::copy_wanted`].
    fn tree_as_is(&mut self, id: &TreeId, depth: usize) -> Result<TreeId> {
        let (payload, raw) =
            crate::pack::read_blob_payload(self.source, self.source_index, BlobType::Tree, &id.0)?;
        let tree = Tree::decode(&raw).map_err(|e| Error::from_format(crate::ObjectKind::TreeBlob, id, e))?;
        for node in &tree.nodes {
            match &node.kind {
                NodeKind::File { chunks } | NodeKind::Database { chunks, .. } => {
                    for chunk in chunks {
                        if self.store.is_new(BlobType::Data, chunk.id.0) {
                            self.wanted.push(chunk.id.0);
                        }
                    }
                }
                NodeKind::Dir { subtree } => {
                    self.tree(subtree, depth + 1)?;
                }
                NodeKind::Symlink { .. } => {}
            }
        }
        self.store.store_payload(BlobType::Tree, id.0, &payload)?;
        Ok(*id)
    }

    /// Stores the chunks [`Copier::tree_as_is`] found missing: each source pack is read once
    /// (in ranges, as a restore reads), and its blobs are opened, checked and sealed again for
    /// the destination on every core, a few reads at a time so memory stays bounded.
    fn copy_wanted(&mut self) -> Result<()> {
        let mut located = Vec::with_capacity(self.wanted.len());
        for id in self.wanted.drain(..) {
            let (pack, location) = self
                .source_index
                .locate(BlobType::Data, &id)
                .ok_or_else(|| Error::corrupt(crate::ObjectKind::DataBlob, id, crate::Damage::Missing))?;
            located.push((pack, u64::from(location.offset), u64::from(location.sealed_len), id));
        }
        let (source, dest) = (self.source, self.dest);
        let reads = crate::pack::ranged_reads(located);
        for group in reads.chunks(rayon::current_num_threads().max(1)) {
            self.cancel.check()?;
            let resealed: Vec<Result<Vec<Resealed>>> = group
                .par_iter()
                .map(|read| crate::repository::reread_once_if_damaged(|| reseal(source, dest, read)))
                .collect();
            for blobs in resealed {
                for blob in blobs? {
                    self.store.add_sealed(BlobType::Data, blob.id, &blob.sealed, blob.raw_len)?;
                }
            }
        }
        Ok(())
    }

    /// Copies a tree whose files are cut again with the destination's chunker.
    fn tree_rechunked(&mut self, id: &TreeId, depth: usize) -> Result<TreeId> {
        let tree = crate::tree::load_tree(self.source, self.source_index, id)?;
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for node in tree.nodes {
            let kind = match node.kind {
                NodeKind::File { chunks } => {
                    NodeKind::File { chunks: self.file(chunks, &self.dest.chunker())? }
                }
                NodeKind::Database { chunks, info } => {
                    NodeKind::Database { chunks: self.file(chunks, &self.dest.dump_chunker())?, info }
                }
                NodeKind::Dir { subtree } => NodeKind::Dir { subtree: self.tree(&subtree, depth + 1)? },
                other @ NodeKind::Symlink { .. } => other,
            };
            nodes.push(Node { kind, ..node });
        }
        let bytes =
            Tree { nodes }.encode().map_err(|e| Error::invalid("directory listing", e.to_string()))?;
        let copied = self.dest.sealer().tree_id(&bytes);
        self.store.store(BlobType::Tree, copied.0, &bytes)?;
        Ok(copied)
    }

    /// The destination chunks, cut by `chunker`, of a file (or database dump) whose source
    /// chunks are `chunks`.
    fn file(&mut self, chunks: Vec<ChunkRef>, chunker: &crate::chunker::Chunker) -> Result<Vec<ChunkRef>> {
        if let Some(done) = self.files.get(&chunks) {
            return Ok(done.clone());
        }
        let mut reader = SourceFile {
            repo: self.source,
            index: self.source_index,
            chunks: &chunks,
            next: 0,
            current: Vec::new(),
            pos: 0,
            failure: None,
        };
        let mut stream = chunker.chunks(&mut reader);
        let mut copied = Vec::new();
        while let Some(chunk) = stream.next_chunk() {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    drop(stream);
                    return Err(reader
                        .failure
                        .take()
                        .unwrap_or_else(|| Error::system("reading the source", e)));
                }
            };
            let id = self.dest.sealer().chunk_id(chunk);
            let raw_len =
                u32::try_from(chunk.len()).map_err(|_| Error::invalid("chunk", "larger than 4 GiB"))?;
            self.store.store(BlobType::Data, id.0, chunk)?;
            copied.push(ChunkRef { id, raw_len });
        }
        drop(stream);
        self.files.insert(chunks, copied.clone());
        Ok(copied)
    }
}

/// A data blob of the source, sealed for the destination.
struct Resealed {
    id: ObjectId,
    sealed: Vec<u8>,
    raw_len: u32,
}

/// Fetches one ranged read of a source pack and seals each of its blobs again for `dest`,
/// after opening and checking it in `source`.
fn reseal(source: &Repository, dest: &Repository, read: &PackRead<ObjectId>) -> Result<Vec<Resealed>> {
    let bytes = read.fetch(source)?;
    read.blobs
        .iter()
        .map(|entry| {
            let id = entry.item;
            let (payload, _) = source
                .sealer()
                .open_blob_payload(BlobType::Data, &id, read.sealed(&bytes, entry)?)
                .map_err(|damage| {
                    Error::corrupt(
                        crate::ObjectKind::DataBlob,
                        format!("{id} (in pack {})", read.pack.short()),
                        damage,
                    )
                })?;
            let sealed = dest
                .sealer()
                .seal_blob_payload(BlobType::Data, &id, &payload)
                .map_err(|e| Error::system("encryption", e))?;
            Ok(Resealed { id, sealed, raw_len: payload.raw_len })
        })
        .collect()
}

/// A file of the source repository as a byte stream, one chunk in memory at a time.
struct SourceFile<'a> {
    repo: &'a Repository,
    index: &'a Index,
    chunks: &'a [ChunkRef],
    next: usize,
    current: Vec<u8>,
    pos: usize,
    /// The typed error behind a failed read, for the caller.
    failure: Option<Error>,
}

impl Read for SourceFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            let Some(chunk) = self.chunks.get(self.next) else { return Ok(0) };
            self.next += 1;
            match crate::pack::read_blob(self.repo, self.index, BlobType::Data, &chunk.id.0) {
                Ok(raw) if raw.len() == chunk.raw_len as usize => self.current = raw,
                Ok(_) => {
                    let e = Error::corrupt(crate::ObjectKind::DataBlob, chunk.id, crate::Damage::Truncated);
                    self.failure = Some(e);
                    return Err(std::io::Error::other("a source chunk has the wrong length"));
                }
                Err(e) => {
                    self.failure = Some(e);
                    return Err(std::io::Error::other("a source chunk could not be read"));
                }
            }
            self.pos = 0;
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
