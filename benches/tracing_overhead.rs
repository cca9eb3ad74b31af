//! What tracing costs an `ask`: the same agent-pipeline question, run alternately without
//! a subscriber and with the production one (every span an OpenTelemetry span, kept in
//! SQLite by the span writer; JSON logs with trace ids at `info`), against a real
//! llama-server. Target: under 1% of wall time.
//!
//! The model's time varies more from run to run than tracing could cost, so the bench
//! compares what is *not* model time (wall time minus the time HTTP calls to the model
//! were in flight, as `ask_overhead` measures it): tracing cost = mean non-model time
//! traced − mean non-model time plain, reported as a share of the mean wall time.
//! Metrics are not part of it (their instruments bind once per process); OTLP export is
//! not either (it runs on the SDK's own thread, off the request path).
//!
//! Run with `scripts/bench.sh`, or `cargo bench --bench tracing_overhead` with
//! `LOGLENS_BENCH_MODEL_URL` pointing at a running llama-server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Instant;

use loglens::analysis::{PipelineMode, Question, new_id};
use loglens::telemetry::json_log::JsonWithTrace;
use loglens::telemetry::span_store::{SpanRecorder, SpanWriter};
use loglens_agents::PipelineConfig;
use loglens_agents::specialist::SpecialistConfig;
use loglens_tools::logs::Scope;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, SimpleSpanProcessor};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

const RUNS: usize = 5;

#[tokio::main]
async fn main() {
    // The settings of the full eval: no tool rounds, evidence capped; one answer per
    // specialist (still 2 model calls and ~15 spans per ask).
    let pd = PipelineConfig::default();
    let cfg = PipelineConfig {
        specialist: SpecialistConfig {
            max_steps: 0,
            evidence_tokens: Some(600),
            ..pd.specialist
        },
        ..pd
    };
    let b = support::bench(cfg).await;
    let (service, store, url) = (&b.service, b.service.store().clone(), b.url.clone());

    // The production subscriber, minus stderr: JSON logs go to a sink.
    let (recorder, rx) = SpanRecorder::new();
    let writer = SpanWriter::start(store.clone(), rx);
    let provider = SdkTracerProvider::builder()
        .with_span_processor(SimpleSpanProcessor::new(recorder.clone()))
        .build();
    let traced = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonWithTrace)
                .with_writer(std::io::sink)
                .with_filter(EnvFilter::new("info")),
        )
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("loglens"))
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_location(false),
        );
    // Installed as the global default, as `main` does; the plain runs switch it off for
    // their own future (both pay the same per-span "is anyone listening?" check).
    tracing::subscriber::set_global_default(traced).unwrap();
    let plain_dispatch = tracing::Dispatch::none();

    println!("tracing overhead: {RUNS} asks each way, agents pipeline, model server {url}");
    println!(
        "{:>4} {:>7} {:>10} {:>12} {:>12}",
        "run", "traced", "wall ms", "in model ms", "other ms"
    );
    let ask = |run: usize| Question {
        id: new_id(),
        text: format!("Why are customers unable to view or add items to their cart? ({run})"),
        filters: Scope::default(),
        limit: 15,
        channel: "bench",
        mode: PipelineMode::Agents,
        retrieval: Some(loglens_agents::router::RetrievalMode::Structured),
    };
    // A warm-up run each way fills llama.cpp's prompt cache and the page cache.
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    for run in 0..=RUNS {
        // Traced first: tracing caches whether anyone listens at a call site when it is
        // first reached, asking the dispatcher current then.
        for traced_run in [true, false] {
            let started = Instant::now();
            let result = if traced_run {
                service.run(ask(run), None).await
            } else {
                service
                    .run(ask(run), None)
                    .with_subscriber(plain_dispatch.clone())
                    .await
            };
            let record = result.unwrap_or_else(|f| panic!("ask failed: {}", f.error));
            let wall = started.elapsed().as_secs_f64() * 1000.0;
            if run == 0 {
                continue;
            }
            let other = wall - record.model_ms;
            println!(
                "{run:>4} {traced_run:>7} {wall:>10.1} {:>12.1} {other:>12.3}",
                record.model_ms
            );
            assert_eq!(
                record.trace_id.is_some(),
                traced_run,
                "only traced runs have a trace id"
            );
            if traced_run {
                with.push((wall, other));
            } else {
                plain.push((wall, other));
            }
        }
    }
    writer.finish().await;
    let mean =
        |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
    let (wall_plain, other_plain) = (mean(&plain, |x| x.0), mean(&plain, |x| x.1));
    let (wall_traced, other_traced) = (mean(&with, |x| x.0), mean(&with, |x| x.1));
    let cost = other_traced - other_plain;
    let latest_traced = store
        .recent(2 * RUNS as i64 + 2)
        .await
        .unwrap()
        .into_iter()
        .find_map(|r| r.trace_id)
        .unwrap();
    let spans = store.spans(&latest_traced).await.unwrap().len();
    println!(
        "non-model time: plain {other_plain:.2} ms, traced {other_traced:.2} ms; tracing cost {cost:.2} ms per ask ({spans} spans)"
    );
    println!(
        "tracing overhead: {:.3}% of mean wall time ({:.0} ms plain, {:.0} ms traced; target < 1%); spans dropped: {}",
        cost / wall_plain * 100.0,
        wall_plain,
        wall_traced,
        recorder.dropped()
    );
}
