//! The evidence set: what the deterministic analyzers found, and the numbered lines an
//! agent reads.
//!
//! [`collect`] runs the signature detector and the pattern miner over every retrieved line
//! and event, then chooses which lines the model sees. The baseline sends the most recent
//! lines; here lines are chosen by what they show: first the lines behind each candidate
//! cause, then one example of each new or spiking pattern, then the most recent lines,
//! until the token budget is spent. The chosen lines keep their time order and are
//! numbered, so every candidate, pattern and answer can cite them.
use std::collections::{BTreeMap, BTreeSet};

use loglens_tools::budget::{clip, estimate_tokens, message_shape};
use loglens_tools::k8s::K8sEvent;
use loglens_tools::logs::LogLine;
use loglens_tools::redact::redact;
use serde::{Deserialize, Serialize};

use super::patterns::{MinerConfig, Pattern, mine};
use super::signatures::{Candidate, SignatureLibrary, workload};
use crate::call_menu::CallMenu;
use crate::finding::LineRef;
use crate::retrieval::{Chosen, Ranked};

/// Tokens each rendered line costs besides its text.
const LINE_OVERHEAD_TOKENS: usize = 16;
/// Lines per candidate shown.
const LINES_PER_CANDIDATE: usize = 3;
/// Events shown.
const MAX_EVENTS: usize = 6;

/// Events of each candidate placed before the others'.
const EVENTS_PER_CANDIDATE: usize = 2;
/// Patterns shown.
pub const MAX_PATTERNS: usize = 8;
/// Components offered in the schema.
const MAX_COMPONENTS: usize = 24;

/// Limits for choosing lines.
#[derive(Debug, Clone, Copy)]
pub struct LineBudget {
    /// At most this many lines.
    pub max_lines: usize,
    /// At most this many estimated tokens of rendered lines.
    pub max_tokens: usize,
    /// A longer line is clipped.
    pub max_line_chars: usize,
}

/// A candidate cause with the numbers of the shown lines that support it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRef {
    /// The candidate.
    #[serde(flatten)]
    pub candidate: Candidate,
    /// Numbers (in [`EvidenceSet::lines`]) of its lines and events that were shown.
    pub cited: Vec<usize>,
}

/// Everything the agents start from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EvidenceSet {
    /// The lines shown to the model, numbered from 1, oldest first; events come last.
    pub lines: Vec<LineRef>,
    /// Lines retrieved before the budget.
    pub matched: usize,
    /// Events retrieved.
    pub events_matched: usize,
    /// Candidate causes, most likely first.
    pub candidates: Vec<CandidateRef>,
    /// The most frequent patterns, plus every new or spiking one.
    pub patterns: Vec<Pattern>,
    /// Components seen in lines and events, most frequent first.
    pub components: Vec<String>,
    /// Lines and events kept from the model because they address it
    /// ([`super::screen`]); never shown, never a cause, never cited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<super::screen::Withheld>,
    /// What a tool call may ask about: the streams and objects of every line and event
    /// retrieved ([`CallMenu`]). Not kept with the report.
    #[serde(skip)]
    pub menu: CallMenu,
}

/// What the analyzers found, before lines are chosen.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Candidate causes, most likely first.
    pub candidates: Vec<Candidate>,
    /// Patterns to show.
    pub patterns: Vec<Pattern>,
    /// Components seen.
    pub components: Vec<String>,
    /// What a tool call may ask about.
    pub menu: CallMenu,
}

/// Runs the analyzers and chooses the lines (both steps of [`analyze`] and
/// [`Analysis::choose`]).
pub fn collect(
    lines: &[LogLine],
    events: &[K8sEvent],
    library: &SignatureLibrary,
    budget: &LineBudget,
) -> EvidenceSet {
    analyze(lines, events, library).choose(lines, events, budget)
}

