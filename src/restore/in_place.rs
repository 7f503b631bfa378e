//! Restoring over data that is already there (an app restoring its own directory): the checks
//! made before anything is written, the safety snapshot of what is about to be replaced, the
//! list of changes a dry run prints, and the marker that lets a re-run of an interrupted
//! restore finish it without a second safety snapshot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cairn_format::id::SnapshotId;

use super::plan::Plan;
use crate::archive::BackupOptions;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress};
use crate::repository::Repository;
use crate::snapshot::SnapshotInfo;

/// The tag of safety snapshots.
pub const PRE_RESTORE_TAG: &str = "pre-restore";
/// Snapshot metadata key of a safety snapshot: the id of the snapshot whose restore it
/// preceded.
pub const RESTORE_OF: &str = "restore-of";
/// The marker a restore keeps in its target while it replaces files.
const MARKER: &str = ".cairn-restore";

/// What a restore would do to one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedChange {
    /// The path in the target.
    pub path: PathBuf,
    /// What happens to it.
    pub action: Action,
}

/// What a restore does to a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// It does not exist and is created.
    Create,
    /// It exists and is replaced.
    Replace,
    /// It exists with the snapshot's size and modification time (a database: never) and is
    /// written again all the same.
    Unchanged,
}

impl Action {
    /// The action's name in listings.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Replace => "replace",
            Action::Unchanged => "unchanged",
        }
    }
}

/// Fails before anything is written if a database in the plan has a schema newer than
/// `max` (the newest the app declared it understands).
pub(crate) fn check_schemas(plan: &Plan, max: Option<i32>) -> Result<()> {
    let Some(max) = max else { return Ok(()) };
    for file in &plan.files {
        if let Some(db) = &file.database
            && db.user_version > max
        {
            return Err(Error::SchemaIncompatible {
                path: db.label.clone(),
                found: db.user_version,
                supported: max,
            });
        }
    }
    Ok(())
}

/// What the restore of `plan` would change, path by path.
pub(crate) fn planned_changes(plan: &Plan) -> Vec<PlannedChange> {
    let mut changes = Vec::new();
    for file in &plan.files {
        let (size, mtime) = match &file.database {
            Some(db) => (None, db.meta.mtime),
            None => (Some(file.meta.size), file.meta.mtime),
        };
        let action = match std::fs::symlink_metadata(&file.path) {
            Err(_) => Action::Create,
            Ok(current) => {
                use std::os::unix::fs::MetadataExt;
                let same = current.is_file()
                    && size == Some(current.len())
                    && current.mtime() == mtime.secs
                    && u32::try_from(current.mtime_nsec()).ok() == Some(mtime.nanos);
                if same { Action::Unchanged } else { Action::Replace }
            }
        };
        changes.push(PlannedChange { path: file.path.clone(), action });
    }
    for link in &plan.links {
        let action =
            if std::fs::symlink_metadata(&link.path).is_ok() { Action::Replace } else { Action::Create };
        changes.push(PlannedChange { path: link.path.clone(), action });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}

/// The top-level entries of the target that the restore writes into and that exist now:
/// what a safety snapshot must hold.
fn affected_roots(plan: &Plan, target: &Path) -> Vec<PathBuf> {
    let paths = plan.files.iter().map(|f| &f.path).chain(plan.links.iter().map(|l| &l.path));
    let mut roots = BTreeSet::new();
    for path in paths {
        if let Ok(relative) = path.strip_prefix(target)
            && let Some(first) = relative.components().next()
        {
            let root = target.join(first);
            if std::fs::symlink_metadata(&root).is_ok() {
                roots.insert(root);
            }
        }
    }
    roots.into_iter().collect()
}

impl Repository {
    /// Takes the safety snapshot of what restoring `snapshot` into `target` would replace,
    /// unless an interrupted restore of the same snapshot already took one (its marker says
    /// so). Returns its id, or `None` when nothing there would be replaced.
    pub(crate) fn safety_snapshot(
        &self,
        plan: &Plan,
        target: &Path,
        snapshot: &SnapshotInfo,
        progress: &dyn Progress,
        cancel: &CancelToken,
    ) -> Result<Option<SnapshotId>> {
        if let Some(earlier) = read_marker(target, &snapshot.id) {
            return Ok(Some(earlier));
        }
        let roots = affected_roots(plan, target);
        if roots.is_empty() {
            return Ok(None);
        }
        let options = BackupOptions {
            tags: vec![PRE_RESTORE_TAG.to_string()],
            excludes: vec![format!("{MARKER}*")],
            meta: vec![(RESTORE_OF.to_string(), snapshot.id.to_string())],
            ..BackupOptions::default()
        };
        let outcome = self.backup(&roots, &options, progress, cancel)?;
        if let Some(first) = outcome.warnings.first() {
            return Err(Error::SafetySnapshotIncomplete {
                count: outcome.warnings.len(),
                first: first.path.clone(),
                reason: first.message.clone(),
            });
        }
        Ok(Some(outcome.snapshot.id))
    }
}

/// Records, before the first file is replaced, which snapshot is being restored into
/// `target` and which safety snapshot holds what was there.
pub(crate) fn write_marker(target: &Path, restoring: &SnapshotId, safety: Option<&SnapshotId>) -> Result<()> {
    let Some(safety) = safety else { return Ok(()) };
    let path = target.join(MARKER);
    let text = format!("restoring {restoring}\nsafety {safety}\n");
    std::fs::write(&path, text)
        .and_then(|()| super::database::sync_file(&path))
        .map_err(|e| Error::TargetUnwritable { path, source: e })
}

/// The safety snapshot an interrupted restore of `restoring` into `target` took, if any.
fn read_marker(target: &Path, restoring: &SnapshotId) -> Option<SnapshotId> {
    let text = std::fs::read_to_string(target.join(MARKER)).ok()?;
    let mut lines = text.lines();
    let snapshot = lines.next()?.strip_prefix("restoring ")?;
    let safety = lines.next()?.strip_prefix("safety ")?;
    (snapshot == restoring.to_string())
        .then(|| cairn_format::id::ObjectId::from_hex(safety).map(SnapshotId))
        .flatten()
}

/// Removes the marker once the restore is complete.
pub(crate) fn remove_marker(target: &Path) {
    let _ = std::fs::remove_file(target.join(MARKER));
}
