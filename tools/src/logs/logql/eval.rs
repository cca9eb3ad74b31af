//! Evaluating a [`LogQuery`] on [`LogLine`]s, as Loki does.
use std::collections::BTreeMap;

use serde_json::Value;

use super::{CmpOp, LabelPredicate, LineOp, LogQuery, MatchOp, Matcher, Stage};
use crate::logs::LogLine;

impl LogQuery {
    /// Whether a stream with these labels is selected (a missing label counts as "").
    pub fn matches_stream(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_stream_by(|name| labels.get(name).map(String::as_str))
    }

    /// [`LogQuery::matches_stream`] with the labels read through `label`.
    pub(crate) fn matches_stream_by<'s>(&self, label: impl Fn(&str) -> Option<&'s str>) -> bool {
        self.selector
            .iter()
            .all(|m| m.matches(label(&m.name).unwrap_or("")))
    }

    /// The label names [`LogQuery::matches_stream_by`] reads.
    pub(crate) fn stream_label_names(&self) -> impl Iterator<Item = &str> {
        self.selector.iter().map(|m| m.name.as_str())
    }

    /// Whether the pipeline only filters lines by their text (`|=`, `!=`, `|~`, `!~`):
    /// then a line's labels and text come out as they went in, and whether it passes
    /// can be told from its text alone ([`LogQuery::passes_line_filters`]).
    pub(crate) fn only_line_filters(&self) -> bool {
        self.pipeline
            .iter()
            .all(|s| matches!(s, Stage::Line { .. }))
    }

    /// Whether `text` passes every line filter of the pipeline (other stages are not
    /// looked at: see [`LogQuery::only_line_filters`]). `known`: a literal the caller
    /// already found in `text`, so a `|=` of it passes without a second search.
    pub(crate) fn passes_line_filters(&self, text: &str, known: Option<&str>) -> bool {
        self.pipeline.iter().all(|s| match s {
            Stage::Line {
                op: LineOp::Contains,
                value,
                ..
            } if known == Some(value.as_str()) => true,
            Stage::Line { op, value, regex } => line_hit(*op, value, regex.as_ref(), text),
            _ => true,
        })
    }

    /// Runs the query on one line: `None` if it is filtered out, else the line with its
    /// extracted labels added and `line_format` applied.
    pub fn apply(&self, line: &LogLine) -> Option<LogLine> {
        if !self.matches_stream(&line.labels) {
            return None;
        }
        self.run_pipeline(line.clone())
    }

    /// [`LogQuery::apply`] on a line it may keep: nothing is copied (a scan's hot path).
    pub fn apply_owned(&self, line: LogLine) -> Option<LogLine> {
        if !self.matches_stream(&line.labels) {
            return None;
        }
        self.run_pipeline(line)
    }

    /// The pipeline stages on a line whose stream is selected.
    fn run_pipeline(&self, mut line: LogLine) -> Option<LogLine> {
        // The line's own labels, for the parsers (an extracted label that clashes with
        // one gets `_extracted`): copied only when a parser stage runs.
        let mut original: Option<BTreeMap<String, String>> = None;
        for stage in &self.pipeline {
            match stage {
                Stage::Line { op, value, regex } => {
                    if !line_hit(*op, value, regex.as_ref(), &line.text) {
                        return None;
                    }
                }
                Stage::Json => {
                    let own = original.get_or_insert_with(|| line.labels.clone());
                    extract_json(&line.text, own, &mut line.labels);
                }
                Stage::Logfmt => {
                    let own = original.get_or_insert_with(|| line.labels.clone());
                    extract_logfmt(&line.text, own, &mut line.labels);
                }
                Stage::Labels(preds) => {
                    if !preds.iter().all(|p| p.holds(&line.labels)) {
                        return None;
                    }
                }
                Stage::LineFormat(template) => {
                    line.text = render_template(template, &line.labels, &line.text);
                }
            }
        }
        Some(line)
    }
}

/// Whether `text` passes one line filter.
fn line_hit(op: LineOp, value: &str, regex: Option<&regex::Regex>, text: &str) -> bool {
    match (op, regex) {
        (LineOp::Contains, _) => text.contains(value),
        (LineOp::NotContains, _) => !text.contains(value),
        (LineOp::Matches, Some(r)) => r.is_match(text),
        (LineOp::NotMatches, Some(r)) => !r.is_match(text),
        (_, None) => false,
    }
}

impl Matcher {
    fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Eq, _) => value == self.value,
            (MatchOp::Ne, _) => value != self.value,
            (MatchOp::Re, Some(r)) => r.is_match(value),
            (MatchOp::Nre, Some(r)) => !r.is_match(value),
            _ => false,
        }
    }
}

impl LabelPredicate {
    fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelPredicate::Str {
                name,
                op,
                value,
                regex,
            } => {
                let v = labels.get(name).map_or("", String::as_str);
                match (op, regex) {
                    (MatchOp::Eq, _) => v == value,
                    (MatchOp::Ne, _) => v != value,
                    (MatchOp::Re, Some(r)) => r.is_match(v),
                    (MatchOp::Nre, Some(r)) => !r.is_match(v),
                    _ => false,
                }
            }
            // A value that is not a number fails the comparison (Loki marks such lines with
            // __error__ and drops them from the filter's result the same way).
            LabelPredicate::Num {
                name,
                op,
                negate,
                value,
            } => {
                let Some(v) = labels.get(name).and_then(|v| v.trim().parse::<f64>().ok()) else {
                    return false;
                };
                match op {
                    Some(CmpOp::Gt) => v > *value,
                    Some(CmpOp::Ge) => v >= *value,
                    Some(CmpOp::Lt) => v < *value,
                    Some(CmpOp::Le) => v <= *value,
                    None => (v == *value) != *negate,
                }
            }
        }
    }
}

