//! Reading an OpenAI-style `text/event-stream` response chunk by chunk.
use serde_json::Value;

/// Splits a byte stream into SSE `data:` payloads. Feed it bytes as they arrive; it keeps
/// partial lines until their newline comes.
#[derive(Default)]
pub(crate) struct SseLines {
    buf: Vec<u8>,
}

/// One payload from the stream.
#[derive(Debug, PartialEq)]
pub(crate) enum SsePayload {
    /// A JSON chunk.
    Json(Value),
    /// The `[DONE]` marker.
    Done,
    /// A `data:` line that was not JSON.
    Garbage(String),
}

impl SseLines {
    /// Adds bytes and returns the complete payloads they finish.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SsePayload> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                out.push(SsePayload::Done);
            } else if !data.is_empty() {
                out.push(match serde_json::from_str(data) {
                    Ok(v) => SsePayload::Json(v),
                    Err(_) => SsePayload::Garbage(data.chars().take(200).collect()),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_payloads_across_chunks() {
        let mut s = SseLines::default();
        assert!(s.push(b"data: {\"a\":").is_empty());
        let got = s.push(b"1}\n\ndata: [DONE]\n");
        assert_eq!(
            got,
            vec![
                SsePayload::Json(serde_json::json!({"a":1})),
                SsePayload::Done
            ]
        );
    }

    #[test]
    fn ignores_comments_and_event_lines() {
        let mut s = SseLines::default();
        assert!(s.push(b": keep-alive\nevent: x\n").is_empty());
    }
}
