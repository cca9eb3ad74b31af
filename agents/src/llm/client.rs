//! [`LlmClient`]: chat completions with a JSON schema, validated and retried once.
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tokio::sync::mpsc::UnboundedSender;
use tracing::Instrument;
use tracing::field::Empty;

use super::LlmError;
use super::sse::{SseLines, SsePayload};

/// Where the model server is and how to call it.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Base URL of an OpenAI-compatible server, e.g. `http://127.0.0.1:8080` (llama-server).
    pub base_url: String,
    /// Model name sent in requests (llama-server serves whatever it loaded; a router
    /// preset picks by this name).
    pub model: String,
    /// Bearer token, if the server wants one (`llama-server --api-key`).
    pub api_key: Option<String>,
    /// Longest a whole call may take, streaming included.
    pub request_timeout: Duration,
    /// Longest to wait for the TCP connection.
    pub connect_timeout: Duration,
    /// Most tokens the model may write in one reply.
    pub max_tokens: u32,
    /// Sampling temperature (low: extraction wants the likeliest answer).
    pub temperature: f32,
    /// More of llama.cpp's sampling settings, sent with every chat request (e.g.
    /// `dry_multiplier`, `repeat_penalty`, `top_k`, `min_p`). Checked by [`check_sampling`].
    pub sampling: serde_json::Map<String, Value>,
}

/// Sampling settings that may be passed through [`LlmConfig::sampling`]: llama.cpp's
/// sampler parameters, and `cache_prompt` (whether the server reuses the cached prefix of
/// the slot's last prompt: `false` makes a greedy answer depend on the prompt alone, not on
/// what was asked before). Anything else (the messages, the schema, streaming) is
/// loglens's to set and is refused.
pub const SAMPLING_KEYS: &[&str] = &[
    "cache_prompt",
    "top_k",
    "top_p",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "repeat_last_n",
    "presence_penalty",
    "frequency_penalty",
    "dry_multiplier",
    "dry_base",
    "dry_allowed_length",
    "dry_penalty_last_n",
    "dry_sequence_breakers",
    "xtc_probability",
    "xtc_threshold",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
    "top_n_sigma",
    "dynatemp_range",
    "dynatemp_exponent",
];

/// Checks that every key is one of [`SAMPLING_KEYS`].
pub fn check_sampling(sampling: &serde_json::Map<String, Value>) -> Result<(), LlmError> {
    for key in sampling.keys() {
        if !SAMPLING_KEYS.contains(&key.as_str()) {
            return Err(LlmError::Config(format!(
                "sampling setting {key:?} is not one loglens passes to the model server; known: {}",
                SAMPLING_KEYS.join(", ")
            )));
        }
    }
    Ok(())
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080".into(),
            model: "default".into(),
            api_key: None,
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            // Above the sum of the extraction schema's maxLengths (884 characters, which a
            // degenerate model can spend one token each on) plus JSON punctuation, so a
            // reply is never cut off mid-string.
            max_tokens: 1024,
            temperature: 0.1,
            sampling: serde_json::Map::new(),
        }
    }
}

/// Sampling settings of one call; `None` keeps the client's own.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallOptions {
    /// Temperature (consensus samples use a higher one than extraction).
    pub temperature: Option<f32>,
    /// Most tokens in the reply.
    pub max_tokens: Option<u32>,
    /// Sampling seed (llama.cpp honours it), so sample `i` of a run can be reproduced.
    pub seed: Option<u64>,
}

/// What a streaming caller receives while the model writes.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyEvent {
    /// More text of the current reply.
    Token(String),
    /// The reply so far was rejected (why is given) and the model is asked again: discard
    /// the text received since the start or the last `Rejected`.
    Rejected(String),
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: "system".into(),
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }
    /// What the model said earlier in the conversation.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: "assistant".into(),
            content: content.into(),
        }
    }
}

/// What one HTTP call to the model cost, as measured here and reported by llama.cpp.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelCall {
    /// Tokens in the prompt (llama.cpp `timings.prompt_n`, or `usage.prompt_tokens`).
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Server time spent reading the prompt, ms.
    pub prompt_ms: f64,
    /// Server time spent generating, ms.
    pub generation_ms: f64,
    /// Generation speed reported by the server.
    pub tokens_per_second: f64,
    /// Wall time of the HTTP call as seen by loglens, ms (includes queueing in the server).
    pub http_ms: f64,
    /// Why generation stopped (`stop`, `length`).
    pub finish_reason: Option<String>,
    /// When the call started, ms since the Unix epoch (calls of parallel agents overlap;
    /// [`busy_ms`] counts overlapping time once).
    #[serde(default)]
    pub started_ms: f64,
}

