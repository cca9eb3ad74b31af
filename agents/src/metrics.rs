//! The agents' metrics, recorded through the OpenTelemetry metrics API.
//!
//! This crate only records; where the numbers go is the binary's choice (the `loglens`
//! binary installs a meter provider that serves them at `/metrics` for Prometheus and
//! pushes them over OTLP when an endpoint is configured). With no provider installed every
//! instrument is a no-op, so tests and libraries pay nothing.
//!
//! Model metrics use the OpenTelemetry GenAI semantic conventions
//! (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`), so dashboards built
//! for other GenAI clients read them too.
use std::sync::LazyLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};

use crate::llm::ModelCall;

/// Bucket bounds for model call durations, seconds: a small model's reply takes seconds,
/// a long one minutes.
const DURATION_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0,
];
/// Bucket bounds for token counts (the GenAI conventions' advice).
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0,
];
/// Bucket bounds for generation speed, tokens per second.
const SPEED_BUCKETS: &[f64] = &[1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0];

struct Instruments {
    model_duration: Histogram<f64>,
    token_usage: Histogram<u64>,
    tokens_per_second: Histogram<f64>,
    tool_calls: Counter<u64>,
    retrievals: Counter<u64>,
    evidence_lines: Counter<u64>,
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = opentelemetry::global::meter("loglens");
    Instruments {
        model_duration: meter
            .f64_histogram("gen_ai.client.operation.duration")
            .with_unit("s")
            .with_description("Duration of model calls, as loglens sees them")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build(),
        token_usage: meter
            .u64_histogram("gen_ai.client.token.usage")
            .with_unit("{token}")
            .with_description("Tokens per model call, by gen_ai.token.type (input, output)")
            .with_boundaries(TOKEN_BUCKETS.to_vec())
            .build(),
        tokens_per_second: meter
            .f64_histogram("loglens.model.generation_speed")
            .with_unit("{token}/s")
            .with_description("Generation speed the model server reports per call")
            .with_boundaries(SPEED_BUCKETS.to_vec())
            .build(),
        tool_calls: meter
            .u64_counter("loglens.tool.calls")
            .with_description("Tool calls by tool and status (ok, error, timed_out, refused)")
            .build(),
        retrievals: meter
            .u64_counter("loglens.retrieval.requests")
            .with_description(
                "Retrievals by outcome: hit (lines found), events_only, or miss (nothing)",
            )
            .build(),
        evidence_lines: meter
            .u64_counter("loglens.evidence.lines")
            .with_description(
                "Log lines by stage: retrieved from the store, shown to the model (their ratio is the chunking efficiency)",
            )
            .build(),
    }
});

/// Records one model call: its duration, token counts and speed. `error` is the error's
/// kind when the call failed (then `call` holds what was measured before it failed).
pub fn record_model_call(model: &str, operation: &str, call: &ModelCall, error: Option<&str>) {
    let i = &*INSTRUMENTS;
    let mut attrs = vec![
        KeyValue::new("gen_ai.operation.name", operation.to_string()),
        KeyValue::new("gen_ai.provider.name", "llama.cpp"),
        KeyValue::new("gen_ai.request.model", model.to_string()),
    ];
    if let Some(kind) = error {
        attrs.push(KeyValue::new("error.type", kind.to_string()));
    }
    i.model_duration.record(call.http_ms / 1000.0, &attrs);
    if error.is_some() {
        return;
    }
    let with_type = |kind: &'static str, n: u64| {
        let mut a = attrs.clone();
        a.push(KeyValue::new("gen_ai.token.type", kind));
        i.token_usage.record(n, &a);
    };
    with_type("input", call.prompt_tokens);
    with_type("output", call.completion_tokens);
    if call.tokens_per_second > 0.0 {
        i.tokens_per_second.record(call.tokens_per_second, &attrs);
    }
}

/// Records one tool call's outcome. `tool` must be a known tool's name (or `unknown`):
/// it is a metric label.
pub fn record_tool_call(tool: &str, status: &'static str) {
    INSTRUMENTS.tool_calls.add(
        1,
        &[
            KeyValue::new("tool", tool.to_string()),
            KeyValue::new("status", status),
        ],
    );
}

/// Records a retrieval: how many lines and events it found.
pub fn record_retrieval(lines: usize, events: usize) {
    let outcome = match (lines, events) {
        (0, 0) => "miss",
        (0, _) => "events_only",
        _ => "hit",
    };
    let i = &*INSTRUMENTS;
    i.retrievals
        .add(1, &[KeyValue::new("outcome", outcome.to_string())]);
    i.evidence_lines
        .add(lines as u64, &[KeyValue::new("stage", "retrieved")]);
}

/// Records how many lines the model was shown after patterns collapsed repeats.
pub fn record_lines_shown(lines: usize) {
    INSTRUMENTS
        .evidence_lines
        .add(lines as u64, &[KeyValue::new("stage", "shown")]);
}
