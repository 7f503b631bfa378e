//! Exit codes: the only place these numbers live; README.md prints the same table. They are
//! restic's where the meanings match, so scripts written for restic keep working.

use cairn::ErrorKind;

/// Success.
pub const OK: u8 = 0;
/// Fatal error.
pub const FATAL: u8 = 1;
/// The snapshot was saved, but some source files could not be read.
pub const PARTIAL: u8 = 3;
/// The repository does not exist.
pub const NO_REPOSITORY: u8 = 10;
/// The repository is locked by another operation (or this one lost its lock).
pub const LOCKED: u8 = 11;
/// Wrong password or key.
pub const WRONG_PASSWORD: u8 = 12;
/// A database in the snapshot has a newer schema than the app restoring it declared.
pub const SCHEMA_INCOMPATIBLE: u8 = 13;
/// Interrupted (Ctrl-C or cancelled).
pub const INTERRUPTED: u8 = 130;

/// The exit code for an error.
pub fn code(error: &cairn::Error) -> u8 {
    match error.kind() {
        ErrorKind::RepositoryMissing => NO_REPOSITORY,
        ErrorKind::Auth => WRONG_PASSWORD,
        ErrorKind::SchemaIncompatible => SCHEMA_INCOMPATIBLE,
        ErrorKind::Locked => LOCKED,
        ErrorKind::Cancelled => INTERRUPTED,
        _ => FATAL,
    }
}
