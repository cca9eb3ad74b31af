//! Stage 2, retrieval: the lines and events the answer starts from, structured (a filter
//! over the scope) or hybrid (that scope searched by meaning), as the route says
//! (`crate::retrieval`).
use std::time::Instant;

use loglens_tools::k8s::K8sEvent;
use loglens_tools::logs::{LogFilter, LogLine};
use tracing::Instrument;

use super::AgentPipeline;
use super::graph::Stage;
use super::quiet::{Quiet, subject};
use super::report::{RunLog, StepStatus};
use crate::error::AnalyzeError;
use crate::retrieval::{Ranked, facts_from_lines, lines_in_scope, live_warning_events};
use crate::router::{RetrievalMode, Route};

/// What retrieval found.
pub(super) struct Retrieved {
    /// The lines, oldest first.
    pub lines: Vec<LogLine>,
    /// The scope's live warning events (and state facts).
    pub events: Vec<K8sEvent>,
    /// Hybrid retrieval's ranking of `lines`, best first.
    pub ranking: Option<Vec<Ranked>>,
    /// Set when the scope is quiet: no line and no warning event in it.
    pub quiet: Option<Quiet>,
}

impl AgentPipeline {
    /// Reads the scope's lines and events. `forced` overrides the route's choice: a forced
    /// hybrid retrieval that fails fails the run, a chosen one falls back to structured
    /// retrieval.
    ///
    /// A scope with neither lines nor events is quiet when it names something (a
    /// workload, a namespace, a container, in the filter or the question): nothing there
    /// logged or was warned about in the window, and that is the answer ("post the ERROR
    /// lines of user-api" when user-api logged none). A scope that names nothing is the
    /// whole source, and a source with no line in the window (an empty file, a Loki that
    /// has not received the lines yet) leaves nothing to say: an error (`no_logs`).
    pub(super) async fn retrieve(
        &self,
        question: &str,
        filter: &LogFilter,
        forced: Option<RetrievalMode>,
        route: &Route,
        log: &mut RunLog<'_>,
    ) -> Result<Retrieved, AnalyzeError> {
        let started = Instant::now();
        let wanted = forced.unwrap_or(route.retrieval);
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
        let found = self
            .find(question, filter, wanted, forced)
            .instrument(span.clone())
            .await;
        let (mut found, mut note) = match found {
            Ok(found) => found,
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                return Err(e);
            }
        };
        if let Some(es) = &self.events {
            // What the lines and the cluster state show together, first among the events
            // as the state's other facts are.
            let joined = facts_from_lines(es.as_ref(), filter, &found.retrieved.lines)
                .instrument(span.clone())
                .await;
            if !joined.is_empty() {
                note.push_str(&format!(
                    "; {} fact(s) from the lines and the cluster state",
                    joined.len()
                ));
                found.retrieved.events.splice(0..0, joined);
            }
        }
        if let Some(unfiltered) = found.unfiltered {
            span.record("loglens.retrieval.unfiltered", unfiltered);
        }
        if let Some(hits) = found.semantic_hits {
            span.record("loglens.retrieval.semantic_hits", hits);
        }
        let retrieved = found.retrieved;
        span.record("loglens.retrieval.lines", retrieved.lines.len());
        span.record("loglens.retrieval.events", retrieved.events.len());
        crate::metrics::record_retrieval(retrieved.lines.len(), retrieved.events.len());
        let mut retrieved = retrieved;
        if retrieved.lines.is_empty() && retrieved.events.is_empty() {
            let Some(subject) = subject(question, filter) else {
                return Err(AnalyzeError::NoLines {
                    filter: filter.describe(),
                    source_desc: self.source.describe(),
                });
            };
            let elsewhere = self.lines_in_window(filter).await;
            let note = format!(
                "{note}; the scope ({subject}) is quiet; the source has {elsewhere} lines in the same window outside it"
            );
            log.step(Stage::Retrieval, StepStatus::Ran, started, note);
            retrieved.quiet = Some(Quiet { subject, elsewhere });
            return Ok(retrieved);
        }
        log.step(Stage::Retrieval, StepStatus::Ran, started, note);
        Ok(retrieved)
    }

    /// How many lines the source has in `filter`'s time window, whatever their labels
    /// and text (0 when it cannot say).
    async fn lines_in_window(&self, filter: &LogFilter) -> usize {
        let window = LogFilter {
            start: filter.start,
            end: filter.end,
            ..LogFilter::default()
        };
        match self.source.query(&window).await {
            Ok(lines) => lines.len(),
            Err(e) => {
                tracing::warn!(error = %e, "could not tell a quiet scope from an empty source");
                0
            }
        }
    }

    /// The events, then the lines by the wanted mode; with the step's note.
    async fn find(
        &self,
        question: &str,
        filter: &LogFilter,
        wanted: RetrievalMode,
        forced: Option<RetrievalMode>,
    ) -> Result<(Found, String), AnalyzeError> {
        let mut events = Vec::new();
        if let Some(es) = &self.events {
            match live_warning_events(es.as_ref(), filter).await {
                Ok(e) => events = e,
                Err(e) => tracing::warn!(error = %e, "events unavailable; going on without them"),
            }
        }
        let mut fallback_note = String::new();
        if wanted == RetrievalMode::Hybrid {
            match &self.hybrid {
                Some(h) => match h.retrieve(self.source.as_ref(), question, filter).await {
                    Ok(found) => {
                        let note = format!(
                            "{} lines, {} events; {}",
                            found.lines.len(),
                            events.len(),
                            found.note
                        );
                        let hits = found.semantic_hits;
                        return Ok((
                            Found {
                                retrieved: Retrieved {
                                    lines: found.lines,
                                    events,
                                    ranking: Some(found.ranking),
                                    quiet: None,
                                },
                                unfiltered: None,
                                semantic_hits: Some(hits),
                            },
                            note,
                        ));
                    }
                    Err(e) if forced == Some(RetrievalMode::Hybrid) => return Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "hybrid retrieval failed; structured retrieval used");
                        fallback_note =
                            format!("; hybrid retrieval failed ({e}), structured retrieval used");
                    }
                },
                None if forced == Some(RetrievalMode::Hybrid) => {
                    return Err(AnalyzeError::BadRequest(
                        "hybrid retrieval needs an embedding server and a vector index; none is configured".into(),
                    ));
                }
                None => {
                    fallback_note = "; hybrid retrieval is not configured (no embedding server), structured retrieval used".into();
                }
            }
        }
        let (lines, unfiltered) = lines_in_scope(self.source.as_ref(), filter, &events).await?;
        let mut note = format!("{} lines, {} events", lines.len(), events.len());
        if unfiltered {
            note.push_str("; no line matched the text filter, so the scope's lines without it");
        }
        note.push_str(&fallback_note);
        Ok((
            Found {
                retrieved: Retrieved {
                    lines,
                    events,
                    ranking: None,
                    quiet: None,
                },
                unfiltered: Some(unfiltered),
                semantic_hits: None,
            },
            note,
        ))
    }
}

/// What [`AgentPipeline::find`] found, with what its span records.
struct Found {
    retrieved: Retrieved,
    /// Structured: whether the text filter was dropped.
    unfiltered: Option<bool>,
    /// Hybrid: how many lines the vector search found.
    semantic_hits: Option<usize>,
}
