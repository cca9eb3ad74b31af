//! # loglens-agents
//!
//! The parts of loglens that think: the model client, the schemas the model answers in,
//! the prompts, and the analysis pipelines built from them.
//!
//! - [`llm`]: a client for llama.cpp's OpenAI-compatible API that asks for JSON matching
//!   a schema, validates the reply, retries once with the error, and records timings.
//! - [`finding`]: the extraction schema ([`ModelFinding`], what the model writes) and the
//!   answer ([`Finding`], with each evidence number resolved to the exact log line).
//! - [`prompts`]: versioned prompt templates from `prompts/`.
//! - [`baseline`]: the baseline analysis: most recent matching lines → one extraction.
//! - [`evidence`]: deterministic candidate causes from known failure signatures.
//!
//! The router, specialists and consensus (issue 5) build on these same pieces.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod baseline;
pub mod error;
pub mod evidence;
pub mod finding;
pub mod llm;
pub mod prompts;

pub use baseline::{BaselineAnalyzer, BaselineConfig, Extraction, Retrieval};
pub use error::AnalyzeError;
pub use finding::{Finding, LineRef, ModelFinding, Severity};

#[cfg(feature = "test-utils")]
pub mod test_utils;
