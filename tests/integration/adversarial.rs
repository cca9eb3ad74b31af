//! Requests and log lines built to break loglens, each a regression test for a way it
//! once broke: times that overflow, a panicking handler, a client that goes away,
//! secrets in questions and alerts, and the smaller protocol slips (JSON bodies on 405
//! and Slack's 413, `Retry-After` on 503, the bearer scheme's case, unlabelled alerts).
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use loglens::server::{AppState, app, with_middleware};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::http::{post_json, send};
use crate::incidents::{mention, slack_post};
use crate::support::{INCIDENT, app_state, dead_url, model_url, write_logs};

const HUGE_SINCE: &str = r#""since": "9999999999h""#;

/// An app over the shared small incident, with its model at `model_url` (the folder
/// holds the logs and the database; keep it while the app is used).
async fn over_incident(model_url: &str) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, model_url).await;
    (dir, state)
}

fn analyze(body: &str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/v1/analyze")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_window_too_long_to_subtract_is_a_422_on_every_route() {
    // Validation comes first: no model is needed, and a dead URL proves none is called.
    let (_dir, state) = over_incident(&dead_url()).await;
    for (route, extra) in [
        ("/v1/analyze", r#""query": "why?", "#),
        ("/v1/analyze/stream", r#""query": "why?", "#),
        ("/v2/analyze", r#""query": "why?", "#),
        ("/v2/analyze/stream", r#""query": "why?", "#),
        ("/v1/summary", r#""narrate": false, "#),
        ("/v1/triage", ""),
        ("/v1/changes", ""),
        ("/v1/cascade", ""),
    ] {
        let body = format!("{{{extra}{HUGE_SINCE}}}");
        let (status, v) = post_json(app(state.clone()), route, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{route}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("since"), "{route}: {v}");
    }
}

#[tokio::test]
async fn a_line_with_an_absurd_epoch_time_is_read_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    // Microseconds that overflow nanoseconds, a negative time, a float far out of range.
    let hostile = concat!(
        r#"{"ts": 9999999999999999, "level": "error", "msg": "x"}"#,
        "\n",
        r#"{"ts": -5, "level": "error", "msg": "y"}"#,
        "\n",
        r#"{"ts": 1e300, "level": "error", "msg": "z"}"#,
        "\n",
    );
    let logs = write_logs(dir.path(), "app.jsonl", &format!("{INCIDENT}{hostile}"));
    let state = app_state(dir.path(), logs, &dead_url()).await;
    let window = r#"{"start": "2025-03-01T09:00:00Z", "end": "2025-03-01T11:00:00Z"}"#;
    for route in ["/v1/triage", "/v1/cascade", "/v1/changes"] {
        let (status, v) = post_json(app(state.clone()), route, window).await;
        assert_eq!(status, StatusCode::OK, "{route}: {v}");
    }
    let (status, v) = post_json(app(state), "/v1/summary", r#"{"narrate": false}"#).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_with_a_json_body_and_the_process_lives_on() {
    let (_dir, state) = over_incident(&dead_url()).await;
    let routes: Router<AppState> = Router::new()
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("a bug in a handler");
                }
                "unreachable"
            }),
        )
        .route("/fine", get(|| async { "fine" }));
    let router = with_middleware(routes, state);
    let (status, body) = send(router.clone(), "GET", "/boom", Body::empty(), None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "internal", "{v}");
    // What failed, not how: the panic's text stays in the log.
    assert!(!v.to_string().contains("a bug in a handler"), "{v}");
    let (status, body) = send(router, "GET", "/fine", Body::empty(), None).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, b"fine".as_slice())
    );
}

