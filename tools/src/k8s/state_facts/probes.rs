//! Probe facts: containers restarted by their own liveness probe, and why the probe
//! is likely wrong.

use super::{fact, ns};
use crate::k8s::K8sEvent;
use crate::k8s::state::{ClusterState, ContainerState};

/// Pods restarting because their liveness probe fails: the kubelet kills the container,
/// so the restarts (and any back-off) follow from the probe, not from a crash.
pub(super) fn probe_restarts(state: &ClusterState, events: &[K8sEvent], out: &mut Vec<K8sEvent>) {
    for p in state.pods.iter().filter(|p| p.restarts > 0 && !p.healthy()) {
        let Some(e) = events
            .iter()
            .filter(|e| e.name == p.name && e.message.contains("Liveness probe failed"))
            .max_by_key(|e| e.count)
        else {
            continue;
        };
        let why = p
            .containers
            .iter()
            .find_map(probe_fault)
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        out.push(fact(
            ns(state),
            "Pod",
            &p.name,
            "LivenessProbeRestarts",
            format!(
                "pod {} ({}) has restarted {} times because its liveness probe fails and the kubelet kills the container{why}: {}",
                p.name, p.status, p.restarts, e.message
            ),
        ));
    }
}

/// What is wrong with a container's liveness probe as configured (`grpc <pod>:8081
/// delay=5s timeout=1s period=10s #success=1 #failure=3`), when its description shows it:
/// a port the container does not declare, or timing that leaves a starting or briefly
/// busy container no slack (one failure kills it, or it is probed every second from the
/// first second).
pub(super) fn probe_fault(c: &ContainerState) -> Option<String> {
    let probe = c.liveness.as_deref()?;
    let number = |key: &str| -> Option<u32> {
        let at = probe.find(key)? + key.len();
        let digits: String = probe[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    let port = probe
        .split_whitespace()
        .nth(1)
        .and_then(|target| target.rsplit(':').next())
        .and_then(|p| p.trim_end_matches('/').split('/').next())
        .and_then(|p| p.parse::<u16>().ok());
    let declared: Vec<u16> = c.ports.iter().map(|(p, _)| *p).filter(|p| *p > 0).collect();
    if let Some(port) = port
        && !declared.is_empty()
        && !declared.contains(&port)
    {
        let served: Vec<String> = declared.iter().map(u16::to_string).collect();
        return Some(format!(
            "the probe's port {port} is not one the container declares ({})",
            served.join(", ")
        ));
    }
    let failures = number("#failure=");
    let (delay, period) = (number("delay="), number("period="));
    if failures == Some(1) || (delay.is_some_and(|d| d <= 1) && period.is_some_and(|p| p <= 1)) {
        return Some(format!("the probe's timing leaves no slack: {probe}"));
    }
    None
}
