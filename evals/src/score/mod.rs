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
use std::collections::BTreeSet;

use loglens_agents::consensus::normalize_signature;
use loglens_agents::evidence::signatures::workload;
use serde::{Deserialize, Serialize};

use crate::case::GoldenCase;
use crate::replay::CaseRun;
use crate::text::{content_overlap, rouge_l};

mod metrics;
mod report;

pub use metrics::{DetailMetrics, Metrics, Percentiles, RetrievalMetrics, SourceMetrics, metrics};
pub use report::markdown;

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
            component_pair: (norm_component(&exp.diagnosis.component), "none".into()),
            severity_pair: (exp.diagnosis.severity.to_string(), "none".into()),
            detail_pair: exp.diagnosis.detail.clone().map(|d| (d, "none".into())),
            failure: Some(format!(
                "no answer: {}",
                run.error.as_deref().unwrap_or("unknown error")
            )),
            independent,
        };
    };
    let cause = f.cause.as_deref().unwrap_or("other") == exp.cause;
    let component = same_component(&f.diagnosis.component, &exp.diagnosis.component);
    let severity = f.diagnosis.severity == exp.diagnosis.severity;
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
    if let Some(want) = &exp.diagnosis.detail
        && cause
        && f.diagnosis.detail.as_ref() != Some(want)
    {
        wrong.push(format!(
            "detail {}, expected {want}",
            f.diagnosis.detail.as_deref().unwrap_or("none")
        ));
    }
    if !component {
        wrong.push(format!(
            "component {}, expected {}",
            f.diagnosis.component, exp.diagnosis.component
        ));
    }
    if !severity {
        wrong.push(format!(
            "severity {}, expected {}",
            f.diagnosis.severity, exp.diagnosis.severity
        ));
    }
    CaseScore {
        case: case.id.clone(),
        answered: true,
        cause,
        component,
        severity,
        route,
        signature: normalize_signature(&f.diagnosis.error_signature)
            == normalize_signature(&exp.diagnosis.error_signature),
        root_cause_overlap: content_overlap(&f.diagnosis.root_cause, &exp.diagnosis.root_cause),
        root_cause_similarity: None,
        summary_rouge_l: rouge_l(&f.diagnosis.summary, &exp.diagnosis.summary),
        retrieval,
        source,
        cause_pair: (
            exp.cause.clone(),
            f.cause.clone().unwrap_or_else(|| "other".into()),
        ),
        component_pair: (
            norm_component(&exp.diagnosis.component),
            norm_component(&f.diagnosis.component),
        ),
        severity_pair: (
            exp.diagnosis.severity.to_string(),
            f.diagnosis.severity.to_string(),
        ),
        detail_pair: exp.diagnosis.detail.clone().map(|d| {
            (
                d,
                f.diagnosis.detail.clone().unwrap_or_else(|| "none".into()),
            )
        }),
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

#[cfg(test)]
mod tests;
