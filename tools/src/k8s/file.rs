//! [`FileEventSource`]: events from saved kubectl output.
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::Value;

use super::parse::{
    kind_of, parse_describe_events, parse_event_list_json, parse_event_table, parse_pod_list_json,
};
use super::state::ClusterState;
use super::{EventFilter, EventSource, K8sEvent, fold, rank};
use crate::ToolError;

/// Reads events from files: `kubectl get events -o json` (or `-o yaml`), the `kubectl get
/// events [-A]` table, `kubectl describe` output, snapshots of objects in JSON or YAML, or
/// a Cloud-OpsBench `k8s_states.json` (kubectl commands mapped to their output).
/// Directories are read recursively.
#[derive(Debug, Clone)]
pub struct FileEventSource {
    paths: Vec<PathBuf>,
}

impl FileEventSource {
    /// A source over these files or directories.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self { paths }
    }

    /// Every file's text (directories read recursively, in name order).
    fn texts(&self) -> Result<Vec<String>, ToolError> {
        let mut files = Vec::new();
        for p in &self.paths {
            collect(p, &mut files)?;
        }
        files
            .into_iter()
            .map(|f| {
                std::fs::read_to_string(&f).map_err(|source| ToolError::Io { path: f, source })
            })
            .collect()
    }

    fn read_all(&self) -> Result<Vec<K8sEvent>, ToolError> {
        let events = self.texts()?.iter().flat_map(|t| parse_file(t)).collect();
        Ok(fold(events))
    }

    /// The cluster state the files record (recorded kubectl outputs, JSON snapshots),
    /// merged; `None` when none of them records any.
    fn read_state(&self) -> Result<Option<ClusterState>, ToolError> {
        let mut merged: Option<ClusterState> = None;
        for state in self.texts()?.iter().filter_map(|t| state_of_file(t)) {
            match &mut merged {
                Some(m) => m.merge(state),
                None => merged = Some(state),
            }
        }
        Ok(merged)
    }
}

/// A file's text as JSON: JSON as it is, or Kubernetes objects written as YAML.
fn objects_of(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(text)
        .ok()
        .or_else(|| super::yaml::objects(text))
}

