//! The agent pipeline, as a graph.
//!
//! ```text
//! router → retrieval → evidence → infra ─┐
//!                               └→ app ──┴→ consensus
//! ```
//! The stages are nodes of a [`petgraph`] graph and run in layers (a node runs when
//! everything before it has), so the specialists, which share a layer, run in parallel.
//! The router's decision switches nodes off (a question about OOM kills skips the app
//! specialist), and every run records the path it took: each stage, ran or skipped, how
//! long, and a note. `loglens explain` prints the graph.
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loglens_tools::budget::estimate_tokens;
use loglens_tools::k8s::{EventFilter, EventSource, K8sEvent};
use loglens_tools::k8s_events::K8sEvents;
use loglens_tools::logs::{LogFilter, LogLine, LogSource};
use loglens_tools::query_logs::QueryLogs;
use loglens_tools::redact::{PseudonymKind, Pseudonyms};
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
use tracing::Instrument;

use crate::consensus::{Ballot, Consensus, merge};
use crate::error::AnalyzeError;
use crate::events::AgentEvent;
use crate::evidence::SignatureLibrary;
use crate::evidence::collect::{EvidenceSet, LineBudget, analyze};
use crate::evidence::pattern_tool::LogPatterns;
use crate::finding::{Finding, LineRef};
use crate::llm::{CallOptions, LlmClient, ModelCall};
use crate::prompts::{ROUTER, SPECIALIST};
use crate::retrieval::{HybridResult, HybridRetriever, Ranked};
use crate::router::{RetrievalMode, Route, Router, Scope, SpecialistChoice};
use crate::specialist::{Opinion, Role, Specialist, SpecialistConfig};
use crate::toolbox::{DynTool, Toolbox};

/// A stage of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Decide retrieval and specialists.
    Router,
    /// Read lines and events.
    Retrieval,
    /// Signatures, patterns, line choice.
    Evidence,
    /// The infra specialist.
    Infra,
    /// The app specialist.
    App,
    /// Merge the findings.
    Consensus,
}

impl Stage {
    fn describe(self) -> &'static str {
        match self {
            Stage::Router => {
                "rules on the question's words and scope; the model (enum schema) when they disagree"
            }
            Stage::Retrieval => {
                "LogQL / file filter over the window (structured), or that scope searched by meaning and fused with recency (hybrid); plus Kubernetes events"
            }
            Stage::Evidence => {
                "signature library + Drain pattern miner; lines chosen by evidence, then recency"
            }
            Stage::Infra => {
                "tool loop (query_logs, k8s_events, log_patterns), then a finding in the evidence schema"
            }
            Stage::App => {
                "tool loop (query_logs, log_patterns), then a finding in the evidence schema"
            }
            Stage::Consensus => {
                "per-field majority vote over all samples; evidence united; disagreement kept"
            }
        }
    }
}

/// The pipeline's graph.
#[derive(Debug, Clone)]
pub struct PipelineGraph {
    graph: DiGraph<Stage, ()>,
}

impl Default for PipelineGraph {
    fn default() -> Self {
        let mut g = DiGraph::new();
        let router = g.add_node(Stage::Router);
        let retrieval = g.add_node(Stage::Retrieval);
        let evidence = g.add_node(Stage::Evidence);
        let infra = g.add_node(Stage::Infra);
        let app = g.add_node(Stage::App);
        let consensus = g.add_node(Stage::Consensus);
        for (a, b) in [
            (router, retrieval),
            (retrieval, evidence),
            (evidence, infra),
            (evidence, app),
            (infra, consensus),
            (app, consensus),
        ] {
            g.add_edge(a, b, ());
        }
        Self { graph: g }
    }
}

impl PipelineGraph {
    /// The stages in layers: each layer's stages depend only on earlier layers.
    pub fn layers(&self) -> Vec<Vec<Stage>> {
        let order = petgraph::algo::toposort(&self.graph, None).unwrap_or_default();
        let mut depth = vec![0usize; self.graph.node_count()];
        for &n in &order {
            for p in self.graph.neighbors_directed(n, Direction::Incoming) {
                depth[n.index()] = depth[n.index()].max(depth[p.index()] + 1);
            }
        }
        let mut layers: Vec<Vec<Stage>> = Vec::new();
        let mut by_layer = order.clone();
        by_layer.sort_by_key(|n| (depth[n.index()], n.index()));
        for &n in &by_layer {
            let d = depth[n.index()];
            if layers.len() <= d {
                layers.resize(d + 1, Vec::new());
            }
            layers[d].push(self.graph[n]);
        }
        layers
    }

