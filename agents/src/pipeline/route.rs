//! Stage 1, the router: which retrieval and which specialists (`crate::router`).
use std::time::Instant;

use loglens_tools::logs::Scope;
use tracing::Instrument;

use super::AgentPipeline;
use super::graph::Stage;
use super::report::{RunLog, StepStatus};
use crate::events::AgentEvent;
use crate::evidence::collect::EvidenceSet;
use crate::router::{Route, Router};

impl AgentPipeline {
    /// Rules on the question's words and scope decide; the model breaks a tie. Never
    /// fails: without a model the rules' choice stands.
    pub(super) async fn route(&self, question: &str, scope: &Scope, log: &mut RunLog<'_>) -> Route {
        let started = Instant::now();
        let span = tracing::info_span!(
            "router",
            "loglens.route.retrieval" = tracing::field::Empty,
            "loglens.route.specialists" = tracing::field::Empty,
            "loglens.route.decided_by" = tracing::field::Empty,
            "loglens.route.reason" = tracing::field::Empty,
        );
        let (r, calls) = Router::new(self.llm.clone())
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
        log.calls.extend(calls);
        log.emit(AgentEvent::Route(r.clone()));
        log.step(
            Stage::Router,
            StepStatus::Ran,
            started,
            format!(
                "{:?} retrieval, {:?} specialists, by {:?}: {}",
                r.retrieval, r.specialists, r.decided_by, r.reason
            )
            .to_lowercase(),
        );
        r
    }

    /// A route that named no side takes the side of the evidence's top candidate
    /// ([`Route::side_from_evidence`]); when it does, the new route is reported.
    pub(super) fn side(&self, route: Route, evidence: &EvidenceSet, log: &mut RunLog<'_>) -> Route {
        let top = evidence.candidates.first().map(|c| c.candidate.category);
        let before = route.specialists;
        let route = route.side_from_evidence(top);
        if route.specialists != before {
            tracing::info!(specialists = ?route.specialists, "side from the evidence");
            log.emit(AgentEvent::Route(route.clone()));
        }
        route
    }
}
