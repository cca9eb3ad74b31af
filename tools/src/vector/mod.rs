//! Vector stores: where embedded log chunks live, and nearest-neighbour search over them.
//!
//! A *vector store* keeps, for each chunk of log text, its embedding and its metadata
//! (time, namespace, pod, container, node, severity, log pattern), and answers "the k
//! chunks nearest to this vector, among those matching these metadata conditions".
//!
//! Two backends behind one trait, [`VectorStore`], checked by one contract suite
//! (`contract`, built for tests and with the `test-utils` feature):
//! - [`SqliteVectorStore`], the embedded default: a SQLite file beside loglens's
//!   database, searched by the `sqlite-vec` extension;
//! - [`QdrantStore`], production: a Qdrant collection over gRPC.
//!
//! Each index remembers which embedding model built it ([`IndexMeta`]); vectors of another
//! model are not comparable, so opening an index with another model is refused.
use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(any(test, feature = "test-utils"))]
pub mod contract;
#[cfg(feature = "qdrant")]
pub mod qdrant;
pub mod sqlite;

#[cfg(feature = "qdrant")]
pub use qdrant::QdrantStore;
pub use sqlite::SqliteVectorStore;

/// Which model built an index, and its vector length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// The embedding model's name.
    pub model: String,
    /// Its vector length.
    pub dimension: usize,
}

/// One embedded piece of log text: a line, or a window of lines of one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Content id (see [`crate::embed::content_id`]): the same text of the same stream at
    /// the same time is the same chunk, so indexing twice stores it once.
    pub id: i64,
    /// The text that was embedded.
    pub text: String,
    /// Time of its first line.
    pub timestamp: Option<DateTime<Utc>>,
    /// Kubernetes namespace.
    pub namespace: Option<String>,
    /// Pod.
    pub pod: Option<String>,
    /// The pod's workload (`checkout` for `checkout-7d9f-abcde`).
    pub workload: Option<String>,
    /// Container.
    pub container: Option<String>,
    /// Node.
    pub node: Option<String>,
    /// Severity (`error`, `warn`, `info`, ...), when the line says.
    pub severity: Option<String>,
    /// Id of its log pattern (its message with the variable parts masked).
    pub pattern: String,
    /// Where its first line came from (file path or Loki stream).
    pub source: String,
    /// Position of its first line in that source.
    pub line_no: u64,
    /// Lines in the chunk.
    pub lines: u32,
    /// Further lines of the same pattern collapsed into it.
    pub repeats: u32,
}

/// Metadata conditions of a search; unset fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorFilter {
    /// Inclusive start.
    pub start: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub end: Option<DateTime<Utc>>,
    /// Namespace (exact).
    pub namespace: Option<String>,
    /// Pod: exact, or its workload's name.
    pub pod: Option<String>,
    /// Container (exact).
    pub container: Option<String>,
    /// Node (exact).
    pub node: Option<String>,
    /// Severity (exact, lower case).
    pub severity: Option<String>,
}

impl VectorFilter {
    /// Whether a chunk meets the conditions (the reference every backend must agree with).
    pub fn matches(&self, c: &Chunk) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_deref() == Some(w))
        };
        let pod_ok = self.pod.as_ref().is_none_or(|p| {
            c.pod.as_deref() == Some(p.as_str()) || c.workload.as_deref() == Some(p.as_str())
        });
        let time_ok = match c.timestamp {
            Some(t) => self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e),
            None => self.start.is_none() && self.end.is_none(),
        };
        eq(&self.namespace, &c.namespace)
            && eq(&self.container, &c.container)
            && eq(&self.node, &c.node)
            && eq(&self.severity, &c.severity)
            && pod_ok
            && time_ok
    }
}

/// A search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The chunk.
    pub chunk: Chunk,
    /// Cosine similarity to the query, -1..1 (higher is nearer).
    pub score: f32,
}

/// What can go wrong in a vector store.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The index was built with another model (or the same name with another dimension).
    #[error(
        "the vector index at {location} was built with {built} ({built_dim} dims), but the embedding server serves {now} ({now_dim} dims); vectors of different models cannot be compared: rebuild it (loglens index --rebuild) or serve {built} again"
    )]
    ModelMismatch {
        /// Where the index is.
        location: String,
        /// The model that built it.
        built: String,
        /// Its dimension.
        built_dim: usize,
        /// The model now.
        now: String,
        /// Its dimension.
        now_dim: usize,
    },
    /// Nothing has been indexed yet.
    #[error("the vector index at {0} is empty: run `loglens index` first")]
    Empty(String),
    /// A vector had the wrong length.
    #[error("vector of {got} dims given to an index of {expected}")]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// The vector's.
        got: usize,
    },
    /// The index was used before [`VectorStore::prepare`].
    #[error("the vector index at {0} is not prepared (no model recorded)")]
    NotPrepared(String),
    /// The backend failed.
    #[error("vector store {location}: {message}")]
    Backend {
        /// Where.
        location: String,
        /// What happened.
        message: String,
    },
}

/// A vector store. Every method is safe to retry; writes are idempotent by chunk id.
#[async_trait]
pub trait VectorStore: Send + Sync {
    /// Where it is, for messages.
    fn describe(&self) -> String;

    /// The model that built the index, if anything was recorded.
    async fn meta(&self) -> Result<Option<IndexMeta>, VectorError>;

    /// Creates the index for `meta`, or checks that an existing one was built with the
    /// same model and dimension ([`VectorError::ModelMismatch`] otherwise).
    async fn prepare(&self, meta: &IndexMeta) -> Result<(), VectorError>;

    /// Removes every chunk and the recorded model (for `loglens index --rebuild`).
    async fn reset(&self) -> Result<(), VectorError>;

    /// Stores chunks with their vectors; a chunk id already there is replaced.
    async fn upsert(&self, items: &[(Chunk, &[f32])]) -> Result<(), VectorError>;

    /// Which of `ids` are stored.
    async fn existing(&self, ids: &[i64]) -> Result<HashSet<i64>, VectorError>;

    /// The `k` chunks nearest to `query` among those `filter` matches, nearest first.
    async fn search(
        &self,
        query: &[f32],
        filter: &VectorFilter,
        k: usize,
    ) -> Result<Vec<Hit>, VectorError>;

    /// Deletes chunks older than `before` (retention); returns how many went.
    async fn delete_before(&self, before: DateTime<Utc>) -> Result<u64, VectorError>;

    /// Chunks stored.
    async fn count(&self) -> Result<u64, VectorError>;
}

/// Checks a recorded model against the one in use.
pub fn check_meta(location: &str, built: &IndexMeta, now: &IndexMeta) -> Result<(), VectorError> {
    if built == now {
        return Ok(());
    }
    Err(VectorError::ModelMismatch {
        location: location.to_string(),
        built: built.model.clone(),
        built_dim: built.dimension,
        now: now.model.clone(),
        now_dim: now.dimension,
    })
}
