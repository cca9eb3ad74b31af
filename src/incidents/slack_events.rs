//! Questions asked in Slack: the Events API's `app_mention`, verified and deduplicated.
//!
//! Slack signs every request: `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256, keyed
//! with the app's signing secret, of `v0:{X-Slack-Request-Timestamp}:{raw body}`. A
//! request is accepted only when the signature matches (compared in constant time) and
//! the timestamp is within five minutes of now, so a captured request cannot be replayed
//! later. Within those five minutes, a replay (or Slack's own retry of an event it thinks
//! was missed) carries the same `event_id`, which is the question job's dedupe key: it is
//! answered once.
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

/// How far a request's timestamp may be from now, in seconds (Slack's recommendation).
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackAuthError {
    /// A header is missing or malformed.
    #[error("{0}")]
    Malformed(String),
    /// The timestamp is too old or in the future: a replay, or a clock far off.
    #[error(
        "the request timestamp is {0} s from now (more than {MAX_SKEW_SECS} s): refused as a possible replay"
    )]
    Stale(i64),
    /// The signature does not match.
    #[error("the request signature does not match (check the signing secret)")]
    BadSignature,
}

/// Checks a request's signature and age; `now` is Unix seconds.
pub fn verify(
    signing_secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SlackAuthError> {
    let ts_text = timestamp
        .ok_or_else(|| SlackAuthError::Malformed("X-Slack-Request-Timestamp is missing".into()))?;
    let ts: i64 = ts_text.trim().parse().map_err(|_| {
        SlackAuthError::Malformed("X-Slack-Request-Timestamp is not a Unix time".into())
    })?;
    let skew = now.saturating_sub(ts);
    if skew.unsigned_abs() > MAX_SKEW_SECS.unsigned_abs() {
        return Err(SlackAuthError::Stale(skew));
    }
    let sig = signature
        .ok_or_else(|| SlackAuthError::Malformed("X-Slack-Signature is missing".into()))?;
    let digest = sig
        .strip_prefix("v0=")
        .and_then(unhex)
        .ok_or_else(|| SlackAuthError::Malformed("X-Slack-Signature is not v0=<hex>".into()))?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(signing_secret.as_bytes())
        .map_err(|_| SlackAuthError::BadSignature)?;
    mac.update(format!("v0:{ts_text}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SlackAuthError::BadSignature)
}

/// The signature Slack would send (for tests and tools that replay events).
pub fn sign(signing_secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(signing_secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What Slack posts to the events URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Envelope {
    /// Sent once when the URL is configured: answer with the challenge.
    UrlVerification {
        /// Echoed back.
        challenge: String,
    },
    /// An event.
    EventCallback {
        /// Unique per event; the same on Slack's retries.
        event_id: String,
        /// The event.
        event: Event,
    },
    /// Anything else (rate-limit notices, app uninstalls): acknowledged, ignored.
    #[serde(other)]
    Other,
}

/// The fields of a message event loglens reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// `app_mention`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The message text, with `<@U123>` mentions.
    #[serde(default)]
    pub text: String,
    /// Who asked.
    #[serde(default)]
    pub user: Option<String>,
    /// Where.
    #[serde(default)]
    pub channel: Option<String>,
    /// The message's own timestamp (its id).
    #[serde(default)]
    pub ts: Option<String>,
    /// The thread it is in, if any.
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// Set on messages from bots (loglens's own included): never answered.
    #[serde(default)]
    pub bot_id: Option<String>,
}

/// A question job's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackQuestion {
    /// The question, mentions removed.
    pub question: String,
    /// Channel to answer in.
    pub channel: String,
    /// Thread to answer in (the question's own thread, or the question itself).
    pub thread_ts: String,
    /// Who asked.
    #[serde(default)]
    pub user: Option<String>,
}

impl Event {
    /// The question this event asks, when it is a mention by a person in a channel.
    pub fn question(&self) -> Option<SlackQuestion> {
        if self.kind != "app_mention" || self.bot_id.is_some() {
            return None;
        }
        let channel = self.channel.clone()?;
        let thread_ts = self.thread_ts.clone().or_else(|| self.ts.clone())?;
        Some(SlackQuestion {
            // Secrets pasted into a mention are masked before the job is stored.
            question: loglens_tools::redact::redact(&question_text(&self.text)).into_owned(),
            channel,
            thread_ts,
            user: self.user.clone(),
        })
    }
}

/// The text without user mentions, with Slack's escapes undone and spaces collapsed.
pub fn question_text(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_fresh_request_passes() {
        let body = br#"{"type":"url_verification","challenge":"c"}"#;
        let sig = sign("secret", 1_700_000_000, body);
        assert_eq!(
            verify(
                "secret",
                Some("1700000000"),
                Some(&sig),
                body,
                1_700_000_100
            ),
            Ok(())
        );
    }

    #[test]
    fn wrong_secret_body_or_age_is_refused() {
        let body = b"{}";
        let sig = sign("secret", 1_700_000_000, body);
        let now = 1_700_000_010;
        assert_eq!(
            verify("other", Some("1700000000"), Some(&sig), body, now),
            Err(SlackAuthError::BadSignature)
        );
        assert_eq!(
            verify("secret", Some("1700000000"), Some(&sig), b"{ }", now),
            Err(SlackAuthError::BadSignature)
        );
        // The same signature with a newer timestamp (a replay dressed up) fails too.
        assert_eq!(
            verify("secret", Some("1700000005"), Some(&sig), body, now),
            Err(SlackAuthError::BadSignature)
        );
        assert_eq!(
            verify(
                "secret",
                Some("1700000000"),
                Some(&sig),
                body,
                1_700_000_301
            ),
            Err(SlackAuthError::Stale(301))
        );
        assert!(matches!(
            verify("secret", None, Some(&sig), body, now),
            Err(SlackAuthError::Malformed(_))
        ));
        assert!(matches!(
            verify("secret", Some("1700000000"), Some("v0=zz"), body, now),
            Err(SlackAuthError::Malformed(_))
        ));
    }

    #[test]
    fn mentions_are_removed_and_bots_ignored() {
        assert_eq!(
            question_text("<@U0LAN0Z89>  why is   checkout slow &amp; failing?"),
            "why is checkout slow & failing?"
        );
        let e: Event = serde_json::from_value(serde_json::json!({
            "type": "app_mention", "text": "<@U1> why?", "channel": "C1", "ts": "1.2"
        }))
        .unwrap();
        let q = e.question().unwrap();
        assert_eq!((q.question.as_str(), q.thread_ts.as_str()), ("why?", "1.2"));
        let bot: Event = serde_json::from_value(serde_json::json!({
            "type": "app_mention", "text": "x", "channel": "C1", "ts": "1.2", "bot_id": "B1"
        }))
        .unwrap();
        assert!(bot.question().is_none());
    }
}
