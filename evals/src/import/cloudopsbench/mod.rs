//! Cloud-OpsBench cases (`benchmark/boutique/<category>/<id>/`) as golden cases.
//!
//! Each case folder has `metadata.json` (`namespace`, `query`: the alert, `result`:
//! `{fault_taxonomy, fault_object, root_cause}`), `raw_data/logs.json` (`{container: lines}`,
//! the lines as a list or as one `kubectl logs` string; `<container>.previous` holds the
//! previous container's) and `raw_data/k8s_states.json` (kubectl outputs keyed by
//! command). A case keeps its newest lines per container with the times they carry, pod
//! and node labels from the recorded `kubectl get pods -o wide`, the warning events of the
//! recorded `describe` outputs, and the recorded state itself (the commands the cluster
//! snapshot reads), so the replay sees the cluster as the analyst did.
//!
//! The benchmark names 49 root-cause classes. [`CLASSES`] maps those seen in the public
//! cases to a cause in `agents/data/signatures.toml` and a detail; a class not in the table
//! is mapped by the Kubernetes words in its name ([`by_words`]: `quota`, `taint`, `kubelet`,
//! ...), and a case whose class fits neither is skipped with the reason, as is a case that
//! cannot be read.
use loglens_agents::Diagnosis;
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use loglens_agents::Severity;
use loglens_agents::evidence::SignatureLibrary;
use loglens_tools::k8s::recorded_events;
use loglens_tools::logs::Scope;
use serde_json::Value;

use crate::case::{CaseLine, Expected, ExpectedRoute, GoldenCase, Origin};

mod classes;

pub use classes::{CLASSES, Class, by_words};

/// Lines kept per container (the newest): some containers logged thousands of 2 KB lines.
pub const MAX_LINES_PER_CONTAINER: usize = 300;

/// A class's cause, detail, specialists and error signature: from the class table, else
/// from the words of its name.
fn class_labels(
    name: &str,
    class_name: &str,
) -> anyhow::Result<(&'static str, String, &'static str, String)> {
    Ok(match CLASSES.iter().find(|c| c.name == class_name) {
        Some(c) => (
            c.cause,
            c.detail.to_string(),
            c.specialists,
            c.error_signature.to_string(),
        ),
        None => match by_words(class_name) {
            Some((cause, specialists)) => (
                cause,
                class_name.to_string(),
                specialists,
                class_name.replace('_', " "),
            ),
            None => bail!(
                "{name}: root-cause class {class_name} has no mapping (evals/src/import/cloudopsbench/classes.rs)"
            ),
        },
    })
}

/// The newest lines of each container's log (`logs.json`), labelled with the namespace,
/// container, and the pod and node it ran on (`pods`: by container).
fn case_lines(
    logs: &BTreeMap<String, Value>,
    namespace: &str,
    pods: &BTreeMap<String, (String, String)>,
) -> Vec<CaseLine> {
    let mut lines = Vec::new();
    for (key, raw) in logs {
        let (container, previous) = match key.strip_suffix(".previous") {
            Some(c) => (c, true),
            None => (key.as_str(), false),
        };
        let mut labels = BTreeMap::from([
            ("namespace".to_string(), namespace.to_string()),
            ("container".to_string(), container.to_string()),
        ]);
        if previous {
            labels.insert("previous".into(), "true".into());
        }
        if let Some((pod, node)) = pods.get(container) {
            labels.insert("pod".into(), pod.clone());
            labels.insert("node".into(), node.clone());
        }
        let raw: Vec<&str> = match raw {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            Value::String(s) => s.lines().collect(),
            _ => Vec::new(),
        };
        let skip = raw.len().saturating_sub(MAX_LINES_PER_CONTAINER);
        for line in raw.iter().skip(skip).filter(|l| !l.trim().is_empty()) {
            let (timestamp, text) = line_time(line);
            lines.push(CaseLine {
                timestamp,
                labels: labels.clone(),
                line: text.to_string(),
            });
        }
    }
    lines
}

