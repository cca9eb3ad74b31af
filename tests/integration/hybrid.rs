//! Hybrid retrieval against the real embedding server (llama-server --embeddings serving
//! all-MiniLM-L6-v2, started by scripts/test.sh): the embedding client, `loglens index`,
//! `/v2/analyze` (and its stream and A/B compare), and its failures.
use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use loglens::server::app;
use loglens_agents::error::AnalyzeError;
use loglens_agents::retrieval::{HybridConfig, HybridRetriever, Why};
use loglens_tools::embed::{EmbedConfig, Embedder, dot};
use loglens_tools::logs::{FileLogSource, LogFilter};
use loglens_tools::vector::{IndexMeta, SqliteVectorStore, VectorError, VectorStore};
use serde_json::json;

use crate::http::{parse_sse, post_json, send};
use crate::support::{
    INCIDENT, app_state_with, assert_ok, dead_url, embed_url, hybrid, loglens, model_url,
    write_logs,
};

/// An outage where the cause is not an error line: the cart's Redis connection is reset
/// (logged at INFO, no error word), and a flood of checkout errors follows.
fn redis_incident() -> String {
    let mut out = String::new();
    let line = |t: &str, pod: &str, container: &str, text: &str| {
        json!({
            "timestamp": t,
            "labels": {"namespace": "shop", "pod": pod, "container": container, "node": "node-1"},
            "line": text,
        })
        .to_string()
            + "\n"
    };
    for i in 0..20 {
        out += &line(
            &format!("2025-03-01T10:00:{:02}Z", i),
            "frontend-6f7d8-abcde",
            "frontend",
            &format!("GET /product/{i} 200 in {}ms", 10 + i),
        );
    }
    out += &line(
        "2025-03-01T10:00:30Z",
        "cart-5c4b7-zzkq2",
        "cart",
        "redis connection to redis-cart:6379 reset by peer; cart storage unreachable, reconnecting",
    );
    for i in 0..60 {
        out += &line(
            &format!("2025-03-01T10:01:{:02}Z", i),
            "checkout-7d9f8-x2x9z",
            "checkout",
            &format!("ERROR order {} failed: upstream returned 503", 1000 + i),
        );
        out += &line(
            &format!("2025-03-01T10:01:{:02}Z", i),
            "frontend-6f7d8-abcde",
            "frontend",
            &format!("WARN request {i} slow: 2{i:02}0ms"),
        );
    }
    out
}

