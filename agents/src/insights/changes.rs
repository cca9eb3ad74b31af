//! "What changed?" between two windows (before → after).
//!
//! Both windows' lines go through one template miner, so a message has the same template
//! in both, and each template's count and rate (per minute, so windows of different
//! lengths compare) are set side by side:
//!
//! | change | when | why it matters |
//! |---|---|---|
//! | `new_signature` | a known failure signature matches after, not before | a named failure mode started |
//! | `new_pattern` | a template with lines after and none before | something started saying this |
//! | `spiking_pattern` | at least 5 lines after and 3× the rate before | something got much louder |
//! | `vanished_pattern` | 3+ lines before, none after | a flow stopped (or an error went away) |
//! | `new_event`, `restart` | a warning event (reason, workload) not seen before; restarts (`BackOff`, `Killing`, `OOMKilling`, `Started`) | Kubernetes saw something |
//!
//! Score: severity × (1 + ln lines) × a factor per kind (new signatures 3, new patterns 2,
//! spikes 1 + ln ratio, restarts 2, vanished errors ½, vanished ordinary lines 1½).
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::triage::event_severity;
use super::{Evidence, Snapshot, first_evidence, line_severity, severity_weight};
use crate::Severity;
use crate::evidence::patterns::{MinerConfig, TemplateMiner};
use crate::evidence::signatures::{SignatureLibrary, workload};

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A known failure signature appeared.
    NewSignature,
    /// A message template appeared.
    NewPattern,
    /// A template's rate rose at least threefold.
    SpikingPattern,
    /// A template stopped.
    VanishedPattern,
    /// A warning event appeared.
    NewEvent,
    /// Containers restarted (or were killed or backed off).
    Restart,
}

/// One change, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Change {
    /// 1 is the most important.
    pub rank: usize,
    /// What kind.
    pub kind: ChangeKind,
    /// The template, signature title or event reason.
    pub title: String,
    /// How bad the lines look (none for ordinary lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The services (workloads) involved.
    pub components: Vec<String>,
    /// Lines (or event repeats) before.
    pub before: u64,
    /// Lines (or event repeats) after.
    pub after: u64,
    /// After's rate over before's (spikes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// First time seen after (or last time seen before, for what vanished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<DateTime<Utc>>,
    /// The ranking score.
    pub score: f64,
    /// The change in words.
    pub why: String,
    /// Up to three lines (from after; from before for what vanished).
    pub evidence: Vec<Evidence>,
}

const SPIKE_RATIO: f64 = 3.0;
const SPIKE_MIN_LINES: u64 = 5;
const VANISH_MIN_LINES: u64 = 3;
const RESTART_REASONS: [&str; 5] = ["BackOff", "Killing", "OOMKilling", "OOMKilled", "Started"];

/// The changes from `before` to `after`, most important first: message patterns that
/// are new, vanished or spiking, known failure signatures that started, and warning
/// events and restarts that are new or more frequent.
pub fn changes(
    before: &Snapshot,
    after: &Snapshot,
    library: &SignatureLibrary,
    limit: usize,
) -> Vec<Change> {
    let mut out = Vec::new();
    pattern_changes(before, after, &mut out);
    signature_changes(before, after, library, &mut out);
    event_changes(before, after, &mut out);
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.when.cmp(&b.when))
            .then(a.title.cmp(&b.title))
    });
    out.truncate(limit);
    for (i, c) in out.iter_mut().enumerate() {
        c.rank = i + 1;
    }
    out
}

