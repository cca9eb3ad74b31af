//! Step 4 of mining: the templates a person would call different messages.
//!
//! Drain joins lines of the same length that are alike enough, so `VM Started` and
//! `VM Stopped`, or `"GET …"` and `"POST …"`, end up as one template `VM <*>`. The word
//! that differs there is not a variable: it names *what happened*. What tells the two
//! apart is how the values at a position are spread:
//! - a **variable** (an id, a number, a name) takes many values, most with digits or
//!   punctuation inside, each seen a few times;
//! - an **enumeration** (a state, a verb, an HTTP method) takes a few plain words, each
//!   seen again and again.
//!
//! So every position of a Drain template keeps the plain words seen there (a *word
//! slot*), up to [`MAX_WORDS`]. A line's **group** is its Drain template plus its words at
//! the word slots. A slot stops splitting (becomes a variable, and the groups that differ
//! only there merge) when a value that is not a plain word shows up, when it has seen more
//! than [`MAX_WORDS`] words, or, when the miner settles, when one of its words was seen
//! fewer than [`MIN_WORD_COUNT`] times (a one-off word is a name, not a state).
//!
//! Groups only ever merge, never split, so the miner stays streaming: [`TemplateMiner::add`]
//! returns a group id at once, and [`TemplateMiner::group`] says which group it ended in
//! (a union-find over group ids).
use rustc_hash::FxHashMap;

use super::drain::Drain;
use super::tokenize::tokenize;
use super::{MinerConfig, WILDCARD};

/// Most distinct words a position may take and still split groups: HTTP has nine methods,
/// a state machine a handful of states.
pub const MAX_WORDS: usize = 8;

/// Fewest lines each word of a splitting position needs by the time the miner settles.
pub const MIN_WORD_COUNT: u64 = 2;

/// Most groups one Drain template splits into; past that, its position with the most
/// words becomes a variable.
const MAX_GROUPS_PER_TEMPLATE: usize = 32;

/// What is known about one position of a Drain template.
#[derive(Debug, Clone)]
enum Slot {
    /// The values differ in ways that make it a variable.
    Variable,
    /// Only plain words so far, with how often each was seen.
    Words(Vec<(String, u64)>),
}

/// The word slots of one Drain template and its groups by their words.
#[derive(Debug, Default)]
struct Slots {
    slots: Vec<Slot>,
    /// Hash of a group key (the line's tokens, `<*>` at variable slots) → the standing
    /// groups with that hash (one, unless two keys collide).
    index: FxHashMap<u64, Vec<usize>>,
}

/// The key of a line: its tokens at word slots, `<*>` at variable ones.
fn key_of<'a, T: AsRef<str>>(tokens: &'a [T], slots: &'a [Slot]) -> impl Iterator<Item = &'a str> {
    tokens.iter().zip(slots).map(|(t, s)| match s {
        Slot::Variable => WILDCARD,
        Slot::Words(_) => t.as_ref(),
    })
}

/// FNV-1a over a key's tokens (a separator after each), so a line finds its group
/// without building its key.
fn hash_key<'a>(key: impl Iterator<Item = &'a str>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for token in key {
        for b in token.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// One template the miner reports: a Drain template with its word slots filled in.
#[derive(Debug, Clone)]
struct Group {
    cluster: usize,
    key: Vec<String>,
    size: u64,
    /// The group it merged into (itself while it stands).
    parent: usize,
}

/// A template and the lines that fit it, as [`TemplateMiner::templates`] lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Its id (what [`TemplateMiner::group`] returns for its lines).
    pub id: usize,
    /// Template tokens, `<*>` for the variable parts.
    pub tokens: Vec<String>,
    /// Lines that joined it.
    pub size: u64,
}

impl Template {
    /// The template as text.
    pub fn text(&self) -> String {
        self.tokens.join(" ")
    }
}

/// A plain word: letters, with punctuation around them at most (`"GET`, `disk:`,
/// `(Lifecycle`), no digits, no inner punctuation (`redis-cart`, `a.b` are names).
pub(super) fn is_word(token: &str) -> bool {
    let core = token.trim_matches(|c: char| c.is_ascii_punctuation());
    !core.is_empty() && core.chars().all(char::is_alphabetic)
}

/// The streaming template miner: feed it messages one by one with [`TemplateMiner::add`].
pub struct TemplateMiner {
    drain: Drain,
    slots: Vec<Slots>,
    groups: Vec<Group>,
}

impl TemplateMiner {
    /// An empty miner.
    pub fn new(cfg: MinerConfig) -> Self {
        Self {
            drain: Drain::new(cfg),
            slots: Vec::new(),
            groups: Vec::new(),
        }
    }

