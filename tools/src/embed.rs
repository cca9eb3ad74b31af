//! Embeddings: text → vectors through the OpenAI-compatible `/v1/embeddings` API.
//!
//! An *embedding* is a fixed-length vector that places texts with similar meaning near
//! each other: "connection refused to postgres" lands close to "database unreachable"
//! although they share no word. Hybrid retrieval uses that to find lines a keyword filter
//! would miss.
//!
//! The client talks to any server with that API: llama-server `--embeddings` serving
//! all-MiniLM-L6-v2 here and in the tests, BGE-small-en-v1.5 in production, or a hosted
//! one. What it adds:
//! - **batches** of `batch` texts per request, at most `concurrency` requests at once
//!   (the server has few slots; more would only queue there);
//! - a **content-hash cache**: a text already embedded (a repeated log line, the same
//!   question) is never sent again while the client lives; the vector index keeps them
//!   across runs (chunk ids are content hashes, see [`content_id`]);
//! - the **dimension from the model**: asked once by embedding a probe text, never a
//!   constant, and every vector is checked against it;
//! - vectors **normalized** to unit length, so cosine similarity is a dot product.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// A unit-length embedding vector, shared between the cache and its users.
pub type Vector = Arc<[f32]>;

/// Settings of the embeddings client.
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    /// Base URL of the server (`http://127.0.0.1:8081`); `/v1/embeddings` is appended.
    pub url: String,
    /// The model name sent with each request. Empty: ask the server (`/v1/models`).
    pub model: String,
    /// Texts per request.
    pub batch: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Vectors kept in memory (by content hash).
    pub cache_entries: usize,
    /// Longest text sent, in characters (the model reads at most 512 tokens anyway).
    pub max_chars: usize,
    /// Bearer token, for hosted APIs.
    pub api_key: Option<String>,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8081".into(),
            model: String::new(),
            batch: 64,
            concurrency: 2,
            timeout: Duration::from_secs(60),
            cache_entries: 50_000,
            max_chars: 1000,
            api_key: None,
        }
    }
}

/// What can go wrong while embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The server could not be reached.
    #[error(
        "embedding server {url} is unreachable: {reason} (start one: llama-server --embeddings, see scripts/embed-server.sh)"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The innermost cause.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("embedding server answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// The answer was not what the API promises.
    #[error("embedding server sent a bad answer: {0}")]
    BadAnswer(String),
    /// A vector had another length than the model's.
    #[error(
        "embedding server returned a {got}-dimensional vector where the model gives {expected}: is it serving another model?"
    )]
    WrongDimension {
        /// The model's dimension.
        expected: usize,
        /// What came back.
        got: usize,
    },
}

