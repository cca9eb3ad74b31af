//! Resolving the configuration: each setting from its flag or environment variable, else
//! the config file, else its default. Only what cannot be read is an error here (a
//! duration, a chunking mode, a sampling flag); whether the values make sense together is
//! [`super::validate`]'s.
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use loglens_agents::llm::LlmConfig;
use loglens_agents::retrieval::{ChunkConfig, ChunkMode, HybridConfig};
use loglens_agents::specialist::SpecialistConfig;
use loglens_agents::{BaselineConfig, PipelineConfig};
use loglens_tools::embed::EmbedConfig;
use loglens_tools::logs::loki::{LokiAuth, LokiConfig};

use super::{
    Config, DEFAULT_DATABASE_URL, DEFAULT_EMBED_URL, DEFAULT_LISTEN, DEFAULT_MODEL_URL, FileConfig,
    VectorBackend, default_vector_path,
};
use crate::option_groups::Settings;

/// The configuration `args` and `file` make.
pub(super) fn config(
    args: &Settings,
    listen: Option<SocketAddr>,
    file: FileConfig,
) -> anyhow::Result<Config> {
    let (bots, queue, outputs) = bots(&file)?;
    let llm = llm(args, &file)?;
    let analyzer = BaselineConfig {
        context_tokens: args
            .model
            .context_tokens
            .or(file.model.context_tokens)
            .unwrap_or(4096),
        ..BaselineConfig::default()
    };
    let listen = match listen.or(file.server.listen) {
        Some(l) => l,
        None => DEFAULT_LISTEN.parse().context("default listen address")?,
    };
    let database_url = args
        .store
        .database_url
        .clone()
        .or(file.database.url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
    let dd = loglens_evals::drift::DriftThresholds::default();
    Ok(Config {
        admission: (
            file.server.max_concurrent_analyses.unwrap_or(2),
            file.server.max_queued_analyses.unwrap_or(8),
        ),
        cors_origins: file.server.cors_origins.clone().unwrap_or_default(),
        bots,
        queue,
        outputs,
        embed: embed(args, &file),
        vectors: vectors(args, &file, &database_url),
        hybrid: hybrid(&file)?,
        drift: loglens_evals::drift::DriftThresholds {
            quality: file.eval.drift_threshold.unwrap_or(dd.quality),
            latency: file.eval.latency_drift.unwrap_or(dd.latency),
        },
        loki: loki(args, &file),
        pipeline: pipeline(args, &file, analyzer.context_tokens, llm.max_tokens),
        event_paths: if args.logs.events.is_empty() {
            file.events.paths.clone()
        } else {
            args.logs.events.clone()
        },
        kubernetes: args.logs.kubernetes || file.events.kubernetes,
        llm,
        analyzer,
        database_url,
        log_paths: if args.logs.logs.is_empty() {
            file.logs.paths.clone()
        } else {
            args.logs.logs.clone()
        },
        max_line_bytes: file
            .logs
            .max_line_bytes
            .unwrap_or(loglens_tools::logs::DEFAULT_MAX_LINE_BYTES),
        memory_map: args
            .logs
            .memory_map
            .or(file.logs.memory_map)
            .unwrap_or(true),
        listen,
        require_api_key: file.server.require_api_key.unwrap_or(false),
    })
}

/// `[model]` and the model flags.
fn llm(args: &Settings, file: &FileConfig) -> anyhow::Result<LlmConfig> {
    let d = LlmConfig::default();
    Ok(LlmConfig {
        base_url: args
            .model
            .model_url
            .clone()
            .or(file.model.url.clone())
            .unwrap_or_else(|| DEFAULT_MODEL_URL.into()),
        model: args
            .model
            .model
            .clone()
            .or(file.model.name.clone())
            .unwrap_or(d.model),
        api_key: args.model.model_api_key.clone(),
        request_timeout: Duration::from_secs(
            args.model
                .model_timeout
                .or(file.model.timeout_secs)
                .unwrap_or(120),
        ),
        connect_timeout: d.connect_timeout,
        max_tokens: file.model.max_output_tokens.unwrap_or(d.max_tokens),
        temperature: file.model.temperature.unwrap_or(d.temperature),
        sampling: sampling(file.model.sampling.clone(), &args.model.sampling)?,
    })
}

/// `[loki]` and the Loki flags; `None` without a URL.
fn loki(args: &Settings, file: &FileConfig) -> Option<LokiConfig> {
    let url = args.loki.loki_url.clone().or(file.loki.url.clone())?;
    let auth = match (
        &args.loki.loki_token,
        args.loki.loki_user.clone().or(file.loki.user.clone()),
        &args.loki.loki_password,
    ) {
        (Some(t), _, _) => LokiAuth::Bearer(t.clone()),
        (None, Some(user), Some(password)) => LokiAuth::Basic {
            user,
            password: password.clone(),
        },
        _ => LokiAuth::None,
    };
    Some(LokiConfig {
        url,
        tenant: args.loki.loki_tenant.clone().or(file.loki.tenant.clone()),
        auth,
        ..LokiConfig::default()
    })
}

/// `[agents]`, `[redaction]` and the agent flags, for a model with this context and
/// reply size.
fn pipeline(
    args: &Settings,
    file: &FileConfig,
    context_tokens: usize,
    answer_tokens: u32,
) -> PipelineConfig {
    let pd = PipelineConfig::default();
    let max_steps = args
        .agent
        .max_steps
        .or(file.agents.max_steps)
        .unwrap_or(pd.specialist.max_steps);
    let asked_for_rounds = args.agent.max_steps.or(file.agents.max_steps).is_some();
    let specialist = SpecialistConfig {
        max_steps,
        // Tool rounds asked for by name are run whatever the model's size.
        small_model_steps: if asked_for_rounds {
            None
        } else {
            pd.specialist.small_model_steps
        },
        max_calls: file.agents.max_calls.unwrap_or(pd.specialist.max_calls),
        context_tokens,
        answer_tokens,
        tool_calling: file.agents.tool_calling.unwrap_or_default(),
        answer: args.agent.answer.or(file.agents.answer).unwrap_or_default(),
        evidence_tokens: args.agent.evidence_tokens.or(file.agents.evidence_tokens),
        ..pd.specialist
    };
    PipelineConfig {
        specialist,
        samples: args
            .agent
            .samples
            .or(file.agents.samples)
            .unwrap_or(pd.samples),
        sample_temperature: file
            .agents
            .sample_temperature
            .unwrap_or(pd.sample_temperature),
        tool_timeout: file
            .agents
            .tool_timeout_secs
            .map_or(pd.tool_timeout, Duration::from_secs),
        pseudonymize: file
            .redaction
            .pseudonymize
            .clone()
            .unwrap_or_else(|| pd.pseudonymize.clone()),
        restore: file.redaction.restore.unwrap_or(pd.restore),
        ..pd
    }
}

/// `[embeddings]` and the embedding flags.
fn embed(args: &Settings, file: &FileConfig) -> EmbedConfig {
    let ed = EmbedConfig::default();
    EmbedConfig {
        url: args
            .vectors
            .embed_url
            .clone()
            .or(file.embeddings.url.clone())
            .unwrap_or_else(|| DEFAULT_EMBED_URL.into()),
        model: args
            .vectors
            .embed_model
            .clone()
            .or(file.embeddings.model.clone())
            .unwrap_or_default(),
        batch: file.embeddings.batch.unwrap_or(ed.batch),
        concurrency: file.embeddings.concurrency.unwrap_or(ed.concurrency),
        timeout: file
            .embeddings
            .timeout_secs
            .map_or(ed.timeout, Duration::from_secs),
        api_key: std::env::var("LOGLENS_EMBED_API_KEY").ok(),
        ..ed
    }
}

/// Where vectors are kept: Qdrant when it has a URL, else the embedded file.
fn vectors(args: &Settings, file: &FileConfig, database_url: &str) -> VectorBackend {
    match args
        .vectors
        .qdrant_url
        .clone()
        .or(file.vectors.qdrant_url.clone())
    {
        Some(url) => VectorBackend::Qdrant {
            url,
            collection: file
                .vectors
                .collection
                .clone()
                .unwrap_or_else(|| "loglens-chunks".into()),
            api_key: std::env::var("QDRANT_API_KEY").ok(),
        },
        None => VectorBackend::Sqlite(
            args.vectors
                .vector_path
                .clone()
                .or(file.vectors.path.clone())
                .unwrap_or_else(|| default_vector_path(database_url)),
        ),
    }
}

/// `[vectors]`' retrieval settings.
fn hybrid(file: &FileConfig) -> anyhow::Result<HybridConfig> {
    let hd = HybridConfig::default();
    Ok(HybridConfig {
        top_k: file.vectors.top_k.unwrap_or(hd.top_k),
        min_similarity: file.vectors.min_similarity.unwrap_or(hd.min_similarity),
        max_embed_on_demand: file.vectors.on_demand.unwrap_or(hd.max_embed_on_demand),
        chunk: ChunkConfig {
            mode: match &file.vectors.chunking {
                Some(m) => m.parse::<ChunkMode>().map_err(anyhow::Error::msg)?,
                None => hd.chunk.mode,
            },
            collapse: file.vectors.collapse.unwrap_or(hd.chunk.collapse),
            ..hd.chunk
        },
        ..hd
    })
}

/// A secret from the environment, else from the file.
fn secret(env: &str, file: Option<&String>) -> Option<String> {
    std::env::var(env)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| file.cloned())
        .filter(|v| !v.trim().is_empty())
}

