//! What log lines and the cluster state show together, and neither alone.
//!
//! [`from_lines`] reads the failed calls in the lines against the snapshot
//! ([`ClusterState`]) and names the object at fault as a fact (a [`K8sEvent`] with source
//! [`STATE_SOURCE`], like the state's own facts in [`super::state_facts`]).
//!
//! **Service traffic from one node is not forwarded.** A Service's ClusterIP is virtual:
//! on every node kube-proxy (or the network plugin that replaces it) writes the rules that
//! send it to a ready endpoint, and cluster DNS is itself such a Service. When that stops
//! on one node, the pods there time out dialing Service IPs and their name lookups fail,
//! while the Services' own pods are running and ready. Each symptom alone points at a
//! callee (the caller's "i/o timeout to X"); together, failed calls from one node to
//! several Services that are healthy point at the node. So: calls that fail to two or more
//! different Services whose selected pods are all running and ready, at least one of them
//! dialed at its ClusterIP, all from pods on one node (a Ready one), make that node the
//! component. Failed name lookups alone do not: a DNS cache's hiccup shows in many
//! incidents of other causes.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;

use super::K8sEvent;
use super::state::{ClusterState, ServiceState};
use super::state_facts::STATE_SOURCE;
use crate::logs::{LogLine, in_workload};

/// Fewest healthy Services that must fail from one node before the node is blamed: one
/// failing Service is that Service's problem (or its caller's address).
const MIN_SERVICES: usize = 2;

/// Words that say a call failed to connect or to resolve.
static FAILED: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // a constant pattern, exercised by the tests
    Regex::new(
        r"(?i)(i/o timeout|timed? ?out|connection refused|no route to host|host is unreachable|network is unreachable|no such host|name or service not known|could not resolve|unknownhostexception|enotfound|eai_again|temporary failure in name resolution|server misbehaving)",
    )
    .expect("constant pattern compiles")
});

/// An IPv4 address with a port (`10.68.192.252:7000`).
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // a constant pattern, exercised by the tests
    Regex::new(r"\b(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})\b").expect("constant pattern compiles")
});

/// A name a failed lookup asked for (`lookup cart on 10.96.0.10:53`, `UnknownHostException:
/// cart`, `getaddrinfo ENOTFOUND cart`, `Could not resolve host: cart`).
static LOOKUP: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // a constant pattern, exercised by the tests
    Regex::new(
        r#"(?i)(?:\blookup |UnknownHostException:? |ENOTFOUND |EAI_AGAIN |resolve host:? )["']?([a-z][a-z0-9-]*)(?:[.:"' ]|$)"#,
    )
    .expect("constant pattern compiles")
});

/// The facts the lines and the state show together.
pub fn from_lines(state: &ClusterState, lines: &[LogLine]) -> Vec<K8sEvent> {
    let mut out = Vec::new();
    if let Some(fact) = service_traffic(state, lines) {
        out.push(fact);
    }
    out
}

/// One Service a failed call was meant for, and how it failed.
struct Miss<'a> {
    service: &'a ServiceState,
    node: String,
    pod: String,
    how: String,
    /// Dialed at its ClusterIP (not a failed name lookup).
    by_ip: bool,
}

fn service_traffic(state: &ClusterState, lines: &[LogLine]) -> Option<K8sEvent> {
    let misses: Vec<Miss<'_>> = lines
        .iter()
        .filter_map(|l| missed_service(state, l))
        .filter(|m| serves(state, m.service))
        .collect();
    let nodes: BTreeSet<&str> = misses.iter().map(|m| m.node.as_str()).collect();
    let [node] = nodes.into_iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    if state.nodes.iter().any(|n| n.name == node && n.not_ready()) {
        // A node that is not Ready has its own fact, which says more.
        return None;
    }
    let mut by_service: BTreeMap<&str, &Miss<'_>> = BTreeMap::new();
    for m in &misses {
        by_service.entry(m.service.name.as_str()).or_insert(m);
    }
    // Name lookups that fail alone are DNS's trouble (a node-local cache, CoreDNS), seen
    // briefly in many incidents; proxying that is down shows as dials to Service IPs that
    // fail.
    if by_service.len() < MIN_SERVICES || !misses.iter().any(|m| m.by_ip) {
        return None;
    }
    let callers: BTreeSet<&str> = misses.iter().map(|m| m.pod.as_str()).collect();
    let listed: Vec<String> = by_service
        .values()
        .map(|m| format!("{} ({})", m.service.name, m.how))
        .collect();
    Some(K8sEvent {
        namespace: None,
        kind: "Node".into(),
        name: node.to_string(),
        event_type: "Warning".into(),
        reason: "ServiceTrafficNotForwarded".into(),
        message: format!(
            "pods on node {node} ({}) fail to reach {} Services whose pods are all running and ready: {}; Service traffic from this node is not forwarded: kube-proxy (or the node's Service rules, DNS included) on {node} is down",
            callers.into_iter().collect::<Vec<_>>().join(", "),
            by_service.len(),
            listed.join("; ")
        ),
        count: u32::try_from(misses.len()).unwrap_or(u32::MAX),
        last_seen: None,
        age: None,
        source: Some(STATE_SOURCE.into()),
    })
}