    /// Adds one message; returns the id of the group it joined or started. Groups can
    /// merge later: [`TemplateMiner::group`] gives the one it is in now.
    pub fn add(&mut self, message: &str) -> usize {
        let tokens = tokenize(message);
        let cluster = self.drain.add(&tokens);
        if cluster == self.slots.len() {
            self.slots.push(Slots {
                slots: tokens
                    .iter()
                    .map(|t| {
                        if is_word(t) {
                            Slot::Words(Vec::new())
                        } else {
                            Slot::Variable
                        }
                    })
                    .collect(),
                index: FxHashMap::default(),
            });
        }
        // A line joins a template of its own length; the only exception (a full miner
        // with no template of that length) keys on the template itself.
        if self.slots[cluster].slots.len() != tokens.len() {
            let all = vec![WILDCARD; self.slots[cluster].slots.len()];
            return self.join(cluster, &all);
        }
        let mut turned = Vec::new();
        for (j, (slot, token)) in self.slots[cluster]
            .slots
            .iter_mut()
            .zip(&tokens)
            .enumerate()
        {
            let Slot::Words(words) = slot else { continue };
            let token: &str = token;
            if let Some((_, n)) = words.iter_mut().find(|(w, _)| w == token) {
                *n += 1;
                continue;
            }
            if !is_word(token) || words.len() == MAX_WORDS {
                turned.push(j);
                continue;
            }
            words.push((token.to_owned(), 1));
        }
        for j in turned {
            self.make_variable(cluster, j);
        }
        self.join(cluster, &tokens)
    }

    /// The line with `tokens` joins its group in `cluster` (started when there is none).
    fn join<T: AsRef<str>>(&mut self, cluster: usize, tokens: &[T]) -> usize {
        let slots = &self.slots[cluster];
        let hash = hash_key(key_of(tokens, &slots.slots));
        let found = slots.index.get(&hash).and_then(|ids| {
            ids.iter().copied().find(|&id| {
                self.groups[id]
                    .key
                    .iter()
                    .map(String::as_str)
                    .eq(key_of(tokens, &slots.slots))
            })
        });
        let id = match found {
            Some(id) => id,
            None => {
                let id = self.groups.len();
                let key = key_of(tokens, &slots.slots).map(str::to_owned).collect();
                self.groups.push(Group {
                    cluster,
                    key,
                    size: 0,
                    parent: id,
                });
                self.slots[cluster].index.entry(hash).or_default().push(id);
                if self.standing(cluster) > MAX_GROUPS_PER_TEMPLATE {
                    self.loosen(cluster);
                }
                self.group(id)
            }
        };
        self.groups[id].size += 1;
        id
    }

    /// How many groups of `cluster` stand.
    fn standing(&self, cluster: usize) -> usize {
        self.slots[cluster].index.values().map(Vec::len).sum()
    }

    /// Applies what can only be judged on all the lines: a position where some word was
    /// seen fewer than [`MIN_WORD_COUNT`] times is a variable. Call it before reading
    /// groups; adding more lines afterwards is fine.
    pub fn settle(&mut self) {
        for cluster in 0..self.slots.len() {
            let rare: Vec<usize> = self.slots[cluster]
                .slots
                .iter()
                .enumerate()
                .filter_map(|(j, s)| match s {
                    Slot::Words(w) if w.len() > 1 && w.iter().any(|(_, n)| *n < MIN_WORD_COUNT) => {
                        Some(j)
                    }
                    _ => None,
                })
                .collect();
            for j in rare {
                self.make_variable(cluster, j);
            }
        }
    }

    /// The group a line whose [`TemplateMiner::add`] returned `id` is in now.
    pub fn group(&self, mut id: usize) -> usize {
        while self.groups[id].parent != id {
            id = self.groups[id].parent;
        }
        id
    }

    /// The template of the group `id` is in.
    pub fn template(&self, id: usize) -> String {
        self.tokens(self.group(id)).join(" ")
    }

    /// The templates that stand (merged groups are in the one they merged into), in the
    /// order they were first seen.
    pub fn templates(&self) -> Vec<Template> {
        (0..self.groups.len())
            .filter(|&id| self.groups[id].parent == id)
            .map(|id| Template {
                id,
                tokens: self.tokens(id),
                size: self.groups[id].size,
            })
            .collect()
    }

    /// A standing group's tokens: the Drain template, with the group's words at the word
    /// slots.
    fn tokens(&self, id: usize) -> Vec<String> {
        let g = &self.groups[id];
        let template = &self.drain.clusters[g.cluster].tokens;
        let slots = &self.slots[g.cluster].slots;
        if template.len() != g.key.len() {
            return template.clone();
        }
        template
            .iter()
            .zip(&g.key)
            .zip(slots)
            .map(|((t, k), s)| match s {
                Slot::Words(_) => k.clone(),
                Slot::Variable => t.clone(),
            })
            .collect()
    }

