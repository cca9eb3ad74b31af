//! State analysis: what in a [`ClusterState`] is abnormal now, as citable facts.
//!
//! Each detector reads the snapshot by Kubernetes semantics (what a controller or the
//! scheduler would say) and names one abnormal thing with its reason: a node that is not
//! Ready, a pod the scheduler placed nowhere, a ReplicaSet that cannot create its pods,
//! a quota at its limit, a Service whose selector matches no pod or whose target port no
//! container serves, a claim that never bound. A fact is a [`K8sEvent`] with source
//! [`STATE_SOURCE`], so everything downstream (signatures, evidence lines, citations,
//! the events tool) treats it like an event, and the signature detector ranks current
//! state above symptoms.
//!
//! [`current_events`] also drops events the current state has superseded: a ReplicaSet's
//! old `FailedCreate` once it has all its pods, a probe failure on a pod that is ready now
//! and never restarted (start-up noise).
use super::K8sEvent;
use super::state::ClusterState;

mod admission;
mod network;
mod probes;
mod scheduling;

use admission::{claims, quotas, refused_pods};
use network::{addresses, services};
use probes::probe_restarts;
use scheduling::{nodes, unscheduled};

/// The `source` of every fact.
pub const STATE_SOURCE: &str = "cluster state";

pub(super) fn fact(
    namespace: Option<&str>,
    kind: &str,
    name: &str,
    reason: &str,
    message: String,
) -> K8sEvent {
    K8sEvent {
        namespace: namespace.map(str::to_string),
        kind: kind.to_string(),
        name: name.to_string(),
        event_type: "Warning".into(),
        reason: reason.to_string(),
        message,
        count: 1,
        last_seen: None,
        age: None,
        source: Some(STATE_SOURCE.into()),
    }
}

/// The events still in force, then the facts the state shows.
pub fn current_events(state: &ClusterState, events: Vec<K8sEvent>) -> Vec<K8sEvent> {
    let mut out: Vec<K8sEvent> = events
        .into_iter()
        .filter(|e| !superseded(state, e))
        .collect();
    let facts = facts(state, &out);
    out.extend(facts);
    out
}

/// Whether the current state shows an event's problem is over.
fn superseded(state: &ClusterState, e: &K8sEvent) -> bool {
    if e.reason == "FailedCreate" {
        // A ReplicaSet that has every pod it wants created them after all.
        let rs = state
            .workloads
            .iter()
            .find(|w| w.kind == "ReplicaSet" && w.name == e.name);
        return rs.is_some_and(|w| w.desired > 0 && w.current >= w.desired);
    }
    if e.reason == "Unhealthy" || e.message.contains("probe failed") {
        let pod = state.pods.iter().find(|p| p.name == e.name);
        return pod.is_some_and(|p| p.healthy() && p.restarts == 0);
    }
    false
}

/// Every abnormal thing the state shows.
pub fn facts(state: &ClusterState, events: &[K8sEvent]) -> Vec<K8sEvent> {
    let mut out = Vec::new();
    nodes(state, &mut out);
    unscheduled(state, events, &mut out);
    refused_pods(state, events, &mut out);
    quotas(state, &mut out);
    services(state, &mut out);
    claims(state, events, &mut out);
    probe_restarts(state, events, &mut out);
    addresses(state, &mut out);
    out
}

pub(super) fn ns(state: &ClusterState) -> Option<&str> {
    state.namespace.as_deref()
}

/// Quantities as numbers where kubectl writes them plainly (`10`, `500m`, `3Gi`).
pub(super) fn quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (n, unit) = q.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "" => 1.0,
        "m" => 1e-3,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0_f64.powi(4),
        _ => return None,
    };
    Some(n * scale)
}

#[cfg(test)]
mod recorded;
#[cfg(test)]
mod tests;
