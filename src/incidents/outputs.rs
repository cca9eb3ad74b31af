//! Where reports go: Slack (an incoming webhook, or the Web API's `chat.postMessage`)
//! and a generic JSON webhook.
//!
//! A send either succeeds, fails in a way worth retrying (the network, a 5xx, a 429 with
//! its `Retry-After`), or fails for good (a revoked token, an unknown channel, a 4xx):
//! the queue retries the first kind with backoff and makes the second a dead letter at
//! once, with the server's answer as its error.
use std::time::Duration;

use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::report::Report;

/// Slack's Web API.
pub const SLACK_API_URL: &str = "https://slack.com/api";

/// One configured output.
#[derive(Clone, PartialEq, Eq)]
pub enum Output {
    /// A Slack incoming webhook (posts to the channel it was made for).
    SlackWebhook {
        /// The webhook URL (a secret).
        url: String,
    },
    /// Slack's `chat.postMessage` with a bot token; also how Slack questions are
    /// answered in their thread.
    Slack {
        /// Web API base URL.
        api_url: String,
        /// `xoxb-...` bot token.
        token: String,
        /// Channel for alert reports (`#incidents` or an id).
        channel: String,
    },
    /// Any HTTP endpoint, sent the report as JSON, signed when a secret is set.
    Webhook {
        /// Where to POST.
        url: String,
        /// HMAC-SHA256 key for `X-Loglens-Signature`.
        secret: Option<String>,
    },
}

impl std::fmt::Debug for Output {
    // URLs of Slack webhooks and tokens are secrets: only the kind is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Output {
    /// Its name, as used in dedupe keys and job payloads.
    pub fn name(&self) -> &'static str {
        match self {
            Output::SlackWebhook { .. } => "slack-webhook",
            Output::Slack { .. } => "slack",
            Output::Webhook { .. } => "webhook",
        }
    }
}

/// A delivery job's payload: a report for one output, and for Slack replies, the
/// channel and thread to answer in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The output's name.
    pub output: String,
    /// What to send.
    pub report: Report,
    /// Channel to post in instead of the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Thread to answer in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try (after the given wait, when the server named one).
    #[error("{message}")]
    Retryable {
        /// What happened.
        message: String,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Will fail again: a dead letter.
    #[error("{0}")]
    Permanent(String),
}

/// `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}`: the generic webhook's
/// `X-Loglens-Signature`, checked by receivers with the shared secret.
pub fn webhook_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(), // HMAC takes keys of any length
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends reports to the configured outputs.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    outputs: Vec<Output>,
}

impl Sender {
    /// A sender over these outputs; each request may take `timeout`.
    pub fn new(outputs: Vec<Output>, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("loglens/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, outputs })
    }

    /// The configured outputs.
    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    /// The Slack Web API output, if configured (needed to answer Slack questions).
    pub fn slack_api(&self) -> Option<&Output> {
        self.outputs
            .iter()
            .find(|o| matches!(o, Output::Slack { .. }))
    }

    /// Sends one delivery; the result says what the server answered.
    pub async fn send(&self, d: &Delivery) -> Result<Value, SendError> {
        let output = self
            .outputs
            .iter()
            .find(|o| o.name() == d.output)
            .ok_or_else(|| {
                SendError::Permanent(format!(
                    "output {:?} is not configured (any more)",
                    d.output
                ))
            })?;
        match output {
            Output::SlackWebhook { url } => {
                let body =
                    json!({"text": d.report.fallback_text(), "blocks": d.report.slack_blocks()});
                let resp = self.post(self.client.post(url).json(&body)).await?;
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                Ok(
                    json!({"output": d.output, "status": status.as_u16(), "answer": text.chars().take(200).collect::<String>()}),
                )
            }
            Output::Slack {
                api_url,
                token,
                channel,
            } => {
                let mut body = json!({
                    "channel": d.channel.as_deref().unwrap_or(channel),
                    "text": d.report.fallback_text(),
                    "blocks": d.report.slack_blocks(),
                    "unfurl_links": false,
                    "unfurl_media": false,
                });
                if let Some(ts) = &d.thread_ts {
                    body["thread_ts"] = json!(ts);
                }
                let url = format!("{}/chat.postMessage", api_url.trim_end_matches('/'));
                let resp = self
                    .post(self.client.post(url).bearer_auth(token).json(&body))
                    .await?;
                let answer: Value = resp.json().await.map_err(|e| SendError::Retryable {
                    message: format!("Slack's answer was not JSON: {e}"),
                    retry_after: None,
                })?;
                slack_api_result(&answer)?;
                Ok(json!({
                    "output": d.output,
                    "channel": answer.get("channel"),
                    "ts": answer.get("ts"),
                }))
            }
            Output::Webhook { url, secret } => {
                let body = serde_json::to_vec(&d.report.webhook_body())
                    .map_err(|e| SendError::Permanent(e.to_string()))?;
                let ts = chrono::Utc::now().timestamp();
                let mut req = self
                    .client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-loglens-timestamp", ts.to_string());
                if let Some(s) = secret {
                    req = req.header("x-loglens-signature", webhook_signature(s, ts, &body));
                }
                let resp = self.post(req.body(body)).await?;
                Ok(json!({"output": d.output, "status": resp.status().as_u16()}))
            }
        }
    }

    /// Sends a request; a 2xx comes back, anything else is sorted into a retry or a
    /// permanent failure.
    async fn post(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, SendError> {
        let resp = req.send().await.map_err(|e| SendError::Retryable {
            message: format!("sending failed: {}", without_url(&e)),
            retry_after: None,
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = retry_after(resp.headers());
        let text: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        let message = format!("the server answered {status}: {}", text.trim());
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error()
        {
            Err(SendError::Retryable {
                message,
                retry_after,
            })
        } else {
            Err(SendError::Permanent(message))
        }
    }
}

/// Slack's Web API answers 200 with `{"ok": false, "error": ...}`: some of those are
/// worth a retry, most are configuration errors.
fn slack_api_result(answer: &Value) -> Result<(), SendError> {
    if answer.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let error = answer
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown_error");
    let message = format!("Slack refused the message: {error}");
    match error {
        "ratelimited"
        | "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout" => Err(SendError::Retryable {
            message,
            retry_after: None,
        }),
        _ => Err(SendError::Permanent(message)),
    }
}

/// `Retry-After` in seconds (Slack and most APIs send seconds, not a date).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A reqwest error without its URL: Slack webhook URLs are secrets and errors are
/// stored and logged.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({detail})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_api_errors_are_sorted() {
        assert!(slack_api_result(&json!({"ok": true, "ts": "1"})).is_ok());
        assert!(matches!(
            slack_api_result(&json!({"ok": false, "error": "ratelimited"})),
            Err(SendError::Retryable { .. })
        ));
        assert_eq!(
            slack_api_result(&json!({"ok": false, "error": "channel_not_found"})),
            Err(SendError::Permanent(
                "Slack refused the message: channel_not_found".into()
            ))
        );
    }

    #[test]
    fn signatures_depend_on_secret_time_and_body() {
        let a = webhook_signature("s", 1, b"{}");
        assert!(a.starts_with("v1=") && a.len() == 3 + 64);
        assert_ne!(a, webhook_signature("t", 1, b"{}"));
        assert_ne!(a, webhook_signature("s", 2, b"{}"));
        assert_ne!(a, webhook_signature("s", 1, b"{ }"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let o = Output::SlackWebhook {
            url: "https://hooks.slack.com/services/T/B/secret".into(),
        };
        assert_eq!(format!("{o:?}"), "slack-webhook");
    }
}
