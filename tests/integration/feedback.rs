//! Active learning: feedback on stored answers, the review queue, and the export of
//! confirmed and corrected answers as golden-case candidates.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use loglens::server::app;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::http::{post_json, send};
use crate::store::record;
use crate::support::{INCIDENT, app_state, assert_ok, dead_url, loglens, write_logs};

async fn get_json(router: axum::Router, uri: &str) -> (StatusCode, Value) {
    let (status, bytes) = send(router, "GET", uri, Body::empty(), None).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn feedback_is_checked_reviewed_and_exported_as_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &dead_url()).await;
    let store = state.service.store().clone();
    // A confident answer, an unsure one, and a failed run.
    let sure = record("ok");
    let mut unsure = record("ok");
    unsure.finding.as_mut().unwrap().confidence = 0.3;
    let failed = record("model_unavailable");
    for r in [&sure, &unsure, &failed] {
        store.insert(r).await.unwrap();
    }
    let router = app(state.clone());

    // The review queue: the unsure and the failed, not the confident one.
    let (status, review) = get_json(router.clone(), "/v1/review").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = review
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["analysis_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&unsure.id.as_str()) && ids.contains(&failed.id.as_str()),
        "{review}"
    );
    assert!(!ids.contains(&sure.id.as_str()));
    let why = review
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["analysis_id"] == unsure.id.as_str())
        .unwrap();
    assert!(
        why["reason"].as_str().unwrap().contains("low confidence"),
        "{why}"
    );

    // Confirm the confident one; correct the unsure one (root cause, component, evidence).
    let (status, ok) = post_json(
        router.clone(),
        "/v1/feedback",
        &json!({"analysis_id": sure.id, "verdict": "correct", "comment": "spot on"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    assert_eq!(
        (ok["verdict"].as_str(), ok["author"].as_str()),
        (Some("correct"), Some("anonymous"))
    );
    let correction = json!({
        "analysis_id": unsure.id,
        "verdict": "incorrect",
        "correction": {"root_cause": "a connection leak in payments exhausts the pool", "component": "payments-db", "severity": "CRITICAL", "evidence": [1]}
    });
    let (status, fixed) = post_json(router.clone(), "/v1/feedback", &correction.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{fixed}");
    let (_, review) = get_json(router.clone(), "/v1/review").await;
    assert!(
        !review.to_string().contains(&unsure.id),
        "reviewed answers leave the queue"
    );
    let (status, on) = get_json(
        router.clone(),
        &format!("/v1/analyses/{}/feedback", unsure.id),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(on[0]["correction"]["component"], "payments-db");

    // Bad feedback: clear errors, nothing stored.
    for (body, status, says) in [
        (
            json!({"analysis_id": "nope", "verdict": "correct"}),
            StatusCode::NOT_FOUND,
            "no analysis",
        ),
        (
            json!({"analysis_id": sure.id, "verdict": "correct", "correction": {"component": "x"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "needs no correction",
        ),
        (
            json!({"analysis_id": failed.id, "verdict": "correct"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no answer to confirm",
        ),
        (
            json!({"analysis_id": sure.id, "verdict": "incorrect", "correction": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
        (
            json!({"analysis_id": sure.id, "verdict": "incorrect", "correction": {"evidence": [9]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not one of the analysis's lines",
        ),
        (
            json!({"analysis_id": sure.id, "verdict": "incorrect", "correction": {"root_cause": " "}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "root_cause is empty",
        ),
        (
            json!({"analysis_id": sure.id, "verdict": "maybe"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "verdict",
        ),
        (
            json!({"analysis_id": sure.id, "verdict": "incorrect", "correction": {"rootcause": "x"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rootcause",
        ),
    ] {
        let (got, e) = post_json(router.clone(), "/v1/feedback", &body.to_string()).await;
        assert_eq!(got, status, "{body}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(says),
            "{body}: {e}"
        );
    }
    let (_, on) = get_json(
        router.clone(),
        &format!("/v1/analyses/{}/feedback", sure.id),
    )
    .await;
    assert_eq!(on.as_array().unwrap().len(), 1);

    // Export: two candidates, valid golden cases, with the person's answer.
    let db = format!("sqlite://{}", dir.path().join("loglens.db").display());
    let out_dir = dir.path().join("candidates");
    let export = || {
        loglens()
            .args([
                "feedback",
                "export",
                "--out",
                out_dir.to_str().unwrap(),
                "--database-url",
                &db,
            ])
            .output()
            .unwrap()
    };
    let out = export();
    assert_ok(&out);
    let written: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(written.len(), 2, "{written:?}");
    let cases = loglens_evals::case::load_cases(&out_dir).unwrap();
    let corrected = cases
        .iter()
        .find(|c| c.source.contains("corrected"))
        .unwrap();
    assert_eq!(corrected.expected.diagnosis.component, "payments-db");
    assert_eq!(
        corrected.expected.diagnosis.root_cause,
        "a connection leak in payments exhausts the pool"
    );
    assert_eq!(
        corrected.expected.diagnosis.severity,
        loglens_agents::Severity::Critical
    );
    assert_eq!(corrected.expected.evidence, vec![0], "line n=1 is logs[0]");
    assert_eq!(corrected.question, unsure.question);
    assert_eq!(corrected.logs.len(), unsure.retrieved.len());
    let confirmed = cases
        .iter()
        .find(|c| c.source.contains("confirmed"))
        .unwrap();
    assert_eq!(
        confirmed.expected.diagnosis.root_cause,
        sure.finding.as_ref().unwrap().diagnosis.root_cause
    );
    assert!(confirmed.tags.contains(&"candidate".to_string()));
    // Already exported: nothing new.
    let out = export();
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
    let out = loglens()
        .args(["feedback", "list", "--database-url", &db])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("exported")
            .count(),
        2
    );
}

#[tokio::test]
async fn feedback_records_the_api_key_as_its_author() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let mut state = app_state(dir.path(), logs, &dead_url()).await;
    state.auth = loglens::server::auth::Auth::required();
    let store = state.service.store().clone();
    let (key, secret) = store.create_api_key("reviewer", 60).await.unwrap();
    let r = record("ok");
    store.insert(&r).await.unwrap();
    let req = Request::builder()
        .method("POST")
        .uri("/v1/feedback")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {secret}"))
        .body(Body::from(
            json!({"analysis_id": r.id, "verdict": "correct"}).to_string(),
        ))
        .unwrap();
    let resp = app(state).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["author"], key.id.as_str());
}
