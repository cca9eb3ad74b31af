//! Replaying cases through Loki (`loglens eval --loki`).
//!
//! By default a case's lines are read by the embedded file source. With `--loki` they are
//! pushed into a Loki (or any server with Loki's API) and the pipeline reads them back
//! through the Loki client, the LogQL builder and label discovery: the path production
//! takes. Three things make that work for recorded cases:
//!
//! - **Isolation.** Every line of a case is pushed with one extra label,
//!   `loglens_eval="<run>/<case>"`, and the case's source is scoped to it
//!   ([`LokiLogSource::with_scope`]), so a case sees its own lines only, whatever else the
//!   server holds.
//! - **Retiming.** Loki refuses samples older than its `reject_old_samples_max_age` (a
//!   week by default), and the cases are from 2008 to 2025. The case's times are shifted,
//!   all by the same amount, so its newest line lands a minute before now; order and gaps
//!   are kept. Every pushed time is unique, in the order the file source reads the case
//!   (lines of unknown time first, in file order, then by time), so Loki returns the
//!   lines in the same order.
//! - **Scoring.** The replay scores retrieval against the case's line numbers. Loki
//!   returns times, not line numbers, so the push records which (unique) time each line
//!   went in at and maps the lines read back to case lines by it.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, TimeZone, Utc};
use loglens_agents::LineRef;
use loglens_tools::logs::ingest::push_streams;
use loglens_tools::logs::logql::quote;
use loglens_tools::logs::loki::{Direction, LokiClient, LokiLogSource};
use loglens_tools::logs::{FileLogSource, LogFilter, LogLine};

/// The label every pushed line carries: which run and case it belongs to.
pub const CASE_LABEL: &str = "loglens_eval";

/// Lines per push request.
const BATCH_LINES: usize = 2000;

/// Longest span of a case that Loki takes whole (its default refuses samples older than a
/// week; a day is kept as margin).
const MAX_SPAN: chrono::Duration = chrono::Duration::days(6);

/// How long to wait for pushed lines to become readable.
const VISIBLE_WITHIN: Duration = Duration::from_secs(15);

/// Pushes cases into one Loki for one eval run.
#[derive(Debug, Clone)]
pub struct LokiReplay {
    client: LokiClient,
    run: String,
}

/// A case in Loki.
#[derive(Debug)]
pub struct LoadedCase {
    /// The source to read it with (scoped to the case).
    pub source: LokiLogSource,
    /// The window its (retimed) lines are in.
    pub start: DateTime<Utc>,
    /// End of that window.
    pub end: DateTime<Utc>,
    /// Push time (ns) → index of the case line.
    index: HashMap<u64, usize>,
}

impl LoadedCase {
    /// The case line a line read back from Loki is (the Loki source numbers a line by its
    /// time in ns). Lines from elsewhere (events, tools) have none.
    pub fn case_index(&self, r: &LineRef) -> Option<usize> {
        if !r.source.starts_with("loki ") {
            return None;
        }
        self.index.get(&r.line_no).copied()
    }
}

/// Push times (ns) for a case's lines, strictly increasing in the order the file source
/// returns them: lines of unknown time first (placed a microsecond apart before the first
/// timed line), then by time, ties in file order. A line keeps its own time unless a tie
/// moves it a few nanoseconds.
fn push_times(lines: &[LogLine], now: DateTime<Utc>) -> Vec<i64> {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&i| (lines[i].timestamp, lines[i].line_no));
    let untimed = lines.iter().filter(|l| l.timestamp.is_none()).count() as i64;
    let first = lines
        .iter()
        .filter_map(|l| l.timestamp)
        .min()
        .unwrap_or(now)
        .timestamp_nanos_opt()
        .unwrap_or(0);
    let base = first - untimed * 1000;
    let mut times = vec![0i64; lines.len()];
    let mut last = i64::MIN;
    for (k, &i) in order.iter().enumerate() {
        let want = lines[i]
            .timestamp
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(base + k as i64 * 1000);
        let t = want.max(last.saturating_add(1));
        times[i] = t;
        last = t;
    }
    times
}

impl LokiReplay {
    /// Cases of run `run` go into the Loki behind `client`.
    pub fn new(client: LokiClient, run: &str) -> Self {
        Self {
            client,
            run: run.to_string(),
        }
    }

