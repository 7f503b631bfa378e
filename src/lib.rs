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
mod buffer_pool;
mod check;
mod chunker;
mod clock;
mod compress;
mod crashpoint;
mod crypto;
mod diff;
mod dump;
mod error;
mod glob;
pub mod index;
mod inspect;
mod key_slot;
mod keyring;
mod layout;
mod pack;
mod progress;
mod recovery_code;
mod repair;
mod repository;
mod restore;
mod seal;
mod snapshot;
mod stats;
pub mod storage;
mod tree;

pub use archive::{BackupOptions, BackupOutcome, ParentChoice};
pub use check::{Affected, CheckOptions, CheckReport, Finding, Problem, ReadData};

/// Building blocks exposed for cairn's own benchmarks; not a stable API.
#[doc(hidden)]
pub mod internals {
    use cairn_format::config::ChunkerParams;
    use cairn_format::id::ObjectId;

    pub use crate::chunker::Chunker;
    pub use crate::seal::Sealer;

    /// The chunker a repository with this master key and these parameters uses.
    #[must_use]
    pub fn chunker(master: &crate::MasterKey, params: ChunkerParams) -> Chunker {
        Chunker::new(&master.subkeys().chunker, params)
    }

    /// The sealer of a repository with this master key, id and zstd level.
    #[must_use]
    pub fn sealer(master: &crate::MasterKey, repo_id: ObjectId, level: u8) -> Sealer {
        Sealer::new(master.subkeys(), repo_id, level)
    }
}
pub use cairn_format as format;
pub use crypto::{KdfParams, MasterKey, Password};
pub use diff::{Change, DiffEntry, DiffStats};
pub use dump::DumpFormat;
pub use error::{Damage, Error, ErrorKind, ObjectKind, Result};
pub use inspect::Entry;
pub use key_slot::DEFAULT_KDF;
pub use keyring::KeySlotInfo;
pub use progress::{CancelToken, NoProgress, Phase, Progress, ProgressReport, SourceWarning};
pub use recovery_code::RecoveryCode;
pub use repair::{IndexRepair, RepairedSnapshot, SnapshotRepair, SnapshotRepairOptions};
pub use repository::{Credentials, InitOptions, Repository, WarningSink};
pub use restore::{RestoreOptions, RestoreOutcome};
pub use snapshot::{SnapshotInfo, SnapshotListing};
pub use stats::{RepositoryStats, SnapshotStats};
