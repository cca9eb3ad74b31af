//! Specialist agents: infra and app.
//!
//! A **specialist** is the model given one point of view (infra: nodes, kubelet,
//! scheduling, probes, Kubernetes events; app: application errors, latency, dependencies),
//! the evidence set, and a few tools. It works in two phases:
//! 1. **Investigate** (a bounded tool loop): up to `max_steps` rounds, in each of which the
//!    model may ask for up to `max_calls` tool calls (as JSON that the schema restricts to
//!    this specialist's tools). The [`Toolbox`] checks and runs them in parallel; their
//!    results become new numbered lines the answer may cite. An empty list ends the loop.
//! 2. **Answer**: one call whose schema is built from the evidence ([`evidence_schema`]):
//!    `cause` is one of the candidate signatures (or `other`), `component` one of the
//!    components seen, and `evidence` a list of line numbers that exist.
//!
//! Every prompt fits the context by construction: the evidence lines get what is left of
//! the context after the instructions, the replies and the tool rounds' shares, and a tool
//! result is cut to its share, whole lines only.
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use loglens_tools::budget::{clip, estimate_tokens};

use loglens_tools::k8s::K8sEvent;
use loglens_tools::k8s_state::K8sStateOutput;
use loglens_tools::query_logs::QueryLogsOutput;
use loglens_tools::redact::Pseudonyms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use crate::baseline::render_line;
use crate::error::AnalyzeError;
use crate::events::AgentEvent;
use crate::evidence::collect::{CandidateRef, EvidenceSet, event_line};
use crate::evidence::{Category, Pattern};
use crate::finding::{Finding, LineRef, ModelChoice, ModelFinding, choice_schema, evidence_schema};
use crate::llm::{CallOptions, ChatMessage, LlmClient, LlmError, ModelCall};
use crate::prompts::{SPECIALIST, render};
use crate::toolbox::{CallStatus, ToolRecord, Toolbox};
use crate::wording::word_choice;

mod answer;
mod results;
mod run;
pub mod weigh;

pub(crate) use answer::read_answer;
use answer::severity_bounds;
pub use answer::{candidate_finding, evidence_finding};
use results::render_results;

/// Which point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Nodes, kubelet, scheduling, probes, storage, networking, Kubernetes events.
    Infra,
    /// Application errors, exceptions, latency, dependencies.
    App,
}

impl Role {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Infra => "infra",
            Role::App => "app",
        }
    }

    /// The signature category it owns.
    pub fn category(self) -> Category {
        match self {
            Role::Infra => Category::Infra,
            Role::App => Category::App,
        }
    }

    fn focus(self) -> &'static str {
        match self {
            Role::Infra => {
                "You look at the platform: nodes, the kubelet, scheduling, probes, restarts, OOM kills, disks, volumes, images, DNS and network plumbing, and Kubernetes events."
            }
            Role::App => {
                "You look at the applications: their errors and exceptions, failing requests, latency, and the dependencies they call (databases, caches, other services)."
            }
        }
    }
}

/// How a specialist asks for tool calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolCalling {
    /// Native when the server's chat template supports tool calls, else schema.
    #[default]
    Auto,
    /// JSON output constrained by a schema with one `{tool, arguments}` shape per tool:
    /// works with any model, the smallest included.
    Schema,
    /// OpenAI-style `tools` in the request (the model's own tool-call format).
    Native,
}

/// What the model writes as its answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// `choose` for a model under [`SMALL_MODEL_PARAMS`] parameters (as the server
    /// reports it), else `full`.
    #[default]
    Auto,
    /// Every field of the finding, prose included ([`ModelFinding`]).
    Full,
    /// Only the choices: cause, evidence lines, component, severity and confidence
    /// ([`crate::finding::ModelChoice`]); the prose is worded from the evidence chosen
    /// ([`crate::wording`]). A few dozen tokens instead of hundreds.
    Choose,
}