    /// Pushes the case whose lines are in `file` (the replay's JSON-lines file, one case
    /// line per file line) and waits until Loki returns them.
    pub async fn load(&self, case_id: &str, file: &Path) -> anyhow::Result<LoadedCase> {
        let tag = format!("{}/{case_id}", self.run);
        let extra = BTreeMap::from([(CASE_LABEL.to_string(), tag.clone())]);
        // Read as the embedded source reads them: the same labels, times and text.
        let lines = FileLogSource::new(vec![file.to_path_buf()])
            .scan(&LogFilter::default())
            .with_context(|| format!("reading {}", file.display()))?;
        let source = LokiLogSource::new(self.client.clone()).with_scope(extra.clone())?;
        let now = Utc::now();
        if lines.is_empty() {
            return Ok(LoadedCase {
                source,
                start: now - chrono::Duration::minutes(5),
                end: now,
                index: HashMap::new(),
            });
        }
        let times = push_times(&lines, now);
        let (Some(first), Some(newest)) = (times.iter().min(), times.iter().max()) else {
            bail!("case {case_id} has no lines to push");
        };
        let span = chrono::Duration::nanoseconds(newest - first);
        if span > MAX_SPAN {
            bail!(
                "case {case_id} spans {} hours; Loki refuses samples older than a week, so it cannot be replayed through Loki",
                span.num_hours()
            );
        }
        let target = (now - chrono::Duration::minutes(1))
            .timestamp_nanos_opt()
            .context("the clock is out of range")?;
        let shift = target - newest;
        let mut index = HashMap::new();
        let mut entries: Vec<(i64, usize)> = Vec::with_capacity(lines.len());
        for (i, t) in times.iter().enumerate() {
            let at = t + shift;
            let case_line = (lines[i].line_no as usize).saturating_sub(1);
            index.insert(at as u64, case_line);
            entries.push((at, i));
        }
        // Oldest first: Loki takes a stream's entries out of order only within an hour of
        // its newest one.
        entries.sort_by_key(|(at, _)| *at);
        for batch in entries.chunks(BATCH_LINES) {
            let streams = push_streams(batch.iter().map(|(at, i)| (*at, &lines[*i])), &extra);
            self.client
                .push(&streams)
                .await
                .with_context(|| format!("pushing case {case_id} to Loki"))?;
        }
        let start = Utc.timestamp_nanos(first + shift) - chrono::Duration::seconds(1);
        let end = Utc.timestamp_nanos(target) + chrono::Duration::seconds(1);
        self.wait_visible(&tag, start, end, lines.len()).await?;
        Ok(LoadedCase {
            source: source.with_max_lines(lines.len().max(1)),
            start,
            end,
            index,
        })
    }

    /// Polls until Loki returns all `n` lines of the case (a push is acknowledged before
    /// every Loki-API server makes it readable).
    async fn wait_visible(
        &self,
        tag: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        n: usize,
    ) -> anyhow::Result<()> {
        let query = format!("{{{CASE_LABEL}={}}}", quote(tag));
        // Loki's default max_entries_limit_per_query.
        let n = n.min(5000);
        let deadline = tokio::time::Instant::now() + VISIBLE_WITHIN;
        loop {
            let streams = self
                .client
                .query_range(&query, start, end, n, Direction::Forward)
                .await
                .context("reading the pushed case back from Loki")?;
            let seen: usize = streams.iter().map(|s| s.entries.len()).sum();
            if seen >= n {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "Loki returned {seen} of the {n} lines pushed for {tag} after {} s",
                    VISIBLE_WITHIN.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64, stream: &str, ts: Option<i64>) -> LogLine {
        LogLine {
            source: "f".into(),
            line_no: n,
            timestamp: ts.map(|t| Utc.timestamp_nanos(t)),
            labels: BTreeMap::from([("pod".to_string(), stream.to_string())]),
            text: format!("line {n}"),
            truncated_bytes: 0,
        }
    }

    #[test]
    fn push_times_keep_the_file_sources_order_and_are_unique() {
        let lines = vec![
            line(1, "a", Some(5_000_000)),
            line(2, "b", None),
            line(3, "a", Some(5_000_000)),
            line(4, "c", None),
            line(5, "b", Some(1_000_000)),
        ];
        let t = push_times(&lines, Utc::now());
        // Unknown times first, in file order, before the first timed line; then by time,
        // a tie broken by file order (and moved by a nanosecond).
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by_key(|&i| t[i]);
        assert_eq!(order, vec![1, 3, 4, 0, 2]);
        assert!(t[3] < 1_000_000);
        assert_eq!(t[4], 1_000_000);
        assert_eq!(t[0], 5_000_000);
        assert_eq!(t[2], 5_000_001);
    }
}
