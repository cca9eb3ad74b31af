//! Incident bots: alerts and Slack questions in, reports out, through a durable queue.
//!
//! ```text
//! Alertmanager ──POST /v1/alerts──▶ investigate job ─┐
//! Slack @loglens ──POST /v1/slack/events──▶ answer job ─┤   worker: AnalysisService::run
//!                                                      ▼   (router, specialists, consensus)
//!                                      deliver jobs (one per output) ──▶ Slack / webhook
//! ```
//!
//! The HTTP handlers only check and queue (Alertmanager and Slack want a quick answer;
//! Slack retries after 3 s), so an investigation that takes minutes on a CPU never holds
//! a request open. Workers ([`worker`]) take jobs from the queue ([`queue`]): each
//! investigation is a normal analysis, stored and traced like any other (channel `alert`
//! or `slack`), and its report ([`report`]) is queued once per output ([`outputs`]), so a
//! Slack outage delays a report but never loses it, and a failing webhook does not make
//! Slack wait.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::analysis::PipelineMode;
use crate::incidents::queue::JobQueue;

pub mod alertmanager;
pub mod outputs;
pub mod queue;
pub mod report;
pub mod slack_events;
pub mod worker;

/// How the bots behave.
#[derive(Clone)]
pub struct BotConfig {
    /// Investigations run at once (each holds the model for minutes on a CPU).
    pub workers: usize,
    /// Attempts of an investigation before it is a dead letter.
    pub max_attempts: u32,
    /// Attempts of a delivery before it is a dead letter.
    pub delivery_attempts: u32,
    /// Logs this long before an alert started are read.
    pub lookback: Duration,
    /// How often an idle worker looks for work it was not woken for.
    pub poll: Duration,
    /// Slack's signing secret: the events endpoint is off without it.
    pub slack_signing_secret: Option<String>,
    /// The window of Slack questions (`since`, e.g. `1h`); `None` reads all logs.
    pub slack_since: Option<String>,
    /// Link template for traces, with `{trace_id}`.
    pub trace_url: Option<String>,
    /// The pipeline investigations use.
    pub pipeline: PipelineMode,
    /// Evidence lines per investigation.
    pub limit: usize,
}

impl std::fmt::Debug for BotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotConfig")
            .field("workers", &self.workers)
            .field("max_attempts", &self.max_attempts)
            .field("delivery_attempts", &self.delivery_attempts)
            .field("lookback", &self.lookback)
            .field("slack_events", &self.slack_signing_secret.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            max_attempts: 5,
            delivery_attempts: 8,
            lookback: Duration::from_secs(30 * 60),
            poll: Duration::from_secs(2),
            slack_signing_secret: None,
            slack_since: Some("1h".into()),
            trace_url: None,
            pipeline: PipelineMode::Agents,
            limit: loglens_agents::baseline::DEFAULT_LIMIT,
        }
    }
}

/// The queue, the outputs and the settings, shared by the HTTP handlers and the workers.
#[derive(Debug, Clone)]
pub struct Bots {
    /// The durable queue.
    pub queue: JobQueue,
    /// Report delivery.
    pub sender: outputs::Sender,
    /// Settings.
    pub config: BotConfig,
    wake: Arc<Notify>,
}

impl Bots {
    /// Bots over a queue and outputs.
    pub fn new(queue: JobQueue, sender: outputs::Sender, config: BotConfig) -> Self {
        Self {
            queue,
            sender,
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes idle workers (new work was queued).
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Waits until woken or the poll interval passes.
    pub(crate) async fn idle(&self, wait: Duration) {
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
