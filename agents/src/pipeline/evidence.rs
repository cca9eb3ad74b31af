//! Stage 3, evidence: lines that address the model withheld, the signature library and
//! the pattern miner run over what is left, and the lines the specialists will see chosen
//! within their prompt budget (`crate::evidence`).
use std::sync::Mutex;
use std::time::Instant;

use loglens_tools::budget::estimate_tokens;
use loglens_tools::redact::Pseudonyms;
use tracing::Instrument;

use super::AgentPipeline;
use super::graph::Stage;
use super::report::{RunLog, StepStatus};
use super::retrieve::Retrieved;
use crate::events::AgentEvent;
use crate::evidence::collect::{Analysis, EvidenceSet, LineBudget, analyze};
use crate::retrieval::Ranked;
use crate::router::{Route, SpecialistChoice};
use crate::specialist::Role;

impl AgentPipeline {
    /// The evidence set the specialists start from.
    pub(super) async fn evidence(
        &self,
        question: &str,
        retrieved: &Retrieved,
        route: &Route,
        pseudonyms: &Mutex<Pseudonyms>,
        log: &mut RunLog<'_>,
    ) -> EvidenceSet {
        let started = Instant::now();
        let span = tracing::info_span!(
            "evidence",
            "loglens.evidence.candidates" = tracing::field::Empty,
            "loglens.evidence.patterns" = tracing::field::Empty,
            "loglens.evidence.lines_shown" = tracing::field::Empty,
        );
        let ev = self
            .collect(question, retrieved, route, pseudonyms)
            .instrument(span.clone())
            .await;
        let candidates: Vec<String> = ev
            .candidates
            .iter()
            .map(|c| c.candidate.signature.clone())
            .collect();
        span.record("loglens.evidence.candidates", candidates.join(","));
        span.record("loglens.evidence.patterns", ev.patterns.len());
        span.record("loglens.evidence.lines_shown", ev.lines.len());
        crate::metrics::record_lines_shown(ev.lines.len());
        log.emit(AgentEvent::Evidence {
            matched: ev.matched,
            lines: ev.lines.clone(),
            candidates,
            patterns: ev.patterns.len(),
        });
        log.step(
            Stage::Evidence,
            StepStatus::Ran,
            started,
            format!(
                "{} candidates, {} patterns, {} lines shown",
                ev.candidates.len(),
                ev.patterns.len(),
                ev.lines.len()
            ),
        );
        ev
    }

    /// Runs the analyzers and chooses lines within the budget of the most demanding
    /// specialist the route chose.
    async fn collect(
        &self,
        question: &str,
        retrieved: &Retrieved,
        route: &Route,
        pseudonyms: &Mutex<Pseudonyms>,
    ) -> EvidenceSet {
        // Lines that speak to the model go no further (they are listed as withheld).
        let screened = crate::evidence::screen::screen(&retrieved.lines, &retrieved.events);
        let ranking: Option<Vec<Ranked>> = retrieved.ranking.as_ref().map(|r| {
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
        let budget = self.line_budget(question, &analysis, route).await;
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

    /// How many lines fit: the room left in the most demanding chosen specialist's prompt
    /// once everything but the lines is in it. The prompt is measured with the model
    /// server's tokenizer when it has one (an estimate on the safe side otherwise).
    async fn line_budget(&self, question: &str, analysis: &Analysis, route: &Route) -> LineBudget {
        let bare = analysis.without_lines();
        let roles: Vec<Role> = match route.specialists {
            SpecialistChoice::Infra => vec![Role::Infra],
            SpecialistChoice::App => vec![Role::App],
            SpecialistChoice::Both => vec![Role::Infra, Role::App],
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
        LineBudget {
            max_lines: self.cfg.max_lines,
            max_tokens: self.cfg.specialist.line_tokens(fixed),
            max_line_chars: self.cfg.specialist.max_line_chars,
        }
    }
}
