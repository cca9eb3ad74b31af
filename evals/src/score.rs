//! Scores: each case's fields against the ground truth, and the run's metrics.
//!
//! - **cause**: the chosen signature id equals the expected one (exact; `other` counts
//!   only against `other`);
//! - **component**: equal after lower-casing and reducing pod names to their workload
//!   (`adservice-74c7f4c787-8g8cs` is `adservice`);
//! - **severity**: equal; all pairs go into a confusion matrix;
//! - **route**: retrieval and specialists both as expected;
//! - **error signature**: equal after normalization (lower case, digits masked, spaces
//!   collapsed: the consensus step's rule);
//! - **root-cause match**: the answer's root cause against the expected one by
//!   content-word overlap ([`crate::text`]);
//! - **summary ROUGE-L** against the expected summary;
//! - **retrieval** against the case's evidence lines: precision and recall of the lines
//!   the pipeline retrieved, and MRR and NDCG@10 of the answer's ranking (the lines it
//!   cites first, in citation order, then the rest it retrieved);
//! - latency p50/p95/p99, tokens and tool calls per case.
//!
//! Field-level precision, recall and F1 (cause, severity, component) are macro averages
//! over the classes: for each class, precision is how many answers of that class were
//! right, recall how many cases of that class were answered right; an unanswered case
//! counts against recall. Metrics are also broken down by source (`cloudopsbench`,
//! `holmesgpt`, `loghub`, `synthetic`, ...), so auto-labelled cases can be read apart
//! from hand-labelled ones.
//!
//! A **failure mode** says why a case went wrong: no answer (and the error), wrong route,
//! or which fields differ.
use std::collections::{BTreeMap, BTreeSet};

use loglens_agents::consensus::normalize_signature;
use loglens_agents::evidence::signatures::workload;
use serde::{Deserialize, Serialize};

use crate::case::GoldenCase;
use crate::replay::CaseRun;
use crate::text::{MATCH_THRESHOLD, content_overlap, rouge_l};

/// Embedding cosine at or above which two root causes say the same thing. Measured with
/// all-MiniLM-L6-v2: "the pool of database connections ran out" / "postgres connection
/// pool exhausted" 0.67; "cart service cannot reach redis" / "Redis host ... does not
/// resolve; cart storage unavailable" 0.81; jargon it does not know ("container killed
/// for exceeding its memory limit" / "OOMKilled: checkout exceeded 512Mi") 0.48; unrelated
/// causes 0.03-0.24.
pub const SEMANTIC_MATCH: f64 = 0.5;

/// NDCG is taken over this many ranks.
pub const NDCG_K: usize = 10;

/// How well one case's lines were found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrievalScore {
    /// Share of retrieved lines that are evidence.
    pub precision: f64,
    /// Share of evidence lines retrieved.
    pub recall: f64,
    /// 1 / rank of the first evidence line in the answer's ranking (0 if none).
    pub reciprocal_rank: f64,
    /// NDCG@10 of the answer's ranking, binary relevance.
    pub ndcg: f64,
}

/// Scores retrieval against the expected evidence lines; `None` when the case names none.
pub fn retrieval_score(
    evidence: &[usize],
    retrieved: &[usize],
    cited: &[usize],
) -> Option<RetrievalScore> {
    if evidence.is_empty() {
        return None;
    }
    let relevant: BTreeSet<usize> = evidence.iter().copied().collect();
    let got: BTreeSet<usize> = retrieved.iter().chain(cited).copied().collect();
    let hits = got.intersection(&relevant).count() as f64;
    // The answer's ranking: cited lines first, then the rest retrieved.
    let mut ranking: Vec<usize> = Vec::new();
    for i in cited.iter().chain(retrieved) {
        if !ranking.contains(i) {
            ranking.push(*i);
        }
    }
    let reciprocal_rank = ranking
        .iter()
        .position(|i| relevant.contains(i))
        .map_or(0.0, |p| 1.0 / (p as f64 + 1.0));
    let gain = |rank: usize| 1.0 / ((rank as f64) + 2.0).log2();
    let dcg: f64 = ranking
        .iter()
        .take(NDCG_K)
        .enumerate()
        .filter(|(_, i)| relevant.contains(i))
        .map(|(r, _)| gain(r))
        .sum();
    let ideal: f64 = (0..relevant.len().min(NDCG_K)).map(gain).sum();
    Some(RetrievalScore {
        precision: if got.is_empty() {
            0.0
        } else {
            hits / got.len() as f64
        },
        recall: hits / relevant.len() as f64,
        reciprocal_rank,
        ndcg: if ideal > 0.0 { dcg / ideal } else { 0.0 },
    })
}

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
    /// Error signature equal after normalization.
    #[serde(default)]
    pub signature: bool,
    /// Content-word overlap of the root causes, in [0, 1].
    #[serde(default)]
    pub root_cause_overlap: f64,
    /// Summary ROUGE-L F1.
    #[serde(default)]
    pub summary_rouge_l: f64,
    /// Cosine similarity of the root causes' embeddings (`--semantic`; `None` without).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause_similarity: Option<f64>,
    /// Retrieval against the evidence lines (`None` when the case names none).
    #[serde(default)]
    pub retrieval: Option<RetrievalScore>,
    /// Where the case comes from (the first part of its id).
    #[serde(default)]
    pub source: String,
    /// `(expected, got)` cause.
    #[serde(default)]
    pub cause_pair: (String, String),
    /// `(expected, got)` component, normalized.
    #[serde(default)]
    pub component_pair: (String, String),
    /// `(expected, got)` severity.
    pub severity_pair: (String, String),
    /// `(expected, got)` detail of the cause (`untolerated_taint`), for a case labelled
    /// with one; `got` is `none` when the answer names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_pair: Option<(String, String)>,
    /// Why it went wrong, if it did.
    pub failure: Option<String>,
    /// Labelled by someone other than loglens's own rules or templates (a benchmark, a
    /// person): the cases the headline is over.
    #[serde(default)]
    pub independent: bool,
}

