//! Secret masking. Logs are untrusted input and often carry credentials (a connection
//! string, a bearer token, a password in a debug line). Everything loglens sends to a
//! model or stores goes through [`redact`] first.
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

#[cfg(test)]
mod tests {
    use super::redact;

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
