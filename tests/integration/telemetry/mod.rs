//! Traces, logs and metrics of real runs, checked where they land: a Tempo-API server
//! (qryn) over OTLP/HTTP, an OTLP gRPC collector (rotel, its record of what arrived), the database
//! (`loglens trace`), JSON logs with trace ids, and `/metrics` through `promtool`.
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{assert_ok, loglens, model_url, test_env};

mod collector;

const QUESTION: &str = "Why are customers unable to view or add items to their cart?";

/// `loglens ask --json` over the bundled incident with a fresh database; returns the
/// stored answer and stderr.
fn ask(db: &str, extra: &[&str], env: &[(&str, &str)]) -> (Value, String) {
    let mut cmd = loglens();
    cmd.args([
        "ask",
        QUESTION,
        "--logs",
        "examples/cart-redis-incident",
        "--json",
    ])
    .args([
        "--model-url",
        &model_url(),
        "--model",
        "SmolLM2-135M-Instruct",
    ])
    // Other tests share the one-slot model server: waiting in its queue counts.
    .args(["--model-timeout", "900"])
    .args(["--database-url", db])
    .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_ok(&out);
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    (answer, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `loglens trace ID --json`: the spans kept in the database.
fn stored_spans(db: &str, id: &str) -> Vec<Value> {
    let out = loglens()
        .args(["trace", id, "--json", "--database-url", db])
        .output()
        .unwrap();
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One span as the Tempo API returns it (OTLP JSON: ids base64, attributes typed), or as
/// the collector logged it.
#[derive(Debug)]
struct TempoSpan {
    id: String,
    parent: Option<String>,
    name: String,
    attrs: HashMap<String, Value>,
}

/// Fetches trace `id` from the Tempo API at `base`, waiting until it has `want` spans:
/// the server writes in batches, and the collector in front of it in the gRPC test
/// retries a batch (qryn's reply to an OTLP export is not the protobuf it expects), which
/// under CI's load takes a minute or more and may deliver a span twice.
async fn fetch_trace(base: &str, id: &str, want: usize) -> Vec<TempoSpan> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        let resp = reqwest::get(format!("{base}/api/traces/{id}/json"))
            .await
            .unwrap();
        if resp.status().is_success() {
            let v: Value = resp.json().await.unwrap();
            last = tempo_spans(&v);
            if last.len() >= want {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "trace {id} has {} of {want} spans in the Tempo API: {last:#?}",
        last.len()
    );
}

fn tempo_spans(v: &Value) -> Vec<TempoSpan> {
    let mut spans = Vec::new();
    for rs in v["resourceSpans"].as_array().into_iter().flatten() {
        let scopes = rs
            .get("scopeSpans")
            .or_else(|| rs.get("instrumentationLibrarySpans"));
        for ss in scopes.and_then(Value::as_array).into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                let attrs = s["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| {
                        let key = a["key"].as_str()?.to_string();
                        let val = a["value"].as_object()?.values().next()?.clone();
                        Some((key, val))
                    })
                    .collect();
                spans.push(TempoSpan {
                    id: s["spanId"].as_str().unwrap_or_default().to_string(),
                    parent: s["parentSpanId"]
                        .as_str()
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                    name: s["name"].as_str().unwrap_or_default().to_string(),
                    attrs,
                });
            }
        }
    }
    // The same span delivered twice is one span.
    let mut seen = std::collections::HashSet::new();
    spans.retain(|s| seen.insert(s.id.clone()));
    spans
}

