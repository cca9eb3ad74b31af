//! A cluster snapshot: the objects' current state, typed, read from recorded `kubectl`
//! output (tables and `describe` text, keyed by the command that printed them, as
//! `k8s_states.json` files and support bundles keep them).
//!
//! Logs show symptoms; the state says what is wrong now: a pod `Pending` with no node, a
//! node `NotReady`, a Deployment at 0 of 1 ready, a Service whose selector matches no pod,
//! a PersistentVolumeClaim that never bound, a quota at its limit. [`ClusterState`] holds
//! what those checks need; [`super::state_facts`] turns what is abnormal into citable facts.
use std::collections::BTreeMap;

use super::parse::{cell, columns};

/// One container of a pod, from `kubectl describe pod`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerState {
    /// Its name.
    pub name: String,
    /// Declared ports as `(port, protocol)`.
    pub ports: Vec<(u16, String)>,
    /// The liveness probe as kubectl prints it (`http-get http://:8080/ delay=0s ...`).
    pub liveness: Option<String>,
    /// The readiness probe.
    pub readiness: Option<String>,
    /// Its environment as `describe` prints it (`NAME`, value; references to Secrets
    /// and ConfigMaps as their `<set to the key ...>` text).
    pub env: Vec<(String, String)>,
}

/// A pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodState {
    /// Its name.
    pub name: String,
    /// Ready containers.
    pub ready: u32,
    /// Containers.
    pub total: u32,
    /// kubectl's STATUS column (`Running`, `Pending`, `CrashLoopBackOff`, `Init:0/1`).
    pub status: String,
    /// Restarts.
    pub restarts: u32,
    /// The node it runs on, when scheduled.
    pub node: Option<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its containers (from `describe`, when recorded).
    pub containers: Vec<ContainerState>,
    /// Whether its `describe` (with its events) was recorded.
    pub described: bool,
    /// Its node selector (`disktype=ssd`), when recorded.
    pub node_selector: BTreeMap<String, String>,
}

impl PodState {
    /// Running with every container ready and no restarts.
    pub fn healthy(&self) -> bool {
        self.status == "Running" && self.total > 0 && self.ready == self.total
    }
}

/// A node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeState {
    /// Its name.
    pub name: String,
    /// kubectl's STATUS column (`Ready`, `NotReady`, `Ready,SchedulingDisabled`).
    pub status: String,
    /// Its roles (`control-plane`, `master`, `node`).
    pub roles: String,
    /// The Ready condition's reason and message (`NodeStatusUnknown: Kubelet stopped
    /// posting node status.`), from `describe`.
    pub ready_reason: Option<String>,
}

impl NodeState {
    /// Whether the Ready condition is anything but true.
    pub fn not_ready(&self) -> bool {
        self.status
            .split(',')
            .any(|s| s == "NotReady" || s == "Unknown")
    }

    /// Whether it runs the control plane.
    pub fn control_plane(&self) -> bool {
        self.roles.contains("control-plane") || self.roles.contains("master")
    }
}

/// A Deployment, StatefulSet or ReplicaSet: desired against ready replicas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkloadState {
    /// `Deployment`, `StatefulSet` or `ReplicaSet`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Replicas wanted.
    pub desired: u32,
    /// Replicas that exist (ReplicaSets) or are up to date (Deployments).
    pub current: u32,
    /// Replicas ready.
    pub ready: u32,
    /// Its pod selector (from `-o wide`), when recorded.
    pub selector: BTreeMap<String, String>,
}

/// One port of a Service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServicePort {
    /// The Service's port.
    pub port: u16,
    /// Where it sends traffic: a number, or a container port's name.
    pub target: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

/// A Service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceState {
    /// Its name.
    pub name: String,
    /// Its cluster IP.
    pub cluster_ip: Option<String>,
    /// Its selector (empty: none).
    pub selector: BTreeMap<String, String>,
    /// Its ports (from `describe`, with the target port).
    pub ports: Vec<ServicePort>,
    /// Its endpoints as recorded (`<none>` when no pod backs it), if recorded.
    pub endpoints: Option<String>,
}

