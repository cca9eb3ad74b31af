//! [`LogFilter`]: which lines a question is about.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use regex::Regex;

use super::LogLine;
use super::logql::LogQuery;
use crate::ToolError;

/// Whether object `name` is `workload` or one of its pods or replica sets
/// (`checkout` covers `checkout` and `checkout-7d9f-abcde`, not `checkoutv2-1`).
pub fn in_workload(name: &str, workload: &str) -> bool {
    name == workload
        || name
            .strip_prefix(workload)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// The error filter the earlier Python service applied by default: lines that look like
/// something went wrong.
pub const DEFAULT_ERROR_FILTER: &str = "(?i)(error|warn|failed|exception|panic|fatal)";

/// Label, time and text conditions a line must meet. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Kubernetes namespace (exact).
    pub namespace: Option<String>,
    /// Pod name: exact, or the name of its workload (`checkout` matches `checkout-7d9f-abcde`).
    pub pod: Option<String>,
    /// Container name (exact).
    pub container: Option<String>,
    /// Node name (exact).
    pub node: Option<String>,
    /// Inclusive start of the time window.
    pub start: Option<DateTime<Utc>>,
    /// Exclusive end of the time window.
    pub end: Option<DateTime<Utc>>,
    /// Lines must match this regex (the default error filter, a user's pattern, or none).
    pub pattern: Option<Regex>,
    /// A LogQL log query, applied after the conditions above; it may add extracted labels
    /// and rewrite the line (`line_format`).
    pub logql: Option<Arc<LogQuery>>,
}

/// Deepest group nesting a regex from outside may have. Compiling a regex recurses per
/// level, and a thread's stack is finite: `((((...))))` 137 deep overflowed a test
/// thread's 2 MiB stack in a debug build (found by the logql fuzz target's corpus), and
/// a stack overflow aborts the whole process. No log filter needs more than a few.
pub const MAX_REGEX_NESTING: u32 = 24;

/// Largest compiled program a regex from outside may have (bytes).
pub const MAX_REGEX_SIZE: usize = 1 << 20;

/// Compiles a regex that came from a request, a config or a model: nesting and size are
/// bounded, so a hostile pattern is a clear error, never a stack overflow or a memory blow-up.
pub fn untrusted_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .nest_limit(MAX_REGEX_NESTING)
        .size_limit(MAX_REGEX_SIZE)
        .build()
}

impl LogFilter {
    /// A filter with the default error pattern and nothing else.
    pub fn errors() -> Self {
        Self {
            pattern: Regex::new(DEFAULT_ERROR_FILTER).ok(),
            ..Self::default()
        }
    }

    /// Sets the text pattern from a regex string.
    pub fn with_pattern(mut self, pattern: Option<&str>) -> Result<Self, ToolError> {
        self.pattern = match pattern {
            None => None,
            Some(p) => Some(
                untrusted_regex(p)
                    .map_err(|e| ToolError::InvalidFilter(format!("bad regex {p:?}: {e}")))?,
            ),
        };
        Ok(self)
    }

    /// Checks that the filter makes sense (the window is not empty or reversed).
    pub fn validate(&self) -> Result<(), ToolError> {
        if let (Some(start), Some(end)) = (self.start, self.end)
            && end <= start
        {
            return Err(ToolError::InvalidFilter(format!(
                "end ({}) must be after start ({})",
                end.to_rfc3339(),
                start.to_rfc3339()
            )));
        }
        Ok(())
    }

    /// Whether the filter has a time window.
    pub fn has_window(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }

    /// Whether a line's labels match (time and text are checked separately).
    pub fn matches_labels(&self, line: &LogLine) -> bool {
        self.matches_labels_by(|name| line.label(name))
    }

    /// [`LogFilter::matches_labels`] with the labels read through `label`.
    pub(crate) fn matches_labels_by<'s>(&self, label: impl Fn(&str) -> Option<&'s str>) -> bool {
        let exact = |want: &Option<String>, key: &str| match want {
            None => true,
            Some(w) => label(key) == Some(w.as_str()),
        };
        let pod_ok = match &self.pod {
            None => true,
            Some(want) => label("pod").is_some_and(|p| in_workload(p, want)),
        };
        exact(&self.namespace, "namespace")
            && exact(&self.container, "container")
            && exact(&self.node, "node")
            && pod_ok
    }

    /// The label names [`LogFilter::matches_labels_by`] reads (those of the conditions set).
    pub(crate) fn label_names_read(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("namespace", &self.namespace),
            ("container", &self.container),
            ("node", &self.node),
            ("pod", &self.pod),
        ]
        .into_iter()
        .filter(|(_, want)| want.is_some())
        .map(|(name, _)| name)
    }

    /// Whether a time falls in the window. Lines of unknown time match only when there is
    /// no window: nothing says they belong to it.
    pub fn matches_time(&self, ts: Option<DateTime<Utc>>) -> bool {
        if !self.has_window() {
            return true;
        }
        let Some(ts) = ts else { return false };
        self.start.is_none_or(|s| ts >= s) && self.end.is_none_or(|e| ts < e)
    }

    /// Whether a line's text matches the pattern.
    pub fn matches_text(&self, text: &str) -> bool {
        self.pattern.as_ref().is_none_or(|p| p.is_match(text))
    }

    /// A short human-readable description, for error messages ("no lines matched ...").
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("namespace", &self.namespace),
            ("pod", &self.pod),
            ("container", &self.container),
            ("node", &self.node),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        if let Some(s) = self.start {
            parts.push(format!("start={}", s.to_rfc3339()));
        }
        if let Some(e) = self.end {
            parts.push(format!("end={}", e.to_rfc3339()));
        }
        if let Some(p) = &self.pattern {
            parts.push(format!("pattern={}", p.as_str()));
        }
        if self.logql.is_some() {
            parts.push("logql query".to_string());
        }
        if parts.is_empty() {
            "no filters".to_string()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn line(pod: &str) -> LogLine {
        LogLine {
            source: "f".into(),
            line_no: 1,
            timestamp: None,
            labels: BTreeMap::from([("pod".to_string(), pod.to_string())]),
            text: "x".into(),
            truncated_bytes: 0,
        }
    }

    #[test]
    fn pod_matches_exact_or_workload_prefix() {
        let f = LogFilter {
            pod: Some("checkout".into()),
            ..Default::default()
        };
        assert!(f.matches_labels(&line("checkout")));
        assert!(f.matches_labels(&line("checkout-7d9f-abcde")));
        assert!(!f.matches_labels(&line("checkoutservice-1")));
        assert!(!f.matches_labels(&line("cart-1")));
    }

    #[test]
    fn reversed_window_is_rejected() {
        let t = Utc::now();
        let f = LogFilter {
            start: Some(t),
            end: Some(t - chrono::Duration::seconds(1)),
            ..Default::default()
        };
        assert!(f.validate().is_err());
    }

    #[test]
    fn untimed_lines_only_match_without_window() {
        let mut f = LogFilter::default();
        assert!(f.matches_time(None));
        f.start = Some(Utc::now());
        assert!(!f.matches_time(None));
    }

    #[test]
    fn default_error_filter_matches_case_insensitively() {
        let f = LogFilter::errors();
        assert!(f.matches_text("Connection FAILED"));
        assert!(f.matches_text("java.lang.NullPointerException"));
        assert!(!f.matches_text("GET /healthz 200"));
    }
}
