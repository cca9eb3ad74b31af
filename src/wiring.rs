//! Wiring: the configuration turned into running parts (the log and event sources, the
//! model client, the agent pipeline, hybrid retrieval, the analysis service, the incident
//! bots). Every command that needs one builds it here, so no command imports another.
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use loglens_agents::evidence::SignatureLibrary;
use loglens_agents::llm::LlmClient;
use loglens_agents::retrieval::HybridRetriever;
use loglens_agents::{AgentPipeline, BaselineAnalyzer};
use loglens_tools::embed::Embedder;
use loglens_tools::k8s::{EventSource, FileEventSource, LokiEventSource, MergedEventSource};
use loglens_tools::logs::FileLogSource;
use loglens_tools::logs::LogSource;
use loglens_tools::logs::loki::{LokiClient, LokiLogSource};
use loglens_tools::vector::{SqliteVectorStore, VectorStore};

use crate::analysis::AnalysisService;
use crate::config::{Config, VectorBackend};
use crate::store::Store;

/// Builds the analysis service from the configuration: log source, model client, store.
pub async fn build_service(config: &Config) -> anyhow::Result<AnalysisService> {
    let agents = agent_pipeline(config).await?;
    let analyzer = BaselineAnalyzer::new(
        agents.source().clone(),
        agents.llm().clone(),
        config.analyzer.clone(),
    );
    // Hybrid retrieval contacts nothing until it is used; only opening the index can
    // fail here (an unwritable path), and that should not stop structured answers.
    let agents = match hybrid_retriever(config).await {
        Ok(h) => agents.with_hybrid(h),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "hybrid retrieval unavailable");
            agents
        }
    };
    let store = Store::connect(&config.database_url).await?;
    let (running, queued) = config.admission;
    Ok(AnalysisService::new(analyzer, agents, store)
        .with_admission(crate::admission::Admission::new(running, queued)))
}

/// The agent pipeline (log and event sources, model client, signatures), without
/// hybrid retrieval or storage: what the insight commands need.
pub async fn agent_pipeline(config: &Config) -> anyhow::Result<AgentPipeline> {
    let llm = LlmClient::new(config.llm.clone())?;
    let library = SignatureLibrary::builtin().context("loading the signature library")?;
    Ok(AgentPipeline::new(
        log_source(config)?,
        event_source(config).await?,
        llm,
        Arc::new(library),
        config.pipeline.clone(),
    ))
}

/// The incident bots over the store's queue and the configured outputs.
pub fn build_bots(
    config: &Config,
    store: &Store,
    bot_config: crate::incidents::BotConfig,
) -> anyhow::Result<crate::incidents::Bots> {
    let queue = crate::incidents::queue::JobQueue::new(store, config.queue);
    let sender =
        crate::incidents::outputs::Sender::new(config.outputs.clone(), Duration::from_secs(15))?;
    if sender.outputs().is_empty() {
        tracing::info!(
            "no report outputs configured ([slack], [webhook]): alert investigations are stored, not sent"
        );
    }
    Ok(crate::incidents::Bots::new(queue, sender, bot_config))
}

/// Hybrid retrieval as configured: the embedding client and the vector index (the
/// embedded file, or Qdrant).
pub async fn hybrid_retriever(config: &Config) -> anyhow::Result<HybridRetriever> {
    let store: Arc<dyn VectorStore> = match &config.vectors {
        VectorBackend::Sqlite(path) => Arc::new(
            SqliteVectorStore::open(path)
                .await
                .with_context(|| format!("opening the vector index {}", path.display()))?,
        ),
        VectorBackend::Qdrant {
            url,
            collection,
            api_key,
        } => qdrant(url, collection, api_key.clone())?,
    };
    Ok(HybridRetriever::new(
        Embedder::new(config.embed.clone()),
        store,
        config.hybrid,
    ))
}

/// The Qdrant collection, in a build with Qdrant.
#[cfg(feature = "qdrant")]
fn qdrant(
    url: &str,
    collection: &str,
    api_key: Option<String>,
) -> anyhow::Result<Arc<dyn VectorStore>> {
    Ok(Arc::new(loglens_tools::vector::QdrantStore::connect(
        url, collection, api_key,
    )?))
}

/// A build without Qdrant says so.
#[cfg(not(feature = "qdrant"))]
fn qdrant(url: &str, _: &str, _: Option<String>) -> anyhow::Result<Arc<dyn VectorStore>> {
    bail!(
        "Qdrant ({url}) is configured, but this loglens was built without the `qdrant` feature: rebuild with default features, or leave qdrant_url unset for the embedded index"
    )
}

/// The Kubernetes API, in a build with it.
#[cfg(feature = "kube")]
async fn kubernetes_api() -> anyhow::Result<Arc<dyn EventSource>> {
    Ok(Arc::new(
        loglens_tools::k8s::KubeEventSource::infer().await?,
    ))
}

/// A build without the Kubernetes API says so.
#[cfg(not(feature = "kube"))]
async fn kubernetes_api() -> anyhow::Result<Arc<dyn EventSource>> {
    bail!(
        "reading the Kubernetes API (--kubernetes) needs the `kube` feature, which this loglens was built without: rebuild with default features, or pass --events files"
    )
}

/// Where Kubernetes events come from: the files given with --events, else the Kubernetes
/// API when asked (--kubernetes; merged with Loki's events when Loki is configured), else
/// Loki (Alloy's `loki.source.kubernetes_events`) when it is configured, else nowhere.
pub async fn event_source(config: &Config) -> anyhow::Result<Option<Arc<dyn EventSource>>> {
    if !config.event_paths.is_empty() {
        for p in &config.event_paths {
            if !p.exists() {
                bail!("event file {} does not exist", p.display());
            }
        }
        return Ok(Some(Arc::new(FileEventSource::new(
            config.event_paths.clone(),
        ))));
    }
    if config.kubernetes {
        let api = kubernetes_api().await?;
        // With Loki too: the API's present (pod status, the last hour of events) and
        // Loki's history of events, read as one.
        return Ok(Some(match &config.loki {
            Some(loki) => Arc::new(MergedEventSource::new(vec![
                api,
                Arc::new(LokiEventSource::new(LokiClient::new(loki.clone())?)),
            ])),
            None => api,
        }));
    }
    if let Some(loki) = &config.loki {
        return Ok(Some(Arc::new(LokiEventSource::new(LokiClient::new(
            loki.clone(),
        )?))));
    }
    Ok(None)
}

/// Where logs are read from: the local files given with --logs when there are any (the
/// embedded default), else Loki when it is configured.
pub fn log_source(config: &Config) -> anyhow::Result<Arc<dyn LogSource>> {
    if !config.log_paths.is_empty() {
        let source = FileLogSource::new(config.log_paths.clone())
            .with_max_line_bytes(config.max_line_bytes)
            .with_memory_map(config.memory_map);
        source.files().context("checking --logs")?;
        return Ok(Arc::new(source));
    }
    if let Some(loki) = &config.loki {
        return Ok(Arc::new(LokiLogSource::new(LokiClient::new(loki.clone())?)));
    }
    bail!(
        "no logs given: pass --logs PATH for local files or --loki-url URL for Loki (or set LOGLENS_LOGS / LOGLENS_LOKI_URL, or loglens.toml)"
    )
}
