//! The steps every scanned line goes through, shared by the file source's two scan paths
//! (the plain reader in [`super::file`] and the byte prefilter in [`super::prefilter`]):
//! decode and parse a raw line, attach the file's labels, apply the filter. Both paths
//! calling the same steps is what keeps their results the same.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::parse::{self, Parsed};
use super::view::{AppView, Facts, LineView};
use super::{LogFilter, LogLine};

/// One raw line as both scan paths read it: lossily decoded, `\r` trimmed, parsed as JSON
/// when it looks like JSON and as plain text otherwise. `None` for a blank line.
pub(crate) fn parse_raw(bytes: &[u8]) -> Option<Parsed> {
    // Valid UTF-8 (nearly every line) is checked in one fast pass and borrowed.
    match std::str::from_utf8(bytes) {
        Ok(s) => view_str(s).map(LineView::into_parsed),
        Err(_) => view_str(&String::from_utf8_lossy(bytes)).map(LineView::into_parsed),
    }
}

/// [`parse_raw`] on a line that is valid UTF-8, borrowing from it.
#[inline]
pub(crate) fn view_str(raw: &str) -> Option<LineView<'_>> {
    view_str_with(raw, &mut parse::SecondMemo::default())
}

/// [`view_str`], with the last second read remembered (the scan keeps one
/// [`parse::SecondMemo`] from line to line).
#[inline(always)]
pub(crate) fn view_str_with<'a>(
    raw: &'a str,
    memo: &mut parse::SecondMemo,
) -> Option<LineView<'a>> {
    let raw = raw.trim_end_matches('\r');
    // Blank (only whitespace): one-sided, so a line stops being checked at its first
    // character.
    if raw.trim_start().is_empty() {
        return None;
    }
    Some(if raw.starts_with('{') {
        parse::json_view(raw).unwrap_or_else(|| parse::plain_view_with(raw, memo))
    } else {
        parse::plain_view_with(raw, memo)
    })
}

/// Whether a line with the file's labels `base` passes the filter, told from its view
/// (no owned line built): the same conditions as [`accept`], read through the same
/// functions. Only for a filter whose LogQL, if any, only filters by text
/// ([`can_decide_on_views`]); a line's time must be its own (an inherited one is found
/// by the caller). `known`: a literal the caller found in the view's text (a `|=` of it
/// is not searched again).
pub(crate) fn view_accepted(
    filter: &LogFilter,
    view: &impl Facts,
    base: &BTreeMap<String, String>,
    known: Option<&str>,
) -> bool {
    let label = |name: &str| view.label(base, name);
    let text = view.text();
    filter.matches_labels_by(label)
        && filter.matches_time(view.time())
        && filter.matches_text(text)
        && filter
            .logql
            .as_ref()
            .is_none_or(|q| q.matches_stream_by(label) && q.passes_line_filters(text, known))
}

/// The label names [`view_accepted`] reads for `filter`: a view that has its own value
/// of each of these (or none) decides as well as one with all its labels
/// ([`app_view`]).
pub(crate) fn labels_read(filter: &LogFilter) -> Vec<&str> {
    let mut names: Vec<&str> = filter.label_names_read().collect();
    if let Some(q) = &filter.logql {
        names.extend(q.stream_label_names());
    }
    names
}

/// [`view_str`] of an application's own JSON line, with only the labels `wanted`
/// ([`labels_read`]) and read faster ([`parse::app_json_view`]). `None` for any other
/// line, or where it is not sure: ask [`view_str`]. `memo`: what the last lines read
/// leave for the next (the second of their time, an app's keys), kept by the scan from
/// line to line.
#[inline(always)]
pub(crate) fn app_view<'a>(
    raw: &'a str,
    wanted: &[&str],
    memo: &mut parse::LineMemo,
) -> Option<AppView<'a>> {
    let raw = raw.trim_end_matches('\r');
    if !raw.starts_with('{') {
        return None;
    }
    parse::app_json_view(raw, wanted, memo)
}

