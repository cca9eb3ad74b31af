//! Stage 5, consensus: the opinions merged into one finding, field by field
//! (`crate::consensus`).
use std::time::Instant;

use super::AgentPipeline;
use super::graph::Stage;
use super::report::{RunLog, StepStatus};
use crate::consensus::{Ballot, Consensus, merge};
use crate::events::AgentEvent;
use crate::evidence::collect::EvidenceSet;
use crate::specialist::Opinion;

impl AgentPipeline {
    /// The merged answer; `None` only when there is no opinion to merge.
    pub(super) fn consensus(
        &self,
        opinions: &[Opinion],
        evidence: &EvidenceSet,
        log: &mut RunLog<'_>,
    ) -> Option<Consensus> {
        let started = Instant::now();
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
            .candidates
            .iter()
            .map(|c| c.candidate.signature.clone())
            .collect();
        let mut ballots: Vec<Ballot> = opinions
            .iter()
            .map(|o| Ballot {
                voter: format!("{}#{}", o.agent.name(), o.sample),
                finding: o.finding.clone(),
            })
            .collect();
        if !self.cfg.consensus {
            // No vote: the most confident opinion (the first on a tie).
            let best = ballots
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
        let c = merge(&ballots, &rank)?;
        span.record("loglens.consensus.agreement", c.agreement);
        span.record(
            "loglens.consensus.root_cause",
            c.finding.diagnosis.error_signature.as_str(),
        );
        log.emit(AgentEvent::Consensus(Box::new(c.clone())));
        log.step(
            Stage::Consensus,
            StepStatus::Ran,
            started,
            format!(
                "{} opinions, agreement {:.2}, {} disagreements",
                c.opinions,
                c.agreement,
                c.disagreements.len()
            ),
        );
        Some(c)
    }
}
