//! # loglens-tools
//!
//! Typed tools and the backends behind them. The agents never touch files, Loki or
//! Kubernetes directly: they go through the capabilities defined here.
//!
//! - [`logs`]: the [`logs::LogSource`] trait, the [`logs::LogLine`] record every source
//!   returns, the [`logs::LogFilter`] every source understands, and the embedded default
//!   backend, [`logs::FileLogSource`] (JSON lines, `kubectl logs` output, Loki exports).
//! - [`k8s`]: Kubernetes events from kubectl output files or from Loki (`EventSource`).
//! - [`budget`]: picks the lines that fit a model's context (most recent first, whole
//!   lines, repeated messages collapsed).
//! - [`redact`]: masks secrets in log text before it reaches a prompt or the database.
//! - [`injection`]: finds log lines that address the model, so they never reach it.
//! - [`embed`]: text → vectors through the OpenAI-compatible embeddings API, cached.
//! - [`vector`]: vector stores (embedded `sqlite-vec`, Qdrant) behind one trait.
//! - [`tool`]: the typed-tool interface agents call; [`query_logs`] (LogQL),
//!   [`k8s_events`] (what happened) and [`k8s_state`] (what is: objects and what is
//!   abnormal about them) are the tools here; the agents add `log_patterns`.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod budget;
pub mod embed;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod injection;
pub mod k8s;
pub mod k8s_events;
pub mod k8s_state;
pub mod logs;
pub mod query_logs;
pub mod redact;
pub mod tool;
pub mod vector;

pub use error::ToolError;
