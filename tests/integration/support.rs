//! Shared fixtures: server URLs, an incident log, an app over them.
use loglens::incidents::outputs::{Output, Sender};
use loglens::incidents::queue::{JobQueue, QueueConfig};
use loglens::incidents::{BotConfig, Bots};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use loglens::analysis::AnalysisService;
use loglens::server::AppState;
use loglens::store::Store;
use loglens_agents::evidence::SignatureLibrary;
use loglens_agents::llm::{LlmClient, LlmConfig};
use loglens_agents::retrieval::{HybridConfig, HybridRetriever};
use loglens_agents::{AgentPipeline, BaselineAnalyzer, BaselineConfig, PipelineConfig};
use loglens_tools::embed::{EmbedConfig, Embedder};
use loglens_tools::logs::{FileLogSource, LogSource};
use loglens_tools::vector::SqliteVectorStore;

/// The real llama-server started by scripts/test.sh.
pub fn model_url() -> String {
    std::env::var("LOGLENS_TEST_MODEL_URL")
        .unwrap_or_else(|_| panic!("LOGLENS_TEST_MODEL_URL is not set: run the tests with scripts/test.sh, which starts llama-server"))
}

/// The real PostgreSQL started by scripts/test.sh.
pub fn postgres_url() -> String {
    std::env::var("LOGLENS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| panic!("LOGLENS_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL"))
}

/// The real embedding server (llama-server --embeddings, all-MiniLM-L6-v2) started by
/// scripts/test.sh.
pub fn embed_url() -> String {
    test_env("LOGLENS_TEST_EMBED_URL")
}

/// Hybrid retrieval over the embedding server at `embed_url` and a fresh embedded index
/// in `dir`.
pub async fn hybrid(dir: &Path, embed_url: &str) -> HybridRetriever {
    let store = SqliteVectorStore::open(&dir.join("loglens.vectors.db"))
        .await
        .unwrap();
    HybridRetriever::new(
        Embedder::new(EmbedConfig {
            url: embed_url.into(),
            ..EmbedConfig::default()
        }),
        Arc::new(store),
        HybridConfig::default(),
    )
}

/// The `loglens` executable, run from the repository root, with no loglens or
/// OpenTelemetry settings inherited from the environment.
pub fn loglens() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_loglens"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in [
        "LOGLENS_LOGS",
        "LOGLENS_MODEL_URL",
        "LOGLENS_DATABASE_URL",
        "LOGLENS_LOKI_URL",
        "LOGLENS_CONFIG",
        "LOGLENS_EMBED_URL",
        "LOGLENS_EMBED_MODEL",
        "LOGLENS_VECTOR_PATH",
        "QDRANT_URL",
        "SLACK_WEBHOOK_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "LOGLENS_WEBHOOK_URL",
        "LOGLENS_WEBHOOK_SECRET",
        "LOGLENS_WORKERS",
        "LOGLENS_LOG_FORMAT",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    for (var, _) in std::env::vars() {
        if var.starts_with("OTEL_") {
            c.env_remove(var);
        }
    }
    c
}

/// An environment variable `scripts/test.sh` sets, or a panic saying so.
pub fn test_env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests with scripts/test.sh, which starts the servers")
    })
}

/// Fails with the command's stderr unless it exited successfully.
pub fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A URL where nothing listens.
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// A small incident: a database pool runs out, payments fail, checkout fails.
pub const INCIDENT: &str = r#"{"timestamp":"2025-03-01T10:00:00Z","labels":{"namespace":"shop","pod":"payments-7c9d-x1","container":"payments","node":"node-1"},"line":"starting payments service v2.3.1"}
{"timestamp":"2025-03-01T10:01:00Z","labels":{"namespace":"shop","pod":"payments-7c9d-x1","container":"payments","node":"node-1"},"line":"ERROR pq: sorry, too many clients already (pool 20/20 in use)"}
{"timestamp":"2025-03-01T10:01:01Z","labels":{"namespace":"shop","pod":"payments-7c9d-x1","container":"payments","node":"node-1"},"line":"ERROR charge failed: timeout acquiring db connection after 5000ms"}
{"timestamp":"2025-03-01T10:01:03Z","labels":{"namespace":"shop","pod":"checkout-55f-q2","container":"checkout","node":"node-2"},"line":"ERROR order 1234 failed: payment service unavailable"}
"#;

/// Writes a log file into `dir`.
pub fn write_logs(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// An app over `logs`, a model at `model_url`, and a SQLite file in `dir`.
pub async fn app_state(dir: &Path, logs: PathBuf, model_url: &str) -> AppState {
    app_state_with(dir, logs, model_url, None).await
}

/// [`app_state`], with hybrid retrieval (`/v2`) when given.
pub async fn app_state_with(
    dir: &Path,
    logs: PathBuf,
    model_url: &str,
    hybrid: Option<HybridRetriever>,
) -> AppState {
    let store = Store::connect(&format!("sqlite://{}", dir.join("loglens.db").display()))
        .await
        .unwrap();
    let bots = bots(
        &store,
        Vec::new(),
        BotConfig::default(),
        QueueConfig::default(),
    );
    AppState {
        service: service(logs, model_url, hybrid, store),
        metrics: prometheus::Registry::new(),
        auth: loglens::server::auth::Auth::open(),
        bots,
    }
}

/// The analysis service over `logs`, a model at `model_url` and a store.
pub fn service(
    logs: PathBuf,
    model_url: &str,
    hybrid: Option<HybridRetriever>,
    store: Store,
) -> AnalysisService {
    let llm = LlmClient::new(LlmConfig {
        base_url: model_url.into(),
        model: "test-model".into(),
        request_timeout: Duration::from_secs(600),
        ..LlmConfig::default()
    })
    .unwrap();
    let source: Arc<dyn LogSource> = Arc::new(FileLogSource::new(vec![logs]));
    let analyzer = BaselineAnalyzer::new(source.clone(), llm.clone(), BaselineConfig::default());
    let agents = AgentPipeline::new(
        source,
        None,
        llm,
        Arc::new(SignatureLibrary::builtin().unwrap()),
        PipelineConfig::default(),
    );
    let agents = match hybrid {
        Some(h) => agents.with_hybrid(h),
        None => agents,
    };
    AnalysisService::new(analyzer, agents, store)
}

/// Incident bots over a store's queue, sending to `outputs` (no workers are started).
pub fn bots(store: &Store, outputs: Vec<Output>, config: BotConfig, queue: QueueConfig) -> Bots {
    Bots::new(
        JobQueue::new(store, queue),
        Sender::new(outputs, Duration::from_secs(5)).unwrap(),
        config,
    )
}
