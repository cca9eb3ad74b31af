//! `GET /healthz` (liveness) and `GET /readyz` (readiness: the model server has a model
//! loaded and the database answers).
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::server::AppState;

/// The health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let llm = state.service.analyzer().llm();
    let (model, db) = tokio::join!(llm.ready(), state.service.store().ping());
    let model_check = match &model {
        Ok(ids) => json!({ "ok": true, "url": llm.config().base_url, "models": ids }),
        Err(e) => json!({ "ok": false, "url": llm.config().base_url, "error": e.to_string() }),
    };
    let db_check = match &db {
        Ok(()) => json!({ "ok": true }),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "database not ready");
            json!({ "ok": false, "error": "database did not answer" })
        }
    };
    let ready = model.is_ok() && db.is_ok();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({ "status": if ready { "ready" } else { "not_ready" }, "checks": { "model": model_check, "database": db_check } }),
        ),
    )
}
