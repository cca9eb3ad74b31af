//! Embedding-server faults a real llama-server cannot be made to produce: vectors of the
//! wrong length, garbage, errors. A scripted axum server stands in for it (the happy path
//! runs against the real server in the loglens crate's integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use loglens_tools::embed::{EmbedConfig, EmbedError, Embedder};
use serde_json::{Value, json};

/// Serves `/v1/embeddings`: the n-th request gets `reply(n, input count)`.
async fn serve(
    reply: impl Fn(usize, usize) -> (StatusCode, String) + Send + Sync + 'static,
) -> String {
    let calls = Arc::new(AtomicUsize::new(0));
    let reply = Arc::new(reply);
    let app = axum::Router::new()
        .route(
            "/v1/embeddings",
            post(move |Json(body): Json<Value>| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let reply = reply.clone();
                async move {
                    let inputs = body["input"].as_array().map_or(1, Vec::len);
                    let (status, text) = reply(n, inputs);
                    (status, [("content-type", "application/json")], text).into_response()
                }
            }),
        )
        .route(
            "/v1/models",
            get(|| async { Json(json!({"data": [{"id": "/models/fake-embed.gguf"}]})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn vectors(count: usize, dim: usize) -> String {
    let data: Vec<Value> = (0..count)
        .map(|i| json!({"index": i, "embedding": vec![0.5f32; dim]}))
        .collect();
    json!({ "data": data }).to_string()
}

fn client(url: String) -> Embedder {
    Embedder::new(EmbedConfig {
        url,
        ..EmbedConfig::default()
    })
}

#[tokio::test]
async fn a_vector_of_another_length_is_refused() {
    // The probe says 8 dims; then the server starts answering 4.
    let url = serve(|n, k| (StatusCode::OK, vectors(k, if n == 0 { 8 } else { 4 }))).await;
    let e = client(url);
    assert_eq!(e.dimension().await.unwrap(), 8);
    assert_eq!(
        e.model().await.unwrap(),
        "fake-embed.gguf",
        "file name, not path"
    );
    let err = e.embed_one("x").await.unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::WrongDimension {
                expected: 8,
                got: 4
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("another model"), "{err}");
}

#[tokio::test]
async fn garbage_and_errors_are_clear_and_nothing_is_cached() {
    let url = serve(|n, k| match n {
        0 => (StatusCode::OK, vectors(k, 8)),
        1 => (StatusCode::OK, "not json".into()),
        2 => (StatusCode::OK, vectors(k + 1, 8)),
        3 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"error\":\"loading\"}".into(),
        ),
        4 => (
            StatusCode::OK,
            json!({"data": [{"index": 0, "embedding": [0.1, null, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1]}]})
                .to_string(),
        ),
        _ => (StatusCode::OK, vectors(k, 8)),
    })
    .await;
    let e = client(url);
    let err = e.embed_one("a").await.unwrap_err();
    assert!(matches!(err, EmbedError::BadAnswer(_)), "{err}");
    let err = e.embed_one("a").await.unwrap_err();
    assert!(err.to_string().contains("2 vectors for 1 texts"), "{err}");
    let err = e.embed_one("a").await.unwrap_err();
    assert!(
        matches!(err, EmbedError::Status { status: 503, .. }),
        "{err}"
    );
    assert!(err.retryable());
    let err = e.embed_one("a").await.unwrap_err();
    assert!(
        matches!(err, EmbedError::BadAnswer(_)),
        "null in a vector: {err}"
    );
    // Failures cached nothing: the next good answer is used.
    let v = e.embed_one("a").await.unwrap();
    assert_eq!(v.len(), 8);
    assert!(
        (v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5,
        "normalized"
    );
}
