//! Retrieval by meaning: chunking logs for the vector index, and hybrid retrieval
//! (pre-filter → semantic search → fusion with recency).
//!
//! - [`chunk`]: which pieces of log text get an embedding (a line, or a window of one
//!   stream), floods of one pattern collapsed.
//! - [`hybrid`]: [`HybridRetriever`], used by `/v2/analyze` and by the agents when the
//!   router chooses hybrid retrieval; it also indexes (`loglens index`).
pub mod chunk;
pub mod hybrid;

pub use chunk::{ChunkConfig, ChunkMode, Chunked, chunk_lines};
pub use hybrid::{Chosen, HybridConfig, HybridResult, HybridRetriever, Ranked, Why, rrf};
