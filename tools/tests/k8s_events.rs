//! Kubernetes events from real recorded kubectl output (Cloud-OpsBench cases in
//! `tests/fixtures/cloudopsbench`, MIT) and from a real Loki-API server (`LOGLENS_TEST_LOKI_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use common::{loki_client, unique, wait_for};
use loglens_tools::k8s::{EventFilter, EventSource, FileEventSource, LokiEventSource};
use loglens_tools::k8s_events::{K8sEvents, K8sEventsArgs};
use loglens_tools::logs::loki::LokiStream;
use loglens_tools::tool::Tool;

fn case(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/cloudopsbench"
    ))
    .join(name)
    .join("raw_data/k8s_states.json")
}

#[tokio::test]
async fn oom_case_shows_the_oom_kill() {
    let source = FileEventSource::new(vec![case("boutique_runtime_22")]);
    let events = source
        .events(&EventFilter {
            object: Some("adservice".into()),
            warnings_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e.is_warning() && e.name.starts_with("adservice-"))
    );
    assert!(
        events
            .iter()
            .any(|e| e.message.contains("OOM") || e.reason.contains("OOM")),
        "{events:#?}"
    );
}

#[tokio::test]
async fn image_case_shows_the_pull_failure() {
    let tool = K8sEvents::new(Arc::new(FileEventSource::new(vec![case(
        "boutique_startup_14",
    )])));
    let out = tool
        .call(K8sEventsArgs {
            namespace: Some("boutique".into()),
            object: Some("adservice".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let reasons: Vec<&str> = out.events.iter().map(|e| e.reason.as_str()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("ImagePull") || *r == "Failed" || r.contains("ErrImage")),
        "{reasons:?}"
    );
    // Facts about the current state come first; then repeats are folded and the most
    // repeated warnings come first.
    let state = out.events.iter().take_while(|e| e.is_state()).count();
    assert!(out.events[state..].iter().all(|e| !e.is_state()));
    let counts: Vec<u32> = out.events[state..].iter().map(|e| e.count).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let err = tool
        .call_json(serde_json::json!({"namespace": "boutique", "limit": 1000}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

#[tokio::test]
async fn events_shipped_by_alloy_are_read_from_loki() {
    let client = loki_client();
    let ns = unique("ev");
    let labels: BTreeMap<String, String> = [
        ("job", "loki.source.kubernetes_events"),
        ("namespace", ns.as_str()),
        ("instance", "alloy-0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let t = Utc::now().timestamp_nanos_opt().unwrap() - 30_000_000_000;
    let lines = [
        r#"name=api-7d9f-x1 kind=Pod objectAPIversion=v1 sourcecomponent=kubelet reason=BackOff type=Warning count=3 msg="Back-off restarting failed container""#,
        r#"name=api-7d9f-x1 kind=Pod objectAPIversion=v1 sourcecomponent=kubelet reason=BackOff type=Warning count=9 msg="Back-off restarting failed container""#,
        r#"name=api-7d9f-x1 kind=Pod objectAPIversion=v1 sourcecomponent=kubelet reason=Pulled type=Normal msg="Container image already present""#,
        r#"name=db-0 kind=Pod sourcecomponent=kubelet reason=FailedMount type=Warning count=2 msg="MountVolume.SetUp failed for volume \"data\"""#,
    ];
    let entries = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (t + i as i64, l.to_string()))
        .collect();
    client
        .push(&[LokiStream { labels, entries }])
        .await
        .unwrap();
    wait_for(&client, &format!("{{namespace=\"{ns}\"}}"), lines.len()).await;
    let source = LokiEventSource::new(client);
    let events = source
        .events(&EventFilter {
            namespace: Some(ns.clone()),
            warnings_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<(&str, &str, u32)> = events
        .iter()
        .map(|e| (e.name.as_str(), e.reason.as_str(), e.count))
        .collect();
    assert_eq!(
        got,
        [("api-7d9f-x1", "BackOff", 9), ("db-0", "FailedMount", 2)],
        "folded, warnings only, most repeated first"
    );
    assert_eq!(
        events[1].message,
        "MountVolume.SetUp failed for volume \"data\""
    );
    assert!(
        events
            .iter()
            .all(|e| e.namespace.as_deref() == Some(ns.as_str()) && e.last_seen.is_some())
    );
}
