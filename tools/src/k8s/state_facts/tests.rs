use super::network::service_of;
use super::probes::probe_fault;
use super::scheduling::main_reason;
use super::*;
use crate::k8s::state::PodState;

fn ev(kind: &str, name: &str, reason: &str, message: &str) -> K8sEvent {
    K8sEvent {
        namespace: Some("shop".into()),
        kind: kind.into(),
        name: name.into(),
        event_type: "Warning".into(),
        reason: reason.into(),
        message: message.into(),
        count: 1,
        last_seen: None,
        age: None,
        source: None,
    }
}

fn state(outputs: &[(&str, &str)]) -> ClusterState {
    ClusterState::from_recorded(outputs.iter().copied())
}

#[test]
fn old_refusals_and_start_up_probe_noise_are_superseded() {
    let s = state(&[
        (
            "kubectl get replicasets -n shop",
            "NAME            DESIRED   CURRENT   READY   AGE\nweb-7f9c8d6b5   1         1         1       5m\napi-6c7d8e9f0   1         0         0       5m\n",
        ),
        (
            "kubectl get pods -n shop",
            "NAME                  READY   STATUS    RESTARTS   AGE\nweb-7f9c8d6b5-abcde   1/1     Running   0          5m\n",
        ),
    ]);
    let sa = "Error creating: pods \"x-\" is forbidden: error looking up service account shop/x: serviceaccount \"x\" not found";
    let out = current_events(
        &s,
        vec![
            ev("ReplicaSet", "web-7f9c8d6b5", "FailedCreate", sa),
            ev("ReplicaSet", "api-6c7d8e9f0", "FailedCreate", sa),
            ev(
                "Pod",
                "web-7f9c8d6b5-abcde",
                "Unhealthy",
                "Liveness probe failed: timeout",
            ),
        ],
    );
    let names: Vec<(&str, &str)> = out
        .iter()
        .map(|e| (e.name.as_str(), e.reason.as_str()))
        .collect();
    assert!(
        !names.contains(&("web-7f9c8d6b5", "FailedCreate")),
        "{names:?}"
    );
    assert!(!names.iter().any(|(_, r)| *r == "Unhealthy"), "{names:?}");
    // The ReplicaSet still short of pods keeps its event and gets a fact.
    assert!(names.contains(&("api-6c7d8e9f0", "FailedCreate")));
    let f = out
        .iter()
        .find(|e| e.source.as_deref() == Some(STATE_SOURCE))
        .unwrap();
    assert!(f.message.contains("0 of 1 pods"), "{}", f.message);
    assert!(f.message.contains("serviceaccount"), "{}", f.message);
}

#[test]
fn quota_refusals_are_about_the_namespace() {
    let s = state(&[
        (
            "kubectl get replicasets -n shop",
            "NAME            DESIRED   CURRENT   READY   AGE\napi-6c7d8e9f0   1         0         0       5m\n",
        ),
        (
            "kubectl get resourcequota -n shop",
            "NAME          AGE    REQUEST         LIMIT\npods-quota    110s   pods: 10/10     \n",
        ),
    ]);
    let out = facts(
        &s,
        &[ev(
            "ReplicaSet",
            "api-6c7d8e9f0",
            "FailedCreate",
            "Error creating: pods \"api-6c7d8e9f0-x\" is forbidden: exceeded quota: pods-quota, requested: pods=1, used: pods=10, limited: pods=10",
        )],
    );
    assert!(
        out.iter()
            .all(|f| f.kind == "Namespace" && f.name == "shop"),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|f| f.reason == "QuotaExhausted" && f.message.contains("pods 10/10"))
    );
    assert!(out.iter().any(|f| f.reason == "FailedCreate"));
}

