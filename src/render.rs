//! The human-readable answer printed by `loglens ask`.
use std::fmt::Write;

use crate::store::AnalysisRecord;

/// Renders a record as text: the finding, its evidence lines, then what it cost.
pub fn record(r: &AnalysisRecord) -> String {
    let mut s = String::new();
    let Some(f) = &r.finding else {
        let _ = writeln!(s, "No answer: {}", r.error.as_deref().unwrap_or(&r.status));
        return s;
    };
    let _ = writeln!(s, "Root cause:  {}", f.root_cause);
    let _ = writeln!(
        s,
        "Severity:    {}    Component: {}    Confidence: {:.0}%",
        f.severity,
        f.component,
        f.confidence * 100.0
    );
    let _ = writeln!(s, "Signature:   {}", f.error_signature);
    let _ = writeln!(s, "Summary:     {}", f.summary);
    let _ = writeln!(s, "Action:      {}", f.action);
    let _ = writeln!(s, "Evidence:");
    for l in &f.evidence {
        let time = l
            .timestamp
            .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        let stream = ["pod", "container", "app"]
            .iter()
            .find_map(|k| l.labels.get(*k))
            .map_or("", String::as_str);
        let text: String = l.text.chars().take(240).collect();
        let more = if l.text.chars().count() > 240 {
            "…"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  [{}] {}:{}  {}  {}",
            l.n, l.source, l.line_no, time, stream
        );
        let _ = writeln!(s, "      {text}{more}");
    }
    let _ = writeln!(
        s,
        "\n{} lines sent ({} matched) · model {} · prompt {} · {} call(s), {} tokens in, {} out, {:.0} tok/s · {:.1}s ({:.1}s in the model) · id {}",
        r.retrieved.len(),
        r.matched_lines,
        r.model,
        r.prompt_version,
        r.model_calls,
        r.prompt_tokens,
        r.completion_tokens,
        r.tokens_per_second,
        r.latency_ms / 1000.0,
        r.model_ms / 1000.0,
        r.id
    );
    s
}
