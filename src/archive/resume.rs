//! Resuming an interrupted backup (SPEC §12.4). A backup names its packs in an index file at
//! checkpoints and at its end; one killed in between (kill -9, a phone's app killed, power
//! lost) leaves packs stored that no index names. Each pack's header lists its blobs, so the
//! next backup indexes those packs before it starts and deduplicates against them instead of
//! sending them again.
//!
//! This is safe against a concurrent prune, which deletes unindexed packs: the backup's
//! shared lock is already stored, so a prune that starts now sees it and deletes nothing
//! (SPEC §12.2); and packs are adopted only when no exclusive lock is live, so no prune that
//! started earlier is still deleting.

use cairn_format::header::FileKind;
use cairn_format::id::PackId;
use cairn_format::index::IndexPack;
use cairn_format::lock::LockKind;

use crate::error::{Error, Result};
use crate::index::Index;
use crate::lock::{LockGuard, live_locks_except};
use crate::repository::Repository;

/// What a backup took over from an interrupted one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Packs indexed.
    pub packs: u64,
    /// Their bytes: what this backup did not have to send again.
    pub bytes: u64,
}

/// Indexes the packs in storage that no index file names and that hold blobs the index
/// lacks. Damaged packs are left alone (`check` reports them, `prune` removes them).
pub(crate) fn adopt_unindexed_packs(repo: &Repository, lock: &LockGuard, index: &Index) -> Result<Resumed> {
    let session = lock.session();
    let prune_running = live_locks_except(repo, Some(&session))?
        .iter()
        .any(|found| found.lock.as_ref().map_or(true, |lock| lock.kind == LockKind::Exclusive));
    if prune_running {
        tracing::info!("an exclusive lock is live: not adopting unindexed packs");
        return Ok(Resumed::default());
    }
    let indexed: std::collections::HashSet<&PackId> = index.packs().iter().collect();
    let mut adopted = Vec::new();
    let mut resumed = Resumed::default();
    for (id, len) in crate::layout::list_with_len(repo.storage(), FileKind::Pack)? {
        let pack = PackId(id);
        if indexed.contains(&pack) {
            continue;
        }
        let header = match crate::pack::read_pack_header(repo, &pack) {
            Ok(header) => header,
            Err(e @ Error::Storage(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(pack = %pack.short(), "not adopting an unindexed pack: {e}");
                continue;
            }
        };
        if header.entries.iter().all(|entry| index.contains(entry.blob_type, &entry.id)) {
            continue;
        }
        let Ok(pack_len) = u32::try_from(len) else { continue };
        resumed.packs += 1;
        resumed.bytes += len;
        adopted.push(IndexPack { id: pack, pack_len, blobs: header.entries });
    }
    if adopted.is_empty() {
        return Ok(resumed);
    }
    lock.check()?;
    crate::index::write_index(repo, adopted, Vec::new())?;
    tracing::info!(
        packs = resumed.packs,
        bytes = resumed.bytes,
        "resumed: indexed packs an interrupted backup stored"
    );
    Ok(resumed)
}
