//! cairn: a content-addressed, encrypted, incremental snapshot store for app data.
//!
//! Files are split into content-defined chunks (FastCDC with a keyed gear table), named by
//! keyed BLAKE3, deduplicated against the repository's index, compressed with zstd, sealed
//! with XChaCha20-Poly1305 and stored in packs through OpenDAL. A snapshot names a root tree;
//! unchanged files and directories are shared with earlier snapshots, yet every snapshot
//! restores on its own. SPEC.md describes every byte.
//!
//! ```no_run
//! use std::path::PathBuf;
//! use cairn::{BackupOptions, CancelToken, Credentials, InitOptions, NoProgress, Password, Repository, RestoreOptions};
//!
//! # fn main() -> cairn::Result<()> {
//! let storage = cairn::storage::open_location("/backups/app")?;
//! let repo = Repository::init(storage, &Password::from("correct horse"), &InitOptions::default())?;
//! let outcome = repo.backup(&[PathBuf::from("/data/app")], &BackupOptions::default(), &NoProgress, &CancelToken::new())?;
//! repo.restore(&outcome.snapshot, "/tmp/restored".as_ref(), &RestoreOptions::default(), &NoProgress, &CancelToken::new())?;
//! # Ok(())
//! # }
//! ```

mod archive;
mod chunker;
mod clock;
mod compress;
mod crypto;
mod diff;
mod dump;
mod error;
mod glob;
pub mod index;
mod inspect;
mod key_slot;
mod layout;
mod pack;
mod progress;
mod repository;
mod restore;
mod seal;
mod snapshot;
mod stats;
pub mod storage;
mod tree;

pub use archive::{BackupOptions, BackupOutcome, ParentChoice};
pub use cairn_format as format;
pub use crypto::{KdfParams, MasterKey, Password};
pub use diff::{Change, DiffEntry, DiffStats};
pub use dump::DumpFormat;
pub use error::{Damage, Error, ErrorKind, ObjectKind, Result};
pub use inspect::Entry;
pub use key_slot::DEFAULT_KDF;
pub use progress::{CancelToken, NoProgress, Phase, Progress, ProgressReport, SourceWarning};
pub use repository::{Credentials, InitOptions, Repository};
pub use restore::{RestoreOptions, RestoreOutcome};
pub use snapshot::{SnapshotInfo, SnapshotListing};
pub use stats::{RepositoryStats, SnapshotStats};
