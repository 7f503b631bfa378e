//! The wall clock and the identity of this machine, as recorded in snapshots and key slots.

use cairn_format::timestamp::Timestamp;

/// Now, as a wire timestamp.
pub(crate) fn now() -> Timestamp {
    timestamp(std::time::SystemTime::now())
}

/// A system time as a wire timestamp (before 1970 counts down from the epoch).
pub(crate) fn timestamp(time: std::time::SystemTime) -> Timestamp {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => Timestamp {
            secs: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            nanos: since.subsec_nanos(),
        },
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => Timestamp { secs: -secs, nanos: 0 },
                n => Timestamp { secs: -secs - 1, nanos: 1_000_000_000 - n },
            }
        }
    }
}

/// This machine's host name, or `unknown`.
pub(crate) fn hostname() -> String {
    gethostname::gethostname().into_string().unwrap_or_else(|_| "unknown".into())
}

/// The user running cairn, from the environment, or `unknown`.
pub(crate) fn username() -> String {
    std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into())
}
