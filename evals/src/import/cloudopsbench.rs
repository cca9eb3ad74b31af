//! Cloud-OpsBench cases (`benchmark/boutique/<category>/<id>/`) as golden cases.
//!
//! Each case folder has `metadata.json` (`namespace`, `query`: the alert, `result`:
//! `{fault_taxonomy, fault_object, root_cause}`), `raw_data/logs.json` (`{container: [log
//! lines]}`) and `raw_data/k8s_states.json` (kubectl outputs keyed by command). The lines
//! keep only the times they carry themselves; pod and node names come from the recorded
//! `kubectl get pods -o wide`; events from the recorded `kubectl describe` outputs.
//!
//! Cloud-OpsBench names 49 root-cause classes; [`CLASSES`] maps each one seen so far to the
//! signature that names it in `agents/data/signatures.toml`, or to `other` when the library
//! has none (a configuration mistake whose symptom is a connection failure), with the route
//! an analyst would take. A class not in the table is refused, so a new one gets a
//! deliberate mapping rather than a guess.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use loglens_agents::Severity;
use loglens_agents::evidence::SignatureLibrary;
use loglens_tools::k8s::{EventFilter, EventSource, FileEventSource};
use serde_json::Value;

use crate::case::{CaseFilters, CaseLine, Expected, ExpectedRoute, GoldenCase, Origin};

/// Lines kept per container (the newest): some containers logged thousands of 2 KB lines.
pub const MAX_LINES_PER_CONTAINER: usize = 300;

/// One root-cause class: the signature (or `other`), the specialists, the failing message.
pub struct Class {
    /// Cloud-OpsBench's class name.
    pub name: &'static str,
    /// Our signature id, or `other`.
    pub cause: &'static str,
    /// `infra`, `app` or `both`.
    pub specialists: &'static str,
    /// The failing message, normalized.
    pub error_signature: &'static str,
    /// Why, in a sentence (for `other`, where the library has no title).
    pub root_cause: &'static str,
}

