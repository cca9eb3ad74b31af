//! Retrieval benchmarks (issue 3), printed as one table:
//! 1. local line-filter scan throughput over a generated log file (1 GiB by default,
//!    `LOGLENS_BENCH_SCAN_MIB`) against ripgrep (`rg -c`) on the same file and pattern;
//! 2. LogQL parse throughput;
//! 3. Loki `query_range` round trip for 1,000 lines, p50/p99, against the server at
//!    `LOGLENS_BENCH_LOKI_URL` (skipped, with a note, when it is not set).
//!
//! Run with `scripts/bench.sh` (release build), which installs ripgrep and starts the
//! Loki-API server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use loglens_tools::logs::loki::{Direction, LokiClient, LokiConfig, LokiStream};
use loglens_tools::logs::{FileLogSource, LogFilter, logql};

fn main() {
    let mib: u64 = std::env::var("LOGLENS_BENCH_SCAN_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    println!(
        "retrieval benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    scan_vs_ripgrep(mib);
    parse_throughput();
    loki_round_trip();
}

fn scan_vs_ripgrep(mib: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let (mut written, mut n, mut errors) = (0u64, 0u64, 0u64);
    while written < mib * 1024 * 1024 {
        let line = if n % 97 == 0 {
            errors += 1;
            format!(
                "2025-03-01T10:{:02}:{:02}.{:03}Z ERROR payment failed order={n} upstream=payments-7c9d status=503 took={}ms\n",
                (n / 60) % 60,
                n % 60,
                n % 1000,
                n % 900
            )
        } else {
            format!(
                "2025-03-01T10:{:02}:{:02}.{:03}Z INFO request path=/api/cart/{n} method=GET status=200 took={}ms user=u{}\n",
                (n / 60) % 60,
                n % 60,
                n % 1000,
                n % 90,
                n % 5000
            )
        };
        f.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        n += 1;
    }
    f.flush().unwrap();
    drop(f);
    let size_mib = written as f64 / (1024.0 * 1024.0);

    let query = logql::parse(r#"{filename="bench.log"} |= "ERROR""#).unwrap();
    let filter = LogFilter {
        logql: Some(Arc::new(query)),
        ..LogFilter::default()
    };
    let source = FileLogSource::new(vec![path.clone()]);
    let started = Instant::now();
    let found = source.scan(&filter).unwrap().len() as u64;
    let ours = started.elapsed();
    assert_eq!(found, errors);

    let rg = std::process::Command::new("rg")
        .arg("-c")
        .arg("ERROR")
        .arg(&path)
        .output();
    println!("\n1. line-filter scan, {size_mib:.0} MiB, {n} lines, {errors} matches");
    println!(
        "   loglens FileLogSource |= \"ERROR\": {:>8.1} MiB/s ({:.2} s)",
        size_mib / ours.as_secs_f64(),
        ours.as_secs_f64()
    );
    match rg {
        Ok(out) if out.status.success() => {
            let started = Instant::now();
            let out = std::process::Command::new("rg")
                .arg("-c")
                .arg("ERROR")
                .arg(&path)
                .output()
                .unwrap();
            let theirs = started.elapsed();
            let count: u64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0);
            assert_eq!(count, errors);
            println!(
                "   ripgrep rg -c ERROR (warm cache):  {:>8.1} MiB/s ({:.2} s)",
                size_mib / theirs.as_secs_f64(),
                theirs.as_secs_f64()
            );
            println!(
                "   ratio loglens / ripgrep: {:.3} (target >= 0.5)",
                theirs.as_secs_f64() / ours.as_secs_f64()
            );
        }
        _ => println!("   ripgrep not installed: no comparison (scripts/bench.sh installs it)"),
    }
}

fn parse_throughput() {
    let queries = [
        r#"{namespace="shop"}"#,
        r#"{namespace="shop", pod=~"checkout-.*"} |= "error" != "healthz""#,
        r#"{app="api"} | json | status >= 500 and duration_ms > 250 | line_format "{{.pod}} {{.msg}}""#,
        r#"{namespace="shop"} |~ "(?i)(error|warn|failed|exception|panic|fatal)" | logfmt | level="error""#,
    ];
    let rounds = 20_000;
    let started = Instant::now();
    for _ in 0..rounds {
        for q in &queries {
            std::hint::black_box(logql::parse(q).unwrap());
        }
    }
    let elapsed = started.elapsed();
    let total = rounds * queries.len();
    println!(
        "\n2. LogQL parse: {total} queries (4 shapes, with regex compilation) in {:.2} s: {:.0} queries/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
}

fn loki_round_trip() {
    let Ok(url) = std::env::var("LOGLENS_BENCH_LOKI_URL") else {
        println!(
            "\n3. Loki round trip: skipped (LOGLENS_BENCH_LOKI_URL not set; scripts/bench.sh sets it)"
        );
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = LokiClient::new(LokiConfig { url, ..LokiConfig::default() }).unwrap();
        let run = format!("bench{}", Utc::now().timestamp());
        let t0 = Utc::now().timestamp_nanos_opt().unwrap() - 600_000_000_000;
        let entries: Vec<(i64, String)> = (0..1000).map(|i| (t0 + i * 1_000_000, format!("level=error msg=\"request failed\" n={i}"))).collect();
        client.push(&[LokiStream { labels: [("run".to_string(), run.clone())].into(), entries }]).await.unwrap();
        let selector = format!("{{run=\"{run}\"}}");
        let (start, end) = (Utc::now() - chrono::Duration::hours(1), Utc::now());
        for _ in 0..100 {
            let n: usize = client.query_range(&selector, start, end, 1000, Direction::Backward).await.unwrap().iter().map(|s| s.entries.len()).sum();
            if n == 1000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut times = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let n: usize = client.query_range(&selector, start, end, 1000, Direction::Backward).await.unwrap().iter().map(|s| s.entries.len()).sum();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(n, 1000);
        }
        times.sort_by(f64::total_cmp);
        let p = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        println!("\n3. Loki query_range, 1,000 lines, 50 runs (qryn on chDB, 127.0.0.1): p50 {:.1} ms, p99 {:.1} ms", p(0.5), p(0.99));
    });
}
