//! Points in time on the wire (SPEC §2.2): seconds since the Unix epoch and nanoseconds.

use crate::FormatError;
use crate::wire::{Reader, Writer};

/// Seconds (may be negative) and nanoseconds (`< 1e9`) since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Timestamp {
    /// Whole seconds since the epoch.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// Length on the wire.
    pub const LEN: usize = 12;

    pub(crate) fn encode(self, w: &mut Writer) {
        w.i64(self.secs);
        w.u32(self.nanos);
    }

    pub(crate) fn decode(r: &mut Reader<'_>, field: &'static str) -> Result<Timestamp, FormatError> {
        let secs = r.i64(field)?;
        let nanos = r.u32(field)?;
        crate::wire::check_range(field, u64::from(nanos), 0, 999_999_999)?;
        Ok(Timestamp { secs, nanos })
    }
}
