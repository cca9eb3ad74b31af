//! Storage of analyses: SQLite by default, PostgreSQL in production, one code path.
//!
//! sqlx's `Any` driver runs the same queries on both; each backend has its own migration
//! folder (`migrations/sqlite`, `migrations/postgres`) so the schema can diverge later
//! where a backend has something better to offer. Every analysis is written as a single
//! INSERT once it has finished (or failed), so a row is either complete or absent: a
//! crash or a dead model server never leaves half a record.
use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use chrono::{DateTime, Utc};
use loglens_agents::{Finding, LineRef};
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};

use sqlx::{AnyPool, Row};

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

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path`.
    Sqlite,
    /// `postgres://...` or `postgresql://...`.
    Postgres,
}

impl FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!("database URL must start with sqlite:// or postgres://")
        }
    }
}

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

impl Store {
    /// Connects (creating a SQLite file and its folder if needed) and applies migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend: Backend = url.parse()?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 1 } else { 8 })
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        }
        .context("applying database migrations")?;
        Ok(Self { pool })
    }

    /// The connection pool (for the job queue, which keeps its own queries).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("database ping")?;
        Ok(())
    }

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

    /// Stores spans (a span already stored is kept as it was).
    pub async fn insert_spans(&self, spans: &[SpanRow]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await.context("storing trace spans")?;
        for s in spans {
            sqlx::query(
                "INSERT INTO trace_spans (trace_id, span_id, parent_span_id, name, kind, start_unix_ns, end_unix_ns, status, attributes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (trace_id, span_id) DO NOTHING",
            )
            .bind(&s.trace_id)
            .bind(&s.span_id)
            .bind(s.parent_span_id.as_deref())
            .bind(&s.name)
            .bind(&s.kind)
            .bind(s.start_unix_ns)
            .bind(s.end_unix_ns)
            .bind(&s.status)
            .bind(s.attributes.to_string())
            .execute(&mut *tx)
            .await
            .context("storing a trace span")?;
        }
        tx.commit().await.context("storing trace spans")?;
        Ok(())
    }

    /// The spans of one trace, in start order.
    pub async fn spans(&self, trace_id: &str) -> anyhow::Result<Vec<SpanRow>> {
        let rows = sqlx::query(
            "SELECT trace_id, span_id, parent_span_id, name, kind, start_unix_ns, end_unix_ns, status, attributes \
             FROM trace_spans WHERE trace_id = $1 ORDER BY start_unix_ns, span_id",
        )
        .bind(trace_id)
        .fetch_all(&self.pool)
        .await
        .context("reading trace spans")?;
        rows.iter()
            .map(|r| {
                Ok(SpanRow {
                    trace_id: r.try_get("trace_id")?,
                    span_id: r.try_get("span_id")?,
                    parent_span_id: r.try_get("parent_span_id")?,
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    start_unix_ns: r.try_get("start_unix_ns")?,
                    end_unix_ns: r.try_get("end_unix_ns")?,
                    status: r.try_get("status")?,
                    attributes: serde_json::from_str(&r.try_get::<String, _>("attributes")?)
                        .context("trace_spans.attributes is not JSON")?,
                })
            })
            .collect()
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

/// An API key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    /// Short id (safe to show).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Requests a minute.
    pub rate_per_minute: u32,
    /// When it was made.
    pub created_at: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// The prefix of every loglens API key (so a leaked one is recognizable in a scan).
pub const API_KEY_PREFIX: &str = "llk_";

/// The hex SHA-256 of a key, as stored. Keys are 244 random bits, so a fast hash is the
/// right one (nothing to brute-force); a slow password hash would only slow each request.
pub fn api_key_hash(key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

fn key_from_row(r: &AnyRow) -> anyhow::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        rate_per_minute: u32::try_from(r.try_get::<i64, _>("rate_per_minute")?.max(1))
            .unwrap_or(u32::MAX),
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    /// Makes a key; returns its record and the key, which is not kept and cannot be shown
    /// again.
    pub async fn create_api_key(
        &self,
        name: &str,
        rate_per_minute: u32,
    ) -> anyhow::Result<(ApiKeyRecord, String)> {
        let secret = format!(
            "{API_KEY_PREFIX}{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let record = ApiKeyRecord {
            id: secret[API_KEY_PREFIX.len()..API_KEY_PREFIX.len() + 8].to_string(),
            name: name.to_string(),
            rate_per_minute: rate_per_minute.max(1),
            created_at: Utc::now().to_rfc3339(),
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, name, hash, rate_per_minute, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&record.id)
        .bind(&record.name)
        .bind(api_key_hash(&secret))
        .bind(i64::from(record.rate_per_minute))
        .bind(&record.created_at)
        .execute(&self.pool)
        .await
        .context("storing the API key")?;
        Ok((record, secret))
    }

    /// Every key, newest first.
    pub async fn api_keys(&self) -> anyhow::Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, rate_per_minute, created_at, revoked_at FROM api_keys ORDER BY created_at DESC",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing API keys")?;
        rows.iter().map(key_from_row).collect()
    }

    /// The live (not revoked) key with this hash.
    pub async fn live_api_key(&self, hash: &str) -> anyhow::Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, name, rate_per_minute, created_at, revoked_at FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .context("looking up the API key")?;
        row.map(|r| key_from_row(&r)).transpose()
    }

    /// Revokes a key by id; false when no live key has it.
    pub async fn revoke_api_key(&self, id: &str) -> anyhow::Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(Utc::now().to_rfc3339())
                .bind(id)
                .execute(&self.pool)
                .await
                .context("revoking the API key")?;
        Ok(done.rows_affected() > 0)
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

/// Adds `mode=rwc` (create if missing) to a SQLite URL and creates the file's folder.
fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    if file != ":memory:"
        && let Some(parent) = Path::new(file).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let query = if query.contains("mode=") {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".into()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{file}?{query}"))
}

/// One stored span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRow {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// The parent's span id; `None` for a root (or a span whose parent is remote).
    pub parent_span_id: Option<String>,
    /// Span name (`chat SmolLM2`, `execute_tool logql_query`, ...).
    pub name: String,
    /// `internal`, `server`, `client`, ...
    pub kind: String,
    /// Start, ns since the Unix epoch.
    pub start_unix_ns: i64,
    /// End, ns since the Unix epoch.
    pub end_unix_ns: i64,
    /// `unset`, `ok` or `error: description`.
    pub status: String,
    /// Attributes as one JSON object.
    pub attributes: serde_json::Value,
}

impl SpanRow {
    /// Duration, ms.
    pub fn duration_ms(&self) -> f64 {
        (self.end_unix_ns - self.start_unix_ns) as f64 / 1e6
    }
}
