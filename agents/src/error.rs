//! The error type of the analysis pipeline.
use loglens_tools::ToolError;

use crate::llm::LlmError;

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The question or filters were unusable.
    #[error("{0}")]
    BadRequest(String),
    /// Reading logs failed.
    #[error("reading logs: {0}")]
    Logs(#[from] ToolError),
    /// No log line matched, so there is nothing to analyze.
    #[error("no log lines matched ({filter}) in {source_desc}")]
    NoLines {
        /// The filters, described.
        filter: String,
        /// The log source, described.
        source_desc: String,
    },
    /// The model call failed.
    #[error(transparent)]
    Model(#[from] LlmError),
    /// The embedding server failed (hybrid retrieval).
    #[error("hybrid retrieval: {0}")]
    Embedding(#[from] loglens_tools::embed::EmbedError),
    /// The vector index failed or does not fit the model (hybrid retrieval).
    #[error("hybrid retrieval: {0}")]
    Index(#[from] loglens_tools::vector::VectorError),
}

impl AnalyzeError {
    /// A short stable code for APIs and the database (`no_logs`, `model_unavailable`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            AnalyzeError::BadRequest(_) => "bad_request",
            AnalyzeError::Logs(ToolError::InvalidFilter(_)) => "bad_request",
            AnalyzeError::Logs(_) => "log_source_error",
            AnalyzeError::NoLines { .. } => "no_logs",
            AnalyzeError::Model(e) => match e {
                LlmError::Unavailable { .. } => "model_unavailable",
                LlmError::Timeout(_) => "model_timeout",
                LlmError::InvalidOutput { .. } => "model_invalid_output",
                LlmError::ContextExceeded(_) => "context_exceeded",
                LlmError::Http { .. } | LlmError::Protocol(_) => "model_error",
                LlmError::Config(_) => "config_error",
            },
            AnalyzeError::Embedding(e) if e.retryable() => "embedding_unavailable",
            AnalyzeError::Embedding(_) => "embedding_error",
            AnalyzeError::Index(loglens_tools::vector::VectorError::ModelMismatch { .. }) => {
                "index_model_mismatch"
            }
            AnalyzeError::Index(_) => "index_error",
        }
    }
}
