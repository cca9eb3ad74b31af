//! `loglens eval`: replaying the golden cases through a pipeline, scoring, storing and
//! comparing runs, flagging drift (issue 6).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use loglens_evals::drift::{compare as compare_metrics, markdown as drift_markdown};
use loglens_evals::score::Metrics;

use crate::config::Config;
use crate::option_groups::{AgentArgs, LokiArgs, ModelArgs, StoreArgs, VectorArgs};
use crate::store::Store;
use crate::telemetry::Telemetry;

/// `loglens eval`: a run, or `compare` / `list`.
pub async fn eval(
    config: &Config,
    args: EvalArgs,
    telemetry: &Telemetry,
) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(EvalCommand::Compare { a, b }) => compare(config, &a, &b).await,
        Some(EvalCommand::List { limit }) => list(config, limit).await,
        None => run::run_eval(config, args.run, telemetry).await,
    }
}

mod csv;
mod run;

/// A run's metrics: a stored run id, else a report folder with run.json.
async fn load_run(config: &Config, which: &str) -> anyhow::Result<(String, Metrics)> {
    let dir = PathBuf::from(which);
    if dir.join("run.json").exists() {
        let text = std::fs::read_to_string(dir.join("run.json"))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", dir.join("run.json").display()))?;
        let m: Metrics = serde_json::from_value(v["metrics"].clone())
            .with_context(|| format!("reading the metrics in {}", dir.display()))?;
        let name = v["id"]
            .as_str()
            .map_or_else(|| which.to_string(), str::to_string);
        return Ok((name, m));
    }
    let store = Store::connect(&config.database_url).await?;
    let Some(r) = store.eval_run(which).await? else {
        bail!("no stored eval run {which} and no report folder there (see `loglens eval list`)");
    };
    Ok((r.id, serde_json::from_value(r.metrics)?))
}

async fn compare(config: &Config, a: &str, b: &str) -> anyhow::Result<ExitCode> {
    let (an, am) = load_run(config, a).await?;
    let (bn, bm) = load_run(config, b).await?;
    let deltas = compare_metrics(&am, &bm, config.drift);
    print!("{}", drift_markdown(&an, &bn, &deltas));
    Ok(ExitCode::SUCCESS)
}

async fn list(config: &Config, limit: i64) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url).await?;
    let runs = store.recent_eval_runs(limit).await?;
    if runs.is_empty() {
        println!("no eval runs stored in {}", config.database_url);
    }
    for r in runs {
        let m: Metrics = serde_json::from_value(r.metrics).unwrap_or_default();
        let drift = r.drift.as_array().map_or(0, Vec::len);
        println!(
            "{}  {:<22} {:>4} cases  cause {:.1}%  component {:.1}%  severity {:.1}%  {}",
            r.id,
            r.variant,
            r.cases,
            m.cause_accuracy * 100.0,
            m.component_accuracy * 100.0,
            m.severity_accuracy * 100.0,
            if r.good {
                "good".to_string()
            } else {
                format!("DRIFT ({drift} metrics)")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
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
    /// Where the run's report goes (default `.loglens/evals/<time>-<variant>/`).
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
    /// Replay through Loki (--loki-url or `[loki] url`) instead of the embedded file
    /// source: each case's lines are pushed (retimed to the last minutes, labelled
    /// `loglens_eval="<run>/<case>"`) and read back through the Loki client.
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
