//! The Loki client and `LokiLogSource` against a real Loki-API server (qryn, started by
//! `scripts/test.sh`: `LOGLENS_TEST_LOKI_URL`), including parity with the file source.
//! Faults a real server cannot be made to produce on demand (429s, 5xx, hangs) use a
//! scripted HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{loki_url, unique, wait_for, wait_for_lines};
use loglens_tools::logs::loki::{
    Direction, LokiClient, LokiConfig, LokiError, LokiLogSource, LokiStream, PushFormat,
};
use loglens_tools::logs::{FileLogSource, LogFilter, LogLine, LogSource, logql};

fn client(url: &str) -> LokiClient {
    LokiClient::new(LokiConfig {
        url: url.into(),
        backoff: Duration::from_millis(20),
        ..LokiConfig::default()
    })
    .unwrap()
}

/// A client that pushes JSON instead of protobuf.
fn json_client(url: &str) -> LokiClient {
    LokiClient::new(LokiConfig {
        url: url.into(),
        backoff: Duration::from_millis(20),
        push_format: PushFormat::Json,
        ..LokiConfig::default()
    })
    .unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn every_client_call_round_trips() {
    let c = client(&loki_url());
    let ns = unique("rt");
    let t0 = Utc::now().timestamp_nanos_opt().unwrap() - 10_000_000_000;
    let api = LokiStream {
        labels: labels(&[("namespace", &ns), ("pod", "api-1"), ("container", "api")]),
        entries: vec![
            (t0, "level=info msg=\"started\"".into()),
            (
                t0 + 1_000_000_000,
                "level=error msg=\"db timeout\" status=503".into(),
            ),
        ],
    };
    let db = LokiStream {
        labels: labels(&[("namespace", &ns), ("pod", "db-1"), ("container", "db")]),
        entries: vec![(t0 + 2_000_000_000, "FATAL: too many connections".into())],
    };
    // One stream as protobuf (the default), one as JSON: both encodings reach a real server.
    c.push(&[api]).await.unwrap();
    json_client(&loki_url()).push(&[db]).await.unwrap();
    let selector = format!("{{namespace=\"{ns}\"}}");
    wait_for(&c, &selector, 3).await;
    let (start, end) = (
        Utc::now() - chrono::Duration::hours(1),
        Utc::now() + chrono::Duration::minutes(1),
    );

    let fwd = c
        .query_range(&selector, start, end, 100, Direction::Forward)
        .await
        .unwrap();
    let mut all: Vec<(i64, String)> = fwd.iter().flat_map(|s| s.entries.clone()).collect();
    all.sort();
    assert_eq!(
        all.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
        [
            "level=info msg=\"started\"",
            "level=error msg=\"db timeout\" status=503",
            "FATAL: too many connections"
        ]
    );
    assert_eq!(all[0].0, t0, "timestamps keep nanosecond precision");

    let newest = c
        .query_range(&selector, start, end, 1, Direction::Backward)
        .await
        .unwrap();
    let newest: Vec<&str> = newest
        .iter()
        .flat_map(|s| s.entries.iter().map(|(_, l)| l.as_str()))
        .collect();
    assert_eq!(newest, ["FATAL: too many connections"]);

    let parsed = c
        .query_range(
            &format!("{selector} | logfmt | status >= 500"),
            start,
            end,
            100,
            Direction::Forward,
        )
        .await
        .unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(
        parsed[0].labels.get("msg").map(String::as_str),
        Some("db timeout")
    );

    let names = c.labels(start, end).await.unwrap();
    assert!(
        names.contains(&"namespace".to_string()) && names.contains(&"pod".to_string()),
        "{names:?}"
    );
    let pods = c.label_values("pod", start, end).await.unwrap();
    assert!(
        pods.contains(&"api-1".to_string()) && pods.contains(&"db-1".to_string()),
        "{pods:?}"
    );
    let series = c.series(&[&selector], start, end).await.unwrap();
    assert_eq!(series.len(), 2, "{series:?}");

    // Instant log query and patterns: answered, or (patterns) reported as unsupported.
    let instant = c.query(&selector, Utc::now(), 100).await;
    assert!(instant.is_ok(), "{instant:?}");
    let patterns = c.patterns(&selector, start, end).await;
    assert!(patterns.is_ok(), "{patterns:?}");
}

#[tokio::test]
async fn bad_queries_are_clear_errors() {
    let c = client(&loki_url());
    let (start, end) = (Utc::now() - chrono::Duration::hours(1), Utc::now());
    let err = c
        .query_range("{namespace=", start, end, 10, Direction::Backward)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LokiError::BadQuery(_) | LokiError::Http { .. }),
        "{err:?}"
    );
    let err = c.label_values("bad name", start, end).await.unwrap_err();
    assert!(matches!(err, LokiError::BadQuery(_)), "{err:?}");
}

