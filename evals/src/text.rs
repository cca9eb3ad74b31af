//! Comparing free text: ROUGE-L for summaries, and a root-cause text match.
//!
//! - **ROUGE-L** (Lin, 2004): the longest common subsequence of the two token sequences,
//!   as an F1 of its precision (LCS / answer length) and recall (LCS / reference length).
//!   It rewards the same words in the same order, without requiring them to be adjacent.
//! - **Root-cause match**: the F1 of the two texts' content-word sets (stop words dropped,
//!   plurals and -ed/-ing endings folded), a match at [`MATCH_THRESHOLD`] or above. This is
//!   a lexical stand-in for a semantic match: "the pod ran out of memory" and "OOMKilled:
//!   memory limit exceeded" share only "memory". A match by embeddings needs an embedding
//!   server, which hybrid retrieval (issue 4) brings.
use std::collections::HashSet;

/// Content-word F1 at or above this is a root-cause match.
pub const MATCH_THRESHOLD: f64 = 0.5;

const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "by", "with", "is", "are",
    "was", "were", "be", "been", "it", "its", "this", "that", "so", "as", "from", "into", "not",
    "no", "but", "then", "than", "has", "have", "had", "which", "their", "there", "they", "can",
    "cannot", "does", "do", "if", "when", "out", "up", "after", "before", "because", "due",
];

/// Lower-cased words (letters, digits, `_`, `-` inside a word).
pub fn tokens(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .map(|w| w.trim_matches('-'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn fold(w: &str) -> String {
    for suffix in ["ing", "ed", "es", "s"] {
        if w.len() > suffix.len() + 3
            && let Some(stem) = w.strip_suffix(suffix)
        {
            return stem.to_string();
        }
    }
    w.to_string()
}

/// ROUGE-L F1 of `candidate` against `reference`, in [0, 1].
pub fn rouge_l(candidate: &str, reference: &str) -> f64 {
    let c = tokens(candidate);
    let r = tokens(reference);
    if c.is_empty() || r.is_empty() {
        return 0.0;
    }
    // LCS by dynamic programming, one row at a time.
    let mut prev = vec![0usize; r.len() + 1];
    for ct in &c {
        let mut cur = vec![0usize; r.len() + 1];
        for (j, rt) in r.iter().enumerate() {
            cur[j + 1] = if ct == rt {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        prev = cur;
    }
    let lcs = prev[r.len()] as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let p = lcs / c.len() as f64;
    let rec = lcs / r.len() as f64;
    2.0 * p * rec / (p + rec)
}

/// The F1 of the two texts' content-word sets, in [0, 1].
pub fn content_overlap(a: &str, b: &str) -> f64 {
    let set = |s: &str| -> HashSet<String> {
        tokens(s)
            .into_iter()
            .filter(|w| !STOP.contains(&w.as_str()))
            .map(|w| fold(&w))
            .collect()
    };
    let (x, y) = (set(a), set(b));
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let common = x.intersection(&y).count() as f64;
    if common == 0.0 {
        return 0.0;
    }
    let p = common / x.len() as f64;
    let r = common / y.len() as f64;
    2.0 * p * r / (p + r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rouge_l_rewards_order_and_overlap() {
        assert!((rouge_l("the cat sat", "the cat sat") - 1.0).abs() < 1e-9);
        assert_eq!(rouge_l("", "x"), 0.0);
        assert_eq!(rouge_l("dog", "cat"), 0.0);
        // LCS "police killed gunman" = 3 of 4 tokens each way.
        let s = rouge_l("police killed the gunman", "police kill the gunman");
        assert!((s - 0.75).abs() < 1e-9, "{s}");
        let ordered = rouge_l("a b c d", "a b c d e f");
        let shuffled = rouge_l("d c b a", "a b c d e f");
        assert!(ordered > shuffled);
    }

    #[test]
    fn content_overlap_ignores_stop_words_and_endings() {
        let a = "The container exceeds its memory limit and is killed";
        let b = "container killed for exceeding the memory limits";
        assert!(
            content_overlap(a, b) >= MATCH_THRESHOLD,
            "{}",
            content_overlap(a, b)
        );
        let c = "The database password is wrong";
        assert!(content_overlap(a, c) < 0.2);
        assert_eq!(content_overlap("the of and", "x"), 0.0);
    }
}
