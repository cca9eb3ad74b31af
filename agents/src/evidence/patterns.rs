//! Log-pattern mining: a Drain-style template miner.
//!
//! A flood of log lines is mostly a few messages repeated with different numbers, ids and
//! addresses. A **template** is such a message with its variable parts replaced by `<*>`:
//! `connection to <*> refused after <*>`. Counting templates turns 50,000 lines into a
//! short table an agent (or a person) can read: what is said, how often, since when, and
//! which messages are new or spiking.
//!
//! The algorithm is Drain (He et al., ICWS 2017), the parser the Loghub benchmarks rank
//! among the best, as the `drain3` Python package implements it:
//! 1. **Mask** obvious variables (UUIDs, IP addresses, hex ids, numbers) with `<*>`.
//! 2. Split on whitespace and walk a fixed-depth tree: first by token count, then by the
//!    first few tokens (a token with digits goes down the `<*>` branch).
//! 3. In the leaf, pick the template most similar to the line (share of equal tokens);
//!    if it is at least `similarity` alike, the line joins it and the tokens that differ
//!    become `<*>`; otherwise the line starts a new template.
//!
//! Each line costs one tree walk and a comparison with a few templates, so mining is
//! linear in the input. `scripts/bench.sh` measures accuracy and speed on Loghub-2.0
//! against `drain3` (docs/benchmarks.md).
use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

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

/// Compiles one of the constant patterns below.
#[allow(clippy::expect_used)] // constant patterns, exercised by the tests
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant masking pattern compiles")
}

/// The masks, applied in order. Each replaces a kind of variable with `<*>`.
static MASKS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // UUIDs.
        re(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        // IPv4 addresses (a port, if any, is left to the number mask: `<*>:<*>`).
        re(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b"),
        // MAC-like and long colon-separated hex.
        re(r"\b(?:[0-9a-fA-F]{2,}:){3,}[0-9a-fA-F]{2,}\b"),
        // 0x-prefixed hex.
        re(r"\b0[xX][0-9a-fA-F]+\b"),
        // Long hex ids with at least one digit and one letter (hashes, container ids).
        re(r"\b[0-9a-f]*(?:[0-9][a-f]|[a-f][0-9])[0-9a-f]*\b"),
        // Numbers (integers, decimals, signed).
        re(r"[-+]?\b\d+(?:\.\d+)?"),
    ]
});

/// Hex ids shorter than this are left alone (`deadbeef` is 8).
const MIN_HEX_ID: usize = 8;

/// Masks the variable parts of a message and splits it into tokens.
pub fn tokenize(message: &str) -> Vec<String> {
    let mut text = std::borrow::Cow::Borrowed(message);
    for (i, mask) in MASKS.iter().enumerate() {
        if !mask.is_match(&text) {
            continue;
        }
        let replaced = if i == 4 {
            mask.replace_all(&text, |c: &regex::Captures<'_>| {
                if c[0].len() >= MIN_HEX_ID {
                    WILDCARD.to_string()
                } else {
                    c[0].to_string()
                }
            })
        } else {
            mask.replace_all(&text, WILDCARD)
        };
        text = std::borrow::Cow::Owned(replaced.into_owned());
    }
    text.split_whitespace().map(collapse_token).collect()
}

/// A token whose only variable part is masked, with word characters around it
/// (`blk_<*>`, `<*>ms`, `pod-<*>`), is itself an id: it becomes `<*>`; so is a list of
/// values (`<*>,<*>`). Repeated
/// wildcards (`<*><*>`) become one.
fn collapse_token(token: &str) -> String {
    if token == WILDCARD || !token.contains(WILDCARD) {
        return token.to_string();
    }
    let rest = token.replace(WILDCARD, "");
    if rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return WILDCARD.to_string();
    }
    // A comma-separated list of values (`<*>,<*>`) is one variable.
    if token.matches(WILDCARD).count() >= 2 && rest.chars().all(|c| c == ',') {
        return WILDCARD.to_string();
    }
    let mut t = token.to_string();
    while t.contains("<*><*>") {
        t = t.replace("<*><*>", WILDCARD);
    }
    t
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

#[derive(Default)]
struct Node {
    children: HashMap<String, Node>,
    clusters: Vec<usize>,
}

/// One template and the lines that fit it.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Template tokens.
    pub tokens: Vec<String>,
    /// Lines that joined it.
    pub size: u64,
}

impl Cluster {
    /// The template as text.
    pub fn template(&self) -> String {
        self.tokens.join(" ")
    }
}

/// The streaming Drain miner: feed it messages one by one with [`TemplateMiner::add`].
pub struct TemplateMiner {
    cfg: MinerConfig,
    root: Node,
    clusters: Vec<Cluster>,
}

impl TemplateMiner {
    /// An empty miner.
    pub fn new(cfg: MinerConfig) -> Self {
        Self {
            cfg: MinerConfig {
                depth: cfg.depth.max(3),
                ..cfg
            },
            root: Node::default(),
            clusters: Vec::new(),
        }
    }

    /// The templates so far, by id (the id [`TemplateMiner::add`] returned).
    pub fn clusters(&self) -> &[Cluster] {
        &self.clusters
    }

