//! Model client and extraction tests.
//!
//! - `real_*`: against the real llama-server that `scripts/test.sh` starts
//!   (`LOGLENS_TEST_MODEL_URL`), with the tiny SmolLM2 model: structure, not quality.
//! - `fault_*`: against the scripted [`FakeModelServer`], for faults a real server cannot be
//!   made to produce (invalid JSON twice, a 500, a hang).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use loglens_agents::finding::finding_schema;
use loglens_agents::llm::{ChatMessage, LlmClient, LlmConfig, LlmError, ReplyEvent};
use loglens_agents::test_utils::{FakeModelServer, FakeReply};
use loglens_agents::{BaselineAnalyzer, BaselineConfig};
use loglens_tools::logs::{FileLogSource, LogFilter};
use serde_json::{Value, json};

fn model_url() -> String {
    std::env::var("LOGLENS_TEST_MODEL_URL")
        .unwrap_or_else(|_| panic!("LOGLENS_TEST_MODEL_URL is not set: run the tests with scripts/test.sh, which starts llama-server"))
}

fn client(url: &str, timeout: Duration) -> LlmClient {
    LlmClient::new(LlmConfig {
        base_url: url.into(),
        request_timeout: timeout,
        ..LlmConfig::default()
    })
    .unwrap()
}

const INCIDENT: &str = r#"{"timestamp":"2025-03-01T10:00:00Z","labels":{"namespace":"shop","pod":"payments-7c9d-x1","container":"payments"},"line":"starting payments service v2.3.1"}
{"timestamp":"2025-03-01T10:00:05Z","labels":{"namespace":"shop","pod":"payments-7c9d-x1","container":"payments"},"line":"GET /healthz 200 1ms"}
{"timestamp":"2025-03-01T10:01:00Z","labels":{"namespace":"shop","pod":"payments-7c9d-x1","container":"payments"},"line":"ERROR pq: sorry, too many clients already (pool 20/20 in use)"}
{"timestamp":"2025-03-01T10:01:01Z","labels":{"namespace":"shop","pod":"payments-7c9d-x1","container":"payments"},"line":"ERROR charge failed: timeout acquiring db connection after 5000ms"}
{"timestamp":"2025-03-01T10:01:02Z","labels":{"namespace":"shop","pod":"checkout-55f-q2","container":"checkout"},"line":"WARN upstream payments returned 503, retrying"}
{"timestamp":"2025-03-01T10:01:03Z","labels":{"namespace":"shop","pod":"checkout-55f-q2","container":"checkout"},"line":"ERROR order 1234 failed: payment service unavailable"}
"#;

fn incident_source(dir: &tempfile::TempDir) -> FileLogSource {
    let path = dir.path().join("incident.jsonl");
    std::fs::write(&path, INCIDENT).unwrap();
    FileLogSource::new(vec![path])
}

