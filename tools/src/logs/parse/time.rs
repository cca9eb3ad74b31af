//! The times and spans found in logs and asked for: RFC 3339 and its relatives, epoch
//! numbers, and "how far back" durations.
use chrono::{DateTime, TimeZone, Utc};

/// Parses the time formats found in logs: RFC 3339 (any precision, `Z` or offset),
/// `YYYY-MM-DD HH:MM:SS[.fff]` (taken as UTC) and epoch numbers in s, ms, us or ns.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        return epoch(n);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    None
}

/// A "how far back" duration as users and models write it: `15m`, `1h`, `2d`, `1h30m`
/// (humantime's syntax). `None` for anything else, zero, or a span longer than
/// [`MAX_SINCE_DAYS`] (no log store keeps more, and a longer one could not be subtracted
/// from a time: `9999999999h` is a request, not a window).
pub fn parse_since(s: &str) -> Option<chrono::Duration> {
    let d = humantime::parse_duration(s.trim()).ok()?;
    chrono::Duration::from_std(d)
        .ok()
        .filter(|d| *d > chrono::Duration::zero() && *d <= chrono::Duration::days(MAX_SINCE_DAYS))
}

/// The longest "how far back" span accepted: 100 years.
pub const MAX_SINCE_DAYS: i64 = 36_500;

/// `t - d`, or `None` where that falls outside the times chrono can hold.
pub fn time_before(t: DateTime<Utc>, d: chrono::Duration) -> Option<DateTime<Utc>> {
    t.checked_sub_signed(d)
}

pub(super) fn epoch(n: i64) -> Option<DateTime<Utc>> {
    // Pick the unit by magnitude: seconds until year ~5138, then ms, us, ns. Every unit
    // conversion is checked: a line's number is untrusted and may be anything.
    match n {
        0..=99_999_999_999 => Utc.timestamp_opt(n, 0).single(),
        100_000_000_000..=99_999_999_999_999 => Utc.timestamp_millis_opt(n).single(),
        100_000_000_000_000..=99_999_999_999_999_999 => DateTime::from_timestamp_micros(n),
        n if n > 0 => Some(Utc.timestamp_nanos(n)),
        _ => None,
    }
}
