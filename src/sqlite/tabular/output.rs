//! Export files appear whole or not at all, and never replace a file: each is written to a
//! temporary file beside its target, synced, and renamed into place if the target is still
//! free. (Between that last check and the rename, another process could create the target and
//! lose it; a no-replace rename is not portable, and the exports go to a directory the user
//! chose for them.)

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Buffer between the encoders' many small writes and the file.
const BUFFER_BYTES: usize = 256 << 10;

/// Creates the output directory and any missing parents.
pub(super) fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| Error::TargetUnwritable { path: dir.to_path_buf(), source })
}

/// Fails if anything, even a dangling symbolic link, is at `path`.
pub(super) fn refuse_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => Err(Error::invalid(
            "export target",
            format!("{} already exists; remove it or export into another directory", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::TargetUnwritable { path: path.to_path_buf(), source }),
    }
}

/// A file being written: removed on drop unless committed.
pub(super) struct OutputFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
    committed: bool,
}

impl OutputFile {
    /// Starts the file that [`OutputFile::commit`] moves to `target`.
    pub(super) fn create(target: PathBuf) -> Result<OutputFile> {
        let temp = temp_path(&target);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|source| Error::TargetUnwritable { path: temp.clone(), source })?;
        Ok(OutputFile {
            target,
            temp,
            writer: Some(BufWriter::with_capacity(BUFFER_BYTES, file)),
            committed: false,
        })
    }

    /// Where the content goes.
    pub(super) fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("the writer is only taken by commit, which consumes self")
    }

    /// The error for a failed write to this file.
    pub(super) fn failed(&self, source: io::Error) -> Error {
        Error::TargetUnwritable { path: self.target.clone(), source }
    }

    /// Makes the content durable and moves it to the target; returns the target's path.
    pub(super) fn commit(mut self) -> Result<PathBuf> {
        let writer = self.writer.take().expect("commit runs once, as it consumes self");
        let file = writer.into_inner().map_err(|e| self.failed(e.into_error()))?;
        file.sync_all().map_err(|e| self.failed(e))?;
        drop(file);
        refuse_existing(&self.target)?;
        fs::rename(&self.temp, &self.target).map_err(|e| self.failed(e))?;
        self.committed = true;
        let dir = self.target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::TargetUnwritable { path: dir.to_path_buf(), source })?;
        Ok(std::mem::take(&mut self.target))
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if !self.committed {
            drop(self.writer.take());
            // Best effort: the error that led here is the one to report.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// A hidden name beside `target`, unique to this process, that says what it is.
fn temp_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    target.with_file_name(format!(".{name}.{}.cairn-tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed export must not leave half a file behind, under either name.
    #[test]
    fn uncommitted_file_leaves_nothing() {
        let dir = tempfile::TempDir::new().unwrap();
        let target = dir.path().join("t.csv");
        let mut file = OutputFile::create(target.clone()).unwrap();
        std::io::Write::write_all(file.writer(), b"partial").unwrap();
        drop(file);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// An existing file is the user's; it must survive an export naming it.
    #[test]
    fn commit_refuses_to_replace_a_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let target = dir.path().join("t.csv");
        let file = OutputFile::create(target.clone()).unwrap();
        fs::write(&target, b"mine").unwrap();
        assert!(file.commit().unwrap_err().to_string().contains("already exists"));
        assert_eq!(fs::read(&target).unwrap(), b"mine");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file is removed");
    }
}
