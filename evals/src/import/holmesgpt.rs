//! HolmesGPT replay cases (`replay_subset.jsonl`) as golden cases.
//!
//! Each row is one investigation HolmesGPT's test suite recorded: a question (empty for
//! the `test_investigate` cases, which start from an alert), the expected output as prose
//! bullets, and every tool call's recorded output. The case's lines are the outputs of
//! the log tools (`fetch_pod_logs`, `kubectl_logs`, `kubectl_previous_logs`, ...), cleaned
//! of the tools' own framing (`stdout:`, metadata blocks, kubectl's error messages); its
//! events come from the recorded `kubectl describe` and `kubectl_events` outputs.
//!
//! The ground truth's fields come from hand labels (`golden/labels/holmesgpt.toml`), since
//! the expected outputs are prose. A row without a label is refused, so a new recording
//! gets a deliberate label rather than a guess.
use loglens_agents::Diagnosis;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{Context, bail};
use loglens_agents::Severity;
use loglens_tools::k8s::{K8sEvent, parse_describe_events, parse_event_table};
use loglens_tools::logs::Scope;
use serde::Deserialize;
use serde_json::Value;

use crate::case::{CaseLine, Expected, ExpectedRoute, GoldenCase, Origin};

/// The hand labels, compiled in.
pub const LABELS: &str = include_str!("../../../golden/labels/holmesgpt.toml");

/// Lines kept per pod (the newest).
pub const MAX_LINES_PER_POD: usize = 500;

/// Tools whose output is container logs.
const LOG_TOOLS: &[&str] = &[
    "fetch_pod_logs",
    "kubectl_logs",
    "kubectl_logs_all_containers",
    "kubectl_previous_logs",
    "kubectl_previous_logs_all_containers",
];

/// One hand label.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// The row's id.
    pub id: String,
    /// Replaces an empty question.
    #[serde(default)]
    pub question: Option<String>,
    /// Signature id or `other`.
    pub cause: String,
    /// How bad.
    pub severity: Severity,
    /// The workload at fault.
    pub component: String,
    /// `infra`, `app` or `both`.
    pub specialists: String,
    /// `structured` (default) or `hybrid`.
    #[serde(default = "structured")]
    pub retrieval: String,
    /// The failing message, normalized.
    pub error_signature: String,
    /// Why.
    pub root_cause: String,
    /// What to do.
    pub action: String,
    /// Replaces the expected output as the summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Substrings marking the evidence lines.
    #[serde(default)]
    pub evidence: Vec<String>,
}

fn structured() -> String {
    "structured".into()
}

#[derive(Deserialize)]
struct LabelFile {
    case: Vec<Label>,
}

/// Parses the labels.
pub fn labels(text: &str) -> anyhow::Result<BTreeMap<String, Label>> {
    let f: LabelFile = toml::from_str(text).context("reading the HolmesGPT labels")?;
    let mut out = BTreeMap::new();
    for l in f.case {
        if !["infra", "app", "both"].contains(&l.specialists.as_str()) {
            bail!("{}: specialists must be infra, app or both", l.id);
        }
        if !["structured", "hybrid"].contains(&l.retrieval.as_str()) {
            bail!("{}: retrieval must be structured or hybrid", l.id);
        }
        if out.insert(l.id.clone(), l.clone()).is_some() {
            bail!("{} is labelled twice", l.id);
        }
    }
    Ok(out)
}

/// The lines of one log tool's output: without the tool's framing.
fn log_lines(output: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_meta = false;
    for l in output.lines() {
        let t = l.trim();
        if t.starts_with("=====") {
            // The metadata block is framed by rules of `=`.
            in_meta = !in_meta;
            continue;
        }
        if in_meta
            || t.is_empty()
            || t == "stdout:"
            || t == "stderr:"
            || t.starts_with("Command `")
            || t.starts_with("Error from server")
        {
            continue;
        }
        out.push(l.trim_end().to_string());
    }
    out
}

/// What a row's successful tool calls recorded.
struct Recorded {
    /// Each log output, per (namespace, pod).
    per_pod: BTreeMap<(String, String), Vec<Vec<String>>>,
    /// Events from `kubectl describe` and `kubectl get events`.
    events: Vec<K8sEvent>,
    /// Namespaces the calls named, first seen first.
    namespaces: Vec<String>,
}

