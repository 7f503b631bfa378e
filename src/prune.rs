//! `prune`: reclaims the space of data no snapshot needs (SPEC §12.2).
//!
//! Plan, then execute. The plan comes from complete listings (snapshots, index files, packs)
//! that must agree with each other; anything unreadable or missing stops the prune before it
//! changes anything. Execution only ever moves forward through durable states:
//!
//! 1. repack: still-used blobs of mostly-unused packs are copied, sealed bytes unchanged,
//!    into new packs, which are made durable;
//! 2. a new index (naming the kept and the new packs, superseding every index file read) is
//!    made durable;
//! 3. the old index files are removed;
//! 4. the packs no longer named are removed.
//!
//! Killed anywhere, the repository is consistent: before 2 the new packs are unindexed
//! orphans; between 2 and 4 the old packs are orphans. The next prune removes orphans.
//!
//! Concurrency (see `lock`): prune holds the exclusive lock and removes nothing while a
//! shared lock is live or while the set of snapshots differs from the one planned with. It
//! checks before the new index and again right before removing packs; if the second check
//! fails it writes an index naming the packs it was about to remove (they all still exist)
//! and stops, so a backup that started meanwhile never refers to a removed pack.

use std::collections::{HashMap, HashSet};

use cairn_format::envelope::BlobType;
use cairn_format::header::FileKind;
use cairn_format::id::{IndexId, ObjectId, PackId, SnapshotId, TreeId};
use cairn_format::index::IndexPack;
use cairn_format::pack::PackEntry;
use cairn_format::tree::NodeKind;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::index::{Index, read_index_files};
use crate::layout;
use crate::lock::{LockGuard, live_locks_except};
use crate::pack::PackBuilder;
use crate::progress::CancelToken;
use crate::repository::Repository;
use crate::snapshot::SnapshotInfo;
use crate::tree::load_tree;

/// Packs per index file prune writes (a few MiB of index each).
const PACKS_PER_INDEX_FILE: usize = 50_000;

/// How to prune.
#[derive(Clone, Copy, Debug)]
pub struct PruneOptions {
    /// Repack a pack when more than this percentage of its bytes is unused.
    pub max_unused_percent: f64,
    /// Plan and report, change nothing.
    pub dry_run: bool,
    /// Allow pruning a repository that has no snapshot at all (everything would go).
    pub allow_empty: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions { max_unused_percent: 5.0, dry_run: false, allow_empty: false }
    }
}

/// What a prune found and did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Packs the index names.
    pub packs: u64,
    /// Their bytes.
    pub pack_bytes: u64,
    /// Blobs some snapshot needs (one copy each).
    pub used_blobs: u64,
    /// Indexed blobs no snapshot needs, and extra copies.
    pub unused_blobs: u64,
    /// Sealed bytes of the unused blobs.
    pub unused_bytes: u64,
    /// Packs with no used blob: removed.
    pub packs_removed: u64,
    /// Packs mostly unused: their used blobs copied, then removed.
    pub packs_repacked: u64,
    /// Packs no index names (left by interrupted operations): removed.
    pub orphan_packs_removed: u64,
    /// Bytes of every pack removed.
    pub bytes_removed: u64,
    /// Bytes of the blobs copied into new packs.
    pub bytes_repacked: u64,
    /// New packs written.
    pub packs_written: u64,
    /// Unused bytes left in kept packs (under the repack threshold).
    pub unused_bytes_kept: u64,
    /// Index files written and removed.
    pub index_files_written: u64,
    /// Old index files removed.
    pub index_files_removed: u64,
}

impl PruneReport {
    /// Bytes the repository shrinks by.
    #[must_use]
    pub fn bytes_freed(&self) -> u64 {
        self.bytes_removed.saturating_sub(self.bytes_repacked)
    }
}

/// Which blobs the snapshots need: one bit per blob of each type, by index position.
struct Used {
    data: Vec<u64>,
    tree: Vec<u64>,
}

impl Used {
    fn new(index: &Index) -> Used {
        let words = |n: usize| vec![0u64; n.div_ceil(64)];
        Used { data: words(index.blob_count(BlobType::Data)), tree: words(index.blob_count(BlobType::Tree)) }
    }

    fn bits(&mut self, blob_type: BlobType) -> &mut Vec<u64> {
        match blob_type {
            BlobType::Data => &mut self.data,
            BlobType::Tree => &mut self.tree,
        }
    }

