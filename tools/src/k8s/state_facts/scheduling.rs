//! Scheduling facts: nodes that are not Ready, and pods the scheduler placed nowhere
//! (with the main reason among the scheduler's).

use super::{fact, ns};
use crate::k8s::K8sEvent;
use crate::k8s::state::{ClusterState, NodeState, PodState};

/// Nodes that are not Ready, with the condition's reason and the pods they strand.
pub(super) fn nodes(state: &ClusterState, out: &mut Vec<K8sEvent>) {
    for n in state.nodes.iter().filter(|n| n.not_ready()) {
        let why = n
            .ready_reason
            .clone()
            .unwrap_or_else(|| format!("status {}", n.status));
        let stranded = pods_on(state, &n.name)
            .iter()
            .filter(|p| !p.healthy())
            .count();
        out.push(fact(
            None,
            "Node",
            &n.name,
            "NodeNotReady",
            format!(
                "node {} is NotReady ({why}); {stranded} pod(s) on it not running or not ready: its kubelet or container runtime is not working",
                n.name
            ),
        ));
    }
}

fn pods_on<'a>(state: &'a ClusterState, node: &str) -> Vec<&'a PodState> {
    state
        .pods
        .iter()
        .filter(|p| p.node.as_deref() == Some(node))
        .collect()
}

/// Pods with no node: the scheduler's last word on each, or its silence.
pub(super) fn unscheduled(state: &ClusterState, events: &[K8sEvent], out: &mut Vec<K8sEvent>) {
    for p in state
        .pods
        .iter()
        .filter(|p| p.status == "Pending" && p.node.is_none())
    {
        let said = events
            .iter()
            .filter(|e| e.name == p.name && e.reason == "FailedScheduling")
            .max_by_key(|e| e.count);
        match said {
            Some(e) => match missing_claim_quota(state, &e.message) {
                // The claim it needs does not exist and a quota limits storage: the quota
                // refused the claim when it was created.
                Some((claim, quota)) => out.push(fact(
                    ns(state),
                    "Namespace",
                    state.namespace.as_deref().unwrap_or_default(),
                    "ClaimRefusedByQuota",
                    format!(
                        "pod {} is Pending: the claim {claim} it needs does not exist, and resource quota {quota} limits storage in this namespace, so a claim asking for more was refused at creation (exceeded quota)",
                        p.name
                    ),
                )),
                None => out.push(fact(
                    ns(state),
                    "Pod",
                    &p.name,
                    "FailedScheduling",
                    match main_reason(&e.message, p, &state.nodes) {
                        Some(why) => format!(
                            "pod {} is Pending on no node (main reason: {why}): {}",
                            p.name, e.message
                        ),
                        None => format!("pod {} is Pending on no node: {}", p.name, e.message),
                    },
                )),
            },
            // Described, so its events were recorded, and the scheduler said nothing.
            None if p.described => {
                // Scheduled by nobody, refused by nobody: the scheduler is not running.
                let plane = state
                    .nodes
                    .iter()
                    .find(|n| n.control_plane())
                    .map_or("kube-scheduler", |n| n.name.as_str());
                out.push(fact(
                    None,
                    "Node",
                    plane,
                    "SchedulerNotRunning",
                    format!(
                        "pod {} is Pending on no node and the scheduler recorded no decision about it: kube-scheduler (control plane {plane}) is not running",
                        p.name
                    ),
                ));
            }
            None => {}
        }
    }
}

