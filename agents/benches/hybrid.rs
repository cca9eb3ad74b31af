//! Hybrid-retrieval benchmarks (issue 4), printed as tables:
//! 1. embedding throughput against the embedding server at `LOGLENS_BENCH_EMBED_URL`
//!    (llama-server --embeddings, all-MiniLM-L6-v2): distinct texts per second at a few
//!    batch/concurrency settings, and log lines per second indexed from a realistic log
//!    (repeats collapsed, as `loglens index` does);
//! 2. vector search latency in the embedded store (sqlite-vec) at 50,000 chunks
//!    (`LOGLENS_BENCH_CHUNKS`), p50/p99, without and with metadata filters;
//! 3. the latency hybrid retrieval adds over structured retrieval on the bundled
//!    incident (index warm), p50/p99.
//!
//! Run with `scripts/bench.sh` (release build), which starts the embedding server; parts
//! 1 and 3 are skipped, with a note, when `LOGLENS_BENCH_EMBED_URL` is not set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use loglens_agents::retrieval::{ChunkConfig, HybridConfig, HybridRetriever, chunk_lines};
use loglens_tools::budget::{Budget, select_recent};
use loglens_tools::embed::{EmbedConfig, Embedder, normalize};
use loglens_tools::logs::{FileLogSource, LogFilter, LogSource};
use loglens_tools::vector::{Chunk, IndexMeta, SqliteVectorStore, VectorFilter, VectorStore};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    println!(
        "hybrid retrieval benchmarks ({} cores)\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let embed = std::env::var("LOGLENS_BENCH_EMBED_URL").ok();
    match &embed {
        Some(url) => embedding_throughput(url).await,
        None => println!(
            "embedding throughput: skipped (LOGLENS_BENCH_EMBED_URL is not set; scripts/bench.sh starts the server)\n"
        ),
    }
    vector_search().await;
    match &embed {
        Some(url) => hybrid_overhead(url).await,
        None => println!("hybrid overhead: skipped (LOGLENS_BENCH_EMBED_URL is not set)"),
    }
}

/// Log-like texts, all distinct.
fn texts(n: usize, salt: &str) -> Vec<String> {
    let shapes = [
        "ERROR payment {i} failed: upstream payments-7c9d returned 503 after {j}ms",
        "WARN slow query on orders table took {j}ms (rows={i})",
        "INFO GET /api/cart/{i} 200 {j}ms user=u{i}",
        "redis connection to redis-cart:6379 reset by peer; reconnecting (attempt {j})",
        "java.net.SocketTimeoutException: Read timed out after {j}ms at com.shop.Client.call({i})",
        "level=error msg=\"failed to pull image registry.local/app:{i}\" err=\"manifest unknown\" took={j}",
        "OOMKilled: container checkout exceeded memory limit 512Mi (rss={j}Mi, pid {i})",
    ];
    (0..n)
        .map(|i| {
            let s = shapes[i % shapes.len()];
            format!(
                "{salt} {}",
                s.replace("{i}", &i.to_string())
                    .replace("{j}", &(i * 7 % 5000).to_string())
            )
        })
        .collect()
}

async fn embedding_throughput(url: &str) {
    println!("1. embedding throughput ({url})");
    println!("| batch | concurrency | texts | seconds | texts/s |");
    println!("|---|---|---|---|---|");
    for (i, (batch, concurrency)) in [(16, 1), (32, 2), (64, 4), (128, 8)].iter().enumerate() {
        let e = Embedder::new(EmbedConfig {
            url: url.into(),
            batch: *batch,
            concurrency: *concurrency,
            ..EmbedConfig::default()
        });
        e.dimension().await.unwrap();
        let t = texts(1024, &format!("run{i}"));
        let started = Instant::now();
        e.embed(&t).await.unwrap();
        let s = started.elapsed().as_secs_f64();
        println!(
            "| {batch} | {concurrency} | {} | {s:.2} | {:.0} |",
            t.len(),
            t.len() as f64 / s
        );
    }

    // Log lines indexed per second: the bundled incident, repeats collapsed.
    let dir = tempfile::tempdir().unwrap();
    let source = FileLogSource::new(vec![incident()]);
    let lines = source.query(&LogFilter::default()).await.unwrap();
    let chunks = chunk_lines(&lines, &ChunkConfig::default());
    let h = retriever(url, dir.path()).await;
    h.meta().await.unwrap();
    let started = Instant::now();
    let (embedded, _) = h
        .ensure_indexed(&chunks, usize::MAX, &|_| {})
        .await
        .unwrap();
    let s = started.elapsed().as_secs_f64();
    println!(
        "\nindexing examples/cart-redis-incident: {} lines → {} chunks ({} embedded) in {s:.2} s = {:.0} log lines/s ({:.0} chunks/s, default batch and concurrency)\n",
        lines.len(),
        chunks.len(),
        embedded,
        lines.len() as f64 / s,
        embedded as f64 / s
    );
}

/// Hybrid retrieval over the embedding server at `url` and a fresh index in `dir`.
async fn retriever(url: &str, dir: &std::path::Path) -> HybridRetriever {
    let store = SqliteVectorStore::open(&dir.join("v.db")).await.unwrap();
    HybridRetriever::new(
        Embedder::new(EmbedConfig {
            url: url.into(),
            ..EmbedConfig::default()
        }),
        Arc::new(store),
        HybridConfig::default(),
    )
}

