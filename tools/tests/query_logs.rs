//! The `query_logs` tool over the file source and over a real Loki-API server
//! (`LOGLENS_TEST_LOKI_URL`, started by `scripts/test.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use common::{loki_client, unique, wait_for};
use loglens_tools::ToolError;
use loglens_tools::logs::loki::{LokiLogSource, LokiStream};
use loglens_tools::logs::{FileLogSource, LogSource};
use loglens_tools::query_logs::{QueryLogs, QueryLogsArgs};
use loglens_tools::tool::Tool;
use serde_json::json;

fn args(query: &str) -> QueryLogsArgs {
    QueryLogsArgs {
        query: query.into(),
        since: Some("2h".into()),
        start: None,
        end: None,
        limit: None,
    }
}

/// Recent lines in a file, so the default one-hour window finds them.
fn file_source(dir: &tempfile::TempDir) -> Arc<dyn LogSource> {
    let now = Utc::now();
    let mut s = String::new();
    for (i, (pod, line)) in [
        ("api-1", "INFO ready"),
        ("api-1", "ERROR upstream timeout password=hunter2"),
        ("db-1", "FATAL disk full"),
    ]
    .iter()
    .enumerate()
    {
        let t = (now - chrono::Duration::minutes(30 - i as i64)).to_rfc3339();
        s.push_str(
            &json!({"timestamp": t, "labels": {"namespace": "shop", "pod": pod}, "line": line})
                .to_string(),
        );
        s.push('\n');
    }
    std::fs::write(dir.path().join("l.jsonl"), s).unwrap();
    Arc::new(FileLogSource::new(vec![dir.path().to_path_buf()]))
}

fn invalid(r: Result<impl std::fmt::Debug, ToolError>) -> String {
    match r {
        Err(ToolError::InvalidQuery(m)) => m,
        other => panic!("expected InvalidQuery, got {other:?}"),
    }
}

#[tokio::test]
async fn runs_valid_queries_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let tool = QueryLogs::new(file_source(&dir));
    let out = tool
        .call(args(r#"{namespace="shop"} |~ "ERROR|FATAL""#))
        .await
        .unwrap();
    let lines: Vec<&str> = out.lines.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "ERROR upstream timeout password=[REDACTED]",
            "FATAL disk full"
        ]
    );
    assert_eq!(out.omitted, 0);

    let out = tool
        .call(QueryLogsArgs {
            limit: Some(1),
            ..args(r#"{namespace="shop"}"#)
        })
        .await
        .unwrap();
    assert_eq!((out.lines.len(), out.omitted), (1, 2));
    assert_eq!(
        out.lines[0].line, "FATAL disk full",
        "the limit keeps the most recent"
    );
}

#[tokio::test]
async fn bad_queries_get_errors_a_model_can_act_on() {
    let dir = tempfile::tempdir().unwrap();
    let tool = QueryLogs::new(file_source(&dir));
    assert!(invalid(tool.call(args(r#"{namespace="shop" |= "x""#)).await).contains("column"));
    assert!(
        invalid(
            tool.call(args(r#"sum(rate({namespace="shop"}[5m]))"#))
                .await
        )
        .contains("metric queries")
    );
    assert!(
        invalid(tool.call(args(r#"{pod_name="api-1"}"#)).await).contains("Did you mean \"pod\"?")
    );
    let m = invalid(
        tool.call(QueryLogsArgs {
            since: Some("31d".into()),
            ..args(r#"{namespace="shop"}"#)
        })
        .await,
    );
    assert!(m.contains("at most 30 days"), "{m}");
    let m = invalid(
        tool.call(QueryLogsArgs {
            limit: Some(1_000_000),
            ..args(r#"{namespace="shop"}"#)
        })
        .await,
    );
    assert!(m.contains("between 1 and 1000"), "{m}");
    let m = invalid(
        tool.call(QueryLogsArgs {
            start: Some("yesterday".into()),
            ..args(r#"{namespace="shop"}"#)
        })
        .await,
    );
    assert!(m.contains("RFC 3339"), "{m}");
    let m = invalid(
        tool.call_json(json!({"query": "{namespace=\"shop\"}", "rm": "-rf"}))
            .await,
    );
    assert!(m.contains("unknown field"), "{m}");
    // Injected text in a line cannot change what the tool runs: it is data in the output.
    let out = tool
        .call_json(json!({"query": "{namespace=\"shop\"} |= \"disk\""}))
        .await
        .unwrap();
    assert_eq!(out["lines"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn works_against_a_real_loki() {
    let client = loki_client();
    let ns = unique("q");
    let t = Utc::now().timestamp_nanos_opt().unwrap() - 60_000_000_000;
    let labels: BTreeMap<String, String> = [
        ("namespace".to_string(), ns.clone()),
        ("pod".to_string(), "api-1".to_string()),
    ]
    .into();
    client
        .push(&[LokiStream {
            labels,
            entries: vec![
                (t, "level=error msg=\"upstream timeout\" status=504".into()),
                (t + 1, "level=info msg=ok status=200".into()),
            ],
        }])
        .await
        .unwrap();
    let selector = format!("{{namespace=\"{ns}\"}}");
    wait_for(&client, &selector, 2).await;
    let tool = QueryLogs::new(Arc::new(LokiLogSource::new(client)));
    let out = tool
        .call(args(&format!("{selector} | logfmt | status >= 500")))
        .await
        .unwrap();
    assert_eq!(out.lines.len(), 1);
    assert_eq!(
        out.lines[0].labels.get("msg").map(String::as_str),
        Some("upstream timeout")
    );
    let m = invalid(tool.call(args(&format!("{{namespase=\"{ns}\"}}"))).await);
    assert!(m.contains("Did you mean \"namespace\"?"), "{m}");
}
