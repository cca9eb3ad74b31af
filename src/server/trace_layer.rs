//! One span per HTTP request (`POST /v1/analyze/stream`, ...), continuing the caller's trace
//! when the request carries a W3C `traceparent` header (Envoy Gateway, another service),
//! the request counter, and the request log (one line per request: method, route, status,
//! milliseconds; probes and scrapes at debug level). Probes and scrapes (`/healthz`, `/readyz`, `/metrics`) are
//! counted but not traced: they would bury the traces worth reading.
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::Extractor;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const UNTRACED: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// The middleware (`axum::middleware::from_fn`).
pub async fn trace_requests(req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = std::time::Instant::now();
    if UNTRACED.contains(&route.as_str()) {
        let resp = next.run(req).await;
        crate::telemetry::metrics::record_request(&method, &route, resp.status().as_u16());
        tracing::debug!(method = %method, route = %route, status = resp.status().as_u16(), ms = started.elapsed().as_secs_f64() * 1000.0, "request");
        return resp;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(req.headers()))
    });
    let span = tracing::info_span!(
        "http_request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        "http.request.method" = %method,
        "http.route" = %route,
        "http.response.status_code" = tracing::field::Empty,
        "loglens.api_key" = tracing::field::Empty,
    );
    let _ = span.set_parent(parent);
    let resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    crate::telemetry::metrics::record_request(&method, &route, status);
    // The request log: one line per request, in the request's span (so with its trace id).
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            route = %route,
            status,
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    });
    resp
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
