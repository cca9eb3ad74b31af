//! A Slack Events API request: the signature check (timestamp and signature headers as
//! sent) and the event body.
#![no_main]
use loglens::incidents::slack_events::{Envelope, verify};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first line is the timestamp header, the second the signature, the rest the body.
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let ts = parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let sig = parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let body = parts.next().unwrap_or_default();
    let _ = verify("8f742231b10e8888abcd99yyyzzz85a5", ts, sig, body, 1_700_000_000);
    if let Ok(Envelope::EventCallback { event, .. }) = serde_json::from_slice::<Envelope>(body) {
        let _ = event.question();
    }
});
