//! [`LokiLogSource`]: the [`LogSource`] over Loki.
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{Direction, LokiClient};
use crate::ToolError;
use crate::logs::logql::quote;
use crate::logs::{LogFilter, LogLine, LogSource, canonical_label};

/// Reads logs from Loki.
#[derive(Debug, Clone)]
pub struct LokiLogSource {
    client: LokiClient,
    default_window: Duration,
    max_lines: usize,
    scope: BTreeMap<String, String>,
}

impl LokiLogSource {
    /// A source over `client`. Without a time window a query covers the last 24 hours and
    /// returns at most 5,000 lines (the most recent).
    pub fn new(client: LokiClient) -> Self {
        Self {
            client,
            default_window: Duration::hours(24),
            max_lines: 5000,
            scope: BTreeMap::new(),
        }
    }

    /// Confines every query to the streams with these labels (`cluster="homelab"`, or one
    /// eval case's streams): they are added to every selector this source builds or is
    /// given. Names must be Loki label names.
    pub fn with_scope(mut self, labels: BTreeMap<String, String>) -> Result<Self, ToolError> {
        for (k, v) in &labels {
            if !crate::logs::logql::is_label_name(k) || v.is_empty() {
                return Err(ToolError::InvalidFilter(format!(
                    "scope label {k}={v:?}: the name must be a Loki label name ([a-zA-Z_][a-zA-Z0-9_]*) and the value not empty"
                )));
            }
        }
        self.scope = labels;
        Ok(self)
    }

    fn scope_matchers(&self) -> Vec<String> {
        self.scope
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect()
    }

    /// Changes how far back a query without a window looks.
    pub fn with_default_window(mut self, window: Duration) -> Self {
        self.default_window = window;
        self
    }

    /// Changes the most lines one query returns.
    pub fn with_max_lines(mut self, n: usize) -> Self {
        self.max_lines = n.max(1);
        self
    }

    /// The client.
    pub fn client(&self) -> &LokiClient {
        &self.client
    }

    /// The LogQL query for a filter, given the label names Loki has. `None` when Loki has
    /// no labels at all in the window (nothing to find). Where several of Loki's labels
    /// mean the same thing (`namespace` and `k8s_namespace_name`), `chosen` says which one
    /// holds the filter's value (see `LokiLogSource::resolve_labels`); otherwise the first
    /// is used.
    pub fn build_query(
        &self,
        filter: &LogFilter,
        label_names: &[String],
        chosen: &BTreeMap<String, String>,
    ) -> Result<Option<String>, ToolError> {
        let actual = |canon: &str| {
            chosen.get(canon).cloned().or_else(|| {
                label_names
                    .iter()
                    .find(|n| canonical_label(n) == Some(canon))
                    .cloned()
            })
        };
        let mut matchers = self.scope_matchers();
        for (canon, value) in [
            ("namespace", &filter.namespace),
            ("pod", &filter.pod),
            ("container", &filter.container),
            ("node", &filter.node),
        ] {
            let Some(value) = value else { continue };
            let Some(name) = actual(canon) else {
                if label_names.is_empty() {
                    return Ok(None);
                }
                return Err(ToolError::InvalidFilter(format!(
                    "Loki has no {canon} label in this time range (its labels: {})",
                    label_names.join(", ")
                )));
            };
            matchers.push(matcher(&name, canon, value));
        }
        let scoped = matchers.len() - self.scope.len();
        let mut query = match &filter.logql {
            Some(q) if scoped == 0 => scope_query(&q.text, &self.scope_matchers())?,
            Some(_) => {
                return Err(ToolError::InvalidFilter(
                    "give either a LogQL query or label filters (namespace, pod, container, node), not both".into(),
                ));
            }
            None => {
                if matchers.is_empty() {
                    // Every stream: Loki needs one matcher that cannot match empty (a
                    // scope's matchers are exact, so they do).
                    let Some(name) = actual("namespace").or_else(|| label_names.first().cloned())
                    else {
                        return Ok(None);
                    };
                    matchers.push(format!("{name}=~\".+\""));
                }
                format!("{{{}}}", matchers.join(", "))
            }
        };
        if let Some(p) = &filter.pattern {
            query.push_str(&format!(" |~ {}", quote(p.as_str())));
        }
        Ok(Some(query))
    }

