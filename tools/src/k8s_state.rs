//! The `k8s_state` tool: the cluster's objects as they are now, one row each, and what
//! the state shows is abnormal about them.
//!
//! Events say what happened; state says what is. A pod `Pending` on no node, a node
//! `NotReady`, a Service whose endpoints are `<none>`, a claim `Pending`, a quota at its
//! limit: an agent asks for an object (a pod, a workload and its pods, a Service, a
//! node, a claim, a quota) and gets each matching object as a row like `kubectl get`
//! prints (the fields the analysis reads), with the facts about them (the state analysis
//! of [`crate::k8s::state_facts`], the same facts the evidence ranks). Without an object,
//! it lists what is abnormal in the namespace. The rows come from the event source's
//! snapshot ([`crate::k8s::EventSource::state`]): recorded kubectl output, a JSON snapshot,
//! or the Kubernetes API.
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ToolError;
use crate::k8s::state::ClusterState;
use crate::k8s::{EventFilter, EventSource, K8sEvent};
use crate::logs::in_workload;
use crate::redact::redact;
use crate::tool::Tool;

/// Most rows one call returns by default.
const DEFAULT_LIMIT: u32 = 30;

/// Arguments of `k8s_state`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sStateArgs {
    /// Only this namespace.
    #[serde(default)]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    /// The object to show: a pod, a workload (its pods and replica sets too), a Service,
    /// a node, a claim or a quota. Without it: what is abnormal.
    #[serde(default)]
    #[schemars(length(max = 253))]
    pub object: Option<String>,
    /// Only this kind: Pod, Node, Deployment, StatefulSet, ReplicaSet, Service,
    /// PersistentVolumeClaim, PersistentVolume, ResourceQuota.
    #[serde(default)]
    #[schemars(length(max = 63))]
    pub kind: Option<String>,
    /// Most rows to return (default 30).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

/// One object as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StateRow {
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its state in a line (`Running, 1/1 ready, 0 restarts, on node worker-02`).
    pub state: String,
}

/// The output of `k8s_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct K8sStateOutput {
    /// The objects asked for (or, without an object, those the facts are about).
    pub objects: Vec<StateRow>,
    /// What the state shows is abnormal about them, most telling first.
    pub abnormal: Vec<K8sEvent>,
    /// How many more rows matched than were returned.
    pub omitted: usize,
    /// Why there is nothing to show, when there is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `k8s_state` over an event source's snapshot.
pub struct K8sState {
    source: Arc<dyn EventSource>,
}

impl K8sState {
    /// The tool over `source`.
    pub fn new(source: Arc<dyn EventSource>) -> Self {
        Self { source }
    }
}

#[async_trait]
impl Tool for K8sState {
    const NAME: &'static str = "k8s_state";
    type Args = K8sStateArgs;
    type Output = K8sStateOutput;

    fn description(&self) -> String {
        format!(
            "Show Kubernetes objects as they are now ({}): a pod's phase, readiness, restarts and node; a \
             workload's ready replicas; a node's readiness; a Service's selector, ports and endpoints; a claim's \
             binding; a quota's use. With what is abnormal about them. Without an object: what is abnormal.",
            self.source.describe()
        )
    }

    async fn call(&self, args: K8sStateArgs) -> Result<K8sStateOutput, ToolError> {
        let limit = crate::tool::limit(args.limit, DEFAULT_LIMIT, 200)?;
        let filter = EventFilter {
            namespace: args.namespace.clone(),
            ..EventFilter::default()
        };
        let Some(state) = self.source.state(&filter).await? else {
            return Ok(K8sStateOutput {
                objects: Vec::new(),
                abnormal: Vec::new(),
                omitted: 0,
                note: Some(format!(
                    "{} records no cluster state (only events)",
                    self.source.describe()
                )),
            });
        };
        let facts: Vec<K8sEvent> = self
            .source
            .events(&EventFilter {
                object: args.object.clone(),
                kind: args.kind.clone(),
                warnings_only: true,
                ..filter
            })
            .await?
            .into_iter()
            .filter(K8sEvent::is_state)
            .collect();
        let wanted = |kind: &str, name: &str| {
            args.kind
                .as_deref()
                .is_none_or(|k| k.eq_ignore_ascii_case(kind))
                && match &args.object {
                    Some(o) => in_workload(name, o),
                    None => facts.iter().any(|f| f.kind == kind && f.name == name),
                }
        };
        let mut objects: Vec<StateRow> = rows(&state)
            .into_iter()
            .filter(|r| wanted(&r.kind, &r.name))
            .collect();
        let omitted = objects.len().saturating_sub(limit as usize);
        objects.truncate(limit as usize);
        for r in &mut objects {
            r.state = redact(&r.state).into_owned();
        }
        let mut abnormal = facts;
        abnormal.truncate(limit as usize);
        for e in &mut abnormal {
            e.message = redact(&e.message).into_owned();
        }
        let note = (objects.is_empty() && abnormal.is_empty()).then(|| match &args.object {
            Some(o) => format!("no object named {o} in the cluster state"),
            None => "nothing in the cluster state is abnormal".into(),
        });
        Ok(K8sStateOutput {
            objects,
            abnormal,
            omitted,
            note,
        })
    }
}

