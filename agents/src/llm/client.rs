//! [`LlmClient`]: chat completions with a JSON schema, validated and retried once.
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tokio::sync::mpsc::UnboundedSender;
use tracing::Instrument;
use tracing::field::Empty;

use super::sse::{SseLines, SsePayload};
use super::{
    CallOptions, ChatMessage, JsonReply, LlmConfig, LlmError, ModelCall, ReplyEvent, check_sampling,
};

/// Client for an OpenAI-compatible chat server (llama.cpp's `llama-server` in particular).
#[derive(Debug, Clone)]
pub struct LlmClient {
    pub(super) http: reqwest::Client,
    pub(super) cfg: LlmConfig,
    /// The served model's parameter count, asked once ([`LlmClient::model_params`]).
    params: Arc<OnceCell<Option<u64>>>,
}

/// Largest error body we read from the server.
const MAX_ERROR_BODY: usize = 4096;

impl LlmClient {
    /// Builds a client. Fails only on an unusable configuration.
    pub fn new(cfg: LlmConfig) -> Result<Self, LlmError> {
        check_sampling(&cfg.sampling)?;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = &cfg.api_key {
            let value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).map_err(|e| {
                    LlmError::Config(format!("api key is not a valid header value: {e}"))
                })?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .build()
            .map_err(|e| LlmError::Config(e.to_string()))?;
        let base_url = cfg.base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "model URL {base_url:?} must start with http:// or https://"
            )));
        }
        Ok(Self {
            http,
            cfg: LlmConfig { base_url, ..cfg },
            params: Arc::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &LlmConfig {
        &self.cfg
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url)
    }

    pub(super) fn map_send_error(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout(self.cfg.request_timeout)
        } else if e.is_connect() || e.is_request() {
            LlmError::Unavailable {
                url: self.cfg.base_url.clone(),
                reason: loglens_tools::error::root_cause(&e),
            }
        } else {
            LlmError::Protocol(loglens_tools::error::root_cause(&e))
        }
    }

    pub(super) async fn error_from_response(&self, resp: reqwest::Response) -> LlmError {
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| body.chars().take(MAX_ERROR_BODY).collect());
        if status == 503 {
            return LlmError::Unavailable {
                url: self.cfg.base_url.clone(),
                reason: message,
            };
        }
        if status == 400 && message.contains("context") {
            return LlmError::ContextExceeded(message);
        }
        LlmError::Http { status, message }
    }

    /// Adds the configured extra sampling settings to a request body.
    pub(super) fn add_sampling(&self, body: &mut Value) {
        if let Some(obj) = body.as_object_mut() {
            for (k, v) in &self.cfg.sampling {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }

    /// The span of one model call, named and attributed by the OpenTelemetry GenAI
    /// semantic conventions; [`finish_chat_span`] fills in what the call cost.
    pub(super) fn chat_span(&self, options: CallOptions, output: &'static str) -> tracing::Span {
        tracing::info_span!(
            "chat",
            otel.name = %format!("chat {}", self.cfg.model),
            otel.kind = "client",
            otel.status_code = Empty,
            "gen_ai.operation.name" = "chat",
            "gen_ai.provider.name" = "llama.cpp",
            "gen_ai.output.type" = output,
            "gen_ai.request.model" = %self.cfg.model,
            "gen_ai.request.max_tokens" = options.max_tokens.unwrap_or(self.cfg.max_tokens),
            "gen_ai.request.temperature" =
                f64::from(options.temperature.unwrap_or(self.cfg.temperature)),
            "gen_ai.request.seed" = options.seed,
            "server.address" = %self.cfg.base_url,
            "gen_ai.usage.input_tokens" = Empty,
            "gen_ai.usage.output_tokens" = Empty,
            "gen_ai.response.finish_reasons" = Empty,
            "loglens.tokens_per_second" = Empty,
            "loglens.schema" = Empty,
            "loglens.attempt" = Empty,
            "error.type" = Empty,
        )
    }

    /// Posts a chat completion request; returns the successful response, when it was sent
    /// (for timing) and the same as ms since the Unix epoch (for overlap accounting).
    /// One chat completion that is not streamed: the reply's JSON and what it cost.
    pub(super) async fn post_chat_json(
        &self,
        body: &Value,
    ) -> Result<(Value, ModelCall), LlmError> {
        let (resp, started, started_ms) = self.post_chat(body).await?;
        let v: Value = resp
            .json()
            .await
            .map_err(|e| LlmError::Protocol(format!("reply is not JSON: {e}")))?;
        let mut call = ModelCall::default();
        read_usage(&v, &mut call);
        call.finish_reason = v
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        call.http_ms = started.elapsed().as_secs_f64() * 1000.0;
        call.started_ms = started_ms;
        Ok((v, call))
    }

    pub(super) async fn post_chat(
        &self,
        body: &Value,
    ) -> Result<(reqwest::Response, Instant, f64), LlmError> {
        let started = Instant::now();
        let started_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let resp = self
            .http
            .post(self.url("/v1/chat/completions"))
            .json(body)
            .send()
            .await
            .map_err(|e| self.map_send_error(e))?;
        if !resp.status().is_success() {
            return Err(self.error_from_response(resp).await);
        }
        Ok((resp, started, started_ms))
    }

    /// Checks the server is up and has a model loaded; returns the model ids it serves.
    pub async fn ready(&self) -> Result<Vec<String>, LlmError> {
        let resp = self
            .http
            .get(self.url("/v1/models"))
            .send()
            .await
            .map_err(|e| self.map_send_error(e))?;
        if !resp.status().is_success() {
            return Err(self.error_from_response(resp).await);
        }
        let v: Value = resp
            .json()
            .await
            .map_err(|e| LlmError::Protocol(e.to_string()))?;
        let ids: Vec<String> = v["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() {
            return Err(LlmError::Unavailable {
                url: self.cfg.base_url.clone(),
                reason: "no model loaded".into(),
            });
        }
        Ok(ids)
    }

    /// How many parameters the served model has, as llama-server reports it
    /// (`/v1/models`: `data[0].meta.n_params`). `None` when the server does not say
    /// (another server), or could not be asked. The server's answer is kept for the
    /// client's life; a failed request is tried twice more and, if it still fails, not
    /// kept: a busy server must not switch a small model out of `choose` mode for good.
    pub async fn model_params(&self) -> Option<u64> {
        if let Some(known) = self.params.get() {
            return *known;
        }
        for attempt in 0..3u32 {
            match self.fetch_params().await {
                Ok(answer) => {
                    let _ = self.params.set(answer);
                    return answer;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "could not ask the model server for its size");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
        None
    }

    /// One request for [`LlmClient::model_params`]: `Err` when the server could not be
    /// asked (unreachable, a 5xx, a torn body), `Ok(None)` when it answered without a size.
    async fn fetch_params(&self) -> Result<Option<u64>, String> {
        let resp = self
            .http
            .get(self.url("/v1/models"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(format!("HTTP {status}"));
        }
        if !status.is_success() {
            return Ok(None);
        }
        let v: Value = resp.json().await.map_err(|e| e.to_string())?;
        Ok(v.pointer("/data/0/meta/n_params").and_then(Value::as_u64))
    }

    /// Counts the tokens of `text` with the server's own tokenizer (llama.cpp's
    /// `/tokenize`). `None` when the server has no such endpoint.
    pub async fn count_tokens(&self, text: &str) -> Option<usize> {
        let resp = self
            .http
            .post(self.url("/tokenize"))
            .json(&json!({ "content": text }))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let v: Value = resp.json().await.ok()?;
        v["tokens"].as_array().map(Vec::len)
    }

    /// Asks for a reply that matches `schema`, validates it, and deserializes it into `T`.
    /// An invalid first reply is retried once with the validation error appended to the
    /// conversation; a second invalid reply is [`LlmError::InvalidOutput`]. Tokens are sent
    /// to `deltas` as they arrive, when given, with a [`ReplyEvent::Rejected`] between
    /// a rejected reply and its retry.
    pub async fn complete_json<T: DeserializeOwned>(
        &self,
        messages: &[ChatMessage],
        schema_name: &str,
        schema: &Value,
        deltas: Option<&UnboundedSender<ReplyEvent>>,
    ) -> Result<JsonReply<T>, LlmError> {
        self.complete_json_with(
            messages,
            schema_name,
            schema,
            deltas,
            CallOptions::default(),
        )
        .await
    }

    /// [`LlmClient::complete_json`] with this call's own sampling settings.
    pub async fn complete_json_with<T: DeserializeOwned>(
        &self,
        messages: &[ChatMessage],
        schema_name: &str,
        schema: &Value,
        deltas: Option<&UnboundedSender<ReplyEvent>>,
        options: CallOptions,
    ) -> Result<JsonReply<T>, LlmError> {
        let validator = jsonschema::validator_for(schema).map_err(|e| {
            LlmError::Config(format!(
                "schema {schema_name} is not a valid JSON Schema: {e}"
            ))
        })?;
        let mut conversation = messages.to_vec();
        let mut calls = Vec::new();
        let mut last = (String::new(), String::new());
        for attempt in 1..=2u32 {
            let span = self.chat_span(options, "json");
            span.record("loglens.schema", schema_name);
            span.record("loglens.attempt", attempt);
            let result = self
                .stream_once(&conversation, schema_name, schema, deltas, options)
                .instrument(span.clone())
                .await;
            finish_chat_span(
                &span,
                &self.cfg.model,
                result.as_ref().map(|(_, call)| call),
            );
            let (raw, call) = result?;
            let cut_off = call.finish_reason.as_deref() == Some("length");
            calls.push(call);
            match check::<T>(&validator, &raw) {
                Ok(value) => return Ok(JsonReply { value, raw, calls }),
                Err(mut reason) => {
                    if cut_off {
                        reason = format!(
                            "the reply was cut off at the token limit ({reason}); write shorter strings"
                        );
                    }
                    tracing::warn!(attempt, %reason, "model reply rejected");
                    if attempt == 1 {
                        if let Some(tx) = deltas {
                            let _ = tx.send(ReplyEvent::Rejected(reason.clone()));
                        }
                        conversation.push(ChatMessage::user(format!(
                            "Your previous reply was rejected: {reason}. Reply again with one JSON object that matches the schema exactly."
                        )));
                    }
                    last = (reason, raw);
                }
            }
        }
        Err(LlmError::InvalidOutput {
            attempts: 2,
            reason: last.0,
            last_reply: last.1.chars().take(500).collect(),
        })
    }

    /// One streamed chat completion; returns the text and what the call cost.
    async fn stream_once(
        &self,
        messages: &[ChatMessage],
        schema_name: &str,
        schema: &Value,
        deltas: Option<&UnboundedSender<ReplyEvent>>,
        options: CallOptions,
    ) -> Result<(String, ModelCall), LlmError> {
        let mut body = json!({
            "model": self.cfg.model,
            "messages": messages,
            "stream": true,
            "stream_options": { "include_usage": true },
            "temperature": options.temperature.unwrap_or(self.cfg.temperature),
            "max_tokens": options.max_tokens.unwrap_or(self.cfg.max_tokens),
            "response_format": {
                "type": "json_schema",
                "json_schema": { "name": schema_name, "strict": true, "schema": schema }
            }
        });
        if let Some(seed) = options.seed {
            body["seed"] = json!(seed);
        }
        self.add_sampling(&mut body);
        let (resp, started, started_ms) = self.post_chat(&body).await?;
        let mut text = String::new();
        let mut call = ModelCall::default();
        let mut lines = SseLines::default();
        let mut stream = resp.bytes_stream();
        let mut done = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.map_send_error(e))?;
            for payload in lines.push(&chunk) {
                match payload {
                    SsePayload::Done => done = true,
                    SsePayload::Garbage(g) => {
                        return Err(LlmError::Protocol(format!("stream chunk is not JSON: {g}")));
                    }
                    SsePayload::Json(v) => {
                        if let Some(msg) = v.pointer("/error/message").and_then(Value::as_str) {
                            return Err(LlmError::Http {
                                status: 500,
                                message: msg.to_string(),
                            });
                        }
                        if let Some(delta) = v
                            .pointer("/choices/0/delta/content")
                            .and_then(Value::as_str)
                        {
                            text.push_str(delta);
                            if let Some(tx) = deltas {
                                let _ = tx.send(ReplyEvent::Token(delta.to_string()));
                            }
                        }
                        if let Some(reason) = v
                            .pointer("/choices/0/finish_reason")
                            .and_then(Value::as_str)
                        {
                            call.finish_reason = Some(reason.to_string());
                        }
                        read_usage(&v, &mut call);
                    }
                }
            }
            if done {
                break;
            }
        }
        if !done && call.finish_reason.is_none() {
            return Err(LlmError::Protocol(
                "stream ended before the reply was finished".into(),
            ));
        }
        call.http_ms = started.elapsed().as_secs_f64() * 1000.0;
        call.started_ms = started_ms;
        Ok((text, call))
    }
}

/// Records what a model call cost on its span and in the metrics.
pub(super) fn finish_chat_span(
    span: &tracing::Span,
    model: &str,
    result: Result<&ModelCall, &LlmError>,
) {
    match result {
        Ok(call) => {
            span.record("gen_ai.usage.input_tokens", call.prompt_tokens);
            span.record("gen_ai.usage.output_tokens", call.completion_tokens);
            if let Some(reason) = &call.finish_reason {
                span.record("gen_ai.response.finish_reasons", reason.as_str());
            }
            span.record("loglens.tokens_per_second", call.tokens_per_second);
            crate::metrics::record_model_call(model, "chat", call, None);
        }
        Err(e) => {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", e.kind());
            crate::metrics::record_model_call(model, "chat", &ModelCall::default(), Some(e.kind()));
        }
    }
}

/// Reads `usage` (OpenAI) and `timings` (llama.cpp) from a chunk, when present.
fn read_usage(v: &Value, call: &mut ModelCall) {
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        call.prompt_tokens = u["prompt_tokens"].as_u64().unwrap_or(call.prompt_tokens);
        call.completion_tokens = u["completion_tokens"]
            .as_u64()
            .unwrap_or(call.completion_tokens);
    }
    if let Some(t) = v.get("timings").filter(|t| t.is_object()) {
        call.prompt_ms = t["prompt_ms"].as_f64().unwrap_or(call.prompt_ms);
        call.generation_ms = t["predicted_ms"].as_f64().unwrap_or(call.generation_ms);
        call.tokens_per_second = t["predicted_per_second"]
            .as_f64()
            .unwrap_or(call.tokens_per_second);
        if let Some(n) = t["prompt_n"].as_u64() {
            // llama.cpp reports only the tokens it had to process (cache misses) here;
            // prefer usage's full count when both exist.
            if call.prompt_tokens == 0 {
                call.prompt_tokens = n;
            }
        }
        if let Some(n) = t["predicted_n"].as_u64() {
            call.completion_tokens = call.completion_tokens.max(n);
        }
    }
}

/// Parses and validates a reply; the error text is written for the model to act on.
pub(crate) fn check<T: DeserializeOwned>(
    validator: &jsonschema::Validator,
    raw: &str,
) -> Result<T, String> {
    let value: Value =
        serde_json::from_str(raw.trim()).map_err(|e| format!("not valid JSON ({e})"))?;
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .take(3)
        .map(|e| {
            let path = e.instance_path().to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect();
    if !problems.is_empty() {
        return Err(format!(
            "does not match the schema: {}",
            problems.join("; ")
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("does not match the expected fields: {e}"))
}

#[cfg(test)]
mod tests;
