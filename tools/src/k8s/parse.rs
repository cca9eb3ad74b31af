//! Parsers for the ways Kubernetes events reach loglens as text.
use serde_json::Value;

use super::K8sEvent;
use crate::logs::parse_timestamp;

/// The objects of an API list (`{"items": [...]}`), a bare array, or one object.
pub(crate) fn list_items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.contains_key("items") => o["items"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}

/// `kubectl get events -o json` (an `EventList`), a single `Event`, or a JSON array of
/// events.
pub fn parse_event_list_json(v: &Value) -> Vec<K8sEvent> {
    list_items(v)
        .into_iter()
        .filter_map(|e| {
            let obj = e.get("involvedObject").or_else(|| e.get("regarding"))?;
            let s = |v: &Value| v.as_str().map(str::to_string);
            let time = ["lastTimestamp", "eventTime", "firstTimestamp"]
                .iter()
                .find_map(|k| e.get(*k).and_then(Value::as_str).and_then(parse_timestamp))
                .or_else(|| {
                    e.pointer("/metadata/creationTimestamp")
                        .and_then(Value::as_str)
                        .and_then(parse_timestamp)
                });
            let count = e
                .get("count")
                .and_then(Value::as_u64)
                .or_else(|| e.pointer("/series/count").and_then(Value::as_u64))
                .unwrap_or(1);
            Some(K8sEvent {
                namespace: obj
                    .get("namespace")
                    .and_then(s)
                    .or_else(|| e.pointer("/metadata/namespace").and_then(s)),
                kind: obj.get("kind").and_then(s).unwrap_or_default(),
                name: obj.get("name").and_then(s).unwrap_or_default(),
                event_type: e.get("type").and_then(s).unwrap_or_else(|| "Normal".into()),
                reason: e.get("reason").and_then(s).unwrap_or_default(),
                message: e
                    .get("message")
                    .or_else(|| e.get("note"))
                    .and_then(s)
                    .unwrap_or_default(),
                count: u32::try_from(count).unwrap_or(u32::MAX),
                last_seen: time,
                age: None,
                source: e
                    .pointer("/source/component")
                    .and_then(s)
                    .or_else(|| e.get("reportingComponent").and_then(s))
                    .or_else(|| e.get("reportingController").and_then(s))
                    .filter(|c| !c.is_empty()),
            })
        })
        .collect()
}

/// Column start offsets (in characters) of a fixed-width table header.
pub(crate) fn columns(header: &str, names: &[&str]) -> Vec<Option<usize>> {
    names
        .iter()
        .map(|n| {
            header
                .match_indices(n)
                .map(|(i, _)| header[..i].chars().count())
                .find(|&i| {
                    // A whole column name: at the start, or after two spaces.
                    i == 0
                        || header
                            .chars()
                            .skip(i.saturating_sub(2))
                            .take(2)
                            .all(|c| c == ' ')
                })
        })
        .collect()
}

pub(crate) fn cell(line: &str, start: Option<usize>, end: Option<usize>) -> String {
    let Some(start) = start else {
        return String::new();
    };
    let chars: Vec<char> = line.chars().collect();
    let end = end.unwrap_or(chars.len()).min(chars.len());
    chars
        .get(start..end)
        .map(|c| c.iter().collect::<String>().trim().to_string())
        .unwrap_or_default()
}

/// The kind for `kubectl`'s `kind/name` object column (`pod` → `Pod`,
/// `replicaset` → `ReplicaSet`).
pub(crate) fn kind_of(resource: &str) -> String {
    match resource.to_ascii_lowercase().as_str() {
        "pod" => "Pod",
        "replicaset" => "ReplicaSet",
        "deployment" => "Deployment",
        "statefulset" => "StatefulSet",
        "daemonset" => "DaemonSet",
        "node" => "Node",
        "job" => "Job",
        "cronjob" => "CronJob",
        "service" => "Service",
        "endpoints" => "Endpoints",
        "persistentvolumeclaim" => "PersistentVolumeClaim",
        "persistentvolume" => "PersistentVolume",
        "horizontalpodautoscaler" => "HorizontalPodAutoscaler",
        other => return other.to_string(),
    }
    .to_string()
}