#[test]
fn not_ready_nodes_and_a_silent_scheduler() {
    let s = state(&[
        (
            "kubectl get nodes",
            "NAME        STATUS                     ROLES           AGE   VERSION\ncp-1        Ready,SchedulingDisabled   control-plane   9d    v1.31\nworker-01   NotReady                   node            9d    v1.31\n",
        ),
        (
            "kubectl get pods -n shop -o wide",
            "NAME                  READY   STATUS    RESTARTS   AGE   IP       NODE\napi-6c7d8e9f0-abcde   0/1     Pending   0          70s   <none>   <none>\n",
        ),
    ]);
    let noise = ev("Pod", "other", "Unhealthy", "Readiness probe failed");
    // Not described: its events are unknown, so the scheduler's silence says nothing.
    assert!(
        !facts(&s, std::slice::from_ref(&noise))
            .iter()
            .any(|f| f.reason == "SchedulerNotRunning")
    );
    let mut s = s;
    s.pods[0].described = true;
    let out = facts(&s, &[noise]);
    assert!(
        out.iter()
            .any(|f| f.reason == "NodeNotReady" && f.name == "worker-01")
    );
    let sched = out
        .iter()
        .find(|f| f.reason == "SchedulerNotRunning")
        .unwrap();
    assert_eq!(sched.name, "cp-1");
    // With the scheduler's refusal recorded, the pod's fact carries it instead.
    let refused = ev(
        "Pod",
        "api-6c7d8e9f0-abcde",
        "FailedScheduling",
        "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}",
    );
    let out = facts(&s, &[refused]);
    let f = out.iter().find(|f| f.reason == "FailedScheduling").unwrap();
    assert!(f.message.contains("untolerated taint"));
    assert!(!out.iter().any(|f| f.reason == "SchedulerNotRunning"));
}

#[test]
fn services_that_cannot_deliver() {
    let pods = "NAME                 READY   STATUS    RESTARTS   AGE   LABELS\ndb-5d8f7c9b4-fghij   1/1     Running   0          5m    app=db,pod-template-hash=5d8f7c9b4\n";
    let pod = "Name:  db-5d8f7c9b4-fghij\nContainers:\n  db:\n    Port:          5432/TCP\n";
    let svc = |selector: &str, target: &str, proto: &str| {
        format!(
            "Name:   db\nSelector:   {selector}\nPort:   pg  5432/{proto}\nTargetPort:   {target}/{proto}\nEndpoints:   <none>\n"
        )
    };
    let run = |d: String| {
        facts(
            &state(&[
                ("kubectl get pods -n shop --show-labels", pods),
                ("kubectl describe pods db-5d8f7c9b4-fghij -n shop", pod),
                ("kubectl describe services db -n shop", &d),
            ]),
            &[],
        )
    };
    assert_eq!(
        run(svc("app=db-v2", "5432", "TCP"))[0].reason,
        "ServiceSelectorMismatch"
    );
    assert_eq!(
        run(svc("app=db", "5433", "TCP"))[0].reason,
        "ServiceTargetPortMismatch"
    );
    assert_eq!(
        run(svc("app=db", "5432", "UDP"))[0].reason,
        "ServiceProtocolMismatch"
    );
    assert!(run(svc("app=db", "5432", "TCP")).is_empty());
    // A named target port no container declares: endpoints without a port, or none
    // though the selected pods are ready.
    let none = "Name:   db\nSelector:   app=db\nPort:   pg  5432/TCP\nTargetPort:   pg-main/TCP\nEndpoints:   <none>\n".to_string();
    assert_eq!(run(none)[0].reason, "ServiceTargetPortMismatch");
    let named = "Name:   db\nSelector:   app=db\nPort:   pg  5432/TCP\nTargetPort:   pg-main/TCP\nEndpoints:   10.0.0.5\n".to_string();
    let f = run(named);
    assert_eq!(f[0].reason, "ServiceTargetPortMismatch");
    assert!(f[0].message.contains("pg-main"), "{}", f[0].message);
}

#[test]
fn a_missing_claim_under_a_storage_quota_is_the_quotas_doing() {
    let pods = "NAME                  READY   STATUS    RESTARTS   AGE   IP       NODE\ndb-5d8f7c9b4-fghij    0/1     Pending   0          70s   <none>   <none>\n";
    let quota = "NAME            AGE    REQUEST                   LIMIT\nstorage-quota   2m7s   requests.storage: 0/1Gi   \n";
    let refused = ev(
        "Pod",
        "db-5d8f7c9b4-fghij",
        "FailedScheduling",
        "0/4 nodes are available: persistentvolumeclaim \"data\" not found.",
    );
    let with_quota = state(&[
        ("kubectl get pods -n shop -o wide", pods),
        ("kubectl get resourcequota -n shop", quota),
    ]);
    let f = facts(&with_quota, std::slice::from_ref(&refused));
    assert_eq!(
        (f[0].kind.as_str(), f[0].reason.as_str()),
        ("Namespace", "ClaimRefusedByQuota")
    );
    assert!(
        f[0].message
            .contains("storage-quota (requests.storage 0/1Gi)"),
        "{}",
        f[0].message
    );
    let without = state(&[("kubectl get pods -n shop -o wide", pods)]);
    assert_eq!(facts(&without, &[refused])[0].reason, "FailedScheduling");
}