/// Runs the signature detector and the pattern miner over every line and event.
pub fn analyze(lines: &[LogLine], events: &[K8sEvent], library: &SignatureLibrary) -> Analysis {
    let candidates = library.detect(lines, events);
    let messages: Vec<(&str, _)> = lines
        .iter()
        .map(|l| (l.text.as_str(), l.timestamp))
        .collect();
    let all_patterns = mine(&messages, MinerConfig::default());
    let mut patterns: Vec<Pattern> = all_patterns
        .iter()
        .filter(|p| p.new || p.spike.is_some_and(|s| s >= 2.0))
        .take(MAX_PATTERNS / 2)
        .cloned()
        .collect();
    for p in &all_patterns {
        if patterns.len() >= MAX_PATTERNS {
            break;
        }
        if !patterns.iter().any(|q| q.template == p.template) {
            patterns.push(p.clone());
        }
    }
    for p in &mut patterns {
        p.template = redact(&p.template).into_owned();
    }
    Analysis {
        candidates,
        patterns,
        components: components(lines, events),
        menu: CallMenu::from_retrieved(lines, events),
    }
}

impl Analysis {
    /// The evidence set with no lines chosen yet (to measure the prompt around them).
    pub fn without_lines(&self) -> EvidenceSet {
        EvidenceSet {
            candidates: self
                .candidates
                .iter()
                .map(|c| CandidateRef {
                    candidate: c.clone(),
                    cited: Vec::new(),
                })
                .collect(),
            patterns: self.patterns.clone(),
            components: self.components.clone(),
            menu: self.menu.clone(),
            ..EvidenceSet::default()
        }
    }

    /// Chooses the lines within `budget` and numbers them.
    pub fn choose(
        self,
        lines: &[LogLine],
        events: &[K8sEvent],
        budget: &LineBudget,
    ) -> EvidenceSet {
        self.choose_ranked(lines, events, budget, None)
    }

    /// [`Self::choose`], with hybrid retrieval's fused ranking in place of recency once the
    /// candidates' and patterns' lines are in; each line the ranking holds says why.
    pub fn choose_ranked(
        self,
        lines: &[LogLine],
        events: &[K8sEvent],
        budget: &LineBudget,
        ranking: Option<&[Ranked]>,
    ) -> EvidenceSet {
        let Analysis {
            candidates,
            patterns,
            components,
            menu,
        } = self;
        // Lines in order of priority (indexes into `lines`).
        let mut priority: Vec<usize> = Vec::new();
        for c in &candidates {
            priority.extend(c.lines.iter().take(LINES_PER_CANDIDATE));
        }
        for p in &patterns {
            priority.extend(p.examples.first());
        }
        let why: BTreeMap<usize, Chosen> = ranking
            .unwrap_or_default()
            .iter()
            .map(|r| (r.index, r.chosen))
            .collect();
        if let Some(r) = ranking {
            priority.extend(r.iter().map(|r| r.index).filter(|&i| i < lines.len()));
        }
        priority.extend((0..lines.len()).rev());

        let event_rows = event_rows(&candidates, events.len());
        let event_cost: usize = event_rows
            .iter()
            .map(|&i| estimate_tokens(&event_text(&events[i])) + LINE_OVERHEAD_TOKENS)
            .sum();
        let line_room = budget.max_tokens.saturating_sub(event_cost);
        let max_lines = budget.max_lines.saturating_sub(event_rows.len());
        let chosen = pick_lines(lines, priority, budget, line_room, max_lines);

        let mut out: Vec<LineRef> = Vec::with_capacity(chosen.len() + event_rows.len());
        let mut number_of_line: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, (text, similar)) in chosen {
            let l = &lines[i];
            out.push(LineRef {
                n: out.len() + 1,
                source: l.source.clone(),
                line_no: l.line_no,
                timestamp: l.timestamp,
                labels: l.labels.clone(),
                text,
                similar,
                why: why.get(&i).copied(),
            });
            number_of_line.insert(i, out.len());
        }
        let mut number_of_event: BTreeMap<usize, usize> = BTreeMap::new();
        for &i in &event_rows {
            out.push(event_line(&events[i], i, out.len() + 1));
            number_of_event.insert(i, out.len());
        }

        let candidates = candidates
            .into_iter()
            .map(|c| {
                let mut cited: Vec<usize> = c
                    .lines
                    .iter()
                    .filter_map(|i| number_of_line.get(i).copied())
                    .chain(
                        c.events
                            .iter()
                            .filter_map(|i| number_of_event.get(i).copied()),
                    )
                    .collect();
                cited.sort_unstable();
                cited.dedup();
                CandidateRef {
                    candidate: c,
                    cited,
                }
            })
            .collect();

