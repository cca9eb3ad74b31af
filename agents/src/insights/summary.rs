//! "What happened in the last hour?": a digest of a window, and the model's prose over it.
//!
//! The [`Digest`] is computed: volume per component, the peak minute of errors, the top
//! problems ([`super::triage`]), the changes against the window before
//! ([`super::changes`]) and the component the failures started from
//! ([`super::cascade`]). [`narrate`] then asks the model for a headline and a few
//! sentences in a JSON schema, from the digest's text only; when the model is down or
//! answers badly, the digest's own sentence stands in, so a summary always comes back.
use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cascade::{Root, cascade};
use super::changes::{Change, changes};
use super::triage::{TriageItem, triage};
use super::{Snapshot, component, line_severity};
use crate::Severity;
use crate::evidence::signatures::SignatureLibrary;
use crate::llm::{ChatMessage, LlmClient, LlmError, ModelCall};
use crate::prompts::{SUMMARY, render};

/// Lines and errors of one component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Volume {
    /// The workload.
    pub component: String,
    /// Its lines.
    pub lines: u64,
    /// Its error (and worse) lines.
    pub errors: u64,
    /// Its warning lines.
    pub warnings: u64,
}

/// The busiest minute for errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Peak {
    /// The minute.
    pub minute: DateTime<Utc>,
    /// Error lines in it.
    pub errors: u64,
}

/// A window, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Digest {
    /// Start of the window, when bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// End of the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// All lines.
    pub lines: u64,
    /// Error (and worse) lines.
    pub errors: u64,
    /// Warning lines.
    pub warnings: u64,
    /// Warning events (with repeats).
    pub warning_events: u64,
    /// Per component, most errors first (at most 10).
    pub components: Vec<Volume>,
    /// The minute with the most errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<Peak>,
    /// The top problems.
    pub problems: Vec<TriageItem>,
    /// The top changes against the window before (empty without one).
    pub changes: Vec<Change>,
    /// Where the failures started, when they cascade from one component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    /// The digest in one paragraph, computed (the fallback summary).
    pub text: String,
}

/// Items of each kind kept in a digest.
const TOP: usize = 5;

/// Measures `current`, against `previous` when given.
pub fn digest(
    current: &Snapshot,
    previous: Option<&Snapshot>,
    library: &SignatureLibrary,
) -> Digest {
    let mut per: BTreeMap<String, Volume> = BTreeMap::new();
    let mut per_minute: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
    let (mut errors, mut warnings) = (0u64, 0u64);
    for l in &current.lines {
        let c = component(l);
        let v = per.entry(c.clone()).or_insert_with(|| Volume {
            component: c,
            lines: 0,
            errors: 0,
            warnings: 0,
        });
        v.lines += 1;
        match line_severity(&l.text) {
            Some(Severity::Error | Severity::Critical) => {
                v.errors += 1;
                errors += 1;
                if let Some(m) = l
                    .timestamp
                    .and_then(|t| t.duration_trunc(chrono::Duration::minutes(1)).ok())
                {
                    *per_minute.entry(m).or_default() += 1;
                }
            }
            Some(Severity::Warn) => {
                v.warnings += 1;
                warnings += 1;
            }
            _ => {}
        }
    }
    let mut components: Vec<Volume> = per.into_values().collect();
    components.sort_by(|a, b| {
        b.errors
            .cmp(&a.errors)
            .then(b.lines.cmp(&a.lines))
            .then(a.component.cmp(&b.component))
    });
    components.truncate(10);
    let peak = per_minute
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(minute, errors)| Peak { minute, errors });
    let warning_events = current
        .events
        .iter()
        .filter(|e| e.is_warning())
        .map(|e| u64::from(e.count.max(1)))
        .sum();
    let problems = triage(current, previous, library, TOP);
    let changes = previous
        .map(|p| changes(p, current, library, TOP))
        .unwrap_or_default();
    let root = cascade(current).root;
    let mut d = Digest {
        start: current.start,
        end: current.end,
        lines: current.lines.len() as u64,
        errors,
        warnings,
        warning_events,
        components,
        peak,
        problems,
        changes,
        root,
        text: String::new(),
    };
    d.text = sentence(&d);
    d
}

fn sentence(d: &Digest) -> String {
    let failing = d.components.iter().filter(|c| c.errors > 0).count();
    let mut s = format!(
        "{} lines from {} components; {} errors in {} component{}, {} warnings, {} warning events.",
        d.lines,
        d.components.len(),
        d.errors,
        failing,
        if failing == 1 { "" } else { "s" },
        d.warnings,
        d.warning_events
    );
    if d.problems.is_empty() && d.warning_events == 0 {
        s.push_str(" Nothing looks wrong.");
        return s;
    }
    if let Some(top) = d.problems.first() {
        s.push_str(&format!(
            " Top problem: {} ({}, {}×, in {}).",
            super::clip(&top.title, 120),
            top.severity,
            top.count,
            top.components.join(", ")
        ));
    }
    if let Some(r) = &d.root {
        s.push_str(&format!(" Failures start at {}: {}.", r.component, r.why));
    }
    if let Some(p) = &d.peak {
        s.push_str(&format!(
            " Errors peaked at {} ({} that minute).",
            p.minute.format("%H:%M"),
            p.errors
        ));
    }
    if let Some(c) = d.changes.first() {
        s.push_str(&format!(
            " Biggest change: {} ({}).",
            super::clip(&c.title, 100),
            c.why
        ));
    }
    s
}

