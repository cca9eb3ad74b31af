//! `loglens index`: embed logs into the vector index ahead of questions.
//!
//! Hybrid retrieval embeds what it is missing on demand, but only so much per request
//! (`[vectors] on_demand`); indexing ahead keeps answers fast and lets semantic search
//! reach the whole retention window. The job:
//! 1. checks the embedding model against the index (refuses another model's index);
//! 2. reads the lines: from files in one pass, from Loki an hour at a time (bounded
//!    memory; Loki answers a small window faster);
//! 3. chunks them (floods collapsed), skips chunks already stored (ids are content
//!    hashes), embeds the rest in batches and stores them;
//! 4. deletes chunks older than the retention.
//!
//! Stopping it loses nothing: whatever was stored stays, and the next run skips it.
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, DurationRound, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use loglens_agents::retrieval::{HybridRetriever, chunk_lines};
use loglens_tools::logs::LogFilter;

use crate::config::Config;
use crate::option_groups::FilterArgs;
use crate::option_groups::{LogArgs, LokiArgs, StoreArgs, VectorArgs};
use crate::wiring::{hybrid_retriever, log_source};
use clap::Args;
use loglens_tools::logs::Scope;

/// How far back `loglens index` reads Loki by default: Loki's retention in the homelab.
pub const DEFAULT_WINDOW_DAYS: i64 = 7;

/// What one indexing run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IndexReport {
    /// Lines read.
    pub lines: usize,
    /// Chunks they made.
    pub chunks: usize,
    /// Chunks embedded and stored by this run.
    pub embedded: usize,
    /// Chunks deleted by the retention.
    pub deleted: u64,
}

/// Runs `loglens index`.
pub async fn index(config: &Config, args: IndexArgs) -> anyhow::Result<ExitCode> {
    let from_files = !config.log_paths.is_empty();
    let source = log_source(config)?;
    let retriever = hybrid_retriever(config).await?;
    if args.rebuild {
        retriever
            .store()
            .reset()
            .await
            .context("dropping the vector index")?;
        eprintln!("index dropped: {}", retriever.store().describe());
    }
    let meta = retriever.meta().await?;
    let now = Utc::now();
    let mut spec: Scope = args.filters.scope()?;
    spec.all_lines = true;
    spec.pattern = None;
    let mut filter = spec.to_filter(now).map_err(anyhow::Error::msg)?;
    if filter.start.is_none() && !from_files {
        filter.start = Some(now - Duration::days(DEFAULT_WINDOW_DAYS));
    }
    let retention = match args.retention.as_deref() {
        Some("0") => None,
        Some(r) => Some(loglens_tools::logs::parse_since(r).ok_or_else(|| {
            anyhow::anyhow!("--retention {r:?} is not a duration like 7d or 72h (or 0)")
        })?),
        None if from_files => None,
        None => Some(Duration::days(DEFAULT_WINDOW_DAYS)),
    };
    eprintln!(
        "indexing {} into {} with {} ({} dims), {} chunks",
        source.describe(),
        retriever.store().describe(),
        meta.model,
        meta.dimension,
        retriever.config().chunk.mode
    );

    let started = Instant::now();
    let slices = slices(&filter, from_files, now);
    let bar = bar(slices.len());
    let mut report = IndexReport::default();
    for slice in &slices {
        let lines = source.query(slice).await?;
        let chunks = chunk_lines(&lines, &retriever.config().chunk);
        report.lines += lines.len();
        report.chunks += chunks.len();
        if slices.len() == 1 {
            bar.set_length(chunks.len() as u64);
        }
        let settled = AtomicUsize::new(0);
        let tick = |n: usize| {
            let done = settled.fetch_add(n, Ordering::Relaxed) + n;
            if slices.len() == 1 {
                bar.set_position(done as u64);
            }
            bar.set_message(format!("{} lines, {} chunks", report.lines, report.chunks));
        };
        let (embedded, _) = retriever
            .ensure_indexed(&chunks, usize::MAX, &tick)
            .await
            .with_context(|| {
                format!(
                    "indexing {}; what was stored stays, run again to continue",
                    slice.describe()
                )
            })?;
        report.embedded += embedded;
        if slices.len() > 1 {
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if let Some(keep) = retention {
        report.deleted = retriever.store().delete_before(now - keep).await?;
    }
    print_report(&retriever, &report, started.elapsed().as_secs_f64()).await?;
    Ok(ExitCode::SUCCESS)
}

/// The windows to read: one for files (a local scan is cheap, and one pass reads each
/// file once), hour by hour for Loki.
fn slices(filter: &LogFilter, from_files: bool, now: DateTime<Utc>) -> Vec<LogFilter> {
    let (Some(start), false) = (filter.start, from_files) else {
        return vec![filter.clone()];
    };
    let end = filter.end.unwrap_or(now);
    let mut out = Vec::new();
    let mut t = start.duration_trunc(Duration::hours(1)).unwrap_or(start);
    while t < end {
        let next = t + Duration::hours(1);
        out.push(LogFilter {
            start: Some(t.max(start)),
            end: Some(next.min(end)),
            ..filter.clone()
        });
        t = next;
    }
    out
}

fn bar(slices: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (len, template) = if slices > 1 {
        (
            slices as u64,
            "{bar:40} {pos}/{len} hours {elapsed} (eta {eta}) {msg}",
        )
    } else {
        (0, "{bar:40} {pos}/{len} chunks {elapsed} (eta {eta}) {msg}")
    };
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

async fn print_report(
    retriever: &HybridRetriever,
    r: &IndexReport,
    secs: f64,
) -> anyhow::Result<()> {
    let total = retriever.store().count().await?;
    let stats = retriever.embedder().stats();
    println!(
        "{} lines → {} chunks: {} embedded now, {} already indexed; {} deleted by retention; {} chunks in the index",
        r.lines,
        r.chunks,
        r.embedded,
        r.chunks.saturating_sub(r.embedded),
        r.deleted,
        total
    );
    if r.embedded > 0 {
        println!(
            "embedding: {} requests, {:.0} chunks/s over {:.1} s",
            stats.requests,
            r.embedded as f64 / secs.max(1e-9),
            secs
        );
    }
    if r.lines == 0 {
        bail!(
            "no lines in the window: nothing was indexed (check --logs / --loki-url and --since)"
        );
    }
    Ok(())
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
