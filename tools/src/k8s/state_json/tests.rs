use super::*;
use serde_json::json;

fn snapshot() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "kind": "Pod",
                "metadata": {"name": "cart-7d9f8c6b5-abcde", "namespace": "shop", "labels": {"app": "cart"}},
                "spec": {
                    "containers": [{
                        "name": "server",
                        "ports": [{"containerPort": 7070}],
                        "livenessProbe": {"tcpSocket": {"port": 7070}, "periodSeconds": 5},
                        "env": [
                            {"name": "REDIS_ADDR", "value": "redis-cart:6379"},
                            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}
                        ]
                    }]
                },
                "status": {"phase": "Pending"}
            },
            {
                "kind": "Pod",
                "metadata": {"name": "web-5d8f7c9b4-fghij", "namespace": "shop"},
                "spec": {"nodeName": "worker-01", "containers": [{"name": "web"}]},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [{
                        "name": "web", "ready": false, "restartCount": 4,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}}
                    }]
                }
            },
            {
                "kind": "Node",
                "metadata": {"name": "worker-01", "labels": {"node-role.kubernetes.io/worker": ""}},
                "spec": {"unschedulable": true},
                "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}
            },
            {
                "kind": "Deployment",
                "metadata": {"name": "cart", "namespace": "shop"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "cart"}}},
                "status": {"updatedReplicas": 2, "readyReplicas": 1}
            },
            {
                "kind": "Service",
                "metadata": {"name": "cart", "namespace": "shop"},
                "spec": {"clusterIP": "10.43.0.9", "selector": {"app": "kart"}, "ports": [{"port": 7070, "targetPort": 8080, "protocol": "TCP"}]}
            },
            {"kind": "Endpoints", "metadata": {"name": "cart", "namespace": "shop"}, "subsets": []},
            {
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": "shop"},
                "spec": {"storageClassName": "fast"},
                "status": {"phase": "Pending"}
            },
            {
                "kind": "ResourceQuota",
                "metadata": {"name": "compute", "namespace": "shop"},
                "status": {"hard": {"pods": "4"}, "used": {"pods": "4"}}
            }
        ]
    })
}

#[test]
fn objects_become_the_same_snapshot_the_tables_give() {
    let s = ClusterState::from_json(&snapshot());
    assert_eq!(s.namespace.as_deref(), Some("shop"));
    let cart = &s.pods[0];
    assert_eq!(cart.status, "Pending");
    assert_eq!(cart.node, None);
    assert_eq!(cart.labels.get("app").map(String::as_str), Some("cart"));
    let c = &cart.containers[0];
    assert_eq!(c.ports, vec![(7070, "TCP".to_string())]);
    assert_eq!(
        c.liveness.as_deref(),
        Some("tcp-socket :7070 delay=0s timeout=1s period=5s #success=1 #failure=3")
    );
    assert_eq!(c.env[0], ("REDIS_ADDR".into(), "redis-cart:6379".into()));
    assert_eq!(c.env[1].1, "<set to the key 'pw' in secret 'db'>");
    let web = &s.pods[1];
    assert_eq!(web.status, "CrashLoopBackOff");
    assert_eq!((web.ready, web.total, web.restarts), (0, 1, 4));
    assert!(!web.healthy());
    let node = &s.nodes[0];
    assert_eq!(node.status, "NotReady,SchedulingDisabled");
    assert!(node.not_ready());
    assert_eq!(node.roles, "worker");
    assert!(
        node.ready_reason
            .as_deref()
            .is_some_and(|r| r.contains("Kubelet stopped posting")),
        "{node:?}"
    );
    let d = &s.workloads[0];
    assert_eq!((d.desired, d.current, d.ready), (2, 2, 1));
    let svc = &s.services[0];
    assert_eq!(svc.endpoints.as_deref(), Some("<none>"));
    assert_eq!(svc.ports[0].target, "8080");
    assert_eq!(s.claims[0].status, "Pending");
    assert_eq!(
        s.quotas[0].items,
        vec![("pods".to_string(), "4".to_string(), "4".to_string())]
    );
}

#[test]
fn the_state_analysis_finds_what_is_wrong_in_objects() {
    let s = ClusterState::from_json(&snapshot());
    let facts = super::super::state_facts::facts(&s, &[]);
    let reasons: Vec<&str> = facts.iter().map(|f| f.reason.as_str()).collect();
    assert!(reasons.contains(&"NodeNotReady"), "{reasons:?}");
    // The cart Service selects `app=kart`: no pod backs it.
    assert!(
        facts
            .iter()
            .any(|f| f.kind == "Service" && f.name == "cart"),
        "{facts:?}"
    );
}

#[test]
fn recorded_json_outputs_join_the_recorded_tables() {
    let nodes = serde_json::to_string(&json!({"kind": "List", "items": [
            {"kind": "Node", "metadata": {"name": "worker-02"},
             "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "PLEG is not healthy"}]}}
        ]}))
        .unwrap();
    let pods =
        "NAME    READY   STATUS    RESTARTS   AGE\nweb-1   1/1     Running   0          5m\n";
    let s = ClusterState::from_recorded([
        ("kubectl get pods -n shop", pods),
        ("kubectl get nodes -o json", nodes.as_str()),
    ]);
    assert_eq!(s.namespace.as_deref(), Some("shop"));
    assert_eq!(s.pods.len(), 1, "{s:?}");
    assert_eq!(s.nodes.len(), 1, "{s:?}");
    assert!(s.nodes[0].not_ready());
}

#[test]
fn init_containers_and_deletion_show_as_kubectl_shows_them() {
    let init = json!({
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "wait"}], "containers": [{"name": "c"}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{"name": "wait", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
        }
    });
    assert_eq!(
        ClusterState::from_json(&init).pods[0].status,
        "Init:CrashLoopBackOff"
    );
    let gone = json!({
        "kind": "Pod",
        "metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"containers": []},
        "status": {"phase": "Running"}
    });
    assert_eq!(ClusterState::from_json(&gone).pods[0].status, "Terminating");
    // Not objects at all: an empty snapshot, no panic.
    for v in [json!(null), json!([1, "x"]), json!({"items": "no"})] {
        assert_eq!(ClusterState::from_json(&v), ClusterState::default());
    }
}
