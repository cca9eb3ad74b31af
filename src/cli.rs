//! Command-line interface (clap). Every option can also come from an environment
//! variable (shown in `--help`) or the config file; flags win over the environment,
//! which wins over the file, which wins over the defaults.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use loglens_agents::specialist::AnswerMode;

/// loglens answers questions about Kubernetes logs with a local model, citing the exact
/// log lines each answer rests on.
#[derive(Debug, Parser)]
#[command(name = "loglens", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (TOML). Default: ./loglens.toml when it exists.
    #[arg(long, global = true, env = "LOGLENS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

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

    /// The model's context window in tokens (must match llama-server's -c).
    #[arg(long, global = true, env = "LOGLENS_CONTEXT_TOKENS", value_name = "N")]
    pub context_tokens: Option<usize>,

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

    /// Format of loglens's own diagnostic logs on stderr (levels from RUST_LOG).
    #[arg(long, global = true, env = "LOGLENS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Diagnostic log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask a question about the logs and print the answer with its evidence.
    ///
    /// Example: loglens ask "why is checkout failing?" --logs ./logs --namespace shop
    Ask(Box<AskArgs>),
    /// Push local log files (--logs) to Loki (--loki-url), in batches, with their labels.
    /// Resumable: a
    /// run that fails part-way continues where it stopped when run again.
    ///
    /// Example: loglens ingest --logs ./logs --loki-url http://loki:3100 --label cluster=homelab
    Ingest(IngestArgs),
    /// Serve the HTTP API: POST /v1/analyze, POST /v1/analyze/stream (SSE),
    /// POST /v2/analyze and /v2/analyze/stream (hybrid retrieval; `"compare": true` for
    /// A/B), GET /v1/analyses/{id}, GET /healthz, GET /readyz, GET /metrics.
    Serve(ServeArgs),
    /// Print the agent pipeline's graph: its stages, what each does, what runs in
    /// parallel (and the graph in Graphviz DOT).
    Explain,
    /// Check the settings (config file, environment, flags) and say whether they are
    /// valid, without running anything: exit 0 when they are, 1 with the reason when not.
    ///
    /// Example: loglens --config k8s/loglens.toml check-config
    CheckConfig,
    /// Golden dataset tooling: import real incidents as cases, check the cases.
    #[command(subcommand)]
    Golden(GoldenCommand),
    /// Replay the golden cases through a pipeline and score the answers (JSON, CSV and
    /// Markdown reports).
    ///
    /// Example: loglens eval --variant evidence
    Eval(EvalArgs),
    /// API keys for the HTTP API (see `serve --require-api-key`).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// What happened in a window: counts per component, the top problems, what changed
    /// against the window before, where failures started, and a short written summary
    /// (the model writes it from the measured digest; --no-narrate skips the model).
    ///
    /// Example: loglens summary --since 1h --namespace shop
    Summary(SummaryArgs),
    /// The window's problems ranked by severity, impact (lines, services, pods) and
    /// novelty (absent from the window before), with evidence and known fixes.
    ///
    /// Example: loglens triage --since 6h
    Triage(TriageArgs),
    /// What changed between two windows: new, vanished and spiking log patterns, new
    /// failure signatures, restarts and warning events, ranked, with evidence. The earlier
    /// window is the one of the same length before, unless --before-start/--before-end.
    ///
    /// Example: loglens changes --since 30m
    Changes(ChangesArgs),
    /// Which failing component started it: a service graph from log mentions, trace ids
    /// and events, and the first failing component upstream, with the chains from each
    /// symptom to it.
    ///
    /// Example: loglens cascade --since 1h --namespace shop
    Cascade(CascadeArgs),
    /// Feedback on answers: list it, and export confirmed and corrected answers as
    /// golden-case candidates (POST /v1/feedback records it).
    #[command(subcommand)]
    Feedback(FeedbackCommand),
    /// The incident bots' durable queue: list jobs and dead letters, retry a dead one.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Embed logs into the vector index for hybrid retrieval: a time range (default the
    /// last 7 days, Loki's retention) from Loki or --logs, hour by hour, with progress.
    /// Idempotent and resumable: chunks already indexed are skipped, so a run that stopped
    /// continues where it was. Chunks older than --retention are deleted.
    ///
    /// Example: loglens index --since 24h --namespace shop
    Index(IndexArgs),
    /// Show a stored run as a tree of its steps: router, retrieval, each specialist, each
    /// tool call (with its arguments) and model call (with its tokens), consensus, with
    /// durations. ID is a trace id (printed with every answer, and in the JSON logs) or an
    /// analysis id.
    ///
    /// Example: loglens trace 4bf92f3577b34da6a3ce929d0e0e4736
    Trace(TraceArgs),
}

