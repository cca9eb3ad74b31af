//! Export to an OTLP gRPC collector (rotel, read from its record of what arrived): an ask's spans, an eval run's scores and traces, a collector that is down.
use super::*;

/// The spans of trace `id` in the collector's debug log (rotel's detailed format: a
/// `Span #n` block of `Trace ID`, `Parent ID`, `ID`, `Name`, then `-> key: Str(v)` /
/// `Int(n)` attribute lines), waiting until it has `want`.
async fn collector_spans(log: &str, id: &str, want: usize) -> Vec<TempoSpan> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let spans: Vec<TempoSpan> = logged_spans(&text)
            .into_iter()
            .filter(|(trace, _)| trace == id)
            .map(|(_, s)| s)
            .collect();
        if spans.len() >= want {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "trace {id} has {} of {want} spans at the collector; it logged:\n{text}",
            spans.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every span in a rotel debug log, with its trace id; a span logged twice is one.
fn logged_spans(text: &str) -> Vec<(String, TempoSpan)> {
    let mut spans: Vec<(String, TempoSpan)> = Vec::new();
    let mut in_span = false;
    let mut in_attrs = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("Span #") {
            spans.push((
                String::new(),
                TempoSpan {
                    id: String::new(),
                    parent: None,
                    name: String::new(),
                    attrs: HashMap::new(),
                },
            ));
            (in_span, in_attrs) = (true, false);
            continue;
        }
        if t.starts_with("ResourceSpans #") || t.starts_with("ScopeSpans #") {
            (in_span, in_attrs) = (false, false);
            continue;
        }
        let Some((trace, span)) = spans.last_mut().filter(|_| in_span) else {
            continue;
        };
        if t == "Attributes:" {
            in_attrs = true;
        } else if let Some(attr) = t.strip_prefix("-> ").filter(|_| in_attrs) {
            let Some((key, value)) = attr.split_once(": ") else {
                continue;
            };
            let value = if let Some(v) = value.strip_prefix("Str(") {
                Value::String(v.strip_suffix(')').unwrap_or(v).to_string())
            } else if let Some(v) = value.strip_prefix("Int(") {
                v.trim_end_matches(')')
                    .parse::<i64>()
                    .map_or(Value::Null, Value::from)
            } else {
                Value::String(value.to_string())
            };
            span.attrs.insert(key.to_string(), value);
        } else if let Some((field, value)) = t.split_once(':') {
            in_attrs = false;
            let value = value.trim().to_string();
            match field.trim() {
                "Trace ID" => *trace = value,
                "Parent ID" => span.parent = Some(value).filter(|p| !p.is_empty()),
                "ID" => span.id = value,
                "Name" => span.name = value,
                _ => {}
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    spans.retain(|(_, s)| !s.id.is_empty() && seen.insert(s.id.clone()));
    spans
}

#[tokio::test]
async fn grpc_export_reaches_a_collector_with_traces_and_metrics() {
    let grpc = test_env("LOGLENS_TEST_OTLP_GRPC_URL");
    let received = test_env("LOGLENS_TEST_OTLP_LOG");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let (answer, _) = ask(
        &db,
        &["--max-steps", "0", "--evidence-tokens", "400"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "loglens-grpc-test"),
        ],
    );
    let trace_id = answer["trace_id"].as_str().unwrap();
    // The collector received the whole run over gRPC, in its tree: every span the
    // database kept.
    let stored = stored_spans(&db, trace_id);
    let spans = collector_spans(&received, trace_id, stored.len()).await;
    assert_eq!(spans.len(), stored.len());
    assert_agent_tree(&spans, "SmolLM2-135M-Instruct");
    // The metrics pushed at exit arrived at the collector.
    wait_for_metrics(
        &received,
        "loglens-grpc-test",
        &[
            "gen_ai.client.operation.duration",
            "gen_ai.client.token.usage",
            "loglens.analyses",
        ],
    )
    .await;
}

#[tokio::test]
async fn an_eval_run_pushes_its_scores_over_otlp_and_traces_each_case() {
    let grpc = test_env("LOGLENS_TEST_OTLP_GRPC_URL");
    let received = test_env("LOGLENS_TEST_OTLP_LOG");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let out = loglens()
        .args([
            "eval",
            "--subset",
            "golden/smoke.txt",
            "--database-url",
            &db,
        ])
        .arg("--out")
        .arg(dir.path().join("run"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_SERVICE_NAME", "loglens-eval-test")
        .output()
        .unwrap();
    assert_ok(&out);
    // Each case ran in its own trace, kept in the database.
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/run.json")).unwrap())
            .unwrap();
    let runs = run["runs"].as_array().unwrap();
    let ids: std::collections::HashSet<&str> = runs
        .iter()
        .map(|r| {
            r["trace_id"]
                .as_str()
                .expect("every case keeps its trace id")
        })
        .collect();
    assert_eq!(ids.len(), runs.len(), "one trace per case");
    let first = runs[0]["trace_id"].as_str().unwrap();
    let spans = stored_spans(&db, first);
    let root = spans
        .iter()
        .find(|s| s["parent_span_id"].is_null())
        .unwrap();
    assert_eq!(
        root["name"],
        format!("eval {}", runs[0]["case"].as_str().unwrap())
    );
    // The scores arrived at the collector as gauges.
    wait_for_metrics(
        &received,
        "loglens-eval-test",
        &[
            "log_extraction_accuracy",
            "log_retrieval_precision",
            "router_accuracy",
            "loglens.eval.case.duration",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_collector_that_is_down_does_not_fail_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let dead = crate::support::dead_url();
    let (answer, stderr) = ask(
        &db,
        &["--pipeline", "baseline"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", dead.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ],
    );
    assert_eq!(answer["status"], "ok", "{stderr}");
    // The spans are still in the database.
    let trace_id = answer["trace_id"].as_str().unwrap();
    let out = loglens()
        .args(["trace", trace_id, "--database-url", &db])
        .output()
        .unwrap();
    assert_ok(&out);
    let tree = String::from_utf8_lossy(&out.stdout);
    // On failure: the spans that were kept, and what the ask logged (a span the
    // database writer dropped or could not store is warned about there).
    assert!(
        tree.contains("invoke_agent loglens"),
        "the root span is missing:\n{tree}\nask's stderr:\n{stderr}"
    );
    // A setting loglens cannot honour is refused up front, naming the variable.
    let out = loglens()
        .args(["ask", "x", "--logs", "examples/cart-redis-incident"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &dead)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{err}");
}