    /// Marks a blob; returns whether it was new.
    fn mark(&mut self, blob_type: BlobType, position: usize) -> bool {
        let word = &mut self.bits(blob_type)[position / 64];
        let bit = 1u64 << (position % 64);
        let new = *word & bit == 0;
        *word |= bit;
        new
    }

    fn is_marked(&self, blob_type: BlobType, position: usize) -> bool {
        let bits = match blob_type {
            BlobType::Data => &self.data,
            BlobType::Tree => &self.tree,
        };
        bits[position / 64] & (1u64 << (position % 64)) != 0
    }
}

/// What to do with one pack.
enum PackFate {
    Keep,
    /// Copy these entries into new packs, then remove the pack.
    Repack(Vec<PackEntry>),
    Remove,
}

/// The plan: computed from listings, executed only if nothing changed meanwhile.
struct Plan {
    snapshots: Vec<SnapshotId>,
    index_files: Vec<IndexId>,
    records: Vec<IndexPack>,
    fates: HashMap<PackId, PackFate>,
    orphans: Vec<(PackId, u64)>,
    report: PruneReport,
}

impl Repository {
    /// Removes data no snapshot needs; see the module documentation for the procedure.
    pub fn prune(&self, options: &PruneOptions, cancel: &CancelToken) -> Result<PruneReport> {
        if options.dry_run {
            return Ok(self.plan_prune(options)?.report);
        }
        let lock = LockGuard::exclusive(self, "prune")?;
        let session = lock.session();
        self.refuse_if_in_use(&session)?;
        let plan = self.plan_prune(options)?;
        cancel.check()?;
        let mut report = plan.report.clone();
        let new_packs = self.repack(&plan, &mut report)?;
        crate::crashpoint::hit("prune-after-repack");
        cancel.check()?;
        lock.check()?;
        self.refuse_if_changed(&session, &plan, &plan.index_files)?;

        let mut kept: Vec<IndexPack> = plan
            .records
            .iter()
            .filter(|r| matches!(plan.fates.get(&r.id), Some(PackFate::Keep)))
            .cloned()
            .collect();
        kept.extend(new_packs);
        let written = self.write_superseding_index(kept, &plan.index_files)?;
        report.index_files_written = written.len() as u64;
        crate::crashpoint::hit("prune-after-index");
        for id in &plan.index_files {
            self.storage().remove(&layout::file_path(FileKind::Index, &id.0))?;
        }
        report.index_files_removed = plan.index_files.len() as u64;
        crate::crashpoint::hit("prune-after-index-removal");

        // On storage whose listings lag, a backup that started up to one lag ago may not be
        // listed yet, and may itself have listed the old index files: after two lags its lock
        // is listed, or it started after both index changes were listed (SPEC §12.3 step 9).
        wait(self.storage().listing_lag() * 2, cancel)?;
        lock.check()?;
        if let Err(e) = self.refuse_if_changed(&session, &plan, &written) {
            // Someone may have read the old index since: name the packs again, all of which
            // still exist, and leave them for the next prune.
            let doomed: Vec<IndexPack> = plan
                .records
                .iter()
                .filter(|r| !matches!(plan.fates.get(&r.id), Some(PackFate::Keep)))
                .cloned()
                .collect();
            crate::index::write_index(self, doomed, Vec::new())?;
            return Err(e);
        }
        let doomed = plan
            .records
            .iter()
            .filter(|r| !matches!(plan.fates.get(&r.id), Some(PackFate::Keep)))
            .map(|r| r.id)
            .chain(plan.orphans.iter().map(|(id, _)| *id));
        for id in doomed {
            match self.storage().remove(&layout::file_path(FileKind::Pack, &id.0)) {
                Ok(()) => crate::crashpoint::hit("prune-after-pack-removal"),
                // Keeping a pack too many never damages the repository; the next prune tries again.
                Err(e) => self.warn(&format!("pack {} not removed: {e}", id.short())),
            }
        }
        remove_old_spool_files(self.storage().spool_dir());
        Ok(report)
    }

    /// Fails if another operation holds a live lock (prune removes nothing meanwhile).
    fn refuse_if_in_use(&self, session: &[u8; 16]) -> Result<()> {
        match live_locks_except(self, Some(session))?.first() {
            Some(found) => {
                Err(Error::Locked { what: "prune removed nothing".into(), holder: found.describe() })
            }
            None => Ok(()),
        }
    }