impl AnswerMode {
    /// `full` or `choose`: `auto` decided by the size of the model `llm` serves.
    pub async fn resolve(self, llm: &LlmClient) -> AnswerMode {
        match self {
            AnswerMode::Auto => match llm.model_params().await {
                Some(n) if n < SMALL_MODEL_PARAMS => AnswerMode::Choose,
                _ => AnswerMode::Full,
            },
            mode => mode,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            AnswerMode::Auto => "auto",
            AnswerMode::Full => "full",
            AnswerMode::Choose => "choose",
        }
    }
}

impl std::str::FromStr for AnswerMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(AnswerMode::Auto),
            "full" => Ok(AnswerMode::Full),
            "choose" => Ok(AnswerMode::Choose),
            other => Err(format!(
                "answer mode {other:?} is not one of auto, full, choose"
            )),
        }
    }
}

/// Below this many parameters `auto` answers in `choose` mode: such a model chooses among
/// candidates well enough but writes no usable sentence (the 135M test model fills every
/// text field with repeats up to its length limit: `evals/README.md`).
pub const SMALL_MODEL_PARAMS: u64 = 1_000_000_000;

/// Reply tokens of a choice: a cause id, up to eight line numbers, a component, a
/// severity and a number, with room for the whitespace a grammar allows.
const CHOICE_TOKENS: u32 = 256;

/// Limits of one specialist.
#[derive(Debug, Clone, Copy)]
pub struct SpecialistConfig {
    /// Tool rounds (0: answer from the evidence set alone).
    pub max_steps: usize,
    /// Tool rounds for a model that only chooses (`choose` mode; `auto` picks it for a
    /// model under 1B parameters), at most `max_steps`. `None`: `max_steps`, as when
    /// tool rounds are asked for explicitly. Measured with the 135M test model (evals
    /// README): its tool calls were nonsense LogQL, and answers with tool rounds were no
    /// better and took 2.6× the time, so the default is 0.
    pub small_model_steps: Option<usize>,
    /// Calls per round.
    pub max_calls: usize,
    /// Reply tokens of a tool round.
    pub step_reply_tokens: u32,
    /// Tokens of tool results per round.
    pub result_tokens: usize,
    /// Model context, tokens.
    pub context_tokens: usize,
    /// Reply tokens of the answer.
    pub answer_tokens: u32,
    /// Longest line shown.
    pub max_line_chars: usize,
    /// How tool calls are asked for.
    pub tool_calling: ToolCalling,
    /// At most this many tokens of evidence lines, whatever the context leaves: a small
    /// model on a CPU answers no better from more lines, and every prompt token costs
    /// time (`None`: what the context leaves).
    pub evidence_tokens: Option<usize>,
    /// What the model writes as its answer.
    pub answer: AnswerMode,
}

impl SpecialistConfig {
    /// These limits for the model `llm` serves: `answer: auto` decided by the model's
    /// size, and a model that only chooses gets `small_model_steps` tool rounds.
    pub async fn resolve(mut self, llm: &LlmClient) -> Self {
        self.answer = self.answer.resolve(llm).await;
        if self.answer == AnswerMode::Choose
            && let Some(n) = self.small_model_steps
        {
            self.max_steps = self.max_steps.min(n);
        }
        self
    }
}

impl Default for SpecialistConfig {
    fn default() -> Self {
        Self {
            // One tool round fits a 4096-token context with room for ~1,200 tokens of
            // evidence lines; give a model with a larger context (-c 8192) more rounds.
            max_steps: 1,
            small_model_steps: Some(0),
            max_calls: 2,
            step_reply_tokens: 200,
            result_tokens: 400,
            context_tokens: 4096,
            answer_tokens: 1024,
            max_line_chars: 400,
            tool_calling: ToolCalling::Auto,
            evidence_tokens: None,
            answer: AnswerMode::Auto,
        }
    }
}

/// Tokens kept free for chat-template tokens and the retry message.
const RESERVED_TOKENS: usize = 200;

