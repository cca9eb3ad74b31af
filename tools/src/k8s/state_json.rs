//! A cluster snapshot from Kubernetes objects as JSON: `kubectl get pods,nodes,deploy,
//! sts,rs,svc,endpoints,pvc,pv,resourcequota -o json` (a `List`), one object, or a JSON
//! array of them.
//!
//! The objects say more than the tables do, so the snapshot is read from the fields
//! kubectl's own columns are computed from: a pod's STATUS is its waiting or terminated
//! reason before its phase, as `kubectl get pods` prints it; a probe is written as
//! `kubectl describe` writes it; a Service's endpoints come from its `Endpoints` object.
//! The result is the same [`ClusterState`] the recorded text gives, so the same state
//! analysis ([`super::state_facts`]) runs over either.
use std::collections::BTreeMap;

use serde_json::Value;

use super::parse::list_items;
use super::state::{
    ClaimState, ClusterState, ContainerState, NodeState, PodState, QuotaState, ServicePort,
    ServiceState, VolumeState, WorkloadState,
};

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn number(v: &Value, pointer: &str) -> Option<u64> {
    v.pointer(pointer).and_then(Value::as_u64)
}

fn string_map(v: &Value, pointer: &str) -> BTreeMap<String, String> {
    v.pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn array<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn count(n: Option<u64>) -> u32 {
    n.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

impl ClusterState {
    /// The snapshot the objects in `v` make. Events among them are not state (the event
    /// parsers read them); a pod counts as described (its events known) when the objects
    /// include events.
    pub fn from_json(v: &Value) -> Self {
        let items = list_items(v);
        let has_events = items
            .iter()
            .any(|i| text(i, "/kind") == Some("Event") || i.get("involvedObject").is_some());
        let mut state = ClusterState::default();
        let mut endpoints: BTreeMap<String, String> = BTreeMap::new();
        for item in &items {
            let Some(name) = text(item, "/metadata/name") else {
                continue;
            };
            if let Some(ns) = text(item, "/metadata/namespace")
                && state.namespace.is_none()
            {
                state.namespace = Some(ns.to_string());
            }
            match text(item, "/kind").unwrap_or_default() {
                "Pod" => state.pods.push(pod(name, item, has_events)),
                "Node" => state.nodes.push(node(name, item)),
                kind @ ("Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet") => {
                    state.workloads.push(workload(kind, name, item));
                }
                "Service" => state.services.push(service(name, item)),
                "Endpoints" => {
                    endpoints.insert(name.to_string(), endpoint_text(item));
                }
                "PersistentVolumeClaim" => state.claims.push(ClaimState {
                    name: name.to_string(),
                    status: text(item, "/status/phase").unwrap_or("Pending").to_string(),
                    volume: text(item, "/spec/volumeName").map(str::to_string),
                    storage_class: text(item, "/spec/storageClassName").map(str::to_string),
                }),
                "PersistentVolume" => state.volumes.push(VolumeState {
                    name: name.to_string(),
                    status: text(item, "/status/phase").unwrap_or_default().to_string(),
                    claim: match (
                        text(item, "/spec/claimRef/namespace"),
                        text(item, "/spec/claimRef/name"),
                    ) {
                        (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
                        (None, Some(n)) => Some(n.to_string()),
                        _ => None,
                    },
                }),
                "ResourceQuota" => state.quotas.push(quota(name, item)),
                _ => {}
            }
        }
        // An Endpoints object belongs to the Service of its name; without one in the
        // snapshot, a Service's endpoints are unknown (not "none").
        for s in &mut state.services {
            if let Some(e) = endpoints.get(&s.name) {
                s.endpoints = Some(e.clone());
            }
        }
        state
    }
}

impl ClusterState {
    /// Adds `other`'s objects (a second recorded output); the namespace stays the first
    /// one seen.
    pub fn merge(&mut self, other: ClusterState) {
        if self.namespace.is_none() {
            self.namespace = other.namespace;
        }
        self.pods.extend(other.pods);
        self.nodes.extend(other.nodes);
        self.workloads.extend(other.workloads);
        self.services.extend(other.services);
        self.claims.extend(other.claims);
        self.volumes.extend(other.volumes);
        self.quotas.extend(other.quotas);
    }

    /// Whether it holds no object at all.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
            && self.nodes.is_empty()
            && self.workloads.is_empty()
            && self.services.is_empty()
            && self.claims.is_empty()
            && self.volumes.is_empty()
            && self.quotas.is_empty()
    }

    /// Whether it can be about `namespace` (no namespace asked, none recorded, or the
    /// same one).
    pub fn in_namespace(&self, namespace: Option<&str>) -> bool {
        match (namespace, self.namespace.as_deref()) {
            (Some(asked), Some(own)) => asked == own,
            _ => true,
        }
    }
}

/// A pod, with kubectl's STATUS: a container's waiting or terminated reason comes before
/// the pod's phase (`CrashLoopBackOff`, `ImagePullBackOff`, `OOMKilled`), an unfinished
/// init container shows as `Init:...`, and a pod being deleted as `Terminating`.
fn pod(name: &str, item: &Value, has_events: bool) -> PodState {
    let statuses = array(item, "/status/containerStatuses");
    let ready = statuses
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: u64 = statuses
        .iter()
        .filter_map(|c| c.get("restartCount").and_then(Value::as_u64))
        .sum();
    let spec_containers = array(item, "/spec/containers");
    let total = spec_containers.len().max(statuses.len());
    PodState {
        name: name.to_string(),
        ready: count(Some(ready as u64)),
        total: count(Some(total as u64)),
        status: pod_status(item),
        restarts: count(Some(restarts)),
        node: text(item, "/spec/nodeName").map(str::to_string),
        labels: string_map(item, "/metadata/labels"),
        containers: spec_containers.iter().map(container).collect(),
        described: has_events,
        node_selector: string_map(item, "/spec/nodeSelector"),
    }
}

fn pod_status(item: &Value) -> String {
    if item.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let inits = array(item, "/status/initContainerStatuses");
    let init_total = array(item, "/spec/initContainers").len().max(inits.len());
    for (i, c) in inits.iter().enumerate() {
        let done = text(c, "/state/terminated/reason") == Some("Completed")
            || number(c, "/state/terminated/exitCode") == Some(0);
        if done {
            continue;
        }
        if let Some(r) = text(c, "/state/waiting/reason").filter(|r| *r != "PodInitializing") {
            return format!("Init:{r}");
        }
        if let Some(r) = text(c, "/state/terminated/reason") {
            return format!("Init:{r}");
        }
        return format!("Init:{i}/{init_total}");
    }
    let mut reason = text(item, "/status/reason")
        .or_else(|| text(item, "/status/phase"))
        .unwrap_or("Unknown")
        .to_string();
    for c in array(item, "/status/containerStatuses") {
        if let Some(r) = text(c, "/state/waiting/reason") {
            reason = r.to_string();
        } else if let Some(r) = text(c, "/state/terminated/reason") {
            reason = r.to_string();
        } else if let Some(signal) = number(c, "/state/terminated/signal") {
            reason = format!("Signal:{signal}");
        }
    }
    reason
}

/// A container as `kubectl describe` would show it: ports, probes, environment.
fn container(c: &Value) -> ContainerState {
    ContainerState {
        name: text(c, "/name").unwrap_or_default().to_string(),
        ports: array(c, "/ports")
            .iter()
            .filter_map(|p| {
                let port = u16::try_from(number(p, "/containerPort")?).ok()?;
                Some((port, text(p, "/protocol").unwrap_or("TCP").to_string()))
            })
            .collect(),
        liveness: c.get("livenessProbe").map(probe),
        readiness: c.get("readinessProbe").map(probe),
        env: array(c, "/env").iter().filter_map(env_var).collect(),
    }
}

/// `http-get http://:8080/healthz delay=10s timeout=1s period=10s #success=1 #failure=3`.
fn probe(p: &Value) -> String {
    let port = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let action = if let Some(h) = p.get("httpGet") {
        let scheme = text(h, "/scheme").unwrap_or("HTTP").to_ascii_lowercase();
        format!(
            "http-get {scheme}://{}:{}{}",
            text(h, "/host").unwrap_or_default(),
            port(h.get("port")),
            text(h, "/path").unwrap_or_default()
        )
    } else if let Some(t) = p.get("tcpSocket") {
        format!(
            "tcp-socket {}:{}",
            text(t, "/host").unwrap_or_default(),
            port(t.get("port"))
        )
    } else if let Some(g) = p.get("grpc") {
        format!("grpc <pod>:{}", port(g.get("port")))
    } else if let Some(e) = p.get("exec") {
        let words: Vec<&str> = array(e, "/command")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        format!("exec [{}]", words.join(" "))
    } else {
        "unknown".into()
    };
    let n = |k: &str, default: u64| number(p, &format!("/{k}")).unwrap_or(default);
    format!(
        "{action} delay={}s timeout={}s period={}s #success={} #failure={}",
        n("initialDelaySeconds", 0),
        n("timeoutSeconds", 1),
        n("periodSeconds", 10),
        n("successThreshold", 1),
        n("failureThreshold", 3)
    )
}

/// `(NAME, value)`, a reference written as `describe` writes it.
fn env_var(e: &Value) -> Option<(String, String)> {
    let name = text(e, "/name")?.to_string();
    if let Some(v) = text(e, "/value") {
        return Some((name, v.to_string()));
    }
    let from = e.get("valueFrom")?;
    let value = if let Some(s) = from.get("secretKeyRef") {
        format!(
            "<set to the key '{}' in secret '{}'>",
            text(s, "/key").unwrap_or_default(),
            text(s, "/name").unwrap_or_default()
        )
    } else if let Some(c) = from.get("configMapKeyRef") {
        format!(
            "<set to the key '{}' of config map '{}'>",
            text(c, "/key").unwrap_or_default(),
            text(c, "/name").unwrap_or_default()
        )
    } else if let Some(f) = from.get("fieldRef") {
        format!(" ({})", text(f, "/fieldPath").unwrap_or_default())
    } else {
        String::new()
    };
    Some((name, value))
}

/// A node: `Ready`, `NotReady` (the Ready condition False or Unknown), with
/// `,SchedulingDisabled` when cordoned; its roles from its `node-role` labels.
fn node(name: &str, item: &Value) -> NodeState {
    let ready = array(item, "/status/conditions")
        .iter()
        .find(|c| text(c, "/type") == Some("Ready"));
    let ready_status = ready.and_then(|c| text(c, "/status")).unwrap_or("Unknown");
    let mut status = if ready_status == "True" {
        "Ready".to_string()
    } else {
        "NotReady".to_string()
    };
    if item.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let roles: Vec<&str> = item
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect()
        })
        .unwrap_or_default();
    let ready_reason = ready.filter(|_| ready_status != "True").map(|c| {
        format!(
            "Ready {ready_status}: {} {}",
            text(c, "/reason").unwrap_or_default(),
            text(c, "/message").unwrap_or_default()
        )
        .trim_end()
        .to_string()
    });
    NodeState {
        name: name.to_string(),
        status,
        roles: if roles.is_empty() {
            "<none>".into()
        } else {
            roles.join(",")
        },
        ready_reason,
    }
}

