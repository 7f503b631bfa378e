//! Assembles sealed blobs of one type into a pack and seals its header.

use cairn_format::envelope::BlobType;
use cairn_format::header::{FILE_HEADER_LEN, FileKind, encode_file_header};
use cairn_format::id::{ObjectId, PackId};
use cairn_format::index::IndexPack;
use cairn_format::limits::MAX_PACK_ENTRIES;
use cairn_format::pack::{PACK_TRAILER_LEN, PackEntry, PackHeader, decode_trailer, encode_trailer};

use crate::crypto::content_hash;
use crate::error::{Error, Result};
use crate::seal::Sealer;

/// A pack being filled.
pub(crate) struct PackBuilder {
    blob_type: BlobType,
    bytes: Vec<u8>,
    entries: Vec<PackEntry>,
}

/// A finished pack, ready to store under its id.
pub(crate) struct SealedPack {
    pub(crate) id: PackId,
    pub(crate) bytes: Vec<u8>,
    pub(crate) entries: Vec<PackEntry>,
}

impl SealedPack {
    /// What an index file records of this pack.
    pub(crate) fn index_entry(&self) -> IndexPack {
        IndexPack {
            id: self.id,
            pack_len: u32::try_from(self.bytes.len()).expect("packs are smaller than 1 GiB"),
            blobs: self.entries.clone(),
        }
    }
}

impl PackBuilder {
    /// An empty pack for blobs of `blob_type`, expecting to grow to about `capacity` bytes.
    pub(crate) fn new(blob_type: BlobType, capacity: usize) -> PackBuilder {
        let mut bytes = Vec::with_capacity(capacity + capacity / 8);
        bytes.extend_from_slice(&encode_file_header(FileKind::Pack));
        PackBuilder { blob_type, bytes, entries: Vec::new() }
    }

    /// Appends a sealed blob.
    pub(crate) fn add(&mut self, id: ObjectId, sealed: &[u8], raw_len: u32) {
        let offset = u32::try_from(self.bytes.len()).expect("packs are closed long before 4 GiB");
        self.bytes.extend_from_slice(sealed);
        self.entries.push(PackEntry {
            blob_type: self.blob_type,
            id,
            offset,
            sealed_len: u32::try_from(sealed.len()).expect("blobs are smaller than 4 GiB"),
            raw_len,
        });
    }

    /// Whether the pack should be closed: it reached `target_len` bytes, or the most
    /// entries a pack header may list.
    pub(crate) fn is_full(&self, target_len: usize) -> bool {
        self.bytes.len() >= target_len || self.entries.len() >= MAX_PACK_ENTRIES as usize
    }

    /// Whether no blob was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Seals the header, then decodes it again before the pack leaves: an unreadable header
    /// would orphan every blob in the pack, and checking costs microseconds.
    pub(crate) fn finish(mut self, sealer: &Sealer) -> Result<SealedPack> {
        let header = PackHeader { entries: self.entries };
        let body = header.encode().map_err(|e| Error::invalid("pack header", e.to_string()))?;
        let header_offset = self.bytes.len();
        sealer.seal_pack_header(&body, &mut self.bytes).map_err(|e| Error::system("encryption", e))?;
        let sealed_len = u32::try_from(self.bytes.len() - header_offset).expect("headers are small");
        self.bytes.extend_from_slice(&encode_trailer(sealed_len));
        verify(sealer, &self.bytes, &header)?;
        Ok(SealedPack { id: PackId(content_hash(&self.bytes)), bytes: self.bytes, entries: header.entries })
    }
}

fn verify(sealer: &Sealer, bytes: &[u8], header: &PackHeader) -> Result<()> {
    let broken =
        || Error::system("pack assembly", std::io::Error::other("sealed pack header does not read back"));
    let trailer = &bytes[bytes.len() - PACK_TRAILER_LEN..];
    let (offset, sealed_len) = decode_trailer(trailer, bytes.len() as u64).map_err(|_| broken())?;
    let start = usize::try_from(offset).map_err(|_| broken())?;
    let sealed = &bytes[start..start + sealed_len as usize];
    let body = sealer.open_pack_header(&bytes[..FILE_HEADER_LEN], sealed).map_err(|_| broken())?;
    let decoded = PackHeader::decode(&body, offset).map_err(|_| broken())?;
    if decoded == *header { Ok(()) } else { Err(broken()) }
}
