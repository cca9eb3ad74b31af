//! A recursive-descent parser for the LogQL log-query subset (see the module docs).
use regex::Regex;

use super::{CmpOp, LabelPredicate, LineOp, LogQuery, LogqlError, MatchOp, Matcher, Stage};

/// Parses a log query. Errors name the column and say what was expected.
pub fn parse(query: &str) -> Result<LogQuery, LogqlError> {
    let mut p = Parser { src: query, pos: 0 };
    p.skip_ws();
    if p.peek() != Some('{') {
        let word: String = query
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let message = if !word.is_empty()
            && query.trim_start()[word.len()..]
                .trim_start()
                .starts_with('(')
        {
            format!(
                "metric queries ({word}(...)) are not supported here; write a log query such as {{namespace=\"shop\"}} |= \"error\""
            )
        } else {
            "a log query starts with a stream selector, e.g. {namespace=\"shop\", pod=~\"checkout-.*\"}".to_string()
        };
        return Err(p.error(message));
    }
    let selector = p.selector()?;
    let mut pipeline = Vec::new();
    loop {
        p.skip_ws();
        let Some(c) = p.peek() else { break };
        let stage = match c {
            '|' if p.rest().starts_with("|=") => p.line_filter(LineOp::Contains, 2)?,
            '|' if p.rest().starts_with("|~") => p.line_filter(LineOp::Matches, 2)?,
            '!' if p.rest().starts_with("!=") => p.line_filter(LineOp::NotContains, 2)?,
            '!' if p.rest().starts_with("!~") => p.line_filter(LineOp::NotMatches, 2)?,
            '|' => {
                p.pos += 1;
                p.stage()?
            }
            _ => return Err(p.error(format!("unexpected {c:?}; expected a line filter (|= != |~ !~) or a pipe stage (| json, | logfmt, | label=\"value\", | line_format \"...\")"))),
        };
        pipeline.push(stage);
    }
    Ok(LogQuery {
        text: query.trim().to_string(),
        selector,
        pipeline,
    })
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error(&self, message: impl Into<String>) -> LogqlError {
        LogqlError {
            column: self.src[..self.pos].chars().count() + 1,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let id: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        self.pos += id.len();
        Some(id)
    }

    /// A double-quoted string with Go escapes, or a backtick raw string.
    fn string(&mut self) -> Result<String, LogqlError> {
        self.skip_ws();
        match self.peek() {
            Some('`') => {
                let body = &self.rest()[1..];
                let end = body
                    .find('`')
                    .ok_or_else(|| self.error("unterminated `raw string`"))?;
                let s = body[..end].to_string();
                self.pos += end + 2;
                Ok(s)
            }
            Some('"') => {
                let start = self.pos;
                self.pos += 1;
                let mut out = String::new();
                let mut chars = self.rest().char_indices();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            self.pos += i + 1;
                            return Ok(out);
                        }
                        '\\' => match chars.next() {
                            Some((_, 'n')) => out.push('\n'),
                            Some((_, 't')) => out.push('\t'),
                            Some((_, 'r')) => out.push('\r'),
                            Some((_, e @ ('"' | '\\'))) => out.push(e),
                            // Regex escapes such as \d or \. stay as written.
                            Some((_, e)) => {
                                out.push('\\');
                                out.push(e);
                            }
                            None => break,
                        },
                        c => out.push(c),
                    }
                }
                self.pos = start;
                Err(self.error("unterminated \"string\""))
            }
            _ => Err(self.error("expected a quoted string, e.g. \"error\"")),
        }
    }

    fn regex(&self, pattern: &str, anchored: bool) -> Result<Regex, LogqlError> {
        let full = if anchored {
            format!("^(?:{pattern})$")
        } else {
            pattern.to_string()
        };
        crate::logs::untrusted_regex(&full)
            .map_err(|e| self.error(format!("invalid regex {pattern:?}: {e}")))
    }

    fn match_op(&mut self) -> Option<MatchOp> {
        self.skip_ws();
        for (tok, op) in [
            ("=~", MatchOp::Re),
            ("!~", MatchOp::Nre),
            ("!=", MatchOp::Ne),
            ("==", MatchOp::Eq),
            ("=", MatchOp::Eq),
        ] {
            if self.rest().starts_with(tok) {
                self.pos += tok.len();
                return Some(op);
            }
        }
        None
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, LogqlError> {
        self.eat("{");
        let mut out = Vec::new();
        if self.eat("}") {
            return Err(self.error(
                "the stream selector is empty; add a matcher such as {namespace=\"shop\"}",
            ));
        }
        loop {
            let name = self
                .ident()
                .ok_or_else(|| self.error("expected a label name, e.g. namespace"))?;
            let op = self
                .match_op()
                .ok_or_else(|| self.error(format!("expected =, !=, =~ or !~ after {name}")))?;
            if self.rest().trim_start().starts_with("==") {
                return Err(self.error("use = in stream selectors"));
            }
            let value = self.string()?;
            let regex = match op {
                MatchOp::Re | MatchOp::Nre => Some(self.regex(&value, true)?),
                _ => None,
            };
            out.push(Matcher {
                name,
                op,
                value,
                regex,
            });
            if self.eat(",") {
                continue;
            }
            if self.eat("}") {
                return Ok(out);
            }
            return Err(self.error("expected , or } in the stream selector"));
        }
    }

    fn line_filter(&mut self, op: LineOp, len: usize) -> Result<Stage, LogqlError> {
        self.pos += len;
        let value = self.string()?;
        let regex = match op {
            LineOp::Matches | LineOp::NotMatches => Some(self.regex(&value, false)?),
            _ => None,
        };
        Ok(Stage::Line { op, value, regex })
    }

    fn stage(&mut self) -> Result<Stage, LogqlError> {
        let at = self.pos;
        let Some(word) = self.ident() else {
            return Err(self.error("expected a stage after |: json, logfmt, line_format \"...\" or a label filter such as level=\"error\""));
        };
        self.skip_ws();
        let next_is_stage_end = self.peek().is_none_or(|c| c == '|' || c == '!');
        match word.as_str() {
            "json" | "logfmt" if next_is_stage_end => Ok(if word == "json" { Stage::Json } else { Stage::Logfmt }),
            "json" | "logfmt" => Err(self.error(format!("{word} with parameters is not supported; use | {word} and then label filters"))),
            "line_format" => {
                let template = self.string()?;
                self.check_template(&template)?;
                Ok(Stage::LineFormat(template))
            }
            "pattern" | "regexp" | "unpack" | "label_format" | "drop" | "keep" | "decolorize" | "unwrap" => {
                Err(self.error(format!("the {word} stage is not supported here; use json, logfmt, line_format or label filters")))
            }
            _ => {
                self.pos = at;
                self.label_filters()
            }
        }
    }

    /// line_format templates may use `{{.label}}` and `{{__line__}}` only.
    fn check_template(&self, template: &str) -> Result<(), LogqlError> {
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| self.error("unclosed {{ in line_format"))?;
            let action = rest[start + 2..start + end].trim();
            let is_label = action.strip_prefix('.').is_some_and(|n| {
                !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if !is_label && action != "__line__" {
                return Err(self.error(format!("line_format supports {{{{.label}}}} and {{{{__line__}}}} only, not {{{{{action}}}}}")));
            }
            rest = &rest[start + end + 2..];
        }
        Ok(())
    }

    fn label_filters(&mut self) -> Result<Stage, LogqlError> {
        let mut preds = vec![self.label_predicate()?];
        loop {
            self.skip_ws();
            if self.eat(",") || self.eat_word("and") {
                preds.push(self.label_predicate()?);
            } else if self.rest().starts_with("or ") {
                return Err(self.error(
                    "`or` in label filters is not supported; split the question into two queries",
                ));
            } else {
                return Ok(Stage::Labels(preds));
            }
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        if rest.starts_with(word) && rest[word.len()..].starts_with(char::is_whitespace) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn label_predicate(&mut self) -> Result<LabelPredicate, LogqlError> {
        let name = self
            .ident()
            .ok_or_else(|| self.error("expected a label name in the label filter"))?;
        self.skip_ws();
        let cmp = [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
        ]
        .into_iter()
        .find(|(tok, _)| self.rest().starts_with(tok));
        if let Some((tok, op)) = cmp {
            self.pos += tok.len();
            let value = self.number()?;
            return Ok(LabelPredicate::Num {
                name,
                op: Some(op),
                negate: false,
                value,
            });
        }
        let op = self.match_op().ok_or_else(|| {
            self.error(format!(
                "expected =, !=, =~, !~, >, >=, < or <= after {name}"
            ))
        })?;
        self.skip_ws();
        if matches!(op, MatchOp::Eq | MatchOp::Ne)
            && self.peek().is_some_and(|c| c.is_ascii_digit() || c == '-')
        {
            let value = self.number()?;
            return Ok(LabelPredicate::Num {
                name,
                op: None,
                negate: op == MatchOp::Ne,
                value,
            });
        }
        let value = self.string()?;
        let regex = match op {
            MatchOp::Re | MatchOp::Nre => Some(self.regex(&value, true)?),
            _ => None,
        };
        Ok(LabelPredicate::Str {
            name,
            op,
            value,
            regex,
        })
    }

    fn number(&mut self) -> Result<f64, LogqlError> {
        self.skip_ws();
        let text: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+'))
            .collect();
        let n = text
            .parse::<f64>()
            .map_err(|_| self.error("expected a number"))?;
        self.pos += text.len();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> LogqlError {
        match parse(q) {
            Ok(v) => unreachable!("{q} parsed: {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_a_full_pipeline() {
        let q = parse(r#"{namespace="shop", pod=~"checkout-.*"} |= "error" != "healthz" |~ `time(d)?out` | json | status >= 500 and level="error" | line_format "{{.pod}}: {{.msg}}""#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(q.selector.len(), 2);
        assert_eq!(q.selector[1].op, MatchOp::Re);
        assert_eq!(q.pipeline.len(), 6);
        assert!(matches!(&q.pipeline[3], Stage::Json));
        assert!(matches!(&q.pipeline[4], Stage::Labels(p) if p.len() == 2));
        assert!(matches!(&q.pipeline[5], Stage::LineFormat(f) if f == "{{.pod}}: {{.msg}}"));
    }

    #[test]
    fn errors_say_what_to_fix() {
        assert!(
            err("rate({app=\"x\"}[5m])")
                .message
                .contains("metric queries")
        );
        assert!(err("app=\"x\"").message.contains("stream selector"));
        assert!(err("{}").message.contains("empty"));
        assert!(err("{app=\"x\"").message.contains(", or }"));
        assert!(
            err("{app=\"x} |= \"y\"").message.contains("unterminated")
                || err("{app=\"x} |= \"y\"").message.contains("expected")
        );
        assert!(err("{app=~\"(\"}").message.contains("invalid regex"));
        assert!(
            err("{app=\"x\"} | pattern \"<ip>\"")
                .message
                .contains("not supported")
        );
        assert!(
            err("{app=\"x\"} | json foo=\"bar\"")
                .message
                .contains("parameters")
        );
        assert_eq!(err("{app=\"x\"} ?").column, 11);
        assert!(
            err("{app=\"x\"} | line_format \"{{ToUpper .msg}}\"")
                .message
                .contains("only")
        );
    }

    #[test]
    fn a_regex_nested_too_deep_is_an_error_not_a_stack_overflow() {
        let deep = format!("{{app=~\"{}x{}\"}}", "(".repeat(200), ")".repeat(200));
        let e = err(&deep);
        assert!(e.message.contains("invalid regex"), "{}", e.message);
        assert!(parse(r#"{app=~"((a|b)c)+"}"#).is_ok());
    }

    #[test]
    fn escapes_follow_go_strings() {
        let q = parse(r#"{app="x"} |= "say \"hi\"\n" |~ "\d+ms""#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(matches!(&q.pipeline[0], Stage::Line { value, .. } if value == "say \"hi\"\n"));
        assert!(matches!(&q.pipeline[1], Stage::Line { value, .. } if value == r"\d+ms"));
    }
}