/// Message templates (mined over both windows together) that are new, vanished or
/// spiking.
fn pattern_changes(before: &Snapshot, after: &Snapshot, out: &mut Vec<Change>) {
    let (min_before, min_after) = (before.minutes(), after.minutes());
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let ids_before: Vec<usize> = before.lines.iter().map(|l| miner.add(&l.text)).collect();
    let ids_after: Vec<usize> = after.lines.iter().map(|l| miner.add(&l.text)).collect();
    miner.settle();
    let (ids_before, ids_after): (Vec<usize>, Vec<usize>) = (
        ids_before.iter().map(|&id| miner.group(id)).collect(),
        ids_after.iter().map(|&id| miner.group(id)).collect(),
    );
    let templates = miner.templates();
    let group = |ids: &[usize], lines: &'_ [loglens_tools::logs::LogLine]| {
        let mut m: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            if i < lines.len() {
                m.entry(*id).or_default().push(i);
            }
        }
        m
    };
    let (gb, ga) = (
        group(&ids_before, &before.lines),
        group(&ids_after, &after.lines),
    );
    for t in &templates {
        let template = t.text();
        let b = gb.get(&t.id).map_or(&[][..], Vec::as_slice);
        let a = ga.get(&t.id).map_or(&[][..], Vec::as_slice);
        let (nb, na) = (b.len() as u64, a.len() as u64);
        let sample = a
            .first()
            .map(|&i| &after.lines[i])
            .or_else(|| b.first().map(|&i| &before.lines[i]));
        let severity = sample.and_then(|l| line_severity(&l.text));
        let weight = severity.map_or(1.0, severity_weight);
        let title = super::clip(&loglens_tools::redact::redact(&template), 200);
        let components = |idx: &[usize], lines: &[loglens_tools::logs::LogLine]| {
            let set: BTreeSet<String> = idx.iter().map(|&i| super::component(&lines[i])).collect();
            set.into_iter().collect::<Vec<_>>()
        };
        let (kind, score, why, evidence, when, ratio) = if nb == 0 && na > 0 {
            (
                ChangeKind::NewPattern,
                weight * (1.0 + (na as f64).ln()) * 2.0,
                format!("new: {na} lines, none before"),
                first_evidence(a.iter().map(|&i| &after.lines[i]), 3),
                a.iter().find_map(|&i| after.lines[i].timestamp),
                None,
            )
        } else if na == 0 && nb >= VANISH_MIN_LINES {
            let factor = if severity.is_some_and(|s| s >= Severity::Error) {
                0.5
            } else {
                1.5
            };
            (
                ChangeKind::VanishedPattern,
                (1.0 + (nb as f64).ln()) * factor,
                format!("vanished: {nb} lines before, none after"),
                first_evidence(b.iter().rev().map(|&i| &before.lines[i]), 3),
                b.iter().rev().find_map(|&i| before.lines[i].timestamp),
                None,
            )
        } else if nb > 0 && na >= SPIKE_MIN_LINES {
            let ratio = (na as f64 / min_after) / (nb as f64 / min_before);
            if ratio < SPIKE_RATIO {
                continue;
            }
            (
                ChangeKind::SpikingPattern,
                weight * (1.0 + (na as f64).ln()) * (1.0 + ratio.ln()),
                format!("{ratio:.1}× the rate: {nb} lines before, {na} after"),
                first_evidence(a.iter().map(|&i| &after.lines[i]), 3),
                a.iter().find_map(|&i| after.lines[i].timestamp),
                Some(ratio),
            )
        } else {
            continue;
        };
        let mut comps = components(
            if na > 0 { a } else { b },
            if na > 0 { &after.lines } else { &before.lines },
        );
        comps.truncate(8);
        out.push(Change {
            rank: 0,
            kind,
            title,
            severity,
            components: comps,
            before: nb,
            after: na,
            ratio,
            when,
            score,
            why,
            evidence,
        });
    }
}

/// Known failure signatures detected after and not before.
fn signature_changes(
    before: &Snapshot,
    after: &Snapshot,
    library: &SignatureLibrary,
    out: &mut Vec<Change>,
) {
    let had: BTreeSet<String> = library
        .detect(&before.lines, &before.events)
        .into_iter()
        .map(|c| c.signature)
        .collect();
    for c in library.detect(&after.lines, &after.events) {
        if had.contains(&c.signature) {
            continue;
        }
        let mut evidence: Vec<Evidence> = c
            .lines
            .iter()
            .take(3)
            .filter_map(|&i| after.lines.get(i))
            .map(Evidence::line)
            .collect();
        evidence.extend(
            c.events
                .iter()
                .take(3 - evidence.len().min(3))
                .filter_map(|&i| after.events.get(i))
                .map(Evidence::event),
        );
        out.push(Change {
            rank: 0,
            kind: ChangeKind::NewSignature,
            title: c.title.clone(),
            severity: Some(c.severity),
            components: c.component.into_iter().collect(),
            before: 0,
            after: c.hits,
            ratio: None,
            when: evidence.iter().filter_map(|e| e.timestamp).min(),
            score: severity_weight(c.severity) * (1.0 + (c.hits.max(1) as f64).ln()) * 3.0,
            why: format!("known failure `{}` started ({} hits)", c.signature, c.hits),
            evidence,
        });
    }
}

