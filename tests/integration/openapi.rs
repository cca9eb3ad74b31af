//! `GET /openapi.json`: every listed route exists, and real responses (and example
//! requests) fit the listed schemas.
use axum::body::Body;
use axum::http::StatusCode;
use loglens::server::app;
use serde_json::{Value, json};

use crate::http::{post_json, send};
use crate::store::record;
use crate::support::{INCIDENT, app_state, dead_url, write_logs};

/// A validator for one of the document's component schemas.
fn validator(doc: &Value, name: &str) -> jsonschema::Validator {
    assert!(
        doc["components"]["schemas"][name].is_object(),
        "no schema {name}"
    );
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fits(doc: &Value, name: &str, v: &Value) {
    let val = validator(doc, name);
    let errors: Vec<String> = val
        .iter_errors(v)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} does not fit its schema: {errors:?}\n{v:#}"
    );
}

#[tokio::test]
async fn the_document_lists_real_routes_and_real_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &dead_url()).await;
    let router = app(state.clone());
    let (status, bytes) = send(router.clone(), "GET", "/openapi.json", Body::empty(), None).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    // Every listed operation is routed: no 405, and a 404 only as our JSON "not found".
    let ops = loglens::server::openapi::operations();
    assert!(ops.len() >= 20, "{ops:?}");
    for (method, path) in &ops {
        let uri = path.replace("{id}", "no-such-id");
        let (body, ct) = if method == "POST" {
            (Body::from("{}"), Some("application/json"))
        } else {
            (Body::empty(), None)
        };
        let (status, bytes) = send(router.clone(), method, &uri, body, ct).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert!(
                v["error"]["code"].is_string(),
                "{method} {path} is not routed"
            );
        }
    }

    // Real responses fit.
    let stored = record("ok");
    let failed = record("model_unavailable");
    state.service.store().insert(&stored).await.unwrap();
    state.service.store().insert(&failed).await.unwrap();
    for r in [&stored, &failed] {
        let (status, bytes) = send(
            router.clone(),
            "GET",
            &format!("/v1/analyses/{}", r.id),
            Body::empty(),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        fits(
            &doc,
            "AnalysisRecord",
            &serde_json::from_slice(&bytes).unwrap(),
        );
    }
    let window = r#"{"start": "2025-03-01T10:00:00Z", "end": "2025-03-01T10:30:00Z"}"#;
    for (path, name) in [
        ("/v1/triage", "TriageReport"),
        ("/v1/changes", "ChangesReport"),
        ("/v1/cascade", "CascadeReport"),
        ("/v1/summary", "SummaryReport"),
    ] {
        let (status, v) = post_json(router.clone(), path, window).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        fits(&doc, name, &v);
    }
    let alert = json!({"version": "4", "groupKey": "g", "alerts": [{"status": "firing", "labels": {"alertname": "X", "namespace": "shop"}, "startsAt": "2025-03-01T10:01:00Z", "fingerprint": "f"}]});
    fits(&doc, "Notification", &alert);
    let (status, _) = post_json(router.clone(), "/v1/alerts", &alert.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, bytes) = send(router.clone(), "GET", "/v1/jobs", Body::empty(), None).await;
    let jobs: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    fits(&doc, "Job", &jobs[0]);
    let fb = json!({"analysis_id": stored.id, "verdict": "incorrect", "correction": {"component": "payments-db", "severity": "CRITICAL"}});
    fits(&doc, "NewFeedback", &fb);
    let (status, v) = post_json(router.clone(), "/v1/feedback", &fb.to_string()).await;
    assert_eq!(status, StatusCode::CREATED);
    fits(&doc, "FeedbackRecord", &v);
    let (status, v) = post_json(router.clone(), "/v1/analyze", r#"{"query": ""}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    fits(&doc, "Error", &v);

    // The request schemas are not vacuous: they refuse what the server refuses.
    fits(
        &doc,
        "AnalyzeRequest",
        &json!({"query": "why?", "namespace": "shop", "since": "1h", "pipeline": "baseline"}),
    );
    let analyze = validator(&doc, "AnalyzeRequest");
    assert!(
        !analyze.is_valid(&json!({"namespace": "shop"})),
        "query is required"
    );
    assert!(
        !analyze.is_valid(&json!({"query": "q", "namspace": "shop"})),
        "unknown fields are refused"
    );
    assert!(!analyze.is_valid(&json!({"query": "q", "pipeline": "magic"})));
    assert!(
        !validator(&doc, "NewFeedback").is_valid(&json!({"analysis_id": "a", "verdict": "maybe"}))
    );
}
