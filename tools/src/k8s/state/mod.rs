//! A cluster snapshot: the objects' current state, typed, read from recorded `kubectl`
//! output (tables and `describe` text, keyed by the command that printed them, as
//! `k8s_states.json` files and support bundles keep them).
//!
//! Logs show symptoms; the state says what is wrong now: a pod `Pending` with no node, a
//! node `NotReady`, a Deployment at 0 of 1 ready, a Service whose selector matches no pod,
//! a PersistentVolumeClaim that never bound, a quota at its limit. [`ClusterState`] holds
//! what those checks need; [`super::state_facts`] turns what is abnormal into citable facts.
use std::collections::BTreeMap;

mod read;
mod text;

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

#[cfg(test)]
mod tests;
