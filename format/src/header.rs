//! The 8-byte plaintext header every repository file starts with (SPEC §3.1): it names the
//! kind of file and its format version, so a reader can refuse a newer version before it
//! tries to decrypt anything.

use crate::FormatError;
use crate::wire::Reader;

/// The first six bytes of every cairn file.
pub const MAGIC: [u8; 6] = *b"cairn\0";
/// Length of [`FileHeader`] on the wire.
pub const FILE_HEADER_LEN: usize = 8;

/// Kinds of repository files (SPEC §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum FileKind {
    /// `config`.
    Config,
    /// `keys/<id>`.
    Key,
    /// `data/<xx>/<id>`.
    Pack,
    /// `index/<id>`.
    Index,
    /// `snapshots/<id>`.
    Snapshot,
    /// `locks/<id>`.
    Lock,
    /// `policy/<id>`.
    Policy,
}

impl FileKind {
    /// The kind byte on the wire.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            FileKind::Config => 1,
            FileKind::Key => 2,
            FileKind::Pack => 3,
            FileKind::Index => 4,
            FileKind::Snapshot => 5,
            FileKind::Lock => 6,
            FileKind::Policy => 7,
        }
    }

    /// The format version this code writes and reads for the kind.
    #[must_use]
    pub fn version(self) -> u8 {
        1
    }

    /// The name used in messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Config => "config",
            FileKind::Key => "key",
            FileKind::Pack => "pack",
            FileKind::Index => "index",
            FileKind::Snapshot => "snapshot",
            FileKind::Lock => "lock",
            FileKind::Policy => "policy",
        }
    }
}

/// Encodes the header of a file of `kind` at its current version.
#[must_use]
pub fn encode_file_header(kind: FileKind) -> [u8; FILE_HEADER_LEN] {
    let [m0, m1, m2, m3, m4, m5] = MAGIC;
    [m0, m1, m2, m3, m4, m5, kind.code(), kind.version()]
}

/// Checks the magic, kind and version at the start of `reader`.
///
/// A wrong magic or kind is [`FormatError::BadMagic`]; a version other than the one this
/// reader knows is [`FormatError::UnsupportedVersion`].
pub fn decode_file_header(reader: &mut Reader<'_>, kind: FileKind) -> Result<(), FormatError> {
    let magic: [u8; 6] = reader.array("file.magic")?;
    let code = reader.u8("file.kind")?;
    if magic != MAGIC || code != kind.code() {
        return Err(FormatError::BadMagic { expected: kind.name() });
    }
    let version = reader.u8("file.version")?;
    if version != kind.version() {
        return Err(FormatError::UnsupportedVersion {
            object: kind.name(),
            found: version,
            supported: kind.version(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_version_is_unsupported_not_corrupt() {
        let mut bytes = encode_file_header(FileKind::Snapshot);
        bytes[7] = 2;
        let err = decode_file_header(&mut Reader::new(&bytes), FileKind::Snapshot).unwrap_err();
        assert!(matches!(err, FormatError::UnsupportedVersion { found: 2, .. }));
    }

    #[test]
    fn wrong_kind_is_bad_magic() {
        let bytes = encode_file_header(FileKind::Index);
        let err = decode_file_header(&mut Reader::new(&bytes), FileKind::Snapshot).unwrap_err();
        assert!(matches!(err, FormatError::BadMagic { expected: "snapshot" }));
    }
}
