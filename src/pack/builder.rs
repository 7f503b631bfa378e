//! Assembles sealed blobs of one type into a pack. The pack is written to a spool file as it
//! grows, hashed on the way, so a pack costs no memory however large it is; once sealed and
//! fsynced, the storage moves it to its final name.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_format::envelope::BlobType;
use cairn_format::header::{FILE_HEADER_LEN, FileKind, encode_file_header};
use cairn_format::id::{ObjectId, PackId};
use cairn_format::index::IndexPack;
use cairn_format::limits::MAX_PACK_ENTRIES;
use cairn_format::pack::{PACK_TRAILER_LEN, PackEntry, PackHeader, decode_trailer, encode_trailer};

use crate::error::{Error, Result};
use crate::layout;
use crate::repository::Repository;
use crate::seal::Sealer;
use crate::storage::{StorageError, StorageErrorKind};

/// A pack being filled.
pub(crate) struct PackBuilder {
    blob_type: BlobType,
    spool: Spool,
    len: u64,
    hasher: blake3::Hasher,
    entries: Vec<PackEntry>,
}

/// A finished, fsynced pack in its spool file, ready to store under its id.
pub(crate) struct SealedPack {
    pub(crate) id: PackId,
    pub(crate) spool_path: PathBuf,
    pub(crate) len: u64,
    pub(crate) entries: Vec<PackEntry>,
}

impl SealedPack {
    /// Stores the pack from its spool file. A pack already there has the same bytes (its
    /// name is their hash), so that counts as stored too; returns whether this call added
    /// it. A failure here is final (retries happen in the storage below), so the spool file
    /// is removed whatever the outcome.
    pub(crate) fn store(&self, repo: &Repository) -> std::result::Result<bool, StorageError> {
        let path = layout::file_path(FileKind::Pack, &self.id.0);
        let outcome = match repo.storage().create_from_spool(&path, &self.spool_path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind == StorageErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&self.spool_path);
        outcome
    }

    /// What an index file records of this pack.
    pub(crate) fn index_entry(&self) -> IndexPack {
        IndexPack {
            id: self.id,
            pack_len: u32::try_from(self.len).expect("packs are smaller than 1 GiB"),
            blobs: self.entries.clone(),
        }
    }
}

/// A spool file that is removed unless it is handed on.
struct Spool {
    file: File,
    path: PathBuf,
    keep: bool,
}

impl Drop for Spool {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl PackBuilder {
    /// An empty pack for blobs of `blob_type`, spooled to a new file in `spool_dir`.
    pub(crate) fn new(blob_type: BlobType, spool_dir: &Path) -> Result<PackBuilder> {
        std::fs::create_dir_all(spool_dir).map_err(|e| spool_error(spool_dir, e))?;
        let mut name = ObjectId::ZERO;
        crate::crypto::random_bytes(&mut name.0).map_err(|e| Error::system("random number generation", e))?;
        let path = spool_dir.join(format!("pack-{}.tmp", name.to_hex()));
        let file = File::create_new(&path).map_err(|e| spool_error(&path, e))?;
        let mut builder = PackBuilder {
            blob_type,
            spool: Spool { file, path, keep: false },
            len: 0,
            hasher: blake3::Hasher::new(),
            entries: Vec::new(),
        };
        builder.append(&encode_file_header(FileKind::Pack))?;
        Ok(builder)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.spool.file.write_all(bytes).map_err(|e| spool_error(&self.spool.path, e))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Appends a sealed blob.
    pub(crate) fn add(&mut self, id: ObjectId, sealed: &[u8], raw_len: u32) -> Result<()> {
        let offset = u32::try_from(self.len).expect("packs are closed long before 4 GiB");
        self.append(sealed)?;
        self.entries.push(PackEntry {
            blob_type: self.blob_type,
            id,
            offset,
            sealed_len: u32::try_from(sealed.len()).expect("blobs are smaller than 4 GiB"),
            raw_len,
        });
        Ok(())
    }

    /// Whether the pack should be closed: it reached `target_len` bytes, or the most
    /// entries a pack header may list.
    pub(crate) fn is_full(&self, target_len: u64) -> bool {
        self.len >= target_len || self.entries.len() >= MAX_PACK_ENTRIES as usize
    }

    /// Whether no blob was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Seals the header, decodes it again before the pack leaves (an unreadable header would
    /// orphan every blob in the pack, and checking costs microseconds), and fsyncs the file.
    pub(crate) fn finish(mut self, sealer: &Sealer) -> Result<SealedPack> {
        let header = PackHeader { entries: std::mem::take(&mut self.entries) };
        let body = header.encode().map_err(|e| Error::invalid("pack header", e.to_string()))?;
        let mut tail = Vec::with_capacity(body.len() + 64);
        sealer.seal_pack_header(&body, &mut tail).map_err(|e| Error::system("encryption", e))?;
        let sealed_len = u32::try_from(tail.len()).expect("headers are small");
        tail.extend_from_slice(&encode_trailer(sealed_len));
        verify(sealer, self.len, &tail, &header)?;
        self.append(&tail)?;
        self.spool.file.sync_all().map_err(|e| spool_error(&self.spool.path, e))?;
        self.spool.keep = true;
        Ok(SealedPack {
            id: PackId(ObjectId(*self.hasher.finalize().as_bytes())),
            spool_path: self.spool.path.clone(),
            len: self.len,
            entries: header.entries,
        })
    }
}

/// Decodes the sealed header and trailer that will follow `body_len` bytes of pack.
fn verify(sealer: &Sealer, body_len: u64, tail: &[u8], header: &PackHeader) -> Result<()> {
    let broken =
        || Error::system("pack assembly", std::io::Error::other("sealed pack header does not read back"));
    let pack_len = body_len + tail.len() as u64;
    let trailer = &tail[tail.len() - PACK_TRAILER_LEN..];
    let (offset, sealed_len) = decode_trailer(trailer, pack_len).map_err(|_| broken())?;
    if offset != body_len {
        return Err(broken());
    }
    let sealed = &tail[..sealed_len as usize];
    let file_header = encode_file_header(FileKind::Pack);
    let opened = sealer.open_pack_header(&file_header[..FILE_HEADER_LEN], sealed).map_err(|_| broken())?;
    let decoded = PackHeader::decode(&opened, offset).map_err(|_| broken())?;
    if decoded == *header { Ok(()) } else { Err(broken()) }
}

fn spool_error(path: &Path, source: std::io::Error) -> Error {
    Error::TargetUnwritable { path: path.to_path_buf(), source }
}