impl SpecialistConfig {
    /// Tokens left for evidence lines once everything else has its share. `fixed` is the
    /// estimate of the instructions, question, candidates and patterns.
    pub fn line_tokens(&self, fixed: usize) -> usize {
        let rounds = self.max_steps * (self.step_reply_tokens as usize + self.result_tokens + 60);
        let left = self
            .context_tokens
            .saturating_sub(RESERVED_TOKENS + self.answer_tokens as usize + rounds + fixed + 80);
        self.evidence_tokens.map_or(left, |cap| left.min(cap))
    }
}

/// One specialist's answer (one sample).
#[derive(Debug, Clone, Serialize)]
pub struct Opinion {
    /// Which specialist.
    pub agent: Role,
    /// Which sample, from 1.
    pub sample: usize,
    /// The finding.
    pub finding: Finding,
    /// Tool calls made.
    pub tools: Vec<ToolRecord>,
    /// Model calls made.
    pub calls: Vec<ModelCall>,
    /// Lines the tools added (numbered after the evidence set's).
    pub added_lines: Vec<LineRef>,
    /// How tool calls were asked for: `schema` or `native` (none when there were no tool
    /// rounds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calling: Option<ToolCalling>,
    /// Set when the model's answer was unusable and the finding is the evidence's top
    /// candidate instead: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// In `choose` mode: the model's probabilities over the evidence's candidates and
    /// which cause stood ([`weigh`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighed: Option<weigh::Weighing>,
    /// In `choose` mode, when the answer was not weighed: why (no candidate to weigh, the
    /// weighing call failed). A `fallback` answer is not weighed either; it says why itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unweighed: Option<String>,
}

/// A specialist agent.
#[derive(Clone)]
pub struct Specialist {
    role: Role,
    llm: LlmClient,
    toolbox: Toolbox,
    cfg: SpecialistConfig,
    pseudonyms: Arc<Mutex<Pseudonyms>>,
}

impl Specialist {
    /// A specialist with these tools.
    pub fn new(role: Role, llm: LlmClient, toolbox: Toolbox, cfg: SpecialistConfig) -> Self {
        Self {
            role,
            llm,
            toolbox,
            cfg,
            pseudonyms: Arc::default(),
        }
    }

