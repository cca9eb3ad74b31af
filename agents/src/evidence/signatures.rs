//! Known failure signatures and their detector.
//!
//! A **signature** is a failure mode loglens knows how to recognise (OOMKilled, an image
//! pull error, DNS failures, connection-pool exhaustion, ...), written as data in
//! `agents/data/signatures.toml`: patterns for log lines and for Kubernetes events, a
//! severity, a category and an action. [`SignatureLibrary::detect`] runs every signature
//! over the retrieved lines and events and returns [`Candidate`]s, each with the exact
//! lines and events that matched, ranked by severity and then by how much evidence there
//! is. The agents put these candidates in front of the model (and into the schema's
//! choices) instead of asking it to guess.
use std::collections::{BTreeMap, BTreeSet};

use loglens_tools::k8s::K8sEvent;
use loglens_tools::logs::LogLine;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::finding::Severity;

/// The built-in library, compiled into the binary.
const BUILTIN: &str = include_str!("../../data/signatures.toml");

/// Most evidence items kept per candidate (the rest are counted).
const MAX_EVIDENCE: usize = 5;

/// Which side of the system a failure belongs to (which specialist owns it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Nodes, kubelet, scheduling, storage, networking plumbing.
    Infra,
    /// Application errors, dependencies, latency.
    App,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    signature: Vec<SignatureDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureDef {
    id: String,
    title: String,
    severity: Severity,
    category: Category,
    action: String,
    #[serde(default)]
    log: Vec<String>,
    #[serde(default)]
    event_reasons: Vec<String>,
    #[serde(default)]
    event_messages: Vec<String>,
    #[serde(default)]
    symptom: bool,
    #[serde(default)]
    corroborate: Vec<String>,
    #[serde(default)]
    min_seconds: Option<f64>,
    #[serde(default)]
    log_unless: Vec<String>,
    #[serde(default)]
    asked: Option<String>,
    #[serde(default)]
    details: Vec<DetailDef>,
}

/// One kind of a failure (`untolerated_taint` under `scheduling_failure`) and the text
/// that shows it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailDef {
    id: String,
    pattern: String,
}

/// One known failure mode, compiled.
#[derive(Debug, Clone)]
pub struct Signature {
    /// Stable id (`oom_killed`).
    pub id: String,
    /// What it is, in a sentence.
    pub title: String,
    /// How bad it is.
    pub severity: Severity,
    /// Infra or app.
    pub category: Category,
    /// What to do.
    pub action: String,
    /// A failure that has a cause of its own (a crash loop: something makes the container
    /// exit); a cause found on the same component ranks above it.
    pub symptom: bool,
    /// Event reasons that count only when a retrieved line mentions what the message
    /// quotes in backticks (a configured address nobody calls is no fault); the
    /// signature's other events stand alone.
    pub corroborate: Vec<String>,
    /// A duration signature: a line matches only when a duration its `log` patterns
    /// capture is at least this many seconds.
    pub min_seconds: Option<f64>,
    /// Looked for only when the question matches this (see
    /// [`SignatureLibrary::for_question`]): long operations are normal work unless
    /// someone asks why something is slow.
    asked: Option<Regex>,
    log: Vec<Regex>,
    log_unless: Vec<Regex>,
    event_reasons: Vec<String>,
    event_messages: Vec<Regex>,
    details: Vec<(String, Regex)>,
}

impl Signature {
    /// The first of its details (in the library's order) that its evidence shows: the
    /// events' reasons and messages (facts first, as they name the object), then the
    /// lines.
    fn detail(
        &self,
        event_hits: &[usize],
        line_hits: &[usize],
        events: &[K8sEvent],
        lines: &[LogLine],
    ) -> Option<String> {
        let texts: Vec<String> = event_hits
            .iter()
            .map(|&i| format!("{} {}", events[i].reason, events[i].message))
            .chain(line_hits.iter().map(|&i| lines[i].text.clone()))
            .collect();
        self.details
            .iter()
            .find(|(_, r)| texts.iter().any(|t| r.is_match(t)))
            .map(|(id, _)| id.clone())
    }

