//! The signature detector on real recorded incidents: Cloud-OpsBench cases (events and
//! `kubectl describe` output in `../shared/data`, MIT) and the bundled demo incident.
//! The assertions are about evidence found, not about a model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use loglens_agents::evidence::{Candidate, SignatureLibrary};
use loglens_tools::k8s::{EventFilter, EventSource, FileEventSource, K8sEvent};
use loglens_tools::logs::{FileLogSource, LogFilter, LogSource};

async fn case_events(case: &str) -> Vec<K8sEvent> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/cloudopsbench"
    ))
    .join(case)
    .join("raw_data/k8s_states.json");
    FileEventSource::new(vec![path])
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
    // services; the OOM kill still ranks first by severity.
    let lib = SignatureLibrary::builtin().unwrap();
    let events = case_events("boutique_runtime_22").await;
    let candidates = lib.detect(&[], &events);
    assert_eq!(
        candidates[0].signature,
        "oom_killed",
        "{:?}",
        candidates.iter().map(|c| &c.signature).collect::<Vec<_>>()
    );
    assert!(
        find(&candidates, "service_account_missing").hits > candidates[0].hits,
        "the decoy is louder, and still second"
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
