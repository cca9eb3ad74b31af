//! Fitting log lines into a model's context.
//!
//! A 4096-token context holds the instructions, the question, the answer the model will
//! write, and whatever log lines are left room for. [`select_recent`] fills that room with
//! the most recent lines, whole, newest first, and collapses repeats of one message (a
//! stack trace printed 60 times) into a single line with a count, so one noisy stream
//! cannot crowd out the rest. Secrets are masked before anything is counted or sent.
use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::logs::LogLine;
use crate::redact::redact;

/// Rough token count of text, on the safe side: log text (ids, hex, timestamps,
/// punctuation) measured 2.5 bytes a token with SmolLM2's tokenizer, far less than
/// prose's 4. Callers that can ask the model server for an exact count do so afterwards.
pub fn estimate_tokens(text: &str) -> usize {
    (text.len() * 2).div_ceil(5)
}

/// Limits for [`select_recent`].
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// At most this many lines.
    pub max_lines: usize,
    /// At most this many (estimated) tokens of rendered lines in total.
    pub max_tokens: usize,
    /// A single line longer than this many characters is clipped, with a marker saying how
    /// much was left out.
    pub max_line_chars: usize,
}

/// A line chosen for the prompt.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The original line (unredacted, as read).
    pub line: LogLine,
    /// The text to show the model: redacted, and clipped if it was too long.
    pub text: String,
    /// How many other lines with the same message (numbers and ids aside) were collapsed
    /// into this one.
    pub similar: usize,
}

/// Tokens each rendered line costs besides its text (number, time, stream name).
const LINE_OVERHEAD_TOKENS: usize = 16;

/// Chooses the most recent lines that fit `budget`. `lines` must be oldest first; the
/// result is oldest first too.
pub fn select_recent(lines: &[LogLine], budget: &Budget) -> Vec<Selected> {
    select_in_order(lines, (0..lines.len()).rev(), budget)
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

/// Chooses lines in the order of `priority` (indexes into `lines`, best first) until
/// `budget` is full; a line of a message already chosen (numbers and ids aside, same
/// stream) is counted on that one instead. The result, with each line's index, is in the
/// order of `lines` (oldest first when `lines` is). Hybrid retrieval passes its fused
/// ranking here; [`select_recent`] passes newest-first.
pub fn select_in_order(
    lines: &[LogLine],
    priority: impl IntoIterator<Item = usize>,
    budget: &Budget,
) -> Vec<(usize, Selected)> {
    let mut chosen: Vec<(usize, Selected)> = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut taken: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut used = 0usize;
    for i in priority {
        let Some(line) = lines.get(i) else { continue };
        if chosen.len() >= budget.max_lines {
            break;
        }
        if !taken.insert(i) {
            continue;
        }
        let key = (line.stream_name().to_string(), message_shape(&line.text));
        if let Some(&j) = seen.get(&key) {
            chosen[j].1.similar += 1;
            continue;
        }
        let mut text = clip(&redact(&line.text), budget.max_line_chars);
        let mut cost = estimate_tokens(&text) + LINE_OVERHEAD_TOKENS;
        if used + cost > budget.max_tokens {
            let room = budget
                .max_tokens
                .saturating_sub(used + LINE_OVERHEAD_TOKENS);
            if !chosen.is_empty() || room < 16 {
                break;
            }
            // The first line alone is over budget: keep its head rather than nothing.
            text = clip(&text, room * 2);
            cost = estimate_tokens(&text) + LINE_OVERHEAD_TOKENS;
        }
        used += cost;
        seen.insert(key, chosen.len());
        chosen.push((
            i,
            Selected {
                line: line.clone(),
                text,
                similar: 0,
            },
        ));
    }
    chosen.sort_by_key(|(i, _)| *i);
    chosen
}

/// Cuts `text` to at most `max_chars` characters, on a character boundary, and says how
/// many were left out.
pub fn clip(text: &str, max_chars: usize) -> String {
    let total = text.chars().count();
    if total <= max_chars {
        return text.to_string();
    }
    let kept: String = text.chars().take(max_chars).collect();
    format!("{kept}…[+{} chars]", total - max_chars)
}

/// Cuts `text` to at most `max_chars` characters in all, the last one `…` when it was
/// cut: for hard limits (a Slack header, a stored title), where [`clip`]'s count of what
/// was left out would not fit.
pub fn clip_to(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[allow(clippy::expect_used)] // constant patterns, exercised by the tests below
static SHAPE_RULES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        r"\b[0-9a-fA-F]{8,}\b",
        // Any word with a digit in it: counters, ports, ids such as 2ZYFJ3GM2N.
        r"[A-Za-z0-9_]*\d[A-Za-z0-9_]*",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("constant pattern compiles"))
    .collect()
});