impl EmbedError {
    /// Whether trying again later could help.
    pub fn retryable(&self) -> bool {
        match self {
            EmbedError::Unreachable { .. } => true,
            EmbedError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A stable id for a text: the first 8 bytes of its SHA-256 as a signed integer (SQLite's
/// row id type). Stable across runs, machines and Rust versions, unlike `std`'s hasher.
pub fn content_id(parts: &[&str]) -> i64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_le_bytes(b)
}

#[derive(Deserialize)]
struct EmbeddingsAnswer {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct ModelsAnswer {
    data: Vec<ModelItem>,
}

#[derive(Deserialize)]
struct ModelItem {
    id: String,
}

/// Counters of one client, for progress lines and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedStats {
    /// Texts answered from the cache.
    pub cached: u64,
    /// Texts sent to the server.
    pub embedded: u64,
    /// Requests made.
    pub requests: u64,
}

/// The embeddings client. Cheap to clone (shared cache).
#[derive(Clone)]
pub struct Embedder {
    http: reqwest::Client,
    cfg: Arc<EmbedConfig>,
    model: Arc<OnceCell<String>>,
    dimension: Arc<OnceCell<usize>>,
    cache: Arc<Mutex<HashMap<i64, Vector>>>,
    stats: Arc<Mutex<EmbedStats>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("url", &self.cfg.url)
            .field("model", &self.model.get())
            .field("dimension", &self.dimension.get())
            .finish()
    }
}

impl Embedder {
    /// A client; nothing is sent until the first call.
    pub fn new(cfg: EmbedConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .unwrap_or_default();
        let model = OnceCell::new();
        if !cfg.model.is_empty() {
            let _ = model.set(cfg.model.clone());
        }
        Self {
            http,
            cfg: Arc::new(EmbedConfig {
                batch: cfg.batch.max(1),
                concurrency: cfg.concurrency.max(1),
                ..cfg
            }),
            model: Arc::new(model),
            dimension: Arc::new(OnceCell::new()),
            cache: Arc::new(Mutex::new(HashMap::new())),
            stats: Arc::new(Mutex::new(EmbedStats::default())),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &EmbedConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> EmbedStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.url.trim_end_matches('/'))
    }

    fn unreachable(&self, e: &reqwest::Error) -> EmbedError {
        EmbedError::Unreachable {
            url: self.cfg.url.clone(),
            reason: crate::error::root_cause(e),
        }
    }

    /// The model's name: the configured one, else the first model the server lists.
    pub async fn model(&self) -> Result<String, EmbedError> {
        self.model
            .get_or_try_init(|| async {
                let mut req = self.http.get(self.endpoint("/v1/models"));
                if let Some(k) = &self.cfg.api_key {
                    req = req.bearer_auth(k);
                }
                let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
                let status = resp.status();
                let body = resp.text().await.map_err(|e| self.unreachable(&e))?;
                if !status.is_success() {
                    return Err(EmbedError::Status {
                        status: status.as_u16(),
                        body: body.chars().take(300).collect(),
                    });
                }
                let m: ModelsAnswer = serde_json::from_str(&body)
                    .map_err(|e| EmbedError::BadAnswer(format!("/v1/models: {e}")))?;
                let id = m
                    .data
                    .into_iter()
                    .next()
                    .map(|m| m.id)
                    .ok_or_else(|| EmbedError::BadAnswer("/v1/models lists no model".into()))?;
                // llama-server names a model by its file path; the file name is what
                // identifies it.
                Ok(id.rsplit('/').next().unwrap_or(&id).to_string())
            })
            .await
            .cloned()
    }

    /// The model's vector length, asked once by embedding a probe text.
    pub async fn dimension(&self) -> Result<usize, EmbedError> {
        self.dimension
            .get_or_try_init(|| async {
                let v = self.request(&["dimension probe".to_string()]).await?;
                match v.first() {
                    Some(v) if !v.is_empty() => Ok(v.len()),
                    _ => Err(EmbedError::BadAnswer("empty vector for the probe".into())),
                }
            })
            .await
            .copied()
    }

    /// One text's vector.
    pub async fn embed_one(&self, text: &str) -> Result<Vector, EmbedError> {
        let mut v = self.embed(&[text.to_string()]).await?;
        v.pop()
            .ok_or_else(|| EmbedError::BadAnswer("no vector came back".into()))
    }

    /// Vectors of `texts`, in order. Repeated and cached texts are not sent.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vector>, EmbedError> {
        let dim = self.dimension().await?;
        let ids: Vec<i64> = texts.iter().map(|t| content_id(&[t])).collect();
        let mut missing: Vec<(i64, String)> = Vec::new();
        {
            let cache = self
                .cache
                .lock()
                .map_err(|_| EmbedError::BadAnswer("cache lock poisoned".into()))?;
            let mut seen = std::collections::HashSet::new();
            for (id, t) in ids.iter().zip(texts) {
                if !cache.contains_key(id) && seen.insert(*id) {
                    missing.push((*id, t.clone()));
                }
            }
        }
        if let Ok(mut s) = self.stats.lock() {
            s.cached += (texts.len() - missing.len()) as u64;
        }
        let batches: Vec<Vec<(i64, String)>> = missing
            .chunks(self.cfg.batch)
            .map(<[(i64, String)]>::to_vec)
            .collect();
        let fresh: Vec<Vec<(i64, Vector)>> = stream::iter(batches)
            .map(|batch| async move {
                let texts: Vec<String> = batch.iter().map(|(_, t)| t.clone()).collect();
                let vectors = self.request(&texts).await?;
                let mut out = Vec::with_capacity(batch.len());
                for ((id, _), v) in batch.into_iter().zip(vectors) {
                    if v.len() != dim {
                        return Err(EmbedError::WrongDimension {
                            expected: dim,
                            got: v.len(),
                        });
                    }
                    out.push((id, v));
                }
                Ok::<_, EmbedError>(out)
            })
            .buffered(self.cfg.concurrency)
            .try_collect()
            .await?;
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| EmbedError::BadAnswer("cache lock poisoned".into()))?;
        let mut local: HashMap<i64, Vector> = HashMap::new();
        for (id, v) in fresh.into_iter().flatten() {
            local.insert(id, v);
        }
        let out = ids
            .iter()
            .map(|id| {
                local
                    .get(id)
                    .or_else(|| cache.get(id))
                    .cloned()
                    .ok_or_else(|| EmbedError::BadAnswer("a text got no vector".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if cache.len() + local.len() > self.cfg.cache_entries {
            // Simple and bounded: start over rather than track ages.
            cache.clear();
        }
        cache.extend(local);
        Ok(out)
    }

    /// One request: `texts` → unit vectors, in order.
    async fn request(&self, texts: &[String]) -> Result<Vec<Vector>, EmbedError> {
        let input: Vec<String> = texts
            .iter()
            .map(|t| {
                if t.trim().is_empty() {
                    // Some servers refuse an empty input; a single space means the same.
                    " ".to_string()
                } else {
                    t.chars().take(self.cfg.max_chars).collect()
                }
            })
            .collect();
        let mut body = serde_json::json!({ "input": input, "encoding_format": "float" });
        if let Some(m) = self.model.get() {
            body["model"] = serde_json::Value::String(m.clone());
        }
        let mut req = self.http.post(self.endpoint("/v1/embeddings")).json(&body);
        if let Some(k) = &self.cfg.api_key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        if let Ok(mut s) = self.stats.lock() {
            s.requests += 1;
            s.embedded += texts.len() as u64;
        }
        if !status.is_success() {
            return Err(EmbedError::Status {
                status: status.as_u16(),
                body: text.chars().take(300).collect(),
            });
        }
        let answer: EmbeddingsAnswer = serde_json::from_str(&text)
            .map_err(|e| EmbedError::BadAnswer(format!("not an embeddings answer: {e}")))?;
        if answer.data.len() != texts.len() {
            return Err(EmbedError::BadAnswer(format!(
                "{} vectors for {} texts",
                answer.data.len(),
                texts.len()
            )));
        }
        let mut items = answer.data;
        items.sort_by_key(|i| i.index.unwrap_or(usize::MAX));
        items
            .into_iter()
            .map(|i| {
                let mut v = i.embedding;
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(EmbedError::BadAnswer(
                        "a vector holds NaN or infinity".into(),
                    ));
                }
                normalize(&mut v);
                Ok(Vector::from(v))
            })
            .collect()
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// Cosine similarity of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ids_are_stable_and_separate_parts() {
        assert_eq!(content_id(&["a", "b"]), content_id(&["a", "b"]));
        assert_ne!(content_id(&["ab", ""]), content_id(&["a", "b"]));
        // Pinned: a change would orphan every index already built.
        assert_eq!(content_id(&["hello"]), -875088707351907074);
    }

    #[test]
    fn normalize_gives_unit_length() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
        let mut z = vec![0.0, 0.0];
        normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[tokio::test]
    async fn a_server_that_is_down_is_a_clear_error() {
        let e = Embedder::new(EmbedConfig {
            url: "http://127.0.0.1:9".into(),
            ..EmbedConfig::default()
        });
        let err = e.embed_one("x").await.unwrap_err();
        assert!(matches!(err, EmbedError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
        assert!(err.retryable());
    }
}