/// `[queue]`, `[alerts]`, `[slack]`, `[webhook]`: the bots, their queue and outputs.
fn bots(
    file: &FileConfig,
) -> anyhow::Result<(
    crate::incidents::BotConfig,
    crate::incidents::queue::QueueConfig,
    Vec<crate::incidents::outputs::Output>,
)> {
    use crate::incidents::outputs::{Output, SLACK_API_URL};
    let bd = crate::incidents::BotConfig::default();
    let q = &file.queue;
    let lookback = match &file.alerts.lookback {
        Some(l) => loglens_tools::logs::parse_since(l)
            .and_then(|d| d.to_std().ok())
            .with_context(|| format!("[alerts] lookback {l:?} is not a duration like 30m or 1h"))?,
        None => bd.lookback,
    };
    let slack_since = match &file.slack.since {
        Some(s) if loglens_tools::logs::parse_since(s).is_none() => {
            bail!("[slack] since {s:?} is not a duration like 1h")
        }
        Some(s) => Some(s.clone()),
        None => bd.slack_since.clone(),
    };
    let bots = crate::incidents::BotConfig {
        workers: q.workers.unwrap_or(bd.workers),
        max_attempts: q.max_attempts.unwrap_or(bd.max_attempts),
        delivery_attempts: q.delivery_attempts.unwrap_or(bd.delivery_attempts),
        lookback,
        slack_signing_secret: secret("SLACK_SIGNING_SECRET", file.slack.signing_secret.as_ref()),
        slack_since,
        trace_url: file.server.trace_url.clone(),
        pipeline: file.alerts.pipeline.unwrap_or(bd.pipeline),
        ..bd
    };
    if bots.workers > 16
        || !(1..=100).contains(&bots.max_attempts)
        || !(1..=100).contains(&bots.delivery_attempts)
    {
        bail!("[queue] workers must be 0..=16, max_attempts and delivery_attempts 1..=100");
    }
    let qd = crate::incidents::queue::QueueConfig::default();
    let queue = crate::incidents::queue::QueueConfig {
        lease: q.lease_secs.map_or(qd.lease, Duration::from_secs),
        backoff: q.backoff_secs.map_or(qd.backoff, Duration::from_secs),
        max_backoff: q
            .max_backoff_secs
            .map_or(qd.max_backoff, Duration::from_secs),
    };
    if queue.lease < Duration::from_secs(3) {
        bail!("[queue] lease_secs must be at least 3 (the lease is renewed every third of it)");
    }
    let mut outputs = Vec::new();
    if let Some(url) = secret("SLACK_WEBHOOK_URL", file.slack.webhook_url.as_ref()) {
        outputs.push(Output::SlackWebhook { url });
    }
    if let Some(token) = secret("SLACK_BOT_TOKEN", file.slack.bot_token.as_ref()) {
        outputs.push(Output::Slack {
            api_url: std::env::var("SLACK_API_URL")
                .ok()
                .or_else(|| file.slack.api_url.clone())
                .unwrap_or_else(|| SLACK_API_URL.into()),
            token,
            channel: file
                .slack
                .channel
                .clone()
                .unwrap_or_else(|| "#incidents".into()),
        });
    }
    if let Some(url) = secret("LOGLENS_WEBHOOK_URL", file.webhook.url.as_ref()) {
        outputs.push(Output::Webhook {
            url,
            secret: secret("LOGLENS_WEBHOOK_SECRET", file.webhook.secret.as_ref()),
        });
    }
    Ok((bots, queue, outputs))
}

/// The extra sampling settings: the config file's `[model.sampling]`, then each
/// `--sampling KEY=VALUE` (a value is JSON when it parses as JSON, else a string).
fn sampling(
    file: Option<toml::Table>,
    flags: &[String],
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut out = serde_json::Map::new();
    for (k, v) in file.unwrap_or_default() {
        out.insert(k, serde_json::to_value(v)?);
    }
    for flag in flags {
        let Some((k, v)) = flag.split_once('=') else {
            anyhow::bail!("--sampling {flag:?} is not KEY=VALUE (e.g. dry_multiplier=0.8)");
        };
        let value = serde_json::from_str(v.trim())
            .unwrap_or_else(|_| serde_json::Value::String(v.trim().to_string()));
        out.insert(k.trim().to_string(), value);
    }
    loglens_agents::llm::check_sampling(&out)?;
    Ok(out)
}
