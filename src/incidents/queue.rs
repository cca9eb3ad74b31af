//! A durable job queue in the database (SQLite or PostgreSQL, table `jobs`).
//!
//! The incident bots do slow work (an investigation is minutes of model time on a CPU)
//! and talk to servers that fail (Slack answers 429, a webhook is down). Holding that work
//! in memory would lose it on every restart, so each piece of work is a row:
//!
//! - **enqueue**: a job has a `dedupe_key` (`alert:<fingerprint>:<startsAt>`,
//!   `slack:<event_id>`, `deliver:<job>:<output>`); the table keeps it unique, so
//!   Alertmanager repeating a notification or Slack retrying an event adds nothing.
//! - **claim**: a worker takes a ready job by setting `status = running`, its name and a
//!   lease (`lease_until`) in one conditional UPDATE; only one UPDATE can win, so a job
//!   never runs twice at once, across threads, processes or replicas.
//! - **heartbeat**: the worker renews the lease while it works. A worker that dies stops
//!   renewing; when the lease runs out the job is claimable again: that is how work
//!   resumes after a crash or restart. Renewal fails once another worker holds the job, and
//!   the stale worker stops.
//! - **complete / fail**: a failure with attempts left goes back to `queued` after a
//!   backoff (exponential, or the server's `Retry-After`); otherwise the job is `dead`,
//!   kept with its payload and last error as a dead letter (`loglens queue list --status
//!   dead`, `loglens queue retry ID`).
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::store::Store;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Investigate a firing alert.
    Investigate,
    /// Answer a question asked in Slack.
    Answer,
    /// Deliver a report to an output (Slack, a webhook).
    Deliver,
}

impl JobKind {
    /// Its name, as stored.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Investigate => "investigate",
            JobKind::Answer => "answer",
            JobKind::Deliver => "deliver",
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting (maybe for its backoff to pass).
    Queued,
    /// Claimed by a worker.
    Running,
    /// Finished.
    Done,
    /// Out of attempts, or failed for good: a dead letter.
    Dead,
}

impl JobStatus {
    /// Its name, as stored.
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Dead => "dead",
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Job {
    /// UUID.
    pub id: String,
    /// `investigate`, `answer` or `deliver`.
    pub kind: String,
    /// What makes two jobs the same.
    pub dedupe_key: String,
    /// The alert group (or Slack thread) it belongs to.
    pub group_key: Option<String>,
    /// The work: an alert, a question, a report.
    pub payload: serde_json::Value,
    /// `queued`, `running`, `done` or `dead`.
    pub status: String,
    /// Runs started.
    pub attempts: u32,
    /// Runs allowed.
    pub max_attempts: u32,
    /// Not run before this.
    pub next_attempt_at: DateTime<Utc>,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// When its lease runs out.
    pub lease_until: Option<DateTime<Utc>>,
    /// Why the last run failed.
    pub last_error: Option<String>,
    /// What it produced.
    pub result: Option<serde_json::Value>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When the alert resolved (investigations).
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A job to add.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// What it does.
    pub kind: JobKind,
    /// What makes two jobs the same.
    pub dedupe_key: String,
    /// Its group.
    pub group_key: Option<String>,
    /// The work.
    pub payload: serde_json::Value,
    /// Runs allowed.
    pub max_attempts: u32,
}

/// What enqueueing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job, with its id.
    New(String),
    /// A job with the same dedupe key was there already: its id.
    Duplicate(String),
}

