//! `FileLogSource` over a folder of mixed real-world formats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use loglens_tools::ToolError;
use loglens_tools::logs::{FileLogSource, LogFilter, LogSource, logql};

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// A folder as a user would collect it during an incident.
fn incident_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // Loki query_range export.
    write(
        dir.path(),
        "loki/export.json",
        br#"{"status":"success","data":{"resultType":"streams","result":[
          {"stream":{"namespace":"shop","pod":"checkout-6d4f-abc12","container":"checkout"},
           "values":[["1740823262000000000","ERROR payment call failed: 503"],["1740823200000000000","INFO started"]]}]}}"#,
    );
    // kubectl logs --timestamps, with a stack trace whose lines carry no time.
    write(
        dir.path(),
        "var/log/pods/shop_payments-7c9d-x1_0a1b2c/payments/0.log",
        b"2025-03-01T10:01:00.000000000Z stderr F Exception in thread main: pool exhausted\n\
          2025-03-01T10:01:00.000000000Z stderr F \tat db.Pool.get(Pool.java:42)\n",
    );
    write(
        dir.path(),
        "payments-kubectl.log",
        b"2025-03-01T10:00:30Z ERROR first failure\n    at com.shop.Charge(Charge.java:7)\nnot utf8 here: \xff\xfe FAILED\n",
    );
    // JSON lines in the envelope format, one malformed line, one line of app JSON.
    write(
        dir.path(),
        "app.jsonl",
        b"{\"timestamp\":\"2025-03-01T10:02:00Z\",\"labels\":{\"namespace\":\"shop\",\"pod_name\":\"cart-1\"},\"line\":\"WARN slow redis 900ms\"}\n\
          {\"timestamp\": broken json with error\n\
          {\"level\":\"error\",\"msg\":\"panic: nil map\",\"ts\":1740823330,\"namespace\":\"ops\"}\n",
    );
    write(
        dir.path(),
        "NOTES.md",
        b"error: this is not a log file and is skipped",
    );
    dir
}

#[tokio::test]
async fn reads_every_format_in_time_order() {
    let dir = incident_dir();
    let source = FileLogSource::new(vec![dir.path().to_path_buf()]);
    let lines = source.query(&LogFilter::default()).await.unwrap();
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(lines.len(), 10, "{texts:#?}");
    // The malformed JSON line has no time: it sorts first, kept as plain text.
    assert_eq!(texts[0], "{\"timestamp\": broken json with error");
    assert!(
        !texts.iter().any(|t| t.contains("not a log file")),
        "only log files are read from folders"
    );
    // Times are non-decreasing after the untimed line.
    let times: Vec<_> = lines.iter().skip(1).map(|l| l.timestamp.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // The stack-trace line inherits its stream's time; non-UTF-8 bytes are replaced, not fatal.
    let trace = lines
        .iter()
        .find(|l| l.text.contains("Charge.java"))
        .unwrap();
    assert_eq!(
        trace.timestamp,
        Some(Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 30).unwrap())
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains('\u{FFFD}') && t.contains("FAILED"))
    );
    // Labels: from the kubelet path, from Loki's stream, from aliases in JSON.
    let pool = lines
        .iter()
        .find(|l| l.text.contains("pool exhausted"))
        .unwrap();
    assert_eq!(
        (
            pool.label("namespace"),
            pool.label("pod"),
            pool.label("container")
        ),
        (Some("shop"), Some("payments-7c9d-x1"), Some("payments"))
    );
    assert_eq!(pool.label("stream"), Some("stderr"));
    let redis = lines
        .iter()
        .find(|l| l.text.contains("slow redis"))
        .unwrap();
    assert_eq!(redis.label("pod"), Some("cart-1"));
    let export = lines.iter().find(|l| l.text.contains("503")).unwrap();
    assert_eq!(
        export.source,
        dir.path().join("loki/export.json").display().to_string()
    );
    assert_eq!(
        export.line_no, 1,
        "export entries are numbered in file order"
    );
}

