//! Retrieval: which lines and events an answer starts from.
//!
//! - [`structured`]: the lines a filter selects (LogQL, or the same filter over files),
//!   a troubled pod's own lines, the scope's live warning events, and the facts the
//!   lines and the cluster state show together.
//! - [`chunk`]: which pieces of log text get an embedding (a line, or a window of one
//!   stream), floods of one pattern collapsed.
//! - [`hybrid`]: [`HybridRetriever`], used by `/v2/analyze` and by the agents when the
//!   router chooses hybrid retrieval; it also indexes (`loglens index`).
pub mod chunk;
pub mod hybrid;
pub mod structured;

pub use chunk::{ChunkConfig, ChunkMode, Chunked, chunk_lines};
pub use hybrid::{Chosen, HybridConfig, HybridResult, HybridRetriever, Ranked, Why, rrf};
pub use structured::{facts_from_lines, lines_in_scope, live_warning_events};
