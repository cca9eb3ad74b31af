//! `loglens eval`: replaying the golden cases through a pipeline, scoring, storing and
//! comparing runs, flagging drift (issue 6).
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use loglens_agents::evidence::SignatureLibrary;
use loglens_agents::llm::LlmClient;
use loglens_evals::case::load_cases;
use loglens_evals::drift::{
    Delta, DriftThresholds, case_set_hash, compare as compare_metrics, markdown as drift_markdown,
};
use tracing::Instrument;

use crate::telemetry::Telemetry;
use loglens_evals::replay::{CaseRun, Variant, replay};
use loglens_evals::score::{Metrics, markdown, metrics, score_case};

use crate::config::Config;
use crate::option_groups::{AgentArgs, LokiArgs, ModelArgs, StoreArgs, VectorArgs};
use crate::store::{EvalRunRecord, Store};
use clap::{Args, Subcommand};

/// `loglens eval`: a run, or `compare` / `list`.
pub async fn eval(
    config: &Config,
    args: EvalArgs,
    telemetry: &Telemetry,
) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(EvalCommand::Compare { a, b }) => compare(config, &a, &b).await,
        Some(EvalCommand::List { limit }) => list(config, limit).await,
        None => run_eval(config, args.run, telemetry).await,
    }
}

/// Exit status of a run that drifted with `--fail-on-drift`.
const DRIFT_EXIT: u8 = 3;

/// The progress file of a run folder: one finished case per line, appended as they finish.
const PROGRESS: &str = "progress.jsonl";

fn read_subset(path: &std::path::Path) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the subset {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Finished cases from a progress file (a torn last line from a killed run is skipped).
fn read_progress(path: &std::path::Path) -> anyhow::Result<Vec<CaseRun>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<CaseRun>(l).ok())
        .collect())
}

