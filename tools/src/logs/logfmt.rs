//! logfmt (`level=warn msg="slow query" took=950ms`), as Loki's `| logfmt` reads it.

/// The key/value pairs of a logfmt line, in order. A key without `=` has an empty value.
/// `Err` when a quoted value is never closed.
#[allow(clippy::result_unit_err)]
pub fn parse(text: &str) -> Result<Vec<(String, String)>, ()> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(e) = chars.next() {
                                value.push(match e {
                                    'n' => '\n',
                                    't' => '\t',
                                    other => other,
                                });
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(());
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        if !key.is_empty() {
            out.push((key, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn quoted_escaped_and_bare_keys() {
        let got = parse(r#"a=1 msg="say \"hi\"" flag b="""#).unwrap();
        let want: Vec<(String, String)> =
            [("a", "1"), ("msg", "say \"hi\""), ("flag", ""), ("b", "")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(got, want);
        assert!(parse(r#"msg="never closed"#).is_err());
    }
}
