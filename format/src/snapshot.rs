//! Snapshots (SPEC §10): the manifest of one backup. It names the root tree (which reaches every
//! blob the snapshot needs) and its parent, so each snapshot is complete by itself and the
//! parent link only records history.

use crate::FormatError;
use crate::id::{ID_LEN, ObjectId, SnapshotId, TreeId};
use crate::limits::{MAX_LABEL_LEN, MAX_META_VALUE_LEN, MAX_SNAPSHOT_LIST, MAX_SUMMARY_COUNTERS};
use crate::timestamp::Timestamp;
use crate::wire::{Reader, Writer, check_sorted_unique};

/// What a backup did, recorded in its snapshot (SPEC §10.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Summary {
    /// When the backup started.
    pub started: Timestamp,
    /// When its last pack and index were durable.
    pub finished: Timestamp,
    /// Files not in the parent snapshot.
    pub files_new: u64,
    /// Files in the parent snapshot whose metadata changed, so they were read again.
    pub files_changed: u64,
    /// Files taken from the parent snapshot without reading them.
    pub files_unmodified: u64,
    /// Directories not in the parent snapshot.
    pub dirs_new: u64,
    /// Directories whose tree differs from the parent's.
    pub dirs_changed: u64,
    /// Directories whose tree equals the parent's.
    pub dirs_unmodified: u64,
    /// Data blobs this backup stored.
    pub data_blobs_added: u64,
    /// Tree blobs this backup stored.
    pub tree_blobs_added: u64,
    /// Plaintext bytes of the blobs this backup stored.
    pub data_added_raw: u64,
    /// Bytes of the pack and index files this backup wrote (compressed and encrypted).
    pub data_added: u64,
    /// Bytes read from source files.
    pub bytes_read: u64,
    /// Files in the snapshot.
    pub total_files: u64,
    /// Bytes of all files in the snapshot.
    pub total_bytes: u64,
    /// Warnings about source entries: unreadable ones (missing from the snapshot) and ones
    /// that changed while they were read (stored as read).
    pub source_errors: u64,
}

/// Number of `u64` counters in a v1 [`Summary`].
const SUMMARY_COUNTERS: usize = 14;

impl Summary {
    fn counters(&self) -> [u64; SUMMARY_COUNTERS] {
        [
            self.files_new,
            self.files_changed,
            self.files_unmodified,
            self.dirs_new,
            self.dirs_changed,
            self.dirs_unmodified,
            self.data_blobs_added,
            self.tree_blobs_added,
            self.data_added_raw,
            self.data_added,
            self.bytes_read,
            self.total_files,
            self.total_bytes,
            self.source_errors,
        ]
    }

    fn from_counters(started: Timestamp, finished: Timestamp, c: [u64; SUMMARY_COUNTERS]) -> Summary {
        let [
            files_new,
            files_changed,
            files_unmodified,
            dirs_new,
            dirs_changed,
            dirs_unmodified,
            data_blobs_added,
            tree_blobs_added,
            data_added_raw,
            data_added,
            bytes_read,
            total_files,
            total_bytes,
            source_errors,
        ] = c;
        Summary {
            started,
            finished,
            files_new,
            files_changed,
            files_unmodified,
            dirs_new,
            dirs_changed,
            dirs_unmodified,
            data_blobs_added,
            tree_blobs_added,
            data_added_raw,
            data_added,
            bytes_read,
            total_files,
            total_bytes,
            source_errors,
        }
    }
}

/// The decoded payload of a snapshot file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Snapshot {
    /// When the backup started; snapshots are ordered by it.
    pub time: Timestamp,
    /// Root tree: one node per source path.
    pub tree: TreeId,
    /// The snapshot this backup compared against, if any.
    pub parent: Option<SnapshotId>,
    /// Host that made the backup.
    pub hostname: String,
    /// User that made the backup.
    pub username: String,
    /// Absolute source paths, as raw bytes.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_bytes_list_lossy"))]
    pub paths: Vec<Vec<u8>>,
    /// Tags, sorted and unique.
    pub tags: Vec<String>,
    /// Program and version that wrote it, e.g. `cairn 0.1.0`.
    pub program: String,
    /// Statistics of the backup.
    pub summary: Summary,
    /// Caller-supplied metadata (an app's id and version, for example), sorted by unique key.
    pub meta: Vec<(String, String)>,
}

