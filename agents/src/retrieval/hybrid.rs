//! Hybrid retrieval: a label-and-time pre-filter, semantic search within it, and
//! reciprocal-rank fusion with recency.
//!
//! The baseline (time-based retrieval) sends the most recent lines that match the error
//! filter. That misses the cause when it logged at INFO, used other words ("could not
//! reach" rather than "error"), or scrolled out of the window under a flood of symptoms.
//! Hybrid retrieval keeps the baseline's list and adds a second one ranked by meaning:
//!
//! 1. **Pre-filter**: every line of the scope (namespace, pod, container, node, time),
//!    from Loki or files, without the text filter.
//! 2. **Index what is missing**: the scope's chunks that are not in the vector index yet
//!    are embedded now (bounded; `loglens index` does it ahead of time).
//! 3. **Semantic search**: the question's embedding against the index, filtered to the
//!    same scope, kept to chunks of the pre-filtered lines.
//! 4. **Fuse**: reciprocal-rank fusion (RRF) of the two lists: a line at rank *r* in a
//!    list scores `1 / (k + r)`; scores add up over lists. Ranks, not raw scores, are
//!    fused, so a cosine of 0.4 and "3 minutes ago" need no common scale, and a line high
//!    in both lists beats a line top of one.
//!
//! Every line returned says why it was chosen ([`Why`]: time, semantic, or both) with its
//! ranks and similarity, so a person (or the A/B comparison) can see what meaning added.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use loglens_tools::embed::Embedder;
use loglens_tools::logs::{LogFilter, LogLine, LogSource};
use loglens_tools::vector::{Hit, IndexMeta, VectorFilter, VectorStore};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::chunk::{ChunkConfig, Chunked, chunk_lines};
use crate::error::AnalyzeError;

/// Settings of hybrid retrieval.
#[derive(Debug, Clone, Copy)]
pub struct HybridConfig {
    /// Length of each ranked list fused (semantic hits, recent lines).
    pub top_k: usize,
    /// Semantic hits below this cosine similarity to the question are dropped: every
    /// line is *somewhat* near any question, and past a point a hit is noise that takes a
    /// line from the budget.
    pub min_similarity: f32,
    /// RRF's damping constant (60 in the original paper; larger flattens the ranks).
    pub rrf_k: f32,
    /// Most lines of the scope considered (the most recent are kept).
    pub max_scope_lines: usize,
    /// Most chunks embedded during one request; the rest wait for `loglens index`.
    pub max_embed_on_demand: usize,
    /// Chunking.
    pub chunk: ChunkConfig,
}

impl Default for HybridConfig {
    fn default() -> Self {
        Self {
            top_k: 50,
            min_similarity: 0.3,
            rrf_k: 60.0,
            max_scope_lines: 20_000,
            max_embed_on_demand: 2_000,
            chunk: ChunkConfig::default(),
        }
    }
}

/// Why a line was retrieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Why {
    /// Among the most recent lines matching the filter (the baseline's choice).
    Time,
    /// Near the question in meaning.
    Semantic,
    /// Both.
    Both,
}

/// How a line ranked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Chosen {
    /// Why it was retrieved.
    pub why: Why,
    /// Its fused score.
    pub rrf: f32,
    /// 1-based rank among recent lines, if it was in that list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_rank: Option<usize>,
    /// 1-based rank among semantic hits, if it was in that list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semantic_rank: Option<usize>,
    /// Cosine similarity of its chunk to the question.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
}

/// A line of the fused ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// Index into [`HybridResult::lines`].
    pub index: usize,
    /// How it ranked.
    pub chosen: Chosen,
}

/// What hybrid retrieval found.
#[derive(Debug, Clone)]
pub struct HybridResult {
    /// The pre-filtered lines (oldest first).
    pub lines: Vec<LogLine>,
    /// The fused ranking, best first.
    pub ranking: Vec<Ranked>,
    /// Lines matching the text filter (what the baseline would have chosen from).
    pub matched: usize,
    /// Chunks of the scope.
    pub chunks: usize,
    /// Chunks embedded during this request.
    pub embedded_now: usize,
    /// Chunks left unindexed (over the on-demand limit).
    pub not_indexed: usize,
    /// Semantic hits inside the scope.
    pub semantic_hits: usize,
    /// Time spent embedding and searching, ms.
    pub semantic_ms: f64,
    /// What happened, in a sentence.
    pub note: String,
}

/// Fuses ranked lists (each best first) by reciprocal rank: `Σ 1 / (k + rank)`.
/// Returns items best first; ties keep the order of first appearance.
pub fn rrf(lists: &[&[usize]], k: f32) -> Vec<(usize, f32)> {
    let mut score: HashMap<usize, f32> = HashMap::new();
    let mut order: Vec<usize> = Vec::new();
    for list in lists {
        for (r, &item) in list.iter().enumerate() {
            let s = score.entry(item).or_insert_with(|| {
                order.push(item);
                0.0
            });
            *s += 1.0 / (k + r as f32 + 1.0);
        }
    }
    let first: HashMap<usize, usize> = order.iter().enumerate().map(|(i, &x)| (x, i)).collect();
    let mut out: Vec<(usize, f32)> = score.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(first[&a.0].cmp(&first[&b.0])));
    out
}