/// The logs, events and namespaces in a row's tool outputs.
fn recorded(row: &Value) -> Recorded {
    let tools = row["tool_outputs"].as_array().cloned().unwrap_or_default();
    let mut per_pod: BTreeMap<(String, String), Vec<Vec<String>>> = BTreeMap::new();
    let mut events: Vec<K8sEvent> = Vec::new();
    let mut namespaces: Vec<String> = Vec::new();
    for t in &tools {
        if t["status"].as_str() != Some("success") {
            continue;
        }
        let tool = t["tool"].as_str().unwrap_or("");
        let params = &t["params"];
        let output = t["output"].as_str().unwrap_or("");
        let ns = params["namespace"].as_str().map(str::to_string);
        if let Some(ns) = &ns
            && !namespaces.contains(ns)
        {
            namespaces.push(ns.clone());
        }
        if LOG_TOOLS.contains(&tool) {
            let pod = params["pod_name"].as_str().unwrap_or("");
            if pod.is_empty() || pod.contains('*') {
                continue;
            }
            let lines = log_lines(output);
            if !lines.is_empty() {
                per_pod
                    .entry((ns.clone().unwrap_or_default(), pod.to_string()))
                    .or_default()
                    .push(lines);
            }
        } else if tool == "kubectl_describe" {
            let kind = params["kind"].as_str().unwrap_or("pod").to_lowercase();
            events.extend(parse_describe_events(output, &kind));
        } else if tool == "kubectl_events" {
            events.extend(parse_event_table(output, ns.as_deref()));
        }
    }
    Recorded {
        per_pod,
        events,
        namespaces,
    }
}

/// A case's lines: per pod, the longest output first, then what other outputs add
/// (the newest [`MAX_LINES_PER_POD`]).
fn pod_lines(per_pod: BTreeMap<(String, String), Vec<Vec<String>>>) -> Vec<CaseLine> {
    let mut logs = Vec::new();
    for ((ns, pod), mut outputs) in per_pod {
        outputs.sort_by_key(|o| std::cmp::Reverse(o.len()));
        let mut seen: HashSet<String> = HashSet::new();
        let mut lines: Vec<String> = Vec::new();
        for (i, o) in outputs.into_iter().enumerate() {
            for l in o {
                // The first output keeps its repeats; later ones add only new lines.
                if i == 0 || !seen.contains(&l) {
                    seen.insert(l.clone());
                    lines.push(l);
                }
            }
        }
        let skip = lines.len().saturating_sub(MAX_LINES_PER_POD);
        for l in lines.into_iter().skip(skip) {
            let mut labels = BTreeMap::new();
            if !ns.is_empty() {
                labels.insert("namespace".to_string(), ns.clone());
            }
            labels.insert("pod".to_string(), pod.clone());
            logs.push(CaseLine {
                timestamp: None,
                labels,
                line: l,
            });
        }
    }
    logs
}

/// The row's expected output as one text.
fn expected_text(row: &Value) -> String {
    match &row["expected_output"] {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(s) => s.trim().to_string(),
        _ => String::new(),
    }
}