    /// For each filtered label with more than one candidate name in Loki, the name that
    /// selects streams together with the labels chosen before it (asked of Loki's `series`
    /// API). `None` when no candidate does: nothing matches.
    async fn resolve_labels(
        &self,
        filter: &LogFilter,
        names: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Option<BTreeMap<String, String>>, ToolError> {
        let mut chosen = BTreeMap::new();
        let mut so_far: Vec<String> = self.scope_matchers();
        for (canon, value) in [
            ("namespace", &filter.namespace),
            ("pod", &filter.pod),
            ("container", &filter.container),
            ("node", &filter.node),
        ] {
            let Some(value) = value else { continue };
            let candidates: Vec<&String> = names
                .iter()
                .filter(|n| canonical_label(n) == Some(canon))
                .collect();
            let found = match candidates.as_slice() {
                [] => continue,
                [only] => Some((*only).clone()),
                many => {
                    let mut found = None;
                    for name in many {
                        let selector = format!(
                            "{{{}}}",
                            [so_far.clone(), vec![matcher(name, canon, value)]]
                                .concat()
                                .join(", ")
                        );
                        if !self
                            .client
                            .series(&[&selector], start, end)
                            .await?
                            .is_empty()
                        {
                            found = Some((*name).clone());
                            break;
                        }
                    }
                    found
                }
            };
            let Some(name) = found else { return Ok(None) };
            so_far.push(matcher(&name, canon, value));
            chosen.insert(canon.to_string(), name);
        }
        Ok(Some(chosen))
    }

    fn window(&self, filter: &LogFilter) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = filter.end.unwrap_or_else(Utc::now);
        let start = filter.start.unwrap_or(end - self.default_window);
        (start, end)
    }
}

/// A LogQL log query confined to the scope's matchers: they are added at the head of its
/// stream selector. A query that does not start with a selector is refused, since the
/// scope could not be applied to it.
fn scope_query(query: &str, scope: &[String]) -> Result<String, ToolError> {
    if scope.is_empty() {
        return Ok(query.to_string());
    }
    let Some(rest) = query.trim_start().strip_prefix('{') else {
        return Err(ToolError::InvalidFilter(
            "this Loki source is scoped to some streams: give a log query that starts with a stream selector ({...})".into(),
        ));
    };
    let rest = rest.trim_start();
    let sep = if rest.starts_with('}') { "" } else { ", " };
    Ok(format!("{{{}{sep}{rest}", scope.join(", ")))
}

/// The selector matcher for a filter value: exact, or for a pod its workload as well
/// (`checkout` selects `checkout-7d9f-x1`).
fn matcher(name: &str, canon: &str, value: &str) -> String {
    if canon == "pod" {
        // Explicit anchors: Loki anchors selector regexes itself, but not every
        // implementation of its API does (qryn matches unanchored).
        format!(
            "{name}=~{}",
            quote(&format!("^{}(-.*)?$", regex::escape(value)))
        )
    } else {
        format!("{name}={}", quote(value))
    }
}

#[async_trait]
impl LogSource for LokiLogSource {
    fn describe(&self) -> String {
        format!("Loki at {}", self.client.url())
    }

