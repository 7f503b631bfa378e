//! Encrypted-object framing (SPEC §5): the sealed box `nonce ‖ ciphertext ‖ tag`, the AAD that
//! binds a box to its repository, type and id, and the payload header inside every box that
//! says how the body is compressed. The cipher itself lives in the engine.

use crate::FormatError;
use crate::id::{ID_LEN, ObjectId};
use crate::wire::{Reader, Writer, check_range};

/// XChaCha20-Poly1305 nonce length.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed box adds to its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// Length of the payload header (`codec u8 ‖ raw_len u32`).
pub const PAYLOAD_HEADER_LEN: usize = 5;
/// The repository format version bound into every AAD (SPEC §5.2).
pub const FORMAT_VERSION: u8 = 1;

/// What an AEAD box holds; its code is bound into the AAD so no box can be read as another
/// type (SPEC §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ObjectType {
    /// A chunk of file content.
    DataBlob,
    /// A directory listing.
    TreeBlob,
    /// The header at the end of a pack.
    PackHeader,
    /// An index file.
    Index,
    /// A snapshot file.
    Snapshot,
    /// The master key inside a key slot.
    KeySlot,
    /// A lock file.
    Lock,
    /// A retention policy file.
    Policy,
}

impl ObjectType {
    /// The code on the wire.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            ObjectType::DataBlob => 1,
            ObjectType::TreeBlob => 2,
            ObjectType::PackHeader => 3,
            ObjectType::Index => 4,
            ObjectType::Snapshot => 5,
            ObjectType::KeySlot => 6,
            ObjectType::Lock => 7,
            ObjectType::Policy => 8,
        }
    }
}

/// Blob types (SPEC §7): the [`ObjectType`] of blobs stored in packs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum BlobType {
    /// File content.
    Data,
    /// Directory listing.
    Tree,
}

impl BlobType {
    /// The AAD object type of this kind of blob.
    #[must_use]
    pub fn object_type(self) -> ObjectType {
        match self {
            BlobType::Data => ObjectType::DataBlob,
            BlobType::Tree => ObjectType::TreeBlob,
        }
    }

    /// The code on the wire (same as the object type's).
    #[must_use]
    pub fn code(self) -> u8 {
        self.object_type().code()
    }

    /// Decodes a blob type code.
    pub fn from_code(code: u8, field: &'static str) -> Result<BlobType, FormatError> {
        match code {
            1 => Ok(BlobType::Data),
            2 => Ok(BlobType::Tree),
            _ => Err(FormatError::Unsupported { field, found: u64::from(code) }),
        }
    }

    /// Largest raw payload of a blob of this type.
    #[must_use]
    pub fn max_raw_len(self) -> u32 {
        match self {
            BlobType::Data => crate::limits::MAX_CHUNK_LEN,
            BlobType::Tree => crate::limits::MAX_TREE_LEN,
        }
    }
}

/// The associated data of a box (SPEC §5.2):
/// `"cairn" ‖ FORMAT_VERSION ‖ type ‖ repo_id ‖ object_id ‖ prefix`.
///
/// `object_id` is the blob id for blobs and [`ObjectId::ZERO`] otherwise; `prefix` is the
/// plaintext that precedes the box in its file (empty for blobs).
#[must_use]
pub fn aad(object_type: ObjectType, repo_id: &ObjectId, object_id: &ObjectId, prefix: &[u8]) -> Vec<u8> {
    let mut w = Writer::with_capacity(7 + 2 * ID_LEN + prefix.len());
    w.bytes(b"cairn");
    w.u8(FORMAT_VERSION);
    w.u8(object_type.code());
    w.bytes(repo_id.as_bytes());
    w.bytes(object_id.as_bytes());
    w.bytes(prefix);
    w.into_bytes()
}

/// A sealed box split into its parts; nothing is authenticated yet.
pub struct SealedBox<'a> {
    /// The random nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the tag.
    pub ciphertext_and_tag: &'a [u8],
}