#[test]
fn pending_claims_say_why() {
    let s = state(&[
        (
            "kubectl get persistentvolumeclaims -n shop",
            "NAME       STATUS    VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   AGE\ndata-pvc   Pending                                                   2m\n",
        ),
        (
            "kubectl get persistentvolumes",
            "NAME      CAPACITY   ACCESS MODES   RECLAIM POLICY   STATUS   CLAIM            STORAGECLASS   AGE\ndata-pv   1Gi        RWO            Retain           Bound    shop/other-pvc                  5m\n",
        ),
    ]);
    let out = facts(&s, &[]);
    assert_eq!(out[0].reason, "ClaimPending");
    assert!(
        out[0]
            .message
            .contains("data-pv is bound to shop/other-pvc"),
        "{}",
        out[0].message
    );
}

#[test]
fn addresses_that_name_no_service() {
    assert_eq!(service_of("redis-cart:6379"), Some("redis-cart"));
    assert_eq!(service_of("http://cart:8080/api"), Some("cart"));
    assert_eq!(service_of("db.shop.svc.cluster.local:5432"), Some("db"));
    assert_eq!(service_of("api.example.com:443"), None);
    assert_eq!(service_of("8080"), None);
    assert_eq!(service_of("true"), None);
    let s = state(&[
        (
            "kubectl get services -n shop",
            "NAME    TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)    AGE\nredis   ClusterIP   10.0.0.9     <none>        6379/TCP   5m\n",
        ),
        (
            "kubectl describe pods cart-5d8f7c9b4-fghij -n shop",
            "Name:  cart-5d8f7c9b4-fghij\nContainers:\n  server:\n    Port:  7070/TCP\n    Environment:\n      REDIS_ADDR:  redis-typo:6379\n      CACHE_ADDR:  redis:6379\n      SEARCH_ADDR:  search:9200\n      QUEUE_URL:  http://rediss:6379\n      PORT:        7070\n    Mounts:\n      /x from y (ro)\n",
        ),
    ]);
    let f = facts(&s, &[]);
    let reason = |var: &str| {
        f.iter()
            .find(|e| e.message.contains(var))
            .map(|e| e.reason.as_str())
    };
    assert_eq!(f.len(), 3, "{f:?}");
    // Meant for the Service its variable names, which exists: a wrong address.
    assert_eq!(
        reason("REDIS_ADDR=`redis-typo:6379`"),
        Some("ServiceAddressNearMiss")
    );
    assert!(
        f.iter()
            .any(|e| e.message.contains("the Service redis exists"))
    );
    // A dependency that is not deployed: needs a line that calls it to count.
    assert_eq!(
        reason("SEARCH_ADDR=`search:9200`"),
        Some("UnknownServiceAddress")
    );
    // Names too short to call a one-letter difference a typo.
    assert_eq!(
        reason("QUEUE_URL=`http://rediss:6379`"),
        Some("UnknownServiceAddress")
    );
}

