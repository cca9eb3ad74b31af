//! # loglens
//!
//! The `loglens` binary's library: everything `main.rs` wires together, exposed so the
//! integration tests and benchmarks drive the same code.
//!
//! - [`cli`]: the command line (clap): the commands, `--config`, `--log-format`.
//! - [`option_groups`]: the options commands share (logs, Loki, model, agents,
//!   vectors, store), each command taking the groups it uses.
//! - [`commands`]: one module per subcommand, with its arguments and what it does
//!   (`ask`, `eval`, `golden`, `index`, `ingest`, `insights`, `keys`, `queue`,
//!   `feedback`, `trace`; `serve`, `explain` and `check-config` in `commands/mod.rs`).
//! - [`config`]: defaults → config file → environment → flags.
//! - [`wiring`]: the configuration turned into running parts (sources, model client,
//!   pipeline, hybrid retrieval, the analysis service, the bots).
//! - [`analysis`]: one question in, one stored answer out (shared by CLI and HTTP).
//! - [`admission`]: backpressure: model slots and a bounded queue (429 beyond it).
//! - [`store`]: SQLite / PostgreSQL storage of every analysis (sqlx).
//! - [`server`]: the HTTP API (axum).
//! - [`render`]: the human-readable answer.
//! - [`telemetry`]: loglens's own logs, traces (OTLP and the database) and metrics.
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
pub mod feedback;
pub mod incidents;
pub mod insights;
pub mod option_groups;
pub mod render;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod wiring;
