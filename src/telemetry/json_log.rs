//! loglens's own logs as JSON lines that carry the trace they belong to:
//! `{"timestamp", "level", "target", "message", ...fields, "span", "trace_id", "span_id",
//! "trace_flags"}`. Loki (through Grafana Alloy) stores them; Grafana's derived field on
//! `trace_id` links each line to its trace in Tempo.
//!
//! tracing-subscriber's own JSON format knows nothing of OpenTelemetry ids, so this
//! formatter asks the OpenTelemetry layer for the context of the innermost span that has
//! one.
use std::fmt;

use opentelemetry::trace::{TraceContextExt, TraceFlags};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The formatter.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonWithTrace;

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut obj = Map::new();
        obj.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        obj.insert("level".into(), meta.level().as_str().into());
        obj.insert("target".into(), meta.target().into());
        let mut fields = FieldsToJson(Map::new());
        event.record(&mut fields);
        for (k, v) in fields.0 {
            // Event fields never overwrite the fixed keys.
            obj.entry(k).or_insert(v);
        }
        if let Some(span) = ctx.lookup_current() {
            obj.insert("span".into(), span.name().into());
            let dispatch = tracing::dispatcher::get_default(Clone::clone);
            for s in span.scope() {
                let Some(cx) = tracing_opentelemetry::get_otel_context(&s.id(), &dispatch) else {
                    continue;
                };
                let sc = cx.span().span_context().clone();
                if sc.is_valid() {
                    obj.insert("trace_id".into(), sc.trace_id().to_string().into());
                    obj.insert("span_id".into(), sc.span_id().to_string().into());
                    let sampled = sc.trace_flags() & TraceFlags::SAMPLED == TraceFlags::SAMPLED;
                    obj.insert(
                        "trace_flags".into(),
                        format!("{:02x}", u8::from(sampled)).into(),
                    );
                    break;
                }
            }
        }
        let line = serde_json::to_string(&Value::Object(obj)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// Collects an event's fields into a JSON object.
struct FieldsToJson(Map<String, Value>);

impl Visit for FieldsToJson {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(
            field.name().into(),
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}