/// Scores one run of one case.
pub fn score_case(case: &GoldenCase, run: &CaseRun) -> CaseScore {
    let exp = &case.expected;
    let route = run
        .route
        .as_ref()
        .map(|(r, s)| *r == exp.route.retrieval && *s == exp.route.specialists);
    let source = case.id.split('/').next().unwrap_or("").to_string();
    let retrieval = retrieval_score(&exp.evidence, &run.retrieved, &run.cited);
    let independent =
        case.origin == crate::case::Origin::Real && !case.tags.iter().any(|t| t == "auto-labelled");
    let Some(f) = &run.finding else {
        return CaseScore {
            case: case.id.clone(),
            answered: false,
            cause: false,
            component: false,
            severity: false,
            route,
            signature: false,
            root_cause_overlap: 0.0,
            root_cause_similarity: None,
            summary_rouge_l: 0.0,
            retrieval,
            source,
            cause_pair: (exp.cause.clone(), "none".into()),
            component_pair: (norm_component(&exp.component), "none".into()),
            severity_pair: (exp.severity.to_string(), "none".into()),
            detail_pair: exp.detail.clone().map(|d| (d, "none".into())),
            failure: Some(format!(
                "no answer: {}",
                run.error.as_deref().unwrap_or("unknown error")
            )),
            independent,
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
    if let Some(r) = retrieval
        && r.recall == 0.0
    {
        wrong.push("evidence lines not retrieved".to_string());
    }
    if !cause {
        wrong.push(format!(
            "cause {}, expected {}",
            f.cause.as_deref().unwrap_or("other"),
            exp.cause
        ));
    }
    if let Some(want) = &exp.detail
        && cause
        && f.detail.as_ref() != Some(want)
    {
        wrong.push(format!(
            "detail {}, expected {want}",
            f.detail.as_deref().unwrap_or("none")
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
        signature: normalize_signature(&f.error_signature)
            == normalize_signature(&exp.error_signature),
        root_cause_overlap: content_overlap(&f.root_cause, &exp.root_cause),
        root_cause_similarity: None,
        summary_rouge_l: rouge_l(&f.summary, &exp.summary),
        retrieval,
        source,
        cause_pair: (
            exp.cause.clone(),
            f.cause.clone().unwrap_or_else(|| "other".into()),
        ),
        component_pair: (norm_component(&exp.component), norm_component(&f.component)),
        severity_pair: (exp.severity.to_string(), f.severity.to_string()),
        detail_pair: exp
            .detail
            .clone()
            .map(|d| (d, f.detail.clone().unwrap_or_else(|| "none".into()))),
        failure: (!wrong.is_empty()).then(|| wrong.join("; ")),
        independent,
    }
}

/// A component as its workload: ReplicaSet hashes and pod suffixes removed
/// (`adservice-74c7f4c787-8g8cs` → `adservice`).
fn norm_component(s: &str) -> String {
    workload(s.trim()).to_lowercase()
}

/// Without a StatefulSet pod's ordinal (`alertmanager-0` → `alertmanager`).
fn without_ordinal(s: &str) -> Option<&str> {
    let (head, ordinal) = s.rsplit_once('-')?;
    (!head.is_empty() && !ordinal.is_empty() && ordinal.len() <= 3)
        .then_some(())
        .filter(|()| ordinal.bytes().all(|b| b.is_ascii_digit()))
        .map(|()| head)
}

/// Components compare as workloads; a StatefulSet pod (`alertmanager-0`) is its set
/// (`alertmanager`), while two numbered names (`worker-01`, `worker-02`) stay apart.
fn same_component(got: &str, want: &str) -> bool {
    let (got, want) = (norm_component(got), norm_component(want));
    got == want
        || without_ordinal(&got) == Some(want.as_str())
        || without_ordinal(&want) == Some(got.as_str())
}

/// Macro-averaged precision, recall and F1 of one field, and its accuracy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldScore {
    /// Macro precision over the classes answered.
    pub precision: f64,
    /// Macro recall over the classes expected.
    pub recall: f64,
    /// Macro F1 over every class seen (expected or answered).
    pub f1: f64,
    /// Share of cases right.
    pub accuracy: f64,
}

/// Field scores from `(expected, got)` pairs; `got == "none"` is an unanswered case.
pub fn field_score(pairs: &[(String, String)]) -> FieldScore {
    if pairs.is_empty() {
        return FieldScore::default();
    }
    let classes: BTreeSet<&str> = pairs
        .iter()
        .flat_map(|(e, g)| [e.as_str(), g.as_str()])
        .filter(|c| *c != "none")
        .collect();
    let (mut ps, mut rs, mut fs) = (Vec::new(), Vec::new(), Vec::new());
    for c in classes {
        let tp = pairs.iter().filter(|(e, g)| e == c && g == c).count() as f64;
        let predicted = pairs.iter().filter(|(_, g)| g == c).count() as f64;
        let actual = pairs.iter().filter(|(e, _)| e == c).count() as f64;
        let p = if predicted > 0.0 { tp / predicted } else { 0.0 };
        let r = if actual > 0.0 { tp / actual } else { 0.0 };
        if predicted > 0.0 {
            ps.push(p);
        }
        if actual > 0.0 {
            rs.push(r);
        }
        fs.push(if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        });
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    FieldScore {
        precision: mean(&ps),
        recall: mean(&rs),
        f1: mean(&fs),
        accuracy: pairs.iter().filter(|(e, g)| e == g).count() as f64 / pairs.len() as f64,
    }
}

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

/// The run as Markdown: the metrics table, per-field and per-source tables, the severity
/// confusion matrix, and the failure modes (counted by kind, then case by case).
pub fn markdown(variant: &str, m: &Metrics, scores: &[CaseScore]) -> String {
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
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
    s.push_str(&detail_table(&m.by_detail));
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
    s.push_str("\n## Failure modes\n\n");
    let failures: Vec<&CaseScore> = scores.iter().filter(|c| c.failure.is_some()).collect();
    if failures.is_empty() {
        s.push_str("None.\n");
        return s;
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
    s
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
                detail: None,
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
            tool_calls_ok: usize::from(cause.is_some()),
            tool_lines_new: 2,
            retrieved: vec![0, 1, 2],
            cited: vec![2],
            trace_id: None,
        }
    }

    #[test]
    fn components_compare_as_workloads() {
        assert!(same_component("alertmanager-0", "alertmanager"));
        assert!(same_component("adservice-74c7f4c787-8g8cs", "adservice"));
        assert!(same_component("worker-01", "worker-01"));
        assert!(!same_component("worker-01", "worker-02"));
        assert!(!same_component("db-0", "db-1"));
    }

    #[test]
    fn retrieval_is_scored_against_the_evidence_lines() {
        // Evidence: lines 2 and 5. Retrieved 0..4, cited 2 first.
        let r = retrieval_score(&[2, 5], &[0, 1, 2, 3], &[2]).unwrap();
        assert!((r.precision - 0.25).abs() < 1e-9);
        assert!((r.recall - 0.5).abs() < 1e-9);
        assert!((r.reciprocal_rank - 1.0).abs() < 1e-9);
        // One of two relevant lines at rank 1: DCG 1, IDCG 1 + 1/log2(3).
        let ideal = 1.0 + 1.0 / 3f64.log2();
        assert!((r.ndcg - 1.0 / ideal).abs() < 1e-9);
        // Cited nothing relevant: the first relevant line is where retrieval put it.
        let r = retrieval_score(&[3], &[0, 1, 2, 3], &[0]).unwrap();
        assert!((r.reciprocal_rank - 0.25).abs() < 1e-9);
        assert_eq!(retrieval_score(&[3], &[], &[]).unwrap().recall, 0.0);
        assert_eq!(retrieval_score(&[], &[1], &[1]), None);
    }

    #[test]
    fn field_scores_are_macro_averages() {
        let p = |e: &str, g: &str| (e.to_string(), g.to_string());
        // a: 2 cases, 1 right; b: 1 case, right; one "a" answered as b.
        let f = field_score(&[p("a", "a"), p("a", "b"), p("b", "b")]);
        // precision: a 1/1, b 1/2 → 0.75; recall: a 1/2, b 1/1 → 0.75.
        assert!((f.precision - 0.75).abs() < 1e-9);
        assert!((f.recall - 0.75).abs() < 1e-9);
        assert!((f.accuracy - 2.0 / 3.0).abs() < 1e-9);
        // Unanswered counts against recall only.
        let f = field_score(&[p("a", "a"), p("a", "none")]);
        assert!((f.precision - 1.0).abs() < 1e-9 && (f.recall - 0.5).abs() < 1e-9);
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
        // Two of the three tool calls ran (the unanswered case's did not); two new lines
        // per case.
        assert_eq!(m.tool_calls_ran, Some(2.0 / 3.0));
        assert!((m.tool_new_lines_per_case - 2.0).abs() < 1e-9);
        let md = markdown("evidence", &m, &[none]);
        assert!(
            md.contains("| tool calls that ran; new lines they gave per case | 66.7%; 2.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| cause accuracy | 33.3% |") && md.contains("## Failure modes"),
            "{md}"
        );
    }
}
