//! Insights over a window for the CLI and the HTTP API: reads the window's lines and
//! events from the configured sources, and runs the deterministic analyses of
//! `loglens_agents::insights` (summary, triage, what changed, cascade) over them.
//!
//! Windows: `since` (`1h`: the last hour until now), or `start`/`end`, or neither (every
//! line the source has). The *previous* window, for novelty and "what changed", is the one
//! of the same length just before the current one; `changes` also takes its own.
use std::time::Instant;

use chrono::{DateTime, Utc};
use loglens_agents::AgentPipeline;
use loglens_agents::insights::Snapshot;
use loglens_agents::insights::cascade::{Cascade, cascade};
use loglens_agents::insights::changes::{Change, changes};
use loglens_agents::insights::summary::{Digest, Narrative, digest, narrate};
use loglens_agents::insights::triage::{TriageItem, triage};
use loglens_tools::k8s::EventFilter;
use serde::{Deserialize, Serialize};

use loglens_tools::logs::Scope;

/// Most lines read for one window; beyond it the newest are kept (and the report says so).
pub const MAX_WINDOW_LINES: usize = 200_000;

/// Why an insight could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum InsightError {
    /// The request does not make sense (a bad window).
    #[error("{0}")]
    BadRequest(String),
    /// The log or event source failed.
    #[error("reading the logs failed: {0}")]
    Source(#[from] loglens_tools::ToolError),
}

/// A window as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WindowInfo {
    /// Start, when bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// End, when bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// Lines read.
    pub lines: usize,
    /// Events read.
    pub events: usize,
    /// Whether older lines were left out (over [`MAX_WINDOW_LINES`]).
    pub truncated: bool,
}

/// `summary`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SummaryReport {
    /// The window summarized.
    pub window: WindowInfo,
    /// The window before it (when bounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<WindowInfo>,
    /// What was measured.
    pub digest: Digest,
    /// The model's write-up, when asked for and the model answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrative: Option<Narrative>,
    /// Why there is no write-up, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrative_error: Option<String>,
    /// The model and prompt, when it wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Wall time, ms.
    pub latency_ms: f64,
}

/// `triage`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TriageReport {
    /// The window ranked.
    pub window: WindowInfo,
    /// The window before it, for novelty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<WindowInfo>,
    /// The problems, most urgent first.
    pub items: Vec<TriageItem>,
}

/// `changes`' answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangesReport {
    /// The earlier window.
    pub before: WindowInfo,
    /// The later window.
    pub after: WindowInfo,
    /// What changed, most important first.
    pub changes: Vec<Change>,
}

/// `cascade`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CascadeReport {
    /// The window.
    pub window: WindowInfo,
    /// The graph and its root.
    #[serde(flatten)]
    pub cascade: Cascade,
}

/// A window's start and end, each open when absent.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Reads windows and runs the analyses.
#[derive(Clone)]
pub struct Insights {
    agents: AgentPipeline,
}

impl Insights {
    /// Over the pipeline's log source, event source, signatures and model.
    pub fn new(agents: AgentPipeline) -> Self {
        Self { agents }
    }

    /// The current window's bounds (`since` is anchored at `now`; a `since` or `start`
    /// window without an end runs until `now`).
    fn bounds(spec: &Scope, now: DateTime<Utc>) -> Result<Bounds, InsightError> {
        let f = spec.to_filter(now).map_err(InsightError::BadRequest)?;
        let end = f.end.or(f.start.map(|_| now));
        Ok((f.start, end))
    }

