//! Errors of the Loki client.
use std::time::Duration;

/// What can go wrong talking to Loki.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LokiError {
    /// Loki could not be reached.
    #[error("Loki at {url} is unavailable: {reason}")]
    Unavailable {
        /// Base URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Loki did not answer in time.
    #[error("Loki did not answer within {0:?}")]
    Timeout(Duration),
    /// Loki refused the query (a LogQL syntax error, an unknown function): the message
    /// says what to fix.
    #[error("Loki rejected the query: {0}")]
    BadQuery(String),
    /// The query hit one of Loki's limits (time range, entries, series, query length).
    #[error("the query exceeds a Loki limit: {0}")]
    Limit(String),
    /// Loki kept answering 429 after every retry.
    #[error("Loki is rate limiting requests (HTTP 429) after {attempts} attempts: {message}")]
    RateLimited {
        /// Attempts made.
        attempts: u32,
        /// Loki's message.
        message: String,
    },
    /// Any other error status.
    #[error("Loki answered {status}: {message}")]
    Http {
        /// Status code.
        status: u16,
        /// Loki's message (truncated).
        message: String,
    },
    /// The answer did not have the expected shape.
    #[error("unexpected answer from Loki: {0}")]
    Protocol(String),
    /// The client configuration is unusable.
    #[error("Loki client configuration: {0}")]
    Config(String),
}

impl LokiError {
    /// Whether trying again later could succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            LokiError::Unavailable { .. } | LokiError::Timeout(_) | LokiError::RateLimited { .. }
        ) || matches!(self, LokiError::Http { status, .. } if *status >= 500)
    }
}
