//! The workers: take a job, do it while renewing its lease, record the outcome.
//!
//! Two kinds of loop run in `loglens serve`: investigation workers (`[queue] workers`,
//! default 1: each investigation holds the model) take `investigate` and `answer` jobs;
//! one delivery worker takes `deliver` jobs, so reports go out while the model is busy.
//! A loop never stops on an error: a database that is down or restarting is logged and
//! tried again, and any job in flight resumes from the queue once its lease runs out.
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::Bots;
use super::alertmanager::Investigation;
use super::outputs::{Delivery, SendError};
use super::report::{AlertInfo, Report};
use super::slack_events::SlackQuestion;
use crate::analysis::{AnalysisService, Question, new_id};
use crate::incidents::queue::{Enqueued, Job, JobKind, JobStatus, NewJob, Retry};

/// Starts the investigation workers and the delivery worker; with no investigation
/// workers configured, none at all (another process works the queue).
pub fn spawn(bots: &Bots, service: &AnalysisService) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    if bots.config.workers == 0 {
        return handles;
    }
    for i in 0..bots.config.workers {
        let (bots, service) = (bots.clone(), service.clone());
        handles.push(tokio::spawn(async move {
            run(
                bots,
                service,
                &[JobKind::Investigate, JobKind::Answer],
                format!("investigate-{i}"),
            )
            .await;
        }));
    }
    let (bots, service) = (bots.clone(), service.clone());
    handles.push(tokio::spawn(async move {
        run(bots, service, &[JobKind::Deliver], "deliver".into()).await;
    }));
    handles
}

/// One worker loop, forever.
pub async fn run(bots: Bots, service: AnalysisService, kinds: &[JobKind], name: String) {
    // Unique per process, so a restarted process does not mistake its predecessor's
    // leases for its own.
    let owner = format!("{}-{name}-{}", host(), &new_id()[..8]);
    let mut db_wait = bots.config.poll;
    loop {
        match bots.queue.claim(kinds, &owner).await {
            Ok(Some(job)) => {
                db_wait = bots.config.poll;
                work_on(&bots, &service, job, &owner).await;
            }
            Ok(None) => {
                db_wait = bots.config.poll;
                bots.idle(bots.config.poll).await;
            }
            Err(e) => {
                tracing::warn!(worker = %owner, error = %format!("{e:#}"), "the job queue is unavailable; trying again");
                tokio::time::sleep(db_wait).await;
                db_wait = (db_wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Runs one claimed job to an outcome (or until another worker has taken it over).
pub async fn work_on(bots: &Bots, service: &AnalysisService, job: Job, owner: &str) {
    let span =
        tracing::info_span!("job", job.id = %job.id, job.kind = %job.kind, attempt = job.attempts);
    work_on_traced(bots, service, job, owner)
        .instrument(span)
        .await;
}

async fn work_on_traced(bots: &Bots, service: &AnalysisService, job: Job, owner: &str) {
    settle(bots, &job, owner, execute(bots, service, &job)).await;
}

/// Runs one claimed job's work while renewing its lease, then records the outcome: done,
/// failed (retried or dead) or, when the work panicked, dead at once with the panic's
/// text, counted in `loglens_panics_total{where="job"}`.
async fn settle(
    bots: &Bots,
    job: &Job,
    owner: &str,
    work: impl std::future::Future<Output = Result<serde_json::Value, JobError>>,
) {
    let lease = bots.queue.config().lease;
    let heartbeat = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            match bots.queue.heartbeat(&job.id, owner).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %format!("{e:#}"), "could not renew the lease");
                }
            }
        }
    };
    // A panic in a job is a bug, not a reason to lose the job or the worker: it becomes
    // a failed job (dead at once: it would panic again), counted and reported.
    let run = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work));
    let outcome = tokio::select! {
        o = run => o.unwrap_or_else(|payload| {
            let what = crate::server::panic_text(payload.as_ref());
            tracing::error!(job = %job.id, panic = %what, "the job panicked");
            crate::telemetry::metrics::record_panic("job");
            Err(JobError::permanent(format!("loglens failed inside while running this job (a bug; the server's log has it): {what}")))
        }),
        () = heartbeat => {
            tracing::warn!(job = %job.id, "lost the job's lease to another worker; stopping");
            return;
        }
    };
    let recorded = match outcome {
        Ok(result) => bots
            .queue
            .complete(&job.id, owner, &result)
            .await
            .map(|done| done.then_some(JobStatus::Done)),
        Err(JobError { message, retry }) => {
            tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %message, "job failed");
            let status = bots.queue.fail(job, owner, &message, retry).await;
            if let Ok(Some(JobStatus::Dead)) = status
                && job.kind != JobKind::Deliver.name()
            {
                report_failure(bots, job, &message).await;
            }
            status
        }
    };
    match recorded {
        Ok(Some(status)) => {
            tracing::info!(job = %job.id, kind = %job.kind, status = status.name(), "job finished");
            crate::telemetry::metrics::record_job(&job.kind, status.name());
        }
        Ok(None) => {
            tracing::warn!(job = %job.id, "another worker holds the job now; this outcome is dropped");
        }
        Err(e) => {
            // The database is down: the lease runs out and the job runs again.
            tracing::error!(job = %job.id, error = %format!("{e:#}"), "could not record the job's outcome; it will run again");
        }
    }
}