/// The digest as the model reads it: the sentence, then the top items with one evidence
/// line each.
pub fn digest_text(d: &Digest) -> String {
    let mut out = vec![d.text.clone()];
    if !d.problems.is_empty() {
        out.push("Problems, most urgent first:".into());
        for p in &d.problems {
            let ev = p
                .evidence
                .first()
                .map(|e| format!(" e.g. \"{}\"", super::clip(&e.text, 160)))
                .unwrap_or_default();
            out.push(format!(
                "{}. [{}] {} — {}; {}{ev}",
                p.rank,
                p.severity,
                super::clip(&p.title, 120),
                p.components.join(", "),
                p.why
            ));
        }
    }
    if !d.changes.is_empty() {
        out.push("Changes against the window before:".into());
        for c in &d.changes {
            out.push(format!(
                "{}. {:?}: {} — {}",
                c.rank,
                c.kind,
                super::clip(&c.title, 120),
                c.why
            ));
        }
    }
    out.join("\n")
}

/// The model's headline and summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Narrative {
    /// One short sentence.
    pub headline: String,
    /// Two to four sentences.
    pub summary: String,
}

/// The narrative's JSON schema (the model's reply is constrained to it).
pub fn narrative_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "headline": {"type": "string", "minLength": 3, "maxLength": 160},
            "summary": {"type": "string", "minLength": 3, "maxLength": 900}
        },
        "required": ["headline", "summary"],
        "additionalProperties": false
    })
}

/// Asks the model to write the digest up; returns its narrative and calls.
pub async fn narrate(llm: &LlmClient, d: &Digest) -> Result<(Narrative, Vec<ModelCall>), LlmError> {
    let window = match (d.start, d.end) {
        (Some(s), Some(e)) => format!(
            "{} to {} UTC",
            s.format("%Y-%m-%d %H:%M"),
            e.format("%H:%M")
        ),
        _ => "the lines given".into(),
    };
    let text = digest_text(d);
    let messages = [
        ChatMessage::system(SUMMARY.system),
        ChatMessage::user(render(
            SUMMARY.user,
            &[("window", &window), ("digest", &text)],
        )),
    ];
    let reply = llm
        .complete_json::<Narrative>(&messages, "summary", &narrative_schema(), None)
        .await?;
    Ok((reply.value, reply.calls))
}

#[cfg(test)]
mod tests {
    use super::super::test_lines::at;
    use super::*;

    #[test]
    fn the_digest_counts_ranks_and_says_it() {
        let mut lines = vec![at("web-5d8f7c9b6-abcde", 0, 0, "GET / 200")];
        for s in 0..6 {
            lines.push(at(
                "payments-7c9d8f6b5-x1abc",
                3,
                s,
                "ERROR pq: sorry, too many clients already",
            ));
        }
        lines.push(at(
            "checkout-6c7d8f9b5-qwert",
            4,
            0,
            "ERROR order failed: payment service unavailable",
        ));
        lines.push(at("web-5d8f7c9b6-abcde", 4, 1, "WARN slow render"));
        let previous = Snapshot {
            lines: vec![at("web-5d8f7c9b6-abcde", 0, 0, "GET / 200")],
            ..Snapshot::default()
        };
        let lib = SignatureLibrary::builtin().unwrap_or_else(|e| panic!("{e}"));
        let d = digest(
            &Snapshot {
                lines,
                ..Snapshot::default()
            },
            Some(&previous),
            &lib,
        );
        assert_eq!((d.lines, d.errors, d.warnings), (9, 7, 1));
        assert_eq!(d.components[0].component, "payments");
        assert_eq!(d.peak.as_ref().map(|p| p.errors), Some(6));
        assert!(!d.problems.is_empty() && !d.changes.is_empty());
        assert_eq!(
            d.root.as_ref().map(|r| r.component.as_str()),
            Some("payments")
        );
        assert!(d.text.contains("Failures start at payments"), "{}", d.text);
        let t = digest_text(&d);
        assert!(
            t.contains("Problems, most urgent first:") && t.contains("Changes against"),
            "{t}"
        );
    }

    #[test]
    fn a_quiet_window_says_so() {
        let lib = SignatureLibrary::builtin().unwrap_or_else(|e| panic!("{e}"));
        let d = digest(
            &Snapshot {
                lines: vec![at("web-5d8f7c9b6-abcde", 0, 0, "GET / 200")],
                ..Snapshot::default()
            },
            None,
            &lib,
        );
        assert!(d.text.ends_with("Nothing looks wrong."), "{}", d.text);
        assert!(d.root.is_none());
    }
}
