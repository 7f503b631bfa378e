//! Sealing and opening (SPEC §5): compression, encryption under the right subkey with the
//! right AAD, and — on the way back — authentication, bounded decompression and the keyed-id
//! check, so every blob handed to a caller is exactly what was stored under its id.

use cairn_format::envelope::{
    BlobType, Codec, ObjectType, PAYLOAD_HEADER_LEN, SEAL_OVERHEAD, aad, decode_payload,
    encode_payload_header,
};
use cairn_format::header::{FILE_HEADER_LEN, FileKind, encode_file_header};
use cairn_format::id::{ChunkId, ObjectId, TreeId};
use cairn_format::wire::Reader;

use crate::chunker::Chunker;
use crate::compress;
use crate::crypto::{Cipher, SubKeys};
use crate::error::Damage;
use cairn_format::config::ChunkerParams;

/// The secrets and settings needed to seal and open objects of one repository.
pub struct Sealer {
    keys: SubKeys,
    repo_id: ObjectId,
    level: u8,
}

impl Sealer {
    pub(crate) fn new(keys: SubKeys, repo_id: ObjectId, level: u8) -> Sealer {
        Sealer { keys, repo_id, level }
    }

    /// The id of a chunk: keyed BLAKE3 of its plaintext (SPEC §5.1).
    #[must_use]
    pub fn chunk_id(&self, data: &[u8]) -> ChunkId {
        ChunkId(self.keys.chunk_id.keyed_hash(data))
    }

    /// The id of a tree: keyed BLAKE3 of its encoding (SPEC §9).
    pub(crate) fn tree_id(&self, encoded: &[u8]) -> TreeId {
        TreeId(self.keys.chunk_id.keyed_hash(encoded))
    }

    /// The repository's chunker.
    pub(crate) fn chunker(&self, params: ChunkerParams) -> Chunker {
        Chunker::new(&self.keys.chunker, params)
    }

    /// MAC of the config's signed bytes (SPEC §4.1).
    pub(crate) fn config_mac(&self, signed: &[u8]) -> [u8; 32] {
        *self.keys.config_mac.keyed_hash(signed).as_bytes()
    }

    /// Seals a blob: compressed when that helps, encrypted with its type and id in the AAD.
    pub fn seal_blob(&self, blob_type: BlobType, id: &ObjectId, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(raw.len() + 64);
        self.seal_blob_into(blob_type, id, raw, &mut out)?;
        Ok(out)
    }

    /// [`Sealer::seal_blob`], appending to a buffer the caller recycles.
    pub(crate) fn seal_blob_into(
        &self,
        blob_type: BlobType,
        id: &ObjectId,
        raw: &[u8],
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let aad = aad(blob_type.object_type(), &self.repo_id, id, &[]);
        seal_payload(&self.keys.blob, &aad, self.level, raw, out)
    }

    /// Opens a sealed blob and checks that its plaintext hashes to `id`.
    pub fn open_blob(&self, blob_type: BlobType, id: &ObjectId, sealed: &[u8]) -> Result<Vec<u8>, Damage> {
        self.open_checked(blob_type, id, sealed).map(|(_, raw)| raw)
    }

