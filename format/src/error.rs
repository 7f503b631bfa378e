//! The one error type of `cairn-format`: what was wrong with the bytes, and where.

/// Why a byte string is not a valid cairn object.
///
/// Fields carry SPEC.md's dotted names (`pack.entry_count`), so a message points into the spec.
/// A newer version or an unknown kind is [`FormatError::UnsupportedVersion`] /
/// [`FormatError::Unsupported`] ("upgrade cairn"), never corruption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The input ended before a field was complete.
    #[error("{field} is truncated: needs {needed} bytes, {available} left")]
    Truncated {
        /// SPEC name of the field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes that were left.
        available: u64,
    },
    /// A length, count or parameter is larger (or smaller) than SPEC.md allows.
    #[error("{field} is {value}, outside the allowed range {min}..={max}")]
    OutOfRange {
        /// SPEC name of the field.
        field: &'static str,
        /// The value found.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// The file does not start with the cairn magic or is not the expected kind of file.
    #[error("not a cairn {expected} file (bad magic or file kind)")]
    BadMagic {
        /// The kind of file that was expected.
        expected: &'static str,
    },
    /// The object was written in a format version this reader does not know.
    #[error(
        "{object} format version {found} is not supported (this cairn reads version {supported}); upgrade cairn"
    )]
    UnsupportedVersion {
        /// The kind of object.
        object: &'static str,
        /// Version found in the bytes.
        found: u8,
        /// Version this reader supports.
        supported: u8,
    },
    /// An enumerated field holds a value this reader does not know (a newer writer's addition).
    #[error("{field} has unknown value {found}; it was written by a newer cairn, upgrade cairn")]
    Unsupported {
        /// SPEC name of the field.
        field: &'static str,
        /// The value found.
        found: u64,
    },
    /// A field holds a value that no writer may produce.
    #[error("{field} is invalid: {reason}")]
    InvalidValue {
        /// SPEC name of the field.
        field: &'static str,
        /// What rule the value breaks.
        reason: &'static str,
    },
    /// Bytes were left over after a complete object.
    #[error("{object} has {count} unexpected trailing bytes")]
    TrailingBytes {
        /// The kind of object.
        object: &'static str,
        /// How many bytes were left over.
        count: u64,
    },
}