#[tokio::test]
async fn the_embedder_takes_its_dimension_from_the_model_and_never_embeds_twice() {
    let e = Embedder::new(EmbedConfig {
        url: embed_url(),
        batch: 2,
        ..EmbedConfig::default()
    });
    assert_eq!(e.dimension().await.unwrap(), 384, "all-MiniLM-L6-v2");
    assert!(e.model().await.unwrap().contains("MiniLM"));
    let texts: Vec<String> = [
        "postgres refused the connection",
        "could not connect to the database",
        "the cat sat on the mat",
        "postgres refused the connection",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let v = e.embed(&texts).await.unwrap();
    assert_eq!(v.len(), 4);
    for x in &v {
        assert_eq!(x.len(), 384);
        assert!((dot(x, x) - 1.0).abs() < 1e-4, "unit length");
    }
    assert_eq!(v[0], v[3], "same text, same vector");
    assert!(
        dot(&v[0], &v[1]) > dot(&v[0], &v[2]),
        "database failures are nearer each other than to a cat"
    );
    // Probe + 3 distinct texts, in 2 batches of 2 (batch = 2).
    let s = e.stats();
    assert_eq!((s.embedded, s.requests), (4, 3), "{s:?}");
    e.embed(&texts).await.unwrap();
    assert_eq!(e.stats().embedded, 4, "cached: nothing sent again");
    assert_eq!(e.stats().cached, 1 + 4);
}

#[tokio::test]
async fn hybrid_retrieval_finds_the_cause_the_error_filter_misses() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "shop.jsonl", &redis_incident());
    let source = FileLogSource::new(vec![logs]);
    let h = hybrid(dir.path(), &embed_url()).await;
    let filter = LogFilter::errors();
    let q = "why can't the cart reach its redis storage?";
    let r = h.retrieve(&source, q, &filter).await.unwrap();
    assert_eq!(
        r.lines.len(),
        141,
        "the scope is every line, not just errors"
    );
    assert_eq!(r.matched, 120, "errors and warnings");
    assert!(r.embedded_now > 0 && r.not_indexed == 0);
    assert!(
        r.chunks < 20,
        "floods of one pattern collapse: {} chunks",
        r.chunks
    );
    let redis = r
        .ranking
        .iter()
        .position(|x| r.lines[x.index].text.contains("reset by peer"))
        .expect("the redis line is retrieved");
    let chosen = r.ranking[redis].chosen;
    assert_eq!(
        chosen.why,
        Why::Semantic,
        "no error word: only meaning finds it"
    );
    assert!(chosen.semantic_rank.is_some() && chosen.similarity.unwrap() > 0.3);
    assert!(redis < 10, "ranked high: {redis}");
    // Every line says why; the time list is the error filter's newest lines.
    for x in &r.ranking {
        if x.chosen.why != Why::Semantic {
            assert!(filter.matches_text(&r.lines[x.index].text));
        }
    }
    // Asked again: everything is indexed, nothing is embedded.
    let again = h.retrieve(&source, q, &filter).await.unwrap();
    assert_eq!(again.embedded_now, 0);
    assert_eq!(
        again.ranking.iter().map(|x| x.index).collect::<Vec<_>>(),
        r.ranking.iter().map(|x| x.index).collect::<Vec<_>>()
    );
    // A scope with no lines is a clear error, before any embedding.
    let nowhere = LogFilter {
        namespace: Some("nowhere".into()),
        ..LogFilter::errors()
    };
    let err = h.retrieve(&source, q, &nowhere).await.unwrap_err();
    assert!(matches!(err, AnalyzeError::NoLines { .. }), "{err}");
}

#[tokio::test]
async fn an_index_of_another_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "a.jsonl", INCIDENT);
    let store = SqliteVectorStore::open(&dir.path().join("v.db"))
        .await
        .unwrap();
    store
        .prepare(&IndexMeta {
            model: "bge-small-en-v1.5".into(),
            dimension: 384,
        })
        .await
        .unwrap();
    let h = HybridRetriever::new(
        Embedder::new(EmbedConfig {
            url: embed_url(),
            ..EmbedConfig::default()
        }),
        Arc::new(store),
        HybridConfig::default(),
    );
    let err = h
        .retrieve(
            &FileLogSource::new(vec![logs]),
            "why?",
            &LogFilter::errors(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, AnalyzeError::Index(VectorError::ModelMismatch { .. })),
        "{err}"
    );
    assert_eq!(err.code(), "index_model_mismatch");
    assert!(err.to_string().contains("bge-small-en-v1.5"), "{err}");
}

#[test]
fn loglens_index_is_idempotent_and_checks_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "shop.jsonl", &redis_incident());
    let vectors = dir.path().join("vectors.db");
    let run = |extra: &[&str]| {
        let mut c = loglens();
        c.arg("index")
            .arg("--logs")
            .arg(&logs)
            .arg("--embed-url")
            .arg(embed_url())
            .arg("--vector-path")
            .arg(&vectors)
            .args(extra);
        c.output().unwrap()
    };
    let first = run(&[]);
    assert_ok(&first);
    let out = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(out.contains("141 lines"), "{out}");
    let embedded: usize = out
        .split(" embedded now")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"));
    assert!(embedded > 0, "{out}");
    let second = run(&[]);
    assert_ok(&second);
    let out2 = String::from_utf8_lossy(&second.stdout);
    assert!(
        out2.contains(&format!("0 embedded now, {embedded} already indexed")),
        "{out2}"
    );
    // The same index read with another model's name is refused, with the fix.
    let other = run(&["--embed-model", "bge-small-en-v1.5"]);
    assert!(!other.status.success());
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("was built with") && err.contains("--rebuild"),
        "{err}"
    );
    // --rebuild starts over with the model in use.
    let rebuilt = run(&["--embed-model", "bge-small-en-v1.5", "--rebuild"]);
    assert_ok(&rebuilt);
    assert!(String::from_utf8_lossy(&rebuilt.stdout).contains(&format!("{embedded} embedded now")));
    // The embedding server down: a clear error naming it.
    let down = {
        let mut c = loglens();
        c.args(["index", "--embed-url", &dead_url(), "--vector-path"])
            .arg(dir.path().join("other.db"))
            .arg("--logs")
            .arg(&logs);
        c.output().unwrap()
    };
    assert!(!down.status.success());
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(
        err.contains("embedding server") && err.contains("unreachable"),
        "{err}"
    );
}

