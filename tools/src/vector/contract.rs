//! The contract every [`VectorStore`] must keep, as one test suite that runs against each
//! backend (the embedded store always; Qdrant when `QDRANT_URL` is set).
//!
//! Results are checked against a brute-force reference: the exact cosine ranking of the
//! chunks [`VectorFilter::matches`] accepts. It is test code, built only for the crate's
//! tests and with the `test-utils` feature (so the Qdrant test and any future backend run
//! the same suite): it panics on failure.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{Chunk, IndexMeta, VectorError, VectorFilter, VectorStore};
use crate::embed::{dot, normalize};

/// The model the contract's index claims.
pub fn meta() -> IndexMeta {
    IndexMeta {
        model: "contract-test-model".into(),
        dimension: DIM,
    }
}

const DIM: usize = 8;

fn vector(seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut v = Vec::with_capacity(DIM);
    for _ in 0..DIM {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.push(((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5);
    }
    normalize(&mut v);
    v
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The contract's chunks: 40, over four pods of two workloads in two namespaces, two
/// nodes, three severities, one per minute; the last has no time.
pub fn chunks() -> Vec<(Chunk, Vec<f32>)> {
    (0..40u64)
        .map(|i| {
            let ns = if i % 2 == 0 { "shop" } else { "infra" };
            let workload = if i % 4 < 2 { "checkout" } else { "postgres" };
            let pod = format!("{workload}-7d9f-{}", if i % 8 < 4 { "a" } else { "b" });
            let sev = ["error", "warn", "info"][(i % 3) as usize];
            let chunk = Chunk {
                id: 1000 + i as i64,
                text: format!("line {i} of {pod}"),
                timestamp: (i < 39).then(|| base() + Duration::minutes(i as i64)),
                namespace: Some(ns.into()),
                pod: Some(pod),
                workload: Some(workload.into()),
                container: Some(workload.into()),
                node: Some(if i % 5 == 0 { "node-2" } else { "node-1" }.into()),
                severity: Some(sev.into()),
                pattern: format!("p{}", i % 6),
                source: "contract".into(),
                line_no: i + 1,
                lines: 1,
                repeats: (i % 3) as u32,
            };
            (chunk, vector(i))
        })
        .collect()
}

/// Prepares the store and writes the contract's chunks.
pub async fn fill(store: &dyn VectorStore) {
    store.prepare(&meta()).await.expect("prepare");
    let data = chunks();
    let items: Vec<(Chunk, &[f32])> = data.iter().map(|(c, v)| (c.clone(), &v[..])).collect();
    store.upsert(&items).await.expect("upsert");
}

fn reference(filter: &VectorFilter, query: &[f32], k: usize) -> Vec<i64> {
    let mut scored: Vec<(i64, f32)> = chunks()
        .into_iter()
        .filter(|(c, _)| filter.matches(c))
        .map(|(c, v)| (c.id, dot(query, &v)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.into_iter().take(k).map(|(id, _)| id).collect()
}

/// Runs the whole contract; panics (with what broke) on the first failure.
pub async fn run(store: &dyn VectorStore) {
    store.reset().await.expect("reset");
    assert_eq!(
        store.meta().await.expect("meta"),
        None,
        "fresh store has no model"
    );
    assert_eq!(
        store.count().await.expect("count"),
        0,
        "fresh store is empty"
    );

    fill(store).await;
    assert_eq!(store.meta().await.expect("meta"), Some(meta()));
    assert_eq!(store.count().await.expect("count"), 40);

    // Idempotent: the same chunks again change nothing.
    fill(store).await;
    assert_eq!(
        store.count().await.expect("count"),
        40,
        "upsert is idempotent"
    );

    // Another model is refused, with the fix in the message.
    let other = IndexMeta {
        model: "another-model".into(),
        dimension: 16,
    };
    match store.prepare(&other).await {
        Err(VectorError::ModelMismatch { built, .. }) => assert_eq!(built, meta().model),
        other => panic!("another model must be refused, got {other:?}"),
    }

    let ex = store
        .existing(&[1000, 1005, 99, 1039])
        .await
        .expect("existing");
    assert_eq!(ex, [1000, 1005, 1039].into_iter().collect());

    // A stored vector finds itself first, with similarity ~1.
    let q = vector(7);
    let hits = store
        .search(&q, &VectorFilter::default(), 5)
        .await
        .expect("search");
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0].chunk.id, 1007, "nearest first");
    assert!(
        (hits[0].score - 1.0).abs() < 1e-3,
        "score {}",
        hits[0].score
    );
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "sorted");
    assert_eq!(hits[0].chunk, chunks()[7].0, "payload round-trips");

    filters_agree_with_the_reference(store).await;

    // A filter that matches nothing is an empty answer, not an error.
    let none = VectorFilter {
        namespace: Some("nowhere".into()),
        ..Default::default()
    };
    assert!(store.search(&q, &none, 5).await.expect("search").is_empty());

    // A query of the wrong length is refused.
    match store.search(&[1.0, 0.0], &VectorFilter::default(), 5).await {
        Err(VectorError::Dimension { expected, got }) => assert_eq!((expected, got), (DIM, 2)),
        other => panic!("wrong dimension must be refused, got {other:?}"),
    }

    retention(store, &q).await;

    store.reset().await.expect("reset");
    assert_eq!(store.count().await.expect("count"), 0);
    assert_eq!(store.meta().await.expect("meta"), None);
}

/// Every filter (labels, severity, window, and together) gives the reference's ids.
async fn filters_agree_with_the_reference(store: &dyn VectorStore) {
    let t0 = base();
    let filters = [
        VectorFilter::default(),
        VectorFilter {
            namespace: Some("shop".into()),
            ..Default::default()
        },
        VectorFilter {
            pod: Some("checkout".into()),
            ..Default::default()
        },
        VectorFilter {
            pod: Some("postgres-7d9f-b".into()),
            ..Default::default()
        },
        VectorFilter {
            container: Some("postgres".into()),
            node: Some("node-1".into()),
            ..Default::default()
        },
        VectorFilter {
            severity: Some("error".into()),
            namespace: Some("infra".into()),
            ..Default::default()
        },
        VectorFilter {
            start: Some(t0 + Duration::minutes(10)),
            end: Some(t0 + Duration::minutes(20)),
            ..Default::default()
        },
        VectorFilter {
            start: Some(t0 + Duration::minutes(30)),
            pod: Some("checkout".into()),
            severity: Some("warn".into()),
            ..Default::default()
        },
    ];
    for (i, f) in filters.iter().enumerate() {
        for k in [3, 10, 50] {
            let q = vector(100 + i as u64);
            let got: Vec<i64> = store
                .search(&q, f, k)
                .await
                .expect("search")
                .iter()
                .map(|h| h.chunk.id)
                .collect();
            assert_eq!(got, reference(f, &q, k), "filter {f:?}, k {k}");
        }
    }
}

/// Chunks before minute 10 go; the one without a time stays; deleted chunks are not
/// found (`q`: any query).
async fn retention(store: &dyn VectorStore, q: &[f32]) {
    let t0 = base();
    let gone = store
        .delete_before(t0 + Duration::minutes(10))
        .await
        .expect("delete");
    assert_eq!(gone, 10);
    assert_eq!(store.count().await.expect("count"), 30);
    assert!(
        store
            .existing(&[1000, 1009])
            .await
            .expect("existing")
            .is_empty()
    );
    let all: Vec<i64> = store
        .search(q, &VectorFilter::default(), 100)
        .await
        .expect("search")
        .iter()
        .map(|h| h.chunk.id)
        .collect();
    assert_eq!(all.len(), 30, "deleted chunks are not found");
    assert!(all.iter().all(|id| *id >= 1010));
}
