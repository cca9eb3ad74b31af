//! Synthetic cases from failure templates (`golden/templates.toml`).
//!
//! Real incidents are few; templates give breadth. Each case is one template played out
//! in a small cluster: healthy noise from several services, the failing service's lines
//! (the evidence), its callers' symptoms, one or two **decoys** (real errors that are not
//! the cause: a flaky metrics push, a deprecated setting), and the Kubernetes events the
//! failure would raise. Services, namespaces, wording, counts and times vary with a seeded
//! generator, so `--seed` reproduces a dataset exactly.
use loglens_agents::Diagnosis;
use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use loglens_agents::Severity;
use loglens_tools::k8s::K8sEvent;
use loglens_tools::logs::Scope;
use serde::Deserialize;

use crate::case::{CaseLine, Expected, ExpectedRoute, GoldenCase, Origin};

/// The built-in templates.
pub const TEMPLATES: &str = include_str!("../../golden/templates.toml");

/// One failure template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Name.
    pub id: String,
    /// Signature id or `other`.
    pub cause: String,
    /// Severity.
    pub severity: Severity,
    /// `infra`, `app` or `both`.
    pub specialists: String,
    /// Questions; a leading `?` marks a vague one.
    pub questions: Vec<String>,
    /// Ground truth texts.
    pub root_cause: String,
    /// Ground truth error signature.
    pub error_signature: String,
    /// Ground truth action.
    pub action: String,
    /// Lines from the failing service.
    pub lines: Vec<String>,
    /// Lines from its caller.
    pub symptoms: Vec<String>,
    /// `[reason, message]` warning events on the failing service's pod.
    pub events: Vec<[String; 2]>,
    /// The caller, not the service, is the component at fault.
    #[serde(default)]
    pub component_is_caller: bool,
    /// Nothing is failing: the lines are informational.
    #[serde(default)]
    pub info: bool,
}

#[derive(Deserialize)]
struct File {
    template: Vec<Template>,
}

/// Parses templates.
pub fn templates(text: &str) -> anyhow::Result<Vec<Template>> {
    let f: File = toml::from_str(text).context("parsing golden/templates.toml")?;
    Ok(f.template)
}

/// A small seeded generator (SplitMix64): reproducible, no dependency.
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// In `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const SERVICES: &[&str] = &[
    "checkout",
    "payments",
    "cart",
    "catalog",
    "auth",
    "search",
    "orders",
    "inventory",
    "shipping",
    "recommendations",
    "notifications",
    "gateway",
    "pricing",
    "accounts",
];
const NAMESPACES: &[&str] = &["shop", "prod", "apps", "payments-prod", "storefront"];
const NOISE: &[&str] = &[
    "GET /api/items/{n} 200 {n}ms",
    "POST /api/events 202 {n}ms",
    "cache hit ratio 0.{n}",
    "processed batch {n} in {n}ms",
    "connected to message broker at {ip}:5672",
    "GET /healthz 200 1ms",
    "flushed {n} metrics",
];
const DECOYS: &[&str] = &[
    "WARN deprecated config key 'timeout_ms', use 'timeout'",
    "ERROR failed to push metrics to pushgateway: 404 Not Found",
    "ERROR feature flag refresh failed, using cached flags",
    "WARN slow DNS answer for telemetry.local ({n}ms)",
];

struct Vars {
    svc: String,
    caller: String,
    ns: String,
}

fn fill(t: &str, v: &Vars, rng: &mut Rng) -> String {
    let mut out = t
        .replace("{svc}", &v.svc)
        .replace("{caller}", &v.caller)
        .replace("{ns}", &v.ns);
    while let Some(i) = out.find("{n}") {
        let n = (10 + rng.below(990)).to_string();
        out.replace_range(i..i + 3, &n);
    }
    while let Some(i) = out.find("{id}") {
        let id = format!("{:08x}", rng.next() as u32);
        out.replace_range(i..i + 4, &id);
    }
    while let Some(i) = out.find("{ip}") {
        let ip = format!("10.42.{}.{}", rng.below(8), 2 + rng.below(250));
        out.replace_range(i..i + 4, &ip);
    }
    out
}