async fn run_eval(
    config: &Config,
    args: EvalRunArgs,
    telemetry: &Telemetry,
) -> anyhow::Result<ExitCode> {
    let mut cases = load_cases(&args.cases)?;
    if let Some(only) = &args.only {
        cases.retain(|c| c.id.contains(only.as_str()));
    }
    if let Some(path) = &args.subset {
        let ids = read_subset(path)?;
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !cases.iter().any(|c| &c.id == *id))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{} names cases that are not under {}: {missing:?}",
                path.display(),
                args.cases.display()
            );
        }
        cases.retain(|c| ids.contains(&c.id));
    }
    if cases.is_empty() {
        bail!("no cases under {} match", args.cases.display());
    }
    let variant = match args.variant {
        EvalVariant::Evidence => Variant::Evidence,
        EvalVariant::Agents => Variant::Agents,
        EvalVariant::Baseline => Variant::Baseline,
        EvalVariant::Hybrid => Variant::Hybrid,
    };
    if args.hybrid && variant != Variant::Agents {
        bail!("--hybrid applies to the agents variant (the hybrid variant always has it)");
    }
    let embedder = (variant == Variant::Hybrid || args.semantic || args.hybrid)
        .then(|| loglens_tools::embed::Embedder::new(config.embed.clone()));
    if let Some(e) = &embedder {
        e.dimension()
            .await
            .context("the embedding server must be up for the hybrid variant and --semantic")?;
    }
    if args.no_consensus && variant != Variant::Agents {
        bail!("--no-consensus applies to the agents variant only");
    }
    let mut pipeline = config.pipeline.clone();
    pipeline.consensus = !args.no_consensus;
    if args.retrieval_only && !matches!(variant, Variant::Baseline | Variant::Hybrid) {
        bail!("--retrieval-only applies to the baseline and hybrid variants");
    }
    let mut variant_name = variant.name().to_string();
    for (on, suffix) in [
        (args.loki, "+loki"),
        (args.hybrid, "+hybrid"),
        (args.no_consensus, "+no-consensus"),
        (args.retrieval_only, "+retrieval-only"),
    ] {
        if on {
            variant_name.push_str(suffix);
        }
    }
    let thresholds = DriftThresholds {
        quality: args.drift_threshold.unwrap_or(config.drift.quality),
        ..config.drift
    };
    if !(0.0..=1.0).contains(&thresholds.quality) {
        bail!("--drift-threshold must be between 0 and 1");
    }
    let llm = match variant {
        Variant::Evidence => None,
        _ if args.retrieval_only => None,
        _ => {
            let llm = LlmClient::new(config.llm.clone())?;
            llm.ready()
                .await
                .context("the model server must be up for this variant")?;
            Some(llm)
        }
    };
    let library = Arc::new(SignatureLibrary::builtin()?);

    let started = chrono::Utc::now();
    // --loki: each case is pushed into Loki and read back through the Loki client.
    let loki = match (&config.loki, args.loki) {
        (_, false) => None,
        (None, true) => bail!("--loki needs a Loki: --loki-url, LOGLENS_LOKI_URL or [loki] url"),
        (Some(cfg), true) => {
            let client = loglens_tools::logs::loki::LokiClient::new(cfg.clone())?;
            client
                .labels(started - chrono::Duration::minutes(5), started)
                .await
                .with_context(|| format!("Loki at {} must be up for --loki", cfg.url))?;
            Some(loglens_evals::loki_replay::LokiReplay::new(
                client,
                &started.format("%Y%m%dT%H%M%S%.3fZ").to_string(),
            ))
        }
    };
    let out = match (&args.resume, &args.out) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => PathBuf::from(".loglens/evals").join(format!(
            "{}-{}",
            started.format("%Y%m%dT%H%M%SZ"),
            variant_name
        )),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let progress_path = out.join(PROGRESS);
    let mut done: BTreeMap<String, CaseRun> = BTreeMap::new();
    if args.resume.is_some() {
        for r in read_progress(&progress_path)? {
            if r.variant != variant {
                bail!(
                    "{} holds a {} run, not {}",
                    out.display(),
                    r.variant.name(),
                    variant.name()
                );
            }
            done.insert(r.case.clone(), r);
        }
        eprintln!(
            "resuming {}: {} of {} cases already done",
            out.display(),
            done.len(),
            cases.len()
        );
    } else if progress_path.exists() {
        bail!(
            "{} already holds a run: pass --resume {} to continue it, or another --out",
            out.display(),
            out.display()
        );
    }
    let mut progress = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&progress_path)
        .with_context(|| format!("opening {}", progress_path.display()))?;

    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(cases.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} eta {eta} {msg}")
    {
        bar.set_style(style);
    }
    bar.inc(cases.iter().filter(|c| done.contains_key(&c.id)).count() as u64);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    for c in &cases {
        if done.contains_key(&c.id) {
            continue;
        }
        bar.set_message(c.id.clone());
        // One trace per case: its pipeline spans hang under this root.
        let span = tracing::info_span!(
            "eval_case",
            otel.name = %format!("eval {}", c.id),
            "loglens.eval.case" = %c.id,
            "loglens.eval.variant" = %variant_name,
            "loglens.eval.source" = %c.source,
        );
        let trace_id = crate::telemetry::trace_id(&span);
        let case_started = std::time::Instant::now();
        let mut run = tokio::select! {
            r = replay(c, variant, llm.as_ref(), &pipeline, &library, embedder
                .as_ref()
                .filter(|_| variant == Variant::Hybrid || args.hybrid)
                .map(|e| (e, config.hybrid)), loki.as_ref()).instrument(span) => r?,
            _ = &mut stop => {
                bar.abandon();
                eprintln!(
                    "stopped: {} of {} cases done; continue with: loglens eval --variant {} --resume {}",
                    done.len(),
                    cases.len(),
                    variant.name(),
                    out.display()
                );
                return Ok(ExitCode::from(130));
            }
        };
        run.trace_id = trace_id;
        crate::telemetry::metrics::record_eval_case(
            &variant_name,
            case_started.elapsed().as_secs_f64(),
        );
        {
            use std::io::Write;
            serde_json::to_writer(&mut progress, &run)?;
            progress.write_all(b"\n")?;
            progress.flush()?;
        }
        done.insert(c.id.clone(), run);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let mut runs = Vec::new();
    let mut scores = Vec::new();
    for c in &cases {
        if let Some(run) = done.remove(&c.id) {
            scores.push(score_case(c, &run));
            runs.push(run);
        }
    }
    if args.semantic
        && let Some(e) = &embedder
    {
        semantic_match(e, &cases, &runs, &mut scores).await?;
    }
    let m = metrics(&scores, &runs);
    // The headline numbers as gauges: pushed over OTLP at exit when an endpoint is set
    // (the nightly CronJob), so Grafana charts accuracy over time.
    crate::telemetry::metrics::record_eval_run(
        &variant_name,
        &[
            ("root_cause", m.cause_accuracy),
            ("severity", m.severity_accuracy),
            ("component", m.component_accuracy),
            ("error_signature", m.signature_accuracy),
        ],
        m.retrieval.precision,
        m.router_accuracy.unwrap_or(0.0),
    );
    let id = format!("{}-{variant_name}", started.format("%Y%m%dT%H%M%S%.3fZ"));
    let case_set = case_set_hash(cases.iter().map(|c| c.id.as_str()));
    let model = llm.as_ref().map(|l| l.config().model.clone());

    // Drift against the last good run of this variant over these cases.
    let mut drift_section = String::new();
    let mut drifted: Vec<Delta> = Vec::new();
    let mut compared_to = None;
    let store = if args.no_store {
        None
    } else {
        Some(Store::connect(&config.database_url).await?)
    };
    if let Some(store) = &store {
        telemetry.keep_spans_in(store.clone());
    }
    if let Some(store) = &store {
        if let Some(prev) = store.last_good_eval_run(&variant_name, &case_set).await? {
            let before: Metrics = serde_json::from_value(prev.metrics.clone())
                .with_context(|| format!("reading the metrics of run {}", prev.id))?;
            let deltas = compare_metrics(&before, &m, thresholds);
            drifted = deltas.iter().filter(|d| d.drifted).cloned().collect();
            drift_section = format!(
                "\n## Against the last good run ({})\n\nDrift: a quality metric down by more than {:.2}, or p95 latency up by more than {:.0}%.\n\n{}",
                prev.id,
                thresholds.quality,
                thresholds.latency * 100.0,
                drift_markdown(&prev.id, &id, &deltas)
            );
            compared_to = Some(prev.id);
        } else {
            drift_section = "\n## Drift\n\nNo earlier good run of this variant over these cases: this run is the reference.\n".into();
        }
    }
    // What produced the numbers: the model and the pipeline's settings.
    let answer = match (&llm, variant) {
        (Some(llm), Variant::Agents) => Some(pipeline.specialist.answer.resolve(llm).await.name()),
        _ => None,
    };
    let settings = serde_json::json!({
        "model": model,
        "model_url": llm.as_ref().map(|l| l.config().base_url.clone()),
        "sampling": llm.as_ref().map(|l| l.config().sampling.clone()),
        "prompt_version": match variant {
            Variant::Evidence => "none".to_string(),
            Variant::Agents => loglens_agents::pipeline::prompt_versions(),
            Variant::Baseline | Variant::Hybrid => {
                loglens_agents::prompts::EXTRACT.version.to_string()
            }
        },
        "samples": pipeline.samples,
        "max_steps": pipeline.specialist.max_steps,
        "small_model_steps": pipeline.specialist.small_model_steps,
        "evidence_tokens": pipeline.specialist.evidence_tokens,
        "answer": answer,
        "max_lines": pipeline.max_lines,
        "consensus": pipeline.consensus,
    });
    let mut report = markdown(&variant_name, &m, &scores);
    if variant != Variant::Evidence {
        report = report.replacen(
            "\n\n| metric | value |",
            &format!(
                "\n\nSettings: `{}`\n\n| metric | value |",
                serde_json::to_string(&settings)?
            ),
            1,
        );
    }
    report.push_str(&drift_section);
    std::fs::write(out.join("report.md"), &report)?;
    std::fs::write(
        out.join("run.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "id": id,
            "variant": variant_name,
            "model": model,
            "settings": settings,
            "case_set": case_set,
            "metrics": m,
            "drift": drifted,
            "compared_to": compared_to,
            "cases": scores,
            "runs": runs,
        }))?,
    )?;
    std::fs::write(out.join("cases.csv"), cases_csv(&scores))?;
    if let Some(store) = &store {
        store
            .insert_eval_run(&EvalRunRecord {
                id: id.clone(),
                created_at: started,
                variant: variant_name.clone(),
                model,
                case_set,
                cases: scores.len(),
                metrics: serde_json::to_value(&m)?,
                scores: serde_json::to_value(&scores)?,
                compared_to,
                drift: serde_json::to_value(&drifted)?,
                good: drifted.is_empty(),
                report_dir: out.display().to_string(),
            })
            .await?;
    }
    print!("{report}");
    println!("\nreport: {}  (run {id})", out.display());
    if !drifted.is_empty() {
        let names: Vec<&str> = drifted.iter().map(|d| d.metric.as_str()).collect();
        eprintln!("drift: {}", names.join(", "));
        if args.fail_on_drift {
            return Ok(ExitCode::from(DRIFT_EXIT));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Scores each answered root cause against the expected one by meaning: the cosine of
/// their embeddings (one batch for the whole run).
async fn semantic_match(
    embedder: &loglens_tools::embed::Embedder,
    cases: &[loglens_evals::case::GoldenCase],
    runs: &[loglens_evals::replay::CaseRun],
    scores: &mut [loglens_evals::score::CaseScore],
) -> anyhow::Result<()> {
    let expected: std::collections::HashMap<&str, &str> = cases
        .iter()
        .map(|c| (c.id.as_str(), c.expected.root_cause.as_str()))
        .collect();
    let mut texts = Vec::new();
    let mut at = Vec::new();
    for (i, (run, score)) in runs.iter().zip(scores.iter()).enumerate() {
        if let (Some(f), Some(exp)) = (&run.finding, expected.get(score.case.as_str())) {
            texts.push(exp.to_string());
            texts.push(f.root_cause.clone());
            at.push(i);
        }
    }
    let vectors = embedder
        .embed(&texts)
        .await
        .context("embedding the root causes for --semantic")?;
    for (k, &i) in at.iter().enumerate() {
        let sim = loglens_tools::embed::dot(&vectors[2 * k], &vectors[2 * k + 1]);
        scores[i].root_cause_similarity = Some(f64::from(sim));
    }
    Ok(())
}

/// One row per case: the scores, as `cases.csv`.
fn cases_csv(scores: &[loglens_evals::score::CaseScore]) -> String {
    let mut csv = String::from(
        "case,source,answered,cause,component,severity,route,signature,root_cause_overlap,summary_rouge_l,retrieval_recall,retrieval_rr,failure\n",
    );
    for s in scores {
        let cells = [
            csv_field(&s.case),
            csv_field(&s.source),
            s.answered.to_string(),
            s.cause.to_string(),
            s.component.to_string(),
            s.severity.to_string(),
            s.route.map_or(String::new(), |r| r.to_string()),
            s.signature.to_string(),
            format!("{:.3}", s.root_cause_overlap),
            format!("{:.3}", s.summary_rouge_l),
            s.retrieval
                .map_or(String::new(), |r| format!("{:.3}", r.recall)),
            s.retrieval
                .map_or(String::new(), |r| format!("{:.3}", r.reciprocal_rank)),
            csv_field(s.failure.as_deref().unwrap_or("")),
        ];
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}

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