    /// Masks personal values in tool results with these placeholders (shared with the
    /// rest of the run, so one address has one placeholder everywhere).
    pub fn with_pseudonyms(mut self, pseudonyms: Arc<Mutex<Pseudonyms>>) -> Self {
        self.pseudonyms = pseudonyms;
        self
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The answer mode in use: the configured one, with `auto` decided by the served
    /// model's size.
    pub async fn answer_mode(&self) -> AnswerMode {
        self.cfg.answer.resolve(&self.llm).await
    }

    /// The candidate causes it is offered: its own category's first, then the rest.
    pub fn causes(&self, evidence: &EvidenceSet) -> Vec<String> {
        let mut own: Vec<String> = Vec::new();
        let mut other: Vec<String> = Vec::new();
        for c in &evidence.candidates {
            if c.candidate.category == self.role.category() {
                own.push(c.candidate.signature.clone());
            } else {
                other.push(c.candidate.signature.clone());
            }
        }
        own.extend(other);
        own
    }

    fn steps(&self) -> usize {
        if self.toolbox.is_empty() {
            0
        } else {
            self.cfg.max_steps
        }
    }

    /// The first two messages.
    pub fn opening(&self, question: &str, evidence: &EvidenceSet) -> Vec<ChatMessage> {
        let steps = self.steps().to_string();
        let calls = self.cfg.max_calls.to_string();
        // Without tool rounds the tool list is only prompt tokens.
        let tools = if self.steps() == 0 {
            "- none: answer from the evidence above".to_string()
        } else {
            self.toolbox.describe_menu(&evidence.menu)
        };
        // The system message and the evidence are the same for both specialists, and the
        // role comes after them: the model server computes that shared prefix once and
        // reuses it for the second specialist (llama-server's prompt cache), which halves
        // the prompt time of a two-specialist run on a CPU.
        let system = SPECIALIST.system.to_string();
        let ids: BTreeSet<String> = self.causes(evidence).into_iter().collect();
        let rendered: Vec<String> = evidence.lines.iter().map(render_line).collect();
        let components = if evidence.components.is_empty() {
            "none".to_string()
        } else {
            evidence.components.join(", ")
        };
        let mut user = render(
            SPECIALIST.user,
            &[
                ("question", question.trim()),
                ("candidates", &evidence.render_candidates(&ids)),
                ("patterns", &evidence.render_patterns()),
                ("components", &components),
                ("count", &evidence.lines.len().to_string()),
                ("lines", &rendered.join("\n")),
                ("role", self.role.name()),
                ("focus", self.role.focus()),
                ("max_steps", &steps),
                ("max_calls", &calls),
                ("tools", &tools),
            ],
        );
        if self.steps() == 0 {
            // No tool rounds: the prompt's closing request is replaced by the answer's.
            if let Some(i) = user.rfind("\nPhase 1:") {
                user.truncate(i);
            }
        }
        vec![ChatMessage::system(system), ChatMessage::user(user)]
    }

    /// Everything the prompt holds besides the evidence lines: the opening without lines,
    /// the request for the answer and the cause list (to measure the line budget).
    pub fn fixed_text(&self, question: &str, evidence: &EvidenceSet) -> String {
        let without_lines = EvidenceSet {
            lines: Vec::new(),
            ..evidence.clone()
        };
        let mut text: String = self
            .opening(question, &without_lines)
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        text.push_str(SPECIALIST.final_answer);
        text.push_str(question);
        text.push_str(&self.causes(evidence).join(", "));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::answer::stated_severity;
    use super::results::{result_count, result_lines};
    use super::*;
    use crate::Severity;

    fn line(n: usize, text: &str) -> LineRef {
        LineRef::numbered(n, text)
    }

    #[test]
    fn the_stated_severity_is_the_worst_the_lines_and_candidates_state() {
        let quiet = vec![line(1, "INFO started"), line(2, "level=info msg=ok")];
        let ev = EvidenceSet::default();
        assert_eq!(stated_severity(&ev, &quiet), Severity::Info);
        let warned = vec![line(1, "INFO started"), line(2, "WARN retrying in 2s")];
        assert_eq!(stated_severity(&ev, &warned), Severity::Warn);
        let failed = vec![line(1, r#"{"level":"error","msg":"payment failed"}"#)];
        assert_eq!(stated_severity(&ev, &failed), Severity::Error);
        // A candidate cause rated CRITICAL lifts the bound above what the lines say.
        let ev = EvidenceSet {
            candidates: vec![crate::evidence::collect::CandidateRef {
                candidate: crate::evidence::Candidate {
                    detail: None,
                    signature: "oom_killed".into(),
                    title: "OOM".into(),
                    severity: Severity::Critical,
                    category: crate::evidence::Category::Infra,
                    action: "raise the limit".into(),
                    component: None,
                    lines: vec![],
                    events: vec![],
                    hits: 1,
                },
                cited: vec![],
            }],
            ..EvidenceSet::default()
        };
        assert_eq!(stated_severity(&ev, &quiet), Severity::Critical);
    }

    #[test]
    fn state_rows_and_their_facts_are_citable_lines() {
        let out = serde_json::json!({
            "objects": [{"kind": "Node", "name": "worker-02", "state": "Ready"}],
            "abnormal": [{
                "namespace": null, "kind": "Node", "name": "worker-02", "event_type": "Warning",
                "reason": "ServiceTrafficNotForwarded", "message": "pods on node worker-02 fail to reach 2 Services",
                "count": 3, "last_seen": null, "age": null, "source": "cluster state"
            }],
            "omitted": 0
        });
        assert_eq!(result_count("k8s_state", &out), 2);
        let lines = result_lines("k8s_state", &out, 400);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].text, "Node worker-02: Ready");
        assert!(
            lines[1].text.contains("ServiceTrafficNotForwarded"),
            "{lines:?}"
        );
    }
}
