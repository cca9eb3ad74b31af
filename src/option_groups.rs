//! The option groups the commands share, each a clap `Args` struct a command flattens
//! when it uses what the group configures: `ask` takes the log, Loki, model, agent,
//! vector and store options, `keys` only the store's, `explain` none. So `--help` lists
//! what a command reads, and a flag a command does not use is an error, not silence.
//!
//! Every option can also come from an environment variable (shown in `--help`) or the
//! config file; flags win over the environment, which wins over the file, which wins over
//! the defaults ([`crate::config::Config::load`]). Options are `global` within the
//! command that takes them, so they may also follow its subcommand (`loglens keys list
//! --database-url ...`).
use std::path::PathBuf;

use clap::Args;
use loglens_agents::specialist::AnswerMode;

/// Where the logs and Kubernetes events come from (local files, or the API).
#[derive(Debug, Clone, Default, Args)]
pub struct LogArgs {
    /// Log files or directories to read (JSON lines, `kubectl logs` output, Loki exports).
    /// Repeat the flag or separate with commas.
    #[arg(
        long,
        global = true,
        env = "LOGLENS_LOGS",
        value_name = "PATH",
        value_delimiter = ','
    )]
    pub logs: Vec<PathBuf>,

    /// Kubernetes event files (`kubectl get events -o json`, `kubectl get events` or
    /// `describe` output, objects as `kubectl get pods,nodes,svc,... -o json`,
    /// Cloud-OpsBench `k8s_states.json`). Without them, events are read
    /// from Loki when it is configured.
    #[arg(
        long,
        global = true,
        env = "LOGLENS_EVENTS",
        value_name = "PATH",
        value_delimiter = ','
    )]
    pub events: Vec<PathBuf>,

    /// Read Kubernetes events and the cluster state from the Kubernetes API (in a pod: its
    /// service account; else the current kubeconfig context), when no --events files are
    /// given. Also `[events] kubernetes = true`.
    #[arg(long, global = true, env = "LOGLENS_KUBERNETES")]
    pub kubernetes: bool,

    /// Scan large log files (4 MiB or more) through a read-only memory map instead of
    /// reading them into buffers (default true: no copy of the file). Set false where
    /// files may be truncated in place while loglens reads them (logrotate's
    /// `copytruncate`): a mapped file truncated mid-scan crashes the process. Also
    /// `[logs] memory_map`.
    #[arg(long, global = true, env = "LOGLENS_MEMORY_MAP", value_name = "BOOL")]
    pub memory_map: Option<bool>,
}

/// Grafana Loki: where logs and events are read from when no files are given, and where `ingest` pushes.
#[derive(Debug, Clone, Default, Args)]
pub struct LokiArgs {
    /// Grafana Loki's base URL: where `ask` and `serve` read logs when no --logs are given,
    /// and where `ingest` pushes them.
    #[arg(long, global = true, env = "LOGLENS_LOKI_URL", value_name = "URL")]
    pub loki_url: Option<String>,

    /// Loki tenant, sent as X-Scope-OrgID.
    #[arg(
        long,
        global = true,
        env = "LOGLENS_LOKI_TENANT",
        value_name = "TENANT"
    )]
    pub loki_tenant: Option<String>,

    /// Bearer token for Loki.
    #[arg(
        long,
        global = true,
        env = "LOGLENS_LOKI_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub loki_token: Option<String>,

    /// Basic-auth user for Loki (with --loki-password / LOGLENS_LOKI_PASSWORD).
    #[arg(long, global = true, env = "LOGLENS_LOKI_USER", value_name = "USER")]
    pub loki_user: Option<String>,

    /// Basic-auth password for Loki.
    #[arg(
        long,
        global = true,
        env = "LOGLENS_LOKI_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub loki_password: Option<String>,
}

/// The model server.
#[derive(Debug, Clone, Default, Args)]
pub struct ModelArgs {
    /// Base URL of the OpenAI-compatible model server (llama.cpp's llama-server).
    #[arg(long, global = true, env = "LOGLENS_MODEL_URL", value_name = "URL")]
    pub model_url: Option<String>,

    /// Model name sent to the server.
    #[arg(long, global = true, env = "LOGLENS_MODEL", value_name = "NAME")]
    pub model: Option<String>,

    /// A llama.cpp sampling setting sent with every model call, e.g.
    /// `--sampling dry_multiplier=0.8` (DRY: stops a small model repeating itself);
    /// repeatable. Also `[model.sampling]` in loglens.toml.
    #[arg(long, global = true, value_name = "KEY=VALUE")]
    pub sampling: Vec<String>,

    /// Bearer token for the model server, if it wants one.
    #[arg(
        long,
        global = true,
        env = "LOGLENS_MODEL_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub model_api_key: Option<String>,

    /// Seconds one model call may take before it is abandoned.
    #[arg(
        long,
        global = true,
        env = "LOGLENS_MODEL_TIMEOUT",
        value_name = "SECS"
    )]
    pub model_timeout: Option<u64>,

    /// The model's context window in tokens (must match llama-server's -c).
    #[arg(long, global = true, env = "LOGLENS_CONTEXT_TOKENS", value_name = "N")]
    pub context_tokens: Option<usize>,
}

/// How the agents use the model.
#[derive(Debug, Clone, Default, Args)]
pub struct AgentArgs {
    /// Samples per specialist (consensus votes over them; more is steadier and slower).
    #[arg(long, global = true, env = "LOGLENS_SAMPLES", value_name = "N")]
    pub samples: Option<usize>,

    /// Tool rounds per specialist (0: answer from the evidence alone). Default 1, and 0
    /// for a model under 1B parameters (its tool rounds did not pay for themselves);
    /// given, it holds whatever the model.
    #[arg(long, global = true, env = "LOGLENS_MAX_STEPS", value_name = "N")]
    pub max_steps: Option<usize>,

