//! Test helpers (feature `test-utils`).
//!
//! [`FakeModelServer`] speaks just enough of llama-server's API to script the faults a
//! real server cannot be made to produce on demand: replies that are not JSON, HTTP 500s,
//! a server that hangs. Everything else is tested against a real llama-server.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

/// One scripted answer to a chat completion request.
#[derive(Debug, Clone)]
pub enum FakeReply {
    /// Stream this text as the model's reply.
    Text(String),
    /// Answer with this HTTP status and an OpenAI-style error body.
    Status(u16),
    /// Wait this long before answering (to trigger client timeouts).
    Hang(Duration),
}

#[derive(Clone)]
struct FakeState {
    replies: Arc<Vec<FakeReply>>,
    calls: Arc<AtomicUsize>,
}

/// A scripted model server on 127.0.0.1. Replies are used in order; the last one repeats.
pub struct FakeModelServer {
    /// Its base URL.
    pub url: String,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeModelServer {
    /// Starts the server.
    pub async fn start(replies: Vec<FakeReply>) -> std::io::Result<Self> {
        let calls = Arc::new(AtomicUsize::new(0));
        let state = FakeState {
            replies: Arc::new(replies),
            calls: calls.clone(),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route(
                "/v1/models",
                get(|| async { axum::Json(json!({"object":"list","data":[{"id":"fake"}]})) }),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, calls, task })
    }

    /// How many chat requests it has answered.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for FakeModelServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn chat(State(s): State<FakeState>) -> Response {
    let i = s.calls.fetch_add(1, Ordering::SeqCst);
    let reply = s
        .replies
        .get(i)
        .or(s.replies.last())
        .cloned()
        .unwrap_or(FakeReply::Status(500));
    match reply {
        FakeReply::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                axum::Json(json!({"error":{"code":code,"message":"scripted failure"}})),
            )
                .into_response()
        }
        FakeReply::Hang(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "").into_response()
        }
        FakeReply::Text(text) => {
            let mut body = String::new();
            for piece in text.as_bytes().chunks(7) {
                let chunk = json!({"choices":[{"index":0,"delta":{"content":String::from_utf8_lossy(piece)}}]});
                body.push_str(&format!("data: {chunk}\n\n"));
            }
            let last = json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],
                "timings":{"prompt_n":10,"prompt_ms":5.0,"predicted_n":5,"predicted_ms":10.0,"predicted_per_second":500.0}});
            body.push_str(&format!("data: {last}\n\ndata: [DONE]\n\n"));
            ([("content-type", "text/event-stream")], body).into_response()
        }
    }
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    bodies: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Forwards every request to a real server on 127.0.0.1 and records the bodies.
pub struct RecordingProxy {
    /// Its base URL (use it as the model URL).
    pub url: String,
    bodies: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    /// Starts a proxy to `upstream`.
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let state = ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            bodies: bodies.clone(),
        };
        let app = Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, bodies, task })
    }

    /// Every request body so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(s): State<ProxyState>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let content_type = req.headers().get("content-type").cloned();
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 64 * 1024 * 1024).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Ok(mut b) = s.bodies.lock() {
        b.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    let mut up = s
        .http
        .request(method, format!("{}{path}", s.upstream))
        .body(bytes);
    if let Some(ct) = content_type {
        up = up.header("content-type", ct);
    }
    match up.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_string();
            let body = Body::from_stream(resp.bytes_stream());
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                [("content-type", ct)],
                body,
            )
                .into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
