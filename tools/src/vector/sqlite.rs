//! The embedded vector store: a SQLite file searched by `sqlite-vec`.
//!
//! Why `sqlite-vec` rather than a hand-written index or another library:
//! - it lives in SQLite, which loglens already uses: one more file beside the database,
//!   transactions, no server, nothing else to back up;
//! - its `vec0` virtual table filters on *metadata columns* inside the nearest-neighbour
//!   scan (`WHERE embedding MATCH ? AND k = 20 AND namespace = 'shop' AND ts >= ?`), which
//!   is exactly hybrid retrieval's label-and-time pre-filter;
//! - it is an exact (brute-force, SIMD) search: at tens of thousands of chunks that is a
//!   few milliseconds (see `cargo bench -p loglens-tools --bench vectors`), with no
//!   approximate-index recall to tune; Qdrant takes over beyond that;
//! - it is small C with no dependencies, MIT/Apache-2.0, maintained (Mozilla Builders),
//!   and the `sqlite-vec` crate compiles it into the binary: nothing to install.
//!
//! Distance: vectors are unit length (the embedder normalizes them), so Euclidean (L2)
//! distance ranks exactly as cosine does (|a-b|² = 2 - 2·cos), and sqlite-vec's L2 kernel
//! is the cheaper one (one multiply-add per dimension instead of three); the cosine is
//! recovered from the distance.
//!
//! Layout: `chunks` holds each chunk's payload; `chunks_vec` (vec0) holds its vector and
//! the filterable metadata, with the same row id; `vector_meta` records the model.
//! Missing metadata is stored as `''` (vec0 metadata columns take no NULL), a missing
//! time as 0.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Once;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Row};

use super::{Chunk, Hit, IndexMeta, VectorError, VectorFilter, VectorStore, check_meta};

static REGISTER: Once = Once::new();

/// Makes `vec0` and the `vec_*` functions available on every SQLite connection the
/// process opens from now on.
#[allow(unsafe_code)]
fn register_sqlite_vec() {
    REGISTER.call_once(|| {
        type EntryPoint = unsafe extern "C" fn(
            *mut libsqlite3_sys::sqlite3,
            *mut *mut std::ffi::c_char,
            *const libsqlite3_sys::sqlite3_api_routines,
        ) -> std::ffi::c_int;
        // SAFETY: `sqlite3_vec_init` is SQLite's standard extension entry point
        // (`int (sqlite3*, char**, const sqlite3_api_routines*)`); the crate declares it
        // as `fn()` only because it exports a bare symbol. It is compiled with
        // SQLITE_CORE against the SQLite that libsqlite3-sys links, so the API pointer is
        // unused. `Once` registers it a single time; the pointer is 'static.
        unsafe {
            let entry: EntryPoint = std::mem::transmute::<unsafe extern "C" fn(), EntryPoint>(
                sqlite_vec::sqlite3_vec_init,
            );
            libsqlite3_sys::sqlite3_auto_extension(Some(entry));
        }
    });
}

/// The embedded vector store.
#[derive(Debug, Clone)]
pub struct SqliteVectorStore {
    pool: SqlitePool,
    path: PathBuf,
}

