//! Active learning over HTTP (see `src/feedback.rs`):
//!
//! - `POST /v1/feedback` `{"analysis_id", "verdict": "correct" | "incorrect",
//!   "correction": {"root_cause", "cause", "severity", "component", "error_signature",
//!   "summary", "action", "evidence": [n, ...]}, "comment"}` → 201 with the stored record;
//! - `GET /v1/analyses/{id}/feedback`: the feedback on one analysis;
//! - `GET /v1/review?limit=20`: recent answers that need a person, with why.
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::feedback::{FeedbackError, FeedbackRecord, FeedbackStore, NewFeedback};
use crate::server::auth::KeyId;
use crate::server::routes::analyze::ApiJson;
use crate::server::{ApiError, AppState};

/// The feedback routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/feedback", post(record))
        .route("/v1/analyses/{id}/feedback", get(for_analysis))
        .route("/v1/review", get(review))
}

fn store(state: &AppState) -> FeedbackStore {
    FeedbackStore::new(state.service.store().clone())
}

async fn record(
    State(state): State<AppState>,
    key: Option<Extension<KeyId>>,
    ApiJson(f): ApiJson<NewFeedback>,
) -> Result<(StatusCode, Json<FeedbackRecord>), ApiError> {
    let author = key.map_or_else(|| "anonymous".to_string(), |Extension(KeyId(id))| id);
    match store(&state).record(f, &author).await {
        Ok(r) => Ok((StatusCode::CREATED, Json(r))),
        Err(FeedbackError::UnknownAnalysis(id)) => {
            Err(ApiError::not_found(format!("no analysis {id}")))
        }
        Err(FeedbackError::Invalid(m)) => Err(ApiError::invalid(m)),
        Err(FeedbackError::Store(e)) => Err(ApiError::internal(e)),
    }
}

async fn for_analysis(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<FeedbackRecord>>, ApiError> {
    if state
        .service
        .store()
        .get(&id)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no analysis {id}")));
    }
    Ok(Json(
        store(&state)
            .for_analysis(&id)
            .await
            .map_err(ApiError::internal)?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewQuery {
    limit: Option<usize>,
}

async fn review(
    State(state): State<AppState>,
    Query(q): Query<ReviewQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 200"));
    }
    let items = store(&state)
        .to_review(limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!(
        items
            .iter()
            .map(|(a, why)| json!({
                "analysis_id": a.id,
                "created_at": a.created_at,
                "question": a.question,
                "status": a.status,
                "confidence": a.finding.as_ref().map(|f| f.confidence),
                "root_cause": a.finding.as_ref().map(|f| &f.diagnosis.root_cause),
                "reason": why,
            }))
            .collect::<Vec<_>>()
    )))
}
