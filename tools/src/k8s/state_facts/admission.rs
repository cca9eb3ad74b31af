//! Admission and storage facts: ReplicaSets that cannot create their pods, quotas at
//! their limit, claims that never bound.

use std::collections::BTreeSet;

use super::{fact, ns, quantity};
use crate::k8s::K8sEvent;
use crate::k8s::state::ClusterState;

/// ReplicaSets short of pods whose pod creation is refused (admission: quota, service
/// account): the refusal, about the object that refuses.
pub(super) fn refused_pods(state: &ClusterState, events: &[K8sEvent], out: &mut Vec<K8sEvent>) {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for w in state
        .workloads
        .iter()
        .filter(|w| w.kind == "ReplicaSet" && w.current < w.desired)
    {
        let Some(e) = events
            .iter()
            .filter(|e| e.name == w.name && e.reason == "FailedCreate")
            .max_by_key(|e| e.count)
        else {
            continue;
        };
        let detail = e
            .message
            .trim_start_matches("(combined from similar events): ")
            .to_string();
        let (kind, name) = if detail.contains("exceeded quota") {
            ("Namespace", state.namespace.clone().unwrap_or_default())
        } else {
            ("ReplicaSet", w.name.clone())
        };
        if !seen.insert((kind.to_string(), name.clone())) {
            continue;
        }
        out.push(fact(
            ns(state),
            kind,
            &name,
            "FailedCreate",
            format!(
                "replicaset {} has {} of {} pods; creating them is refused: {detail}",
                w.name, w.current, w.desired
            ),
        ));
    }
}

/// Quotas whose use has reached their limit: the next object of that kind is refused.
pub(super) fn quotas(state: &ClusterState, out: &mut Vec<K8sEvent>) {
    let Some(namespace) = state.namespace.as_deref() else {
        return;
    };
    for q in &state.quotas {
        let full: Vec<String> = q
            .items
            .iter()
            .filter(|(_, used, hard)| {
                matches!((quantity(used), quantity(hard)), (Some(u), Some(h)) if h > 0.0 && u >= h)
            })
            .map(|(res, used, hard)| format!("{res} {used}/{hard}"))
            .collect();
        if !full.is_empty() {
            out.push(fact(
                Some(namespace),
                "Namespace",
                namespace,
                "QuotaExhausted",
                format!(
                    "resource quota {} in namespace {namespace} is at its limit ({}): new objects that need more are refused (exceeded quota)",
                    q.name,
                    full.join(", ")
                ),
            ));
        }
    }
}

/// Claims that never bound, with what the volumes and events say.
pub(super) fn claims(state: &ClusterState, events: &[K8sEvent], out: &mut Vec<K8sEvent>) {
    for c in state.claims.iter().filter(|c| c.status == "Pending") {
        let mut why: Vec<String> = events
            .iter()
            .filter(|e| e.name == c.name && e.kind.eq_ignore_ascii_case("PersistentVolumeClaim"))
            .map(|e| e.message.clone())
            .collect();
        let taken: Vec<String> = state
            .volumes
            .iter()
            .filter(|v| v.status == "Bound")
            .filter_map(|v| {
                v.claim
                    .as_ref()
                    .map(|cl| format!("{} is bound to {cl}", v.name))
            })
            .collect();
        if !state.volumes.is_empty() && !state.volumes.iter().any(|v| v.status == "Available") {
            why.push(format!("no volume is Available ({})", taken.join("; ")));
        }
        if let Some(class) = &c.storage_class {
            why.push(format!("storage class {class}"));
        }
        out.push(fact(
            ns(state),
            "PersistentVolumeClaim",
            &c.name,
            "ClaimPending",
            format!(
                "persistentvolumeclaim {} is Pending (unbound): {}",
                c.name,
                if why.is_empty() {
                    "no matching volume".to_string()
                } else {
                    why.join("; ")
                }
            ),
        ));
    }
}
