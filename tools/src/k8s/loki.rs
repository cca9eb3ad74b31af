//! [`LokiEventSource`]: events that Grafana Alloy's `loki.source.kubernetes_events`
//! ships to Loki. Each event update is one line, in logfmt (the default) or JSON, with
//! the fields `name`, `kind`, `reason`, `type`, `count`, `sourcecomponent` and `msg`, and
//! the labels `namespace`, `job` and `instance`.
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use serde_json::Value;

use super::{EventFilter, EventSource, K8sEvent, fold, rank};
use crate::ToolError;
use crate::logs::logfmt;
use crate::logs::loki::{Direction, LokiClient};

/// The default stream selector: Alloy's default job name, and the Grafana k8s-monitoring
/// chart's.
pub const DEFAULT_EVENTS_SELECTOR: &str =
    r#"{job=~"loki.source.kubernetes_events|integrations/kubernetes/eventhandler"}"#;

/// Reads Kubernetes events from Loki.
#[derive(Debug, Clone)]
pub struct LokiEventSource {
    client: LokiClient,
    selector: String,
    default_window: Duration,
}

impl LokiEventSource {
    /// A source over `client` with the default selector, looking back 24 hours when the
    /// filter has no `since`.
    pub fn new(client: LokiClient) -> Self {
        Self {
            client,
            selector: DEFAULT_EVENTS_SELECTOR.to_string(),
            default_window: Duration::hours(24),
        }
    }

    /// Uses another stream selector (for a custom `job_name`).
    pub fn with_selector(mut self, selector: impl Into<String>) -> Self {
        self.selector = selector.into();
        self
    }
}

/// One shipped event line.
fn parse_line(line: &str, labels: &BTreeMap<String, String>, ts: i64) -> Option<K8sEvent> {
    let fields: BTreeMap<String, String> = if line.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(line).ok()?;
        v.as_object()?
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                )
            })
            .collect()
    } else {
        logfmt::parse(line).ok()?.into_iter().collect()
    };
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let name = get("name");
    if name.is_empty() {
        return None;
    }
    Some(K8sEvent {
        namespace: labels.get("namespace").cloned().filter(|n| !n.is_empty()),
        kind: get("kind"),
        name,
        event_type: Some(get("type"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Normal".into()),
        reason: get("reason"),
        message: get("msg"),
        count: get("count").parse().unwrap_or(1),
        last_seen: Some(Utc.timestamp_nanos(ts)),
        age: None,
        source: fields
            .get("sourcecomponent")
            .or_else(|| fields.get("reportingcontroller"))
            .cloned(),
    })
}

#[async_trait]
impl EventSource for LokiEventSource {
    fn describe(&self) -> String {
        format!(
            "Kubernetes events in Loki at {} ({})",
            self.client.url(),
            self.selector
        )
    }

    async fn events(&self, filter: &EventFilter) -> Result<Vec<K8sEvent>, ToolError> {
        let end = Utc::now();
        let start = filter.since.unwrap_or(end - self.default_window);
        let mut query = self.selector.clone();
        if let Some(ns) = &filter.namespace {
            // Narrow in Loki when the selector is a plain one we can extend.
            if let Some(inner) = query.strip_suffix('}') {
                query = format!("{inner}, namespace={}}}", crate::logs::logql::quote(ns));
            }
        }
        if filter.warnings_only {
            query.push_str(" |= \"Warning\"");
        }
        let streams = self
            .client
            .query_range(&query, start, end, 5000, Direction::Backward)
            .await?;
        let mut events: Vec<K8sEvent> = streams
            .iter()
            .flat_map(|s| {
                s.entries
                    .iter()
                    .filter_map(|(ts, line)| parse_line(line, &s.labels, *ts))
            })
            .collect();
        events = fold(events);
        events.retain(|e| filter.matches(e));
        rank(&mut events);
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_alloy_logfmt_and_json_lines() {
        let labels = BTreeMap::from([("namespace".to_string(), "shop".to_string())]);
        let line = r#"name=api-7d9f-x1 kind=Pod objectAPIversion=v1 sourcecomponent=kubelet reason=BackOff type=Warning count=12 msg="Back-off restarting failed container server in pod api-7d9f-x1""#;
        let e = parse_line(line, &labels, 1_700_000_000_000_000_000).unwrap();
        assert_eq!(
            (e.kind.as_str(), e.reason.as_str(), e.count),
            ("Pod", "BackOff", 12)
        );
        assert_eq!(
            e.message,
            "Back-off restarting failed container server in pod api-7d9f-x1"
        );
        assert_eq!(e.namespace.as_deref(), Some("shop"));
        let json = r#"{"name":"node-2","kind":"Node","reason":"NodeNotReady","type":"Normal","msg":"Node node-2 status is now: NodeNotReady"}"#;
        let e = parse_line(json, &BTreeMap::new(), 0).unwrap();
        assert_eq!((e.kind.as_str(), e.count), ("Node", 1));
        assert!(parse_line("not an event", &labels, 0).is_none());
    }
}