    /// The lines and events of `spec`'s scope between `start` and `end`.
    async fn read(
        &self,
        spec: &Scope,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<(Snapshot, WindowInfo), InsightError> {
        let scope = Scope {
            start: None,
            end: None,
            since: None,
            pattern: None,
            all_lines: true,
            ..spec.clone()
        };
        let mut filter = scope
            .to_filter(Utc::now())
            .map_err(InsightError::BadRequest)?;
        filter.start = start;
        filter.end = end;
        filter.validate()?;
        let mut lines = self.agents.source().query(&filter).await?;
        let truncated = lines.len() > MAX_WINDOW_LINES;
        if truncated {
            lines.drain(..lines.len() - MAX_WINDOW_LINES);
        }
        let events = match self.agents.event_source() {
            Some(src) => {
                let ef = EventFilter {
                    namespace: spec.namespace.clone(),
                    object: spec.pod.clone(),
                    since: start,
                    ..EventFilter::default()
                };
                src.events(&ef)
                    .await?
                    .into_iter()
                    .filter(|e| match (e.last_seen, end) {
                        (Some(t), Some(end)) => t < end,
                        _ => true,
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        let info = WindowInfo {
            start,
            end,
            lines: lines.len(),
            events: events.len(),
            truncated,
        };
        Ok((
            Snapshot {
                start,
                end,
                lines,
                events,
            },
            info,
        ))
    }

    /// The current window and, when it is bounded, the one of the same length before it.
    async fn with_previous(
        &self,
        spec: &Scope,
    ) -> Result<((Snapshot, WindowInfo), Option<(Snapshot, WindowInfo)>), InsightError> {
        let (start, end) = Self::bounds(spec, Utc::now())?;
        let current = self.read(spec, start, end).await?;
        let previous = match (start, end) {
            (Some(s), Some(e)) => Some(self.read(spec, Some(s - (e - s)), Some(s)).await?),
            _ => None,
        };
        Ok((current, previous))
    }

    /// What happened: the digest, and the model's write-up when `narrate` (a model that
    /// is down or answers badly leaves the digest's own sentence as the summary).
    pub async fn summary(
        &self,
        spec: &Scope,
        narrate_it: bool,
    ) -> Result<SummaryReport, InsightError> {
        let started = Instant::now();
        let ((cur, window), prev) = self.with_previous(spec).await?;
        let d = digest(&cur, prev.as_ref().map(|p| &p.0), self.agents.library());
        let (mut narrative, mut narrative_error, mut model) = (None, None, None);
        if narrate_it {
            match narrate(self.agents.llm(), &d).await {
                Ok((n, _calls)) => {
                    narrative = Some(n);
                    model = Some(format!(
                        "{} ({})",
                        self.agents.llm().config().model,
                        loglens_agents::prompts::SUMMARY.version
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the summary's write-up failed; the digest stands");
                    narrative_error = Some(e.to_string());
                }
            }
        }
        Ok(SummaryReport {
            window,
            previous: prev.map(|p| p.1),
            digest: d,
            narrative,
            narrative_error,
            model,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// The window's problems, ranked.
    pub async fn triage(&self, spec: &Scope, limit: usize) -> Result<TriageReport, InsightError> {
        let ((cur, window), prev) = self.with_previous(spec).await?;
        Ok(TriageReport {
            items: triage(
                &cur,
                prev.as_ref().map(|p| &p.0),
                self.agents.library(),
                limit,
            ),
            window,
            previous: prev.map(|p| p.1),
        })
    }

    /// What changed from `before` (default: the window of the same length before) to
    /// the window of `spec`.
    pub async fn changes(
        &self,
        spec: &Scope,
        before: Option<(DateTime<Utc>, DateTime<Utc>)>,
        limit: usize,
    ) -> Result<ChangesReport, InsightError> {
        let (start, end) = Self::bounds(spec, Utc::now())?;
        let (Some(s), Some(e)) = (start, end) else {
            return Err(InsightError::BadRequest(
                "\"what changed\" compares two windows: give the later one (since, or start and end)".into(),
            ));
        };
        let (bs, be) = before.unwrap_or((s - (e - s), s));
        if be <= bs {
            return Err(InsightError::BadRequest(
                "the before window's end must be after its start".into(),
            ));
        }
        let (after, after_info) = self.read(spec, Some(s), Some(e)).await?;
        let (before_snap, before_info) = self.read(spec, Some(bs), Some(be)).await?;
        Ok(ChangesReport {
            changes: changes(&before_snap, &after, self.agents.library(), limit),
            before: before_info,
            after: after_info,
        })
    }

    /// The service graph and the first failing component upstream.
    pub async fn cascade(&self, spec: &Scope) -> Result<CascadeReport, InsightError> {
        let (start, end) = Self::bounds(spec, Utc::now())?;
        let (snap, window) = self.read(spec, start, end).await?;
        Ok(CascadeReport {
            cascade: cascade(&snap),
            window,
        })
    }
}