/// The state one file records: the outputs of a recorded `k8s_states.json` (command →
/// output), or a JSON snapshot of objects; `None` for events alone.
fn state_of_file(text: &str) -> Option<ClusterState> {
    let v = objects_of(text)?;
    let state = match &v {
        Value::Object(map) if map.keys().any(|k| k.starts_with("kubectl ")) => {
            ClusterState::from_recorded(
                map.iter()
                    .filter_map(|(cmd, out)| out.as_str().map(|o| (cmd.as_str(), o))),
            )
        }
        _ => ClusterState::from_json(&v),
    };
    (!state.is_empty()).then_some(state)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), ToolError> {
    if !p.exists() {
        return Err(ToolError::NotFound(p.to_path_buf()));
    }
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|source| ToolError::Io {
                path: p.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir()
                || e.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| ["json", "yaml", "yml", "txt", "log", "out"].contains(&x))
            {
                collect(&e, out)?;
            }
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

/// Events in one file's text, whichever of the supported shapes it has.
fn parse_file(text: &str) -> Vec<K8sEvent> {
    if let Some(v) = objects_of(text) {
        if let Value::Object(map) = &v
            && map.keys().any(|k| k.starts_with("kubectl "))
        {
            let outputs: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
            return recorded_events(&outputs, true);
        }
        // An event list, or pods (`kubectl get pods -o json`): their status.
        let mut out = parse_event_list_json(&v);
        out.extend(parse_pod_list_json(&v));
        // Objects besides pods and events (`kubectl get pods,nodes,deploy,svc,endpoints,
        // pvc,quota -o json`): a snapshot whose state is analysed like recorded tables.
        let state = ClusterState::from_json(&v);
        let beyond_pods = !(state.nodes.is_empty()
            && state.workloads.is_empty()
            && state.services.is_empty()
            && state.claims.is_empty()
            && state.volumes.is_empty()
            && state.quotas.is_empty());
        if beyond_pods {
            return super::current_events(&state, out);
        }
        return out;
    }
    parse_text(text, None, "Pod")
}

/// Events from recorded kubectl outputs (`command → output`, as `k8s_states.json` keeps
/// them): every event the outputs show; with `with_state`, those the objects' current
/// state has superseded are dropped and the state's own facts added
/// ([`super::current_events`]).
pub fn recorded_events(outputs: &[(&str, &Value)], with_state: bool) -> Vec<K8sEvent> {
    let events: Vec<K8sEvent> = fold(
        outputs
            .iter()
            .flat_map(|(cmd, out)| parse_command(cmd, out))
            .collect(),
    );
    if !with_state {
        return events;
    }
    let state = ClusterState::from_recorded(
        outputs
            .iter()
            .filter_map(|(cmd, out)| out.as_str().map(|o| (*cmd, o))),
    );
    super::current_events(&state, events)
}

/// One kubectl command and its recorded output.
fn parse_command(cmd: &str, out: &Value) -> Vec<K8sEvent> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let namespace = words
        .iter()
        .position(|w| *w == "-n" || *w == "--namespace")
        .and_then(|i| words.get(i + 1))
        .copied();
    match out {
        Value::String(text) if cmd.contains("get events") || cmd.contains("describe") => {
            let kind = words
                .iter()
                .position(|w| *w == "describe")
                .and_then(|i| words.get(i + 1))
                .map_or("Pod".to_string(), |k| match k.trim_end_matches('s') {
                    "po" => "Pod".to_string(),
                    "no" => "Node".to_string(),
                    "deploy" => "Deployment".to_string(),
                    "rs" => "ReplicaSet".to_string(),
                    "svc" => "Service".to_string(),
                    "pvc" => "PersistentVolumeClaim".to_string(),
                    "pv" => "PersistentVolume".to_string(),
                    other => kind_of(other),
                });
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                return parse_event_list_json(&v);
            }
            parse_text(text, namespace, &kind)
        }
        Value::Object(_) | Value::Array(_) if cmd.contains("get events") => {
            parse_event_list_json(out)
        }
        Value::Object(_) | Value::Array(_) if cmd.contains("get pod") => parse_pod_list_json(out),
        Value::String(text) if cmd.contains("get pod") => serde_json::from_str::<Value>(text)
            .map(|v| parse_pod_list_json(&v))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn parse_text(text: &str, namespace: Option<&str>, kind: &str) -> Vec<K8sEvent> {
    let first = text.lines().next().unwrap_or("");
    if first.contains("LAST SEEN") && first.contains("REASON") {
        return parse_event_table(text, namespace);
    }
    // One or more `kubectl describe` outputs (multiple objects are separated by blank
    // lines followed by a new `Name:`).
    let mut out = Vec::new();
    let mut chunk = String::new();
    for line in text.lines() {
        if line.starts_with("Name:") && !chunk.is_empty() {
            out.extend(parse_describe_events(&chunk, kind));
            chunk.clear();
        }
        chunk.push_str(line);
        chunk.push('\n');
    }
    out.extend(parse_describe_events(&chunk, kind));
    out
}

#[async_trait]
impl EventSource for FileEventSource {
    fn describe(&self) -> String {
        let names: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        format!("Kubernetes events from files: {}", names.join(", "))
    }

    async fn events(&self, filter: &EventFilter) -> Result<Vec<K8sEvent>, ToolError> {
        let this = self.clone();
        let mut events = tokio::task::spawn_blocking(move || this.read_all())
            .await
            .map_err(|e| ToolError::Task(e.to_string()))??;
        events.retain(|e| filter.matches(e));
        rank(&mut events);
        Ok(events)
    }

    async fn state(&self, filter: &EventFilter) -> Result<Option<ClusterState>, ToolError> {
        let this = self.clone();
        let state = tokio::task::spawn_blocking(move || this.read_state())
            .await
            .map_err(|e| ToolError::Task(e.to_string()))??;
        Ok(state.filter(|s| s.in_namespace(filter.namespace.as_deref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_snapshot_of_objects_brings_its_state_facts() {
        // `kubectl get pods,nodes -o json`: the node's state is a fact like an event.
        let text = r#"{"kind": "List", "items": [
            {"kind": "Node", "metadata": {"name": "worker-01"},
             "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "container runtime is down"}]}},
            {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"},
             "spec": {"nodeName": "worker-01", "containers": [{"name": "web"}]},
             "status": {"phase": "Running", "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0, "state": {"running": {}}}]}}
        ]}"#;
        let events = parse_file(text);
        let node = events
            .iter()
            .find(|e| e.kind == "Node" && e.reason == "NodeNotReady")
            .unwrap_or_else(|| panic!("{events:?}"));
        assert!(
            node.message.contains("container runtime is down"),
            "{node:?}"
        );
        // Pods alone stay what they were: their status, no state analysis.
        let pods = r#"{"kind": "List", "items": [
            {"kind": "Pod", "metadata": {"name": "web-1"}, "spec": {"containers": []},
             "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes are available"}]}}
        ]}"#;
        assert!(
            parse_file(pods)
                .iter()
                .all(|e| e.source.as_deref() != Some(super::super::STATE_SOURCE))
        );
    }

    #[tokio::test]
    async fn the_files_state_is_given_merged_and_only_for_its_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let recorded = serde_json::json!({
            "kubectl get pods -n shop -o wide": "NAME                   READY   STATUS    RESTARTS   AGE   IP         NODE\nweb-6778bd7b8b-6dlql   1/1     Running   0          5m    10.0.0.5   node-b\n",
            "kubectl get services -n shop -o wide": "NAME   TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)    AGE   SELECTOR\ncart   ClusterIP   10.68.0.20   <none>        7070/TCP   5m    app=cart\n"
        });
        std::fs::write(dir.path().join("k8s_states.json"), recorded.to_string()).unwrap();
        std::fs::write(
            dir.path().join("nodes.json"),
            r#"{"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "node-b"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}]}"#,
        )
        .unwrap();
        // Events alone record no state.
        std::fs::write(
            dir.path().join("events.txt"),
            "LAST SEEN   TYPE      REASON    OBJECT          MESSAGE\n",
        )
        .unwrap();
        let source = FileEventSource::new(vec![dir.path().to_path_buf()]);
        let state = source
            .state(&EventFilter::default())
            .await
            .unwrap()
            .expect("the files record state");
        assert_eq!(state.namespace.as_deref(), Some("shop"));
        assert_eq!(state.pods.len(), 1, "{state:?}");
        assert_eq!(state.pods[0].node.as_deref(), Some("node-b"));
        assert_eq!(state.services[0].cluster_ip.as_deref(), Some("10.68.0.20"));
        assert_eq!(state.nodes.len(), 1, "{state:?}");
        let other = EventFilter {
            namespace: Some("billing".into()),
            ..EventFilter::default()
        };
        assert!(source.state(&other).await.unwrap().is_none());
        let events_only = FileEventSource::new(vec![dir.path().join("events.txt")]);
        assert!(
            events_only
                .state(&EventFilter::default())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_yaml_snapshot_reads_as_the_json_one_does() {
        // `kubectl get nodes,pods,events -o yaml`.
        let text = r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata:
    name: worker-01
  status:
    conditions:
    - type: Ready
      status: "False"
      reason: KubeletNotReady
      message: container runtime is down
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-1
    namespace: shop
  spec:
    nodeName: worker-01
    containers:
    - name: web
  status:
    phase: Running
    containerStatuses:
    - name: web
      ready: false
      restartCount: 0
      state:
        running: {}
- apiVersion: v1
  kind: Event
  metadata:
    name: web-1.1
    namespace: shop
  involvedObject:
    kind: Pod
    name: web-1
    namespace: shop
  type: Warning
  reason: Unhealthy
  message: "Readiness probe failed: connection refused"
  count: 4
"#;
        let events = parse_file(text);
        assert!(
            events
                .iter()
                .any(|e| e.kind == "Node" && e.reason == "NodeNotReady"),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| e.reason == "Unhealthy" && e.count == 4),
            "{events:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.yaml");
        std::fs::write(&path, text).unwrap();
        let source = FileEventSource::new(vec![path]);
        let state = source
            .state(&EventFilter::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.pods[0].node.as_deref(), Some("worker-01"));
        // A recorded `-o yaml` output under its command reads the same way.
        let recorded = ClusterState::from_recorded([("kubectl get all -n shop -o yaml", text)]);
        assert_eq!(recorded.nodes.len(), 1, "{recorded:?}");
    }
}
