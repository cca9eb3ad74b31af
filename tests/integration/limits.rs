//! Backpressure (model slots and a bounded queue: 429 with Retry-After beyond it) and
//! CORS (off unless origins are configured), against the real model server.
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use loglens::admission::Admission;
use loglens::server::{app, with_cors};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::{INCIDENT, app_state, model_url, write_logs};

fn ask() -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/v1/analyze")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"query": "why is checkout failing?", "pipeline": "baseline"}"#,
        ))
        .unwrap()
}

#[tokio::test]
async fn a_full_queue_answers_429_with_retry_after_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let mut state = app_state(dir.path(), logs, &model_url()).await;
    // One runs, one waits, the rest are turned away.
    state.service = state.service.clone().with_admission(Admission::new(1, 1));
    let router = app(state.clone());
    let first = tokio::spawn(router.clone().oneshot(ask()));
    let second = tokio::spawn(router.clone().oneshot(ask()));
    let started = Instant::now();
    while state.service.admission().admitted() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the two asks were not admitted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = router.clone().oneshot(ask()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry));
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(refused.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    // The refusal was immediate; the admitted two finish and are stored.
    assert!(started.elapsed() < Duration::from_secs(30));
    let mut ids = Vec::new();
    for h in [first, second] {
        let resp = h.await.unwrap().unwrap();
        assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let v: Value = serde_json::from_slice(
            &axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap(),
        )
        .unwrap();
        let id = v["id"]
            .as_str()
            .or_else(|| v["error"]["analysis_id"].as_str())
            .unwrap()
            .to_string();
        ids.push(id);
    }
    for id in ids {
        assert!(state.service.store().get(&id).await.unwrap().is_some());
    }
    assert_eq!(
        state.service.admission().admitted(),
        0,
        "places are given back"
    );
    let again = router.oneshot(ask()).await.unwrap();
    assert_ne!(again.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &model_url()).await;
    let preflight = |origin: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/v1/analyze")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Body::empty())
            .unwrap()
    };
    let healthz = |origin: &str| {
        Request::builder()
            .uri("/healthz")
            .header("origin", origin)
            .body(Body::empty())
            .unwrap()
    };
    // Default: no CORS headers at all.
    let plain = with_cors(app(state.clone()), &[]).unwrap();
    let r = plain
        .clone()
        .oneshot(healthz("https://evil.example"))
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = plain
        .oneshot(preflight("https://grafana.example"))
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Configured: that origin only.
    let open = with_cors(app(state), &["https://grafana.example".to_string()]).unwrap();
    let r = open
        .clone()
        .oneshot(preflight("https://grafana.example"))
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://grafana.example"
    );
    assert!(
        r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let r = open.oneshot(healthz("https://evil.example")).await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
