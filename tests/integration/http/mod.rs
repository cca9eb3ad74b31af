//! The HTTP API, driven through `app()` without a socket.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use loglens::server::app;
use loglens_agents::test_utils::{FakeModelServer, FakeReply};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{INCIDENT, app_state, dead_url, model_url, write_logs};

mod bad_input;

pub(crate) async fn send(
    router: axum::Router,
    method: &str,
    uri: &str,
    body: Body,
    content_type: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = router.oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

pub(crate) async fn post_json(router: axum::Router, uri: &str, body: &str) -> (StatusCode, Value) {
    let (status, bytes) = send(
        router,
        "POST",
        uri,
        Body::from(body.to_string()),
        Some("application/json"),
    )
    .await;
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
    (status, v)
}

/// Parses an SSE body into (event, data) pairs, checking the framing as it goes.
pub(crate) fn parse_sse(body: &str) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    for block in body.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                name = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            } else if line.starts_with(':') {
                continue; // keep-alive comment
            } else {
                panic!("unexpected SSE line {line:?} in block {block:?}");
            }
        }
        if name.is_none() && data.is_empty() {
            continue; // a block of keep-alive comments only (sent while the model is slow)
        }
        let name = name.unwrap_or_else(|| panic!("SSE block without an event name: {block:?}"));
        events.push((
            name,
            serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("data is not JSON ({e}): {data}")),
        ));
    }
    events
}

