//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): what loglens reads
//! from a model server. A reply may be anything; each must return (a rejected answer is
//! fine), never panic. See `docs/fuzzing.md`.
use std::sync::LazyLock;

use loglens_tools::logs::LogLine;

use crate::evidence::SignatureLibrary;
use crate::evidence::collect::{EvidenceSet, LineBudget, collect};
use crate::finding::{Severity, choice_schema, evidence_schema};
use crate::llm::client::check;
use crate::llm::sse::SseLines;
use crate::specialist::{AnswerMode, read_answer};

/// A small evidence set with candidates, as a specialist's answer is read against.
static EVIDENCE: LazyLock<EvidenceSet> = LazyLock::new(|| {
    let line = |n: u64, pod: &str, text: &str| LogLine {
        source: "app.log".into(),
        line_no: n,
        timestamp: None,
        labels: [("pod".to_string(), pod.to_string())].into_iter().collect(),
        text: text.into(),
        truncated_bytes: 0,
    };
    let lines = [
        line(
            1,
            "cart-1",
            "ERROR java.lang.OutOfMemoryError: Java heap space",
        ),
        line(
            2,
            "frontend-1",
            "ERROR could not retrieve cart: connection refused",
        ),
        line(3, "checkout-1", "ERROR pq: sorry, too many clients already"),
    ];
    #[allow(clippy::expect_used)] // the built-in library is tested to load
    let library = SignatureLibrary::builtin().expect("the built-in signatures load");
    collect(
        &lines,
        &[],
        &library,
        &LineBudget {
            max_lines: 10,
            max_tokens: 2000,
            max_line_chars: 300,
        },
    )
});

/// A model's reply to the final answer, checked against both answer schemas and read
/// as a choice and as a full finding.
pub fn model_answer(raw: &str) {
    let ev = &*EVIDENCE;
    let causes: Vec<String> = ev
        .candidates
        .iter()
        .map(|c| c.candidate.signature.clone())
        .collect();
    let schemas = [
        (
            AnswerMode::Choose,
            choice_schema(
                ev.lines.len(),
                &causes,
                &ev.components,
                &(Severity::Warn..=Severity::Critical),
            ),
        ),
        (
            AnswerMode::Full,
            evidence_schema(ev.lines.len(), &causes, &ev.components),
        ),
    ];
    for (mode, schema) in schemas {
        let Ok(validator) = jsonschema::validator_for(&schema) else {
            continue;
        };
        if let Ok(v) = check::<serde_json::Value>(&validator, raw) {
            let _ = read_answer(v, mode, ev, &ev.lines);
        }
    }
}

/// A streamed reply, fed in two chunks split at `split`.
pub fn model_stream(bytes: &[u8], split: usize) {
    let mut sse = SseLines::default();
    let at = split.min(bytes.len());
    let _ = sse.push(&bytes[..at]);
    let _ = sse.push(&bytes[at..]);
}
