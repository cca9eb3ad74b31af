//! API errors: every failure becomes a JSON body `{"error": {"code", "message"}}` with a
//! status that says whose fault it is. Internal details (database errors) are logged,
//! not returned.
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use loglens_agents::AnalyzeError;
use serde_json::json;

use crate::analysis::Failure;

/// `Retry-After` on a 503: a model or embedding server that is down or still loading.
pub const RETRY_UNAVAILABLE_SECS: u64 = 30;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What happened and, for client errors, what to fix.
    pub message: String,
    /// The stored analysis, if the failure was recorded.
    pub analysis_id: Option<String>,
    /// Seconds to wait before trying again (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A 422 for a request that parsed but makes no sense.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_request",
            message: message.into(),
            analysis_id: None,
            retry_after: None,
        }
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            analysis_id: None,
            retry_after: None,
        }
    }

    /// A 429: the model's queue is full; try again after `retry_after` seconds.
    pub fn overloaded(o: &crate::admission::Overloaded) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "overloaded",
            message: format!(
                "{} analyses are running or waiting for the model (the most this server queues); retry in {} s",
                o.admitted, o.retry_after_secs
            ),
            analysis_id: None,
            retry_after: Some(o.retry_after_secs),
        }
    }

    /// A 500 that hides its cause from the client and logs it.
    pub fn internal(e: anyhow::Error) -> Self {
        tracing::error!(error = %format!("{e:#}"), "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error".into(),
            analysis_id: None,
            retry_after: None,
        }
    }

    /// The status for an analysis error code.
    pub fn status_for(e: &AnalyzeError) -> StatusCode {
        match e.code() {
            "bad_request" | "no_logs" => StatusCode::UNPROCESSABLE_ENTITY,
            "model_unavailable" | "embedding_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "index_model_mismatch" => StatusCode::CONFLICT,
            "embedding_error" => StatusCode::BAD_GATEWAY,
            "model_timeout" => StatusCode::GATEWAY_TIMEOUT,
            "model_invalid_output" | "model_error" => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body. A server error carries the request's trace id: the log lines and
    /// the trace under it say how it failed, the body only what failed.
    pub fn body(&self) -> serde_json::Value {
        let mut err = json!({ "code": self.code, "message": self.message });
        if let Some(id) = &self.analysis_id {
            err["analysis_id"] = json!(id);
        }
        if self.status.is_server_error()
            && let Some(t) = crate::telemetry::trace_id(&tracing::Span::current())
        {
            err["trace_id"] = json!(t);
        }
        json!({ "error": err })
    }

    /// A 405 for a route that exists with other methods.
    pub fn method_not_allowed() -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: "this route does not take that method; see GET /openapi.json".into(),
            analysis_id: None,
            retry_after: None,
        }
    }

    /// A 500 for a handler that panicked: the process lives on, the panic is logged
    /// (with the trace id) and counted.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send + 'static>) -> Self {
        let what = panic_text(payload.as_ref());
        tracing::error!(panic = %what, "a request handler panicked");
        crate::telemetry::metrics::record_panic("http");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error: the request failed inside loglens; the server's log has the details under this trace id".into(),
            analysis_id: None,
            retry_after: None,
        }
    }
}

/// A panic's message (`panic!("...")` carries a `&str` or a `String`).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic with no message")
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        let status = Self::status_for(&f.error);
        let code = match f.error.code() {
            "bad_request" => "invalid_request",
            other => other,
        };
        let message = if status.is_server_error() && code == "log_source_error" {
            tracing::error!(error = %f.error, "log source failed");
            "the log source could not be read; see the server's log".to_string()
        } else {
            f.error.to_string()
        };
        // A model server that is down or starting: worth another try shortly.
        let retry_after =
            (status == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_UNAVAILABLE_SECS);
        Self {
            status,
            code,
            message,
            analysis_id: f.stored_id,
            retry_after,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let (status, code) = match &r {
            JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            JsonRejection::JsonDataError(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
            }
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            _ => (r.status(), "bad_request"),
        };
        Self {
            status,
            code,
            message: r.body_text(),
            analysis_id: None,
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    }
}
