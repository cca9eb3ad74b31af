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
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use loglens_agents::Severity;
use loglens_agents::evidence::SignatureLibrary;
use loglens_tools::k8s::recorded_events;
use loglens_tools::logs::Scope;
use serde_json::Value;

use crate::case::{CaseLine, Expected, ExpectedRoute, GoldenCase, Origin};

/// Lines kept per container (the newest): some containers logged thousands of 2 KB lines.
pub const MAX_LINES_PER_CONTAINER: usize = 300;

/// One root-cause class: the cause (a signature id, or `other`), its detail, the
/// specialists, the failing message.
pub struct Class {
    /// Cloud-OpsBench's class name.
    pub name: &'static str,
    /// Our signature id, or `other`.
    pub cause: &'static str,
    /// Which kind of the cause.
    pub detail: &'static str,
    /// `infra`, `app` or `both`.
    pub specialists: &'static str,
    /// The failing message, normalized.
    pub error_signature: &'static str,
}

const fn class(
    name: &'static str,
    cause: &'static str,
    detail: &'static str,
    specialists: &'static str,
    error_signature: &'static str,
) -> Class {
    Class {
        name,
        cause,
        detail,
        specialists,
        error_signature,
    }
}

/// The classes seen in the public cases.
pub const CLASSES: &[Class] = &[
    class(
        "oom_killed",
        "oom_killed",
        "memory_limit",
        "infra",
        "OOMKilled, exit code 137",
    ),
    class(
        "liveness_probe_incorrect_protocol",
        "liveness_probe_failure",
        "protocol",
        "infra",
        "Liveness probe failed",
    ),
    class(
        "liveness_probe_incorrect_port",
        "liveness_probe_failure",
        "port",
        "infra",
        "Liveness probe failed",
    ),
    class(
        "liveness_probe_incorrect_timing",
        "liveness_probe_failure",
        "timing",
        "infra",
        "Liveness probe failed",
    ),
    class(
        "readiness_probe_incorrect_port",
        "readiness_probe_failure",
        "port",
        "infra",
        "Readiness probe failed",
    ),
    class(
        "readiness_probe_incorrect_protocol",
        "readiness_probe_failure",
        "protocol",
        "infra",
        "Readiness probe failed",
    ),
    class(
        "incorrect_image_reference",
        "image_pull_error",
        "image_not_found",
        "infra",
        "ErrImagePull / ImagePullBackOff",
    ),
    class(
        "missing_image_pull_secret",
        "image_pull_error",
        "unauthorized",
        "infra",
        "ErrImagePull / ImagePullBackOff",
    ),
    class(
        "image_registry_dns_failure",
        "image_pull_error",
        "registry_unresolvable",
        "infra",
        "ErrImagePull / ImagePullBackOff",
    ),
    class(
        "service_env_var_address_mismatch",
        "dependency_address_invalid",
        "env_var",
        "app",
        "cannot connect to the dependency's address",
    ),
    class(
        "service_selector_mismatch",
        "service_misconfigured",
        "selector_mismatch",
        "infra",
        "service has no endpoints",
    ),
    class(
        "service_port_mapping_mismatch",
        "service_misconfigured",
        "target_port_mismatch",
        "infra",
        "service target port not served",
    ),
    class(
        "service_protocol_mismatch",
        "service_misconfigured",
        "protocol_mismatch",
        "infra",
        "service protocol mismatch",
    ),
    class(
        "node_selector_mismatch",
        "scheduling_failure",
        "node_selector",
        "infra",
        "FailedScheduling: didn't match node selector",
    ),
    class(
        "node_affinity_mismatch",
        "scheduling_failure",
        "node_affinity",
        "infra",
        "FailedScheduling: didn't match node affinity",
    ),
    class(
        "taint_toleration_mismatch",
        "scheduling_failure",
        "untolerated_taint",
        "infra",
        "FailedScheduling: untolerated taint",
    ),
    class(
        "pod_anti_affinity_conflict",
        "scheduling_failure",
        "pod_anti_affinity",
        "infra",
        "FailedScheduling: pod anti-affinity",
    ),
    class(
        "node_cordon_mismatch",
        "scheduling_failure",
        "nodes_unschedulable",
        "infra",
        "FailedScheduling: nodes unschedulable",
    ),
    class(
        "cpu_capacity_mismatch",
        "scheduling_failure",
        "insufficient_cpu",
        "infra",
        "FailedScheduling: Insufficient cpu",
    ),
    class(
        "memory_capacity_mismatch",
        "scheduling_failure",
        "insufficient_memory",
        "infra",
        "FailedScheduling: Insufficient memory",
    ),
    class(
        "pvc_access_mode_mismatch",
        "pvc_unbound",
        "access_mode",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "pvc_capacity_mismatch",
        "pvc_unbound",
        "capacity",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "pvc_selector_mismatch",
        "pvc_unbound",
        "selector",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "pvc_storage_class_mismatch",
        "pvc_unbound",
        "storage_class",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "pv_binding_occupied",
        "pvc_unbound",
        "volume_taken",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "volume_mount_permission_denied",
        "permission_denied",
        "volume_ownership",
        "infra",
        "Permission denied",
    ),
    class(
        "missing_service_account",
        "service_account_missing",
        "service_account",
        "infra",
        "serviceaccount not found",
    ),
    class(
        "namespace_cpu_quota_exceeded",
        "quota_exceeded",
        "cpu",
        "infra",
        "exceeded quota",
    ),
    class(
        "namespace_memory_quota_exceeded",
        "quota_exceeded",
        "memory",
        "infra",
        "exceeded quota",
    ),
    class(
        "namespace_pod_quota_exceeded",
        "quota_exceeded",
        "pods",
        "infra",
        "exceeded quota",
    ),
    class(
        "namespace_service_quota_exceeded",
        "quota_exceeded",
        "services",
        "infra",
        "exceeded quota",
    ),
    class(
        "namespace_storage_quota_exceeded",
        "quota_exceeded",
        "storage",
        "infra",
        "exceeded quota",
    ),
    class(
        "kubelet_unavailable",
        "node_component_down",
        "kubelet",
        "infra",
        "node NotReady",
    ),
    class(
        "containerd_unavailable",
        "node_component_down",
        "container_runtime",
        "infra",
        "node NotReady",
    ),
    class(
        "kube_proxy_unavailable",
        "node_component_down",
        "kube_proxy",
        "infra",
        "service IPs unreachable from the node",
    ),
    class(
        "kube_scheduler_unavailable",
        "node_component_down",
        "kube_scheduler",
        "infra",
        "pods Pending with no scheduling decision",
    ),
];

