//! # loglens-evals
//!
//! Nothing about answer quality counts until it is measured. An **eval** replays a fixed
//! set of questions with known answers (the golden dataset, `golden/`) through a pipeline
//! and scores what comes back, so a change to a prompt, a signature or a model shows up as
//! a number that moved.
//!
//! - [`case`]: the golden case format (`golden/case.schema.json`), loading and checking
//!   cases.
//! - [`import`]: turning recorded real incidents (Cloud-OpsBench, HolmesGPT) into cases.
//! - [`combine`]: choosing synthetic cases to go with the real ones (share, severity mix).
//! - [`drift`]: comparing runs and flagging drift against the last good run.
//! - [`extract`]: cutting auto-labelled real cases from a log store (Loki, files, Loghub).
//! - [`replay`]: running one case through a variant (the evidence alone, the agents, the
//!   baseline) with its logs and events served locally.
//! - [`score`]: per-case scores and the run's metrics.
//! - [`text`]: ROUGE-L and the root-cause text match.
//! - [`synth`]: synthetic cases from failure templates (`golden/templates.toml`).
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod case;
pub mod combine;
pub mod drift;
pub mod extract;
pub mod import;
pub mod loki_replay;
pub mod replay;
pub mod score;
pub mod synth;
pub mod text;

pub use case::{Expected, GoldenCase, load_cases};
