//! The durable job queue on SQLite and on a real PostgreSQL: dedupe, exclusive claims,
//! leases that run out (a worker that died), backoff, dead letters.
use std::time::Duration;

use loglens::incidents::queue::{
    Enqueued, JobKind, JobQueue, JobStatus, NewJob, QueueConfig, Retry,
};
use loglens::store::Store;
use sqlx::{Connection, Executor};

use crate::support::postgres_url;

/// A database of its own on the test PostgreSQL (claims take any ready job, so tests
/// sharing one database would take each other's).
pub async fn fresh_postgres() -> String {
    sqlx::any::install_default_drivers();
    let admin = postgres_url();
    let name = format!("loglens_q_{}", uuid::Uuid::new_v4().simple());
    let mut c = sqlx::AnyConnection::connect(&admin).await.unwrap();
    c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let base = &base[..base.rfind('/').unwrap()];
    if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    }
}

fn job(key: &str, max_attempts: u32) -> NewJob {
    NewJob {
        kind: JobKind::Investigate,
        dedupe_key: key.into(),
        group_key: Some("{}:{alertname=\"X\"}".into()),
        payload: serde_json::json!({"question": "why?", "n": 1}),
        max_attempts,
    }
}

fn config(lease_ms: u64) -> QueueConfig {
    QueueConfig {
        lease: Duration::from_millis(lease_ms),
        backoff: Duration::ZERO,
        max_backoff: Duration::from_secs(60),
    }
}

