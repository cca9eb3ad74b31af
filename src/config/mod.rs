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

use loglens_agents::llm::LlmConfig;
use loglens_agents::retrieval::HybridConfig;
use loglens_agents::{BaselineConfig, PipelineConfig};
use loglens_tools::embed::EmbedConfig;
use loglens_tools::logs::loki::LokiConfig;

use crate::option_groups::Settings;

mod file;
mod resolve;
mod validate;

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
    /// Whether large log files are scanned through a memory map (`--memory-map`,
    /// `[logs] memory_map`; default true).
    pub memory_map: bool,
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
    pub queue: crate::incidents::queue::QueueConfig,
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
    /// Reads the config file (if any), applies the environment and flags over it
    /// ([`resolve`]), then checks the result as a whole ([`Config::validate`]).
    pub fn load(args: &Settings, listen: Option<SocketAddr>) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new("loglens.toml").exists() => read_file(Path::new("loglens.toml"))?,
            None => FileConfig::default(),
        };
        let config = resolve::config(args, listen, file)?;
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglens_agents::retrieval::ChunkMode;

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