/// `loglens index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Which lines (labels and time window; without --since/--start, the last 7 days).
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Drop the index first (after changing the embedding model or the chunking).
    #[arg(long)]
    pub rebuild: bool,
    /// Delete chunks older than this (`7d`, `72h`); `0` keeps everything. Default: 7d
    /// when reading Loki (its retention), keep everything when reading files.
    #[arg(long, value_name = "DURATION")]
    pub retention: Option<String>,
}

/// `loglens trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// A trace id (32 hex digits) or an analysis id.
    pub id: String,
    /// Print the spans as JSON instead of a tree.
    #[arg(long)]
    pub json: bool,
}

/// `loglens golden ...`.
#[derive(Debug, Subcommand)]
pub enum GoldenCommand {
    /// Turn recorded real incidents into golden cases: Cloud-OpsBench fault cases
    /// (folders with metadata.json and raw_data/) and HolmesGPT replays
    /// (replay_subset.jsonl, with the hand labels in golden/labels/holmesgpt.toml).
    ///
    /// Example: loglens golden import --cloudopsbench ../shared/data/cloudopsbench --holmesgpt ../shared/data/holmesgpt
    Import {
        /// A folder of Cloud-OpsBench case folders.
        #[arg(long, value_name = "DIR", required_unless_present = "holmesgpt")]
        cloudopsbench: Option<PathBuf>,
        /// A folder holding HolmesGPT's replay_subset.jsonl.
        #[arg(long, value_name = "DIR")]
        holmesgpt: Option<PathBuf>,
        /// Where the cases go.
        #[arg(long, default_value = "golden/cases", value_name = "DIR")]
        out: PathBuf,
    },
    /// Make synthetic cases from the failure templates in golden/templates.toml (noise,
    /// decoys and wording varied by a seeded generator: the same seed, the same cases).
    ///
    /// Example: loglens golden synth --per-template 5 --seed 1
    Synth {
        /// Cases per template.
        #[arg(long, default_value_t = 5)]
        per_template: usize,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the cases go.
        #[arg(long, default_value = "golden/cases", value_name = "DIR")]
        out: PathBuf,
    },
    /// Cut auto-labelled real cases from a log store: Loki (--loki-url), local files
    /// (--logs), or the Loghub-2.0 sets (--loghub). Drops probe/scrape noise, detects
    /// each line's severity, cuts windows per stream, labels each window from its worst
    /// lines, and samples per severity towards the dataset's mix.
    ///
    /// Example: loglens golden extract --loghub ../shared/data/loghub2_2k --max-cases 90
    /// Example: loglens --loki-url http://loki:3100 golden extract --query '{namespace="shop"}' --since 24h
    Extract {
        /// A folder of Loghub-2.0 sets (<System>/<System>_2k.log_structured_corrected.csv).
        #[arg(long, value_name = "DIR")]
        loghub: Option<PathBuf>,
        /// A LogQL query selecting what to read (Loki or files); default: every stream.
        #[arg(long)]
        query: Option<String>,
        /// How far back to read (Loki or files), e.g. 24h, 7d.
        #[arg(long, default_value = "24h")]
        since: String,
        /// At most this many lines read from Loki (its max_entries_limit_per_query is
        /// 5000 by default).
        #[arg(long, default_value_t = 5000)]
        max_lines: usize,
        /// Lines per case window (after noise filtering).
        #[arg(long, default_value_t = 40)]
        window_lines: usize,
        /// At most this many cases.
        #[arg(long, default_value_t = 100)]
        max_cases: usize,
        /// Sampling seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Case ids start with this (default: loghub or loki).
        #[arg(long)]
        prefix: Option<String>,
        /// Where the cases go (each under its id: <DIR>/<prefix>/...).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Add synthetic cases from a pool (what `golden synth --out POOL` wrote) to the real
    /// cases: as many as keep the real share at --real-share, chosen to bring the
    /// severity mix towards INFO 25%, WARN 25%, ERROR 40%, CRITICAL 10%, rotating over
    /// templates; duplicates skipped. Replaces <cases>/synthetic/.
    ///
    /// Example: loglens golden combine --pool .loglens/synth-pool --real-share 0.7
    Combine {
        /// The synthetic pool.
        #[arg(long, value_name = "DIR")]
        pool: PathBuf,
        /// The dataset (its real cases are kept; its synthetic/ folder is rewritten).
        #[arg(long, default_value = "golden/cases", value_name = "DIR")]
        cases: PathBuf,
        /// The share of real cases to keep.
        #[arg(long, default_value_t = 0.7)]
        real_share: f64,
        /// Selection seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Check every case against golden/case.schema.json and print the dataset's make-up:
    /// origin, source, severity (against the aimed-at mix), route, cause, auto-labelled
    /// cases, lines and events per case.
    #[command(alias = "check")]
    Analyze {
        /// The cases.
        #[arg(long, default_value = "golden/cases", value_name = "DIR")]
        cases: PathBuf,
        /// Also write the provenance table (a row per source and licence) to this file,
        /// e.g. golden/SOURCES.md.
        #[arg(long, value_name = "FILE")]
        sources: Option<PathBuf>,
    },
}

/// `loglens eval`: run (the default), `compare`, `list`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvalArgs {
    /// Compare or list stored runs instead of running.
    #[command(subcommand)]
    pub command: Option<EvalCommand>,
    /// The run's options.
    #[command(flatten)]
    pub run: EvalRunArgs,
}

/// `loglens eval compare|list`.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Show two runs' metrics side by side, with deltas and drift marked. A run is a
    /// stored run id (see `loglens eval list`) or a report folder (with run.json).
    ///
    /// Example: loglens eval compare 20261129T091500Z-evidence 20261130T020000Z-evidence
    Compare {
        /// The earlier run.
        a: String,
        /// The later run.
        b: String,
    },
    /// The newest stored runs: id, variant, cases, key metrics, drift.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// Options of an eval run.
#[derive(Debug, Args)]
pub struct EvalRunArgs {
    /// The cases.
    #[arg(long, default_value = "golden/cases", value_name = "DIR")]
    pub cases: PathBuf,
    /// Which pipeline: `evidence` (no model), `agents`, `baseline`, or `hybrid` (the
    /// baseline over hybrid retrieval).
    #[arg(long, value_enum, default_value_t = EvalVariant::Evidence)]
    pub variant: EvalVariant,
    /// Agents only: no vote over the opinions; the most confident one is the answer
    /// (the ablation that measures what consensus adds).
    #[arg(long)]
    pub no_consensus: bool,
    /// Baseline and hybrid only: retrieve, score the retrieved lines, ask no model (the
    /// quick A/B of time-based against hybrid retrieval; answer metrics stay empty).
    #[arg(long)]
    pub retrieval_only: bool,
    /// Also score root causes by meaning: the embedding cosine of the expected and the
    /// given root cause (needs the embedding server, LOGLENS_EMBED_URL).
    #[arg(long)]
    pub semantic: bool,
    /// Agents only: give the pipeline hybrid retrieval, so the router's choice of it is
    /// carried out (router "auto"; needs the embedding server). Without it, a hybrid
    /// route falls back to structured retrieval.
    #[arg(long)]
    pub hybrid: bool,
    /// Only the cases whose id contains this.
    #[arg(long)]
    pub only: Option<String>,
    /// Only the cases listed in this file (one id per line, # comments), e.g.
    /// golden/smoke.txt.
    #[arg(long, value_name = "FILE")]
    pub subset: Option<PathBuf>,
    /// Where the run's report goes (default .loglens/evals/<time>-<variant>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue a stopped run: the cases already in DIR/progress.jsonl are not run again.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Exit with status 3 when a metric drifted past the threshold against the last good
    /// run of the same variant over the same cases.
    #[arg(long)]
    pub fail_on_drift: bool,
    /// Largest allowed drop of a quality metric (0..1) before it is drift (default 0.05,
    /// or [eval] drift_threshold).
    #[arg(long)]
    pub drift_threshold: Option<f64>,
    /// Do not store the run in the database (nor compare it).
    #[arg(long)]
    pub no_store: bool,
    /// Replay through Loki (--loki-url or [loki] url) instead of the embedded file
    /// source: each case's lines are pushed (retimed to the last minutes, labelled
    /// loglens_eval="<run>/<case>") and read back through the Loki client.
    #[arg(long)]
    pub loki: bool,
}

/// `--variant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalVariant {
    /// No model: the evidence's top candidate.
    Evidence,
    /// The agent pipeline.
    Agents,
    /// The baseline.
    Baseline,
    /// The baseline's extraction over hybrid retrieval (needs the embedding server).
    Hybrid,
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
    /// The scope as a [`crate::analysis::FilterSpec`] (no text filter); a time that does
    /// not parse is an error that names the flag.
    pub fn spec(&self) -> anyhow::Result<crate::analysis::FilterSpec> {
        Ok(crate::analysis::FilterSpec {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            container: self.container.clone(),
            node: self.node.clone(),
            start: parse_time("--start", &self.start)?,
            end: parse_time("--end", &self.end)?,
            since: self.since.clone(),
            ..crate::analysis::FilterSpec::default()
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
    /// The filters as a [`crate::analysis::FilterSpec`].
    pub fn spec(&self) -> anyhow::Result<crate::analysis::FilterSpec> {
        Ok(crate::analysis::FilterSpec {
            pattern: self.grep.clone(),
            all_lines: self.all_lines,
            ..self.scope.spec()?
        })
    }
}

/// `loglens ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question, e.g. "why is checkout failing?".
    pub question: String,
    /// Filters.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// How many log lines to send the model (1-200; fewer when the context is full).
    #[arg(long, default_value_t = loglens_agents::baseline::DEFAULT_LIMIT)]
    pub limit: usize,
    /// Which pipeline answers: the agents (router, specialists with tools, consensus) or
    /// the baseline (recent lines, one extraction).
    #[arg(long, value_enum, default_value_t = crate::analysis::PipelineMode::Agents)]
    pub pipeline: crate::analysis::PipelineMode,
    /// How lines are found: `structured` (the filters, most recent first), `hybrid`
    /// (the filters' scope searched by meaning, fused with recency; needs an embedding
    /// server), or `auto` (the router decides; hybrid falls back to structured).
    #[arg(long, value_enum, default_value_t = RetrievalArg::Structured)]
    pub retrieval: RetrievalArg,
    /// Print the whole result as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--retrieval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RetrievalArg {
    /// Filters, most recent first.
    Structured,
    /// Semantic search within the filters' scope, fused with recency.
    Hybrid,
    /// The router decides.
    Auto,
}

/// `loglens ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// A label added to every stream, as name=value (repeatable).
    #[arg(long = "label", value_name = "NAME=VALUE")]
    pub labels: Vec<String>,
    /// Lines per push request.
    #[arg(long, default_value_t = loglens_tools::logs::ingest::DEFAULT_BATCH_LINES)]
    pub batch_lines: usize,
    /// Longest line pushed whole, in bytes (match Loki's max_line_size); longer lines are
    /// cut and counted.
    #[arg(long, default_value_t = loglens_tools::logs::ingest::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Where progress is recorded so a failed run can resume.
    #[arg(
        long,
        default_value = ".loglens/ingest-checkpoint.json",
        value_name = "FILE"
    )]
    pub checkpoint: std::path::PathBuf,
}

