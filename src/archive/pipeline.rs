//! The storing half of a backup: seal workers compress and encrypt new blobs in parallel, one
//! packer thread fills packs, uploader threads store finished packs and record them for the
//! index. Every queue between stages is bounded, so memory stays bounded whatever the input.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use cairn_format::envelope::BlobType;
use cairn_format::id::ObjectId;
use crossbeam_channel::{Receiver, Sender};

use crate::buffer_pool::BufferPool;
use crate::error::{Error, Result};
use crate::index::{Index, IndexWriter};
use crate::lock::LockGuard;
use crate::pack::{PackBuilder, SealedPack};
use crate::progress::{CancelToken, Meter, Progress, SourceWarning};
use crate::repository::Repository;

/// New blobs waiting for a seal worker. With chunks of at most a few MiB, this bounds the
/// bytes between readers and sealers.
const SEAL_QUEUE: usize = 2;
/// Sealed blobs waiting for the packer.
const PACK_QUEUE: usize = 1;
/// Finished packs waiting for an uploader.
const UPLOAD_QUEUE: usize = 1;

/// A blob to seal.
pub(crate) struct SealJob {
    pub(crate) blob_type: BlobType,
    pub(crate) id: ObjectId,
    pub(crate) raw: Vec<u8>,
}

/// A sealed blob for the packer.
struct SealedBlob {
    blob_type: BlobType,
    id: ObjectId,
    raw_len: u32,
    sealed: Vec<u8>,
}

/// Counters that end up in the snapshot's summary.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) files_new: AtomicU64,
    pub(crate) files_changed: AtomicU64,
    pub(crate) files_unmodified: AtomicU64,
    pub(crate) dirs_new: AtomicU64,
    pub(crate) dirs_changed: AtomicU64,
    pub(crate) dirs_unmodified: AtomicU64,
    pub(crate) data_blobs_added: AtomicU64,
    pub(crate) tree_blobs_added: AtomicU64,
    pub(crate) data_added_raw: AtomicU64,
    pub(crate) data_added: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) total_files: AtomicU64,
    pub(crate) total_bytes: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// State shared by every thread of one backup.
pub(crate) struct Shared<'a> {
    pub(crate) repo: &'a Repository,
    pub(crate) index: &'a Index,
    /// The backup's shared lock: checked before every index file is written.
    lock: &'a LockGuard,
    pub(crate) meter: &'a Meter,
    pub(crate) progress: &'a dyn Progress,
    pub(crate) cancel: &'a CancelToken,
    pub(crate) counters: Counters,
    pending_data: Mutex<HashSet<ObjectId>>,
    pending_trees: Mutex<HashSet<ObjectId>>,
    index_writer: Mutex<IndexWriter>,
    /// Buffers for chunks and sealed blobs in flight.
    pub(crate) buffers: BufferPool,
    warnings: Mutex<Vec<SourceWarning>>,
    failure: Mutex<Option<Error>>,
    aborted: AtomicBool,
}

impl<'a> Shared<'a> {
    pub(crate) fn new(
        repo: &'a Repository,
        index: &'a Index,
        lock: &'a LockGuard,
        meter: &'a Meter,
        progress: &'a dyn Progress,
        cancel: &'a CancelToken,
        threads: usize,
    ) -> Self {
        Shared {
            repo,
            index,
            lock,
            meter,
            progress,
            cancel,
            counters: Counters::default(),
            pending_data: Mutex::default(),
            pending_trees: Mutex::default(),
            index_writer: Mutex::new(IndexWriter::new()),
            // What the queues, the readers, the seal workers (input and output each) and the
            // packer hold at once.
            buffers: BufferPool::new(SEAL_QUEUE + PACK_QUEUE + 3 * threads + 1),
            warnings: Mutex::default(),
            failure: Mutex::default(),
            aborted: AtomicBool::new(false),
        }
    }

