//! Consensus: many opinions in, one answer out, with the disagreement kept.
//!
//! Small models are noisy: two samples of one prompt can name different causes. Asking
//! several times (N samples per specialist, at a temperature above zero) and letting the
//! answers vote turns that noise into a measure of confidence. [`merge`] does it:
//! - **per-field majority vote** on the fields that can be compared exactly: `cause`,
//!   `component`, `severity` and `error_signature` (normalized: lower case, numbers
//!   masked). Ties go to the candidate ranked higher by the evidence, then to the more
//!   severe severity, then to the more confident opinion;
//! - the free-text fields (root cause, summary, action) come from the opinion that agrees
//!   with the most winning values;
//! - **evidence united**: every line cited by an opinion that voted for the winning cause;
//! - **confidence from agreement**: the mean share of votes the winners got, times the mean
//!   confidence the agreeing opinions gave themselves. One opinion scores its own
//!   confidence; four that split 2-2 on the cause score lower than four that agree;
//! - **disagreement reported**: each field where opinions differed, with who said what.
use crate::finding::Diagnosis;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, LineRef};

/// Most evidence lines in the merged finding.
pub const MAX_MERGED_EVIDENCE: usize = 12;

/// One opinion to merge: who gave it and what it says.
#[derive(Debug, Clone)]
pub struct Ballot {
    /// `infra#1`, `app#2`, ...
    pub voter: String,
    /// The finding.
    pub finding: Finding,
}

/// The votes one value got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// The value (normalized for error signatures).
    pub value: String,
    /// Who voted for it.
    pub voters: Vec<String>,
}

/// The vote on one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldVote {
    /// The field.
    pub field: String,
    /// Values, most votes first; the first won.
    pub votes: Vec<Vote>,
    /// The winner's share of the votes, 0..1.
    pub agreement: f32,
}

/// The merged answer and how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consensus {
    /// The merged finding.
    pub finding: Finding,
    /// How many opinions were merged.
    pub opinions: usize,
    /// Mean agreement over the voted fields, 0..1.
    pub agreement: f32,
    /// The vote on each field.
    pub fields: Vec<FieldVote>,
    /// One line per field where opinions differed: "severity: ERROR (infra#1) vs WARN (app#1)".
    pub disagreements: Vec<String>,
}

const FIELDS: [&str; 4] = ["cause", "component", "severity", "error_signature"];

fn value_of(f: &Finding, field: &str) -> String {
    match field {
        "cause" => f.cause.clone().unwrap_or_else(|| "other".into()),
        "component" => f.diagnosis.component.trim().to_lowercase(),
        "severity" => f.diagnosis.severity.to_string(),
        _ => normalize_signature(&f.diagnosis.error_signature),
    }
}

/// An error signature for comparison: lower case, digits masked, spaces collapsed.
pub fn normalize_signature(s: &str) -> String {
    let masked: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    masked.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "CRITICAL" => 3,
        "ERROR" => 2,
        "WARN" => 1,
        _ => 0,
    }
}

/// Merges the ballots. `cause_rank` is the candidates' order (most likely first), for
/// ties. Returns `None` when there are no ballots.
pub fn merge(ballots: &[Ballot], cause_rank: &[String]) -> Option<Consensus> {
    let n = ballots.len();
    if n == 0 {
        return None;
    }
    let fields: Vec<FieldVote> = FIELDS
        .iter()
        .map(|field| tally(field, ballots, cause_rank))
        .collect();
    let winners: BTreeMap<&str, String> = FIELDS
        .iter()
        .zip(&fields)
        .map(|(field, vote)| (*field, vote.votes[0].value.clone()))
        .collect();

    let rep = representative(ballots, &winners)?;

    let cause = winners
        .get("cause")
        .cloned()
        .unwrap_or_else(|| "other".into());
    let agreeing: Vec<&Ballot> = ballots
        .iter()
        .filter(|b| value_of(&b.finding, "cause") == cause)
        .collect();
    let evidence = merged_evidence(&agreeing);

    let first_with = |field: &str| -> Option<&Finding> {
        let w = winners.get(field)?;
        ballots
            .iter()
            .map(|b| &b.finding)
            .find(|f| &value_of(f, field) == w)
    };
    let severity =
        first_with("severity").map_or(rep.finding.diagnosis.severity, |f| f.diagnosis.severity);
    let component = first_with("component").map_or_else(
        || rep.finding.diagnosis.component.clone(),
        |f| f.diagnosis.component.clone(),
    );
    let error_signature = first_with("error_signature").map_or_else(
        || rep.finding.diagnosis.error_signature.clone(),
        |f| f.diagnosis.error_signature.clone(),
    );

    let agreement = fields.iter().map(|f| f.agreement).sum::<f32>() / fields.len() as f32;
    let self_confidence =
        agreeing.iter().map(|b| b.finding.confidence).sum::<f32>() / agreeing.len().max(1) as f32;
    let disagreements = fields
        .iter()
        .filter(|f| f.votes.len() > 1)
        .map(|f| {
            let parts: Vec<String> = f
                .votes
                .iter()
                .map(|v| format!("{} ({})", v.value, v.voters.join(", ")))
                .collect();
            format!("{}: {}", f.field, parts.join(" vs "))
        })
        .collect();

    // The kind of that cause, as the opinions that chose it read it.
    let detail = ballots
        .iter()
        .filter(|b| b.finding.cause.as_deref() == Some(cause.as_str()))
        .find_map(|b| b.finding.diagnosis.detail.clone());
    Some(Consensus {
        finding: Finding {
            cause: Some(cause),
            diagnosis: Diagnosis {
                detail,
                root_cause: rep.finding.diagnosis.root_cause.clone(),
                severity,
                component,
                error_signature,
                summary: rep.finding.diagnosis.summary.clone(),
                action: rep.finding.diagnosis.action.clone(),
            },
            evidence,
            confidence: (agreement * self_confidence * 100.0).round() / 100.0,
        },
        opinions: n,
        agreement,
        fields,
        disagreements,
    })
}

