//! Weighing: the model's probabilities over the evidence's candidate causes, and the
//! margin it needs to overrule the evidence.
//!
//! A small model asked for one JSON answer samples one token stream, and a 135M model's
//! pick among candidate causes is close to a coin toss that sounds sure of itself (it
//! chose a decoy over a pod the scheduler placed nowhere, at "100%"). So in `choose` mode,
//! after its answer, the specialist asks the model once more, in the same conversation,
//! which candidate it is, by number, and reads the probability of every option from the
//! log-probabilities of that one token ([`LlmClient::option_probabilities`]). The options
//! are listed in the evidence's order. The **evidence's top candidate stands** unless the
//! model puts at least [`OVERRULE_MARGIN`] more probability on another option: the model
//! may overrule the evidence only when its margin says so. Either way the choice, the
//! probabilities and the reason are kept with the opinion ([`Weighing`]) and shown.
//!
//! "Evidence first, model second": the evidence ranks, the model re-ranks only when it
//! is clearly more certain, and `loglens eval --variant agents` measures whether that adds
//! anything over the evidence alone.
use std::ops::RangeInclusive;

use serde::Serialize;

use super::answer::candidate_finding;
use crate::evidence::collect::EvidenceSet;
use crate::finding::{Diagnosis, Finding, Severity};
use crate::llm::{ChatMessage, LlmClient, MAX_OPTIONS, ModelCall};
use crate::prompts::{WEIGH, render};

/// How much more probability the model must put on another option than on the
/// evidence's top candidate to overrule it.
pub const OVERRULE_MARGIN: f64 = 0.5;

/// The cause for "none of these".
const OTHER: &str = "other";

/// What the weighing saw and decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weighing {
    /// The options, in the evidence's order (`other` last).
    pub options: Vec<String>,
    /// The model's probability of each.
    pub probabilities: Vec<f64>,
    /// What the model's JSON answer chose.
    pub answered: String,
    /// The cause that stands.
    pub kept: String,
    /// Whether the model overruled the evidence's top candidate.
    pub overruled: bool,
}

impl Weighing {
    /// One sentence: what stood and why.
    pub fn reason(&self) -> String {
        let p = |cause: &str| {
            self.options
                .iter()
                .position(|o| o == cause)
                .and_then(|i| self.probabilities.get(i))
                .map_or(0.0, |p| p * 100.0)
        };
        let top = self.options.first().map_or("", String::as_str);
        if self.overruled {
            format!(
                "the model overruled the evidence: {} at {:.0}% against {top} at {:.0}%",
                self.kept,
                p(&self.kept),
                p(top)
            )
        } else if self.answered == self.kept {
            format!(
                "the model agrees with the evidence's top candidate ({top}, {:.0}%)",
                p(top)
            )
        } else {
            format!(
                "the model answered {} ({:.0}%), short of the {:.0}-point margin over the evidence's {top} ({:.0}%): the evidence stands",
                self.answered,
                p(&self.answered),
                OVERRULE_MARGIN * 100.0,
                p(top)
            )
        }
    }
}

/// The options to weigh: the evidence's candidates in its order, then `other`.
pub fn options(evidence: &EvidenceSet) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &evidence.candidates {
        if out.len() + 1 >= MAX_OPTIONS {
            break;
        }
        if !out.contains(&c.candidate.signature) {
            out.push(c.candidate.signature.clone());
        }
    }
    out.push(OTHER.into());
    out
}

/// The message that asks for the number.
pub fn ask(evidence: &EvidenceSet, options: &[String]) -> ChatMessage {
    let listed: Vec<String> = options
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let c = evidence
                .candidates
                .iter()
                .find(|c| &c.candidate.signature == o);
            match c {
                Some(c) => format!(
                    "{}. {o}: {}{}",
                    i + 1,
                    c.candidate.title,
                    c.candidate
                        .component
                        .as_deref()
                        .map(|w| format!(" (in {w})"))
                        .unwrap_or_default()
                ),
                None => format!("{}. {o}: none of the above", i + 1),
            }
        })
        .collect();
    ChatMessage::user(render(WEIGH, &[("options", &listed.join("\n"))]))
}