#[tokio::test]
async fn real_server_extraction_cites_lines_that_were_sent() {
    let dir = tempfile::tempdir().unwrap();
    let llm = client(&model_url(), Duration::from_secs(600));
    let analyzer = BaselineAnalyzer::new(
        Arc::new(incident_source(&dir)),
        llm,
        BaselineConfig::default(),
    );
    let question = "Why are checkout orders failing?";
    let retrieval = analyzer
        .retrieve(question, &LogFilter::errors(), 15)
        .await
        .unwrap();
    assert_eq!(
        retrieval.matched, 4,
        "the error filter keeps the four failure lines"
    );
    assert_eq!(retrieval.lines.len(), 4);
    assert!(
        retrieval.prompt_tokens.is_some(),
        "llama-server counts the prompt's tokens"
    );

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let extraction = analyzer
        .extract(question, &retrieval, Some(&tx))
        .await
        .unwrap();
    drop(tx);
    // The tiny model sometimes runs out of tokens and is asked again: the stream says so,
    // and the text after the last rejection is the accepted reply.
    let (mut streamed, mut rejections) = (String::new(), 0);
    while let Some(event) = rx.recv().await {
        match event {
            ReplyEvent::Token(t) => streamed.push_str(&t),
            ReplyEvent::Rejected(reason) => {
                assert!(!reason.is_empty());
                rejections += 1;
                streamed.clear();
            }
        }
    }
    assert_eq!(
        streamed, extraction.raw,
        "the streamed tokens are the reply"
    );
    assert_eq!(
        rejections + 1,
        extraction.calls.len(),
        "one rejection per retry"
    );

    // The reply parses and validates against the schema it was given.
    let raw: Value = serde_json::from_str(&extraction.raw).unwrap();
    assert!(jsonschema::is_valid(
        &finding_schema(retrieval.lines.len()),
        &raw
    ));

    // Its evidence points at lines that were sent, exactly as they were sent.
    let f = &extraction.finding;
    assert!(!f.evidence.is_empty());
    for e in &f.evidence {
        assert!(retrieval.lines.contains(e), "evidence {e:?} was not sent");
    }
    assert!(
        f.diagnosis.root_cause.chars().count() <= 200 && f.diagnosis.summary.chars().count() <= 400
    );
    assert!((0.0..=1.0).contains(&f.confidence));

    // Timings were recorded.
    let call = &extraction.calls[0];
    assert!(
        call.prompt_tokens > 0 && call.completion_tokens > 0,
        "{call:?}"
    );
    assert!(
        call.tokens_per_second > 0.0 && call.generation_ms > 0.0 && call.http_ms > 0.0,
        "{call:?}"
    );
    assert_eq!(extraction.prompt_version, "extract/v1");
}

#[tokio::test]
async fn real_server_is_ready_and_counts_tokens() {
    let llm = client(&model_url(), Duration::from_secs(60));
    let ids = llm.ready().await.unwrap();
    assert!(!ids.is_empty());
    let n = llm
        .count_tokens("connection refused to redis-cart:6379")
        .await
        .unwrap();
    assert!(n > 3 && n < 40, "{n}");
}

fn schema() -> Value {
    json!({"type":"object","properties":{"answer":{"type":"string","maxLength":10}},"required":["answer"],"additionalProperties":false})
}

#[tokio::test]
async fn fault_invalid_json_twice_is_a_clear_error() {
    let server = FakeModelServer::start(vec![FakeReply::Text("not json at all".into())])
        .await
        .unwrap();
    let llm = client(&server.url, Duration::from_secs(10));
    let err = llm
        .complete_json::<Value>(&[ChatMessage::user("hi")], "t", &schema(), None)
        .await
        .unwrap_err();
    match err {
        LlmError::InvalidOutput {
            attempts,
            reason,
            last_reply,
        } => {
            assert_eq!(attempts, 2);
            assert!(reason.contains("not valid JSON"), "{reason}");
            assert_eq!(last_reply, "not json at all");
        }
        other => panic!("expected InvalidOutput, got {other:?}"),
    }
    assert_eq!(server.calls(), 2, "exactly one retry");
}