#[tokio::test]
async fn analyze_answers_with_cited_evidence_and_stores_it() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &model_url()).await;
    let router = app(state.clone());

    let (status, body) = post_json(
        router.clone(),
        "/v1/analyze",
        r#"{"query":"why are orders failing?","namespace":"shop","limit":10,"pipeline":"baseline"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["matched_lines"], 3);
    assert_eq!(body["prompt_version"], "extract/v1");
    let retrieved = body["retrieved"].as_array().unwrap();
    assert_eq!(retrieved.len(), 3);
    let evidence = body["finding"]["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty());
    for e in evidence {
        assert!(
            retrieved.contains(e),
            "evidence {e} was not among the lines sent"
        );
    }
    assert!(
        ["INFO", "WARN", "ERROR", "CRITICAL"]
            .contains(&body["finding"]["severity"].as_str().unwrap())
    );
    assert!(body["model_calls"].as_u64().unwrap() >= 1);
    assert!(body["tokens_per_second"].as_f64().unwrap() > 0.0);

    // It was stored, whole.
    let id = body["id"].as_str().unwrap();
    let (status, stored) = send(
        router,
        "GET",
        &format!("/v1/analyses/{id}"),
        Body::empty(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored["finding"], body["finding"]);
    assert_eq!(stored["filters"], json!({"namespace": "shop"}));
}

#[tokio::test]
async fn stream_sends_framed_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let router = app(app_state(dir.path(), logs, &model_url()).await);

    let req = r#"{"query":"what is failing in payments?","pod":"payments","limit":5,"pipeline":"baseline"}"#;
    let (status, bytes) = send(
        router,
        "POST",
        "/v1/analyze/stream",
        Body::from(req),
        Some("application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let events = parse_sse(&String::from_utf8(bytes).unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"started"));
    assert_eq!(names.get(1), Some(&"retrieved"));
    assert_eq!(&names[names.len() - 2..], ["result", "done"], "{names:?}");
    assert!(
        names[2..names.len() - 2]
            .iter()
            .all(|n| *n == "delta" || *n == "reply_rejected")
            && names.len() > 4,
        "{names:?}"
    );

    let id = &events[0].1["id"];
    let (_, retrieved) = &events[1];
    assert_eq!(
        retrieved["matched"], 2,
        "pod=payments matches the payments workload's two errors"
    );
    let (_, result) = &events[events.len() - 2];
    assert_eq!(&result["id"], id);
    // The deltas are the model's JSON, token by token.
    // (After the last `reply_rejected`, if the tiny model's first reply was refused.)
    let last_rejection = events
        .iter()
        .rposition(|(n, _)| n == "reply_rejected")
        .map_or(0, |i| i + 1);
    let streamed: String = events[last_rejection..]
        .iter()
        .filter(|(n, _)| n == "delta")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    let finding: Value = serde_json::from_str(&streamed).unwrap();
    assert_eq!(finding["severity"], result["finding"]["severity"]);
}

#[tokio::test]
async fn a_20_mb_line_is_clipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let huge = format!(
        "{{\"labels\":{{\"pod\":\"api-1\"}},\"line\":\"ERROR payload dump {}\"}}\n",
        "A".repeat(20 * 1024 * 1024)
    );
    let logs = write_logs(
        dir.path(),
        "huge.jsonl",
        &(huge + "ERROR database connection refused\n"),
    );
    let router = app(app_state(dir.path(), logs, &model_url()).await);
    let (status, body) = post_json(
        router,
        "/v1/analyze",
        r#"{"query":"what failed?","limit":2}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines = body["retrieved"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    let huge_line = lines.iter().find(|l| l["line_no"] == 1).unwrap();
    assert!(
        huge_line["text"].as_str().unwrap().len() < 2000,
        "clipped for the prompt"
    );
    assert!(
        huge_line["text"].as_str().unwrap().contains("…[+"),
        "says it was clipped"
    );
}

#[tokio::test]
async fn model_down_is_503_with_one_complete_failed_record() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &dead_url()).await;
    let (status, body) = post_json(app(state.clone()), "/v1/analyze", r#"{"query":"why?"}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "model_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unavailable")
    );

    let stored = state.service.store().recent(10).await.unwrap();
    assert_eq!(stored.len(), 1, "exactly one record");
    let r = &stored[0];
    assert_eq!(Some(r.id.as_str()), body["error"]["analysis_id"].as_str());
    assert_eq!(r.status, "model_unavailable");
    assert!(r.finding.is_none());
    assert_eq!(r.retrieved.len(), 3, "what was retrieved is kept");
    assert!(r.error.as_deref().unwrap().contains("unavailable"));

    // Readiness says the same.
    let (status, ready) = send(app(state), "GET", "/readyz", Body::empty(), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = serde_json::from_slice(&ready).unwrap();
    assert_eq!(ready["checks"]["model"]["ok"], false);
    assert_eq!(ready["checks"]["database"]["ok"], true);
}

#[tokio::test]
async fn model_invalid_json_twice_is_502_and_recorded() {
    let fake = FakeModelServer::start(vec![FakeReply::Text("{\"evidence\": [1], oops".into())])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &fake.url).await;
    let (status, body) = post_json(
        app(state.clone()),
        "/v1/analyze",
        r#"{"query":"why?","pipeline":"baseline"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "model_invalid_output");
    // What failed, not how: the reply's text and the server's address stay in the log.
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("could not be read"), "{message}");
    assert!(
        !message.contains("oops") && !message.contains("127.0.0.1"),
        "{message}"
    );
    assert_eq!(fake.calls(), 2);
    let stored = state.service.store().recent(10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, "model_invalid_output");
}

#[tokio::test]
async fn stream_reports_model_failure_as_an_error_event() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let router = app(app_state(dir.path(), logs, &dead_url()).await);
    for (pipeline, want) in [
        ("baseline", vec!["started", "retrieved", "error", "done"]),
        // The rules route without the model ("why?" names no side); the evidence's top
        // candidate picks the side (a second route), and that specialist fails.
        (
            "agents",
            vec![
                "started",
                "route",
                "retrieved",
                "evidence",
                "route",
                "agent_failed",
                "error",
                "done",
            ],
        ),
    ] {
        let (status, bytes) = send(
            router.clone(),
            "POST",
            "/v1/analyze/stream",
            Body::from(format!(r#"{{"query":"why?","pipeline":"{pipeline}"}}"#)),
            Some("application/json"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let events = parse_sse(&String::from_utf8(bytes).unwrap());
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, want);
        let error = &events[events.len() - 2].1;
        assert_eq!(error["status"], 503);
        assert_eq!(error["error"]["code"], "model_unavailable");
    }
}

#[tokio::test]
async fn agents_stream_route_evidence_tool_calls_findings_and_consensus() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &model_url()).await;
    let req = r#"{"query":"why are orders failing?","namespace":"shop"}"#;
    let (status, bytes) = send(
        app(state.clone()),
        "POST",
        "/v1/analyze/stream",
        Body::from(req),
        Some("application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let events = parse_sse(&String::from_utf8(bytes).unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..4],
        ["started", "route", "retrieved", "evidence"],
        "{names:?}"
    );
    let failures: Vec<String> = events
        .iter()
        .filter(|(n, _)| n == "agent_failed" || n == "error")
        .map(|(_, d)| d.to_string())
        .collect();
    assert_eq!(
        names[names.len() - 3..],
        ["consensus", "result", "done"],
        "{names:?} {failures:?}"
    );
    // "why are orders failing?" names no side: a second route, the evidence's side.
    assert_eq!(names[4], "route", "{names:?}");
    assert_ne!(events[4].1["specialists"], "both", "{}", events[4].1);
    let middle = &names[5..names.len() - 3];
    assert!(
        middle
            .iter()
            .all(|n| ["tool_call", "finding", "agent_failed"].contains(n)),
        "{names:?}"
    );

    // The route says who decided and why.
    let route = &events[1].1;
    assert_eq!(route["decided_by"], "rules", "{route}");
    assert!(route["reason"].as_str().unwrap().len() > 10);
    // The compatible `retrieved` event carries the numbered evidence lines.
    assert_eq!(events[2].1["matched"], 3);
    // Every tool call reports its outcome.
    for (_, t) in events.iter().filter(|(n, _)| n == "tool_call") {
        assert!(
            ["ok", "error", "refused", "timed_out"].contains(&t["status"].as_str().unwrap()),
            "{t}"
        );
        assert!(
            ["query_logs", "log_patterns", "k8s_events", "k8s_state"]
                .contains(&t["tool"].as_str().unwrap())
                || t["status"] == "refused",
            "{t}"
        );
    }

    // The result is the stored record: the agents' answer with its path and votes.
    let result = &events[events.len() - 2].1;
    assert_eq!(result["pipeline"], "agents");
    assert_eq!(result["prompt_version"], "router/v1+specialist/v2+weigh/v1");
    let findings = names.iter().filter(|n| **n == "finding").count();
    let details = &result["details"];
    assert_eq!(details["opinions"].as_array().unwrap().len(), findings);
    assert_eq!(details["consensus"]["opinions"], findings);
    let stages: Vec<&str> = details["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "router",
            "retrieval",
            "evidence",
            "infra",
            "app",
            "consensus"
        ]
    );
    assert!(result["finding"]["cause"].is_string());
    let (status, stored) = send(
        app(state),
        "GET",
        &format!("/v1/analyses/{}", result["id"].as_str().unwrap()),
        Body::empty(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored["details"], result["details"]);
    assert_eq!(stored["finding"], result["finding"]);
}
