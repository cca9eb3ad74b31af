//! Stage 4, the specialists: the infra and app agents the route chose, every sample in
//! parallel, each with its tools and the evidence schema (`crate::specialist`).
use std::sync::{Arc, Mutex};
use std::time::Instant;

use loglens_tools::redact::Pseudonyms;
use tokio::sync::mpsc::UnboundedSender;
use tracing::Instrument;

use super::AgentPipeline;
use super::graph::Stage;
use super::report::{RunLog, StepStatus};
use crate::error::AnalyzeError;
use crate::events::AgentEvent;
use crate::evidence::collect::EvidenceSet;
use crate::llm::CallOptions;
use crate::router::{Route, SpecialistChoice};
use crate::specialist::{Opinion, Role};

impl AgentPipeline {
    /// Every opinion of the chosen specialists; a specialist the route did not choose is
    /// recorded as skipped. Fails only when no sample of any specialist answered.
    pub(super) async fn specialists(
        &self,
        question: &str,
        evidence: &EvidenceSet,
        route: &Route,
        pseudonyms: &Arc<Mutex<Pseudonyms>>,
        log: &mut RunLog<'_>,
    ) -> Result<Vec<Opinion>, AnalyzeError> {
        let started = Instant::now();
        let chosen: Vec<Role> = [Role::Infra, Role::App]
            .into_iter()
            .filter(|role| match route.specialists {
                SpecialistChoice::Both => true,
                SpecialistChoice::Infra => *role == Role::Infra,
                SpecialistChoice::App => *role == Role::App,
            })
            .collect();
        let runs = self
            .run_specialists(question, evidence, &chosen, pseudonyms, log.progress())
            .await;
        for role in [Role::Infra, Role::App] {
            let stage = match role {
                Role::Infra => Stage::Infra,
                Role::App => Stage::App,
            };
            if !chosen.contains(&role) {
                let note = format!("route chose {:?}", route.specialists).to_lowercase();
                log.skipped(stage, note);
                continue;
            }
            let mine: Vec<&Result<Opinion, (usize, AnalyzeError)>> = runs
                .iter()
                .filter(|(ro, _)| *ro == role)
                .map(|(_, r)| r)
                .collect();
            let (status, note) = self.specialist_note(&mine);
            log.step(stage, status, started, note);
        }
        let mut opinions = Vec::new();
        let mut first_error = None;
        for (_, r) in runs {
            match r {
                Ok(o) => {
                    log.calls.extend(o.calls.iter().cloned());
                    opinions.push(o);
                }
                Err((_, e)) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if opinions.is_empty() {
            return Err(first_error
                .unwrap_or_else(|| AnalyzeError::BadRequest("no specialist was chosen".into())));
        }
        Ok(opinions)
    }

    /// One specialist's step: ran when a sample answered, with what its samples did.
    fn specialist_note(
        &self,
        mine: &[&Result<Opinion, (usize, AnalyzeError)>],
    ) -> (StepStatus, String) {
        let answered: Vec<&Opinion> = mine.iter().filter_map(|r| r.as_ref().ok()).collect();
        let fallbacks = answered.iter().filter(|o| o.fallback.is_some()).count();
        let tool_calls: usize = answered.iter().map(|o| o.tools.len()).sum();
        let errors: Vec<String> = mine
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|(s, e)| format!("sample {s}: {e}"))
            .collect();
        let tools = if self.cfg.specialist.max_steps == 0
            && self.cfg.specialist.small_model_steps.is_some()
        {
            "no tool rounds (a model under 1B parameters answers from the evidence; --max-steps turns them on)".to_string()
        } else {
            format!("{tool_calls} tool calls")
        };
        let errors = if errors.is_empty() {
            String::new()
        } else {
            format!("; {}", errors.join("; "))
        };
        let status = if answered.is_empty() {
            StepStatus::Failed
        } else {
            StepStatus::Ran
        };
        let note = format!(
            "{}/{} samples answered ({fallbacks} from the evidence alone), {tools}{errors}",
            answered.len(),
            mine.len(),
        );
        (status, note)
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
                                o.finding.diagnosis.error_signature.as_str(),
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
                                    weighed: o.weighed.as_ref().map(|w| w.reason()).or_else(|| {
                                        o.unweighed.as_ref().map(|u| format!("not weighed: {u}"))
                                    }),
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
