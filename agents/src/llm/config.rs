//! How to reach and call the model server: [`LlmConfig`], sampling, [`CallOptions`].
use std::time::Duration;

use serde_json::Value;

use super::LlmError;

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