fn pod(svc: &str, rng: &mut Rng) -> String {
    const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut s = |n: usize| -> String { (0..n).map(|_| A[rng.below(A.len())] as char).collect() };
    format!("{svc}-{}-{}", s(9), s(5))
}

/// One line to be: seconds after the start, service, text, and whether it is evidence.
type Row = (i64, String, String, bool);

/// A case's lines in time order (bystanders' noise, the template's lines from the failing
/// service, its symptoms from the caller, a decoy) and when the failure starts (seconds).
fn rows(t: &Template, v: &Vars, rng: &mut Rng) -> (Vec<Row>, i64) {
    let (svc, caller) = (&v.svc, &v.caller);
    let mut rows: Vec<Row> = Vec::new();
    let bystanders: Vec<String> = (0..3).map(|_| rng.pick(SERVICES).to_string()).collect();
    for _ in 0..(20 + rng.below(20)) {
        let s = rng.pick(&bystanders).clone();
        let tpl = NOISE[rng.below(NOISE.len())];
        let line = fill(tpl, v, rng);
        rows.push((rng.below(600) as i64, s, format!("INFO {line}"), false));
    }
    let failing_from = 300 + rng.below(200) as i64;
    for l in &t.lines {
        for _ in 0..(1 + rng.below(3)) {
            let level = if t.info { "INFO" } else { "ERROR" };
            let text = fill(l, v, rng);
            rows.push((
                failing_from + rng.below(100) as i64,
                svc.clone(),
                format!("{level} {text}"),
                true,
            ));
        }
    }
    for l in &t.symptoms {
        for _ in 0..(2 + rng.below(3)) {
            let text = fill(l, v, rng);
            rows.push((
                failing_from + 5 + rng.below(100) as i64,
                caller.clone(),
                format!("ERROR {text}"),
                true,
            ));
        }
    }
    let decoy_svc = bystanders[0].clone();
    for _ in 0..(1 + rng.below(2)) {
        let tpl = DECOYS[rng.below(DECOYS.len())];
        let d = fill(tpl, v, rng);
        rows.push((rng.below(600) as i64, decoy_svc.clone(), d, false));
    }
    rows.sort_by_key(|r| r.0);
    (rows, failing_from)
}

/// The rows as case lines in namespace `ns` (each service's lines from its pod), and the
/// indexes of the evidence.
fn case_lines(
    rows: Vec<Row>,
    pods: &BTreeMap<String, String>,
    ns: &str,
    start: DateTime<Utc>,
) -> (Vec<CaseLine>, Vec<usize>) {
    let mut logs = Vec::with_capacity(rows.len());
    let mut evidence = Vec::new();
    for (i, (secs, s, text, is_evidence)) in rows.into_iter().enumerate() {
        if is_evidence {
            evidence.push(i);
        }
        let pod = pods.get(&s).cloned().unwrap_or_else(|| s.clone());
        logs.push(CaseLine {
            timestamp: Some((start + Duration::seconds(secs)).to_rfc3339()),
            labels: BTreeMap::from([
                ("namespace".to_string(), ns.to_string()),
                ("pod".to_string(), pod),
                ("container".to_string(), s.clone()),
                ("app".to_string(), s),
            ]),
            line: text,
        });
    }
    (logs, evidence)
}