/// Warning events and restarts (by reason and workload) that are new or more frequent.
fn event_changes(before: &Snapshot, after: &Snapshot, out: &mut Vec<Change>) {
    let key = |e: &loglens_tools::k8s::K8sEvent| (e.reason.clone(), workload(&e.name));
    let before_events: BTreeMap<(String, String), u64> =
        before.events.iter().fold(BTreeMap::new(), |mut m, e| {
            *m.entry(key(e)).or_default() += u64::from(e.count.max(1));
            m
        });
    let mut after_events: BTreeMap<(String, String), Vec<&loglens_tools::k8s::K8sEvent>> =
        BTreeMap::new();
    for e in &after.events {
        after_events.entry(key(e)).or_default().push(e);
    }
    for ((reason, component), evs) in after_events {
        let restart = RESTART_REASONS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&reason));
        if !restart && !evs.iter().any(|e| e.is_warning()) {
            continue;
        }
        let na: u64 = evs.iter().map(|e| u64::from(e.count.max(1))).sum();
        let nb = before_events
            .get(&(reason.clone(), component.clone()))
            .copied()
            .unwrap_or(0);
        if nb >= na {
            continue; // not new, not more
        }
        let severity = event_severity(&reason);
        out.push(Change {
            rank: 0,
            kind: if restart {
                ChangeKind::Restart
            } else {
                ChangeKind::NewEvent
            },
            title: reason.clone(),
            severity: Some(severity),
            components: vec![component.clone()],
            before: nb,
            after: na,
            ratio: None,
            when: evs.iter().filter_map(|e| e.last_seen).min(),
            score: severity_weight(severity) * (1.0 + (na as f64).ln()) * 2.0,
            why: format!("{reason} on {component}: {na} after, {nb} before"),
            evidence: evs.iter().take(3).map(|e| Evidence::event(e)).collect(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_lines::at;
    use super::*;

    fn lib() -> SignatureLibrary {
        SignatureLibrary::builtin().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn new_spiking_and_vanished_patterns_are_found_and_ranked() {
        let pod = "checkout-6c7d8f9b5-qwert";
        let mut before = Vec::new();
        for s in 0..10 {
            before.push(at(pod, 0, s * 5, &format!("order {s} placed in 20ms")));
            if s < 2 {
                before.push(at(pod, 0, s * 5 + 1, "WARN retrying payment call"));
            }
        }
        let mut after = Vec::new();
        for s in 0..30 {
            after.push(at(pod, 10, s, "WARN retrying payment call"));
        }
        for s in 0..4 {
            after.push(at(
                pod,
                11,
                s,
                &format!("ERROR charge {s} failed: connection refused"),
            ));
        }
        let before = Snapshot {
            lines: before,
            ..Snapshot::default()
        };
        let after = Snapshot {
            lines: after,
            ..Snapshot::default()
        };
        let got = changes(&before, &after, &lib(), 20);
        let kinds: Vec<(ChangeKind, &str)> =
            got.iter().map(|c| (c.kind, c.title.as_str())).collect();
        let find = |k: ChangeKind| {
            got.iter()
                .find(|c| c.kind == k)
                .unwrap_or_else(|| panic!("{k:?} missing from {kinds:?}"))
        };
        let new = find(ChangeKind::NewPattern);
        assert!(new.title.contains("failed"), "{kinds:?}");
        assert_eq!((new.before, new.after), (0, 4));
        assert_eq!(new.severity, Some(Severity::Error));
        let spike = find(ChangeKind::SpikingPattern);
        assert!(spike.title.contains("retrying"));
        assert!(spike.ratio.unwrap_or(0.0) >= 3.0);
        let gone = find(ChangeKind::VanishedPattern);
        assert!(gone.title.contains("placed"));
        assert_eq!(gone.after, 0);
        assert_eq!(gone.evidence.len(), 3);
        // The new error outranks the vanished ordinary flow.
        assert!(new.rank < gone.rank, "{kinds:?}");
        assert_eq!(got[0].rank, 1);
    }

    #[test]
    fn unchanged_windows_have_no_changes() {
        let pod = "web-5d8f7c9b6-abcde";
        let mk = |m| Snapshot {
            lines: (0..20)
                .map(|s| at(pod, m, s, &format!("GET /item/{s} 200")))
                .collect(),
            ..Snapshot::default()
        };
        assert_eq!(changes(&mk(0), &mk(10), &lib(), 10), Vec::new());
    }

    #[test]
    fn new_signatures_and_restarts_are_changes() {
        let ev = |reason: &str, count| loglens_tools::k8s::K8sEvent {
            namespace: Some("shop".into()),
            kind: "Pod".into(),
            name: "redis-6b8d7c9f5-zzzzz".into(),
            event_type: "Warning".into(),
            reason: reason.into(),
            message: "Back-off restarting failed container".into(),
            count,
            last_seen: None,
            age: None,
            source: None,
        };
        let before = Snapshot {
            events: vec![ev("BackOff", 2)],
            ..Snapshot::default()
        };
        let after = Snapshot {
            lines: vec![at(
                "payments-7c9d8f6b5-x1abc",
                1,
                0,
                "ERROR pq: sorry, too many clients already",
            )],
            events: vec![ev("BackOff", 9)],
            ..Snapshot::default()
        };
        let got = changes(&before, &after, &lib(), 10);
        assert!(
            got.iter().any(|c| c.kind == ChangeKind::NewSignature),
            "{got:#?}"
        );
        let r = got
            .iter()
            .find(|c| c.kind == ChangeKind::Restart)
            .unwrap_or_else(|| panic!("{got:#?}"));
        assert_eq!(
            (r.before, r.after, r.components.clone()),
            (2, 9, vec!["redis".to_string()])
        );
    }
}
