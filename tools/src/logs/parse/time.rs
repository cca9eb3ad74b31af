//! The times and spans found in logs and asked for: RFC 3339 and its relatives, epoch
//! numbers, and "how far back" durations.
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};

/// Parses the time formats found in logs: RFC 3339 (any precision, `Z` or offset),
/// `YYYY-MM-DD HH:MM:SS[.fff]` (taken as UTC) and epoch numbers in s, ms, us or ns.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    parse_timestamp_with(s, &mut SecondMemo::default())
}

/// [`parse_timestamp`], remembering the last RFC 3339 second read in `memo`: a scan
/// reads one time per matching line, and a log's consecutive lines mostly fall in the
/// same second, whose date and time of day then need not be read and built again.
///
/// A time in the remembered second is read here, inline, and the rest in a call (the same
/// answer as the full reader: such a time starts with a digit and, read, ends in a `Z`
/// or an offset, so it has no space to trim, is not an epoch number, and is what
/// [`rfc3339_common`] reads). It saves a call per matching line; measured alone, within
/// the noise (1-2%).
#[inline]
pub(crate) fn parse_timestamp_with(s: &str, memo: &mut SecondMemo) -> Option<DateTime<Utc>> {
    if let Some(second) = memo.remembered(s.as_bytes())
        && let Some(t) = after_second(second, s.as_bytes())
    {
        return Some(t);
    }
    parse_timestamp_read(s, memo)
}

/// [`parse_timestamp_with`] for a time not in the remembered second.
#[inline(never)]
fn parse_timestamp_read(s: &str, memo: &mut SecondMemo) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        return epoch(n);
    }
    if let Some(t) = rfc3339_common(s, memo) {
        return Some(t);
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

/// The last second [`rfc3339_common`] read: its 19 bytes (`2025-03-01T10:00:00`) and
/// what they say. The same bytes say the same thing, so a hit gives the answer a fresh
/// read would.
#[derive(Debug, Default)]
pub(crate) struct SecondMemo {
    key: [u8; 19],
    at: Option<NaiveDateTime>,
}

impl SecondMemo {
    /// The second written in `b[..19]` if it is the one remembered.
    #[inline]
    fn remembered(&self, b: &[u8]) -> Option<NaiveDateTime> {
        // A fixed-size array: compared inline, not through `memcmp`.
        let key: &[u8; 19] = b.get(..19)?.try_into().ok()?;
        self.at.filter(|_| *key == self.key)
    }

    /// The second written in `b[..19]`: remembered, or read and remembered.
    #[inline]
    fn second(&mut self, b: &[u8]) -> Option<NaiveDateTime> {
        if let Some(at) = self.remembered(b) {
            return Some(at);
        }
        let key: &[u8; 19] = b.get(..19)?.try_into().ok()?;
        let at = read_second(key)?;
        self.key = *key;
        self.at = Some(at);
        Some(at)
    }
}

/// The RFC 3339 times loggers write (`2025-03-01T10:00:00.123Z`, `...+02:00`), read
/// without chrono's general parser: the scan reads one per matching line. The same
/// answer as `DateTime::parse_from_rfc3339` in UTC where it answers; `None` for any
/// other shape (a lowercase `t` or `z`, a space, a leap second, more than nine digits
/// of fraction, ...), which goes to chrono.
fn rfc3339_common(s: &str, memo: &mut SecondMemo) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    after_second(memo.second(b)?, b)
}