/// A PersistentVolumeClaim.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimState {
    /// Its name.
    pub name: String,
    /// `Bound`, `Pending` or `Lost`.
    pub status: String,
    /// The volume it is bound to.
    pub volume: Option<String>,
    /// Its storage class.
    pub storage_class: Option<String>,
}

/// A PersistentVolume.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeState {
    /// Its name.
    pub name: String,
    /// `Available`, `Bound`, `Released` or `Failed`.
    pub status: String,
    /// The claim (`namespace/name`) it is bound to or was last bound to.
    pub claim: Option<String>,
}

/// A ResourceQuota: each resource's used and hard amounts, as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaState {
    /// Its name.
    pub name: String,
    /// `(resource, used, hard)`.
    pub items: Vec<(String, String, String)>,
}

/// What the recorded commands say about one namespace and the nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterState {
    /// The namespace, when the commands name one.
    pub namespace: Option<String>,
    /// Pods.
    pub pods: Vec<PodState>,
    /// Nodes.
    pub nodes: Vec<NodeState>,
    /// Deployments, StatefulSets and ReplicaSets.
    pub workloads: Vec<WorkloadState>,
    /// Services.
    pub services: Vec<ServiceState>,
    /// PersistentVolumeClaims.
    pub claims: Vec<ClaimState>,
    /// PersistentVolumes.
    pub volumes: Vec<VolumeState>,
    /// ResourceQuotas.
    pub quotas: Vec<QuotaState>,
}

/// A command's words: verb, resource, namespace and output flags.
struct Command<'a> {
    verb: &'a str,
    resource: String,
    namespace: Option<&'a str>,
    wide: bool,
    labels: bool,
    selector: bool,
}

fn command(cmd: &str) -> Option<Command<'_>> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    if words.first() != Some(&"kubectl") || words.len() < 3 {
        return None;
    }
    let mut namespace = None;
    let (mut wide, mut labels, mut selector) = (false, false, false);
    let mut i = 3;
    while i < words.len() {
        match words[i] {
            "-n" | "--namespace" => {
                namespace = words.get(i + 1).copied();
                i += 1;
            }
            "-o" => {
                wide = words.get(i + 1) == Some(&"wide");
                i += 1;
            }
            "-o=wide" | "--output=wide" => wide = true,
            "--show-labels" => labels = true,
            "-l" | "--selector" => {
                selector = true;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    let resource = words[2].to_ascii_lowercase();
    let resource = match resource.as_str() {
        "po" | "pod" | "pods" => "pods",
        "no" | "node" | "nodes" => "nodes",
        "deploy" | "deployment" | "deployments" => "deployments",
        "sts" | "statefulset" | "statefulsets" => "statefulsets",
        "rs" | "replicaset" | "replicasets" => "replicasets",
        "svc" | "service" | "services" => "services",
        "ep" | "endpoints" => "endpoints",
        "pvc" | "persistentvolumeclaim" | "persistentvolumeclaims" => "persistentvolumeclaims",
        "pv" | "persistentvolume" | "persistentvolumes" => "persistentvolumes",
        "quota" | "resourcequota" | "resourcequotas" => "resourcequotas",
        other => other,
    }
    .to_string();
    Some(Command {
        verb: words[1],
        resource,
        namespace,
        wide,
        labels,
        selector,
    })
}

/// The rows of a fixed-width table as maps from column name to cell.
fn table(text: &str, names: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let cols = columns(header, names);
    if cols.first().copied().flatten() != Some(0) {
        return Vec::new();
    }
    // Each column ends where the next present one starts.
    let mut present: Vec<(usize, &str)> = cols
        .iter()
        .zip(names)
        .filter_map(|(c, n)| c.map(|c| (c, *n)))
        .collect();
    present.sort_unstable();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // Every asked-for column is in the row (empty when the header lacks it): a
            // table of another shape under a known command reads as blanks, not a panic.
            let mut row: BTreeMap<String, String> = names
                .iter()
                .map(|n| (n.to_string(), String::new()))
                .collect();
            for (i, (start, name)) in present.iter().enumerate() {
                let end = present.get(i + 1).map(|(s, _)| *s);
                row.insert(name.to_string(), cell(l, Some(*start), end));
            }
            row
        })
        .collect()
}

