//! The `query_logs` tool: run a LogQL log query against the configured log source.
//!
//! Every query goes through three checks before it runs, each with an error the model can
//! act on: it must parse ([`logql::parse`]), its labels must exist in the store (discovered
//! with [`LogSource::label_names`], with the closest real name suggested: `pod_name` →
//! `pod`), and its time range and line limit must be within bounds. The tool is read-only
//! by construction: LogQL log queries cannot change anything.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ToolError;
use crate::logs::logql::{self, QueryPolicy};
use crate::logs::{LogFilter, LogSource, parse_since, parse_timestamp};
use crate::redact::redact;
use crate::tool::Tool;

/// Arguments of `query_logs`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryLogsArgs {
    /// A LogQL log query, e.g. {namespace="shop", pod=~"checkout-.*"} |= "error".
    #[schemars(length(min = 3, max = 1000))]
    pub query: String,
    /// How far back from now to look, e.g. "15m", "1h", "2d" (default "1h"). Ignored when
    /// start is given.
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
    /// Most lines to return, the most recent (default 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// One line in the tool's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolLine {
    /// Where the line is: a file path or a Loki stream (so an answer can cite it).
    #[serde(default)]
    pub source: String,
    /// Its line number in a file (for Loki, the entry's timestamp in ns).
    #[serde(default)]
    pub line_no: u64,
    /// When.
    pub timestamp: Option<DateTime<Utc>>,
    /// Stream labels (and labels the query extracted).
    pub labels: BTreeMap<String, String>,
    /// The text, secrets masked.
    pub line: String,
}

/// The output of `query_logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryLogsOutput {
    /// The query that ran.
    pub query: String,
    /// The range it covered.
    pub start: DateTime<Utc>,
    /// End of the range.
    pub end: DateTime<Utc>,
    /// The lines, oldest first.
    pub lines: Vec<ToolLine>,
    /// How many matching lines were left out by the limit.
    pub omitted: usize,
}

/// `query_logs` over a log source.
pub struct QueryLogs {
    source: Arc<dyn LogSource>,
    max_range: Duration,
    max_limit: u32,
}

impl QueryLogs {
    /// The tool over `source`, with ranges up to 30 days (Loki's usual retention and
    /// query-length limit) and at most 1,000 lines.
    pub fn new(source: Arc<dyn LogSource>) -> Self {
        Self {
            source,
            max_range: Duration::days(30),
            max_limit: 1000,
        }
    }

    fn range(
        &self,
        args: &QueryLogsArgs,
        now: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), ToolError> {
        let time = |name: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>, ToolError> {
            v.as_deref()
                .map(|s| {
                    parse_timestamp(s).ok_or_else(|| {
                        ToolError::InvalidQuery(format!(
                            "{name} {s:?} is not an RFC 3339 time such as 2025-03-01T10:00:00Z"
                        ))
                    })
                })
                .transpose()
        };
        let end = time("end", &args.end)?.unwrap_or(now);
        let start = match (time("start", &args.start)?, &args.since) {
            (Some(s), _) => s,
            (None, Some(since)) => {
                let d = parse_since(since).ok_or_else(|| {
                    ToolError::InvalidQuery(format!(
                        "since {since:?} is not a duration such as 15m, 1h or 2d"
                    ))
                })?;
                crate::logs::time_before(end, d).ok_or_else(|| {
                    ToolError::InvalidQuery(format!(
                        "since {since:?} reaches before the earliest time"
                    ))
                })?
            }
            (None, None) => crate::logs::time_before(end, Duration::hours(1))
                .ok_or_else(|| ToolError::InvalidQuery("end is before the earliest time".into()))?,
        };
        if end <= start {
            return Err(ToolError::InvalidQuery("end must be after start".into()));
        }
        if end - start > self.max_range {
            return Err(ToolError::InvalidQuery(format!(
                "the range is {} days; at most {} days may be queried at once: narrow start/since",
                (end - start).num_days(),
                self.max_range.num_days()
            )));
        }
        Ok((start, end))
    }
}

impl QueryLogs {
    /// The checks every query passes before it runs: its range, its syntax, its labels
    /// (against those the store has) and that it narrows the streams. Returns the parsed
    /// query and its range.
    pub async fn check(
        &self,
        args: &QueryLogsArgs,
    ) -> Result<(logql::LogQuery, DateTime<Utc>, DateTime<Utc>), ToolError> {
        let (start, end) = self.range(args, Utc::now())?;
        let query =
            logql::parse(&args.query).map_err(|e| ToolError::InvalidQuery(e.to_string()))?;
        let known_labels = self.source.label_names(start, end).await?;
        query
            .validate(&QueryPolicy { known_labels })
            .map_err(|e| ToolError::InvalidQuery(e.to_string()))?;
        Ok((query, start, end))
    }

    /// The source it queries.
    pub fn source(&self) -> &Arc<dyn LogSource> {
        &self.source
    }
}

#[async_trait]
impl Tool for QueryLogs {
    const NAME: &'static str = "query_logs";
    type Args = QueryLogsArgs;
    type Output = QueryLogsOutput;

    fn description(&self) -> String {
        format!(
            "Run a read-only LogQL log query against {} and get the matching lines, most recent last. \
             Use stream selectors with the labels that exist, line filters (|= != |~ !~), | json or | logfmt, \
             and label filters (| status >= 500).",
            self.source.describe()
        )
    }

    async fn call(&self, args: QueryLogsArgs) -> Result<QueryLogsOutput, ToolError> {
        let limit = crate::tool::limit(args.limit, 100, self.max_limit)?;
        let (query, start, end) = self.check(&args).await?;
        let filter = LogFilter {
            start: Some(start),
            end: Some(end),
            logql: Some(Arc::new(query)),
            ..LogFilter::default()
        };
        // Only the newest `limit` lines are held, however many match.
        let newest = self.source.query_newest(&filter, limit as usize).await?;
        let omitted = (newest.matched as usize).saturating_sub(newest.lines.len());
        let lines = newest
            .lines
            .into_iter()
            .map(|l| ToolLine {
                source: l.source,
                line_no: l.line_no,
                timestamp: l.timestamp,
                line: redact(&l.text).into_owned(),
                labels: l.labels,
            })
            .collect();
        Ok(QueryLogsOutput {
            query: args.query,
            start,
            end,
            lines,
            omitted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::parse_since;

    #[test]
    fn durations() {
        assert_eq!(parse_since("90m"), Some(Duration::minutes(90)));
        assert_eq!(parse_since("1h30m"), Some(Duration::minutes(90)));
        assert_eq!(parse_since("2d"), Some(Duration::days(2)));
        assert_eq!(parse_since("soon"), None);
        assert_eq!(parse_since("10"), None);
    }

    #[test]
    fn schema_is_bounded_for_small_models() {
        let s = QueryLogs::parameters();
        assert_eq!(s["properties"]["query"]["maxLength"], 1000);
        assert_eq!(s["properties"]["limit"]["maximum"], 1000);
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["required"], serde_json::json!(["query"]));
    }
}