/// Splits `bytes` into nonce and ciphertext‖tag; fails if too short to hold both.
pub fn split_sealed<'a>(bytes: &'a [u8], field: &'static str) -> Result<SealedBox<'a>, FormatError> {
    let mut r = Reader::new(bytes);
    let nonce = r.array(field)?;
    if r.remaining() < TAG_LEN {
        return Err(FormatError::Truncated {
            field,
            needed: TAG_LEN as u64,
            available: r.remaining() as u64,
        });
    }
    let ciphertext_and_tag = r.take(r.remaining(), field)?;
    Ok(SealedBox { nonce, ciphertext_and_tag })
}

/// How a payload body is stored (SPEC §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Codec {
    /// The body is the raw bytes.
    None,
    /// The body is one zstd frame that decompresses to exactly `raw_len` bytes.
    Zstd,
}

impl Codec {
    fn code(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Zstd => 1,
        }
    }
}

/// The decrypted content of a box, before decompression.
#[derive(Debug)]
pub struct Payload<'a> {
    /// How `body` is stored.
    pub codec: Codec,
    /// Length of the body once decompressed.
    pub raw_len: u32,
    /// The stored body.
    pub body: &'a [u8],
}

/// Encodes the payload header that precedes a body.
#[must_use]
pub fn encode_payload_header(codec: Codec, raw_len: u32) -> [u8; PAYLOAD_HEADER_LEN] {
    let [l0, l1, l2, l3] = raw_len.to_le_bytes();
    [codec.code(), l0, l1, l2, l3]
}

/// Decodes a decrypted payload; `raw_len` must not exceed `max_raw_len`, and an uncompressed
/// body must be exactly `raw_len` long.
pub fn decode_payload(bytes: &[u8], max_raw_len: u32) -> Result<Payload<'_>, FormatError> {
    let mut r = Reader::new(bytes);
    let codec = match r.u8("payload.codec")? {
        0 => Codec::None,
        1 => Codec::Zstd,
        other => {
            return Err(FormatError::Unsupported { field: "payload.codec", found: u64::from(other) });
        }
    };
    let raw_len = r.u32("payload.raw_len")?;
    check_range("payload.raw_len", u64::from(raw_len), 0, u64::from(max_raw_len))?;
    let body = r.take(r.remaining(), "payload.body")?;
    if codec == Codec::None && body.len() as u64 != u64::from(raw_len) {
        return Err(FormatError::InvalidValue {
            field: "payload.body",
            reason: "length differs from payload.raw_len",
        });
    }
    if codec == Codec::Zstd && body.is_empty() {
        return Err(FormatError::InvalidValue { field: "payload.body", reason: "empty zstd frame" });
    }
    Ok(Payload { codec, raw_len, body })
}

/// The first four bytes of a zstd frame (RFC 8878 §3.1.1), little-endian 0xFD2FB528.
const ZSTD_FRAME_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

impl Payload<'_> {
    /// The raw bytes: the body itself, or its one zstd frame decompressed to exactly
    /// `raw_len` bytes (SPEC §5.3).
    ///
    /// Memory is bounded by `raw_len`, which [`decode_payload`] capped: the output buffer is
    /// allocated once at that size and decompression writes into it in a single pass, so a
    /// frame that claims a larger content size or a huge window fails instead of allocating.
    pub fn decompress(&self) -> Result<Vec<u8>, FormatError> {
        let raw = match self.codec {
            Codec::None => self.body.to_vec(),
            Codec::Zstd => decompress_frame(self.body, self.raw_len)?,
        };
        if raw.len() as u64 == u64::from(self.raw_len) {
            Ok(raw)
        } else {
            Err(FormatError::InvalidValue {
                field: "payload.body",
                reason: "does not decompress to payload.raw_len bytes",
            })
        }
    }
}

