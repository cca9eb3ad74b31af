//! The incident bots: Alertmanager's webhook, Slack's Events API, the workers, and
//! report delivery with retries and dead letters.
//!
//! Investigations run against the real llama-server (tiny model) and, in one test, a
//! real PostgreSQL whose connections are cut mid-run. Slack itself cannot run here: a
//! small local HTTP server stands in for Slack's Web API and for a webhook receiver,
//! and is told to fail (429 with Retry-After, 500, `channel_not_found`) where a test
//! needs a fault.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use loglens::incidents::outputs::{Delivery, Output, webhook_signature};
use loglens::incidents::queue::{Job, JobKind, NewJob, QueueConfig};
use loglens::incidents::report::Report;
use loglens::incidents::slack_events::sign;
use loglens::incidents::{BotConfig, Bots, worker};
use loglens::server::{AppState, app};
use loglens::store::Store;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use tower::ServiceExt;

use crate::http::post_json;
use crate::queue::fresh_postgres;
use crate::support::{INCIDENT, app_state, bots, dead_url, model_url, service, write_logs};

mod delivery;

/// A request the stand-in server received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local HTTP server answering from a script (the last answer repeats), recording
/// every request: it plays Slack's Web API or a webhook receiver.
#[derive(Clone)]
struct StandIn {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type Answer = (u16, Option<&'static str>, String);

impl StandIn {
    async fn start(script: Vec<Answer>) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script = Arc::new(script);
        let (s2, sc) = (seen.clone(), script.clone());
        let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let (seen, script) = (s2.clone(), sc.clone());
            async move {
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(Seen {
                        path: uri.path().to_string(),
                        headers,
                        body,
                        at: Instant::now(),
                    });
                    seen.len() - 1
                };
                let (status, retry_after, body) = script[n.min(script.len() - 1)].clone();
                let mut resp = axum::response::Response::builder()
                    .status(status)
                    .header("content-type", "application/json");
                if let Some(r) = retry_after {
                    resp = resp.header("retry-after", r);
                }
                resp.body(Body::from(body)).unwrap()
            }
        };
        let router = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn slack_ok() -> Answer {
    (
        200,
        None,
        json!({"ok": true, "channel": "C123", "ts": "1700000000.000100"}).to_string(),
    )
}

fn quick_queue() -> QueueConfig {
    QueueConfig {
        lease: Duration::from_secs(10),
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
    }
}

fn notification(alerts: Value) -> String {
    json!({
        "version": "4",
        "groupKey": "{}/{}:{alertname=\"PaymentsErrors\"}",
        "status": "firing",
        "receiver": "loglens",
        "groupLabels": {"alertname": "PaymentsErrors"},
        "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": alerts
    })
    .to_string()
}

fn payments_alert(status: &str, fingerprint: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "PaymentsErrors", "namespace": "shop", "pod": "payments-7c9d-x1", "severity": "critical"},
        "annotations": {"summary": "payments error rate above 5%"},
        "startsAt": "2025-03-01T10:01:00Z",
        "endsAt": if status == "resolved" { "2025-03-01T10:20:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint
    })
}

