//! Choosing by probabilities: [`LlmClient::option_probabilities`] reads how likely each
//! numbered option is from the first token's log-probabilities.
use serde_json::{Value, json};
use tracing::Instrument;

use super::client::{LlmClient, finish_chat_span};
use super::{CallOptions, ChatMessage, LlmError, ModelCall};

/// Most options [`LlmClient::option_probabilities`] weighs: one digit each.
pub const MAX_OPTIONS: usize = 9;

/// How many of the first token's most likely alternatives are asked for.
const TOP_LOGPROBS: u32 = 200;

/// The options' probabilities from a chat completion with `logprobs`: the first token's
/// alternatives that are a digit `1..=n` (the best log-probability of each), normalised.
/// `None` when none is there.
pub(super) fn option_logprobs(v: &Value, n: usize) -> Option<Vec<f64>> {
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

impl LlmClient {
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
}
