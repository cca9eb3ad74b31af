//! OTLP export of traces and metrics, configured the way every OpenTelemetry SDK is: by the
//! standard environment variables.
//!
//! | variable | effect |
//! |---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL for all signals (`http://tempo:4318`, or `:4317` for gRPC) |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `..._METRICS_ENDPOINT` | one signal's full URL |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` (`..._TRACES_PROTOCOL`, `..._METRICS_PROTOCOL`) | `http/protobuf` (default) or `grpc` |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `..._TIMEOUT` | read by the exporter itself |
//! | `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` | `none` turns a signal's export off |
//! | `OTEL_SDK_DISABLED` | `true` turns all export off |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the resource (default service name `loglens`) |
//!
//! With no endpoint set nothing is exported over the network; spans are still kept in the
//! database and metrics still served at `/metrics`.
use anyhow::Context;

/// Which OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/HTTP with binary protobuf bodies (port 4318 by convention).
    HttpProtobuf,
    /// OTLP/gRPC (port 4317 by convention).
    Grpc,
}

/// The two signals loglens exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metrics.
    Metrics,
}

impl Signal {
    fn suffix(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        }
    }
}

/// The transport for `signal`, when it is to be exported; `None` when export is off.
pub fn transport(signal: Signal) -> anyhow::Result<Option<Transport>> {
    transport_from(signal, |name| std::env::var(name).ok())
}

/// [`transport`] reading variables through `get` (tests pass a map).
pub fn transport_from(
    signal: Signal,
    get: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Transport>> {
    let var = |name: &str| {
        get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let s = signal.suffix();
    let exporter_var = format!("OTEL_{s}_EXPORTER");
    if let Some(e) = var(&exporter_var) {
        match e.as_str() {
            "none" => return Ok(None),
            "otlp" => {}
            other => anyhow::bail!("{exporter_var}={other:?}: loglens exports only otlp (or none)"),
        }
    }
    let endpoint = var(&format!("OTEL_EXPORTER_OTLP_{s}_ENDPOINT"))
        .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"));
    if endpoint.is_none() {
        return Ok(None);
    }
    let protocol_var = format!("OTEL_EXPORTER_OTLP_{s}_PROTOCOL");
    let protocol = var(&protocol_var).or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match protocol.as_deref() {
        None | Some("http/protobuf") => Ok(Some(Transport::HttpProtobuf)),
        Some("grpc") => Ok(Some(Transport::Grpc)),
        Some(other) => anyhow::bail!(
            "OTLP protocol {other:?} is not supported: use http/protobuf or grpc ({protocol_var} / OTEL_EXPORTER_OTLP_PROTOCOL)"
        ),
    }
}

/// The OTLP span exporter, when traces are to be exported.
pub fn span_exporter() -> anyhow::Result<Option<opentelemetry_otlp::SpanExporter>> {
    use opentelemetry_otlp::SpanExporter;
    let Some(t) = transport(Signal::Traces)? else {
        return Ok(None);
    };
    let exporter = match t {
        Transport::HttpProtobuf => SpanExporter::builder().with_http().build(),
        Transport::Grpc => SpanExporter::builder().with_tonic().build(),
    }
    .context("configuring the OTLP trace exporter")?;
    Ok(Some(exporter))
}

/// The OTLP metric exporter, when metrics are to be exported.
pub fn metric_exporter() -> anyhow::Result<Option<opentelemetry_otlp::MetricExporter>> {
    use opentelemetry_otlp::MetricExporter;
    let Some(t) = transport(Signal::Metrics)? else {
        return Ok(None);
    };
    let exporter = match t {
        Transport::HttpProtobuf => MetricExporter::builder().with_http().build(),
        Transport::Grpc => MetricExporter::builder().with_tonic().build(),
    }
    .context("configuring the OTLP metric exporter")?;
    Ok(Some(exporter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)], signal: Signal) -> anyhow::Result<Option<Transport>> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        transport_from(signal, |k| m.get(k).cloned())
    }

    #[test]
    fn export_needs_an_endpoint_and_defaults_to_http_protobuf() {
        assert_eq!(with(&[], Signal::Traces).unwrap(), None);
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")];
        assert_eq!(
            with(&base, Signal::Traces).unwrap(),
            Some(Transport::HttpProtobuf)
        );
        assert_eq!(
            with(&base, Signal::Metrics).unwrap(),
            Some(Transport::HttpProtobuf)
        );
        // A signal's own endpoint is enough for that signal only.
        let traces_only = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://t:4318/v1/traces",
        )];
        assert!(with(&traces_only, Signal::Traces).unwrap().is_some());
        assert_eq!(with(&traces_only, Signal::Metrics).unwrap(), None);
    }

    #[test]
    fn protocol_exporter_and_disabled_switches_are_honoured() {
        let grpc = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        assert_eq!(with(&grpc, Signal::Traces).unwrap(), Some(Transport::Grpc));
        // The per-signal protocol wins over the general one.
        let mixed = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
        ];
        assert_eq!(
            with(&mixed, Signal::Metrics).unwrap(),
            Some(Transport::HttpProtobuf)
        );
        let none = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ];
        assert_eq!(with(&none, Signal::Traces).unwrap(), None);
        assert!(with(&none, Signal::Metrics).unwrap().is_some());
        let off = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert_eq!(with(&off, Signal::Traces).unwrap(), None);
    }

    #[test]
    fn unsupported_settings_are_refused_with_the_variable_named() {
        let json = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ];
        let e = with(&json, Signal::Traces).unwrap_err().to_string();
        assert!(
            e.contains("http/json") && e.contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
            "{e}"
        );
        let zipkin = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
        ];
        let e = with(&zipkin, Signal::Traces).unwrap_err().to_string();
        assert!(e.contains("OTEL_TRACES_EXPORTER"), "{e}");
    }
}