fn labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn selector_of(row: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    row.get("SELECTOR")
        .and_then(|s| some(s))
        .map(|s| labels(&s))
        .unwrap_or_default()
}

fn ratio(text: &str) -> (u32, u32) {
    text.split_once('/')
        .map(|(a, b)| (a.trim().parse().unwrap_or(0), b.trim().parse().unwrap_or(0)))
        .unwrap_or((0, 0))
}

fn number(text: &str) -> u32 {
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn some(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty() && t != "<none>" && t != "<unset>").then(|| t.to_string())
}

/// `Field:   value` of a describe block (first match, at any indent).
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(name))
        .map(str::trim)
}

/// The objects a recorded `get` printed as JSON or YAML (not a table).
fn recorded_objects(out: &str) -> Option<serde_json::Value> {
    let t = out.trim_start();
    if t.starts_with('{') {
        serde_json::from_str(out).ok()
    } else if t.starts_with("apiVersion:") || t.starts_with("---") || t.starts_with("items:") {
        super::yaml::objects(out)
    } else {
        None
    }
}

impl ClusterState {
    /// Reads the recorded outputs (`command → output`); commands it does not know are
    /// passed over. Outputs for one namespace are assumed (the first `-n` seen).
    pub fn from_recorded<'a>(outputs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut s = ClusterState::default();
        let mut describes: Vec<(String, &str)> = Vec::new();
        for (cmd, out) in outputs {
            let Some(c) = command(cmd) else { continue };
            if s.namespace.is_none() {
                s.namespace = c.namespace.map(str::to_string);
            }
            // `kubectl get ... -o json` or `-o yaml` recorded: the objects themselves.
            if c.verb == "get"
                && let Some(v) = recorded_objects(out)
            {
                s.merge(ClusterState::from_json(&v));
                continue;
            }
            match c.verb {
                "get" if !c.selector => s.read_table(&c, out),
                "describe" => describes.push((c.resource.clone(), out)),
                _ => {}
            }
        }
        for (resource, out) in describes {
            for block in split_describe(out) {
                s.read_describe(&resource, block);
            }
        }
        s
    }

    fn read_table(&mut self, c: &Command<'_>, out: &str) {
        match c.resource.as_str() {
            "pods" => {
                for r in table(
                    out,
                    &[
                        "NAME",
                        "READY",
                        "STATUS",
                        "RESTARTS",
                        "AGE",
                        "IP",
                        "NODE",
                        "NOMINATED",
                        "LABELS",
                    ],
                ) {
                    let pod = self.pod_mut(&r["NAME"]);
                    (pod.ready, pod.total) = ratio(&r["READY"]);
                    pod.status = r["STATUS"].clone();
                    pod.restarts = number(&r["RESTARTS"]);
                    if c.wide {
                        pod.node = r.get("NODE").and_then(|n| some(n));
                    }
                    if c.labels {
                        pod.labels = r.get("LABELS").map(|l| labels(l)).unwrap_or_default();
                    }
                }
            }
            "nodes" => {
                for r in table(out, &["NAME", "STATUS", "ROLES", "AGE", "VERSION"]) {
                    let node = self.node_mut(&r["NAME"]);
                    node.status = r["STATUS"].clone();
                    node.roles = r.get("ROLES").cloned().unwrap_or_default();
                }
            }
            "deployments" | "statefulsets" => {
                let kind = if c.resource == "deployments" {
                    "Deployment"
                } else {
                    "StatefulSet"
                };
                let names = [
                    "NAME",
                    "READY",
                    "UP-TO-DATE",
                    "AVAILABLE",
                    "AGE",
                    "CONTAINERS",
                    "IMAGES",
                    "SELECTOR",
                ];
                for r in table(out, &names) {
                    let (ready, desired) = ratio(&r["READY"]);
                    let current = r.get("UP-TO-DATE").map_or(desired, |u| number(u));
                    let selector = selector_of(&r);
                    self.put_workload(kind, &r["NAME"], [desired, current, ready], selector);
                }
            }
            "replicasets" => {
                let names = [
                    "NAME",
                    "DESIRED",
                    "CURRENT",
                    "READY",
                    "AGE",
                    "CONTAINERS",
                    "IMAGES",
                    "SELECTOR",
                ];
                for r in table(out, &names) {
                    let counts = [
                        number(&r["DESIRED"]),
                        number(&r["CURRENT"]),
                        number(&r["READY"]),
                    ];
                    let selector = selector_of(&r);
                    self.put_workload("ReplicaSet", &r["NAME"], counts, selector);
                }
            }
            "services" => {
                for r in table(
                    out,
                    &[
                        "NAME",
                        "TYPE",
                        "CLUSTER-IP",
                        "EXTERNAL-IP",
                        "PORT(S)",
                        "AGE",
                        "SELECTOR",
                    ],
                ) {
                    let svc = self.service_mut(&r["NAME"]);
                    svc.cluster_ip = r.get("CLUSTER-IP").and_then(|i| some(i));
                    if c.wide {
                        svc.selector = r
                            .get("SELECTOR")
                            .and_then(|s| some(s))
                            .map(|s| labels(&s))
                            .unwrap_or_default();
                    }
                }
            }
            "endpoints" => {
                for r in table(out, &["NAME", "ENDPOINTS", "AGE"]) {
                    self.service_mut(&r["NAME"]).endpoints = Some(r["ENDPOINTS"].clone());
                }
            }
            "persistentvolumeclaims" => {
                for r in table(
                    out,
                    &[
                        "NAME",
                        "STATUS",
                        "VOLUME",
                        "CAPACITY",
                        "ACCESS MODES",
                        "STORAGECLASS",
                        "VOLUMEATTRIBUTESCLASS",
                        "AGE",
                    ],
                ) {
                    let claim = ClaimState {
                        name: r["NAME"].clone(),
                        status: r["STATUS"].clone(),
                        volume: r.get("VOLUME").and_then(|v| some(v)),
                        storage_class: r.get("STORAGECLASS").and_then(|v| some(v)),
                    };
                    upsert(&mut self.claims, claim, |a, b| a.name == b.name);
                }
            }
            "persistentvolumes" => {
                for r in table(
                    out,
                    &[
                        "NAME",
                        "CAPACITY",
                        "ACCESS MODES",
                        "RECLAIM POLICY",
                        "STATUS",
                        "CLAIM",
                        "STORAGECLASS",
                    ],
                ) {
                    let volume = VolumeState {
                        name: r["NAME"].clone(),
                        status: r["STATUS"].clone(),
                        claim: r.get("CLAIM").and_then(|v| some(v)),
                    };
                    upsert(&mut self.volumes, volume, |a, b| a.name == b.name);
                }
            }
            "resourcequotas" => {
                for r in table(out, &["NAME", "AGE", "REQUEST", "LIMIT"]) {
                    let mut items = Vec::new();
                    for col in ["REQUEST", "LIMIT"] {
                        for part in r.get(col).map(String::as_str).unwrap_or("").split(", ") {
                            if let Some((res, amounts)) = part.split_once(": ")
                                && let Some((used, hard)) = amounts.split_once('/')
                            {
                                items.push((
                                    res.trim().to_string(),
                                    used.trim().to_string(),
                                    hard.trim().to_string(),
                                ));
                            }
                        }
                    }
                    let quota = QuotaState {
                        name: r["NAME"].clone(),
                        items,
                    };
                    upsert(&mut self.quotas, quota, |a, b| a.name == b.name);
                }
            }
            _ => {}
        }
    }

    fn read_describe(&mut self, resource: &str, block: &str) {
        let Some(name) = field(block, "Name:").and_then(some) else {
            return;
        };
        match resource {
            "pods" => {
                let containers = describe_containers(block);
                let node = field(block, "Node:")
                    .and_then(some)
                    .map(|n| n.split('/').next().unwrap_or(&n).to_string());
                let node_selector = field(block, "Node-Selectors:")
                    .and_then(some)
                    .map(|s| labels(&s))
                    .unwrap_or_default();
                let pod = self.pod_mut(&name);
                pod.containers = containers;
                pod.described = true;
                pod.node_selector = node_selector;
                if pod.node.is_none() {
                    pod.node = node;
                }
            }
            "services" => {
                let ports = describe_service_ports(block);
                let endpoints = field(block, "Endpoints:").map(str::to_string);
                let selector = field(block, "Selector:")
                    .and_then(some)
                    .map(|s| labels(&s))
                    .unwrap_or_default();
                let svc = self.service_mut(&name);
                svc.ports = ports;
                if svc.endpoints.is_none() {
                    svc.endpoints =
                        endpoints.map(|e| if e.is_empty() { "<none>".into() } else { e });
                }
                if svc.selector.is_empty() {
                    svc.selector = selector;
                }
            }
            "nodes" => {
                let ready = block
                    .lines()
                    .map(str::trim_start)
                    .find(|l| l.starts_with("Ready ") && l.split_whitespace().count() > 3)
                    .map(condition_reason);
                self.node_mut(&name).ready_reason = ready.flatten();
            }
            _ => {}
        }
    }

    fn pod_mut(&mut self, name: &str) -> &mut PodState {
        find_or_push(
            &mut self.pods,
            |p| p.name == name,
            || PodState {
                name: name.to_string(),
                ..PodState::default()
            },
        )
    }

    fn node_mut(&mut self, name: &str) -> &mut NodeState {
        find_or_push(
            &mut self.nodes,
            |n| n.name == name,
            || NodeState {
                name: name.to_string(),
                ..NodeState::default()
            },
        )
    }

    fn service_mut(&mut self, name: &str) -> &mut ServiceState {
        find_or_push(
            &mut self.services,
            |s| s.name == name,
            || ServiceState {
                name: name.to_string(),
                ..ServiceState::default()
            },
        )
    }

    /// `counts`: desired, current, ready. A table without selectors keeps the ones an
    /// earlier `-o wide` table gave.
    fn put_workload(
        &mut self,
        kind: &str,
        name: &str,
        counts: [u32; 3],
        selector: BTreeMap<String, String>,
    ) {
        let [desired, current, ready] = counts;
        let selector = if selector.is_empty() {
            self.workloads
                .iter()
                .find(|w| w.kind == kind && w.name == name)
                .map(|w| w.selector.clone())
                .unwrap_or_default()
        } else {
            selector
        };
        let w = WorkloadState {
            kind: kind.to_string(),
            name: name.to_string(),
            desired,
            current,
            ready,
            selector,
        };
        upsert(&mut self.workloads, w, |a, b| {
            a.kind == b.kind && a.name == b.name
        });
    }

    /// The pods a selector picks.
    pub fn selected(&self, selector: &BTreeMap<String, String>) -> Vec<&PodState> {
        if selector.is_empty() {
            return Vec::new();
        }
        self.pods
            .iter()
            .filter(|p| selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
            .collect()
    }

    /// Whether pod labels were recorded (without them no selector can be checked).
    pub fn has_pod_labels(&self) -> bool {
        self.pods.iter().any(|p| !p.labels.is_empty())
    }
}