    /// [`Repository::refuse_if_in_use`]; and the snapshots must still be those planned with
    /// and the index files exactly `index_files`: anything else means another operation
    /// (one that has finished since) wrote to the repository while prune ran.
    fn refuse_if_changed(&self, session: &[u8; 16], plan: &Plan, index_files: &[IndexId]) -> Result<()> {
        self.refuse_if_in_use(session)?;
        let snapshots: Vec<SnapshotId> = self.list(FileKind::Snapshot)?.into_iter().map(SnapshotId).collect();
        let mut expected: Vec<IndexId> = index_files.to_vec();
        expected.sort();
        let index: Vec<IndexId> = self.list(FileKind::Index)?.into_iter().map(IndexId).collect();
        if snapshots != plan.snapshots || index != expected {
            return Err(Error::Locked {
                what: "prune removed nothing".into(),
                holder: "an operation that wrote snapshots or index files while prune ran; run prune again"
                    .into(),
            });
        }
        Ok(())
    }

    fn plan_prune(&self, options: &PruneOptions) -> Result<Plan> {
        let listing = self.snapshots()?;
        if let Some((id, e)) = listing.damaged.first() {
            return Err(Error::invalid(
                "prune",
                format!(
                    "snapshot {} cannot be read ({e}); prune must know what every snapshot needs: run `cairn check`, then `cairn repair snapshots` or `cairn forget {}`",
                    id.short(),
                    id.short()
                ),
            ));
        }
        let files = read_index_files(self)?;
        let all_index_files: Vec<IndexId> = self.list(FileKind::Index)?.into_iter().map(IndexId).collect();
        let index = Index::from_files(files.readable.clone());
        if let Some((id, e)) = files.damaged.iter().find(|(id, _)| !index.is_superseded(id)) {
            return Err(Error::invalid(
                "prune",
                format!("index file {} cannot be read ({e}); run `cairn repair index` first", id.short()),
            ));
        }
        let records = merged_records(files.readable);
        let stored: HashMap<PackId, u64> = layout::list_with_len(self.storage(), FileKind::Pack)?
            .into_iter()
            .map(|(id, len)| (PackId(id), len))
            .collect();
        for record in &records {
            match stored.get(&record.id) {
                Some(&len) if len == u64::from(record.pack_len) => {}
                found => {
                    return Err(Error::invalid(
                        "prune",
                        format!(
                            "pack {} is {} but the index names it with {} bytes; the listing may be incomplete, so nothing was changed: run `cairn check`",
                            record.id.short(),
                            found.map_or_else(|| "missing".to_string(), |len| format!("{len} bytes")),
                            record.pack_len
                        ),
                    ));
                }
            }
        }
        if listing.snapshots.is_empty() && !records.is_empty() && !options.allow_empty {
            return Err(Error::invalid(
                "prune",
                "there is no snapshot, so every pack would be removed; if that is what you want, pass --unsafe-allow-remove-all",
            ));
        }
        let used = self.mark_used(&index, &listing.snapshots)?;
        let indexed: HashSet<PackId> = records.iter().map(|r| r.id).collect();
        let orphans: Vec<(PackId, u64)> =
            stored.iter().filter(|(id, _)| !indexed.contains(id)).map(|(id, len)| (*id, *len)).collect();
        let mut report = PruneReport::default();
        let fates = classify(&records, &index, &used, options.max_unused_percent, &mut report);
        report.orphan_packs_removed = orphans.len() as u64;
        report.bytes_removed += orphans.iter().map(|(_, len)| len).sum::<u64>();
        let mut snapshots: Vec<SnapshotId> = listing.snapshots.iter().map(|s| s.id).collect();
        snapshots.sort();
        Ok(Plan { snapshots, index_files: all_index_files, records, fates, orphans, report })
    }

