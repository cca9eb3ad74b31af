//! Importers: real incidents turned into golden cases.
//!
//! - [`cloudopsbench`]: Cloud-OpsBench fault cases (logs per container, kubectl outputs,
//!   the recorded root-cause class).
//! - [`holmesgpt`]: HolmesGPT's recorded investigations (tool outputs), with hand labels.
pub mod cloudopsbench;
pub mod holmesgpt;