fn find_or_push<T>(v: &mut Vec<T>, pred: impl Fn(&T) -> bool, make: impl FnOnce() -> T) -> &mut T {
    let i = match v.iter().position(pred) {
        Some(i) => i,
        None => {
            v.push(make());
            v.len() - 1
        }
    };
    &mut v[i]
}

fn upsert<T>(v: &mut Vec<T>, item: T, same: impl Fn(&T, &T) -> bool) {
    match v.iter_mut().find(|o| same(o, &item)) {
        Some(o) => *o = item,
        None => v.push(item),
    }
}

/// Several objects' `describe` output, one block each (a block starts at `Name:`).
fn split_describe(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("Name:") {
            starts.push(at);
        }
        at += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| &text[s..starts.get(i + 1).copied().unwrap_or(text.len())])
        .collect()
}

/// `Ready  False|Unknown  <times...>  Reason  Message` → `Reason: Message` when not True.
fn condition_reason(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let status = words.get(1)?;
    if *status == "True" {
        return None;
    }
    // Times are `Mon, 02 Jan 2006 15:04:05 -0700` (6 words) twice; reason and message follow.
    let rest = words.get(14..).map(|w| w.join(" ")).unwrap_or_default();
    Some(
        format!("Ready {status}: {rest}")
            .trim_end_matches(": ")
            .to_string(),
    )
}

