//! Log-pattern mining: a template miner built on Drain.
//!
//! A flood of log lines is mostly a few messages repeated with different numbers, ids and
//! addresses. A **template** is such a message with its variable parts replaced by `<*>`:
//! `connection to <*> refused after <*>`. Counting templates turns 50,000 lines into a
//! short table an agent (or a person) can read: what is said, how often, since when, and
//! which messages are new or spiking.
//!
//! The steps, one file each:
//! 1. [`tokenize`]: **mask** obvious variables (UUIDs, IP addresses, hex ids, numbers)
//!    with `<*>` and split on whitespace.
//! 2. `drain.rs`: walk a fixed-depth tree, first by token count, then by the first few
//!    tokens (a token with digits goes down the `<*>` branch). This is Drain (He et al.,
//!    ICWS 2017), the parser the Loghub benchmarks rank among the best, as the `drain3`
//!    Python package implements it.
//! 3. In the leaf, pick the template most similar to the line (share of equal tokens);
//!    if it is at least `similarity` alike, the line joins it and the tokens that differ
//!    become `<*>`; otherwise the line starts a new template.
//! 4. `miner.rs`: split what Drain joined when the tokens that differ are a few plain
//!    words seen again and again (`VM Started` / `VM Stopped`, `"GET` / `"POST`): those
//!    name what happened; many different values, or values with digits, are variables.
//!
//! Each line costs one tree walk and a comparison with a few templates, so mining is
//! linear in the input. `scripts/bench-patterns.sh` measures accuracy and speed on
//! Loghub-2.0 against `drain3` (docs/benchmarks.md).
mod drain;
mod miner;
mod tokenize;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use miner::{MAX_WORDS, MIN_WORD_COUNT, Template, TemplateMiner};
pub use tokenize::tokenize;

/// The wildcard that stands for a variable part of a message.
pub const WILDCARD: &str = "<*>";

/// Settings of the miner (drain3's defaults).
#[derive(Debug, Clone)]
pub struct MinerConfig {
    /// Depth of the prefix tree, counting the root, the token-count level and the leaf:
    /// `4` walks the first token (drain3's meaning).
    pub depth: usize,
    /// How alike (share of equal tokens, 0..1) a line must be to join a template.
    pub similarity: f64,
    /// Most children of one tree node; past that, new tokens share the `<*>` branch.
    pub max_children: usize,
    /// Most templates kept; past that, a new line joins the closest template of its length
    /// (only a line of a length never seen before still starts one).
    pub max_templates: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            depth: 4,
            similarity: 0.4,
            max_children: 100,
            max_templates: 10_000,
        }
    }
}

/// A template found in a set of lines, with when it was seen and whether it is new or
/// spiking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pattern {
    /// The template.
    pub template: String,
    /// Lines that fit it.
    pub count: u64,
    /// Time of its first line, if the lines have times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
    /// Time of its last line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    /// Indexes (into the mined lines) of up to three of its lines, the first ones.
    pub examples: Vec<usize>,
    /// First seen in the last quarter of the window, after a quiet start: something
    /// started saying this.
    pub new: bool,
    /// Lines per minute in the last quarter of the window over the rate before it; `None`
    /// when the window has no times or too few lines to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spike: Option<f64>,
}

/// Mines `messages` (with their times, when known) and returns the templates, most lines
/// first.
pub fn mine(messages: &[(&str, Option<DateTime<Utc>>)], cfg: MinerConfig) -> Vec<Pattern> {
    let mut miner = TemplateMiner::new(cfg);
    let ids: Vec<usize> = messages.iter().map(|(m, _)| miner.add(m)).collect();
    miner.settle();
    let ids: Vec<usize> = ids.into_iter().map(|id| miner.group(id)).collect();
    let times: Vec<DateTime<Utc>> = messages.iter().filter_map(|(_, t)| *t).collect();
    let window = match (times.iter().min(), times.iter().max()) {
        (Some(a), Some(b)) if b > a => Some((*a, *b)),
        _ => None,
    };
    let recent_from = window.map(|(a, b)| b - (b - a) / 4);

    // One pattern per standing template (in id order); `at` finds a group id's place.
    let templates = miner.templates();
    let mut at = vec![0usize; templates.last().map_or(0, |t| t.id + 1)];
    let mut out: Vec<Pattern> = Vec::with_capacity(templates.len());
    for t in templates {
        at[t.id] = out.len();
        out.push(Pattern {
            template: t.text(),
            count: 0,
            first_seen: None,
            last_seen: None,
            examples: Vec::new(),
            new: false,
            spike: None,
        });
    }
    let ids: Vec<usize> = ids.into_iter().map(|id| at[id]).collect();
    let mut recent = vec![0u64; out.len()];
    for (i, (&id, (_, t))) in ids.iter().zip(messages).enumerate() {
        let p = &mut out[id];
        p.count += 1;
        if p.examples.len() < 3 {
            p.examples.push(i);
        }
        if let Some(t) = *t {
            p.first_seen = Some(p.first_seen.map_or(t, |f| f.min(t)));
            p.last_seen = Some(p.last_seen.map_or(t, |l| l.max(t)));
            if recent_from.is_some_and(|r| t >= r) {
                recent[id] += 1;
            }
        }
    }
    if let (Some((start, end)), Some(from)) = (window, recent_from) {
        let before_min = ((from - start).num_milliseconds() as f64 / 60_000.0).max(1e-3);
        let after_min = ((end - from).num_milliseconds() as f64 / 60_000.0).max(1e-3);
        for (p, &r) in out.iter_mut().zip(&recent) {
            p.new = p.first_seen.is_some_and(|f| f >= from) && p.count >= 2;
            let before = p.count - r;
            if p.count >= 4 {
                let rate_after = r as f64 / after_min;
                let rate_before = (before.max(1)) as f64 / before_min;
                p.spike = Some((rate_after / rate_before * 100.0).round() / 100.0);
            }
        }
    }
    out.retain(|p| p.count > 0);
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.template.cmp(&b.template)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mine_counts_and_flags_new_templates() {
        let t0 = DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut lines: Vec<(String, Option<DateTime<Utc>>)> = (0..40)
            .map(|i| {
                (
                    format!("GET /api/items/{i} 200 {i}ms"),
                    Some(t0 + chrono::Duration::seconds(i * 10)),
                )
            })
            .collect();
        for i in 0..5 {
            lines.push((
                format!("dial tcp 10.0.0.{i}:5432: connection refused"),
                Some(t0 + chrono::Duration::seconds(380 + i)),
            ));
        }
        let refs: Vec<(&str, Option<DateTime<Utc>>)> =
            lines.iter().map(|(s, t)| (s.as_str(), *t)).collect();
        let p = mine(&refs, MinerConfig::default());
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!(p[0].template, "GET <*> <*> <*>");
        assert_eq!(p[0].count, 40);
        assert!(!p[0].new);
        assert_eq!(p[1].template, "dial tcp <*>:<*>: connection refused");
        assert!(p[1].new, "{:?}", p[1]);
        assert!(p[1].spike.unwrap_or(0.0) > 1.0);
        assert_eq!(p[1].examples, vec![40, 41, 42]);
    }
}