/// The `kubectl get events [-A]` table: `[NAMESPACE] LAST SEEN TYPE REASON OBJECT MESSAGE`.
/// `namespace` applies when the table has no NAMESPACE column.
pub fn parse_event_table(text: &str, namespace: Option<&str>) -> Vec<K8sEvent> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names = [
        "NAMESPACE",
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "MESSAGE",
    ];
    let cols = columns(header, &names);
    if cols[2].is_none() || cols[3].is_none() || cols[4].is_none() {
        return Vec::new();
    }
    let next = |i: usize| cols[i + 1..].iter().flatten().next().copied();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let object = cell(l, cols[4], next(4));
            let (kind, name) = object
                .split_once('/')
                .map_or((String::new(), object.clone()), |(k, n)| {
                    (kind_of(k), n.to_string())
                });
            let age = cell(l, cols[1], next(1));
            K8sEvent {
                namespace: cols[0]
                    .map(|_| cell(l, cols[0], next(0)))
                    .or_else(|| namespace.map(str::to_string)),
                kind,
                name,
                event_type: cell(l, cols[2], next(2)),
                reason: cell(l, cols[3], next(3)),
                message: cell(l, cols[5], None),
                count: repeat_count(&age),
                last_seen: None,
                age: Some(age).filter(|a| !a.is_empty()),
                source: None,
            }
        })
        .collect()
}

/// `4s (x3 over 30s)` → 3; anything else → 1.
fn repeat_count(age: &str) -> u32 {
    age.split_once("(x")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.trim_end_matches(')').parse().ok())
        .unwrap_or(1)
}

