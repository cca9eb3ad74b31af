//! API keys and per-key rate limits.
//!
//! When the server requires keys (`loglens serve --require-api-key`,
//! `LOGLENS_REQUIRE_API_KEY`, `[server] require_api_key`), every request but probes and
//! scrapes (`/healthz`, `/readyz`, `/metrics`), the API's description (`/openapi.json`) and
//! Slack's signed events must carry a key, as
//! `Authorization: Bearer llk_...` or `X-API-Key: llk_...`. Keys are made with `loglens
//! keys create`; the database keeps only their SHA-256 (`src/store.rs`), so a copy of it
//! does not give the keys away. A missing, unknown or revoked key is a 401.
//!
//! Each key has its own rate, in requests a minute (`--rate`, default 60), enforced with
//! `governor`'s GCRA limiter (a token bucket without a timer: a burst of the full rate,
//! then one request each 60/rate seconds). Over it: 429 with `Retry-After` in seconds.
//! The limiters live in memory: a restart gives every key a full bucket.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::json;

use crate::server::AppState;
use crate::store::api_key_hash;

/// Paths open without a key: Kubernetes probes, Prometheus scrapes, and Slack's events
/// (Slack cannot send a key; each request is signed and checked instead).
const OPEN: [&str; 5] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    crate::server::routes::slack::EVENTS_PATH,
];

/// The id of the key a request was let in with (a request extension; absent when keys
/// are not required). Handlers record it as who did something (feedback's author).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(pub String);

/// Each key's limiter, with the rate it was made for (by key id).
type Limiters = HashMap<String, (u32, Arc<DefaultDirectRateLimiter>)>;

/// The server's key policy and the per-key limiters.
#[derive(Clone, Default)]
pub struct Auth {
    required: bool,
    limiters: Arc<Mutex<Limiters>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("required", &self.required)
            .finish()
    }
}

impl Auth {
    /// No keys needed (the local default).
    pub fn open() -> Self {
        Self::default()
    }

    /// Every request needs a live key, within its rate.
    pub fn required() -> Self {
        Self {
            required: true,
            ..Self::default()
        }
    }

    /// Whether keys are required.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The limiter of key `id` at `rate` a minute (a new one if the rate changed).
    fn limiter(&self, id: &str, rate: u32) -> Arc<DefaultDirectRateLimiter> {
        let mut map = match self.limiters.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((r, l)) = map.get(id)
            && *r == rate
        {
            return l.clone();
        }
        let quota = Quota::per_minute(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN));
        let l = Arc::new(RateLimiter::direct(quota));
        map.insert(id.to_string(), (rate, l.clone()));
        l
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"loglens\""),
        );
    }
    resp
}

/// The key a request carries, if any.
fn presented(req: &Request) -> Option<&str> {
    let h = req.headers();
    h.get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110 §11.1): `bearer`, `BEARER` and `Bearer` are the same.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// The middleware: checks the key and its rate when keys are required.
pub async fn check_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if !state.auth.required || OPEN.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let Some(key) = presented(&req) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an API key is required: send Authorization: Bearer <key> (make one with `loglens keys create NAME`)",
        );
    };
    let record = match state.service.store().live_api_key(&api_key_hash(key)).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown or revoked API key",
            );
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "API key lookup failed");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "cannot check the API key now; try again",
            );
        }
    };
    let limiter = state.auth.limiter(&record.id, record.rate_per_minute);
    if let Err(not_until) = limiter.check() {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut resp = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &format!(
                "key {} is over its {} requests a minute; retry in {secs} s",
                record.id, record.rate_per_minute
            ),
        );
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&secs.max(1).to_string())
                .unwrap_or(HeaderValue::from_static("1")),
        );
        return resp;
    }
    tracing::Span::current().record("loglens.api_key", record.id.as_str());
    req.extensions_mut().insert(KeyId(record.id));
    next.run(req).await
}
