//! `cairn-format`: pure encode and decode of every object in a cairn repository.
//!
//! This crate is the only code that parses bytes read from a repository, zstd bodies included.
//! It does no I/O, no cryptography, reads no clock and makes no random numbers: keys, nonces
//! and ciphers belong to the engine (crate `cairn`), which hands this crate authenticated
//! plaintext to decompress and decode. Every length and
//! count is checked against [`limits`] and against the bytes present before anything is
//! allocated from it, so hostile input gets an error, never a panic or a huge allocation.
//!
//! | SPEC.md section | module |
//! |---|---|
//! | §2 primitives, ids, time | [`wire`], [`id`], [`timestamp`] |
//! | §3 files and limits | [`header`], [`limits`] |
//! | §4.1 config | [`config`] |
//! | §4.2 key slots | [`key`] |
//! | §5 sealed boxes, AAD, payloads | [`envelope`] |
//! | §7 packs | [`pack`] |
//! | §8 index files | [`index`] |
//! | §9 trees | [`tree`] |
//! | §10 snapshots, locks, policies | [`snapshot`], [`lock`], [`policy`] |
//! | §16 SQLite database dumps | [`sqlite`] |

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod envelope;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod header;
pub mod id;
pub mod index;
pub mod key;
pub mod limits;
pub mod lock;
pub mod pack;
pub mod policy;
pub mod snapshot;
pub mod sqlite;
pub mod timestamp;
pub mod tree;
pub mod wire;

pub use error::FormatError;

/// Serializes raw bytes (file names, paths) as a string, replacing invalid UTF-8.
#[cfg(feature = "serde")]
fn serde_bytes_lossy<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
}

/// Serializes a list of raw byte strings as strings, replacing invalid UTF-8.
#[cfg(feature = "serde")]
fn serde_bytes_list_lossy<S: serde::Serializer>(list: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(list.iter().map(|b| String::from_utf8_lossy(b)))
}