/// The vector-store filter for a log filter's scope.
pub fn vector_filter(f: &LogFilter) -> VectorFilter {
    VectorFilter {
        start: f.start,
        end: f.end,
        namespace: f.namespace.clone(),
        pod: f.pod.clone(),
        container: f.container.clone(),
        node: f.node.clone(),
        severity: None,
    }
}

/// Hybrid retrieval over one embedder and one vector store.
#[derive(Clone)]
pub struct HybridRetriever {
    embedder: Embedder,
    store: Arc<dyn VectorStore>,
    cfg: HybridConfig,
    meta: Arc<OnceCell<IndexMeta>>,
}

impl std::fmt::Debug for HybridRetriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridRetriever")
            .field("embedder", &self.embedder)
            .field("store", &self.store.describe())
            .finish()
    }
}

impl HybridRetriever {
    /// A retriever.
    pub fn new(embedder: Embedder, store: Arc<dyn VectorStore>, cfg: HybridConfig) -> Self {
        Self {
            embedder,
            store,
            cfg,
            meta: Arc::new(OnceCell::new()),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &HybridConfig {
        &self.cfg
    }

    /// The embedder.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// The vector store.
    pub fn store(&self) -> &Arc<dyn VectorStore> {
        &self.store
    }

    /// The model in use, checked against the index (created for it when new). Refuses an
    /// index built with another model.
    pub async fn meta(&self) -> Result<IndexMeta, AnalyzeError> {
        self.meta
            .get_or_try_init(|| async {
                let meta = IndexMeta {
                    model: self.embedder.model().await?,
                    dimension: self.embedder.dimension().await?,
                };
                self.store.prepare(&meta).await?;
                Ok::<_, AnalyzeError>(meta)
            })
            .await
            .cloned()
    }

    /// Embeds and stores the chunks not in the index yet, at most `cap` of them (the
    /// latest first), in batches; `progress` hears how many chunks each batch settled.
    /// Returns (embedded, left over).
    pub async fn ensure_indexed(
        &self,
        chunks: &[Chunked],
        cap: usize,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<(usize, usize), AnalyzeError> {
        self.meta().await?;
        let ids: Vec<i64> = chunks.iter().map(|c| c.chunk.id).collect();
        let have = self.store.existing(&ids).await?;
        let mut seen = HashSet::new();
        let mut missing: Vec<&Chunked> = chunks
            .iter()
            .filter(|c| !have.contains(&c.chunk.id) && seen.insert(c.chunk.id))
            .collect();
        progress(chunks.len() - missing.len());
        let left = missing.len().saturating_sub(cap);
        if left > 0 {
            missing.sort_by_key(|c| std::cmp::Reverse(c.chunk.timestamp));
            missing.truncate(cap);
        }
        let mut embedded = 0;
        let batch = (self.embedder.config().batch * self.embedder.config().concurrency).max(1);
        for part in missing.chunks(batch) {
            let texts: Vec<String> = part.iter().map(|c| c.chunk.text.clone()).collect();
            let vectors = self.embedder.embed(&texts).await?;
            let items: Vec<(loglens_tools::vector::Chunk, &[f32])> = part
                .iter()
                .zip(&vectors)
                .map(|(c, v)| (c.chunk.clone(), &v[..]))
                .collect();
            self.store.upsert(&items).await?;
            embedded += part.len();
            progress(part.len());
        }
        Ok((embedded, left))
    }

    /// Retrieves lines for `question` within `filter`'s scope, ranked by fused recency and
    /// meaning. Fails when the scope has no lines, the embedding server fails, or the index
    /// was built with another model.
    pub async fn retrieve(
        &self,
        source: &dyn LogSource,
        question: &str,
        filter: &LogFilter,
    ) -> Result<HybridResult, AnalyzeError> {
        let scope = LogFilter {
            pattern: None,
            ..filter.clone()
        };
        let mut lines = source.query(&scope).await?;
        if lines.is_empty() {
            return Err(AnalyzeError::NoLines {
                filter: scope.describe(),
                source_desc: source.describe(),
            });
        }
        if lines.len() > self.cfg.max_scope_lines {
            lines.drain(..lines.len() - self.cfg.max_scope_lines);
        }

        // The baseline's list: lines matching the text filter, newest first; all lines
        // when none match.
        let matching: Vec<usize> = (0..lines.len())
            .rev()
            .filter(|&i| filter.matches_text(&lines[i].text))
            .collect();
        let matched = matching.len();
        let mut time_list = if matching.is_empty() {
            (0..lines.len()).rev().collect()
        } else {
            matching
        };
        time_list.truncate(self.cfg.top_k);

        let started = Instant::now();
        let chunks = chunk_lines(&lines, &self.cfg.chunk);
        let (embedded_now, not_indexed) = self
            .ensure_indexed(&chunks, self.cfg.max_embed_on_demand, &|_| {})
            .await?;
        let query = self.embedder.embed_one(question).await?;
        let by_id: HashMap<i64, &Chunked> = chunks.iter().map(|c| (c.chunk.id, c)).collect();
        // Ask for more than k: hits outside the pre-filtered lines are dropped.
        let hits = self
            .store
            .search(&query, &vector_filter(filter), self.cfg.top_k * 4)
            .await?;
        let (semantic, similarity, semantic_hits) =
            semantic_list(&hits, &by_id, self.cfg.min_similarity, self.cfg.top_k);
        let semantic_ms = started.elapsed().as_secs_f64() * 1000.0;

        let ranking = fuse(&time_list, &semantic, &similarity, self.cfg.rrf_k);
        let mut note = format!(
            "hybrid: {} lines in scope, {} chunks ({} embedded now), {} semantic hits fused with {} recent lines",
            lines.len(),
            chunks.len(),
            embedded_now,
            semantic_hits,
            time_list.len()
        );
        if not_indexed > 0 {
            note.push_str(&format!(
                "; {not_indexed} chunks not indexed yet (over the on-demand limit): run `loglens index`"
            ));
        }
        if semantic_hits == 0 {
            note.push_str("; semantic search found nothing in scope, so recency alone");
        }
        Ok(HybridResult {
            lines,
            ranking,
            matched,
            chunks: chunks.len(),
            embedded_now,
            not_indexed,
            semantic_hits,
            semantic_ms,
            note,
        })
    }
}

/// The lines of the semantic hits in `scope` (`by_id`: the scope's chunks), best first,
/// at most `top_k`, with each line's similarity and how many hits counted. Hits are
/// best first; those under `min_similarity` end the list.
fn semantic_list(
    hits: &[Hit],
    by_id: &HashMap<i64, &Chunked>,
    min_similarity: f32,
    top_k: usize,
) -> (Vec<usize>, HashMap<usize, f32>, usize) {
    let mut semantic: Vec<usize> = Vec::new();
    let mut similarity: HashMap<usize, f32> = HashMap::new();
    let mut semantic_hits = 0;
    for h in hits {
        if h.score < min_similarity {
            break;
        }
        let Some(c) = by_id.get(&h.chunk.id) else {
            continue;
        };
        semantic_hits += 1;
        for &i in &c.lines {
            if let std::collections::hash_map::Entry::Vacant(e) = similarity.entry(i) {
                e.insert(h.score);
                semantic.push(i);
            }
        }
        if semantic.len() >= top_k {
            break;
        }
    }
    semantic.truncate(top_k);
    (semantic, similarity, semantic_hits)
}

/// The two lists fused by reciprocal rank, each line with why it was chosen.
fn fuse(
    time_list: &[usize],
    semantic: &[usize],
    similarity: &HashMap<usize, f32>,
    rrf_k: f32,
) -> Vec<Ranked> {
    let time_rank: HashMap<usize, usize> = time_list
        .iter()
        .enumerate()
        .map(|(r, &i)| (i, r + 1))
        .collect();
    let sem_rank: HashMap<usize, usize> = semantic
        .iter()
        .enumerate()
        .map(|(r, &i)| (i, r + 1))
        .collect();
    rrf(&[time_list, semantic], rrf_k)
        .into_iter()
        .map(|(index, score)| {
            let (t, s) = (
                time_rank.get(&index).copied(),
                sem_rank.get(&index).copied(),
            );
            Ranked {
                index,
                chosen: Chosen {
                    why: match (t, s) {
                        (Some(_), Some(_)) => Why::Both,
                        (None, Some(_)) => Why::Semantic,
                        _ => Why::Time,
                    },
                    rrf: score,
                    time_rank: t,
                    semantic_rank: s,
                    similarity: similarity.get(&index).copied(),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement() {
        // 7 is second in both lists; 1 and 9 top one list each.
        let fused = rrf(&[&[1, 7, 3], &[9, 7, 4]], 60.0);
        assert_eq!(fused[0].0, 7);
        let ids: Vec<usize> = fused.iter().map(|x| x.0).collect();
        assert_eq!(ids.len(), 5);
        assert!((fused[0].1 - 2.0 / 62.0).abs() < 1e-6);
        // 1 and 9 tie: first appearance wins.
        assert_eq!(&ids[1..3], &[1, 9]);
    }

    #[test]
    fn rrf_of_one_list_keeps_its_order() {
        let fused = rrf(&[&[5, 2, 8]], 60.0);
        assert_eq!(fused.iter().map(|x| x.0).collect::<Vec<_>>(), vec![5, 2, 8]);
        assert!(rrf(&[], 60.0).is_empty());
    }
}
