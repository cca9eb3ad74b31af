//! What every line a query can match holds in its raw bytes, for the scan to search
//! before it reads a line: the longest `|= "..."` literal, or else the literals one of
//! which starts every match of a `|~` regex (`|~ "error|timeout"`, `|~ "(?i)warn"`),
//! searched for all at once (by the `regex` crate, which picks SIMD searchers for a set of
//! literals: Teddy, or `memchr` for one).
//!
//! A literal is used only if it has characters no JSON encoder escapes (ASCII letters,
//! digits, space and `_.:=-+,;@#%!?()[]{}*'`): a JSON line's text is its fields decoded,
//! and text that holds such a literal holds it in the line's raw bytes too.
use memchr::memmem;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

use crate::logs::LogFilter;
use crate::logs::filter::MAX_REGEX_NESTING;
use crate::logs::logql::{LineOp, Stage};

/// Most literals a regex may give (a `(?i)` word of n letters is 2^n spellings): past
/// this the scan reads every line.
const MAX_LITERALS: usize = 64;

/// What a matching line must hold.
pub(crate) enum Needle {
    /// A `|=` literal.
    One(String),
    /// One of several literals: those that start every match of a `|~` regex (in any
    /// ASCII case where they were a `(?i)` word's spellings), as an alternation of
    /// them. (Aho-Corasick's automaton ran 2-3x slower on two literals; for them the
    /// `regex` crate picks a SIMD searcher.)
    Any(regex::bytes::Regex),
}

impl Needle {
    /// What every line `filter`'s LogQL can match holds, if it can be told (the stages
    /// before any `line_format`, which rewrites the text). A `|=` literal is preferred
    /// (the longest), then the first `|~` whose literals can be known.
    pub(crate) fn of(filter: &LogFilter) -> Option<Self> {
        let q = filter.logql.as_ref()?;
        let mut best: Option<&str> = None;
        let mut any: Option<Literals> = None;
        for stage in &q.pipeline {
            match stage {
                Stage::LineFormat(_) => break,
                Stage::Line {
                    op: LineOp::Contains,
                    value,
                    ..
                } if safe(value.as_bytes()) && best.is_none_or(|b| value.len() > b.len()) => {
                    best = Some(value);
                }
                Stage::Line {
                    op: LineOp::Matches,
                    value,
                    ..
                } if any.is_none() => any = regex_literals(value),
                _ => {}
            }
        }
        if let Some(literal) = best {
            return Some(Needle::One(literal.to_string()));
        }
        // Which literal of a line is found does not matter: the line is read and its
        // regex decides. Bytes, ASCII case only (`-u`): the literals are ASCII.
        let any = any?;
        let alternation: Vec<String> = any
            .literals
            .iter()
            .map(|l| regex_syntax::escape(l))
            .collect();
        let flags = if any.ascii_case_insensitive {
            "(?i-u)"
        } else {
            "(?-u)"
        };
        regex::bytes::Regex::new(&format!("{flags}(?:{})", alternation.join("|")))
            .ok()
            .map(Needle::Any)
    }

    /// The `|=` literal: a line's view that holds it where it was found passes that
    /// filter without a second search.
    pub(super) fn literal(&self) -> Option<&str> {
        match self {
            Needle::One(s) => Some(s),
            Needle::Any(_) => None,
        }
    }

    /// A searcher for it (one per scan range).
    pub(super) fn searcher(&self) -> Searcher<'_> {
        match self {
            Needle::One(s) => Searcher::One(memmem::Finder::new(s.as_bytes())),
            Needle::Any(re) => Searcher::Any(re),
        }
    }
}

/// Finds a [`Needle`] in a block.
// One per scan range, on its stack: a box would add a pointer to follow on every search.
#[allow(clippy::large_enum_variant)]
pub(super) enum Searcher<'a> {
    One(memmem::Finder<'a>),
    Any(&'a regex::bytes::Regex),
}

impl Searcher<'_> {
    /// The first occurrence in `hay` (of several literals, one that starts first): its
    /// start and length.
    #[inline]
    pub(super) fn find(&self, hay: &[u8]) -> Option<(usize, usize)> {
        match self {
            Searcher::One(f) => f.find(hay).map(|i| (i, f.needle().len())),
            Searcher::Any(re) => re.find(hay).map(|m| (m.start(), m.len())),
        }
    }
}

/// Whether a literal can be searched for in a line's raw bytes (see the module's notes).
fn safe(literal: &[u8]) -> bool {
    !literal.is_empty()
        && literal
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b" _.:=-+,;@#%!?()[]{}*'".contains(b))
}

