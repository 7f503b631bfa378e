//! The master key and the subkeys derived from it, one per purpose (SPEC §4.3). Secrets are
//! wiped on drop, are not `Clone`, and print as `redacted`.

use cairn_format::id::ObjectId;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::aead::Cipher;

/// Length of every key.
const KEY_LEN: usize = 32;

/// The random root secret of a repository; every other key derives from it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; KEY_LEN]);

impl MasterKey {
    /// A fresh random master key.
    pub(crate) fn generate() -> std::io::Result<MasterKey> {
        let mut key = MasterKey([0; KEY_LEN]);
        super::random_bytes(&mut key.0)?;
        Ok(key)
    }

    /// A master key from its 32 raw bytes, e.g. read back from a platform keystore. The bytes
    /// are copied; the caller should wipe its copy.
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        MasterKey(bytes)
    }

    /// The raw bytes, for storing in a platform keystore. Whoever holds them can read and
    /// write the repository without a password.
    #[must_use]
    pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A second handle on the same key, for a repository opened with it.
    pub(crate) fn duplicate(&self) -> MasterKey {
        MasterKey(self.0)
    }

    /// Derives the subkey for one purpose (SPEC §4.3).
    fn derive(&self, purpose: Purpose) -> SubKey {
        SubKey(blake3::derive_key(purpose.context(), &self.0))
    }

    /// All subkeys.
    pub(crate) fn subkeys(&self) -> SubKeys {
        SubKeys {
            blob: Cipher::new(&self.derive(Purpose::BlobEncryption)),
            metadata: Cipher::new(&self.derive(Purpose::MetadataEncryption)),
            chunk_id: self.derive(Purpose::ChunkId),
            chunker: self.derive(Purpose::ChunkerGear),
            config_mac: self.derive(Purpose::ConfigMac),
        }
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

/// The purposes keys are derived for; each has its own frozen context string (SPEC §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    BlobEncryption,
    MetadataEncryption,
    ChunkId,
    ChunkerGear,
    ConfigMac,
}

impl Purpose {
    /// BLAKE3 `derive_key` contexts. Changing one makes every repository unreadable.
    fn context(self) -> &'static str {
        match self {
            Purpose::BlobEncryption => "cairn 2026-11-23 v1 blob encryption",
            Purpose::MetadataEncryption => "cairn 2026-11-23 v1 metadata encryption",
            Purpose::ChunkId => "cairn 2026-11-23 v1 chunk id",
            Purpose::ChunkerGear => "cairn 2026-11-23 v1 chunker gear table",
            Purpose::ConfigMac => "cairn 2026-11-23 v1 config mac",
        }
    }
}

/// A 32-byte key derived for one purpose.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SubKey([u8; KEY_LEN]);

impl SubKey {
    pub(crate) fn from_bytes(bytes: [u8; KEY_LEN]) -> SubKey {
        SubKey(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Keyed BLAKE3 of `data` under this key.
    pub(crate) fn keyed_hash(&self, data: &[u8]) -> ObjectId {
        ObjectId(*blake3::keyed_hash(&self.0, data).as_bytes())
    }
}

impl std::fmt::Debug for SubKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubKey(redacted)")
    }
}

/// Every subkey of an open repository.
pub(crate) struct SubKeys {
    /// Seals data and tree blobs.
    pub(crate) blob: Cipher,
    /// Seals pack headers, index files and snapshots.
    pub(crate) metadata: Cipher,
    /// Keys the BLAKE3 ids of chunks and trees.
    pub(crate) chunk_id: SubKey,
    /// Keys the chunker's gear table.
    pub(crate) chunker: SubKey,
    /// MACs the config.
    pub(crate) config_mac: SubKey,
}

/// A password or passphrase, wiped on drop and never printed.
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// The password's bytes (UTF-8 for typed passwords; any bytes are accepted).
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Password {
        Password(Zeroizing::new(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for Password {
    fn from(text: String) -> Self {
        Password::new(text.into_bytes())
    }
}

impl From<&str> for Password {
    fn from(text: &str) -> Self {
        Password::new(text.as_bytes().to_vec())
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Subkeys for different purposes must differ, or one key would serve two purposes.
    #[test]
    fn subkeys_are_pairwise_distinct() {
        let master = MasterKey::from_bytes([42; 32]);
        let all = [
            Purpose::BlobEncryption,
            Purpose::MetadataEncryption,
            Purpose::ChunkId,
            Purpose::ChunkerGear,
            Purpose::ConfigMac,
        ]
        .map(|p| *master.derive(p).bytes());
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let master = MasterKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{master:?}"), "MasterKey(redacted)");
        assert_eq!(format!("{:?}", Password::from("hunter2")), "Password(redacted)");
        assert_eq!(format!("{:?}", master.derive(Purpose::ChunkId)), "SubKey(redacted)");
    }

    /// The derivation is part of the format: a frozen vector catches an accidental change.
    #[test]
    fn chunk_id_key_derivation_is_frozen() {
        let master = MasterKey::from_bytes([0; 32]);
        let key = master.derive(Purpose::ChunkId);
        let expected = blake3::derive_key("cairn 2026-11-23 v1 chunk id", &[0; 32]);
        assert_eq!(key.bytes(), &expected);
    }

    /// The official BLAKE3 test vectors (`test_vectors.json`: input byte i is i mod 251) for
    /// the two modes cairn uses: keyed hashing (chunk ids) and `derive_key` (subkeys).
    #[test]
    fn blake3_known_answers() {
        use crate::crypto::unhex;
        let key: [u8; 32] = *b"whats the Elvish word for friend";
        let context = "BLAKE3 2019-12-27 16:29:52 test vectors context";
        let cases = [
            (
                0,
                "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26",
                "2cc39783c223154fea8dfb7c1b1660f2ac2dcbd1c1de8277b0b0dd39b7e50d7d",
            ),
            (
                1025,
                "357dc55de0c7e382c900fd6e320acc04146be01db6a8ce7210b7189bd664ea69",
                "effaa245f065fbf82ac186839a249707c3bddf6d3fdda22d1b95a3c970379bcb",
            ),
        ];
        for (len, keyed, derived) in cases {
            #[allow(clippy::cast_possible_truncation)] // i % 251 < 256
            let input: Vec<u8> = (0..len).map(|i: usize| (i % 251) as u8).collect();
            assert_eq!(
                SubKey::from_bytes(key).keyed_hash(&input).0.to_vec(),
                unhex(keyed),
                "keyed, len {len}"
            );
            assert_eq!(blake3::derive_key(context, &input).to_vec(), unhex(derived), "derive_key, len {len}");
        }
    }
}
