//! What the agent pipeline reports while it runs: the route it chose, each tool call, each
//! specialist's finding, the consensus. The HTTP stream sends these as server-sent events
//! and the CLI prints them, so a user watches the investigation rather than a spinner.
use serde::Serialize;

use crate::consensus::Consensus;
use crate::finding::{Finding, LineRef};
use crate::router::Route;
use crate::toolbox::ToolRecord;

/// One progress event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The router decided.
    Route(Route),
    /// Lines and events were retrieved and analyzed.
    Evidence {
        /// Lines retrieved.
        matched: usize,
        /// The lines shown to the specialists, numbered.
        lines: Vec<LineRef>,
        /// Candidate causes (signature ids), most likely first.
        candidates: Vec<String>,
        /// Patterns found.
        patterns: usize,
    },
    /// A specialist asked for a tool call; this is its outcome.
    ToolCall(ToolRecord),
    /// A specialist's finding (one sample).
    Finding {
        /// Which specialist.
        agent: String,
        /// Which sample (from 1).
        sample: usize,
        /// What it found.
        finding: Box<Finding>,
        /// How the model's choice was weighed against the evidence, in a sentence
        /// ([`crate::specialist::weigh`]; `choose` mode only).
        #[serde(skip_serializing_if = "Option::is_none")]
        weighed: Option<String>,
    },
    /// A specialist's sample failed; the others go on.
    AgentFailed {
        /// Which specialist.
        agent: String,
        /// Which sample.
        sample: usize,
        /// Why.
        error: String,
    },
    /// The findings were merged.
    Consensus(Box<Consensus>),
}