    async fn label_names(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<String>, ToolError> {
        Ok(self.client.labels(start, end).await?)
    }

    async fn patterns(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Option<Vec<crate::logs::StorePattern>>, ToolError> {
        let Some(found) = self.client.patterns(query, start, end).await? else {
            return Ok(None);
        };
        let time = |s: i64| DateTime::from_timestamp(s, 0);
        Ok(Some(
            found
                .into_iter()
                .map(|p| crate::logs::StorePattern {
                    // Loki writes its wildcard as `<_>`.
                    template: p.pattern.replace("<_>", "<*>"),
                    count: p.samples.iter().map(|(_, n)| n).sum(),
                    first_seen: p.samples.iter().map(|(t, _)| *t).min().and_then(time),
                    last_seen: p.samples.iter().map(|(t, _)| *t).max().and_then(time),
                })
                .collect(),
        ))
    }

    async fn query(&self, filter: &LogFilter) -> Result<Vec<LogLine>, ToolError> {
        filter.validate()?;
        let (start, end) = self.window(filter);
        let names = self.client.labels(start, end).await?;
        let Some(chosen) = self.resolve_labels(filter, &names, start, end).await? else {
            return Ok(Vec::new());
        };
        let Some(query) = self.build_query(filter, &names, &chosen)? else {
            return Ok(Vec::new());
        };
        tracing::debug!(%query, "querying Loki");
        let streams = self
            .client
            .query_range(&query, start, end, self.max_lines, Direction::Backward)
            .await?;
        let mut lines = Vec::new();
        for s in streams {
            let mut labels = BTreeMap::new();
            for (k, v) in &s.labels {
                let key = canonical_label(k)
                    .filter(|c| !s.labels.contains_key(*c))
                    .unwrap_or(k);
                labels.insert(key.to_string(), v.clone());
            }
            let source = format!(
                "loki {{{}}}",
                s.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", quote(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for (ts, text) in s.entries {
                lines.push(LogLine {
                    source: source.clone(),
                    line_no: u64::try_from(ts).unwrap_or(0),
                    timestamp: Some(Utc.timestamp_nanos(ts)),
                    labels: labels.clone(),
                    text,
                    truncated_bytes: 0,
                });
            }
        }
        lines.sort_by(|a, b| (a.timestamp, &a.source).cmp(&(b.timestamp, &b.source)));
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::loki::LokiConfig;

    fn source() -> LokiLogSource {
        LokiLogSource::new(
            LokiClient::new(LokiConfig::default()).unwrap_or_else(|e| unreachable!("{e}")),
        )
    }

    #[test]
    fn builds_selectors_with_the_servers_own_label_names() {
        let names = vec![
            "namespace".to_string(),
            "pod_name".to_string(),
            "container".to_string(),
        ];
        let f = LogFilter {
            namespace: Some("shop".into()),
            pod: Some("check.out".into()),
            ..LogFilter::errors()
        };
        let q = source()
            .build_query(&f, &names, &BTreeMap::new())
            .unwrap_or_default()
            .unwrap_or_default();
        assert_eq!(
            q,
            r#"{namespace="shop", pod_name=~"^check\\.out(-.*)?$"} |~ "(?i)(error|warn|failed|exception|panic|fatal)""#
        );
    }

    #[test]
    fn missing_labels_and_empty_stores_are_told_apart() {
        let f = LogFilter {
            node: Some("n1".into()),
            ..LogFilter::default()
        };
        let err = source()
            .build_query(&f, &["namespace".to_string()], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no node label") && err.contains("namespace"),
            "{err}"
        );
        assert!(
            source()
                .build_query(&f, &[], &BTreeMap::new())
                .unwrap_or_default()
                .is_none()
        );
    }

    #[test]
    fn a_scope_confines_every_query() {
        let scope = BTreeMap::from([("loglens_eval".to_string(), "run-1".to_string())]);
        let src = source()
            .with_scope(scope)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let names = vec!["namespace".to_string(), "loglens_eval".to_string()];
        let f = LogFilter {
            namespace: Some("shop".into()),
            ..LogFilter::default()
        };
        let q = src
            .build_query(&f, &names, &BTreeMap::new())
            .unwrap_or_default()
            .unwrap_or_default();
        assert_eq!(q, r#"{loglens_eval="run-1", namespace="shop"}"#);
        // No filters: the scope alone selects.
        let q = src
            .build_query(&LogFilter::default(), &names, &BTreeMap::new())
            .unwrap_or_default()
            .unwrap_or_default();
        assert_eq!(q, r#"{loglens_eval="run-1"}"#);
        // A query the model wrote gets the scope too; one without a selector is refused.
        assert_eq!(
            scope_query(r#"{app="x"} |= "err""#, &src.scope_matchers()).unwrap_or_default(),
            r#"{loglens_eval="run-1", app="x"} |= "err""#
        );
        assert!(scope_query("rate({app=\"x\"}[5m])", &src.scope_matchers()).is_err());
        assert!(
            source()
                .with_scope(BTreeMap::from([("bad-name".to_string(), "v".to_string())]))
                .is_err()
        );
    }

    #[test]
    fn no_filters_select_every_stream() {
        let q = source()
            .build_query(
                &LogFilter::default(),
                &["app".to_string(), "namespace".to_string()],
                &BTreeMap::new(),
            )
            .unwrap_or_default();
        assert_eq!(q.as_deref(), Some(r#"{namespace=~".+"}"#));
    }

    #[test]
    fn values_are_escaped() {
        let f = LogFilter {
            namespace: Some("a\"b".into()),
            ..LogFilter::default()
        };
        let q = source()
            .build_query(&f, &["namespace".to_string()], &BTreeMap::new())
            .unwrap_or_default();
        assert_eq!(q.as_deref(), Some(r#"{namespace="a\"b"}"#));
    }
}
