//! LogQL, the log query language of Grafana Loki: the log-query subset loglens evaluates
//! itself, so the embedded file source answers a query the way Loki would.
//!
//! Supported (as `logcli --stdin` evaluates it):
//! - a stream selector: `{namespace="shop", pod=~"checkout-.*", container!="istio-proxy"}`;
//! - line filters: `|= "text"`, `!= "text"`, `|~ "regex"`, `!~ "regex"`;
//! - parsers: `| json` and `| logfmt` (extracted labels, nested JSON keys joined with `_`,
//!   a clash with a stream label gets the `_extracted` suffix, a parse failure sets
//!   `__error__`);
//! - label filters: `| level="error"`, `| status >= 500 and duration_ms > 250`, with
//!   `=`, `==`, `!=`, `=~`, `!~`, `>`, `>=`, `<`, `<=`;
//! - `| line_format "{{.pod}} {{.msg}}"` (label substitution only).
//!
//! Metric queries (`rate(...)`, `count_over_time(...)`) are refused with a message saying
//! so. Every model-written query goes through [`parse()`] and then
//! [`LogQuery::validate`] before it runs; their errors are written for the model to act on.
mod eval;
mod parse;

pub use parse::parse;

use regex::Regex;

/// A parsed log query.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// The query as written (what is sent to Loki).
    pub text: String,
    /// The stream selector's matchers.
    pub selector: Vec<Matcher>,
    /// The pipeline stages, in order.
    pub pipeline: Vec<Stage>,
}

/// How a matcher or label filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=` (or `==` in label filters)
    Eq,
    /// `!=`
    Ne,
    /// `=~` (the regex must match the whole value)
    Re,
    /// `!~`
    Nre,
}

/// `name op "value"` in a stream selector.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Value (a regex for `=~` and `!~`).
    pub value: String,
    regex: Option<Regex>,
}

/// How a line filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    /// `|=` contains
    Contains,
    /// `!=` does not contain
    NotContains,
    /// `|~` regex matches somewhere
    Matches,
    /// `!~` regex does not match
    NotMatches,
}

/// A numeric comparison in a label filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

/// One condition of a label filter.
#[derive(Debug, Clone)]
pub enum LabelPredicate {
    /// A string comparison.
    Str {
        /// Label name.
        name: String,
        /// Comparison.
        op: MatchOp,
        /// Value.
        value: String,
        /// Compiled regex for `=~` / `!~`.
        regex: Option<Regex>,
    },
    /// A numeric comparison (`status >= 500`); also `=`/`!=` against a number.
    Num {
        /// Label name.
        name: String,
        /// Comparison; `None` means equality, with `negate` for `!=`.
        op: Option<CmpOp>,
        /// For `!=` against a number.
        negate: bool,
        /// Value.
        value: f64,
    },
}

/// A pipeline stage.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "x"`, `!= "x"`, `|~ "re"`, `!~ "re"`.
    Line {
        /// Comparison.
        op: LineOp,
        /// Text or regex.
        value: String,
        /// Compiled regex for `|~` / `!~`.
        regex: Option<Regex>,
    },
    /// `| json`.
    Json,
    /// `| logfmt`.
    Logfmt,
    /// `| a="b" and c>1`: all predicates must hold.
    Labels(Vec<LabelPredicate>),
    /// `| line_format "..."`.
    LineFormat(String),
}