/// What a line must hold one of, to match a regex.
struct Literals {
    /// ASCII ([`safe`]).
    literals: Vec<String>,
    /// Found in any ASCII case: the regex's literals were spellings of these (`(?i)`).
    ascii_case_insensitive: bool,
}

/// Literals one of which starts every match of `pattern` (parsed as the query's regex
/// is: [`crate::logs::untrusted_regex`]), if they are few and all [`safe`]. `None` for a
/// regex that can match the empty string, or starts with a class too wide to spell out.
/// Spellings of one word in several cases (`(?i)error`: 32) become the word, found in
/// any ASCII case: a line that holds one spelling holds the word so found.
fn regex_literals(pattern: &str) -> Option<Literals> {
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(MAX_REGEX_NESTING)
        .build()
        .parse(pattern)
        .ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    // A safe literal is ASCII, so it is a string as it is.
    let literals: Vec<String> = seq
        .literals()?
        .iter()
        .map(|l| safe(l.as_bytes()).then(|| String::from_utf8(l.as_bytes().to_vec()).ok())?)
        .collect::<Option<_>>()?;
    if literals.is_empty() {
        return None;
    }
    let folded: std::collections::BTreeSet<String> =
        literals.iter().map(|l| l.to_ascii_lowercase()).collect();
    let out = if folded.len() < literals.len() {
        Literals {
            literals: folded.into_iter().collect(),
            ascii_case_insensitive: true,
        }
    } else {
        Literals {
            literals,
            ascii_case_insensitive: false,
        }
    };
    (out.literals.len() <= MAX_LITERALS).then_some(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::logs::logql;

    fn needle(q: &str) -> Option<Needle> {
        Needle::of(&LogFilter {
            logql: Some(Arc::new(logql::parse(q).unwrap())),
            ..LogFilter::default()
        })
    }

    /// The literals of a regex, sorted, and whether they are found in any case.
    fn literals(pattern: &str) -> Option<(Vec<String>, bool)> {
        let found = regex_literals(pattern)?;
        let mut v = found.literals;
        v.sort();
        Some((v, found.ascii_case_insensitive))
    }

    #[test]
    fn a_contains_literal_is_preferred_and_the_longest_wins() {
        let n = needle(r#"{app="a"} |~ "x|y" |= "ERROR" |= "timeout""#).unwrap();
        assert_eq!(n.literal(), Some("timeout"));
        // Escaped by JSON encoders (a quote, a slash): not searched for in raw bytes.
        let n = needle(r#"{app="a"} |= "say \"hi\"" |= "a/b" |~ "warn""#).unwrap();
        assert_eq!(n.literal(), None, "the regex's literal instead");
        assert!(needle(r#"{app="a"} |= "a/b""#).is_none());
        // After line_format the text is not the line's.
        assert!(needle(r#"{app="a"} | line_format "{{.x}}" |= "ERROR""#).is_none());
    }

    #[test]
    fn a_regex_gives_the_literals_one_of_which_starts_every_match() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            literals("error|timeout"),
            Some((words(&["error", "timeout"]), false))
        );
        // 16 and 160 spellings: the words, in any case.
        assert_eq!(literals("(?i)warn"), Some((words(&["warn"]), true)));
        assert_eq!(
            literals("(?i)error|timeout"),
            Some((words(&["error", "timeout"]), true))
        );
        assert_eq!(
            literals("ERR(OR|ORS)"),
            Some((words(&["ERROR", "ERRORS"]), false))
        );
        // A match can be empty, start anywhere, or start with a character JSON escapes.
        assert_eq!(literals("x*"), None);
        assert_eq!(literals(r"\d+ms"), None);
        assert_eq!(literals("\"quoted\""), None);
        assert_eq!(literals(".*error"), None);
        // (?i)k folds to the Kelvin sign, which is not ASCII.
        assert_eq!(literals("(?i)kill"), None);
    }

    #[test]
    fn several_literals_are_found_where_the_first_one_starts() {
        let n = needle(r#"{app="a"} |~ "(?i)error|timeout""#).unwrap();
        let s = n.searcher();
        // (?i) covers both words: "TIMEOUT" is one of the spellings.
        assert_eq!(s.find(b"ok\nread TIMEOUT after Error"), Some((8, 7)));
        assert_eq!(s.find(b"ok\nread TIME OUT after Error"), Some((23, 5)));
        assert_eq!(s.find(b"nothing here"), None);
    }
}
