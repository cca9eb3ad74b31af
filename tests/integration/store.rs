//! Storage round trips on SQLite and on a real PostgreSQL.
use chrono::{TimeZone, Utc};
use loglens::store::{AnalysisRecord, Store};
use loglens::telemetry::span_store::SpanRow;
use loglens_agents::Diagnosis;
use loglens_agents::{Finding, LineRef, Severity};
use std::collections::BTreeMap;

use crate::support::postgres_url;

pub(crate) fn record(status: &str) -> AnalysisRecord {
    let line = LineRef {
        n: 1,
        source: "logs/app.jsonl".into(),
        line_no: 42,
        timestamp: Some(Utc.with_ymd_and_hms(2025, 3, 1, 10, 1, 0).unwrap()),
        labels: BTreeMap::from([("pod".to_string(), "payments-7c9d-x1".to_string())]),
        text: "ERROR pq: sorry, too many clients already — ünïcode ok".into(),
        similar: 3,
        why: None,
    };
    let ok = status == "ok";
    AnalysisRecord {
        id: uuid::Uuid::new_v4().to_string(),
        created_at: Utc::now(),
        channel: "http".into(),
        question: "why is 'checkout' failing?; DROP TABLE analyses; --".into(),
        filters: serde_json::json!({"namespace": "shop", "since": "1h"}),
        retrieved: vec![line.clone()],
        matched_lines: 17,
        finding: ok.then(|| Finding {
            cause: ok.then(|| "connection_pool_exhausted".into()),
            diagnosis: Diagnosis {
                detail: ok.then(|| "db_max_connections".into()),
                root_cause: "connection pool exhausted".into(),
                severity: Severity::Error,
                component: "payments".into(),
                error_signature: "too many clients already".into(),
                summary: "payments cannot get database connections".into(),
                action: "raise max_connections or fix the leak".into(),
            },
            evidence: vec![line],
            confidence: 0.75,
        }),
        model: "smollm2".into(),
        prompt_version: "extract/v1".into(),
        status: status.into(),
        error: (!ok).then(|| "model server at http://x is unavailable".into()),
        latency_ms: 1234.5,
        model_ms: 1200.25,
        model_calls: if ok { 2 } else { 0 },
        prompt_tokens: 900,
        completion_tokens: 120,
        tokens_per_second: 71.5,
        pipeline: if ok { "agents" } else { "baseline" }.into(),
        details: ok.then(|| serde_json::json!({"route": {"retrieval": "structured"}, "path": [{"stage": "router"}]})),
        trace_id: ok.then(|| format!("{:032x}", uuid::Uuid::new_v4().as_u128())),
    }
}

fn span(trace_id: &str, id: u64, parent: Option<u64>, name: &str) -> SpanRow {
    SpanRow {
        trace_id: trace_id.into(),
        span_id: format!("{id:016x}"),
        parent_span_id: parent.map(|p| format!("{p:016x}")),
        name: name.into(),
        kind: "internal".into(),
        start_unix_ns: 1_700_000_000_000_000_000 + id as i64,
        end_unix_ns: 1_700_000_001_000_000_000 + id as i64,
        status: "unset".into(),
        attributes: serde_json::json!({"gen_ai.usage.input_tokens": 12, "loglens.question": "why 'x'?"}),
    }
}

async fn round_trip(url: &str) {
    let store = Store::connect(url).await.unwrap();
    // Connecting again re-checks migrations without re-applying them.
    let store2 = Store::connect(url).await.unwrap();
    store2.ping().await.unwrap();

    let ok = record("ok");
    let failed = record("model_unavailable");
    store.insert(&ok).await.unwrap();
    store.insert(&failed).await.unwrap();

    let mut want = ok.clone();
    // Stored with microsecond precision.
    want.created_at = Utc
        .timestamp_micros(ok.created_at.timestamp_micros())
        .unwrap();
    assert_eq!(store.get(&ok.id).await.unwrap(), Some(want));
    let got = store.get(&failed.id).await.unwrap().unwrap();
    assert_eq!(got.finding, None);
    assert_eq!(got.status, "model_unavailable");
    assert_eq!(store.get("no-such-id").await.unwrap(), None);

    // The same id twice is refused, not overwritten.
    assert!(store.insert(&ok).await.is_err());
    let recent = store.recent(1000).await.unwrap();
    assert!(recent.iter().any(|r| r.id == ok.id) && recent.iter().any(|r| r.id == failed.id));

    // Spans of the analysis's trace, found from the analysis and back.
    let trace = ok.trace_id.clone().unwrap();
    let by_trace = store.analysis_by_trace(&trace).await.unwrap().unwrap();
    assert_eq!(by_trace.id, ok.id);
    let spans = vec![
        span(&trace, 2, Some(1), "router"),
        span(&trace, 1, None, "invoke_agent loglens"),
    ];
    store.insert_spans(&spans).await.unwrap();
    // A span delivered twice is stored once.
    store.insert_spans(&spans[..1]).await.unwrap();
    let got = store.spans(&trace).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], spans[1], "in start order");
    assert_eq!(got[1], spans[0]);
    assert!(
        store
            .spans("0".repeat(32).as_str())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(&format!(
        "sqlite://{}",
        dir.path().join("nested/dir/loglens.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres_round_trip() {
    round_trip(&postgres_url()).await;
}

#[tokio::test]
async fn unknown_database_scheme_is_a_clear_error() {
    let err = Store::connect("mysql://x").await.unwrap_err().to_string();
    assert!(
        err.contains("sqlite://") && err.contains("postgres://"),
        "{err}"
    );
}