#[tokio::test]
async fn fault_invalid_then_valid_is_retried_once() {
    let server = FakeModelServer::start(vec![
        FakeReply::Text(r#"{"answer":"this is far too long"}"#.into()),
        FakeReply::Text(r#"{"answer":"short"}"#.into()),
    ])
    .await
    .unwrap();
    let llm = client(&server.url, Duration::from_secs(10));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reply = llm
        .complete_json::<Value>(&[ChatMessage::user("hi")], "t", &schema(), Some(&tx))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(reply.value["answer"], "short");
    assert_eq!(reply.calls.len(), 2);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    let rejected: Vec<&ReplyEvent> = events
        .iter()
        .filter(|e| matches!(e, ReplyEvent::Rejected(_)))
        .collect();
    assert_eq!(rejected.len(), 1, "{events:?}");
    let ReplyEvent::Rejected(reason) = rejected[0] else {
        unreachable!()
    };
    assert!(
        reason.contains("/answer"),
        "the reason names the bad field: {reason}"
    );
    let after: String = events
        .iter()
        .skip_while(|e| !matches!(e, ReplyEvent::Rejected(_)))
        .filter_map(|e| match e {
            ReplyEvent::Token(t) => Some(t.as_str()),
            ReplyEvent::Rejected(_) => None,
        })
        .collect();
    assert_eq!(after, reply.raw);
    assert_eq!(
        reply.calls[1].tokens_per_second, 500.0,
        "timings read from the stream"
    );
}

#[tokio::test]
async fn fault_server_error_and_loading_are_told_apart() {
    let server = FakeModelServer::start(vec![FakeReply::Status(500)])
        .await
        .unwrap();
    let err = client(&server.url, Duration::from_secs(10))
        .complete_json::<Value>(&[ChatMessage::user("hi")], "t", &schema(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Http { status: 500, .. }), "{err:?}");

    let server = FakeModelServer::start(vec![FakeReply::Status(503)])
        .await
        .unwrap();
    let err = client(&server.url, Duration::from_secs(10))
        .complete_json::<Value>(&[ChatMessage::user("hi")], "t", &schema(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Unavailable { .. }), "{err:?}");
    assert!(err.retryable());
}

#[tokio::test]
async fn fault_hung_server_times_out() {
    let server = FakeModelServer::start(vec![FakeReply::Hang(Duration::from_secs(10))])
        .await
        .unwrap();
    let llm = client(&server.url, Duration::from_millis(300));
    let err = llm
        .complete_json::<Value>(&[ChatMessage::user("hi")], "t", &schema(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn server_down_is_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let llm = client(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5));
    let err = llm.ready().await.unwrap_err();
    assert!(matches!(err, LlmError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()));
}

/// Extra llama.cpp sampling settings reach the real server with every call, and the server
/// takes them; settings that are loglens's own (the schema, the messages) are refused.
#[tokio::test]
async fn real_server_takes_the_configured_sampling_settings() {
    use loglens_agents::test_utils::RecordingProxy;
    let proxy = RecordingProxy::start(&model_url()).await.unwrap();
    let mut sampling = serde_json::Map::new();
    sampling.insert("dry_multiplier".into(), json!(0.8));
    sampling.insert("top_k".into(), json!(20));
    let llm = LlmClient::new(LlmConfig {
        base_url: proxy.url.clone(),
        request_timeout: Duration::from_secs(600),
        max_tokens: 64,
        sampling: sampling.clone(),
        ..LlmConfig::default()
    })
    .unwrap();
    let schema = json!({"type": "object", "properties": {"word": {"type": "string", "maxLength": 12}}, "required": ["word"], "additionalProperties": false});
    let reply = llm
        .complete_json::<Value>(
            &[ChatMessage::user("Say one word as JSON.")],
            "word",
            &schema,
            None,
        )
        .await
        .unwrap();
    assert!(reply.value["word"].is_string());
    let bodies: Vec<Value> = proxy
        .bodies()
        .iter()
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect();
    assert!(!bodies.is_empty());
    for b in &bodies {
        assert_eq!(b["dry_multiplier"], json!(0.8), "{b}");
        assert_eq!(b["top_k"], json!(20), "{b}");
        // The schema is still loglens's.
        assert_eq!(b["response_format"]["json_schema"]["name"], "word");
    }
    let mut bad = serde_json::Map::new();
    bad.insert("response_format".into(), json!({}));
    let err = LlmClient::new(LlmConfig {
        sampling: bad,
        ..LlmConfig::default()
    })
    .err()
    .unwrap();
    assert!(matches!(err, LlmError::Config(_)), "{err}");
    assert!(err.to_string().contains("response_format"), "{err}");
}