    /// The graph as text, with what each stage does, and in Graphviz DOT.
    pub fn explain(&self) -> String {
        let mut out =
            String::from("loglens agent pipeline (stages in one layer run in parallel)\n\n");
        for (i, layer) in self.layers().iter().enumerate() {
            for stage in layer {
                let next: Vec<String> = self
                    .graph
                    .neighbors_directed(self.index(*stage), Direction::Outgoing)
                    .map(|n| format!("{:?}", self.graph[n]).to_lowercase())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let arrow = if next.is_empty() {
                    String::new()
                } else {
                    format!(" → {}", next.join(", "))
                };
                let head = format!(
                    "{}. {:<10}{arrow}",
                    i + 1,
                    format!("{stage:?}").to_lowercase()
                );
                out.push_str(&format!("{}\n     {}\n", head.trim_end(), stage.describe()));
            }
        }
        out.push_str("\nGraphviz:\n");
        out.push_str(&format!(
            "{:?}",
            petgraph::dot::Dot::with_config(&self.graph, &[petgraph::dot::Config::EdgeNoLabel])
        ));
        out
    }

    fn index(&self, stage: Stage) -> NodeIndex {
        self.graph
            .node_indices()
            .find(|&i| self.graph[i] == stage)
            .unwrap_or_default()
    }
}

/// How a stage went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// It ran.
    Ran,
    /// The route switched it off.
    Skipped,
    /// It failed (the run may still have an answer from the other branch).
    Failed,
}

/// One stage of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The stage.
    pub stage: Stage,
    /// How it went.
    pub status: StepStatus,
    /// Wall time, ms.
    pub ms: f64,
    /// What happened.
    pub note: String,
}

/// A run that failed, with what it had done: the caller stores the evidence and the path
/// so nothing retrieved is lost.
#[derive(Debug)]
pub struct RunError {
    /// Why it failed.
    pub error: AnalyzeError,
    /// The path up to the failure.
    pub path: Vec<StepRecord>,
    /// The evidence set, when the run got that far.
    pub evidence: Option<EvidenceSet>,
}

impl RunError {
    fn new(error: AnalyzeError, path: Vec<StepRecord>, evidence: Option<EvidenceSet>) -> Self {
        Self {
            error,
            path,
            evidence,
        }
    }

    /// The error's stable code.
    pub fn code(&self) -> &'static str {
        self.error.code()
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for RunError {}

/// Settings of the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Each specialist's limits.
    pub specialist: SpecialistConfig,
    /// Samples per specialist (consensus votes over all of them).
    pub samples: usize,
    /// Temperature of samples when there is more than one.
    pub sample_temperature: f32,
    /// Most evidence lines shown.
    pub max_lines: usize,
    /// Timeout of one tool call.
    pub tool_timeout: Duration,
    /// Personal values replaced by placeholders before any model call.
    pub pseudonymize: Vec<PseudonymKind>,
    /// Put the real values back into the report (they never reach the model either way).
    pub restore: bool,
    /// Vote over the opinions (on), or take the most confident one as it is (off: the
    /// eval's ablation, to measure what the vote adds).
    pub consensus: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            specialist: SpecialistConfig::default(),
            samples: 1,
            sample_temperature: 0.7,
            max_lines: 40,
            tool_timeout: Duration::from_secs(20),
            pseudonymize: vec![PseudonymKind::Email],
            restore: true,
            consensus: true,
        }
    }
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct AgentReport {
    /// The route.
    pub route: Route,
    /// The evidence set the specialists started from.
    pub evidence: EvidenceSet,
    /// Every specialist sample's answer.
    pub opinions: Vec<Opinion>,
    /// The merged answer.
    pub consensus: Consensus,
    /// The path through the graph.
    pub path: Vec<StepRecord>,
    /// Every model call.
    pub calls: Vec<ModelCall>,
    /// Prompt versions used.
    pub prompt_version: String,
}

/// What the retrieval stage found.
enum Found {
    Structured {
        lines: Vec<LogLine>,
        unfiltered: bool,
        note: Option<String>,
    },
    Hybrid(HybridResult),
}

/// The agent pipeline over one log source, optional event source, and one model.
#[derive(Clone)]
pub struct AgentPipeline {
    hybrid: Option<HybridRetriever>,
    source: Arc<dyn LogSource>,
    events: Option<Arc<dyn EventSource>>,
    llm: LlmClient,
    library: Arc<SignatureLibrary>,
    graph: PipelineGraph,
    cfg: PipelineConfig,
}

/// Most troubled pods whose own recent lines are added to the evidence.
const TROUBLED_PODS: usize = 8;

/// Most recent lines added per troubled pod.
const TROUBLED_POD_LINES: usize = 20;