/// A failed run and when to try again.
#[derive(Debug)]
pub struct JobError {
    message: String,
    retry: Retry,
}

impl JobError {
    fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: Retry::Never,
        }
    }
    fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: Retry::Backoff,
        }
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        Self::transient(format!("{e:#}"))
    }
}

async fn execute(
    bots: &Bots,
    service: &AnalysisService,
    job: &Job,
) -> Result<serde_json::Value, JobError> {
    match job.kind.as_str() {
        "investigate" => investigate(bots, service, job).await,
        "answer" => answer(bots, service, job).await,
        "deliver" => deliver(bots, job).await,
        other => Err(JobError::permanent(format!("unknown job kind {other:?}"))),
    }
}

/// Analysis errors worth another attempt: servers that were down or slow, logs that
/// had not arrived yet (Loki lags behind an alert), a model reply that did not parse.
fn retryable(code: &str) -> bool {
    matches!(
        code,
        "model_unavailable"
            | "model_timeout"
            | "model_error"
            | "model_invalid_output"
            | "log_source_error"
            | "no_logs"
            | "embedding_unavailable"
            | "internal"
    )
}

async fn investigate(
    bots: &Bots,
    service: &AnalysisService,
    job: &Job,
) -> Result<serde_json::Value, JobError> {
    let inv: Investigation = serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::permanent(format!("the job's alert cannot be read: {e}")))?;
    let q = Question {
        id: new_id(),
        text: inv.question.clone(),
        filters: inv.filters.clone(),
        limit: bots.config.limit,
        channel: "alert",
        mode: bots.config.pipeline,
        retrieval: None,
    };
    let record = run_analysis(service, q).await?;
    // A quiet scope right after an alert is most often Loki lagging behind it: try again
    // while attempts remain, then report it quiet ("nothing failing there").
    let quiet = record.details.as_ref().is_some_and(|d| d["quiet"] == true);
    if quiet && job.attempts < job.max_attempts {
        return Err(JobError::transient(
            "no line and no warning in the alert's scope yet (logs may arrive late); trying again",
        ));
    }
    let report = Report::from_record(
        title(&inv),
        &record,
        bots.config.trace_url.as_deref(),
        Some(alert_info(&inv, job)),
    );
    let deliveries = queue_deliveries(bots, job, &report, &output_names(bots), None).await?;
    Ok(json!({ "analysis_id": record.id, "status": record.status, "deliveries": deliveries }))
}

