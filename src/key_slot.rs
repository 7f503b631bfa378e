//! Key slots (SPEC §4.2): writing a slot that wraps the master key under a password, and
//! finding the slot a password opens.

use cairn_format::envelope::{ObjectType, aad};
use cairn_format::header::FileKind;
use cairn_format::id::{KeyId, ObjectId};
use cairn_format::key::{KeySlot, SALT_LEN, WRAPPED_KEY_LEN};

use crate::crypto::{Cipher, KdfParams, MasterKey, Password, content_hash, derive_kek, random_bytes};
use crate::error::{Damage, Error, ObjectKind, Result};
use crate::layout;
use crate::storage::Storage;

/// Argon2id defaults: RFC 9106's second recommended option (t=3, 64 MiB, 4 lanes).
pub const DEFAULT_KDF: KdfParams = KdfParams { memory_kib: 64 * 1024, time_cost: 3, lanes: 4 };

/// Writes a new key slot wrapping `master` under `password`.
pub(crate) fn create_slot(
    storage: &dyn Storage,
    repo_id: ObjectId,
    master: &MasterKey,
    password: &Password,
    kdf: KdfParams,
) -> Result<KeyId> {
    kdf.validate().map_err(|e| Error::invalid("key derivation parameters", e.to_string()))?;
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
    let kek = Cipher::new(&derive_kek(password, &salt, kdf).map_err(|e| Error::system("argon2id", e))?);
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
    storage.create(&layout::file_path(FileKind::Key, &id.0), &bytes)?;
    Ok(id)
}

/// Tries every key slot of the repository with `password`; returns the master key of the
/// first that opens. Damaged slots are skipped, so one bad file cannot lock the owner out.
pub(crate) fn open_with_password(
    storage: &dyn Storage,
    repo_id: ObjectId,
    password: &Password,
) -> Result<MasterKey> {
    let ids = layout::list_ids(storage, FileKind::Key)?;
    if ids.is_empty() {
        return Err(Error::corrupt(ObjectKind::Key, "keys/", Damage::Missing));
    }
    let mut saw_incompatible = None;
    for id in ids {
        let bytes = storage.read(&layout::file_path(FileKind::Key, &id))?;
        if content_hash(&bytes) != id {
            continue;
        }
        let (slot, prefix) = match KeySlot::decode(&bytes) {
            Ok(decoded) => decoded,
            Err(e) => {
                if let Error::Incompatible { .. } = Error::from_format(ObjectKind::Key, id, e.clone()) {
                    saw_incompatible = Some(Error::from_format(ObjectKind::Key, id, e));
                }
                continue;
            }
        };
        if slot.repo_id != repo_id {
            continue;
        }
        let kek = Cipher::new(
            &derive_kek(password, &slot.salt, slot.kdf).map_err(|e| Error::system("argon2id", e))?,
        );
        let aad = aad(ObjectType::KeySlot, &repo_id, &ObjectId::ZERO, prefix);
        if let Ok(mut plain) = kek.open(&aad, &slot.wrapped_key) {
            let mut bytes = [0u8; 32];
            let ok = plain.len() == 32;
            if ok {
                bytes.copy_from_slice(&plain);
            }
            zeroize::Zeroize::zeroize(&mut plain);
            if ok {
                let key = MasterKey::from_bytes(bytes);
                zeroize::Zeroize::zeroize(&mut bytes);
                return Ok(key);
            }
        }
    }
    Err(saw_incompatible.unwrap_or_else(|| Error::WrongPassword { location: storage.location().to_string() }))
}
