//! Pushing local log files to Loki, resumably.
//!
//! Lines are read with the file source's parsers (so labels and times are the same ones
//! `loglens ask` sees), grouped by stream, and pushed in batches. After Loki accepts a
//! batch, a checkpoint records how far each file got; a run that fails part-way is simply
//! run again and continues after the last accepted batch, so nothing is lost or pushed
//! twice. The checkpoint is keyed by Loki URL, tenant and file (path, size, modification
//! time): pushing the same file to another Loki, or a changed file, starts afresh.
//!
//! Loki keeps one entry per (stream, timestamp, line), so timestamps are made strictly
//! increasing within each stream (a line at or before its predecessor's time moves 1 ns
//! after it), and lines with no time at all start from the file's modification time.
//! Times are computed over the whole file in file order, so a resumed run assigns the same
//! ones.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::loki::{LokiClient, LokiStream};
use super::{FileLogSource, LogFilter, LogLine};
use crate::ToolError;
use crate::logs::loki::LokiError;

/// How many lines go into one push request (Loki's default limit is 4 MB a push).
pub const DEFAULT_BATCH_LINES: usize = 1000;

/// Longest line pushed whole: Loki's default `max_line_size` (256 KB). Longer lines are
/// cut to this and counted in [`IngestReport::truncated`], rather than have Loki refuse
/// the whole batch.
pub const DEFAULT_MAX_LINE_BYTES: usize = 256 * 1024;

/// What an ingest run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestReport {
    /// Files read.
    pub files: usize,
    /// Lines pushed in this run.
    pub pushed: usize,
    /// Lines skipped because an earlier run had pushed them.
    pub already_pushed: usize,
    /// Push requests made.
    pub batches: usize,
    /// Lines longer than the line limit, pushed cut to it.
    pub truncated: usize,
}

/// Why an ingest run stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading the files failed.
    #[error(transparent)]
    Read(#[from] ToolError),
    /// Loki refused or failed a push; the checkpoint keeps what was accepted before it.
    #[error(
        "push failed after {pushed} lines were accepted (run again to continue from there): {source}"
    )]
    Push {
        /// Lines accepted before the failure.
        pushed: usize,
        /// The push error.
        #[source]
        source: LokiError,
    },
    /// The checkpoint file could not be read or written.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// Its path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// key → lines of that file already accepted by Loki.
    done: BTreeMap<String, u64>,
}

/// Pushes files to Loki.
pub struct Ingest {
    client: LokiClient,
    tenant: Option<String>,
    checkpoint: PathBuf,
    batch_lines: usize,
    max_line_bytes: usize,
    extra_labels: BTreeMap<String, String>,
}

impl Ingest {
    /// An ingest into `client` (whose tenant is `tenant`), keeping its checkpoint at
    /// `checkpoint`.
    pub fn new(client: LokiClient, tenant: Option<String>, checkpoint: PathBuf) -> Self {
        Self {
            client,
            tenant,
            checkpoint,
            batch_lines: DEFAULT_BATCH_LINES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            extra_labels: BTreeMap::new(),
        }
    }

    /// Lines per push.
    pub fn with_batch_lines(mut self, n: usize) -> Self {
        self.batch_lines = n.max(1);
        self
    }

