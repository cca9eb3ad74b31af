//! The agent pipeline: six stages, run as a straight sequence.
//!
//! ```text
//! router → retrieval → evidence → infra ─┐
//!                               └→ app ──┴→ consensus → report
//! ```
//! Each stage is one function with typed input and output, in its own file, and owns its
//! tracing span, its step record and its budget:
//!
//! | stage | file | gives |
//! |---|---|---|
//! | route | `route.rs` | [`Route`]: structured or hybrid retrieval; which specialists |
//! | retrieve | `retrieve.rs` | the scope's lines and live warning events |
//! | evidence | `evidence.rs` | [`EvidenceSet`]: candidates, patterns, the lines shown |
//! | specialists | `specialists.rs` | one [`Opinion`] per sample of each chosen specialist, in parallel |
//! | consensus | `consensus.rs` | [`Consensus`]: the opinions merged field by field |
//! | report | `report.rs` | [`AgentReport`], with the path the run took |
//!
//! A quiet scope (no line and no warning event in a scope that names something) skips from
//! retrieval to its report: nothing is failing there (`quiet.rs`).
//!
//! The route switches a specialist off (a question about OOM kills skips the app
//! specialist), and every run records its path: each stage, ran or skipped, how long, and
//! a note. [`PipelineGraph`] (`graph.rs`) describes the same stages as a graph for
//! `loglens explain`.
mod consensus;
mod evidence;
mod graph;
mod quiet;
mod report;
mod retrieve;
mod route;
mod specialists;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use loglens_tools::k8s::EventSource;
use loglens_tools::k8s_events::K8sEvents;
use loglens_tools::k8s_state::K8sState;
use loglens_tools::logs::{LogFilter, LogSource, Scope};
use loglens_tools::query_logs::QueryLogs;
use loglens_tools::redact::{PseudonymKind, Pseudonyms};
use tokio::sync::mpsc::UnboundedSender;

pub use graph::{PipelineGraph, Stage};
pub use report::{AgentReport, RunError, StepRecord, StepStatus};

use crate::error::AnalyzeError;
use crate::events::AgentEvent;
use crate::evidence::SignatureLibrary;
use crate::evidence::pattern_tool::LogPatterns;
use crate::llm::LlmClient;
use crate::prompts::{ROUTER, SPECIALIST};
use crate::retrieval::HybridRetriever;
use crate::router::RetrievalMode;
use crate::specialist::{Role, Specialist, SpecialistConfig};
use crate::toolbox::{DynTool, Toolbox};
#[cfg(doc)]
use crate::{
    consensus::Consensus, evidence::collect::EvidenceSet, router::Route, specialist::Opinion,
};
use report::RunLog;

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
            tools.push(Arc::new(K8sState::new(ev.clone())));
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
        scope: &Scope,
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
        scope: &Scope,
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

    /// The run: each stage in turn. A stage that fails ends the run with what it had
    /// done (the path, and the evidence once there is some), so the caller can store it.
    async fn run_resolved(
        &self,
        question: &str,
        filter: &LogFilter,
        scope: &Scope,
        forced: Option<RetrievalMode>,
        progress: Option<&UnboundedSender<AgentEvent>>,
    ) -> Result<AgentReport, RunError> {
        let mut log = RunLog::new(progress);
        let pseudonyms = Arc::new(Mutex::new(Pseudonyms::new(&self.cfg.pseudonymize)));
        let route = self.route(question, scope, &mut log).await;
        let retrieved = match self
            .retrieve(question, filter, forced, &route, &mut log)
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(log.fail(e, None)),
        };
        if let Some(quiet) = &retrieved.quiet {
            return Ok(self.quiet(filter, quiet, route, log));
        }
        let evidence = self
            .evidence(question, &retrieved, &route, &pseudonyms, &mut log)
            .await;
        let route = self.side(route, &evidence, &mut log);
        let opinions = match self
            .specialists(question, &evidence, &route, &pseudonyms, &mut log)
            .await
        {
            Ok(o) => o,
            Err(e) => return Err(log.fail(e, Some(evidence))),
        };
        let Some(consensus) = self.consensus(&opinions, &evidence, &mut log) else {
            let error = AnalyzeError::BadRequest("no opinion to merge".into());
            return Err(log.fail(error, Some(evidence)));
        };
        Ok(self.report(route, evidence, opinions, consensus, log, &pseudonyms))
    }
}