/// Which option stands: the evidence's top (index 0) unless another has
/// [`OVERRULE_MARGIN`] more probability.
pub fn decide(p: &[f64]) -> usize {
    let top = p.first().copied().unwrap_or(0.0);
    let best = p
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .filter(|(_, q)| **q >= top + OVERRULE_MARGIN);
    best.map_or(0, |(i, _)| i)
}

/// Weighs the evidence's candidates against the model's `answer`. `conversation` is the
/// specialist's conversation up to (not including) the request for its answer. Returns
/// the finding that stands, the weighing (or why there is none: nothing to weigh, or the
/// server gave no probabilities or failed; then the model's answer stands only when it is
/// the evidence's top candidate) and the call.
pub async fn weigh(
    llm: &LlmClient,
    conversation: &[ChatMessage],
    evidence: &EvidenceSet,
    answer: Finding,
    severities: &RangeInclusive<Severity>,
) -> (Finding, Result<Weighing, String>, Option<ModelCall>) {
    if evidence.candidates.is_empty() {
        return (
            answer,
            Err("the evidence has no candidate to weigh".into()),
            None,
        );
    }
    let options = options(evidence);
    let mut messages = conversation.to_vec();
    messages.push(ask(evidence, &options));
    let (p, call) = match llm.option_probabilities(&messages, options.len()).await {
        Ok(r) => r,
        Err(e) => {
            let error = e.to_string();
            return (
                unweighed(evidence, answer, &error, severities),
                Err(format!("the weighing call failed: {error}")),
                None,
            );
        }
    };
    let answered = answer.cause.clone().unwrap_or_else(|| OTHER.into());
    let mut kept = decide(&p);
    // "Other" overrules a candidate only when the answer said so too.
    if options.get(kept).map(String::as_str) == Some(OTHER) && answered != OTHER {
        kept = 0;
    }
    let kept_cause = options.get(kept).cloned().unwrap_or_else(|| OTHER.into());
    let candidate = evidence
        .candidates
        .iter()
        .find(|c| c.candidate.signature == kept_cause);
    let weighing = Weighing {
        probabilities: p.iter().map(|x| (x * 1000.0).round() / 1000.0).collect(),
        options,
        answered: answered.clone(),
        kept: kept_cause.clone(),
        overruled: kept != 0,
    };
    let finding = match candidate {
        // The model chose what stands: its lines; the evidence's component (the evidence
        // localizes: the callee, the node, the object the state names) and the cause's
        // own severity within the evidence's bounds (the model's pick of a level has no
        // probabilities to weigh, and a small model's drifts: ERROR for a WARN cause).
        Some(c) if answered == kept_cause => Finding {
            diagnosis: Diagnosis {
                component: c
                    .candidate
                    .component
                    .clone()
                    .unwrap_or(answer.diagnosis.component),
                severity: c
                    .candidate
                    .severity
                    .clamp(*severities.start(), *severities.end()),
                ..answer.diagnosis
            },
            // The probability the model gave it, not the number it wrote.
            confidence: percent(p.get(kept).copied().unwrap_or(0.0)),
            ..answer
        },
        Some(c) => {
            let how = weighing.reason();
            let confidence = percent(p.get(kept).copied().unwrap_or(0.0));
            let mut f = candidate_finding(c, evidence, &format!("Weighed: {how}."), confidence);
            f.diagnosis.severity = f
                .diagnosis
                .severity
                .clamp(*severities.start(), *severities.end());
            f
        }
        None => answer,
    };
    (finding, Ok(weighing), Some(call))
}

/// The finding that stands when the choice could not be weighed (the server gave no
/// probabilities, or failed): the model's answer when it is the evidence's top candidate,
/// else that candidate. A choice with no margin measured does not overrule the evidence.
fn unweighed(
    evidence: &EvidenceSet,
    answer: Finding,
    error: &str,
    severities: &RangeInclusive<Severity>,
) -> Finding {
    let Some(top) = evidence.candidates.first() else {
        return answer;
    };
    if answer.cause.as_deref() == Some(top.candidate.signature.as_str()) {
        tracing::warn!(%error, "could not weigh the candidates; the model chose the evidence's top candidate");
        return answer;
    }
    tracing::warn!(%error, "could not weigh the candidates; the evidence's top candidate stands");
    let mut f = candidate_finding(
        top,
        evidence,
        &format!(
            "The model's choice ({}) could not be weighed ({error}), so the evidence's top candidate stands.",
            answer.cause.as_deref().unwrap_or(OTHER)
        ),
        answer.confidence.min(0.5),
    );
    f.diagnosis.severity = f
        .diagnosis
        .severity
        .clamp(*severities.start(), *severities.end());
    f
}

