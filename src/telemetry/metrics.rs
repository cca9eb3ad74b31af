//! The service's own metrics (the agents crate records model, tool and retrieval
//! metrics; see `loglens_agents::metrics`), and the Prometheus text for `/metrics`.
//!
//! All metrics go through one OpenTelemetry meter provider with two readers: the
//! Prometheus exporter (pulled at `/metrics`) and, when an OTLP endpoint is set, a
//! periodic OTLP push (the nightly eval, a short-lived job, is pushed, not scraped).
use std::sync::LazyLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, UpDownCounter};
use prometheus::{Encoder, TextEncoder};

const SECONDS_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

struct Instruments {
    requests: Counter<u64>,
    analyses: Counter<u64>,
    analysis_duration: Histogram<f64>,
    in_flight: UpDownCounter<i64>,
    extraction_accuracy: Gauge<f64>,
    retrieval_precision: Gauge<f64>,
    router_accuracy: Gauge<f64>,
    eval_latency: Histogram<f64>,
    jobs: Counter<u64>,
    panics: Counter<u64>,
    client_gone: Counter<u64>,
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = opentelemetry::global::meter("loglens");
    Instruments {
        requests: meter
            .u64_counter("loglens.http.requests")
            .with_description("HTTP requests by method, route and status code")
            .build(),
        analyses: meter
            .u64_counter("loglens.analyses")
            .with_description("Analyses by channel, pipeline and status (ok or the error code)")
            .build(),
        analysis_duration: meter
            .f64_histogram("loglens.analysis.duration")
            .with_unit("s")
            .with_description("Wall time of one analysis")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build(),
        in_flight: meter
            .i64_up_down_counter("loglens.analyses.in_flight")
            .with_description("Analyses running or waiting for the model (the queue depth)")
            .build(),
        extraction_accuracy: meter
            .f64_gauge("log_extraction_accuracy")
            .with_description("Last eval run: accuracy of one extracted field")
            .build(),
        retrieval_precision: meter
            .f64_gauge("log_retrieval_precision")
            .with_description(
                "Last eval run: precision of the retrieved lines against the evidence lines",
            )
            .build(),
        router_accuracy: meter
            .f64_gauge("router_accuracy")
            .with_description("Last eval run: share of cases routed as labelled")
            .build(),
        eval_latency: meter
            .f64_histogram("loglens.eval.case.duration")
            .with_unit("s")
            .with_description("Wall time of one eval case")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build(),
        jobs: meter
            .u64_counter("loglens.jobs")
            .with_description(
                "Incident-bot jobs run to an outcome, by kind (investigate, answer, deliver) and status (done, queued for a retry, dead)",
            )
            .build(),
        panics: meter
            .u64_counter("loglens.panics")
            .with_description(
                "Panics caught and turned into a 500 or a failed job, by where (http, job)",
            )
            .build(),
        client_gone: meter
            .u64_counter("loglens.http.client_disconnects")
            .with_description(
                "Analyses whose client went away before the answer; each still ran to its end and was stored",
            )
            .build(),
    }
});

/// Counts one caught panic (`place`: `http` or `job`).
pub fn record_panic(place: &str) {
    INSTRUMENTS
        .panics
        .add(1, &[KeyValue::new("where", place.to_string())]);
}

/// Counts one client that went away while its analysis ran.
pub fn record_client_gone(route: &str) {
    INSTRUMENTS
        .client_gone
        .add(1, &[KeyValue::new("http.route", route.to_string())]);
}

/// Counts one job run by the incident bots.
pub fn record_job(kind: &str, status: &str) {
    INSTRUMENTS.jobs.add(
        1,
        &[
            KeyValue::new("kind", kind.to_string()),
            KeyValue::new("status", status.to_string()),
        ],
    );
}

/// Counts one HTTP request.
pub fn record_request(method: &str, route: &str, status: u16) {
    INSTRUMENTS.requests.add(
        1,
        &[
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("http.route", route.to_string()),
            KeyValue::new("http.response.status_code", i64::from(status)),
        ],
    );
}

/// Counts one finished analysis and its duration.
pub fn record_analysis(channel: &str, pipeline: &str, status: &str, seconds: f64) {
    let attrs = [
        KeyValue::new("channel", channel.to_string()),
        KeyValue::new("pipeline", pipeline.to_string()),
        KeyValue::new("status", status.to_string()),
    ];
    INSTRUMENTS.analyses.add(1, &attrs);
    INSTRUMENTS.analysis_duration.record(seconds, &attrs[..2]);
}

/// Marks an analysis as running until the guard is dropped.
pub fn in_flight() -> InFlight {
    INSTRUMENTS.in_flight.add(1, &[]);
    InFlight
}

/// See [`in_flight`].
#[derive(Debug)]
pub struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        INSTRUMENTS.in_flight.add(-1, &[]);
    }
}

/// The headline numbers of one eval run, as gauges labelled with the variant.
pub fn record_eval_run(
    variant: &str,
    fields: &[(&str, f64)],
    retrieval_precision: f64,
    router_accuracy: f64,
) {
    let v = KeyValue::new("variant", variant.to_string());
    for (field, accuracy) in fields {
        INSTRUMENTS.extraction_accuracy.record(
            *accuracy,
            &[v.clone(), KeyValue::new("field", field.to_string())],
        );
    }
    INSTRUMENTS
        .retrieval_precision
        .record(retrieval_precision, std::slice::from_ref(&v));
    INSTRUMENTS.router_accuracy.record(router_accuracy, &[v]);
}

/// One eval case's wall time.
pub fn record_eval_case(variant: &str, seconds: f64) {
    INSTRUMENTS
        .eval_latency
        .record(seconds, &[KeyValue::new("variant", variant.to_string())]);
}

/// The Prometheus text exposition of everything in `registry`.
pub fn prometheus_text(registry: &prometheus::Registry) -> anyhow::Result<String> {
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out)?;
    Ok(String::from_utf8(out)?)
}
