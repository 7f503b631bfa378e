//! Formatting for people (sizes, times, modes) and for scripts (JSON on stdout).

use std::io::Write;

use cairn::format::timestamp::Timestamp;

/// Prints one JSON document (one line) on stdout.
pub fn json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (`cairn ... | head`) is not an error worth reporting.
    let _ = writeln!(out, "{value}");
}

/// Bytes in binary units: `1.5 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A timestamp as RFC 3339 UTC with seconds: `2026-11-23T14:05:09Z`.
pub fn time(t: Timestamp) -> String {
    cairn::rfc3339(t)
}

/// A timestamp as RFC 3339 UTC with nanoseconds, for JSON: `2026-11-23T14:05:09.123456789Z`.
pub fn time_precise(t: Timestamp) -> String {
    cairn::rfc3339_nanos(t)
}

/// Seconds as `1:02:03` or `2:03`.
pub fn duration(secs: f64) -> String {
    let total = std::time::Duration::from_secs_f64(secs.max(0.0) + 0.5).as_secs();
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

/// `rwxr-xr-x` for permission bits.
pub fn mode(bits: u32) -> String {
    let mut out = String::with_capacity(9);
    for shift in [6, 3, 0] {
        let part = bits >> shift & 7;
        out.push(if part & 4 != 0 { 'r' } else { '-' });
        out.push(if part & 2 != 0 { 'w' } else { '-' });
        out.push(if part & 1 != 0 { 'x' } else { '-' });
    }
    out
}

/// Raw path bytes for display (invalid UTF-8 replaced).
pub fn path(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(time(Timestamp { secs: 0, nanos: 0 }), "1970-01-01T00:00:00Z");
        assert_eq!(time(Timestamp { secs: 1_795_444_778, nanos: 0 }), "2026-11-23T14:39:38Z");
        assert_eq!(time(Timestamp { secs: -1, nanos: 0 }), "1969-12-31T23:59:59Z");
        assert_eq!(time(Timestamp { secs: 951_782_400, nanos: 0 }), "2000-02-29T00:00:00Z");
        assert_eq!(time_precise(Timestamp { secs: 0, nanos: 5 }), "1970-01-01T00:00:00.000000005Z");
    }

    #[test]
    fn sizes_and_modes_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(mode(0o754), "rwxr-xr--");
        assert_eq!(duration(3725.0), "1:02:05");
    }
}
