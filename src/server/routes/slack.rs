//! `POST /v1/slack/events`: Slack's Events API. Mention the app in a channel
//! (`@loglens why is checkout slow?`) and the answer arrives in the thread.
//!
//! The request is checked before anything else (signature and age, see
//! [`crate::incidents::slack_events`]), then queued as an `answer` job keyed by the event
//! id and acknowledged at once: Slack retries an event it did not get a 2xx for within
//! three seconds, far less than an investigation takes. This path needs no API key (Slack
//! cannot send one); the signature is its authentication.
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::incidents::queue::{Enqueued, JobKind, NewJob};
use crate::incidents::slack_events::{Envelope, verify};
use crate::server::{ApiError, AppState, ErrorKind};

/// The path, open without an API key.
pub const EVENTS_PATH: &str = "/v1/slack/events";

/// The Slack route.
pub fn router() -> Router<AppState> {
    Router::new().route(EVENTS_PATH, post(events))
}

async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // A body over the limit (or one that could not be read) gets the JSON error body
    // every other route answers with.
    let body = match body {
        Ok(b) => b,
        Err(r) => {
            let kind = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorKind::PayloadTooLarge
            } else {
                ErrorKind::BadRequest
            };
            return ApiError::new(kind, r.body_text()).into_response();
        }
    };
    match handle(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let bots = &state.bots;
    let Some(secret) = bots.config.slack_signing_secret.as_deref() else {
        return Err(ApiError::new(
            ErrorKind::SlackNotConfigured,
            "Slack events are off: set [slack] signing_secret or SLACK_SIGNING_SECRET",
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = verify(
        secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        chrono::Utc::now().timestamp(),
    ) {
        tracing::warn!(error = %e, "refused a Slack request");
        return Err(ApiError::new(ErrorKind::BadSignature, e.to_string()));
    }
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorKind::InvalidJson, format!("not a Slack event: {e}")))?;
    match envelope {
        Envelope::UrlVerification { challenge } => {
            Ok(Json(json!({ "challenge": challenge })).into_response())
        }
        Envelope::EventCallback { event_id, event } => {
            let Some(question) = event.question() else {
                return Ok(Json(json!({"ok": true, "ignored": event.kind})).into_response());
            };
            let queued = bots
                .queue
                .enqueue(NewJob {
                    kind: JobKind::Answer,
                    dedupe_key: format!("slack:{event_id}"),
                    group_key: Some(format!("slack:{}:{}", question.channel, question.thread_ts)),
                    payload: serde_json::to_value(&question)
                        .map_err(|e| ApiError::internal(e.into()))?,
                    max_attempts: bots.config.max_attempts,
                })
                .await
                .map_err(ApiError::internal)?;
            let duplicate = matches!(queued, Enqueued::Duplicate(_));
            if !duplicate {
                bots.wake();
            }
            Ok(
                Json(json!({"ok": true, "job_id": queued.id(), "duplicate": duplicate}))
                    .into_response(),
            )
        }
        Envelope::Other => Ok(Json(json!({"ok": true})).into_response()),
    }
}