/// `loglens serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LOGLENS_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Require an API key (`Authorization: Bearer llk_...`) on every request but
    /// /healthz, /readyz and /metrics; each key has its own rate limit. Make keys with
    /// `loglens keys create`.
    #[arg(long, env = "LOGLENS_REQUIRE_API_KEY")]
    pub require_api_key: bool,
    /// Investigation workers for the incident bots (alerts, Slack questions), besides
    /// one that delivers reports; 0 runs none (another process works the queue).
    /// Default: `[queue] workers`, else 1.
    #[arg(long, env = "LOGLENS_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
}

/// The scope and window of an insight (every line, not only errors; without --since or
/// --start, every line the source has).
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// Labels and time window.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `loglens summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Scope and window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// Only the measured digest; do not ask the model to write it up.
    #[arg(long)]
    pub no_narrate: bool,
}

/// `loglens triage`.
#[derive(Debug, Args)]
pub struct TriageArgs {
    /// Scope and window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// How many problems.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

/// `loglens changes`.
#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// Scope and the later window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// The earlier window's start (RFC 3339), with --before-end.
    #[arg(long, requires = "before_end")]
    pub before_start: Option<String>,
    /// The earlier window's end (RFC 3339).
    #[arg(long, requires = "before_start")]
    pub before_end: Option<String>,
    /// How many changes.
    #[arg(long, default_value_t = 15)]
    pub limit: usize,
}