/// A query that could not be parsed or is not allowed, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("LogQL error at column {column}: {message}")]
pub struct LogqlError {
    /// 1-based column in the query text.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Limits a query must respect to run (see [`LogQuery::validate`]).
#[derive(Debug, Clone)]
pub struct QueryPolicy {
    /// Labels that exist in the store (discovered, not guessed). Empty: not checked.
    pub known_labels: Vec<String>,
}

impl LogQuery {
    /// Checks the query against what the store has: every selector label must be known
    /// (with the closest known name suggested), and at least one matcher must select
    /// something (Loki refuses selectors that match every stream).
    pub fn validate(&self, policy: &QueryPolicy) -> Result<(), LogqlError> {
        if !self.selector.iter().any(|m| m.requires_value()) {
            return Err(LogqlError {
                column: 1,
                message: "the stream selector must narrow the streams: at least one matcher must select particular values (a regex such as \".+\" or \".*\" selects everything), e.g. {namespace=\"shop\"}".into(),
            });
        }
        if policy.known_labels.is_empty() {
            return Ok(());
        }
        for m in &self.selector {
            if !policy.known_labels.iter().any(|k| k == &m.name) {
                let hint = closest(&m.name, &policy.known_labels)
                    .map(|c| format!(" Did you mean {c:?}?"))
                    .unwrap_or_default();
                return Err(LogqlError {
                    column: 1,
                    message: format!(
                        "unknown label {:?}.{hint} Known labels: {}.",
                        m.name,
                        policy.known_labels.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Matcher {
    /// Whether the matcher narrows the streams: `a="x"`, or a regex that neither matches
    /// the empty value (Loki's own rule) nor every value (`a=~".+"` selects every stream
    /// that has the label: a whole-cluster query in disguise, as an injected log line
    /// might ask for).
    fn requires_value(&self) -> bool {
        const PROBES: [&str; 5] = ["a", "default", "kube-system", "x-1", "Z9_probe.q"];
        match self.op {
            MatchOp::Eq => !self.value.is_empty(),
            MatchOp::Re => self
                .regex
                .as_ref()
                .is_some_and(|r| !r.is_match("") && !PROBES.iter().all(|p| r.is_match(p))),
            MatchOp::Ne | MatchOp::Nre => false,
        }
    }
}

/// A LogQL string literal for `s`: quoted, with backslashes, quotes and newlines escaped.
pub fn quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

/// Whether `name` is a valid Loki label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The known label closest to `name` (pod_name → pod), if any is close.
fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let canonical = super::canonical_label(name);
    if let Some(c) = canonical
        && let Some(k) = known.iter().find(|k| super::canonical_label(k) == Some(c))
    {
        return Some(k);
    }
    known
        .iter()
        .map(|k| (strsim(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance.
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> QueryPolicy {
        QueryPolicy {
            known_labels: vec![
                "namespace".into(),
                "pod".into(),
                "container".into(),
                "app".into(),
            ],
        }
    }

    #[test]
    fn unknown_labels_get_the_discovered_name_suggested() {
        let q = parse(r#"{pod_name="checkout-1"}"#).unwrap_or_else(|e| unreachable!("{e}"));
        let err = q
            .validate(&policy())
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(err.contains("Did you mean \"pod\"?"), "{err}");
        let q = parse(r#"{namspace="shop"}"#).unwrap_or_else(|e| unreachable!("{e}"));
        let err = q
            .validate(&policy())
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(err.contains("Did you mean \"namespace\"?"), "{err}");
        assert!(parse(r#"{namespace="shop"}"#).is_ok_and(|q| q.validate(&policy()).is_ok()));
    }

    #[test]
    fn selectors_that_match_everything_are_refused() {
        for q in [
            r#"{namespace=~".*"}"#,
            r#"{namespace!="x"}"#,
            r#"{namespace=""}"#,
            r#"{namespace=~".+"}"#,
            r#"{namespace=~".+", pod!="x"}"#,
        ] {
            let parsed = parse(q).unwrap_or_else(|e| unreachable!("{e}"));
            assert!(
                parsed
                    .validate(&QueryPolicy {
                        known_labels: vec![]
                    })
                    .is_err(),
                "{q}"
            );
        }
        let ok = parse(r#"{namespace=~"shop|payments", pod=~".+"}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            ok.validate(&QueryPolicy {
                known_labels: vec![]
            })
            .is_ok()
        );
    }
}