async fn answer(
    bots: &Bots,
    service: &AnalysisService,
    job: &Job,
) -> Result<serde_json::Value, JobError> {
    let sq: SlackQuestion = serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::permanent(format!("the job's question cannot be read: {e}")))?;
    let Some(slack) = bots.sender.slack_api() else {
        return Err(JobError::permanent(
            "no Slack bot token is configured ([slack] bot_token, SLACK_BOT_TOKEN): the answer cannot be posted",
        ));
    };
    let q = Question {
        id: new_id(),
        text: sq.question.clone(),
        filters: loglens_tools::logs::Scope {
            since: bots.config.slack_since.clone(),
            ..Default::default()
        },
        limit: bots.config.limit,
        channel: "slack",
        mode: bots.config.pipeline,
        retrieval: None,
    };
    let title: String = sq.question.chars().take(140).collect();
    let report = match service.run(q, None).await {
        Ok(record) => Report::from_record(title, &record, bots.config.trace_url.as_deref(), None),
        // A question that cannot be answered as asked (empty, no matching logs) is told
        // why, in its thread, at once: the person is waiting.
        Err(f) if matches!(f.error.code(), "bad_request" | "no_logs") => Report::failed(
            title,
            sq.question.clone(),
            f.error.code(),
            f.error.to_string(),
        ),
        Err(f) => return Err(job_error(&f)),
    };
    let deliveries = queue_deliveries(
        bots,
        job,
        &report,
        &[slack.name().to_string()],
        Some((&sq.channel, &sq.thread_ts)),
    )
    .await?;
    Ok(
        json!({ "analysis_id": report.analysis_id, "status": report.status, "deliveries": deliveries }),
    )
}

async fn run_analysis(
    service: &AnalysisService,
    q: Question,
) -> Result<crate::store::AnalysisRecord, JobError> {
    service.run(q, None).await.map_err(|f| job_error(&f))
}

fn job_error(f: &crate::analysis::Failure) -> JobError {
    let code = f.error.code();
    let message = format!("{code}: {}", f.error);
    if retryable(code) {
        JobError::transient(message)
    } else {
        JobError::permanent(message)
    }
}

/// One delivery job per output; the dedupe key makes a re-run of the investigation
/// (after a crash between queueing and finishing) queue nothing twice.
async fn queue_deliveries(
    bots: &Bots,
    job: &Job,
    report: &Report,
    outputs: &[String],
    reply_to: Option<(&str, &str)>,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for output in outputs {
        let delivery = Delivery {
            output: output.clone(),
            report: report.clone(),
            channel: reply_to.map(|(c, _)| c.to_string()),
            thread_ts: reply_to.map(|(_, t)| t.to_string()),
        };
        let queued = bots
            .queue
            .enqueue(NewJob {
                kind: JobKind::Deliver,
                dedupe_key: format!("deliver:{}:{output}", job.id),
                group_key: job.group_key.clone(),
                payload: serde_json::to_value(&delivery)?,
                max_attempts: bots.config.delivery_attempts,
            })
            .await?;
        if let Enqueued::New(_) = queued {
            bots.wake();
        }
        ids.push(queued.id().to_string());
    }
    Ok(ids)
}

async fn deliver(bots: &Bots, job: &Job) -> Result<serde_json::Value, JobError> {
    let mut d: Delivery = serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::permanent(format!("the delivery cannot be read: {e}")))?;
    if d.thread_ts.is_none()
        && d.output == "slack"
        && let Some(group) = &job.group_key
    {
        d.thread_ts = group_thread(bots, group).await?;
    }
    bots.sender.send(&d).await.map_err(|e| match e {
        SendError::Retryable {
            message,
            retry_after,
        } => JobError {
            message,
            retry: retry_after.map_or(Retry::Backoff, Retry::After),
        },
        SendError::Permanent(m) => JobError::permanent(m),
    })
}

/// The Slack message that opened an alert group's thread, if one was posted: the
/// group's later reports (more alerts of the group, a failure) answer in that thread
/// instead of each starting a new message in the channel.
async fn group_thread(bots: &Bots, group: &str) -> anyhow::Result<Option<String>> {
    let done = bots
        .queue
        .list(
            Some(JobKind::Deliver),
            Some(JobStatus::Done),
            Some(group),
            1000,
        )
        .await?;
    Ok(done
        .iter()
        .rev() // oldest first: the group's first message
        .filter(|j| j.payload.get("output").and_then(|o| o.as_str()) == Some("slack"))
        .find_map(|j| {
            j.result
                .as_ref()
                .and_then(|r| r.get("ts"))
                .and_then(|t| t.as_str())
                .map(str::to_string)
        }))
}

