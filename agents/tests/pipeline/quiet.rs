//! Scopes with nothing wrong in them, on the real model: answered from their lines, or without the specialists.
use super::*;

/// Healthy logs: no line matches the error filter, yet the scope has lines. The run
/// answers from the scope's lines (a problem logged at INFO, such as slow calls, is still
/// found this way) instead of failing with "no log lines".
#[tokio::test]
async fn real_a_scope_without_errors_is_answered_from_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("healthy.jsonl");
    let mut text = String::new();
    for i in 0..6 {
        text.push_str(&format!(
            "{{\"timestamp\":\"2025-03-01T10:00:0{i}Z\",\"labels\":{{\"namespace\":\"shop\",\"pod\":\"orders-5d8f7-x2x9k\"}},\"line\":\"INFO database call completed in 9.{i}0 seconds\"}}\n"
        ));
    }
    std::fs::write(&logs, text).unwrap();
    let p = AgentPipeline::new(
        Arc::new(FileLogSource::new(vec![logs])),
        None,
        llm(&model_url()),
        Arc::new(SignatureLibrary::builtin().unwrap()),
        PipelineConfig {
            specialist: SpecialistConfig {
                max_steps: 0,
                ..Default::default()
            },
            ..PipelineConfig::default()
        },
    );
    let report = p
        .run(
            "Why are orders slow?",
            &LogFilter::errors(),
            &Scope::default(),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("pipeline failed: {e}"));
    let retrieval = report
        .path
        .iter()
        .find(|s| s.stage == Stage::Retrieval)
        .unwrap();
    assert!(
        retrieval.note.contains("6 lines") && retrieval.note.contains("without it"),
        "{}",
        retrieval.note
    );
    assert!(
        report
            .evidence
            .lines
            .iter()
            .all(|l| l.text.contains("database call"))
    );
    // The answer cites lines of the scope.
    for l in &report.consensus.finding.evidence {
        assert!(l.text.contains("database call completed"), "{}", l.text);
    }

    // A scope with no lines at all is still an error, with what was searched.
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let p = AgentPipeline::new(
        Arc::new(FileLogSource::new(vec![empty])),
        None,
        llm(&model_url()),
        Arc::new(SignatureLibrary::builtin().unwrap()),
        PipelineConfig::default(),
    );
    let err = p
        .run(
            "Why are orders slow?",
            &LogFilter::errors(),
            &Scope::default(),
            None,
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.error.code(), "no_logs");
}

#[tokio::test]
async fn real_a_quiet_scope_is_answered_without_the_specialists() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs.jsonl");
    std::fs::write(
        &logs,
        [
            r#"{"namespace":"shop","pod":"web-5d8f7c9b4-fghij","level":"error","msg":"GET /cart failed"}"#,
            r#"{"namespace":"shop","pod":"web-5d8f7c9b4-fghij","msg":"GET / 200"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let p = AgentPipeline::new(
        Arc::new(FileLogSource::new(vec![logs])),
        None,
        llm(&model_url()),
        Arc::new(SignatureLibrary::builtin().unwrap()),
        PipelineConfig::default(),
    );
    // user-api logged nothing: that is the answer, not an error.
    let filter = LogFilter {
        pod: Some("user-api".into()),
        ..LogFilter::errors()
    };
    let r = p
        .run(
            "post the last 10 ERROR lines of user-api",
            &filter,
            &Scope::default(),
            None,
        )
        .await
        .unwrap();
    assert!(r.quiet);
    assert!(r.opinions.is_empty());
    assert_eq!(r.consensus.finding.diagnosis.component, "user-api");
    assert_eq!(r.consensus.finding.diagnosis.severity, Severity::Info);
    assert!(r.consensus.finding.evidence.is_empty());
    assert!(
        r.consensus
            .finding
            .diagnosis
            .root_cause
            .contains("2 lines elsewhere"),
        "{}",
        r.consensus.finding.diagnosis.root_cause
    );
    let skipped: Vec<Stage> = r
        .path
        .iter()
        .filter(|s| s.status == StepStatus::Skipped)
        .map(|s| s.stage)
        .collect();
    assert_eq!(
        skipped,
        vec![Stage::Evidence, Stage::Infra, Stage::App, Stage::Consensus]
    );
}
