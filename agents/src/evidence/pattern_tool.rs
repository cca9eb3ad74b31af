//! The `log_patterns` tool: what a set of lines keeps saying, as templates with counts.
//!
//! Where `query_logs` returns lines, this returns their shape: the templates of the lines a
//! LogQL query selects, most frequent first, flagged new or spiking. One call summarizes a
//! thousand lines in a few hundred tokens. The query passes `query_logs`'s checks first.
//! When the store computes patterns itself (Loki 3's pattern ingester) its answer is used;
//! otherwise the lines are fetched and mined with the Drain miner ([`super::patterns`]).
use std::sync::Arc;

use async_trait::async_trait;
use loglens_tools::ToolError;
use loglens_tools::logs::LogSource;
use loglens_tools::query_logs::{QueryLogs, QueryLogsArgs};
use loglens_tools::redact::redact;
use loglens_tools::tool::Tool;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::patterns::{MinerConfig, Pattern, mine};

/// Arguments of `log_patterns`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogPatternsArgs {
    /// A LogQL log query selecting the lines to summarize, e.g. {namespace="shop"} |= "error".
    #[schemars(length(min = 3, max = 1000))]
    pub query: String,
    /// How far back from now, e.g. "1h" (default "1h"). Ignored when start is given.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub since: Option<String>,
    /// Start of the range (RFC 3339).
    #[serde(default)]
    #[schemars(length(max = 40))]
    pub start: Option<String>,
    /// End of the range (RFC 3339, default now).
    #[serde(default)]
    #[schemars(length(max = 40))]
    pub end: Option<String>,
    /// Most templates to return (default 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<u32>,
}

/// The output of `log_patterns`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogPatternsOutput {
    /// Who found the patterns: `loki` (the store's pattern API) or `drain` (mined here).
    pub miner: String,
    /// Lines mined (for `loki`: lines the patterns count).
    pub lines: usize,
    /// Templates, most lines first.
    pub patterns: Vec<Pattern>,
    /// Templates left out by the limit.
    pub omitted: usize,
}

/// `log_patterns` over a log source.
pub struct LogPatterns {
    query: QueryLogs,
    describe: String,
}

impl LogPatterns {
    /// The tool over `source`, with `query_logs`'s checks and limits.
    pub fn new(source: Arc<dyn LogSource>) -> Self {
        let describe = source.describe();
        Self {
            query: QueryLogs::new(source),
            describe,
        }
    }
}

#[async_trait]
impl Tool for LogPatterns {
    const NAME: &'static str = "log_patterns";
    type Args = LogPatternsArgs;
    type Output = LogPatternsOutput;

    fn description(&self) -> String {
        format!(
            "Summarize the lines a LogQL query selects in {} as message templates with counts, new and spiking ones flagged. Use it to see what a service keeps saying.",
            self.describe
        )
    }

    async fn call(&self, args: LogPatternsArgs) -> Result<LogPatternsOutput, ToolError> {
        let limit = loglens_tools::tool::limit(args.limit, 10, 50)? as usize;
        let (_, start, end) = self.query.check(&args_for_check(&args)).await?;
        if let Some(found) = self
            .query
            .source()
            .patterns(&args.query, start, end)
            .await?
            .filter(|p| !p.is_empty())
        {
            let mut patterns: Vec<Pattern> = found
                .into_iter()
                .map(|p| Pattern {
                    template: redact(&p.template).into_owned(),
                    count: p.count,
                    first_seen: p.first_seen,
                    last_seen: p.last_seen,
                    examples: Vec::new(),
                    new: false,
                    spike: None,
                })
                // A template that addresses the model is not passed on (super::screen).
                .filter(|p| loglens_tools::injection::addresses_model(&p.template).is_none())
                .collect();
            patterns.sort_by_key(|p| std::cmp::Reverse(p.count));
            let lines = patterns.iter().map(|p| p.count as usize).sum();
            let omitted = patterns.len().saturating_sub(limit);
            patterns.truncate(limit);
            return Ok(LogPatternsOutput {
                miner: "loki".into(),
                lines,
                patterns,
                omitted,
            });
        }
        let out = self
            .query
            .call(QueryLogsArgs {
                query: args.query.clone(),
                since: args.since.clone(),
                start: args.start.clone(),
                end: args.end.clone(),
                limit: Some(1000),
            })
            .await?;
        // Lines that address the model are not mined (see super::screen): their template
        // would carry them to the model.
        let messages: Vec<(&str, _)> = out
            .lines
            .iter()
            .filter(|l| loglens_tools::injection::addresses_model(&l.line).is_none())
            .map(|l| (l.line.as_str(), l.timestamp))
            .collect();
        let mut patterns = mine(&messages, MinerConfig::default());
        let omitted = patterns.len().saturating_sub(limit);
        patterns.truncate(limit);
        for p in &mut patterns {
            p.template = redact(&p.template).into_owned();
            p.examples.clear();
        }
        Ok(LogPatternsOutput {
            miner: "drain".into(),
            lines: messages.len(),
            patterns,
            omitted,
        })
    }
}

fn args_for_check(args: &LogPatternsArgs) -> QueryLogsArgs {
    QueryLogsArgs {
        query: args.query.clone(),
        since: args.since.clone(),
        start: args.start.clone(),
        end: args.end.clone(),
        limit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use loglens_tools::logs::{LogFilter, LogLine, StorePattern};
    use std::collections::BTreeMap;

    /// A store that computes patterns itself, as Loki 3 does.
    struct PatternStore;

    #[async_trait]
    impl LogSource for PatternStore {
        fn describe(&self) -> String {
            "a store with patterns".into()
        }
        async fn query(&self, _: &LogFilter) -> Result<Vec<LogLine>, ToolError> {
            Ok(vec![LogLine {
                source: "s".into(),
                line_no: 1,
                timestamp: Some(Utc::now()),
                labels: BTreeMap::from([("app".to_string(), "api".to_string())]),
                text: "GET /x 500".into(),
                truncated_bytes: 0,
            }])
        }
        async fn label_names(
            &self,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Vec<String>, ToolError> {
            Ok(vec!["app".into()])
        }
        async fn patterns(
            &self,
            _: &str,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Option<Vec<StorePattern>>, ToolError> {
            Ok(Some(vec![
                StorePattern {
                    template: "GET <*> <*>".into(),
                    count: 7,
                    first_seen: None,
                    last_seen: None,
                },
                StorePattern {
                    template: "login password=hunter2 ok".into(),
                    count: 9,
                    first_seen: None,
                    last_seen: None,
                },
            ]))
        }
    }

    #[tokio::test]
    async fn the_stores_patterns_are_used_when_it_has_them() {
        let tool = LogPatterns::new(Arc::new(PatternStore));
        let out = tool
            .call(LogPatternsArgs {
                query: r#"{app="api"}"#.into(),
                since: None,
                start: None,
                end: None,
                limit: Some(1),
            })
            .await
            .unwrap();
        assert_eq!(out.miner, "loki");
        assert_eq!(out.patterns.len(), 1);
        assert_eq!(out.patterns[0].count, 9);
        assert_eq!(out.patterns[0].template, "login password=[REDACTED] ok");
        assert_eq!(out.omitted, 1);
        // The same checks as query_logs: a selector that narrows nothing is refused.
        let err = tool
            .call(LogPatternsArgs {
                query: r#"{app=~".+"}"#.into(),
                since: None,
                start: None,
                end: None,
                limit: None,
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("narrow"), "{err}");
    }
}
