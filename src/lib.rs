//! # loglens
//!
//! The `loglens` binary's library: everything `main.rs` wires together, exposed so the
//! integration tests and benchmarks drive the same code.
//!
//! - [`cli`]: the command line (clap).
//! - [`config`]: defaults → config file → environment → flags.
//! - [`analysis`]: one question in, one stored answer out (shared by CLI and HTTP).
//! - [`admission`]: backpressure: model slots and a bounded queue (429 beyond it).
//! - [`store`]: SQLite / PostgreSQL storage of every analysis (sqlx).
//! - [`server`]: the HTTP API (axum).
//! - [`render`]: the human-readable answer.
//! - [`commands`]: what each subcommand does.
//! - [`golden`]: `loglens golden ...`, making and checking the golden dataset.
//! - [`eval`]: `loglens eval`, replaying and scoring it, storing and comparing runs.
//! - [`telemetry`]: loglens's own logs, traces (OTLP and the database) and metrics.
//! - [`index`]: `loglens index`, embedding logs into the vector index.
//! - [`trace`]: `loglens trace ID`, a stored run's spans as a tree.
//! - [`insights`]: summaries, triage, "what changed?" and cascades over a window.
//! - [`feedback`]: confirmed and corrected answers, review flags, golden-case candidates.
//! - [`queue`]: the durable job queue in the database (leases, retries, dead letters).
//! - [`incidents`]: the incident bots: Alertmanager and Slack in, reports to Slack and
//!   webhooks out, through the queue.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admission;
pub mod analysis;
pub mod cli;
pub mod commands;
pub mod config;
pub mod eval;
pub mod feedback;
pub mod golden;
pub mod incidents;
pub mod index;
pub mod insight_commands;
pub mod insights;
pub mod option_groups;
pub mod queue;
pub mod render;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod trace;
