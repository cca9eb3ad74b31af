//! Stored eval runs: the nightly eval's scores, and which run was the last good one.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use anyhow::Context;

use super::Store;

/// One stored eval run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRunRecord {
    /// `<UTC time>-<variant>`.
    pub id: String,
    /// When it ran.
    pub created_at: DateTime<Utc>,
    /// The variant (with options).
    pub variant: String,
    /// The model, for model-backed variants.
    pub model: Option<String>,
    /// Hash of the case ids.
    pub case_set: String,
    /// How many cases.
    pub cases: usize,
    /// The metrics (JSON).
    pub metrics: serde_json::Value,
    /// Per-case scores (JSON).
    pub scores: serde_json::Value,
    /// The run drift was measured against.
    pub compared_to: Option<String>,
    /// Metrics that drifted (JSON array).
    pub drift: serde_json::Value,
    /// Nothing drifted.
    pub good: bool,
    /// Where the report is.
    pub report_dir: String,
}

/// The columns eval-run reads select.
macro_rules! select_eval_runs {
    ($rest:literal) => {
        concat!(
            "SELECT id, created_at, variant, model, case_set, cases, metrics, scores, ",
            "compared_to, drift, good, report_dir FROM eval_runs ",
            $rest
        )
    };
}

impl Store {
    /// Writes one eval run.
    pub async fn insert_eval_run(&self, r: &EvalRunRecord) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO eval_runs (id, created_at, variant, model, case_set, cases, metrics, scores, \
             compared_to, drift, good, report_dir) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&r.id)
        .bind(r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(&r.variant)
        .bind(r.model.as_deref())
        .bind(&r.case_set)
        .bind(r.cases as i64)
        .bind(r.metrics.to_string())
        .bind(r.scores.to_string())
        .bind(r.compared_to.as_deref())
        .bind(r.drift.to_string())
        .bind(i64::from(r.good))
        .bind(&r.report_dir)
        .execute(&self.pool)
        .await
        .context("storing the eval run")?;
        Ok(())
    }

    /// One eval run by id.
    pub async fn eval_run(&self, id: &str) -> anyhow::Result<Option<EvalRunRecord>> {
        let row = sqlx::query(select_eval_runs!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading an eval run")?;
        row.map(|r| eval_from_row(&r)).transpose()
    }

    /// The newest good run of this variant over this case set: what drift is measured
    /// against.
    pub async fn last_good_eval_run(
        &self,
        variant: &str,
        case_set: &str,
    ) -> anyhow::Result<Option<EvalRunRecord>> {
        let row = sqlx::query(select_eval_runs!(
            "WHERE variant = $1 AND case_set = $2 AND good = 1 ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(variant)
        .bind(case_set)
        .fetch_optional(&self.pool)
        .await
        .context("finding the last good eval run")?;
        row.map(|r| eval_from_row(&r)).transpose()
    }

    /// The newest eval runs, newest first.
    pub async fn recent_eval_runs(&self, limit: i64) -> anyhow::Result<Vec<EvalRunRecord>> {
        let rows = sqlx::query(select_eval_runs!("ORDER BY created_at DESC LIMIT $1"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .context("listing eval runs")?;
        rows.iter().map(eval_from_row).collect()
    }
}

fn eval_from_row(r: &AnyRow) -> anyhow::Result<EvalRunRecord> {
    let created: String = r.try_get("created_at")?;
    let json = |c: &str| -> anyhow::Result<serde_json::Value> {
        let t: String = r.try_get(c)?;
        serde_json::from_str(&t).with_context(|| format!("eval_runs.{c} is not JSON"))
    };
    Ok(EvalRunRecord {
        id: r.try_get("id")?,
        created_at: DateTime::parse_from_rfc3339(&created)?.with_timezone(&Utc),
        variant: r.try_get("variant")?,
        model: r.try_get("model")?,
        case_set: r.try_get("case_set")?,
        cases: usize::try_from(r.try_get::<i64, _>("cases")?).unwrap_or(0),
        metrics: json("metrics")?,
        scores: json("scores")?,
        compared_to: r.try_get("compared_to")?,
        drift: json("drift")?,
        good: r.try_get::<i64, _>("good")? == 1,
        report_dir: r.try_get("report_dir")?,
    })
}
