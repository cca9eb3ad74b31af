//! `POST /v1/analyze`, `POST /v1/analyze/stream`, `GET /v1/analyses/{id}`, and their
//! hybrid-retrieval versions `POST /v2/analyze` and `POST /v2/analyze/stream`.
//!
//! `/v1` finds lines by the filters alone (structured retrieval, the baseline the Python
//! service had); `/v2` searches the filters' scope by meaning and fuses that with recency
//! (hybrid retrieval), and each retrieved line says why it was chosen (`why`). `/v2/analyze`
//! with `"compare": true` runs both on the one request and returns both answers with
//! their lines, for evaluation (A/B).
//!
//! The request body keeps the fields of the Python service loglens replaces:
//! `{"query", "namespace", "pod", "container", "node", "start", "end", "since", "limit"}`,
//! plus `pipeline` (`agents`, the default, or `baseline`).
//! Unknown fields are refused (a typo such as `namspace` would otherwise silently widen
//! the search).
use std::convert::Infallible;

use axum::extract::{FromRequest, Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures::Stream;
use loglens_tools::logs::Scope;
use serde::Deserialize;
use serde_json::json;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::Instrument;

use crate::analysis::{PipelineMode, Progress, Question, new_id};
use crate::server::{ApiError, AppState};
use crate::store::AnalysisRecord;
use loglens_agents::events::AgentEvent;
use loglens_agents::llm::ReplyEvent;
use loglens_agents::router::RetrievalMode;

/// The analysis routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/analyze", post(analyze))
        .route("/v1/analyze/stream", post(analyze_stream))
        .route("/v1/analyses/{id}", get(get_analysis))
        .route("/v2/analyze", post(analyze_v2))
        .route("/v2/analyze/stream", post(analyze_stream_v2))
}

/// `Json` with our error body for every rejection.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// The body of both analyze endpoints.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    /// The question, e.g. "why is checkout slow?".
    pub query: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Pod or workload.
    #[serde(default)]
    pub pod: Option<String>,
    /// Container.
    #[serde(default)]
    pub container: Option<String>,
    /// Node.
    #[serde(default)]
    pub node: Option<String>,
    /// Window start (RFC 3339).
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    /// Window end (RFC 3339).
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    /// Window as a duration back from now (`15m`, `1h`).
    #[serde(default)]
    pub since: Option<String>,
    /// Lines to send the model, 1-200 (default 15).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `agents` (default: router, specialists with tools, consensus) or `baseline`.
    #[serde(default)]
    pub pipeline: Option<PipelineMode>,
    /// `/v2/analyze` only: also answer with structured retrieval and return both (A/B).
    #[serde(default)]
    pub compare: bool,
}

impl AnalyzeRequest {
    /// Checks the request and turns it into a [`Question`].
    fn into_question(
        self,
        channel: &'static str,
        retrieval: RetrievalMode,
    ) -> Result<Question, ApiError> {
        let limit = self
            .limit
            .unwrap_or(loglens_agents::baseline::DEFAULT_LIMIT);
        let max = loglens_agents::baseline::MAX_LIMIT;
        if !(1..=max).contains(&limit) {
            return Err(ApiError::invalid(format!(
                "limit must be between 1 and {max}, got {limit}"
            )));
        }
        if self.query.trim().is_empty() {
            return Err(ApiError::invalid("query must not be empty"));
        }
        let filters = Scope {
            namespace: self.namespace,
            pod: self.pod,
            container: self.container,
            node: self.node,
            start: self.start,
            end: self.end,
            since: self.since,
            ..Scope::default()
        };
        filters.to_filter(Utc::now()).map_err(ApiError::invalid)?;
        Ok(Question {
            id: new_id(),
            text: self.query,
            filters,
            limit,
            channel,
            mode: self.pipeline.unwrap_or_default(),
            retrieval: Some(retrieval),
        })
    }
}

async fn analyze(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AnalyzeRequest>,
) -> Result<Json<AnalysisRecord>, ApiError> {
    if req.compare {
        return Err(ApiError::invalid(
            "compare is a /v2/analyze option (it compares hybrid with /v1's retrieval)",
        ));
    }
    let q = req.into_question("http", RetrievalMode::Structured)?;
    let place = admit(&state)?;
    let service = state.service.clone();
    let record = detached(
        "/v1/analyze",
        place,
        async move { service.run(q, None).await },
    )
    .await??;
    Ok(Json(record))
}

