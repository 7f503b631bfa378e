//! The public error type: one variant per thing a caller may want to react to, each with the
//! context to say what failed and what to do, and an [`ErrorKind`] to branch on.

use std::path::PathBuf;

use cairn_format::FormatError;

use crate::storage::StorageError;

/// What kind of repository object an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// The `config` file.
    Config,
    /// A key slot.
    Key,
    /// A pack file.
    Pack,
    /// An index file.
    Index,
    /// A snapshot file.
    Snapshot,
    /// A data blob (a chunk of file content).
    DataBlob,
    /// A tree blob (a directory listing).
    TreeBlob,
    /// A lock file.
    Lock,
    /// A retention policy file.
    Policy,
    /// A SQLite database stored as its dump.
    Database,
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ObjectKind::Config => "config",
            ObjectKind::Key => "key",
            ObjectKind::Pack => "pack",
            ObjectKind::Index => "index",
            ObjectKind::Snapshot => "snapshot",
            ObjectKind::DataBlob => "data blob",
            ObjectKind::TreeBlob => "tree blob",
            ObjectKind::Lock => "lock",
            ObjectKind::Policy => "policy",
            ObjectKind::Database => "database",
        })
    }
}

/// How a damaged object is damaged.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    /// Authenticated decryption failed: the bytes were altered, truncated or belong elsewhere.
    #[error("decryption failed (altered, truncated or misplaced bytes)")]
    Decryption,
    /// The content does not hash to its id.
    #[error("content does not match its id")]
    Checksum,
    /// The decrypted bytes are not a valid object.
    #[error("{0}")]
    Format(FormatError),
    /// An object it needs is not in the repository.
    #[error("it is missing from the repository")]
    Missing,
    /// The object is shorter than the index or its own header says.
    #[error("it is truncated")]
    Truncated,
    /// The object is larger than any valid object of its kind.
    #[error("it is larger than any valid object of its kind")]
    TooLarge,
    /// A database's dump does not rebuild into the database it describes.
    #[error("it does not rebuild into a sound database: {0}")]
    Rebuild(String),
}

/// The category of an [`Error`], for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Wrong password or key.
    Auth,
    /// No repository at the location.
    RepositoryMissing,
    /// A repository already exists where one was to be created.
    RepositoryExists,
    /// Data in the repository is damaged (the error names the object).
    Corrupt,
    /// The repository was written by a newer cairn.
    IncompatibleVersion,
    /// The storage failed (I/O, permissions, a misbehaving service).
    Storage,
    /// The storage could not be reached, or kept failing transiently until the retries
    /// gave up (timeouts, resets, HTTP 5xx, rate limits).
    Network,
    /// The storage is full.
    StorageFull,
    /// A backup source could not be read.
    SourceUnreadable,
    /// A restore target could not be written.
    TargetUnwritable,
    /// A snapshot or path the caller named does not exist.
    NotFound,
    /// The caller's input is invalid.
    InvalidInput,
    /// Another operation holds the repository's lock, or this one lost its own.
    Locked,
    /// The caller cancelled the operation.
    Cancelled,
    /// The operating system failed in a way that is not about the repository or the data.
    System,
    /// A database in the snapshot has a newer schema than the app restoring it understands.
    SchemaIncompatible,
}

/// The error categories an app shows its users (the seeds' taxonomy); every [`ErrorKind`]
/// that is one of them maps onto it through [`Error::category`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Wrong password or key, or credentials the storage refused.
    Auth,
    /// The storage could not be reached or kept failing.
    Network,
    /// The storage (or the restore target) is full.
    StorageFull,
    /// Stored data does not match its checksum, or is missing or malformed.
    ChecksumMismatch,
    /// Stored data failed authenticated decryption.
    DecryptionFailed,
    /// A database's schema is newer than the app understands.
    SchemaIncompatible,
}

