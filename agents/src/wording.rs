//! Wording: the prose of a finding whose choices are already made.
//!
//! In [`AnswerMode::Choose`](crate::specialist::AnswerMode) a small model picks the
//! cause, the evidence lines, the component and the severity, and loglens writes the
//! sentences from what it picked: the chosen signature's title and action from the
//! signature library, the error signature from the first cited line's message. That is
//! "evidence first, model second" taken to its end: a 135M-parameter model cannot write a
//! useful root cause, but it can choose among candidates, and every word of the answer
//! then comes from the evidence it chose.
use crate::finding::Diagnosis;
use std::sync::LazyLock;

use regex::Regex;

use crate::evidence::collect::EvidenceSet;
use crate::finding::{Finding, LineRef, ModelChoice};
use loglens_tools::budget::clip;

/// A log level word (`ERROR`, `WARN`, `INFO`, ...), as a line's header carries it.
pub static LEVEL_WORD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\b(FATAL|CRITICAL|CRIT|PANIC|EMERG|ALERT|SEVERE|ERROR|ERR|WARNING|WARN|INFO|NOTICE|DEBUG|TRACE)\b")
        .ok()
});

/// The message without its header: what follows a level word near the start of the line
/// (and a `logger:` right after it), so a signature is not made of dates and levels.
pub fn message_part(text: &str) -> &str {
    let Some(m) = LEVEL_WORD.as_ref().and_then(|r| r.find(text)) else {
        return text;
    };
    if m.start() > 48 {
        return text;
    }
    let rest = text[m.end()..].trim_start_matches([' ', ':', ']', '\t']);
    match rest.split_once(": ") {
        Some((logger, msg)) if !logger.contains(' ') && !msg.is_empty() => msg,
        _ => rest,
    }
}

/// Longest error signature written (the full schema's `maxLength`).
const SIGNATURE_CHARS: usize = 120;

/// The root cause and the action of an answer that no known signature explains.
pub fn unmatched_wording(component: &str, message: &str) -> (String, String) {
    (
        format!("No known failure signature; {component} logs \"{message}\"."),
        format!("Look into {component}: find what makes it log this."),
    )
}

