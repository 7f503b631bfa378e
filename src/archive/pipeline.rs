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

/// Batches of new blobs waiting for a seal worker. With batches of at most a few MiB, this
/// bounds the bytes between readers and sealers.
const SEAL_QUEUE: usize = 2;
/// Sealed batches waiting for the packer.
const PACK_QUEUE: usize = 1;
/// Finished packs waiting for an uploader.
const UPLOAD_QUEUE: usize = 1;
/// Small blobs (database dump chunks average 16 KiB) travel in batches of about this many
/// bytes: handing each on alone costs more in thread wake-ups than sealing it.
const BATCH_LEN: usize = 1 << 20;

/// Blobs of one type to seal, their plaintexts one after another in `raw`.
pub(crate) struct SealJob {
    blob_type: BlobType,
    /// Each blob's id and length, in the order of `raw`.
    blobs: Vec<(ObjectId, u32)>,
    raw: Vec<u8>,
}

/// A [`SealJob`] sealed: the sealed blobs one after another, for the packer.
struct SealedBatch {
    blob_type: BlobType,
    /// Each blob's id, plaintext length and sealed length, in the order of `sealed`.
    blobs: Vec<(ObjectId, u32, usize)>,
    sealed: Vec<u8>,
}

/// Collects new blobs into a [`SealJob`] and sends it to the seal workers once it holds
/// [`BATCH_LEN`] bytes, and when dropped: a blob claimed (see [`Shared::claim`]) is always
/// sent, even when the file it came from is then given up, since other files may use it.
pub(crate) struct SealBatch<'s, 'a> {
    shared: &'s Shared<'a>,
    seal: &'s Sender<SealJob>,
    job: Option<SealJob>,
}

impl<'s, 'a> SealBatch<'s, 'a> {
    pub(crate) fn new(shared: &'s Shared<'a>, seal: &'s Sender<SealJob>) -> Self {
        SealBatch { shared, seal, job: None }
    }

    /// Adds a blob that this backup claimed and must store.
    pub(crate) fn add(&mut self, blob_type: BlobType, id: ObjectId, raw: &[u8]) -> Result<()> {
        if self.job.as_ref().is_some_and(|job| job.blob_type != blob_type) {
            self.send()?;
        }
        let len = u32::try_from(raw.len()).expect("blobs are limited to far below 4 GiB");
        let job = self.job.get_or_insert_with(|| SealJob {
            blob_type,
            blobs: Vec::new(),
            raw: self.shared.buffers.take(),
        });
        job.blobs.push((id, len));
        job.raw.extend_from_slice(raw);
        if job.raw.len() >= BATCH_LEN { self.send() } else { Ok(()) }
    }

    /// Sends the blobs collected so far.
    pub(crate) fn send(&mut self) -> Result<()> {
        match self.job.take() {
            Some(job) => self.seal.send(job).map_err(|_| Error::Cancelled),
            None => Ok(()),
        }
    }
}

impl Drop for SealBatch<'_, '_> {
    fn drop(&mut self) {
        // Fails only once the seal workers are gone, when the backup has failed anyway.
        let _ = self.send();
    }
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
    let (pack_tx, pack_rx) = crossbeam_channel::bounded::<SealedBatch>(PACK_QUEUE);
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

fn seal_worker(shared: &Shared<'_>, jobs: &Receiver<SealJob>, out: &Sender<SealedBatch>) {
    let sealer = shared.repo.sealer();
    for job in jobs {
        if shared.aborted.load(Ordering::Relaxed) {
            shared.buffers.give(job.raw);
            continue;
        }
        let mut batch = SealedBatch {
            blob_type: job.blob_type,
            blobs: Vec::with_capacity(job.blobs.len()),
            sealed: shared.buffers.take(),
        };
        let mut at = 0;
        let mut result = Ok(());
        for &(id, raw_len) in &job.blobs {
            let raw = &job.raw[at..at + raw_len as usize];
            at += raw.len();
            let start = batch.sealed.len();
            result = sealer.seal_blob_into(job.blob_type, &id, raw, &mut batch.sealed);
            if result.is_err() {
                break;
            }
            batch.blobs.push((id, raw_len, batch.sealed.len() - start));
        }
        shared.buffers.give(job.raw);
        match result {
            Ok(()) => {
                if out.send(batch).is_err() {
                    return;
                }
            }
            Err(e) => {
                shared.buffers.give(batch.sealed);
                shared.fail(Error::system("encryption", e));
            }
        }
    }
}

/// Fills one tree pack and two data packs; each data blob goes to one of the two at random,
/// so the order of a file's chunks cannot be read off the pack layout (restic 0.18 does the
/// same against chunk-size fingerprinting).
fn packer(shared: &Shared<'_>, batches: &Receiver<SealedBatch>, out: &Sender<SealedPack>) {
    if let Err(e) = fill_packs(shared, batches, out) {
        shared.fail(e);
        // Keep draining so the seal workers are never blocked on a full queue.
        for batch in batches {
            shared.buffers.give(batch.sealed);
        }
    }
}

fn fill_packs(shared: &Shared<'_>, batches: &Receiver<SealedBatch>, out: &Sender<SealedPack>) -> Result<()> {
    let config = shared.repo.config();
    let spool = shared.repo.storage().spool_dir();
    let mut data: [Option<PackBuilder>; 2] = [None, None];
    let mut tree: Option<PackBuilder> = None;
    let mut coin = Coin::default();
    for batch in batches {
        let mut at = 0;
        for &(id, raw_len, sealed_len) in &batch.blobs {
            let sealed = &batch.sealed[at..at + sealed_len];
            at += sealed_len;
            let (slot, target) = match batch.blob_type {
                BlobType::Data => (&mut data[usize::from(coin.flip())], config.data_pack_len),
                BlobType::Tree => (&mut tree, config.tree_pack_len),
            };
            if slot.is_none() {
                *slot = Some(PackBuilder::new(batch.blob_type, spool)?);
            }
            let builder = slot.as_mut().expect("filled just above");
            builder.add(id, sealed, raw_len)?;
            if builder.is_full(u64::from(target)) {
                let full = slot.take().expect("filled just above");
                if out.send(full.finish(shared.repo.sealer())?).is_err() {
                    return Ok(());
                }
            }
        }
        shared.buffers.give(batch.sealed);
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
