//! Secret masking. Logs are untrusted input and often carry credentials (a connection
//! string, a bearer token, a password in a debug line). Everything loglens sends to a
//! model or stores goes through [`redact`] first.
//!
//! Personal data that is not a secret but should not reach a model (e-mail addresses, IP
//! addresses, as configured) is handled by [`Pseudonyms`]: each value gets a stable
//! placeholder (`<email-1>`, `<ip-2>`), so the model can still tell "the same address"
//! from "another one", and the answer is restored to the real values afterwards, for the
//! operator who owns the logs. Secrets are never restored.
use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// Compiles one of the constant patterns below.
#[allow(clippy::expect_used)] // constant patterns, all exercised by the tests below
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant redaction pattern compiles")
}

static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    vec![
        (
            re(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(-----END [A-Z ]*PRIVATE KEY-----)?"),
            "[REDACTED_PRIVATE_KEY]",
        ),
        (
            re(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"),
            "[REDACTED_JWT]",
        ),
        (
            re(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/-]{8,}=*"),
            "$1 [REDACTED]",
        ),
        (re(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "[REDACTED_AWS_KEY]"),
        (
            re(r"\b(sk|xox[abpr]|ghp|gho|ghs|github_pat|glpat)[-_][A-Za-z0-9_-]{10,}"),
            "[REDACTED_TOKEN]",
        ),
        (
            re(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@"),
            "${1}[REDACTED]@",
        ),
        (
            re(
                r#"(?i)\b((?:[a-z_.-]*)(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key))(\\?["']?\s*[:=]\s*\\?["']?)([^\s"'\\,;&}]+)"#,
            ),
            "$1$2[REDACTED]",
        ),
    ]
});

/// Masks secrets in `text`. Returns the text unchanged (borrowed) when nothing matched.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (pattern, replacement) in RULES.iter() {
        if pattern.is_match(&out) {
            out = Cow::Owned(pattern.replace_all(&out, *replacement).into_owned());
        }
    }
    out
}

/// Kinds of values [`Pseudonyms`] can replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PseudonymKind {
    /// E-mail addresses.
    Email,
    /// IPv4 addresses.
    Ip,
}

impl PseudonymKind {
    fn label(self) -> &'static str {
        match self {
            PseudonymKind::Email => "email",
            PseudonymKind::Ip => "ip",
        }
    }
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"));
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b"));
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| re(r"<(?:email|ip)-\d+>"));

/// Stable placeholders for personal values, and the way back.
#[derive(Debug, Clone, Default)]
pub struct Pseudonyms {
    kinds: Vec<PseudonymKind>,
    to_token: std::collections::HashMap<String, String>,
    to_value: std::collections::HashMap<String, String>,
    counts: std::collections::HashMap<&'static str, usize>,
}

impl Pseudonyms {
    /// Replaces values of these kinds.
    pub fn new(kinds: &[PseudonymKind]) -> Self {
        Self {
            kinds: kinds.to_vec(),
            ..Self::default()
        }
    }

    /// Whether it replaces anything.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// `text` with each value replaced by its placeholder (the same value, the same
    /// placeholder, across every call).
    pub fn mask(&mut self, text: &str) -> String {
        let mut out = text.to_string();
        for kind in self.kinds.clone() {
            let re = match kind {
                PseudonymKind::Email => &*EMAIL,
                PseudonymKind::Ip => &*IPV4,
            };
            if !re.is_match(&out) {
                continue;
            }
            out = re
                .replace_all(&out, |c: &regex::Captures<'_>| self.token(kind, &c[0]))
                .into_owned();
        }
        out
    }

    fn token(&mut self, kind: PseudonymKind, value: &str) -> String {
        if let Some(t) = self.to_token.get(value) {
            return t.clone();
        }
        let n = self.counts.entry(kind.label()).or_default();
        *n += 1;
        let t = format!("<{}-{n}>", kind.label());
        self.to_token.insert(value.to_string(), t.clone());
        self.to_value.insert(t.clone(), value.to_string());
        t
    }

    /// `text` with every placeholder this instance made put back to its value (others,
    /// such as one a model invented, are left as they are).
    pub fn restore(&self, text: &str) -> String {
        if self.to_value.is_empty() || !PLACEHOLDER.is_match(text) {
            return text.to_string();
        }
        PLACEHOLDER
            .replace_all(text, |c: &regex::Captures<'_>| {
                self.to_value
                    .get(&c[0])
                    .cloned()
                    .unwrap_or_else(|| c[0].to_string())
            })
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::redact;
    use super::{PseudonymKind, Pseudonyms};

    #[test]
    fn pseudonyms_are_stable_and_restorable() {
        let mut p = Pseudonyms::new(&[PseudonymKind::Email, PseudonymKind::Ip]);
        let a = p.mask("mail to alice@example.com from 10.0.0.7 failed");
        let b = p.mask("retry alice@example.com via 10.0.0.8, then 10.0.0.7");
        assert_eq!(a, "mail to <email-1> from <ip-1> failed");
        assert_eq!(b, "retry <email-1> via <ip-2>, then <ip-1>");
        assert_eq!(
            p.restore("the <email-1> bounce came through <ip-2>; <ip-9> is unknown"),
            "the alice@example.com bounce came through 10.0.0.8; <ip-9> is unknown"
        );
        let mut none = Pseudonyms::new(&[]);
        assert_eq!(none.mask("alice@example.com"), "alice@example.com");
        // Versions and out-of-range numbers are not addresses.
        let mut ip = Pseudonyms::new(&[PseudonymKind::Ip]);
        assert_eq!(ip.mask("v1.2.3 and 999.1.1.1"), "v1.2.3 and 999.1.1.1");
    }

    #[test]
    fn masks_common_secrets() {
        let cases = [
            ("password=hunter2 user=bob", "password=[REDACTED] user=bob"),
            (
                r#"{"db_password": "s3cr3t!"}"#,
                r#"{"db_password": "[REDACTED]"}"#,
            ),
            (
                "Authorization: Bearer abcdefghijklmnop.qrs",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "connecting to postgres://app:pa55w0rd@db:5432/app",
                "connecting to postgres://app:[REDACTED]@db:5432/app",
            ),
            (
                "key AKIAIOSFODNN7EXAMPLE used",
                "key [REDACTED_AWS_KEY] used",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_abc",
                "jwt [REDACTED_JWT]",
            ),
            (
                "cloned with ghp_abcdefghijklmnop1234 ok",
                "cloned with [REDACTED_TOKEN] ok",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "input: {input}");
        }
    }

    #[test]
    fn leaves_ordinary_lines_alone() {
        let line = "GET /api/cart 500 took 1304ms: connection refused to redis-cart:6379";
        assert!(matches!(redact(line), std::borrow::Cow::Borrowed(_)));
    }
}
