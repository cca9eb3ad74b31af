//! The `log_patterns` tool: what a set of lines keeps saying, as templates with counts.
//!
//! Where `query_logs` returns lines, this returns their shape: run a LogQL query, mine the
//! matching lines with the Drain miner ([`super::patterns`]), and return the templates,
//! most frequent first, flagged new or spiking. One call summarizes a thousand lines in a
//! few hundred tokens.
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
    /// How far back from now, e.g. "1h" (default "1h").
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub since: Option<String>,
    /// Most templates to return (default 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<u32>,
}

/// The output of `log_patterns`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogPatternsOutput {
    /// Lines mined.
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
        let limit = args.limit.unwrap_or(10) as usize;
        if !(1..=50).contains(&limit) {
            return Err(ToolError::InvalidQuery(format!(
                "limit must be between 1 and 50, got {limit}"
            )));
        }
        let out = self
            .query
            .call(QueryLogsArgs {
                query: args.query,
                since: args.since,
                start: None,
                end: None,
                limit: Some(1000),
            })
            .await?;
        let messages: Vec<(&str, _)> = out
            .lines
            .iter()
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
            lines: out.lines.len(),
            patterns,
            omitted,
        })
    }
}