    fn matches_line(&self, text: &str) -> bool {
        if self.asked.is_some() || self.log_unless.iter().any(|r| r.is_match(text)) {
            return false;
        }
        match self.min_seconds {
            None => self.log.iter().any(|r| r.is_match(text)),
            Some(min) => self.log.iter().any(|r| {
                r.captures_iter(text)
                    .any(|c| seconds(&c).is_some_and(|s| s >= min))
            }),
        }
    }

    fn needs_corroboration(&self, e: &K8sEvent) -> bool {
        self.corroborate
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&e.reason))
    }

    fn matches_event(&self, e: &K8sEvent) -> bool {
        self.asked.is_none()
            && (self
                .event_reasons
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&e.reason))
                || self.event_messages.iter().any(|r| r.is_match(&e.message)))
    }
}

/// Why a signature library could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The TOML is malformed or has unknown fields.
    #[error("signature file: {0}")]
    Parse(String),
    /// A pattern is not a valid regex.
    #[error("signature {id}: bad pattern {pattern:?}: {reason}")]
    Pattern {
        /// The signature.
        id: String,
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Two signatures share an id, or one has no patterns at all.
    #[error("signature {0}: {1}")]
    Invalid(String, String),
}

/// A candidate cause found in the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The signature's id.
    pub signature: String,
    /// Its title.
    pub title: String,
    /// Its severity.
    pub severity: Severity,
    /// Infra or app.
    pub category: Category,
    /// What to do.
    pub action: String,
    /// The component most of the evidence comes from (a pod's workload, a container).
    pub component: Option<String>,
    /// Indexes of matching log lines (at most 5, the first ones).
    pub lines: Vec<usize>,
    /// Indexes of matching events (at most 5, most repeated first).
    pub events: Vec<usize>,
    /// How much evidence in all: matching lines plus the events' repeat counts.
    pub hits: u64,
    /// Which kind of this failure the evidence shows (`untolerated_taint` under
    /// `scheduling_failure`), when the library names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The set of signatures the detector runs.
#[derive(Debug, Clone)]
pub struct SignatureLibrary {
    signatures: Vec<Signature>,
}

impl SignatureLibrary {
    /// The library in `agents/data/signatures.toml`.
    pub fn builtin() -> Result<Self, SignatureError> {
        Self::from_toml(BUILTIN)
    }

