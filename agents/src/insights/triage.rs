//! Triage: the window's problems, most urgent first.
//!
//! Error and warning lines are grouped by known failure signature when one matches, else
//! by message template; warning events by reason. Each group is scored on
//!
//! - **severity**: the signature's, else the line's own words (`FATAL` 5, `ERROR` 3,
//!   `WARN` 1),
//! - **impact**: its volume (logarithmic: the thousandth repeat adds little) and breadth
//!   (each further service it appears in adds half),
//! - **novelty**: a group absent from the previous window counts double: what is new is
//!   what someone should look at first.
//!
//! `score = severity × (1 + ln lines) × (1 + ½ (services − 1)) × (2 if new)`.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Evidence, Snapshot, first_evidence, line_severity, severity_weight};
use crate::Severity;
use crate::evidence::patterns::{MinerConfig, TemplateMiner};
use crate::evidence::signatures::{SignatureLibrary, workload};

/// One ranked problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TriageItem {
    /// 1 is the most urgent.
    pub rank: usize,
    /// What groups it: `signature:<id>`, `pattern:<template>` or `event:<reason>`.
    pub key: String,
    /// A readable title: the signature's, the template, or the event reason.
    pub title: String,
    /// How bad.
    pub severity: Severity,
    /// Lines (or event repeats) in the window.
    pub count: u64,
    /// Per minute of the window.
    pub rate_per_minute: f64,
    /// The services (workloads) it appears in, most lines first.
    pub components: Vec<String>,
    /// Distinct pods.
    pub pods: usize,
    /// First time seen in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
    /// Last time seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    /// Absent from the previous window (only when one was given).
    pub novel: bool,
    /// The ranking score.
    pub score: f64,
    /// The score in words.
    pub why: String,
    /// What to do, when a known signature says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Up to three distinct lines (or events).
    pub evidence: Vec<Evidence>,
}

#[derive(Default)]
struct Group<'a> {
    title: String,
    severity: Option<Severity>,
    action: Option<String>,
    lines: Vec<&'a loglens_tools::logs::LogLine>,
    events: Vec<&'a loglens_tools::k8s::K8sEvent>,
    count: u64,
}

/// The key of each problem line in `lines` (and its title, signature severity and
/// action), with a miner shared across calls so templates line up between windows.
fn classify<'a>(
    lines: &'a [loglens_tools::logs::LogLine],
    library: &SignatureLibrary,
    miner: &mut TemplateMiner,
) -> Vec<(
    String,
    &'a loglens_tools::logs::LogLine,
    usize,
    Option<Severity>,
)> {
    let mut out = Vec::new();
    for l in lines {
        if let Some(sig) = library.match_line(&l.text) {
            out.push((
                format!("signature:{}", sig.id),
                l,
                usize::MAX,
                Some(sig.severity),
            ));
        } else if let Some(sev) = line_severity(&l.text) {
            let id = miner.add(&l.text);
            out.push((String::new(), l, id, Some(sev)));
        }
    }
    out
}

/// How bad a warning event's reason is.
pub(crate) fn event_severity(reason: &str) -> Severity {
    match reason.to_ascii_lowercase().as_str() {
        "oomkilling" | "oomkilled" | "evicted" | "systemoom" | "nodenotready" => Severity::Critical,
        "backoff" | "failed" | "failedmount" | "failedscheduling" | "unhealthy"
        | "failedcreate" | "errimagepull" | "imagepullbackoff" | "killing" => Severity::Error,
        _ => Severity::Warn,
    }
}

