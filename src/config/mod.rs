//! Configuration: defaults, then the config file, then environment variables and flags.
//!
//! ```toml
//! # loglens.toml
//! [model]
//! url = "http://127.0.0.1:8080"   # llama-server
//! name = "default"
//! timeout_secs = 120
//! context_tokens = 4096
//! max_output_tokens = 1024
//! temperature = 0.1
//! [model.sampling]                # more llama.cpp sampler settings, sent with every call
//! dry_multiplier = 0.8            # (also --sampling KEY=VALUE; see agents' SAMPLING_KEYS)
//!
//! [database]
//! url = "sqlite://.loglens/loglens.db"
//!
//! [logs]
//! paths = ["examples/cart-redis-incident"]
//!
//! [server]
//! listen = "127.0.0.1:3000"
//! require_api_key = false         # true: every request needs a key (loglens keys create)
//! trace_url = "https://grafana.home/explore?left=...{trace_id}..."  # trace links in reports
//! max_concurrent_analyses = 2     # analyses holding a model slot (match llama-server -np)
//! max_queued_analyses = 8         # more HTTP asks may wait; beyond: 429 + Retry-After
//! cors_origins = []               # browser origins allowed (CORS is off when empty)
//!
//! [agents]
//! samples = 1                     # per specialist; consensus votes over them
//! sample_temperature = 0.7        # used when samples > 1
//! max_steps = 1                   # tool rounds per specialist (more need a larger context)
//! evidence_tokens = 1200          # cap on evidence-line tokens per prompt (default: what
//!                                 # the context leaves); fewer is faster on a CPU
//! max_calls = 2                   # tool calls per round
//! tool_timeout_secs = 20
//! tool_calling = "auto"           # native OpenAI tools when the model's template has them,
//!                                 # else JSON-schema output ("schema"); or force "native"
//! answer = "auto"                 # "full": the model writes every field; "choose": it picks
//!                                 # cause, lines, component, severity and loglens words the
//!                                 # rest; "auto": choose for a model under 1B parameters
//!
//! [redaction]                     # secrets are always masked; these get placeholders
//! pseudonymize = ["email"]        # also "ip"; never sent to the model
//! restore = true                  # real values back in the stored report
//!
//! [events]                        # Kubernetes events (else from Loki, when configured)
//! paths = ["examples/cart-redis-incident/events.json"]
//! kubernetes = false              # true: events and cluster state from the Kubernetes API
//!                                 # (in-cluster service account, else kubeconfig), merged
//!                                 # with Loki's events when [loki] is set
//!
//! [eval]                          # drift against the last good run (loglens eval)
//! drift_threshold = 0.05          # largest allowed drop of a quality metric (0..1)
//! latency_drift = 1.0             # largest allowed relative rise of p95 latency
//!
//! [embeddings]                    # hybrid retrieval (/v2, --retrieval hybrid, loglens index)
//! url = "http://127.0.0.1:8081"   # llama-server --embeddings (all-MiniLM-L6-v2, BGE-small)
//! model = ""                      # default: the model the server lists
//! batch = 64                      # texts per request
//! concurrency = 2                 # requests in flight
//!
//! [vectors]
//! path = ".loglens/loglens.vectors.db"  # embedded index (default: beside the database)
//! qdrant_url = "http://qdrant:6334"     # use Qdrant instead (also QDRANT_URL)
//! collection = "loglens-chunks"
//! chunking = "line"               # or "window:5" (5 lines of one stream per chunk)
//! collapse = true                 # one chunk per log pattern, stream and hour
//! top_k = 50                      # semantic hits fused with as many recent lines
//! min_similarity = 0.3            # semantic hits below this cosine are dropped
//! on_demand = 2000                # most chunks embedded during one request
//!
//! [queue]                         # the incident bots' durable queue (in the database)
//! workers = 1                     # investigations at once (0: serve runs no bots)
//! max_attempts = 5                # per investigation, then a dead letter
//! delivery_attempts = 8           # per report delivery, then a dead letter
//! lease_secs = 60                 # a dead worker's job resumes after this
//! backoff_secs = 10               # first retry wait; doubles per attempt
//! max_backoff_secs = 600
//!
//! [alerts]                        # POST /v1/alerts (Alertmanager)
//! lookback = "30m"                # logs read before the alert started
//! pipeline = "agents"             # or "baseline"
//!
//! [slack]                         # secrets: better from the environment
//! webhook_url = "https://hooks.slack.com/services/..."  # SLACK_WEBHOOK_URL
//! bot_token = "xoxb-..."          # SLACK_BOT_TOKEN: chat.postMessage, thread answers
//! channel = "#incidents"          # where alert reports go with the bot token
//! signing_secret = "..."          # SLACK_SIGNING_SECRET: turns on /v1/slack/events
//! since = "1h"                    # window of questions asked in Slack
//!
//! [webhook]                       # any JSON receiver
//! url = "https://example/hook"    # LOGLENS_WEBHOOK_URL
//! secret = "..."                  # LOGLENS_WEBHOOK_SECRET: signs X-Loglens-Signature
//!
//! [loki]                          # read from Loki when no [logs] paths are given
//! url = "http://loki.monitoring:3100"
//! tenant = "homelab"
//! ```
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use loglens_agents::llm::LlmConfig;
use loglens_agents::retrieval::{ChunkConfig, ChunkMode, HybridConfig};
use loglens_agents::specialist::SpecialistConfig;
use loglens_agents::{BaselineConfig, PipelineConfig};
use loglens_tools::embed::EmbedConfig;
use loglens_tools::logs::loki::{LokiAuth, LokiConfig};

