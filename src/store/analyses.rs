//! Stored analyses: one row per answer, written once it is complete.
use chrono::{DateTime, Utc};
use loglens_agents::{Finding, LineRef};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use anyhow::Context;

use super::Store;

/// The columns every read selects (a macro so queries stay `&'static str`, as sqlx wants).
macro_rules! select_analyses {
    ($rest:literal) => {
        concat!(
            "SELECT id, created_at, channel, question, filters, retrieved, matched_lines, finding, model, ",
            "prompt_version, status, error, latency_ms, model_ms, model_calls, prompt_tokens, completion_tokens, ",
            "tokens_per_second, pipeline, details, trace_id FROM analyses ",
            $rest
        )
    };
}

/// A stored analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnalysisRecord {
    /// UUID.
    pub id: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// Where it came from: `cli`, `http` or `http-stream`.
    pub channel: String,
    /// The question.
    pub question: String,
    /// The filters, as given.
    pub filters: serde_json::Value,
    /// The lines sent to the model.
    pub retrieved: Vec<LineRef>,
    /// How many lines matched before the budget.
    pub matched_lines: u64,
    /// The answer, when `status` is `ok`.
    pub finding: Option<Finding>,
    /// The model name.
    pub model: String,
    /// The prompt version.
    pub prompt_version: String,
    /// `ok`, or the error code.
    pub status: String,
    /// The error message, when not `ok`.
    pub error: Option<String>,
    /// Wall time of the analysis, ms.
    pub latency_ms: f64,
    /// Wall time with a model server call in flight (tokenizer and completions; parallel
    /// calls counted once), ms.
    pub model_ms: f64,
    /// Number of model calls.
    pub model_calls: u64,
    /// Prompt tokens, all calls.
    pub prompt_tokens: u64,
    /// Generated tokens, all calls.
    pub completion_tokens: u64,
    /// Generation speed reported by the server (last call).
    pub tokens_per_second: f64,
    /// `agents` or `baseline`.
    #[serde(default = "baseline_name")]
    pub pipeline: String,
    /// For agent runs: route, path, candidates, patterns, opinions, tool calls, votes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// The trace the analysis ran in (`loglens trace ID`, or Tempo), when traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

fn baseline_name() -> String {
    "baseline".into()
}

impl Store {
    /// Writes one analysis.
    pub async fn insert(&self, r: &AnalysisRecord) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO analyses (id, created_at, channel, question, filters, retrieved, matched_lines, finding, model, \
             prompt_version, status, error, latency_ms, model_ms, model_calls, prompt_tokens, completion_tokens, tokens_per_second, \
             pipeline, details, trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        )
        .bind(&r.id)
        .bind(r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(&r.channel)
        .bind(&r.question)
        .bind(r.filters.to_string())
        .bind(serde_json::to_string(&r.retrieved)?)
        .bind(r.matched_lines as i64)
        .bind(r.finding.as_ref().map(serde_json::to_string).transpose()?)
        .bind(&r.model)
        .bind(&r.prompt_version)
        .bind(&r.status)
        .bind(r.error.as_deref())
        .bind(r.latency_ms)
        .bind(r.model_ms)
        .bind(r.model_calls as i64)
        .bind(r.prompt_tokens as i64)
        .bind(r.completion_tokens as i64)
        .bind(r.tokens_per_second)
        .bind(&r.pipeline)
        .bind(r.details.as_ref().map(serde_json::Value::to_string))
        .bind(r.trace_id.as_deref())
        .execute(&self.pool)
        .await
        .context("storing the analysis")?;
        Ok(())
    }

    /// Reads one analysis by id.
    pub async fn get(&self, id: &str) -> anyhow::Result<Option<AnalysisRecord>> {
        let row = sqlx::query(select_analyses!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading an analysis")?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// The analysis that ran in trace `trace_id`.
    pub async fn analysis_by_trace(
        &self,
        trace_id: &str,
    ) -> anyhow::Result<Option<AnalysisRecord>> {
        let row = sqlx::query(select_analyses!("WHERE trace_id = $1"))
            .bind(trace_id)
            .fetch_optional(&self.pool)
            .await
            .context("reading an analysis by trace id")?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// The most recent analyses, newest first.
    pub async fn recent(&self, limit: i64) -> anyhow::Result<Vec<AnalysisRecord>> {
        let rows = sqlx::query(select_analyses!("ORDER BY created_at DESC LIMIT $1"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .context("listing analyses")?;
        rows.iter().map(from_row).collect()
    }
}

fn from_row(r: &AnyRow) -> anyhow::Result<AnalysisRecord> {
    let created: String = r.try_get("created_at")?;
    let finding: Option<String> = r.try_get("finding")?;
    Ok(AnalysisRecord {
        id: r.try_get("id")?,
        created_at: DateTime::parse_from_rfc3339(&created)?.with_timezone(&Utc),
        channel: r.try_get("channel")?,
        question: r.try_get("question")?,
        filters: serde_json::from_str(&r.try_get::<String, _>("filters")?)?,
        retrieved: serde_json::from_str(&r.try_get::<String, _>("retrieved")?)?,
        matched_lines: r.try_get::<i64, _>("matched_lines")? as u64,
        finding: finding.map(|f| serde_json::from_str(&f)).transpose()?,
        model: r.try_get("model")?,
        prompt_version: r.try_get("prompt_version")?,
        status: r.try_get("status")?,
        error: r.try_get("error")?,
        latency_ms: r.try_get("latency_ms")?,
        model_ms: r.try_get("model_ms")?,
        model_calls: r.try_get::<i64, _>("model_calls")? as u64,
        prompt_tokens: r.try_get::<i64, _>("prompt_tokens")? as u64,
        completion_tokens: r.try_get::<i64, _>("completion_tokens")? as u64,
        tokens_per_second: r.try_get("tokens_per_second")?,
        pipeline: r.try_get("pipeline")?,
        details: r
            .try_get::<Option<String>, _>("details")?
            .map(|d| serde_json::from_str(&d))
            .transpose()?,
        trace_id: r.try_get("trace_id")?,
    })
}