    /// The payload plaintext and the raw blob of a sealed blob, checked against `id`.
    fn open_checked(
        &self,
        blob_type: BlobType,
        id: &ObjectId,
        sealed: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Damage> {
        let aad = aad(blob_type.object_type(), &self.repo_id, id, &[]);
        let plaintext = self.keys.blob.open(&aad, sealed).map_err(|_| Damage::Decryption)?;
        let raw = decode_payload(&plaintext, blob_type.max_raw_len())
            .and_then(|payload| payload.decompress())
            .map_err(Damage::Format)?;
        if self.keys.chunk_id.keyed_hash(&raw) != *id {
            return Err(Damage::Checksum);
        }
        Ok((plaintext, raw))
    }

    /// Whether `other` cuts and names content exactly as this sealer does: the same chunk-id
    /// and chunker keys, so the same bytes get the same chunks and ids in both repositories.
    pub(crate) fn same_content_keys(&self, other: &Sealer) -> bool {
        self.keys.chunk_id.bytes() == other.keys.chunk_id.bytes()
            && self.keys.chunker.bytes() == other.keys.chunker.bytes()
    }

    /// Opens a sealed blob and checks it as [`Sealer::open_blob`] does; returns its payload as
    /// stored (compressed or not), so that [`Sealer::seal_blob_payload`] of another
    /// repository with the same content keys can seal it without compressing it again, and
    /// its plaintext.
    pub(crate) fn open_blob_payload(
        &self,
        blob_type: BlobType,
        id: &ObjectId,
        sealed: &[u8],
    ) -> Result<(BlobPayload, Vec<u8>), Damage> {
        let (plaintext, raw) = self.open_checked(blob_type, id, sealed)?;
        let raw_len = u32::try_from(raw.len()).map_err(|_| Damage::TooLarge)?;
        Ok((BlobPayload { plaintext, raw_len }, raw))
    }

    /// Seals a payload opened by [`Sealer::open_blob_payload`] for this repository.
    pub(crate) fn seal_blob_payload(
        &self,
        blob_type: BlobType,
        id: &ObjectId,
        payload: &BlobPayload,
    ) -> std::io::Result<Vec<u8>> {
        let aad = aad(blob_type.object_type(), &self.repo_id, id, &[]);
        let mut out = Vec::with_capacity(payload.plaintext.len() + SEAL_OVERHEAD);
        self.keys.blob.seal(&aad, &[&payload.plaintext], &mut out)?;
        Ok(out)
    }

    /// Seals a pack header body (SPEC §7.2); the pack's file header is its AAD prefix.
    pub(crate) fn seal_pack_header(&self, body: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        let prefix = encode_file_header(FileKind::Pack);
        let aad = aad(ObjectType::PackHeader, &self.repo_id, &ObjectId::ZERO, &prefix);
        seal_payload(&self.keys.metadata, &aad, 0, body, out)
    }

    /// Opens a sealed pack header, given the pack's first [`FILE_HEADER_LEN`] bytes, which
    /// must be a pack file header of a version this reader knows.
    pub(crate) fn open_pack_header(&self, file_header: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Damage> {
        cairn_format::header::decode_file_header(&mut Reader::new(file_header), FileKind::Pack)
            .map_err(Damage::Format)?;
        let aad = aad(ObjectType::PackHeader, &self.repo_id, &ObjectId::ZERO, file_header);
        open_payload(&self.keys.metadata, &aad, sealed, cairn_format::limits::MAX_PACK_HEADER_LEN)
    }

    /// A whole index or snapshot file: header, then the sealed payload (SPEC §8, §10).
    pub(crate) fn seal_file(&self, kind: SealedFile, body: &[u8]) -> std::io::Result<Vec<u8>> {
        let header = encode_file_header(kind.file_kind());
        let aad = aad(kind.object_type(), &self.repo_id, &ObjectId::ZERO, &header);
        let mut out = Vec::with_capacity(body.len() / 2 + 64);
        out.extend_from_slice(&header);
        seal_payload(&self.keys.metadata, &aad, self.level, body, &mut out)?;
        Ok(out)
    }

    /// Opens a file made by [`Sealer::seal_file`], returning the payload body.
    pub(crate) fn open_file(&self, kind: SealedFile, bytes: &[u8]) -> Result<Vec<u8>, Damage> {
        let mut reader = Reader::new(bytes);
        cairn_format::header::decode_file_header(&mut reader, kind.file_kind()).map_err(Damage::Format)?;
        let (header, sealed) = bytes.split_at(FILE_HEADER_LEN);
        let aad = aad(kind.object_type(), &self.repo_id, &ObjectId::ZERO, header);
        open_payload(&self.keys.metadata, &aad, sealed, kind.max_payload_len())
    }
}

/// A blob's authenticated, checked payload (payload header and body, SPEC §5.3), still
/// compressed as it was stored.
pub(crate) struct BlobPayload {
    plaintext: Vec<u8>,
    /// Length of the blob's plaintext.
    pub(crate) raw_len: u32,
}

/// The kinds of file that are one sealed payload after their header (SPEC §8, §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SealedFile {
    Index,
    Snapshot,
    Lock,
    Policy,
}

impl SealedFile {
    pub(crate) fn file_kind(self) -> FileKind {
        match self {
            SealedFile::Index => FileKind::Index,
            SealedFile::Snapshot => FileKind::Snapshot,
            SealedFile::Lock => FileKind::Lock,
            SealedFile::Policy => FileKind::Policy,
        }
    }

    fn object_type(self) -> ObjectType {
        match self {
            SealedFile::Index => ObjectType::Index,
            SealedFile::Snapshot => ObjectType::Snapshot,
            SealedFile::Lock => ObjectType::Lock,
            SealedFile::Policy => ObjectType::Policy,
        }
    }

    fn max_payload_len(self) -> u32 {
        match self {
            SealedFile::Index => cairn_format::limits::MAX_INDEX_LEN,
            SealedFile::Snapshot => cairn_format::limits::MAX_SNAPSHOT_LEN,
            SealedFile::Lock => cairn_format::limits::MAX_LOCK_LEN,
            SealedFile::Policy => cairn_format::limits::MAX_POLICY_LEN,
        }
    }