    /// Marks every blob reachable from the snapshots: trees level by level, in parallel,
    /// each distinct tree once. A tree that cannot be read, or a blob not in the index,
    /// stops the prune: what is missing cannot be accounted for.
    fn mark_used(&self, index: &Index, snapshots: &[SnapshotInfo]) -> Result<Used> {
        let mut used = Used::new(index);
        let missing = |blob_type: BlobType, id: &ObjectId| {
            Error::invalid(
                "prune",
                format!(
                    "{} blob {} is needed by a snapshot but is in no index; run `cairn check` and `cairn repair index`",
                    if blob_type == BlobType::Tree { "tree" } else { "data" },
                    id.short()
                ),
            )
        };
        let mut level: Vec<TreeId> = Vec::new();
        for snapshot in snapshots {
            let root = snapshot.snapshot.tree;
            let position =
                index.position(BlobType::Tree, &root.0).ok_or_else(|| missing(BlobType::Tree, &root.0))?;
            if used.mark(BlobType::Tree, position) {
                level.push(root);
            }
        }
        while !level.is_empty() {
            let trees: Vec<Result<cairn_format::tree::Tree>> =
                level.par_iter().map(|id| load_tree(self, index, id)).collect();
            let mut next = Vec::new();
            for tree in trees {
                for node in tree?.nodes {
                    match node.kind {
                        NodeKind::Dir { subtree } => {
                            let position = index
                                .position(BlobType::Tree, &subtree.0)
                                .ok_or_else(|| missing(BlobType::Tree, &subtree.0))?;
                            if used.mark(BlobType::Tree, position) {
                                next.push(subtree);
                            }
                        }
                        NodeKind::File { chunks } | NodeKind::Database { chunks, .. } => {
                            for chunk in chunks {
                                let position = index
                                    .position(BlobType::Data, &chunk.id.0)
                                    .ok_or_else(|| missing(BlobType::Data, &chunk.id.0))?;
                                used.mark(BlobType::Data, position);
                            }
                        }
                        NodeKind::Symlink { .. } => {}
                    }
                }
            }
            level = next;
        }
        Ok(used)
    }

    /// Copies the used blobs of every pack to repack into new packs, sealed bytes unchanged
    /// (blob boxes are bound to their type and id, not to a pack). Each copied blob is
    /// opened and checked first: a damaged blob stops the prune rather than being spread.
    fn repack(&self, plan: &Plan, report: &mut PruneReport) -> Result<Vec<IndexPack>> {
        let mut writers: HashMap<BlobType, PackBuilder> = HashMap::new();
        let mut written = Vec::new();
        for record in &plan.records {
            let Some(PackFate::Repack(entries)) = plan.fates.get(&record.id) else { continue };
            let bytes =
                crate::repository::reread_once_if_damaged(|| self.read_checked_pack(record, entries))?;
            for entry in entries {
                let range = entry.offset as usize..(entry.offset + entry.sealed_len) as usize;
                let sealed = &bytes[range];
                let target = match entry.blob_type {
                    BlobType::Data => self.config().data_pack_len,
                    BlobType::Tree => self.config().tree_pack_len,
                };
                let builder = match writers.entry(entry.blob_type) {
                    std::collections::hash_map::Entry::Occupied(slot) => slot.into_mut(),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(PackBuilder::new(entry.blob_type, self.storage().spool_dir())?)
                    }
                };
                builder.add(entry.id, sealed, entry.raw_len)?;
                report.bytes_repacked += u64::from(entry.sealed_len);
                if builder.is_full(u64::from(target))
                    && let Some(full) = writers.remove(&entry.blob_type)
                {
                    written.push(self.store_pack(full)?);
                }
            }
        }
        for (_, builder) in writers {
            if !builder.is_empty() {
                written.push(self.store_pack(builder)?);
            }
        }
        report.packs_written = written.len() as u64;
        Ok(written)
    }

    /// A pack's bytes, once every blob to copy out of it has been opened and checked.
    fn read_checked_pack(&self, record: &IndexPack, entries: &[PackEntry]) -> Result<Vec<u8>> {
        let path = layout::file_path(FileKind::Pack, &record.id.0);
        let bytes = self.storage().read(&path, u64::from(record.pack_len))?;
        for entry in entries {
            let range = entry.offset as usize..(entry.offset + entry.sealed_len) as usize;
            let sealed = bytes.get(range).ok_or_else(|| {
                Error::corrupt(crate::error::ObjectKind::Pack, record.id, crate::error::Damage::Truncated)
            })?;
            self.sealer().open_blob(entry.blob_type, &entry.id, sealed).map_err(|damage| {
                Error::corrupt(
                    blob_object(entry.blob_type),
                    format!("{} (in pack {})", entry.id, record.id.short()),
                    damage,
                )
            })?;
        }
        Ok(bytes)
    }

    fn store_pack(&self, builder: PackBuilder) -> Result<IndexPack> {
        let pack = builder.finish(self.sealer())?;
        pack.store(self)?;
        Ok(pack.index_entry())
    }

    /// Writes `packs` in index files; the one written last supersedes `old`, so the old
    /// files stop counting only once every new one is durable. Returns the files written.
    fn write_superseding_index(&self, mut packs: Vec<IndexPack>, old: &[IndexId]) -> Result<Vec<IndexId>> {
        let mut written = Vec::new();
        while packs.len() > PACKS_PER_INDEX_FILE {
            let rest = packs.split_off(PACKS_PER_INDEX_FILE);
            let chunk = std::mem::replace(&mut packs, rest);
            written.extend(crate::index::write_index(self, chunk, Vec::new())?.map(|(id, _)| id));
        }
        written.extend(crate::index::write_index(self, packs, old.to_vec())?.map(|(id, _)| id));
        Ok(written)
    }
}