/// Tokens generated a second over every call that generated: their tokens over their
/// generation time. (The last call alone can be a weighing's one token, which
/// llama-server times at 0 ms.)
pub fn generation_rate(calls: &[ModelCall]) -> f64 {
    let (tokens, ms) = calls
        .iter()
        .filter(|c| c.generation_ms > 0.0)
        .fold((0u64, 0.0f64), |(t, ms), c| {
            (t + c.completion_tokens, ms + c.generation_ms)
        });
    if ms > 0.0 {
        tokens as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// Wall time during which at least one of `calls` was in flight, ms.
pub fn busy_ms(calls: &[ModelCall]) -> f64 {
    let mut spans: Vec<(f64, f64)> = calls
        .iter()
        .map(|c| (c.started_ms, c.started_ms + c.http_ms))
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (s, e) in spans {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

/// A validated, typed reply.
#[derive(Debug, Clone)]
pub struct JsonReply<T> {
    /// The parsed value.
    pub value: T,
    /// The raw JSON text the model wrote.
    pub raw: String,
    /// Every call made (1, or 2 when the first reply was rejected).
    pub calls: Vec<ModelCall>,
}

/// Client for an OpenAI-compatible chat server (llama.cpp's `llama-server` in particular).
#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    cfg: LlmConfig,
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

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url)
    }

    fn map_send_error(&self, e: reqwest::Error) -> LlmError {
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

    async fn error_from_response(&self, resp: reqwest::Response) -> LlmError {
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

    /// The model's probability of each of `n` numbered options (`1`..=`n`, at most
    /// [`MAX_OPTIONS`]), read from the log-probabilities of its reply's first token:
    /// llama-server returns the `top_logprobs` of the model's own distribution (before the
    /// grammar that holds the reply to one digit), and the options' digits are normalised
    /// among themselves. An option below the 200 most likely tokens gets 0. One greedy
    /// token, so the call costs little more than reading the prompt (less with the
    /// server's prompt cache, the conversation being the answer's).
    pub async fn option_probabilities(
        &self,
        messages: &[ChatMessage],
        n: usize,
    ) -> Result<(Vec<f64>, ModelCall), LlmError> {
        if n == 0 || n > MAX_OPTIONS {
            return Err(LlmError::Config(format!(
                "{n} options: 1 to {MAX_OPTIONS} can be weighed"
            )));
        }
        let mut body = json!({
            "model": self.cfg.model,
            "messages": messages,
            "stream": false,
            "temperature": 0.0,
            "max_tokens": 1,
            "logprobs": true,
            "top_logprobs": TOP_LOGPROBS,
            "grammar": format!("root ::= [1-{n}]"),
        });
        self.add_sampling(&mut body);
        let span = self.chat_span(CallOptions::default(), "choice");
        let result = async {
            let (v, call) = self.post_chat_json(&body).await?;
            let p = option_logprobs(&v, n).ok_or_else(|| {
                LlmError::Protocol(
                    "the reply has no log-probabilities for the options (the server must return top_logprobs)".into(),
                )
            })?;
            Ok::<_, LlmError>((p, call))
        }
        .instrument(span.clone())
        .await;
        finish_chat_span(&span, &self.cfg.model, result.as_ref().map(|(_, c)| c));
        result
    }

    /// Whether the server's chat template calls tools natively (llama-server `/props`:
    /// `chat_template_caps.supports_tool_calls`). `false` when it does not say.
    pub async fn supports_native_tools(&self) -> bool {
        let Ok(resp) = self.http.get(self.url("/props")).send().await else {
            return false;
        };
        if !resp.status().is_success() {
            return false;
        }
        resp.json::<Value>()
            .await
            .ok()
            .and_then(|v| {
                v.pointer("/chat_template_caps/supports_tool_calls")?
                    .as_bool()
            })
            .unwrap_or(false)
    }

    /// One chat completion with OpenAI-style `tools` (llama-server with `--jinja`: the
    /// template's own tool-call format, or llama.cpp's generic one). Returns the calls as
    /// `{"tool", "arguments"}` objects (arguments that are not JSON are kept as a string,
    /// for the toolbox to refuse), the text the model wrote besides, and what the call
    /// cost.
    pub async fn complete_tool_calls(
        &self,
        messages: &[ChatMessage],
        tools: &[Value],
        options: CallOptions,
    ) -> Result<(Vec<Value>, String, ModelCall), LlmError> {
        let span = self.chat_span(options, "text");
        let result = self
            .tool_calls_once(messages, tools, options)
            .instrument(span.clone())
            .await;
        finish_chat_span(
            &span,
            &self.cfg.model,
            result.as_ref().map(|(_, _, call)| call),
        );
        result
    }

    async fn tool_calls_once(
        &self,
        messages: &[ChatMessage],
        tools: &[Value],
        options: CallOptions,
    ) -> Result<(Vec<Value>, String, ModelCall), LlmError> {
        let mut body = json!({
            "model": self.cfg.model,
            "messages": messages,
            "stream": false,
            "temperature": options.temperature.unwrap_or(self.cfg.temperature),
            "max_tokens": options.max_tokens.unwrap_or(self.cfg.max_tokens),
            "tools": tools,
            "tool_choice": "auto",
            "parallel_tool_calls": true,
        });
        if let Some(seed) = options.seed {
            body["seed"] = json!(seed);
        }
        self.add_sampling(&mut body);
        let (v, call) = self.post_chat_json(&body).await?;
        let message = v
            .pointer("/choices/0/message")
            .ok_or_else(|| LlmError::Protocol("reply has no choices[0].message".into()))?;
        let calls = message["tool_calls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        let raw = &c["function"]["arguments"];
                        let arguments = match raw {
                            Value::String(s) => {
                                serde_json::from_str(s).unwrap_or_else(|_| raw.clone())
                            }
                            other => other.clone(),
                        };
                        json!({ "tool": c["function"]["name"], "arguments": arguments })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let content = message["content"].as_str().unwrap_or_default().to_string();
        Ok((calls, content, call))
    }

    /// Adds the configured extra sampling settings to a request body.
    fn add_sampling(&self, body: &mut Value) {
        if let Some(obj) = body.as_object_mut() {
            for (k, v) in &self.cfg.sampling {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }

    /// The span of one model call, named and attributed by the OpenTelemetry GenAI
    /// semantic conventions; [`finish_chat_span`] fills in what the call cost.
    fn chat_span(&self, options: CallOptions, output: &'static str) -> tracing::Span {
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
    async fn post_chat_json(&self, body: &Value) -> Result<(Value, ModelCall), LlmError> {
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

    async fn post_chat(&self, body: &Value) -> Result<(reqwest::Response, Instant, f64), LlmError> {
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
fn finish_chat_span(span: &tracing::Span, model: &str, result: Result<&ModelCall, &LlmError>) {
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
/// Most options [`LlmClient::option_probabilities`] weighs: one digit each.
pub const MAX_OPTIONS: usize = 9;

/// How many of the first token's most likely alternatives are asked for.
const TOP_LOGPROBS: u32 = 200;

/// The options' probabilities from a chat completion with `logprobs`: the first token's
/// alternatives that are a digit `1..=n` (the best log-probability of each), normalised.
/// `None` when none is there.
fn option_logprobs(v: &Value, n: usize) -> Option<Vec<f64>> {
    let first = v.pointer("/choices/0/logprobs/content/0")?;
    let mut best: Vec<Option<f64>> = vec![None; n];
    let chosen = std::iter::once(first);
    let alternatives = first
        .get("top_logprobs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for t in chosen.chain(alternatives) {
        let (Some(token), Some(lp)) = (
            t.get("token").and_then(Value::as_str),
            t.get("logprob").and_then(Value::as_f64),
        ) else {
            continue;
        };
        let Ok(k) = token.trim().parse::<usize>() else {
            continue;
        };
        if let Some(slot) = k.checked_sub(1).and_then(|i| best.get_mut(i))
            && lp.is_finite()
        {
            *slot = Some(slot.map_or(lp, |b: f64| b.max(lp)));
        }
    }
    let top = best.iter().flatten().copied().reduce(f64::max)?;
    let weights: Vec<f64> = best
        .iter()
        .map(|b| b.map_or(0.0, |lp| (lp - top).exp()))
        .collect();
    let total: f64 = weights.iter().sum();
    Some(weights.into_iter().map(|w| w / total).collect())
}

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
mod tests {
    use super::*;

    /// A server that answers `/v1/models` with 500 the first `failures` times, then
    /// with a model of `n` parameters (a fault a real llama-server cannot be made to
    /// produce on demand).
    async fn flaky_models_server(failures: usize, n: u64) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut served = 0;
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let body = format!(r#"{{"data":[{{"id":"m","meta":{{"n_params":{n}}}}}]}}"#);
                let reply = if served < failures {
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                served += 1;
                let _ = sock.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_failed_size_request_is_retried_and_never_kept() {
        // Two 500s, then the answer: the retries reach it.
        let url = flaky_models_server(2, 135_000_000).await;
        let llm = LlmClient::new(LlmConfig {
            base_url: url,
            ..LlmConfig::default()
        })
        .unwrap();
        assert_eq!(llm.model_params().await, Some(135_000_000));
        // Five 500s: this call gives up, and the next one asks again.
        let url = flaky_models_server(5, 135_000_000).await;
        let llm = LlmClient::new(LlmConfig {
            base_url: url,
            ..LlmConfig::default()
        })
        .unwrap();
        assert_eq!(llm.model_params().await, None);
        assert_eq!(llm.model_params().await, Some(135_000_000));
    }

    #[test]
    fn the_generation_rate_counts_every_generating_call() {
        let call = |tokens: u64, ms: f64| ModelCall {
            completion_tokens: tokens,
            generation_ms: ms,
            ..ModelCall::default()
        };
        // 300 tokens in 10 s; the weighing's one token timed at 0 ms counts for nothing.
        let calls = [call(100, 2000.0), call(200, 8000.0), call(1, 0.0)];
        assert!((generation_rate(&calls) - 30.0).abs() < 1e-9);
        assert!(generation_rate(&[]).abs() < f64::EPSILON);
    }

    #[test]
    fn option_probabilities_are_read_from_the_first_tokens_alternatives() {
        let v = json!({"choices": [{"logprobs": {"content": [{
            "token": "1", "logprob": -0.99,
            "top_logprobs": [
                {"token": "1", "logprob": -0.99},
                {"token": "The", "logprob": -2.6},
                {"token": " 3", "logprob": -4.46},
                {"token": "2", "logprob": -5.1},
                {"token": "7", "logprob": -1.0},
                {"token": "0", "logprob": -1.0}
            ]
        }]}}]});
        let p = option_logprobs(&v, 3).unwrap();
        assert_eq!(p.len(), 3);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(p[0] > 0.9 && p[2] > p[1] && p[1] > 0.0, "{p:?}");
        // An option missing from the alternatives gets 0; none at all is no answer.
        let p = option_logprobs(&v, 4).unwrap();
        assert_eq!(p[3], 0.0);
        assert!(option_logprobs(&json!({"choices": [{"message": {"content": "1"}}]}), 3).is_none());
        let words = json!({"choices": [{"logprobs": {"content": [{"token": "The", "logprob": -1.0, "top_logprobs": []}]}}]});
        assert!(option_logprobs(&words, 3).is_none());
    }

    #[test]
    fn check_reports_schema_violations_for_the_model() {
        let schema = json!({"type":"object","properties":{"a":{"type":"string","maxLength":3}},"required":["a"]});
        let v = jsonschema::validator_for(&schema).unwrap_or_else(|_| unreachable!());
        assert!(check::<Value>(&v, r#"{"a":"ok"}"#).is_ok());
        let err = check::<Value>(&v, r#"{"a":"too long"}"#)
            .err()
            .unwrap_or_default();
        assert!(err.contains("/a"), "{err}");
        let err = check::<Value>(&v, "{not json").err().unwrap_or_default();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn busy_time_counts_overlaps_once() {
        let call = |started_ms: f64, http_ms: f64| ModelCall {
            started_ms,
            http_ms,
            ..ModelCall::default()
        };
        assert_eq!(busy_ms(&[]), 0.0);
        assert_eq!(
            busy_ms(&[call(0.0, 10.0), call(5.0, 10.0), call(30.0, 5.0)]),
            20.0
        );
    }

    #[test]
    fn rejects_non_http_urls() {
        let cfg = LlmConfig {
            base_url: "localhost:8080".into(),
            ..LlmConfig::default()
        };
        assert!(matches!(LlmClient::new(cfg), Err(LlmError::Config(_))));
    }
}