/// Whether [`view_accepted`] can decide for this filter: its LogQL, if any, neither
/// extracts labels nor rewrites lines.
pub(crate) fn can_decide_on_views(filter: &LogFilter) -> bool {
    filter.logql.as_ref().is_none_or(|q| q.only_line_filters())
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
///
/// A line can be kept built ([`Kept::push`]) or as its raw bytes ([`Kept::commit`]),
/// copied into one buffer: most matching lines of a large file are dropped again by the
/// limit, so the scan's fast path builds a [`LogLine`] only for those still kept at the
/// end ([`Kept::build_raw`]).
#[derive(Debug, Default)]
pub(crate) struct Kept {
    limit: Option<usize>,
    pub(crate) lines: Vec<LogLine>,
    raw: Vec<RawLine>,
    /// The raw lines' bytes, one after the other.
    arena: Vec<u8>,
    pub(crate) matched: u64,
    /// Every line so far was pushed raw, each newer than the one before (a log file
    /// in time order): then the newest are simply the last ones, no selection needed.
    in_order: bool,
}

/// A matching line kept as bytes (in [`Kept`]'s buffer, from `at`, `len` long).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawLine {
    pub(crate) timestamp: Option<DateTime<Utc>>,
    pub(crate) line_no: u64,
    at: usize,
    len: usize,
    pub(crate) truncated_bytes: usize,
}

impl RawLine {
    fn key(&self) -> (Option<DateTime<Utc>>, u64) {
        (self.timestamp, self.line_no)
    }
}

fn key(line: &LogLine) -> (Option<DateTime<Utc>>, u64) {
    (line.timestamp, line.line_no)
}

