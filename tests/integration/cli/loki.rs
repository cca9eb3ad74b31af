//! Commands that read and write a real Loki API (qryn, started by scripts/test.sh): ingest, then ask; golden extract.
use super::*;

#[test]
fn ingest_pushes_the_incident_to_loki_once_and_ask_reads_it_back() {
    let loki = std::env::var("LOGLENS_TEST_LOKI_URL").unwrap_or_else(|_| {
        panic!("LOGLENS_TEST_LOKI_URL is not set: run the tests with scripts/test.sh")
    });
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("cp.json");
    let run = format!("r{}", std::process::id());
    let ingest = || {
        loglens()
            .args([
                "ingest",
                "--logs",
                "examples/cart-redis-incident",
                "--loki-url",
                &loki,
                "--label",
                &format!("run={run}"),
            ])
            .arg("--checkpoint")
            .arg(&checkpoint)
            .output()
            .unwrap()
    };
    let out = ingest();
    assert_ok(&out);
    let lines = std::fs::read_to_string("examples/cart-redis-incident/logs.jsonl")
        .unwrap()
        .lines()
        .count();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("{lines} lines pushed")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = ingest();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!(
        "0 lines pushed in 0 batches from 1 files ({lines} already pushed"
    )));

    // Every line is in Loki once, with its labels.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client =
        loglens_tools::logs::loki::LokiClient::new(loglens_tools::logs::loki::LokiConfig {
            url: loki.clone(),
            ..Default::default()
        })
        .unwrap();
    let (start, end) = (
        chrono::Utc::now() - chrono::Duration::days(3650),
        chrono::Utc::now() + chrono::Duration::days(1),
    );
    let mut count = 0;
    for _ in 0..50 {
        let streams = rt
            .block_on(client.query_range(
                &format!("{{run=\"{run}\"}}"),
                start,
                end,
                5000,
                loglens_tools::logs::loki::Direction::Forward,
            ))
            .unwrap();
        count = streams.iter().map(|s| s.entries.len()).sum::<usize>();
        if count == lines {
            assert!(
                streams
                    .iter()
                    .all(|s| s.labels.get("namespace").map(String::as_str) == Some("boutique"))
            );
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(count, lines);

    // `loglens index` reads Loki an hour at a time (three slices here), embeds, and a
    // second run finds everything indexed.
    let index = || {
        loglens()
            .args(["index", "--loki-url", &loki, "--namespace", "boutique"])
            .args([
                "--start",
                "2025-11-11T13:30:00Z",
                "--end",
                "2025-11-11T16:00:00Z",
            ])
            .args([
                "--embed-url",
                &crate::support::embed_url(),
                "--retention",
                "0",
            ])
            .arg("--vector-path")
            .arg(dir.path().join("v.db"))
            .output()
            .unwrap()
    };
    let out = index();
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let read: usize = text
        .split(" lines")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    // The window holds the lines with their own time (the rest were pushed at "now").
    assert!(read > 100 && read <= lines, "{text}");
    assert!(!text.contains(" 0 embedded now"), "{text}");
    let again = String::from_utf8_lossy(&index().stdout).to_string();
    assert!(again.contains(" 0 embedded now"), "{again}");

    // The production path: ask reads from Loki when no --logs are given.
    let db = format!("sqlite://{}", dir.path().join("l.db").display());
    let out = loglens()
        .args([
            "ask",
            "What is failing in the frontend?",
            "--json",
            "--limit",
            "6",
            "--model-timeout",
            "600",
        ])
        .args([
            "--loki-url",
            &loki,
            "--model-url",
            &model_url(),
            "--database-url",
            &db,
        ])
        .args([
            "--namespace",
            "boutique",
            "--start",
            "2025-11-11T14:00:00Z",
            "--end",
            "2025-11-11T15:00:00Z",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "ok");
    let retrieved = v["retrieved"].as_array().unwrap();
    assert!(!retrieved.is_empty() && retrieved.len() <= 6);
    assert!(
        retrieved
            .iter()
            .all(|l| l["source"].as_str().unwrap().starts_with("loki {")
                && l["labels"]["namespace"] == "boutique")
    );
}

/// `golden extract` reads a real Loki API (qryn, started by scripts/test.sh): recent lines
/// pushed with `ingest`, cut into windows, severity detected, probe noise dropped, cases
/// written that fit the schema.
#[test]
fn golden_extract_cuts_cases_from_loki() {
    let loki = std::env::var("LOGLENS_TEST_LOKI_URL").unwrap_or_else(|_| {
        panic!("LOGLENS_TEST_LOKI_URL is not set: run the tests with scripts/test.sh")
    });
    let dir = tempfile::tempdir().unwrap();
    let run = format!("x{}", std::process::id());
    let now = chrono::Utc::now() - chrono::Duration::minutes(10);
    let mut text = String::new();
    for i in 0..24 {
        let t = (now + chrono::Duration::seconds(i)).to_rfc3339();
        let line = match i {
            5 => "GET /healthz 200".to_string(),
            20 => "ERROR dial tcp 10.0.0.7:5432: connect: connection refused".to_string(),
            21 => "WARN retrying the database in 2s".to_string(),
            // Six different healthy messages, none repeated enough to be capped.
            _ => format!(
                "INFO {} finished",
                [
                    "checkout", "payment", "refund", "invoice", "shipping", "audit"
                ][i as usize % 6]
            ),
        };
        text.push_str(
            &serde_json::json!({"timestamp": t, "labels": {"app": "orders"}, "line": line})
                .to_string(),
        );
        text.push('\n');
    }
    let logs = dir.path().join("orders.jsonl");
    std::fs::write(&logs, text).unwrap();
    let out = loglens()
        .args([
            "ingest",
            "--loki-url",
            &loki,
            "--label",
            &format!("run={run}"),
        ])
        .arg("--logs")
        .arg(&logs)
        .arg("--checkpoint")
        .arg(dir.path().join("cp.json"))
        .output()
        .unwrap();
    assert_ok(&out);

    let cases = dir.path().join("cases");
    let query = format!("{{run=\"{run}\"}}");
    let mut written = Vec::new();
    // Loki makes pushed lines queryable within moments; retry briefly.
    for _ in 0..50 {
        let out = loglens()
            .args(["golden", "extract", "--loki-url", &loki, "--query", &query])
            .args([
                "--since",
                "1h",
                "--window-lines",
                "10",
                "--max-cases",
                "10",
                "--out",
            ])
            .arg(&cases)
            .output()
            .unwrap();
        assert_ok(&out);
        if cases.join("loki").exists() {
            written = std::fs::read_dir(cases.join("loki"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // 23 lines after the probe is dropped: two windows of 10 (the first healthy, the second
    // with the refused connection) and a last one of 3 (under half a window: not a case).
    assert_eq!(written.len(), 2, "{written:?}");
    let mut severities = Vec::new();
    for path in &written {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(
            case["logs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| !l["line"].as_str().unwrap().contains("healthz"))
        );
        assert!(
            case["tags"]
                .as_array()
                .unwrap()
                .contains(&Value::from("auto-labelled"))
        );
        severities.push(case["expected"]["severity"].as_str().unwrap().to_string());
        if case["expected"]["severity"] == "ERROR" {
            assert_eq!(case["expected"]["cause"], "connection_refused");
            assert_eq!(case["expected"]["component"], "orders");
        }
    }
    severities.sort();
    assert_eq!(severities, ["ERROR", "INFO"]);
    // What was written reads back through the schema check.
    let out = loglens()
        .args(["golden", "analyze", "--cases"])
        .arg(&cases)
        .output()
        .unwrap();
    assert_ok(&out);
}
