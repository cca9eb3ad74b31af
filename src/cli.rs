//! Command-line interface (clap). Only `--config` and `--log-format` are taken by every
//! command; each command takes the option groups it uses (`crate::option_groups`).
//! Every option can also come from an environment variable (shown in `--help`) or the
//! config file; flags win over the environment, which wins over the file, which wins
//! over the defaults.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::telemetry::LogFormat;

use crate::commands::ask::AskArgs;
use crate::commands::eval::EvalArgs;
use crate::commands::feedback::FeedbackArgs;
use crate::commands::golden::GoldenCommand;
use crate::commands::index::IndexArgs;
use crate::commands::ingest::IngestArgs;
use crate::commands::insights::{CascadeArgs, ChangesArgs, SummaryArgs, TriageArgs};
use crate::commands::keys::KeysArgs;
use crate::commands::queue::QueueArgs;
use crate::commands::trace::TraceArgs;
use crate::option_groups::{AllArgs, Settings};

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
            Command::Ask(a) => all(&a.settings, &mut s),
            Command::Ingest(a) => {
                s.logs = a.logs.clone();
                s.loki = a.loki.clone();
            }
            Command::Serve(a) => all(&a.settings, &mut s),
            Command::CheckConfig(a) => all(&a.settings, &mut s),
            Command::Explain => {}
            Command::Golden(GoldenCommand::Extract(a)) => {
                s.logs = a.logs.clone();
                s.loki = a.loki.clone();
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

/// `loglens check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The settings to check.
    #[command(flatten)]
    pub settings: AllArgs,
}