/// A probability as a confidence in whole percent (as a model writes one).
fn percent(p: f64) -> f32 {
    ((p * 100.0).round() / 100.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_evidence_stands_unless_the_model_has_the_margin() {
        assert_eq!(decide(&[0.6, 0.3, 0.1]), 0);
        assert_eq!(decide(&[0.2, 0.6, 0.2]), 0, "0.4 ahead is short of 0.5");
        assert_eq!(decide(&[0.1, 0.85, 0.05]), 1);
        assert_eq!(decide(&[0.05, 0.05, 0.9]), 2);
        assert_eq!(decide(&[1.0]), 0);
        assert_eq!(decide(&[]), 0);
    }

    #[test]
    fn reasons_say_what_stood() {
        let w = |answered: &str, kept: &str, overruled| Weighing {
            options: vec![
                "scheduling_failure".into(),
                "service_unavailable".into(),
                "other".into(),
            ],
            probabilities: vec![0.3, 0.6, 0.1],
            answered: answered.into(),
            kept: kept.into(),
            overruled,
        };
        let r = w("service_unavailable", "scheduling_failure", false).reason();
        assert!(
            r.contains("evidence stands") && r.contains("60%") && r.contains("30%"),
            "{r}"
        );
        let r = w("service_unavailable", "service_unavailable", true).reason();
        assert!(r.contains("overruled"), "{r}");
        let r = w("scheduling_failure", "scheduling_failure", false).reason();
        assert!(r.contains("agrees"), "{r}");
    }

    #[tokio::test]
    async fn a_choice_that_cannot_be_weighed_does_not_overrule_the_evidence() {
        use crate::evidence::SignatureLibrary;
        use crate::evidence::collect::{LineBudget, collect};
        use crate::llm::{LlmClient, LlmConfig};
        let line = |text: &str| loglens_tools::logs::LogLine {
            source: "f".into(),
            line_no: 1,
            timestamp: None,
            labels: [("pod".to_string(), "cart-7c9d8f6b5-x1abc".to_string())].into(),
            text: text.into(),
            truncated_bytes: 0,
        };
        let lines = [line("java.lang.OutOfMemoryError: Java heap space")];
        let evidence = collect(
            &lines,
            &[],
            &SignatureLibrary::builtin().unwrap(),
            &LineBudget {
                max_lines: 10,
                max_tokens: 1000,
                max_line_chars: 300,
            },
        );
        // No server listens there: the weighing call fails.
        let llm = LlmClient::new(LlmConfig {
            base_url: "http://127.0.0.1:9".into(),
            ..LlmConfig::default()
        })
        .unwrap();
        let answer = |cause: &str| Finding {
            cause: Some(cause.into()),
            diagnosis: Diagnosis {
                detail: None,
                root_cause: "the model's words".into(),
                severity: Severity::Warn,
                component: "cart".into(),
                error_signature: String::new(),
                summary: String::new(),
                action: String::new(),
            },
            evidence: Vec::new(),
            confidence: 0.9,
        };
        let all = Severity::Info..=Severity::Critical;
        let (f, w, call) = weigh(&llm, &[], &evidence, answer("rate_limited"), &all).await;
        let why = w.unwrap_err();
        assert!(why.starts_with("the weighing call failed"), "{why}");
        assert!(call.is_none());
        assert_eq!(f.cause.as_deref(), Some("oom_killed"));
        assert!(
            f.diagnosis.summary.contains("could not be weighed"),
            "{}",
            f.diagnosis.summary
        );
        // The model's choice was the top candidate: it stands as it was.
        let (f, _, _) = weigh(&llm, &[], &evidence, answer("oom_killed"), &all).await;
        assert_eq!(f.diagnosis.root_cause, "the model's words");
    }
}
