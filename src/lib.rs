//! cairn: a content-addressed, encrypted, incremental snapshot store for app data.
//!
//! # An app's view
//!
//! An app keeps years of its user's data in a SQLite database and a folder of media, and
//! backs them up every day into the user's own cloud. With cairn it:
//!
//! 1. opens its repository ([`storage::open_location`] or [`storage::open`] for S3, WebDAV,
//!    Google Drive or a local/iCloud Drive folder, then [`Repository::open`] with a password
//!    or a [`Credentials::MasterKey`] kept in the platform keystore);
//! 2. backs up its data directory with [`Repository::backup`], while it keeps running: each
//!    SQLite database is found by its header and read through SQLite at one consistent point
//!    (its `-wal`/`-shm` files are not stored as files), and stored as a canonical dump, so a
//!    day of app use stores about the rows that changed ([`sqlite`]). The app passes its own
//!    metadata ([`BackupOptions::meta`], e.g. app id and version), a [`Progress`] for its
//!    progress bar, and a [`CancelToken`] its cancel button holds;
//! 3. lists snapshots ([`Repository::snapshots`]) with their metadata, and what each database
//!    held ([`Repository::ls`]: schema version and row counts of each table);
//! 4. restores in place ([`Repository::restore`] with [`RestoreOptions::safety_snapshot`] and
//!    [`RestoreOptions::max_schema_version`]): a snapshot newer than the app understands is
//!    refused before anything is written ([`ErrorKind::SchemaIncompatible`]); what is there
//!    is first kept in a `pre-restore` snapshot; every file, database included, is replaced
//!    by an atomic rename of a checked copy, so a crash leaves the old or the new one and a
//!    second run finishes the job;
//! 5. exports a database's tables for its user ([`Repository::export_database`]).
//!
//! `examples/app_backup.rs` does all of this on a demo app directory. Errors map onto the
//! categories apps show users with [`Error::category`].
//!
//! # How it works
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
mod copy;
mod crashpoint;
mod crypto;
mod diff;
mod dump;
mod error;
mod export;
mod forget;
mod glob;
pub mod index;
mod inspect;
mod key_slot;
mod keyring;
mod layout;
mod lock;
mod pack;
mod policy;
mod progress;
mod prune;
mod recovery_code;
mod repair;
mod repository;
mod restore;
mod retention;
mod seal;
mod snapshot;
pub mod sqlite;
mod stats;
pub mod storage;
mod tree;

pub use archive::{BackupOptions, BackupOutcome, ParentChoice, Resumed};
pub use check::{Affected, CheckOptions, CheckReport, Finding, Problem, ReadData};
pub use clock::{rfc3339, rfc3339_nanos};

/// Building blocks exposed for cairn's own benchmarks; not a stable API.
#[doc(hidden)]
pub mod internals {
    use cairn_format::config::ChunkerParams;
    use cairn_format::envelope::BlobType;
    use cairn_format::header::FileKind;
    use cairn_format::id::{ObjectId, PackId};

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

    /// The decrypted, decompressed body of an index or snapshot file: the bytes
    /// `cairn-format` decodes (for the test vectors under `format/vectors/`).
    pub fn file_body(repo: &crate::Repository, kind: FileKind, id: &ObjectId) -> crate::Result<Vec<u8>> {
        let sealed = match kind {
            FileKind::Index => crate::seal::SealedFile::Index,
            FileKind::Snapshot => crate::seal::SealedFile::Snapshot,
            other => {
                return Err(crate::Error::InvalidInput {
                    what: "file kind".into(),
                    reason: format!("{other:?} files are not one sealed payload"),
                });
            }
        };
        repo.read_file(sealed, id)
    }

    /// The decrypted body of a pack's header and the offset of its sealed header.
    pub fn pack_header_body(repo: &crate::Repository, id: &PackId) -> crate::Result<(Vec<u8>, u64)> {
        crate::pack::read_pack_header_body(repo, id)
    }

    /// Writes a lock file as another process would have: of `kind`, held by `pid` on
    /// `hostname`, last refreshed `age` ago (for tests of lock handling).
    pub fn write_foreign_lock(
        repo: &crate::Repository,
        kind: cairn_format::lock::LockKind,
        hostname: &str,
        pid: u32,
        age: std::time::Duration,
    ) -> crate::Result<()> {
        crate::lock::write_foreign_lock(repo, kind, hostname, pid, age)
    }

    /// The plaintext of a blob, found through the repository's index.
    pub fn blob(repo: &crate::Repository, blob_type: BlobType, id: &ObjectId) -> crate::Result<Vec<u8>> {
        let index = crate::index::Index::load(repo)?;
        crate::pack::read_blob(repo, &index, blob_type, id)
    }
}
pub use cairn_format as format;
pub use copy::{COPIED_FROM, CopyOptions, CopyReport};
pub use crypto::{KdfParams, MasterKey, Password};
pub use diff::{Change, DiffEntry, DiffStats};
pub use dump::DumpFormat;
pub use error::{Category, Damage, Error, ErrorKind, ObjectKind, Result};
pub use forget::{ForgetOptions, ForgetReport};
pub use inspect::Entry;
pub use key_slot::DEFAULT_KDF;
pub use keyring::KeySlotInfo;
pub use lock::Unlocked;
pub use progress::{CancelToken, NoProgress, Phase, Progress, ProgressReport, SourceWarning};
pub use prune::{PruneOptions, PruneReport};
pub use recovery_code::RecoveryCode;
pub use repair::{IndexRepair, RepairedSnapshot, SnapshotRepair, SnapshotRepairOptions};
pub use repository::{Credentials, InitOptions, Repository, WarningSink};
pub use restore::{Action, PRE_RESTORE_TAG, PlannedChange, RESTORE_OF, RestoreOptions, RestoreOutcome};
pub use retention::{Decision, GroupDecisions, GroupKey, KeepReason, Preset, apply as apply_retention};
pub use snapshot::{SnapshotInfo, SnapshotListing};
pub use stats::{RepositoryStats, SnapshotStats};
