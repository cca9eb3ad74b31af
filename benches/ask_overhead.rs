//! Orchestration overhead of one `ask`, for the agent pipeline and the baseline: wall time
//! minus time spent inside the model server, as a percentage of wall time. Target: under
//! 5%. For the agents the overhead includes everything that is not the model: routing
//! rules, retrieval, signature detection and pattern mining, tool calls, consensus.
//!
//! Runs the real path (`AnalysisService::run`: read and filter the bundled incident's
//! logs, budget, prompt, stream the model's JSON, validate, resolve evidence, store in
//! SQLite) against a real llama-server. "Inside the model server" is the wall time of the
//! HTTP calls to it (completions and `/tokenize`), measured around each call.
//!
//! Run with `scripts/bench.sh` (starts llama-server, then `cargo bench --bench
//! ask_overhead`), or point `LOGLENS_BENCH_MODEL_URL` at a running server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Instant;

use loglens::analysis::{PipelineMode, Question, new_id};
use loglens_agents::PipelineConfig;
use loglens_tools::logs::Scope;

const RUNS: usize = 5;

#[tokio::main]
async fn main() {
    let b = support::bench(PipelineConfig::default()).await;
    let (service, url) = (&b.service, b.url.clone());

    for mode in [PipelineMode::Agents, PipelineMode::Baseline] {
        println!("\n== {} pipeline", mode.name());
        println!(
            "ask overhead ({} pipeline): {RUNS} runs over examples/cart-redis-incident, model server {url}",
            mode.name()
        );
        println!(
            "{:>4} {:>10} {:>14} {:>12} {:>10}",
            "run", "wall ms", "in server ms", "overhead ms", "overhead"
        );
        let mut overheads = Vec::new();
        let (mut wall_total, mut model_total) = (0.0, 0.0);
        // One warm-up run fills llama.cpp's prompt cache the way a running service has it.
        for run in 0..=RUNS {
            let q = Question {
                id: new_id(),
                text: "Why are customers unable to view or add items to their cart?".into(),
                filters: Scope::default(),
                limit: 15,
                channel: "bench",
                mode,
                retrieval: Some(loglens_agents::router::RetrievalMode::Structured),
            };
            let started = Instant::now();
            let record = service
                .run(q, None)
                .await
                .unwrap_or_else(|f| panic!("ask failed: {}", f.error));
            let wall = started.elapsed().as_secs_f64() * 1000.0;
            if run == 0 {
                continue;
            }
            let overhead = wall - record.model_ms;
            overheads.push(overhead / wall * 100.0);
            wall_total += wall;
            model_total += record.model_ms;
            println!(
                "{run:>4} {wall:>10.1} {:>14.1} {overhead:>12.1} {:>9.2}%",
                record.model_ms,
                overhead / wall * 100.0
            );
        }
        overheads.sort_by(f64::total_cmp);
        let mean = (wall_total - model_total) / wall_total * 100.0;
        println!(
            "overhead: mean {mean:.2}% of wall time, median {:.2}%, max {:.2}% (target < 5%)",
            overheads[overheads.len() / 2],
            overheads[overheads.len() - 1]
        );
    }
}
