//! Steps 2 and 3 of mining: the Drain prefix tree (He et al., ICWS 2017, as the `drain3`
//! Python package implements it). Lines of the same length that share their first tokens
//! reach the same leaf; there a line joins the most similar template, and the tokens that
//! differ become `<*>`.
use rustc_hash::FxHashMap;

use super::{MinerConfig, WILDCARD};

/// A tree node. Its maps hash with Fx (fast on short strings; not flood-proof, and need
/// not be: a node has at most `max_children` children, whatever the input).
#[derive(Default)]
struct Node {
    children: FxHashMap<String, Node>,
    clusters: Vec<usize>,
}

/// One Drain template: its tokens, `<*>` where its lines differ.
#[derive(Debug, Clone)]
pub(super) struct DrainCluster {
    pub(super) tokens: Vec<String>,
}

/// The tree and its templates.
pub(super) struct Drain {
    cfg: MinerConfig,
    /// The first level: lines by their number of tokens.
    by_length: FxHashMap<usize, Node>,
    pub(super) clusters: Vec<DrainCluster>,
}

impl Drain {
    pub(super) fn new(cfg: MinerConfig) -> Self {
        Self {
            cfg: MinerConfig {
                depth: cfg.depth.max(3),
                ..cfg
            },
            by_length: FxHashMap::default(),
            clusters: Vec::new(),
        }
    }

    /// Adds one tokenized line; returns the id of the template it joined or started.
    pub(super) fn add<T: AsRef<str>>(&mut self, tokens: &[T]) -> usize {
        let leaf = leaf(&mut self.by_length, &self.cfg, tokens);
        let best = best_match(&self.clusters, &leaf.clusters, tokens, self.cfg.similarity);
        let full = self.clusters.len() >= self.cfg.max_templates;
        let id = match best {
            Some(id) => id,
            // Full: join the closest template of the same length anywhere in the tree.
            None if full && self.clusters.iter().any(|c| c.tokens.len() == tokens.len()) => {
                let all: Vec<usize> = (0..self.clusters.len()).collect();
                best_match(&self.clusters, &all, tokens, 0.0).unwrap_or(0)
            }
            None => {
                let id = self.clusters.len();
                leaf.clusters.push(id);
                self.clusters.push(DrainCluster {
                    tokens: tokens.iter().map(|t| t.as_ref().to_owned()).collect(),
                });
                id
            }
        };
        let cluster = &mut self.clusters[id];
        if cluster.tokens.len() == tokens.len() {
            for (t, new) in cluster.tokens.iter_mut().zip(tokens) {
                if t != new.as_ref() && t != WILDCARD {
                    *t = WILDCARD.to_string();
                }
            }
        }
        id
    }
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// Walks (and grows) the tree to the leaf for `tokens`.
fn leaf<'a, T: AsRef<str>>(
    by_length: &'a mut FxHashMap<usize, Node>,
    cfg: &MinerConfig,
    tokens: &[T],
) -> &'a mut Node {
    let max_children = cfg.max_children.max(2);
    let prefix_len = (cfg.depth - 3).min(tokens.len().saturating_sub(1));
    let mut node = by_length.entry(tokens.len()).or_default();
    for token in &tokens[..prefix_len] {
        let token = token.as_ref();
        let key = if node.children.contains_key(token) {
            token
        } else if has_digit(token) || node.children.len() + 1 >= max_children {
            WILDCARD
        } else {
            token
        };
        // Looked up by reference: a key is allocated only when the tree grows.
        node = if node.children.contains_key(key) {
            #[allow(clippy::expect_used)] // just checked
            node.children.get_mut(key).expect("child exists")
        } else {
            node.children.entry(key.to_owned()).or_default()
        };
    }
    node
}

/// The most similar template in `candidates`, if it is at least `threshold` alike. Ties
/// go to the template with more wildcards (the more general one), as in drain3.
fn best_match<T: AsRef<str>>(
    clusters: &[DrainCluster],
    candidates: &[usize],
    tokens: &[T],
    threshold: f64,
) -> Option<usize> {
    let mut best: Option<(usize, f64, usize)> = None;
    for &id in candidates {
        let t = &clusters[id].tokens;
        if t.len() != tokens.len() {
            continue;
        }
        let (mut same, mut params) = (0usize, 0usize);
        // A masked token (`<*>` in the line too) is alike, as drain3's `<NUM>` is; a
        // wildcard Drain made is a parameter.
        for (a, b) in t.iter().zip(tokens) {
            if a == b.as_ref() {
                same += 1;
            } else if a == WILDCARD {
                params += 1;
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
