//! The retention policy stored in the repository (SPEC §10.5), so a scheduled
//! `cairn forget --prune` needs no rules on its command line.

use cairn_format::header::FileKind;
use cairn_format::policy::{PolicyFile, Retention};
use cairn_format::timestamp::Timestamp;

use crate::error::{Error, ObjectKind, Result};
use crate::layout;
use crate::repository::Repository;
use crate::seal::SealedFile;

impl Repository {
    /// The retention policy in force and when it was set: the newest readable policy file.
    /// Damaged policy files are skipped with a warning.
    pub fn retention_policy(&self) -> Result<Option<(Retention, Timestamp)>> {
        Ok(self.policy_files()?.into_iter().next_back().map(|(_, file)| (file.retention, file.set_at)))
    }

    /// Stores `retention` as the policy in force, then removes the older policy files.
    pub fn set_retention_policy(&self, retention: &Retention) -> Result<()> {
        if retention.is_empty() {
            return Err(Error::invalid(
                "policy",
                "it keeps nothing; give at least one keep rule or a preset",
            ));
        }
        let set_at = crate::clock::now();
        let file = PolicyFile { retention: retention.clone(), set_at };
        let body = file.encode().map_err(|e| Error::invalid("policy", e.to_string()))?;
        let (new, _) = self.write_file(SealedFile::Policy, &body)?;
        // Only older ones: two policies set at once must not remove each other.
        for (id, old) in self.policy_files()? {
            if id != new && old.set_at < set_at {
                self.storage().remove(&layout::file_path(FileKind::Policy, &id))?;
            }
        }
        Ok(())
    }

    /// Removes every policy file: `forget` then needs rules again.
    pub fn clear_retention_policy(&self) -> Result<()> {
        for id in self.list(FileKind::Policy)? {
            self.storage().remove(&layout::file_path(FileKind::Policy, &id))?;
        }
        Ok(())
    }

    /// Readable policy files, oldest first.
    fn policy_files(&self) -> Result<Vec<(cairn_format::id::ObjectId, PolicyFile)>> {
        let mut files = Vec::new();
        for id in self.list(FileKind::Policy)? {
            let file = self.read_file(SealedFile::Policy, &id).and_then(|body| {
                PolicyFile::decode(&body).map_err(|e| Error::from_format(ObjectKind::Policy, id, e))
            });
            match file {
                Ok(file) => files.push((id, file)),
                Err(e @ Error::Storage(_)) => return Err(e),
                Err(e) => self.warn(&format!("policy file {} skipped: {e}", id.short())),
            }
        }
        files.sort_by_key(|(id, file)| (file.set_at, *id));
        Ok(files)
    }
}