impl Category {
    /// The category's name in the seeds' taxonomy, e.g. `STORAGE_FULL`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Category::Auth => "AUTH",
            Category::Network => "NETWORK",
            Category::StorageFull => "STORAGE_FULL",
            Category::ChecksumMismatch => "CHECKSUM_MISMATCH",
            Category::DecryptionFailed => "DECRYPTION_FAILED",
            Category::SchemaIncompatible => "SCHEMA_INCOMPATIBLE",
        }
    }
}

/// Errors of the cairn library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No repository at the location.
    #[error("no cairn repository at {location}; create one with `cairn init`")]
    NoRepository {
        /// Where the repository was looked for.
        location: String,
    },
    /// `init` found a repository already there.
    #[error("a cairn repository already exists at {location}; use it, or choose another location")]
    RepositoryExists {
        /// The location.
        location: String,
    },
    /// No key slot opens with the password or key given.
    #[error("wrong password or key for the repository at {location}")]
    WrongPassword {
        /// The location.
        location: String,
    },
    /// An object in the repository is damaged.
    #[error("{object} {id} in the repository is damaged: {damage}; other snapshots may still restore")]
    Corrupt {
        /// What kind of object.
        object: ObjectKind,
        /// Its id (hex) or name.
        id: String,
        /// How it is damaged.
        damage: Damage,
    },
    /// An object was written in a newer format.
    #[error("{object} {id} needs a newer cairn: {source}")]
    Incompatible {
        /// What kind of object.
        object: ObjectKind,
        /// Its id or name.
        id: String,
        /// The version or kind this reader does not know.
        source: FormatError,
    },
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A backup source could not be read at all.
    #[error("cannot read backup source {path}: {source}")]
    SourceUnreadable {
        /// The source.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A restore target could not be written.
    #[error("cannot write {path}: {source}; check the target's permissions and free space")]
    TargetUnwritable {
        /// The path being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No snapshot matches.
    #[error("no snapshot matches {query}; list them with `cairn snapshots`")]
    SnapshotNotFound {
        /// What the caller asked for.
        query: String,
    },
    /// More than one object matches an id prefix.
    #[error("id prefix {prefix} matches more than one object; give more digits")]
    AmbiguousId {
        /// The prefix.
        prefix: String,
    },
    /// A path is not in a snapshot.
    #[error("{path} is not in the snapshot; list what is with `cairn ls`")]
    PathNotFound {
        /// The path.
        path: String,
    },
    /// The caller's input is invalid.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was invalid.
        what: String,
        /// Why.
        reason: String,
    },
    /// A SQLite database could not be opened or read.
    #[error("cannot read the SQLite database {path}: {source}; check that it is an intact SQLite database")]
    DatabaseUnreadable {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Restored content differs from the snapshot (`restore --verify`).
    #[error("{count} restored file(s) differ from the snapshot, first {first}; restore them again")]
    VerifyFailed {
        /// How many files differ.
        count: usize,
        /// The first of them.
        first: PathBuf,
    },
    /// Another operation holds a lock this one needs, or is using data this one would
    /// remove.
    #[error(
        "{what}: the repository is in use by {holder}; try again when it ends, or run `cairn unlock` if that process is gone"
    )]
    Locked {
        /// What could not be done.
        what: String,
        /// Who holds the lock: operation, host, process, since when.
        holder: String,
    },
    /// This operation could not keep its lock fresh (the device slept, the storage was
    /// unreachable), so a prune may have removed data it relies on; it stopped before writing
    /// anything that could refer to such data.
    #[error("{reason}; nothing more was written: run it again (what was stored is reused)")]
    LockLost {
        /// What happened.
        reason: String,
    },
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A database in the snapshot has a schema version (`PRAGMA user_version`) newer than the
    /// newest the restoring app declared it understands; nothing was written.
    #[error(
        "{path} in the snapshot has schema version {found}, newer than {supported}, the newest this app understands; update the app, then restore"
    )]
    SchemaIncompatible {
        /// The database's path in the snapshot.
        path: String,
        /// Its `user_version`.
        found: i32,
        /// The newest version the app understands.
        supported: i32,
    },
    /// The safety snapshot before an in-place restore could not read everything it was to
    /// hold, so the restore did not start.
    #[error(
        "the safety snapshot could not read {count} file(s), first {first}: {reason}; nothing was restored: make them readable, or restore without a safety snapshot"
    )]
    SafetySnapshotIncomplete {
        /// How many entries could not be read.
        count: usize,
        /// The first of them.
        first: PathBuf,
        /// Why.
        reason: String,
    },
    /// A system facility failed (random numbers, threads).
    #[error("{what} failed: {source}")]
    System {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    /// The category of the error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoRepository { .. } => ErrorKind::RepositoryMissing,
            Error::RepositoryExists { .. } => ErrorKind::RepositoryExists,
            Error::WrongPassword { .. } => ErrorKind::Auth,
            Error::Corrupt { .. } | Error::VerifyFailed { .. } => ErrorKind::Corrupt,
            Error::Incompatible { .. } => ErrorKind::IncompatibleVersion,
            Error::Storage(e) if e.is_storage_full() => ErrorKind::StorageFull,
            Error::Storage(e) if e.kind == crate::storage::StorageErrorKind::Unauthorized => ErrorKind::Auth,
            Error::Storage(e) if e.is_transient() => ErrorKind::Network,
            Error::Storage(_) => ErrorKind::Storage,
            Error::SourceUnreadable { .. }
            | Error::SafetySnapshotIncomplete { .. }
            | Error::DatabaseUnreadable { .. } => ErrorKind::SourceUnreadable,
            Error::TargetUnwritable { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                ErrorKind::StorageFull
            }
            Error::TargetUnwritable { .. } => ErrorKind::TargetUnwritable,
            Error::SnapshotNotFound { .. } | Error::AmbiguousId { .. } | Error::PathNotFound { .. } => {
                ErrorKind::NotFound
            }
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Locked { .. } | Error::LockLost { .. } => ErrorKind::Locked,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::System { .. } => ErrorKind::System,
            Error::SchemaIncompatible { .. } => ErrorKind::SchemaIncompatible,
        }
    }

    /// The error's category in the taxonomy apps show users, if it has one.
    #[must_use]
    pub fn category(&self) -> Option<Category> {
        match self {
            Error::Corrupt { damage: Damage::Decryption, .. } => Some(Category::DecryptionFailed),
            _ => match self.kind() {
                ErrorKind::Auth => Some(Category::Auth),
                ErrorKind::Network => Some(Category::Network),
                ErrorKind::StorageFull => Some(Category::StorageFull),
                ErrorKind::Corrupt => Some(Category::ChecksumMismatch),
                ErrorKind::SchemaIncompatible => Some(Category::SchemaIncompatible),
                _ => None,
            },
        }
    }

    /// An object failed to decode: a newer format is [`Error::Incompatible`], anything else
    /// is damage.
    #[allow(clippy::needless_pass_by_value)] // callers pass Copy ids and literals
    pub(crate) fn from_format(object: ObjectKind, id: impl ToString, source: FormatError) -> Error {
        match source {
            FormatError::UnsupportedVersion { .. } | FormatError::Unsupported { .. } => {
                Error::Incompatible { object, id: id.to_string(), source }
            }
            other => Error::Corrupt { object, id: id.to_string(), damage: Damage::Format(other) },
        }
    }

    /// An object is damaged.
    #[allow(clippy::needless_pass_by_value)] // callers pass Copy ids and literals
    pub(crate) fn corrupt(object: ObjectKind, id: impl ToString, damage: Damage) -> Error {
        Error::Corrupt { object, id: id.to_string(), damage }
    }

    pub(crate) fn system(what: &'static str, source: std::io::Error) -> Error {
        Error::System { what, source }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidInput { what: what.into(), reason: reason.into() }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