/// Polls the queue until `done` holds for the jobs (or panics after `limit`).
async fn wait_for(bots: &Bots, limit: Duration, done: impl Fn(&[Job]) -> bool) -> Vec<Job> {
    let started = Instant::now();
    loop {
        let jobs = bots.queue.list(None, None, None, 100).await.unwrap();
        if done(&jobs) {
            return jobs;
        }
        assert!(
            started.elapsed() < limit,
            "timed out waiting; jobs: {:#?}",
            jobs.iter()
                .map(|j| (&j.kind, &j.status, j.attempts, &j.last_error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn of_kind<'a>(jobs: &'a [Job], kind: &str) -> Vec<&'a Job> {
    jobs.iter().filter(|j| j.kind == kind).collect()
}

fn all_settled(jobs: &[Job], kinds: &[(&str, usize)]) -> bool {
    kinds.iter().all(|(k, n)| {
        let js = of_kind(jobs, k);
        js.len() == *n && js.iter().all(|j| j.status == "done" || j.status == "dead")
    })
}

#[tokio::test]
async fn alerts_are_queued_once_and_bad_payloads_refused() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &dead_url()).await;
    let router = app(state.clone());

    let two = notification(json!([payments_alert("firing", "fp1"), {
        "status": "firing",
        "labels": {"alertname": "CheckoutLatency", "namespace": "shop", "service": "checkout"},
        "annotations": {"description": "p99 above 2s"},
        "startsAt": "2025-03-01T10:02:00Z",
        "fingerprint": "fp2"
    }]));
    let (status, body) = post_json(router.clone(), "/v1/alerts", &two).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["queued"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["queued"][0]["alert"], "PaymentsErrors");

    // Alertmanager repeats the notification: nothing new.
    let (status, again) = post_json(router.clone(), "/v1/alerts", &two).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["queued"], json!([]));
    assert_eq!(again["duplicates"].as_array().unwrap().len(), 2);
    assert_eq!(
        again["duplicates"][0]["job_id"],
        body["queued"][0]["job_id"]
    );

    // It resolves: its job says so, and nothing is queued.
    let resolved = notification(json!([payments_alert("resolved", "fp1")]));
    let (_, r) = post_json(router.clone(), "/v1/alerts", &resolved).await;
    assert_eq!(
        (r["resolved"].as_u64(), r["queued"].clone()),
        (Some(1), json!([]))
    );

    let (status, bytes) = crate::http::send(
        router.clone(),
        "GET",
        "/v1/jobs?kind=investigate",
        Body::empty(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let jobs: Value = serde_json::from_slice(&bytes).unwrap();
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    let payments = jobs
        .iter()
        .find(|j| j["payload"]["alert"]["fingerprint"] == "fp1")
        .unwrap();
    assert!(payments["resolved_at"].is_string(), "{payments}");
    assert_eq!(payments["status"], "queued");
    assert_eq!(
        payments["group_key"],
        "{}/{}:{alertname=\"PaymentsErrors\"}"
    );
    let question = payments["payload"]["question"].as_str().unwrap();
    assert!(
        question.contains("PaymentsErrors") && question.contains("payments error rate"),
        "{question}"
    );
    assert_eq!(payments["payload"]["filters"]["namespace"], "shop");
    assert_eq!(
        payments["payload"]["filters"]["start"],
        "2025-03-01T09:31:00Z"
    );
    let checkout = jobs
        .iter()
        .find(|j| j["payload"]["alert"]["fingerprint"] == "fp2")
        .unwrap();
    assert!(
        checkout["payload"]["question"]
            .as_str()
            .unwrap()
            .contains("service checkout")
    );

    // Bad input: clear errors, nothing queued.
    let (status, e) = post_json(router.clone(), "/v1/alerts", "{\"alerts\": [").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
    let (status, e) = post_json(
        router.clone(),
        "/v1/alerts",
        r#"{"version": "3", "alerts": []}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("version"),
        "{e}"
    );
    let (status, e) = post_json(
        router.clone(),
        "/v1/alerts",
        &notification(json!([{"status": "pending", "labels": {}}])),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (status, _) = post_json(router.clone(), "/v1/alerts", r#"{"version": "4"}"#).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "alerts is required"
    );
    // Larger than other requests may be (64 KiB), within the alert limit (1 MiB).
    let long = "x".repeat(100 * 1024);
    let mut big = payments_alert("firing", "fp3");
    big["annotations"]["description"] = json!(long);
    let (status, body) = post_json(router.clone(), "/v1/alerts", &notification(json!([big]))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let huge = format!(
        "{{\"version\":\"4\",\"alerts\":[],\"pad\":\"{}\"}}",
        "x".repeat(1100 * 1024)
    );
    let (status, _) = post_json(router.clone(), "/v1/alerts", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = crate::http::send(
        router.clone(),
        "GET",
        "/v1/jobs?status=bogus",
        Body::empty(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        crate::http::send(router.clone(), "GET", "/v1/jobs/nope", Body::empty(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post_json(router.clone(), "/v1/jobs/nope/retry", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        state
            .bots
            .queue
            .list(Some(JobKind::Investigate), None, None, 100)
            .await
            .unwrap()
            .len(),
        3
    );
}

pub(crate) async fn slack_post(
    router: axum::Router,
    secret: &str,
    ts: i64,
    body: &str,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri("/v1/slack/events")
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(secret, ts, body.as_bytes()))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub(crate) fn mention(event_id: &str, text: &str) -> String {
    json!({
        "type": "event_callback",
        "team_id": "T1",
        "event_id": event_id,
        "event": {"type": "app_mention", "user": "U1", "text": text, "channel": "C9", "ts": "1700000000.000200", "event_ts": "1700000000.000200"}
    })
    .to_string()
}

#[tokio::test]
async fn slack_events_are_verified_and_queued_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let mut state = app_state(dir.path(), logs, &dead_url()).await;
    // Not configured: the endpoint says so.
    let (status, e) = slack_post(
        app(state.clone()),
        "s",
        chrono::Utc::now().timestamp(),
        "{}",
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("slack_not_configured"))
    );

    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    state.bots.config.slack_signing_secret = Some(secret.into());
    // API keys are required, yet Slack (which cannot send one) gets through: its
    // signature is its authentication.
    state.auth = loglens::server::auth::Auth::required();
    let router = app(state.clone());
    let now = chrono::Utc::now().timestamp();

    let challenge = r#"{"type":"url_verification","token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
    let (status, body) = slack_post(router.clone(), secret, now, challenge).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    // Wrong secret, replayed (old) request, no signature: refused.
    let (status, e) = slack_post(router.clone(), "not-the-secret", now, challenge).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );
    let (status, e) = slack_post(router.clone(), secret, now - 600, challenge).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("replay"),
        "{e}"
    );
    let (status, _) = post_json(router.clone(), "/v1/slack/events", challenge).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signed garbage is a clear 400.
    let (status, e) = slack_post(router.clone(), secret, now, "{not json").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );

    // A mention is queued; Slack's retry of the same event (or a replay within the
    // window) is answered once.
    let event = mention("Ev1", "<@U0BOT> why are payments failing?");
    let (status, first) = slack_post(router.clone(), secret, now, &event).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["duplicate"], false);
    let (_, retried) = slack_post(router.clone(), secret, now + 1, &event).await;
    assert_eq!(
        (retried["duplicate"].as_bool(), &retried["job_id"]),
        (Some(true), &first["job_id"])
    );
    // Messages from bots (our own answers included) are not questions.
    let from_bot = json!({"type": "event_callback", "event_id": "Ev2", "event": {"type": "app_mention", "text": "<@U0BOT> hi", "channel": "C9", "ts": "1.1", "bot_id": "B1"}}).to_string();
    let (status, ignored) = slack_post(router.clone(), secret, now, &from_bot).await;
    assert_eq!(
        (status, ignored["ignored"].as_str()),
        (StatusCode::OK, Some("app_mention"))
    );

    let jobs = state
        .bots
        .queue
        .list(Some(JobKind::Answer), None, None, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].payload["question"], "why are payments failing?");
    assert_eq!(jobs[0].payload["thread_ts"], "1700000000.000200");
    assert_eq!(
        jobs[0].group_key.as_deref(),
        Some("slack:C9:1700000000.000200")
    );
}
