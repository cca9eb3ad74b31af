//! Helpers for the tests that use the real Loki-API server `scripts/test.sh` starts.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use loglens_tools::logs::loki::{Direction, LokiClient, LokiConfig};

/// The server's URL.
pub fn loki_url() -> String {
    std::env::var("LOGLENS_TEST_LOKI_URL").unwrap_or_else(|_| {
        panic!("LOGLENS_TEST_LOKI_URL is not set: run the tests with scripts/test.sh, which starts a Loki-API server")
    })
}

/// A client for it.
pub fn loki_client() -> LokiClient {
    LokiClient::new(LokiConfig {
        url: loki_url(),
        ..LokiConfig::default()
    })
    .unwrap()
}

/// A label value no other test (or earlier run) uses.
pub fn unique(tag: &str) -> String {
    format!(
        "t{}{}",
        tag,
        Utc::now().timestamp_nanos_opt().unwrap() % 1_000_000_000
    )
}

/// Loki stores what it was given, but qryn writes asynchronously: polls until `n` lines of
/// `query` between `start` and `end` are readable, and returns them sorted by time.
pub async fn wait_for_lines(
    c: &LokiClient,
    query: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    n: usize,
) -> Vec<(i64, String)> {
    for _ in 0..50 {
        let mut lines: Vec<(i64, String)> = c
            .query_range(query, start, end, 5000, Direction::Forward)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|s| s.entries)
            .collect();
        if lines.len() >= n {
            lines.sort();
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{n} lines never became readable for {query}");
}

/// [`wait_for_lines`] over the last hour.
pub async fn wait_for(c: &LokiClient, query: &str, n: usize) {
    wait_for_lines(
        c,
        query,
        Utc::now() - chrono::Duration::hours(1),
        Utc::now() + chrono::Duration::minutes(1),
        n,
    )
    .await;
}
