//! Active learning: people confirm or correct stored answers, uncertain answers are
//! flagged for their review, and what they confirmed or corrected becomes golden-case
//! candidates for the eval set.
//!
//! The loop: `GET /v1/review` lists recent answers that need a person (failed runs, low
//! confidence, specialists that disagreed) and have no feedback yet; `POST /v1/feedback`
//! records a verdict (`correct`, or `incorrect` with the corrected fields); `loglens
//! feedback export` writes each confirmed or corrected answer as a case in the golden
//! format (the lines the model saw as its logs, the person's answer as `expected`), for
//! review before it joins `golden/cases/`.
use anyhow::Context;
use chrono::Utc;
use loglens_agents::Diagnosis;
use loglens_agents::Severity;
use loglens_evals::case::{CaseLine, Expected, ExpectedRoute, GoldenCase, Origin};
use loglens_tools::logs::Scope;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::{AnalysisRecord, Store};

/// Below this confidence an answer is flagged for review.
pub const LOW_CONFIDENCE: f32 = 0.5;
/// Below this share of agreeing specialists an answer is flagged for review.
pub const LOW_AGREEMENT: f64 = 0.67;
/// Longest free-text field accepted, in characters.
pub const MAX_TEXT: usize = 2000;

/// A person's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The answer is right.
    Correct,
    /// The answer is wrong (a correction may say what is right).
    Incorrect,
}

/// The corrected fields of an answer; each is optional (only what was wrong).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// The known failure signature (`oom_killed`, ...), or `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Why it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    /// How bad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The component at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The failing message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_signature: Option<String>,
    /// What is going on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// What to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The lines that show the cause: their numbers (`n`) among the analysis's lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Vec<usize>>,
}

impl Correction {
    fn texts(&self) -> [(&'static str, Option<&String>); 6] {
        [
            ("cause", self.cause.as_ref()),
            ("root_cause", self.root_cause.as_ref()),
            ("component", self.component.as_ref()),
            ("error_signature", self.error_signature.as_ref()),
            ("summary", self.summary.as_ref()),
            ("action", self.action.as_ref()),
        ]
    }

    fn is_empty(&self) -> bool {
        self == &Correction::default()
    }
}

/// Feedback as stored.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FeedbackRecord {
    /// UUID.
    pub id: String,
    /// The analysis.
    pub analysis_id: String,
    /// When.
    pub created_at: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was wrong, corrected.
    pub correction: Option<Correction>,
    /// Free text.
    pub comment: Option<String>,
    /// The API key id, or `anonymous` / `cli`.
    pub author: String,
    /// When it was exported as a candidate.
    pub exported_at: Option<String>,
}

/// Feedback to record.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    /// The analysis it is about.
    pub analysis_id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What is right instead (with `incorrect`).
    #[serde(default)]
    pub correction: Option<Correction>,
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Why feedback was refused.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// No such analysis.
    #[error("no analysis {0}")]
    UnknownAnalysis(String),
    /// The feedback does not fit the analysis.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Checks feedback against its analysis; the message says what to fix.