/// Ranks the problems of `current`; `previous` (the window before it) makes novelty.
pub fn triage(
    current: &Snapshot,
    previous: Option<&Snapshot>,
    library: &SignatureLibrary,
    limit: usize,
) -> Vec<TriageItem> {
    let mut miner = TemplateMiner::new(MinerConfig::default());
    // The previous window first: its templates get ids that the current lines then join.
    let before = previous.map(|p| classify(&p.lines, library, &mut miner));
    let now = classify(&current.lines, library, &mut miner);
    miner.settle();
    let key_of = |key: String, id: usize| {
        if key.is_empty() {
            format!("#{}", miner.group(id))
        } else {
            key
        }
    };
    let mut seen_before: BTreeSet<String> = BTreeSet::new();
    if let (Some(p), Some(before)) = (previous, before) {
        for (key, _, id, _) in before {
            seen_before.insert(key_of(key, id));
        }
        for e in p.events.iter().filter(|e| e.is_warning()) {
            seen_before.insert(format!("event:{}", e.reason));
        }
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (key, line, id, sev) in now {
        let key = key_of(key, id);
        let g = groups.entry(key).or_default();
        g.lines.push(line);
        g.count += 1;
        g.severity = g.severity.max(sev);
    }
    for e in current.events.iter().filter(|e| e.is_warning()) {
        let g = groups.entry(format!("event:{}", e.reason)).or_default();
        g.events.push(e);
        g.count += u64::from(e.count.max(1));
        g.severity = g.severity.max(Some(event_severity(&e.reason)));
    }
    let minutes = current.minutes();
    let mut items: Vec<TriageItem> = groups
        .into_iter()
        .map(|(key, g)| {
            let novel = previous.is_some() && !seen_before.contains(&key);
            item(key, g, library, &miner, novel, minutes)
        })
        .collect();
    items.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.first_seen.cmp(&b.first_seen))
            .then(a.key.cmp(&b.key))
    });
    items.truncate(limit);
    for (i, it) in items.iter_mut().enumerate() {
        it.rank = i + 1;
    }
    items
}

