#[test]
fn a_table_of_another_shape_reads_as_blanks_not_a_panic() {
    // Found by the kubectl fuzz target's seeds: a node table recorded under `get pods`.
    let nodes = "NAME STATUS ROLES AGE VERSION\nworker-01 Ready <none> 3d v1.31\n";
    let s = super::ClusterState::from_recorded([("kubectl get pods -n shop", nodes)]);
    assert!(
        s.pods
            .iter()
            .all(|p| p.status.is_empty() || p.status == "Ready")
    );
}

use super::*;

const PODS: &str = "NAME                           READY   STATUS             RESTARTS      AGE   IP           NODE        NOMINATED NODE   READINESS GATES
web-7f9c8d6b5-abcde            1/1     Running            0             5m    10.0.0.4     worker-01   <none>           <none>
db-5d8f7c9b4-fghij             0/1     CrashLoopBackOff   4 (45s ago)   5m    10.0.0.5     worker-02   <none>           <none>
api-6c7d8e9f0-klmno            0/1     Pending            0             70s   <none>       <none>      <none>           <none>
";

const SVC: &str = "Name:                     db
Namespace:                shop
Selector:                 app=db
Type:                     ClusterIP
IP:                       10.68.76.190
Port:                     tcp-db  5432/TCP
TargetPort:               5433/TCP
Endpoints:                10.0.0.5:5433
Events:                   <none>
";

#[test]
fn tables_and_describes_become_typed_state() {
    let s = ClusterState::from_recorded([
        ("kubectl get pods -n shop -o wide", PODS),
        (
            "kubectl get nodes",
            "NAME        STATUS                     ROLES    AGE   VERSION\nmaster      Ready,SchedulingDisabled   master   95d   v1.31.2\nworker-01   NotReady                   node     95d   v1.31.2\n",
        ),
        (
            "kubectl get deployments -n shop",
            "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\napi    0/1     1            0           76s\n",
        ),
        ("kubectl describe services db -n shop", SVC),
        (
            "kubectl get resourcequota -n shop",
            "NAME                AGE    REQUEST               LIMIT\ncpu-request-quota   113s   requests.cpu: 10/10   \n",
        ),
    ]);
    assert_eq!(s.namespace.as_deref(), Some("shop"));
    let db = s.pods.iter().find(|p| p.name.starts_with("db-")).unwrap();
    assert_eq!((db.ready, db.total, db.restarts), (0, 1, 4));
    assert_eq!(db.status, "CrashLoopBackOff");
    assert_eq!(db.node.as_deref(), Some("worker-02"));
    let api = s.pods.iter().find(|p| p.name.starts_with("api-")).unwrap();
    assert_eq!(api.node, None);
    assert!(s.pods[0].healthy() && !db.healthy());
    assert!(s.nodes[1].not_ready() && !s.nodes[0].not_ready());
    assert!(s.nodes[0].control_plane());
    assert_eq!(s.workloads[0].desired, 1);
    assert_eq!(s.workloads[0].ready, 0);
    let svc = &s.services[0];
    assert_eq!(svc.selector["app"], "db");
    assert_eq!(svc.ports[0].port, 5432);
    assert_eq!(svc.ports[0].target, "5433");
    assert_eq!(
        s.quotas[0].items[0],
        ("requests.cpu".into(), "10".into(), "10".into())
    );
}

#[test]
fn pod_describe_gives_ports_and_probes() {
    let d = "Name:         db-5d8f7c9b4-fghij\nNamespace:    shop\nNode:         worker-02/192.168.0.2\nContainers:\n  db:\n    Port:           5432/TCP\n    Liveness:     tcp-socket :5432 delay=5s timeout=1s period=5s #success=1 #failure=3\n    Environment:\n      DB_HOST:  db-primary:5432\n    Mounts:\n      /data from data (rw)\nConditions:\n  Type  Status\n";
    let s = ClusterState::from_recorded([("kubectl describe pods db-5d8f7c9b4-fghij -n shop", d)]);
    let c = &s.pods[0].containers[0];
    assert_eq!(c.name, "db");
    assert_eq!(c.ports, vec![(5432, "TCP".to_string())]);
    assert!(
        c.liveness
            .as_deref()
            .unwrap()
            .starts_with("tcp-socket :5432")
    );
    assert_eq!(
        c.env,
        vec![("DB_HOST".to_string(), "db-primary:5432".to_string())]
    );
    assert_eq!(s.pods[0].node.as_deref(), Some("worker-02"));
}

#[test]
fn node_describe_gives_the_ready_condition() {
    let d = "Name:               worker-01\nConditions:\n  Type                 Status    LastHeartbeatTime                 LastTransitionTime                Reason              Message\n  ----                 ------    -----------------                 ------------------                ------              -------\n  Ready                Unknown   Fri, 05 Dec 2025 15:02:50 +0800   Fri, 05 Dec 2025 15:04:05 +0800   NodeStatusUnknown   Kubelet stopped posting node status.\n";
    let s = ClusterState::from_recorded([("kubectl describe nodes worker-01", d)]);
    assert_eq!(
        s.nodes[0].ready_reason.as_deref(),
        Some("Ready Unknown: NodeStatusUnknown Kubelet stopped posting node status.")
    );
}
