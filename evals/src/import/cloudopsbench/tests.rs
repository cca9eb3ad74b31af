use super::*;

fn data() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/cloudopsbench")
}

#[tokio::test]
async fn imports_the_fixture_cases_with_their_mapped_causes_and_state() {
    let lib = SignatureLibrary::builtin().unwrap();
    let imported = import_all(&data(), &lib).await.unwrap();
    assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
    let cases = imported.cases;
    assert_eq!(cases.len(), 13);
    let oom = cases
        .iter()
        .find(|c| c.id == "cloudopsbench/boutique_runtime_22")
        .unwrap();
    assert_eq!(oom.expected.cause, "oom_killed");
    assert_eq!(oom.expected.diagnosis.component, "adservice");
    assert_eq!(oom.expected.route.specialists, "infra");
    assert!(oom.events.iter().all(|e| e.is_warning()));
    let quota = cases
        .iter()
        .find(|c| c.id == "cloudopsbench/boutique_admission_13")
        .unwrap();
    assert_eq!(quota.expected.cause, "quota_exceeded");
    assert_eq!(quota.expected.diagnosis.detail.as_deref(), Some("cpu"));
    assert_eq!(quota.expected.diagnosis.component, "boutique");
    // The recorded state travels with the case; per-object and selected views do not.
    assert!(
        quota
            .state
            .contains_key("kubectl get resourcequota -n boutique")
    );
    assert!(quota.state.keys().all(|k| !k.contains(" -l ")));
    for c in &cases {
        // Every case written out fits the schema.
        let text = serde_json::to_string(c).unwrap();
        crate::case::parse_case(&text, Path::new("x.json")).unwrap();
        assert!(c.logs.iter().all(|l| l.labels["namespace"] == "boutique"));
    }
}

fn write_case_dir(dir: &Path, class: &str, logs: serde_json::Value) {
    std::fs::create_dir_all(dir.join("raw_data")).unwrap();
    std::fs::write(
        dir.join("metadata.json"),
        serde_json::json!({"namespace": "shop", "query": "q",
                "result": {"root_cause": class, "fault_object": "app/api", "fault_taxonomy": "X"}})
        .to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("raw_data/logs.json"), logs.to_string()).unwrap();
    std::fs::write(
            dir.join("raw_data/k8s_states.json"),
            r#"{"kubectl get pods -n shop -o wide": "NAME   READY   STATUS   RESTARTS   AGE   IP   NODE\n"}"#,
        )
        .unwrap();
}

#[tokio::test]
async fn kubectl_logs_strings_previous_containers_and_unknown_classes() {
    let root = tempfile::tempdir().unwrap();
    write_case_dir(
        &root.path().join("a_1"),
        "namespace_gpu_quota_exceeded",
        serde_json::json!({
            "api": "2026-01-02T16:01:48.217425932+08:00 starting\n2026-01-02T16:01:49.000000000+08:00 boom\n",
            "api.previous": ["{\"timestamp\":\"2026-01-02T08:00:00Z\",\"msg\":\"old\"}"]
        }),
    );
    write_case_dir(
        &root.path().join("b_2"),
        "cosmic_rays",
        serde_json::json!({"api": []}),
    );
    let imported = import_all(root.path(), &SignatureLibrary::builtin().unwrap())
        .await
        .unwrap();
    // The unknown class is skipped with its reason; the import goes on.
    assert_eq!(imported.skipped.len(), 1);
    assert!(
        imported.skipped[0].1.contains("cosmic_rays"),
        "{:?}",
        imported.skipped
    );
    let c = &imported.cases[0];
    // Mapped by its words.
    assert_eq!(c.expected.cause, "quota_exceeded");
    let texts: Vec<&str> = c.logs.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "starting",
            "boom",
            "{\"timestamp\":\"2026-01-02T08:00:00Z\",\"msg\":\"old\"}"
        ]
    );
    assert_eq!(
        c.logs[0].timestamp.as_deref(),
        Some("2026-01-02T08:01:48.217425932+00:00")
    );
    assert_eq!(c.logs[2].labels["container"], "api");
    assert_eq!(c.logs[2].labels["previous"], "true");
    assert!(c.logs[2].timestamp.is_some());
}