/// Makes case `index` of `template`.
pub fn make_case(t: &Template, index: usize, rng: &mut Rng) -> GoldenCase {
    let svc = rng.pick(SERVICES).to_string();
    let mut caller = rng.pick(SERVICES).to_string();
    while caller == svc {
        caller = rng.pick(SERVICES).to_string();
    }
    let v = Vars {
        svc: svc.clone(),
        caller: caller.clone(),
        ns: rng.pick(NAMESPACES).to_string(),
    };
    let pods: BTreeMap<String, String> = SERVICES
        .iter()
        .map(|s| (s.to_string(), pod(s, rng)))
        .collect();
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
        + Duration::minutes(rng.below(60 * 24 * 5) as i64);
    let (rows, failing_from) = rows(t, &v, rng);
    let (logs, evidence) = case_lines(rows, &pods, &v.ns, start);
    let svc_pod = pods.get(&svc).cloned().unwrap_or_else(|| svc.clone());
    let events: Vec<K8sEvent> = t
        .events
        .iter()
        .map(|[reason, message]| K8sEvent {
            namespace: Some(v.ns.clone()),
            kind: "Pod".into(),
            name: svc_pod.clone(),
            event_type: "Warning".into(),
            reason: reason.clone(),
            message: fill(message, &v, rng),
            count: 1 + rng.below(8) as u32,
            last_seen: Some(start + Duration::seconds(failing_from + 60)),
            age: None,
            source: Some("kubelet".into()),
        })
        .collect();
    let q = rng.pick(&t.questions).clone();
    let (vague, q) = match q.strip_prefix('?') {
        Some(rest) => (true, rest.to_string()),
        None => (false, q),
    };
    let component = if t.component_is_caller { &caller } else { &svc };
    GoldenCase {
        id: format!("synthetic/{}-{index:03}", t.id),
        origin: Origin::Synthetic,
        source: format!("golden/templates.toml#{}", t.id),
        licence: "Apache-2.0 (generated by loglens)".into(),
        question: fill(&q, &v, rng),
        filters: if vague {
            Scope::default()
        } else {
            Scope {
                namespace: Some(v.ns.clone()),
                ..Scope::default()
            }
        },
        logs,
        events,
        state: Default::default(),
        expected: Expected {
            route: ExpectedRoute {
                retrieval: if vague { "hybrid" } else { "structured" }.into(),
                specialists: t.specialists.clone(),
            },
            cause: t.cause.clone(),
            diagnosis: Diagnosis {
                root_cause: fill(&t.root_cause, &v, rng),
                severity: t.severity,
                component: component.clone(),
                detail: None,
                error_signature: t.error_signature.clone(),
                summary: fill(&t.root_cause, &v, rng),
                action: fill(&t.action, &v, rng),
            },
            evidence,
        },
        tags: vec!["synthetic".into(), t.id.clone()],
    }
}

/// `per_template` cases of every template, reproducibly from `seed`.
pub fn synthesize(templates: &[Template], per_template: usize, seed: u64) -> Vec<GoldenCase> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for t in templates {
        for i in 1..=per_template {
            out.push(make_case(t, i, &mut rng));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_cover_thirty_failure_modes_with_the_severity_mix() {
        let ts = templates(TEMPLATES).unwrap();
        assert!(ts.len() >= 30, "{}", ts.len());
        let lib = loglens_agents::evidence::SignatureLibrary::builtin().unwrap();
        for t in &ts {
            assert!(
                t.cause == "other" || lib.signatures().iter().any(|s| s.id == t.cause),
                "{}: unknown cause {}",
                t.id,
                t.cause
            );
            assert!(["infra", "app", "both"].contains(&t.specialists.as_str()));
        }
        let count = |s: Severity| ts.iter().filter(|t| t.severity == s).count();
        assert!(count(Severity::Info) >= 7 && count(Severity::Warn) >= 7);
        assert!(count(Severity::Error) >= 10 && count(Severity::Critical) >= 3);
    }

    #[test]
    fn cases_are_valid_reproducible_and_cite_their_evidence() {
        let ts = templates(TEMPLATES).unwrap();
        let a = synthesize(&ts, 2, 7);
        let b = synthesize(&ts, 2, 7);
        assert_eq!(a, b, "same seed, same cases");
        assert_ne!(a, synthesize(&ts, 2, 8));
        for c in &a {
            let text = serde_json::to_string(c).unwrap();
            crate::case::parse_case(&text, std::path::Path::new("x.json")).unwrap();
            assert!(!c.question.contains('{'), "{}", c.question);
            for &i in &c.expected.evidence {
                assert!(!c.logs[i].labels["app"].is_empty(), "{}", c.id);
            }
            let failing = c
                .logs
                .iter()
                .filter(|l| l.line.starts_with("ERROR"))
                .count();
            let decoys = c
                .logs
                .iter()
                .filter(|l| DECOYS.iter().any(|d| l.line.starts_with(&d[..12])))
                .count();
            assert!(decoys >= 1, "{}: no decoy", c.id);
            assert!(
                failing >= 1 || !c.expected.evidence.is_empty() || !c.events.is_empty(),
                "{}",
                c.id
            );
        }
    }
}