/// The lines `filter` selects.
///
/// - When none match its text filter and there are no warning events either, the scope
///   may still have lines: a healthy service, or a problem that logs no errors (slow calls
///   logged at INFO). Then the scope's lines without the text filter are the evidence, so
///   the answer can say so; the flag says this happened.
/// - A pod a warning event is about (a crash loop, a failed job's pod) whose lines the
///   text filter kept none of: its own last lines are added, unfiltered. A container that
///   exits at start often says why in words no error filter knows ("environment variable
///   DEPLOY_ENV is undefined").
pub async fn lines_in_scope(
    source: &dyn LogSource,
    filter: &LogFilter,
    warnings: &[K8sEvent],
) -> Result<(Vec<LogLine>, bool), loglens_tools::ToolError> {
    let mut lines = source.query(filter).await?;
    if filter.pattern.is_none() || filter.logql.is_some() {
        return Ok((lines, false));
    }
    if lines.is_empty() && warnings.is_empty() {
        let wider = LogFilter {
            pattern: None,
            ..filter.clone()
        };
        let lines = source.query(&wider).await?;
        let widened = !lines.is_empty();
        return Ok((lines, widened));
    }
    let seen: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l.label("pod").map(str::to_string))
        .collect();
    let mut troubled: Vec<&str> = Vec::new();
    for e in warnings {
        if e.kind.eq_ignore_ascii_case("pod")
            && !seen.contains(&e.name)
            && !troubled.contains(&e.name.as_str())
            && filter
                .pod
                .as_deref()
                .is_none_or(|p| loglens_tools::logs::in_workload(&e.name, p))
        {
            troubled.push(&e.name);
        }
    }
    for pod in troubled.into_iter().take(TROUBLED_PODS) {
        let own = LogFilter {
            pattern: None,
            pod: Some(pod.to_string()),
            ..filter.clone()
        };
        let mut found = source.query(&own).await?;
        let skip = found.len().saturating_sub(TROUBLED_POD_LINES);
        lines.extend(found.drain(skip..));
    }
    Ok((lines, false))
}

/// The prompt versions the pipeline uses.
pub fn prompt_versions() -> String {
    format!(
        "{}+{}+{}",
        ROUTER.version,
        SPECIALIST.version,
        crate::prompts::WEIGH_VERSION
    )
}

impl AgentPipeline {
    /// A pipeline.
    pub fn new(
        source: Arc<dyn LogSource>,
        events: Option<Arc<dyn EventSource>>,
        llm: LlmClient,
        library: Arc<SignatureLibrary>,
        cfg: PipelineConfig,
    ) -> Self {
        Self {
            hybrid: None,
            source,
            events,
            llm,
            library,
            graph: PipelineGraph::default(),
            cfg,
        }
    }

    /// The same pipeline with hybrid retrieval available (used when the router or the
    /// request asks for it).
    pub fn with_hybrid(mut self, hybrid: HybridRetriever) -> Self {
        self.hybrid = Some(hybrid);
        self
    }

    /// Hybrid retrieval, when configured.
    pub fn hybrid(&self) -> Option<&HybridRetriever> {
        self.hybrid.as_ref()
    }

    /// The log source.
    pub fn source(&self) -> &Arc<dyn LogSource> {
        &self.source
    }

    /// The Kubernetes event source, when configured.
    pub fn event_source(&self) -> Option<&Arc<dyn EventSource>> {
        self.events.as_ref()
    }

    /// The failure signatures.
    pub fn library(&self) -> &SignatureLibrary {
        &self.library
    }

    /// The same pipeline showing at most `max_lines` evidence lines.
    pub fn with_max_lines(&self, max_lines: usize) -> Self {
        let mut p = self.clone();
        p.cfg.max_lines = max_lines;
        p
    }

