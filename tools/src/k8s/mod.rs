//! Kubernetes events: what the cluster itself says happened (OOMKilled, BackOff,
//! FailedScheduling, Unhealthy, FailedMount, ...), often the root cause that application
//! logs only show the symptoms of.
//!
//! One trait, [`EventSource`], with backends:
//! - [`FileEventSource`]: `kubectl get events -o json`, the `kubectl get events` table,
//!   the `Events:` sections of `kubectl describe`, and Cloud-OpsBench's `k8s_states.json`
//!   (kubectl outputs keyed by command);
//! - [`LokiEventSource`]: events that Grafana Alloy's `loki.source.kubernetes_events`
//!   ships to Loki (logfmt or JSON lines).
//! - [`KubeEventSource`]: the Kubernetes API (kube-rs): events, pod status (waiting
//!   and termination reasons, exit codes, restarts, unschedulable and evicted pods) and
//!   the rest of the cluster snapshot (nodes, workloads, Services, volumes, quotas);
//! - [`MergedEventSource`]: several of these read as one (the API's present and Loki's
//!   history).
//!
//! Recorded `kubectl` output, a JSON or YAML list of objects ([`yaml`]) and the API also
//! give a
//! [`ClusterState`] (the objects' current state);
//! [`current_events`] drops the events that state has superseded and adds what it shows
//! is abnormal as facts (source [`STATE_SOURCE`]); [`state_lines::from_lines`] adds what
//! the state and the log lines show together (a node whose Service traffic is not
//! forwarded). [`EventSource::state`] gives the state itself.
mod file;
#[cfg(feature = "kube")]
mod kube_api;
mod loki;
mod merged;
mod parse;
pub mod settled;
pub mod state;
pub mod state_facts;
mod state_json;
pub mod state_lines;
pub mod yaml;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use file::FileEventSource;
pub use file::recorded_events;
#[cfg(feature = "kube")]
pub use kube_api::KubeEventSource;
pub use loki::LokiEventSource;
pub use merged::MergedEventSource;
pub use parse::{
    parse_describe_events, parse_event_list_json, parse_event_table, parse_pod_list_json,
};
pub use state::ClusterState;
pub use state_facts::{STATE_SOURCE, current_events};

use crate::ToolError;

/// One Kubernetes event (repeats folded into `count`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct K8sEvent {
    /// Namespace of the involved object, when known.
    pub namespace: Option<String>,
    /// Kind of the involved object (`Pod`, `ReplicaSet`, `Node`, ...).
    pub kind: String,
    /// Name of the involved object.
    pub name: String,
    /// `Normal` or `Warning`.
    pub event_type: String,
    /// Machine-readable reason (`BackOff`, `OOMKilling`, `FailedScheduling`).
    pub reason: String,
    /// The message.
    pub message: String,
    /// How many times it happened.
    pub count: u32,
    /// When it was last seen, when the source has a time (the tables say only "5m ago").
    pub last_seen: Option<DateTime<Utc>>,
    /// The age as the source wrote it (`46m`, `4s (x3 over 30s)`), when it has no time.
    pub age: Option<String>,
    /// Which component reported it (`kubelet`, `default-scheduler`).
    pub source: Option<String>,
}

impl K8sEvent {
    /// Whether it is a warning.
    pub fn is_warning(&self) -> bool {
        self.event_type.eq_ignore_ascii_case("warning")
    }

    /// Whether it states the current state (a fact from the cluster snapshot, or a pod's
    /// status) rather than something that happened.
    pub fn is_state(&self) -> bool {
        matches!(self.source.as_deref(), Some(STATE_SOURCE | "pod status"))
    }
}

/// Which events to return.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only objects with this name, or whose name starts with it and a dash (a workload's
    /// pods and replica sets).
    pub object: Option<String>,
    /// Only this kind (case-insensitive).
    pub kind: Option<String>,
    /// Only warnings.
    pub warnings_only: bool,
    /// Only events last seen at or after this time (events without a time are kept).
    pub since: Option<DateTime<Utc>>,
}

impl EventFilter {
    /// Whether an event passes.
    pub fn matches(&self, e: &K8sEvent) -> bool {
        self.namespace.as_ref().is_none_or(|n| {
            e.namespace.as_deref() == Some(n.as_str())
                // Nodes and volumes belong to no namespace and serve every one.
                || (e.namespace.is_none() && cluster_scoped(&e.kind))
        }) && self
            .object
            .as_ref()
            .is_none_or(|o| crate::logs::in_workload(&e.name, o))
            && self
                .kind
                .as_ref()
                .is_none_or(|k| e.kind.eq_ignore_ascii_case(k))
            && (!self.warnings_only || e.is_warning())
            && self
                .since
                .is_none_or(|s| e.last_seen.is_none_or(|t| t >= s))
    }
}

/// Kinds that live outside namespaces.
fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Node" | "PersistentVolume" | "StorageClass" | "ClusterRole" | "Namespace"
    )
}

/// A place Kubernetes events can be read from.
#[async_trait]
pub trait EventSource: Send + Sync {
    /// One line saying what it reads.
    fn describe(&self) -> String;
    /// The matching events, warnings first, then most repeated.
    async fn events(&self, filter: &EventFilter) -> Result<Vec<K8sEvent>, ToolError>;
    /// The objects' current state in `filter`'s namespace, as far as this source knows it
    /// (recorded kubectl output, a JSON snapshot, the API); `None` when it knows none
    /// (events shipped to Loki are history, not state). What joins log lines with the
    /// state ([`state_lines::from_lines`]) and the `k8s_state` tool read.
    async fn state(&self, filter: &EventFilter) -> Result<Option<ClusterState>, ToolError> {
        let _ = filter;
        Ok(None)
    }
}

/// Orders events for reading: the current state's facts first, then warnings, then the
/// most repeated, then the latest.
pub(crate) fn rank(events: &mut [K8sEvent]) {
    events.sort_by(|a, b| {
        b.is_state()
            .cmp(&a.is_state())
            .then(b.is_warning().cmp(&a.is_warning()))
            .then(b.count.cmp(&a.count))
            .then(b.last_seen.cmp(&a.last_seen))
    });
}

/// Folds repeats of one event (same object, reason and message, seen in several sources
/// or updates) into one, keeping the highest count and the latest time.
pub(crate) fn fold(events: Vec<K8sEvent>) -> Vec<K8sEvent> {
    let mut out: Vec<K8sEvent> = Vec::new();
    for e in events {
        match out.iter_mut().find(|o| {
            o.namespace == e.namespace
                && o.kind == e.kind
                && o.name == e.name
                && o.reason == e.reason
                && o.message == e.message
        }) {
            Some(o) => {
                o.count = o.count.max(e.count);
                o.last_seen = o.last_seen.max(e.last_seen);
                o.source = o.source.take().or(e.source);
                o.age = o.age.take().or(e.age);
            }
            None => out.push(e),
        }
    }
    out
}
