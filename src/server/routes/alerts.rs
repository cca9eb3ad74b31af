//! `POST /v1/alerts` (Alertmanager's webhook), and the queue behind it:
//! `GET /v1/jobs`, `GET /v1/jobs/{id}`, `POST /v1/jobs/{id}/retry`.
//!
//! The webhook answers as soon as the alerts are queued (202): every firing alert is an
//! investigation job unless one for the same alert episode is queued or done already;
//! a resolved alert marks its investigation resolved (the report says so) and starts
//! nothing. Point Alertmanager at it with:
//!
//! ```yaml
//! receivers:
//!   - name: loglens
//!     webhook_configs:
//!       - url: http://loglens.loglens.svc:3000/v1/alerts
//!         http_config: { authorization: { credentials_file: /etc/alertmanager/loglens-key } }
//!         max_alerts: 50
//! ```
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::incidents::alertmanager::Notification;
use crate::incidents::queue::{Enqueued, Job, JobKind, JobStatus, NewJob};
use crate::server::routes::analyze::ApiJson;
use crate::server::{ApiError, AppState};

/// Largest Alertmanager notification accepted (200 alerts with long annotations).
pub const MAX_ALERT_BODY_BYTES: usize = 1024 * 1024;

/// The alert and queue routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/alerts",
            post(receive).layer(DefaultBodyLimit::max(MAX_ALERT_BODY_BYTES)),
        )
        .route("/v1/jobs", get(list))
        .route("/v1/jobs/{id}", get(one))
        .route("/v1/jobs/{id}/retry", post(retry))
}

async fn receive(
    State(state): State<AppState>,
    ApiJson(n): ApiJson<Notification>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    n.validate().map_err(ApiError::invalid)?;
    let bots = &state.bots;
    let (mut queued, mut duplicates, mut resolved) = (Vec::new(), Vec::new(), 0usize);
    for alert in &n.alerts {
        let key = alert.dedupe_key();
        if alert.status == "resolved" {
            let at = alert.resolved_at().unwrap_or_else(chrono::Utc::now);
            if bots
                .queue
                .mark_resolved(&key, at)
                .await
                .map_err(ApiError::internal)?
            {
                resolved += 1;
            }
            continue;
        }
        let inv = alert.investigation(bots.config.lookback, n.external_url.clone());
        let entry = |id: &str| json!({"job_id": id, "alert": alert.name(), "fingerprint": alert.fingerprint()});
        let outcome = bots
            .queue
            .enqueue(NewJob {
                kind: JobKind::Investigate,
                dedupe_key: key,
                group_key: n.group_key.clone(),
                payload: serde_json::to_value(&inv).map_err(|e| ApiError::internal(e.into()))?,
                max_attempts: bots.config.max_attempts,
            })
            .await
            .map_err(ApiError::internal)?;
        match outcome {
            Enqueued::New(id) => queued.push(entry(&id)),
            Enqueued::Duplicate(id) => duplicates.push(entry(&id)),
        }
    }
    if !queued.is_empty() {
        bots.wake();
    }
    tracing::info!(
        group = n.group_key.as_deref().unwrap_or(""),
        queued = queued.len(),
        duplicates = duplicates.len(),
        resolved,
        "alerts received"
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "queued": queued,
            "duplicates": duplicates,
            "resolved": resolved,
            "truncated_alerts": n.truncated_alerts.unwrap_or(0),
        })),
    ))
}

/// Filters of `GET /v1/jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    kind: Option<String>,
    status: Option<String>,
    group: Option<String>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Job>>, ApiError> {
    let kind = q
        .kind
        .as_deref()
        .map(|k| {
            <JobKind as clap::ValueEnum>::from_str(k, true)
                .map_err(|_| ApiError::invalid("kind must be investigate, answer or deliver"))
        })
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            <JobStatus as clap::ValueEnum>::from_str(s, true)
                .map_err(|_| ApiError::invalid("status must be queued, running, done or dead"))
        })
        .transpose()?;
    let jobs = state
        .bots
        .queue
        .list(kind, status, q.group.as_deref(), q.limit.unwrap_or(50))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(jobs))
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    state
        .bots
        .queue
        .get(&id)
        .await
        .map_err(ApiError::internal)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if state
        .bots
        .queue
        .retry(&id)
        .await
        .map_err(ApiError::internal)?
    {
        state.bots.wake();
        Ok(Json(json!({"job_id": id, "status": "queued"})))
    } else {
        Err(ApiError::not_found(format!("no dead job {id}")))
    }
}