/// Every object of the snapshot as a row.
pub fn rows(state: &ClusterState) -> Vec<StateRow> {
    let mut out: Vec<StateRow> = Vec::new();
    out.extend(state.nodes.iter().map(|n| {
        let why = n
            .ready_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let roles = if n.roles.is_empty() {
            String::new()
        } else {
            format!(", roles {}", n.roles)
        };
        row("Node", &n.name, format!("{}{why}{roles}", n.status))
    }));
    out.extend(state.workloads.iter().map(|w| {
        let selector = if w.selector.is_empty() {
            String::new()
        } else {
            format!(", selector {}", pairs(&w.selector))
        };
        row(
            &w.kind,
            &w.name,
            format!(
                "{} desired, {} current, {} ready{selector}",
                w.desired, w.current, w.ready
            ),
        )
    }));
    out.extend(state.pods.iter().map(|p| {
        let labels = if p.labels.is_empty() {
            String::new()
        } else {
            format!(", labels {}", pairs(&p.labels))
        };
        row(
            "Pod",
            &p.name,
            format!(
                "{}, {}/{} ready, {} restarts, on node {}{labels}",
                p.status,
                p.ready,
                p.total,
                p.restarts,
                p.node.as_deref().unwrap_or("<none>"),
            ),
        )
    }));
    out.extend(state.services.iter().map(service_row));
    out.extend(state.claims.iter().map(|c| {
        row(
            "PersistentVolumeClaim",
            &c.name,
            format!(
                "{}, volume {}, storage class {}",
                c.status,
                c.volume.as_deref().unwrap_or("<none>"),
                c.storage_class.as_deref().unwrap_or("<none>")
            ),
        )
    }));
    out.extend(state.volumes.iter().map(|v| {
        let claim = v.claim.as_deref().unwrap_or("<none>");
        row(
            "PersistentVolume",
            &v.name,
            format!("{}, claim {claim}", v.status),
        )
    }));
    out.extend(state.quotas.iter().map(|q| {
        let items: Vec<String> = q
            .items
            .iter()
            .map(|(r, used, hard)| format!("{r} {used}/{hard}"))
            .collect();
        row("ResourceQuota", &q.name, items.join(", "))
    }));
    out
}

fn row(kind: &str, name: &str, state: String) -> StateRow {
    StateRow {
        kind: kind.into(),
        name: name.into(),
        state,
    }
}

fn pairs(m: &std::collections::BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn service_row(s: &crate::k8s::state::ServiceState) -> StateRow {
    let ports: Vec<String> = s
        .ports
        .iter()
        .map(|p| format!("{}->{}/{}", p.port, p.target, p.protocol))
        .collect();
    let selector = if s.selector.is_empty() {
        "<none>".to_string()
    } else {
        pairs(&s.selector)
    };
    let ports = if ports.is_empty() {
        "<unrecorded>".to_string()
    } else {
        ports.join(" ")
    };
    row(
        "Service",
        &s.name,
        format!(
            "cluster IP {}, selector {selector}, ports {ports}, endpoints {}",
            s.cluster_ip.as_deref().unwrap_or("<none>"),
            s.endpoints.as_deref().unwrap_or("<unrecorded>")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::state::{NodeState, PodState, ServiceState, WorkloadState};

    #[test]
    fn every_kind_gets_a_row_with_what_the_analysis_reads() {
        let state = ClusterState {
            namespace: Some("shop".into()),
            nodes: vec![NodeState {
                name: "worker-01".into(),
                status: "NotReady".into(),
                roles: "<none>".into(),
                ready_reason: Some(
                    "NodeStatusUnknown: Kubelet stopped posting node status.".into(),
                ),
            }],
            workloads: vec![WorkloadState {
                kind: "Deployment".into(),
                name: "cart".into(),
                desired: 2,
                current: 2,
                ready: 1,
                ..WorkloadState::default()
            }],
            pods: vec![PodState {
                name: "cart-7c5f46fc47-wlzxf".into(),
                status: "Running".into(),
                ready: 0,
                total: 1,
                restarts: 4,
                node: Some("worker-01".into()),
                ..PodState::default()
            }],
            services: vec![ServiceState {
                name: "cart".into(),
                cluster_ip: Some("10.68.0.20".into()),
                endpoints: Some("<none>".into()),
                ..ServiceState::default()
            }],
            ..ClusterState::default()
        };
        let rows = rows(&state);
        let text = |kind: &str| {
            rows.iter()
                .find(|r| r.kind == kind)
                .map(|r| r.state.clone())
                .unwrap_or_default()
        };
        assert!(
            text("Node").starts_with("NotReady (NodeStatusUnknown"),
            "{rows:?}"
        );
        assert_eq!(text("Deployment"), "2 desired, 2 current, 1 ready");
        assert_eq!(
            text("Pod"),
            "Running, 0/1 ready, 4 restarts, on node worker-01"
        );
        assert!(
            text("Service").contains("cluster IP 10.68.0.20"),
            "{rows:?}"
        );
        assert!(text("Service").ends_with("endpoints <none>"), "{rows:?}");
    }
}