fn describe_containers(block: &str) -> Vec<ContainerState> {
    let mut out: Vec<ContainerState> = Vec::new();
    let mut inside = false;
    let mut in_env = false;
    for l in block.lines() {
        if !l.starts_with(' ') {
            inside = l.starts_with("Containers:");
            in_env = false;
            continue;
        }
        if !inside {
            continue;
        }
        let indent = l.len() - l.trim_start().len();
        let t = l.trim();
        if indent == 2 && t.ends_with(':') && !t.contains(' ') {
            out.push(ContainerState {
                name: t.trim_end_matches(':').to_string(),
                ..ContainerState::default()
            });
            continue;
        }
        let Some(c) = out.last_mut() else { continue };
        if indent == 4 {
            in_env = t.trim_end_matches(':') == "Environment";
        } else if in_env && indent > 4 {
            if let Some((k, v)) = t.split_once(':') {
                c.env.push((k.trim().to_string(), v.trim().to_string()));
            }
            continue;
        }
        if let Some(p) = t.strip_prefix("Port:").or_else(|| t.strip_prefix("Ports:")) {
            for spec in p.split(',') {
                if let Some((port, proto)) = spec.trim().split_once('/')
                    && let Ok(port) = port.trim().parse()
                {
                    c.ports.push((port, proto.trim().to_string()));
                }
            }
        } else if let Some(p) = t.strip_prefix("Liveness:") {
            c.liveness = Some(p.trim().to_string());
        } else if let Some(p) = t.strip_prefix("Readiness:") {
            c.readiness = Some(p.trim().to_string());
        }
    }
    out
}