/// `loglens cascade`.
#[derive(Debug, Args)]
pub struct CascadeArgs {
    /// Scope and window.
    #[command(flatten)]
    pub window: WindowArgs,
}

/// `loglens feedback ...`.
#[derive(Debug, Subcommand)]
pub enum FeedbackCommand {
    /// Feedback, newest first: verdict, analysis, author, what was corrected.
    List {
        /// Only feedback not exported yet.
        #[arg(long)]
        pending: bool,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Write each confirmed or corrected answer not exported yet as a golden case (the
    /// lines the model saw, the person's answer) under DIR/feedback/, checked against the
    /// case schema, then mark it exported. Review them before moving them into
    /// golden/cases/.
    ///
    /// Example: loglens feedback export --out golden/candidates
    Export {
        /// Where to write.
        #[arg(long, default_value = "golden/candidates")]
        out: std::path::PathBuf,
    },
}

/// `loglens queue ...`.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List the incident bots' jobs, newest first: investigations, Slack questions and
    /// report deliveries, with their status, attempts and last error.
    ///
    /// Example: loglens queue list --status dead
    List {
        /// Only jobs of this kind.
        #[arg(long)]
        kind: Option<crate::queue::JobKind>,
        /// Only jobs in this status (`dead`: the dead letters).
        #[arg(long)]
        status: Option<crate::queue::JobStatus>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put a dead job back in the queue with fresh attempts (after fixing what killed
    /// it: a Slack token, a webhook URL).
    Retry {
        /// The job's id.
        id: String,
    },
}

/// `loglens keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it, once: only its SHA-256 is stored.
    ///
    /// Example: loglens keys create slack-bot --rate 30
    Create {
        /// What or who the key is for.
        name: String,
        /// Requests a minute before the server answers 429.
        #[arg(long, default_value_t = 60)]
        rate: u32,
    },
    /// List keys (id, name, rate, created, revoked); never the keys themselves.
    List,
    /// Revoke a key by its id (from `keys list`); it is refused from then on.
    Revoke {
        /// The key's id.
        id: String,
    },
}
