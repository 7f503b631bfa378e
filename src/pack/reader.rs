//! Reads blobs out of packs, and pack headers, checking everything read.

use cairn_format::envelope::BlobType;
use cairn_format::header::{FILE_HEADER_LEN, FileKind};
use cairn_format::id::{ObjectId, PackId};
use cairn_format::pack::{PACK_TRAILER_LEN, PackHeader, decode_trailer};

use crate::error::{Damage, Error, ObjectKind, Result};
use crate::index::Index;
use crate::layout;
use crate::repository::Repository;
use crate::seal::BlobPayload;
use crate::storage::{StorageError, StorageErrorKind};

/// The plaintext of a blob, authenticated and checked against its id (read again once if
/// the first download fails the check).
pub(crate) fn read_blob(
    repo: &Repository,
    index: &Index,
    blob_type: BlobType,
    id: &ObjectId,
) -> Result<Vec<u8>> {
    crate::repository::reread_once_if_damaged(|| {
        read_sealed_blob(repo, index, blob_type, id, |sealed| repo.sealer().open_blob(blob_type, id, sealed))
    })
}

/// The payload of a blob as stored, authenticated and checked as [`read_blob`] checks it.
pub(crate) fn read_blob_payload(
    repo: &Repository,
    index: &Index,
    blob_type: BlobType,
    id: &ObjectId,
) -> Result<(BlobPayload, Vec<u8>)> {
    crate::repository::reread_once_if_damaged(|| {
        read_sealed_blob(repo, index, blob_type, id, |sealed| {
            repo.sealer().open_blob_payload(blob_type, id, sealed)
        })
    })
}

/// Reads the sealed bytes of a blob from its pack and opens them with `open`.
fn read_sealed_blob<T>(
    repo: &Repository,
    index: &Index,
    blob_type: BlobType,
    id: &ObjectId,
    open: impl Fn(&[u8]) -> std::result::Result<T, Damage>,
) -> Result<T> {
    let object = blob_object(blob_type);
    let (pack, location) =
        index.locate(blob_type, id).ok_or_else(|| Error::corrupt(object, id, Damage::Missing))?;
    let path = layout::file_path(FileKind::Pack, &pack.0);
    let sealed = repo
        .storage()
        .read_range(&path, u64::from(location.offset), u64::from(location.sealed_len))
        .map_err(|e| pack_read_error(&pack, e))?;
    open(&sealed)
        .map_err(|damage| Error::corrupt(object, format!("{} (in pack {})", id, pack.short()), damage))
}

/// Blobs in one pack closer than this are fetched in one read, gap included.
const MAX_GAP: u64 = 256 << 10;
/// Largest single read.
const MAX_READ: u64 = 8 << 20;

/// One ranged read of a pack, and the blobs it holds.
pub(crate) struct PackRead<T> {
    pub(crate) pack: PackId,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) blobs: Vec<ReadEntry<T>>,
}

/// A blob within a [`PackRead`], with what the caller wants done with it.
pub(crate) struct ReadEntry<T> {
    pub(crate) offset_in_read: usize,
    pub(crate) sealed_len: usize,
    pub(crate) item: T,
}

impl<T> PackRead<T> {
    /// The read's bytes.
    pub(crate) fn fetch(&self, repo: &Repository) -> Result<Vec<u8>> {
        let path = layout::file_path(FileKind::Pack, &self.pack.0);
        repo.storage().read_range(&path, self.offset, self.len).map_err(|e| pack_read_error(&self.pack, e))
    }

    /// The sealed bytes of `blob` within `bytes`, as [`PackRead::fetch`] returned them.
    pub(crate) fn sealed<'b>(&self, bytes: &'b [u8], blob: &ReadEntry<T>) -> Result<&'b [u8]> {
        bytes
            .get(blob.offset_in_read..blob.offset_in_read + blob.sealed_len)
            .ok_or_else(|| Error::corrupt(ObjectKind::Pack, self.pack, Damage::Missing))
    }
}

