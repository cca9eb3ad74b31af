//! `GET /openapi.json`: the API described as OpenAPI 3.1.
//!
//! The schemas are not written by hand: they are generated (schemars) from the very types
//! the handlers deserialize and serialize, so they cannot drift from the code. The paths
//! are listed here, one entry per route; a test sends a request to every path and method
//! listed (none may be unknown to the router) and checks real responses against the
//! schemas.
use axum::Json;
use axum::Router;
use axum::routing::get;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::server::AppState;

/// The route.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(document()) }))
}

/// One operation: method, path, summary, request schema, success status and schema.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    request: Option<Value>,
    status: u16,
    response: Value,
    /// Response media type (JSON, or server-sent events).
    media: &'static str,
}

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    serde_json::to_value(g.subschema_for::<T>()).unwrap_or(Value::Null)
}

/// Every path, method and schema of the API.
pub fn document() -> Value {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "#/components/schemas/".into())
        .into_generator();
    use crate::feedback::{FeedbackRecord, NewFeedback};
    use crate::incidents::alertmanager::Notification;
    use crate::incidents::queue::Job;
    use crate::insights::{CascadeReport, ChangesReport, SummaryReport, TriageReport};
    use crate::server::routes::analyze::AnalyzeRequest;
    use crate::server::routes::insights::InsightRequest;
    use crate::store::AnalysisRecord;

    let analyze = schema::<AnalyzeRequest>(&mut g);
    let record = schema::<AnalysisRecord>(&mut g);
    let insight = schema::<InsightRequest>(&mut g);
    let job = schema::<Job>(&mut g);
    let any = json!({"type": "object"});
    let sse = json!({"type": "string", "description": "server-sent events: started, route, retrieved, evidence, tool_call, finding, consensus (agents) or delta (baseline), then result or error, then done"});
    let ops = vec![
        Op {
            method: "post",
            path: "/v1/analyze",
            summary: "Ask a question; the stored analysis comes back (structured retrieval)",
            tag: "analyze",
            request: Some(analyze.clone()),
            status: 200,
            response: record.clone(),
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v1/analyze/stream",
            summary: "The same, streamed as server-sent events",
            tag: "analyze",
            request: Some(analyze.clone()),
            status: 200,
            response: sse.clone(),
            media: "text/event-stream",
        },
        Op {
            method: "post",
            path: "/v2/analyze",
            summary: "Ask with hybrid retrieval; with compare, both retrievals ({hybrid, structured, comparison})",
            tag: "analyze",
            request: Some(analyze.clone()),
            status: 200,
            response: json!({"oneOf": [record.clone(), {"type": "object", "required": ["hybrid", "structured", "comparison"]}]}),
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v2/analyze/stream",
            summary: "Hybrid retrieval, streamed",
            tag: "analyze",
            request: Some(analyze),
            status: 200,
            response: sse,
            media: "text/event-stream",
        },
        Op {
            method: "get",
            path: "/v1/analyses/{id}",
            summary: "A stored analysis",
            tag: "analyze",
            request: None,
            status: 200,
            response: record,
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v1/summary",
            summary: "What happened in a window: a measured digest and a written summary",
            tag: "insights",
            request: Some(insight.clone()),
            status: 200,
            response: schema::<SummaryReport>(&mut g),
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v1/triage",
            summary: "The window's problems ranked by severity, impact and novelty",
            tag: "insights",
            request: Some(insight.clone()),
            status: 200,
            response: schema::<TriageReport>(&mut g),
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v1/changes",
            summary: "What changed against the window before",
            tag: "insights",
            request: Some(insight.clone()),
            status: 200,
            response: schema::<ChangesReport>(&mut g),
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v1/cascade",
            summary: "The service graph and the first failing component upstream",
            tag: "insights",
            request: Some(insight),
            status: 200,
            response: schema::<CascadeReport>(&mut g),
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v1/feedback",
            summary: "Confirm or correct a stored answer",
            tag: "feedback",
            request: Some(schema::<NewFeedback>(&mut g)),
            status: 201,
            response: schema::<FeedbackRecord>(&mut g),
            media: "application/json",
        },
        Op {
            method: "get",
            path: "/v1/analyses/{id}/feedback",
            summary: "The feedback on one analysis",
            tag: "feedback",
            request: None,
            status: 200,
            response: json!({"type": "array", "items": schema::<FeedbackRecord>(&mut g)}),
            media: "application/json",
        },
        Op {
            method: "get",
            path: "/v1/review",
            summary: "Recent answers that need a person (failed, low confidence, disagreeing specialists)",
            tag: "feedback",
            request: None,
            status: 200,
            response: json!({"type": "array", "items": any.clone()}),
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v1/alerts",
            summary: "Alertmanager's webhook (v4): each firing alert becomes a queued investigation",
            tag: "bots",
            request: Some(schema::<Notification>(&mut g)),
            status: 202,
            response: json!({"type": "object", "required": ["queued", "duplicates", "resolved"]}),
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v1/slack/events",
            summary: "Slack's Events API (signed; app_mention questions are answered in thread)",
            tag: "bots",
            request: Some(any.clone()),
            status: 200,
            response: any.clone(),
            media: "application/json",
        },
        Op {
            method: "get",
            path: "/v1/jobs",
            summary: "The bots' queue: investigations, questions, deliveries, dead letters",
            tag: "bots",
            request: None,
            status: 200,
            response: json!({"type": "array", "items": job.clone()}),
            media: "application/json",
        },
        Op {
            method: "get",
            path: "/v1/jobs/{id}",
            summary: "One job",
            tag: "bots",
            request: None,
            status: 200,
            response: job,
            media: "application/json",
        },
        Op {
            method: "post",
            path: "/v1/jobs/{id}/retry",
            summary: "Put a dead job back in the queue",
            tag: "bots",
            request: None,
            status: 200,
            response: any.clone(),
            media: "application/json",
        },
        Op {
            method: "get",
            path: "/healthz",
            summary: "Liveness",
            tag: "operations",
            request: None,
            status: 200,
            response: any.clone(),
            media: "application/json",
        },
        Op {
            method: "get",
            path: "/readyz",
            summary: "Readiness: the model server and the database answer",
            tag: "operations",
            request: None,
            status: 200,
            response: any,
            media: "application/json",
        },
        Op {
            method: "get",
            path: "/metrics",
            summary: "Prometheus metrics",
            tag: "operations",
            request: None,
            status: 200,
            response: json!({"type": "string"}),
            media: "text/plain",
        },
        Op {
            method: "get",
            path: "/openapi.json",
            summary: "This document",
            tag: "operations",
            request: None,
            status: 200,
            response: json!({"type": "object"}),
            media: "application/json",
        },
    ];

    let error = json!({"$ref": "#/components/schemas/Error"});
    let mut paths: Map<String, Value> = Map::new();
    for op in &ops {
        let mut o = json!({
            "summary": op.summary,
            "tags": [op.tag],
            "responses": {
                op.status.to_string(): {"description": "success", "content": {op.media: {"schema": op.response}}},
                "default": {"description": "an error: {error: {code, message}} (401 key, 413 too large, 422 invalid, 429 overloaded or rate-limited with Retry-After, 502/503/504 model)", "content": {"application/json": {"schema": error}}}
            }
        });
        if let Some(req) = &op.request {
            o["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": req}}});
        }
        if op.path.contains("{id}") {
            o["parameters"] = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
        }
        if [
            "/healthz",
            "/readyz",
            "/metrics",
            "/v1/slack/events",
            "/openapi.json",
        ]
        .contains(&op.path)
        {
            o["security"] = json!([]);
        }
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        entry[op.method] = o;
    }
    let mut schemas: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "stable, machine-readable: invalid_json, invalid_request, unauthorized, rate_limited, overloaded, payload_too_large, model_unavailable, ..."},
                    "message": {"type": "string"},
                    "analysis_id": {"type": "string", "description": "the stored (failed) analysis, when one was recorded"}
                }
            }}
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "loglens",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Log intelligence for Kubernetes: questions answered from logs with evidence, insights over time windows, incident bots. Keys: Authorization: Bearer llk_... when the server requires them."
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "a key from `loglens keys create`"}}
        }
    })
}

/// Every (method, path) the document lists, for tests.
pub fn operations() -> Vec<(String, String)> {
    let doc = document();
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for method in item.keys() {
                    out.push((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out
}