#[test]
fn the_main_scheduling_reason_is_what_refused_the_nodes_the_pod_wanted() {
    use crate::k8s::state::NodeState;
    let node = |name: &str, status: &str, roles: &str| NodeState {
        name: name.into(),
        status: status.into(),
        roles: roles.into(),
        ready_reason: None,
    };
    let nodes = [
        node("master", "Ready,SchedulingDisabled", "master"),
        node("worker-01", "Ready", "node"),
        node("worker-02", "Ready", "node"),
        node("worker-03", "Ready", "node"),
    ];
    let plain = PodState::default();
    let pinned = PodState {
        node_selector: [(
            "kubernetes.io/hostname".to_string(),
            "worker-01".to_string(),
        )]
        .into(),
        ..PodState::default()
    };
    let why = |m: &str, pod: &PodState| main_reason(m, pod, &nodes).unwrap();
    // The cordoned control plane is background; nothing else refused: the affinity.
    let m = "0/4 nodes are available: 1 node(s) were unschedulable, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.";
    assert_eq!(why(m, &plain), "node affinity not matched, 3 of 4 nodes");
    assert!(why(m, &pinned).starts_with("node selector kubernetes.io/hostname=worker-01"));
    // The one node the selector wants has a taint: the taint.
    let m = "0/4 nodes are available: 1 node(s) had untolerated taint {node-unhealthy: true}, 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector.";
    assert_eq!(
        why(m, &pinned),
        "untolerated taint {node-unhealthy: true}, 1 of 4 nodes"
    );
    // The wanted nodes are cordoned (beyond the control plane): the cordon.
    let m = "0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 2 node(s) were unschedulable.";
    assert_eq!(
        why(m, &pinned),
        "nodes unschedulable (cordoned), 1 of 4 nodes"
    );
    let m = "0/4 nodes are available: 1 node(s) were unschedulable, 3 Insufficient cpu.";
    assert_eq!(why(m, &plain), "insufficient cpu, 3 of 4 nodes");
    // Without the nodes' state, the message's own counts.
    let m = "0/4 nodes are available: 1 node(s) were unschedulable, 3 node(s) didn't match pod anti-affinity rules.";
    assert_eq!(
        main_reason(m, &plain, &[]).unwrap(),
        "pod anti-affinity, 3 of 4 nodes"
    );
    assert!(main_reason("no nodes available to schedule pods", &plain, &nodes).is_none());
}

#[test]
fn a_liveness_probes_port_and_timing_are_read_from_its_description() {
    let c = |probe: &str, port: u16| crate::k8s::state::ContainerState {
        name: "server".into(),
        ports: vec![(port, "TCP".into())],
        liveness: Some(probe.into()),
        ..Default::default()
    };
    let wrong_port = probe_fault(&c(
        "grpc <pod>:8081  delay=5s timeout=1s period=10s #success=1 #failure=3",
        8080,
    ));
    assert_eq!(
        wrong_port.as_deref(),
        Some("the probe's port 8081 is not one the container declares (8080)")
    );
    let http = probe_fault(&c(
        "http-get http://:9555/ delay=5s timeout=1s period=10s #success=1 #failure=3",
        9555,
    ));
    assert!(http.is_none(), "{http:?}");
    let tight = probe_fault(&c(
        "grpc <pod>:8080  delay=1s timeout=1s period=1s #success=1 #failure=1",
        8080,
    ));
    assert!(
        tight
            .unwrap()
            .starts_with("the probe's timing leaves no slack")
    );
}

#[test]
fn a_deployment_scaled_to_zero_behind_a_service_is_a_fact() {
    let mut s = ClusterState {
        namespace: Some("shop".into()),
        services: vec![crate::k8s::state::ServiceState {
            name: "cart".into(),
            selector: [("app".to_string(), "cart".to_string())].into(),
            endpoints: Some("<none>".into()),
            ..Default::default()
        }],
        workloads: vec![
            crate::k8s::state::WorkloadState {
                kind: "Deployment".into(),
                name: "cart".into(),
                desired: 0,
                selector: [("app".to_string(), "cart".to_string())].into(),
                ..Default::default()
            },
            // Its old ReplicaSet, at zero too, says nothing of its own.
            crate::k8s::state::WorkloadState {
                kind: "ReplicaSet".into(),
                name: "cart-7c9d8f6b5".into(),
                desired: 0,
                selector: [("app".to_string(), "cart".to_string())].into(),
                ..Default::default()
            },
        ],
        ..ClusterState::default()
    };
    let f = facts(&s, &[]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].kind.as_str(), f[0].name.as_str()),
        ("Deployment", "cart")
    );
    assert_eq!(f[0].reason, "ScaledToZero");
    assert!(f[0].message.contains("service cart"), "{f:?}");
    // With replicas wanted, empty endpoints are another fact's business, not this one.
    s.workloads[0].desired = 2;
    assert!(facts(&s, &[]).iter().all(|e| e.reason != "ScaledToZero"));
}

#[test]
fn quantities() {
    assert_eq!(quantity("500m"), Some(0.5));
    assert_eq!(quantity("3Gi"), Some(3.0 * 1024.0 * 1024.0 * 1024.0));
    assert!(quantity("3000Mi").unwrap() < quantity("3Gi").unwrap());
    assert_eq!(quantity("x"), None);
}
