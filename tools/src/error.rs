//! The error type of this crate.
use std::path::PathBuf;

/// What can go wrong in a tool or its backend.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// A log file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A log path does not exist.
    #[error("log path {0} does not exist")]
    NotFound(PathBuf),
    /// A filter was invalid (bad regex, end before start, ...). The text says what to fix.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A query (LogQL, or a tool's arguments) is not valid or not allowed. The text is
    /// written for whoever wrote the query, a model included, to fix it.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A file claimed to be a Loki export but could not be parsed as one.
    #[error("{path} is not a valid Loki query_range export: {reason}")]
    BadExport {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Loki failed or refused the query.
    #[error(transparent)]
    Loki(#[from] crate::logs::loki::LokiError),
    /// The Kubernetes API could not be reached or refused a read (no cluster configured,
    /// no permission, the server down). `retryable` when the server may come back.
    #[error("Kubernetes API: {message}")]
    Kubernetes {
        /// What failed and why.
        message: String,
        /// Whether trying again could help (a timeout, a 5xx, a 429).
        retryable: bool,
    },
    /// A background task failed (panicked or was cancelled).
    #[error("log scan task failed: {0}")]
    Task(String),
}

impl ToolError {
    /// Whether retrying the same call could succeed (transient backend trouble).
    pub fn retryable(&self) -> bool {
        match self {
            ToolError::Task(_) => true,
            ToolError::Kubernetes { retryable, .. } => *retryable,
            ToolError::Loki(e) => e.retryable(),
            _ => false,
        }
    }
}

/// The innermost cause of an error ("Connection refused (os error 111)" rather than
/// "error sending request for url ..."), for messages a person or a model reads.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