/// Events from `kubectl describe <kind> <name>` output: its `Events:` table, plus, for
/// pods, container states that events alone miss (last termination reason and exit code,
/// a waiting reason such as CrashLoopBackOff, restart counts), as Warning entries with
/// source `pod status`.
pub fn parse_describe_events(text: &str, kind: &str) -> Vec<K8sEvent> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .filter(|v| !v.is_empty())
    };
    let name = field("Name:").unwrap_or_default();
    let namespace = field("Namespace:");
    let mut out = Vec::new();

    // The Events table.
    let lines: Vec<&str> = text.lines().collect();
    if let Some(start) = lines.iter().position(|l| l.starts_with("Events:")) {
        let header = lines.get(start + 1).copied().unwrap_or("");
        let cols = columns(header, &["Type", "Reason", "Age", "From", "Message"]);
        if cols.iter().all(Option::is_some) {
            for l in lines.iter().skip(start + 3) {
                if l.trim().is_empty() || !l.starts_with(' ') {
                    break;
                }
                let age = cell(l, cols[2], cols[3]);
                out.push(K8sEvent {
                    namespace: namespace.clone(),
                    kind: kind.to_string(),
                    name: name.clone(),
                    event_type: cell(l, cols[0], cols[1]),
                    reason: cell(l, cols[1], cols[2]),
                    message: cell(l, cols[4], None),
                    count: repeat_count(&age),
                    last_seen: None,
                    age: Some(age),
                    source: Some(cell(l, cols[3], cols[4])).filter(|s| !s.is_empty()),
                });
            }
        }
    }

    // Container states (pods).
    let mut container = String::new();
    let mut in_containers = false;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if !l.starts_with(' ') {
            in_containers = l.starts_with("Containers:") || l.starts_with("Init Containers:");
        } else if in_containers {
            let indent = l.len() - l.trim_start().len();
            let t = l.trim();
            if indent == 2 && t.ends_with(':') && !t.contains(' ') {
                container = t.trim_end_matches(':').to_string();
            } else if let Some(n) = t.strip_prefix("Restart Count:") {
                let restarts = n.trim();
                if let Some(e) = out.iter_mut().rev().find(|e| {
                    e.source.as_deref() == Some("pod status")
                        && e.message.starts_with(&format!("container {container}:"))
                }) {
                    e.message.push_str(&format!(", restart count {restarts}"));
                }
            } else if let Some(state) = t
                .strip_prefix("Last State:")
                .or_else(|| t.strip_prefix("State:"))
            {
                let state = state.trim().to_string();
                let mut reason = String::new();
                let mut exit = String::new();
                let mut j = i + 1;
                while j < lines.len() && (lines[j].len() - lines[j].trim_start().len()) > indent {
                    let d = lines[j].trim();
                    if let Some(r) = d.strip_prefix("Reason:") {
                        reason = r.trim().to_string();
                    } else if let Some(c) = d.strip_prefix("Exit Code:") {
                        exit = c.trim().to_string();
                    }
                    j += 1;
                }
                let bad = !reason.is_empty() && reason != "Completed";
                if bad {
                    let which = if t.starts_with("Last State:") {
                        "last terminated"
                    } else {
                        "is"
                    };
                    let exit = if exit.is_empty() {
                        String::new()
                    } else {
                        format!(" (exit code {exit})")
                    };
                    out.push(K8sEvent {
                        namespace: namespace.clone(),
                        kind: kind.to_string(),
                        name: name.clone(),
                        event_type: "Warning".into(),
                        reason: reason.clone(),
                        message: format!("container {container}: {which} {state} {reason}{exit}"),
                        count: 1,
                        last_seen: None,
                        age: None,
                        source: Some("pod status".into()),
                    });
                }
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Pod status from pod objects as the Kubernetes API returns them (`kubectl get pods -o
/// json`, or kube-rs's `Pod`s serialized): what events alone miss, as Warning entries with
/// source `pod status`, worded as [`parse_describe_events`] words them. Per container
/// (init containers too): a waiting reason (`CrashLoopBackOff`, `ImagePullBackOff`), a
/// bad termination now or last time (`OOMKilled`, `Error`, with the exit code and when it
/// finished), with the restart count. Per pod: an eviction or other failure reason, and a
/// pod that cannot be scheduled (`PodScheduled` false). Healthy pods give nothing.
pub fn parse_pod_list_json(v: &Value) -> Vec<K8sEvent> {
    let mut out = Vec::new();
    for pod in list_items(v) {
        if pod
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != "Pod")
            || pod.get("status").is_none()
        {
            continue;
        }
        let s = |p: &str| pod.pointer(p).and_then(Value::as_str).map(str::to_string);
        let Some(name) = s("/metadata/name") else {
            continue;
        };
        let namespace = s("/metadata/namespace");
        let entry = |reason: &str, message: String, at: Option<&str>| K8sEvent {
            namespace: namespace.clone(),
            kind: "Pod".into(),
            name: name.clone(),
            event_type: "Warning".into(),
            reason: reason.to_string(),
            message,
            count: 1,
            last_seen: at.and_then(parse_timestamp),
            age: None,
            source: Some("pod status".into()),
        };
        if let Some(reason) = s("/status/reason") {
            let message = s("/status/message").unwrap_or_default();
            out.push(entry(&reason, format!("pod {reason}: {message}"), None));
        }
        for c in pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
            if field("type") == "PodScheduled" && field("status") == "False" {
                let reason = c
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("Unschedulable");
                out.push(entry(
                    reason,
                    format!("pod not scheduled: {}", field("message")),
                    c.get("lastTransitionTime").and_then(Value::as_str),
                ));
            }
        }
        for list in ["/status/initContainerStatuses", "/status/containerStatuses"] {
            for c in pod
                .pointer(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let container = c.get("name").and_then(Value::as_str).unwrap_or("?");
                let restarts = c.get("restartCount").and_then(Value::as_u64).unwrap_or(0);
                let restart_note = if restarts > 0 {
                    format!(", restart count {restarts}")
                } else {
                    String::new()
                };
                for (state, which) in [("/state", "is"), ("/lastState", "last terminated")] {
                    let Some(st) = c.pointer(state).and_then(Value::as_object) else {
                        continue;
                    };
                    for (phase, detail) in st {
                        let reason = detail.get("reason").and_then(Value::as_str).unwrap_or("");
                        let exit = detail.get("exitCode").and_then(Value::as_i64);
                        // A clean exit, a normal start, or nothing said: not a problem.
                        let bad = match phase.as_str() {
                            "waiting" => !reason.is_empty() && reason != "ContainerCreating",
                            "terminated" => reason != "Completed" && exit != Some(0),
                            _ => false,
                        };
                        if !bad {
                            continue;
                        }
                        let reason = if reason.is_empty() { "Error" } else { reason };
                        let state_word = match phase.as_str() {
                            "waiting" => "Waiting",
                            _ => "Terminated",
                        };
                        let exit = exit
                            .map(|e| format!(" (exit code {e})"))
                            .unwrap_or_default();
                        out.push(entry(
                            reason,
                            format!(
                                "container {container}: {which} {state_word} {reason}{exit}{restart_note}"
                            ),
                            detail.get("finishedAt").and_then(Value::as_str),
                        ));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_with_and_without_namespace_column() {
        let t = "LAST SEEN   TYPE      REASON    OBJECT                 MESSAGE\n\
                 46m         Warning   BackOff   pod/api-7d9f-x1        Back-off restarting failed container\n\
                 2m (x4 over 10m)   Normal    Pulled    pod/api-7d9f-x1        Container image pulled\n";
        let e = parse_event_table(t, Some("shop"));
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].kind.as_str(), e[0].name.as_str(), e[0].reason.as_str()),
            ("Pod", "api-7d9f-x1", "BackOff")
        );
        assert_eq!(e[0].namespace.as_deref(), Some("shop"));
        assert_eq!(e[0].message, "Back-off restarting failed container");

        let t = "NAMESPACE   LAST SEEN   TYPE      REASON             OBJECT          MESSAGE\n\
                 kube-system 5m          Warning   FailedScheduling   pod/coredns-1   0/2 nodes are available\n";
        let e = parse_event_table(t, None);
        assert_eq!(e[0].namespace.as_deref(), Some("kube-system"));
        assert_eq!(e[0].message, "0/2 nodes are available");
    }

    #[test]
    fn event_list_json() {
        let v: Value = serde_json::json!({"kind":"EventList","items":[{
            "involvedObject":{"kind":"Pod","name":"db-0","namespace":"data"},
            "reason":"FailedMount","message":"MountVolume.SetUp failed","type":"Warning","count":7,
            "lastTimestamp":"2025-03-01T10:00:00Z","source":{"component":"kubelet"}}]});
        let e = parse_event_list_json(&v);
        assert_eq!(e.len(), 1);
        assert_eq!(
            (
                e[0].count,
                e[0].source.as_deref(),
                e[0].namespace.as_deref()
            ),
            (7, Some("kubelet"), Some("data"))
        );
        assert!(e[0].last_seen.is_some() && e[0].is_warning());
    }

    #[test]
    fn describe_pod_gives_events_and_container_states() {
        let text = "Name:             api-7d9f-x1\nNamespace:        shop\nContainers:\n  server:\n    Image:          api:1.2\n    State:          Waiting\n      Reason:       CrashLoopBackOff\n    Last State:     Terminated\n      Reason:       OOMKilled\n      Exit Code:    137\n    Ready:          False\n    Restart Count:  5\nConditions:\n  Type    Status\nEvents:\n  Type     Reason   Age                 From     Message\n  ----     ------   ----                ----     -------\n  Warning  BackOff  2m (x12 over 10m)   kubelet  Back-off restarting failed container server\n";
        let e = parse_describe_events(text, "Pod");
        let reasons: Vec<&str> = e.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["BackOff", "CrashLoopBackOff", "OOMKilled"]);
        assert_eq!(e[0].count, 12);
        assert_eq!(e[0].source.as_deref(), Some("kubelet"));
        assert_eq!(
            e[2].message,
            "container server: last terminated Terminated OOMKilled (exit code 137), restart count 5"
        );
        assert!(
            e.iter()
                .all(|e| e.namespace.as_deref() == Some("shop") && e.name == "api-7d9f-x1")
        );
    }

    #[test]
    fn pod_objects_give_their_container_and_scheduling_problems() {
        // The shape `kubectl get pods -o json` prints (fields from the Kubernetes API's
        // PodStatus): an OOM-killed container in CrashLoopBackOff, a healthy pod, a pod
        // that cannot be scheduled, an evicted pod.
        let v: Value = serde_json::from_str(r#"{"apiVersion":"v1","kind":"List","items":[
          {"kind":"Pod","metadata":{"name":"api-7d9f-x1","namespace":"shop"},
           "status":{"phase":"Running","containerStatuses":[
             {"name":"server","restartCount":5,"ready":false,
              "state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 5m0s"}},
              "lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,"finishedAt":"2025-06-01T10:00:00Z"}}},
             {"name":"sidecar","restartCount":0,"ready":true,"state":{"running":{"startedAt":"2025-06-01T09:00:00Z"}}}]}},
          {"kind":"Pod","metadata":{"name":"web-1","namespace":"shop"},
           "status":{"phase":"Running","containerStatuses":[{"name":"web","restartCount":0,"state":{"running":{}},
             "lastState":{"terminated":{"reason":"Completed","exitCode":0}}}]}},
          {"kind":"Pod","metadata":{"name":"ml-0","namespace":"ai"},
           "status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable",
             "message":"0/2 nodes are available: 1 node(s) had untolerated taint {heavy: true}.","lastTransitionTime":"2025-06-01T10:01:00Z"}]}},
          {"kind":"Pod","metadata":{"name":"batch-9","namespace":"ai"},
           "status":{"phase":"Failed","reason":"Evicted","message":"The node was low on resource: memory."}}
        ]}"#).unwrap();
        let e = parse_pod_list_json(&v);
        let got: Vec<(&str, &str, &str)> = e
            .iter()
            .map(|e| (e.name.as_str(), e.reason.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "api-7d9f-x1",
                    "CrashLoopBackOff",
                    "container server: is Waiting CrashLoopBackOff, restart count 5"
                ),
                (
                    "api-7d9f-x1",
                    "OOMKilled",
                    "container server: last terminated Terminated OOMKilled (exit code 137), restart count 5"
                ),
                (
                    "ml-0",
                    "Unschedulable",
                    "pod not scheduled: 0/2 nodes are available: 1 node(s) had untolerated taint {heavy: true}."
                ),
                (
                    "batch-9",
                    "Evicted",
                    "pod Evicted: The node was low on resource: memory."
                ),
            ]
        );
        assert!(
            e.iter()
                .all(|e| e.is_warning() && e.source.as_deref() == Some("pod status"))
        );
        assert_eq!(e[0].namespace.as_deref(), Some("shop"));
        assert!(e[1].last_seen.is_some() && e[0].last_seen.is_none());
        // Events are not pods: nothing from an event list.
        assert!(
            parse_pod_list_json(
                &serde_json::json!({"items":[{"kind":"Event","involvedObject":{"name":"x"}}]})
            )
            .is_empty()
        );
    }
}