/// The same lines, the same filters: the file source and Loki answer the same.
#[tokio::test]
async fn file_source_and_loki_agree() {
    let c = client(&loki_url());
    let ns = unique("par");
    let base =
        Utc::now().timestamp_nanos_opt().unwrap() / 1_000_000_000 * 1_000_000_000 - 60_000_000_000;
    let rows: Vec<(&str, &str, &str)> = vec![
        (
            "checkout-7d9f-a1",
            "checkout",
            r#"{"level":"info","msg":"order placed","status":200}"#,
        ),
        (
            "checkout-7d9f-a1",
            "checkout",
            r#"{"level":"error","msg":"payment failed","status":502}"#,
        ),
        (
            "checkout-7d9f-a1",
            "istio-proxy",
            "[warn] upstream connect error or disconnect/reset before headers",
        ),
        (
            "payments-55c-b2",
            "payments",
            "ERROR pq: too many clients already",
        ),
        ("payments-55c-b2", "payments", "INFO healthz ok"),
        ("checkoutv2-1", "checkout", "FATAL panic: nil map"),
        (
            "worker-6f-c3",
            "worker",
            r#"level=error msg="job timed out" job=reindex duration_ms=1200"#,
        ),
        (
            "worker-6f-c3",
            "worker",
            r#"level=info msg="job done" job=thumbs duration_ms=80"#,
        ),
    ];
    let mut jsonl = String::new();
    let mut streams: BTreeMap<(String, String), Vec<(i64, String)>> = BTreeMap::new();
    for (i, (pod, container, line)) in rows.iter().enumerate() {
        let ts = base + i as i64 * 1_000_000_000;
        let time = Utc.timestamp_nanos(ts).to_rfc3339();
        jsonl.push_str(&serde_json::json!({"timestamp": time, "labels": {"namespace": ns, "pod": pod, "container": container}, "line": line}).to_string());
        jsonl.push('\n');
        streams
            .entry((pod.to_string(), container.to_string()))
            .or_default()
            .push((ts, line.to_string()));
    }
    let push: Vec<LokiStream> = streams
        .into_iter()
        .map(|((pod, container), entries)| LokiStream {
            labels: labels(&[("namespace", &ns), ("pod", &pod), ("container", &container)]),
            entries,
        })
        .collect();
    c.push(&push).await.unwrap();
    wait_for(&c, &format!("{{namespace=\"{ns}\"}}"), rows.len()).await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("logs.jsonl"), jsonl).unwrap();
    let files = FileLogSource::new(vec![dir.path().to_path_buf()]);
    let loki = LokiLogSource::new(c);

    let q = |s: &str| Some(Arc::new(logql::parse(s).unwrap()));
    let filters = vec![
        (
            "namespace + error filter",
            LogFilter {
                namespace: Some(ns.clone()),
                ..LogFilter::errors()
            },
        ),
        (
            "workload name",
            LogFilter {
                namespace: Some(ns.clone()),
                pod: Some("checkout".into()),
                ..LogFilter::default()
            },
        ),
        (
            "container",
            LogFilter {
                namespace: Some(ns.clone()),
                container: Some("payments".into()),
                ..LogFilter::default()
            },
        ),
        (
            "logql line filters",
            LogFilter {
                logql: q(&format!(
                    r#"{{namespace="{ns}"}} |~ "(?i)error|fatal" != "pq""#
                )),
                ..LogFilter::default()
            },
        ),
        (
            "logql json + label filter",
            LogFilter {
                logql: q(&format!(
                    r#"{{namespace="{ns}", container="checkout"}} | json | status >= 500"#
                )),
                ..LogFilter::default()
            },
        ),
        (
            "logql json + line_format",
            LogFilter {
                logql: q(&format!(
                    r#"{{namespace="{ns}", pod=~"checkout-7d9f.*", container="checkout"}} | json | line_format "{{{{.level}}}}: {{{{ .msg }}}} ({{{{.status}}}})""#
                )),
                ..LogFilter::default()
            },
        ),
        (
            "logql logfmt + numeric filter + line_format",
            LogFilter {
                logql: q(&format!(
                    r#"{{namespace="{ns}", container="worker"}} | logfmt | duration_ms > 1000 | line_format "{{{{.job}}}} took {{{{.duration_ms}}}}ms""#
                )),
                ..LogFilter::default()
            },
        ),
        (
            "logql logfmt + string filter",
            LogFilter {
                logql: q(&format!(
                    r#"{{namespace="{ns}"}} | logfmt | level="info" | job=~"th.*""#
                )),
                ..LogFilter::default()
            },
        ),
        (
            "logql regex selector",
            LogFilter {
                logql: q(&format!(
                    r#"{{namespace="{ns}", pod=~"payments-.*"}} |= "healthz""#
                )),
                ..LogFilter::default()
            },
        ),
    ];
    let key = |lines: Vec<LogLine>| -> Vec<(i64, String)> {
        lines
            .into_iter()
            .map(|l| (l.timestamp.unwrap().timestamp_nanos_opt().unwrap(), l.text))
            .collect()
    };
    for (name, f) in filters {
        let from_files = key(files.query(&f).await.unwrap());
        let from_loki = key(loki.query(&f).await.unwrap());
        assert!(
            !from_files.is_empty(),
            "{name}: the case must select something"
        );
        assert_eq!(from_files, from_loki, "{name}");
    }
}

