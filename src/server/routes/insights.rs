//! Insights over a window, without a question (see `src/insights.rs`):
//!
//! | route | answers |
//! |---|---|
//! | `POST /v1/summary` | what happened: counts, top problems, changes, the root, and a written summary |
//! | `POST /v1/triage` | the problems, ranked by severity, impact and novelty |
//! | `POST /v1/changes` | what changed against the window before (or `before_start`/`before_end`) |
//! | `POST /v1/cascade` | the service graph and the first failing component upstream |
//!
//! Body: the scope and window, `{"namespace", "pod", "container", "node", "since" | "start",
//! "end"}`, plus `limit` (items, default 10), `narrate` (summary: ask the model, default
//! true) and `before_start`/`before_end` (changes). Unknown fields are refused.
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::insights::{InsightError, Insights};
use crate::server::routes::analyze::ApiJson;
use crate::server::{ApiError, AppState, ErrorKind};
use loglens_tools::logs::Scope;

/// The insight routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/summary", post(summary))
        .route("/v1/triage", post(triage))
        .route("/v1/changes", post(changes))
        .route("/v1/cascade", post(cascade))
}

/// The body of every insight route.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightRequest {
    namespace: Option<String>,
    pod: Option<String>,
    container: Option<String>,
    node: Option<String>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    since: Option<String>,
    limit: Option<usize>,
    narrate: Option<bool>,
    before_start: Option<DateTime<Utc>>,
    before_end: Option<DateTime<Utc>>,
}

impl InsightRequest {
    fn scope(&self) -> Scope {
        Scope {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            container: self.container.clone(),
            node: self.node.clone(),
            start: self.start,
            end: self.end,
            since: self.since.clone(),
            ..Scope::default()
        }
    }

    fn limit(&self) -> Result<usize, ApiError> {
        let limit = self.limit.unwrap_or(10);
        if (1..=100).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::invalid(format!(
                "limit must be between 1 and 100, got {limit}"
            )))
        }
    }
}

impl From<InsightError> for ApiError {
    fn from(e: InsightError) -> Self {
        match e {
            InsightError::BadRequest(m) => ApiError::invalid(m),
            InsightError::Source(loglens_tools::ToolError::InvalidFilter(m)) => {
                ApiError::invalid(m)
            }
            InsightError::Source(e) => ApiError::server(ErrorKind::LogSourceError, &e),
        }
    }
}

fn insights(state: &AppState) -> Insights {
    Insights::new(state.service.agents().clone())
}

fn json<T: serde::Serialize>(v: &T) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::internal(e.into()))
}

async fn summary(
    State(state): State<AppState>,
    ApiJson(r): ApiJson<InsightRequest>,
) -> Result<Json<Value>, ApiError> {
    if r.before_start.is_some() || r.before_end.is_some() || r.limit.is_some() {
        return Err(ApiError::invalid(
            "summary takes no limit, before_start or before_end",
        ));
    }
    json(
        &insights(&state)
            .summary(&r.scope(), r.narrate.unwrap_or(true))
            .await?,
    )
}

async fn triage(
    State(state): State<AppState>,
    ApiJson(r): ApiJson<InsightRequest>,
) -> Result<Json<Value>, ApiError> {
    if r.narrate.is_some() || r.before_start.is_some() || r.before_end.is_some() {
        return Err(ApiError::invalid(
            "triage takes no narrate, before_start or before_end",
        ));
    }
    json(&insights(&state).triage(&r.scope(), r.limit()?).await?)
}

async fn changes(
    State(state): State<AppState>,
    ApiJson(r): ApiJson<InsightRequest>,
) -> Result<Json<Value>, ApiError> {
    if r.narrate.is_some() {
        return Err(ApiError::invalid("changes takes no narrate"));
    }
    let before = match (r.before_start, r.before_end) {
        (Some(s), Some(e)) => Some((s, e)),
        (None, None) => None,
        _ => {
            return Err(ApiError::invalid(
                "give both before_start and before_end, or neither",
            ));
        }
    };
    json(
        &insights(&state)
            .changes(&r.scope(), before, r.limit()?)
            .await?,
    )
}

async fn cascade(
    State(state): State<AppState>,
    ApiJson(r): ApiJson<InsightRequest>,
) -> Result<Json<Value>, ApiError> {
    if r.narrate.is_some()
        || r.limit.is_some()
        || r.before_start.is_some()
        || r.before_end.is_some()
    {
        return Err(ApiError::invalid("cascade takes only the scope and window"));
    }
    json(&insights(&state).cascade(&r.scope()).await?)
}
