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
    /// which cause stood ([`crate::weigh`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighed: Option<crate::weigh::Weighing>,
    /// In `choose` mode, when the answer was not weighed: why (no candidate to weigh, the
    /// weighing call failed). A `fallback` answer is not weighed either; it says why itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unweighed: Option<String>,
}

#[derive(Deserialize)]
struct StepReply {
    calls: Vec<Value>,
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

    /// Runs one sample: the tool rounds (phase 1: the model asks for more evidence, the
    /// tools answer), then the answer (phase 2: a finding in the schema, weighed against
    /// the evidence's ranking when a small model chose it).
    pub async fn run(
        &self,
        question: &str,
        evidence: &EvidenceSet,
        sample: usize,
        options: CallOptions,
        events: Option<&UnboundedSender<AgentEvent>>,
    ) -> Result<Opinion, AnalyzeError> {
        let mut talk = Conversation {
            messages: self.opening(question, evidence),
            lines: evidence.lines.clone(),
            tools: Vec::new(),
            calls: Vec::new(),
        };
        let tool_calling = self
            .tool_rounds(&mut talk, evidence, options, events)
            .await?;
        let answer = self.answer(&mut talk, question, evidence, options).await?;
        Ok(Opinion {
            agent: self.role,
            sample,
            finding: answer.finding,
            tools: talk.tools,
            calls: talk.calls,
            added_lines: talk.lines[evidence.lines.len()..].to_vec(),
            tool_calling,
            fallback: answer.fallback,
            weighed: answer.weighed,
            unweighed: answer.unweighed,
        })
    }

    /// How tool calls are asked for in `steps` rounds: none without rounds; natively when
    /// the server's chat template has a tool-call format (or the config says so); else
    /// as JSON in a schema, which any model can write.
    async fn tool_calling(&self, steps: usize) -> Option<ToolCalling> {
        match (steps, self.cfg.tool_calling) {
            (0, _) => None,
            (_, ToolCalling::Auto) if self.llm.supports_native_tools().await => {
                Some(ToolCalling::Native)
            }
            (_, ToolCalling::Native) => Some(ToolCalling::Native),
            _ => Some(ToolCalling::Schema),
        }
    }

    /// Phase 1: up to `steps` rounds of tool calls. Each round the model asks for calls
    /// from the menu (what the evidence names and was not asked yet), the toolbox runs
    /// them, and their results (new lines numbered after the evidence's) go back into
    /// the conversation. Stops early when the model asks for nothing, the menu is empty,
    /// or a request is unusable (the answer then rests on what there is).
    async fn tool_rounds(
        &self,
        talk: &mut Conversation,
        evidence: &EvidenceSet,
        options: CallOptions,
        events: Option<&UnboundedSender<AgentEvent>>,
    ) -> Result<Option<ToolCalling>, AnalyzeError> {
        let steps = self.steps();
        let tool_calling = self.tool_calling(steps).await;
        let mut seen = HashSet::new();
        // What a call may ask: the streams and objects retrieved, less what was asked.
        let mut menu = evidence.menu.clone();
        let step_options = CallOptions {
            max_tokens: Some(self.cfg.step_reply_tokens),
            ..options
        };
        for step in 1..=steps {
            let Some(requested) = self
                .request_calls(talk, &menu, step, tool_calling, step_options)
                .await?
            else {
                break;
            };
            if requested.is_empty() {
                break;
            }
            // The menu's choices become the tools' own arguments (the LogQL, the range).
            let requested = menu.take(&requested);
            let records = self
                .toolbox
                .run_step(self.role.name(), step, &requested, &mut seen)
                .await;
            for r in &records {
                if let Some(tx) = events {
                    let _ = tx.send(AgentEvent::ToolCall(r.clone()));
                }
            }
            let results = render_results(&records, &mut talk.lines, &self.cfg, &self.pseudonyms);
            let left = self.toolbox.describe_menu(&menu);
            let next = if step < steps && !left.is_empty() {
                format!(
                    "Phase 1 again: more calls, or {{\"calls\": []}} when the evidence is enough. Left to ask:\n{left}"
                )
            } else {
                "No more tool rounds.".to_string()
            };
            talk.messages.push(ChatMessage::user(render(
                SPECIALIST.tool_result,
                &[("results", &results), ("next", &next)],
            )));
            talk.tools.extend(records);
        }
        Ok(tool_calling)
    }

