//! Managing a repository's key slots (`cairn key`): listing them, adding a password or a
//! recovery code, removing one, and changing a password so that an interruption at any
//! step leaves a secret that opens the repository.

use cairn_format::header::FileKind;
use cairn_format::id::KeyId;
use cairn_format::key::{KeySlot, SlotKdf};

use crate::crashpoint;
use crate::crypto::{KdfParams, Password};
use crate::error::{Error, Result};
use crate::key_slot::{self, SlotSecret};
use crate::layout;
use crate::recovery_code::RecoveryCode;
use crate::repository::Repository;

/// A key slot as listed; `slot` is the error when the file cannot be read.
#[derive(Debug)]
pub struct KeySlotInfo {
    /// The slot's id.
    pub id: KeyId,
    /// Its decoded content (no secret: the wrapped key is useless without the secret).
    pub slot: std::result::Result<KeySlot, Error>,
    /// Whether this slot opened the repository in this session.
    pub current: bool,
}

impl Repository {
    /// Every key slot of the repository, damaged ones included.
    pub fn key_slots(&self) -> Result<Vec<KeySlotInfo>> {
        let ids = layout::list_ids(self.storage(), FileKind::Key)?;
        Ok(ids
            .into_iter()
            .map(|id| KeySlotInfo {
                id: KeyId(id),
                slot: key_slot::load_slot(self.storage(), &id).map(|(slot, _)| slot),
                current: self.key_id() == Some(KeyId(id)),
            })
            .filter(|info| {
                info.slot.as_ref().is_err()
                    || info.slot.as_ref().is_ok_and(|s| s.repo_id == self.config().repo_id)
            })
            .collect())
    }

    /// The id of the key slot whose id starts with `prefix`.
    pub fn resolve_key_id(&self, prefix: &str) -> Result<KeyId> {
        let ids = layout::list_ids(self.storage(), FileKind::Key)?;
        crate::snapshot::resolve_prefix(&ids, prefix, || {
            Error::invalid(
                "key slot",
                format!("no key slot id starts with {prefix}; list them with `cairn key list`"),
            )
        })
        .map(KeyId)
    }

    /// Adds a slot that opens the repository with `password`.
    pub fn add_password(&self, password: &Password, kdf: KdfParams) -> Result<KeyId> {
        let id = self.create_slot(&SlotSecret::Password(password, kdf))?;
        crashpoint::hit("key-add-after-write");
        Ok(id)
    }

    /// Adds a slot for a new recovery code and returns the code, which is shown nowhere
    /// else: the caller must hand it to the user now.
    pub fn add_recovery_code(&self) -> Result<(KeyId, RecoveryCode)> {
        let code = RecoveryCode::generate().map_err(|e| Error::system("random number generation", e))?;
        let id = self.create_slot(&SlotSecret::RecoveryCode(&code))?;
        crashpoint::hit("key-add-after-write");
        Ok((id, code))
    }

    /// Removes a key slot. Refuses the slot that opened the repository (open with another
    /// secret to remove it) and the last readable slot.
    pub fn remove_key(&self, id: &KeyId) -> Result<()> {
        if self.key_id() == Some(*id) {
            return Err(Error::invalid(
                "key removal",
                format!(
                    "slot {} opened this repository; open it with another password or code to remove it",
                    id.short()
                ),
            ));
        }
        let slots = self.key_slots()?;
        if !slots.iter().any(|info| info.id == *id) {
            return Err(Error::invalid(
                "key removal",
                format!("no key slot {}; list them with `cairn key list`", id.short()),
            ));
        }
        let usable_others = slots.iter().filter(|info| info.id != *id && info.slot.is_ok()).count();
        if usable_others == 0 {
            return Err(Error::invalid(
                "key removal",
                "it is the last usable key slot; without it nobody could open the repository",
            ));
        }
        crashpoint::hit("key-remove-before-delete");
        self.storage().remove(&layout::file_path(FileKind::Key, &id.0))?;
        tracing::debug!(slot = %id.short(), "key slot removed");
        Ok(())
    }

    /// Replaces the password of the slot that opened the repository: adds a slot for
    /// `password`, reads it back and opens it, and only then removes the old slot. Killed at
    /// any step, the old password or the new one (or both) still opens the repository.
    pub fn change_password(&mut self, password: &Password, kdf: KdfParams) -> Result<KeyId> {
        let old = self.key_id().ok_or_else(|| {
            Error::invalid("password change", "the repository was opened with its master key, not a password")
        })?;
        let opened_with_code = self
            .key_slots()?
            .iter()
            .any(|info| info.id == old && info.slot.as_ref().is_ok_and(|s| s.kdf == SlotKdf::RecoveryCode));
        if opened_with_code {
            return Err(Error::invalid(
                "password change",
                "the repository was opened with a recovery code, which `key passwd` would replace; \
                 open it with the password to change, or add a password with `cairn key add`",
            ));
        }
        let secret = SlotSecret::Password(password, kdf);
        let new = self.create_slot(&secret)?;
        crashpoint::hit("key-passwd-after-add");
        if !key_slot::verify_slot(self.storage(), self.config().repo_id, &new, &secret, self.master_key())? {
            return Err(Error::system(
                "password change",
                std::io::Error::other("the new key slot does not open"),
            ));
        }
        crashpoint::hit("key-passwd-after-verify");
        self.set_key_id(new);
        self.storage().remove(&layout::file_path(FileKind::Key, &old.0))?;
        crashpoint::hit("key-passwd-after-remove");
        Ok(new)
    }

    fn create_slot(&self, secret: &SlotSecret<'_>) -> Result<KeyId> {
        key_slot::create_slot(self.storage(), self.config().repo_id, self.master_key(), secret)
    }
}