/// An investigation or question that died still gets a report: the people waiting for
/// it learn that it failed and why.
async fn report_failure(bots: &Bots, job: &Job, error: &str) {
    let (report, outputs, reply_to) = match job.kind.as_str() {
        "investigate" => match serde_json::from_value::<Investigation>(job.payload.clone()) {
            Ok(inv) => {
                let mut r = Report::failed(
                    title(&inv),
                    inv.question.clone(),
                    "investigation_failed",
                    format!("after {} attempts: {error}", job.attempts),
                );
                r.alert = Some(alert_info(&inv, job));
                (r, output_names(bots), None)
            }
            Err(_) => return,
        },
        "answer" => match (
            serde_json::from_value::<SlackQuestion>(job.payload.clone()),
            bots.sender.slack_api(),
        ) {
            (Ok(sq), Some(slack)) => (
                Report::failed(
                    sq.question.chars().take(140).collect(),
                    sq.question.clone(),
                    "investigation_failed",
                    error.to_string(),
                ),
                vec![slack.name().to_string()],
                Some((sq.channel, sq.thread_ts)),
            ),
            _ => return,
        },
        _ => return,
    };
    let reply = reply_to.as_ref().map(|(c, t)| (c.as_str(), t.as_str()));
    if let Err(e) = queue_deliveries(bots, job, &report, &outputs, reply).await {
        tracing::error!(job = %job.id, error = %format!("{e:#}"), "could not queue the failure report");
    }
}

/// The names of every configured output (an alert's report goes to each).
fn output_names(bots: &Bots) -> Vec<String> {
    bots.sender
        .outputs()
        .iter()
        .map(|o| o.name().to_string())
        .collect()
}

fn title(inv: &Investigation) -> String {
    let a = &inv.alert;
    let mut t = a.name().to_string();
    if let Some(s) = a.labels.get("severity") {
        t.push_str(&format!(" ({s})"));
    }
    if let Some(ns) = a.labels.get("namespace") {
        t.push_str(&format!(" in {ns}"));
    }
    t
}

fn alert_info(inv: &Investigation, job: &Job) -> AlertInfo {
    AlertInfo {
        name: inv.alert.name().to_string(),
        severity: inv.alert.labels.get("severity").cloned(),
        fingerprint: inv.alert.fingerprint(),
        starts_at: inv.alert.starts_at,
        resolved_at: job.resolved_at,
        group_key: job.group_key.clone(),
    }
}

fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "loglens".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::BotConfig;
    use crate::incidents::outputs::Sender;
    use crate::incidents::queue::{JobQueue, QueueConfig};
    use crate::store::Store;

    /// A job whose work panics ends dead at once, with the panic's text as its error, and
    /// the worker goes on: the next job still runs and completes.
    #[tokio::test]
    async fn a_job_that_panics_is_dead_with_the_reason_and_the_worker_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("q.db").display());
        let store = Store::connect(&url).await.unwrap();
        let queue = JobQueue::new(&store, QueueConfig::default());
        let bots = Bots::new(
            queue.clone(),
            Sender::new(Vec::new(), Duration::from_secs(1)).unwrap(),
            BotConfig::default(),
        );
        let enqueue = |key: &str| NewJob {
            kind: JobKind::Deliver,
            dedupe_key: key.into(),
            group_key: None,
            payload: json!({}),
            max_attempts: 5,
        };
        let first = queue.enqueue(enqueue("a")).await.unwrap().id().to_string();
        let job = queue
            .claim(&[JobKind::Deliver], "w")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.id, first);
        settle(&bots, &job, "w", async {
            let v: Vec<u32> = Vec::new();
            #[allow(clippy::indexing_slicing)]
            let x = v[3];
            Ok(json!(x))
        })
        .await;
        let dead = queue.get(&first).await.unwrap().unwrap();
        assert_eq!(dead.status, JobStatus::Dead.name(), "{dead:?}");
        let error = dead.last_error.unwrap_or_default();
        assert!(
            error.contains("a bug") && error.contains("index out of bounds"),
            "{error}"
        );

        let second = queue.enqueue(enqueue("b")).await.unwrap().id().to_string();
        let job = queue
            .claim(&[JobKind::Deliver], "w")
            .await
            .unwrap()
            .unwrap();
        settle(&bots, &job, "w", async { Ok(json!({"sent": true})) }).await;
        let done = queue.get(&second).await.unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Done.name());
    }
}