/// The Service a failed call in `line` was for (by its ClusterIP, or by a name a lookup
/// failed on), with the calling pod and its node.
fn missed_service<'a>(state: &'a ClusterState, line: &LogLine) -> Option<Miss<'a>> {
    let text = &line.text;
    let failure = FAILED.find(text)?;
    let by_ip = ADDRESS.captures_iter(text).find_map(|c| {
        let (ip, port) = (&c[1], &c[2]);
        state
            .services
            .iter()
            .find(|s| s.cluster_ip.as_deref() == Some(ip))
            .map(|s| (s, format!("{ip}:{port}: {}", failure.as_str()), true))
    });
    let found = by_ip.or_else(|| {
        let name = LOOKUP.captures(text)?[1].to_ascii_lowercase();
        let s = state.services.iter().find(|s| s.name == name)?;
        Some((s, format!("lookup {name}: {}", failure.as_str()), false))
    })?;
    let (pod, node) = caller(state, line)?;
    Some(Miss {
        service: found.0,
        node,
        pod,
        how: found.1,
        by_ip: found.2,
    })
}

/// The pod a line comes from and its node: the line's own labels, else the state's pod
/// of that name, else the pods of the line's workload when they are all on one node.
fn caller(state: &ClusterState, line: &LogLine) -> Option<(String, String)> {
    let pod = line.label("pod");
    if let (Some(pod), Some(node)) = (pod, line.label("node")) {
        return Some((pod.to_string(), node.to_string()));
    }
    if let Some(p) = pod.and_then(|name| state.pods.iter().find(|p| p.name == name)) {
        return Some((p.name.clone(), p.node.clone()?));
    }
    let workload = line.stream_name();
    let pods: Vec<_> = state
        .pods
        .iter()
        .filter(|p| in_workload(&p.name, workload))
        .collect();
    let nodes: Vec<&str> = pods
        .iter()
        .filter_map(|p| p.node.as_deref())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    match (pods.as_slice(), nodes.as_slice()) {
        ([p, ..], [node]) => Some((p.name.clone(), (*node).to_string())),
        _ => None,
    }
}