use crate::option_groups::Settings;

mod file;

use file::read_file;
pub use file::*;

/// The resolved configuration the program runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Model client settings.
    pub llm: LlmConfig,
    /// Analyzer settings.
    pub analyzer: BaselineConfig,
    /// Storage URL.
    pub database_url: String,
    /// Log files and directories.
    pub log_paths: Vec<PathBuf>,
    /// Longest line kept whole, in bytes.
    pub max_line_bytes: usize,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Whether the HTTP API requires API keys (`[server] require_api_key`; the serve
    /// flag `--require-api-key` turns it on too).
    pub require_api_key: bool,
    /// Model slots and the HTTP queue (`[server] max_concurrent_analyses`,
    /// `max_queued_analyses`).
    pub admission: (usize, usize),
    /// Browser origins allowed by CORS (`[server] cors_origins`); empty: CORS off.
    pub cors_origins: Vec<String>,
    /// The incident bots.
    pub bots: crate::incidents::BotConfig,
    /// Their queue's leases and backoff.
    pub queue: crate::queue::QueueConfig,
    /// Where reports go.
    pub outputs: Vec<crate::incidents::outputs::Output>,
    /// Loki, when configured.
    pub loki: Option<LokiConfig>,
    /// Agent pipeline settings.
    pub pipeline: PipelineConfig,
    /// Kubernetes event files.
    pub event_paths: Vec<PathBuf>,
    /// Read events and the cluster state (pods, nodes, workloads, Services, volumes,
    /// quotas) from the Kubernetes API (when there are no files).
    pub kubernetes: bool,
    /// When an eval run has drifted.
    pub drift: loglens_evals::drift::DriftThresholds,
    /// The embedding server.
    pub embed: EmbedConfig,
    /// Where vectors are kept.
    pub vectors: VectorBackend,
    /// Hybrid retrieval settings.
    pub hybrid: HybridConfig,
}

/// Where the vector index lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorBackend {
    /// The embedded `sqlite-vec` file.
    Sqlite(PathBuf),
    /// A Qdrant collection.
    Qdrant {
        /// gRPC URL.
        url: String,
        /// Collection name.
        collection: String,
        /// API key (`QDRANT_API_KEY`).
        api_key: Option<String>,
    },
}

/// Default embedding server: llama-server on the port after the chat model's.
pub const DEFAULT_EMBED_URL: &str = "http://127.0.0.1:8081";

/// The embedded index file for a database URL: beside a SQLite file, else in `.loglens/`.
pub fn default_vector_path(database_url: &str) -> PathBuf {
    match database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
    {
        Some(rest) => {
            let file = rest.split('?').next().unwrap_or(rest);
            if file.is_empty() || file == ":memory:" {
                PathBuf::from(".loglens/loglens.vectors.db")
            } else {
                loglens_tools::vector::sqlite::path_beside(Path::new(file))
            }
        }
        None => PathBuf::from(".loglens/loglens.vectors.db"),
    }
}

