//! Key slots (SPEC §4.2): one file per password or recovery code, each wrapping the same
//! random master key under a key derived from that secret: with Argon2id for passwords, by a
//! plain BLAKE3 derivation for 256-bit recovery codes. Argon2 parameters are checked against
//! SPEC's bounds here, before anyone allocates Argon2's memory.

use crate::FormatError;
use crate::envelope::{NONCE_LEN, TAG_LEN};
use crate::header::{FileKind, decode_file_header, encode_file_header};
use crate::id::ObjectId;
use crate::limits::{
    ARGON2_MAX_LANES, ARGON2_MAX_MEMORY_KIB, ARGON2_MAX_TIME, ARGON2_MIN_MEMORY_KIB, MAX_KEY_LABEL_LEN,
};
use crate::wire::{Reader, Writer};

/// Length of the master key a slot wraps.
pub const MASTER_KEY_LEN: usize = 32;
/// Length of a slot's salt.
pub const SALT_LEN: usize = 32;
/// Length of the sealed master key: nonce, 32 ciphertext bytes, tag.
pub const WRAPPED_KEY_LEN: usize = NONCE_LEN + MASTER_KEY_LEN + TAG_LEN;

/// Argon2id (version 0x13) parameters of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub time_cost: u32,
    /// Degree of parallelism (lanes).
    pub lanes: u32,
}

impl KdfParams {
    /// Checks the SPEC §4.2 bounds: the caller may then allocate `memory_kib` KiB.
    pub fn validate(&self) -> Result<(), FormatError> {
        crate::wire::check_range("key.kdf.lanes", u64::from(self.lanes), 1, u64::from(ARGON2_MAX_LANES))?;
        let min_memory = ARGON2_MIN_MEMORY_KIB.max(8 * self.lanes);
        crate::wire::check_range(
            "key.kdf.memory_kib",
            u64::from(self.memory_kib),
            u64::from(min_memory),
            u64::from(ARGON2_MAX_MEMORY_KIB),
        )?;
        crate::wire::check_range(
            "key.kdf.time_cost",
            u64::from(self.time_cost),
            1,
            u64::from(ARGON2_MAX_TIME),
        )?;
        Ok(())
    }
}

/// How a slot's key-encryption key is derived from its secret (SPEC §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
pub enum SlotKdf {
    /// A password, through Argon2id with these parameters.
    Argon2id(KdfParams),
    /// A 256-bit recovery code, through BLAKE3 `derive_key`; no stretching is needed.
    RecoveryCode,
}

/// A decoded key slot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct KeySlot {
    /// The repository this slot belongs to.
    pub repo_id: ObjectId,
    /// How the key-encryption key is derived.
    pub kdf: SlotKdf,
    /// Random salt.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub salt: [u8; SALT_LEN],
    /// Creation time, seconds since the Unix epoch.
    pub created_unix_s: i64,
    /// Host that created the slot (informational).
    pub hostname: String,
    /// User that created the slot (informational).
    pub username: String,
    /// The master key sealed under the password-derived key.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
}

/// KDF code 1: Argon2id version 0x13.
const KDF_ARGON2ID: u8 = 1;
/// KDF code 2: recovery code; the three parameter fields are zero.
const KDF_RECOVERY_CODE: u8 = 2;

impl KeySlot {
    /// The plaintext that precedes the wrapped key; it is the AAD prefix of the box.
    pub fn encode_prefix(&self) -> Result<Vec<u8>, FormatError> {
        let mut w = Writer::with_capacity(160);
        w.bytes(&encode_file_header(FileKind::Key));
        w.bytes(self.repo_id.as_bytes());
        match self.kdf {
            SlotKdf::Argon2id(params) => {
                params.validate()?;
                w.u8(KDF_ARGON2ID);
                w.u32(params.memory_kib);
                w.u32(params.time_cost);
                w.u32(params.lanes);
            }
            SlotKdf::RecoveryCode => {
                w.u8(KDF_RECOVERY_CODE);
                w.bytes(&[0; 12]);
            }
        }
        w.bytes(&self.salt);
        w.i64(self.created_unix_s);
        w.bytes16("key.hostname", self.hostname.as_bytes(), MAX_KEY_LABEL_LEN)?;
        w.bytes16("key.username", self.username.as_bytes(), MAX_KEY_LABEL_LEN)?;
        Ok(w.into_bytes())
    }