/// One problem group as a ranked item (rank set later): its title (the signature's, the
/// template's or the event reason), where it shows, when, and its score: severity,
/// volume, spread over services, doubled when it is new in this window.
fn item(
    key: String,
    mut g: Group<'_>,
    library: &SignatureLibrary,
    miner: &TemplateMiner,
    novel: bool,
    minutes: f64,
) -> TriageItem {
    let (public_key, title) = if let Some(id) = key.strip_prefix("signature:") {
        let sig = library.signatures().iter().find(|s| s.id == id);
        g.action = sig.map(|s| s.action.clone());
        (
            key.clone(),
            sig.map_or_else(|| id.to_string(), |s| s.title.clone()),
        )
    } else if let Some(n) = key.strip_prefix('#') {
        let t = n
            .parse::<usize>()
            .ok()
            .map(|i| miner.template(i))
            .unwrap_or_default();
        let t = super::clip(&loglens_tools::redact::redact(&t), 200);
        (format!("pattern:{t}"), t)
    } else {
        (key.clone(), key.trim_start_matches("event:").to_string())
    };
    g.title = title;
    let mut per_component: BTreeMap<String, u64> = BTreeMap::new();
    let mut pods = BTreeSet::new();
    for l in &g.lines {
        *per_component.entry(super::component(l)).or_default() += 1;
        if let Some(p) = l.label("pod") {
            pods.insert(p.to_string());
        }
    }
    for e in &g.events {
        *per_component.entry(workload(&e.name)).or_default() += u64::from(e.count.max(1));
        pods.insert(e.name.clone());
    }
    let mut components: Vec<(String, u64)> = per_component.into_iter().collect();
    components.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let times = g
        .lines
        .iter()
        .filter_map(|l| l.timestamp)
        .chain(g.events.iter().filter_map(|e| e.last_seen));
    let (first_seen, last_seen) = times.fold(
        (None, None),
        |(a, b): (Option<DateTime<Utc>>, Option<DateTime<Utc>>), t| {
            (
                Some(a.map_or(t, |a| a.min(t))),
                Some(b.map_or(t, |b| b.max(t))),
            )
        },
    );
    let severity = g.severity.unwrap_or(Severity::Warn);
    let services = components.len().max(1);
    let score = severity_weight(severity)
        * (1.0 + (g.count.max(1) as f64).ln())
        * (1.0 + 0.5 * (services as f64 - 1.0))
        * if novel { 2.0 } else { 1.0 };
    let mut why = format!(
        "{severity}; {} {} in {} service{}",
        g.count,
        if g.events.is_empty() {
            "lines"
        } else {
            "occurrences"
        },
        services,
        if services == 1 { "" } else { "s" }
    );
    if novel {
        why.push_str("; new in this window");
    }
    let mut evidence = first_evidence(g.lines.iter().copied(), 3);
    evidence.extend(
        g.events
            .iter()
            .take(3 - evidence.len().min(3))
            .map(|e| Evidence::event(e)),
    );
    TriageItem {
        rank: 0,
        key: public_key,
        title: g.title,
        severity,
        count: g.count,
        rate_per_minute: g.count as f64 / minutes,
        components: components.into_iter().map(|(c, _)| c).collect(),
        pods: pods.len(),
        first_seen,
        last_seen,
        novel,
        score,
        why,
        action: g.action,
        evidence,
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
    fn severe_broad_new_problems_rank_first() {
        let mut lines = Vec::new();
        // Many warnings from one service, present before too.
        for i in 0..50 {
            lines.push(at("web-5d8f7c9b6-abcde", 0, i, "WARN slow request 1200ms"));
        }
        // A new error in two services.
        for (i, pod) in ["checkout-6c7d8f9b5-qwert", "cart-7f96948897-ngkmr"]
            .iter()
            .enumerate()
        {
            for s in 0..5 {
                lines.push(at(
                    pod,
                    1,
                    s + i as i64 * 10,
                    "ERROR upstream payments unavailable: connection refused",
                ));
            }
        }
        lines.push(at("web-5d8f7c9b6-abcde", 2, 0, "GET /healthz 200"));
        let previous = Snapshot {
            lines: vec![at("web-5d8f7c9b6-abcde", 0, 0, "WARN slow request 900ms")],
            ..Snapshot::default()
        };
        let current = Snapshot {
            lines,
            ..Snapshot::default()
        };
        let items = triage(&current, Some(&previous), &lib(), 10);
        assert_eq!(items.len(), 2, "{items:#?}");
        let top = &items[0];
        assert_eq!(top.rank, 1);
        assert_eq!(top.severity, Severity::Error);
        assert!(top.novel && top.why.contains("new"));
        assert_eq!(top.components, vec!["cart", "checkout"]);
        assert_eq!((top.count, top.pods), (10, 2));
        // A known failure signature names it (and says what to do).
        assert!(top.key.starts_with("signature:"), "{}", top.key);
        assert!(top.title.contains("Connection refused"), "{}", top.title);
        assert!(top.action.is_some());
        assert!(top.evidence[0].text.contains("unavailable"));
        assert!(!top.evidence.is_empty() && top.evidence.len() <= 3);
        let slow = &items[1];
        assert!(!slow.novel, "seen in the previous window");
        assert_eq!(slow.severity, Severity::Warn);
        assert_eq!(slow.count, 50);
    }

    #[test]
    fn known_signatures_and_events_are_their_own_groups() {
        let current = Snapshot {
            lines: vec![
                at(
                    "payments-7c9d8f6b5-x1abc",
                    1,
                    0,
                    "ERROR pq: sorry, too many clients already",
                ),
                at(
                    "payments-7c9d8f6b5-x1abc",
                    1,
                    1,
                    "ERROR pq: sorry, too many clients already",
                ),
            ],
            events: vec![loglens_tools::k8s::K8sEvent {
                namespace: Some("shop".into()),
                kind: "Pod".into(),
                name: "redis-6b8d7c9f5-zzzzz".into(),
                event_type: "Warning".into(),
                reason: "BackOff".into(),
                message: "Back-off restarting failed container".into(),
                count: 7,
                last_seen: None,
                age: None,
                source: None,
            }],
            ..Snapshot::default()
        };
        let items = triage(&current, None, &lib(), 10);
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert!(keys.iter().any(|k| k.starts_with("signature:")), "{keys:?}");
        let backoff = items
            .iter()
            .find(|i| i.key == "event:BackOff")
            .unwrap_or_else(|| panic!("{keys:?}"));
        assert_eq!(
            (backoff.count, backoff.components.clone()),
            (7, vec!["redis".to_string()])
        );
        assert!(
            items.iter().all(|i| !i.novel),
            "no previous window: nothing is called new"
        );
    }
}