/// Whether a Service has pods to send to, all of them running and ready (so a call that
/// fails to it does not fail at its end).
fn serves(state: &ClusterState, s: &ServiceState) -> bool {
    let pods = state.selected(&s.selector);
    !pods.is_empty() && pods.iter().all(|p| p.healthy())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::state::{NodeState, PodState};

    fn pod(name: &str, app: &str, node: &str, healthy: bool) -> PodState {
        PodState {
            name: name.into(),
            ready: u32::from(healthy),
            total: 1,
            status: "Running".into(),
            node: Some(node.into()),
            labels: [("app".to_string(), app.to_string())].into(),
            ..PodState::default()
        }
    }

    fn service(name: &str, ip: &str) -> ServiceState {
        ServiceState {
            name: name.into(),
            cluster_ip: Some(ip.into()),
            selector: [("app".to_string(), name.to_string())].into(),
            ..ServiceState::default()
        }
    }

    fn line(pod: &str, node: Option<&str>, text: &str) -> LogLine {
        let mut labels: BTreeMap<String, String> = [("pod".to_string(), pod.to_string())].into();
        if let Some(n) = node {
            labels.insert("node".into(), n.into());
        }
        LogLine {
            source: "test".into(),
            line_no: 1,
            timestamp: None,
            labels,
            text: text.into(),
            truncated_bytes: 0,
        }
    }

    fn state() -> ClusterState {
        ClusterState {
            namespace: Some("shop".into()),
            pods: vec![
                pod("web-6778bd7b8b-6dlql", "web", "node-b", true),
                pod("cart-7c5f46fc47-wlzxf", "cart", "node-a", true),
                pod("prices-5cd6467fc4-njwvc", "prices", "node-b", true),
                pod("mail-7dc7d85bcb-8jft2", "mail", "node-a", false),
            ],
            nodes: vec![
                NodeState {
                    name: "node-a".into(),
                    status: "Ready".into(),
                    ..NodeState::default()
                },
                NodeState {
                    name: "node-b".into(),
                    status: "Ready".into(),
                    ..NodeState::default()
                },
            ],
            services: vec![
                service("cart", "10.68.0.20"),
                service("prices", "10.68.0.30"),
                service("mail", "10.68.0.40"),
            ],
            ..ClusterState::default()
        }
    }

    #[test]
    fn healthy_services_unreachable_from_one_node_blame_the_node() {
        let lines = [
            line(
                "web-6778bd7b8b-6dlql",
                None,
                r#"{"error":"rpc error: code = Unavailable desc = transport: Error while dialing: dial tcp 10.68.0.20:7070: i/o timeout"}"#,
            ),
            line(
                "web-6778bd7b8b-6dlql",
                None,
                "dial tcp: lookup prices on 10.68.0.2:53: no such host",
            ),
        ];
        let facts = from_lines(&state(), &lines);
        assert_eq!(facts.len(), 1, "{facts:?}");
        let f = &facts[0];
        assert_eq!((f.kind.as_str(), f.name.as_str()), ("Node", "node-b"));
        assert_eq!(f.reason, "ServiceTrafficNotForwarded");
        assert!(f.is_state());
        assert!(
            f.message.contains("cart (10.68.0.20:7070: i/o timeout)"),
            "{f:?}"
        );
        assert!(f.message.contains("lookup prices: no such host"), "{f:?}");
        assert_eq!(f.count, 2);
    }

    #[test]
    fn one_service_a_sick_callee_or_callers_on_two_nodes_blame_no_node() {
        let s = state();
        let timeout = |pod: &str, node: Option<&str>, ip: &str| {
            line(pod, node, &format!("dial tcp {ip}:80: i/o timeout"))
        };
        // Only one Service fails: that Service (or the caller's address) is at fault.
        let one = [
            timeout("web-6778bd7b8b-6dlql", None, "10.68.0.20"),
            timeout("web-6778bd7b8b-6dlql", None, "10.68.0.20"),
        ];
        assert!(from_lines(&s, &one).is_empty());
        // The second Service's pod is not ready: the callee explains its own failures.
        let sick = [
            timeout("web-6778bd7b8b-6dlql", None, "10.68.0.20"),
            timeout("web-6778bd7b8b-6dlql", None, "10.68.0.40"),
        ];
        assert!(from_lines(&s, &sick).is_empty());
        // Callers on two nodes: no one node's rules explain it.
        let spread = [
            timeout("web-6778bd7b8b-6dlql", Some("node-b"), "10.68.0.20"),
            timeout("cart-7c5f46fc47-wlzxf", Some("node-a"), "10.68.0.30"),
        ];
        assert!(from_lines(&s, &spread).is_empty());
        // Failed lookups alone: DNS's trouble, not proxying.
        let lookups = [
            line(
                "web-6778bd7b8b-6dlql",
                None,
                "lookup cart on 169.254.20.10:53: no such host",
            ),
            line(
                "web-6778bd7b8b-6dlql",
                None,
                "lookup prices on 169.254.20.10:53: no such host",
            ),
        ];
        assert!(from_lines(&s, &lookups).is_empty());
        // An address that is no Service, and a line that reports no failure.
        let other = [
            timeout("web-6778bd7b8b-6dlql", None, "192.168.1.9"),
            line(
                "web-6778bd7b8b-6dlql",
                None,
                "connected to 10.68.0.30:7000 in 3 ms",
            ),
        ];
        assert!(from_lines(&s, &other).is_empty());
    }

    #[test]
    fn a_workloads_lines_without_a_pod_label_take_its_pods_node() {
        let mut l1 = line("x", None, "dial tcp 10.68.0.20:7070: i/o timeout");
        l1.labels = [("app".to_string(), "web".to_string())].into();
        let mut l2 = l1.clone();
        l2.text = "java.net.UnknownHostException: prices: Name or service not known".into();
        let facts = from_lines(&state(), &[l1, l2]);
        assert_eq!(facts.len(), 1, "{facts:?}");
        assert_eq!(facts[0].name, "node-b");
    }
}
