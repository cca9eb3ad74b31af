//! Storage of analyses: SQLite by default, PostgreSQL in production, one code path.
//!
//! sqlx's `Any` driver runs the same queries on both; each backend has its own migration
//! folder (`migrations/sqlite`, `migrations/postgres`) so the schema can diverge later
//! where a backend has something better to offer. Every analysis is written as a single
//! INSERT once it has finished (or failed), so a row is either complete or absent: a
//! crash or a dead model server never leaves half a record.
//!
//! One file per kind of row: [`analyses`] (the answers), [`spans`] (the agent traces),
//! [`eval_runs`] (the nightly eval's runs), [`api_keys`] (the HTTP API's keys). The job
//! queue's rows live with the incident bots (`crate::incidents::queue`).
mod analyses;
mod api_keys;
mod eval_runs;
mod spans;

use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

pub use analyses::AnalysisRecord;
pub use api_keys::{API_KEY_PREFIX, ApiKeyRecord, api_key_hash};
pub use eval_runs::EvalRunRecord;
pub use spans::SpanRow;

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path`.
    Sqlite,
    /// `postgres://...` or `postgresql://...`.
    Postgres,
}

impl FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!("database URL must start with sqlite:// or postgres://")
        }
    }
}

impl Store {
    /// Connects (creating a SQLite file and its folder if needed) and applies migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend: Backend = url.parse()?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 1 } else { 8 })
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        }
        .context("applying database migrations")?;
        Ok(Self { pool })
    }

    /// The connection pool (for the job queue, which keeps its own queries).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("database ping")?;
        Ok(())
    }
}

/// Adds `mode=rwc` (create if missing) to a SQLite URL and creates the file's folder.
fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    if file != ":memory:"
        && let Some(parent) = Path::new(file).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let query = if query.contains("mode=") {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".into()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{file}?{query}"))
}
