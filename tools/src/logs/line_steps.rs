//! The steps every scanned line goes through, shared by the file source's two scan paths
//! (the plain reader in [`super::file`] and the byte prefilter in [`super::prefilter`]):
//! decode and parse a raw line, attach the file's labels, apply the filter. Both paths
//! calling the same steps is what keeps their results the same.
use std::collections::BTreeMap;

use super::parse::{self, Parsed};
use super::{LogFilter, LogLine};

/// One raw line as both scan paths read it: lossily decoded, `\r` trimmed, parsed as JSON
/// when it looks like JSON and as plain text otherwise. `None` for a blank line.
pub(crate) fn parse_raw(bytes: &[u8]) -> Option<Parsed> {
    // Valid UTF-8 (nearly every line) is checked in one fast pass and borrowed.
    let raw = match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    let raw = raw.trim_end_matches('\r');
    if raw.trim().is_empty() {
        return None;
    }
    Some(if raw.starts_with('{') {
        parse::parse_json_line(raw).unwrap_or_else(|| parse::parse_plain_line(raw))
    } else {
        parse::parse_plain_line(raw)
    })
}

/// The line with the file's labels added (its own win).
pub(crate) fn with_base_labels(
    mut parsed: Parsed,
    base_labels: &BTreeMap<String, String>,
) -> Parsed {
    for (k, v) in base_labels {
        if !parsed.labels.contains_key(k) {
            parsed.labels.insert(k.clone(), v.clone());
        }
    }
    parsed
}

/// The labels that identify a line's stream, for inheriting times (all but `stream`).
/// Built only when needed: most lines carry their own time.
pub(crate) fn stream_key(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "stream")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The matching lines a scan keeps: all of them, or with a limit only the newest `n`
/// (by time, then line number; lines of unknown time count as oldest), with a count of
/// every line that matched. With a limit, memory stays at most `2n` lines whatever the
/// number of matches: past that the oldest are dropped.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    limit: Option<usize>,
    pub(crate) lines: Vec<LogLine>,
    pub(crate) matched: u64,
}

impl Kept {
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Self {
            limit,
            lines: Vec::new(),
            matched: 0,
        }
    }

    /// Keeps `line` (for now: an older one may be dropped later).
    pub(crate) fn push(&mut self, line: LogLine) {
        self.matched += 1;
        self.hold(line);
    }

    /// Adds what another scan of the same file kept (a later range, whose line numbers
    /// are already shifted).
    pub(crate) fn extend(&mut self, other: Kept) {
        self.matched += other.matched;
        for line in other.lines {
            self.hold(line);
        }
    }

    /// Holds a line, dropping the oldest once twice the limit are held.
    fn hold(&mut self, line: LogLine) {
        self.lines.push(line);
        if let Some(n) = self.limit
            && self.lines.len() >= n.max(1) * 2
        {
            self.shrink();
        }
    }

    /// Drops all but the newest `limit` lines (those kept end up oldest first; callers
    /// sort what they merge anyway).
    pub(crate) fn shrink(&mut self) {
        let Some(n) = self.limit else { return };
        if self.lines.len() <= n {
            return;
        }
        self.lines.sort_by_key(|l| (l.timestamp, l.line_no));
        self.lines.drain(..self.lines.len() - n);
    }
}

/// Applies the filter (and its LogQL) to a finished line.
pub(crate) fn accept(out: &mut Kept, filter: &LogFilter, line: LogLine) {
    if filter.matches_labels(&line)
        && filter.matches_time(line.timestamp)
        && filter.matches_text(&line.text)
    {
        match &filter.logql {
            None => out.push(line),
            Some(q) => {
                if let Some(l) = q.apply_owned(line) {
                    out.push(l);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn line(line_no: u64, second: Option<u32>) -> LogLine {
        LogLine {
            source: "f".into(),
            line_no,
            timestamp: second.map(|s| Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, s).unwrap()),
            labels: BTreeMap::new(),
            text: format!("line {line_no}"),
            truncated_bytes: 0,
        }
    }

    #[test]
    fn a_limit_keeps_the_newest_and_counts_them_all() {
        let mut k = Kept::new(Some(3));
        // Out of time order, with a line of unknown time (the oldest by definition).
        for (n, s) in [
            (1, Some(5)),
            (2, None),
            (3, Some(1)),
            (4, Some(9)),
            (5, Some(7)),
        ] {
            k.push(line(n, s));
        }
        for n in 6..100 {
            k.push(line(n, Some(0)));
            assert!(k.lines.len() < 6, "memory stays bounded");
        }
        k.shrink();
        assert_eq!(k.matched, 99);
        let mut kept: Vec<u64> = k.lines.iter().map(|l| l.line_no).collect();
        kept.sort_unstable();
        assert_eq!(kept, vec![1, 4, 5], "seconds 5, 9 and 7");
    }

    #[test]
    fn no_limit_keeps_everything_in_order() {
        let mut k = Kept::new(None);
        for n in 0..50 {
            k.push(line(n, Some(0)));
        }
        k.shrink();
        assert_eq!(k.lines.len(), 50);
        assert!(k.lines.windows(2).all(|w| w[0].line_no < w[1].line_no));
    }
}
