//! `forget`: removes snapshots, by retention policy or by id. It deletes snapshot files
//! only; the data they alone referenced stays until `prune` (SPEC §10.5).

use cairn_format::header::FileKind;
use cairn_format::id::SnapshotId;
use cairn_format::policy::Retention;

use crate::error::{Error, Result};
use crate::layout;
use crate::lock::LockGuard;
use crate::repository::Repository;
use crate::retention::{self, GroupDecisions};

/// How to forget.
#[derive(Clone, Debug, Default)]
pub struct ForgetOptions {
    /// The rules; `None` uses the policy stored in the repository.
    pub retention: Option<Retention>,
    /// Decide and report, delete nothing.
    pub dry_run: bool,
    /// Allow a group to lose every snapshot (a typo in a tag rule must not empty a group).
    pub allow_remove_all: bool,
}

/// What `forget` decided and did.
#[derive(Clone, Debug)]
pub struct ForgetReport {
    /// The rules applied.
    pub retention: Retention,
    /// Each group with the decision for each snapshot, newest first.
    pub groups: Vec<GroupDecisions>,
    /// Snapshots removed (or, in a dry run, that would be).
    pub removed: Vec<SnapshotId>,
    /// Snapshot files that could not be read: neither kept nor removed by a policy.
    pub unreadable: Vec<SnapshotId>,
}

impl Repository {
    /// Applies a retention policy: removes every snapshot no rule keeps.
    pub fn forget(&self, options: &ForgetOptions) -> Result<ForgetReport> {
        let retention = match &options.retention {
            Some(retention) => retention.clone(),
            None => self.retention_policy()?.map(|(retention, _)| retention).ok_or_else(|| {
                Error::invalid(
                    "forget",
                    "no rules given and no policy stored; give --keep-* rules or --preset, or store a policy with `cairn policy set`",
                )
            })?,
        };
        if retention.is_empty() {
            return Err(Error::invalid("forget", "the rules keep nothing; give at least one --keep-* rule"));
        }
        let _lock = if options.dry_run { None } else { Some(LockGuard::exclusive(self, "forget")?) };
        let listing = self.snapshots()?;
        let groups = retention::apply(&listing.snapshots, &retention, crate::clock::now());
        if !options.allow_remove_all
            && let Some(group) = groups.iter().find(|g| g.decisions.iter().all(|d| !d.keep()))
        {
            return Err(Error::invalid(
                "forget",
                format!(
                    "the rules would remove all {} snapshots of host {}, paths {}; check them, or pass --unsafe-allow-remove-all",
                    group.decisions.len(),
                    group.key.host.as_deref().unwrap_or("(any)"),
                    group.key.paths.as_ref().map_or_else(|| "(any)".to_string(), |p| p.join(", "))
                ),
            ));
        }
        let removed: Vec<SnapshotId> =
            groups.iter().flat_map(|g| &g.decisions).filter(|d| !d.keep()).map(|d| d.id).collect();
        if !options.dry_run {
            self.remove_snapshots(&removed)?;
        }
        let unreadable = listing.damaged.into_iter().map(|(id, _)| id).collect();
        Ok(ForgetReport { retention, groups, removed, unreadable })
    }

    /// Removes the named snapshots (ids or unique prefixes).
    pub fn forget_snapshots(&self, queries: &[String]) -> Result<Vec<SnapshotId>> {
        let _lock = LockGuard::exclusive(self, "forget")?;
        let ids = self.list(FileKind::Snapshot)?;
        let mut chosen = Vec::with_capacity(queries.len());
        for query in queries {
            let id = crate::snapshot::resolve_prefix(&ids, query, || Error::SnapshotNotFound {
                query: query.clone(),
            })?;
            chosen.push(SnapshotId(id));
        }
        self.remove_snapshots(&chosen)?;
        Ok(chosen)
    }

    fn remove_snapshots(&self, ids: &[SnapshotId]) -> Result<()> {
        for id in ids {
            self.storage().remove(&layout::file_path(FileKind::Snapshot, &id.0))?;
            crate::crashpoint::hit("forget-after-remove");
        }
        Ok(())
    }
}