#[tokio::test]
async fn a_client_that_goes_away_still_gets_its_analysis_stored() {
    let (_dir, state) = over_incident(&model_url()).await;
    let req = analyze(r#"{"query": "why is checkout failing?", "pipeline": "baseline"}"#);
    let client = tokio::spawn(app(state.clone()).oneshot(req));
    let started = Instant::now();
    while state.service.admission().admitted() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never admitted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The client hangs up while the model works.
    client.abort();
    assert!(client.await.unwrap_err().is_cancelled());
    let stored = loop {
        let recent = state.service.store().recent(5).await.unwrap();
        if let Some(r) = recent.into_iter().next() {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the abandoned analysis was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stored.question, "why is checkout failing?");
    assert!(!stored.retrieved.is_empty(), "{stored:?}");
    // It held its place in line until it was done, then let go.
    let started = Instant::now();
    while state.service.admission().admitted() != 0 {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn secrets_in_a_question_are_masked_before_they_are_stored() {
    // The model is down: the analysis fails, and is stored with its question.
    let (_dir, state) = over_incident(&dead_url()).await;
    let (status, v) = post_json(
        app(state.clone()),
        "/v1/analyze",
        r#"{"query": "why does login fail with password=hunter22 and key AKIAIOSFODNN7EXAMPLE?", "pipeline": "baseline"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    let id = v["error"]["analysis_id"].as_str().unwrap();
    let stored = state.service.store().get(id).await.unwrap().unwrap();
    assert!(!stored.question.contains("hunter22"), "{}", stored.question);
    assert!(!stored.question.contains("AKIAIOSFODNN7EXAMPLE"));
    assert!(stored.question.contains("password=[REDACTED]"));
}

#[tokio::test]
async fn a_503_says_when_to_retry() {
    let (_dir, state) = over_incident(&dead_url()).await;
    let req = analyze(r#"{"query": "why?", "pipeline": "baseline"}"#);
    let resp = app(state).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0);
}

#[tokio::test]
async fn wrong_methods_and_routes_get_json_errors() {
    let (_dir, state) = over_incident(&dead_url()).await;
    let (status, body) = send(
        app(state.clone()),
        "GET",
        "/v1/analyze",
        Body::empty(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");
    let (status, body) = send(app(state), "GET", "/v1/nothing-here", Body::empty(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (_dir, mut state) = over_incident(&dead_url()).await;
    state.auth = loglens::server::auth::Auth::required();
    let (_, key) = state
        .service
        .store()
        .create_api_key("t", 100)
        .await
        .unwrap();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let req = Request::builder()
            .uri("/v1/analyses/nope")
            .header("authorization", format!("{scheme} {key}"))
            .body(Body::empty())
            .unwrap();
        let resp = app(state.clone()).oneshot(req).await.unwrap();
        // Through the key check to the handler: no such analysis.
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{scheme}");
    }
    let req = Request::builder()
        .uri("/v1/analyses/nope")
        .header("authorization", format!("Basic {key}"))
        .body(Body::empty())
        .unwrap();
    let resp = app(state).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_alert_with_no_labels_is_refused_and_secrets_in_alerts_are_masked() {
    let (_dir, state) = over_incident(&dead_url()).await;
    let unlabelled = json!({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {}, "annotations": {"summary": "something"}}
    ]});
    let (status, v) = post_json(app(state.clone()), "/v1/alerts", &unlabelled.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no labels")
    );
    assert!(
        state
            .bots
            .queue
            .list(None, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let leaky = json!({"version": "4", "status": "firing", "alerts": [{
        "status": "firing",
        "labels": {"alertname": "DbDown", "namespace": "shop", "dsn": "postgres://app:s3cretpw@db:5432/shop"},
        "annotations": {"summary": "login fails, token=ghp_abcdefghijklmnop1234"},
        "startsAt": "2025-03-01T10:00:00Z",
    }]});
    let (status, v) = post_json(app(state.clone()), "/v1/alerts", &leaky.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let jobs = state.bots.queue.list(None, None, None, 10).await.unwrap();
    let stored = jobs[0].payload.to_string();
    assert!(!stored.contains("s3cretpw"), "{stored}");
    assert!(!stored.contains("ghp_abcdefghijklmnop1234"), "{stored}");
    assert!(stored.contains("DbDown"));
}

#[tokio::test]
async fn slack_gets_json_errors_and_its_secrets_masked() {
    let (_dir, mut state) = over_incident(&dead_url()).await;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    state.bots.config.slack_signing_secret = Some(secret.into());
    let now = chrono::Utc::now().timestamp();
    // Over the body limit: 413 with the JSON error body.
    let huge = "x".repeat(loglens::server::MAX_BODY_BYTES + 1);
    let (status, v) = slack_post(app(state.clone()), secret, now, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["error"]["code"], "payload_too_large", "{v}");
    // A timestamp at the edge of i64 is refused as stale, not a crash.
    let (status, _) = slack_post(app(state.clone()), secret, i64::MIN, "{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A mention carrying a password is stored masked.
    let event = mention("EvS", "<@U0BOT> why does the db refuse password=hunter22?");
    let (status, v) = slack_post(app(state.clone()), secret, now, &event).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let jobs = state.bots.queue.list(None, None, None, 10).await.unwrap();
    let stored = jobs[0].payload.to_string();
    assert!(!stored.contains("hunter22"), "{stored}");
}

/// Every input the Alertmanager and Slack fuzz targets kept (and any crash they found,
/// saved there once fixed), through the same calls, on stable Rust.
#[test]
fn the_alertmanager_and_slack_fuzz_corpora_parse_without_a_panic() {
    use loglens::incidents::alertmanager::Notification;
    use loglens::incidents::slack_events::{Envelope, verify};
    let read = |target: &str| -> Vec<Vec<u8>> {
        let dir = format!("{}/fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect()
    };
    let alerts = read("alertmanager");
    assert!(!alerts.is_empty());
    for data in alerts {
        let Ok(n) = serde_json::from_slice::<Notification>(&data) else {
            continue;
        };
        if n.validate().is_ok() {
            for a in &n.alerts {
                let _ = a.dedupe_key();
                let inv = a.investigation(Duration::from_secs(1800), n.external_url.clone());
                let _ = inv.filters.to_filter(chrono::Utc::now());
            }
        }
    }
    let slack = read("slack");
    assert!(!slack.is_empty());
    for data in slack {
        let mut parts = data.splitn(3, |&b| b == b'\n');
        let ts = parts.next().and_then(|p| std::str::from_utf8(p).ok());
        let sig = parts.next().and_then(|p| std::str::from_utf8(p).ok());
        let body = parts.next().unwrap_or_default();
        let _ = verify(
            "8f742231b10e8888abcd99yyyzzz85a5",
            ts,
            sig,
            body,
            1_700_000_000,
        );
        if let Ok(Envelope::EventCallback { event, .. }) = serde_json::from_slice::<Envelope>(body)
        {
            let _ = event.question();
        }
    }
}