/// What keeps a pod off the nodes it could run on, from the scheduler's message (`0/4
/// nodes are available: 1 node(s) were unschedulable, 3 node(s) didn't match Pod's node
/// affinity/selector.`), with how many nodes it rules out.
///
/// The scheduler names one reason per node (the first filter that refused it), so the
/// reasons are read by Kubernetes semantics, with the nodes the state records:
/// - cordoned control-plane nodes (`SchedulingDisabled`, role `control-plane`/`master`)
///   refuse every pod; they are background, not the reason;
/// - nodes that "didn't match Pod's node affinity/selector" are nodes the pod never
///   wanted: when something else refused the nodes it did want (a taint, a cordon, too
///   little cpu), that is the reason; only when nothing else did is the selector (named,
///   when the pod has one) or the affinity the reason;
/// - among the rest, the reason covering the most nodes; a cordon wins a tie (the
///   scheduler checks it first).
pub fn main_reason(message: &str, pod: &PodState, nodes: &[NodeState]) -> Option<String> {
    let rest = message.split_once("available:")?.1;
    let rest = rest.split(". preemption").next().unwrap_or(rest);
    let total = message
        .split_once(" nodes are available")
        .and_then(|(head, _)| head.rsplit('/').next())
        .and_then(|n| n.trim().parse::<u32>().ok());
    let cordoned_planes = u32::try_from(
        nodes
            .iter()
            .filter(|n| n.control_plane() && n.status.contains("SchedulingDisabled"))
            .count(),
    )
    .unwrap_or(0);
    // (nodes, is a cordon, is the pod's own selector/affinity, wording)
    let mut reasons: Vec<(u32, bool, bool, String)> = Vec::new();
    for item in rest.split(", ") {
        let item = item.trim().trim_end_matches('.');
        let (count, text) = match item.split_once(' ') {
            Some((n, t)) if n.parse::<u32>().is_ok() => (n.parse::<u32>().unwrap_or(0), t),
            // "pod has unbound immediate PersistentVolumeClaims": every node.
            _ => (total.unwrap_or(1), item),
        };
        let lower = text.to_ascii_lowercase();
        let cordon = lower.contains("were unschedulable");
        let selector = lower.contains("node affinity/selector") || lower.contains("node selector");
        let count = if cordon {
            count.saturating_sub(cordoned_planes)
        } else {
            count
        };
        let why = if cordon {
            "nodes unschedulable (cordoned)".to_string()
        } else if let Some(t) = lower.strip_prefix("insufficient ") {
            format!("insufficient {t}")
        } else if lower.contains("untolerated taint") {
            let taint = text.find('{').map_or("", |i| &text[i..]);
            if taint.contains("node-role.kubernetes.io/") {
                // The control plane's own taint: background too.
                continue;
            }
            format!("untolerated taint {taint}").trim_end().to_string()
        } else if selector {
            if pod.node_selector.is_empty() {
                "node affinity not matched".to_string()
            } else {
                let sel: Vec<String> = pod
                    .node_selector
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!("node selector {} not matched", sel.join(","))
            }
        } else if lower.contains("anti-affinity") {
            "pod anti-affinity".to_string()
        } else if lower.contains("pod affinity") {
            "pod affinity not matched".to_string()
        } else if lower.contains("unbound immediate persistentvolumeclaims") {
            "unbound claims".to_string()
        } else {
            text.to_string()
        };
        if count > 0 {
            reasons.push((count, cordon, selector, why));
        }
    }
    // What refused the nodes the pod wanted, when the state says which nodes are
    // background; else every reason as the message counts it.
    let wanted: Vec<&(u32, bool, bool, String)> = reasons.iter().filter(|r| !r.2).collect();
    let pool: Vec<&(u32, bool, bool, String)> = if !nodes.is_empty() && !wanted.is_empty() {
        wanted
    } else {
        reasons.iter().collect()
    };
    let (count, _, _, why) = pool
        .into_iter()
        .max_by_key(|(n, cordon, _, _)| (*n, *cordon))?;
    Some(match total {
        Some(t) => format!("{why}, {count} of {t} nodes"),
        None => why.clone(),
    })
}

/// The quota (`name (resource used/hard)`) that explains a scheduler's "persistentvolumeclaim
/// not found": one that limits storage requests in the namespace.
fn missing_claim_quota(state: &ClusterState, message: &str) -> Option<(String, String)> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("persistentvolumeclaim \"")?;
    let rest = &message[at + "persistentvolumeclaim \"".len()..];
    let (claim, tail) = rest.split_once('"')?;
    if !tail.trim_start().starts_with("not found") {
        return None;
    }
    state.quotas.iter().find_map(|q| {
        q.items
            .iter()
            .find(|(res, _, _)| res.contains("storage") || res.contains("persistentvolumeclaims"))
            .map(|(res, used, hard)| {
                (
                    claim.to_string(),
                    format!("{} ({res} {used}/{hard})", q.name),
                )
            })
    })
}
