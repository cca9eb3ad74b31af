//! Scores: each case's fields against the ground truth, and the run's metrics.
//!
//! - **cause**: the chosen signature id equals the expected one (exact; `other` counts
//!   only against `other`);
//! - **component**: equal after lower-casing and reducing pod names to their workload
//!   (`adservice-74c7f4c787-8g8cs` is `adservice`);
//! - **severity**: equal; all pairs go into a confusion matrix;
//! - **route**: retrieval and specialists both as expected;
//! - latency p50/p95/p99, tokens and tool calls per case.
//!
//! A **failure mode** says why a case went wrong: no answer (and the error), wrong route,
//! or which fields differ.
use std::collections::BTreeMap;

use loglens_agents::evidence::signatures::workload;
use serde::{Deserialize, Serialize};

use crate::case::GoldenCase;
use crate::replay::CaseRun;

/// One case's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseScore {
    /// The case.
    pub case: String,
    /// Answered at all.
    pub answered: bool,
    /// Cause correct.
    pub cause: bool,
    /// Component correct.
    pub component: bool,
    /// Severity correct.
    pub severity: bool,
    /// Route correct (`None` when the variant does not route).
    pub route: Option<bool>,
    /// `(expected, got)` severity.
    pub severity_pair: (String, String),
    /// Why it went wrong, if it did.
    pub failure: Option<String>,
}

/// Scores one run of one case.
pub fn score_case(case: &GoldenCase, run: &CaseRun) -> CaseScore {
    let exp = &case.expected;
    let route = run
        .route
        .as_ref()
        .map(|(r, s)| *r == exp.route.retrieval && *s == exp.route.specialists);
    let Some(f) = &run.finding else {
        return CaseScore {
            case: case.id.clone(),
            answered: false,
            cause: false,
            component: false,
            severity: false,
            route,
            severity_pair: (exp.severity.to_string(), "none".into()),
            failure: Some(format!(
                "no answer: {}",
                run.error.as_deref().unwrap_or("unknown error")
            )),
        };
    };
    let cause = f.cause.as_deref().unwrap_or("other") == exp.cause;
    let component = same_component(&f.component, &exp.component);
    let severity = f.severity == exp.severity;
    let mut wrong = Vec::new();
    if route == Some(false)
        && let Some((r, s)) = &run.route
    {
        wrong.push(format!(
            "route {r}/{s}, expected {}/{}",
            exp.route.retrieval, exp.route.specialists
        ));
    }
    if !cause {
        wrong.push(format!(
            "cause {}, expected {}",
            f.cause.as_deref().unwrap_or("other"),
            exp.cause
        ));
    }
    if !component {
        wrong.push(format!(
            "component {}, expected {}",
            f.component, exp.component
        ));
    }
    if !severity {
        wrong.push(format!(
            "severity {}, expected {}",
            f.severity, exp.severity
        ));
    }
    CaseScore {
        case: case.id.clone(),
        answered: true,
        cause,
        component,
        severity,
        route,
        severity_pair: (exp.severity.to_string(), f.severity.to_string()),
        failure: (!wrong.is_empty()).then(|| wrong.join("; ")),
    }
}

fn same_component(got: &str, want: &str) -> bool {
    let norm = |s: &str| workload(s.trim()).to_lowercase();
    norm(got) == norm(want)
}

/// The run's metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Cases run.
    pub cases: usize,
    /// Share answered.
    pub answered: f64,
    /// Share with the right cause.
    pub cause_accuracy: f64,
    /// Share with the right component.
    pub component_accuracy: f64,
    /// Share with the right severity.
    pub severity_accuracy: f64,
    /// Share routed as expected, over the cases that were routed.
    pub router_accuracy: Option<f64>,
    /// `expected → got → count`.
    pub severity_confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Latency percentiles, ms.
    pub latency_ms: Percentiles,
    /// Mean tokens per case.
    pub tokens_per_case: f64,
    /// Mean model calls per case.
    pub model_calls_per_case: f64,
    /// Mean tool calls per case.
    pub tool_calls_per_case: f64,
}