        EvidenceSet {
            lines: out,
            matched: lines.len(),
            events_matched: events.len(),
            candidates,
            patterns,
            components,
            withheld: Vec::new(),
            menu,
        }
    }
}

/// Takes lines in `priority` order while the budget lasts: at most `max_lines`, their
/// clipped, redacted text within `line_room` tokens, one line per stream and message shape
/// (a later line of the same shape counts as `similar` on the first). Returns each chosen
/// line's text and its similar count, by index into `lines`.
fn pick_lines(
    lines: &[LogLine],
    priority: Vec<usize>,
    budget: &LineBudget,
    line_room: usize,
    max_lines: usize,
) -> BTreeMap<usize, (String, usize)> {
    let mut used = 0usize;
    let mut chosen: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    let mut shapes: BTreeMap<(String, String), usize> = BTreeMap::new();
    for i in priority {
        if chosen.len() >= max_lines {
            break;
        }
        if chosen.contains_key(&i) {
            continue;
        }
        let key = (
            lines[i].stream_name().to_string(),
            message_shape(&lines[i].text),
        );
        if let Some(&j) = shapes.get(&key) {
            if let Some(c) = chosen.get_mut(&j) {
                c.1 += 1;
            }
            continue;
        }
        let text = clip(&redact(&lines[i].text), budget.max_line_chars);
        let cost = estimate_tokens(&text) + LINE_OVERHEAD_TOKENS;
        if used + cost > line_room {
            continue;
        }
        used += cost;
        shapes.insert(key, i);
        chosen.insert(i, (text, 0));
    }
    chosen
}

/// The events shown: the candidates' own first (the facts a cause rests on, two each),
/// then the rest in the source's order (state first, then warnings, the most repeated).
fn event_rows(candidates: &[Candidate], events: usize) -> Vec<usize> {
    let mut rows: Vec<usize> = Vec::new();
    for i in candidates
        .iter()
        .flat_map(|c| c.events.iter().take(EVENTS_PER_CANDIDATE).copied())
        .chain(0..events)
    {
        if rows.len() >= MAX_EVENTS {
            break;
        }
        if !rows.contains(&i) {
            rows.push(i);
        }
    }
    rows
}

/// Components by how often they appear (lines by their workload, events by their
/// object's workload).
fn components(lines: &[LogLine], events: &[K8sEvent]) -> Vec<String> {
    let mut count: BTreeMap<String, u64> = BTreeMap::new();
    for l in lines {
        *count.entry(workload(l.stream_name())).or_default() += 1;
    }
    for e in events {
        *count.entry(workload(&e.name)).or_default() += u64::from(e.count.max(1));
    }
    let mut v: Vec<(String, u64)> = count
        .into_iter()
        .filter(|(name, _)| !name.is_empty() && name.len() <= 64)
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().take(MAX_COMPONENTS).map(|(n, _)| n).collect()
}

/// An event as one line of text.
pub fn event_text(e: &K8sEvent) -> String {
    let repeats = if e.count > 1 {
        format!(" (x{})", e.count)
    } else {
        String::new()
    };
    redact(&format!(
        "event {} {} {}/{}: {}{repeats}",
        e.event_type, e.reason, e.kind, e.name, e.message
    ))
    .into_owned()
}

/// An event as a citable line.
pub fn event_line(e: &K8sEvent, index: usize, n: usize) -> LineRef {
    let mut labels = BTreeMap::from([
        ("kind".to_string(), e.kind.clone()),
        ("object".to_string(), e.name.clone()),
    ]);
    if let Some(ns) = &e.namespace {
        labels.insert("namespace".into(), ns.clone());
    }
    LineRef {
        n,
        source: "kubernetes-events".into(),
        line_no: index as u64 + 1,
        timestamp: e.last_seen,
        labels,
        text: clip(&event_text(e), 400),
        similar: 0,
        why: None,
    }
}