/// The time written in `b`, whose first 19 bytes say `second` ([`rfc3339_common`]):
/// its fraction and its offset read.
#[inline(always)]
fn after_second(second: NaiveDateTime, b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0u32;
    if b[at] == b'.' {
        at += 1;
        let start = at;
        while let Some(c @ b'0'..=b'9') = b.get(at).copied() {
            if at - start == 9 {
                return None;
            }
            nanos = nanos * 10 + u32::from(c - b'0');
            at += 1;
        }
        if at == start {
            return None;
        }
        nanos *= 10u32.pow(9 - (at - start) as u32);
    }
    let t = second.with_nanosecond(nanos)?.and_utc();
    match &b[at..] {
        [b'Z'] => Some(t),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let east = TimeDelta::seconds(i64::from(h * 3600 + m * 60));
            if *sign == b'-' {
                t.checked_add_signed(east)
            } else {
                t.checked_sub_signed(east)
            }
        }
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (19 bytes), a real date and time of day (no leap second).
fn read_second(b: &[u8]) -> Option<NaiveDateTime> {
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Built from its parts, not from a count of seconds: chrono would split that count
    // into a date again.
    NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_opt(hour, minute, second)
}

/// The number written in `b`, all ASCII digits; `None` if any is not.
#[inline(always)]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// For the `log_line` fuzz target: panics where [`rfc3339_common`] answers and chrono
/// answers differently, or where it answers otherwise with the line's second remembered.
#[cfg(feature = "fuzzing")]
pub(crate) fn check_time_readers(s: &str) {
    let mut memo = SecondMemo::default();
    let fresh = rfc3339_common(s, &mut memo);
    if let Some(t) = fresh {
        let chrono = DateTime::parse_from_rfc3339(s).ok();
        assert_eq!(Some(t), chrono.map(|c| c.with_timezone(&Utc)), "{s:?}");
    }
    // Read again with its second remembered: the same answer.
    assert_eq!(rfc3339_common(s, &mut memo), fresh, "{s:?} remembered");
    // The full reader, which reads a remembered second inline: the same answer as fresh.
    assert_eq!(
        parse_timestamp_with(s, &mut memo),
        parse_timestamp(s),
        "{s:?} remembered, full reader"
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// chrono's answer, in UTC.
    fn chrono(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    #[test]
    fn the_common_rfc3339_reader_agrees_with_chrono() {
        let seeds = [
            "2025-03-01T10:00:00Z",
            "2025-03-01T10:00:00.123Z",
            "2025-11-11T14:43:04.731512607Z",
            "2024-02-29T23:59:59.999999999+02:00",
            "2023-02-29T00:00:00Z",
            "1970-01-01T00:00:00-23:59",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59+00:30",
            "2000-12-31T12:00:00.5-05:00",
            "2025-03-01t10:00:00z",
            "2025-03-01 10:00:00Z",
            "2025-06-30T23:59:60Z",
            "2025-03-01T10:00:00.1234567891Z",
            "2025-13-01T10:00:00Z",
            "2025-04-31T10:00:00Z",
            "2025-03-01T24:00:00Z",
            "2025-03-01T10:00:00+24:00",
            "2025-03-01T10:00:00+0200",
            "2025-03-01T10:00:00.Z",
        ];
        let common = |s: &str| rfc3339_common(s, &mut SecondMemo::default());
        for s in seeds {
            if let Some(t) = common(s) {
                assert_eq!(Some(t), chrono(s), "{s}");
            }
        }
        // It answers the shapes loggers write (else the scan pays chrono for them).
        for s in &seeds[..9] {
            assert!(common(s).is_some() || chrono(s).is_none(), "{s}");
        }
        assert!(common("2023-02-29T00:00:00Z").is_none());
        // Mutations: a digit, a separator or a length changed.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let (mut agreed, mut remembered) = (0, 0);
        // One memo for the whole run, as a scan keeps one: read after its seed, a line
        // changed past its 19th byte finds the seed's second remembered.
        let mut memo = SecondMemo::default();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let seed = seeds[(x % seeds.len() as u64) as usize];
            let mut b = seed.as_bytes().to_vec();
            let at = ((x >> 8) % b.len() as u64) as usize;
            let alphabet = b"0123456789-+:.TZtz 9";
            match (x >> 20) % 3 {
                0 => b[at] = alphabet[((x >> 24) % alphabet.len() as u64) as usize],
                1 => {
                    b.remove(at);
                }
                _ => b.insert(at, alphabet[((x >> 24) % alphabet.len() as u64) as usize]),
            }
            let s = String::from_utf8(b).unwrap();
            let fresh = common(&s);
            if let Some(t) = fresh {
                assert_eq!(Some(t), chrono(&s), "{s}");
                agreed += 1;
            }
            let _ = rfc3339_common(seed, &mut memo);
            remembered +=
                usize::from(memo.at.is_some() && s.as_bytes().get(..19) == Some(&memo.key[..]));
            assert_eq!(rfc3339_common(&s, &mut memo), fresh, "{s} after {seed}");
            // The full reader, whose remembered second is read inline.
            let _ = parse_timestamp_with(seed, &mut memo);
            assert_eq!(
                parse_timestamp_with(&s, &mut memo),
                parse_timestamp(&s),
                "{s} after {seed}"
            );
        }
        assert!(agreed > 10_000, "{agreed}");
        assert!(remembered > 20_000, "{remembered}");
    }
}
