//! Insights over a window through the HTTP API and the CLI: triage, what changed,
//! cascade and summary (its write-up by the real model), and their bad input.
use axum::http::StatusCode;
use loglens::server::app;
use serde_json::{Value, json};

use crate::http::post_json;
use crate::support::{INCIDENT, app_state, assert_ok, dead_url, loglens, model_url, write_logs};

/// INCIDENT (payments' pool runs out, checkout fails) after a quiet hour.
fn incident_with_history() -> String {
    let quiet = r#"{"timestamp":"2025-03-01T09:30:00Z","labels":{"namespace":"shop","pod":"checkout-55f-q2","container":"checkout","node":"node-2"},"line":"order 1 placed"}
{"timestamp":"2025-03-01T09:40:00Z","labels":{"namespace":"shop","pod":"checkout-55f-q2","container":"checkout","node":"node-2"},"line":"order 2 placed"}
{"timestamp":"2025-03-01T09:50:00Z","labels":{"namespace":"shop","pod":"checkout-55f-q2","container":"checkout","node":"node-2"},"line":"order 3 placed"}
"#;
    format!("{quiet}{INCIDENT}")
}

const WINDOW: &str = r#""start": "2025-03-01T10:00:00Z", "end": "2025-03-01T10:30:00Z""#;

#[tokio::test]
async fn triage_changes_and_cascade_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", &incident_with_history());
    let router = app(app_state(dir.path(), logs, &dead_url()).await);

    let (status, t) = post_json(router.clone(), "/v1/triage", &format!("{{{WINDOW}}}")).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let items = t["items"].as_array().unwrap();
    assert!(items.len() >= 2, "{t}");
    assert_eq!(items[0]["rank"], 1);
    assert!(
        items
            .iter()
            .all(|i| !i["evidence"].as_array().unwrap().is_empty())
    );
    assert!(items.iter().any(|i| {
        i["components"]
            .as_array()
            .unwrap()
            .contains(&json!("payments"))
    }));
    assert_eq!(t["window"]["lines"], 4);
    assert_eq!(
        t["previous"]["lines"], 3,
        "the half hour before: the quiet orders"
    );
    // Everything failing is new against the quiet half hour before.
    assert!(items.iter().all(|i| i["novel"] == true), "{t}");

    let (status, c) = post_json(
        router.clone(),
        "/v1/changes",
        &format!("{{{WINDOW}, \"limit\": 20}}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let changes = c["changes"].as_array().unwrap();
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"new_pattern") && kinds.contains(&"vanished_pattern"),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"new_signature"),
        "the pool exhaustion is a known failure: {kinds:?}"
    );
    let gone = changes
        .iter()
        .find(|c| c["kind"] == "vanished_pattern")
        .unwrap();
    assert!(gone["title"].as_str().unwrap().contains("placed"), "{gone}");
    // An explicit earlier window.
    let (status, c2) = post_json(
        router.clone(),
        "/v1/changes",
        &format!("{{{WINDOW}, \"before_start\": \"2025-03-01T09:00:00Z\", \"before_end\": \"2025-03-01T09:35:00Z\"}}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(c2["before"]["lines"], 1);

    let (status, k) = post_json(
        router.clone(),
        "/v1/cascade",
        &format!("{{{WINDOW}, \"namespace\": \"shop\"}}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{k}");
    assert_eq!(k["root"]["component"], "payments", "{k}");
    assert_eq!(k["root"]["affected"], json!(["checkout"]));
    assert_eq!(k["chains"], json!([["checkout", "payments"]]));
    assert!(
        k["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["from"] == "checkout" && d["to"] == "payments")
    );

    // Bad input: clear 422s.
    for (path, body, says) in [
        (
            "/v1/triage",
            r#"{"namspace": "shop"}"#.to_string(),
            "namspace",
        ),
        ("/v1/triage", format!("{{{WINDOW}, \"limit\": 0}}"), "limit"),
        (
            "/v1/changes",
            r#"{"namespace": "shop"}"#.to_string(),
            "compares two windows",
        ),
        (
            "/v1/changes",
            format!("{{{WINDOW}, \"before_start\": \"2025-03-01T09:00:00Z\"}}"),
            "both",
        ),
        (
            "/v1/cascade",
            r#"{"start": "2025-03-01T10:00:00Z", "end": "2025-03-01T09:00:00Z"}"#.to_string(),
            "after",
        ),
        (
            "/v1/cascade",
            r#"{"since": "yesterday"}"#.to_string(),
            "since",
        ),
        (
            "/v1/summary",
            format!("{{{WINDOW}, \"limit\": 3}}"),
            "limit",
        ),
    ] {
        let (status, e) = post_json(router.clone(), path, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {e}"
        );
        assert!(
            e["error"]["message"].as_str().unwrap().contains(says),
            "{path} {body}: {e}"
        );
    }
}

#[tokio::test]
async fn summary_is_measured_and_written_up_by_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", &incident_with_history());
    let router = app(app_state(dir.path(), logs.clone(), &model_url()).await);
    let (status, s) = post_json(router, "/v1/summary", &format!("{{{WINDOW}}}")).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let d = &s["digest"];
    assert_eq!(
        (d["lines"].as_u64(), d["errors"].as_u64()),
        (Some(4), Some(3)),
        "{d}"
    );
    assert_eq!(d["root"]["component"], "payments");
    assert!(
        d["text"]
            .as_str()
            .unwrap()
            .contains("Failures start at payments"),
        "{d}"
    );
    // The tiny model may or may not write a valid reply; either its write-up is there,
    // in the schema's shape, or the reason it is not.
    match (&s["narrative"], &s["narrative_error"]) {
        (Value::Object(n), Value::Null) => {
            assert!(!n["headline"].as_str().unwrap().is_empty());
            assert!(!n["summary"].as_str().unwrap().is_empty());
            assert!(s["model"].as_str().unwrap().contains("summary/v1"));
        }
        (Value::Null, Value::String(e)) => assert!(!e.is_empty()),
        other => panic!("neither a narrative nor its error: {other:?}"),
    }

    // The model down: the measured summary still comes back, saying why there is no prose.
    let dir2 = tempfile::tempdir().unwrap();
    let router = app(app_state(dir2.path(), logs, &dead_url()).await);
    let (status, s) = post_json(router, "/v1/summary", &format!("{{{WINDOW}}}")).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert!(s["narrative"].is_null());
    assert!(
        s["narrative_error"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{s}"
    );
    assert!(!s["digest"]["text"].as_str().unwrap().is_empty());
}

#[test]
fn the_insight_commands_print_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", &incident_with_history());
    let logs = logs.to_str().unwrap();
    let win = [
        "--start",
        "2025-03-01T10:00:00Z",
        "--end",
        "2025-03-01T10:30:00Z",
    ];
    let out = loglens()
        .args(["cascade", "--logs", logs])
        .args(win)
        .output()
        .unwrap();
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Started at: payments") && text.contains("checkout → payments"),
        "{text}"
    );

    let out = loglens()
        .args(["triage", "--logs", logs, "--json", "--limit", "2"])
        .args(win)
        .output()
        .unwrap();
    assert_ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2);

    let out = loglens()
        .args(["changes", "--logs", logs])
        .args(win)
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("VanishedPattern"));

    let out = loglens()
        .args([
            "summary",
            "--logs",
            logs,
            "--no-narrate",
            "--model-url",
            &dead_url(),
        ])
        .args(win)
        .output()
        .unwrap();
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Measured:") && text.contains("Top problems:"),
        "{text}"
    );

    let out = loglens()
        .args(["changes", "--logs", logs])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("compares two windows"));
}
