//! API errors: every failure is an [`ErrorKind`] (one status, one stable code) and becomes
//! a JSON body `{"error": {"code", "message"}}`. A client error says what to fix; a server
//! error says what failed and carries the trace id, while how it failed (addresses, paths,
//! inner errors) goes to the log under that id.
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use loglens_agents::AnalyzeError;
use serde_json::json;

use crate::analysis::Failure;

/// `Retry-After` on a 503: a model or embedding server that is down or still loading.
pub const RETRY_UNAVAILABLE_SECS: u64 = 30;

/// What went wrong, as the API names it: each kind has one HTTP status and one stable
/// code, so a status never comes from matching strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The body is not JSON (400).
    InvalidJson,
    /// A request the server could not read otherwise (400).
    BadRequest,
    /// The request parsed but makes no sense: a field out of range, a bad time (422).
    InvalidRequest,
    /// No log line in a scope that names nothing (422).
    NoLogs,
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// The body is over the limit (413).
    PayloadTooLarge,
    /// A Slack request whose signature does not verify (401).
    BadSignature,
    /// Nothing by that id or route (404).
    NotFound,
    /// Slack events are switched off (404).
    SlackNotConfigured,
    /// The route exists with other methods (405).
    MethodNotAllowed,
    /// The vector index was built with another embedding model (409).
    IndexModelMismatch,
    /// The model's queue is full (429).
    Overloaded,
    /// The model server is down or still loading (503).
    ModelUnavailable,
    /// The embedding server is down or still loading (503).
    EmbeddingUnavailable,
    /// The model's answer could not be used (502).
    ModelInvalidOutput,
    /// The model server answered with an error (502).
    ModelError,
    /// The embedding server answered with an error (502).
    EmbeddingError,
    /// The log source could not be read (502).
    LogSourceError,
    /// The model took too long (504).
    ModelTimeout,
    /// The prompt did not fit the model's context (500).
    ContextExceeded,
    /// loglens's model settings are wrong (500).
    ConfigError,
    /// The vector index failed (500).
    IndexError,
    /// Anything else: a bug, a database error (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidJson | ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest | ErrorKind::NoLogs => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::BadSignature => StatusCode::UNAUTHORIZED,
            ErrorKind::NotFound | ErrorKind::SlackNotConfigured => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::IndexModelMismatch => StatusCode::CONFLICT,
            ErrorKind::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::ModelUnavailable | ErrorKind::EmbeddingUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorKind::ModelInvalidOutput
            | ErrorKind::ModelError
            | ErrorKind::EmbeddingError
            | ErrorKind::LogSourceError => StatusCode::BAD_GATEWAY,
            ErrorKind::ModelTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::ContextExceeded
            | ErrorKind::ConfigError
            | ErrorKind::IndexError
            | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::NoLogs => "no_logs",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::BadSignature => "bad_signature",
            ErrorKind::NotFound => "not_found",
            ErrorKind::SlackNotConfigured => "slack_not_configured",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::IndexModelMismatch => "index_model_mismatch",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::ModelUnavailable => "model_unavailable",
            ErrorKind::EmbeddingUnavailable => "embedding_unavailable",
            ErrorKind::ModelInvalidOutput => "model_invalid_output",
            ErrorKind::ModelError => "model_error",
            ErrorKind::EmbeddingError => "embedding_error",
            ErrorKind::LogSourceError => "log_source_error",
            ErrorKind::ModelTimeout => "model_timeout",
            ErrorKind::ContextExceeded => "context_exceeded",
            ErrorKind::ConfigError => "config_error",
            ErrorKind::IndexError => "index_error",
            ErrorKind::Internal => "internal",
        }
    }

    /// What failed, for a server error's body: which part, never how (no addresses, paths
    /// or inner error text; those go to the log under the trace id).
    pub fn what_failed(self) -> &'static str {
        match self {
            ErrorKind::ModelUnavailable => {
                "the model server is unavailable (down or still loading); try again shortly"
            }
            ErrorKind::EmbeddingUnavailable => {
                "the embedding server is unavailable (down or still loading); try again shortly"
            }
            ErrorKind::ModelInvalidOutput => {
                "the model's answer could not be read, even after asking again"
            }
            ErrorKind::ModelError => "the model server answered with an error",
            ErrorKind::EmbeddingError => "the embedding server answered with an error",
            ErrorKind::LogSourceError => "the log source could not be read",
            ErrorKind::ModelTimeout => "the model took too long to answer",
            ErrorKind::ContextExceeded => "the prompt did not fit the model's context",
            ErrorKind::ConfigError => "loglens's model settings are wrong",
            ErrorKind::IndexError => "the vector index failed",
            _ => "internal error",
        }
    }

    /// The kind of an analysis error.
    pub fn of(e: &AnalyzeError) -> Self {
        use loglens_agents::llm::LlmError;
        use loglens_tools::ToolError;
        match e {
            AnalyzeError::BadRequest(_) | AnalyzeError::Logs(ToolError::InvalidFilter(_)) => {
                ErrorKind::InvalidRequest
            }
            AnalyzeError::Logs(_) => ErrorKind::LogSourceError,
            AnalyzeError::NoLines { .. } => ErrorKind::NoLogs,
            AnalyzeError::Model(m) => match m {
                LlmError::Unavailable { .. } => ErrorKind::ModelUnavailable,
                LlmError::Timeout(_) => ErrorKind::ModelTimeout,
                LlmError::InvalidOutput { .. } => ErrorKind::ModelInvalidOutput,
                LlmError::Http { .. } | LlmError::Protocol(_) => ErrorKind::ModelError,
                LlmError::ContextExceeded(_) => ErrorKind::ContextExceeded,
                LlmError::Config(_) => ErrorKind::ConfigError,
            },
            AnalyzeError::Embedding(e) if e.retryable() => ErrorKind::EmbeddingUnavailable,
            AnalyzeError::Embedding(_) => ErrorKind::EmbeddingError,
            AnalyzeError::Index(loglens_tools::vector::VectorError::ModelMismatch { .. }) => {
                ErrorKind::IndexModelMismatch
            }
            AnalyzeError::Index(_) => ErrorKind::IndexError,
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// What went wrong: its status and code.
    pub kind: ErrorKind,
    /// For client errors, what happened and what to fix; for server errors, what failed.
    pub message: String,
    /// The stored analysis, if the failure was recorded.
    pub analysis_id: Option<String>,
    /// Seconds to wait before trying again (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            analysis_id: None,
            retry_after: None,
        }
    }

    /// A server error: the body says what failed; `detail` (how) goes to the log, under
    /// the request's trace id.
    pub fn server(kind: ErrorKind, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(code = kind.code(), error = %detail, "{}", kind.what_failed());
        Self::new(kind, kind.what_failed())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// A 422 for a request that parsed but makes no sense.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A 429: the model's queue is full; try again after `retry_after` seconds.
    pub fn overloaded(o: &crate::admission::Overloaded) -> Self {
        Self {
            retry_after: Some(o.retry_after_secs),
            ..Self::new(
                ErrorKind::Overloaded,
                format!(
                    "{} analyses are running or waiting for the model (the most this server queues); retry in {} s",
                    o.admitted, o.retry_after_secs
                ),
            )
        }
    }

    /// A 500 that hides its cause from the client and logs it.
    pub fn internal(e: anyhow::Error) -> Self {
        Self::server(ErrorKind::Internal, &format!("{e:#}"))
    }

    /// The JSON body. A server error carries the request's trace id: the log lines and
    /// the trace under it say how it failed, the body only what failed.
    pub fn body(&self) -> serde_json::Value {
        let mut err = json!({ "code": self.code(), "message": self.message });
        if let Some(id) = &self.analysis_id {
            err["analysis_id"] = json!(id);
        }
        if self.status().is_server_error()
            && let Some(t) = crate::telemetry::trace_id(&tracing::Span::current())
        {
            err["trace_id"] = json!(t);
        }
        json!({ "error": err })
    }

    /// A 405 for a route that exists with other methods.
    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorKind::MethodNotAllowed,
            "this route does not take that method; see GET /openapi.json",
        )
    }

    /// A 500 for a handler that panicked: the process lives on, the panic is logged
    /// (with the trace id) and counted.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send + 'static>) -> Self {
        let what = panic_text(payload.as_ref());
        tracing::error!(panic = %what, "a request handler panicked");
        crate::telemetry::metrics::record_panic("http");
        Self::new(
            ErrorKind::Internal,
            "internal error: the request failed inside loglens; the server's log has the details under this trace id",
        )
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
        let kind = ErrorKind::of(&f.error);
        debug_assert!(
            kind.code() == f.error.code()
                || (kind == ErrorKind::InvalidRequest && f.error.code() == "bad_request"),
            "{} vs {}",
            kind.code(),
            f.error.code()
        );
        let mut e = if kind.status().is_server_error() {
            Self::server(kind, &f.error)
        } else {
            Self::new(kind, f.error.to_string())
        };
        e.analysis_id = f.stored_id;
        // A model server that is down or starting: worth another try shortly.
        if e.status() == StatusCode::SERVICE_UNAVAILABLE {
            e.retry_after = Some(RETRY_UNAVAILABLE_SECS);
        }
        e
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let kind = match &r {
            JsonRejection::JsonSyntaxError(_) => ErrorKind::InvalidJson,
            JsonRejection::JsonDataError(_) => ErrorKind::InvalidRequest,
            JsonRejection::MissingJsonContentType(_) => ErrorKind::UnsupportedMediaType,
            _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
            _ => ErrorKind::BadRequest,
        };
        Self::new(kind, r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), Json(self.body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_analysis_error_keeps_its_stored_code_on_the_api() {
        use loglens_agents::llm::LlmError;
        let cases = [
            AnalyzeError::BadRequest("x".into()),
            AnalyzeError::NoLines {
                filter: "f".into(),
                source_desc: "s".into(),
            },
            AnalyzeError::Model(LlmError::Timeout(std::time::Duration::from_secs(1))),
            AnalyzeError::Model(LlmError::Config("x".into())),
        ];
        for e in &cases {
            let kind = ErrorKind::of(e);
            let api = if e.code() == "bad_request" {
                "invalid_request"
            } else {
                e.code()
            };
            assert_eq!(kind.code(), api, "{e}");
        }
    }

    #[test]
    fn a_server_error_says_what_failed_not_how() {
        let detail = "connect to http://10.0.0.7:8080/v1/chat failed: /var/lib/models/x.gguf";
        let e = ApiError::server(ErrorKind::ModelError, &detail);
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        let body = e.body().to_string();
        assert!(!body.contains("10.0.0.7"), "{body}");
        assert!(!body.contains(".gguf"), "{body}");
        assert!(body.contains("model server"), "{body}");
        // A client error keeps its own words: they say what to fix.
        let c = ApiError::invalid("limit must be between 1 and 100, got 0");
        assert!(c.body().to_string().contains("got 0"));
    }
}
