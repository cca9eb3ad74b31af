//! Keeps every span of loglens's own runs in the database, so `loglens trace ID` can show
//! a run long after it ended, without Tempo.
//!
//! [`SpanRecorder`] is an OpenTelemetry span exporter: the SDK hands it each span as it
//! ends (a simple processor: no batching delay, so a one-shot `ask` has all its spans
//! when it finishes), it turns the span into a [`SpanRow`] and puts it on a bounded
//! channel. A writer task (`write_spans`) takes them off and inserts them into the
//! store in batches. The channel is bounded: if the database falls behind by more than
//! [`CHANNEL_CAPACITY`] spans, new spans are dropped (and counted), never the process's
//! memory.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::Value;
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::sync::mpsc::{Receiver, Sender};

pub use crate::store::SpanRow;
use crate::store::Store;

/// Spans waiting for the database at most.
pub const CHANNEL_CAPACITY: usize = 65_536;

impl SpanRow {
    fn from_span(s: &SpanData) -> Self {
        let ns = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        };
        let mut attributes = serde_json::Map::new();
        for kv in &s.attributes {
            attributes.insert(kv.key.to_string(), json_value(&kv.value));
        }
        SpanRow {
            trace_id: s.span_context.trace_id().to_string(),
            span_id: s.span_context.span_id().to_string(),
            parent_span_id: (s.parent_span_id != SpanId::INVALID && !s.parent_span_is_remote)
                .then(|| s.parent_span_id.to_string()),
            name: s.name.to_string(),
            kind: match s.span_kind {
                SpanKind::Client => "client",
                SpanKind::Server => "server",
                SpanKind::Producer => "producer",
                SpanKind::Consumer => "consumer",
                SpanKind::Internal => "internal",
            }
            .into(),
            start_unix_ns: ns(s.start_time),
            end_unix_ns: ns(s.end_time),
            status: match &s.status {
                Status::Unset => "unset".into(),
                Status::Ok => "ok".into(),
                Status::Error { description } if description.is_empty() => "error".into(),
                Status::Error { description } => format!("error: {description}"),
            },
            attributes: serde_json::Value::Object(attributes),
        }
    }
}

fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Bool(b) => (*b).into(),
        Value::I64(i) => (*i).into(),
        Value::F64(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

/// The exporter that feeds the database writer.
#[derive(Debug, Clone)]
pub struct SpanRecorder {
    tx: Sender<SpanRow>,
    dropped: Arc<AtomicU64>,
}

impl SpanRecorder {
    /// A recorder and the receiving end for `write_spans`.
    pub fn new() -> (Self, Receiver<SpanRow>) {
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_CAPACITY);
        (
            SpanRecorder {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    /// Spans dropped because the writer fell behind (or was never started).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A request turned away before any work (401 no key, 429 over a rate or the model's
/// queue full): not kept in the database. A flood of them would otherwise fill it with
/// one-span traces that say only "refused"; the request counter and the OTLP export
/// still see them.
fn refused_request(span: &SpanData) -> bool {
    span.attributes.iter().any(|kv| {
        kv.key.as_str() == "http.response.status_code"
            && matches!(kv.value, opentelemetry::Value::I64(401 | 429))
    })
}

impl SpanExporter for SpanRecorder {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        for span in &batch {
            if refused_request(span) {
                continue;
            }
            if self.tx.try_send(SpanRow::from_span(span)).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// The task that writes spans into the database; [`SpanWriter::finish`] writes what is
/// left and stops it.
#[derive(Debug)]
pub struct SpanWriter {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl SpanWriter {
    /// Starts writing spans from `rx` into `store`, in batches of what has arrived. A
    /// failed write is logged and the batch dropped: tracing must never stop an analysis.
    pub fn start(store: Store, mut rx: Receiver<SpanRow>) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(256);
            loop {
                tokio::select! {
                    biased;
                    n = rx.recv_many(&mut batch, 256) => {
                        if n == 0 {
                            break;
                        }
                    }
                    _ = &mut stopped => {
                        while let Ok(row) = rx.try_recv() {
                            batch.push(row);
                        }
                        write(&store, &batch).await;
                        break;
                    }
                }
                write(&store, &batch).await;
                batch.clear();
            }
        });
        SpanWriter { stop, task }
    }

    /// Writes the spans still queued, then stops.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn write(store: &Store, batch: &[SpanRow]) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = store.insert_spans(batch).await {
        tracing::warn!(error = %format!("{e:#}"), spans = batch.len(), "could not store trace spans");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    fn request_span(status: i64) -> SpanData {
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: "POST /v1/analyze".into(),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: vec![KeyValue::new("http.response.status_code", status)],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("t").build(),
        }
    }

    #[test]
    fn refused_requests_are_not_kept() {
        assert!(refused_request(&request_span(429)));
        assert!(refused_request(&request_span(401)));
        assert!(!refused_request(&request_span(200)));
        assert!(
            !refused_request(&request_span(422)),
            "a bad request is worth its trace"
        );
    }
}