    /// A library from TOML text (the built-in file's format).
    pub fn from_toml(text: &str) -> Result<Self, SignatureError> {
        let file: File = toml::from_str(text).map_err(|e| SignatureError::Parse(e.to_string()))?;
        let mut signatures: Vec<Signature> = Vec::with_capacity(file.signature.len());
        for d in file.signature {
            if signatures.iter().any(|s| s.id == d.id) {
                return Err(SignatureError::Invalid(d.id, "the id is used twice".into()));
            }
            if d.log.is_empty() && d.event_reasons.is_empty() && d.event_messages.is_empty() {
                return Err(SignatureError::Invalid(d.id, "it has no patterns".into()));
            }
            let compile = |patterns: &[String]| -> Result<Vec<Regex>, SignatureError> {
                patterns
                    .iter()
                    .map(|p| {
                        Regex::new(p).map_err(|e| SignatureError::Pattern {
                            id: d.id.clone(),
                            pattern: p.clone(),
                            reason: e.to_string(),
                        })
                    })
                    .collect()
            };
            let log = compile(&d.log)?;
            if d.min_seconds.is_some()
                && let Some(r) = log
                    .iter()
                    .find(|r| !r.capture_names().any(|n| n == Some("value")))
            {
                return Err(SignatureError::Invalid(
                    d.id,
                    format!("pattern {r} has no `value` group, which `min_seconds` needs"),
                ));
            }
            let details = d
                .details
                .iter()
                .map(|x| {
                    compile(std::slice::from_ref(&x.pattern))
                        .map(|mut r| (x.id.clone(), r.remove(0)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            signatures.push(Signature {
                details,
                log,
                log_unless: compile(&d.log_unless)?,
                asked: match &d.asked {
                    None => None,
                    Some(p) => compile(std::slice::from_ref(p))?.pop(),
                },
                min_seconds: d.min_seconds,
                event_messages: compile(&d.event_messages)?,
                event_reasons: d.event_reasons,
                id: d.id,
                title: d.title,
                severity: d.severity,
                category: d.category,
                action: d.action,
                symptom: d.symptom,
                corroborate: d.corroborate,
            });
        }
        Ok(Self { signatures })
    }

    /// The library for one question: a signature that is looked for only when asked
    /// about (`asked` in the TOML: slowness) is in when the question matches, out
    /// otherwise. A library not made by this leaves such signatures out.
    pub fn for_question(&self, question: &str) -> Self {
        let signatures = self
            .signatures
            .iter()
            .filter_map(|s| match &s.asked {
                None => Some(s.clone()),
                Some(r) if r.is_match(question) => Some(Signature {
                    asked: None,
                    ..s.clone()
                }),
                Some(_) => None,
            })
            .collect();
        Self { signatures }
    }

    /// The first signature whose log patterns match this text (by the library's order),
    /// without the ranking [`Self::detect`] does.
    pub fn match_line(&self, text: &str) -> Option<&Signature> {
        self.signatures.iter().find(|s| s.matches_line(text))
    }

    /// The signatures.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// Runs every signature over the lines and events; returns the candidates with their
    /// evidence, most severe first, then most evidence first.
    pub fn detect(&self, lines: &[LogLine], events: &[K8sEvent]) -> Vec<Candidate> {
        // The workloads in view: a line naming one of them as the host it failed to reach
        // points at that callee.
        let known: BTreeSet<String> = lines
            .iter()
            .map(|l| workload(l.stream_name()))
            .chain(events.iter().map(|e| workload(&e.name)))
            .filter(|w| !w.is_empty())
            .collect();
        // A refusal a later event on the same object ended (a Job's `FailedCreate` before
        // its `SuccessfulCreate`) is no live cause.
        let settled = loglens_tools::k8s::settled::settled(events);
        let found: Vec<Candidate> = self
            .signatures
            .iter()
            .filter_map(|sig| candidate(sig, lines, events, &known, &settled))
            .collect();
        self.ranked(found, lines, events)
    }

    /// Candidates in order: abnormal state now beats symptoms: candidates the current
    /// state shows come first, then those with events, then log-only ones; within each,
    /// causes before symptoms, then by severity, then by how much evidence.
    fn ranked(
        &self,
        out: Vec<Candidate>,
        lines: &[LogLine],
        events: &[K8sEvent],
    ) -> Vec<Candidate> {
        let tier = |c: &Candidate| -> u8 {
            if c.events.iter().any(|&i| is_state(&events[i])) {
                2
            } else {
                u8::from(!c.events.is_empty())
            }
        };
        let symptom = |c: &Candidate| {
            self.signatures
                .iter()
                .any(|s| s.id == c.signature && s.symptom)
        };
        // A symptom the state shows (a crash loop) lends its tier to a cause found on the
        // same component: the crashing container's own error says why it crashes.
        let lent: BTreeMap<String, u8> = out
            .iter()
            .filter(|c| symptom(c))
            .filter_map(|c| Some((c.component.clone()?, tier(c))))
            .collect();
        let keys: Vec<(u8, bool, u8, u64)> = out
            .iter()
            .map(|c| {
                let own = tier(c);
                // Only the crashing workload's own lines explain its crash, not its
                // callers' complaints about it.
                let borrowed = c
                    .lines
                    .iter()
                    .filter_map(|&i| lent.get(&workload(lines[i].stream_name())))
                    .max()
                    .copied()
                    .filter(|_| !symptom(c))
                    .unwrap_or(0);
                (own.max(borrowed), !symptom(c), rank(c.severity), c.hits)
            })
            .collect();
        let mut order: Vec<usize> = (0..out.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(keys[i]));
        let mut slots: Vec<Option<Candidate>> = out.into_iter().map(Some).collect();
        order.into_iter().filter_map(|i| slots[i].take()).collect()
    }
}

/// What one signature finds in the lines and events (`known`: the workloads in view;
/// `settled`: per event, whether a later one ended it), if anything.
fn candidate(
    sig: &Signature,
    lines: &[LogLine],
    events: &[K8sEvent],
    known: &BTreeSet<String>,
    settled: &[bool],
) -> Option<Candidate> {
    let line_hits: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| sig.matches_line(&l.text))
        .map(|(i, _)| i)
        .collect();
    let mut event_hits: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(i, e)| !settled[*i] && sig.matches_event(e))
        .filter(|(_, e)| !sig.needs_corroboration(e) || mentioned(&e.message, lines))
        .map(|(i, _)| i)
        .collect();
    if line_hits.is_empty() && event_hits.is_empty() {
        return None;
    }
    // Facts about the current state first: they name the object at fault.
    event_hits.sort_by_key(|&i| {
        (
            std::cmp::Reverse(is_state(&events[i])),
            std::cmp::Reverse(events[i].count),
        )
    });
    let component = component(&line_hits, &event_hits, lines, events, known);
    let hits = line_hits.len() as u64
        + event_hits
            .iter()
            .map(|&i| u64::from(events[i].count.max(1)))
            .sum::<u64>();
    let detail = sig.detail(&event_hits, &line_hits, events, lines);
    Some(Candidate {
        detail,
        signature: sig.id.clone(),
        title: sig.title.clone(),
        severity: sig.severity,
        category: sig.category,
        action: sig.action.clone(),
        component,
        lines: line_hits.into_iter().take(MAX_EVIDENCE).collect(),
        events: event_hits.into_iter().take(MAX_EVIDENCE).collect(),
        hits,
    })
}

/// The component a candidate blames, by votes: the objects the state names when it
/// names any, else each event's object (weighted by its count) and each line's callee
/// or own workload.
fn component(
    line_hits: &[usize],
    event_hits: &[usize],
    lines: &[LogLine],
    events: &[K8sEvent],
    known: &BTreeSet<String>,
) -> Option<String> {
    let state_hits: Vec<usize> = event_hits
        .iter()
        .copied()
        .filter(|&i| is_state(&events[i]))
        .collect();
    let mut votes: BTreeMap<String, u64> = BTreeMap::new();
    if state_hits.is_empty() {
        for &i in line_hits {
            // A caller's "connection refused / no such host / timeout to X" is
            // about X when X is a workload in view; a host that is no workload
            // (a wrong address) leaves the fault with the caller's configuration.
            let who = callee(&lines[i].text)
                .filter(|c| known.contains(c))
                .unwrap_or_else(|| workload(lines[i].stream_name()));
            *votes.entry(who).or_default() += 1;
        }
    }
    // The component is the object the state names (a node, a namespace, a
    // Service), not whoever logs the most about it.
    let voters = if state_hits.is_empty() {
        event_hits
    } else {
        &state_hits[..]
    };
    // A claim is not a component: the workload that mounts it is.
    let claims_only = voters.iter().all(|&i| is_claim(&events[i]));
    for &i in voters {
        if is_claim(&events[i]) && !claims_only {
            continue;
        }
        *votes.entry(workload(&events[i].name)).or_default() += u64::from(events[i].count.max(1));
    }
    votes
        .into_iter()
        .max_by_key(|(name, n)| (*n, std::cmp::Reverse(name.clone())))
        .map(|(name, _)| name)
}

/// The duration a match reports, in seconds: its `value` group in its `unit` (or `unit2`)
/// group's unit. With no unit, a whole number is milliseconds (`"responseTime":3644`) and
/// a decimal seconds (`request_time=1.204`).
fn seconds(c: &regex::Captures<'_>) -> Option<f64> {
    let value = c.name("value")?.as_str();
    let n: f64 = value.parse().ok()?;
    let unit = c
        .name("unit")
        .or_else(|| c.name("unit2"))
        .map(|u| u.as_str().to_ascii_lowercase());
    let scale = match unit.as_deref() {
        None if value.contains('.') => 1.0,
        None => 1e-3,
        Some(u) if u.starts_with("ms") || u.starts_with("milli") => 1e-3,
        Some(u) if u.starts_with("us") || u.starts_with("µs") || u.starts_with("micro") => 1e-6,
        Some(u) if u.starts_with('m') => 60.0,
        Some(_) => 1.0,
    };
    Some(n * scale)
}

fn is_state(e: &K8sEvent) -> bool {
    e.is_state()
}

/// Whether an event is about a PersistentVolumeClaim (sources write the kind in any case).
fn is_claim(e: &K8sEvent) -> bool {
    e.kind.eq_ignore_ascii_case("PersistentVolumeClaim")
}

/// Whether some line mentions what a message quotes in backticks.
fn mentioned(message: &str, lines: &[LogLine]) -> bool {
    let Some(quoted) = message.split('`').nth(1).filter(|q| !q.is_empty()) else {
        return false;
    };
    lines.iter().any(|l| l.text.contains(quoted))
}

/// The host a failed call named, when it names one by name (not by IP): `lookup cart on
/// ...`, `dial tcp cart:7070`, `UnableToConnect on cart:6379`, `upstream cart`,
/// `connect to cart:5432`, `UnknownHostException: cart`, `http://cart:8080/`. The first
/// DNS label, lower case.
pub fn callee(text: &str) -> Option<String> {
    #[allow(clippy::expect_used)] // a constant pattern, exercised by the tests
    static RE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(
            r#"(?i)(?:\blookup |dial tcp |UnableToConnect on |\bupstream |(?:connect(?:ing)? to|connection to|resolve host:?|resolution failed for|UnknownHostException:?) ["']?|://)([a-z][a-z0-9-]*)(?:[.:/"' ]|$)"#,
        )
        .expect("constant callee pattern compiles")
    });
    RE.captures(text)
        .map(|c| c[1].to_ascii_lowercase())
        .filter(|h| !matches!(h.as_str(), "localhost" | "tcp" | "udp" | "http" | "https"))
}

fn rank(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Warn => 1,
        Severity::Error => 2,
        Severity::Critical => 3,
    }
}

/// A pod or replica set's workload name: `checkout-7d9f8c6b5-x2k4q` → `checkout`,
/// `checkout-7d9f8c6b5` → `checkout`; other names are kept.
pub fn workload(name: &str) -> String {
    let parts: Vec<&str> = name.split('-').collect();
    // Kubernetes writes pod-template hashes and pod suffixes in its "safe" alphabet (no
    // vowels, no 0, 1 or 3), so a vowel-less run is a hash even without a digit.
    const SAFE: &str = "bcdfghjklmnpqrstvwxz2456789";
    let is_hash = |s: &str| {
        (5..=10).contains(&s.len())
            && ((s
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.chars().any(|c| c.is_ascii_digit()))
                || s.chars().all(|c| SAFE.contains(c)))
    };
    let is_suffix = |s: &str| {
        s.len() == 5
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    match parts.as_slice() {
        [head @ .., hash, suffix] if !head.is_empty() && is_hash(hash) && is_suffix(suffix) => {
            head.join("-")
        }
        [head @ .., hash] if !head.is_empty() && is_hash(hash) => head.join("-"),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests;
