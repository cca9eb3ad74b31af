//! The HTTP API (axum).
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/analyze` | ask a question, get the stored result as JSON |
//! | `POST /v1/analyze/stream` | the same, as server-sent events while it runs |
//! | `POST /v2/analyze[/stream]` | the same with hybrid retrieval; `compare` for A/B |
//! | `GET /v1/analyses/{id}` | a stored result |
//! | `POST /v1/summary`, `/v1/triage`, `/v1/changes`, `/v1/cascade` | insights over a window: what happened, ranked problems, what changed, where a cascade started |
//! | `POST /v1/feedback`, `GET /v1/review`, `GET /v1/analyses/{id}/feedback` | confirm or correct answers; answers that need a person |
//! | `POST /v1/alerts` | Alertmanager's webhook: queue an investigation per firing alert |
//! | `POST /v1/slack/events` | Slack's Events API: answer `@loglens` mentions in thread |
//! | `GET /v1/jobs[/{id}]`, `POST /v1/jobs/{id}/retry` | the bots' queue and dead letters |
//! | `GET /openapi.json` | this API as OpenAPI 3.1 (schemas generated from the handlers' types) |
//! | `GET /healthz` | the process is up |
//! | `GET /readyz` | the model server and the database answer |
//! | `GET /metrics` | Prometheus metrics |
//!
//! Every request but probes and scrapes is one trace span ([`trace_layer`]); when the
//! server requires API keys, each of those requests needs a live key within its rate
//! ([`auth`]).
//!
//! [`app`] builds the router without opening a socket, so tests drive it directly.
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::analysis::AnalysisService;

pub mod auth;
mod error;
pub mod openapi;
mod routes;
pub mod trace_layer;

pub use error::{ApiError, ErrorKind, panic_text};
pub use routes::analyze::AnalyzeRequest;

/// Largest request body accepted (a question and filters are far smaller).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The analysis service.
    pub service: AnalysisService,
    /// What `GET /metrics` renders (the telemetry's registry; an empty one in tests that
    /// install no meter provider).
    pub metrics: prometheus::Registry,
    /// API keys: required or not, and the per-key rate limiters.
    pub auth: auth::Auth,
    /// The incident bots' queue, outputs and settings.
    pub bots: crate::incidents::Bots,
}

/// The router with all routes and limits.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(routes::analyze::router())
        .merge(routes::health::router())
        .merge(routes::metrics::router())
        .merge(routes::alerts::router())
        .merge(routes::slack::router())
        .merge(routes::insights::router())
        .merge(routes::feedback::router())
        .merge(openapi::router());
    with_middleware(routes, state)
}

/// The layers every route gets, innermost first: API keys, panic catching (a panic in a
/// handler is a 500 with the trace id, counted in `loglens_panics_total`; the process
/// lives on), the request span and log (outside the catcher, so the 500 is traced and
/// counted like any other), the body limit; and JSON errors for unknown routes and
/// methods. Public so tests can put a route of their own behind the same layers.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(|| async { ApiError::not_found("no such route; see GET /openapi.json") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::check_key,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |payload: Box<dyn std::any::Any + Send + 'static>| {
                axum::response::IntoResponse::into_response(ApiError::from_panic(payload))
            },
        ))
        .layer(axum::middleware::from_fn(trace_layer::trace_requests))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The router with CORS for these browser origins. With none (the default) no CORS
/// headers are sent, so browsers keep pages on other origins from calling the API.
pub fn with_cors(router: Router, origins: &[String]) -> anyhow::Result<Router> {
    if origins.is_empty() {
        return Ok(router);
    }
    let origins = origins
        .iter()
        .map(|o| o.parse::<axum::http::HeaderValue>())
        .collect::<Result<Vec<_>, _>>()
        .context("a CORS origin is not a valid header value")?;
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderName::from_static("x-api-key"),
        ])
        .max_age(Duration::from_secs(600));
    Ok(router.layer(cors))
}

/// Serves until Ctrl-C or SIGTERM, then lets running requests finish (up to 30 s).
pub async fn serve(
    state: AppState,
    addr: SocketAddr,
    cors_origins: &[String],
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    // The bound address (a port of 0 asks the system for a free one).
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(%addr, "loglens API listening");
    eprintln!("loglens API listening on http://{addr}");
    axum::serve(listener, with_cors(app(state), cors_origins)?)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down; waiting for running requests");
    // Bound the wait: a stuck model call must not hold the process forever.
    tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        std::process::exit(0);
    });
}