    /// The whole key file.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let mut bytes = self.encode_prefix()?;
        bytes.extend_from_slice(&self.wrapped_key);
        Ok(bytes)
    }

    /// Decodes a key file into the slot and its AAD prefix.
    pub fn decode(bytes: &[u8]) -> Result<(KeySlot, &[u8]), FormatError> {
        let mut r = Reader::new(bytes);
        decode_file_header(&mut r, FileKind::Key)?;
        let repo_id = ObjectId(r.array("key.repo_id")?);
        let kdf_code = r.u8("key.kdf")?;
        let params = KdfParams {
            memory_kib: r.u32("key.kdf.memory_kib")?,
            time_cost: r.u32("key.kdf.time_cost")?,
            lanes: r.u32("key.kdf.lanes")?,
        };
        let kdf = match kdf_code {
            KDF_ARGON2ID => {
                params.validate()?;
                SlotKdf::Argon2id(params)
            }
            KDF_RECOVERY_CODE if params == (KdfParams { memory_kib: 0, time_cost: 0, lanes: 0 }) => {
                SlotKdf::RecoveryCode
            }
            KDF_RECOVERY_CODE => {
                return Err(FormatError::InvalidValue {
                    field: "key.kdf",
                    reason: "a recovery-code slot has zero KDF parameters",
                });
            }
            other => return Err(FormatError::Unsupported { field: "key.kdf", found: u64::from(other) }),
        };
        let salt = r.array("key.salt")?;
        let created_unix_s = r.i64("key.created")?;
        let hostname = r.string16("key.hostname", MAX_KEY_LABEL_LEN)?;
        let username = r.string16("key.username", MAX_KEY_LABEL_LEN)?;
        let prefix_len = bytes.len() - r.remaining();
        let wrapped_key = r.array("key.wrapped_key")?;
        r.finish("key")?;
        let prefix =
            bytes.get(..prefix_len).ok_or(FormatError::InvalidValue { field: "key", reason: "length" })?;
        let slot = KeySlot { repo_id, kdf, salt, created_unix_s, hostname, username, wrapped_key };
        Ok((slot, prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KeySlot {
        KeySlot {
            repo_id: ObjectId([1; 32]),
            kdf: SlotKdf::Argon2id(KdfParams { memory_kib: 65536, time_cost: 3, lanes: 4 }),
            salt: [2; SALT_LEN],
            created_unix_s: 1_790_000_000,
            hostname: "host".into(),
            username: "user".into(),
            wrapped_key: [3; WRAPPED_KEY_LEN],
        }
    }

    #[test]
    fn key_slot_round_trips() {
        let slot = sample();
        let bytes = slot.encode().unwrap();
        let (decoded, prefix) = KeySlot::decode(&bytes).unwrap();
        assert_eq!(decoded, slot);
        assert_eq!(prefix, slot.encode_prefix().unwrap().as_slice());
    }

    /// A slot asking for 4 TiB of Argon2 memory must be refused while decoding, before any
    /// caller could try to allocate it.
    #[test]
    fn absurd_kdf_memory_is_rejected_on_decode() {
        let mut bytes = sample().encode().unwrap();
        // memory_kib sits right after header (8), repo id (32) and the kdf code (1).
        bytes[41..45].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            KeySlot::decode(&bytes),
            Err(FormatError::OutOfRange { field: "key.kdf.memory_kib", .. })
        ));
    }

    #[test]
    fn recovery_code_slot_round_trips_and_needs_zero_parameters() {
        let slot = KeySlot { kdf: SlotKdf::RecoveryCode, ..sample() };
        let mut bytes = slot.encode().unwrap();
        assert_eq!(KeySlot::decode(&bytes).unwrap().0, slot);
        bytes[45] = 1;
        assert!(matches!(KeySlot::decode(&bytes), Err(FormatError::InvalidValue { field: "key.kdf", .. })));
    }

    #[test]
    fn unknown_kdf_is_unsupported() {
        let mut bytes = sample().encode().unwrap();
        bytes[40] = 3;
        assert!(matches!(
            KeySlot::decode(&bytes),
            Err(FormatError::Unsupported { field: "key.kdf", found: 3 })
        ));
    }

    #[test]
    fn absurd_time_cost_is_rejected_on_decode() {
        let mut bytes = sample().encode().unwrap();
        bytes[45..49].copy_from_slice(&(1u32 << 31).to_le_bytes());
        assert!(matches!(
            KeySlot::decode(&bytes),
            Err(FormatError::OutOfRange { field: "key.kdf.time_cost", .. })
        ));
    }
}