    /// Position `j` of `cluster` is a variable from now on: its groups that differ only
    /// there merge.
    fn make_variable(&mut self, cluster: usize, j: usize) {
        let slots = &mut self.slots[cluster];
        if matches!(slots.slots.get(j), None | Some(Slot::Variable)) {
            return;
        }
        slots.slots[j] = Slot::Variable;
        let standing: Vec<usize> = std::mem::take(&mut slots.index)
            .into_values()
            .flatten()
            .collect();
        for id in standing {
            if let Some(k) = self.groups[id].key.get_mut(j) {
                *k = WILDCARD.to_string();
            }
            let key = &self.groups[id].key;
            let hash = hash_key(key.iter().map(String::as_str));
            let same = self.slots[cluster]
                .index
                .get(&hash)
                .and_then(|ids| ids.iter().copied().find(|&o| self.groups[o].key == *key));
            match same {
                Some(into) => {
                    self.groups[id].parent = into;
                    self.groups[into].size += self.groups[id].size;
                    self.groups[id].size = 0;
                }
                None => self.slots[cluster].index.entry(hash).or_default().push(id),
            }
        }
    }

    /// Too many groups for one template: its position with the most words becomes a
    /// variable.
    fn loosen(&mut self, cluster: usize) {
        let widest = self.slots[cluster]
            .slots
            .iter()
            .enumerate()
            .filter_map(|(j, s)| match s {
                Slot::Words(w) if w.len() > 1 => Some((w.len(), j)),
                _ => None,
            })
            .max();
        if let Some((_, j)) = widest {
            self.make_variable(cluster, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner() -> TemplateMiner {
        TemplateMiner::new(MinerConfig::default())
    }

    #[test]
    fn plain_words_are_words() {
        for w in ["GET", "\"GET", "disk:", "(Lifecycle", "Resumed", "état"] {
            assert!(is_word(w), "{w}");
        }
        for w in ["<*>", "redis-cart", "a.b", "v2", "10ms", "/a/b", "\"\""] {
            assert!(!is_word(w), "{w}");
        }
    }

    #[test]
    fn groups_messages_that_differ_in_variables() {
        let mut m = miner();
        let a = m.add("connection to redis-cart:6379 refused (attempt 3)");
        let b = m.add("connection to redis-cart:6379 refused (attempt 4)");
        let c = m.add("user alice logged in");
        let d = m.add("user bob logged in");
        let e = m.add("GET /healthz 200");
        m.settle();
        let g = |id| m.group(id);
        assert_eq!(g(a), g(b));
        assert_eq!(g(c), g(d), "a name seen once is a variable");
        assert_ne!(g(a), g(c));
        assert_ne!(g(e), g(a));
        assert_eq!(m.template(c), "user <*> logged in");
        assert_eq!(
            m.template(a),
            "connection to redis-cart:<*> refused (attempt <*>)"
        );
    }

    #[test]
    fn a_recurring_word_that_differs_is_a_different_message() {
        let mut m = miner();
        let mut ids = Vec::new();
        for i in 0..6 {
            for state in ["Started", "Stopped", "Paused"] {
                let id = format!("{i:08x}-0000-4000-8000-{i:012x}");
                ids.push((
                    state,
                    m.add(&format!("[instance: {id}] VM {state} (Lifecycle Event)")),
                ));
            }
        }
        m.settle();
        let templates: Vec<String> = m.templates().iter().map(Template::text).collect();
        assert_eq!(
            templates,
            [
                "[instance: <*>] VM Started (Lifecycle Event)",
                "[instance: <*>] VM Stopped (Lifecycle Event)",
                "[instance: <*>] VM Paused (Lifecycle Event)",
            ]
        );
        for (state, id) in ids {
            assert!(m.template(id).contains(state));
        }
        assert!(m.templates().iter().all(|t| t.size == 6));
    }

    #[test]
    fn a_position_with_many_words_is_a_variable_and_its_groups_merge() {
        let mut m = miner();
        let names = [
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        ];
        let ids: Vec<usize> = names
            .iter()
            .chain(&names)
            .map(|n| m.add(&format!("session opened for user {n}")))
            .collect();
        m.settle();
        let first = m.group(ids[0]);
        assert!(ids.iter().all(|&id| m.group(id) == first));
        assert_eq!(m.templates().len(), 1);
        assert_eq!(m.templates()[0].size, 20);
        assert_eq!(m.template(first), "session opened for user <*>");
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
        m.settle();
        let t = m.templates();
        assert_eq!(t.len(), 3, "{t:?}");
        assert_eq!(t.iter().map(|t| t.size).sum::<u64>(), 6);
    }
}
