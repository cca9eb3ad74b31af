//! Stored API keys: their hashes, never the keys.
use chrono::Utc;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use anyhow::Context;

use super::Store;

/// An API key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    /// Short id (safe to show).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Requests a minute.
    pub rate_per_minute: u32,
    /// When it was made.
    pub created_at: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// The prefix of every loglens API key (so a leaked one is recognizable in a scan).
pub const API_KEY_PREFIX: &str = "llk_";

/// The hex SHA-256 of a key, as stored. Keys are 244 random bits, so a fast hash is the
/// right one (nothing to brute-force); a slow password hash would only slow each request.
pub fn api_key_hash(key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

fn key_from_row(r: &AnyRow) -> anyhow::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        rate_per_minute: u32::try_from(r.try_get::<i64, _>("rate_per_minute")?.max(1))
            .unwrap_or(u32::MAX),
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    /// Makes a key; returns its record and the key, which is not kept and cannot be shown
    /// again.
    pub async fn create_api_key(
        &self,
        name: &str,
        rate_per_minute: u32,
    ) -> anyhow::Result<(ApiKeyRecord, String)> {
        let secret = format!(
            "{API_KEY_PREFIX}{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let record = ApiKeyRecord {
            id: secret[API_KEY_PREFIX.len()..API_KEY_PREFIX.len() + 8].to_string(),
            name: name.to_string(),
            rate_per_minute: rate_per_minute.max(1),
            created_at: Utc::now().to_rfc3339(),
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, name, hash, rate_per_minute, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&record.id)
        .bind(&record.name)
        .bind(api_key_hash(&secret))
        .bind(i64::from(record.rate_per_minute))
        .bind(&record.created_at)
        .execute(&self.pool)
        .await
        .context("storing the API key")?;
        Ok((record, secret))
    }

    /// Every key, newest first.
    pub async fn api_keys(&self) -> anyhow::Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, rate_per_minute, created_at, revoked_at FROM api_keys ORDER BY created_at DESC",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing API keys")?;
        rows.iter().map(key_from_row).collect()
    }

    /// The live (not revoked) key with this hash.
    pub async fn live_api_key(&self, hash: &str) -> anyhow::Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, name, rate_per_minute, created_at, revoked_at FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .context("looking up the API key")?;
        row.map(|r| key_from_row(&r)).transpose()
    }

    /// Revokes a key by id; false when no live key has it.
    pub async fn revoke_api_key(&self, id: &str) -> anyhow::Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(Utc::now().to_rfc3339())
                .bind(id)
                .execute(&self.pool)
                .await
                .context("revoking the API key")?;
        Ok(done.rows_affected() > 0)
    }
}