#[tokio::test]
async fn label_names_are_discovered_not_guessed() {
    let c = client(&loki_url());
    let ns = unique("disc");
    let t = Utc::now().timestamp_nanos_opt().unwrap() - 5_000_000_000;
    // Two shippers, two conventions, one store: a stream labelled the other way must not
    // make the discovery pick the wrong name.
    let other = format!("{ns}x");
    c.push(&[
        LokiStream {
            labels: labels(&[("k8s_namespace_name", &ns), ("pod_name", "web-6f-x")]),
            entries: vec![(t, "error: boom".into())],
        },
        LokiStream {
            labels: labels(&[("namespace", &other), ("pod", "web-1")]),
            entries: vec![(t, "error: other".into())],
        },
    ])
    .await
    .unwrap();
    wait_for(&c, &format!("{{k8s_namespace_name=\"{ns}\"}}"), 1).await;
    wait_for(&c, &format!("{{namespace=\"{other}\"}}"), 1).await;
    let source = LokiLogSource::new(c);
    let lines = source
        .query(&LogFilter {
            namespace: Some(ns.clone()),
            pod: Some("web".into()),
            ..LogFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0].label("pod"),
        Some("web-6f-x"),
        "labels come back under canonical names"
    );
    assert_eq!(lines[0].label("namespace"), Some(ns.as_str()));
}

/// A scripted server for the faults: answers with `statuses` in order (then 200 `{}`),
/// or hangs when the status is 0.
async fn scripted(statuses: Vec<u16>) -> (String, Arc<AtomicUsize>) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        let statuses = statuses.clone();
        async move {
            let i = counter.fetch_add(1, Ordering::SeqCst);
            match statuses.get(i).copied() {
                Some(0) => {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    StatusCode::OK.into_response()
                }
                Some(429) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "0")],
                    "slow down",
                )
                    .into_response(),
                Some(s) => (StatusCode::from_u16(s).unwrap(), "scripted failure").into_response(),
                None => axum::Json(serde_json::json!({"status":"success","data":["namespace"]}))
                    .into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[tokio::test]
