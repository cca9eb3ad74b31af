//! Bad input, empty scopes and readiness over the HTTP API: clear errors, never a crash.
use super::*;

/// Bad requests never reach the model: the model URL here is dead on purpose.
#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &dead_url()).await;
    let cases: &[(&str, &str, StatusCode, &str, &str)] = &[
        (
            "malformed JSON",
            r#"{"query": "why?""#,
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "",
        ),
        (
            "unknown field",
            r#"{"query":"why?","namspace":"shop"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "namspace",
        ),
        (
            "missing query",
            r#"{"namespace":"shop"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "query",
        ),
        (
            "empty query",
            r#"{"query":"  "}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "query",
        ),
        (
            "limit zero",
            r#"{"query":"why?","limit":0}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "limit",
        ),
        (
            "limit too big",
            r#"{"query":"why?","limit":1000000}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "200",
        ),
        (
            "negative limit",
            r#"{"query":"why?","limit":-1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "limit",
        ),
        (
            "end before start",
            r#"{"query":"why?","start":"2025-03-01T11:00:00Z","end":"2025-03-01T10:00:00Z"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "after start",
        ),
        (
            "bad time",
            r#"{"query":"why?","start":"yesterday"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "start",
        ),
        (
            "since and start",
            r#"{"query":"why?","since":"1h","start":"2025-03-01T10:00:00Z"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "since",
        ),
        (
            "bad since",
            r#"{"query":"why?","since":"a while"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "15m",
        ),
        (
            "unknown pipeline",
            r#"{"query":"why?","pipeline":"magic"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "baseline",
        ),
    ];
    for (name, body, want_status, want_code, want_text) in cases {
        for uri in ["/v1/analyze", "/v1/analyze/stream"] {
            let (status, got) = post_json(app(state.clone()), uri, body).await;
            assert_eq!(status, *want_status, "{name} on {uri}: {got}");
            assert_eq!(got["error"]["code"], *want_code, "{name} on {uri}: {got}");
            assert!(
                got["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(want_text),
                "{name} on {uri}: {got}"
            );
        }
    }
    // Refused before any analysis ran: nothing was stored.
    let stored = state.service.store().recent(100).await.unwrap();
    assert!(stored.is_empty(), "{stored:?}");
}

#[tokio::test]
async fn a_scope_with_no_lines_is_answered_as_quiet_not_as_an_error() {
    // The namespace has no line and no warning: nothing there is failing (or it names
    // nothing that logs), and the answer says so, on both endpoints, without a model.
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &dead_url()).await;
    let body = r#"{"query":"why?","namespace":"nope"}"#;
    let (status, got) = post_json(app(state.clone()), "/v1/analyze", body).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["status"], "ok", "{got}");
    let finding = &got["finding"];
    assert_eq!(finding["severity"], "INFO", "{got}");
    assert_eq!(finding["component"], "nope", "{got}");
    assert!(finding["evidence"].as_array().unwrap().is_empty(), "{got}");
    let root_cause = finding["root_cause"].as_str().unwrap();
    assert!(root_cause.contains("namespace=nope"), "{root_cause}");
    assert!(root_cause.contains("lines elsewhere"), "{root_cause}");
    let (status, bytes) = send(
        app(state.clone()),
        "POST",
        "/v1/analyze/stream",
        Body::from(body.to_string()),
        Some("application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let events = parse_sse(&String::from_utf8(bytes).unwrap());
    assert!(events.iter().all(|(n, _)| n != "error"), "{events:?}");
    let stored = state.service.store().recent(10).await.unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.iter().all(|r| r.status == "ok"), "{stored:?}");
    assert!(
        stored
            .iter()
            .all(|r| r.details.as_ref().is_some_and(|d| d["quiet"] == true)),
        "{stored:?}"
    );
}

#[tokio::test]
async fn wrong_content_type_and_huge_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &dead_url()).await;
    let (status, body) = send(
        app(state.clone()),
        "POST",
        "/v1/analyze",
        Body::from(r#"{"query":"why?"}"#),
        Some("text/plain"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        String::from_utf8_lossy(&body)
    );

    let huge = format!(r#"{{"query":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let (status, body) = post_json(app(state), "/v1/analyze", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn empty_log_file_is_a_clear_no_logs_error() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "empty.log", "");
    let router = app(app_state(dir.path(), logs, &dead_url()).await);
    let (status, body) = post_json(router, "/v1/analyze", r#"{"query":"why?"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "no_logs");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("empty.log"),
        "{body}"
    );
}

#[tokio::test]
async fn health_and_readiness_with_a_real_model() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "incident.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &model_url()).await;
    let (status, body) = send(app(state.clone()), "GET", "/healthz", Body::empty(), None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
    );
    let (status, body) = send(app(state.clone()), "GET", "/readyz", Body::empty(), None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    // Readiness tells anyone what answers, not where servers are or files live.
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("127.0.0.1") && !text.contains('/'), "{text}");
    let (status, _) = send(app(state), "GET", "/v1/analyses/nope", Body::empty(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