/// One field's votes: a value per distinct answer with who gave it, most votes first
/// (ties: the candidates' order for the cause, the worse severity, then the most
/// confident voter). `ballots` is not empty.
fn tally(field: &str, ballots: &[Ballot], cause_rank: &[String]) -> FieldVote {
    let mut tally: Vec<Vote> = Vec::new();
    for b in ballots {
        let v = value_of(&b.finding, field);
        match tally.iter_mut().find(|t| t.value == v) {
            Some(t) => t.voters.push(b.voter.clone()),
            None => tally.push(Vote {
                value: v,
                voters: vec![b.voter.clone()],
            }),
        }
    }
    let best_confidence = |v: &Vote| -> f32 {
        ballots
            .iter()
            .filter(|b| v.voters.contains(&b.voter))
            .map(|b| b.finding.confidence)
            .fold(0.0, f32::max)
    };
    let cause_pos = |v: &str| -> usize {
        cause_rank
            .iter()
            .position(|c| c == v)
            .unwrap_or(cause_rank.len() + usize::from(v == "other"))
    };
    tally.sort_by(|a, b| {
        b.voters
            .len()
            .cmp(&a.voters.len())
            .then_with(|| match field {
                "cause" => cause_pos(&a.value).cmp(&cause_pos(&b.value)),
                "severity" => severity_rank(&b.value).cmp(&severity_rank(&a.value)),
                _ => std::cmp::Ordering::Equal,
            })
            .then_with(|| best_confidence(b).total_cmp(&best_confidence(a)))
            .then_with(|| a.value.cmp(&b.value))
    });
    let agreement = tally[0].voters.len() as f32 / ballots.len() as f32;
    FieldVote {
        field: field.to_string(),
        votes: tally,
        agreement,
    }
}

/// The ballot that speaks for the rest: it agrees with the most winning values, then
/// it is the most confident, then the first.
fn representative<'a>(
    ballots: &'a [Ballot],
    winners: &BTreeMap<&str, String>,
) -> Option<&'a Ballot> {
    let matches = |b: &Ballot| {
        FIELDS
            .iter()
            .filter(|f| winners.get(**f) == Some(&value_of(&b.finding, f)))
            .count()
    };
    ballots
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| {
            matches(a)
                .cmp(&matches(b))
                .then(a.finding.confidence.total_cmp(&b.finding.confidence))
                .then(j.cmp(i))
        })
        .map(|(_, b)| b)
}

