//! Reading the answer: the finding a reply holds, the severities the evidence allows,
//! and the finding the evidence gives alone (when the model's reply is unusable).
use super::*;
use crate::finding::Diagnosis;

/// The finding in a reply that matched its schema: the model's own words (`full`), or
/// its choices worded from the evidence (`choose`).
pub(crate) fn read_answer(
    mut value: Value,
    mode: AnswerMode,
    evidence: &EvidenceSet,
    lines: &[LineRef],
) -> Result<Finding, AnalyzeError> {
    let misfit = |e: serde_json::Error| {
        AnalyzeError::Model(LlmError::Protocol(format!(
            "the finding does not fit its type: {e}"
        )))
    };
    if mode == AnswerMode::Choose {
        let choice: ModelChoice = serde_json::from_value(value).map_err(misfit)?;
        return Ok(word_choice(choice, evidence, lines));
    }
    let cause = value
        .as_object_mut()
        .and_then(|o| o.remove("cause"))
        .and_then(|v| v.as_str().map(str::to_string));
    let model: ModelFinding = serde_json::from_value(value).map_err(misfit)?;
    let mut finding = Finding::resolve(model, lines);
    finding.cause = cause;
    Ok(finding)
}

/// The severities the evidence supports, from a floor to a ceiling. The ceiling is the
/// worst it states ([`stated_severity`]): informational lines cannot be called an outage.
/// The floor is the severity of the top candidate (what that kind of failure is), or,
/// with no candidate, the worst level a line states in its own level field: a line that
/// tells the model "report severity INFO" cannot talk an error down.
pub(super) fn severity_bounds(
    evidence: &EvidenceSet,
    lines: &[LineRef],
) -> std::ops::RangeInclusive<crate::Severity> {
    let ceiling = stated_severity(evidence, lines);
    let floor = match evidence.candidates.first() {
        Some(c) => c.candidate.severity,
        None => lines
            .iter()
            .filter_map(|l| crate::insights::stated_level(&l.text))
            .max()
            .unwrap_or(crate::Severity::Info),
    };
    floor.min(ceiling)..=ceiling
}

/// The worst severity the evidence states: its lines' levels (a stated level, else their
/// words) and its candidate causes' severities; INFO when it states none.
pub(super) fn stated_severity(evidence: &EvidenceSet, lines: &[LineRef]) -> crate::Severity {
    let from_lines = lines
        .iter()
        .filter_map(|l| crate::insights::line_severity(&l.text))
        .max();
    let from_candidates = evidence
        .candidates
        .iter()
        .map(|c| c.candidate.severity)
        .max();
    from_lines
        .max(from_candidates)
        .unwrap_or(crate::Severity::Info)
}

/// Confidence given to an answer taken from the evidence alone.
pub(super) const EVIDENCE_ONLY_CONFIDENCE: f32 = 0.3;

/// The answer the evidence gives without a model: the top candidate of this role's
/// category (else the top candidate), with its lines. `None` without candidates.
pub fn evidence_finding(role: Role, evidence: &EvidenceSet) -> Option<Finding> {
    let c = evidence
        .candidates
        .iter()
        .find(|c| c.candidate.category == role.category())
        .or_else(|| evidence.candidates.first())?;
    Some(candidate_finding(
        c,
        evidence,
        "Found by the signature library; no model answer.",
        EVIDENCE_ONLY_CONFIDENCE,
    ))
}

/// The finding one candidate stands for, worded from the signature library, citing the
/// candidate's own lines; `how` ends the summary (how it came to be the answer).
pub fn candidate_finding(
    c: &CandidateRef,
    evidence: &EvidenceSet,
    how: &str,
    confidence: f32,
) -> Finding {
    let mut cited: Vec<LineRef> = evidence
        .lines
        .iter()
        .filter(|l| c.cited.contains(&l.n))
        .cloned()
        .collect();
    if cited.is_empty() {
        cited.extend(evidence.lines.last().cloned());
    }
    let signature = cited
        .first()
        .map(|l| clip(&l.text, 120))
        .unwrap_or_else(|| c.candidate.title.clone());
    Finding {
        cause: Some(c.candidate.signature.clone()),
        diagnosis: Diagnosis {
            detail: c.candidate.detail.clone(),
            root_cause: c.candidate.title.clone(),
            severity: c.candidate.severity,
            component: c
                .candidate
                .component
                .clone()
                .or_else(|| evidence.components.first().cloned())
                .unwrap_or_else(|| "unknown".into()),
            error_signature: signature,
            summary: format!(
                "{} ({} matching lines and events). {how}",
                c.candidate.title, c.candidate.hits
            ),
            action: c.candidate.action.clone(),
        },
        evidence: cited,
        confidence,
    }
}
