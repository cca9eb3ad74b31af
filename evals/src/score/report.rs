//! A run's metrics as the Markdown report (`report.md`).

use std::collections::BTreeMap;

use super::metrics::{DetailMetrics, Metrics, SourceMetrics};
use super::{CaseScore, SEMANTIC_MATCH};

/// The run as Markdown: the metrics table, per-field and per-source tables, the severity
/// confusion matrix, and the failure modes (counted by kind, then case by case).
pub fn markdown(variant: &str, m: &Metrics, scores: &[CaseScore]) -> String {
    let mut s = format!("# Eval run: {variant}\n\n");
    if m.headline.cases > 0 {
        s.push_str(&format!(
            "**Headline** (the {} cases labelled by a benchmark or a person, not by loglens's \
             rules or templates): cause {}, component {}, severity {}.\n\n",
            m.headline.cases,
            pct(m.headline.cause),
            pct(m.headline.component),
            pct(m.headline.severity)
        ));
    }
    metric_table(&mut s, m);
    fields_table(&mut s, m);
    group_tables(&mut s, m);
    s.push_str(&detail_table(&m.by_detail));
    severity_table(&mut s, m);
    failure_modes(&mut s, scores);
    s
}

/// A fraction as a percentage with one decimal.
fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The table of headline metrics, one row each.
fn metric_table(s: &mut String, m: &Metrics) {
    s.push_str("| metric | value |\n|---|---|\n");
    let mut row = |k: &str, v: String| s.push_str(&format!("| {k} | {v} |\n"));
    row("cases", m.cases.to_string());
    row("answered", pct(m.answered));
    row("cause accuracy", pct(m.cause_accuracy));
    row("component accuracy", pct(m.component_accuracy));
    row("severity accuracy", pct(m.severity_accuracy));
    if let Some(d) = m.detail_accuracy {
        let n: usize = m.by_detail.values().map(|x| x.cases).sum();
        row(
            &format!("cause and detail accuracy ({n} cases labelled with a detail)"),
            pct(d),
        );
    }
    row(
        "error signature (normalized, exact)",
        pct(m.signature_accuracy),
    );
    row("root cause text match", pct(m.root_cause_match));
    if let Some(x) = m.root_cause_semantic {
        row(
            &format!("root cause semantic match (cosine >= {SEMANTIC_MATCH})"),
            pct(x),
        );
    }
    row("summary ROUGE-L", format!("{:.3}", m.summary_rouge_l));
    if let Some(r) = m.router_accuracy {
        row("router accuracy", pct(r));
    }
    row(
        &format!(
            "retrieval precision / recall / MRR / NDCG@10 ({} cases with evidence lines)",
            m.retrieval.cases
        ),
        format!(
            "{:.3} / {:.3} / {:.3} / {:.3}",
            m.retrieval.precision, m.retrieval.recall, m.retrieval.mrr, m.retrieval.ndcg
        ),
    );
    row(
        "latency p50 / p95 / p99",
        format!(
            "{:.0} / {:.0} / {:.0} ms",
            m.latency_ms.p50, m.latency_ms.p95, m.latency_ms.p99
        ),
    );
    row(
        "per case: tokens, model calls, tool calls",
        format!(
            "{:.0}, {:.1}, {:.1}",
            m.tokens_per_case, m.model_calls_per_case, m.tool_calls_per_case
        ),
    );
    if let Some(ran) = m.tool_calls_ran {
        row(
            "tool calls that ran; new lines they gave per case",
            format!("{:.1}%; {:.1}", ran * 100.0, m.tool_new_lines_per_case),
        );
    }
}

/// Precision, recall, F1 and accuracy per field.
fn fields_table(s: &mut String, m: &Metrics) {
    s.push_str("\n## Fields (macro over classes)\n\n| field | precision | recall | F1 | accuracy |\n|---|---|---|---|---|\n");
    for (name, f) in &m.fields {
        s.push_str(&format!(
            "| {name} | {:.3} | {:.3} | {:.3} | {} |\n",
            f.precision,
            f.recall,
            f.f1,
            pct(f.accuracy)
        ));
    }
}

/// Cause, component and severity accuracy by source and by expected cause.
fn group_tables(s: &mut String, m: &Metrics) {
    let mut groups = |title: &str, key: &str, rows: &BTreeMap<String, SourceMetrics>| {
        s.push_str(&format!(
            "\n## {title}\n\n| {key} | cases | cause | component | severity |\n|---|---|---|---|---|\n"
        ));
        for (name, b) in rows {
            s.push_str(&format!(
                "| {name} | {} | {} | {} | {} |\n",
                b.cases,
                pct(b.cause),
                pct(b.component),
                pct(b.severity)
            ));
        }
    };
    groups("By source", "source", &m.by_source);
    if !m.by_cause.is_empty() {
        groups(
            "By expected cause (independently labelled cases)",
            "cause",
            &m.by_cause,
        );
    }
}

/// The severity confusion matrix.
fn severity_table(s: &mut String, m: &Metrics) {
    s.push_str("\n## Severity (rows: expected, columns: answered)\n\n");
    let cols = ["INFO", "WARN", "ERROR", "CRITICAL", "none"];
    s.push_str(&format!(
        "| | {} |\n|---|{}\n",
        cols.join(" | "),
        "---|".repeat(cols.len())
    ));
    for r in ["INFO", "WARN", "ERROR", "CRITICAL"] {
        let counts = m.severity_confusion.get(r);
        let cells: Vec<String> = cols
            .iter()
            .map(|c| {
                counts
                    .and_then(|x| x.get(*c))
                    .copied()
                    .unwrap_or(0)
                    .to_string()
            })
            .collect();
        s.push_str(&format!("| {r} | {} |\n", cells.join(" | ")));
    }
}

/// The failures, counted by kind, then case by case.
fn failure_modes(s: &mut String, scores: &[CaseScore]) {
    s.push_str("\n## Failure modes\n\n");
    let failures: Vec<&CaseScore> = scores.iter().filter(|c| c.failure.is_some()).collect();
    if failures.is_empty() {
        s.push_str("None.\n");
        return;
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &failures {
        for part in f.failure.as_deref().unwrap_or("").split("; ") {
            let kind = part.split([' ', ':']).next().unwrap_or("");
            let kind = match kind {
                "no" if part.starts_with("no answer") => "no answer",
                "evidence" => "missing evidence",
                k => k,
            };
            *kinds.entry(kind).or_default() += 1;
        }
    }
    s.push_str("| why | cases |\n|---|---|\n");
    for (k, n) in &kinds {
        s.push_str(&format!("| {k} | {n} |\n"));
    }
    s.push('\n');
    for f in failures {
        s.push_str(&format!(
            "- `{}`: {}\n",
            f.case,
            f.failure.as_deref().unwrap_or("")
        ));
    }
}

/// The by-cause-and-detail table; empty when no case is labelled with a detail.
fn detail_table(by_detail: &BTreeMap<String, DetailMetrics>) -> String {
    if by_detail.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n## By expected cause and detail\n\n| cause / detail | cases | cause | cause and detail |\n|---|---|---|---|\n",
    );
    for (name, d) in by_detail {
        s.push_str(&format!(
            "| {name} | {} | {}/{} | {}/{} |\n",
            d.cases, d.cause, d.cases, d.detail, d.cases
        ));
    }
    s
}
