//! The production vector store: a Qdrant collection, over gRPC (`qdrant-client`).
//!
//! Kept small on purpose: chunks, filters and the model check are the ones the embedded
//! store uses ([`Chunk`], [`VectorFilter`], [`check_meta`]); only the calls differ.
//! - One collection, cosine distance, the dimension from the model; keyword payload
//!   indexes on the filterable labels and an integer index on `ts` (epoch ms), created
//!   with the collection so filtered searches stay fast.
//! - Point ids are the chunk ids (content hashes), so upserts are idempotent.
//! - The model that built the collection is a reserved point (id 0, `kind = "meta"`);
//!   searches only look at `kind = "chunk"`.
//!
//! No Qdrant server installs on the development machines: the contract suite runs against
//! this store when `QDRANT_URL` is set (`tests/integration/qdrant.rs`).
use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, GetPointsBuilder, PointId, PointStruct,
    Range, SearchPointsBuilder, UpsertPointsBuilder, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant};
use serde_json::json;

use super::{Chunk, Hit, IndexMeta, VectorError, VectorFilter, VectorStore, check_meta};

const META_ID: u64 = 0;
/// Points per upsert request.
const UPSERT_BATCH: usize = 256;

/// A Qdrant collection as a vector store.
pub struct QdrantStore {
    client: Qdrant,
    url: String,
    collection: String,
}

impl std::fmt::Debug for QdrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantStore")
            .field("url", &self.url)
            .field("collection", &self.collection)
            .finish()
    }
}

fn point_id(id: i64) -> u64 {
    id as u64
}

fn chunk_id(p: &PointId) -> Option<i64> {
    match &p.point_id_options {
        Some(PointIdOptions::Num(n)) => Some(*n as i64),
        _ => None,
    }
}