    /// Longest line pushed whole (set it to the Loki server's `max_line_size`).
    pub fn with_max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n;
        self
    }

    /// Labels added to every stream (`cluster="homelab"`); they win over a line's own.
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.extra_labels = labels;
        self
    }

    /// Pushes every file under `paths`. `progress(lines_done, lines_total)` is called after
    /// each accepted batch.
    pub async fn run(
        &self,
        paths: &[PathBuf],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<IngestReport, IngestError> {
        for name in self.extra_labels.keys() {
            if !crate::logs::logql::is_label_name(name) {
                return Err(ToolError::InvalidFilter(format!(
                    "{name:?} is not a Loki label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                ))
                .into());
            }
        }
        let files = FileLogSource::new(paths.to_vec()).files()?;
        let mut state = self.load()?;
        let mut report = IngestReport {
            files: files.len(),
            ..IngestReport::default()
        };
        let mut plan = Vec::new();
        for file in &files {
            let lines = FileLogSource::new(vec![file.clone()])
                .with_max_line_bytes(self.max_line_bytes)
                .scan(&LogFilter::default())?;
            let key = self.key(file)?;
            let done = state.done.get(&key).copied().unwrap_or(0);
            let mut lines = lines;
            // In file order: the checkpoint is "every line up to N".
            lines.sort_by_key(|l| l.line_no);
            let times = push_times(&lines, file_time(file), &self.extra_labels);
            let todo: Vec<(i64, LogLine)> = times
                .into_iter()
                .zip(lines)
                .filter(|(_, l)| l.line_no > done)
                .collect();
            plan.push((key, todo));
        }
        let total: usize = plan.iter().map(|(_, t)| t.len()).sum();
        for (key, todo) in plan {
            report.already_pushed += state.done.get(&key).copied().unwrap_or(0) as usize;
            for batch in todo.chunks(self.batch_lines) {
                let streams = self.streams(batch);
                self.client
                    .push(&streams)
                    .await
                    .map_err(|source| IngestError::Push {
                        pushed: report.pushed,
                        source,
                    })?;
                report.batches += 1;
                report.pushed += batch.len();
                report.truncated += batch.iter().filter(|(_, l)| l.truncated_bytes > 0).count();
                if let Some((_, last)) = batch.last() {
                    state.done.insert(key.clone(), last.line_no);
                }
                self.save(&state)?;
                progress(report.pushed, total);
            }
        }
        Ok(report)
    }

    fn streams(&self, batch: &[(i64, LogLine)]) -> Vec<LokiStream> {
        push_streams(batch.iter().map(|(ts, l)| (*ts, l)), &self.extra_labels)
    }

    fn key(&self, file: &Path) -> Result<String, IngestError> {
        let meta = std::fs::metadata(file).map_err(|e| ToolError::Io {
            path: file.to_path_buf(),
            source: e,
        })?;
        let mtime = meta
            .modified()
            .ok()
            .map(|t| DateTime::<Utc>::from(t).timestamp_nanos_opt().unwrap_or(0))
            .unwrap_or(0);
        let path = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        Ok(format!(
            "{}|{}|{}|{}|{}",
            self.client.url(),
            self.tenant.as_deref().unwrap_or(""),
            path.display(),
            meta.len(),
            mtime
        ))
    }

    fn load(&self) -> Result<Checkpoint, IngestError> {
        match std::fs::read_to_string(&self.checkpoint) {
            Ok(s) => serde_json::from_str(&s)
                .map_err(|e| self.cp_err(format!("unreadable ({e}); delete it to start over"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint::default()),
            Err(e) => Err(self.cp_err(e.to_string())),
        }
    }

    /// Writes the checkpoint atomically (temp file + rename), so a crash never leaves half
    /// a checkpoint.
    fn save(&self, state: &Checkpoint) -> Result<(), IngestError> {
        if let Some(dir) = self
            .checkpoint
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| self.cp_err(e.to_string()))?;
        }
        let tmp = self.checkpoint.with_extension("tmp");
        let body = serde_json::to_vec_pretty(state).map_err(|e| self.cp_err(e.to_string()))?;
        std::fs::write(&tmp, body).map_err(|e| self.cp_err(e.to_string()))?;
        std::fs::rename(&tmp, &self.checkpoint).map_err(|e| self.cp_err(e.to_string()))
    }

    fn cp_err(&self, reason: String) -> IngestError {
        IngestError::Checkpoint {
            path: self.checkpoint.clone(),
            reason,
        }
    }
}

/// Lines with their push times (ns), grouped into Loki streams (`stream_labels`), each
/// stream's entries in time order, as a push wants them.
pub fn push_streams<'a>(
    lines: impl IntoIterator<Item = (i64, &'a LogLine)>,
    extra: &BTreeMap<String, String>,
) -> Vec<LokiStream> {
    let mut by_stream: BTreeMap<BTreeMap<String, String>, Vec<(i64, String)>> = BTreeMap::new();
    for (ts, l) in lines {
        by_stream
            .entry(stream_labels(l, extra))
            .or_default()
            .push((ts, l.text.clone()));
    }
    by_stream
        .into_iter()
        .map(|(labels, mut entries)| {
            entries.sort_by_key(|(t, _)| *t);
            LokiStream { labels, entries }
        })
        .collect()
}

/// The Loki stream a line goes to: its labels that are valid Loki label names, plus the
/// extra labels.
fn stream_labels(l: &LogLine, extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = l
        .labels
        .iter()
        .filter(|(k, v)| crate::logs::logql::is_label_name(k) && !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.extend(extra.clone());
    labels
}

/// Push timestamps (ns) for lines in file order: their own time, or the file's time when
/// they have none, made strictly increasing within each stream.
fn push_times(
    lines: &[LogLine],
    fallback: DateTime<Utc>,
    extra: &BTreeMap<String, String>,
) -> Vec<i64> {
    let fallback = fallback.timestamp_nanos_opt().unwrap_or(0);
    let mut last: BTreeMap<BTreeMap<String, String>, i64> = BTreeMap::new();
    lines
        .iter()
        .map(|l| {
            let mut ts = l
                .timestamp
                .and_then(|t| t.timestamp_nanos_opt())
                .unwrap_or(fallback);
            let prev = last.entry(stream_labels(l, extra)).or_insert(i64::MIN);
            if ts <= *prev {
                ts = prev.saturating_add(1);
            }
            *prev = ts;
            ts
        })
        .collect()
}

fn file_time(file: &Path) -> DateTime<Utc> {
    std::fs::metadata(file)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn line(n: u64, pod: &str, ts: Option<i64>) -> LogLine {
        LogLine {
            source: "f".into(),
            line_no: n,
            timestamp: ts.map(|t| Utc.timestamp_nanos(t)),
            labels: BTreeMap::from([("pod".to_string(), pod.to_string())]),
            text: "same text".into(),
            truncated_bytes: 0,
        }
    }

    #[test]
    fn push_times_are_unique_and_increasing_per_stream() {
        let lines = vec![
            line(1, "a", None),
            line(2, "a", None),
            line(3, "b", None),
            line(4, "a", Some(5)),
            line(5, "a", Some(1_000)),
        ];
        let t = push_times(&lines, Utc.timestamp_nanos(100), &BTreeMap::new());
        assert_eq!(t, vec![100, 101, 100, 102, 1_000]);
    }

    #[test]
    fn label_names_loki_refuses_are_dropped() {
        let mut l = line(1, "a", None);
        l.labels.insert("k8s.pod.name".into(), "x".into());
        l.labels.insert("empty".into(), String::new());
        let labels = stream_labels(
            &l,
            &BTreeMap::from([("cluster".to_string(), "home".to_string())]),
        );
        assert_eq!(labels.keys().collect::<Vec<_>>(), ["cluster", "pod"]);
    }
}
