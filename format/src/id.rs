//! Identifiers (SPEC §2.3): 32-byte values shown as 64 lowercase hex digits, one type per kind
//! of object so a tree id cannot go where a chunk id belongs.

use core::fmt;

/// Length of every identifier in bytes.
pub const ID_LEN: usize = 32;

/// A 32-byte identifier whose meaning depends on its kind (SPEC §2.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ObjectId(pub [u8; ID_LEN]);

impl ObjectId {
    /// The all-zero id, used in AAD where an object has no id of its own (SPEC §5.2).
    pub const ZERO: ObjectId = ObjectId([0; ID_LEN]);

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// 64 lowercase hex digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(ID_LEN * 2);
        for byte in self.0 {
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0xf));
        }
        out
    }

    /// The first 8 hex digits, as shown to people.
    #[must_use]
    pub fn short(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(8);
        hex
    }

    /// Parses exactly 64 hex digits (either case).
    #[must_use]
    pub fn from_hex(text: &str) -> Option<ObjectId> {
        let bytes = text.as_bytes();
        if bytes.len() != ID_LEN * 2 {
            return None;
        }
        let mut out = [0u8; ID_LEN];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let (hi, lo) = match pair {
                [hi, lo] => (hex_value(*hi)?, hex_value(*lo)?),
                _ => return None,
            };
            *slot = (hi << 4) | lo;
        }
        Some(ObjectId(out))
    }
}

fn hex_digit(nibble: u8) -> char {
    let nibble = nibble & 0xf;
    char::from(if nibble < 10 { b'0' + nibble } else { b'a' + nibble - 10 })
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.short())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(pub ObjectId);

        impl $name {
            /// The untyped id.
            #[must_use]
            pub fn object_id(&self) -> ObjectId {
                self.0
            }
            /// The first 8 hex digits.
            #[must_use]
            pub fn short(&self) -> String {
                self.0.short()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.short())
            }
        }
    };
}

typed_id!(
    /// Keyed BLAKE3 of a chunk's plaintext (SPEC §2.3, §5.4); names a data blob.
    ChunkId
);
typed_id!(
    /// Keyed BLAKE3 of a tree's encoding (SPEC §9); names a tree blob.
    TreeId
);
typed_id!(
    /// BLAKE3 of a pack file's bytes (SPEC §7).
    PackId
);
typed_id!(
    /// BLAKE3 of an index file's bytes (SPEC §8).
    IndexId
);
typed_id!(
    /// BLAKE3 of a snapshot file's bytes (SPEC §10).
    SnapshotId
);
typed_id!(
    /// BLAKE3 of a key-slot file's bytes (SPEC §4).
    KeyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let id = ObjectId([0xab; ID_LEN]);
        assert_eq!(ObjectId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(ObjectId::from_hex(&id.to_hex().to_uppercase()), Some(id));
        assert_eq!(ObjectId::from_hex("abc"), None);
        assert_eq!(ObjectId::from_hex(&"g".repeat(64)), None);
        assert_eq!(id.short(), "abababab");
    }
}
