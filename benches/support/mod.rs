//! What the `ask` benchmarks share: the real analysis service over the bundled incident,
//! a real llama-server (`LOGLENS_BENCH_MODEL_URL`, default 127.0.0.1:8080) and a
//! throw-away SQLite database.
use std::sync::Arc;
use std::time::Duration;

use loglens::analysis::AnalysisService;
use loglens::store::Store;
use loglens_agents::evidence::SignatureLibrary;
use loglens_agents::llm::{LlmClient, LlmConfig};
use loglens_agents::{AgentPipeline, BaselineAnalyzer, BaselineConfig, PipelineConfig};
use loglens_tools::logs::{FileLogSource, LogSource};

/// The service, the model server's URL, and the folder holding the database
/// (deleted when dropped).
pub struct Bench {
    pub service: AnalysisService,
    pub url: String,
    pub _dir: tempfile::TempDir,
}

/// Builds the service with `cfg` for the agent pipeline; panics with a hint when no
/// model server answers.
pub async fn bench(cfg: PipelineConfig) -> Bench {
    let url =
        std::env::var("LOGLENS_BENCH_MODEL_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await
    .unwrap();
    let llm = LlmClient::new(LlmConfig {
        base_url: url.clone(),
        request_timeout: Duration::from_secs(600),
        ..LlmConfig::default()
    })
    .unwrap();
    llm.ready()
        .await
        .unwrap_or_else(|e| panic!("no model server at {url}: {e} (run scripts/bench.sh)"));
    let logs: Arc<dyn LogSource> = Arc::new(FileLogSource::new(vec![
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cart-redis-incident").into(),
    ]));
    let agents = AgentPipeline::new(
        logs.clone(),
        None,
        llm.clone(),
        Arc::new(SignatureLibrary::builtin().unwrap()),
        cfg,
    );
    let service = AnalysisService::new(
        BaselineAnalyzer::new(logs, llm, BaselineConfig::default()),
        agents,
        store,
    );
    Bench {
        service,
        url,
        _dir: dir,
    }
}
