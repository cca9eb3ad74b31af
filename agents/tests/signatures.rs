//! The signature detector on real recorded incidents: Cloud-OpsBench cases (events and
//! `kubectl describe` output in `tests/fixtures/cloudopsbench`, MIT) and the bundled demo incident.
//! The assertions are about evidence found, not about a model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use loglens_agents::evidence::{Candidate, SignatureLibrary};
use loglens_tools::k8s::{EventFilter, EventSource, FileEventSource, K8sEvent};
use loglens_tools::logs::{FileLogSource, LogFilter, LogSource};

fn case_path(case: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/cloudopsbench"
    ))
    .join(case)
    .join("raw_data/k8s_states.json")
}

async fn case_events(case: &str) -> Vec<K8sEvent> {
    FileEventSource::new(vec![case_path(case)])
        .events(&EventFilter {
            warnings_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
}

fn find<'a>(candidates: &'a [Candidate], id: &str) -> &'a Candidate {
    candidates
        .iter()
        .find(|c| c.signature == id)
        .unwrap_or_else(|| {
            panic!(
                "{id} not found; got {:?}",
                candidates
                    .iter()
                    .map(|c| (&c.signature, &c.component, c.hits))
                    .collect::<Vec<_>>()
            )
        })
}

#[tokio::test]
async fn known_root_causes_are_found_in_real_cases() {
    let lib = SignatureLibrary::builtin().unwrap();
    for (case, signature) in [
        ("boutique_runtime_22", "oom_killed"),
        ("boutique_startup_14", "image_pull_error"),
        ("boutique_runtime_1", "liveness_probe_failure"),
        ("boutique_runtime_39", "readiness_probe_failure"),
    ] {
        let events = case_events(case).await;
        let candidates = lib.detect(&[], &events);
        let c = find(&candidates, signature);
        assert_eq!(c.component.as_deref(), Some("adservice"), "{case}: {c:?}");
        assert!(!c.events.is_empty());
        for &i in &c.events {
            assert!(
                events[i].name.starts_with("adservice-"),
                "{case}: evidence {:?}",
                events[i]
            );
        }
    }
}

#[tokio::test]
async fn decoys_rank_below_the_fault() {
    // The OOM case is full of "error looking up service account" warnings for other
    // services, left from before their ReplicaSets got their pods: the recorded state
    // shows those superseded, and the OOM kill is first.
    let lib = SignatureLibrary::builtin().unwrap();
    let events = case_events("boutique_runtime_22").await;
    let candidates = lib.detect(&[], &events);
    let ids: Vec<&String> = candidates.iter().map(|c| &c.signature).collect();
    assert_eq!(candidates[0].signature, "oom_killed", "{ids:?}");
    let with_state = candidates
        .iter()
        .find(|c| c.signature == "service_account_missing")
        .map_or(0, |c| c.hits);
    // Without the state (events alone), the decoy is there and louder.
    let raw: Vec<(String, serde_json::Value)> = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(case_path("boutique_runtime_22")).unwrap(),
    )
    .unwrap()
    .as_object()
    .unwrap()
    .clone()
    .into_iter()
    .collect();
    let outputs: Vec<(&str, &serde_json::Value)> =
        raw.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let events_only: Vec<K8sEvent> = loglens_tools::k8s::recorded_events(&outputs, false)
        .into_iter()
        .filter(K8sEvent::is_warning)
        .collect();
    let candidates = lib.detect(&[], &events_only);
    let decoy = find(&candidates, "service_account_missing").hits;
    assert!(decoy > find(&candidates, "oom_killed").hits);
    assert!(
        with_state < decoy,
        "superseded refusals drop out: {with_state} < {decoy}"
    );
}

#[tokio::test]
async fn demo_incident_logs_point_at_the_cart_store() {
    let lib = SignatureLibrary::builtin().unwrap();
    let source = FileLogSource::new(vec![
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/cart-redis-incident"
        )
        .into(),
    ]);
    let lines = source.query(&LogFilter::errors()).await.unwrap();
    let candidates = lib.detect(&lines, &[]);
    let refused = find(&candidates, "connection_refused");
    assert!(
        refused
            .lines
            .iter()
            .all(|&i| lines[i].text.contains("UnableToConnect")
                || lines[i].text.to_lowercase().contains("refused"))
    );
    assert!(
        refused
            .lines
            .iter()
            .any(|&i| lines[i].text.contains("redis-cart-invalid")),
        "the evidence names the bad Redis host"
    );
    assert!(find(&candidates, "dns_resolution_failure").hits > 0);
}