impl Enqueued {
    /// The job's id, new or not.
    pub fn id(&self) -> &str {
        match self {
            Enqueued::New(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

/// When a failed job runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// After the queue's exponential backoff.
    Backoff,
    /// After this long (a server's `Retry-After`), if attempts are left.
    After(Duration),
    /// Never: the failure is permanent (the job is dead now).
    Never,
}

/// Lease and backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a claim holds without renewal.
    pub lease: Duration,
    /// The first backoff; each retry doubles it.
    pub backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// The queue: the `jobs` table of a [`Store`].
#[derive(Debug, Clone)]
pub struct JobQueue {
    pool: AnyPool,
    config: QueueConfig,
}

const COLUMNS: &str = "id, kind, dedupe_key, group_key, payload, status, attempts, max_attempts, next_attempt_at, lease_owner, lease_until, last_error, result, created_at, updated_at, resolved_at";

/// Claimable now: queued and due, or running with a lease that ran out.
const READY: &str =
    "((status = 'queued' AND next_attempt_at <= $1) OR (status = 'running' AND lease_until < $1))";

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn time(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

fn job_from_row(r: &AnyRow) -> anyhow::Result<Job> {
    let json = |c: &str| -> anyhow::Result<Option<serde_json::Value>> {
        let t: Option<String> = r.try_get(c)?;
        t.map(|t| serde_json::from_str(&t).with_context(|| format!("jobs.{c} is not JSON")))
            .transpose()
    };
    let count = |c: &str| -> anyhow::Result<u32> {
        Ok(u32::try_from(r.try_get::<i64, _>(c)?.max(0)).unwrap_or(u32::MAX))
    };
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        dedupe_key: r.try_get("dedupe_key")?,
        group_key: r.try_get("group_key")?,
        payload: json("payload")?.unwrap_or_default(),
        status: r.try_get("status")?,
        attempts: count("attempts")?,
        max_attempts: count("max_attempts")?,
        next_attempt_at: time(r.try_get("next_attempt_at")?),
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get::<Option<i64>, _>("lease_until")?.map(time),
        last_error: r.try_get("last_error")?,
        result: json("result")?,
        created_at: time(r.try_get("created_at")?),
        updated_at: time(r.try_get("updated_at")?),
        resolved_at: r.try_get::<Option<i64>, _>("resolved_at")?.map(time),
    })
}

impl JobQueue {
    /// The queue in a store's database.
    pub fn new(store: &Store, config: QueueConfig) -> Self {
        Self {
            pool: store.pool().clone(),
            config,
        }
    }

    /// The lease and backoff settings.
    pub fn config(&self) -> QueueConfig {
        self.config
    }

    /// Adds a job unless one with its dedupe key exists.
    pub async fn enqueue(&self, job: NewJob) -> anyhow::Result<Enqueued> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO jobs (id, kind, dedupe_key, group_key, payload, status, attempts, max_attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $7, $7) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(&id)
        .bind(job.kind.name())
        .bind(&job.dedupe_key)
        .bind(job.group_key.clone())
        .bind(serde_json::to_string(&job.payload)?)
        .bind(i64::from(job.max_attempts.max(1)))
        .bind(now)
        .execute(&self.pool)
        .await
        .context("queueing a job")?;
        if done.rows_affected() == 1 {
            return Ok(Enqueued::New(id));
        }
        let existing: String = sqlx::query("SELECT id FROM jobs WHERE dedupe_key = $1")
            .bind(&job.dedupe_key)
            .fetch_one(&self.pool)
            .await
            .context("finding the queued job")?
            .try_get("id")?;
        Ok(Enqueued::Duplicate(existing))
    }

    /// Claims the next ready job of these kinds for `owner`, if any. A job whose lease
    /// ran out more often than it has attempts (its worker died on it each time) is made
    /// dead instead of being run again.
    pub async fn claim(&self, kinds: &[JobKind], owner: &str) -> anyhow::Result<Option<Job>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let now = now_ms();
        let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT id FROM jobs WHERE {READY} AND kind IN ({}) ORDER BY next_attempt_at LIMIT 8",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        for k in kinds {
            q = q.bind(k.name());
        }
        let candidates = q
            .fetch_all(&self.pool)
            .await
            .context("looking for ready jobs")?;
        for row in candidates {
            let id: String = row.try_get("id")?;
            let update = format!(
                "UPDATE jobs SET status = 'running', lease_owner = $2, lease_until = $3, attempts = attempts + 1, updated_at = $1 WHERE id = $4 AND {READY}"
            );
            let won = sqlx::query(sqlx::AssertSqlSafe(update))
                .bind(now)
                .bind(owner)
                .bind(now + ms(self.config.lease))
                .bind(&id)
                .execute(&self.pool)
                .await
                .context("claiming a job")?
                .rows_affected()
                == 1;
            if !won {
                continue; // another worker was faster
            }
            let Some(job) = self.get(&id).await? else {
                continue;
            };
            if job.attempts > job.max_attempts {
                let error = format!(
                    "gave up after {} attempts (the last worker stopped without finishing: {})",
                    job.max_attempts,
                    job.last_error.as_deref().unwrap_or("no error recorded")
                );
                self.fail(&job, owner, &error, Retry::Never).await?;
                continue;
            }
            return Ok(Some(job));
        }
        Ok(None)
    }

    /// Renews `owner`'s lease; false when the job is no longer its own (it ran out and
    /// another worker took it, or it was finished).
    pub async fn heartbeat(&self, id: &str, owner: &str) -> anyhow::Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = $1, updated_at = $2 WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
        )
        .bind(now + ms(self.config.lease))
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .context("renewing a job's lease")?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks `owner`'s job done with its result; false when the job is not its own
    /// any more.
    pub async fn complete(
        &self,
        id: &str,
        owner: &str,
        result: &serde_json::Value,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'done', result = $1, lease_owner = NULL, lease_until = NULL, last_error = NULL, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
        )
        .bind(serde_json::to_string(result)?)
        .bind(now_ms())
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .context("finishing a job")?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed run: back to `queued` after a delay while attempts are left,
    /// else `dead`. Returns the status it got, or `None` when the job was not `owner`'s.
    pub async fn fail(
        &self,
        job: &Job,
        owner: &str,
        error: &str,
        retry: Retry,
    ) -> anyhow::Result<Option<JobStatus>> {
        let now = now_ms();
        let delay = match retry {
            Retry::Never => None,
            _ if job.attempts >= job.max_attempts => None,
            Retry::After(d) => Some(d.min(self.config.max_backoff)),
            Retry::Backoff => Some(self.backoff(job.attempts)),
        };
        let status = if delay.is_some() {
            JobStatus::Queued
        } else {
            JobStatus::Dead
        };
        let error: String = error.chars().take(2000).collect();
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, next_attempt_at = $2, last_error = $3, lease_owner = NULL, lease_until = NULL, updated_at = $4 \
             WHERE id = $5 AND lease_owner = $6 AND status = 'running'",
        )
        .bind(status.name())
        .bind(now + delay.map_or(0, ms))
        .bind(error)
        .bind(now)
        .bind(&job.id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .context("recording a failed job")?;
        Ok((done.rows_affected() == 1).then_some(status))
    }

    /// The wait before attempt `attempts + 1`: the first backoff, doubled per attempt,
    /// at most the longest.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(16);
        self.config
            .backoff
            .saturating_mul(factor)
            .min(self.config.max_backoff)
    }

    /// A dead job back in the queue with fresh attempts; false when no dead job has
    /// this id.
    pub async fn retry(&self, id: &str) -> anyhow::Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = 0, next_attempt_at = $1, updated_at = $1 WHERE id = $2 AND status = 'dead'",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("re-queueing a job")?;
        Ok(done.rows_affected() == 1)
    }

    /// Notes that the alert behind a job resolved (the report says so).
    pub async fn mark_resolved(&self, dedupe_key: &str, at: DateTime<Utc>) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET resolved_at = $1, updated_at = $2 WHERE dedupe_key = $3 AND resolved_at IS NULL",
        )
        .bind(at.timestamp_millis())
        .bind(now_ms())
        .bind(dedupe_key)
        .execute(&self.pool)
        .await
        .context("marking an alert resolved")?;
        Ok(done.rows_affected() == 1)
    }

    /// One job.
    pub async fn get(&self, id: &str) -> anyhow::Result<Option<Job>> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a job")?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// Jobs, newest first, optionally of one kind, status and group.
    pub async fn list(
        &self,
        kind: Option<JobKind>,
        status: Option<JobStatus>,
        group_key: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<Job>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR status = $2) AND ($3 = '' OR group_key = $3) ORDER BY created_at DESC, id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind.map_or("", JobKind::name))
            .bind(status.map_or("", JobStatus::name))
            .bind(group_key.unwrap_or(""))
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await
            .context("listing jobs")?;
        rows.iter().map(job_from_row).collect()
    }

    /// Jobs per status, for `/metrics`-style overviews and the readiness of the bots.
    pub async fn counts(&self) -> anyhow::Result<Vec<(String, String, i64)>> {
        let rows =
            sqlx::query("SELECT kind, status, COUNT(*) AS n FROM jobs GROUP BY kind, status")
                .fetch_all(&self.pool)
                .await
                .context("counting jobs")?;
        rows.iter()
            .map(|r| Ok((r.try_get("kind")?, r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }
}
