//! What each subcommand does. `main` calls [`run`].
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use loglens_agents::evidence::SignatureLibrary;
use loglens_agents::llm::LlmClient;
use loglens_agents::llm::ReplyEvent;
use loglens_agents::pipeline::PipelineGraph;
use loglens_agents::retrieval::HybridRetriever;
use loglens_agents::router::RetrievalMode;
use loglens_agents::{AgentPipeline, BaselineAnalyzer};
use loglens_tools::embed::Embedder;
use loglens_tools::k8s::{
    EventSource, FileEventSource, KubeEventSource, LokiEventSource, MergedEventSource,
};
use loglens_tools::logs::FileLogSource;
use loglens_tools::vector::{QdrantStore, SqliteVectorStore, VectorStore};

use crate::analysis::{AnalysisService, Progress, Question, new_id};
use crate::cli::{AskArgs, Cli, Command, IngestArgs};
use crate::cli::{FeedbackCommand, KeysCommand, QueueCommand, RetrievalArg};
use crate::config::{Config, VectorBackend};
use crate::server::auth::Auth;
use crate::server::{AppState, serve};
use crate::store::Store;
use crate::telemetry::Telemetry;
use loglens_tools::logs::LogSource;
use loglens_tools::logs::ingest::Ingest;
use loglens_tools::logs::loki::{LokiClient, LokiLogSource};

/// Prints the pipeline's stages and graph.
fn explain() -> anyhow::Result<ExitCode> {
    print!("{}", PipelineGraph::default().explain());
    Ok(ExitCode::SUCCESS)
}

