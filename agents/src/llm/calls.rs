//! What goes to the model and what a call cost: messages, streamed events, [`ModelCall`].
use serde::{Deserialize, Serialize};

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