/// One record per pack from the index files read (the first wins, as for readers).
fn merged_records(files: Vec<(IndexId, cairn_format::index::IndexFile)>) -> Vec<IndexPack> {
    let superseded: HashSet<IndexId> = files.iter().flat_map(|(_, f)| f.supersedes.iter().copied()).collect();
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    for (id, file) in files {
        if superseded.contains(&id) {
            continue;
        }
        for pack in file.packs {
            if seen.insert(pack.id) {
                records.push(pack);
            }
        }
    }
    records
}

/// Decides each pack's fate. A blob counts as used in one pack only: the copy the index
/// resolves it to; other copies are unused, so prune keeps exactly one.
fn classify(
    records: &[IndexPack],
    index: &Index,
    used: &Used,
    max_unused_percent: f64,
    report: &mut PruneReport,
) -> HashMap<PackId, PackFate> {
    let numbers: HashMap<PackId, u32> =
        index.packs().iter().enumerate().map(|(i, id)| (*id, u32::try_from(i).unwrap_or(u32::MAX))).collect();
    let mut fates = HashMap::new();
    for record in records {
        let number = numbers.get(&record.id).copied();
        let (kept, dropped): (Vec<&PackEntry>, Vec<&PackEntry>) = record.blobs.iter().partition(|entry| {
            let canonical = index
                .get(entry.blob_type, &entry.id)
                .is_some_and(|loc| Some(loc.pack) == number && loc.offset == entry.offset);
            canonical
                && index
                    .position(entry.blob_type, &entry.id)
                    .is_some_and(|p| used.is_marked(entry.blob_type, p))
        });
        let unused_bytes: u64 = dropped.iter().map(|e| u64::from(e.sealed_len)).sum();
        report.packs += 1;
        report.pack_bytes += u64::from(record.pack_len);
        report.used_blobs += kept.len() as u64;
        report.unused_blobs += dropped.len() as u64;
        report.unused_bytes += unused_bytes;
        let fate = if kept.is_empty() {
            report.packs_removed += 1;
            report.bytes_removed += u64::from(record.pack_len);
            PackFate::Remove
        } else if unused_bytes as f64 > max_unused_percent / 100.0 * f64::from(record.pack_len) {
            report.packs_repacked += 1;
            report.bytes_removed += u64::from(record.pack_len);
            PackFate::Repack(kept.into_iter().copied().collect())
        } else {
            report.unused_bytes_kept += unused_bytes;
            PackFate::Keep
        };
        fates.insert(record.id, fate);
    }
    fates
}

fn blob_object(blob_type: BlobType) -> crate::error::ObjectKind {
    match blob_type {
        BlobType::Data => crate::error::ObjectKind::DataBlob,
        BlobType::Tree => crate::error::ObjectKind::TreeBlob,
    }
}

/// Sleeps for `period`, or until `cancel` is set.
fn wait(period: std::time::Duration, cancel: &CancelToken) -> Result<()> {
    let until = std::time::Instant::now() + period;
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()).filter(|d| !d.is_zero()) {
        cancel.check()?;
        std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
    }
    cancel.check()
}

/// Spool files older than a day are left by killed processes; younger ones may belong to a
/// backup running on this machine.
fn remove_old_spool_files(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let day = std::time::Duration::from_hours(24);
    for entry in entries.flatten() {
        let old =
            entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|age| age > day));
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
