//! One eval run: replay the chosen cases through a variant, score them, compare with
//! the last good run, write the report folder and store the run.
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
use loglens_evals::replay::{CaseRun, Variant, replay};
use loglens_evals::score::{Metrics, markdown, metrics, score_case};
use tracing::Instrument;

use super::csv::cases_csv;
use super::{EvalRunArgs, EvalVariant};
use crate::config::Config;
use crate::store::{EvalRunRecord, Store};
use crate::telemetry::Telemetry;

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

/// A run: choose the cases, check the settings and the servers, replay each case
/// (resumable), then score, compare with the last good run, write the report and store
/// the run. Each step is one function below.
pub(super) async fn run_eval(
    config: &Config,
    args: EvalRunArgs,
    telemetry: &Telemetry,
) -> anyhow::Result<ExitCode> {
    let cases = select_cases(&args)?;
    let plan = Plan::new(config, &args)?;
    let servers = Servers::connect(config, &args, &plan).await?;
    let started = chrono::Utc::now();
    let loki = loki_replay(config, &args, started).await?;
    let mut folder = RunFolder::open(&args, &plan, started, cases.len())?;
    if let Some(code) =
        replay_all(config, &plan, &servers, loki.as_ref(), &cases, &mut folder).await?
    {
        return Ok(code);
    }

    let mut runs = Vec::new();
    let mut scores = Vec::new();
    for c in &cases {
        if let Some(run) = folder.done.remove(&c.id) {
            scores.push(score_case(c, &run));
            runs.push(run);
        }
    }
    if args.semantic
        && let Some(e) = &servers.embedder
    {
        semantic_match(e, &cases, &runs, &mut scores).await?;
    }
    let m = metrics(&scores, &runs);
    record_headline(&plan.name, &m);
    let id = format!("{}-{}", started.format("%Y%m%dT%H%M%S%.3fZ"), plan.name);
    let case_set = case_set_hash(cases.iter().map(|c| c.id.as_str()));
    let model = servers.llm.as_ref().map(|l| l.config().model.clone());

    let store = if args.no_store {
        None
    } else {
        Some(Store::connect(&config.database_url).await?)
    };
    if let Some(store) = &store {
        telemetry.keep_spans_in(store.clone());
    }
    let drift = match &store {
        Some(store) => Drift::against_last_good(store, &plan, &case_set, &id, &m).await?,
        None => Drift::default(),
    };
    let settings = settings(&plan, &servers).await;
    let mut report = markdown(&plan.name, &m, &scores);
    if plan.variant != Variant::Evidence {
        report = report.replacen(
            "\n\n| metric | value |",
            &format!(
                "\n\nSettings: `{}`\n\n| metric | value |",
                serde_json::to_string(&settings)?
            ),
            1,
        );
    }
    report.push_str(&drift.section);
    let out = &folder.out;
    std::fs::write(out.join("report.md"), &report)?;
    std::fs::write(
        out.join("run.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "id": id,
            "variant": plan.name,
            "model": model,
            "settings": settings,
            "case_set": case_set,
            "metrics": m,
            "drift": drift.drifted,
            "compared_to": drift.compared_to,
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
                variant: plan.name.clone(),
                model,
                case_set,
                cases: scores.len(),
                metrics: serde_json::to_value(&m)?,
                scores: serde_json::to_value(&scores)?,
                compared_to: drift.compared_to,
                drift: serde_json::to_value(&drift.drifted)?,
                good: drift.drifted.is_empty(),
                report_dir: out.display().to_string(),
            })
            .await?;
    }
    print!("{report}");
    println!("\nreport: {}  (run {id})", out.display());
    if !drift.drifted.is_empty() {
        let names: Vec<&str> = drift.drifted.iter().map(|d| d.metric.as_str()).collect();
        eprintln!("drift: {}", names.join(", "));
        if args.fail_on_drift {
            return Ok(ExitCode::from(DRIFT_EXIT));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The headline numbers as gauges: pushed over OTLP at exit when an endpoint is set
/// (the nightly CronJob), so Grafana charts accuracy over time.
fn record_headline(name: &str, m: &Metrics) {
    crate::telemetry::metrics::record_eval_run(
        name,
        &[
            ("root_cause", m.cause_accuracy),
            ("severity", m.severity_accuracy),
            ("component", m.component_accuracy),
            ("error_signature", m.signature_accuracy),
        ],
        m.retrieval.precision,
        m.router_accuracy.unwrap_or(0.0),
    );
}

/// The cases to run: all under `--cases`, narrowed by `--only` and `--subset` (whose ids
/// must all exist).
fn select_cases(args: &EvalRunArgs) -> anyhow::Result<Vec<loglens_evals::case::GoldenCase>> {
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
    Ok(cases)
}

/// What a run replays and how it is named, checked before anything starts.
struct Plan {
    variant: Variant,
    /// The variant and its flags (`agents+loki+no-consensus`): runs compare by it.
    name: String,
    pipeline: loglens_agents::pipeline::PipelineConfig,
    thresholds: DriftThresholds,
}

impl Plan {
    fn new(config: &Config, args: &EvalRunArgs) -> anyhow::Result<Self> {
        let variant = match args.variant {
            EvalVariant::Evidence => Variant::Evidence,
            EvalVariant::Agents => Variant::Agents,
            EvalVariant::Baseline => Variant::Baseline,
            EvalVariant::Hybrid => Variant::Hybrid,
        };
        if args.hybrid && variant != Variant::Agents {
            bail!("--hybrid applies to the agents variant (the hybrid variant always has it)");
        }
        if args.no_consensus && variant != Variant::Agents {
            bail!("--no-consensus applies to the agents variant only");
        }
        if args.retrieval_only && !matches!(variant, Variant::Baseline | Variant::Hybrid) {
            bail!("--retrieval-only applies to the baseline and hybrid variants");
        }
        let mut pipeline = config.pipeline.clone();
        pipeline.consensus = !args.no_consensus;
        let mut name = variant.name().to_string();
        for (on, suffix) in [
            (args.loki, "+loki"),
            (args.hybrid, "+hybrid"),
            (args.no_consensus, "+no-consensus"),
            (args.retrieval_only, "+retrieval-only"),
        ] {
            if on {
                name.push_str(suffix);
            }
        }
        let thresholds = DriftThresholds {
            quality: args.drift_threshold.unwrap_or(config.drift.quality),
            ..config.drift
        };
        if !(0.0..=1.0).contains(&thresholds.quality) {
            bail!("--drift-threshold must be between 0 and 1");
        }
        Ok(Self {
            variant,
            name,
            pipeline,
            thresholds,
        })
    }
}

/// The servers a variant needs, each checked up before the first case: the model
/// server (not for the evidence floor or `--retrieval-only`), the embedding server (for
/// hybrid retrieval and `--semantic`).
struct Servers {
    llm: Option<LlmClient>,
    embedder: Option<loglens_tools::embed::Embedder>,
    /// Hybrid retrieval is on (the hybrid variant, or `--hybrid`).
    hybrid: bool,
    library: Arc<SignatureLibrary>,
}

impl Servers {
    async fn connect(config: &Config, args: &EvalRunArgs, plan: &Plan) -> anyhow::Result<Self> {
        let hybrid = plan.variant == Variant::Hybrid || args.hybrid;
        let embedder = (hybrid || args.semantic)
            .then(|| loglens_tools::embed::Embedder::new(config.embed.clone()));
        if let Some(e) = &embedder {
            e.dimension()
                .await
                .context("the embedding server must be up for the hybrid variant and --semantic")?;
        }
        let llm = match plan.variant {
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
        Ok(Self {
            llm,
            embedder,
            hybrid,
            library: Arc::new(SignatureLibrary::builtin()?),
        })
    }
}

/// `--loki`: each case is pushed into Loki and read back through the Loki client.
async fn loki_replay(
    config: &Config,
    args: &EvalRunArgs,
    started: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<loglens_evals::loki_replay::LokiReplay>> {
    match (&config.loki, args.loki) {
        (_, false) => Ok(None),
        (None, true) => bail!("--loki needs a Loki: --loki-url, LOGLENS_LOKI_URL or [loki] url"),
        (Some(cfg), true) => {
            let client = loglens_tools::logs::loki::LokiClient::new(cfg.clone())?;
            client
                .labels(started - chrono::Duration::minutes(5), started)
                .await
                .with_context(|| format!("Loki at {} must be up for --loki", cfg.url))?;
            Ok(Some(loglens_evals::loki_replay::LokiReplay::new(
                client,
                &started.format("%Y%m%dT%H%M%S%.3fZ").to_string(),
            )))
        }
    }
}

/// A run's folder: where its report goes, and its progress file (one finished case per
/// line, so a stopped run resumes where it was).
struct RunFolder {
    out: PathBuf,
    done: BTreeMap<String, CaseRun>,
    progress: std::fs::File,
}

impl RunFolder {
    fn open(
        args: &EvalRunArgs,
        plan: &Plan,
        started: chrono::DateTime<chrono::Utc>,
        cases: usize,
    ) -> anyhow::Result<Self> {
        let out = match (&args.resume, &args.out) {
            (Some(dir), _) => dir.clone(),
            (None, Some(dir)) => dir.clone(),
            (None, None) => PathBuf::from(".loglens/evals").join(format!(
                "{}-{}",
                started.format("%Y%m%dT%H%M%SZ"),
                plan.name
            )),
        };
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let progress_path = out.join(PROGRESS);
        let mut done: BTreeMap<String, CaseRun> = BTreeMap::new();
        if args.resume.is_some() {
            for r in read_progress(&progress_path)? {
                if r.variant != plan.variant {
                    bail!(
                        "{} holds a {} run, not {}",
                        out.display(),
                        r.variant.name(),
                        plan.variant.name()
                    );
                }
                done.insert(r.case.clone(), r);
            }
            eprintln!(
                "resuming {}: {} of {cases} cases already done",
                out.display(),
                done.len(),
            );
        } else if progress_path.exists() {
            bail!(
                "{} already holds a run: pass --resume {} to continue it, or another --out",
                out.display(),
                out.display()
            );
        }
        let progress = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&progress_path)
            .with_context(|| format!("opening {}", progress_path.display()))?;
        Ok(Self {
            out,
            done,
            progress,
        })
    }

    /// Records a finished case (appended and flushed at once).
    fn finish(&mut self, run: CaseRun) -> anyhow::Result<()> {
        use std::io::Write;
        serde_json::to_writer(&mut self.progress, &run)?;
        self.progress.write_all(b"\n")?;
        self.progress.flush()?;
        self.done.insert(run.case.clone(), run);
        Ok(())
    }
}

/// Replays every case not done yet, one trace per case, with a progress bar. Ctrl-C
/// stops between cases and says how to resume: `Some(130)` then.
async fn replay_all(
    config: &Config,
    plan: &Plan,
    servers: &Servers,
    loki: Option<&loglens_evals::loki_replay::LokiReplay>,
    cases: &[loglens_evals::case::GoldenCase],
    folder: &mut RunFolder,
) -> anyhow::Result<Option<ExitCode>> {
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
    bar.inc(
        cases
            .iter()
            .filter(|c| folder.done.contains_key(&c.id))
            .count() as u64,
    );
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    let hybrid = servers
        .embedder
        .as_ref()
        .filter(|_| servers.hybrid)
        .map(|e| (e, config.hybrid));
    for c in cases {
        if folder.done.contains_key(&c.id) {
            continue;
        }
        bar.set_message(c.id.clone());
        // One trace per case: its pipeline spans hang under this root.
        let span = tracing::info_span!(
            "eval_case",
            otel.name = %format!("eval {}", c.id),
            "loglens.eval.case" = %c.id,
            "loglens.eval.variant" = %plan.name,
            "loglens.eval.source" = %c.source,
        );
        let trace_id = crate::telemetry::trace_id(&span);
        let case_started = std::time::Instant::now();
        let mut run = tokio::select! {
            r = replay(c, plan.variant, servers.llm.as_ref(), &plan.pipeline, &servers.library, hybrid, loki).instrument(span) => r?,
            _ = &mut stop => {
                bar.abandon();
                eprintln!(
                    "stopped: {} of {} cases done; continue with: loglens eval --variant {} --resume {}",
                    folder.done.len(),
                    cases.len(),
                    plan.variant.name(),
                    folder.out.display()
                );
                return Ok(Some(ExitCode::from(130)));
            }
        };
        run.trace_id = trace_id;
        crate::telemetry::metrics::record_eval_case(
            &plan.name,
            case_started.elapsed().as_secs_f64(),
        );
        folder.finish(run)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(None)
}

/// The comparison with the last good run of this variant over the same cases.
#[derive(Default)]
struct Drift {
    /// The report's section (empty without a store).
    section: String,
    /// The metrics that drifted.
    drifted: Vec<Delta>,
    /// The run compared with.
    compared_to: Option<String>,
}

impl Drift {
    async fn against_last_good(
        store: &Store,
        plan: &Plan,
        case_set: &str,
        id: &str,
        m: &Metrics,
    ) -> anyhow::Result<Self> {
        let Some(prev) = store.last_good_eval_run(&plan.name, case_set).await? else {
            return Ok(Self {
                section: "\n## Drift\n\nNo earlier good run of this variant over these cases: this run is the reference.\n".into(),
                ..Self::default()
            });
        };
        let before: Metrics = serde_json::from_value(prev.metrics.clone())
            .with_context(|| format!("reading the metrics of run {}", prev.id))?;
        let deltas = compare_metrics(&before, m, plan.thresholds);
        let t = plan.thresholds;
        Ok(Self {
            section: format!(
                "\n## Against the last good run ({})\n\nDrift: a quality metric down by more than {:.2}, or p95 latency up by more than {:.0}%.\n\n{}",
                prev.id,
                t.quality,
                t.latency * 100.0,
                drift_markdown(&prev.id, id, &deltas)
            ),
            drifted: deltas.iter().filter(|d| d.drifted).cloned().collect(),
            compared_to: Some(prev.id),
        })
    }
}

/// What produced the numbers: the model and the pipeline's settings.
async fn settings(plan: &Plan, servers: &Servers) -> serde_json::Value {
    let llm = servers.llm.as_ref();
    let pipeline = &plan.pipeline;
    let answer = match (llm, plan.variant) {
        (Some(llm), Variant::Agents) => Some(pipeline.specialist.answer.resolve(llm).await.name()),
        _ => None,
    };
    serde_json::json!({
        "model": llm.map(|l| l.config().model.clone()),
        "model_url": llm.map(|l| l.config().base_url.clone()),
        "sampling": llm.map(|l| l.config().sampling.clone()),
        "prompt_version": match plan.variant {
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
    })
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
        .map(|c| (c.id.as_str(), c.expected.diagnosis.root_cause.as_str()))
        .collect();
    let mut texts = Vec::new();
    let mut at = Vec::new();
    for (i, (run, score)) in runs.iter().zip(scores.iter()).enumerate() {
        if let (Some(f), Some(exp)) = (&run.finding, expected.get(score.case.as_str())) {
            texts.push(exp.to_string());
            texts.push(f.diagnosis.root_cause.clone());
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