fn backend(path: &Path, e: impl std::fmt::Display) -> VectorError {
    VectorError::Backend {
        location: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The vector file that goes with a database file: `loglens.db` → `loglens.vectors.db`.
pub fn path_beside(database: &Path) -> PathBuf {
    let stem = database
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "loglens".into());
    database.with_file_name(format!("{stem}.vectors.db"))
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

fn unopt(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn millis(t: Option<DateTime<Utc>>) -> i64 {
    t.map(|t| t.timestamp_millis()).unwrap_or(0)
}

/// A vector as sqlite-vec's float32 BLOB, scaled to unit length (L2 ranks as cosine only
/// between unit vectors; the embedder's are already, this keeps any caller's right).
fn f32_bytes(v: &[f32]) -> Vec<u8> {
    let mut u = v.to_vec();
    crate::embed::normalize(&mut u);
    u.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl SqliteVectorStore {
    /// Opens (creating if needed) the store at `path`.
    pub async fn open(path: &Path) -> Result<Self, VectorError> {
        register_sqlite_vec();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| backend(path, e))?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| backend(path, e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10))
            // A search reads every vector that passes the filters: memory-mapped reads
            // skip SQLite's page-cache copies (the OS caches the file once for all
            // connections): p99 at 50,000 chunks 52 → 46 ms, docs/benchmarks.md.
            .pragma("mmap_size", "1073741824");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|e| backend(path, e))?;
        let store = Self {
            pool,
            path: path.to_path_buf(),
        };
        for sql in [
            "CREATE TABLE IF NOT EXISTS vector_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS chunks (
                id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, namespace TEXT NOT NULL,
                pod TEXT NOT NULL, workload TEXT NOT NULL, container TEXT NOT NULL,
                node TEXT NOT NULL, severity TEXT NOT NULL, pattern TEXT NOT NULL,
                source TEXT NOT NULL, line_no INTEGER NOT NULL, lines INTEGER NOT NULL,
                repeats INTEGER NOT NULL, text TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS chunks_ts ON chunks (ts)",
        ] {
            sqlx::query(sql)
                .execute(&store.pool)
                .await
                .map_err(|e| backend(path, e))?;
        }
        Ok(store)
    }

    fn err(&self, e: impl std::fmt::Display) -> VectorError {
        backend(&self.path, e)
    }

    async fn dimension(&self) -> Result<usize, VectorError> {
        match self.meta().await? {
            Some(m) => Ok(m.dimension),
            None => Err(VectorError::NotPrepared(self.describe())),
        }
    }

    async fn knn(
        &self,
        query: &[f32],
        filter: &VectorFilter,
        pod_column: Option<(&'static str, &str)>,
        k: usize,
    ) -> Result<Vec<(i64, f32)>, VectorError> {
        let mut sql = String::from(
            "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?",
        );
        let mut text_args: Vec<String> = Vec::new();
        for (col, v) in [
            ("namespace", &filter.namespace),
            ("container", &filter.container),
            ("node", &filter.node),
            ("severity", &filter.severity),
        ] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} = ?"));
                text_args.push(v.clone());
            }
        }
        if let Some((col, v)) = pod_column {
            sql.push_str(&format!(" AND {col} = ?"));
            text_args.push(v.to_string());
        }
        let mut int_args: Vec<i64> = Vec::new();
        if let Some(s) = filter.start {
            sql.push_str(" AND ts >= ?");
            int_args.push(s.timestamp_millis());
        }
        if let Some(e) = filter.end {
            sql.push_str(" AND ts < ?");
            int_args.push(e.timestamp_millis());
        }
        if filter.start.is_some() || filter.end.is_some() {
            // Chunks of unknown time (ts 0) never fall in a window.
            sql.push_str(" AND ts > 0");
        }
        sql.push_str(" ORDER BY distance");
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(f32_bytes(query))
            .bind(k.min(4096) as i64);
        for a in text_args {
            q = q.bind(a);
        }
        for a in int_args {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
                // L2 distance between unit vectors: |a-b|² = 2 - 2·cos(a,b).
                let d: f64 = r.try_get(1).map_err(|e| self.err(e))?;
                Ok((id, 1.0 - (d * d / 2.0) as f32))
            })
            .collect()
    }

    async fn load(&self, ids: &[i64]) -> Result<Vec<Chunk>, VectorError> {
        let mut out = Vec::with_capacity(ids.len());
        for part in ids.chunks(500) {
            let marks = vec!["?"; part.len()].join(",");
            let sql = format!(
                "SELECT id, ts, namespace, pod, workload, container, node, severity, pattern,
                        source, line_no, lines, repeats, text FROM chunks WHERE id IN ({marks})"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in part {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await.map_err(|e| self.err(e))? {
                let get_s = |i: usize| -> Result<String, VectorError> {
                    r.try_get::<String, _>(i).map_err(|e| self.err(e))
                };
                let ts: i64 = r.try_get(1).map_err(|e| self.err(e))?;
                out.push(Chunk {
                    id: r.try_get(0).map_err(|e| self.err(e))?,
                    timestamp: if ts == 0 {
                        None
                    } else {
                        Utc.timestamp_millis_opt(ts).single()
                    },
                    namespace: unopt(get_s(2)?),
                    pod: unopt(get_s(3)?),
                    workload: unopt(get_s(4)?),
                    container: unopt(get_s(5)?),
                    node: unopt(get_s(6)?),
                    severity: unopt(get_s(7)?),
                    pattern: get_s(8)?,
                    source: get_s(9)?,
                    line_no: r.try_get::<i64, _>(10).map_err(|e| self.err(e))?.max(0) as u64,
                    lines: r.try_get::<i64, _>(11).map_err(|e| self.err(e))?.max(0) as u32,
                    repeats: r.try_get::<i64, _>(12).map_err(|e| self.err(e))?.max(0) as u32,
                    text: get_s(13)?,
                });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl VectorStore for SqliteVectorStore {
    fn describe(&self) -> String {
        format!("sqlite-vec {}", self.path.display())
    }

    async fn meta(&self) -> Result<Option<IndexMeta>, VectorError> {
        let rows = sqlx::query("SELECT key, value FROM vector_meta")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let mut model = None;
        let mut dimension = None;
        for r in rows {
            let k: String = r.try_get(0).map_err(|e| self.err(e))?;
            let v: String = r.try_get(1).map_err(|e| self.err(e))?;
            match k.as_str() {
                "model" => model = Some(v),
                "dimension" => dimension = v.parse().ok(),
                _ => {}
            }
        }
        Ok(match (model, dimension) {
            (Some(model), Some(dimension)) => Some(IndexMeta { model, dimension }),
            _ => None,
        })
    }

    async fn prepare(&self, meta: &IndexMeta) -> Result<(), VectorError> {
        if let Some(built) = self.meta().await? {
            return check_meta(&self.describe(), &built, meta);
        }
        if meta.dimension == 0 || meta.dimension > 8192 {
            return Err(self.err(format!("unusable dimension {}", meta.dimension)));
        }
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let create = format!(
            "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vec USING vec0(
                embedding float[{}],
                ts integer, namespace text, pod text, workload text, container text,
                node text, severity text)",
            meta.dimension
        );
        sqlx::query(AssertSqlSafe(create))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        for (k, v) in [
            ("model", meta.model.clone()),
            ("dimension", meta.dimension.to_string()),
        ] {
            sqlx::query("INSERT OR REPLACE INTO vector_meta (key, value) VALUES (?, ?)")
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn reset(&self) -> Result<(), VectorError> {
        for sql in [
            "DROP TABLE IF EXISTS chunks_vec",
            "DELETE FROM chunks",
            "DELETE FROM vector_meta",
        ] {
            sqlx::query(sql)
                .execute(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    async fn upsert(&self, items: &[(Chunk, &[f32])]) -> Result<(), VectorError> {
        if items.is_empty() {
            return Ok(());
        }
        let dim = self.dimension().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        for (c, v) in items {
            if v.len() != dim {
                return Err(VectorError::Dimension {
                    expected: dim,
                    got: v.len(),
                });
            }
            // vec0 has no INSERT OR REPLACE: delete, then insert.
            sqlx::query("DELETE FROM chunks_vec WHERE rowid = ?")
                .bind(c.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            sqlx::query(
                "INSERT INTO chunks_vec (rowid, embedding, ts, namespace, pod, workload, container, node, severity)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(c.id)
            .bind(f32_bytes(v))
            .bind(millis(c.timestamp))
            .bind(opt(&c.namespace))
            .bind(opt(&c.pod))
            .bind(opt(&c.workload))
            .bind(opt(&c.container))
            .bind(opt(&c.node))
            .bind(opt(&c.severity))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            sqlx::query(
                "INSERT OR REPLACE INTO chunks (id, ts, namespace, pod, workload, container, node,
                    severity, pattern, source, line_no, lines, repeats, text)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(c.id)
            .bind(millis(c.timestamp))
            .bind(opt(&c.namespace))
            .bind(opt(&c.pod))
            .bind(opt(&c.workload))
            .bind(opt(&c.container))
            .bind(opt(&c.node))
            .bind(opt(&c.severity))
            .bind(&c.pattern)
            .bind(&c.source)
            .bind(c.line_no.min(i64::MAX as u64) as i64)
            .bind(i64::from(c.lines))
            .bind(i64::from(c.repeats))
            .bind(&c.text)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn existing(&self, ids: &[i64]) -> Result<HashSet<i64>, VectorError> {
        let mut out = HashSet::new();
        for part in ids.chunks(500) {
            let marks = vec!["?"; part.len()].join(",");
            let mut q = sqlx::query(AssertSqlSafe(format!(
                "SELECT id FROM chunks WHERE id IN ({marks})"
            )));
            for id in part {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await.map_err(|e| self.err(e))? {
                out.insert(r.try_get::<i64, _>(0).map_err(|e| self.err(e))?);
            }
        }
        Ok(out)
    }

    async fn search(
        &self,
        query: &[f32],
        filter: &VectorFilter,
        k: usize,
    ) -> Result<Vec<Hit>, VectorError> {
        let dim = self.dimension().await?;
        if query.len() != dim {
            return Err(VectorError::Dimension {
                expected: dim,
                got: query.len(),
            });
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        // vec0 metadata filters are conjunctions: "this pod or its workload" is two scans.
        let mut scored = match &filter.pod {
            None => self.knn(query, filter, None, k).await?,
            Some(p) => {
                let mut a = self.knn(query, filter, Some(("pod", p)), k).await?;
                a.extend(self.knn(query, filter, Some(("workload", p)), k).await?);
                a.sort_by(|x, y| y.1.total_cmp(&x.1));
                let mut seen = HashSet::new();
                a.retain(|(id, _)| seen.insert(*id));
                a.truncate(k);
                a
            }
        };
        scored.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let ids: Vec<i64> = scored.iter().map(|(id, _)| *id).collect();
        let mut chunks: std::collections::HashMap<i64, Chunk> = self
            .load(&ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        Ok(scored
            .into_iter()
            .filter_map(|(id, score)| chunks.remove(&id).map(|chunk| Hit { chunk, score }))
            .collect())
    }

    async fn delete_before(&self, before: DateTime<Utc>) -> Result<u64, VectorError> {
        let t = before.timestamp_millis();
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let has_vec = self.meta().await?.is_some();
        if has_vec {
            sqlx::query(
                "DELETE FROM chunks_vec WHERE rowid IN (SELECT id FROM chunks WHERE ts > 0 AND ts < ?)",
            )
            .bind(t)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        let n = sqlx::query("DELETE FROM chunks WHERE ts > 0 AND ts < ?")
            .bind(t)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(n)
    }

    async fn count(&self) -> Result<u64, VectorError> {
        let n: i64 = sqlx::query("SELECT count(*) FROM chunks")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            .try_get(0)
            .map_err(|e| self.err(e))?;
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteVectorStore::open(&dir.path().join("v.db"))
            .await
            .unwrap();
        crate::vector::contract::run(&store).await;
    }

    #[tokio::test]
    async fn survives_a_reopen_and_refuses_another_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        {
            let store = SqliteVectorStore::open(&path).await.unwrap();
            crate::vector::contract::fill(&store).await;
        }
        let store = SqliteVectorStore::open(&path).await.unwrap();
        assert!(store.count().await.unwrap() > 0);
        let other = IndexMeta {
            model: "bge-small-en-v1.5".into(),
            dimension: 384,
        };
        let err = store.prepare(&other).await.unwrap_err();
        assert!(matches!(err, VectorError::ModelMismatch { .. }), "{err}");
        assert!(err.to_string().contains("loglens index --rebuild"), "{err}");
    }

    #[test]
    fn the_vector_file_sits_beside_the_database() {
        assert_eq!(
            path_beside(Path::new("/var/lib/loglens/loglens.db")),
            PathBuf::from("/var/lib/loglens/loglens.vectors.db")
        );
    }
}