/// The finding a choice stands for, worded from the evidence. `lines` are the lines the
/// model was shown (the evidence set's, then any a tool added); cited numbers that are
/// not among them are dropped, as in [`Finding::resolve`].
pub fn word_choice(choice: ModelChoice, evidence: &EvidenceSet, lines: &[LineRef]) -> Finding {
    let candidate = evidence
        .candidates
        .iter()
        .find(|c| c.candidate.signature == choice.cause);
    // A chosen candidate brings the lines the library matched for it (a state fact among
    // them): the answer rests on them, so they come first and are never cut for the lines
    // the model cited besides.
    let mut numbers: Vec<u32> = candidate
        .map(|c| c.cited.iter().map(|n| *n as u32).collect())
        .unwrap_or_default();
    numbers.extend(choice.evidence.iter().copied());
    let cited = crate::finding::resolve_first_lines(&numbers, lines, crate::finding::MAX_EVIDENCE);
    // The line the signature is read from: the candidate's own first line, else the
    // first line cited.
    let source_line = candidate
        .and_then(|c| c.cited.first())
        .and_then(|n| lines.iter().find(|l| l.n == *n))
        .or_else(|| cited.first());
    let message = source_line
        .map(|l| clip(message_part(&l.text).trim(), SIGNATURE_CHARS))
        .unwrap_or_default();
    let component = choice.component.trim().to_string();
    let confidence = f32::from(choice.confidence.min(100)) / 100.0;
    let offered = evidence.candidates.len();
    match candidate {
        Some(c) => Finding {
            cause: Some(choice.cause.clone()),
            diagnosis: Diagnosis {
                detail: c.candidate.detail.clone(),
                root_cause: c.candidate.title.clone(),
                severity: choice.severity,
                error_signature: if message.is_empty() {
                    c.candidate.title.clone()
                } else {
                    message
                },
                summary: format!(
                    "{} in {component} ({} matching lines and events). Chosen by the model from {offered} candidate cause(s); the wording is the signature library's.",
                    c.candidate.title, c.candidate.hits
                ),
                action: c.candidate.action.clone(),
                component,
            },
            evidence: cited,
            confidence,
        },
        None => {
            let message = if message.is_empty() {
                "nothing it cites".to_string()
            } else {
                message
            };
            let (root_cause, action) = unmatched_wording(&component, &message);
            Finding {
                cause: Some("other".into()),
                diagnosis: Diagnosis {
                    detail: None,
                    root_cause,
                    severity: choice.severity,
                    summary: format!(
                        "{} {} line(s) cited from {component}; no known failure signature matched{}.",
                        cited.len(),
                        choice.severity,
                        if offered > 0 {
                            format!(" (the model ruled out {offered} candidate cause(s))")
                        } else {
                            String::new()
                        }
                    ),
                    error_signature: message,
                    action,
                    component,
                },
                evidence: cited,
                confidence,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::collect::CandidateRef;
    use crate::evidence::{Candidate, Category};
    use crate::finding::Severity;

    fn line(n: usize, text: &str) -> LineRef {
        LineRef::numbered(n, text)
    }

    fn evidence() -> EvidenceSet {
        EvidenceSet {
            lines: vec![
                line(1, "2024-01-01T00:00:00Z INFO app: started"),
                line(
                    2,
                    "2024-01-01T00:00:01Z ERROR db: connection refused to 10.0.0.7:5432",
                ),
                line(3, "2024-01-01T00:00:02Z ERROR cart: request 42 failed"),
            ],
            candidates: vec![CandidateRef {
                candidate: Candidate {
                    detail: None,
                    signature: "connection_refused".into(),
                    title: "A dependency refuses connections".into(),
                    severity: Severity::Error,
                    category: Category::App,
                    action: "Check that the dependency is up.".into(),
                    component: Some("cart".into()),
                    lines: vec![1],
                    events: vec![],
                    hits: 4,
                },
                cited: vec![2],
            }],
            components: vec!["cart".into(), "db".into()],
            ..EvidenceSet::default()
        }
    }

    fn choice(cause: &str, evidence: Vec<u32>) -> ModelChoice {
        ModelChoice {
            cause: cause.into(),
            evidence,
            component: "db".into(),
            severity: Severity::Critical,
            confidence: 150,
        }
    }

    #[test]
    fn message_part_drops_the_header_and_logger() {
        assert_eq!(
            message_part("2024-01-01 ERROR db: connection refused"),
            "connection refused"
        );
        assert_eq!(message_part("no level here"), "no level here");
        // A level word far into the line is part of the message, not a header.
        let long = format!("{} ERROR x", "a".repeat(60));
        assert_eq!(message_part(&long), long);
    }

    #[test]
    fn a_chosen_candidate_is_worded_from_the_library_and_its_own_line() {
        let ev = evidence();
        let f = word_choice(choice("connection_refused", vec![3, 9]), &ev, &ev.lines);
        assert_eq!(f.cause.as_deref(), Some("connection_refused"));
        assert_eq!(f.diagnosis.root_cause, "A dependency refuses connections");
        assert_eq!(f.diagnosis.action, "Check that the dependency is up.");
        // The model's choices stand: component, severity; confidence is capped.
        assert_eq!(f.diagnosis.component, "db");
        assert_eq!(f.diagnosis.severity, Severity::Critical);
        assert!((f.confidence - 1.0).abs() < f32::EPSILON);
        // Line 9 was never shown: dropped; the candidate's own line 2 is added, and the
        // signature comes from it.
        let cited: Vec<usize> = f.evidence.iter().map(|l| l.n).collect();
        assert_eq!(cited, vec![2, 3]);
        assert_eq!(
            f.diagnosis.error_signature,
            "connection refused to 10.0.0.7:5432"
        );
        assert!(
            f.diagnosis.summary.contains("1 candidate"),
            "{}",
            f.diagnosis.summary
        );
    }

    #[test]
    fn other_is_worded_from_the_first_cited_line() {
        let ev = evidence();
        let f = word_choice(choice("other", vec![3]), &ev, &ev.lines);
        assert_eq!(f.cause.as_deref(), Some("other"));
        assert_eq!(f.diagnosis.error_signature, "request 42 failed");
        assert!(
            f.diagnosis
                .root_cause
                .contains("db logs \"request 42 failed\"")
        );
        assert!(
            f.diagnosis.summary.contains("ruled out 1"),
            "{}",
            f.diagnosis.summary
        );
        // Nothing cited at all: still a finding, saying so.
        let f = word_choice(choice("other", vec![]), &ev, &ev.lines);
        assert!(f.evidence.is_empty());
        assert!(f.diagnosis.root_cause.contains("nothing it cites"));
    }
}