/// Desired against current and ready replicas (a DaemonSet's are its scheduled pods).
fn workload(kind: &str, name: &str, item: &Value) -> WorkloadState {
    let (desired, current) = match kind {
        "DaemonSet" => (
            number(item, "/status/desiredNumberScheduled"),
            number(item, "/status/currentNumberScheduled"),
        ),
        "Deployment" => (
            number(item, "/spec/replicas").or(Some(1)),
            number(item, "/status/updatedReplicas"),
        ),
        _ => (
            number(item, "/spec/replicas").or(Some(1)),
            number(item, "/status/replicas"),
        ),
    };
    let ready = if kind == "DaemonSet" {
        number(item, "/status/numberReady")
    } else {
        number(item, "/status/readyReplicas")
    };
    WorkloadState {
        kind: kind.to_string(),
        name: name.to_string(),
        desired: count(desired),
        current: count(current),
        ready: count(ready),
        selector: string_map(item, "/spec/selector/matchLabels"),
    }
}

fn service(name: &str, item: &Value) -> ServiceState {
    ServiceState {
        name: name.to_string(),
        cluster_ip: text(item, "/spec/clusterIP").map(str::to_string),
        selector: string_map(item, "/spec/selector"),
        ports: array(item, "/spec/ports")
            .iter()
            .filter_map(|p| {
                let port = u16::try_from(number(p, "/port")?).ok()?;
                let target = match p.get("targetPort") {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    _ => port.to_string(),
                };
                Some(ServicePort {
                    port,
                    target,
                    protocol: text(p, "/protocol").unwrap_or("TCP").to_string(),
                })
            })
            .collect(),
        endpoints: None,
    }
}

/// `10.42.0.7:6379,10.42.0.8:6379` as kubectl prints it, or `<none>` with no ready
/// address.
fn endpoint_text(item: &Value) -> String {
    let mut out = Vec::new();
    for subset in array(item, "/subsets") {
        for a in array(subset, "/addresses") {
            let Some(ip) = text(a, "/ip") else { continue };
            let ports = array(subset, "/ports");
            if ports.is_empty() {
                out.push(ip.to_string());
            }
            for p in ports {
                if let Some(port) = number(p, "/port") {
                    out.push(format!("{ip}:{port}"));
                }
            }
        }
    }
    if out.is_empty() {
        "<none>".into()
    } else {
        out.join(",")
    }
}

/// Each resource's used and hard amounts, from the quota's status.
fn quota(name: &str, item: &Value) -> QuotaState {
    let hard = string_map(item, "/status/hard");
    let used = string_map(item, "/status/used");
    QuotaState {
        name: name.to_string(),
        items: hard
            .into_iter()
            .map(|(res, h)| {
                let u = used.get(&res).cloned().unwrap_or_else(|| "0".into());
                (res, u, h)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
