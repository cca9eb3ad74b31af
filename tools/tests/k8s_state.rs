//! The `k8s_state` tool over real recorded kubectl output (Cloud-OpsBench cases in
//! `tests/fixtures/cloudopsbench`, MIT).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use loglens_tools::k8s::FileEventSource;
use loglens_tools::k8s_state::{K8sState, K8sStateArgs};
use loglens_tools::tool::Tool;

fn case(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/cloudopsbench"
    ))
    .join(name)
    .join("raw_data/k8s_states.json")
}

fn tool(name: &str) -> K8sState {
    K8sState::new(Arc::new(FileEventSource::new(vec![case(name)])))
}

#[tokio::test]
async fn a_workload_shows_its_objects_and_what_is_wrong_with_them() {
    // A cordoned node leaves the cart service's new pod Pending on no node.
    let out = tool("boutique_scheduling_1")
        .call(K8sStateArgs {
            namespace: Some("boutique".into()),
            object: Some("cartservice".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let kinds: Vec<&str> = out.objects.iter().map(|r| r.kind.as_str()).collect();
    assert!(
        kinds.contains(&"Pod") && kinds.contains(&"Service"),
        "{out:#?}"
    );
    assert!(
        out.objects
            .iter()
            .all(|r| r.name == "cartservice" || r.name.starts_with("cartservice-")),
        "{out:#?}"
    );
    let pending = out
        .objects
        .iter()
        .find(|r| r.kind == "Pod" && r.state.starts_with("Pending"))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(pending.state.contains("on node <none>"), "{pending:?}");
    assert!(
        out.abnormal
            .iter()
            .any(|e| e.is_state() && e.reason == "FailedScheduling"),
        "{out:#?}"
    );
}

#[tokio::test]
async fn without_an_object_it_lists_what_is_abnormal() {
    // The kubelet of worker-01 is down.
    let out = tool("boutique_infrastructure_30")
        .call(K8sStateArgs {
            namespace: Some("boutique".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        out.abnormal
            .iter()
            .any(|e| e.kind == "Node" && e.name == "worker-01" && e.reason == "NodeNotReady"),
        "{out:#?}"
    );
    assert!(out.abnormal.iter().all(|e| e.is_state()));
    let node = out
        .objects
        .iter()
        .find(|r| r.kind == "Node" && r.name == "worker-01")
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(node.state.contains("NotReady"), "{node:?}");
    // Every row is about something abnormal.
    assert!(out.objects.iter().all(|r| {
        out.abnormal
            .iter()
            .any(|e| e.kind == r.kind && e.name == r.name)
    }));
}

#[tokio::test]
async fn unknown_objects_sources_without_state_and_bad_limits_say_so() {
    let t = tool("boutique_runtime_22");
    let out = t
        .call(K8sStateArgs {
            object: Some("no-such-thing".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(out.objects.is_empty() && out.abnormal.is_empty());
    assert!(out.note.unwrap().contains("no-such-thing"));
    // Events alone (a `kubectl get events` table) record no state.
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.txt");
    std::fs::write(
        &events,
        "LAST SEEN   TYPE      REASON    OBJECT              MESSAGE\n5m          Warning   BackOff   pod/web-1           Back-off restarting failed container\n",
    )
    .unwrap();
    let none = K8sState::new(Arc::new(FileEventSource::new(vec![events])))
        .call(K8sStateArgs::default())
        .await
        .unwrap();
    assert!(none.note.unwrap().contains("records no cluster state"));
    let err = t
        .call_json(serde_json::json!({"limit": 1000}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    let err = t
        .call_json(serde_json::json!({"query": "{app=\"x\"}"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("do not fit its schema"), "{err}");
}
