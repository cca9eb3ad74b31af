//! Alertmanager's webhook payload (version 4) and how a firing alert becomes an
//! investigation: a question, filters and a dedupe key.
//!
//! Alertmanager sends a group of alerts per notification and sends it again every
//! `repeat_interval` while they fire, and again when the group changes. An alert is one
//! problem from `startsAt` until it resolves, so the dedupe key is its `fingerprint`
//! (a hash of its labels) with its `startsAt`: the repeats add nothing, and the same alert
//! firing again tomorrow is a new investigation.
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use loglens_tools::logs::Scope;
use loglens_tools::redact::redact;

/// The most alerts one notification may carry (Alertmanager's `max_alerts` caps it on
/// the sending side).
pub const MAX_ALERTS: usize = 200;

/// One webhook notification.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Payload version; loglens reads version 4.
    #[serde(default)]
    pub version: Option<String>,
    /// The group this notification is for.
    #[serde(default)]
    pub group_key: Option<String>,
    /// `firing` or `resolved`, for the group.
    #[serde(default)]
    pub status: Option<String>,
    /// The receiver's name in Alertmanager's config.
    #[serde(default)]
    pub receiver: Option<String>,
    /// Labels the group was formed by.
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    /// Alertmanager's own URL.
    #[serde(default)]
    pub external_url: Option<String>,
    /// Alerts left out by `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: Option<u64>,
    /// The alerts.
    pub alerts: Vec<Alert>,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Identifying labels (`alertname`, `namespace`, `pod`, `severity`, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `runbook_url`, ...
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// When it resolved (Alertmanager sends year 1 while it fires).
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// The rule's expression in Prometheus.
    #[serde(default)]
    pub generator_url: Option<String>,
    /// Alertmanager's hash of the labels.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// What an investigation job carries (stored as its payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    /// The question asked of the pipeline.
    pub question: String,
    /// Where to look.
    pub filters: Scope,
    /// The alert, as received.
    pub alert: Alert,
    /// Alertmanager's URL, for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
}

impl Notification {
    /// Checks what loglens relies on; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(v) = &self.version
            && v != "4"
        {
            return Err(format!(
                "Alertmanager webhook payload version {v:?} is not supported (version \"4\" is)"
            ));
        }
        if self.alerts.len() > MAX_ALERTS {
            return Err(format!(
                "{} alerts in one notification; at most {MAX_ALERTS} (set max_alerts in Alertmanager's webhook_config)",
                self.alerts.len()
            ));
        }
        for (i, a) in self.alerts.iter().enumerate() {
            if a.status != "firing" && a.status != "resolved" {
                return Err(format!(
                    "alerts[{i}].status is {:?}; expected \"firing\" or \"resolved\"",
                    a.status
                ));
            }
            if a.labels.is_empty() {
                return Err(format!(
                    "alerts[{i}] has no labels: nothing says what it is about (Alertmanager always sends at least alertname)"
                ));
            }
        }
        Ok(())
    }
}

