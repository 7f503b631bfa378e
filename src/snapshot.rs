//! Snapshot files (SPEC §10): saving one, listing them, and selecting one by `latest` or an
//! id prefix.

use cairn_format::header::FileKind;
use cairn_format::id::{ObjectId, SnapshotId};
use cairn_format::snapshot::Snapshot;
use rayon::prelude::*;

use crate::error::{Error, ObjectKind, Result};
use crate::repository::Repository;
use crate::seal::SealedFile;

/// A snapshot and its id.
#[derive(Clone, Debug)]
pub struct SnapshotInfo {
    /// The id (hash of the snapshot file).
    pub id: SnapshotId,
    /// The decoded snapshot.
    pub snapshot: Snapshot,
}

/// Every snapshot of a repository, oldest first, and the snapshot files that could not be
/// read (listed, not fatal: one damaged file must not hide the others).
#[derive(Debug, Default)]
pub struct SnapshotListing {
    /// Readable snapshots, by time then id.
    pub snapshots: Vec<SnapshotInfo>,
    /// Unreadable snapshot files and why.
    pub damaged: Vec<(SnapshotId, Error)>,
}

impl Repository {
    /// Lists every snapshot.
    pub fn snapshots(&self) -> Result<SnapshotListing> {
        let ids = self.list(FileKind::Snapshot)?;
        let loaded: Vec<(SnapshotId, Result<Snapshot>)> =
            ids.par_iter().map(|id| (SnapshotId(*id), self.load_snapshot(&SnapshotId(*id)))).collect();
        let mut listing = SnapshotListing::default();
        for (id, result) in loaded {
            match result {
                Ok(snapshot) => listing.snapshots.push(SnapshotInfo { id, snapshot }),
                Err(e @ Error::Storage(_)) => return Err(e),
                Err(e) => listing.damaged.push((id, e)),
            }
        }
        listing.snapshots.sort_by_key(|info| (info.snapshot.time, info.id));
        Ok(listing)
    }

    /// Reads one snapshot.
    pub fn load_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        let body = self.read_file(SealedFile::Snapshot, &id.0)?;
        Snapshot::decode(&body).map_err(|e| Error::from_format(ObjectKind::Snapshot, id, e))
    }

    /// Finds a snapshot by `latest` (the newest) or by a unique prefix of its id.
    pub fn find_snapshot(&self, query: &str) -> Result<SnapshotInfo> {
        if query == "latest" {
            let listing = self.snapshots()?;
            return listing
                .snapshots
                .into_iter()
                .last()
                .ok_or_else(|| Error::SnapshotNotFound { query: query.to_string() });
        }
        let id = resolve_prefix(&self.list(FileKind::Snapshot)?, query, || Error::SnapshotNotFound {
            query: query.to_string(),
        })?;
        let id = SnapshotId(id);
        Ok(SnapshotInfo { id, snapshot: self.load_snapshot(&id)? })
    }

    /// Encrypts and stores a snapshot; the backup's commit point.
    pub(crate) fn save_snapshot(&self, snapshot: &Snapshot) -> Result<SnapshotId> {
        let body = snapshot.encode().map_err(|e| Error::invalid("snapshot", e.to_string()))?;
        let (id, _) = self.write_file(SealedFile::Snapshot, &body)?;
        Ok(SnapshotId(id))
    }
}

/// The one id among `ids` that starts with the hex `prefix`.
pub(crate) fn resolve_prefix(
    ids: &[ObjectId],
    prefix: &str,
    not_found: impl FnOnce() -> Error,
) -> Result<ObjectId> {
    let prefix = prefix.to_ascii_lowercase();
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid("id", format!("{prefix:?} is not a hex id or prefix")));
    }
    let mut matches = ids.iter().filter(|id| id.to_hex().starts_with(&prefix));
    match (matches.next(), matches.next()) {
        (Some(id), None) => Ok(*id),
        (Some(_), Some(_)) => Err(Error::AmbiguousId { prefix }),
        (None, _) => Err(not_found()),
    }
}
