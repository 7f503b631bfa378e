//! Writing snapshot content to a stream (`cairn dump`): a file as its bytes, a directory as
//! a tar archive. A database is rebuilt from its dump into a temporary file first, and that
//! file is what is written.

use std::io::{self, Read, Write};

use cairn_format::envelope::BlobType;
use cairn_format::id::TreeId;
use cairn_format::tree::{ChunkRef, Node, NodeKind};

use crate::error::{Error, Result};
use crate::index::Index;
use crate::pack::read_blob;
use crate::repository::Repository;
use crate::snapshot::SnapshotInfo;
use crate::tree::{find_node, walk_tree};

/// What `dump` wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpFormat {
    /// The raw content of one file.
    File,
    /// A tar archive of a directory.
    Tar,
}

impl Repository {
    /// Writes the file at `path` in the snapshot to `out`, or, for a directory (or the
    /// snapshot root), a tar archive of it.
    pub fn dump(&self, snapshot: &SnapshotInfo, path: &str, out: &mut dyn Write) -> Result<DumpFormat> {
        let _lock = crate::lock::LockGuard::shared_if_writable(self, "dump");
        let index = Index::load(self)?;
        let node = find_node(self, &index, &snapshot.snapshot.tree, path.as_bytes())?;
        match node.as_ref().map(|n| &n.kind) {
            None => {
                self.write_tar(&index, &snapshot.snapshot.tree, out)?;
                Ok(DumpFormat::Tar)
            }
            Some(NodeKind::Dir { subtree }) => {
                self.write_tar(&index, subtree, out)?;
                Ok(DumpFormat::Tar)
            }
            Some(NodeKind::File { chunks }) => {
                let mut reader = ContentReader::new(self, &index, chunks);
                let copied = io::copy(&mut reader, out);
                if let Some(e) = reader.error.take() {
                    return Err(e);
                }
                copied.map_err(output_error)?;
                Ok(DumpFormat::File)
            }
            Some(NodeKind::Database { chunks, .. }) => {
                let db = crate::restore::RebuiltDatabase::new(self, &index, chunks, path)?;
                let mut file = std::fs::File::open(db.path()).map_err(output_error)?;
                io::copy(&mut file, out).map_err(output_error)?;
                Ok(DumpFormat::File)
            }
            Some(NodeKind::Symlink { .. }) => Err(Error::invalid(
                "path",
                format!("{path} is a symbolic link; dump its directory or its target"),
            )),
        }
    }

    fn write_tar(&self, index: &Index, root: &TreeId, out: &mut dyn Write) -> Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Complete);
        walk_tree(self, index, root, b"", true, &mut |path, node| {
            // Walk paths start with `/`; tar member names are relative.
            let relative = path.strip_prefix(b"/").unwrap_or(path);
            let name = std::path::Path::new(std::ffi::OsStr::from_bytes(relative));
            let mut header = tar_header(node);
            match &node.kind {
                NodeKind::Dir { .. } => {
                    builder.append_data(&mut header, name, io::empty()).map_err(output_error)
                }
                NodeKind::File { chunks } => {
                    let mut reader = ContentReader::new(self, index, chunks);
                    let result = builder.append_data(&mut header, name, &mut reader);
                    match reader.error.take() {
                        Some(e) => Err(e),
                        None => result.map_err(output_error),
                    }
                }
                NodeKind::Symlink { target } => {
                    let target = std::path::Path::new(std::ffi::OsStr::from_bytes(target));
                    builder.append_link(&mut header, name, target).map_err(output_error)
                }
                NodeKind::Database { chunks, .. } => {
                    let label = String::from_utf8_lossy(path);
                    let db = crate::restore::RebuiltDatabase::new(self, index, chunks, &label)?;
                    let file = std::fs::File::open(db.path()).map_err(output_error)?;
                    header.set_size(file.metadata().map_err(output_error)?.len());
                    builder.append_data(&mut header, name, file).map_err(output_error)
                }
            }
        })?;
        builder.into_inner().map_err(output_error)?;
        Ok(())
    }
}

fn tar_header(node: &Node) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(node.meta.mode);
    header.set_uid(u64::from(node.meta.uid));
    header.set_gid(u64::from(node.meta.gid));
    header.set_mtime(u64::try_from(node.meta.mtime.secs).unwrap_or(0));
    match node.kind {
        NodeKind::Dir { .. } => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
        }
        NodeKind::File { .. } | NodeKind::Database { .. } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(node.meta.size);
        }
        NodeKind::Symlink { .. } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
        }
    }
    header
}

/// Reads a file's content blob by blob; a repository error is kept aside so it can be
/// reported as itself rather than as an I/O error.
pub(crate) struct ContentReader<'a> {
    repo: &'a Repository,
    index: &'a Index,
    chunks: &'a [ChunkRef],
    next: usize,
    buffer: Vec<u8>,
    position: usize,
    pub(crate) error: Option<Error>,
}

impl<'a> ContentReader<'a> {
    pub(crate) fn new(repo: &'a Repository, index: &'a Index, chunks: &'a [ChunkRef]) -> Self {
        ContentReader { repo, index, chunks, next: 0, buffer: Vec::new(), position: 0, error: None }
    }
}

impl Read for ContentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.position == self.buffer.len() {
            let Some(chunk) = self.chunks.get(self.next) else {
                return Ok(0);
            };
            let blob = read_blob(self.repo, self.index, BlobType::Data, &chunk.id.0).and_then(|bytes| {
                if bytes.len() == chunk.raw_len as usize {
                    Ok(bytes)
                } else {
                    Err(Error::corrupt(
                        crate::ObjectKind::DataBlob,
                        chunk.id,
                        crate::Damage::Format(crate::restore::length_mismatch()),
                    ))
                }
            });
            match blob {
                Ok(bytes) => {
                    self.buffer = bytes;
                    self.position = 0;
                    self.next += 1;
                }
                Err(e) => {
                    let message = e.to_string();
                    self.error = Some(e);
                    return Err(io::Error::other(message));
                }
            }
        }
        let n = out.len().min(self.buffer.len() - self.position);
        out[..n].copy_from_slice(&self.buffer[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

fn output_error(e: io::Error) -> Error {
    Error::TargetUnwritable { path: "(output)".into(), source: e }
}