/// Decompresses a body that must be exactly one zstd frame, not a skippable one: libzstd alone
/// would accept several concatenated frames, or a skippable frame as empty output.
fn decompress_frame(body: &[u8], raw_len: u32) -> Result<Vec<u8>, FormatError> {
    let not_one_frame =
        FormatError::InvalidValue { field: "payload.body", reason: "is not exactly one zstd frame" };
    if !body.starts_with(&ZSTD_FRAME_MAGIC) {
        return Err(not_one_frame);
    }
    match zstd::zstd_safe::find_frame_compressed_size(body) {
        Ok(frame_len) if frame_len == body.len() => {}
        _ => return Err(not_one_frame),
    }
    let capacity = usize::try_from(raw_len).map_err(|_| FormatError::OutOfRange {
        field: "payload.raw_len",
        value: u64::from(raw_len),
        min: 0,
        max: usize::MAX as u64,
    })?;
    zstd::bulk::decompress(body, capacity).map_err(|_| FormatError::InvalidValue {
        field: "payload.body",
        reason: "is not a valid zstd frame of at most payload.raw_len bytes",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zstd_payload(raw: &[u8], claimed_raw_len: u32) -> Vec<u8> {
        let body = zstd::bulk::compress(raw, 3).unwrap();
        [&encode_payload_header(Codec::Zstd, claimed_raw_len)[..], &body].concat()
    }

    #[test]
    fn compressed_body_round_trips() {
        let raw = b"abcabcabc".repeat(1000);
        let bytes = zstd_payload(&raw, 9000);
        assert!(bytes.len() < 200);
        assert_eq!(decode_payload(&bytes, 9000).unwrap().decompress().unwrap(), raw);
    }

    #[test]
    fn two_concatenated_frames_are_rejected() {
        let one = zstd::bulk::compress(&[7u8; 10_000], 3).unwrap();
        let bytes = [&encode_payload_header(Codec::Zstd, 20_000)[..], &one, &one].concat();
        assert!(decode_payload(&bytes, 20_000).unwrap().decompress().is_err());
    }

    #[test]
    fn a_skippable_frame_is_not_a_body() {
        let skippable = [0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0];
        let alone = [&encode_payload_header(Codec::Zstd, 0)[..], &skippable].concat();
        assert!(decode_payload(&alone, 10).unwrap().decompress().is_err());
        let frame = zstd::bulk::compress(&[9u8; 1000], 3).unwrap();
        let before = [&encode_payload_header(Codec::Zstd, 1000)[..], &skippable, &frame].concat();
        assert!(decode_payload(&before, 1000).unwrap().decompress().is_err());
    }

    /// A frame whose content is longer or shorter than the authenticated `raw_len` fails.
    #[test]
    fn output_other_than_raw_len_is_rejected() {
        let raw = vec![7u8; 100_000];
        for claimed in [1000, 99_999, 100_001] {
            let bytes = zstd_payload(&raw, claimed);
            assert!(decode_payload(&bytes, 200_000).unwrap().decompress().is_err(), "claimed {claimed}");
        }
    }

    #[test]
    fn aad_differs_for_every_bound_field() {
        let repo = ObjectId([1; 32]);
        let id = ObjectId([2; 32]);
        let base = aad(ObjectType::DataBlob, &repo, &id, b"");
        assert_ne!(base, aad(ObjectType::TreeBlob, &repo, &id, b""));
        assert_ne!(base, aad(ObjectType::DataBlob, &ObjectId([3; 32]), &id, b""));
        assert_ne!(base, aad(ObjectType::DataBlob, &repo, &ObjectId([3; 32]), b""));
        assert_eq!(base.len(), 7 + 64);
    }

    #[test]
    fn payload_raw_len_is_capped() {
        let mut bytes = encode_payload_header(Codec::Zstd, 1000).to_vec();
        bytes.push(0);
        assert!(decode_payload(&bytes, 999).is_err());
        assert!(decode_payload(&bytes, 1000).is_ok());
    }

    #[test]
    fn uncompressed_body_must_match_raw_len() {
        let mut bytes = encode_payload_header(Codec::None, 3).to_vec();
        bytes.extend_from_slice(b"ab");
        assert!(decode_payload(&bytes, 10).is_err());
        bytes.push(b'c');
        assert_eq!(decode_payload(&bytes, 10).unwrap().body, b"abc");
    }
}
