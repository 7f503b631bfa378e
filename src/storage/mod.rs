//! Where repository files live. Engine code holds an `Arc<dyn Storage>`. [`OpendalStorage`]
//! reaches a local directory, S3, WebDAV or Google Drive through OpenDAL; decorators add what
//! every backend needs the same way: retries ([`RetryingStorage`]), bandwidth limits
//! ([`ThrottledStorage`]) and, for tests, seeded fault injection ([`faults::FaultyStorage`]).
//! [`open`] stacks them for a location.

pub mod faults;
mod http;
mod location;
mod opendal;
mod options;
mod retry;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

pub use location::Location;
pub use opendal::OpendalStorage;
pub use options::{GdriveCredentials, S3Credentials, Secret, StorageOptions, WebdavCredentials};
pub use retry::{RetryNotice, RetryObserver, RetryPolicy, RetryingStorage};
pub use throttle::ThrottledStorage;

/// What went wrong with a storage operation, for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The object does not exist.
    NotFound,
    /// `create` found an object already at the path.
    AlreadyExists,
    /// Access was refused: file permissions, or a service refusing the request for good.
    PermissionDenied,
    /// The service rejected the credentials (HTTP 401, or 403 for a bad key).
    Unauthorized,
    /// The storage has no room left (a full disk, HTTP 507, a quota).
    StorageFull,
    /// A read asked for bytes past the end of the object: it is shorter than expected.
    OutOfRange,
    /// The object is larger than the reader accepts for its kind.
    TooLarge,
    /// A failure that may pass if the operation is tried again: a timeout, a reset
    /// connection, HTTP 5xx, 429, 423, a rate limit, a download shorter than announced.
    Transient,
    /// Anything else: I/O errors, misbehaving services.
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
    /// How long the service asked us to wait before trying again (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl StorageError {
    /// An error without a `Retry-After`.
    #[must_use]
    pub fn new(
        kind: StorageErrorKind,
        operation: &'static str,
        location: &str,
        path: &str,
        message: impl Into<String>,
    ) -> StorageError {
        StorageError {
            kind,
            operation,
            location: location.to_string(),
            path: path.to_string(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// Whether the storage reported that it is full.
    #[must_use]
    pub fn is_storage_full(&self) -> bool {
        self.kind == StorageErrorKind::StorageFull
    }

    /// Whether trying the same operation again may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.kind == StorageErrorKind::Transient
    }

    fn hint(&self) -> &'static str {
        match self.kind {
            StorageErrorKind::StorageFull => "; free space on the storage, then run the command again",
            StorageErrorKind::PermissionDenied => "; check the repository's permissions",
            StorageErrorKind::Unauthorized => {
                "; check the storage credentials (see `cairn help` or README: Storage backends)"
            }
            StorageErrorKind::Transient => {
                "; the storage did not answer in time, run the command again later"
            }
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
    /// On return the file and its name survive a crash or power loss, and the storage has
    /// confirmed its full length.
    fn create(&self, path: &str, bytes: Vec<u8>) -> Result<(), StorageError>;

    /// A local directory where large files (packs) are assembled before
    /// [`Storage::create_from_spool`]; for a local repository it is inside the repository, so
    /// storing a file is a rename.
    fn spool_dir(&self) -> &std::path::Path;

    /// Stores the complete, fsynced file `spool_file` (in [`Storage::spool_dir`]) at `path`
    /// with the guarantees of [`Storage::create`]. The spool file is removed once stored or
    /// found already stored, and kept when the upload failed, so a retry can send it again.
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

    /// Every file under `dir` (recursively), each once, or an error; never a silent omission.
    fn list(&self, dir: &str) -> Result<Vec<ObjectMeta>, StorageError>;

    /// How many uploads (or downloads) may run at once to use this storage well.
    fn connections(&self) -> usize {
        2
    }

    /// How long after a file is created or removed a listing is sure to show it so: zero for
    /// storage whose listings are consistent at once (a directory, S3, WebDAV), longer for
    /// one whose search index lags behind its writes (Google Drive). Operations that decide
    /// from listings what others are doing (taking an exclusive lock, prune) wait this long.
    fn listing_lag(&self) -> Duration {
        Duration::ZERO
    }
}

/// Opens the storage for a repository location with the options of the environment
/// ([`StorageOptions::from_env`]): local paths need nothing, remote backends take their
/// credentials from the documented variables.
pub fn open_location(location: &str) -> Result<Arc<dyn Storage>, StorageError> {
    let shown = Location::parse(location)?.to_string();
    let options = StorageOptions::from_env()
        .map_err(|message| StorageError::new(StorageErrorKind::Other, "open", &shown, "", message))?;
    open(location, &options)
}

/// Opens the storage for a repository location: the backend, wrapped in retries (remote
/// backends) and bandwidth limits (when set).
pub fn open(location: &str, options: &StorageOptions) -> Result<Arc<dyn Storage>, StorageError> {
    let location = Location::parse(location)?;
    let remote = location.is_remote();
    let mut storage: Arc<dyn Storage> = Arc::new(OpendalStorage::open(&location, options)?);
    if let Some(faults) = &options.faults {
        storage = Arc::new(faults::FaultyStorage::new(storage, faults.clone()));
    }
    if remote || options.faults.is_some() {
        let mut retrying = RetryingStorage::new(storage, options.retry.clone());
        if let Some(observer) = &options.on_retry {
            retrying = retrying.observed_by(observer.clone());
        }
        storage = Arc::new(retrying);
    }
    if options.limit_upload.is_some() || options.limit_download.is_some() {
        storage = Arc::new(ThrottledStorage::new(storage, options.limit_upload, options.limit_download));
    }
    Ok(storage)
}