#[tokio::test]
async fn v2_answers_with_hybrid_lines_that_say_why_and_compares_with_v1() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "shop.jsonl", &redis_incident());
    let h = hybrid(dir.path(), &embed_url()).await;
    let state = app_state_with(dir.path(), logs, &model_url(), Some(h)).await;
    let router = app(state);
    let body = r#"{"query":"why can't the cart reach its redis storage?","pipeline":"baseline","limit":8}"#;

    let (status, v) = post_json(router.clone(), "/v2/analyze", body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let lines = v["retrieved"].as_array().unwrap();
    assert!(!lines.is_empty() && lines.len() <= 8);
    assert!(lines.iter().all(|l| l["why"]["why"].is_string()), "{v}");
    assert!(
        lines
            .iter()
            .any(|l| l["text"].as_str().unwrap().contains("reset by peer")
                && l["why"]["why"] == "semantic"),
        "the cause is among the lines: {v}"
    );
    assert_eq!(v["details"]["retrieval"]["mode"], "hybrid");

    // A/B: both answers, each with its own lines, and how they differ.
    let ab = body.replace('}', r#","compare":true}"#);
    let (status, v) = post_json(router.clone(), "/v2/analyze", &ab).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_ne!(v["hybrid"]["id"], v["structured"]["id"]);
    let structured = v["structured"]["retrieved"].as_array().unwrap();
    assert!(structured.iter().all(|l| l.get("why").is_none()));
    assert!(
        !structured
            .iter()
            .any(|l| l["text"].as_str().unwrap().contains("reset by peer")),
        "time-based retrieval misses the cause"
    );
    assert!(
        v["comparison"]["lines_only_hybrid"].as_u64().unwrap() >= 1,
        "{v}"
    );
    for key in ["lines_shared", "lines_only_structured", "same_root_cause"] {
        assert!(!v["comparison"][key].is_null(), "{key}: {v}");
    }
    // compare belongs to /v2.
    let (status, v) = post_json(router.clone(), "/v1/analyze", &ab).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // The stream: `retrieved` lines carry `why`, then the stored result.
    let (status, bytes) = send(
        router,
        "POST",
        "/v2/analyze/stream",
        Body::from(body.to_string()),
        Some("application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let events = parse_sse(&String::from_utf8_lossy(&bytes));
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"started"));
    assert_eq!(names.last(), Some(&"done"));
    let retrieved = &events.iter().find(|(n, _)| n == "retrieved").unwrap().1;
    assert!(
        retrieved["lines"][0]["why"]["why"].is_string(),
        "{retrieved}"
    );
    assert!(names.contains(&"result"), "{names:?}");
}

#[tokio::test]
async fn v2_without_an_embedding_server_is_503_and_v1_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "a.jsonl", INCIDENT);
    let h = hybrid(dir.path(), &dead_url()).await;
    let router = app(app_state_with(dir.path(), logs, &model_url(), Some(h)).await);
    let body = r#"{"query":"why do payments fail?","pipeline":"baseline"}"#;
    let (status, v) = post_json(router.clone(), "/v2/analyze", body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "embedding_unavailable");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("embedding server"),
        "{v}"
    );
    // The agents asked for hybrid fail the same way; nothing is half-answered.
    let (status, v) = post_json(
        router.clone(),
        "/v2/analyze",
        r#"{"query":"why do payments fail?"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    // /v1 does not need embeddings.
    let (status, v) = post_json(router, "/v1/analyze", body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}