/// Default storage: a SQLite file in `.loglens/` under the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://.loglens/loglens.db";
/// Default model server: llama-server's default address.
pub const DEFAULT_MODEL_URL: &str = "http://127.0.0.1:8080";
/// Default listen address of `loglens serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";

impl Config {
    /// Reads the config file (if any) and applies the environment and flags over it.
    pub fn load(args: &Settings, listen: Option<SocketAddr>) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new("loglens.toml").exists() => read_file(Path::new("loglens.toml"))?,
            None => FileConfig::default(),
        };
        let (bots, queue, outputs) = bots(&file)?;
        let admission = (
            file.server.max_concurrent_analyses.unwrap_or(2),
            file.server.max_queued_analyses.unwrap_or(8),
        );
        if !(1..=64).contains(&admission.0) || admission.1 > 1024 {
            bail!(
                "[server] max_concurrent_analyses must be 1..=64 and max_queued_analyses 0..=1024"
            );
        }
        let cors_origins = file.server.cors_origins.clone().unwrap_or_default();
        for o in &cors_origins {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                bail!("[server] cors_origins: {o:?} is not an origin like https://grafana.example");
            }
        }
        let llm_default = LlmConfig::default();
        let llm = LlmConfig {
            base_url: args
                .model
                .model_url
                .clone()
                .or(file.model.url)
                .unwrap_or_else(|| DEFAULT_MODEL_URL.into()),
            model: args
                .model
                .model
                .clone()
                .or(file.model.name)
                .unwrap_or(llm_default.model),
            api_key: args.model.model_api_key.clone(),
            request_timeout: Duration::from_secs(
                args.model
                    .model_timeout
                    .or(file.model.timeout_secs)
                    .unwrap_or(120),
            ),
            connect_timeout: llm_default.connect_timeout,
            max_tokens: file
                .model
                .max_output_tokens
                .unwrap_or(llm_default.max_tokens),
            temperature: file.model.temperature.unwrap_or(llm_default.temperature),
            sampling: sampling(file.model.sampling.clone(), &args.model.sampling)?,
        };
        let analyzer = BaselineConfig {
            context_tokens: args
                .model
                .context_tokens
                .or(file.model.context_tokens)
                .unwrap_or(4096),
            ..BaselineConfig::default()
        };
        if analyzer.context_tokens < llm.max_tokens as usize + 512 {
            bail!(
                "context_tokens ({}) leaves no room for logs with max_output_tokens {}; raise the context or lower the reply size",
                analyzer.context_tokens,
                llm.max_tokens
            );
        }
        let log_paths = if args.logs.logs.is_empty() {
            file.logs.paths
        } else {
            args.logs.logs.clone()
        };
        let require_api_key = file.server.require_api_key.unwrap_or(false);
        let listen = match listen.or(file.server.listen) {
            Some(l) => l,
            None => DEFAULT_LISTEN.parse().context("default listen address")?,
        };
        let loki = args.loki.loki_url.clone().or(file.loki.url).map(|url| {
            let auth = match (
                &args.loki.loki_token,
                args.loki.loki_user.clone().or(file.loki.user),
                &args.loki.loki_password,
            ) {
                (Some(t), _, _) => LokiAuth::Bearer(t.clone()),
                (None, Some(user), Some(password)) => LokiAuth::Basic {
                    user,
                    password: password.clone(),
                },
                _ => LokiAuth::None,
            };
            LokiConfig {
                url,
                tenant: args.loki.loki_tenant.clone().or(file.loki.tenant),
                auth,
                ..LokiConfig::default()
            }
        });
        let pd = PipelineConfig::default();
        let samples = args
            .agent
            .samples
            .or(file.agents.samples)
            .unwrap_or(pd.samples);
        if !(1..=16).contains(&samples) {
            bail!("samples must be between 1 and 16, got {samples}");
        }
        let max_steps = args
            .agent
            .max_steps
            .or(file.agents.max_steps)
            .unwrap_or(pd.specialist.max_steps);
        if max_steps > 6 {
            bail!("max_steps must be at most 6, got {max_steps}");
        }
        let max_calls = file.agents.max_calls.unwrap_or(pd.specialist.max_calls);
        if !(1..=4).contains(&max_calls) {
            bail!("max_calls must be between 1 and 4, got {max_calls}");
        }
        let asked_for_rounds = args.agent.max_steps.or(file.agents.max_steps).is_some();
        let specialist = SpecialistConfig {
            max_steps,
            // Tool rounds asked for by name are run whatever the model's size.
            small_model_steps: if asked_for_rounds {
                None
            } else {
                pd.specialist.small_model_steps
            },
            max_calls,
            context_tokens: analyzer.context_tokens,
            answer_tokens: llm.max_tokens,
            tool_calling: file.agents.tool_calling.unwrap_or_default(),
            answer: args.agent.answer.or(file.agents.answer).unwrap_or_default(),
            evidence_tokens: args.agent.evidence_tokens.or(file.agents.evidence_tokens),
            ..pd.specialist
        };
        if specialist.evidence_tokens.is_some_and(|n| n < 100) {
            bail!("evidence_tokens must be at least 100 (a few lines)");
        }
        // The room the context leaves (the evidence cap is a separate, checked choice).
        let room = SpecialistConfig {
            evidence_tokens: None,
            ..specialist
        };
        if room.line_tokens(900) < 300 {
            bail!(
                "context_tokens ({}) is too small for {max_steps} tool rounds and a {}-token answer; raise the context or lower max_steps",
                analyzer.context_tokens,
                llm.max_tokens
            );
        }
        let pipeline = PipelineConfig {
            specialist,
            samples,
            sample_temperature: file
                .agents
                .sample_temperature
                .unwrap_or(pd.sample_temperature),
            tool_timeout: file
                .agents
                .tool_timeout_secs
                .map_or(pd.tool_timeout, Duration::from_secs),
            pseudonymize: file
                .redaction
                .pseudonymize
                .unwrap_or_else(|| pd.pseudonymize.clone()),
            restore: file.redaction.restore.unwrap_or(pd.restore),
            ..pd
        };
        let event_paths = if args.logs.events.is_empty() {
            file.events.paths
        } else {
            args.logs.events.clone()
        };
        let dd = loglens_evals::drift::DriftThresholds::default();
        let drift = loglens_evals::drift::DriftThresholds {
            quality: file.eval.drift_threshold.unwrap_or(dd.quality),
            latency: file.eval.latency_drift.unwrap_or(dd.latency),
        };
        if !(0.0..=1.0).contains(&drift.quality) || drift.latency < 0.0 {
            bail!("[eval] drift_threshold must be in 0..1 and latency_drift at least 0");
        }
        let ed = EmbedConfig::default();
        let embed = EmbedConfig {
            url: args
                .vectors
                .embed_url
                .clone()
                .or(file.embeddings.url)
                .unwrap_or_else(|| DEFAULT_EMBED_URL.into()),
            model: args
                .vectors
                .embed_model
                .clone()
                .or(file.embeddings.model)
                .unwrap_or_default(),
            batch: file.embeddings.batch.unwrap_or(ed.batch),
            concurrency: file.embeddings.concurrency.unwrap_or(ed.concurrency),
            timeout: file
                .embeddings
                .timeout_secs
                .map_or(ed.timeout, Duration::from_secs),
            api_key: std::env::var("LOGLENS_EMBED_API_KEY").ok(),
            ..ed
        };
        if !(1..=256).contains(&embed.batch) || !(1..=16).contains(&embed.concurrency) {
            bail!("[embeddings] batch must be 1..=256 and concurrency 1..=16");
        }
        let database_url = args
            .store
            .database_url
            .clone()
            .or(file.database.url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let vectors = match args.vectors.qdrant_url.clone().or(file.vectors.qdrant_url) {
            Some(url) => VectorBackend::Qdrant {
                url,
                collection: file
                    .vectors
                    .collection
                    .unwrap_or_else(|| "loglens-chunks".into()),
                api_key: std::env::var("QDRANT_API_KEY").ok(),
            },
            None => VectorBackend::Sqlite(
                args.vectors
                    .vector_path
                    .clone()
                    .or(file.vectors.path)
                    .unwrap_or_else(|| default_vector_path(&database_url)),
            ),
        };
        let hd = HybridConfig::default();
        let hybrid = HybridConfig {
            top_k: file.vectors.top_k.unwrap_or(hd.top_k),
            min_similarity: file.vectors.min_similarity.unwrap_or(hd.min_similarity),
            max_embed_on_demand: file.vectors.on_demand.unwrap_or(hd.max_embed_on_demand),
            chunk: ChunkConfig {
                mode: match &file.vectors.chunking {
                    Some(m) => m.parse::<ChunkMode>().map_err(anyhow::Error::msg)?,
                    None => hd.chunk.mode,
                },
                collapse: file.vectors.collapse.unwrap_or(hd.chunk.collapse),
                ..hd.chunk
            },
            ..hd
        };
        if !(1..=1000).contains(&hybrid.top_k) {
            bail!("[vectors] top_k must be 1..=1000");
        }
        if !(-1.0..=1.0).contains(&hybrid.min_similarity) {
            bail!("[vectors] min_similarity is a cosine similarity, in -1..=1");
        }
        Ok(Self {
            admission,
            cors_origins,
            bots,
            queue,
            outputs,
            embed,
            vectors,
            hybrid,
            drift,
            loki,
            pipeline,
            event_paths,
            kubernetes: args.logs.kubernetes || file.events.kubernetes,
            llm,
            analyzer,
            database_url,
            log_paths,
            max_line_bytes: file
                .logs
                .max_line_bytes
                .unwrap_or(loglens_tools::logs::DEFAULT_MAX_LINE_BYTES),
            listen,
            require_api_key,
        })
    }
}