    /// Records the first fatal error and makes every stage wind down.
    pub(crate) fn fail(&self, error: Error) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.is_none() {
            *failure = Some(error);
        }
        self.aborted.store(true, Ordering::Relaxed);
    }

    /// `Err` once the caller cancelled or a stage failed (only a failure sets `aborted`): checked between units of work.
    pub(crate) fn check(&self) -> Result<()> {
        if self.aborted.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        self.cancel.check()
    }

    /// The error that stopped the backup, if one did.
    pub(crate) fn take_failure(&self) -> Option<Error> {
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// A source entry was skipped.
    pub(crate) fn warn(&self, path: &std::path::Path, message: String) {
        let warning = SourceWarning { path: path.to_path_buf(), message };
        self.progress.warning(&warning);
        self.warnings.lock().unwrap_or_else(PoisonError::into_inner).push(warning);
    }

    /// Tells the caller about something that does not affect the snapshot's content (and so
    /// is not a source warning and does not make the backup partial).
    pub(crate) fn notice(&self, path: &std::path::Path, message: String) {
        self.progress.warning(&SourceWarning { path: path.to_path_buf(), message });
    }

    pub(crate) fn take_warnings(&self) -> Vec<SourceWarning> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether the blob is stored or about to be; marks it pending if neither, so the caller
    /// that gets `false` is the one that must store it.
    pub(crate) fn claim(&self, blob_type: BlobType, id: &ObjectId) -> bool {
        if self.index.contains(blob_type, id) {
            return true;
        }
        let pending = match blob_type {
            BlobType::Data => &self.pending_data,
            BlobType::Tree => &self.pending_trees,
        };
        !pending.lock().unwrap_or_else(PoisonError::into_inner).insert(*id)
    }

    /// Whether the blob is stored or pending, without claiming it.
    pub(crate) fn has(&self, blob_type: BlobType, id: &ObjectId) -> bool {
        self.index.contains(blob_type, id)
            || match blob_type {
                BlobType::Data => &self.pending_data,
                BlobType::Tree => &self.pending_trees,
            }
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    /// Writes an index file for the packs stored so far (a checkpoint, or the final one).
    ///
    /// Not once the lock may have looked stale to a prune: the packs named could be gone.
    pub(crate) fn flush_index(&self) -> Result<()> {
        let packs = self.index_writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if packs.is_empty() {
            return Ok(());
        }
        self.lock.check()?;
        if let Some((_, len)) = crate::index::write_index(self.repo, packs, Vec::new())? {
            add(&self.counters.data_added, len);
        }
        crate::crashpoint::hit("backup-after-index");
        Ok(())
    }
}

/// Starts the seal workers, the packer and the uploaders on `scope`; returns the sender new
/// blobs go to. The stages end when that sender (and its clones) is dropped.
pub(crate) fn start<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    shared: &'scope Shared<'env>,
    seal_workers: usize,
) -> Sender<SealJob> {
    let (seal_tx, seal_rx) = crossbeam_channel::bounded::<SealJob>(SEAL_QUEUE);
    let (pack_tx, pack_rx) = crossbeam_channel::bounded::<SealedBlob>(PACK_QUEUE);
    let (upload_tx, upload_rx) = crossbeam_channel::bounded::<SealedPack>(UPLOAD_QUEUE);
    for _ in 0..seal_workers {
        let (rx, tx) = (seal_rx.clone(), pack_tx.clone());
        scope.spawn(move || seal_worker(shared, &rx, &tx));
    }
    drop(pack_tx);
    scope.spawn(move || packer(shared, &pack_rx, &upload_tx));
    // As many uploads at once as the storage is good for (`--connections`).
    for _ in 0..shared.repo.storage().connections() {
        let rx = upload_rx.clone();
        scope.spawn(move || uploader(shared, &rx));
    }
    seal_tx
}

