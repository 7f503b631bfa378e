//! Key slots (SPEC §4.2): writing a slot that wraps the master key under a password, and
//! finding the slot a password opens.

use cairn_format::envelope::{ObjectType, aad};
use cairn_format::header::FileKind;
use cairn_format::id::{KeyId, ObjectId};
use cairn_format::key::{KeySlot, SALT_LEN, WRAPPED_KEY_LEN};

use crate::crypto::{Cipher, KdfParams, MasterKey, Password, content_hash, derive_kek, random_bytes};
use crate::error::{Damage, Error, ObjectKind, Result};
use crate::layout;
use crate::storage::{Storage, StorageErrorKind};

/// No valid key slot is larger: header, fixed fields, two labels of at most 255 bytes and
/// the wrapped key.
const MAX_KEY_FILE_LEN: u64 = 1024;

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
    storage.create(&layout::file_path(FileKind::Key, &id.0), bytes)?;
    Ok(id)
}

/// Reads a key-slot file, bounded by the largest valid slot.
pub(crate) fn read_slot_file(storage: &dyn Storage, id: &ObjectId) -> Result<Vec<u8>> {
    storage.read(&layout::file_path(FileKind::Key, id), MAX_KEY_FILE_LEN).map_err(|e| match e.kind {
        StorageErrorKind::TooLarge => Error::corrupt(ObjectKind::Key, id, Damage::TooLarge),
        _ => e.into(),
    })
}

/// Tries every key slot of the repository with `password`; returns the master key of the
/// first that opens. Damaged slots are skipped, so one bad file cannot lock the owner out;
/// only when no slot of this repository is readable at all is that the error, not the
/// password.
pub(crate) fn open_with_password(
    storage: &dyn Storage,
    repo_id: ObjectId,
    password: &Password,
) -> Result<MasterKey> {
    let ids = layout::list_ids(storage, FileKind::Key)?;
    let mut last_problem = None;
    let mut readable = 0usize;
    let mut foreign = 0usize;
    for id in ids {
        let bytes = match read_slot_file(storage, &id) {
            Ok(bytes) => bytes,
            Err(e @ Error::Storage(_)) => return Err(e),
            Err(e) => {
                last_problem = Some(e);
                continue;
            }
        };
        if content_hash(&bytes) != id {
            last_problem = Some(Error::corrupt(ObjectKind::Key, id, Damage::Checksum));
            continue;
        }
        let (slot, prefix) = match KeySlot::decode(&bytes) {
            Ok(decoded) => decoded,
            Err(e) => {
                last_problem = Some(Error::from_format(ObjectKind::Key, id, e));
                continue;
            }
        };
        if slot.repo_id != repo_id {
            foreign += 1;
            continue;
        }
        readable += 1;
        if let Some(key) = unwrap_master_key(&slot, prefix, repo_id, password)? {
            return Ok(key);
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

/// The master key a slot wraps, or `None` when the password does not open it.
fn unwrap_master_key(
    slot: &KeySlot,
    prefix: &[u8],
    repo_id: ObjectId,
    password: &Password,
) -> Result<Option<MasterKey>> {
    let kek =
        Cipher::new(&derive_kek(password, &slot.salt, slot.kdf).map_err(|e| Error::system("argon2id", e))?);
    let aad = aad(ObjectType::KeySlot, &repo_id, &ObjectId::ZERO, prefix);
    let Ok(mut plain) = kek.open(&aad, &slot.wrapped_key) else {
        return Ok(None);
    };
    let key = <[u8; 32]>::try_from(plain.as_slice()).ok().map(MasterKey::from_bytes);
    zeroize::Zeroize::zeroize(&mut plain);
    Ok(key)
}
