//! The Kubernetes API backend against a real cluster. No API server installs on the
//! machines CI runs on (see `../shared/RUNTIME.md`), so this test is ignored there; run it
//! where a cluster is reachable:
//!
//! ```sh
//! LOGLENS_TEST_KUBECONFIG=~/.kube/config cargo test -p loglens-tools --test kube -- --ignored
//! ```
//!
//! It needs `list` on events and pods in `kube-system` (any cluster has some there); with
//! `list` on nodes too (the ClusterRole in `k8s/base/api.yaml` allows it), the nodes'
//! state joins the events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use kube::config::{KubeConfigOptions, Kubeconfig};
use loglens_tools::k8s::{EventFilter, EventSource, KubeEventSource};

#[tokio::test]
#[ignore = "needs a Kubernetes API server: set LOGLENS_TEST_KUBECONFIG and pass --ignored"]
async fn lists_events_and_pod_status_from_a_cluster() {
    let path = std::env::var("LOGLENS_TEST_KUBECONFIG")
        .unwrap_or_else(|_| panic!("LOGLENS_TEST_KUBECONFIG is not set"));
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let source = KubeEventSource::from_config(config).unwrap();
    assert!(source.describe().starts_with("the Kubernetes API at "));
    let all = source
        .events(&EventFilter {
            namespace: Some("kube-system".into()),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    for e in &all {
        // Nodes and volumes (from the cluster snapshot) belong to no namespace.
        if e.namespace.is_some() || !matches!(e.kind.as_str(), "Node" | "PersistentVolume") {
            assert_eq!(e.namespace.as_deref(), Some("kube-system"), "{e:?}");
        }
        assert!(!e.kind.is_empty() && !e.name.is_empty(), "{e:?}");
    }
    // Warnings only: selected by the API server, and still ranked first-class.
    let warnings = source
        .events(&EventFilter {
            namespace: Some("kube-system".into()),
            warnings_only: true,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert!(warnings.iter().all(|e| e.is_warning()));
    assert!(warnings.len() <= all.len());
    // A namespace that does not exist has nothing, and is not an error.
    let none = source
        .events(&EventFilter {
            namespace: Some("loglens-no-such-namespace".into()),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}
