//! Step 1 of mining: mask the obvious variables of a message and split it into tokens.
use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::WILDCARD;

/// Compiles one of the constant patterns below.
#[allow(clippy::expect_used)] // constant patterns, exercised by the tests
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant masking pattern compiles")
}

/// What a mask does with a match.
#[derive(Clone, Copy)]
enum Replace {
    /// Replace it with `<*>`.
    All,
    /// Replace it when it is at least [`MIN_HEX_ID`] long (hex ids, not `cafe`).
    LongHex,
    /// Replace it when it has a digit (`node-1.example.org`, not `org.apache.spark`).
    WithDigit,
    /// Keep the scheme: `hdfs://10.0.0.1:9000/x` becomes `hdfs://<*>`.
    UrlBody,
}

/// What a token is made of, counted in one pass: a mask can only match a token with
/// enough of its characters (a URL needs `://`, an IPv4 address three dots), so most
/// masks are skipped without running their regex. Counted again after a mask changed it.
struct Shape {
    /// Only letters, digits, `_` and `-`.
    id_chars: bool,
    /// Only digits, `.`, `:`, `/`, `+` and `-` (a number or an address).
    numeric_chars: bool,
    slashes: usize,
    dashes: usize,
    dots: usize,
    colons: usize,
    digits: usize,
}

/// Byte classes for [`Shape::of`], one table lookup per byte.
const ID: u8 = 1;
const NUMERIC: u8 = 2;
const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' {
            t[b] |= ID;
        }
        if c.is_ascii_digit() || matches!(c, b'.' | b'/' | b':' | b'+' | b'-') {
            t[b] |= NUMERIC;
        }
        b += 1;
    }
    t
};

impl Shape {
    fn of(token: &str) -> Self {
        let mut s = Self {
            id_chars: false,
            numeric_chars: false,
            slashes: 0,
            dashes: 0,
            dots: 0,
            colons: 0,
            digits: 0,
        };
        let mut all = ID | NUMERIC;
        for &b in token.as_bytes() {
            all &= CLASSES[usize::from(b)];
            match b {
                b'/' => s.slashes += 1,
                b'-' => s.dashes += 1,
                b'.' => s.dots += 1,
                b':' => s.colons += 1,
                b'0'..=b'9' => s.digits += 1,
                _ => {}
            }
        }
        s.id_chars = all & ID != 0;
        s.numeric_chars = all & NUMERIC != 0;
        s
    }
}

/// A mask: how it finds its matches and what it does with them, and whether a token of
/// this shape could hold a match at all.
type Mask = (Find, fn(&Shape, &str) -> bool);

/// How a mask finds its matches.
enum Find {
    /// By a regex, and what it does with a match.
    Regex(Regex, Replace),
    /// Paths of two or more segments, found by [`mask_paths`].
    Paths,
}