/// Runs the parsed command line.
pub async fn run(cli: Cli, telemetry: &Telemetry) -> anyhow::Result<ExitCode> {
    // Explaining the pipeline needs no settings: a broken config file does not stop it.
    if matches!(cli.command, Command::Explain) {
        return explain();
    }
    let listen = match &cli.command {
        Command::Serve(a) => a.listen,
        Command::Ask(_)
        | Command::Ingest(_)
        | Command::Explain
        | Command::CheckConfig(_)
        | Command::Golden(_)
        | Command::Eval(_)
        | Command::Trace(_)
        | Command::Index(_)
        | Command::Keys(_)
        | Command::Queue(_)
        | Command::Feedback(_)
        | Command::Summary(_)
        | Command::Triage(_)
        | Command::Changes(_)
        | Command::Cascade(_) => None,
    };
    let config = Config::load(&cli.settings(), listen)?;
    match cli.command {
        Command::Ask(args) => ask(&config, *args, telemetry).await,
        Command::Trace(args) => crate::trace::trace(&config, args).await,
        Command::Index(args) => crate::index::index(&config, args).await,
        Command::Keys(a) => keys(&config, a.command).await,
        Command::Queue(a) => queue(&config, a.command).await,
        Command::Feedback(a) => feedback(&config, a.command).await,
        Command::Summary(a) => crate::insight_commands::summary(&config, a).await,
        Command::Triage(a) => crate::insight_commands::triage(&config, a).await,
        Command::Changes(a) => crate::insight_commands::changes(&config, a).await,
        Command::Cascade(a) => crate::insight_commands::cascade(&config, a).await,
        Command::Ingest(args) => ingest(&config, args).await,
        Command::Golden(cmd) => crate::golden::golden(&config, cmd).await,
        Command::Eval(args) => crate::eval::eval(&config, args, telemetry).await,
        Command::Explain => explain(),
        Command::CheckConfig(_) => {
            let file = cli.global.config.as_deref().map_or_else(
                || {
                    if std::path::Path::new("loglens.toml").exists() {
                        "./loglens.toml".to_string()
                    } else {
                        "no config file".to_string()
                    }
                },
                |p| p.display().to_string(),
            );
            println!("the settings are valid ({file}, the environment and the flags)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let service = build_service(&config).await?;
            telemetry.keep_spans_in(service.store().clone());
            let auth = if args.require_api_key || config.require_api_key {
                if service
                    .store()
                    .api_keys()
                    .await?
                    .iter()
                    .all(|k| k.revoked_at.is_some())
                {
                    tracing::warn!(
                        "API keys are required but none is live: every request will be refused (loglens keys create NAME)"
                    );
                }
                Auth::required()
            } else {
                Auth::open()
            };
            let mut bot_config = config.bots.clone();
            if let Some(n) = args.workers {
                bot_config.workers = n;
            }
            let bots = build_bots(&config, service.store(), bot_config)?;
            let _workers = crate::incidents::worker::spawn(&bots, &service);
            let state = AppState {
                service,
                metrics: telemetry.registry(),
                auth,
                bots,
            };
            serve(state, config.listen, &config.cors_origins).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Builds the analysis service from the configuration: log source, model client, store.
pub async fn build_service(config: &Config) -> anyhow::Result<AnalysisService> {
    let agents = agent_pipeline(config).await?;
    let analyzer = BaselineAnalyzer::new(
        agents.source().clone(),
        agents.llm().clone(),
        config.analyzer.clone(),
    );
    // Hybrid retrieval contacts nothing until it is used; only opening the index can
    // fail here (an unwritable path), and that should not stop structured answers.
    let agents = match hybrid_retriever(config).await {
        Ok(h) => agents.with_hybrid(h),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "hybrid retrieval unavailable");
            agents
        }
    };
    let store = Store::connect(&config.database_url).await?;
    let (running, queued) = config.admission;
    Ok(AnalysisService::new(analyzer, agents, store)
        .with_admission(crate::admission::Admission::new(running, queued)))
}

/// The agent pipeline (log and event sources, model client, signatures), without
/// hybrid retrieval or storage: what the insight commands need.
pub async fn agent_pipeline(config: &Config) -> anyhow::Result<AgentPipeline> {
    let llm = LlmClient::new(config.llm.clone())?;
    let library = SignatureLibrary::builtin().context("loading the signature library")?;
    Ok(AgentPipeline::new(
        log_source(config)?,
        event_source(config).await?,
        llm,
        Arc::new(library),
        config.pipeline.clone(),
    ))
}

/// The incident bots over the store's queue and the configured outputs.
pub fn build_bots(
    config: &Config,
    store: &Store,
    bot_config: crate::incidents::BotConfig,
) -> anyhow::Result<crate::incidents::Bots> {
    let queue = crate::queue::JobQueue::new(store, config.queue);
    let sender =
        crate::incidents::outputs::Sender::new(config.outputs.clone(), Duration::from_secs(15))?;
    if sender.outputs().is_empty() {
        tracing::info!(
            "no report outputs configured ([slack], [webhook]): alert investigations are stored, not sent"
        );
    }
    Ok(crate::incidents::Bots::new(queue, sender, bot_config))
}

/// Hybrid retrieval as configured: the embedding client and the vector index (the
/// embedded file, or Qdrant).
pub async fn hybrid_retriever(config: &Config) -> anyhow::Result<HybridRetriever> {
    let store: Arc<dyn VectorStore> = match &config.vectors {
        VectorBackend::Sqlite(path) => Arc::new(
            SqliteVectorStore::open(path)
                .await
                .with_context(|| format!("opening the vector index {}", path.display()))?,
        ),
        VectorBackend::Qdrant {
            url,
            collection,
            api_key,
        } => Arc::new(QdrantStore::connect(url, collection, api_key.clone())?),
    };
    Ok(HybridRetriever::new(
        Embedder::new(config.embed.clone()),
        store,
        config.hybrid,
    ))
}

/// Where Kubernetes events come from: the files given with --events, else the Kubernetes
/// API when asked (--kubernetes; merged with Loki's events when Loki is configured), else
/// Loki (Alloy's `loki.source.kubernetes_events`) when it is configured, else nowhere.
pub async fn event_source(config: &Config) -> anyhow::Result<Option<Arc<dyn EventSource>>> {
    if !config.event_paths.is_empty() {
        for p in &config.event_paths {
            if !p.exists() {
                bail!("event file {} does not exist", p.display());
            }
        }
        return Ok(Some(Arc::new(FileEventSource::new(
            config.event_paths.clone(),
        ))));
    }
    if config.kubernetes {
        let api: Arc<dyn EventSource> = Arc::new(KubeEventSource::infer().await?);
        // With Loki too: the API's present (pod status, the last hour of events) and
        // Loki's history of events, read as one.
        return Ok(Some(match &config.loki {
            Some(loki) => Arc::new(MergedEventSource::new(vec![
                api,
                Arc::new(LokiEventSource::new(LokiClient::new(loki.clone())?)),
            ])),
            None => api,
        }));
    }
    if let Some(loki) = &config.loki {
        return Ok(Some(Arc::new(LokiEventSource::new(LokiClient::new(
            loki.clone(),
        )?))));
    }
    Ok(None)
}

/// Where logs are read from: the local files given with --logs when there are any (the
/// embedded default), else Loki when it is configured.
pub fn log_source(config: &Config) -> anyhow::Result<Arc<dyn LogSource>> {
    if !config.log_paths.is_empty() {
        let source =
            FileLogSource::new(config.log_paths.clone()).with_max_line_bytes(config.max_line_bytes);
        source.files().context("checking --logs")?;
        return Ok(Arc::new(source));
    }
    if let Some(loki) = &config.loki {
        return Ok(Arc::new(LokiLogSource::new(LokiClient::new(loki.clone())?)));
    }
    bail!(
        "no logs given: pass --logs PATH for local files or --loki-url URL for Loki (or set LOGLENS_LOGS / LOGLENS_LOKI_URL, or loglens.toml)"
    )
}

async fn ask(config: &Config, args: AskArgs, telemetry: &Telemetry) -> anyhow::Result<ExitCode> {
    let filters = args.filters.spec()?;
    let service = build_service(config).await?;
    telemetry.keep_spans_in(service.store().clone());
    let question = Question {
        id: new_id(),
        text: args.question,
        filters,
        limit: args.limit,
        channel: "cli",
        mode: args.pipeline,
        retrieval: match args.retrieval {
            RetrievalArg::Structured => Some(RetrievalMode::Structured),
            RetrievalArg::Hybrid => Some(RetrievalMode::Hybrid),
            RetrievalArg::Auto => None,
        },
    };

    let bar = progress_bar();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let watcher = {
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut written = 0usize;
            while let Some(p) = rx.recv().await {
                match p {
                    Progress::Retrieved { lines, matched } => {
                        bar.set_message(format!(
                            "{} of {matched} matching lines sent; waiting for the model",
                            lines.len()
                        ));
                    }
                    Progress::Reply(ReplyEvent::Token(d)) => {
                        written += d.len();
                        bar.set_message(format!("model is writing the answer ({written} chars)"));
                    }
                    Progress::Reply(ReplyEvent::Rejected(reason)) => {
                        written = 0;
                        bar.println(format!("model reply rejected ({reason}); asking once more"));
                    }
                    Progress::Agent(event) => {
                        let (line, status) = crate::render::agent_event(event.as_ref());
                        if let Some(line) = line {
                            if bar.is_hidden() {
                                eprintln!("{line}");
                            } else {
                                bar.println(line);
                            }
                        }
                        bar.set_message(status);
                    }
                }
            }
        })
    };
    let result = service.run(question, Some(tx)).await;
    let _ = watcher.await;
    bar.finish_and_clear();
    match result {
        Ok(record) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                print!("{}", crate::render::record(&record));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            let stored = failure
                .stored_id
                .map(|id| format!(" (recorded as analysis {id})"))
                .unwrap_or_default();
            bail!("{}{stored}", failure.error)
        }
    }
}

