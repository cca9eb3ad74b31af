//! Insights over a time window, without a question: what happened ([`summary`]), which
//! errors matter most ([`triage`]), what changed between two windows ([`changes`]), and
//! which failing component started it ([`cascade`]).
//!
//! All four are deterministic (evidence first): they group lines by template (the same
//! Drain-style miner as the evidence step) and by known failure signature, count, compare
//! and rank, and every item carries the lines it rests on. A model is used only to write
//! the summary's prose, inside a schema, from that digest; without one the digest is
//! still the answer.
use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use loglens_tools::budget::clip_to as clip;
use loglens_tools::k8s::K8sEvent;
use loglens_tools::logs::LogLine;
use loglens_tools::redact::redact;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::Severity;
use crate::evidence::signatures::workload;

pub mod cascade;
pub mod changes;
pub mod summary;
pub mod triage;

/// Lines and events of one time window.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Start of the window.
    pub start: Option<DateTime<Utc>>,
    /// End of the window.
    pub end: Option<DateTime<Utc>>,
    /// Every line in it (not only errors), oldest first.
    pub lines: Vec<LogLine>,
    /// The Kubernetes events in it.
    pub events: Vec<K8sEvent>,
}

impl Snapshot {
    /// The window's length in minutes, from its bounds or else from its lines' times
    /// (at least one minute).
    pub fn minutes(&self) -> f64 {
        let (start, end) = match (self.start, self.end) {
            (Some(s), Some(e)) => (Some(s), Some(e)),
            _ => {
                let mut times = self.lines.iter().filter_map(|l| l.timestamp);
                let first = times.next();
                let last = self.lines.iter().rev().find_map(|l| l.timestamp);
                (self.start.or(first), self.end.or(last))
            }
        };
        match (start, end) {
            (Some(s), Some(e)) if e > s => ((e - s).num_milliseconds() as f64 / 60_000.0).max(1.0),
            _ => 1.0,
        }
    }
}

/// A line an insight rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
    /// The component (workload) that wrote it, or the object an event is about.
    pub component: String,
    /// Its text, secrets masked.
    pub text: String,
    /// Where it came from (a file, a Loki stream, `event`).
    pub source: String,
    /// Its position in the source (line number, or Loki timestamp).
    pub line_no: u64,
}

impl Evidence {
    /// A log line as evidence.
    pub fn line(l: &LogLine) -> Self {
        Self {
            timestamp: l.timestamp,
            component: component(l),
            text: clip(&redact(&l.text), 400),
            source: l.source.clone(),
            line_no: l.line_no,
        }
    }

    /// An event as evidence.
    pub fn event(e: &K8sEvent) -> Self {
        Self {
            timestamp: e.last_seen,
            component: workload(&e.name),
            text: clip(&crate::evidence::collect::event_text(e), 400),
            source: "event".into(),
            line_no: 0,
        }
    }
}

/// The component a line belongs to: its pod's workload when the pod name has
/// Kubernetes' generated suffixes, else its container, else its stream.
pub fn component(l: &LogLine) -> String {
    match (l.label("pod"), l.label("container")) {
        (Some(p), container) => {
            let w = workload(p);
            match container {
                Some(c) if w == p => c.to_string(),
                _ => w,
            }
        }
        (None, _) => workload(l.stream_name()),
    }
}

static CRITICAL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|[^\w-])(fatal|panic|critical|crit|emerg|oomkilled|out of memory)(?:[^\w-]|$)",
    )
    .ok()
});
static ERROR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^\w-])(error|err|exception|failed|failure|refused|unavailable|timed out|denied|unreachable|traceback)(?:[^\w-]|$)").ok()
});
static WARN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^\w-])(warn|warning|deprecated|retrying|slow)(?:[^\w-]|$)").ok()
});
/// A level the line states itself: `"level":"info"`, `level=warn`, `"severity":"ERROR"`.
static LEVEL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:"(?:level|severity|lvl|loglevel|log\.level)"\s*:\s*"|\b(?:level|lvl|severity)=)"?([a-z]+)"#).ok()
});
/// klog's prefix: `E1111 14:43:05.123456 ...`.
static KLOG: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^([EWIF])\d{4} \d\d:\d\d:\d\d").ok());
/// A stack trace's continuation: part of the error line before it, not a problem of its own.
static CONTINUATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"^\s*(at\s+[\w.$<>\[\]/]+[(.:]|---\s*end of|file "[^"]+", line \d+|\.\.\.\s*\d+\s+more|caused by:)"#).ok()
});

/// Whether a line continues a stack trace (`at Foo.Bar(...)`, `--- End of inner
/// exception`, `File "x.py", line 3`).
pub fn is_continuation(text: &str) -> bool {
    CONTINUATION
        .as_ref()
        .is_some_and(|r| r.is_match(&text.to_ascii_lowercase()))
}

/// The level a line states in its own level field (JSON `level`/`severity`, logfmt
/// `level=`, klog's prefix), lower case.
fn level_field(text: &str) -> Option<String> {
    LEVEL
        .as_ref()
        .and_then(|r| r.captures(text))
        .and_then(|c| c.get(1))
        .or_else(|| {
            KLOG.as_ref()
                .and_then(|r| r.captures(text))
                .and_then(|c| c.get(1))
        })
        .map(|m| m.as_str().to_ascii_lowercase())
}