fn seal_worker(shared: &Shared<'_>, jobs: &Receiver<SealJob>, out: &Sender<SealedBlob>) {
    let sealer = shared.repo.sealer();
    for job in jobs {
        if shared.aborted.load(Ordering::Relaxed) {
            continue;
        }
        let plain_len = u32::try_from(job.raw.len()).expect("blobs are limited to far below 4 GiB");
        let mut sealed = shared.buffers.take();
        let result = sealer.seal_blob_into(job.blob_type, &job.id, &job.raw, &mut sealed);
        shared.buffers.give(job.raw);
        match result {
            Ok(()) => {
                let blob = SealedBlob { blob_type: job.blob_type, id: job.id, raw_len: plain_len, sealed };
                if out.send(blob).is_err() {
                    return;
                }
            }
            Err(e) => shared.fail(Error::system("encryption", e)),
        }
    }
}

/// Fills one tree pack and two data packs; each data blob goes to one of the two at random,
/// so the order of a file's chunks cannot be read off the pack layout (restic 0.18 does the
/// same against chunk-size fingerprinting).
fn packer(shared: &Shared<'_>, blobs: &Receiver<SealedBlob>, out: &Sender<SealedPack>) {
    if let Err(e) = fill_packs(shared, blobs, out) {
        shared.fail(e);
        // Keep draining so the seal workers are never blocked on a full queue.
        for blob in blobs {
            shared.buffers.give(blob.sealed);
        }
    }
}

fn fill_packs(shared: &Shared<'_>, blobs: &Receiver<SealedBlob>, out: &Sender<SealedPack>) -> Result<()> {
    let config = shared.repo.config();
    let spool = shared.repo.storage().spool_dir();
    let mut data: [Option<PackBuilder>; 2] = [None, None];
    let mut tree: Option<PackBuilder> = None;
    let mut coin = Coin::default();
    for blob in blobs {
        let (slot, target) = match blob.blob_type {
            BlobType::Data => (&mut data[usize::from(coin.flip())], config.data_pack_len),
            BlobType::Tree => (&mut tree, config.tree_pack_len),
        };
        if slot.is_none() {
            *slot = Some(PackBuilder::new(blob.blob_type, spool)?);
        }
        let builder = slot.as_mut().expect("filled just above");
        builder.add(blob.id, &blob.sealed, blob.raw_len)?;
        shared.buffers.give(blob.sealed);
        if builder.is_full(u64::from(target)) {
            let full = slot.take().expect("filled just above");
            if out.send(full.finish(shared.repo.sealer())?).is_err() {
                return Ok(());
            }
        }
    }
    for builder in data.into_iter().chain([tree]).flatten() {
        if !builder.is_empty() && out.send(builder.finish(shared.repo.sealer())?).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Stores packs, then records them for the index: a pack is named by an index only once it
/// is durable (SPEC §12).
fn uploader(shared: &Shared<'_>, packs: &Receiver<SealedPack>) {
    for pack in packs {
        // A failure stops storing; a cancellation does not, so a re-run reuses what was sealed.
        if shared.aborted.load(Ordering::Relaxed) {
            let _ = std::fs::remove_file(&pack.spool_path);
            continue;
        }
        match pack.store(shared.repo) {
            Ok(true) => {
                add(&shared.counters.data_added, pack.len);
                crate::crashpoint::hit("backup-after-pack");
            }
            Ok(false) => {}
            Err(e) => {
                shared.fail(e.into());
                continue;
            }
        }
        let checkpoint = {
            let mut writer = shared.index_writer.lock().unwrap_or_else(PoisonError::into_inner);
            writer.add(pack.index_entry());
            writer.wants_checkpoint()
        };
        if checkpoint && let Err(e) = shared.flush_index() {
            shared.fail(e);
        }
    }
}

/// Random bits for pack assignment, refilled from the OS 64 at a time.
#[derive(Default)]
struct Coin {
    bits: u64,
    left: u32,
}

impl Coin {
    fn flip(&mut self) -> bool {
        if self.left == 0 {
            let mut bytes = [0u8; 8];
            // Should the RNG fail, alternating packs is still a correct (if predictable) layout.
            if crate::crypto::random_bytes(&mut bytes).is_err() {
                bytes = [0b0101_0101; 8];
            }
            self.bits = u64::from_le_bytes(bytes);
            self.left = 64;
        }
        let bit = self.bits & 1 == 1;
        self.bits >>= 1;
        self.left -= 1;
        bit
    }
}