fn attr_u64(s: &TempoSpan, key: &str) -> u64 {
    match s.attrs.get(key) {
        Some(Value::String(t)) => t.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn attr_str<'a>(s: &'a TempoSpan, key: &str) -> &'a str {
    s.attrs.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Checks the shape every agent run's trace has: one root, the stages under it, each
/// specialist's model calls under the specialist with GenAI attributes.
fn assert_agent_tree(spans: &[TempoSpan], model: &str) {
    let by_id: HashMap<&str, &TempoSpan> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    let roots: Vec<&TempoSpan> = spans
        .iter()
        .filter(|s| s.parent.as_deref().is_none_or(|p| !by_id.contains_key(p)))
        .collect();
    assert_eq!(roots.len(), 1, "one root: {roots:#?}");
    let root = roots[0];
    assert_eq!(root.name, "invoke_agent loglens");
    assert_eq!(attr_str(root, "gen_ai.operation.name"), "invoke_agent");
    let children: Vec<&str> = spans
        .iter()
        .filter(|s| s.parent.as_deref() == Some(root.id.as_str()))
        .map(|s| s.name.as_str())
        .collect();
    for stage in ["router", "retrieval", "evidence", "consensus"] {
        assert!(
            children.contains(&stage),
            "{stage} under the root: {children:?}"
        );
    }
    // The question names no side: the specialist of the evidence's top candidate (the
    // cart's Redis address, an application fault) answers.
    assert!(
        children.contains(&"invoke_agent app"),
        "the app specialist under the root: {children:?}"
    );
    let chats: Vec<&TempoSpan> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    assert!(chats.len() >= 2, "a model call per specialist: {spans:#?}");
    for c in &chats {
        let parent = by_id[c.parent.as_deref().unwrap()];
        assert!(
            parent.name.starts_with("invoke_agent "),
            "{} under {}",
            c.name,
            parent.name
        );
        assert_eq!(attr_str(c, "gen_ai.operation.name"), "chat");
        assert_eq!(attr_str(c, "gen_ai.request.model"), model);
        assert_eq!(attr_str(c, "gen_ai.provider.name"), "llama.cpp");
        assert!(attr_u64(c, "gen_ai.usage.input_tokens") > 100, "{c:#?}");
        assert!(attr_u64(c, "gen_ai.usage.output_tokens") > 0, "{c:#?}");
    }
}

#[tokio::test]
async fn an_ask_is_one_trace_in_tempo_in_the_database_and_in_the_logs() {
    let loki = test_env("LOGLENS_TEST_LOKI_URL");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let (answer, stderr) = ask(
        &db,
        &["--log-format", "json"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", loki.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            // qryn takes traces, not metrics.
            ("OTEL_METRICS_EXPORTER", "none"),
            ("RUST_LOG", "loglens=info"),
        ],
    );
    let trace_id = answer["trace_id"]
        .as_str()
        .expect("the answer keeps its trace id");
    assert_eq!(trace_id.len(), 32);

    // The database has the whole run; `loglens trace` shows it as a tree, by trace id and
    // by analysis id.
    let stored = stored_spans(&db, trace_id);
    let tool_calls: usize = answer["details"]["opinions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["tool_calls"].as_array().map_or(0, Vec::len))
        .sum();
    let tool_spans = stored
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("execute_tool "))
        .count();
    assert_eq!(
        tool_spans, tool_calls,
        "one span per tool call the run recorded"
    );
    let out = loglens()
        .args([
            "trace",
            answer["id"].as_str().unwrap(),
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains(&format!("trace {trace_id}")), "{tree}");
    assert!(tree.contains("\ninvoke_agent loglens"), "{tree}");
    for part in [
        "├─ router",
        "├─ retrieval",
        "invoke_agent app",
        "chat SmolLM2-135M-Instruct",
        "in=",
        "out=",
        "└─ consensus",
    ] {
        assert!(tree.contains(part), "{part} in:\n{tree}");
    }

    // The Tempo API has the same spans, in the same tree, with GenAI attributes.
    let spans = fetch_trace(&loki, trace_id, stored.len()).await;
    assert_eq!(spans.len(), stored.len());
    assert_agent_tree(&spans, "SmolLM2-135M-Instruct");
    for t in spans.iter().filter(|s| s.name.starts_with("execute_tool ")) {
        assert_eq!(attr_str(t, "gen_ai.operation.name"), "execute_tool");
        assert!(
            !attr_str(t, "gen_ai.tool.call.arguments").is_empty(),
            "{t:#?}"
        );
        assert!(!attr_str(t, "loglens.tool.status").is_empty(), "{t:#?}");
    }

    // JSON logs: the run's lines carry its trace id.
    let finished: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "analysis finished")
        .collect();
    assert_eq!(finished.len(), 1, "{stderr}");
    let line = &finished[0];
    assert_eq!(line["trace_id"], trace_id, "{line}");
    assert_eq!(line["span_id"].as_str().unwrap().len(), 16, "{line}");
    assert_eq!(line["trace_flags"], "01", "{line}");
    assert_eq!(line["level"], "INFO");
}

/// Waits until the collector's debug log (`received`) shows every metric in `names`
/// after a resource named `service` (each test process has its own service name).
async fn wait_for_metrics(received: &str, service: &str, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(received).unwrap_or_default();
        let after = log.split(service).skip(1).collect::<Vec<_>>().join("");
        if names.iter().all(|m| after.contains(m)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{service}'s metrics {names:?} not received; the collector logged:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn served_requests_are_traced_and_metrics_pass_promtool() {
    let promtool = test_env("LOGLENS_TEST_PROMTOOL");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut child = loglens()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--logs",
            "examples/cart-redis-incident",
        ])
        .args([
            "--model-url",
            &model_url(),
            "--model",
            "SmolLM2-135M-Instruct",
        ])
        .args([
            "--database-url",
            &db,
            "--max-steps",
            "0",
            "--evidence-tokens",
            "400",
            "--model-timeout",
            "900",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    // Read stderr to the end on a thread (a full pipe would stall the server); the first
    // thing wanted from it is where the server listens.
    // What the server logged, for a failure's message.
    let logged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let logged = logged.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("loglens API listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
                if let Ok(mut l) = logged.lock() {
                    l.push(line);
                }
            }
        });
    }
    let server_log = || logged.lock().map(|l| l.join("\n")).unwrap_or_default();
    let base = rx.recv_timeout(Duration::from_secs(60)).ok();
    let base = base.expect("the server says where it listens");
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/v1/analyze"))
        .json(&serde_json::json!({"query": QUESTION}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = client
        .post(format!("{base}/v1/analyze"))
        .json(&serde_json::json!({"query": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "an empty question is refused");
    // A streamed answer is one trace: the request's span, the run under it (created inside
    // the stream task, so it outlives the handler), kept in the database.
    // Read as it arrives, with a bound: a run that stops mid-way fails the test with
    // the events it sent and what the server logged, instead of holding the suite.
    let mut response = client
        .post(format!("{base}/v1/analyze/stream"))
        .json(&serde_json::json!({"query": QUESTION}))
        .send()
        .await
        .unwrap();
    let mut body = String::new();
    let read = tokio::time::timeout(Duration::from_secs(600), async {
        while let Some(chunk) = response.chunk().await.unwrap() {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the streamed answer did not end within 600 s; it sent:\n{body}\nthe server logged:\n{}",
        server_log()
    );
    let result: Value = body
        .split("\n\n")
        .filter(|b| b.contains("event: result"))
        .find_map(|b| b.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .unwrap_or_else(|| {
            panic!(
                "no result event in:\n{body}\nthe server logged:\n{}",
                server_log()
            )
        });
    let trace_id = result["trace_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let spans: Vec<Value> = loop {
        let out = loglens()
            .args(["trace", &trace_id, "--json", "--database-url", &db])
            .output()
            .unwrap();
        if out.status.success() {
            let spans: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            if spans.iter().any(|s| s["name"] == "POST /v1/analyze/stream")
                && spans.iter().any(|s| s["name"] == "invoke_agent loglens")
            {
                break spans;
            }
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} incomplete in the database"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let request = spans
        .iter()
        .find(|s| s["name"] == "POST /v1/analyze/stream")
        .unwrap();
    assert_eq!(request["kind"], "server");
    assert_eq!(request["parent_span_id"], Value::Null);
    assert_eq!(request["attributes"]["http.route"], "/v1/analyze/stream");
    let run = spans
        .iter()
        .find(|s| s["name"] == "invoke_agent loglens")
        .unwrap();
    assert_eq!(run["parent_span_id"], request["span_id"]);
    assert_eq!(run["attributes"]["loglens.channel"], "http-stream");
    assert!(
        spans
            .iter()
            .any(|s| s["name"].as_str().unwrap().starts_with("chat ")),
        "model calls in the streamed run's trace"
    );
    // Probes and scrapes are not traced (only counted).
    assert!(
        !spans
            .iter()
            .any(|s| s["name"].as_str().unwrap().contains("/metrics"))
    );

    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let path = dir.path().join("metrics.txt");
    std::fs::write(&path, &text).unwrap();
    let out = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "loglens_http_requests_total{",
        "http_route=\"/v1/analyze\"",
        "http_response_status_code=\"422\"",
        "loglens_analyses_total{",
        "loglens_analyses_in_flight",
        "gen_ai_client_operation_duration_seconds_bucket{",
        "gen_ai_client_token_usage_bucket{",
        "loglens_retrieval_requests_total{",
        "loglens_evidence_lines_total{",
    ] {
        assert!(text.contains(want), "{want} missing from /metrics:\n{text}");
    }
    dashboards_query_only_exported_metrics(&text);
    drop(server);
}

/// Every metric the Grafana dashboards in `k8s/dashboards/` chart is one loglens exports:
/// in this server's `/metrics`, or one that only other runs produce.
fn dashboards_query_only_exported_metrics(metrics: &str) {
    // Not in this test's /metrics: no tool rounds were allowed, and the eval pushes its
    // gauges over OTLP.
    let elsewhere = [
        "loglens_tool_calls_total",
        "log_extraction_accuracy",
        "log_retrieval_precision",
        "router_accuracy",
        "loglens_eval_case_duration_seconds_bucket",
    ];
    let name = regex::Regex::new(r"\b((?:loglens|gen_ai|log|router)_[a-z0-9_]+)\b").unwrap();
    let labels = regex::Regex::new(r"by \([^)]*\)|\{[^}]*\}").unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s/dashboards");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let dash: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        for panel in dash["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                if target["datasource"]["type"] != "prometheus" {
                    continue;
                }
                // Label names (in `by (...)` and `{...}`) are not metrics.
                let expr = labels.replace_all(target["expr"].as_str().unwrap(), "");
                for m in name.captures_iter(&expr) {
                    let metric = &m[1];
                    checked += 1;
                    assert!(
                        metrics.contains(&format!("\n{metric}")) || elsewhere.contains(&metric),
                        "{} panel {:?} charts {metric}, which loglens does not export",
                        path.display(),
                        panel["title"]
                    );
                }
            }
        }
    }
    assert!(checked >= 15, "only {checked} metric references found");
}
