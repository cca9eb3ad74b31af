//! Replaying a case through a variant.
//!
//! A case replays offline: its lines are written to a JSON-lines file that the embedded
//! file source reads (the same code path as `--logs`), or, with `--loki`, pushed into
//! Loki and read back through the Loki client ([`crate::loki_replay`]); its events are
//! served from memory. Variants:
//! - `evidence`: no model at all. The router's rules (the safe default when they
//!   disagree), retrieval, the signature library and the pattern miner; the answer is the
//!   top candidate. The floor every model-backed variant must beat.
//! - `agents`: the whole agent pipeline (router, specialists with tools, consensus); with
//!   `--hybrid`, the router's choice of hybrid retrieval is carried out (router "auto").
//! - `baseline`: the most recent lines and one extraction call.
//! - `baseline` and `hybrid` without a model (`--retrieval-only`): the lines only.
//! - `hybrid`: the baseline's extraction over hybrid retrieval (the case's lines searched
//!   by meaning, fused with recency): `/v2/analyze` against `baseline`'s `/v1`. Each case
//!   gets a fresh vector index; the embedding client (and its cache) is shared.
use loglens_agents::Diagnosis;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use loglens_agents::evidence::SignatureLibrary;
use loglens_agents::evidence::collect::{EvidenceSet, LineBudget, collect};
use loglens_agents::llm::{LlmClient, ModelCall, busy_ms};
use loglens_agents::retrieval::{HybridConfig, HybridRetriever};
use loglens_agents::retrieval::{facts_from_lines, lines_in_scope};
use loglens_agents::router::{DecidedBy, RetrievalMode, Route, SpecialistChoice};
use loglens_agents::specialist::{Role, evidence_finding};
use loglens_agents::{
    AgentPipeline, BaselineAnalyzer, BaselineConfig, Finding, LineRef, PipelineConfig,
};
use loglens_tools::ToolError;
use loglens_tools::embed::Embedder;
use loglens_tools::k8s::{ClusterState, EventFilter, EventSource, K8sEvent, current_events};
use loglens_tools::logs::{FileLogSource, LogFilter, LogLine, LogSource};
use loglens_tools::vector::SqliteVectorStore;
use serde::{Deserialize, Serialize};

use crate::case::GoldenCase;
use crate::extract::{detect_level, message_part};
use crate::loki_replay::{LoadedCase, LokiReplay};
use loglens_agents::wording::unmatched_wording;

/// Which pipeline a case goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// No model: the evidence's top candidate.
    Evidence,
    /// The agent pipeline.
    Agents,
    /// The baseline.
    Baseline,
    /// The baseline's extraction over hybrid retrieval.
    Hybrid,
}

impl Variant {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Evidence => "evidence",
            Variant::Agents => "agents",
            Variant::Baseline => "baseline",
            Variant::Hybrid => "hybrid",
        }
    }
}

/// What one case produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseRun {
    /// The case.
    pub case: String,
    /// The variant.
    pub variant: Variant,
    /// The route taken (`structured`/`hybrid`, `infra`/`app`/`both`), when the variant
    /// routes.
    pub route: Option<(String, String)>,
    /// The answer.
    pub finding: Option<Finding>,
    /// Why there is no answer.
    pub error: Option<String>,
    /// Wall time, ms.
    pub latency_ms: f64,
    /// Time with a model call in flight, ms.
    pub model_ms: f64,
    /// Model calls.
    pub model_calls: usize,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// Tool calls made.
    pub tool_calls: usize,
    /// Tool calls that ran (not refused, not failed).
    #[serde(default)]
    pub tool_calls_ok: usize,
    /// Lines the tools gave the model that the evidence had not shown it already.
    #[serde(default)]
    pub tool_lines_new: usize,
    /// The case's lines the pipeline retrieved (indexes into the case's `logs`), in the
    /// order they were shown.
    #[serde(default)]
    pub retrieved: Vec<usize>,
    /// The case's lines the answer cites, in citation order.
    #[serde(default)]
    pub cited: Vec<usize>,
    /// The trace the case ran in (`loglens trace ID`), when traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// A line reference as an index into the case's lines: the replay writes the case's