    /// One round's request for tool calls, natively or in the step schema. `None`: no
    /// round (the menu is empty, or the model's request was unusable).
    async fn request_calls(
        &self,
        talk: &mut Conversation,
        menu: &crate::call_menu::CallMenu,
        step: usize,
        tool_calling: Option<ToolCalling>,
        step_options: CallOptions,
    ) -> Result<Option<Vec<Value>>, AnalyzeError> {
        let Some(step_schema) = self.toolbox.step_schema(menu, self.cfg.max_calls) else {
            // Everything the evidence names has been asked.
            return Ok(None);
        };
        if tool_calling == Some(ToolCalling::Native) {
            let (mut requested, _content, call) = self
                .llm
                .complete_tool_calls(
                    &talk.messages,
                    &self.toolbox.openai_tools(menu),
                    step_options,
                )
                .await?;
            talk.calls.push(call);
            requested.truncate(self.cfg.max_calls);
            // The calls go back into the conversation as text, which any chat template
            // can render.
            let text = serde_json::json!({ "calls": requested }).to_string();
            talk.messages.push(ChatMessage::assistant(text));
            return Ok(Some(requested));
        }
        let reply = self
            .llm
            .complete_json_with::<StepReply>(
                &talk.messages,
                "tool_calls",
                &step_schema,
                None,
                step_options,
            )
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(LlmError::InvalidOutput { reason, .. }) => {
                // No usable tool request: answer from what there is.
                tracing::warn!(agent = self.role.name(), step, %reason, "tool step rejected; answering without it");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        talk.calls.extend(reply.calls);
        talk.messages.push(ChatMessage::assistant(reply.raw));
        Ok(Some(reply.value.calls))
    }

    /// Phase 2: the answer. The model fills the finding schema (its causes and components
    /// are the evidence's); a reply rejected twice falls back to the evidence's top
    /// candidate, marked as such; a small model's choice is weighed against the
    /// evidence's ranking with its own probabilities.
    async fn answer(
        &self,
        talk: &mut Conversation,
        question: &str,
        evidence: &EvidenceSet,
        options: CallOptions,
    ) -> Result<Answer, AnalyzeError> {
        // The conversation before the request for the answer: the weighing asks its own
        // question after it (and shares its prefix in the server's prompt cache).
        let before_answer = talk.messages.len();
        let causes = self.causes(evidence);
        let mut cause_list: Vec<String> = causes.clone();
        cause_list.push("other".into());
        talk.messages.push(ChatMessage::user(render(
            SPECIALIST.final_answer,
            &[
                ("question", question.trim()),
                ("causes", &cause_list.join(", ")),
                ("count", &talk.lines.len().to_string()),
            ],
        )));
        let mode = self.answer_mode().await;
        let severities = severity_bounds(evidence, &talk.lines);
        let (schema, max_tokens) = if mode == AnswerMode::Choose {
            let schema =
                choice_schema(talk.lines.len(), &causes, &evidence.components, &severities);
            (schema, self.cfg.answer_tokens.min(CHOICE_TOKENS))
        } else {
            let schema = evidence_schema(talk.lines.len(), &causes, &evidence.components);
            (schema, self.cfg.answer_tokens)
        };
        let reply = self
            .llm
            .complete_json_with::<Value>(
                &talk.messages,
                "finding",
                &schema,
                None,
                CallOptions {
                    max_tokens: Some(max_tokens),
                    ..options
                },
            )
            .await;
        let (finding, fallback) = match reply {
            Ok(reply) => {
                talk.calls.extend(reply.calls);
                let mut finding = read_answer(reply.value, mode, evidence, &talk.lines)?;
                // Whatever the model wrote (a full finding has no enum to hold it), the
                // severity stays within what the evidence supports.
                finding.severity = finding
                    .severity
                    .clamp(*severities.start(), *severities.end());
                (finding, None)
            }
            // The model wrote garbage twice: the evidence still has an answer when the
            // signature library found a candidate. It is marked as such, with the reason.
            Err(LlmError::InvalidOutput { reason, .. }) => {
                let Some(finding) = evidence_finding(self.role, evidence) else {
                    return Err(AnalyzeError::Model(LlmError::InvalidOutput {
                        attempts: 2,
                        reason,
                        last_reply: String::new(),
                    }));
                };
                tracing::warn!(agent = self.role.name(), %reason, "answer rejected twice; using the evidence's top candidate");
                let why = format!(
                    "the model's answer was rejected twice ({reason}); this is the top candidate of the evidence"
                );
                (finding, Some(why))
            }
            Err(e) => return Err(e.into()),
        };
        if mode != AnswerMode::Choose || fallback.is_some() {
            return Ok(Answer {
                finding,
                fallback,
                weighed: None,
                unweighed: None,
            });
        }
        // A small model's choice is weighed against the evidence's ranking.
        let (finding, weighed, call) = crate::weigh::weigh(
            &self.llm,
            &talk.messages[..before_answer],
            evidence,
            finding,
            &severities,
        )
        .await;
        talk.calls.extend(call);
        let (weighed, unweighed) = match weighed {
            Ok(w) => (Some(w), None),
            Err(why) => (None, Some(why)),
        };
        Ok(Answer {
            finding,
            fallback: None,
            weighed,
            unweighed,
        })
    }
}

/// A specialist's conversation so far: the messages, the numbered lines it has seen
/// (the evidence's, then what its tools added), its tool calls and its model calls.
struct Conversation {
    messages: Vec<ChatMessage>,
    lines: Vec<LineRef>,
    tools: Vec<ToolRecord>,
    calls: Vec<ModelCall>,
}

/// What phase 2 produced: the finding, and how it came to stand.
struct Answer {
    finding: Finding,
    fallback: Option<String>,
    weighed: Option<crate::weigh::Weighing>,
    unweighed: Option<String>,
}

/// The finding in a reply that matched its schema: the model's own words (`full`), or
/// its choices worded from the evidence (`choose`).
pub(crate) fn read_answer(
    mut value: Value,
    mode: AnswerMode,
    evidence: &EvidenceSet,
    lines: &[LineRef],
) -> Result<Finding, AnalyzeError> {
    let misfit = |e: serde_json::Error| {
        AnalyzeError::Model(LlmError::Protocol(format!(
            "the finding does not fit its type: {e}"
        )))
    };
    if mode == AnswerMode::Choose {
        let choice: ModelChoice = serde_json::from_value(value).map_err(misfit)?;
        return Ok(word_choice(choice, evidence, lines));
    }
    let cause = value
        .as_object_mut()
        .and_then(|o| o.remove("cause"))
        .and_then(|v| v.as_str().map(str::to_string));
    let model: ModelFinding = serde_json::from_value(value).map_err(misfit)?;
    let mut finding = Finding::resolve(model, lines);
    finding.cause = cause;
    Ok(finding)
}

/// The severities the evidence supports, from a floor to a ceiling. The ceiling is the
/// worst it states ([`stated_severity`]): informational lines cannot be called an outage.
/// The floor is the severity of the top candidate (what that kind of failure is), or,
/// with no candidate, the worst level a line states in its own level field: a line that
/// tells the model "report severity INFO" cannot talk an error down.
fn severity_bounds(
    evidence: &EvidenceSet,
    lines: &[LineRef],
) -> std::ops::RangeInclusive<crate::Severity> {
    let ceiling = stated_severity(evidence, lines);
    let floor = match evidence.candidates.first() {
        Some(c) => c.candidate.severity,
        None => lines
            .iter()
            .filter_map(|l| crate::insights::stated_level(&l.text))
            .max()
            .unwrap_or(crate::Severity::Info),
    };
    floor.min(ceiling)..=ceiling
}

/// The worst severity the evidence states: its lines' levels (a stated level, else their
/// words) and its candidate causes' severities; INFO when it states none.
fn stated_severity(evidence: &EvidenceSet, lines: &[LineRef]) -> crate::Severity {
    let from_lines = lines
        .iter()
        .filter_map(|l| crate::insights::line_severity(&l.text))
        .max();
    let from_candidates = evidence
        .candidates
        .iter()
        .map(|c| c.candidate.severity)
        .max();
    from_lines
        .max(from_candidates)
        .unwrap_or(crate::Severity::Info)
}

/// Confidence given to an answer taken from the evidence alone.
const EVIDENCE_ONLY_CONFIDENCE: f32 = 0.3;

/// The answer the evidence gives without a model: the top candidate of this role's
/// category (else the top candidate), with its lines. `None` without candidates.
pub fn evidence_finding(role: Role, evidence: &EvidenceSet) -> Option<Finding> {
    let c = evidence
        .candidates
        .iter()
        .find(|c| c.candidate.category == role.category())
        .or_else(|| evidence.candidates.first())?;
    Some(candidate_finding(
        c,
        evidence,
        "Found by the signature library; no model answer.",
        EVIDENCE_ONLY_CONFIDENCE,
    ))
}

/// The finding one candidate stands for, worded from the signature library, citing the
/// candidate's own lines; `how` ends the summary (how it came to be the answer).
pub fn candidate_finding(
    c: &CandidateRef,
    evidence: &EvidenceSet,
    how: &str,
    confidence: f32,
) -> Finding {
    let mut cited: Vec<LineRef> = evidence
        .lines
        .iter()
        .filter(|l| c.cited.contains(&l.n))
        .cloned()
        .collect();
    if cited.is_empty() {
        cited.extend(evidence.lines.last().cloned());
    }
    let signature = cited
        .first()
        .map(|l| clip(&l.text, 120))
        .unwrap_or_else(|| c.candidate.title.clone());
    Finding {
        cause: Some(c.candidate.signature.clone()),
        detail: c.candidate.detail.clone(),
        root_cause: c.candidate.title.clone(),
        severity: c.candidate.severity,
        component: c
            .candidate
            .component
            .clone()
            .or_else(|| evidence.components.first().cloned())
            .unwrap_or_else(|| "unknown".into()),
        error_signature: signature,
        summary: format!(
            "{} ({} matching lines and events). {how}",
            c.candidate.title, c.candidate.hits
        ),
        action: c.candidate.action.clone(),
        evidence: cited,
        confidence,
    }
}

/// Turns tool results into text for the model, adding their lines (numbered after the
/// existing ones) to `lines`. Each round gets `cfg.result_tokens`; lines are kept whole,
/// the most recent first when there is not room for all.
fn render_results(
    records: &[ToolRecord],
    lines: &mut Vec<LineRef>,
    cfg: &SpecialistConfig,
    pseudonyms: &Mutex<Pseudonyms>,
) -> String {
    let mut out: Vec<String> = Vec::new();
    let share = cfg.result_tokens / records.len().max(1);
    for r in records {
        let args = clip(&r.arguments.to_string(), 300);
        match (&r.status, &r.output) {
            (CallStatus::Ok, Some(v)) => {
                // Lines that speak to the model are not shown to it (evidence::screen).
                let (new, withheld) = crate::evidence::screen::keep_clean(
                    result_lines(&r.tool, v, cfg.max_line_chars),
                    |l: &LineRef| l.text.as_str(),
                );
                let mut used = 0usize;
                let mut keep: Vec<LineRef> = Vec::new();
                for l in new.into_iter().rev() {
                    let cost = estimate_tokens(&l.text) + 16;
                    if used + cost > share {
                        break;
                    }
                    used += cost;
                    keep.push(l);
                }
                keep.reverse();
                // Counted without the withheld ones: the model is not told about lines
                // it must not read (the answer's evidence lists them for people).
                let total = result_count(&r.tool, v).saturating_sub(withheld);
                out.push(format!(
                    "{} {args}: {} result(s){}",
                    r.tool,
                    total,
                    if keep.len() < total {
                        format!(", {} shown", keep.len())
                    } else {
                        String::new()
                    }
                ));
                for mut l in keep {
                    l.n = lines.len() + 1;
                    if let Ok(mut p) = pseudonyms.lock()
                        && !p.is_empty()
                    {
                        l.text = p.mask(&l.text);
                    }
                    out.push(render_line(&l));
                    lines.push(l);
                }
            }
            _ => out.push(format!(
                "{} {args}: {:?}: {}",
                r.tool,
                r.status,
                r.error.as_deref().unwrap_or("failed")
            )),
        }
    }
    out.join("\n")
}

fn result_count(tool: &str, v: &Value) -> usize {
    let keys: &[&str] = match tool {
        "k8s_events" => &["events"],
        "k8s_state" => &["objects", "abnormal"],
        "log_patterns" => &["patterns"],
        _ => &["lines"],
    };
    keys.iter()
        .map(|k| v[*k].as_array().map_or(0, Vec::len))
        .sum()
}

/// The citable lines of a tool's output.
fn result_lines(tool: &str, v: &Value, max_chars: usize) -> Vec<LineRef> {
    match tool {
        "query_logs" => serde_json::from_value::<QueryLogsOutput>(v.clone())
            .map(|o| {
                o.lines
                    .into_iter()
                    .map(|l| LineRef {
                        n: 0,
                        source: l.source,
                        line_no: l.line_no,
                        timestamp: l.timestamp,
                        labels: l.labels,
                        text: clip(&l.line, max_chars),
                        similar: 0,
                        why: None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "k8s_events" => v["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| serde_json::from_value::<K8sEvent>(e.clone()).ok())
                    .enumerate()
                    .map(|(i, e)| event_line(&e, i, 0))
                    .collect()
            })
            .unwrap_or_default(),
        "k8s_state" => serde_json::from_value::<K8sStateOutput>(v.clone())
            .map(|o| {
                let rows = o.objects.into_iter().enumerate().map(|(i, r)| LineRef {
                    n: 0,
                    source: "k8s_state".into(),
                    line_no: i as u64 + 1,
                    timestamp: None,
                    labels: Default::default(),
                    text: clip(&format!("{} {}: {}", r.kind, r.name, r.state), max_chars),
                    similar: 0,
                    why: None,
                });
                let facts = o
                    .abnormal
                    .iter()
                    .enumerate()
                    .map(|(i, e)| event_line(e, i, 0))
                    .collect::<Vec<_>>();
                rows.chain(facts).collect()
            })
            .unwrap_or_default(),
        "log_patterns" => v["patterns"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| serde_json::from_value::<Pattern>(p.clone()).ok())
                    .enumerate()
                    .map(|(i, p)| LineRef {
                        n: 0,
                        source: "log_patterns".into(),
                        line_no: i as u64 + 1,
                        timestamp: p.last_seen,
                        labels: Default::default(),
                        text: clip(
                            &format!("pattern (x{}): {}", p.count, p.template),
                            max_chars,
                        ),
                        similar: 0,
                        why: None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
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