/// Runs an analysis in a task of its own and waits for it. A client that goes away
/// drops the handler, not the analysis: it runs to its end and is stored (and counted
/// as a disconnect); its id is in the log line. A panic inside is a 500 with the trace
/// id, and counted.
async fn detached<T: Send + 'static>(
    route: &'static str,
    place: crate::admission::Ticket,
    run: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, ApiError> {
    let task = tokio::spawn(
        async move {
            // The place in line is held until the run is done, not the handler.
            let _place = place;
            run.await
        }
        .instrument(tracing::Span::current()),
    );
    let mut watch = ClientWatch {
        route,
        answered: false,
    };
    let joined = task.await;
    watch.answered = true;
    joined.map_err(|e| match e.try_into_panic() {
        Ok(payload) => ApiError::from_panic(payload),
        Err(e) => ApiError::internal(anyhow::anyhow!("the analysis task was cancelled: {e}")),
    })
}

/// Notices a handler dropped before its answer: the client went away.
struct ClientWatch {
    route: &'static str,
    answered: bool,
}

impl Drop for ClientWatch {
    fn drop(&mut self) {
        if !self.answered {
            tracing::warn!(
                route = self.route,
                "the client went away; the analysis runs to its end and is stored"
            );
            crate::telemetry::metrics::record_client_gone(self.route);
        }
    }
}

/// `POST /v2/analyze`: hybrid retrieval; with `compare`, both retrievals (A/B).
async fn analyze_v2(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AnalyzeRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let compare = req.compare;
    let q = req.into_question("http-v2", RetrievalMode::Hybrid)?;
    let place = admit(&state)?;
    let service = state.service.clone();
    if !compare {
        let record = detached(
            "/v2/analyze",
            place,
            async move { service.run(q, None).await },
        )
        .await??;
        return Ok(Json(record).into_response());
    }
    let mut structured = q.clone();
    structured.id = new_id();
    structured.retrieval = Some(RetrievalMode::Structured);
    // One after the other: they share one model server.
    let (hybrid, structured) = detached("/v2/analyze", place, async move {
        let hybrid = service.run(q, None).await;
        (hybrid, service.run(structured, None).await)
    })
    .await?;
    let (hybrid, structured) = match (hybrid, structured) {
        (Ok(h), Ok(s)) => (h, s),
        (Err(f), _) | (_, Err(f)) => return Err(f.into()),
    };
    let comparison = compare_records(&hybrid, &structured);
    Ok(Json(json!({
        "hybrid": hybrid,
        "structured": structured,
        "comparison": comparison,
    }))
    .into_response())
}

/// How two answers to one question differ: lines each retrieval alone found, and whether
/// they agree on the finding.
pub fn compare_records(a: &AnalysisRecord, b: &AnalysisRecord) -> serde_json::Value {
    let key = |l: &loglens_agents::finding::LineRef| (l.source.clone(), l.line_no);
    let ka: std::collections::BTreeSet<_> = a.retrieved.iter().map(key).collect();
    let kb: std::collections::BTreeSet<_> = b.retrieved.iter().map(key).collect();
    let field = |r: &AnalysisRecord, f: fn(&loglens_agents::finding::Finding) -> String| {
        r.finding.as_ref().map(f)
    };
    let same = |f: fn(&loglens_agents::finding::Finding) -> String| {
        let (x, y) = (field(a, f), field(b, f));
        x.is_some() && x == y
    };
    json!({
        "lines_shared": ka.intersection(&kb).count(),
        "lines_only_hybrid": ka.difference(&kb).count(),
        "lines_only_structured": kb.difference(&ka).count(),
        "same_root_cause": same(|f| f.diagnosis.root_cause.clone()),
        "same_component": same(|f| f.diagnosis.component.clone()),
        "same_severity": same(|f| format!("{:?}", f.diagnosis.severity)),
        "latency_ms": { "hybrid": a.latency_ms, "structured": b.latency_ms },
    })
}

/// Streams the analysis as server-sent events:
/// `started` `{id}` → for the agents: `route` (the router's decision), `retrieved`
/// `{matched, lines}`, `evidence` (candidates, patterns), a second `route` when a question
/// that named no side takes the evidence's (the route as revised), `tool_call` (one per call, with
/// its status), `finding` (one per specialist sample), `agent_failed`, `consensus`; for the
/// baseline: `retrieved`, then `delta` `{text}` (model tokens, many; a `reply_rejected`
/// `{reason}` means the reply so far failed validation and the model is asked once more:
/// drop the text received so far) → `result` (the stored record, as `/v1/analyze`
/// returns it) or `error` (`{error: {code, message, analysis_id}, status}`) → `done`.
/// Bad requests are answered with a plain JSON error before the stream starts. If the
/// client goes away, the analysis still finishes and is stored.
async fn analyze_stream(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AnalyzeRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if req.compare {
        return Err(ApiError::invalid(
            "compare is a /v2/analyze option (it compares hybrid with /v1's retrieval)",
        ));
    }
    let q = req.into_question("http-stream", RetrievalMode::Structured)?;
    let place = admit(&state)?;
    stream("/v1/analyze/stream", state, q, place)
}