/// A secret from the environment, else from the file.
fn secret(env: &str, file: Option<&String>) -> Option<String> {
    std::env::var(env)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| file.cloned())
        .filter(|v| !v.trim().is_empty())
}

/// `[queue]`, `[alerts]`, `[slack]`, `[webhook]`: the bots, their queue and outputs.
fn bots(
    file: &FileConfig,
) -> anyhow::Result<(
    crate::incidents::BotConfig,
    crate::queue::QueueConfig,
    Vec<crate::incidents::outputs::Output>,
)> {
    use crate::incidents::outputs::{Output, SLACK_API_URL};
    let bd = crate::incidents::BotConfig::default();
    let q = &file.queue;
    let lookback = match &file.alerts.lookback {
        Some(l) => loglens_tools::logs::parse_since(l)
            .and_then(|d| d.to_std().ok())
            .with_context(|| format!("[alerts] lookback {l:?} is not a duration like 30m or 1h"))?,
        None => bd.lookback,
    };
    let slack_since = match &file.slack.since {
        Some(s) if loglens_tools::logs::parse_since(s).is_none() => {
            bail!("[slack] since {s:?} is not a duration like 1h")
        }
        Some(s) => Some(s.clone()),
        None => bd.slack_since.clone(),
    };
    let bots = crate::incidents::BotConfig {
        workers: q.workers.unwrap_or(bd.workers),
        max_attempts: q.max_attempts.unwrap_or(bd.max_attempts),
        delivery_attempts: q.delivery_attempts.unwrap_or(bd.delivery_attempts),
        lookback,
        slack_signing_secret: secret("SLACK_SIGNING_SECRET", file.slack.signing_secret.as_ref()),
        slack_since,
        trace_url: file.server.trace_url.clone(),
        pipeline: file.alerts.pipeline.unwrap_or(bd.pipeline),
        ..bd
    };
    if bots.workers > 16
        || !(1..=100).contains(&bots.max_attempts)
        || !(1..=100).contains(&bots.delivery_attempts)
    {
        bail!("[queue] workers must be 0..=16, max_attempts and delivery_attempts 1..=100");
    }
    let qd = crate::queue::QueueConfig::default();
    let queue = crate::queue::QueueConfig {
        lease: q.lease_secs.map_or(qd.lease, Duration::from_secs),
        backoff: q.backoff_secs.map_or(qd.backoff, Duration::from_secs),
        max_backoff: q
            .max_backoff_secs
            .map_or(qd.max_backoff, Duration::from_secs),
    };
    if queue.lease < Duration::from_secs(3) {
        bail!("[queue] lease_secs must be at least 3 (the lease is renewed every third of it)");
    }
    let mut outputs = Vec::new();
    if let Some(url) = secret("SLACK_WEBHOOK_URL", file.slack.webhook_url.as_ref()) {
        outputs.push(Output::SlackWebhook { url });
    }
    if let Some(token) = secret("SLACK_BOT_TOKEN", file.slack.bot_token.as_ref()) {
        outputs.push(Output::Slack {
            api_url: std::env::var("SLACK_API_URL")
                .ok()
                .or_else(|| file.slack.api_url.clone())
                .unwrap_or_else(|| SLACK_API_URL.into()),
            token,
            channel: file
                .slack
                .channel
                .clone()
                .unwrap_or_else(|| "#incidents".into()),
        });
    }
    if let Some(url) = secret("LOGLENS_WEBHOOK_URL", file.webhook.url.as_ref()) {
        outputs.push(Output::Webhook {
            url,
            secret: secret("LOGLENS_WEBHOOK_SECRET", file.webhook.secret.as_ref()),
        });
    }
    Ok((bots, queue, outputs))
}