/// `Port: name 6379/TCP` then `TargetPort: 6380/TCP`, per port.
fn describe_service_ports(block: &str) -> Vec<ServicePort> {
    let mut out: Vec<ServicePort> = Vec::new();
    for l in block.lines() {
        if let Some(p) = l.strip_prefix("Port:") {
            let spec = p.split_whitespace().last().unwrap_or("");
            let (port, proto) = spec.split_once('/').unwrap_or((spec, "TCP"));
            out.push(ServicePort {
                port: port.parse().unwrap_or(0),
                target: port.to_string(),
                protocol: proto.to_string(),
            });
        } else if let Some(t) = l.strip_prefix("TargetPort:")
            && let Some(last) = out.last_mut()
        {
            let spec = t.trim();
            let (target, proto) = spec.split_once('/').unwrap_or((spec, &last.protocol));
            last.target = target.to_string();
            last.protocol = proto.to_string();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_table_of_another_shape_reads_as_blanks_not_a_panic() {
        // Found by the kubectl fuzz target's seeds: a node table recorded under `get pods`.
        let nodes = "NAME STATUS ROLES AGE VERSION\nworker-01 Ready <none> 3d v1.31\n";
        let s = super::ClusterState::from_recorded([("kubectl get pods -n shop", nodes)]);
        assert!(
            s.pods
                .iter()
                .all(|p| p.status.is_empty() || p.status == "Ready")
        );
    }

    use super::*;

    const PODS: &str = "NAME                           READY   STATUS             RESTARTS      AGE   IP           NODE        NOMINATED NODE   READINESS GATES
web-7f9c8d6b5-abcde            1/1     Running            0             5m    10.0.0.4     worker-01   <none>           <none>
db-5d8f7c9b4-fghij             0/1     CrashLoopBackOff   4 (45s ago)   5m    10.0.0.5     worker-02   <none>           <none>
api-6c7d8e9f0-klmno            0/1     Pending            0             70s   <none>       <none>      <none>           <none>
";

    const SVC: &str = "Name:                     db
Namespace:                shop
Selector:                 app=db
Type:                     ClusterIP
IP:                       10.68.76.190
Port:                     tcp-db  5432/TCP
TargetPort:               5433/TCP
Endpoints:                10.0.0.5:5433
Events:                   <none>
";

    #[test]
    fn tables_and_describes_become_typed_state() {
        let s = ClusterState::from_recorded([
            ("kubectl get pods -n shop -o wide", PODS),
            (
                "kubectl get nodes",
                "NAME        STATUS                     ROLES    AGE   VERSION\nmaster      Ready,SchedulingDisabled   master   95d   v1.31.2\nworker-01   NotReady                   node     95d   v1.31.2\n",
            ),
            (
                "kubectl get deployments -n shop",
                "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\napi    0/1     1            0           76s\n",
            ),
            ("kubectl describe services db -n shop", SVC),
            (
                "kubectl get resourcequota -n shop",
                "NAME                AGE    REQUEST               LIMIT\ncpu-request-quota   113s   requests.cpu: 10/10   \n",
            ),
        ]);
        assert_eq!(s.namespace.as_deref(), Some("shop"));
        let db = s.pods.iter().find(|p| p.name.starts_with("db-")).unwrap();
        assert_eq!((db.ready, db.total, db.restarts), (0, 1, 4));
        assert_eq!(db.status, "CrashLoopBackOff");
        assert_eq!(db.node.as_deref(), Some("worker-02"));
        let api = s.pods.iter().find(|p| p.name.starts_with("api-")).unwrap();
        assert_eq!(api.node, None);
        assert!(s.pods[0].healthy() && !db.healthy());
        assert!(s.nodes[1].not_ready() && !s.nodes[0].not_ready());
        assert!(s.nodes[0].control_plane());
        assert_eq!(s.workloads[0].desired, 1);
        assert_eq!(s.workloads[0].ready, 0);
        let svc = &s.services[0];
        assert_eq!(svc.selector["app"], "db");
        assert_eq!(svc.ports[0].port, 5432);
        assert_eq!(svc.ports[0].target, "5433");
        assert_eq!(
            s.quotas[0].items[0],
            ("requests.cpu".into(), "10".into(), "10".into())
        );
    }

    #[test]
    fn pod_describe_gives_ports_and_probes() {
        let d = "Name:         db-5d8f7c9b4-fghij\nNamespace:    shop\nNode:         worker-02/192.168.0.2\nContainers:\n  db:\n    Port:           5432/TCP\n    Liveness:     tcp-socket :5432 delay=5s timeout=1s period=5s #success=1 #failure=3\n    Environment:\n      DB_HOST:  db-primary:5432\n    Mounts:\n      /data from data (rw)\nConditions:\n  Type  Status\n";
        let s =
            ClusterState::from_recorded([("kubectl describe pods db-5d8f7c9b4-fghij -n shop", d)]);
        let c = &s.pods[0].containers[0];
        assert_eq!(c.name, "db");
        assert_eq!(c.ports, vec![(5432, "TCP".to_string())]);
        assert!(
            c.liveness
                .as_deref()
                .unwrap()
                .starts_with("tcp-socket :5432")
        );
        assert_eq!(
            c.env,
            vec![("DB_HOST".to_string(), "db-primary:5432".to_string())]
        );
        assert_eq!(s.pods[0].node.as_deref(), Some("worker-02"));
    }

    #[test]
    fn node_describe_gives_the_ready_condition() {
        let d = "Name:               worker-01\nConditions:\n  Type                 Status    LastHeartbeatTime                 LastTransitionTime                Reason              Message\n  ----                 ------    -----------------                 ------------------                ------              -------\n  Ready                Unknown   Fri, 05 Dec 2025 15:02:50 +0800   Fri, 05 Dec 2025 15:04:05 +0800   NodeStatusUnknown   Kubelet stopped posting node status.\n";
        let s = ClusterState::from_recorded([("kubectl describe nodes worker-01", d)]);
        assert_eq!(
            s.nodes[0].ready_reason.as_deref(),
            Some("Ready Unknown: NodeStatusUnknown Kubelet stopped posting node status.")
        );
    }
}