/// The lines the ballots that chose the winning cause cite, each once, at most
/// [`MAX_MERGED_EVIDENCE`], in time order.
fn merged_evidence(agreeing: &[&Ballot]) -> Vec<LineRef> {
    let mut evidence: Vec<LineRef> = Vec::new();
    for b in agreeing {
        for l in &b.finding.evidence {
            let dup = evidence
                .iter()
                .any(|e| e.source == l.source && e.line_no == l.line_no && e.text == l.text);
            if !dup && evidence.len() < MAX_MERGED_EVIDENCE {
                evidence.push(l.clone());
            }
        }
    }
    evidence.sort_by_key(|l| (l.timestamp.is_some(), l.timestamp, l.n));
    evidence
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use std::collections::BTreeMap as Map;

    fn line(n: usize, text: &str) -> LineRef {
        LineRef {
            n,
            source: "f".into(),
            line_no: n as u64,
            timestamp: None,
            labels: Map::new(),
            text: text.into(),
            similar: 0,
            why: None,
        }
    }

    /// A ballot as the model wrote it (recorded replies from the tiny model's runs have
    /// this shape: same cause, varying severity and wording).
    fn ballot(
        voter: &str,
        cause: &str,
        component: &str,
        severity: Severity,
        sig: &str,
        conf: f32,
        ev: &[usize],
    ) -> Ballot {
        Ballot {
            voter: voter.into(),
            finding: Finding {
                cause: Some(cause.into()),
                diagnosis: Diagnosis {
                    detail: None,
                    root_cause: format!("{voter} thinks {cause}"),
                    severity,
                    component: component.into(),
                    error_signature: sig.into(),
                    summary: format!("summary by {voter}"),
                    action: format!("action by {voter}"),
                },
                evidence: ev.iter().map(|&n| line(n, &format!("line {n}"))).collect(),
                confidence: conf,
            },
        }
    }

    #[test]
    fn majority_wins_each_field_and_disagreement_is_reported() {
        let ballots = vec![
            ballot(
                "infra#1",
                "oom_killed",
                "cartservice",
                Severity::Critical,
                "OOMKilled exit 137",
                0.9,
                &[1, 2],
            ),
            ballot(
                "app#1",
                "connection_refused",
                "Frontend",
                Severity::Error,
                "connection refused to cart",
                0.7,
                &[3],
            ),
            ballot(
                "infra#2",
                "oom_killed",
                "cartservice",
                Severity::Error,
                "oomkilled exit 139",
                0.8,
                &[2, 4],
            ),
        ];
        let c = merge(
            &ballots,
            &["oom_killed".into(), "connection_refused".into()],
        )
        .unwrap();
        assert_eq!(c.finding.cause.as_deref(), Some("oom_killed"));
        assert_eq!(c.finding.diagnosis.component, "cartservice");
        // Severity split 1 CRITICAL / 2 ERROR: the majority wins, not the worst.
        assert_eq!(c.finding.diagnosis.severity, Severity::Error);
        // Signatures equal once numbers are masked.
        assert_eq!(c.fields[3].votes[0].voters, vec!["infra#1", "infra#2"]);
        // Evidence united from the agreeing opinions only.
        let ev: Vec<usize> = c.finding.evidence.iter().map(|l| l.n).collect();
        assert_eq!(ev, vec![1, 2, 4]);
        // Text from the opinion agreeing with the most winners (infra#2: all four).
        assert_eq!(c.finding.diagnosis.summary, "summary by infra#2");
        assert_eq!(c.opinions, 3);
        assert!(
            c.disagreements.iter().any(|d| d
                .starts_with("cause: oom_killed (infra#1, infra#2) vs connection_refused (app#1)")),
            "{:?}",
            c.disagreements
        );
        assert!(
            c.disagreements
                .iter()
                .any(|d| d.starts_with("severity: ERROR"))
        );
        // Confidence: mean agreement (2/3 on each field) x mean self-confidence (0.85).
        assert!(
            (c.finding.confidence - 0.57).abs() < 0.011,
            "{}",
            c.finding.confidence
        );
    }

    #[test]
    fn ties_go_to_the_higher_ranked_candidate_and_the_worse_severity() {
        let ballots = vec![
            ballot(
                "infra#1",
                "dns_resolution_failure",
                "coredns",
                Severity::Warn,
                "no such host",
                0.5,
                &[1],
            ),
            ballot(
                "app#1",
                "upstream_timeout",
                "checkout",
                Severity::Error,
                "timeout",
                0.9,
                &[2],
            ),
        ];
        let c = merge(
            &ballots,
            &["upstream_timeout".into(), "dns_resolution_failure".into()],
        )
        .unwrap();
        assert_eq!(c.finding.cause.as_deref(), Some("upstream_timeout"));
        assert_eq!(c.finding.diagnosis.severity, Severity::Error);
        assert_eq!(c.agreement, 0.5);
    }

    #[test]
    fn one_opinion_keeps_its_own_confidence_and_no_ballots_is_none() {
        let b = ballot("app#1", "other", "api", Severity::Info, "x", 0.6, &[1]);
        let c = merge(&[b], &[]).unwrap();
        assert!(c.disagreements.is_empty());
        assert!((c.finding.confidence - 0.6).abs() < 1e-6);
        assert!(merge(&[], &[]).is_none());
    }
}
