//! The config file's shape: `loglens.toml` as written, every section and field optional
//! (unknown keys are an error, so a typo is caught), read with serde. What the fields mean
//! and how they combine with the environment and flags is [`super::Config::load`].
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use loglens_agents::specialist::{AnswerMode, ToolCalling};
use loglens_tools::redact::PseudonymKind;
use serde::Deserialize;

/// The config file, as written. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// The model server.
    pub model: ModelSection,
    /// Storage.
    pub database: DatabaseSection,
    /// Log sources.
    pub logs: LogsSection,
    /// The HTTP server.
    pub server: ServerSection,
    /// Grafana Loki.
    pub loki: LokiSection,
    /// `[agents]`.
    pub agents: AgentsSection,
    /// `[events]`.
    pub events: EventsSection,
    /// `[redaction]`.
    pub redaction: RedactionSection,
    /// `[eval]`.
    pub eval: EvalSection,
    /// `[embeddings]`.
    pub embeddings: EmbeddingsSection,
    /// `[vectors]`.
    pub vectors: VectorsSection,
    /// `[queue]`.
    pub queue: QueueSection,
    /// `[alerts]`.
    pub alerts: AlertsSection,
    /// `[slack]`.
    pub slack: SlackSection,
    /// `[webhook]`.
    pub webhook: WebhookSection,
}

/// `[queue]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSection {
    /// Investigation workers.
    pub workers: Option<usize>,
    /// Attempts per investigation.
    pub max_attempts: Option<u32>,
    /// Attempts per delivery.
    pub delivery_attempts: Option<u32>,
    /// Lease length.
    pub lease_secs: Option<u64>,
    /// First backoff.
    pub backoff_secs: Option<u64>,
    /// Longest backoff.
    pub max_backoff_secs: Option<u64>,
}

/// `[alerts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSection {
    /// Logs read before an alert started (`30m`).
    pub lookback: Option<String>,
    /// The pipeline investigations use.
    pub pipeline: Option<crate::analysis::PipelineMode>,
}

/// `[slack]`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackSection {
    /// Incoming webhook URL.
    pub webhook_url: Option<String>,
    /// Bot token.
    pub bot_token: Option<String>,
    /// Channel for alert reports.
    pub channel: Option<String>,
    /// Signing secret of the Slack app.
    pub signing_secret: Option<String>,
    /// Web API base URL.
    pub api_url: Option<String>,
    /// Window of Slack questions.
    pub since: Option<String>,
}

impl std::fmt::Debug for SlackSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackSection")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// `[webhook]`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSection {
    /// Where reports are POSTed.
    pub url: Option<String>,
    /// HMAC key.
    pub secret: Option<String>,
}

impl std::fmt::Debug for WebhookSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSection")
            .field("url", &self.url.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

/// `[embeddings]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingsSection {
    /// Server base URL.
    pub url: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Texts per request.
    pub batch: Option<usize>,
    /// Requests in flight.
    pub concurrency: Option<usize>,
    /// Seconds one request may take.
    pub timeout_secs: Option<u64>,
}

/// `[vectors]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VectorsSection {
    /// Embedded index file.
    pub path: Option<PathBuf>,
    /// Qdrant gRPC URL.
    pub qdrant_url: Option<String>,
    /// Qdrant collection.
    pub collection: Option<String>,
    /// `line` or `window:N`.
    pub chunking: Option<String>,
    /// Collapse repeats of a pattern.
    pub collapse: Option<bool>,
    /// Semantic hits fused.
    pub top_k: Option<usize>,
    /// Semantic hits below this similarity are dropped.
    pub min_similarity: Option<f32>,
    /// Chunks embedded per request at most.
    pub on_demand: Option<usize>,
}

/// `[eval]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Largest allowed absolute drop of a quality metric.
    pub drift_threshold: Option<f64>,
    /// Largest allowed relative rise of p95 latency.
    pub latency_drift: Option<f64>,
}

/// `[redaction]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionSection {
    /// Kinds of personal values replaced by placeholders before any model call.
    pub pseudonymize: Option<Vec<PseudonymKind>>,
    /// Whether the stored report gets the real values back.
    pub restore: Option<bool>,
}

/// `[agents]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsSection {
    /// Samples per specialist.
    pub samples: Option<usize>,
    /// Temperature of samples when there are several.
    pub sample_temperature: Option<f32>,
    /// Tool rounds per specialist.
    pub max_steps: Option<usize>,
    /// Cap on evidence-line tokens per prompt.
    pub evidence_tokens: Option<usize>,
    /// Tool calls per round.
    pub max_calls: Option<usize>,
    /// Timeout of one tool call, seconds.
    pub tool_timeout_secs: Option<u64>,
    /// `auto`, `schema` or `native`.
    pub tool_calling: Option<ToolCalling>,
    /// `auto`, `full` or `choose`.
    pub answer: Option<AnswerMode>,
}

/// `[events]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// Event files.
    pub paths: Vec<PathBuf>,
    /// Read the Kubernetes API (when no files are given).
    pub kubernetes: bool,
}

/// `[loki]`. Credentials come from the environment (LOGLENS_LOKI_TOKEN,
/// LOGLENS_LOKI_PASSWORD), never from the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LokiSection {
    /// Base URL.
    pub url: Option<String>,
    /// Tenant (X-Scope-OrgID).
    pub tenant: Option<String>,
    /// Basic-auth user.
    pub user: Option<String>,
}

/// `[model]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// Base URL of the model server.
    pub url: Option<String>,
    /// Model name.
    pub name: Option<String>,
    /// Seconds a call may take.
    pub timeout_secs: Option<u64>,
    /// Context window in tokens.
    pub context_tokens: Option<usize>,
    /// Most tokens per reply.
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// More llama.cpp sampling settings (`[model.sampling]`, e.g. `dry_multiplier = 0.8`).
    pub sampling: Option<toml::Table>,
}

/// `[database]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// sqlite:// or postgres:// URL.
    pub url: Option<String>,
}

/// `[logs]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSection {
    /// Files or directories.
    pub paths: Vec<PathBuf>,
    /// Longest line kept whole, in bytes.
    pub max_line_bytes: Option<usize>,
    /// Scan large files through a memory map (default true).
    pub memory_map: Option<bool>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Listen address.
    pub listen: Option<SocketAddr>,
    /// Require an API key on every request but probes and scrapes.
    pub require_api_key: Option<bool>,
    /// Trace link template with `{trace_id}`.
    pub trace_url: Option<String>,
    /// Analyses holding a model slot at once.
    pub max_concurrent_analyses: Option<usize>,
    /// HTTP analyses waiting for a slot before 429.
    pub max_queued_analyses: Option<usize>,
    /// Origins allowed to call the API from a browser (CORS); none by default.
    pub cors_origins: Option<Vec<String>>,
}

/// Reads and parses a config file.
pub(super) fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}