/// The masks, applied in order to each token that has a digit or a `/` (others have
/// nothing to mask). Each replaces a kind of variable with `<*>`.
static MASKS: LazyLock<Vec<Mask>> = LazyLock::new(|| {
    let rx = |pattern: &str, how| Find::Regex(re(pattern), how);
    vec![
        // URLs: the scheme stays, what follows is the variable.
        (
            rx(r#"([A-Za-z][\w.+-]*)://[^\s\])'",]+"#, Replace::UrlBody),
            |s, t| s.slashes >= 2 && s.colons >= 1 && t.contains("://"),
        ),
        // Paths of two or more segments (`/var/lib/x`, `/v2/servers/detail`); one segment
        // (`/healthz`) is a route and stays.
        (Find::Paths, |s, _| s.slashes >= 2),
        // UUIDs.
        (
            rx(
                r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
                Replace::All,
            ),
            |s, t| s.dashes >= 4 && t.len() >= 36,
        ),
        // IPv4 addresses, with the `/` Java prints before one (a port, if any, is left to
        // the number mask: `<*>:<*>`).
        (
            rx(
                r"(?:^/)?\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b",
                Replace::All,
            ),
            |s, _| s.dots >= 3 && s.digits >= 4,
        ),
        // Host names of three or more labels with a digit (`cp-1.vm1.example.org`).
        (
            rx(
                r"\b[A-Za-z][\w-]*(?:\.[A-Za-z0-9][\w-]*){2,}\b",
                Replace::WithDigit,
            ),
            |s, _| s.dots >= 2 && s.digits > 0,
        ),
        // MAC-like and long colon-separated hex.
        (
            rx(r"\b(?:[0-9a-fA-F]{2,}:){3,}[0-9a-fA-F]{2,}\b", Replace::All),
            |s, _| s.colons >= 3,
        ),
        // 0x-prefixed hex.
        (rx(r"\b0[xX][0-9a-fA-F]+\b", Replace::All), |s, t| {
            s.digits > 0 && (t.contains("0x") || t.contains("0X"))
        }),
        // Long hex ids with at least one digit and one letter (hashes, container ids).
        (
            rx(
                r"\b[0-9a-f]*(?:[0-9][a-f]|[a-f][0-9])[0-9a-f]*\b",
                Replace::LongHex,
            ),
            |s, t| s.digits > 0 && t.len() >= MIN_HEX_ID,
        ),
        // Numbers (integers, decimals, signed), also after `_` (`blk_123`, `rdd_2_0`).
        (rx(r"(?:[-+]|\b|_)\d+(?:\.\d+)?", Replace::All), |s, _| {
            s.digits > 0
        }),
    ]
});

/// A byte that can be inside a path segment.
fn in_segment(b: u8) -> bool {
    !matches!(
        b,
        b'/' | b']'
            | b')'
            | b'\''
            | b'"'
            | b','
            | b':'
            | b';'
            | b'='
            | b' '
            | b'\t'
            | b'\n'
            | b'\r'
            | b'\x0c'
    )
}

/// Replaces each path of two or more segments (`/a/b`, `/a/b/`) with `<*>`: what the
/// regex `(?:/[^\s/\])'",:;=]+){2,}/?` would, found byte by byte (paths are common, and
/// this is the miner's hot path).
fn mask_paths(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out = String::new();
    let (mut copied, mut i) = (0, 0);
    while i < b.len() {
        let (mut j, mut segments) = (i, 0);
        while j + 1 < b.len() && b[j] == b'/' && in_segment(b[j + 1]) {
            j += 1;
            while j < b.len() && in_segment(b[j]) {
                j += 1;
            }
            segments += 1;
        }
        if segments >= 2 {
            if j < b.len() && b[j] == b'/' {
                j += 1;
            }
            out.push_str(&text[copied..i]);
            out.push_str(WILDCARD);
            copied = j;
            i = j;
        } else {
            i += 1;
        }
    }
    if copied == 0 && out.is_empty() {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// An id of letters, digits, `_` and `-` with a run of digits at its start or after a
/// `_` or `-` (`blk_-123`, `rdd_2_0`, `10ms`, `pod-7`): the number mask finds that run
/// and the token collapses to `<*>`, so it is `<*>` without running the masks. `v2`,
/// `sha256` and `k8s` are not ids by this rule (nor by the masks).
fn is_id(token: &str) -> bool {
    let b = token.as_bytes();
    b.iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
        && b.iter()
            .enumerate()
            .any(|(i, c)| c.is_ascii_digit() && (i == 0 || matches!(b[i - 1], b'_' | b'-')))
}

/// An IPv4 address, with the `/` Java prints before one and a port after it: what the
/// masks make of it (`<*>` or `<*>:<*>`), without running them.
fn ipv4(token: &str) -> Option<&'static str> {
    let t = token.strip_prefix('/').unwrap_or(token);
    let (addr, port) = match t.split_once(':') {
        Some((a, p)) => (a, Some(p)),
        None => (t, None),
    };
    let mut octets = 0;
    for part in addr.split('.') {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        octets += 1;
    }
    match (octets, port) {
        (4, None) => Some(WILDCARD),
        (4, Some(p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some("<*>:<*>"),
        _ => None,
    }
}

/// A plain number (`200`, `-3`, `0.25`): all the masks together make it `<*>`.
fn is_number(token: &str) -> bool {
    let t = token.strip_prefix(['-', '+']).unwrap_or(token);
    let (int, frac) = t.split_once('.').unwrap_or((t, "1"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Hex ids shorter than this are left alone (`deadbeef` is 8).
const MIN_HEX_ID: usize = 8;

/// Masks the variable parts of a message and splits it into tokens at ASCII whitespace
/// (borrowed from the message where nothing was masked).
pub fn tokenize(message: &str) -> Vec<Cow<'_, str>> {
    message.split_ascii_whitespace().map(mask_token).collect()
}

/// One token with its variable parts masked.
fn mask_token(token: &str) -> Cow<'_, str> {
    // Most tokens are words: nothing to mask.
    if !token.bytes().any(|b| b.is_ascii_digit() || b == b'/') {
        return Cow::Borrowed(token);
    }
    // The common shapes, without the regexes.
    let mut shape = Shape::of(token);
    if shape.numeric_chars {
        if is_number(token) {
            return Cow::Borrowed(WILDCARD);
        }
        if let Some(masked) = ipv4(token) {
            return Cow::Borrowed(masked);
        }
    }
    if shape.id_chars && is_id(token) {
        return Cow::Borrowed(WILDCARD);
    }
    let mut text = Cow::Borrowed(token);
    for (find, could_match) in MASKS.iter() {
        if !could_match(&shape, &text) {
            continue;
        }
        let replaced = match find {
            Find::Paths => mask_paths(&text),
            Find::Regex(mask, Replace::All) => mask.replace_all(&text, WILDCARD),
            Find::Regex(mask, Replace::LongHex) => mask
                .replace_all(&text, |c: &regex::Captures<'_>| {
                    keep_unless(&c[0], c[0].len() >= MIN_HEX_ID)
                }),
            Find::Regex(mask, Replace::WithDigit) => {
                mask.replace_all(&text, |c: &regex::Captures<'_>| {
                    keep_unless(&c[0], c[0].bytes().any(|b| b.is_ascii_digit()))
                })
            }
            Find::Regex(mask, Replace::UrlBody) => mask
                .replace_all(&text, |c: &regex::Captures<'_>| {
                    format!("{}://{WILDCARD}", &c[1])
                }),
        };
        if let Cow::Owned(r) = replaced {
            shape = Shape::of(&r);
            text = Cow::Owned(r);
        }
    }
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(t),
        Cow::Owned(t) => Cow::Owned(collapse_token(&t)),
    }
}

/// `<*>` when `mask`, else the text as it was.
fn keep_unless(text: &str, mask: bool) -> String {
    if mask {
        WILDCARD.to_string()
    } else {
        text.to_string()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_are_masked_whole() {
        for n in ["200", "-3", "+7", "0.25", "1.5"] {
            assert!(is_number(n), "{n}");
            assert_eq!(tokenize(n), vec!["<*>"]);
        }
        for n in ["", "-", "1.", ".5", "1.2.3", "v2", "0x1f"] {
            assert!(!is_number(n), "{n}");
        }
    }

    /// The path mask as a regex, to check [`mask_paths`] against.
    static PATH: LazyLock<Regex> = LazyLock::new(|| re(r#"(?:/[^\s/\])'",:;=]+){2,}/?"#));

    #[test]
    fn the_path_mask_agrees_with_its_regex() {
        for t in [
            "/a/b",
            "/a",
            "x/a/b/",
            "(/var/lib/x):",
            "/v2/abc/servers/detail",
            "//a/b",
            "a/b/c",
            "/a//b/c",
            "/a/b,/c/d",
            "HTTP/1.1",
            "/",
            "",
            "/é/ü/x",
            "/a/b=c/d",
        ] {
            assert_eq!(mask_paths(t), PATH.replace_all(t, WILDCARD), "{t}");
        }
    }

    #[test]
    fn the_shortcuts_agree_with_the_masks() {
        // Each of these takes a shortcut; with the shortcuts off (the regexes alone) they
        // come out the same.
        for t in [
            "200",
            "-3",
            "0.25",
            "blk_-123",
            "rdd_2_0",
            "10ms",
            "pod-7",
            "x86_64",
            "10.1.2.3",
            "/10.1.2.3",
            "10.1.2.3:8080",
            "/10.1.2.3:8080",
        ] {
            assert_eq!(mask_token(t), by_regexes(t), "{t}");
        }
        for t in [
            "v2",
            "sha256",
            "k8s",
            "deadbeefcafe1234",
            "10.1.2.3:80,",
            "1.2.3",
        ] {
            assert!(!is_id(t) && !is_number(t) && ipv4(t).is_none(), "{t}");
        }
    }

    /// A token masked by the regexes alone.
    fn by_regexes(token: &str) -> String {
        let mut text = token.to_string();
        for (find, _) in MASKS.iter() {
            text = match find {
                Find::Regex(mask, Replace::All) => mask.replace_all(&text, WILDCARD).into_owned(),
                Find::Regex(mask, Replace::UrlBody) => {
                    mask.replace_all(&text, "$1://<*>").into_owned()
                }
                Find::Paths => PATH.replace_all(&text, WILDCARD).into_owned(),
                Find::Regex(_, Replace::LongHex | Replace::WithDigit) => text,
            };
        }
        collapse_token(&text)
    }

    #[test]
    fn masks_variables() {
        assert_eq!(
            tokenize("Served block blk_-6952295868487656571 to /10.250.19.102:50010"),
            vec!["Served", "block", "<*>", "to", "<*>:<*>"]
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
        assert_eq!(
            tokenize("Received block blk_3587508140051953248 from rdd_2_0 at /var/lib/x/y.log"),
            vec!["Received", "block", "<*>", "from", "<*>", "at", "<*>"]
        );
        assert_eq!(
            tokenize(
                "GET /healthz at (/var/lib/nova/_base/a4): split hdfs://10.0.0.1:9000/a/b:1+2"
            ),
            vec!["GET", "/healthz", "at", "(<*>):", "split", "hdfs://<*>"]
        );
        assert_eq!(
            tokenize("node cp-1.vm1.example.org class org.apache.spark.Main"),
            vec!["node", "<*>", "class", "org.apache.spark.Main"]
        );
    }
}
