//! Native tool calls: chat completions with OpenAI-style `tools`.
use serde_json::{Value, json};
use tracing::Instrument;

use super::client::{LlmClient, finish_chat_span};
use super::{CallOptions, ChatMessage, LlmError, ModelCall};

impl LlmClient {
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
}
