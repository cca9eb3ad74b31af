//! The run's metrics from its cases' scores: accuracy, macro precision/recall/F1 per
//! field, retrieval, latency percentiles, by source and by detail.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CaseScore, FieldScore, RetrievalScore, SEMANTIC_MATCH, field_score};
use crate::replay::CaseRun;
use crate::text::MATCH_THRESHOLD;

/// Retrieval averaged over the cases that name evidence lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    /// Cases with evidence lines.
    pub cases: usize,
    /// Mean precision.
    pub precision: f64,
    /// Mean recall.
    pub recall: f64,
    /// Mean reciprocal rank.
    pub mrr: f64,
    /// Mean NDCG@10.
    pub ndcg: f64,
}

/// Accuracy on one source's cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceMetrics {
    /// Cases.
    pub cases: usize,
    /// Cause accuracy.
    pub cause: f64,
    /// Component accuracy.
    pub component: f64,
    /// Severity accuracy.
    pub severity: f64,
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
    /// Error-signature accuracy (normalized, exact).
    #[serde(default)]
    pub signature_accuracy: f64,
    /// Share whose root cause matches by content words.
    #[serde(default)]
    pub root_cause_match: f64,
    /// Mean summary ROUGE-L F1.
    #[serde(default)]
    pub summary_rouge_l: f64,
    /// Share whose root cause matches by meaning (embedding cosine at least
    /// [`SEMANTIC_MATCH`]; unanswered cases count as misses); `None` without `--semantic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause_semantic: Option<f64>,
    /// Macro precision/recall/F1 per field: `cause`, `severity`, `component`.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldScore>,
    /// Retrieval against the evidence lines.
    #[serde(default)]
    pub retrieval: RetrievalMetrics,
    /// Accuracy per source.
    #[serde(default)]
    pub by_source: BTreeMap<String, SourceMetrics>,
    /// The independently labelled cases (benchmark and hand labels): the headline.
    #[serde(default)]
    pub headline: SourceMetrics,
    /// The independently labelled cases by expected cause.
    #[serde(default)]
    pub by_cause: BTreeMap<String, SourceMetrics>,
    /// Share of the cases labelled with a detail whose answer has the right cause and
    /// detail; `None` when no case has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_accuracy: Option<f64>,
    /// The cases labelled with a detail, by expected `cause / detail`: cases, right cause,
    /// right cause and detail.
    #[serde(default)]
    pub by_detail: BTreeMap<String, DetailMetrics>,
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
    /// Share of the tool calls that ran (the rest were refused or failed); none without
    /// tool calls.
    #[serde(default)]
    pub tool_calls_ran: Option<f64>,
    /// Mean lines per case the tools gave the model that the evidence had not shown.
    #[serde(default)]
    pub tool_new_lines_per_case: f64,
}

/// Accuracy on one `cause / detail` class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetailMetrics {
    /// Cases of the class.
    pub cases: usize,
    /// Cases with the right cause.
    pub cause: usize,
    /// Cases with the right cause and detail.
    pub detail: usize,
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
    let mut fields = BTreeMap::new();
    for (name, pairs) in [
        (
            "cause",
            scores
                .iter()
                .map(|s| s.cause_pair.clone())
                .collect::<Vec<_>>(),
        ),
        (
            "severity",
            scores.iter().map(|s| s.severity_pair.clone()).collect(),
        ),
        (
            "component",
            scores.iter().map(|s| s.component_pair.clone()).collect(),
        ),
    ] {
        fields.insert(name.to_string(), field_score(&pairs));
    }
    let rs: Vec<RetrievalScore> = scores.iter().filter_map(|s| s.retrieval).collect();
    let rmean =
        |f: &dyn Fn(&RetrievalScore) -> f64| rs.iter().map(f).sum::<f64>() / rs.len().max(1) as f64;
    let by_source = group(scores.iter(), |s| Some(s.source.clone()));
    let independent = scores.iter().filter(|s| s.independent);
    let headline = group(independent.clone(), |_| Some(String::new()))
        .remove("")
        .unwrap_or_default();
    let by_cause = group(independent, |s| Some(s.cause_pair.0.clone()));
    let mut by_detail: BTreeMap<String, DetailMetrics> = BTreeMap::new();
    for s in scores {
        if let Some((want, got)) = &s.detail_pair {
            let m = by_detail
                .entry(format!("{} / {want}", s.cause_pair.0))
                .or_default();
            m.cases += 1;
            m.cause += usize::from(s.cause);
            m.detail += usize::from(s.cause && want == got);
        }
    }
    let labelled: usize = by_detail.values().map(|m| m.cases).sum();
    let detail_accuracy = (labelled > 0)
        .then(|| by_detail.values().map(|m| m.detail).sum::<usize>() as f64 / labelled as f64);
    Metrics {
        detail_accuracy,
        by_detail,
        signature_accuracy: share(&|s| s.signature),
        root_cause_match: share(&|s| s.root_cause_overlap >= MATCH_THRESHOLD),
        root_cause_semantic: scores
            .iter()
            .any(|s| s.root_cause_similarity.is_some())
            .then(|| share(&|s| s.root_cause_similarity.is_some_and(|x| x >= SEMANTIC_MATCH))),
        summary_rouge_l: scores.iter().map(|s| s.summary_rouge_l).sum::<f64>() / n as f64,
        fields,
        retrieval: RetrievalMetrics {
            cases: rs.len(),
            precision: rmean(&|r| r.precision),
            recall: rmean(&|r| r.recall),
            mrr: rmean(&|r| r.reciprocal_rank),
            ndcg: rmean(&|r| r.ndcg),
        },
        by_source,
        headline,
        by_cause,
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
        tool_calls_ran: {
            let all: usize = runs.iter().map(|r| r.tool_calls).sum();
            let ok: usize = runs.iter().map(|r| r.tool_calls_ok).sum();
            (all > 0).then(|| ok as f64 / all as f64)
        },
        tool_new_lines_per_case: mean(&|r| r.tool_lines_new as f64),
    }
}

/// Accuracy per group of cases (`key` names the group; `None` leaves a case out).
fn group<'a>(
    scores: impl Iterator<Item = &'a CaseScore>,
    key: impl Fn(&CaseScore) -> Option<String>,
) -> BTreeMap<String, SourceMetrics> {
    let mut out: BTreeMap<String, SourceMetrics> = BTreeMap::new();
    for s in scores {
        let Some(k) = key(s) else { continue };
        let m = out.entry(k).or_default();
        m.cases += 1;
        m.cause += f64::from(u8::from(s.cause));
        m.component += f64::from(u8::from(s.component));
        m.severity += f64::from(u8::from(s.severity));
    }
    for m in out.values_mut() {
        let n = m.cases.max(1) as f64;
        m.cause /= n;
        m.component /= n;
        m.severity /= n;
    }
    out
}