/// The extra sampling settings: the config file's `[model.sampling]`, then each
/// `--sampling KEY=VALUE` (a value is JSON when it parses as JSON, else a string).
fn sampling(
    file: Option<toml::Table>,
    flags: &[String],
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut out = serde_json::Map::new();
    for (k, v) in file.unwrap_or_default() {
        out.insert(k, serde_json::to_value(v)?);
    }
    for flag in flags {
        let Some((k, v)) = flag.split_once('=') else {
            anyhow::bail!("--sampling {flag:?} is not KEY=VALUE (e.g. dry_multiplier=0.8)");
        };
        let value = serde_json::from_str(v.trim())
            .unwrap_or_else(|_| serde_json::Value::String(v.trim().to_string()));
        out.insert(k.trim().to_string(), value);
    }
    loglens_agents::llm::check_sampling(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let err = toml::from_str::<FileConfig>("[model]\nurll = \"x\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("urll"), "{err}");
    }

    #[test]
    fn file_values_apply_and_flags_win() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[model]\nurl = \"http://file:1\"\nname = \"m\"\n[model.sampling]\ndry_multiplier = 0.8\ntop_k = 20\n[logs]\npaths = [\"a\"]\n[embeddings]\nurl = \"http://embed:1\"\n[vectors]\nchunking = \"window:4\"\ntop_k = 30\n",
        )
        .unwrap_or_default();
        let mut args = Settings {
            config: Some(path),
            ..Settings::default()
        };
        let c = Config::load(&args, None).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.llm.base_url, "http://file:1");
        assert_eq!(c.embed.url, "http://embed:1");
        assert_eq!(c.hybrid.chunk.mode, ChunkMode::Window(4));
        assert_eq!(c.hybrid.top_k, 30);
        // The embedded index sits beside the default SQLite database; Qdrant replaces it.
        assert_eq!(
            c.vectors,
            VectorBackend::Sqlite(PathBuf::from(".loglens/loglens.vectors.db"))
        );
        args.vectors.qdrant_url = Some("http://qdrant:6334".into());
        let c = Config::load(&args, None).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            matches!(c.vectors, VectorBackend::Qdrant { ref url, .. } if url == "http://qdrant:6334")
        );
        args.vectors.qdrant_url = None;
        assert_eq!(c.llm.sampling["dry_multiplier"], serde_json::json!(0.8));
        assert_eq!(c.llm.sampling["top_k"], serde_json::json!(20));
        // A flag overrides the file's sampling value; values are JSON when they parse.
        args.model.sampling = vec!["top_k=40".into(), "dry_sequence_breakers=[\"\\n\"]".into()];
        let c = Config::load(&args, None).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.llm.sampling["top_k"], serde_json::json!(40));
        assert_eq!(
            c.llm.sampling["dry_sequence_breakers"],
            serde_json::json!(["\n"])
        );
        // Keys that are loglens's own to set are refused.
        for bad in ["response_format={}", "messages=[]", "top_k"] {
            args.model.sampling = vec![bad.into()];
            let err = Config::load(&args, None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("sampling"), "{bad}: {err}");
        }
        args.model.sampling = vec![];
        assert_eq!(c.log_paths, vec![PathBuf::from("a")]);
        args.model.model_url = Some("http://flag:2".into());
        let c = Config::load(&args, None).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.llm.base_url, "http://flag:2");
        assert_eq!(c.llm.model, "m");
        assert_eq!(c.pipeline.samples, 1);
        args.agent.samples = Some(3);
        args.agent.max_steps = Some(9);
        let err = Config::load(&args, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("max_steps must be at most 6"), "{err}");
        args.agent.max_steps = Some(1);
        let c = Config::load(&args, None).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            (c.pipeline.samples, c.pipeline.specialist.max_steps),
            (3, 1)
        );
    }
}
