//! Grafana Loki: the production log store.
//!
//! - [`LokiClient`]: the HTTP API (`query_range`, `query`, `labels`, label values,
//!   `series`, `patterns`, `push`), with the tenant header, basic or bearer auth,
//!   timeouts, and retries with backoff on 429 and 5xx.
//! - [`LokiLogSource`]: the [`LogSource`](super::LogSource) over it. It discovers the label
//!   names the server really has (`pod` or `pod_name`, ...) instead of guessing, builds the
//!   LogQL for a [`LogFilter`](super::LogFilter), and returns lines in time order.
mod client;
mod error;
pub mod proto;
mod source;

pub use client::{
    Direction, LokiAuth, LokiClient, LokiConfig, LokiPattern, LokiStream, PushFormat,
};
pub use error::LokiError;
pub use source::LokiLogSource;