async fn keys(config: &Config, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url).await?;
    match cmd {
        KeysCommand::Create { name, rate } => {
            if name.trim().is_empty() || rate == 0 {
                bail!("a key needs a name and a rate of at least 1 a minute");
            }
            let (record, secret) = store.create_api_key(name.trim(), rate).await?;
            eprintln!(
                "key {} for {:?}, {} requests a minute; it is shown only now:",
                record.id, record.name, record.rate_per_minute
            );
            println!("{secret}");
        }
        KeysCommand::List => {
            for k in store.api_keys().await? {
                println!(
                    "{}\t{}\t{}/min\tcreated {}\t{}",
                    k.id,
                    k.name,
                    k.rate_per_minute,
                    k.created_at,
                    k.revoked_at
                        .map_or("live".to_string(), |r| format!("revoked {r}"))
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !store.revoke_api_key(&id).await? {
                bail!("no live key with id {id} (see loglens keys list)");
            }
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn feedback(config: &Config, cmd: FeedbackCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url).await?;
    let fb = crate::feedback::FeedbackStore::new(store.clone());
    match cmd {
        FeedbackCommand::List { pending, limit } => {
            for f in fb.list(pending, limit).await? {
                let fields: Vec<String> = f
                    .correction
                    .as_ref()
                    .and_then(|c| serde_json::to_value(c).ok())
                    .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
                    .unwrap_or_default();
                println!(
                    "{}\t{:?}\tanalysis {}\tby {}\t{}\t{}",
                    f.created_at,
                    f.verdict,
                    f.analysis_id,
                    f.author,
                    if fields.is_empty() {
                        "-".to_string()
                    } else {
                        format!("corrected {}", fields.join(", "))
                    },
                    f.exported_at
                        .map_or("pending".to_string(), |t| format!("exported {t}"))
                );
            }
        }
        FeedbackCommand::Export { out } => {
            let (mut written, mut skipped) = (0, 0);
            for f in fb.list(true, 10_000).await? {
                let Some(a) = store.get(&f.analysis_id).await? else {
                    skipped += 1;
                    continue;
                };
                match crate::feedback::candidate(&f, &a) {
                    Some(case) => {
                        let path = loglens_evals::case::write_case(&out, &case)?;
                        fb.mark_exported(&f.id).await?;
                        println!("{}", path.display());
                        written += 1;
                    }
                    None => skipped += 1,
                }
            }
            eprintln!(
                "{written} candidate case(s) written under {}; {skipped} feedback without a right answer to learn from (incorrect, no correction) left as it is",
                out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn queue(config: &Config, cmd: QueueCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url).await?;
    let queue = crate::queue::JobQueue::new(&store, config.queue);
    match cmd {
        QueueCommand::List {
            kind,
            status,
            limit,
        } => {
            for j in queue.list(kind, status, None, limit).await? {
                let what = j
                    .payload
                    .pointer("/alert/labels/alertname")
                    .or_else(|| j.payload.get("question"))
                    .or_else(|| j.payload.get("output"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                println!(
                    "{}\t{}\t{}\t{}/{} attempts\t{}\t{}\t{}",
                    j.id,
                    j.kind,
                    j.status,
                    j.attempts,
                    j.max_attempts,
                    j.created_at.format("%Y-%m-%d %H:%M:%S"),
                    what.chars().take(60).collect::<String>(),
                    j.last_error
                        .unwrap_or_default()
                        .chars()
                        .take(120)
                        .collect::<String>()
                );
            }
        }
        QueueCommand::Retry { id } => {
            if !queue.retry(&id).await? {
                bail!("no dead job with id {id} (see loglens queue list --status dead)");
            }
            println!("re-queued {id}; a running `loglens serve` picks it up");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn ingest(config: &Config, args: IngestArgs) -> anyhow::Result<ExitCode> {
    if config.log_paths.is_empty() {
        bail!("no logs given: pass --logs PATH (or set LOGLENS_LOGS)");
    }
    let mut labels = std::collections::BTreeMap::new();
    for l in &args.labels {
        let Some((k, v)) = l.split_once('=') else {
            bail!("--label {l:?} is not NAME=VALUE")
        };
        labels.insert(k.trim().to_string(), v.trim().to_string());
    }
    let Some(loki) = config.loki.clone() else {
        bail!(
            "no Loki to push to: pass --loki-url URL (or set LOGLENS_LOKI_URL, or [loki] url in loglens.toml)"
        );
    };
    let tenant = loki.tenant.clone();
    let client = LokiClient::new(loki)?;
    let ingest = Ingest::new(client, tenant, args.checkpoint)
        .with_batch_lines(args.batch_lines)
        .with_max_line_bytes(args.max_line_bytes)
        .with_labels(labels);
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} lines pushed {elapsed} (eta {eta})")
    {
        bar.set_style(style);
    }
    let report = ingest
        .run(&config.log_paths, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .await;
    bar.finish_and_clear();
    let report = report?;
    println!(
        "{} lines pushed in {} batches from {} files ({} already pushed by earlier runs)",
        report.pushed, report.batches, report.files, report.already_pushed
    );
    if report.truncated > 0 {
        eprintln!(
            "warning: {} lines were longer than {} bytes and were cut to that length (see --max-line-bytes)",
            report.truncated, args.max_line_bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A spinner on stderr when it is a terminal; hidden otherwise (pipes, CI).
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar.set_message("reading logs");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