    /// The longest valid file: header, sealed-box overhead, payload header, largest payload
    /// (stored uncompressed when compression does not help, so never longer).
    pub(crate) fn max_file_len(self) -> u64 {
        (FILE_HEADER_LEN + SEAL_OVERHEAD + PAYLOAD_HEADER_LEN) as u64 + u64::from(self.max_payload_len())
    }
}

fn seal_payload(
    cipher: &Cipher,
    aad: &[u8],
    level: u8,
    raw: &[u8],
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let raw_len = u32::try_from(raw.len()).map_err(|_| std::io::Error::other("payload larger than 4 GiB"))?;
    compress::with_compressed(level, raw, |compressed| match compressed {
        Some(body) => cipher.seal(aad, &[&encode_payload_header(Codec::Zstd, raw_len), body], out),
        None => cipher.seal(aad, &[&encode_payload_header(Codec::None, raw_len), raw], out),
    })
}

fn open_payload(cipher: &Cipher, aad: &[u8], sealed: &[u8], max_raw_len: u32) -> Result<Vec<u8>, Damage> {
    let plaintext = cipher.open(aad, sealed).map_err(|_| Damage::Decryption)?;
    let payload = decode_payload(&plaintext, max_raw_len).map_err(Damage::Format)?;
    payload.decompress().map_err(Damage::Format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    fn sealer(repo: u8) -> Sealer {
        Sealer::new(MasterKey::from_bytes([1; 32]).subkeys(), ObjectId([repo; 32]), 3)
    }

    #[test]
    fn blob_round_trips_and_is_bound_to_type_id_and_repository() {
        let s = sealer(1);
        let raw = b"some chunk content ".repeat(100);
        let id = s.chunk_id(&raw).0;
        let sealed = s.seal_blob(BlobType::Data, &id, &raw).unwrap();
        assert!(sealed.len() < raw.len(), "compressible data is compressed");
        assert_eq!(s.open_blob(BlobType::Data, &id, &sealed).unwrap(), raw);
        assert!(matches!(s.open_blob(BlobType::Tree, &id, &sealed), Err(Damage::Decryption)));
        assert!(matches!(s.open_blob(BlobType::Data, &ObjectId([0; 32]), &sealed), Err(Damage::Decryption)));
        assert!(matches!(sealer(2).open_blob(BlobType::Data, &id, &sealed), Err(Damage::Decryption)));
    }

    /// A blob stored under an id that is not its keyed hash is caught after decryption.
    #[test]
    fn blob_under_wrong_id_fails_the_checksum() {
        let s = sealer(1);
        let wrong = ObjectId([5; 32]);
        let sealed = s.seal_blob(BlobType::Data, &wrong, b"content").unwrap();
        assert!(matches!(s.open_blob(BlobType::Data, &wrong, &sealed), Err(Damage::Checksum)));
    }

    #[test]
    fn file_cannot_be_read_as_another_kind() {
        let s = sealer(1);
        let bytes = s.seal_file(SealedFile::Snapshot, b"body").unwrap();
        assert_eq!(s.open_file(SealedFile::Snapshot, &bytes).unwrap(), b"body");
        assert!(s.open_file(SealedFile::Index, &bytes).is_err());
    }
}

/// SPEC.md Appendix A, computed there with an independent BLAKE3 implementation: the subkey
/// derivation, gear table, chunk ids and tree ids must never change.
#[cfg(test)]
mod spec_vectors {
    use super::*;
    use crate::crypto::MasterKey;

    fn hex(bytes: &[u8; 32]) -> String {
        ObjectId(*bytes).to_hex()
    }

    #[test]
    fn appendix_a_vectors_hold() {
        let master = MasterKey::from_bytes([0; 32]);
        let keys = master.subkeys();
        assert_eq!(
            hex(keys.chunk_id.bytes()),
            "a1e54042abf8b37fdc376ddc7c799aa7e1d87f7783997ea4f5616b100df7e3ac"
        );
        assert_eq!(
            hex(keys.chunker.bytes()),
            "72845fed3523efd7a9bedc186f110faf8d8539c4e89288d80aedec0c5515d99b"
        );
        assert_eq!(
            hex(keys.config_mac.bytes()),
            "41b5af7f4a6e3ef0067dc1c104d74825b7fa27456a99085bc037f59ec052123a"
        );
        let sealer = Sealer::new(keys, ObjectId::ZERO, 3);
        assert_eq!(
            sealer.chunk_id(b"abc").0.to_hex(),
            "ab03e36c690bfe800d2f9fa91fef12771e05a06b10ed05321f1284c72ba3a41e"
        );
        let empty_tree = cairn_format::tree::Tree::default().encode().unwrap();
        assert_eq!(
            sealer.tree_id(&empty_tree).0.to_hex(),
            "8d421cc683a4e24edd3980c66c6d8b46af557d74913ae1d9aa707d439d797521"
        );
        let mut gear = [0u8; 2048];
        blake3::Hasher::new_keyed(master.subkeys().chunker.bytes()).finalize_xof().fill(&mut gear);
        assert_eq!(u64::from_le_bytes(gear[..8].try_into().unwrap()), 0x0626_79eb_ebbd_4095);
        assert_eq!(u64::from_le_bytes(gear[2040..].try_into().unwrap()), 0x709e_0409_de92_b739);
    }
}