/// A class the table does not have, mapped by the Kubernetes words in its name; `None`
/// when none fits. Order matters: the most specific words first.
pub fn by_words(name: &str) -> Option<(&'static str, &'static str)> {
    let has = |w: &str| name.contains(w);
    let cause = if has("quota") {
        "quota_exceeded"
    } else if has("oom") {
        "oom_killed"
    } else if has("liveness") || has("startup_probe") {
        "liveness_probe_failure"
    } else if has("readiness") {
        "readiness_probe_failure"
    } else if has("image") || has("registry") {
        "image_pull_error"
    } else if has("service_account") {
        "service_account_missing"
    } else if [
        "kubelet",
        "containerd",
        "docker",
        "kube_proxy",
        "scheduler",
        "node_not_ready",
    ]
    .iter()
    .any(|w| has(w))
    {
        "node_component_down"
    } else if has("pvc") || has("pv_") || has("storage_class") || has("volume_binding") {
        "pvc_unbound"
    } else if (has("scale") || has("replica")) && (has("zero") || has("_0")) {
        "workload_scaled_to_zero"
    } else if has("service_selector")
        || has("service_port")
        || has("service_protocol")
        || has("endpoint")
    {
        "service_misconfigured"
    } else if [
        "affinity",
        "taint",
        "cordon",
        "capacity",
        "node_selector",
        "unschedulable",
    ]
    .iter()
    .any(|w| has(w))
    {
        "scheduling_failure"
    } else if has("read_only") && (has("mysql") || has("db") || has("database") || has("postgres"))
    {
        "db_read_only"
    } else if has("permission") || has("read_only") {
        "permission_denied"
    } else if has("env_var") || has("address") {
        "dependency_address_invalid"
    } else if has("dns") {
        "dns_resolution_failure"
    } else if has("password") || has("credential") || has("auth") {
        "db_auth_failure"
    } else if has("connection_pool") || has("max_connections") || has("exhaust") {
        "connection_pool_exhausted"
    } else if has("delay") || has("latency") || has("timeout") {
        "upstream_timeout"
    } else if has("port") && has("conflict") {
        "port_conflict"
    } else if has("port") {
        "connection_refused"
    } else {
        return None;
    };
    Some((cause, "infra"))
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
    let (cause, detail, specialists, error_signature) = match CLASSES
        .iter()
        .find(|c| c.name == class_name)
    {
        Some(c) => (
            c.cause,
            c.detail,
            c.specialists,
            c.error_signature.to_string(),
        ),
        None => match by_words(class_name) {
            Some((cause, specialists)) => {
                (cause, class_name, specialists, class_name.replace('_', " "))
            }
            None => bail!(
                "{name}: root-cause class {class_name} has no mapping (evals/src/import/cloudopsbench.rs)"
            ),
        },
    };
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
    let mut lines = Vec::new();
    for (key, raw) in &logs {
        let (container, previous) = match key.strip_suffix(".previous") {
            Some(c) => (c, true),
            None => (key.as_str(), false),
        };
        let mut labels = BTreeMap::from([
            ("namespace".to_string(), namespace.clone()),
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
            root_cause: root_cause.clone(),
            severity,
            component: component.clone(),
            detail: Some(detail.to_string()),
            error_signature,
            summary: format!("{query} {root_cause} ({component})"),
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
mod tests {
    use super::*;

    fn data() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/cloudopsbench")
    }

    #[tokio::test]
    async fn imports_the_fixture_cases_with_their_mapped_causes_and_state() {
        let lib = SignatureLibrary::builtin().unwrap();
        let imported = import_all(&data(), &lib).await.unwrap();
        assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
        let cases = imported.cases;
        assert_eq!(cases.len(), 13);
        let oom = cases
            .iter()
            .find(|c| c.id == "cloudopsbench/boutique_runtime_22")
            .unwrap();
        assert_eq!(oom.expected.cause, "oom_killed");
        assert_eq!(oom.expected.component, "adservice");
        assert_eq!(oom.expected.route.specialists, "infra");
        assert!(oom.events.iter().all(|e| e.is_warning()));
        let quota = cases
            .iter()
            .find(|c| c.id == "cloudopsbench/boutique_admission_13")
            .unwrap();
        assert_eq!(quota.expected.cause, "quota_exceeded");
        assert_eq!(quota.expected.detail.as_deref(), Some("cpu"));
        assert_eq!(quota.expected.component, "boutique");
        // The recorded state travels with the case; per-object and selected views do not.
        assert!(
            quota
                .state
                .contains_key("kubectl get resourcequota -n boutique")
        );
        assert!(quota.state.keys().all(|k| !k.contains(" -l ")));
        for c in &cases {
            // Every case written out fits the schema.
            let text = serde_json::to_string(c).unwrap();
            crate::case::parse_case(&text, Path::new("x.json")).unwrap();
            assert!(c.logs.iter().all(|l| l.labels["namespace"] == "boutique"));
        }
    }

    fn write_case_dir(dir: &Path, class: &str, logs: serde_json::Value) {
        std::fs::create_dir_all(dir.join("raw_data")).unwrap();
        std::fs::write(
            dir.join("metadata.json"),
            serde_json::json!({"namespace": "shop", "query": "q",
                "result": {"root_cause": class, "fault_object": "app/api", "fault_taxonomy": "X"}})
            .to_string(),
        )
        .unwrap();
        std::fs::write(dir.join("raw_data/logs.json"), logs.to_string()).unwrap();
        std::fs::write(
            dir.join("raw_data/k8s_states.json"),
            r#"{"kubectl get pods -n shop -o wide": "NAME   READY   STATUS   RESTARTS   AGE   IP   NODE\n"}"#,
        )
        .unwrap();
    }

    #[tokio::test]
    async fn kubectl_logs_strings_previous_containers_and_unknown_classes() {
        let root = tempfile::tempdir().unwrap();
        write_case_dir(
            &root.path().join("a_1"),
            "namespace_gpu_quota_exceeded",
            serde_json::json!({
                "api": "2026-01-02T16:01:48.217425932+08:00 starting\n2026-01-02T16:01:49.000000000+08:00 boom\n",
                "api.previous": ["{\"timestamp\":\"2026-01-02T08:00:00Z\",\"msg\":\"old\"}"]
            }),
        );
        write_case_dir(
            &root.path().join("b_2"),
            "cosmic_rays",
            serde_json::json!({"api": []}),
        );
        let imported = import_all(root.path(), &SignatureLibrary::builtin().unwrap())
            .await
            .unwrap();
        // The unknown class is skipped with its reason; the import goes on.
        assert_eq!(imported.skipped.len(), 1);
        assert!(
            imported.skipped[0].1.contains("cosmic_rays"),
            "{:?}",
            imported.skipped
        );
        let c = &imported.cases[0];
        // Mapped by its words.
        assert_eq!(c.expected.cause, "quota_exceeded");
        let texts: Vec<&str> = c.logs.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "starting",
                "boom",
                "{\"timestamp\":\"2026-01-02T08:00:00Z\",\"msg\":\"old\"}"
            ]
        );
        assert_eq!(
            c.logs[0].timestamp.as_deref(),
            Some("2026-01-02T08:01:48.217425932+00:00")
        );
        assert_eq!(c.logs[2].labels["container"], "api");
        assert_eq!(c.logs[2].labels["previous"], "true");
        assert!(c.logs[2].timestamp.is_some());
    }
}