async fn fault_5xx_and_429_are_retried_then_reported() {
    let (url, calls) = scripted(vec![503, 502]).await;
    let (start, end) = (Utc::now() - chrono::Duration::hours(1), Utc::now());
    assert_eq!(
        client(&url).labels(start, end).await.unwrap(),
        ["namespace"]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let (url, calls) = scripted(vec![429; 10]).await;
    let err = client(&url).labels(start, end).await.unwrap_err();
    assert!(
        matches!(err, LokiError::RateLimited { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4, "3 retries, then the error");

    let (url, _) = scripted(vec![500; 10]).await;
    let err = client(&url).labels(start, end).await.unwrap_err();
    assert!(
        matches!(err, LokiError::Http { status: 500, .. }) && err.retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn fault_timeouts_and_dead_servers() {
    let (url, _) = scripted(vec![0]).await;
    let c = LokiClient::new(LokiConfig {
        url,
        timeout: Duration::from_millis(300),
        ..LokiConfig::default()
    })
    .unwrap();
    let err = c
        .labels(Utc::now() - chrono::Duration::hours(1), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, LokiError::Timeout(_)), "{err:?}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client(&format!("http://127.0.0.1:{port}"))
        .labels(Utc::now() - chrono::Duration::hours(1), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, LokiError::Unavailable { .. }), "{err:?}");
}

/// A push endpoint that fails the pushes numbered in `fail` (0-based) with a 500 and
/// records the entries of every push it accepts.
async fn recording_push_server(
    fail: Vec<usize>,
) -> (String, Arc<std::sync::Mutex<Vec<(String, String, String)>>>) {
    use axum::http::StatusCode;
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let store = accepted.clone();
    let app = axum::Router::new().route(
        "/loki/api/v1/push",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let store = store.clone();
            let calls = calls.clone();
            let fail = fail.clone();
            async move {
                let i = calls.fetch_add(1, Ordering::SeqCst);
                if fail.contains(&i) {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                for s in body["streams"].as_array().unwrap() {
                    for v in s["values"].as_array().unwrap() {
                        store.lock().unwrap().push((
                            s["stream"].to_string(),
                            v[0].as_str().unwrap().to_string(),
                            v[1].as_str().unwrap().to_string(),
                        ));
                    }
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, accepted)
}

#[tokio::test]
async fn fault_ingest_resumes_after_a_failed_push_without_duplicates() {
    use loglens_tools::logs::ingest::{Ingest, IngestError};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // 25 lines, no timestamps, many identical: the hardest case for de-duplication.
    let text: String = (0..25)
        .map(|i| {
            if i % 3 == 0 {
                "ERROR same message\n".to_string()
            } else {
                format!("line {i}\n")
            }
        })
        .collect();
    std::fs::write(&log, text).unwrap();
    let checkpoint = dir.path().join("cp.json");

    // Batches of 10: the second batch's push fails on every retry (calls 1-4).
    let (url, accepted) = recording_push_server(vec![1, 2, 3, 4]).await;
    let ingest =
        |url: &str| Ingest::new(json_client(url), None, checkpoint.clone()).with_batch_lines(10);
    let err = ingest(&url)
        .run(std::slice::from_ref(&log), |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::Push { pushed: 10, .. }), "{err}");
    assert_eq!(accepted.lock().unwrap().len(), 10);

    // Run again: it continues after the first batch.
    let report = ingest(&url)
        .run(std::slice::from_ref(&log), |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (report.pushed, report.already_pushed, report.batches),
        (15, 10, 2)
    );
    let got = accepted.lock().unwrap().clone();
    assert_eq!(got.len(), 25, "every line exactly once");
    let unique: std::collections::BTreeSet<_> = got.iter().collect();
    assert_eq!(
        unique.len(),
        25,
        "no two entries collide in Loki's (stream, time, line) identity"
    );

    // A third run has nothing to do.
    let report = ingest(&url).run(&[log], |_, _| {}).await.unwrap();
    assert_eq!((report.pushed, report.already_pushed), (0, 25));
}

#[tokio::test]
async fn ingest_cuts_a_10_mb_line_and_keeps_non_utf8_lines() {
    use loglens_tools::logs::ingest::{DEFAULT_MAX_LINE_BYTES, Ingest};
    let c = client(&loki_url());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let mut content = b"2025-03-01T10:00:00Z ERROR dump: ".to_vec();
    content.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    content.extend_from_slice(b"\n2025-03-01T10:00:01Z bytes \xff\xfe here\n");
    std::fs::write(&log, content).unwrap();
    let run = unique("big");
    let report = Ingest::new(c.clone(), None, dir.path().join("cp.json"))
        .with_labels([("run".to_string(), run.clone())].into())
        .run(std::slice::from_ref(&log), |_, _| {})
        .await
        .unwrap();
    assert_eq!((report.pushed, report.truncated), (2, 1));
    let selector = format!("{{run=\"{run}\"}}");
    let start = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
    let lines = wait_for_lines(&c, &selector, start, start + chrono::Duration::days(1), 2).await;
    assert_eq!(lines.len(), 2);
    // The cap applies to the line as read, timestamp prefix included.
    assert_eq!(
        lines[0].1.len(),
        DEFAULT_MAX_LINE_BYTES - "2025-03-01T10:00:00Z ".len()
    );
    assert_eq!(lines[1].1, "bytes \u{FFFD}\u{FFFD} here");
}