/// The message with ids, hex and numbers masked, so repeats of one message compare equal.
pub fn message_shape(text: &str) -> String {
    let mut s = text.to_string();
    for r in SHAPE_RULES.iter() {
        s = r.replace_all(&s, "#").into_owned();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn line(n: u64, text: &str) -> LogLine {
        LogLine {
            source: "f.log".into(),
            line_no: n,
            timestamp: None,
            labels: BTreeMap::from([("container".to_string(), "app".to_string())]),
            text: text.into(),
            truncated_bytes: 0,
        }
    }

    #[test]
    fn keeps_most_recent_in_time_order() {
        let lines: Vec<_> = (1..=10)
            .map(|i| {
                line(
                    i,
                    &format!(
                        "event {} kind {}",
                        i,
                        ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"][i as usize - 1]
                    ),
                )
            })
            .collect();
        let got = select_recent(
            &lines,
            &Budget {
                max_lines: 3,
                max_tokens: 10_000,
                max_line_chars: 500,
            },
        );
        let nos: Vec<u64> = got.iter().map(|s| s.line.line_no).collect();
        assert_eq!(nos, vec![8, 9, 10]);
    }

    #[test]
    fn collapses_repeats_of_one_message() {
        let mut lines: Vec<_> = (1..=50)
            .map(|i| line(i, &format!("timeout after {i}ms to 10.0.0.{i}")))
            .collect();
        lines.push(line(51, "disk full"));
        let got = select_recent(
            &lines,
            &Budget {
                max_lines: 15,
                max_tokens: 10_000,
                max_line_chars: 500,
            },
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].similar, 49);
        assert_eq!(got[1].text, "disk full");
    }

    #[test]
    fn ids_with_letters_and_digits_do_not_split_a_message() {
        assert_eq!(
            message_shape("GET /product/2ZYFJ3GM2N failed"),
            message_shape("GET /product/66VCHSJNUP failed")
        );
        assert_ne!(
            message_shape("GET /cart failed"),
            message_shape("GET /checkout failed")
        );
    }

    #[test]
    fn respects_token_budget_with_whole_lines() {
        let lines: Vec<_> = (1..=100)
            .map(|i| line(i, &format!("{i} {}", "word ".repeat(20 + i as usize))))
            .collect();
        let budget = Budget {
            max_lines: 200,
            max_tokens: 400,
            max_line_chars: 10_000,
        };
        let got = select_recent(&lines, &budget);
        let used: usize = got
            .iter()
            .map(|s| estimate_tokens(&s.text) + LINE_OVERHEAD_TOKENS)
            .sum();
        assert!(used <= 400, "used {used}");
        assert!(!got.is_empty());
        assert!(got.iter().all(|s| s.text == s.line.text), "lines are whole");
    }

    #[test]
    fn a_huge_newest_line_is_clipped_not_dropped() {
        let lines = vec![line(1, &"x".repeat(20_000_000))];
        let got = select_recent(
            &lines,
            &Budget {
                max_lines: 15,
                max_tokens: 2000,
                max_line_chars: 600,
            },
        );
        assert_eq!(got.len(), 1);
        assert!(got[0].text.len() < 1000);
        assert!(got[0].text.contains("…[+"));
    }

    #[test]
    fn secrets_are_masked_before_selection() {
        let lines = vec![line(1, "login failed password=hunter2")];
        let got = select_recent(
            &lines,
            &Budget {
                max_lines: 15,
                max_tokens: 2000,
                max_line_chars: 600,
            },
        );
        assert!(!got[0].text.contains("hunter2"));
    }

    #[test]
    fn clip_to_keeps_within_the_limit() {
        assert_eq!(clip_to("short", 10), "short");
        assert_eq!(clip_to("ünïcode text", 5), "ünïc…");
        assert_eq!(clip_to("abcdef", 5).chars().count(), 5);
    }
}