pub fn check(f: &NewFeedback, a: &AnalysisRecord) -> Result<(), String> {
    if let Some(c) = &f.comment
        && c.chars().count() > MAX_TEXT
    {
        return Err(format!("comment is longer than {MAX_TEXT} characters"));
    }
    match (f.verdict, &f.correction) {
        (Verdict::Correct, Some(_)) => {
            return Err(
                "a correct answer needs no correction; send verdict incorrect to correct it".into(),
            );
        }
        (Verdict::Correct, None) if a.finding.is_none() => {
            return Err(format!(
                "analysis {} has no answer to confirm (status {}); send verdict incorrect with a correction",
                a.id, a.status
            ));
        }
        (Verdict::Incorrect, Some(c)) => {
            if c.is_empty() {
                return Err("the correction is empty: give the fields that were wrong".into());
            }
            for (name, v) in c.texts() {
                if let Some(v) = v {
                    if v.trim().is_empty() {
                        return Err(format!("correction.{name} is empty"));
                    }
                    if v.chars().count() > MAX_TEXT {
                        return Err(format!(
                            "correction.{name} is longer than {MAX_TEXT} characters"
                        ));
                    }
                }
            }
            if let Some(ev) = &c.evidence {
                let max = a.retrieved.len();
                if let Some(bad) = ev.iter().find(|&&n| n == 0 || n > max) {
                    return Err(format!(
                        "correction.evidence line {bad} is not one of the analysis's lines (1 to {max})"
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Why an answer needs a person, if it does: a failed run, low confidence, or
/// specialists that disagreed.
pub fn review_reason(a: &AnalysisRecord) -> Option<String> {
    if a.status != "ok" {
        return Some(format!("the run failed ({})", a.status));
    }
    let f = a.finding.as_ref()?;
    if f.confidence < LOW_CONFIDENCE {
        return Some(format!("low confidence ({:.2})", f.confidence));
    }
    let agreement = a
        .details
        .as_ref()
        .and_then(|d| d.pointer("/consensus/agreement"))
        .and_then(serde_json::Value::as_f64);
    if let Some(ag) = agreement
        && ag < LOW_AGREEMENT
    {
        return Some(format!("the specialists disagreed (agreement {ag:.2})"));
    }
    if f.evidence.is_empty() {
        return Some("the answer cites no evidence lines".into());
    }
    None
}

fn from_row(r: &AnyRow) -> anyhow::Result<FeedbackRecord> {
    let verdict: String = r.try_get("verdict")?;
    let correction: Option<String> = r.try_get("correction")?;
    Ok(FeedbackRecord {
        id: r.try_get("id")?,
        analysis_id: r.try_get("analysis_id")?,
        created_at: r.try_get("created_at")?,
        verdict: serde_json::from_value(serde_json::Value::String(verdict))
            .context("feedback.verdict")?,
        correction: correction
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .context("feedback.correction is not JSON")?,
        comment: r.try_get("comment")?,
        author: r.try_get("author")?,
        exported_at: r.try_get("exported_at")?,
    })
}

const COLUMNS: &str =
    "id, analysis_id, created_at, verdict, correction, comment, author, exported_at";

/// Feedback in the database.
#[derive(Debug, Clone)]
pub struct FeedbackStore {
    store: Store,
}

impl FeedbackStore {
    /// Over a store.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Checks and records feedback; returns the stored record.
    pub async fn record(
        &self,
        f: NewFeedback,
        author: &str,
    ) -> Result<FeedbackRecord, FeedbackError> {
        let a = self
            .store
            .get(&f.analysis_id)
            .await?
            .ok_or_else(|| FeedbackError::UnknownAnalysis(f.analysis_id.clone()))?;
        check(&f, &a).map_err(FeedbackError::Invalid)?;
        let record = FeedbackRecord {
            id: uuid::Uuid::new_v4().to_string(),
            analysis_id: a.id,
            created_at: Utc::now().to_rfc3339(),
            verdict: f.verdict,
            correction: f.correction,
            comment: f.comment,
            author: author.to_string(),
            exported_at: None,
        };
        let correction = record
            .correction
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(anyhow::Error::from)?;
        sqlx::query(
            "INSERT INTO feedback (id, analysis_id, created_at, verdict, correction, comment, author, exported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&record.id)
        .bind(&record.analysis_id)
        .bind(&record.created_at)
        .bind(match record.verdict {
            Verdict::Correct => "correct",
            Verdict::Incorrect => "incorrect",
        })
        .bind(correction)
        .bind(record.comment.clone())
        .bind(&record.author)
        .execute(self.store.pool())
        .await
        .context("storing feedback")?;
        Ok(record)
    }

    /// The feedback on one analysis, oldest first.
    pub async fn for_analysis(&self, analysis_id: &str) -> anyhow::Result<Vec<FeedbackRecord>> {
        let sql =
            format!("SELECT {COLUMNS} FROM feedback WHERE analysis_id = $1 ORDER BY created_at");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(analysis_id)
            .fetch_all(self.store.pool())
            .await
            .context("reading feedback")?;
        rows.iter().map(from_row).collect()
    }

    /// All feedback, newest first; only what was not exported yet when `pending`.
    pub async fn list(&self, pending: bool, limit: i64) -> anyhow::Result<Vec<FeedbackRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM feedback WHERE ($1 = 0 OR exported_at IS NULL) ORDER BY created_at DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(pending))
            .bind(limit.clamp(1, 10_000))
            .fetch_all(self.store.pool())
            .await
            .context("listing feedback")?;
        rows.iter().map(from_row).collect()
    }

    /// Marks feedback exported.
    pub async fn mark_exported(&self, id: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE feedback SET exported_at = $1 WHERE id = $2")
            .bind(Utc::now().to_rfc3339())
            .bind(id)
            .execute(self.store.pool())
            .await
            .context("marking feedback exported")?;
        Ok(())
    }

    /// Recent answers that need a person and have no feedback yet, newest first, with why.
    pub async fn to_review(&self, limit: usize) -> anyhow::Result<Vec<(AnalysisRecord, String)>> {
        let flagged: Vec<(AnalysisRecord, String)> = self
            .store
            .recent(500)
            .await?
            .into_iter()
            .filter_map(|a| review_reason(&a).map(|why| (a, why)))
            .collect();
        if flagged.is_empty() {
            return Ok(flagged);
        }
        // Which of them have feedback already: one query for all.
        let placeholders: Vec<String> = (1..=flagged.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT DISTINCT analysis_id FROM feedback WHERE analysis_id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (a, _) in &flagged {
            q = q.bind(a.id.clone());
        }
        let reviewed: std::collections::BTreeSet<String> = q
            .fetch_all(self.store.pool())
            .await
            .context("reading which answers have feedback")?
            .iter()
            .map(|r| r.try_get::<String, _>("analysis_id"))
            .collect::<Result<_, _>>()?;
        Ok(flagged
            .into_iter()
            .filter(|(a, _)| !reviewed.contains(&a.id))
            .take(limit)
            .collect())
    }
}

/// The golden-case candidate a piece of feedback makes: the lines the model saw as the
/// case's logs, the confirmed answer (or the answer with the person's corrections) as
/// `expected`. `None` for an `incorrect` verdict without a correction (nothing to learn
/// the right answer from) or an analysis without the fields a case needs.
pub fn candidate(f: &FeedbackRecord, a: &AnalysisRecord) -> Option<GoldenCase> {
    let finding = a.finding.as_ref();
    let c = match (f.verdict, &f.correction) {
        (Verdict::Correct, _) => Correction::default(),
        (Verdict::Incorrect, Some(c)) => c.clone(),
        (Verdict::Incorrect, None) => return None,
    };
    let pick = |corrected: &Option<String>, found: Option<&String>| {
        corrected.clone().or_else(|| found.cloned())
    };
    let root_cause = pick(&c.root_cause, finding.map(|x| &x.diagnosis.root_cause))?;
    let component = pick(&c.component, finding.map(|x| &x.diagnosis.component))?;
    let severity = c.severity.or(finding.map(|x| x.diagnosis.severity))?;
    let logs: Vec<CaseLine> = a
        .retrieved
        .iter()
        .map(|l| CaseLine::new(l.timestamp, &l.labels, &l.text))
        .collect();
    // Evidence: the corrected line numbers, else the answer's; as indexes into logs.
    let numbers: Vec<usize> = match &c.evidence {
        Some(ns) => ns.clone(),
        None => finding
            .map(|x| x.evidence.iter().map(|l| l.n).collect())
            .unwrap_or_default(),
    };
    let evidence = numbers
        .iter()
        .filter_map(|n| a.retrieved.iter().position(|l| l.n == *n))
        .collect();
    let route = a.details.as_ref().and_then(|d| d.get("route"));
    let text = |k: &str| {
        route
            .and_then(|r| r.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let filters: Scope = serde_json::from_value(a.filters.clone()).unwrap_or_default();
    Some(GoldenCase {
        id: format!(
            "feedback/{}",
            &a.id
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(12)
                .collect::<String>()
                .to_ascii_lowercase()
        ),
        origin: Origin::Real,
        source: format!(
            "loglens feedback {} ({}) on analysis {}",
            f.id,
            match f.verdict {
                Verdict::Correct => "confirmed",
                Verdict::Incorrect => "corrected",
            },
            a.id
        ),
        licence: "the homelab's own logs (not for redistribution)".into(),
        question: a.question.clone(),
        // A case's scope is its labels (the replay sets the window from its lines).
        filters: Scope {
            namespace: filters.namespace,
            pod: filters.pod,
            container: filters.container,
            node: filters.node,
            ..Scope::default()
        },
        logs,
        events: Vec::new(),
        state: Default::default(),
        expected: Expected {
            route: ExpectedRoute {
                retrieval: text("retrieval")
                    .filter(|r| r == "hybrid")
                    .unwrap_or_else(|| "structured".into()),
                specialists: text("specialists")
                    .filter(|s| ["infra", "app", "both"].contains(&s.as_str()))
                    .unwrap_or_else(|| "both".into()),
            },
            cause: pick(&c.cause, finding.and_then(|x| x.cause.as_ref()))
                .unwrap_or_else(|| "other".into()),
            diagnosis: Diagnosis {
                root_cause,
                severity,
                component,
                detail: None,
                error_signature: pick(
                    &c.error_signature,
                    finding.map(|x| &x.diagnosis.error_signature),
                )
                .unwrap_or_default(),
                summary: pick(&c.summary, finding.map(|x| &x.diagnosis.summary))
                    .unwrap_or_default(),
                action: pick(&c.action, finding.map(|x| &x.diagnosis.action)).unwrap_or_default(),
            },
            evidence,
        },
        tags: vec!["feedback".into(), "candidate".into()],
    })
}
