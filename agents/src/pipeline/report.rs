//! What a run produces: the report, the path it took, and the log a run keeps as it goes.
use std::sync::Mutex;
use std::time::Instant;

use loglens_tools::redact::Pseudonyms;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::graph::Stage;
use super::{AgentPipeline, prompt_versions};
use crate::consensus::Consensus;
use crate::error::AnalyzeError;
use crate::events::AgentEvent;
use crate::evidence::collect::EvidenceSet;
use crate::finding::{Finding, LineRef};
use crate::llm::ModelCall;
use crate::router::Route;
use crate::specialist::Opinion;

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
    pub(crate) fn new(
        error: AnalyzeError,
        path: Vec<StepRecord>,
        evidence: Option<EvidenceSet>,
    ) -> Self {
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
    /// The scope was quiet: no line and no warning event in it, so no model was asked and
    /// the answer says nothing is failing there.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub quiet: bool,
}

/// What a run has done so far, kept as it goes: each stage's step record, every model
/// call, and the progress events sent to whoever is watching (the stream, the CLI).
pub(crate) struct RunLog<'a> {
    /// The path so far.
    pub path: Vec<StepRecord>,
    /// Every model call so far.
    pub calls: Vec<ModelCall>,
    progress: Option<&'a UnboundedSender<AgentEvent>>,
}

impl<'a> RunLog<'a> {
    pub(crate) fn new(progress: Option<&'a UnboundedSender<AgentEvent>>) -> Self {
        Self {
            path: Vec::new(),
            calls: Vec::new(),
            progress,
        }
    }

    /// Where progress goes (the specialists send their own).
    pub(crate) fn progress(&self) -> Option<&'a UnboundedSender<AgentEvent>> {
        self.progress
    }

    /// Sends a progress event, if anyone is watching.
    pub(crate) fn emit(&self, event: AgentEvent) {
        if let Some(tx) = self.progress {
            let _ = tx.send(event);
        }
    }

    /// Records a stage that started at `started`.
    pub(crate) fn step(
        &mut self,
        stage: Stage,
        status: StepStatus,
        started: Instant,
        note: impl Into<String>,
    ) {
        self.path.push(StepRecord {
            stage,
            status,
            ms: started.elapsed().as_secs_f64() * 1000.0,
            note: note.into(),
        });
    }

    /// Records a stage that did not run.
    pub(crate) fn skipped(&mut self, stage: Stage, note: impl Into<String>) {
        self.path.push(StepRecord {
            stage,
            status: StepStatus::Skipped,
            ms: 0.0,
            note: note.into(),
        });
    }

    /// The run ends here with `error`; the path and the evidence so far go with it.
    pub(crate) fn fail(self, error: AnalyzeError, evidence: Option<EvidenceSet>) -> RunError {
        RunError::new(error, self.path, evidence)
    }
}

impl AgentPipeline {
    /// Stage 6, the report: everything the run produced, with the real values put back
    /// where personal ones were replaced before the model saw them (when `restore` is on).
    pub(super) fn report(
        &self,
        route: Route,
        mut evidence: EvidenceSet,
        mut opinions: Vec<Opinion>,
        mut consensus: Consensus,
        log: RunLog<'_>,
        pseudonyms: &Mutex<Pseudonyms>,
    ) -> AgentReport {
        if self.cfg.restore
            && let Ok(p) = pseudonyms.lock()
            && !p.is_empty()
        {
            restore_lines(&p, &mut evidence.lines);
            for pat in &mut evidence.patterns {
                pat.template = p.restore(&pat.template);
            }
            for o in &mut opinions {
                restore_finding(&p, &mut o.finding);
                restore_lines(&p, &mut o.added_lines);
            }
            restore_finding(&p, &mut consensus.finding);
        }
        AgentReport {
            route,
            evidence,
            opinions,
            consensus,
            path: log.path,
            calls: log.calls,
            prompt_version: prompt_versions(),
            quiet: false,
        }
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
        &mut f.diagnosis.root_cause,
        &mut f.diagnosis.component,
        &mut f.diagnosis.error_signature,
        &mut f.diagnosis.summary,
        &mut f.diagnosis.action,
    ] {
        *field = p.restore(field);
    }
    restore_lines(p, &mut f.evidence);
}