/// What a level word means: `Some(Some(_))` a problem's severity, `Some(None)` an
/// informational level, `None` a word that is not a level loglens knows.
fn level_severity(level: &str) -> Option<Option<Severity>> {
    Some(match level {
        "fatal" | "panic" | "critical" | "crit" | "emerg" | "emergency" | "alert" | "f" => {
            Some(Severity::Critical)
        }
        "error" | "err" | "e" => Some(Severity::Error),
        "warn" | "warning" | "w" => Some(Severity::Warn),
        "info" | "information" | "notice" | "debug" | "trace" | "verbose" | "i" | "d" => None,
        _ => return None,
    })
}

/// The level a line states in its own level field (`"level":"error"`, `level=warn`,
/// klog's `E0101`), ignoring its words; `None` for informational levels or none.
pub fn stated_level(text: &str) -> Option<Severity> {
    if is_continuation(text) {
        return None;
    }
    level_severity(&level_field(text)?).flatten()
}

/// How bad a line looks: the level it states (JSON `level`/`severity`, logfmt
/// `level=`, klog's prefix), else its words; `None` for an ordinary line and for a stack
/// trace's continuation lines.
pub fn line_severity(text: &str) -> Option<Severity> {
    if is_continuation(text) {
        return None;
    }
    if let Some(stated) = level_field(text).and_then(|l| level_severity(&l)) {
        return stated;
    }
    let hit = |r: &LazyLock<Option<Regex>>| r.as_ref().is_some_and(|r| r.is_match(text));
    if hit(&CRITICAL) {
        Some(Severity::Critical)
    } else if hit(&ERROR) {
        Some(Severity::Error)
    } else if hit(&WARN) {
        Some(Severity::Warn)
    } else {
        None
    }
}

/// The weight of a severity in rankings.
pub fn severity_weight(s: Severity) -> f64 {
    match s {
        Severity::Info => 0.5,
        Severity::Warn => 1.0,
        Severity::Error => 3.0,
        Severity::Critical => 5.0,
    }
}

/// Up to `n` distinct pieces of evidence, earliest first.
pub(crate) fn first_evidence<'a>(
    lines: impl Iterator<Item = &'a LogLine>,
    n: usize,
) -> Vec<Evidence> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for l in lines {
        if seen.insert(l.text.as_str()) {
            out.push(Evidence::line(l));
            if out.len() == n {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod test_lines {
    use super::*;
    use chrono::TimeZone;

    /// A line of `pod` at minute `m` (+ `s` seconds) of 2025-03-01 10:00.
    pub fn at(pod: &str, m: i64, s: i64, text: &str) -> LogLine {
        LogLine {
            source: "test.jsonl".into(),
            line_no: (m * 60 + s) as u64,
            timestamp: Some(
                Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0)
                    .single()
                    .unwrap_or_default()
                    + chrono::Duration::seconds(m * 60 + s),
            ),
            labels: [("namespace", "shop"), ("pod", pod)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            text: text.into(),
            truncated_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_comes_from_the_words() {
        assert_eq!(
            line_severity("FATAL: cannot start"),
            Some(Severity::Critical)
        );
        assert_eq!(
            line_severity("ERROR pq: too many clients"),
            Some(Severity::Error)
        );
        assert_eq!(
            line_severity("dial tcp 10.0.0.1:6379: connection refused"),
            Some(Severity::Error)
        );
        assert_eq!(line_severity("WARN slow query 2s"), Some(Severity::Warn));
        assert_eq!(line_severity("GET /healthz 200"), None);
        // "errors=0" and "bf-error-rate" are words inside words: not error lines.
        assert_eq!(line_severity("stats errors=0"), None);
        assert_eq!(line_severity("{ bf-error-rate : 0.01 }"), None);
        // A level the line states wins over its words.
        assert_eq!(
            line_severity(
                r#"{"message":"Tracing enabled, but temporarily unavailable","severity":"info"}"#
            ),
            None
        );
        assert_eq!(
            line_severity(r#"{"level":"ERROR","message":"charge declined"}"#),
            Some(Severity::Error)
        );
        assert_eq!(
            line_severity("level=warn msg=\"disk 91% full\""),
            Some(Severity::Warn)
        );
        assert_eq!(
            line_severity("E1111 14:43:05.123456 1 reflector.go:138] watch failed"),
            Some(Severity::Error)
        );
        assert_eq!(
            line_severity("I1111 14:43:05.123456 1 leaderelection.go:248] failed over"),
            None
        );
        // A stack trace's lines belong to the error before them.
        assert_eq!(
            line_severity("   at cartservice.cartstore.RedisCartStore.GetCartAsync(String userId)"),
            None
        );
        assert_eq!(
            line_severity("--- End of inner exception stack trace ---"),
            None
        );
        assert!(is_continuation("  File \"app.py\", line 12, in handler"));
    }
}