    /// Adds one message; returns the id of the template it joined or started.
    pub fn add(&mut self, message: &str) -> usize {
        let tokens = tokenize(message);
        let leaf = leaf(&mut self.root, &self.cfg, &tokens);
        let best = best_match(&self.clusters, &leaf.clusters, &tokens, self.cfg.similarity);
        let full = self.clusters.len() >= self.cfg.max_templates;
        let id = match best {
            Some(id) => id,
            // Full: join the closest template of the same length anywhere in the tree.
            None if full && self.clusters.iter().any(|c| c.tokens.len() == tokens.len()) => {
                let all: Vec<usize> = (0..self.clusters.len()).collect();
                best_match(&self.clusters, &all, &tokens, 0.0).unwrap_or(0)
            }
            None => {
                let id = self.clusters.len();
                leaf.clusters.push(id);
                self.clusters.push(Cluster {
                    tokens: tokens.clone(),
                    size: 0,
                });
                id
            }
        };
        let cluster = &mut self.clusters[id];
        cluster.size += 1;
        if cluster.tokens.len() == tokens.len() {
            for (t, new) in cluster.tokens.iter_mut().zip(&tokens) {
                if t != new && t != WILDCARD {
                    *t = WILDCARD.to_string();
                }
            }
        }
        id
    }
}

/// Walks (and grows) the tree to the leaf for `tokens`.
fn leaf<'a>(root: &'a mut Node, cfg: &MinerConfig, tokens: &[String]) -> &'a mut Node {
    let max_children = cfg.max_children.max(2);
    let prefix_len = (cfg.depth - 3).min(tokens.len().saturating_sub(1));
    let mut node = root.children.entry(tokens.len().to_string()).or_default();
    for token in &tokens[..prefix_len] {
        let key = if node.children.contains_key(token.as_str()) {
            token.clone()
        } else if has_digit(token) || node.children.len() + 1 >= max_children {
            WILDCARD.to_string()
        } else {
            token.clone()
        };
        node = node.children.entry(key).or_default();
    }
    node
}

/// The most similar template in `candidates`, if it is at least `threshold` alike. Ties
/// go to the template with more wildcards (the more general one), as in drain3.
fn best_match(
    clusters: &[Cluster],
    candidates: &[usize],
    tokens: &[String],
    threshold: f64,
) -> Option<usize> {
    let mut best: Option<(usize, f64, usize)> = None;
    for &id in candidates {
        let t = &clusters[id].tokens;
        if t.len() != tokens.len() {
            continue;
        }
        let (mut same, mut params) = (0usize, 0usize);
        for (a, b) in t.iter().zip(tokens) {
            if a == WILDCARD {
                params += 1;
            } else if a == b {
                same += 1;
            }
        }
        let sim = if t.is_empty() {
            1.0
        } else {
            same as f64 / t.len() as f64
        };
        if best.is_none_or(|(_, s, p)| sim > s || (sim == s && params > p)) {
            best = Some((id, sim, params));
        }
    }
    best.filter(|(_, s, _)| *s >= threshold)
        .map(|(id, _, _)| id)
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
    let times: Vec<DateTime<Utc>> = messages.iter().filter_map(|(_, t)| *t).collect();
    let window = match (times.iter().min(), times.iter().max()) {
        (Some(a), Some(b)) if b > a => Some((*a, *b)),
        _ => None,
    };
    let recent_from = window.map(|(a, b)| b - (b - a) / 4);

    let mut out: Vec<Pattern> = miner
        .clusters()
        .iter()
        .map(|c| Pattern {
            template: c.template(),
            count: 0,
            first_seen: None,
            last_seen: None,
            examples: Vec::new(),
            new: false,
            spike: None,
        })
        .collect();
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
    fn masks_variables() {
        assert_eq!(
            tokenize("Served block blk_-6952295868487656571 to /10.250.19.102:50010"),
            vec!["Served", "block", "<*>", "to", "/<*>:<*>"]
        );
        assert_eq!(
            tokenize("request 3f2b1c9e-0000-4000-8000-0123456789ab took 250ms"),
            vec!["request", "<*>", "took", "<*>"]
        );
        assert_eq!(
            tokenize("from 10.0.0.1,10.0.0.2 ok"),
            vec!["from", "<*>", "ok"]
        );
        assert_eq!(
            tokenize("image sha256 deadbeefcafe1234 pulled; v2 ready"),
            vec!["image", "sha256", "<*>", "pulled;", "v2", "ready"]
        );
    }

    #[test]
    fn groups_messages_that_differ_in_variables() {
        let mut m = TemplateMiner::new(MinerConfig::default());
        let a = m.add("connection to redis-cart:6379 refused (attempt 3)");
        let b = m.add("connection to redis-cart:6379 refused (attempt 4)");
        let c = m.add("user alice logged in");
        let d = m.add("user bob logged in");
        let e = m.add("GET /healthz 200");
        assert_eq!(a, b);
        assert_eq!(c, d);
        assert_ne!(a, c);
        assert_ne!(e, a);
        assert_eq!(m.clusters()[c].template(), "user <*> logged in");
        assert_eq!(
            m.clusters()[a].template(),
            "connection to redis-cart:<*> refused (attempt <*>)"
        );
    }

    #[test]
    fn template_cap_holds() {
        let mut m = TemplateMiner::new(MinerConfig {
            max_templates: 3,
            ..MinerConfig::default()
        });
        for w in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"] {
            m.add(&format!("{w} one two three four five"));
        }
        assert_eq!(m.clusters().len(), 3);
        assert_eq!(
            m.clusters()[0].size + m.clusters()[1].size + m.clusters()[2].size,
            6
        );
    }

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
        assert_eq!(p[0].template, "GET /api/items/<*> <*> <*>");
        assert_eq!(p[0].count, 40);
        assert!(!p[0].new);
        assert_eq!(p[1].template, "dial tcp <*>:<*>: connection refused");
        assert!(p[1].new, "{:?}", p[1]);
        assert!(p[1].spike.unwrap_or(0.0) > 1.0);
        assert_eq!(p[1].examples, vec![40, 41, 42]);
    }
}
