//! Where repository files live. Engine code holds an `Arc<dyn Storage>`; the only
//! implementation today is [`OpendalStorage`] (OpenDAL, local file system), and later backends
//! and test decorators implement the same trait and contracts.

mod opendal;

pub use opendal::OpendalStorage;

/// What went wrong with a storage operation, for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The object does not exist.
    NotFound,
    /// `create` found an object already at the path.
    AlreadyExists,
    /// Access was refused.
    PermissionDenied,
    /// The storage has no room left.
    StorageFull,
    /// A read asked for bytes past the end of the object: it is shorter than expected.
    OutOfRange,
    /// The object is larger than the reader accepts for its kind.
    TooLarge,
    /// Anything else: I/O errors, network errors, misbehaving services.
    Other,
}

/// A failed storage operation, with the path and what to do.
#[derive(Debug, thiserror::Error)]
#[error("storage {operation} of {path} at {location} failed: {message}{hint}", hint = self.hint())]
pub struct StorageError {
    /// What kind of failure.
    pub kind: StorageErrorKind,
    /// The operation: read, write, list, stat.
    pub operation: &'static str,
    /// The repository location.
    pub location: String,
    /// The object path inside the repository.
    pub path: String,
    /// The underlying error, in one line.
    pub message: String,
}

impl StorageError {
    /// Whether the storage reported that it is full.
    #[must_use]
    pub fn is_storage_full(&self) -> bool {
        self.kind == StorageErrorKind::StorageFull
    }

    fn hint(&self) -> &'static str {
        match self.kind {
            StorageErrorKind::StorageFull => "; free space on the storage, then run the command again",
            StorageErrorKind::PermissionDenied => "; check the repository's permissions",
            _ => "",
        }
    }
}

/// A file in storage, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// Length in bytes.
    pub len: u64,
}

/// Repository storage: a flat namespace of write-once files under `/`-separated paths.
///
/// Every method is safe to retry. Implementations never return partial results: a read is
/// all the bytes or an error, a listing is complete or an error.
pub trait Storage: Send + Sync {
    /// Where the repository is, for messages (no credentials).
    fn location(&self) -> &str;

    /// Stores `bytes` at `path` durably and atomically unless something is already there, in
    /// which case it fails with [`StorageErrorKind::AlreadyExists`] and leaves it untouched.
    /// On return the file and its name survive a crash or power loss.
    fn create(&self, path: &str, bytes: Vec<u8>) -> Result<(), StorageError>;

    /// A local directory where large files (packs) are assembled before
    /// [`Storage::create_from_spool`]; for a local repository it is inside the repository, so
    /// storing a file is a rename.
    fn spool_dir(&self) -> &std::path::Path;

    /// Stores the complete, fsynced file `spool_file` (in [`Storage::spool_dir`]) at `path`
    /// with the guarantees of [`Storage::create`], and removes the spool file, also when
    /// `path` already exists.
    fn create_from_spool(&self, path: &str, spool_file: &std::path::Path) -> Result<(), StorageError>;

    /// The whole file, which must be at most `max_len` bytes long: a longer one fails with
    /// [`StorageErrorKind::TooLarge`] before it is read, so a hostile store cannot make the
    /// reader allocate without bound.
    fn read(&self, path: &str, max_len: u64) -> Result<Vec<u8>, StorageError>;

    /// Exactly `len` bytes from `offset`, or an error; never a short read.
    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError>;

    /// The length of the file at `path`.
    fn len(&self, path: &str) -> Result<u64, StorageError>;

    /// Deletes the file at `path`; deleting a file that does not exist succeeds.
    fn remove(&self, path: &str) -> Result<(), StorageError>;

    /// Every file under `dir` (recursively), or an error; never a silent omission.
    fn list(&self, dir: &str) -> Result<Vec<ObjectMeta>, StorageError>;
}

/// Opens the storage named by a repository location. Today every location is a local
/// directory path (optionally prefixed `local:`).
pub fn open_location(location: &str) -> Result<std::sync::Arc<dyn Storage>, StorageError> {
    let path = location.strip_prefix("local:").unwrap_or(location);
    Ok(std::sync::Arc::new(OpendalStorage::local(std::path::Path::new(path))?))
}
