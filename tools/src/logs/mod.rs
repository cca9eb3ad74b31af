//! Log sources.
//!
//! Every backend (local files today, Loki next) implements [`LogSource`]: given a
//! [`LogFilter`], return the matching [`LogLine`]s in time order. Each line remembers
//! where it came from (`source` and `line_no`), so an answer can cite the exact lines it
//! rests on.
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ToolError;

pub(crate) mod file;
mod filter;
pub mod ingest;
pub(crate) mod line_steps;
pub mod logfmt;
pub mod logql;
pub mod loki;
pub(crate) mod parse;
mod prefilter;
mod scope;
mod view;

pub use file::{DEFAULT_MAX_LINE_BYTES, FileLogSource};
pub use filter::{DEFAULT_ERROR_FILTER, LogFilter, in_workload, untrusted_regex};
pub use parse::{MAX_SINCE_DAYS, canonical_label, parse_since, parse_timestamp, time_before};
pub use scope::Scope;

/// One log line with its origin, time and labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Where the line came from: a file path, or a Loki stream.
    pub source: String,
    /// Where in its source the line is: the 1-based line number in a file or export;
    /// for Loki, the entry's timestamp in nanoseconds (which, with the stream, identifies it).
    pub line_no: u64,
    /// When the line was written, if known. Lines without their own time inherit the time
    /// of the previous line of the same stream (a stack trace's continuation lines).
    pub timestamp: Option<DateTime<Utc>>,
    /// Stream labels with canonical names: `namespace`, `pod`, `container`, `node`, `app`, ...
    pub labels: BTreeMap<String, String>,
    /// The line's text (lossily decoded if it was not UTF-8).
    pub text: String,
    /// How many bytes were cut off because the line was longer than the reader's limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated_bytes: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl LogLine {
    /// The value of a label, if the line has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// A short name for the stream the line belongs to: the container, else the pod, else
    /// the app, else Loki's `service_name`, a `component` or `job` label, else the source.
    pub fn stream_name(&self) -> &str {
        [
            "container",
            "pod",
            "app",
            "service_name",
            "component",
            "job",
        ]
        .iter()
        .find_map(|k| self.label(k))
        .unwrap_or(&self.source)
    }
}

/// A place logs can be read from.
#[async_trait]
pub trait LogSource: Send + Sync {
    /// One line that says what this source reads (for logs, errors and `--help` output).
    fn describe(&self) -> String;

    /// The lines that match `filter`, oldest first. Lines of unknown time come before all
    /// timed lines, in the order they were read.
    async fn query(&self, filter: &LogFilter) -> Result<Vec<LogLine>, ToolError>;

    /// The newest `limit` lines that match `filter`, oldest first, and how many matched
    /// in all. A source that can bound its work does (the file source holds at most
    /// twice `limit` lines while it scans, however many match); by default this is
    /// [`LogSource::query`] with the older lines dropped.
    async fn query_newest(&self, filter: &LogFilter, limit: usize) -> Result<Newest, ToolError> {
        let mut lines = self.query(filter).await?;
        let matched = lines.len() as u64;
        lines.drain(..lines.len().saturating_sub(limit));
        Ok(Newest { lines, matched })
    }

    /// The label names present between `start` and `end` (discovered from the data, so a
    /// query can be checked against what really exists).
    async fn label_names(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<String>, ToolError>;

    /// Message patterns the store computes itself for a (checked) LogQL query, when it
    /// can: Loki 3's pattern ingester. `None` when the store has no such thing (files,
    /// older Loki, other Loki-API servers), and the caller mines the lines instead.
    async fn patterns(
        &self,
        _query: &str,
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> Result<Option<Vec<StorePattern>>, ToolError> {
        Ok(None)
    }
}

/// The newest lines of a query and how many lines matched in all.
#[derive(Debug, Clone, Default)]
pub struct Newest {
    /// The newest lines, oldest first.
    pub lines: Vec<LogLine>,
    /// Lines that matched, kept or not.
    pub matched: u64,
}

/// A pattern as a log store reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorePattern {
    /// The template, with `<*>` for the variable parts.
    pub template: String,
    /// Lines that fit it in the range.
    pub count: u64,
    /// Its first sample's time.
    pub first_seen: Option<DateTime<Utc>>,
    /// Its last sample's time.
    pub last_seen: Option<DateTime<Utc>>,
}
