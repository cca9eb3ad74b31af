//! A quiet scope's answer. No line and no warning event in a scope that names something:
//! nothing there is failing, or the scope names nothing that logs ("post the ERROR lines
//! of user-api" when user-api logged none). No model is asked, since there is nothing for
//! it to choose from; the answer says what was searched, that it was quiet, and how much
//! the source has elsewhere in the window.
use crate::finding::Diagnosis;
use loglens_tools::logs::LogFilter;

use super::graph::Stage;
use super::report::{AgentReport, RunLog};
use super::{AgentPipeline, prompt_versions};
use crate::consensus::Consensus;
use crate::events::AgentEvent;
use crate::evidence::collect::EvidenceSet;
use crate::finding::{Finding, Severity};
use crate::router::Route;

/// A quiet scope: what it is about, and how many lines the source has elsewhere in the
/// same window.
pub(super) struct Quiet {
    /// The workload, namespace or container the scope names.
    pub subject: String,
    /// The source's lines in the window outside the scope.
    pub elsewhere: usize,
}

impl AgentPipeline {
    /// The report for a quiet scope: the later stages skipped, an informational finding.
    pub(super) fn quiet(
        &self,
        filter: &LogFilter,
        quiet: &Quiet,
        route: Route,
        mut log: RunLog<'_>,
    ) -> AgentReport {
        let evidence = EvidenceSet::default();
        log.emit(AgentEvent::Evidence {
            matched: 0,
            lines: Vec::new(),
            candidates: Vec::new(),
            patterns: 0,
        });
        for stage in [Stage::Evidence, Stage::Infra, Stage::App, Stage::Consensus] {
            log.skipped(stage, "the scope is quiet: nothing to weigh");
        }
        let consensus = Consensus {
            finding: quiet_finding(filter, quiet),
            opinions: 0,
            agreement: 1.0,
            fields: Vec::new(),
            disagreements: Vec::new(),
        };
        log.emit(AgentEvent::Consensus(Box::new(consensus.clone())));
        AgentReport {
            route,
            evidence,
            opinions: Vec::new(),
            consensus,
            path: log.path,
            calls: log.calls,
            prompt_version: prompt_versions(),
            quiet: true,
        }
    }
}

/// What a scope is about: its workload, else the one the question names, else its
/// namespace, container or node; `None` when it names nothing (the whole source).
pub(super) fn subject(question: &str, filter: &LogFilter) -> Option<String> {
    filter
        .pod
        .as_deref()
        .map(crate::evidence::signatures::workload)
        .or_else(|| crate::router::named_workloads(question).into_iter().next())
        .or_else(|| filter.namespace.clone())
        .or_else(|| filter.container.clone())
        .or_else(|| filter.node.clone())
}

/// The answer for a quiet scope: nothing failing there, said with what was searched.
fn quiet_finding(filter: &LogFilter, quiet: &Quiet) -> Finding {
    let scope = filter.describe();
    let subject = &quiet.subject;
    let elsewhere = if quiet.elsewhere == 0 {
        "The source has no line at all in this window: if logs arrive late (Loki can lag behind), ask again in a minute.".to_string()
    } else {
        format!(
            "The source has {} lines elsewhere in the same window.",
            quiet.elsewhere
        )
    };
    Finding {
        cause: Some("other".into()),
        diagnosis: Diagnosis {
            detail: None,
            root_cause: format!(
                "Nothing about {subject} is failing in the logs: no line and no Kubernetes warning matched {scope}. {elsewhere}"
            ),
            severity: Severity::Info,
            component: subject.clone(),
            error_signature: "none".into(),
            summary: format!("No lines and no warning events for {scope}."),
            action: format!(
                "Nothing to do, unless the question is about something the logs do not show; if {subject} should have logged, check the names, the namespace and the time window."
            ),
        },
        evidence: Vec::new(),
        confidence: 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_scope_is_about_its_workload_or_the_one_asked_about() {
        let by_pod = LogFilter {
            pod: Some("user-api-7d9f8c6b5-abcde".into()),
            ..LogFilter::errors()
        };
        assert_eq!(
            subject("anything wrong?", &by_pod).as_deref(),
            Some("user-api")
        );
        let asked = "post the last 10 ERROR lines of the user-api deployment";
        assert_eq!(
            subject(asked, &LogFilter::errors()).as_deref(),
            Some("user-api")
        );
        let ns = LogFilter {
            namespace: Some("staging".into()),
            ..LogFilter::errors()
        };
        assert_eq!(subject("errors?", &ns).as_deref(), Some("staging"));
        // A scope that names nothing is the whole source: not quiet, empty.
        assert_eq!(subject("why?", &LogFilter::errors()), None);
        assert_eq!(subject("Why are orders slow?", &LogFilter::errors()), None);
    }

    #[test]
    fn a_quiet_finding_is_informational_cites_nothing_and_says_what_was_searched() {
        let ns = LogFilter {
            namespace: Some("staging".into()),
            ..LogFilter::errors()
        };
        let quiet = Quiet {
            subject: "staging".into(),
            elsewhere: 12,
        };
        let f = quiet_finding(&ns, &quiet);
        assert_eq!(f.diagnosis.component, "staging");
        assert_eq!(f.diagnosis.severity, Severity::Info);
        assert_eq!(f.cause.as_deref(), Some("other"));
        assert!(f.evidence.is_empty());
        assert!(
            f.diagnosis.root_cause.contains("namespace=staging"),
            "{}",
            f.diagnosis.root_cause
        );
        assert!(
            f.diagnosis.root_cause.contains("12 lines elsewhere"),
            "{}",
            f.diagnosis.root_cause
        );
        let empty = Quiet {
            subject: "staging".into(),
            elsewhere: 0,
        };
        assert!(
            quiet_finding(&ns, &empty)
                .diagnosis
                .root_cause
                .contains("ask again")
        );
    }
}
