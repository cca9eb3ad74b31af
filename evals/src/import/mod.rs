//! Importers: real incidents turned into golden cases.
//!
//! - [`cloudopsbench`]: Cloud-OpsBench fault cases (logs per container, kubectl outputs,
//!   the recorded root-cause class).
pub mod cloudopsbench;
