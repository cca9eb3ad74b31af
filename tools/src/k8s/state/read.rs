//! Reading recorded `kubectl` output into a [`ClusterState`]: which command printed it,
//! then its table or `describe` blocks, object by object.

use std::collections::BTreeMap;

use super::text::{
    condition_reason, describe_containers, describe_service_ports, field, find_or_push, labels,
    number, ratio, recorded_objects, selector_of, some, split_describe, table, upsert,
};
use super::{
    ClaimState, ClusterState, NodeState, PodState, QuotaState, ServiceState, VolumeState,
    WorkloadState,
};

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

    /// Reads one `kubectl get` table into the objects it lists.
    fn read_table(&mut self, c: &Command<'_>, out: &str) {
        match c.resource.as_str() {
            "pods" => self.read_pods(c, out),
            "nodes" => self.read_nodes(out),
            "deployments" | "statefulsets" => self.read_rollouts(c, out),
            "replicasets" => self.read_replicasets(out),
            "services" => self.read_services(c, out),
            "endpoints" => self.read_endpoints(out),
            "persistentvolumeclaims" => self.read_claims(out),
            "persistentvolumes" => self.read_volumes(out),
            "resourcequotas" => self.read_quotas(out),
            _ => {}
        }
    }

    /// Reads the pods (`get pods`, `-o wide` for the node, `--show-labels` for the labels).
    fn read_pods(&mut self, c: &Command<'_>, out: &str) {
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

    /// Reads the nodes.
    fn read_nodes(&mut self, out: &str) {
        for r in table(out, &["NAME", "STATUS", "ROLES", "AGE", "VERSION"]) {
            let node = self.node_mut(&r["NAME"]);
            node.status = r["STATUS"].clone();
            node.roles = r.get("ROLES").cloned().unwrap_or_default();
        }
    }

    /// Reads Deployments and StatefulSets (READY is ready of desired).
    fn read_rollouts(&mut self, c: &Command<'_>, out: &str) {
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

    /// Reads ReplicaSets (desired, current, ready).
    fn read_replicasets(&mut self, out: &str) {
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

    /// Reads Services (`-o wide` for the selector).
    fn read_services(&mut self, c: &Command<'_>, out: &str) {
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

    /// Reads Services' endpoints.
    fn read_endpoints(&mut self, out: &str) {
        for r in table(out, &["NAME", "ENDPOINTS", "AGE"]) {
            self.service_mut(&r["NAME"]).endpoints = Some(r["ENDPOINTS"].clone());
        }
    }

    /// Reads PersistentVolumeClaims.
    fn read_claims(&mut self, out: &str) {
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

    /// Reads PersistentVolumes.
    fn read_volumes(&mut self, out: &str) {
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

    /// Reads quotas, each resource's used/hard.
    fn read_quotas(&mut self, out: &str) {
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
