//! Errors of the model client.
use std::time::Duration;

/// What can go wrong talking to the model server.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The server could not be reached (down, wrong URL, refusing connections) or is still
    /// loading its model.
    #[error("model server at {url} is unavailable: {reason}")]
    Unavailable {
        /// The server's base URL.
        url: String,
        /// Why (connection refused, loading model, ...).
        reason: String,
    },
    /// The server did not finish in time.
    #[error("model server did not answer within {0:?}")]
    Timeout(Duration),
    /// The prompt did not fit the model's context window.
    #[error("prompt does not fit the model's context: {0}")]
    ContextExceeded(String),
    /// The server answered with an error status.
    #[error("model server answered {status}: {message}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// The server's error message (truncated).
        message: String,
    },
    /// The model's reply was not valid JSON for the schema, twice.
    #[error("model returned invalid output {attempts} times; last problem: {reason}")]
    InvalidOutput {
        /// How many replies were tried.
        attempts: u32,
        /// What was wrong with the last reply.
        reason: String,
        /// The start of the last reply, for logs.
        last_reply: String,
    },
    /// The server's response did not follow the protocol (broken stream, missing fields).
    #[error("unexpected response from model server: {0}")]
    Protocol(String),
    /// The client was misconfigured (bad URL, bad header value).
    #[error("model client configuration: {0}")]
    Config(String),
}

impl LlmError {
    /// A short name for the kind of error, for metrics and span attributes (`error.type`).
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Unavailable { .. } => "unavailable",
            LlmError::Timeout(_) => "timeout",
            LlmError::ContextExceeded(_) => "context_exceeded",
            LlmError::Http { .. } => "http",
            LlmError::InvalidOutput { .. } => "invalid_output",
            LlmError::Protocol(_) => "protocol",
            LlmError::Config(_) => "config",
        }
    }

    /// Whether the same call might succeed later (server down or busy, timeout).
    pub fn retryable(&self) -> bool {
        matches!(self, LlmError::Unavailable { .. } | LlmError::Timeout(_))
            || matches!(self, LlmError::Http { status, .. } if *status == 429 || *status >= 500)
    }
}
