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
    let location = index.get(blob_type, id).ok_or_else(|| Error::corrupt(object, id, Damage::Missing))?;
    let pack = index.pack(location.pack).ok_or_else(|| Error::corrupt(object, id, Damage::Missing))?;
    let path = layout::file_path(FileKind::Pack, &pack.0);
    let sealed = repo
        .storage()
        .read_range(&path, u64::from(location.offset), u64::from(location.sealed_len))
        .map_err(|e| pack_read_error(&pack, e))?;
    open(&sealed)
        .map_err(|damage| Error::corrupt(object, format!("{} (in pack {})", id, pack.short()), damage))
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