impl QdrantStore {
    /// A store on `url` (gRPC, e.g. `http://qdrant:6334`), collection `collection`.
    pub fn connect(
        url: &str,
        collection: &str,
        api_key: Option<String>,
    ) -> Result<Self, VectorError> {
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .build()
            .map_err(|e| VectorError::Backend {
                location: url.to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            client,
            url: url.to_string(),
            collection: collection.to_string(),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> VectorError {
        VectorError::Backend {
            location: self.describe(),
            message: e.to_string(),
        }
    }

    async fn exists(&self) -> Result<bool, VectorError> {
        self.client
            .collection_exists(&self.collection)
            .await
            .map_err(|e| self.err(e))
    }

    fn conditions(filter: &VectorFilter) -> Filter {
        let mut must = vec![Condition::matches("kind", "chunk".to_string())];
        for (field, v) in [
            ("namespace", &filter.namespace),
            ("container", &filter.container),
            ("node", &filter.node),
            ("severity", &filter.severity),
        ] {
            if let Some(v) = v {
                must.push(Condition::matches(field, v.clone()));
            }
        }
        if let Some(p) = &filter.pod {
            must.push(
                Filter::should([
                    Condition::matches("pod", p.clone()),
                    Condition::matches("workload", p.clone()),
                ])
                .into(),
            );
        }
        if filter.start.is_some() || filter.end.is_some() {
            must.push(Condition::range(
                "ts",
                Range {
                    gte: filter.start.map(|s| s.timestamp_millis() as f64),
                    lt: filter.end.map(|e| e.timestamp_millis() as f64),
                    // Chunks of unknown time (ts 0) never fall in a window.
                    gt: Some(0.0),
                    lte: None,
                },
            ));
        }
        Filter::must(must)
    }
}

#[async_trait]
impl VectorStore for QdrantStore {
    fn describe(&self) -> String {
        format!("qdrant {} collection {}", self.url, self.collection)
    }

    async fn meta(&self) -> Result<Option<IndexMeta>, VectorError> {
        if !self.exists().await? {
            return Ok(None);
        }
        let got = self
            .client
            .get_points(
                GetPointsBuilder::new(&self.collection, vec![PointId::from(META_ID)])
                    .with_payload(true),
            )
            .await
            .map_err(|e| self.err(e))?;
        let Some(p) = got.result.into_iter().next() else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::Value::Object(
            p.payload
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::from(v)))
                .collect(),
        );
        Ok(serde_json::from_value(v).ok())
    }

    async fn prepare(&self, meta: &IndexMeta) -> Result<(), VectorError> {
        if let Some(built) = self.meta().await? {
            return check_meta(&self.describe(), &built, meta);
        }
        if !self.exists().await? {
            self.client
                .create_collection(
                    CreateCollectionBuilder::new(&self.collection).vectors_config(
                        VectorParamsBuilder::new(meta.dimension as u64, Distance::Cosine),
                    ),
                )
                .await
                .map_err(|e| self.err(e))?;
            for (field, kind) in [
                ("kind", FieldType::Keyword),
                ("namespace", FieldType::Keyword),
                ("pod", FieldType::Keyword),
                ("workload", FieldType::Keyword),
                ("container", FieldType::Keyword),
                ("node", FieldType::Keyword),
                ("severity", FieldType::Keyword),
                ("ts", FieldType::Integer),
            ] {
                self.client
                    .create_field_index(
                        CreateFieldIndexCollectionBuilder::new(&self.collection, field, kind)
                            .wait(true),
                    )
                    .await
                    .map_err(|e| self.err(e))?;
            }
        }
        let mut unit = vec![0.0f32; meta.dimension];
        if let Some(x) = unit.first_mut() {
            *x = 1.0;
        }
        let payload = Payload::try_from(json!({
            "kind": "meta", "model": meta.model, "dimension": meta.dimension
        }))
        .map_err(|e| self.err(e))?;
        self.client
            .upsert_points(
                UpsertPointsBuilder::new(
                    &self.collection,
                    vec![PointStruct::new(META_ID, unit, payload)],
                )
                .wait(true),
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn reset(&self) -> Result<(), VectorError> {
        if self.exists().await? {
            self.client
                .delete_collection(&self.collection)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    async fn upsert(&self, items: &[(Chunk, &[f32])]) -> Result<(), VectorError> {
        let Some(meta) = self.meta().await? else {
            return Err(VectorError::NotPrepared(self.describe()));
        };
        for part in items.chunks(UPSERT_BATCH) {
            let mut points = Vec::with_capacity(part.len());
            for (c, v) in part {
                if v.len() != meta.dimension {
                    return Err(VectorError::Dimension {
                        expected: meta.dimension,
                        got: v.len(),
                    });
                }
                let mut body = serde_json::to_value(c).map_err(|e| self.err(e))?;
                body["kind"] = json!("chunk");
                body["ts"] = json!(c.timestamp.map(|t| t.timestamp_millis()).unwrap_or(0));
                let payload = Payload::try_from(body).map_err(|e| self.err(e))?;
                points.push(PointStruct::new(point_id(c.id), v.to_vec(), payload));
            }
            self.client
                .upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true))
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    async fn existing(&self, ids: &[i64]) -> Result<HashSet<i64>, VectorError> {
        if ids.is_empty() || !self.exists().await? {
            return Ok(HashSet::new());
        }
        let mut out = HashSet::new();
        for part in ids.chunks(1000) {
            let pids: Vec<PointId> = part.iter().map(|i| PointId::from(point_id(*i))).collect();
            let got = self
                .client
                .get_points(GetPointsBuilder::new(&self.collection, pids).with_payload(false))
                .await
                .map_err(|e| self.err(e))?;
            out.extend(
                got.result
                    .iter()
                    .filter_map(|p| p.id.as_ref().and_then(chunk_id)),
            );
        }
        Ok(out)
    }

    async fn search(
        &self,
        query: &[f32],
        filter: &VectorFilter,
        k: usize,
    ) -> Result<Vec<Hit>, VectorError> {
        let Some(meta) = self.meta().await? else {
            return Err(VectorError::NotPrepared(self.describe()));
        };
        if query.len() != meta.dimension {
            return Err(VectorError::Dimension {
                expected: meta.dimension,
                got: query.len(),
            });
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        let found = self
            .client
            .search_points(
                SearchPointsBuilder::new(&self.collection, query.to_vec(), k as u64)
                    .filter(Self::conditions(filter))
                    .with_payload(true),
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut hits = Vec::with_capacity(found.result.len());
        for p in found.result {
            let body = serde_json::Value::Object(
                p.payload
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::from(v)))
                    .collect(),
            );
            let chunk: Chunk = serde_json::from_value(body).map_err(|e| self.err(e))?;
            hits.push(Hit {
                chunk,
                score: p.score,
            });
        }
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.chunk.id.cmp(&b.chunk.id))
        });
        Ok(hits)
    }

    async fn delete_before(&self, before: DateTime<Utc>) -> Result<u64, VectorError> {
        if !self.exists().await? {
            return Ok(0);
        }
        let old = Filter::must([
            Condition::matches("kind", "chunk".to_string()),
            Condition::range(
                "ts",
                Range {
                    gt: Some(0.0),
                    lt: Some(before.timestamp_millis() as f64),
                    gte: None,
                    lte: None,
                },
            ),
        ]);
        let n = self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(old.clone())
                    .exact(true),
            )
            .await
            .map_err(|e| self.err(e))?
            .result
            .map(|r| r.count)
            .unwrap_or(0);
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(old)
                    .wait(true),
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(n)
    }

    async fn count(&self) -> Result<u64, VectorError> {
        if !self.exists().await? {
            return Ok(0);
        }
        Ok(self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(Filter::must([Condition::matches(
                        "kind",
                        "chunk".to_string(),
                    )]))
                    .exact(true),
            )
            .await
            .map_err(|e| self.err(e))?
            .result
            .map(|r| r.count)
            .unwrap_or(0))
    }
}