    /// At most this many tokens of evidence lines in a specialist's prompt (default: what
    /// the context leaves). Fewer is faster on a CPU.
    #[arg(long, global = true, env = "LOGLENS_EVIDENCE_TOKENS", value_name = "N")]
    pub evidence_tokens: Option<usize>,

    /// What the model writes as its answer: `full` (every field, prose included),
    /// `choose` (cause, lines, component, severity; loglens words the rest from the
    /// evidence) or `auto` (choose for a model under 1B parameters).
    #[arg(long, global = true, env = "LOGLENS_ANSWER", value_name = "MODE")]
    pub answer: Option<AnswerMode>,
}

/// Hybrid retrieval: the embedding server and the vector index.
#[derive(Debug, Clone, Default, Args)]
pub struct VectorArgs {
    /// Base URL of the OpenAI-compatible embedding server (llama-server --embeddings),
    /// for hybrid retrieval and `loglens index`.
    #[arg(long, global = true, env = "LOGLENS_EMBED_URL", value_name = "URL")]
    pub embed_url: Option<String>,

    /// Embedding model name (default: the one the server lists).
    #[arg(long, global = true, env = "LOGLENS_EMBED_MODEL", value_name = "NAME")]
    pub embed_model: Option<String>,

    /// Qdrant's gRPC URL (e.g. http://qdrant:6334): keep vectors there instead of the
    /// embedded index beside the database.
    #[arg(long, global = true, env = "QDRANT_URL", value_name = "URL")]
    pub qdrant_url: Option<String>,

    /// The embedded vector index file (default: beside the SQLite database, e.g.
    /// .loglens/loglens.vectors.db).
    #[arg(long, global = true, env = "LOGLENS_VECTOR_PATH", value_name = "FILE")]
    pub vector_path: Option<PathBuf>,
}

/// Where analyses, eval runs, keys, feedback and the queue are kept.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Where analyses are stored: sqlite://PATH (default .loglens/loglens.db) or
    /// postgres://USER:PASS@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "LOGLENS_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

/// Every option a command may take, as [`crate::config::Config::load`] reads them; the
/// groups a command does not take stay at their defaults (the file and environment
/// still apply through the config file; a variable belongs to its flag).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The config file (`--config`).
    pub config: Option<PathBuf>,
    /// Logs and events.
    pub logs: LogArgs,
    /// Loki.
    pub loki: LokiArgs,
    /// The model server.
    pub model: ModelArgs,
    /// The agents' use of the model.
    pub agent: AgentArgs,
    /// Hybrid retrieval.
    pub vectors: VectorArgs,
    /// The store.
    pub store: StoreArgs,
}

/// Where to look: labels and a time window (shared by `ask`, `index` and the insights).
#[derive(Debug, Args, Clone, Default)]
pub struct ScopeArgs {
    /// Only this Kubernetes namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Only this pod (or its workload: `checkout` matches `checkout-7d9f-abcde`).
    #[arg(long)]
    pub pod: Option<String>,
    /// Only this container.
    #[arg(long)]
    pub container: Option<String>,
    /// Only this node.
    #[arg(long)]
    pub node: Option<String>,
    /// Only lines from this long ago until now, e.g. 15m, 1h, 2h30m.
    #[arg(long, conflicts_with = "start")]
    pub since: Option<String>,
    /// Only lines at or after this time (RFC 3339, e.g. 2025-11-11T14:40:00Z).
    #[arg(long)]
    pub start: Option<String>,
    /// Only lines before this time (RFC 3339).
    #[arg(long)]
    pub end: Option<String>,
}

impl ScopeArgs {
    /// The [`loglens_tools::logs::Scope`] (no text filter); a time that does
    /// not parse is an error that names the flag.
    pub fn scope(&self) -> anyhow::Result<loglens_tools::logs::Scope> {
        Ok(loglens_tools::logs::Scope {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            container: self.container.clone(),
            node: self.node.clone(),
            start: parse_time("--start", &self.start)?,
            end: parse_time("--end", &self.end)?,
            since: self.since.clone(),
            ..loglens_tools::logs::Scope::default()
        })
    }
}

/// A time flag's value (RFC 3339); an error that names the flag when it does not parse.
pub fn parse_time(
    name: &str,
    v: &Option<String>,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    match v {
        None => Ok(None),
        Some(s) => loglens_tools::logs::parse_timestamp(s)
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("{name} {s:?} is not a time like 2025-11-11T14:40:00Z")),
    }
}

/// Which lines: a scope, and a text filter (shared by `ask` and `index`).
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// Labels and time window.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Only lines matching this regex instead of the default error filter
    /// `(?i)(error|warn|failed|exception|panic|fatal)`.
    #[arg(long, conflicts_with = "all_lines")]
    pub grep: Option<String>,
    /// Consider every line, not just those matching the error filter.
    #[arg(long)]
    pub all_lines: bool,
}

impl FilterArgs {
    /// The filters as one [`loglens_tools::logs::Scope`].
    pub fn scope(&self) -> anyhow::Result<loglens_tools::logs::Scope> {
        Ok(loglens_tools::logs::Scope {
            pattern: self.grep.clone(),
            all_lines: self.all_lines,
            ..self.scope.scope()?
        })
    }
}

/// Every option group (`ask`, `serve` and `check-config` take them all).
#[derive(Debug, Args)]
pub struct AllArgs {
    /// Logs and events.
    #[command(flatten)]
    pub logs: LogArgs,
    /// Loki.
    #[command(flatten)]
    pub loki: LokiArgs,
    /// The model server.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The agents' use of the model.
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Hybrid retrieval.
    #[command(flatten)]
    pub vectors: VectorArgs,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}