/// lines to one file in order, so its 1-based line number is the index plus one. Events
/// and lines from elsewhere have none.
fn case_index(r: &LineRef, file: &str) -> Option<usize> {
    (r.source == file && r.line_no >= 1).then(|| (r.line_no - 1) as usize)
}

/// How lines read back map to the case's lines.
enum LineIndex {
    /// Read from the replay's file: by line number.
    File(String),
    /// Read from Loki: by push time.
    Loki(Box<LoadedCase>),
}

impl LineIndex {
    fn of(&self, r: &LineRef) -> Option<usize> {
        match self {
            LineIndex::File(file) => case_index(r, file),
            LineIndex::Loki(loaded) => loaded.case_index(r),
        }
    }
}

fn indexes(refs: &[LineRef], lines: &LineIndex) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for i in refs.iter().filter_map(|r| lines.of(r)) {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Events and the recorded state, from memory.
struct CaseEvents {
    events: Vec<K8sEvent>,
    state: Option<ClusterState>,
}

#[async_trait]
impl EventSource for CaseEvents {
    fn describe(&self) -> String {
        "the case's recorded events".into()
    }
    async fn events(&self, filter: &EventFilter) -> Result<Vec<K8sEvent>, ToolError> {
        let mut out: Vec<K8sEvent> = self
            .events
            .iter()
            .filter(|e| filter.matches(e))
            .cloned()
            .collect();
        out.sort_by_key(|e| (!e.is_state(), !e.is_warning(), std::cmp::Reverse(e.count)));
        Ok(out)
    }
    async fn state(&self, _filter: &EventFilter) -> Result<Option<ClusterState>, ToolError> {
        Ok(self.state.clone())
    }
}

fn word(v: impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The floor's answer when no signature matched: from the lines' own levels.
fn level_finding(question: &str, lines: &[LogLine], ev: &EvidenceSet) -> Finding {
    let levels: Vec<loglens_agents::Severity> = lines.iter().map(detect_level).collect();
    let severity = levels
        .iter()
        .copied()
        .max()
        .unwrap_or(loglens_agents::Severity::Info);
    let worst: Vec<&LogLine> = lines
        .iter()
        .zip(&levels)
        .filter(|(_, l)| **l == severity)
        .map(|(line, _)| line)
        .collect();
    let mut by_stream: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for l in &worst {
        *by_stream.entry(l.stream_name()).or_default() += 1;
    }
    // The question's subject when it has lines in view, else where the worst lines come
    // from, else the evidence's first component, else the question's subject (nothing in
    // view: "user-api logged no errors" is still about user-api).
    let named = loglens_agents::router::named_workloads(question);
    let in_view = |w: &String| {
        lines
            .iter()
            .any(|l| loglens_tools::logs::in_workload(l.stream_name(), w))
    };
    let component = named
        .iter()
        .find(|w| in_view(w))
        .cloned()
        .or_else(|| {
            by_stream
                .iter()
                .max_by_key(|(name, n)| (**n, std::cmp::Reverse(**name)))
                .map(|(name, _)| loglens_agents::evidence::signatures::workload(name))
        })
        .or_else(|| ev.components.first().cloned())
        .or_else(|| named.first().cloned())
        .unwrap_or_else(|| "unknown".into());
    if severity == loglens_agents::Severity::Info {
        return Finding {
            cause: Some("other".into()),
            diagnosis: Diagnosis {
                detail: None,
                root_cause: "No known failure signature and no warning or error lines.".into(),
                severity,
                component,
                error_signature: "none".into(),
                summary: format!("{} lines, no candidate cause.", ev.matched),
                action:
                    "Nothing to do, unless the question is about something the logs do not show."
                        .into(),
            },
            evidence: ev.lines.last().cloned().into_iter().collect(),
            confidence: 0.2,
        };
    }
    let message = worst
        .first()
        .map(|l| message_part(&l.text).to_string())
        .unwrap_or_default();
    // The evidence lines shown that are at the worst level.
    let cited: Vec<LineRef> = ev
        .lines
        .iter()
        .filter(|r| {
            worst
                .iter()
                .any(|l| l.source == r.source && l.line_no == r.line_no)
        })
        .take(8)
        .cloned()
        .collect();
    let (root_cause, action) = unmatched_wording(&component, &message);
    Finding {
        cause: Some("other".into()),
        diagnosis: Diagnosis {
            detail: None,
            root_cause,
            severity,
            component: component.clone(),
            error_signature: message.chars().take(120).collect(),
            summary: format!(
                "{} {severity} line(s) of {}, most from {component}.",
                worst.len(),
                lines.len()
            ),
            action,
        },
        evidence: if cited.is_empty() {
            ev.lines.last().cloned().into_iter().collect()
        } else {
            cited
        },
        confidence: 0.3,
    }
}

/// What a replay reads: the case's lines (in a file, or loaded into Loki), its events
/// and recorded state, and the filter of its scope.
struct Setup {
    /// Holds the lines file (and a hybrid run's vector store) until the replay ends.
    dir: tempfile::TempDir,
    source: Arc<dyn LogSource>,
    index: LineIndex,
    events: Arc<dyn EventSource>,
    filter: LogFilter,
}

async fn set_up(case: &GoldenCase, loki: Option<&LokiReplay>) -> anyhow::Result<Setup> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("logs.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for l in &case.logs {
            serde_json::to_writer(&mut f, l)?;
            f.write_all(b"\n")?;
        }
        f.flush()?;
    }
    let (source, index, window): (Arc<dyn LogSource>, LineIndex, _) = match loki {
        None => (
            Arc::new(FileLogSource::new(vec![path.clone()])),
            LineIndex::File(path.display().to_string()),
            None,
        ),
        Some(loki) => {
            let loaded = loki.load(&case.id, &path).await?;
            let window = Some((loaded.start, loaded.end));
            (
                Arc::new(loaded.source.clone()),
                LineIndex::Loki(Box::new(loaded)),
                window,
            )
        }
    };
    // The recorded state supersedes stale events and adds what it shows is abnormal.
    let state = (!case.state.is_empty()).then(|| {
        ClusterState::from_recorded(case.state.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    });
    let case_events = match &state {
        None => case.events.clone(),
        Some(state) => current_events(state, case.events.clone()),
    };
    let events: Arc<dyn EventSource> = Arc::new(CaseEvents {
        events: case_events,
        state,
    });
    let filter = LogFilter {
        start: window.map(|(s, _)| s),
        end: window.map(|(_, e)| e),
        namespace: case.filters.namespace.clone(),
        pod: case.filters.pod.clone(),
        container: case.filters.container.clone(),
        node: case.filters.node.clone(),
        ..LogFilter::errors()
    };
    Ok(Setup {
        dir,
        source,
        index,
        events,
        filter,
    })
}

impl CaseRun {
    /// A run of `case` with nothing recorded yet.
    fn new(case: &str, variant: Variant) -> Self {
        CaseRun {
            case: case.to_string(),
            variant,
            route: None,
            finding: None,
            error: None,
            latency_ms: 0.0,
            model_ms: 0.0,
            model_calls: 0,
            tokens: 0,
            tool_calls: 0,
            tool_calls_ok: 0,
            tool_lines_new: 0,
            retrieved: Vec::new(),
            cited: Vec::new(),
            trace_id: None,
        }
    }
}

/// Replays one case. Errors of the run are recorded in the result, not returned; an `Err`
/// means the case could not be set up.
pub async fn replay(
    case: &GoldenCase,
    variant: Variant,
    llm: Option<&LlmClient>,
    cfg: &PipelineConfig,
    library: &Arc<SignatureLibrary>,
    hybrid: Option<(&Embedder, HybridConfig)>,
    loki: Option<&LokiReplay>,
) -> anyhow::Result<CaseRun> {
    let setup = set_up(case, loki).await?;
    let mut run = CaseRun::new(&case.id, variant);
    let started = Instant::now();
    let calls = match variant {
        Variant::Evidence => {
            evidence_floor(case, &setup, cfg, library, &mut run).await?;
            Vec::new()
        }
        Variant::Agents => agents(case, &setup, llm, cfg, library, hybrid, &mut run).await?,
        Variant::Baseline | Variant::Hybrid => {
            baseline(case, &setup, variant, llm, cfg, hybrid, &mut run).await?
        }
    };
    let index = &setup.index;
    if let Some(f) = &run.finding {
        run.cited = indexes(&f.evidence, index);
    }
    run.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    run.model_ms = busy_ms(&calls);
    run.model_calls = calls.len();
    run.tokens = calls
        .iter()
        .map(|c| c.prompt_tokens + c.completion_tokens)
        .sum();
    Ok(run)
}

/// The evidence floor: what the evidence alone answers, no model.
async fn evidence_floor(
    case: &GoldenCase,
    setup: &Setup,
    cfg: &PipelineConfig,
    library: &Arc<SignatureLibrary>,
    run: &mut CaseRun,
) -> anyhow::Result<()> {
    let Setup {
        source,
        index,
        events,
        filter,
        ..
    } = setup;
    let rules = Route::by_rules(&case.question, &case.filters);
    let evs = loglens_tools::k8s::settled::live_warnings(
        events.as_ref(),
        &EventFilter {
            namespace: filter.namespace.clone(),
            warnings_only: true,
            ..EventFilter::default()
        },
    )
    .await?;
    // As the agent pipeline retrieves: no error lines and no warnings, so the
    // scope's lines.
    let (lines, _) = lines_in_scope(source.as_ref(), filter, &evs).await?;
    let mut evs = evs;
    evs.splice(
        0..0,
        facts_from_lines(events.as_ref(), filter, &lines).await,
    );
    // As the pipeline does: lines that address the model are out of the evidence.
    let screened = loglens_agents::evidence::screen::screen(&lines, &evs);
    let (lines, evs) = (screened.lines, screened.events);
    let ev = collect(
        &lines,
        &evs,
        &library.for_question(&case.question),
        &LineBudget {
            max_lines: cfg.max_lines,
            max_tokens: 2000,
            max_line_chars: cfg.specialist.max_line_chars,
        },
    );
    // The route as the agent pipeline ends up with it: a question that names no
    // side takes the evidence's top candidate's.
    let route = rules
        .unwrap_or_else(|(features, reason)| Route {
            retrieval: RetrievalMode::Structured,
            specialists: SpecialistChoice::Both,
            reason,
            decided_by: DecidedBy::Fallback,
            features,
        })
        .side_from_evidence(ev.candidates.first().map(|c| c.candidate.category));
    let specialists = route.specialists;
    run.route = Some((word(route.retrieval), word(specialists)));
    let role = match specialists {
        SpecialistChoice::Infra => Some(Role::Infra),
        SpecialistChoice::App => Some(Role::App),
        SpecialistChoice::Both => None,
    };
    // With both sides asked, the evidence's own top candidate decides.
    let role = role.or_else(|| {
        ev.candidates.first().map(|c| match c.candidate.category {
            loglens_agents::evidence::Category::Infra => Role::Infra,
            loglens_agents::evidence::Category::App => Role::App,
        })
    });
    run.retrieved = indexes(&ev.lines, index);
    // No known failure in the evidence: the floor answers from the lines' own
    // levels: the worst level seen, where most of those lines come from, and their
    // message; "nothing is failing" when every line is informational.
    run.finding = Some(
        role.and_then(|r| evidence_finding(r, &ev))
            .unwrap_or_else(|| level_finding(&case.question, &lines, &ev)),
    );
    Ok(())
}

/// The agent pipeline on the case; returns its model calls.
async fn agents(
    case: &GoldenCase,
    setup: &Setup,
    llm: Option<&LlmClient>,
    cfg: &PipelineConfig,
    library: &Arc<SignatureLibrary>,
    hybrid: Option<(&Embedder, HybridConfig)>,
    run: &mut CaseRun,
) -> anyhow::Result<Vec<ModelCall>> {
    let mut calls = Vec::new();
    let llm = llm.ok_or_else(|| anyhow::anyhow!("the agents variant needs a model"))?;
    let mut p = AgentPipeline::new(
        setup.source.clone(),
        Some(setup.events.clone()),
        llm.clone(),
        library.clone(),
        cfg.clone(),
    );
    // With an embedder, the router's hybrid choice is carried out (else it falls
    // back to structured retrieval, as a service without an embedding server does).
    if let Some((embedder, hcfg)) = hybrid {
        let store = SqliteVectorStore::open(&setup.dir.path().join("vectors.db")).await?;
        p = p.with_hybrid(HybridRetriever::new(
            embedder.clone(),
            Arc::new(store),
            hcfg,
        ));
    }
    match p
        .run(&case.question, &setup.filter, &case.filters, None)
        .await
    {
        Ok(r) => {
            run.route = Some((word(r.route.retrieval), word(r.route.specialists)));
            run.tool_calls = r.opinions.iter().map(|o| o.tools.len()).sum();
            run.tool_calls_ok = r
                .opinions
                .iter()
                .flat_map(|o| &o.tools)
                .filter(|t| t.status == loglens_agents::toolbox::CallStatus::Ok)
                .count();
            let shown: std::collections::HashSet<(&str, u64)> = r
                .evidence
                .lines
                .iter()
                .map(|l| (l.source.as_str(), l.line_no))
                .collect();
            let mut new: std::collections::HashSet<(&str, u64)> = std::collections::HashSet::new();
            for l in r.opinions.iter().flat_map(|o| &o.added_lines) {
                if !shown.contains(&(l.source.as_str(), l.line_no)) {
                    new.insert((l.source.as_str(), l.line_no));
                }
            }
            run.tool_lines_new = new.len();
            run.retrieved = indexes(&r.evidence.lines, &setup.index);
            calls = r.calls;
            run.finding = Some(r.consensus.finding);
        }
        Err(e) => run.error = Some(format!("{}: {e}", e.code())),
    }
    Ok(calls)
}

/// The baseline (recency, or hybrid retrieval) and one extraction call; without a model,
/// retrieval only. Returns its model calls.
async fn baseline(
    case: &GoldenCase,
    setup: &Setup,
    variant: Variant,
    llm: Option<&LlmClient>,
    cfg: &PipelineConfig,
    hybrid: Option<(&Embedder, HybridConfig)>,
    run: &mut CaseRun,
) -> anyhow::Result<Vec<ModelCall>> {
    let mut calls = Vec::new();
    // Without a model: retrieval only (the lines are scored, nothing is asked). The
    // prompt budget then uses the token estimate instead of the server's count.
    let retrieval_only = llm.is_none();
    let client = match llm {
        Some(l) => l.clone(),
        None => LlmClient::new(loglens_agents::llm::LlmConfig {
            base_url: "http://127.0.0.1:9".into(),
            ..Default::default()
        })?,
    };
    let b = BaselineAnalyzer::new(setup.source.clone(), client, BaselineConfig::default());
    let retrieved = if variant == Variant::Hybrid {
        let (embedder, hcfg) =
            hybrid.ok_or_else(|| anyhow::anyhow!("the hybrid variant needs an embedder"))?;
        let store = SqliteVectorStore::open(&setup.dir.path().join("vectors.db")).await?;
        let h = HybridRetriever::new(embedder.clone(), Arc::new(store), hcfg);
        b.retrieve_hybrid(&case.question, &setup.filter, cfg.max_lines, &h)
            .await
    } else {
        b.retrieve(&case.question, &setup.filter, cfg.max_lines)
            .await
    };
    match retrieved {
        Ok(r) if retrieval_only => run.retrieved = indexes(&r.lines, &setup.index),
        Ok(r) => {
            run.retrieved = indexes(&r.lines, &setup.index);
            match b.extract(&case.question, &r, None).await {
                Ok(x) => {
                    calls = x.calls;
                    run.finding = Some(x.finding);
                }
                Err(e) => run.error = Some(format!("{}: {e}", e.code())),
            }
        }
        Err(e) => run.error = Some(format!("{}: {e}", e.code())),
    }
    Ok(calls)
}
