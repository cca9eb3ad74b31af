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
//! - [`evidence`]: deterministic analysis first: known failure signatures, log patterns,
//!   and the evidence set (the numbered lines an agent reads).
//! - [`toolbox`]: the tools an agent may call, and the checks every call passes.
//! - [`call_menu`]: what a tool call may say, built from what the evidence holds (a
//!   stream, an object), so a small model cannot write a call that fails or repeats.
//! - [`retrieval`]: chunking for the vector index, and hybrid retrieval (pre-filter,
//!   semantic search, reciprocal-rank fusion with recency).
//! - [`router`]: structured or hybrid retrieval, infra or app specialists (or both).
//! - [`specialist`]: a specialist's bounded tool loop and its answer in a schema built
//!   from the evidence.
//! - [`consensus`]: many opinions merged by per-field vote, disagreement kept.
//! - [`pipeline`]: the stages as a graph, run in layers; the path of every run recorded.
//! - [`events`]: what a run reports while it goes.
//! - [`metrics`]: model, tool and retrieval metrics (OpenTelemetry API; the binary
//!   decides where they go). Spans for every stage, tool call and model call are
//!   `tracing` spans named by the OpenTelemetry GenAI conventions.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod baseline;
pub mod call_menu;
pub mod consensus;
pub mod error;
pub mod events;
pub mod evidence;
pub mod finding;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod insights;
pub mod llm;
pub mod metrics;
pub mod pipeline;
pub mod prompts;
pub mod retrieval;
pub mod router;
pub mod specialist;
pub mod toolbox;
pub mod wording;

pub use baseline::{BaselineAnalyzer, BaselineConfig, Extraction, Retrieval};
pub use error::AnalyzeError;
pub use finding::{Diagnosis, Finding, LineRef, ModelFinding, Severity};
pub use pipeline::{AgentPipeline, AgentReport, PipelineConfig};

#[cfg(feature = "test-utils")]
pub mod test_utils;