impl EvidenceSet {
    /// The candidate causes whose signature ids are in `ids`, as prompt text.
    pub fn render_candidates(&self, ids: &BTreeSet<String>) -> String {
        let rows: Vec<String> = self
            .candidates
            .iter()
            .filter(|c| ids.contains(&c.candidate.signature))
            .map(|c| {
                let cited = if c.cited.is_empty() {
                    "none shown".to_string()
                } else {
                    c.cited
                        .iter()
                        .map(|n| format!("[{n}]"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                format!(
                    "- {}: {} ({}; component {}; {} hits; lines {cited})",
                    c.candidate.signature,
                    c.candidate.title,
                    c.candidate.severity,
                    c.candidate.component.as_deref().unwrap_or("?"),
                    c.candidate.hits
                )
            })
            .collect();
        if rows.is_empty() {
            "- none matched".into()
        } else {
            rows.join("\n")
        }
    }

    /// The patterns as prompt text.
    pub fn render_patterns(&self) -> String {
        if self.patterns.is_empty() {
            return "- none".into();
        }
        self.patterns
            .iter()
            .map(|p| {
                let mut flags = Vec::new();
                if p.new {
                    flags.push("new".to_string());
                }
                if let Some(s) = p.spike.filter(|s| *s >= 2.0) {
                    flags.push(format!("spiking x{s}"));
                }
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", flags.join(", "))
                };
                format!(
                    "- {} (x{}){flags}",
                    clip(&redact(&p.template), 200),
                    p.count
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: u64, pod: &str, text: &str) -> LogLine {
        LogLine {
            source: "f".into(),
            line_no: i,
            timestamp: None,
            labels: BTreeMap::from([("pod".to_string(), pod.to_string())]),
            text: text.into(),
            truncated_bytes: 0,
        }
    }

    #[test]
    fn a_candidates_own_event_is_shown_whatever_comes_before_it() {
        let event = |name: &str, reason: &str, message: &str| K8sEvent {
            namespace: Some("shop".into()),
            kind: "Pod".into(),
            name: name.into(),
            event_type: "Warning".into(),
            reason: reason.into(),
            message: message.into(),
            count: 1,
            last_seen: None,
            age: None,
            source: Some(loglens_tools::k8s::STATE_SOURCE.into()),
        };
        // Ten facts no signature reads, then the one a candidate rests on.
        let mut events: Vec<K8sEvent> = (0..10)
            .map(|i| event(&format!("web-{i}"), "Noted", "something of no consequence"))
            .collect();
        events.push(event(
            "cart-7c9d8f6b5-x1abc",
            "OOMKilling",
            "Memory cgroup out of memory: Killed process 42",
        ));
        let lib = SignatureLibrary::builtin().unwrap();
        let ev = collect(
            &[],
            &events,
            &lib,
            &LineBudget {
                max_lines: 40,
                max_tokens: 2000,
                max_line_chars: 300,
            },
        );
        let top = &ev.candidates[0];
        assert_eq!(top.candidate.signature, "oom_killed");
        assert_eq!(top.cited.len(), 1, "{:?}", ev.lines);
        let shown = &ev.lines[top.cited[0] - 1];
        assert!(shown.text.contains("OOMKilling"), "{shown:?}");
        assert!(ev.lines.len() <= MAX_EVENTS);
    }

    #[test]
    fn candidate_lines_are_chosen_before_recent_noise() {
        let mut lines = vec![line(
            1,
            "payments-7c9d8f6b5-x1abc",
            "dial tcp 10.0.0.5:5432: connect: connection refused",
        )];
        for i in 0..200 {
            lines.push(line(
                i + 2,
                &format!("web-{i}"),
                &format!("GET /page/{i} served to user{i} with a long tail of text"),
            ));
        }
        let lib = SignatureLibrary::builtin().unwrap();
        let ev = collect(
            &lines,
            &[],
            &lib,
            &LineBudget {
                max_lines: 10,
                max_tokens: 400,
                max_line_chars: 300,
            },
        );
        assert!(ev.lines.len() <= 10);
        let first = &ev.candidates[0];
        assert_eq!(first.candidate.signature, "connection_refused");
        assert_eq!(first.cited, vec![1]);
        assert!(ev.lines[0].text.contains("connection refused"));
        assert_eq!(ev.components[0], "payments", "{:?}", ev.components);
        let rendered: usize = ev
            .lines
            .iter()
            .map(|l| estimate_tokens(&l.text) + LINE_OVERHEAD_TOKENS)
            .sum();
        assert!(rendered <= 400, "{rendered}");
    }
}