/// One row as a case.
pub fn import_row(row: &Value, labels: &BTreeMap<String, Label>) -> anyhow::Result<GoldenCase> {
    let id = row["id"].as_str().context("a row without an id")?;
    let label = labels.get(id).with_context(|| {
        format!("{id} has no label in golden/labels/holmesgpt.toml: label it before importing")
    })?;
    let question = row["question"]
        .as_str()
        .filter(|q| !q.trim().is_empty())
        .map(str::to_string)
        .or_else(|| label.question.clone())
        .with_context(|| format!("{id}: no question recorded and none in its label"))?;
    let Recorded {
        per_pod,
        mut events,
        namespaces,
    } = recorded(row);
    let logs = pod_lines(per_pod);
    // The same event seen by two tools (describe and the events list) is kept once.
    let mut seen = HashSet::new();
    events.retain(|e| seen.insert((e.name.clone(), e.reason.clone(), e.message.clone())));
    // Nothing recorded is a case only when nothing is the answer ("no ERROR logs found").
    if logs.is_empty() && events.is_empty() && label.severity != Severity::Info {
        bail!("{id}: no log lines and no events recorded, yet the label names a failure");
    }
    let evidence: Vec<usize> = logs
        .iter()
        .enumerate()
        .filter(|(_, l)| label.evidence.iter().any(|e| l.line.contains(e.as_str())))
        .map(|(i, _)| i)
        .collect();
    if !label.evidence.is_empty() && evidence.is_empty() {
        bail!("{id}: none of the label's evidence strings is in the recorded lines");
    }
    let summary = label.summary.clone().unwrap_or_else(|| expected_text(row));
    let name = id.replace('/', "-").to_lowercase();
    let mut tags = vec!["holmesgpt".to_string()];
    tags.extend(
        row["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string),
    );
    Ok(GoldenCase {
        id: format!("holmesgpt/{name}"),
        origin: Origin::Real,
        source: format!(
            "HolmesGPT/holmesgpt@c1ee1d43:tests/llm/fixtures/{id} (recorded tool outputs); labels: golden/labels/holmesgpt.toml"
        ),
        licence: "Apache-2.0 (HolmesGPT)".into(),
        question,
        filters: Scope {
            namespace: namespaces.first().cloned(),
            ..Scope::default()
        },
        logs,
        events,
        state: Default::default(),
        expected: Expected {
            route: ExpectedRoute {
                retrieval: label.retrieval.clone(),
                specialists: label.specialists.clone(),
            },
            cause: label.cause.clone(),
            diagnosis: Diagnosis {
                root_cause: label.root_cause.clone(),
                severity: label.severity,
                component: label.component.clone(),
                detail: None,
                error_signature: label.error_signature.clone(),
                summary,
                action: label.action.clone(),
            },
            evidence,
        },
        tags,
    })
}

/// Every row of `DIR/replay_subset.jsonl`.
pub fn import_all(dir: &Path) -> anyhow::Result<Vec<GoldenCase>> {
    let path = dir.join("replay_subset.jsonl");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let labels = labels(LABELS)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
        out.push(import_row(&row, &labels)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/holmesgpt")
    }

    #[test]
    fn imports_every_recorded_case_with_its_label() {
        let cases = import_all(&data()).unwrap();
        assert_eq!(cases.len(), 21);
        let lib = loglens_agents::evidence::SignatureLibrary::builtin().unwrap();
        for c in &cases {
            let text = serde_json::to_string(c).unwrap();
            crate::case::parse_case(&text, Path::new("x.json")).unwrap();
            assert!(!c.question.trim().is_empty(), "{}", c.id);
            assert!(
                c.expected.cause == "other"
                    || lib.signatures().iter().any(|s| s.id == c.expected.cause),
                "{}: unknown cause {}",
                c.id,
                c.expected.cause
            );
            // No tool framing leaks into the lines.
            assert!(
                c.logs
                    .iter()
                    .all(|l| { l.line.trim() != "stdout:" && !l.line.starts_with("Command `") })
            );
        }
        let oom = cases
            .iter()
            .find(|c| c.id == "holmesgpt/test_ask_holmes-02_what_is_wrong_with_pod")
            .unwrap();
        // No logs were recorded for it: the describe output's container state is the evidence.
        assert!(
            oom.events
                .iter()
                .any(|e| e.reason == "OOMKilled" && e.message.contains("exit code 137")),
            "{:?}",
            oom.events
        );
        let dns = cases
            .iter()
            .find(|c| c.id.ends_with("21_job_fail_curl_no_svc_account"))
            .unwrap();
        assert!(!dns.expected.evidence.is_empty());
        for i in &dns.expected.evidence {
            assert!(dns.logs[*i].line.contains("Could not resolve host"));
        }
    }

    #[test]
    fn a_row_without_a_label_is_refused() {
        let row = serde_json::json!({"id": "new/case", "question": "q", "tool_outputs": []});
        let err = import_row(&row, &labels(LABELS).unwrap()).unwrap_err();
        assert!(err.to_string().contains("no label"), "{err}");
    }

    #[test]
    fn evidence_that_matches_nothing_is_refused() {
        let mut labels = labels(LABELS).unwrap();
        let id = "test_ask_holmes/09_crashpod";
        labels.get_mut(id).unwrap().evidence = vec!["not in the logs".into()];
        let rows = std::fs::read_to_string(data().join("replay_subset.jsonl")).unwrap();
        let row: Value = rows
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|r| r["id"] == id)
            .unwrap();
        let err = import_row(&row, &labels).unwrap_err();
        assert!(err.to_string().contains("evidence"), "{err}");
    }
}