/// p50, p95, p99.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th.
    pub p95: f64,
    /// 99th.
    pub p99: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Aggregates.
pub fn metrics(scores: &[CaseScore], runs: &[CaseRun]) -> Metrics {
    let n = scores.len();
    if n == 0 {
        return Metrics::default();
    }
    let share =
        |f: &dyn Fn(&CaseScore) -> bool| scores.iter().filter(|s| f(s)).count() as f64 / n as f64;
    let routed: Vec<bool> = scores.iter().filter_map(|s| s.route).collect();
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for s in scores {
        *confusion
            .entry(s.severity_pair.0.clone())
            .or_default()
            .entry(s.severity_pair.1.clone())
            .or_default() += 1;
    }
    let mut lat: Vec<f64> = runs.iter().map(|r| r.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    let mean =
        |f: &dyn Fn(&CaseRun) -> f64| runs.iter().map(f).sum::<f64>() / runs.len().max(1) as f64;
    Metrics {
        cases: n,
        answered: share(&|s| s.answered),
        cause_accuracy: share(&|s| s.cause),
        component_accuracy: share(&|s| s.component),
        severity_accuracy: share(&|s| s.severity),
        router_accuracy: (!routed.is_empty())
            .then(|| routed.iter().filter(|r| **r).count() as f64 / routed.len() as f64),
        severity_confusion: confusion,
        latency_ms: Percentiles {
            p50: percentile(&lat, 50.0),
            p95: percentile(&lat, 95.0),
            p99: percentile(&lat, 99.0),
        },
        tokens_per_case: mean(&|r| r.tokens as f64),
        model_calls_per_case: mean(&|r| r.model_calls as f64),
        tool_calls_per_case: mean(&|r| r.tool_calls as f64),
    }
}

/// The run as Markdown: the metrics table, the severity confusion matrix, the failure
/// modes.
pub fn markdown(variant: &str, m: &Metrics, scores: &[CaseScore]) -> String {
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    let mut s = format!("# Eval run: {variant}\n\n| metric | value |\n|---|---|\n");
    s.push_str(&format!("| cases | {} |\n", m.cases));
    s.push_str(&format!("| answered | {} |\n", pct(m.answered)));
    s.push_str(&format!("| cause accuracy | {} |\n", pct(m.cause_accuracy)));
    s.push_str(&format!(
        "| component accuracy | {} |\n",
        pct(m.component_accuracy)
    ));
    s.push_str(&format!(
        "| severity accuracy | {} |\n",
        pct(m.severity_accuracy)
    ));
    if let Some(r) = m.router_accuracy {
        s.push_str(&format!("| router accuracy | {} |\n", pct(r)));
    }
    s.push_str(&format!(
        "| latency p50 / p95 / p99 | {:.0} / {:.0} / {:.0} ms |\n",
        m.latency_ms.p50, m.latency_ms.p95, m.latency_ms.p99
    ));
    s.push_str(&format!(
        "| per case: tokens, model calls, tool calls | {:.0}, {:.1}, {:.1} |\n",
        m.tokens_per_case, m.model_calls_per_case, m.tool_calls_per_case
    ));
    s.push_str("\n## Severity (rows: expected, columns: answered)\n\n");
    let cols = ["INFO", "WARN", "ERROR", "CRITICAL", "none"];
    s.push_str(&format!(
        "| | {} |\n|---|{}\n",
        cols.join(" | "),
        "---|".repeat(cols.len())
    ));
    for row in ["INFO", "WARN", "ERROR", "CRITICAL"] {
        let r = m.severity_confusion.get(row);
        let cells: Vec<String> = cols
            .iter()
            .map(|c| r.and_then(|r| r.get(*c)).copied().unwrap_or(0).to_string())
            .collect();
        s.push_str(&format!("| {row} | {} |\n", cells.join(" | ")));
    }
    s.push_str("\n## Failure modes\n\n");
    let failures: Vec<&CaseScore> = scores.iter().filter(|c| c.failure.is_some()).collect();
    if failures.is_empty() {
        s.push_str("None.\n");
    }
    for f in failures {
        s.push_str(&format!(
            "- `{}`: {}\n",
            f.case,
            f.failure.as_deref().unwrap_or("")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Variant;
    use loglens_agents::{Finding, Severity};

    fn case(cause: &str) -> GoldenCase {
        serde_json::from_value(serde_json::json!({
            "id": "c", "origin": "real", "source": "s", "licence": "l", "question": "q",
            "logs": [{"line": "x"}],
            "expected": {"route": {"retrieval": "structured", "specialists": "infra"}, "cause": cause,
                "root_cause": "r", "severity": "CRITICAL", "component": "adservice",
                "error_signature": "e", "summary": "s", "action": "a"}
        }))
        .unwrap()
    }

    fn run(
        cause: Option<&str>,
        component: &str,
        severity: Severity,
        route: (&str, &str),
        ms: f64,
    ) -> CaseRun {
        CaseRun {
            case: "c".into(),
            variant: Variant::Evidence,
            route: Some((route.0.into(), route.1.into())),
            finding: cause.map(|c| Finding {
                cause: Some(c.into()),
                root_cause: "r".into(),
                severity,
                component: component.into(),
                error_signature: "e".into(),
                summary: "s".into(),
                action: "a".into(),
                evidence: vec![],
                confidence: 0.5,
            }),
            error: cause
                .is_none()
                .then(|| "model_unavailable: down".to_string()),
            latency_ms: ms,
            model_ms: 0.0,
            model_calls: 2,
            tokens: 100,
            tool_calls: 1,
        }
    }

    #[test]
    fn fields_are_scored_and_failures_explained() {
        let c = case("oom_killed");
        let good = score_case(
            &c,
            &run(
                Some("oom_killed"),
                "adservice-74c7f4c787-8g8cs",
                Severity::Critical,
                ("structured", "infra"),
                10.0,
            ),
        );
        assert!(good.cause && good.component && good.severity && good.route == Some(true));
        assert_eq!(good.failure, None);
        let bad = score_case(
            &c,
            &run(
                Some("connection_refused"),
                "frontend",
                Severity::Error,
                ("hybrid", "both"),
                30.0,
            ),
        );
        assert!(!bad.cause && !bad.component && !bad.severity);
        let why = bad.failure.clone().unwrap();
        assert!(
            why.contains("route hybrid/both, expected structured/infra")
                && why.contains("cause connection_refused"),
            "{why}"
        );
        let none = score_case(
            &c,
            &run(None, "", Severity::Info, ("structured", "infra"), 20.0),
        );
        assert!(
            !none.answered
                && none
                    .failure
                    .as_deref()
                    .unwrap()
                    .contains("model_unavailable")
        );

        let runs = [
            run(
                Some("oom_killed"),
                "adservice",
                Severity::Critical,
                ("structured", "infra"),
                10.0,
            ),
            run(Some("x"), "f", Severity::Error, ("hybrid", "both"), 30.0),
            run(None, "", Severity::Info, ("structured", "infra"), 20.0),
        ];
        let m = metrics(&[good, bad, none.clone()], &runs);
        assert_eq!(m.cases, 3);
        assert!((m.cause_accuracy - 1.0 / 3.0).abs() < 1e-9);
        assert!((m.answered - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(m.router_accuracy, Some(2.0 / 3.0));
        assert_eq!(m.severity_confusion["CRITICAL"]["ERROR"], 1);
        assert_eq!(m.severity_confusion["CRITICAL"]["none"], 1);
        assert_eq!((m.latency_ms.p50, m.latency_ms.p99), (20.0, 30.0));
        let md = markdown("evidence", &m, &[none]);
        assert!(
            md.contains("| cause accuracy | 33.3% |") && md.contains("## Failure modes"),
            "{md}"
        );
    }
}