async fn exercise(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let q = JobQueue::new(&store, config(60_000));
    let kinds = [JobKind::Investigate];

    // Dedupe: the same key twice is one job.
    let a = q.enqueue(job("alert:f1:t1", 3)).await.unwrap();
    let Enqueued::New(id) = a.clone() else {
        panic!("{a:?}")
    };
    assert_eq!(
        q.enqueue(job("alert:f1:t1", 3)).await.unwrap(),
        Enqueued::Duplicate(id.clone())
    );
    let stored = q.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.attempts, stored.max_attempts),
        ("queued", 0, 3)
    );
    assert_eq!(stored.payload["question"], "why?");

    // Exclusive claims: many workers race for one job; exactly one gets it.
    let mut racers = Vec::new();
    for i in 0..6 {
        let q = q.clone();
        racers.push(tokio::spawn(async move {
            q.claim(&[JobKind::Investigate], &format!("racer-{i}"))
                .await
                .unwrap()
        }));
    }
    let mut won = Vec::new();
    for r in racers {
        if let Some(j) = r.await.unwrap() {
            won.push(j);
        }
    }
    assert_eq!(won.len(), 1, "one job, one winner: {won:?}");
    let claimed = won.remove(0);
    let owner = claimed.lease_owner.clone().unwrap();
    assert_eq!((claimed.status.as_str(), claimed.attempts), ("running", 1));
    assert!(q.claim(&kinds, "late").await.unwrap().is_none());
    // Other kinds are not taken by this worker.
    assert!(q.claim(&[JobKind::Deliver], "d").await.unwrap().is_none());

    // A transient failure goes back to the queue; with no backoff it is ready again.
    assert_eq!(
        q.fail(&claimed, &owner, "model_unavailable: down", Retry::Backoff)
            .await
            .unwrap(),
        Some(JobStatus::Queued)
    );
    // Only the owner records outcomes.
    assert!(
        !q.complete(&id, "someone-else", &serde_json::json!({}))
            .await
            .unwrap()
    );
    let again = q.claim(&kinds, "second").await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    assert_eq!(again.last_error.as_deref(), Some("model_unavailable: down"));
    assert!(q.heartbeat(&id, "second").await.unwrap());
    assert!(
        !q.heartbeat(&id, &owner).await.unwrap(),
        "the old owner lost it"
    );
    assert!(
        q.complete(&id, "second", &serde_json::json!({"analysis_id": "a1"}))
            .await
            .unwrap()
    );
    let done = q.get(&id).await.unwrap().unwrap();
    assert_eq!(done.status, "done");
    assert_eq!(done.result.unwrap()["analysis_id"], "a1");
    assert!(done.lease_owner.is_none());
    // Done jobs still dedupe: Alertmanager's repeat notification starts nothing.
    assert_eq!(
        q.enqueue(job("alert:f1:t1", 3)).await.unwrap(),
        Enqueued::Duplicate(id.clone())
    );

    // Out of attempts: a dead letter with its last error, until retried by hand.
    let dead_id = q
        .enqueue(job("alert:f2:t1", 2))
        .await
        .unwrap()
        .id()
        .to_string();
    for n in 1..=2 {
        let j = q.claim(&kinds, "w").await.unwrap().unwrap();
        assert_eq!((j.id.as_str(), j.attempts), (dead_id.as_str(), n));
        let status = q
            .fail(&j, "w", &format!("failure {n}"), Retry::Backoff)
            .await
            .unwrap();
        assert_eq!(
            status,
            Some(if n == 2 {
                JobStatus::Dead
            } else {
                JobStatus::Queued
            })
        );
    }
    assert!(
        q.claim(&kinds, "w").await.unwrap().is_none(),
        "dead jobs are not claimed"
    );
    let dead = q.list(None, Some(JobStatus::Dead), None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("failure 2"));
    assert!(q.retry(&dead_id).await.unwrap());
    assert!(
        !q.retry(&dead_id).await.unwrap(),
        "only dead jobs are retried"
    );
    let revived = q.claim(&kinds, "w").await.unwrap().unwrap();
    assert_eq!(
        (revived.id.as_str(), revived.attempts),
        (dead_id.as_str(), 1)
    );
    // A permanent failure is dead at once, whatever attempts are left.
    assert_eq!(
        q.fail(&revived, "w", "bad_request: empty", Retry::Never)
            .await
            .unwrap(),
        Some(JobStatus::Dead)
    );

    // Retry-After: not ready before it has passed.
    let later = q
        .enqueue(job("alert:f3:t1", 5))
        .await
        .unwrap()
        .id()
        .to_string();
    let j = q.claim(&kinds, "w").await.unwrap().unwrap();
    assert_eq!(j.id, later);
    q.fail(&j, "w", "429", Retry::After(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(
        q.claim(&kinds, "w").await.unwrap().is_none(),
        "waits for Retry-After"
    );
    let waiting = q.get(&later).await.unwrap().unwrap();
    assert!(waiting.next_attempt_at > chrono::Utc::now() + chrono::Duration::seconds(25));

    // Resolved alerts are noted on their job.
    let at = chrono::Utc::now();
    assert!(q.mark_resolved("alert:f3:t1", at).await.unwrap());
    assert!(q.get(&later).await.unwrap().unwrap().resolved_at.is_some());
    assert!(!q.mark_resolved("alert:none:t1", at).await.unwrap());
}

/// A worker that dies mid-job (a crash, a restart) leaves its lease to run out; another
/// worker then resumes the job. A job whose workers die on every attempt ends dead.
async fn resume_after_crash(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let q = JobQueue::new(&store, config(300));
    let kinds = [JobKind::Deliver];
    let id = q
        .enqueue(NewJob {
            kind: JobKind::Deliver,
            ..job("deliver:x:slack", 2)
        })
        .await
        .unwrap()
        .id()
        .to_string();
    let first = q.claim(&kinds, "crashed").await.unwrap().unwrap();
    assert_eq!(first.id, id);
    assert!(q.claim(&kinds, "other").await.unwrap().is_none(), "leased");
    // "Restart": a new queue over a new connection, after the lease ran out.
    drop(q);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let store = Store::connect(url).await.unwrap();
    let q = JobQueue::new(&store, config(300));
    let resumed = q.claim(&kinds, "after-restart").await.unwrap().unwrap();
    assert_eq!((resumed.id.as_str(), resumed.attempts), (id.as_str(), 2));
    assert!(!q.heartbeat(&id, "crashed").await.unwrap());
    // It dies again: out of attempts, the next claim makes it dead instead of running it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(q.claim(&kinds, "third").await.unwrap().is_none());
    let dead = q.get(&id).await.unwrap().unwrap();
    assert_eq!(dead.status, "dead");
    assert!(
        dead.last_error
            .unwrap()
            .contains("stopped without finishing"),
        "the dead letter says why"
    );
}

#[tokio::test]
async fn queue_semantics_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    exercise(&url).await;
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    resume_after_crash(&url).await;
}

#[tokio::test]
async fn queue_semantics_on_postgres() {
    exercise(&fresh_postgres().await).await;
    resume_after_crash(&fresh_postgres().await).await;
}
