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
    // Anyone may ask (load balancers do): say whether each part answers and which model
    // is loaded by its file's name, never where the servers are or where files live.
    let model_check = match &model {
        Ok(ids) => {
            let names: Vec<&str> = ids.iter().map(|id| file_name(id)).collect();
            json!({ "ok": true, "models": names })
        }
        Err(e) => {
            tracing::warn!(error = %e, url = %llm.config().base_url, "model server not ready");
            json!({ "ok": false, "error": "the model server did not answer" })
        }
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

/// The last part of a path (llama-server names a model by the file it loaded).
fn file_name(id: &str) -> &str {
    id.rsplit(['/', '\\']).next().unwrap_or(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_model_is_named_by_its_file_not_its_path() {
        assert_eq!(
            super::file_name("/srv/models/SmolLM2-135M.Q8_0.gguf"),
            "SmolLM2-135M.Q8_0.gguf"
        );
        assert_eq!(super::file_name("C:\\m\\x.gguf"), "x.gguf");
        assert_eq!(super::file_name("qwen2.5-3b"), "qwen2.5-3b");
    }
}