    /// Its settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.cfg
    }

    /// The graph.
    pub fn graph(&self) -> &PipelineGraph {
        &self.graph
    }

    /// The model client.
    pub fn llm(&self) -> &LlmClient {
        &self.llm
    }

    /// The tools of one specialist.
    pub fn toolbox(&self, role: Role) -> Toolbox {
        let mut tools: Vec<Arc<dyn DynTool>> = vec![
            Arc::new(QueryLogs::new(self.source.clone())),
            Arc::new(LogPatterns::new(self.source.clone())),
        ];
        if role == Role::Infra
            && let Some(ev) = &self.events
        {
            tools.push(Arc::new(K8sEvents::new(ev.clone())));
        }
        Toolbox::new(tools, self.cfg.tool_timeout)
    }

    fn specialist(&self, role: Role) -> Specialist {
        Specialist::new(
            role,
            self.llm.clone(),
            self.toolbox(role),
            self.cfg.specialist,
        )
    }

    /// Runs the pipeline for one question; the router chooses the retrieval.
    pub async fn run(
        &self,
        question: &str,
        filter: &LogFilter,
        scope: Scope,
        progress: Option<&UnboundedSender<AgentEvent>>,
    ) -> Result<AgentReport, RunError> {
        self.run_with(question, filter, scope, None, progress).await
    }

    /// Runs the pipeline for one question. `forced` overrides the router's retrieval
    /// choice (`/v1` forces structured, `/v2` hybrid); a forced hybrid retrieval that
    /// fails fails the run, a chosen one falls back to structured retrieval.
    pub async fn run_with(
        &self,
        question: &str,
        filter: &LogFilter,
        scope: Scope,
        forced: Option<RetrievalMode>,
        progress: Option<&UnboundedSender<AgentEvent>>,
    ) -> Result<AgentReport, RunError> {
        // The specialists' limits for the model this server has: `answer: auto` decided
        // by its size, and no tool rounds for a model that only chooses, unless asked for
        // (`SpecialistConfig::resolve`).
        let specialist = self.cfg.specialist.resolve(&self.llm).await;
        if specialist.max_steps < self.cfg.specialist.max_steps {
            tracing::info!(
                "no tool rounds: a model under 1B parameters answers from the evidence (--max-steps turns them on)"
            );
        }
        let resolved = AgentPipeline {
            cfg: PipelineConfig {
                specialist,
                ..self.cfg.clone()
            },
            ..self.clone()
        };
        resolved
            .run_resolved(question, filter, scope, forced, progress)
            .await
    }

    async fn run_resolved(
        &self,
        question: &str,
        filter: &LogFilter,
        scope: Scope,
        forced: Option<RetrievalMode>,
        progress: Option<&UnboundedSender<AgentEvent>>,
    ) -> Result<AgentReport, RunError> {
        let emit = |e: AgentEvent| {
            if let Some(tx) = progress {
                let _ = tx.send(e);
            }
        };
        let mut path: Vec<StepRecord> = Vec::new();
        let mut calls: Vec<ModelCall> = Vec::new();
        let mut route: Option<Route> = None;
        let mut lines = Vec::new();
        let mut events: Vec<K8sEvent> = Vec::new();
        let mut evidence: Option<EvidenceSet> = None;
        let mut ranking: Option<Vec<Ranked>> = None;
        let mut opinions: Vec<Opinion> = Vec::new();
        let mut consensus: Option<Consensus> = None;
        let pseudonyms = Arc::new(Mutex::new(Pseudonyms::new(&self.cfg.pseudonymize)));

        for layer in self.graph.layers() {
            let started = Instant::now();
            let specialists: Vec<Role> = layer
                .iter()
                .filter_map(|s| match s {
                    Stage::Infra => Some(Role::Infra),
                    Stage::App => Some(Role::App),
                    _ => None,
                })
                .collect();
            if !specialists.is_empty() {
                let (Some(r), Some(ev)) = (&route, &evidence) else {
                    continue;
                };
                let chosen: Vec<Role> = specialists
                    .iter()
                    .copied()
                    .filter(|role| match r.specialists {
                        SpecialistChoice::Both => true,
                        SpecialistChoice::Infra => *role == Role::Infra,
                        SpecialistChoice::App => *role == Role::App,
                    })
                    .collect();
                let runs = self
                    .run_specialists(question, ev, &chosen, &pseudonyms, progress)
                    .await;
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                for role in &specialists {
                    let stage = if *role == Role::Infra {
                        Stage::Infra
                    } else {
                        Stage::App
                    };
                    if !chosen.contains(role) {
                        path.push(StepRecord {
                            stage,
                            status: StepStatus::Skipped,
                            ms: 0.0,
                            note: format!("route chose {:?}", r.specialists).to_lowercase(),
                        });
                        continue;
                    }
                    let mine: Vec<&Result<Opinion, (usize, AnalyzeError)>> = runs
                        .iter()
                        .filter(|(ro, _)| ro == role)
                        .map(|(_, r)| r)
                        .collect();
                    let ok = mine.iter().filter(|r| r.is_ok()).count();
                    let fallbacks = mine
                        .iter()
                        .filter_map(|r| r.as_ref().ok())
                        .filter(|o| o.fallback.is_some())
                        .count();
                    let tool_calls: usize = mine
                        .iter()
                        .filter_map(|r| r.as_ref().ok())
                        .map(|o| o.tools.len())
                        .sum();
                    let errors: Vec<String> = mine
                        .iter()
                        .filter_map(|r| r.as_ref().err())
                        .map(|(s, e)| format!("sample {s}: {e}"))
                        .collect();
                    path.push(StepRecord {
                        stage,
                        status: if ok > 0 {
                            StepStatus::Ran
                        } else {
                            StepStatus::Failed
                        },
                        ms,
                        note: format!(
                            "{ok}/{} samples answered ({fallbacks} from the evidence alone), {}{}",
                            mine.len(),
                            if self.cfg.specialist.max_steps == 0
                                && self.cfg.specialist.small_model_steps.is_some()
                            {
                                "no tool rounds (a model under 1B parameters answers from the evidence; --max-steps turns them on)".to_string()
                            } else {
                                format!("{tool_calls} tool calls")
                            },
                            if errors.is_empty() {
                                String::new()
                            } else {
                                format!("; {}", errors.join("; "))
                            }
                        ),
                    });
                }
                let mut first_error = None;
                for (_, r) in runs {
                    match r {
                        Ok(o) => {
                            calls.extend(o.calls.iter().cloned());
                            opinions.push(o);
                        }
                        Err((_, e)) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                if opinions.is_empty() {
                    let error = first_error.unwrap_or_else(|| {
                        AnalyzeError::BadRequest("no specialist was chosen".into())
                    });
                    return Err(RunError::new(error, path, evidence));
                }
                continue;
            }
            for stage in layer {
                match stage {
                    Stage::Router => {
                        let span = tracing::info_span!(
                            "router",
                            "loglens.route.retrieval" = tracing::field::Empty,
                            "loglens.route.specialists" = tracing::field::Empty,
                            "loglens.route.decided_by" = tracing::field::Empty,
                            "loglens.route.reason" = tracing::field::Empty,
                        );
                        let (r, c) = Router::new(self.llm.clone())
                            .route(question, scope)
                            .instrument(span.clone())
                            .await;
                        span.record(
                            "loglens.route.retrieval",
                            format!("{:?}", r.retrieval).to_lowercase(),
                        );
                        span.record(
                            "loglens.route.specialists",
                            format!("{:?}", r.specialists).to_lowercase(),
                        );
                        span.record(
                            "loglens.route.decided_by",
                            format!("{:?}", r.decided_by).to_lowercase(),
                        );
                        span.record("loglens.route.reason", r.reason.as_str());
                        calls.extend(c);
                        emit(AgentEvent::Route(r.clone()));
                        path.push(StepRecord {
                            stage,
                            status: StepStatus::Ran,
                            ms: started.elapsed().as_secs_f64() * 1000.0,
                            note: format!(
                                "{:?} retrieval, {:?} specialists, by {:?}: {}",
                                r.retrieval, r.specialists, r.decided_by, r.reason
                            )
                            .to_lowercase(),
                        });
                        route = Some(r);
                    }
                    Stage::Retrieval => {
                        let wanted = forced
                            .or(route.as_ref().map(|r| r.retrieval))
                            .unwrap_or(RetrievalMode::Structured);
                        let span = tracing::info_span!(
                            "retrieval",
                            "loglens.retrieval.mode" = %format!("{wanted:?}").to_lowercase(),
                            "loglens.retrieval.filter" = %filter.describe(),
                            "loglens.retrieval.source" = %self.source.describe(),
                            "loglens.retrieval.lines" = tracing::field::Empty,
                            "loglens.retrieval.events" = tracing::field::Empty,
                            "loglens.retrieval.unfiltered" = tracing::field::Empty,
                            "loglens.retrieval.semantic_hits" = tracing::field::Empty,
                            otel.status_code = tracing::field::Empty,
                        );
                        let found: (Vec<K8sEvent>, Result<Found, AnalyzeError>) = async {
                            let mut events = Vec::new();
                            if let Some(es) = &self.events {
                                let ef = EventFilter {
                                    namespace: filter.namespace.clone(),
                                    object: filter.pod.clone(),
                                    kind: None,
                                    warnings_only: true,
                                    since: filter.start,
                                };
                                match loglens_tools::k8s::settled::live_warnings(es.as_ref(), &ef)
                                    .await
                                {
                                    Ok(e) => events = e,
                                    Err(e) => {
                                        tracing::warn!(error = %e, "events unavailable; going on without them")
                                    }
                                }
                            }
                            let mut hybrid_note = None;
                            if wanted == RetrievalMode::Hybrid {
                                match (&self.hybrid, forced) {
                                    (Some(h), _) => {
                                        match h.retrieve(self.source.as_ref(), question, filter).await {
                                            Ok(found) => {
                                                return (events, Ok(Found::Hybrid(found)));
                                            }
                                            Err(e) if forced == Some(RetrievalMode::Hybrid) => {
                                                return (events, Err(e));
                                            }
                                            Err(e) => {
                                                tracing::warn!(error = %e, "hybrid retrieval failed; structured retrieval used");
                                                hybrid_note = Some(format!(
                                                    "; hybrid retrieval failed ({e}), structured retrieval used"
                                                ));
                                            }
                                        }
                                    }
                                    (None, Some(RetrievalMode::Hybrid)) => {
                                        return (
                                            events,
                                            Err(AnalyzeError::BadRequest(
                                                "hybrid retrieval needs an embedding server and a vector index; none is configured".into(),
                                            )),
                                        );
                                    }
                                    (None, _) => {
                                        hybrid_note = Some(
                                            "; hybrid retrieval is not configured (no embedding server), structured retrieval used".into(),
                                        );
                                    }
                                }
                            }
                            let found =
                                lines_in_scope(self.source.as_ref(), filter, &events)
                                    .await
                                    .map(|(lines, unfiltered)| Found::Structured {
                                        lines,
                                        unfiltered,
                                        note: hybrid_note,
                                    })
                                    .map_err(AnalyzeError::from);
                            (events, found)
                        }
                        .instrument(span.clone())
                        .await;
                        let outcome = found;
                        let found: Found;
                        (events, found) = match outcome {
                            (ev, Ok(found)) => (ev, found),
                            (_, Err(e)) => {
                                span.record("otel.status_code", "ERROR");
                                return Err(RunError::new(e, path, None));
                            }
                        };
                        let mut note;
                        match found {
                            Found::Structured {
                                lines: l,
                                unfiltered,
                                note: extra,
                            } => {
                                lines = l;
                                span.record("loglens.retrieval.unfiltered", unfiltered);
                                note = format!("{} lines, {} events", lines.len(), events.len());
                                if unfiltered {
                                    note.push_str(
                                        "; no line matched the text filter, so the scope's lines without it",
                                    );
                                }
                                note.push_str(extra.as_deref().unwrap_or(""));
                            }
                            Found::Hybrid(h) => {
                                span.record("loglens.retrieval.semantic_hits", h.semantic_hits);
                                note = format!(
                                    "{} lines, {} events; {}",
                                    h.lines.len(),
                                    events.len(),
                                    h.note
                                );
                                lines = h.lines;
                                ranking = Some(h.ranking);
                            }
                        }
                        span.record("loglens.retrieval.lines", lines.len());
                        span.record("loglens.retrieval.events", events.len());
                        crate::metrics::record_retrieval(lines.len(), events.len());
                        if lines.is_empty() && events.is_empty() {
                            let error = AnalyzeError::NoLines {
                                filter: filter.describe(),
                                source_desc: self.source.describe(),
                            };
                            return Err(RunError::new(error, path, None));
                        }
                        path.push(StepRecord {
                            stage,
                            status: StepStatus::Ran,
                            ms: started.elapsed().as_secs_f64() * 1000.0,
                            note,
                        });
                    }
                    Stage::Evidence => {
                        let span = tracing::info_span!(
                            "evidence",
                            "loglens.evidence.candidates" = tracing::field::Empty,
                            "loglens.evidence.patterns" = tracing::field::Empty,
                            "loglens.evidence.lines_shown" = tracing::field::Empty,
                        );
                        let ev = self
                            .evidence(
                                question,
                                &lines,
                                &events,
                                route.as_ref(),
                                ranking.as_deref(),
                                &pseudonyms,
                            )
                            .instrument(span.clone())
                            .await;
                        span.record(
                            "loglens.evidence.candidates",
                            ev.candidates
                                .iter()
                                .map(|c| c.candidate.signature.as_str())
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                        span.record("loglens.evidence.patterns", ev.patterns.len());
                        span.record("loglens.evidence.lines_shown", ev.lines.len());
                        crate::metrics::record_lines_shown(ev.lines.len());
                        emit(AgentEvent::Evidence {
                            matched: ev.matched,
                            lines: ev.lines.clone(),
                            candidates: ev
                                .candidates
                                .iter()
                                .map(|c| c.candidate.signature.clone())
                                .collect(),
                            patterns: ev.patterns.len(),
                        });
                        path.push(StepRecord {
                            stage,
                            status: StepStatus::Ran,
                            ms: started.elapsed().as_secs_f64() * 1000.0,
                            note: format!(
                                "{} candidates, {} patterns, {} lines shown",
                                ev.candidates.len(),
                                ev.patterns.len(),
                                ev.lines.len()
                            ),
                        });
                        evidence = Some(ev);
                    }
                    Stage::Consensus => {
                        // No await below: entering the span for this block is safe.
                        let span = tracing::info_span!(
                            "consensus",
                            "loglens.consensus.enabled" = self.cfg.consensus,
                            "loglens.consensus.opinions" = opinions.len(),
                            "loglens.consensus.agreement" = tracing::field::Empty,
                            "loglens.consensus.root_cause" = tracing::field::Empty,
                        );
                        let _entered = span.enter();
                        let rank: Vec<String> = evidence
                            .as_ref()
                            .map(|e| {
                                e.candidates
                                    .iter()
                                    .map(|c| c.candidate.signature.clone())
                                    .collect()
                            })
                            .unwrap_or_default();
                        let mut ballots: Vec<Ballot> = opinions
                            .iter()
                            .map(|o| Ballot {
                                voter: format!("{}#{}", o.agent.name(), o.sample),
                                finding: o.finding.clone(),
                            })
                            .collect();
                        if !self.cfg.consensus {
                            // No vote: the most confident opinion (the first on a tie).
                            let best =
                                ballots
                                    .iter()
                                    .enumerate()
                                    .fold(None, |best, (i, b)| match best {
                                        Some((_, c)) if c >= b.finding.confidence => best,
                                        _ => Some((i, b.finding.confidence)),
                                    });
                            ballots = best
                                .map(|(i, _)| vec![ballots.swap_remove(i)])
                                .unwrap_or_default();
                        }
                        let c = merge(&ballots, &rank);
                        if let Some(c) = &c {
                            span.record("loglens.consensus.agreement", c.agreement);
                            span.record(
                                "loglens.consensus.root_cause",
                                c.finding.error_signature.as_str(),
                            );
                            emit(AgentEvent::Consensus(Box::new(c.clone())));
                            path.push(StepRecord {
                                stage,
                                status: StepStatus::Ran,
                                ms: started.elapsed().as_secs_f64() * 1000.0,
                                note: format!(
                                    "{} opinions, agreement {:.2}, {} disagreements",
                                    c.opinions,
                                    c.agreement,
                                    c.disagreements.len()
                                ),
                            });
                        }
                        consensus = c;
                    }
                    Stage::Infra | Stage::App => {}
                }
            }
        }
        if self.cfg.restore
            && let Ok(p) = pseudonyms.lock()
            && !p.is_empty()
        {
            if let Some(ev) = &mut evidence {
                restore_lines(&p, &mut ev.lines);
                for pat in &mut ev.patterns {
                    pat.template = p.restore(&pat.template);
                }
            }
            for o in &mut opinions {
                restore_finding(&p, &mut o.finding);
                restore_lines(&p, &mut o.added_lines);
            }
            if let Some(c) = &mut consensus {
                restore_finding(&p, &mut c.finding);
            }
        }
        match (route, evidence, consensus) {
            (Some(route), Some(evidence), Some(consensus)) => Ok(AgentReport {
                route,
                evidence,
                opinions,
                consensus,
                path,
                calls,
                prompt_version: prompt_versions(),
            }),
            (_, evidence, _) => Err(RunError::new(
                AnalyzeError::BadRequest("the pipeline graph has no path to an answer".into()),
                path,
                evidence,
            )),
        }
    }

    /// Runs the analyzers and chooses lines within the budget of the most demanding
    /// specialist the route chose. The prompt around the lines is measured with the model
    /// server's tokenizer when it has one (an estimate on the safe side otherwise).
    async fn evidence(
        &self,
        question: &str,
        lines: &[loglens_tools::logs::LogLine],
        events: &[K8sEvent],
        route: Option<&Route>,
        ranking: Option<&[Ranked]>,
        pseudonyms: &Mutex<Pseudonyms>,
    ) -> EvidenceSet {
        // Lines that speak to the model go no further (they are listed as withheld).
        let screened = crate::evidence::screen::screen(lines, events);
        let ranking: Option<Vec<Ranked>> = ranking.map(|r| {
            r.iter()
                .filter_map(|x| {
                    let index = (*screened.line_index.get(x.index)?)?;
                    Some(Ranked { index, ..*x })
                })
                .collect()
        });
        let (lines, events) = (&screened.lines[..], &screened.events[..]);
        let mut analysis = analyze(lines, events, &self.library.for_question(question));
        // Personal values are replaced before anything reaches the model server, the
        // tokenizer included.
        if let Ok(mut p) = pseudonyms.lock()
            && !p.is_empty()
        {
            for pat in &mut analysis.patterns {
                pat.template = p.mask(&pat.template);
            }
        }
        let bare = analysis.without_lines();
        let roles: Vec<Role> = match route.map(|r| r.specialists) {
            Some(SpecialistChoice::Infra) => vec![Role::Infra],
            Some(SpecialistChoice::App) => vec![Role::App],
            _ => vec![Role::Infra, Role::App],
        };
        let mut fixed = 0;
        for r in &roles {
            let text = self.specialist(*r).fixed_text(question, &bare);
            let n = match self.llm.count_tokens(&text).await {
                Some(n) => n,
                None => estimate_tokens(&text),
            };
            fixed = fixed.max(n);
        }
        let budget = LineBudget {
            max_lines: self.cfg.max_lines,
            max_tokens: self.cfg.specialist.line_tokens(fixed),
            max_line_chars: self.cfg.specialist.max_line_chars,
        };
        let mut ev = analysis.choose_ranked(lines, events, &budget, ranking.as_deref());
        ev.withheld = screened.withheld;
        if let Ok(mut p) = pseudonyms.lock()
            && !p.is_empty()
        {
            for l in &mut ev.lines {
                l.text = p.mask(&l.text);
            }
        }
        ev
    }

    /// Runs every sample of every chosen specialist, in parallel.
    async fn run_specialists(
        &self,
        question: &str,
        evidence: &EvidenceSet,
        roles: &[Role],
        pseudonyms: &Arc<Mutex<Pseudonyms>>,
        progress: Option<&UnboundedSender<AgentEvent>>,
    ) -> Vec<(Role, Result<Opinion, (usize, AnalyzeError)>)> {
        let samples = self.cfg.samples.max(1);
        let mut jobs = Vec::new();
        for &role in roles {
            for sample in 1..=samples {
                let options = if samples == 1 {
                    CallOptions::default()
                } else {
                    CallOptions {
                        temperature: Some(self.cfg.sample_temperature),
                        max_tokens: None,
                        seed: Some(sample as u64),
                    }
                };
                let specialist = self.specialist(role).with_pseudonyms(pseudonyms.clone());
                let span = tracing::info_span!(
                    "invoke_agent",
                    otel.name = %format!("invoke_agent {}", role.name()),
                    otel.status_code = tracing::field::Empty,
                    "gen_ai.operation.name" = "invoke_agent",
                    "gen_ai.agent.name" = role.name(),
                    "loglens.sample" = sample,
                    "loglens.tool_calls" = tracing::field::Empty,
                    "loglens.fallback" = tracing::field::Empty,
                    "loglens.finding.root_cause" = tracing::field::Empty,
                    "error.type" = tracing::field::Empty,
                );
                jobs.push(async move {
                    let r = specialist
                        .run(question, evidence, sample, options, progress)
                        .instrument(span.clone())
                        .await;
                    match &r {
                        Ok(o) => {
                            span.record("loglens.tool_calls", o.tools.len());
                            span.record("loglens.fallback", o.fallback.is_some());
                            span.record(
                                "loglens.finding.root_cause",
                                o.finding.error_signature.as_str(),
                            );
                        }
                        Err(e) => {
                            span.record("otel.status_code", "ERROR");
                            span.record("error.type", e.code());
                        }
                    }
                    match &r {
                        Ok(o) => {
                            if let Some(tx) = progress {
                                let _ = tx.send(AgentEvent::Finding {
                                    agent: role.name().into(),
                                    sample,
                                    finding: Box::new(o.finding.clone()),
                                    weighed: o.weighed.as_ref().map(|w| w.reason()),
                                });
                            }
                        }
                        Err(e) => {
                            if let Some(tx) = progress {
                                let _ = tx.send(AgentEvent::AgentFailed {
                                    agent: role.name().into(),
                                    sample,
                                    error: e.to_string(),
                                });
                            }
                        }
                    }
                    (role, r.map_err(|e| (sample, e)))
                });
            }
        }
        futures::future::join_all(jobs).await
    }
}

fn restore_lines(p: &Pseudonyms, lines: &mut [LineRef]) {
    for l in lines {
        l.text = p.restore(&l.text);
    }
}

/// Puts the real values back into a finding the model wrote with placeholders.
fn restore_finding(p: &Pseudonyms, f: &mut Finding) {
    for field in [
        &mut f.root_cause,
        &mut f.component,
        &mut f.error_signature,
        &mut f.summary,
        &mut f.action,
    ] {
        *field = p.restore(field);
    }
    restore_lines(p, &mut f.evidence);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_put_the_specialists_side_by_side() {
        let layers = PipelineGraph::default().layers();
        assert_eq!(
            layers,
            vec![
                vec![Stage::Router],
                vec![Stage::Retrieval],
                vec![Stage::Evidence],
                vec![Stage::Infra, Stage::App],
                vec![Stage::Consensus],
            ]
        );
    }

    fn event(kind: &str, name: &str, reason: &str) -> K8sEvent {
        K8sEvent {
            namespace: Some("default".into()),
            kind: kind.into(),
            name: name.into(),
            event_type: "Warning".into(),
            reason: reason.into(),
            message: String::new(),
            count: 3,
            last_seen: None,
            age: None,
            source: None,
        }
    }

    #[tokio::test]
    async fn a_troubled_pods_own_lines_join_the_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.jsonl");
        let line = |pod: &str, msg: &str| {
            format!(r#"{{"namespace":"default","pod":"{pod}","msg":"{msg}"}}"#)
        };
        let text = [
            line(
                "worker-7f9c8d6b5-abcde",
                "Environment variable DEPLOY_ENV is undefined",
            ),
            line("web-5d8f7c9b4-fghij", "GET /cart failed: upstream error"),
            line("web-5d8f7c9b4-fghij", "GET / 200"),
            line("quiet-6c7d8e9f0-klmno", "all good"),
        ]
        .join("\n");
        std::fs::write(&path, text).unwrap();
        let source = loglens_tools::logs::FileLogSource::new(vec![path]);
        let filter = LogFilter::errors();
        let crash = event("Pod", "worker-7f9c8d6b5-abcde", "BackOff");
        // The crash-looping pod's own line joins the error lines; a quiet pod's does not.
        let (lines, widened) = lines_in_scope(&source, &filter, std::slice::from_ref(&crash))
            .await
            .unwrap();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert!(!widened);
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("DEPLOY_ENV")), "{texts:?}");
        // A pod outside the filter's workload is not added.
        let only_web = LogFilter {
            pod: Some("web".into()),
            ..LogFilter::errors()
        };
        let (lines, _) = lines_in_scope(&source, &only_web, &[crash]).await.unwrap();
        assert_eq!(lines.len(), 1);
        // No error lines and no warnings: the scope's lines, flagged as widened.
        let quiet = LogFilter {
            pod: Some("quiet".into()),
            ..LogFilter::errors()
        };
        let (lines, widened) = lines_in_scope(&source, &quiet, &[]).await.unwrap();
        assert!(widened);
        assert_eq!(lines.len(), 1);
    }

    #[test]
    fn explain_names_every_stage_and_edge() {
        let text = PipelineGraph::default().explain();
        for s in [
            "router",
            "retrieval",
            "evidence",
            "infra",
            "app",
            "consensus",
            "digraph",
        ] {
            assert!(text.contains(s), "{s} missing in\n{text}");
        }
        assert!(text.contains("evidence   → app, infra"), "{text}");
    }
}
