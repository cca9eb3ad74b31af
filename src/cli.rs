//! Command-line interface (clap). Only `--config` and `--log-format` are taken by every
//! command; each command takes the option groups it uses (`crate::option_groups`).
//! Every option can also come from an environment variable (shown in `--help`) or the
//! config file; flags win over the environment, which wins over the file, which wins
//! over the defaults.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::option_groups::{
    AgentArgs, LogArgs, LokiArgs, ModelArgs, Settings, StoreArgs, VectorArgs,
};

/// loglens answers questions about Kubernetes logs with a local model, citing the exact
/// log lines each answer rests on.
#[derive(Debug, Parser)]
#[command(name = "loglens", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The options the command took, for [`crate::config::Config::load`]; the groups it
    /// does not take stay at their defaults.
    pub fn settings(&self) -> Settings {
        let mut s = Settings {
            config: self.global.config.clone(),
            ..Settings::default()
        };
        let all = |a: &AllArgs, s: &mut Settings| {
            s.logs = a.logs.clone();
            s.loki = a.loki.clone();
            s.model = a.model.clone();
            s.agent = a.agent.clone();
            s.vectors = a.vectors.clone();
            s.store = a.store.clone();
        };
        match &self.command {
            Command::Ask(a) => {
                s.logs = a.logs.clone();
                s.loki = a.loki.clone();
                s.model = a.model.clone();
                s.agent = a.agent.clone();
                s.vectors = a.vectors.clone();
                s.store = a.store.clone();
            }
            Command::Ingest(a) => {
                s.logs = a.logs.clone();
                s.loki = a.loki.clone();
            }
            Command::Serve(a) => all(&a.settings, &mut s),
            Command::CheckConfig(a) => all(&a.settings, &mut s),
            Command::Explain => {}
            Command::Golden(GoldenCommand::Extract { logs, loki, .. }) => {
                s.logs = logs.clone();
                s.loki = loki.clone();
            }
            Command::Golden(_) => {}
            Command::Eval(a) => {
                s.model = a.model.clone();
                s.agent = a.agent.clone();
                s.vectors = a.vectors.clone();
                s.loki = a.loki.clone();
                s.store = a.store.clone();
            }
            Command::Keys(a) => s.store = a.store.clone(),
            Command::Feedback(a) => s.store = a.store.clone(),
            Command::Queue(a) => s.store = a.store.clone(),
            Command::Trace(a) => s.store = a.store.clone(),
            Command::Index(a) => {
                s.logs = a.logs.clone();
                s.loki = a.loki.clone();
                s.vectors = a.vectors.clone();
                s.store = a.store.clone();
            }
            Command::Summary(a) => {
                s.logs = a.window.logs.clone();
                s.loki = a.window.loki.clone();
                s.model = a.model.clone();
            }
            Command::Triage(TriageArgs { window, .. })
            | Command::Changes(ChangesArgs { window, .. })
            | Command::Cascade(CascadeArgs { window }) => {
                s.logs = window.logs.clone();
                s.loki = window.loki.clone();
            }
        }
        s
    }
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (TOML). Default: ./loglens.toml when it exists.
    #[arg(long, global = true, env = "LOGLENS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

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
    CheckConfig(Box<CheckConfigArgs>),
    /// Golden dataset tooling: import real incidents as cases, check the cases.
    #[command(subcommand)]
    Golden(GoldenCommand),
    /// Replay the golden cases through a pipeline and score the answers (JSON, CSV and
    /// Markdown reports).
    ///
    /// Example: loglens eval --variant evidence
    Eval(EvalArgs),
    /// API keys for the HTTP API (see `serve --require-api-key`).
    Keys(KeysArgs),
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
    Feedback(FeedbackArgs),
    /// The incident bots' durable queue: list jobs and dead letters, retry a dead one.
    Queue(QueueArgs),
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
    /// Logs.
    #[command(flatten)]
    pub logs: LogArgs,
    /// Loki.
    #[command(flatten)]
    pub loki: LokiArgs,
    /// The embedding server and the index.
    #[command(flatten)]
    pub vectors: VectorArgs,
    /// The store (the embedded index lives beside it).
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `loglens trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// A trace id (32 hex digits) or an analysis id.
    pub id: String,
    /// Print the spans as JSON instead of a tree.
    #[arg(long)]
    pub json: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `loglens golden ...`.
// Parsed once per process: a large variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
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
    /// Example: loglens golden extract --loki-url http://loki:3100 --query '{namespace="shop"}' --since 24h
    Extract {
        /// Local files to read (instead of Loki).
        #[command(flatten)]
        logs: LogArgs,
        /// Loki.
        #[command(flatten)]
        loki: LokiArgs,
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
    /// The model server.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The agents' use of the model.
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Hybrid retrieval (the hybrid variant, --hybrid, --semantic).
    #[command(flatten)]
    pub vectors: VectorArgs,
    /// Loki (--loki).
    #[command(flatten)]
    pub loki: LokiArgs,
    /// Where runs are stored.
    #[command(flatten)]
    pub store: StoreArgs,
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
    /// Where the answer is stored.
    #[command(flatten)]
    pub store: StoreArgs,
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
    /// The files to push.
    #[command(flatten)]
    pub logs: LogArgs,
    /// Where to push them.
    #[command(flatten)]
    pub loki: LokiArgs,
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
    /// Every other setting.
    #[command(flatten)]
    pub settings: AllArgs,
}

/// Every option group (`serve` and `check-config` take them all).
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

/// `loglens check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The settings to check.
    #[command(flatten)]
    pub settings: AllArgs,
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
    /// Logs and events.
    #[command(flatten)]
    pub logs: LogArgs,
    /// Loki.
    #[command(flatten)]
    pub loki: LokiArgs,
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
    /// The model server (for the written summary).
    #[command(flatten)]
    pub model: ModelArgs,
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

/// `loglens feedback`.
#[derive(Debug, Args)]
pub struct FeedbackArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: FeedbackCommand,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `loglens queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: QueueCommand,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `loglens keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
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
