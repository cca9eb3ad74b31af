use super::*;
use crate::replay::Variant;
use loglens_agents::Diagnosis;
use loglens_agents::{Finding, Severity};

fn case(cause: &str) -> GoldenCase {
    serde_json::from_value(serde_json::json!({
        "id": "c", "origin": "real", "source": "s", "licence": "l", "question": "q",
        "logs": [{"line": "x"}],
        "expected": {"route": {"retrieval": "structured", "specialists": "infra"}, "cause": cause,
            "root_cause": "r", "severity": "CRITICAL", "component": "adservice",
            "error_signature": "e", "summary": "s", "action": "a"}
    }))
    .unwrap()
}

fn run(
    cause: Option<&str>,
    component: &str,
    severity: Severity,
    route: (&str, &str),
    ms: f64,
) -> CaseRun {
    CaseRun {
        case: "c".into(),
        variant: Variant::Evidence,
        route: Some((route.0.into(), route.1.into())),
        finding: cause.map(|c| Finding {
            cause: Some(c.into()),
            diagnosis: Diagnosis {
                detail: None,
                root_cause: "r".into(),
                severity,
                component: component.into(),
                error_signature: "e".into(),
                summary: "s".into(),
                action: "a".into(),
            },
            evidence: vec![],
            confidence: 0.5,
        }),
        error: cause
            .is_none()
            .then(|| "model_unavailable: down".to_string()),
        latency_ms: ms,
        model_ms: 0.0,
        model_calls: 2,
        tokens: 100,
        tool_calls: 1,
        tool_calls_ok: usize::from(cause.is_some()),
        tool_lines_new: 2,
        retrieved: vec![0, 1, 2],
        cited: vec![2],
        trace_id: None,
    }
}

#[test]
fn components_compare_as_workloads() {
    assert!(same_component("alertmanager-0", "alertmanager"));
    assert!(same_component("adservice-74c7f4c787-8g8cs", "adservice"));
    assert!(same_component("worker-01", "worker-01"));
    assert!(!same_component("worker-01", "worker-02"));
    assert!(!same_component("db-0", "db-1"));
}

#[test]
fn retrieval_is_scored_against_the_evidence_lines() {
    // Evidence: lines 2 and 5. Retrieved 0..4, cited 2 first.
    let r = retrieval_score(&[2, 5], &[0, 1, 2, 3], &[2]).unwrap();
    assert!((r.precision - 0.25).abs() < 1e-9);
    assert!((r.recall - 0.5).abs() < 1e-9);
    assert!((r.reciprocal_rank - 1.0).abs() < 1e-9);
    // One of two relevant lines at rank 1: DCG 1, IDCG 1 + 1/log2(3).
    let ideal = 1.0 + 1.0 / 3f64.log2();
    assert!((r.ndcg - 1.0 / ideal).abs() < 1e-9);
    // Cited nothing relevant: the first relevant line is where retrieval put it.
    let r = retrieval_score(&[3], &[0, 1, 2, 3], &[0]).unwrap();
    assert!((r.reciprocal_rank - 0.25).abs() < 1e-9);
    assert_eq!(retrieval_score(&[3], &[], &[]).unwrap().recall, 0.0);
    assert_eq!(retrieval_score(&[], &[1], &[1]), None);
}

#[test]
fn field_scores_are_macro_averages() {
    let p = |e: &str, g: &str| (e.to_string(), g.to_string());
    // a: 2 cases, 1 right; b: 1 case, right; one "a" answered as b.
    let f = field_score(&[p("a", "a"), p("a", "b"), p("b", "b")]);
    // precision: a 1/1, b 1/2 → 0.75; recall: a 1/2, b 1/1 → 0.75.
    assert!((f.precision - 0.75).abs() < 1e-9);
    assert!((f.recall - 0.75).abs() < 1e-9);
    assert!((f.accuracy - 2.0 / 3.0).abs() < 1e-9);
    // Unanswered counts against recall only.
    let f = field_score(&[p("a", "a"), p("a", "none")]);
    assert!((f.precision - 1.0).abs() < 1e-9 && (f.recall - 0.5).abs() < 1e-9);
}

#[test]
fn fields_are_scored_and_failures_explained() {
    let c = case("oom_killed");
    let good = score_case(
        &c,
        &run(
            Some("oom_killed"),
            "adservice-74c7f4c787-8g8cs",
            Severity::Critical,
            ("structured", "infra"),
            10.0,
        ),
    );
    assert!(good.cause && good.component && good.severity && good.route == Some(true));
    assert_eq!(good.failure, None);
    let bad = score_case(
        &c,
        &run(
            Some("connection_refused"),
            "frontend",
            Severity::Error,
            ("hybrid", "both"),
            30.0,
        ),
    );
    assert!(!bad.cause && !bad.component && !bad.severity);
    let why = bad.failure.clone().unwrap();
    assert!(
        why.contains("route hybrid/both, expected structured/infra")
            && why.contains("cause connection_refused"),
        "{why}"
    );
    let none = score_case(
        &c,
        &run(None, "", Severity::Info, ("structured", "infra"), 20.0),
    );
    assert!(
        !none.answered
            && none
                .failure
                .as_deref()
                .unwrap()
                .contains("model_unavailable")
    );

    let runs = [
        run(
            Some("oom_killed"),
            "adservice",
            Severity::Critical,
            ("structured", "infra"),
            10.0,
        ),
        run(Some("x"), "f", Severity::Error, ("hybrid", "both"), 30.0),
        run(None, "", Severity::Info, ("structured", "infra"), 20.0),
    ];
    let m = metrics(&[good, bad, none.clone()], &runs);
    assert_eq!(m.cases, 3);
    assert!((m.cause_accuracy - 1.0 / 3.0).abs() < 1e-9);
    assert!((m.answered - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(m.router_accuracy, Some(2.0 / 3.0));
    assert_eq!(m.severity_confusion["CRITICAL"]["ERROR"], 1);
    assert_eq!(m.severity_confusion["CRITICAL"]["none"], 1);
    assert_eq!((m.latency_ms.p50, m.latency_ms.p99), (20.0, 30.0));
    // Two of the three tool calls ran (the unanswered case's did not); two new lines
    // per case.
    assert_eq!(m.tool_calls_ran, Some(2.0 / 3.0));
    assert!((m.tool_new_lines_per_case - 2.0).abs() < 1e-9);
    let md = markdown("evidence", &m, &[none]);
    assert!(
        md.contains("| tool calls that ran; new lines they gave per case | 66.7%; 2.0 |"),
        "{md}"
    );
    assert!(
        md.contains("| cause accuracy | 33.3% |") && md.contains("## Failure modes"),
        "{md}"
    );
}