fn incident() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cart-redis-incident")
}

async fn vector_search() {
    let n: usize = std::env::var("LOGLENS_BENCH_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let dim = 384;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteVectorStore::open(&dir.path().join("v.db"))
        .await
        .unwrap();
    store
        .prepare(&IndexMeta {
            model: "bench".into(),
            dimension: dim,
        })
        .await
        .unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let started = Instant::now();
    for part in (0..n).collect::<Vec<_>>().chunks(1000) {
        let items: Vec<(Chunk, Vec<f32>)> = part
            .iter()
            .map(|&i| {
                let mut v: Vec<f32> = (0..dim).map(|_| rand()).collect();
                normalize(&mut v);
                let ns = format!("ns-{}", i % 10);
                let workload = format!("app-{}", i % 50);
                (
                    Chunk {
                        id: i as i64 + 1,
                        text: format!("chunk {i}"),
                        timestamp: Some(t0 + Duration::seconds((i * 7 * 86_400 / n) as i64)),
                        namespace: Some(ns),
                        pod: Some(format!("{workload}-7d9f8b6c5-{:05}", i % 200)),
                        workload: Some(workload.clone()),
                        container: Some(workload),
                        node: Some(format!("node-{}", i % 2 + 1)),
                        severity: Some(["error", "warn", "info", "info", "debug"][i % 5].into()),
                        pattern: format!("{:016x}", i % 500),
                        source: "bench".into(),
                        line_no: i as u64,
                        lines: 1,
                        repeats: 0,
                    },
                    v,
                )
            })
            .collect();
        let refs: Vec<(Chunk, &[f32])> = items.iter().map(|(c, v)| (c.clone(), &v[..])).collect();
        store.upsert(&refs).await.unwrap();
    }
    let load = started.elapsed().as_secs_f64();
    println!("2. vector search, sqlite-vec, {n} chunks of {dim} dims (stored in {load:.1} s)");
    println!("| filter | k | p50 ms | p99 ms | hits |");
    println!("|---|---|---|---|---|");
    let day = |d: i64| t0 + Duration::days(d);
    let cases: Vec<(&str, VectorFilter)> = vec![
        ("none", VectorFilter::default()),
        (
            "namespace",
            VectorFilter {
                namespace: Some("ns-3".into()),
                ..Default::default()
            },
        ),
        (
            "namespace + last day",
            VectorFilter {
                namespace: Some("ns-3".into()),
                start: Some(day(6)),
                end: Some(day(7)),
                ..Default::default()
            },
        ),
        (
            "workload (pod or workload: 2 scans)",
            VectorFilter {
                pod: Some("app-7".into()),
                ..Default::default()
            },
        ),
        (
            "severity + node",
            VectorFilter {
                severity: Some("error".into()),
                node: Some("node-1".into()),
                ..Default::default()
            },
        ),
    ];
    for (name, f) in &cases {
        let k = 50;
        let mut ms = Vec::new();
        let mut hits = 0;
        for q in 0..120 {
            let mut v: Vec<f32> = (0..dim).map(|_| rand()).collect();
            normalize(&mut v);
            let started = Instant::now();
            let h = store.search(&v, f, k).await.unwrap();
            if q >= 20 {
                ms.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            hits = h.len();
        }
        println!(
            "| {name} | {k} | {:.1} | {:.1} | {hits} |",
            pct(&mut ms, 0.5),
            pct(&mut ms, 0.99)
        );
    }
    println!();
}

async fn hybrid_overhead(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let source = FileLogSource::new(vec![incident()]);
    let h = retriever(url, dir.path()).await;
    let filter = LogFilter::errors();
    let budget = Budget {
        max_lines: 15,
        max_tokens: 2500,
        max_line_chars: 600,
    };
    // Warm: the index holds the incident (as after `loglens index`).
    h.retrieve(&source, "warm up", &filter).await.unwrap();
    let (mut structured, mut hybrid) = (Vec::new(), Vec::new());
    for i in 0..40 {
        // A new question each time: its embedding is not cached.
        let q = format!("why can customers not add items to their cart? (try {i})");
        let started = Instant::now();
        let lines = source.query(&filter).await.unwrap();
        let chosen = select_recent(&lines, &budget);
        structured.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(!chosen.is_empty());
        let started = Instant::now();
        let r = h.retrieve(&source, &q, &filter).await.unwrap();
        hybrid.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.embedded_now, 0);
    }
    let (s50, s99) = (pct(&mut structured, 0.5), pct(&mut structured, 0.99));
    let (h50, h99) = (pct(&mut hybrid, 0.5), pct(&mut hybrid, 0.99));
    println!("3. retrieval latency on examples/cart-redis-incident (973 lines), index warm");
    println!("| retrieval | p50 ms | p99 ms |");
    println!("|---|---|---|");
    println!("| structured (filter + most recent) | {s50:.1} | {s99:.1} |");
    println!("| hybrid (scope + embed question + search + RRF) | {h50:.1} | {h99:.1} |");
    println!("| added by hybrid | {:.1} | {:.1} |", h50 - s50, h99 - s99);
}
