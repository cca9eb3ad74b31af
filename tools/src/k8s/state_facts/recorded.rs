use super::*;

fn recorded(case: &str) -> Vec<(String, serde_json::Value)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/cloudopsbench")
        .join(case)
        .join("raw_data/k8s_states.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_object().unwrap().clone().into_iter().collect()
}

fn facts_of(case: &str) -> Vec<K8sEvent> {
    let rec = recorded(case);
    let outputs: Vec<(&str, &serde_json::Value)> =
        rec.iter().map(|(k, v)| (k.as_str(), v)).collect();
    // Addresses that name no Service are facts in every recorded case here (an
    // optional dependency the frontend is configured for and never calls); they
    // become candidates only where lines mention them, so they are left out here.
    crate::k8s::recorded_events(&outputs, true)
        .into_iter()
        .filter(|e| e.source.as_deref() == Some(STATE_SOURCE))
        .filter(|e| e.reason != "UnknownServiceAddress")
        .collect()
}

#[test]
fn a_recorded_quota_refusal_is_about_the_namespace_only() {
    let facts = facts_of("boutique_admission_13");
    assert!(!facts.is_empty());
    for f in &facts {
        assert_eq!(
            (f.kind.as_str(), f.name.as_str()),
            ("Namespace", "boutique"),
            "{f:?}"
        );
    }
}

#[test]
fn a_recorded_target_port_mismatch_is_found() {
    let facts = facts_of("boutique_service_14");
    let names: Vec<(&str, &str)> = facts
        .iter()
        .map(|f| (f.reason.as_str(), f.name.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("ServiceTargetPortMismatch", "redis-cart")],
        "{facts:?}"
    );
}

#[test]
fn a_recorded_cordon_leaves_the_pending_pod_as_the_fact() {
    let facts = facts_of("boutique_scheduling_1");
    assert!(
        facts
            .iter()
            .any(|f| f.reason == "FailedScheduling" && f.message.contains("unschedulable")),
        "{facts:?}"
    );
    assert!(
        !facts.iter().any(|f| f.reason == "ServiceSelectorMismatch"),
        "{facts:?}"
    );
}