/// Loki's label name rules: characters other than `[A-Za-z0-9_]` become `_`.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{s}")
    } else {
        s
    }
}

/// Adds an extracted label; one that clashes with a stream label gets `_extracted`.
fn put(
    stream: &BTreeMap<String, String>,
    labels: &mut BTreeMap<String, String>,
    name: String,
    value: String,
) {
    let name = if stream.contains_key(&name) {
        format!("{name}_extracted")
    } else {
        name
    };
    labels.insert(name, value);
}

fn extract_json(
    text: &str,
    stream: &BTreeMap<String, String>,
    labels: &mut BTreeMap<String, String>,
) {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) else {
        labels.insert("__error__".into(), "JSONParserErr".into());
        return;
    };
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        sanitize(k)
                    } else {
                        format!("{prefix}_{}", sanitize(k))
                    };
                    walk(&key, v, out);
                }
            }
            Value::String(s) => out.push((prefix.to_string(), s.clone())),
            Value::Number(n) => out.push((prefix.to_string(), n.to_string())),
            Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
            Value::Null | Value::Array(_) => {}
        }
    }
    let mut out = Vec::new();
    walk("", &Value::Object(obj), &mut out);
    for (k, v) in out {
        put(stream, labels, k, v);
    }
}

fn extract_logfmt(
    text: &str,
    stream: &BTreeMap<String, String>,
    labels: &mut BTreeMap<String, String>,
) {
    match crate::logs::logfmt::parse(text) {
        Ok(pairs) => {
            for (k, v) in pairs {
                put(stream, labels, sanitize(&k), v);
            }
        }
        Err(()) => {
            labels.insert("__error__".into(), "LogfmtParserErr".into());
        }
    }
}

/// Fills `{{.label}}` and `{{__line__}}` (the only template actions supported; others are
/// refused when the query is parsed).
fn render_template(template: &str, labels: &BTreeMap<String, String>, line: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let action = rest[start + 2..start + end].trim();
        if action == "__line__" {
            out.push_str(line);
        } else if let Some(name) = action.strip_prefix('.') {
            out.push_str(labels.get(name).map_or("", String::as_str));
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn line(labels: &[(&str, &str)], text: &str) -> LogLine {
        LogLine {
            source: "t".into(),
            line_no: 1,
            timestamp: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            text: text.into(),
            truncated_bytes: 0,
        }
    }

    fn run(q: &str, l: &LogLine) -> Option<LogLine> {
        parse(q).unwrap_or_else(|e| unreachable!("{e}")).apply(l)
    }

    #[test]
    fn selector_and_line_filters() {
        let l = line(
            &[("namespace", "shop"), ("pod", "checkout-1")],
            "ERROR timeout calling payments",
        );
        assert!(run(r#"{namespace="shop"} |= "timeout""#, &l).is_some());
        assert!(run(r#"{namespace="shop"} != "timeout""#, &l).is_none());
        assert!(run(r#"{pod=~"checkout-.*"} |~ "time(d)?out""#, &l).is_some());
        assert!(
            run(r#"{pod=~"checkout"}"#, &l).is_none(),
            "selector regexes are anchored"
        );
        assert!(run(r#"{namespace!="shop"}"#, &l).is_none());
        assert!(
            run(r#"{namespace="shop", missing=""}"#, &l).is_some(),
            "a missing label equals \"\""
        );
    }

    #[test]
    fn json_extracts_nested_keys_and_filters() {
        let l = line(
            &[("app", "api"), ("level", "x")],
            r#"{"level":"error","status":503,"req":{"path":"/cart","took.ms":812}}"#,
        );
        let got = run(
            r#"{app="api"} | json | status >= 500 and req_took_ms > 800"#,
            &l,
        )
        .unwrap_or_else(|| unreachable!());
        assert_eq!(
            got.labels.get("req_path").map(String::as_str),
            Some("/cart")
        );
        assert_eq!(
            got.labels.get("level_extracted").map(String::as_str),
            Some("error"),
            "clash gets _extracted"
        );
        assert!(run(r#"{app="api"} | json | status < 500"#, &l).is_none());
        assert!(run(r#"{app="api"} | json | req_path=~"/c.*""#, &l).is_some());
    }

    #[test]
    fn json_on_plain_text_sets_error_label() {
        let l = line(&[("app", "api")], "not json");
        assert!(run(r#"{app="api"} | json | __error__="""#, &l).is_none());
        assert!(run(r#"{app="api"} | json | __error__="JSONParserErr""#, &l).is_some());
    }

    #[test]
    fn logfmt_and_line_format() {
        let l = line(
            &[("app", "api")],
            r#"level=warn msg="slow query \"cart\"" duration_ms=950 retry"#,
        );
        let got = run(r#"{app="api"} | logfmt | duration_ms > 900 | line_format "{{.level}}: {{ .msg }} ({{.duration_ms}}ms)""#, &l)
            .unwrap_or_else(|| unreachable!());
        assert_eq!(got.text, r#"warn: slow query "cart" (950ms)"#);
        assert_eq!(got.labels.get("retry").map(String::as_str), Some(""));
    }

    #[test]
    fn numeric_filter_on_non_number_fails() {
        let l = line(&[("app", "api")], r#"{"status":"oops"}"#);
        assert!(run(r#"{app="api"} | json | status > 1"#, &l).is_none());
        assert!(run(r#"{app="api"} | json | status != 5"#, &l).is_none());
    }
}
