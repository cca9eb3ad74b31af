//! Steps 2 and 3 of mining: the Drain prefix tree (He et al., ICWS 2017, as the `drain3`
//! Python package implements it). Lines of the same length that share their first tokens
//! reach the same leaf; there a line joins the most similar template, and the tokens that
//! differ become `<*>`.
use std::collections::HashMap;

use super::{MinerConfig, WILDCARD};

#[derive(Default)]
struct Node {
    children: HashMap<String, Node>,
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
    root: Node,
    pub(super) clusters: Vec<DrainCluster>,
}

impl Drain {
    pub(super) fn new(cfg: MinerConfig) -> Self {
        Self {
            cfg: MinerConfig {
                depth: cfg.depth.max(3),
                ..cfg
            },
            root: Node::default(),
            clusters: Vec::new(),
        }
    }

    /// Adds one tokenized line; returns the id of the template it joined or started.
    pub(super) fn add(&mut self, tokens: &[String]) -> usize {
        let leaf = leaf(&mut self.root, &self.cfg, tokens);
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
                    tokens: tokens.to_vec(),
                });
                id
            }
        };
        let cluster = &mut self.clusters[id];
        if cluster.tokens.len() == tokens.len() {
            for (t, new) in cluster.tokens.iter_mut().zip(tokens) {
                if t != new && t != WILDCARD {
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
    clusters: &[DrainCluster],
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
        // A masked token (`<*>` in the line too) is alike, as drain3's `<NUM>` is; a
        // wildcard Drain made is a parameter.
        for (a, b) in t.iter().zip(tokens) {
            if a == b {
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
