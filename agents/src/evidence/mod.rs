//! Evidence first: deterministic analysis that finds candidate causes, with the lines and
//! events that show them, before any model is asked.
//!
//! - [`signatures`]: the library of known failure modes (`agents/data/signatures.toml`)
//!   and the detector that matches it against log lines and Kubernetes events.
pub mod signatures;

pub use signatures::{Candidate, Category, Signature, SignatureError, SignatureLibrary};