/// Groups blobs, each given as its pack, offset and sealed length there, and an item, into
/// few ranged reads: sorted by pack and offset, blobs less than 256 KiB apart in one read of
/// at most 8 MiB (gaps included), so every pack needed is read once, in order.
pub(crate) fn ranged_reads<T>(mut located: Vec<(PackId, u64, u64, T)>) -> Vec<PackRead<T>> {
    located.sort_unstable_by_key(|a| (a.0, a.1));
    let mut reads: Vec<PackRead<T>> = Vec::new();
    for (pack, offset, sealed_len, item) in located {
        let end = offset + sealed_len;
        let extend = reads.last().is_some_and(|read| {
            let read_end = read.offset + read.len;
            read.pack == pack
                && offset >= read_end
                && offset - read_end <= MAX_GAP
                && end - read.offset <= MAX_READ
        });
        if !extend {
            reads.push(PackRead { pack, offset, len: 0, blobs: Vec::new() });
        }
        let read = reads.last_mut().expect("a read was pushed above when none could be extended");
        read.len = end - read.offset;
        read.blobs.push(ReadEntry {
            offset_in_read: usize::try_from(offset - read.offset).expect("reads are at most 8 MiB"),
            sealed_len: usize::try_from(sealed_len).expect("blobs are smaller than 4 GiB"),
            item,
        });
    }
    reads
}

/// The decoded header of a pack, read from its tail.
pub(crate) fn read_pack_header(repo: &Repository, id: &PackId) -> Result<PackHeader> {
    let (body, header_offset) = read_pack_header_body(repo, id)?;
    PackHeader::decode(&body, header_offset).map_err(|e| Error::from_format(ObjectKind::Pack, id, e))
}

/// The authenticated plaintext of a pack's header and the offset of its sealed header.
pub(crate) fn read_pack_header_body(repo: &Repository, id: &PackId) -> Result<(Vec<u8>, u64)> {
    crate::repository::reread_once_if_damaged(|| read_pack_header_body_once(repo, id))
}

fn read_pack_header_body_once(repo: &Repository, id: &PackId) -> Result<(Vec<u8>, u64)> {
    let path = layout::file_path(FileKind::Pack, &id.0);
    let storage = repo.storage();
    let not_found = |e| pack_read_error(id, e);
    let len = storage.len(&path).map_err(not_found)?;
    let format = |e| Error::from_format(ObjectKind::Pack, id, e);
    if len < PACK_TRAILER_LEN as u64 {
        return Err(format(cairn_format::FormatError::Truncated {
            field: "pack.trailer",
            needed: PACK_TRAILER_LEN as u64,
            available: len,
        }));
    }
    let trailer = storage
        .read_range(&path, len - PACK_TRAILER_LEN as u64, PACK_TRAILER_LEN as u64)
        .map_err(not_found)?;
    let (offset, sealed_len) = decode_trailer(&trailer, len).map_err(format)?;
    let file_header = storage.read_range(&path, 0, FILE_HEADER_LEN as u64).map_err(not_found)?;
    let sealed = storage.read_range(&path, offset, u64::from(sealed_len)).map_err(not_found)?;
    let body = repo.sealer().open_pack_header(&file_header, &sealed).map_err(|damage| match damage {
        Damage::Format(e) => format(e),
        other => Error::corrupt(ObjectKind::Pack, id, other),
    })?;
    Ok((body, offset))
}

/// A failed read of a pack: a missing or short pack is damage to the repository, anything
/// else a storage failure.
pub(crate) fn pack_read_error(pack: &PackId, error: StorageError) -> Error {
    match error.kind {
        StorageErrorKind::NotFound => Error::corrupt(ObjectKind::Pack, pack, Damage::Missing),
        StorageErrorKind::OutOfRange => Error::corrupt(ObjectKind::Pack, pack, Damage::Truncated),
        _ => error.into(),
    }
}

fn blob_object(blob_type: BlobType) -> ObjectKind {
    match blob_type {
        BlobType::Data => ObjectKind::DataBlob,
        BlobType::Tree => ObjectKind::TreeBlob,
    }
}
