//! `loglens ask`: one question answered over the logs, with progress on stderr and the
//! answer (or its JSON) on stdout; the run is stored like an HTTP one.
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use loglens_agents::llm::ReplyEvent;
use loglens_agents::router::RetrievalMode;

use crate::analysis::{Progress, Question, new_id};
use crate::config::Config;
use crate::option_groups::{AllArgs, FilterArgs};
use crate::telemetry::Telemetry;
use crate::wiring::build_service;

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
    /// Every setting: logs, Loki, the model, the agents, the vector index, the store.
    #[command(flatten)]
    pub settings: AllArgs,
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

pub async fn ask(
    config: &Config,
    args: AskArgs,
    telemetry: &Telemetry,
) -> anyhow::Result<ExitCode> {
    let filters = args.filters.scope()?;
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
