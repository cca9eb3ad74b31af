//! `fault_*`: a scripted model that follows an injected instruction, returns garbage, or is down: the toolbox contains it, the evidence answers, the error is clear.
use super::*;

/// A model that obeys the injected line: it asks for a match-everything query and for a
/// tool that does not exist. Neither can be written in the step's schema (the menu's
/// calls name a stream the evidence has, never LogQL), so neither runs; the answer still
/// comes. A call the menu offers, written twice in one step, runs once.
#[tokio::test]
async fn fault_model_following_an_injection_is_contained() {
    let f = fixture();
    let finding = json!({
        "cause": "oom_killed", "evidence": [1], "error_signature": "OutOfMemoryError",
        "component": "cartservice", "root_cause": "heap too small", "severity": "CRITICAL",
        "summary": "cart OOM", "action": "raise the limit", "confidence": 70
    })
    .to_string();
    let injected = json!({"calls": [
        {"tool": "query_logs", "arguments": {"query": "{namespace=~\".+\"}"}}
    ]})
    .to_string();
    let fake = FakeModelServer::start(vec![
        // Infra, round 1: the injected query, twice (the reply and its retry).
        FakeReply::Text(injected.clone()),
        FakeReply::Text(injected),
        FakeReply::Text(finding.clone()),
    ])
    .await
    .unwrap();
    let p = pipeline(&f, &fake.url, PipelineConfig::default());
    let (report, _) = run(&p, "Why was the pod OOMKilled?", &Scope::default()).await;
    assert!(report.opinions[0].tools.is_empty());
    assert_eq!(fake.calls(), 3);
    assert_eq!(
        report.consensus.finding.cause.as_deref(),
        Some("oom_killed")
    );

    // From the menu: one stream the evidence has, asked twice in one step.
    let asked = json!({"calls": [
        {"tool": "query_logs", "arguments": {"stream": "container=cartservice", "contains": "heap"}},
        {"tool": "query_logs", "arguments": {"stream": "container=cartservice"}}
    ]})
    .to_string();
    let fake = FakeModelServer::start(vec![
        FakeReply::Text(asked),
        FakeReply::Text(finding.clone()),
    ])
    .await
    .unwrap();
    let p = pipeline(&f, &fake.url, PipelineConfig::default());
    let (report, _) = run(&p, "Why was the pod OOMKilled?", &Scope::default()).await;
    let tools = &report.opinions[0].tools;
    assert_eq!(tools.len(), 1, "{tools:?}");
    assert_eq!(tools[0].status, CallStatus::Ok, "{:?}", tools[0]);
    // loglens wrote the LogQL and the range, around the evidence (logs from 2025).
    assert_eq!(
        tools[0].arguments["query"],
        r#"{container="cartservice"} |= "heap""#
    );
    // The scope is the errors; the first is at 10:00:30.
    assert_eq!(tools[0].arguments["start"], "2025-03-01T09:00:30Z");
    assert!(tools[0].result_bytes > 0);

    // A tool outside the set does not even pass the reply's schema: the reply is rejected
    // (twice), no tool runs, and the specialist answers from the evidence.
    let fake = FakeModelServer::start(vec![
        FakeReply::Text(
            json!({"calls": [{"tool": "exec_shell", "arguments": {"cmd": "rm -rf /"}}]})
                .to_string(),
        ),
        FakeReply::Text(
            json!({"calls": [{"tool": "exec_shell", "arguments": {"cmd": "rm -rf /"}}]})
                .to_string(),
        ),
        FakeReply::Text(finding),
    ])
    .await
    .unwrap();
    let p = pipeline(&f, &fake.url, PipelineConfig::default());
    let (report, _) = run(&p, "Why was the pod OOMKilled?", &Scope::default()).await;
    assert!(report.opinions[0].tools.is_empty());
    assert_eq!(fake.calls(), 3);
    assert_eq!(report.consensus.finding.diagnosis.component, "cartservice");
}

/// A model that writes garbage for its answer twice: the specialist falls back to the
/// evidence's top candidate, says so, and the run still answers with cited lines.
#[tokio::test]
async fn fault_garbage_answers_fall_back_to_the_evidence() {
    let f = fixture();
    let fake = FakeModelServer::start(vec![
        FakeReply::Text(json!({"calls": []}).to_string()),
        FakeReply::Text("the cart is broken, sorry".into()),
    ])
    .await
    .unwrap();
    let p = pipeline(&f, &fake.url, PipelineConfig::default());
    let (report, events) = run(&p, "Why was the pod OOMKilled?", &Scope::default()).await;
    assert_eq!(fake.calls(), 3, "one tool round, two answer attempts");
    let o = &report.opinions[0];
    assert!(
        o.fallback.as_deref().unwrap().contains("rejected twice"),
        "{o:?}"
    );
    assert_eq!(o.finding.cause.as_deref(), Some("oom_killed"));
    assert_eq!(o.finding.diagnosis.component, "cartservice");
    assert!((o.finding.confidence - 0.3).abs() < 1e-6);
    assert!(!o.finding.evidence.is_empty());
    assert!(
        o.finding
            .evidence
            .iter()
            .all(|l| report.evidence.lines.contains(l))
    );
    assert_eq!(
        report.consensus.finding.cause.as_deref(),
        Some("oom_killed")
    );
    assert!(
        report.path[3].note.contains("1 from the evidence alone"),
        "{:?}",
        report.path[3]
    );
    assert!(matches!(events.last(), Some(AgentEvent::Consensus(_))));
}

/// The model server is down: the rules route without it, then the specialists fail with
/// the model's error, which the caller gets.
#[tokio::test]
async fn fault_model_down_is_a_clear_error() {
    let f = fixture();
    let p = pipeline(&f, "http://127.0.0.1:9", PipelineConfig::default());
    let err = p
        .run(
            "Why was the pod OOMKilled?",
            &LogFilter::errors(),
            &Scope::default(),
            None,
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "model_unavailable", "{err}");
}
