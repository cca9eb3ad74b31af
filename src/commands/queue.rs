//! `loglens queue`: the incident bots' durable queue, listed, and dead jobs retried.
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::option_groups::StoreArgs;
use crate::store::Store;

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
        kind: Option<crate::incidents::queue::JobKind>,
        /// Only jobs in this status (`dead`: the dead letters).
        #[arg(long)]
        status: Option<crate::incidents::queue::JobStatus>,
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

pub async fn queue(config: &Config, cmd: QueueCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url).await?;
    let queue = crate::incidents::queue::JobQueue::new(&store, config.queue);
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