/// `POST /v2/analyze/stream`: the `/v1` stream, with hybrid retrieval (each line in
/// `retrieved` carries `why`).
async fn analyze_stream_v2(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AnalyzeRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if req.compare {
        return Err(ApiError::invalid(
            "compare returns two answers at once: use POST /v2/analyze",
        ));
    }
    let q = req.into_question("http-v2-stream", RetrievalMode::Hybrid)?;
    let place = admit(&state)?;
    stream("/v2/analyze/stream", state, q, place)
}

/// A place in the model's line, or 429 with `Retry-After` when it is full.
pub(crate) fn admit(state: &AppState) -> Result<crate::admission::Ticket, ApiError> {
    state
        .service
        .admission()
        .try_enter()
        .map_err(|o| ApiError::overloaded(&o))
}

fn stream(
    route: &'static str,
    state: AppState,
    q: Question,
    place: crate::admission::Ticket,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let service = state.service.clone();
    // The run outlives the handler (it streams); it stays in the request's trace.
    let span = tracing::Span::current();
    tokio::spawn(
        async move {
            // The place in line is held until the run is done, not just the headers.
            let _place = place;
            let gone = std::sync::atomic::AtomicBool::new(false);
            let send = |name: &str, data: serde_json::Value| {
                let sent = tx.send(Event::default().event(name).data(data.to_string()));
                if sent.is_err() && !gone.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(
                        route,
                        "the client went away; the analysis runs to its end and is stored"
                    );
                    crate::telemetry::metrics::record_client_gone(route);
                }
            };
            let send_error = |err: ApiError| {
                let mut body = err.body();
                body["status"] = json!(err.status().as_u16());
                send("error", body);
            };
            send("started", json!({ "id": q.id }));
            let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
            let run = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
                service.run(q, Some(ptx)),
            ));
            tokio::pin!(run);
            let forward = |p: Progress| match p {
                Progress::Retrieved { lines, matched } => {
                    send("retrieved", json!({ "matched": matched, "lines": lines }))
                }
                Progress::Reply(ReplyEvent::Token(text)) => send("delta", json!({ "text": text })),
                Progress::Reply(ReplyEvent::Rejected(reason)) => {
                    send("reply_rejected", json!({ "reason": reason }))
                }
                Progress::Agent(event) => {
                    let mut v = serde_json::to_value(&event).unwrap_or_default();
                    let name = v
                        .as_object_mut()
                        .and_then(|o| o.remove("event"))
                        .and_then(|n| n.as_str().map(str::to_string))
                        .unwrap_or_else(|| "agent".into());
                    if let AgentEvent::Evidence { matched, lines, .. } = event.as_ref() {
                        // The same `retrieved` event the baseline sends, for existing clients.
                        send("retrieved", json!({ "matched": matched, "lines": lines }));
                        if let Some(o) = v.as_object_mut() {
                            o.remove("lines");
                        }
                    }
                    send(&name, v);
                }
            };
            let result = loop {
                tokio::select! {
                    Some(p) = prx.recv() => forward(p),
                    r = &mut run => break r,
                }
            };
            while let Ok(p) = prx.try_recv() {
                forward(p);
            }
            let result = result.map_err(ApiError::from_panic);
            match result {
                // Through text, as `/v1/analyze` answers: `to_value` would widen f32 fields
                // (0.88 → 0.8799999952316284) and the two endpoints would disagree.
                Ok(Ok(record)) => send(
                    "result",
                    serde_json::to_string(&record)
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or_default(),
                ),
                Ok(Err(failure)) => send_error(ApiError::from(failure)),
                Err(err) => send_error(err),
            }
            send("done", json!({}));
        }
        .instrument(span),
    );
    let stream = UnboundedReceiverStream::new(rx).map(Ok::<_, Infallible>);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn get_analysis(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AnalysisRecord>, ApiError> {
    match state
        .service
        .store()
        .get(&id)
        .await
        .map_err(ApiError::internal)?
    {
        Some(r) => Ok(Json(r)),
        None => Err(ApiError::not_found(format!("no analysis with id {id}"))),
    }
}