#[tokio::test]
async fn filters_by_labels_time_and_text() {
    let dir = incident_dir();
    let source = FileLogSource::new(vec![dir.path().to_path_buf()]);

    let shop_errors = source
        .query(&LogFilter {
            namespace: Some("shop".into()),
            ..LogFilter::errors()
        })
        .await
        .unwrap();
    let texts: Vec<&str> = shop_errors.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "Exception in thread main: pool exhausted",
            "ERROR payment call failed: 503",
            "WARN slow redis 900ms"
        ]
    );

    let payments = source
        .query(&LogFilter {
            pod: Some("payments".into()),
            ..LogFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        payments.len(),
        2,
        "workload name matches its pod; the plain file has no pod label"
    );

    let window = LogFilter {
        start: Some(Utc.with_ymd_and_hms(2025, 3, 1, 10, 1, 0).unwrap()),
        end: Some(Utc.with_ymd_and_hms(2025, 3, 1, 10, 2, 0).unwrap()),
        ..LogFilter::default()
    };
    let in_window = source.query(&window).await.unwrap();
    let texts: Vec<&str> = in_window.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "Exception in thread main: pool exhausted",
            "\tat db.Pool.get(Pool.java:42)",
            "ERROR payment call failed: 503"
        ]
    );
}

#[tokio::test]
async fn evaluates_logql_over_files() {
    let dir = incident_dir();
    let source = FileLogSource::new(vec![dir.path().to_path_buf()]);
    let query = logql::parse(r#"{namespace="shop", pod=~"(checkout|payments)-.*"} |~ "(?i)error|exception" != "started" | line_format "{{.pod}}: {{__line__}}""#).unwrap();
    let filter = LogFilter {
        logql: Some(Arc::new(query)),
        ..LogFilter::default()
    };
    let texts: Vec<String> = source
        .query(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(
        texts,
        vec![
            "payments-7c9d-x1: Exception in thread main: pool exhausted",
            "checkout-6d4f-abc12: ERROR payment call failed: 503"
        ]
    );

    let query =
        logql::parse(r#"{namespace="ops"} | json | level="error" | line_format "{{.msg}}""#)
            .unwrap();
    let filter = LogFilter {
        logql: Some(Arc::new(query)),
        ..LogFilter::default()
    };
    let lines = source.query(&filter).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].text, "panic: nil map");
    assert_eq!(
        lines[0].label("namespace_extracted"),
        Some("ops"),
        "json's namespace clashes with the stream label"
    );
}

#[tokio::test]
async fn bad_paths_and_exports_are_clear_errors() {
    let missing = FileLogSource::new(vec!["/no/such/logs".into()]);
    let err = missing.query(&LogFilter::default()).await.unwrap_err();
    assert!(matches!(err, ToolError::NotFound(_)), "{err}");

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "matrix.json",
        br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
    );
    let err = FileLogSource::new(vec![dir.path().join("matrix.json")])
        .query(&LogFilter::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("streams"), "{err}");

    let reversed = LogFilter {
        start: Some(Utc.with_ymd_and_hms(2025, 3, 1, 11, 0, 0).unwrap()),
        end: Some(Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap()),
        ..LogFilter::default()
    };
    let err = FileLogSource::new(vec![dir.path().to_path_buf()])
        .query(&reversed)
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidFilter(_)));
}

#[tokio::test]
async fn over_long_lines_are_capped_with_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut content = vec![b'x'; 3 * 1024 * 1024];
    content.extend_from_slice(b"\nnext line\n");
    write(dir.path(), "big.log", &content);
    let source = FileLogSource::new(vec![dir.path().join("big.log")]).with_max_line_bytes(1024);
    let lines = source.query(&LogFilter::default()).await.unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].text.len(), 1024);
    assert_eq!(lines[0].truncated_bytes, 3 * 1024 * 1024 - 1024);
    assert_eq!((lines[1].text.as_str(), lines[1].line_no), ("next line", 2));
}