impl Snapshot {
    /// Encodes the payload body.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        check_sorted_unique(self.tags.iter().map(String::as_str), "snapshot.tags")?;
        check_sorted_unique(self.meta.iter().map(|(k, _)| k.as_str()), "snapshot.meta")?;
        let mut w = Writer::with_capacity(512);
        self.time.encode(&mut w);
        w.bytes(self.tree.0.as_bytes());
        match &self.parent {
            Some(parent) => {
                w.u8(1);
                w.bytes(parent.0.as_bytes());
            }
            None => w.u8(0),
        }
        w.bytes16("snapshot.hostname", self.hostname.as_bytes(), MAX_LABEL_LEN)?;
        w.bytes16("snapshot.username", self.username.as_bytes(), MAX_LABEL_LEN)?;
        w.count_u16("snapshot.path_count", self.paths.len(), MAX_SNAPSHOT_LIST)?;
        for path in &self.paths {
            w.bytes16("snapshot.path", path, MAX_LABEL_LEN)?;
        }
        w.count_u16("snapshot.tag_count", self.tags.len(), MAX_SNAPSHOT_LIST)?;
        for tag in &self.tags {
            w.bytes16("snapshot.tag", tag.as_bytes(), MAX_LABEL_LEN)?;
        }
        w.bytes16("snapshot.program", self.program.as_bytes(), MAX_LABEL_LEN)?;
        self.summary.started.encode(&mut w);
        self.summary.finished.encode(&mut w);
        let counters = self.summary.counters();
        w.count_u16("snapshot.summary.count", counters.len(), MAX_SUMMARY_COUNTERS)?;
        for value in counters {
            w.u64(value);
        }
        w.count_u16("snapshot.meta_count", self.meta.len(), MAX_SNAPSHOT_LIST)?;
        for (key, value) in &self.meta {
            w.bytes16("snapshot.meta.key", key.as_bytes(), MAX_LABEL_LEN)?;
            w.bytes16("snapshot.meta.value", value.as_bytes(), MAX_META_VALUE_LEN)?;
        }
        Ok(w.into_bytes())
    }

    /// Decodes a payload body.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, FormatError> {
        let mut r = Reader::new(bytes);
        let time = Timestamp::decode(&mut r, "snapshot.time")?;
        let tree = TreeId(ObjectId(r.array("snapshot.tree")?));
        let parent = match r.u8("snapshot.has_parent")? {
            0 => None,
            1 => Some(SnapshotId(ObjectId(r.array::<ID_LEN>("snapshot.parent")?))),
            _ => {
                return Err(FormatError::InvalidValue {
                    field: "snapshot.has_parent",
                    reason: "neither 0 nor 1",
                });
            }
        };
        let hostname = r.string16("snapshot.hostname", MAX_LABEL_LEN)?;
        let username = r.string16("snapshot.username", MAX_LABEL_LEN)?;
        let count = r.count_u16("snapshot.path_count", MAX_SNAPSHOT_LIST, 2)?;
        let mut paths = Vec::with_capacity(count);
        for _ in 0..count {
            paths.push(r.bytes16("snapshot.path", MAX_LABEL_LEN)?.to_vec());
        }
        let count = r.count_u16("snapshot.tag_count", MAX_SNAPSHOT_LIST, 2)?;
        let mut tags = Vec::with_capacity(count);
        for _ in 0..count {
            tags.push(r.string16("snapshot.tag", MAX_LABEL_LEN)?);
        }
        let program = r.string16("snapshot.program", MAX_LABEL_LEN)?;
        let summary = decode_summary(&mut r)?;
        let count = r.count_u16("snapshot.meta_count", MAX_SNAPSHOT_LIST, 4)?;
        let mut meta = Vec::with_capacity(count);
        for _ in 0..count {
            let key = r.string16("snapshot.meta.key", MAX_LABEL_LEN)?;
            let value = r.string16("snapshot.meta.value", MAX_META_VALUE_LEN)?;
            meta.push((key, value));
        }
        r.finish("snapshot")?;
        check_sorted_unique(tags.iter().map(String::as_str), "snapshot.tags")?;
        check_sorted_unique(meta.iter().map(|(k, _)| k.as_str()), "snapshot.meta")?;
        Ok(Snapshot { time, tree, parent, hostname, username, paths, tags, program, summary, meta })
    }
}

/// A v1 reader takes the counters it knows and skips any a newer writer appended.
fn decode_summary(r: &mut Reader<'_>) -> Result<Summary, FormatError> {
    let started = Timestamp::decode(r, "snapshot.summary.started")?;
    let finished = Timestamp::decode(r, "snapshot.summary.finished")?;
    let count = r.count_u16("snapshot.summary.count", MAX_SUMMARY_COUNTERS, 8)?;
    if count < SUMMARY_COUNTERS {
        return Err(FormatError::OutOfRange {
            field: "snapshot.summary.count",
            value: count as u64,
            min: SUMMARY_COUNTERS as u64,
            max: u64::from(MAX_SUMMARY_COUNTERS),
        });
    }
    let mut counters = [0u64; SUMMARY_COUNTERS];
    for slot in &mut counters {
        *slot = r.u64("snapshot.summary")?;
    }
    r.take((count - SUMMARY_COUNTERS) * 8, "snapshot.summary")?;
    Ok(Summary::from_counters(started, finished, counters))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trips() {
        let snapshot = Snapshot {
            time: Timestamp { secs: 1_790_000_000, nanos: 5 },
            tree: TreeId(ObjectId([1; 32])),
            parent: Some(SnapshotId(ObjectId([2; 32]))),
            hostname: "phone".into(),
            username: "me".into(),
            paths: vec![b"/data/app".to_vec()],
            tags: vec!["daily".into(), "pre-restore".into()],
            program: "cairn 0.1.0".into(),
            summary: Summary { files_new: 3, total_bytes: 99, ..Summary::default() },
            meta: vec![("app.id".into(), "com.example".into())],
        };
        assert_eq!(Snapshot::decode(&snapshot.encode().unwrap()).unwrap(), snapshot);
    }
}