impl Kept {
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Self {
            limit,
            in_order: true,
            ..Self::default()
        }
    }

    /// Keeps `line` (for now: an older one may be dropped later).
    pub(crate) fn push(&mut self, line: LogLine) {
        self.matched += 1;
        self.in_order = false;
        self.lines.push(line);
        self.bound();
    }

    /// Keeps a matching line as its bytes, to be built by [`Kept::build_raw`] if it is
    /// still kept then: [`Kept::stage`] and [`Kept::commit`] in one step.
    #[cfg(test)]
    pub(crate) fn push_raw(
        &mut self,
        timestamp: Option<DateTime<Utc>>,
        line_no: u64,
        bytes: &[u8],
        truncated_bytes: usize,
    ) {
        self.matched += 1;
        self.hold_raw(timestamp, line_no, bytes, truncated_bytes);
    }

    fn hold_raw(
        &mut self,
        timestamp: Option<DateTime<Utc>>,
        line_no: u64,
        bytes: &[u8],
        truncated_bytes: usize,
    ) {
        let at = self.stage(bytes);
        self.hold_staged(at, timestamp, line_no, truncated_bytes);
    }

    /// Copies a line into the buffer, not kept yet: the caller reads it from there
    /// ([`Kept::staged`]), then keeps it ([`Kept::commit`]) or drops it
    /// ([`Kept::unstage`]) before staging another. Returns where it starts.
    pub(crate) fn stage(&mut self, bytes: &[u8]) -> usize {
        let at = self.arena.len();
        self.arena.extend_from_slice(bytes);
        at
    }

    /// The staged line.
    pub(crate) fn staged(&self, at: usize) -> &[u8] {
        &self.arena[at..]
    }

    /// Drops the staged line.
    pub(crate) fn unstage(&mut self, at: usize) {
        self.arena.truncate(at);
    }

    /// Keeps the staged line as a matching line, to be built by [`Kept::build_raw`] if
    /// it is still kept then.
    pub(crate) fn commit(
        &mut self,
        at: usize,
        timestamp: Option<DateTime<Utc>>,
        line_no: u64,
        truncated_bytes: usize,
    ) {
        self.matched += 1;
        self.hold_staged(at, timestamp, line_no, truncated_bytes);
    }

    fn hold_staged(
        &mut self,
        at: usize,
        timestamp: Option<DateTime<Utc>>,
        line_no: u64,
        truncated_bytes: usize,
    ) {
        if self
            .raw
            .last()
            .is_some_and(|last| last.key() >= (timestamp, line_no))
        {
            self.in_order = false;
        }
        self.raw.push(RawLine {
            timestamp,
            line_no,
            at,
            len: self.arena.len() - at,
            truncated_bytes,
        });
        self.bound();
    }

    /// Adds what another scan of the same file kept (a later range, whose line numbers
    /// are already shifted).
    pub(crate) fn extend(&mut self, other: Kept) {
        self.matched += other.matched;
        self.in_order &= other.lines.is_empty();
        for line in other.lines {
            self.lines.push(line);
            self.bound();
        }
        for r in &other.raw {
            let bytes = &other.arena[r.at..r.at + r.len];
            self.hold_raw(r.timestamp, r.line_no, bytes, r.truncated_bytes);
        }
    }

    /// Shrinks to the limit once twice the limit are held.
    fn bound(&mut self) {
        if let Some(n) = self.limit
            && self.lines.len() + self.raw.len() >= n.max(1) * 2
        {
            self.shrink();
        }
    }

    /// Drops all but the newest `limit` lines, built and raw (in no particular order:
    /// callers sort what they merge).
    pub(crate) fn shrink(&mut self) {
        let Some(n) = self.limit else { return };
        let held = self.lines.len() + self.raw.len();
        if held <= n {
            return;
        }
        if self.in_order {
            // The last n, in order.
            self.raw.drain(..held - n);
        } else {
            // The oldest key that stays: the n-th newest (keys are unique: line numbers
            // are).
            let mut keys: Vec<_> = self
                .lines
                .iter()
                .map(key)
                .chain(self.raw.iter().map(RawLine::key))
                .collect();
            let (_, cut, _) = keys.select_nth_unstable(held - n);
            let cut = *cut;
            self.lines.retain(|l| key(l) >= cut);
            self.raw.retain(|r| r.key() >= cut);
        }
        // The kept bytes move to the front, in their order: runs of lines that lie one
        // after the other (all of them, for a log in time order) in one copy each.
        let mut to = 0;
        let mut i = 0;
        while i < self.raw.len() {
            let from = self.raw[i].at;
            let mut end = from + self.raw[i].len;
            let mut j = i + 1;
            while j < self.raw.len() && self.raw[j].at == end {
                end += self.raw[j].len;
                j += 1;
            }
            self.arena.copy_within(from..end, to);
            for r in &mut self.raw[i..j] {
                r.at = r.at - from + to;
            }
            to += end - from;
            i = j;
        }
        self.arena.truncate(to);
    }

    /// Builds the raw lines still kept (after [`Kept::shrink`]) with `build`, which gets
    /// each one and its bytes; a line it gives `None` for is dropped.
    pub(crate) fn build_raw(&mut self, mut build: impl FnMut(&RawLine, &[u8]) -> Option<LogLine>) {
        self.shrink();
        for r in std::mem::take(&mut self.raw) {
            if let Some(line) = build(&r, &self.arena[r.at..r.at + r.len]) {
                self.lines.push(line);
            }
        }
        self.arena = Vec::new();
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
    fn raw_and_built_lines_share_the_limit_and_the_raw_are_built_at_the_end() {
        let mut k = Kept::new(Some(4));
        for n in 0..60u64 {
            let second = Some((n % 50) as u32);
            if n % 3 == 0 {
                k.push(line(n, second));
            } else {
                let ts = second.map(|s| Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, s).unwrap());
                k.push_raw(ts, n, format!("raw {n}").as_bytes(), 0);
            }
            assert!(k.lines.len() + k.raw.len() < 8, "memory stays bounded");
        }
        k.build_raw(|r, bytes| {
            let mut l = line(r.line_no, None);
            l.timestamp = r.timestamp;
            l.text = String::from_utf8(bytes.to_vec()).unwrap();
            Some(l)
        });
        assert_eq!(k.matched, 60);
        let mut kept: Vec<(u64, String)> = k
            .lines
            .iter()
            .map(|l| (l.line_no, l.text.clone()))
            .collect();
        kept.sort_unstable();
        // Seconds 49, 48, 47, 46: lines 46 to 49 (48 built, the others raw, their bytes
        // intact after the buffer was compacted).
        let want = vec![
            (46, "raw 46".to_string()),
            (47, "raw 47".to_string()),
            (48, "line 48".to_string()),
            (49, "raw 49".to_string()),
        ];
        assert_eq!(kept, want);
    }

    #[test]
    fn lines_in_time_order_and_out_of_it_keep_the_same_newest() {
        // In order (the shortcut), then a line older than all (order lost, the full
        // selection), then in order again: always the newest 5 by (time, line number).
        let seconds: Vec<Option<u32>> = (0..30)
            .map(Some)
            .chain([None, Some(3)])
            .chain((31..60).map(Some))
            .collect();
        for upto in [10, 30, 32, seconds.len()] {
            let mut k = Kept::new(Some(5));
            for (n, s) in seconds[..upto].iter().enumerate() {
                let ts = s.map(|s| Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, s).unwrap());
                k.push_raw(ts, n as u64, format!("raw {n}").as_bytes(), 0);
            }
            k.build_raw(|r, bytes| {
                let mut l = line(r.line_no, None);
                l.timestamp = r.timestamp;
                l.text = String::from_utf8(bytes.to_vec()).unwrap();
                Some(l)
            });
            let mut want: Vec<(Option<u32>, u64)> = seconds[..upto]
                .iter()
                .enumerate()
                .map(|(n, s)| (*s, n as u64))
                .collect();
            want.sort();
            let want: Vec<u64> = want[want.len() - 5..].iter().map(|(_, n)| *n).collect();
            let mut got: Vec<u64> = k.lines.iter().map(|l| l.line_no).collect();
            got.sort_by_key(|n| (seconds[*n as usize], *n));
            assert_eq!(got, want, "first {upto}");
            assert!(
                k.lines
                    .iter()
                    .all(|l| l.text == format!("raw {}", l.line_no))
            );
            assert_eq!(k.matched, upto as u64);
        }
    }

    #[test]
    fn labels_read_names_every_label_the_decision_reads() {
        // Every condition set, each satisfied (so none stops the others being read):
        // the names read are exactly the names listed.
        let query =
            crate::logs::logql::parse(r#"{filename="f.log", app=~"a.*", stream!="x"} |= "ERROR""#)
                .unwrap();
        let filter = LogFilter {
            namespace: Some("shop".into()),
            pod: Some("cart".into()),
            container: Some("c".into()),
            node: Some("n1".into()),
            logql: Some(std::sync::Arc::new(query)),
            ..LogFilter::default()
        };
        let read = std::cell::RefCell::new(Vec::new());
        let label = |name: &str| {
            read.borrow_mut().push(name.to_string());
            Some(match name {
                "namespace" => "shop",
                "pod" => "cart-7c9d-x1",
                "container" => "c",
                "node" => "n1",
                "filename" => "f.log",
                "app" => "api",
                _ => "y",
            })
        };
        assert!(filter.matches_labels_by(label));
        assert!(filter.logql.as_ref().unwrap().matches_stream_by(label));
        let mut read = read.into_inner();
        let mut listed: Vec<String> = labels_read(&filter).iter().map(|n| n.to_string()).collect();
        read.sort();
        listed.sort();
        assert_eq!(read, listed);
        assert!(labels_read(&LogFilter::default()).is_empty());
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