/// The classes seen in the data so far.
pub const CLASSES: &[Class] = &[
    Class {
        name: "oom_killed",
        cause: "oom_killed",
        specialists: "infra",
        error_signature: "OOMKilled, exit code 137",
        root_cause: "The container exceeds its memory limit and is killed (OOMKilled).",
    },
    Class {
        name: "liveness_probe_incorrect_protocol",
        cause: "liveness_probe_failure",
        specialists: "infra",
        error_signature: "Liveness probe failed",
        root_cause: "The liveness probe uses the wrong protocol for the port, so it fails and the kubelet restarts the container.",
    },
    Class {
        name: "liveness_probe_incorrect_port",
        cause: "liveness_probe_failure",
        specialists: "infra",
        error_signature: "Liveness probe failed",
        root_cause: "The liveness probe checks a port the container does not serve, so the kubelet restarts it.",
    },
    Class {
        name: "readiness_probe_incorrect_port",
        cause: "readiness_probe_failure",
        specialists: "infra",
        error_signature: "Readiness probe failed",
        root_cause: "The readiness probe checks a port the container does not serve, so the pod never becomes ready.",
    },
    Class {
        name: "readiness_probe_incorrect_protocol",
        cause: "readiness_probe_failure",
        specialists: "infra",
        error_signature: "Readiness probe failed",
        root_cause: "The readiness probe uses the wrong protocol, so the pod never becomes ready.",
    },
    Class {
        name: "incorrect_image_reference",
        cause: "image_pull_error",
        specialists: "infra",
        error_signature: "ErrImagePull / ImagePullBackOff",
        root_cause: "The deployment references an image that cannot be pulled.",
    },
    Class {
        name: "service_env_var_address_mismatch",
        cause: "other",
        specialists: "app",
        error_signature: "cannot connect to the dependency's address",
        root_cause: "An environment variable points the service at a dependency address that does not exist.",
    },
    Class {
        name: "service_selector_mismatch",
        cause: "other",
        specialists: "infra",
        error_signature: "service has no endpoints",
        root_cause: "The Service's selector matches no pods, so calls to it find no endpoints.",
    },
];

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
    let Some(class) = CLASSES.iter().find(|c| c.name == class_name) else {
        bail!(
            "{name}: root-cause class {class_name} has no mapping in evals/src/import/cloudopsbench.rs"
        );
    };
    let component = meta["result"]["fault_object"]
        .as_str()
        .and_then(|o| o.rsplit('/').next())
        .unwrap_or("unknown")
        .to_string();

    let states_path = dir.join("raw_data").join("k8s_states.json");
    let states: Value = read_json(&states_path)?;
    let pods = pods_by_container(&states, &namespace);
    let logs: BTreeMap<String, Vec<String>> =
        serde_json::from_value(read_json(&dir.join("raw_data").join("logs.json"))?)
            .context("logs.json is not {container: [lines]}")?;
    let mut lines = Vec::new();
    for (container, raw) in &logs {
        let mut labels = BTreeMap::from([
            ("namespace".to_string(), namespace.clone()),
            ("container".to_string(), container.clone()),
        ]);
        if let Some((pod, node)) = pods.get(container) {
            labels.insert("pod".into(), pod.clone());
            labels.insert("node".into(), node.clone());
        }
        let skip = raw.len().saturating_sub(MAX_LINES_PER_CONTAINER);
        for line in raw.iter().skip(skip) {
            lines.push(CaseLine {
                timestamp: line_time(line),
                labels: labels.clone(),
                line: line.clone(),
            });
        }
    }
    if lines.is_empty() {
        bail!("{name}: no log lines");
    }
    // Warnings only: the recorded cluster's normal events (thousands of Scheduled,
    // Pulled, Started) say nothing about the fault and would bloat the case.
    let events = FileEventSource::new(vec![states_path])
        .events(&EventFilter {
            warnings_only: true,
            ..EventFilter::default()
        })
        .await
        .with_context(|| format!("{name}: reading events from k8s_states.json"))?
        .into_iter()
        .filter(|e| e.is_warning())
        .collect();

    let signature = library.signatures().iter().find(|s| s.id == class.cause);
    let severity = signature.map_or(Severity::Error, |s| s.severity);
    let action = signature.map_or_else(
        || "Compare the service's configuration (env vars, Service selector) with the running pods and fix the mismatch.".to_string(),
        |s| s.action.clone(),
    );
    Ok(GoldenCase {
        id: format!("cloudopsbench/{name}"),
        origin: Origin::Real,
        source: format!("LLM4Ops/Cloud-OpsBench@e1af4e9:benchmark/boutique ({name})"),
        licence: "MIT (Cloud-OpsBench dataset card)".into(),
        question: format!("{query} What is the root cause?"),
        filters: CaseFilters {
            namespace: Some(namespace),
            ..CaseFilters::default()
        },
        logs: lines,
        events,
        expected: Expected {
            route: ExpectedRoute {
                retrieval: "structured".into(),
                specialists: class.specialists.into(),
            },
            cause: class.cause.into(),
            root_cause: class.root_cause.into(),
            severity,
            component: component.clone(),
            error_signature: class.error_signature.into(),
            summary: format!("{query} {} ({component})", class.root_cause),
            action,
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

/// Every case folder under `root` (folders with a `metadata.json`), sorted.
pub async fn import_all(
    root: &Path,
    library: &SignatureLibrary,
) -> anyhow::Result<Vec<GoldenCase>> {
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("metadata.json").exists())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        out.push(import_case(&d, library).await?);
    }
    Ok(out)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// container (workload) name → (pod, node), from `kubectl get pods -n NS -o wide`.
fn pods_by_container(states: &Value, namespace: &str) -> BTreeMap<String, (String, String)> {
    let key = format!("kubectl get pods -n {namespace} -o wide");
    let mut out = BTreeMap::new();
    for row in states[&key].as_str().unwrap_or("").lines().skip(1) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        if cols.len() >= 7 {
            let workload = loglens_agents::evidence::signatures::workload(cols[0]);
            out.insert(workload, (cols[0].to_string(), cols[6].to_string()));
        }
    }
    out
}

/// The time a line carries itself: the `timestamp` field of a JSON line.
fn line_time(line: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    let t = v["timestamp"].as_str()?;
    loglens_tools::logs::parse_timestamp(t).map(|t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/cloudopsbench")
    }

    #[tokio::test]
    async fn imports_the_shared_cases_with_their_mapped_causes() {
        let lib = SignatureLibrary::builtin().unwrap();
        let cases = import_all(&data(), &lib).await.unwrap();
        assert_eq!(cases.len(), 6);
        let oom = cases
            .iter()
            .find(|c| c.id == "cloudopsbench/boutique_runtime_22")
            .unwrap();
        assert_eq!(oom.expected.cause, "oom_killed");
        assert_eq!(oom.expected.component, "adservice");
        assert_eq!(oom.expected.route.specialists, "infra");
        assert!(
            oom.events
                .iter()
                .any(|e| e.message.to_lowercase().contains("oom"))
        );
        assert!(oom.events.iter().all(|e| e.is_warning()));
        for c in &cases {
            // Every case written out fits the schema.
            let text = serde_json::to_string(c).unwrap();
            crate::case::parse_case(&text, Path::new("x.json")).unwrap();
            assert!(c.logs.len() <= 11 * MAX_LINES_PER_CONTAINER);
            assert!(c.logs.iter().all(|l| l.labels["namespace"] == "boutique"));
        }
    }

    #[tokio::test]
    async fn an_unmapped_class_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metadata.json"),
            r#"{"namespace":"x","query":"q","result":{"root_cause":"cosmic_rays","fault_object":"app/a"}}"#,
        )
        .unwrap();
        let err = import_case(dir.path(), &SignatureLibrary::builtin().unwrap())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cosmic_rays"), "{err}");
    }
}
