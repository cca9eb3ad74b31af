//! Step 1 of mining: mask the obvious variables of a message and split it into tokens.
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

/// The masks, applied in order to each token that has a digit or a `/` (others have
/// nothing to mask). Each replaces a kind of variable with `<*>`.
static MASKS: LazyLock<Vec<(Regex, Replace)>> = LazyLock::new(|| {
    vec![
        // URLs: the scheme stays, what follows is the variable.
        (re(r#"([A-Za-z][\w.+-]*)://[^\s\])'",]+"#), Replace::UrlBody),
        // Paths of two or more segments (`/var/lib/x`, `/v2/servers/detail`); one segment
        // (`/healthz`) is a route and stays.
        (re(r#"(?:/[^\s/\])'",:;=]+){2,}/?"#), Replace::All),
        // UUIDs.
        (
            re(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
            Replace::All,
        ),
        // IPv4 addresses, with the `/` Java prints before one (a port, if any, is left to
        // the number mask: `<*>:<*>`).
        (re(r"(?:^/)?\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b"), Replace::All),
        // Host names of three or more labels with a digit (`cp-1.vm1.example.org`).
        (re(r"\b[A-Za-z][\w-]*(?:\.[A-Za-z0-9][\w-]*){2,}\b"), Replace::WithDigit),
        // MAC-like and long colon-separated hex.
        (re(r"\b(?:[0-9a-fA-F]{2,}:){3,}[0-9a-fA-F]{2,}\b"), Replace::All),
        // 0x-prefixed hex.
        (re(r"\b0[xX][0-9a-fA-F]+\b"), Replace::All),
        // Long hex ids with at least one digit and one letter (hashes, container ids).
        (re(r"\b[0-9a-f]*(?:[0-9][a-f]|[a-f][0-9])[0-9a-f]*\b"), Replace::LongHex),
        // Numbers (integers, decimals, signed), also after `_` (`blk_123`, `rdd_2_0`).
        (re(r"(?:[-+]|\b|_)\d+(?:\.\d+)?"), Replace::All),
    ]
});

/// Hex ids shorter than this are left alone (`deadbeef` is 8).
const MIN_HEX_ID: usize = 8;

/// Masks the variable parts of a message and splits it into tokens.
pub fn tokenize(message: &str) -> Vec<String> {
    message.split_whitespace().map(mask_token).collect()
}

/// One token with its variable parts masked.
fn mask_token(token: &str) -> String {
    // Most tokens are words: nothing to mask.
    if !token.bytes().any(|b| b.is_ascii_digit() || b == b'/') {
        return token.to_string();
    }
    let mut text = std::borrow::Cow::Borrowed(token);
    for (mask, how) in MASKS.iter() {
        if !mask.is_match(&text) {
            continue;
        }
        let replaced = match how {
            Replace::All => mask.replace_all(&text, WILDCARD),
            Replace::LongHex => mask.replace_all(&text, |c: &regex::Captures<'_>| {
                keep_unless(&c[0], c[0].len() >= MIN_HEX_ID)
            }),
            Replace::WithDigit => mask.replace_all(&text, |c: &regex::Captures<'_>| {
                keep_unless(&c[0], c[0].bytes().any(|b| b.is_ascii_digit()))
            }),
            Replace::UrlBody => mask.replace_all(&text, |c: &regex::Captures<'_>| {
                format!("{}://{WILDCARD}", &c[1])
            }),
        };
        text = std::borrow::Cow::Owned(replaced.into_owned());
    }
    collapse_token(&text)
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
            tokenize("GET /healthz at (/var/lib/nova/_base/a4): split hdfs://10.0.0.1:9000/a/b:1+2"),
            vec!["GET", "/healthz", "at", "(<*>):", "split", "hdfs://<*>"]
        );
        assert_eq!(
            tokenize("node cp-1.vm1.example.org class org.apache.spark.Main"),
            vec!["node", "<*>", "class", "org.apache.spark.Main"]
        );
    }
}
