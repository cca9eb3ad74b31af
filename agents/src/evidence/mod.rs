//! Evidence first: deterministic analysis that finds candidate causes, with the lines and
//! events that show them, before any model is asked.
//!
//! - [`signatures`]: the library of known failure modes (`agents/data/signatures.toml`)
//!   and the detector that matches it against log lines and Kubernetes events.
//! - [`patterns`]: a Drain-style template miner: what the logs keep saying, how often,
//!   and which messages are new or spiking; [`pattern_tool`] offers it as a tool.
//! - [`screen`]: takes out lines that address the model (prompt injection) first.
//! - [`collect`]: runs both and chooses the numbered lines the agents read.
pub mod collect;
pub mod pattern_tool;
pub mod patterns;
pub mod screen;
pub mod signatures;

pub use patterns::{MinerConfig, Pattern, TemplateMiner, mine};
pub use signatures::{Candidate, Category, Signature, SignatureError, SignatureLibrary};
