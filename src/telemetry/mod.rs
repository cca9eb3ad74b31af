//! loglens's own telemetry: diagnostic logs, traces of every run, metrics.
//!
//! - **Logs** go to stderr, levels from `RUST_LOG` (default `warn` for one-shot commands,
//!   `info` for the server); `--log-format json` writes JSON lines with `trace_id`,
//!   `span_id` and `trace_flags` ([`json_log`]).
//! - **Traces**: every `tracing` span of loglens's crates becomes an OpenTelemetry span
//!   (tracing-opentelemetry). Each span is kept in the database as it ends
//!   ([`span_store`], read back by `loglens trace ID`) and, when an OTLP endpoint is set,
//!   exported in batches to Tempo or any collector ([`otlp`]).
//! - **Metrics**: one OpenTelemetry meter provider, read by the Prometheus exporter
//!   (`GET /metrics`) and pushed over OTLP when an endpoint is set ([`metrics`]).
//!
//! `main` calls [`Telemetry::init`] first and [`Telemetry::shutdown`] last, so batched
//! spans and the last metrics are flushed before the process exits.
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracerProvider, SimpleSpanProcessor};
use tokio::sync::mpsc::Receiver;
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::store::Store;

pub mod json_log;
pub mod metrics;
pub mod otlp;
pub mod span_store;

use span_store::{SpanRecorder, SpanRow, SpanWriter};

/// How long exit waits for the last traces and metrics to be exported.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// The installed providers; see the module docs.
pub struct Telemetry {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
    registry: prometheus::Registry,
    recorder: SpanRecorder,
    pending: Mutex<Option<Receiver<SpanRow>>>,
    writer: Mutex<Option<SpanWriter>>,
}

/// The crates whose spans become OpenTelemetry spans (not those of dependencies: no span
/// per HTTP chunk or SQL statement).
fn traced_targets() -> Targets {
    [
        "loglens",
        "loglens_agents",
        "loglens_tools",
        "loglens_evals",
    ]
    .into_iter()
    .fold(Targets::new(), |t, name| t.with_target(name, Level::INFO))
}

fn resource() -> Resource {
    let mut builder = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder.with_service_name("loglens");
    }
    builder
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

/// Format of loglens's own diagnostic logs on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Telemetry {
    /// Builds the providers and installs the global subscriber, meter provider and W3C
    /// trace-context propagator. Fails only on an OTLP setting it cannot honour.
    /// `default` is the level when `RUST_LOG` does not say (`info` for a server, `warn`
    /// for a command that prints its own output).
    pub fn init(format: LogFormat, default: &str) -> anyhow::Result<Self> {
        let resource = resource();

        let (recorder, pending) = SpanRecorder::new();
        let mut tracer = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_span_processor(SimpleSpanProcessor::new(recorder.clone()));
        if let Some(exporter) = otlp::span_exporter()? {
            tracer = tracer.with_batch_exporter(exporter);
        }
        let tracer = tracer.build();

        let registry = prometheus::Registry::new();
        let prom = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()?;
        let mut meter = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(prom);
        if let Some(exporter) = otlp::metric_exporter()? {
            meter = meter.with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(Duration::from_secs(15))
                    .build(),
            );
        }
        let meter = meter.build();
        opentelemetry::global::set_meter_provider(meter.clone());
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );

        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
        let fmt = match format {
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .event_format(json_log::JsonWithTrace)
                .boxed(),
        };
        let otel = tracing_opentelemetry::layer()
            .with_tracer(tracer.tracer("loglens"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false);
        let _ = tracing_subscriber::registry()
            .with(fmt.with_filter(filter))
            .with(otel.with_filter(traced_targets()))
            .try_init();

        Ok(Telemetry {
            tracer,
            meter,
            registry,
            recorder,
            pending: Mutex::new(Some(pending)),
            writer: Mutex::new(None),
        })
    }

    /// The registry `/metrics` renders.
    pub fn registry(&self) -> prometheus::Registry {
        self.registry.clone()
    }

    /// Starts keeping spans in `store` (once; later calls do nothing). Spans that ended
    /// before are kept too: they waited in the channel.
    pub fn keep_spans_in(&self, store: Store) {
        let Some(rx) = self.pending.lock().ok().and_then(|mut p| p.take()) else {
            return;
        };
        if let Ok(mut w) = self.writer.lock() {
            *w = Some(SpanWriter::start(store, rx));
        }
    }

    /// Flushes everything: the database writer, the OTLP batch, the last metrics.
    pub async fn shutdown(&self) {
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = writer {
            w.finish().await;
        }
        let dropped = self.recorder.dropped();
        if dropped > 0 && self.pending.lock().is_ok_and(|p| p.is_none()) {
            tracing::warn!(
                dropped,
                "trace spans were dropped: the database fell behind"
            );
        }
        let tracer = self.tracer.clone();
        let meter = self.meter.clone();
        // The SDK's shutdown blocks on its export threads; keep it off the async workers.
        // The last batch (the root span, consensus, ...) is exported here: give a slow
        // collector time (the SDK's default wait is 5 s, and a process that exits while
        // the export is in flight loses the batch).
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = tracer.shutdown_with_timeout(FLUSH_TIMEOUT) {
                tracing::warn!(error = %e, "flushing traces failed");
            }
            if let Err(e) = meter.shutdown_with_timeout(FLUSH_TIMEOUT) {
                tracing::warn!(error = %e, "flushing metrics failed");
            }
        })
        .await;
    }
}

/// The trace id of `span` (32 hex digits), when it is being traced.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}
