//! Stored spans: the agent traces `loglens trace` shows without Tempo.
use serde::{Deserialize, Serialize};
use sqlx::Row;

use anyhow::Context;

use super::Store;

/// One stored span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRow {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// The parent's span id; `None` for a root (or a span whose parent is remote).
    pub parent_span_id: Option<String>,
    /// Span name (`chat SmolLM2`, `execute_tool logql_query`, ...).
    pub name: String,
    /// `internal`, `server`, `client`, ...
    pub kind: String,
    /// Start, ns since the Unix epoch.
    pub start_unix_ns: i64,
    /// End, ns since the Unix epoch.
    pub end_unix_ns: i64,
    /// `unset`, `ok` or `error: description`.
    pub status: String,
    /// Attributes as one JSON object.
    pub attributes: serde_json::Value,
}

impl SpanRow {
    /// Duration, ms.
    pub fn duration_ms(&self) -> f64 {
        (self.end_unix_ns - self.start_unix_ns) as f64 / 1e6
    }
}

impl Store {
    /// Stores spans (a span already stored is kept as it was).
    pub async fn insert_spans(&self, spans: &[SpanRow]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await.context("storing trace spans")?;
        for s in spans {
            sqlx::query(
                "INSERT INTO trace_spans (trace_id, span_id, parent_span_id, name, kind, start_unix_ns, end_unix_ns, status, attributes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (trace_id, span_id) DO NOTHING",
            )
            .bind(&s.trace_id)
            .bind(&s.span_id)
            .bind(s.parent_span_id.as_deref())
            .bind(&s.name)
            .bind(&s.kind)
            .bind(s.start_unix_ns)
            .bind(s.end_unix_ns)
            .bind(&s.status)
            .bind(s.attributes.to_string())
            .execute(&mut *tx)
            .await
            .context("storing a trace span")?;
        }
        tx.commit().await.context("storing trace spans")?;
        Ok(())
    }

    /// The spans of one trace, in start order.
    pub async fn spans(&self, trace_id: &str) -> anyhow::Result<Vec<SpanRow>> {
        let rows = sqlx::query(
            "SELECT trace_id, span_id, parent_span_id, name, kind, start_unix_ns, end_unix_ns, status, attributes \
             FROM trace_spans WHERE trace_id = $1 ORDER BY start_unix_ns, span_id",
        )
        .bind(trace_id)
        .fetch_all(&self.pool)
        .await
        .context("reading trace spans")?;
        rows.iter()
            .map(|r| {
                Ok(SpanRow {
                    trace_id: r.try_get("trace_id")?,
                    span_id: r.try_get("span_id")?,
                    parent_span_id: r.try_get("parent_span_id")?,
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    start_unix_ns: r.try_get("start_unix_ns")?,
                    end_unix_ns: r.try_get("end_unix_ns")?,
                    status: r.try_get("status")?,
                    attributes: serde_json::from_str(&r.try_get::<String, _>("attributes")?)
                        .context("trace_spans.attributes is not JSON")?,
                })
            })
            .collect()
    }
}
