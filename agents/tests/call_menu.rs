//! The call menu against the real tools over real files: every call its schema lets a
//! model write runs and returns something, none is refused or fails, and once each has
//! been made nothing is left to ask.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use loglens_agents::AgentPipeline;
use loglens_agents::evidence::SignatureLibrary;
use loglens_agents::evidence::collect::{LineBudget, collect};
use loglens_agents::llm::{LlmClient, LlmConfig};
use loglens_agents::pipeline::PipelineConfig;
use loglens_agents::specialist::Role;
use loglens_agents::toolbox::CallStatus;
use loglens_tools::k8s::{EventFilter, EventSource, FileEventSource};
use loglens_tools::logs::{FileLogSource, LogFilter, LogSource};
use serde_json::{Value, json};

fn line(time: &str, app: &str, text: &str) -> String {
    json!({
        "timestamp": format!("2024-11-02T{time}Z"),
        "labels": {"namespace": "shop", "app": app, "pod": format!("{app}-6c9d7b8f4-x2k9p")},
        "line": text,
    })
    .to_string()
}

const EVENTS: &str = r#"{"apiVersion":"v1","kind":"List","items":[
 {"involvedObject":{"kind":"Pod","name":"cart-6c9d7b8f4-x2k9p","namespace":"shop"},"type":"Warning","reason":"BackOff","message":"Back-off restarting failed container cart","count":7,"lastTimestamp":"2024-11-02T08:15:00Z","source":{"component":"kubelet"}},
 {"kind":"Pod","metadata":{"name":"cart-6c9d7b8f4-x2k9p","namespace":"shop","labels":{"app":"cart"}},"spec":{"nodeName":"node-a","containers":[{"name":"cart"}]},"status":{"phase":"Running","containerStatuses":[{"name":"cart","ready":false,"restartCount":7,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}
]}"#;

#[tokio::test]
async fn every_call_the_menu_allows_runs_and_none_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("shop.jsonl");
    let text = [
        line("08:14:00", "cart", "starting cart on :7070"),
        line("08:14:30", "cart", "ERROR dial tcp redis:6379: i/o timeout"),
        line(
            "08:14:31",
            "web",
            "ERROR GET /cart 503 upstream cart unavailable",
        ),
        line(
            "08:14:40",
            "web",
            "ERROR GET /cart 503 upstream cart unavailable",
        ),
        line("08:15:10", "cart", "ERROR dial tcp redis:6379: i/o timeout"),
    ]
    .join("\n");
    std::fs::write(&logs, text + "\n").unwrap();
    let events_path = dir.path().join("events.json");
    std::fs::write(&events_path, EVENTS).unwrap();
    let source: Arc<dyn LogSource> = Arc::new(FileLogSource::new(vec![logs]));
    let events: Arc<dyn EventSource> = Arc::new(FileEventSource::new(vec![events_path]));

    // The evidence the specialists would read: these logs were written two years before
    // the test runs, so a tool's default range ("the last hour") would find nothing.
    let lines = source.query(&LogFilter::default()).await.unwrap();
    let found = events.events(&EventFilter::default()).await.unwrap();
    let library = SignatureLibrary::builtin().unwrap();
    let budget = LineBudget {
        max_lines: 50,
        max_tokens: 4000,
        max_line_chars: 400,
    };
    let evidence = collect(&lines, &found, &library, &budget);
    let mut menu = evidence.menu.clone();

    // No model: the toolbox is the infra specialist's (all four tools).
    let llm = LlmClient::new(LlmConfig {
        base_url: "http://127.0.0.1:9".into(),
        ..LlmConfig::default()
    })
    .unwrap();
    let pipeline = AgentPipeline::new(
        source,
        Some(events),
        llm,
        Arc::new(library),
        PipelineConfig::default(),
    );
    let toolbox = pipeline.toolbox(Role::Infra);
    let mut seen = HashSet::new();
    let mut step = 0;
    let mut made = 0;
    // Each step: every call the schema allows now (each tool, each choice left), twice
    // over, as a model might write them.
    while let Some(schema) = toolbox.step_schema(&menu, 100) {
        step += 1;
        assert!(step <= 3, "the menu never ran out: {schema}");
        let validator = jsonschema::validator_for(&schema).unwrap();
        let mut calls: Vec<Value> = Vec::new();
        for variant in schema["properties"]["calls"]["items"]["oneOf"]
            .as_array()
            .unwrap()
        {
            let tool = variant["properties"]["tool"]["const"].as_str().unwrap();
            let args = &variant["properties"]["arguments"]["properties"];
            let (key, choices) = if tool == "k8s_events" || tool == "k8s_state" {
                ("object", args["object"]["enum"].as_array().unwrap())
            } else {
                ("stream", args["stream"]["enum"].as_array().unwrap())
            };
            for c in choices {
                let mut a = json!({ key: c });
                if tool == "query_logs" {
                    a["contains"] = json!("ERROR");
                }
                calls.push(json!({"tool": tool, "arguments": a}));
            }
        }
        assert!(validator.is_valid(&json!({ "calls": calls })));
        calls.extend(calls.clone());
        let requested = menu.take(&calls);
        assert_eq!(requested.len() * 2, calls.len(), "each call once");
        let records = toolbox.run_step("infra", step, &requested, &mut seen).await;
        for r in &records {
            assert_eq!(r.status, CallStatus::Ok, "{r:?}");
            let out = r.output.as_ref().unwrap();
            let n = ["lines", "patterns", "events", "objects"]
                .iter()
                .find_map(|k| out[*k].as_array().map(Vec::len))
                .unwrap_or(0);
            assert!(n > 0, "{} {} found nothing: {out}", r.tool, r.arguments);
        }
        made += records.len();
    }
    assert_eq!(step, 1, "every choice was asked in the first step");
    // namespace, two apps and two pods, for two log tools; the object of the event, for
    // the events and the state.
    assert_eq!(made, 12, "{made} calls");
    assert!(toolbox.describe_menu(&menu).is_empty());
}