/// Reads one case folder.
pub async fn import_case(dir: &Path, library: &SignatureLibrary) -> anyhow::Result<GoldenCase> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("case folder has no name")?
        .to_string();
    let meta: Value = read_json(&dir.join("metadata.json"))?;
    let namespace = meta["namespace"].as_str().unwrap_or("default").to_string();
    let query = meta["query"]
        .as_str()
        .unwrap_or("Something is wrong.")
        .trim()
        .to_string();
    let class_name = meta["result"]["root_cause"]
        .as_str()
        .context("metadata.json has no result.root_cause")?;
    let (cause, detail, specialists, error_signature) = class_labels(&name, class_name)?;
    let component = meta["result"]["fault_object"]
        .as_str()
        .and_then(|o| o.rsplit('/').next())
        .unwrap_or("unknown")
        .to_string();

    let states: Value = read_json(&dir.join("raw_data").join("k8s_states.json"))?;
    let states = states
        .as_object()
        .context("k8s_states.json is not {command: output}")?;
    let pods = pods_by_container(states, &namespace);
    let logs: BTreeMap<String, Value> =
        serde_json::from_value(read_json(&dir.join("raw_data").join("logs.json"))?)
            .context("logs.json is not {container: lines}")?;
    let lines = case_lines(&logs, &namespace, &pods);
    if lines.is_empty() && states.is_empty() {
        bail!("{name}: no log lines and no recorded state");
    }
    let state = recorded_state(states);
    // Warnings only: the recorded cluster's normal events (thousands of Scheduled,
    // Pulled, Started) say nothing about the fault and would bloat the case.
    let outputs: Vec<(&str, &Value)> = states.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let events = recorded_events(&outputs, false)
        .into_iter()
        .filter(|e| e.is_warning())
        .collect();

    let signature = library.signatures().iter().find(|s| s.id == cause);
    let severity = signature.map_or(Severity::Error, |s| s.severity);
    let action = signature.map_or_else(
        || "Compare the service's configuration (env vars, Service selector) with the running pods and fix the mismatch.".to_string(),
        |s| s.action.clone(),
    );
    let words = class_name.replace('_', " ");
    let root_cause = match signature {
        Some(s) => format!("{} ({words}).", s.title),
        None => format!("A configuration mistake: {words}."),
    };
    Ok(GoldenCase {
        id: format!("cloudopsbench/{name}"),
        origin: Origin::Real,
        source: format!("LLM4Ops/Cloud-OpsBench@e1af4e9:benchmark/boutique ({name})"),
        licence: "MIT (Cloud-OpsBench dataset card)".into(),
        question: format!("{query} What is the root cause?"),
        filters: Scope {
            namespace: Some(namespace),
            ..Scope::default()
        },
        logs: lines,
        events,
        state,
        expected: Expected {
            route: ExpectedRoute {
                retrieval: "structured".into(),
                specialists: specialists.into(),
            },
            cause: cause.into(),
            diagnosis: Diagnosis {
                root_cause: root_cause.clone(),
                severity,
                component: component.clone(),
                detail: Some(detail),
                error_signature,
                summary: format!("{query} {root_cause} ({component})"),
                action,
            },
            evidence: Vec::new(),
        },
        tags: vec![
            "cloudopsbench".into(),
            meta["result"]["fault_taxonomy"]
                .as_str()
                .unwrap_or("")
                .to_lowercase(),
            class_name.to_string(),
        ],
    })
}

/// The recorded commands the cluster snapshot reads, as text: the namespace's tables
/// (plain, `-o wide`, `--show-labels`) and every `describe`. Per-object `get`s repeat
/// the tables and label-selected ones repeat them again, so they are left out.
fn recorded_state(states: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    states
        .iter()
        .filter_map(|(cmd, out)| Some((cmd, out.as_str()?)))
        .filter(|(cmd, out)| {
            let w: Vec<&str> = cmd.split_whitespace().collect();
            !out.trim().is_empty()
                && match w.get(1) {
                    Some(&"describe") => !matches!(
                        w.get(2),
                        Some(&"configmaps" | &"secrets" | &"serviceaccounts" | &"storageclasses")
                    ),
                    // `kubectl get <resource> -n NS [flags]`: no object name, no selector.
                    Some(&"get") => w.get(3) == Some(&"-n") && !w.contains(&"-l"),
                    _ => false,
                }
        })
        .map(|(cmd, out)| (cmd.clone(), out.to_string()))
        .collect()
}

/// The folders to import and the ones skipped, each with why.
pub struct Imported {
    /// The cases read.
    pub cases: Vec<GoldenCase>,
    /// `(folder, reason)` for each case that could not be read or mapped.
    pub skipped: Vec<(String, String)>,
}

/// Every case folder under `root` (folders with a `metadata.json`), sorted; a case that
/// cannot be read or mapped is skipped with the reason.
pub async fn import_all(root: &Path, library: &SignatureLibrary) -> anyhow::Result<Imported> {
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("metadata.json").exists())
        .collect();
    dirs.sort();
    let mut out = Imported {
        cases: Vec::new(),
        skipped: Vec::new(),
    };
    for d in dirs {
        match import_case(&d, library).await {
            Ok(c) => out.cases.push(c),
            Err(e) => out
                .skipped
                .push((d.display().to_string(), format!("{e:#}"))),
        }
    }
    Ok(out)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// container (workload) name → (pod, node), from `kubectl get pods -n NS -o wide`.
fn pods_by_container(
    states: &serde_json::Map<String, Value>,
    namespace: &str,
) -> BTreeMap<String, (String, String)> {
    let key = format!("kubectl get pods -n {namespace} -o wide");
    let mut out = BTreeMap::new();
    for row in states
        .get(&key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .lines()
        .skip(1)
    {
        let cols: Vec<&str> = row.split_whitespace().collect();
        // RESTARTS can read `4 (45s ago)`: the node is the column after the IP.
        if let Some(ip) = cols.iter().position(|c| c.contains('.') || *c == "<none>")
            && cols.len() > ip + 1
        {
            let workload = loglens_agents::evidence::signatures::workload(cols[0]);
            out.insert(workload, (cols[0].to_string(), cols[ip + 1].to_string()));
        }
    }
    out
}

/// The time a line carries and its text: a `kubectl logs --timestamps` prefix (removed
/// from the text), else the `timestamp` field of a JSON line.
fn line_time(line: &str) -> (Option<String>, &str) {
    if let Some((first, rest)) = line.split_once(' ')
        && first.len() >= 20
        && first.as_bytes()[4] == b'-'
        && first.contains('T')
        && let Some(t) = loglens_tools::logs::parse_timestamp(first)
    {
        return (Some(t.to_rfc3339()), rest);
    }
    let t = serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| {
            v["timestamp"]
                .as_str()
                .and_then(loglens_tools::logs::parse_timestamp)
        })
        .map(|t| t.to_rfc3339());
    (t, line)
}

#[cfg(test)]
mod tests;
