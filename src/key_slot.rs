//! Key slots (SPEC §4.2): writing a slot that wraps the master key under a password or a
//! recovery code, finding the slot a secret opens, and removing slots.

use cairn_format::envelope::{ObjectType, aad};
use cairn_format::header::FileKind;
use cairn_format::id::{KeyId, ObjectId};
use cairn_format::key::{KeySlot, SALT_LEN, SlotKdf, WRAPPED_KEY_LEN};
use cairn_format::limits::MAX_KEY_FILE_LEN;
use zeroize::Zeroizing;

use crate::crypto::{Cipher, KdfParams, MasterKey, Password, SubKey, content_hash, derive_kek, random_bytes};
use crate::error::{Damage, Error, ObjectKind, Result};
use crate::layout;
use crate::recovery_code::RecoveryCode;
use crate::storage::{Storage, StorageErrorKind};

/// Argon2id defaults: RFC 9106's second recommended option (t=3, 64 MiB, 4 lanes).
pub const DEFAULT_KDF: KdfParams = KdfParams { memory_kib: 64 * 1024, time_cost: 3, lanes: 4 };

/// The secret a slot is made for, or tried with.
pub(crate) enum SlotSecret<'a> {
    /// A password, stretched with these Argon2id parameters when a slot is created.
    Password(&'a Password, KdfParams),
    /// A recovery code.
    RecoveryCode(&'a RecoveryCode),
}

/// Writes a new key slot wrapping `master` under `secret`.
pub(crate) fn create_slot(
    storage: &dyn Storage,
    repo_id: ObjectId,
    master: &MasterKey,
    secret: &SlotSecret<'_>,
) -> Result<KeyId> {
    let kdf = match secret {
        SlotSecret::Password(_, params) => {
            params.validate().map_err(|e| Error::invalid("key derivation parameters", e.to_string()))?;
            SlotKdf::Argon2id(*params)
        }
        SlotSecret::RecoveryCode(_) => SlotKdf::RecoveryCode,
    };
    let mut salt = [0u8; SALT_LEN];
    random_bytes(&mut salt).map_err(|e| Error::system("random number generation", e))?;
    let mut slot = KeySlot {
        repo_id,
        kdf,
        salt,
        created_unix_s: crate::clock::now().secs,
        hostname: crate::clock::hostname(),
        username: crate::clock::username(),
        wrapped_key: [0; WRAPPED_KEY_LEN],
    };
    let prefix = slot.encode_prefix().map_err(|e| Error::invalid("key slot", e.to_string()))?;
    let kek = Cipher::new(&key_encryption_key(&slot, secret)?.expect("the slot was made for this secret"));
    let mut wrapped = Vec::with_capacity(WRAPPED_KEY_LEN);
    kek.seal(
        &aad(ObjectType::KeySlot, &repo_id, &ObjectId::ZERO, &prefix),
        &[master.expose_bytes()],
        &mut wrapped,
    )
    .map_err(|e| Error::system("key wrapping", e))?;
    slot.wrapped_key = wrapped
        .as_slice()
        .try_into()
        .map_err(|_| Error::system("key wrapping", std::io::Error::other("unexpected length")))?;
    let bytes = slot.encode().map_err(|e| Error::invalid("key slot", e.to_string()))?;
    let id = KeyId(content_hash(&bytes));
    storage.create(&layout::file_path(FileKind::Key, &id.0), bytes)?;
    tracing::debug!(slot = %id.short(), "key slot created");
    Ok(id)
}

/// The key-encryption key of `slot` for `secret`, or `None` when the secret is of the other
/// kind (a password is never tried on a recovery-code slot, or the reverse).
fn key_encryption_key(slot: &KeySlot, secret: &SlotSecret<'_>) -> Result<Option<SubKey>> {
    match (slot.kdf, secret) {
        (SlotKdf::Argon2id(params), SlotSecret::Password(password, _)) => {
            derive_kek(password, &slot.salt, params).map(Some).map_err(|e| Error::system("argon2id", e))
        }
        (SlotKdf::RecoveryCode, SlotSecret::RecoveryCode(code)) => {
            let mut material = Zeroizing::new([0u8; 64]);
            material[..32].copy_from_slice(code.secret());
            material[32..].copy_from_slice(&slot.salt);
            Ok(Some(SubKey::from_bytes(blake3::derive_key(
                "cairn 2026-11-23 v1 recovery code",
                material.as_ref(),
            ))))
        }
        _ => Ok(None),
    }
}

/// Reads a key-slot file, bounded by the largest valid slot.
pub(crate) fn read_slot_file(storage: &dyn Storage, id: &ObjectId) -> Result<Vec<u8>> {
    storage.read(&layout::file_path(FileKind::Key, id), MAX_KEY_FILE_LEN).map_err(|e| match e.kind {
        StorageErrorKind::TooLarge => Error::corrupt(ObjectKind::Key, id, Damage::TooLarge),
        _ => e.into(),
    })
}

/// Reads and decodes one slot, checking its name.
pub(crate) fn load_slot(storage: &dyn Storage, id: &ObjectId) -> Result<(KeySlot, Vec<u8>)> {
    let bytes = read_slot_file(storage, id)?;
    if content_hash(&bytes) != *id {
        return Err(Error::corrupt(ObjectKind::Key, id, Damage::Checksum));
    }
    let (slot, prefix) = KeySlot::decode(&bytes).map_err(|e| Error::from_format(ObjectKind::Key, id, e))?;
    let prefix = prefix.to_vec();
    Ok((slot, prefix))
}

/// Tries every key slot of the repository with the secrets given; returns the master key of
/// the first slot that opens and that slot's id. Damaged slots are skipped, so one bad file
/// cannot lock the owner out; only when no slot of this repository is readable at all is
/// that the error, not the secret.
pub(crate) fn open(
    storage: &dyn Storage,
    repo_id: ObjectId,
    secrets: &[SlotSecret<'_>],
) -> Result<(MasterKey, KeyId)> {
    let ids = layout::list_ids(storage, FileKind::Key)?;
    let mut last_problem = None;
    let mut readable = 0usize;
    let mut foreign = 0usize;
    for id in ids {
        let (slot, prefix) = match load_slot(storage, &id) {
            Ok(loaded) => loaded,
            Err(e @ Error::Storage(_)) => return Err(e),
            Err(e) => {
                last_problem = Some(e);
                continue;
            }
        };
        if slot.repo_id != repo_id {
            foreign += 1;
            continue;
        }
        readable += 1;
        tracing::trace!(slot = %id.short(), "trying key slot");
        for secret in secrets {
            if let Some(key) = unwrap_master_key(&slot, &prefix, repo_id, secret)? {
                return Ok((key, KeyId(id)));
            }
        }
    }
    if readable > 0 {
        return Err(Error::WrongPassword { location: storage.location().to_string() });
    }
    if foreign > 0 {
        // Slots that read fine but name another repository id: the config's id is wrong.
        return Err(Error::corrupt(
            ObjectKind::Config,
            crate::layout::CONFIG_PATH,
            Damage::Format(cairn_format::FormatError::InvalidValue {
                field: "config.repo_id",
                reason: "no key slot belongs to this repository id",
            }),
        ));
    }
    Err(last_problem.unwrap_or_else(|| Error::corrupt(ObjectKind::Key, "keys/", Damage::Missing)))
}

/// The master key `slot` wraps, or `None` when `secret` does not open it.
fn unwrap_master_key(
    slot: &KeySlot,
    prefix: &[u8],
    repo_id: ObjectId,
    secret: &SlotSecret<'_>,
) -> Result<Option<MasterKey>> {
    let Some(kek) = key_encryption_key(slot, secret)? else {
        return Ok(None);
    };
    let aad = aad(ObjectType::KeySlot, &repo_id, &ObjectId::ZERO, prefix);
    let Ok(plain) = Cipher::new(&kek).open(&aad, &slot.wrapped_key) else {
        return Ok(None);
    };
    let plain = Zeroizing::new(plain);
    Ok(<[u8; 32]>::try_from(plain.as_slice()).ok().map(MasterKey::from_bytes))
}

/// Whether `secret` opens exactly the slot `id` to exactly `master`: the check `key passwd`
/// makes, reading the new slot back from storage, before it removes the old one.
pub(crate) fn verify_slot(
    storage: &dyn Storage,
    repo_id: ObjectId,
    id: &KeyId,
    secret: &SlotSecret<'_>,
    master: &MasterKey,
) -> Result<bool> {
    let (slot, prefix) = load_slot(storage, &id.0)?;
    Ok(unwrap_master_key(&slot, &prefix, repo_id, secret)?
        .is_some_and(|opened| opened.expose_bytes() == master.expose_bytes()))
}
