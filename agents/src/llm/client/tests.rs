use super::*;
use crate::llm::choices::option_logprobs;
use crate::llm::{busy_ms, generation_rate};

/// A server that answers `/v1/models` with 500 the first `failures` times, then
/// with a model of `n` parameters (a fault a real llama-server cannot be made to
/// produce on demand).
async fn flaky_models_server(failures: usize, n: u64) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let body = format!(r#"{{"data":[{{"id":"m","meta":{{"n_params":{n}}}}}]}}"#);
            let reply = if served < failures {
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            served += 1;
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_failed_size_request_is_retried_and_never_kept() {
    // Two 500s, then the answer: the retries reach it.
    let url = flaky_models_server(2, 135_000_000).await;
    let llm = LlmClient::new(LlmConfig {
        base_url: url,
        ..LlmConfig::default()
    })
    .unwrap();
    assert_eq!(llm.model_params().await, Some(135_000_000));
    // Five 500s: this call gives up, and the next one asks again.
    let url = flaky_models_server(5, 135_000_000).await;
    let llm = LlmClient::new(LlmConfig {
        base_url: url,
        ..LlmConfig::default()
    })
    .unwrap();
    assert_eq!(llm.model_params().await, None);
    assert_eq!(llm.model_params().await, Some(135_000_000));
}

#[test]
fn the_generation_rate_counts_every_generating_call() {
    let call = |tokens: u64, ms: f64| ModelCall {
        completion_tokens: tokens,
        generation_ms: ms,
        ..ModelCall::default()
    };
    // 300 tokens in 10 s; the weighing's one token timed at 0 ms counts for nothing.
    let calls = [call(100, 2000.0), call(200, 8000.0), call(1, 0.0)];
    assert!((generation_rate(&calls) - 30.0).abs() < 1e-9);
    assert!(generation_rate(&[]).abs() < f64::EPSILON);
}

#[test]
fn option_probabilities_are_read_from_the_first_tokens_alternatives() {
    let v = json!({"choices": [{"logprobs": {"content": [{
        "token": "1", "logprob": -0.99,
        "top_logprobs": [
            {"token": "1", "logprob": -0.99},
            {"token": "The", "logprob": -2.6},
            {"token": " 3", "logprob": -4.46},
            {"token": "2", "logprob": -5.1},
            {"token": "7", "logprob": -1.0},
            {"token": "0", "logprob": -1.0}
        ]
    }]}}]});
    let p = option_logprobs(&v, 3).unwrap();
    assert_eq!(p.len(), 3);
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(p[0] > 0.9 && p[2] > p[1] && p[1] > 0.0, "{p:?}");
    // An option missing from the alternatives gets 0; none at all is no answer.
    let p = option_logprobs(&v, 4).unwrap();
    assert_eq!(p[3], 0.0);
    assert!(option_logprobs(&json!({"choices": [{"message": {"content": "1"}}]}), 3).is_none());
    let words = json!({"choices": [{"logprobs": {"content": [{"token": "The", "logprob": -1.0, "top_logprobs": []}]}}]});
    assert!(option_logprobs(&words, 3).is_none());
}

#[test]
fn check_reports_schema_violations_for_the_model() {
    let schema = json!({"type":"object","properties":{"a":{"type":"string","maxLength":3}},"required":["a"]});
    let v = jsonschema::validator_for(&schema).unwrap_or_else(|_| unreachable!());
    assert!(check::<Value>(&v, r#"{"a":"ok"}"#).is_ok());
    let err = check::<Value>(&v, r#"{"a":"too long"}"#)
        .err()
        .unwrap_or_default();
    assert!(err.contains("/a"), "{err}");
    let err = check::<Value>(&v, "{not json").err().unwrap_or_default();
    assert!(err.contains("not valid JSON"), "{err}");
}

#[test]
fn busy_time_counts_overlaps_once() {
    let call = |started_ms: f64, http_ms: f64| ModelCall {
        started_ms,
        http_ms,
        ..ModelCall::default()
    };
    assert_eq!(busy_ms(&[]), 0.0);
    assert_eq!(
        busy_ms(&[call(0.0, 10.0), call(5.0, 10.0), call(30.0, 5.0)]),
        20.0
    );
}

#[test]
fn rejects_non_http_urls() {
    let cfg = LlmConfig {
        base_url: "localhost:8080".into(),
        ..LlmConfig::default()
    };
    assert!(matches!(LlmClient::new(cfg), Err(LlmError::Config(_))));
}
