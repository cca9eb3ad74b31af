//! The model client: llama.cpp's OpenAI-compatible chat API with JSON-schema-constrained
//! output.
//!
//! ## Why a thin client of our own and not rig-core's llama.cpp provider
//! loglens needs four things from every model call, and rig 0.44 gives only some of them:
//! 1. `response_format: json_schema` on every call. rig's `Extractor` instead forces a
//!    `submit` tool call, which small models (SmolLM2, 1-3B Llamas) rarely produce;
//!    grammar-constrained output always parses.
//! 2. llama.cpp's `timings` object (prompt/generation milliseconds, tokens per second),
//!    which we store with every result and use to measure orchestration overhead. rig
//!    maps responses to its provider-neutral types and drops it.
//! 3. Validation with `jsonschema` and exactly one retry that tells the model what was
//!    wrong, then a typed error the HTTP layer can map to a status code.
//! 4. Token streaming to the SSE endpoint while the JSON is being written.
//!
//! That is ~250 lines over `reqwest`; rig stays the choice for the agent tool loops
//! (issue 5), where its abstractions pay for themselves.
mod calls;
mod choices;
pub(crate) mod client;
mod config;
mod error;
pub(crate) mod sse;
mod tool_calls;

pub use calls::{ChatMessage, JsonReply, ModelCall, ReplyEvent, busy_ms, generation_rate};
pub use choices::MAX_OPTIONS;
pub use client::LlmClient;
pub use config::{CallOptions, LlmConfig, SAMPLING_KEYS, check_sampling};
pub use error::LlmError;