impl Alert {
    /// `alertname`, or a placeholder.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map_or("unnamed alert", String::as_str)
    }

    /// When it resolved, if it has (Alertmanager's zero time means "not yet").
    pub fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.ends_at
            .filter(|t| t.timestamp() > 0 && self.status == "resolved")
    }

    /// Alertmanager's fingerprint, or a SHA-256 of the sorted labels when the sender
    /// left it out.
    pub fn fingerprint(&self) -> String {
        match &self.fingerprint {
            Some(f) if !f.trim().is_empty() => f.trim().to_string(),
            _ => {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                for (k, v) in &self.labels {
                    h.update(k.as_bytes());
                    h.update([0]);
                    h.update(v.as_bytes());
                    h.update([0]);
                }
                hex::encode(&h.finalize()[..8])
            }
        }
    }

    /// What makes two notifications of this alert the same investigation.
    pub fn dedupe_key(&self) -> String {
        let started = self
            .starts_at
            .map_or_else(|| "unknown".to_string(), |t| t.to_rfc3339());
        format!("alert:{}:{started}", self.fingerprint())
    }

    /// The investigation for this alert: the question names the alert and what it fires
    /// for, and carries its summary; the filters keep the alert's namespace (and node),
    /// from `lookback` before it started until shortly after it resolved. Pod and
    /// container go into the question, not the filters: the cause is often upstream of
    /// the pod that alerts (a cart alert caused by Redis).
    pub fn investigation(&self, lookback: Duration, external_url: Option<String>) -> Investigation {
        let l = &self.labels;
        let target = [
            "service",
            "deployment",
            "statefulset",
            "daemonset",
            "pod",
            "job",
            "container",
        ]
        .iter()
        .find_map(|k| l.get(*k).filter(|v| !v.is_empty()).map(|v| (*k, v)));
        let mut q = format!("Why is the alert {} firing", self.name());
        if let Some((k, v)) = target {
            q.push_str(&format!(" for {k} {v}"));
        }
        if let Some(ns) = l.get("namespace") {
            q.push_str(&format!(" in namespace {ns}"));
        }
        q.push('?');
        for key in ["summary", "description", "message"] {
            if let Some(text) = self.annotations.get(key).filter(|t| !t.trim().is_empty()) {
                q.push_str(&format!(" {}: {}", capitalized(key), one_line(text)));
                break;
            }
        }
        // Annotations are free text and sometimes paste a connection string: the
        // question and the stored alert carry secrets masked.
        let question: String = redact(&q).chars().take(480).collect();
        let mut alert = self.clone();
        for v in alert
            .labels
            .values_mut()
            .chain(alert.annotations.values_mut())
        {
            if let std::borrow::Cow::Owned(masked) = redact(v) {
                *v = masked;
            }
        }
        let lookback =
            chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::minutes(30));
        let filters = Scope {
            namespace: l.get("namespace").cloned(),
            node: l.get("node").cloned(),
            start: self
                .starts_at
                .filter(|t| t.timestamp() > 0)
                .and_then(|t| t.checked_sub_signed(lookback)),
            end: self
                .resolved_at()
                .and_then(|t| t.checked_add_signed(chrono::Duration::minutes(5))),
            ..Scope::default()
        };
        Investigation {
            question,
            filters,
            alert,
            external_url,
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(json: serde_json::Value) -> Alert {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_firing_alert_becomes_a_question_with_namespace_and_window() {
        let a = alert(serde_json::json!({
            "status": "firing",
            "labels": {"alertname": "CartErrors", "namespace": "boutique", "pod": "cart-1", "severity": "critical"},
            "annotations": {"summary": "Cart   error rate\nabove 5%"},
            "startsAt": "2025-11-11T14:50:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "abc123"
        }));
        let inv = a.investigation(Duration::from_secs(1800), None);
        assert_eq!(
            inv.question,
            "Why is the alert CartErrors firing for pod cart-1 in namespace boutique? Summary: Cart error rate above 5%"
        );
        assert_eq!(inv.filters.namespace.as_deref(), Some("boutique"));
        assert_eq!(inv.filters.pod, None);
        assert_eq!(
            inv.filters.start.unwrap().to_rfc3339(),
            "2025-11-11T14:20:00+00:00"
        );
        assert_eq!(
            inv.filters.end, None,
            "a firing alert's window runs until now"
        );
        assert_eq!(a.resolved_at(), None);
        assert_eq!(a.dedupe_key(), "alert:abc123:2025-11-11T14:50:00+00:00");
    }

    #[test]
    fn a_resolved_alert_closes_the_window_and_keeps_its_key() {
        let a = alert(serde_json::json!({
            "status": "resolved",
            "labels": {"alertname": "X"},
            "startsAt": "2025-11-11T14:50:00Z",
            "endsAt": "2025-11-11T15:00:00Z",
            "fingerprint": "abc123"
        }));
        assert_eq!(
            a.investigation(Duration::from_secs(60), None)
                .filters
                .end
                .unwrap()
                .to_rfc3339(),
            "2025-11-11T15:05:00+00:00"
        );
        assert_eq!(a.dedupe_key(), "alert:abc123:2025-11-11T14:50:00+00:00");
    }

    #[test]
    fn a_missing_fingerprint_is_derived_from_the_labels() {
        let a = alert(
            serde_json::json!({"status": "firing", "labels": {"alertname": "X", "pod": "p"}}),
        );
        let b = alert(
            serde_json::json!({"status": "firing", "labels": {"pod": "p", "alertname": "X"}}),
        );
        let c = alert(
            serde_json::json!({"status": "firing", "labels": {"alertname": "X", "pod": "q"}}),
        );
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(a.fingerprint().len(), 16);
    }

    #[test]
    fn validation_names_the_problem() {
        let n: Notification = serde_json::from_value(serde_json::json!({
            "version": "3", "alerts": []
        }))
        .unwrap();
        assert!(n.validate().unwrap_err().contains("version \"3\""));
        let n: Notification = serde_json::from_value(serde_json::json!({
            "version": "4", "alerts": [{"status": "pending"}]
        }))
        .unwrap();
        assert!(n.validate().unwrap_err().contains("alerts[0].status"));
        let n: Notification = serde_json::from_value(serde_json::json!({
            "version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A"}}, {"status": "firing"}]
        }))
        .unwrap();
        assert!(
            n.validate()
                .unwrap_err()
                .contains("alerts[1] has no labels")
        );
    }
}
