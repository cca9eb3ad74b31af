//! `loglens ingest`: local log files pushed to Loki in batches, resumable.
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use loglens_tools::logs::ingest::Ingest;
use loglens_tools::logs::loki::LokiClient;

use crate::config::Config;
use crate::option_groups::{LogArgs, LokiArgs};

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

pub async fn ingest(config: &Config, args: IngestArgs) -> anyhow::Result<ExitCode> {
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
