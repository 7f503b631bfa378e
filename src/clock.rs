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

/// A wire timestamp as a system time (saturating far outside the representable range).
pub(crate) fn system_time(t: Timestamp) -> std::time::SystemTime {
    let nanos = std::time::Duration::from_nanos(u64::from(t.nanos));
    match u64::try_from(t.secs) {
        Ok(secs) => std::time::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(secs) + nanos)
            .unwrap_or(std::time::UNIX_EPOCH),
        Err(_) => std::time::UNIX_EPOCH
            .checked_sub(std::time::Duration::from_secs(t.secs.unsigned_abs()))
            .and_then(|t| t.checked_add(nanos))
            .unwrap_or(std::time::UNIX_EPOCH),
    }
}

/// A timestamp as RFC 3339 UTC with seconds: `2026-11-23T14:05:09Z`.
#[must_use]
pub fn rfc3339(t: Timestamp) -> String {
    let days = t.secs.div_euclid(86_400);
    let secs_of_day = t.secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// A timestamp as RFC 3339 UTC with nanoseconds: `2026-11-23T14:05:09.123456789Z`.
#[must_use]
pub fn rfc3339_nanos(t: Timestamp) -> String {
    let seconds = rfc3339(Timestamp { secs: t.secs, nanos: 0 });
    format!("{}.{:09}Z", seconds.trim_end_matches('Z'), t.nanos)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
