//! What the bots deliver: a report built from a stored analysis, and its two renderings,
//! Slack Block Kit and a plain JSON document for any webhook.
//!
//! Log lines and alert annotations are untrusted text. In Slack's `mrkdwn`, `<!channel>`
//! pings a whole channel and `<https://x|click>` makes a link, so every piece of text that
//! came from logs, alerts or the model is escaped (`&`, `<`, `>`) before it is put in a
//! message, and evidence lines go inside code blocks.
use chrono::{DateTime, Utc};
use loglens_agents::{Finding, Severity};
use loglens_tools::budget::clip_to as clip;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::store::AnalysisRecord;

/// Evidence lines shown in a message.
pub const EVIDENCE_LINES: usize = 5;
/// Longest evidence line shown, in characters.
const LINE_CHARS: usize = 240;

/// The alert a report is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertInfo {
    /// `alertname`.
    pub name: String,
    /// The `severity` label.
    pub severity: Option<String>,
    /// Alertmanager's fingerprint.
    pub fingerprint: String,
    /// When it started firing.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it resolved, if it had when the report was made.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Alertmanager's group.
    pub group_key: Option<String>,
}

/// A finished (or failed) investigation, ready to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// One line: the alert, or the question.
    pub title: String,
    /// The question the pipeline answered.
    pub question: String,
    /// `ok`, or the error code.
    pub status: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The stored analysis (`GET /v1/analyses/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_id: Option<String>,
    /// The answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
    /// The first evidence lines, as `time pod: text`.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// The analysis's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// A link to the trace (from `[server] trace_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
    /// The alert, for investigations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertInfo>,
}

/// `{trace_id}` in the template replaced by the id.
pub fn trace_link(template: Option<&str>, trace_id: Option<&str>) -> Option<String> {
    match (template, trace_id) {
        (Some(t), Some(id)) if !t.is_empty() => Some(t.replace("{trace_id}", id)),
        _ => None,
    }
}

impl Report {
    /// The report of a stored analysis.
    pub fn from_record(
        title: String,
        record: &AnalysisRecord,
        trace_url: Option<&str>,
        alert: Option<AlertInfo>,
    ) -> Self {
        let evidence_refs = match &record.finding {
            Some(f) if !f.evidence.is_empty() => f.evidence.clone(),
            _ => record.retrieved.clone(),
        };
        let evidence = evidence_refs
            .iter()
            .take(EVIDENCE_LINES)
            .map(|l| {
                let when = l
                    .timestamp
                    .map(|t| t.format("%H:%M:%S ").to_string())
                    .unwrap_or_default();
                let who = l
                    .labels
                    .get("pod")
                    .or_else(|| l.labels.get("container"))
                    .map(|p| format!("{p}: "))
                    .unwrap_or_default();
                clip(&format!("{when}{who}{}", l.text.trim()), LINE_CHARS)
            })
            .collect();
        Self {
            title,
            question: record.question.clone(),
            status: record.status.clone(),
            error: record.error.clone(),
            analysis_id: Some(record.id.clone()),
            finding: record.finding.clone(),
            evidence,
            trace_id: record.trace_id.clone(),
            trace_url: trace_link(trace_url, record.trace_id.as_deref()),
            alert,
        }
    }

    /// The report of a run that stored nothing (a bad request, or a database that was
    /// down): the error only.
    pub fn failed(title: String, question: String, code: &str, error: String) -> Self {
        Self {
            title,
            question,
            status: code.to_string(),
            error: Some(error),
            analysis_id: None,
            finding: None,
            evidence: Vec::new(),
            trace_id: None,
            trace_url: None,
            alert: None,
        }
    }

    /// The one-line text Slack shows in notifications (and where blocks cannot show).
    pub fn fallback_text(&self) -> String {
        match &self.finding {
            Some(f) => format!(
                "{} {}: {}",
                severity_mark(Some(f.diagnosis.severity)),
                escape(&self.title),
                escape(&clip(&f.diagnosis.root_cause, 300))
            ),
            None => format!(
                "{} {}: investigation failed ({})",
                severity_mark(None),
                escape(&self.title),
                escape(&self.status)
            ),
        }
    }

    /// Slack Block Kit blocks: header, severity/component/signature fields, root cause,
    /// action, evidence lines, and a context line with the analysis and trace.
    pub fn slack_blocks(&self) -> Vec<Value> {
        let mut blocks = vec![json!({
            "type": "header",
            "text": {"type": "plain_text", "text": clip(&self.title, 150), "emoji": true}
        })];
        match &self.finding {
            Some(f) => {
                blocks.push(json!({
                    "type": "section",
                    "fields": [
                        field("Severity", &format!("{} {}", severity_mark(Some(f.diagnosis.severity)), f.diagnosis.severity)),
                        field("Component", &escape(&clip(&f.diagnosis.component, 200))),
                        field("Error signature", &format!("`{}`", escape(&clip(&f.diagnosis.error_signature, 200)).replace('`', "'"))),
                        field("Confidence", &format!("{:.0}%", f.confidence * 100.0)),
                    ]
                }));
                blocks.push(section(&format!(
                    "*Root cause*\n{}",
                    escape(&clip(&f.diagnosis.root_cause, 1200))
                )));
                if !f.diagnosis.action.trim().is_empty() {
                    blocks.push(section(&format!(
                        "*Action*\n{}",
                        escape(&clip(&f.diagnosis.action, 1200))
                    )));
                }
            }
            None => blocks.push(section(&format!(
                "*Investigation failed* (`{}`)\n{}",
                escape(&self.status),
                escape(&clip(self.error.as_deref().unwrap_or(""), 1200))
            ))),
        }
        if !self.evidence.is_empty() {
            let lines = self
                .evidence
                .iter()
                .map(|l| escape(l).replace("```", "'''"))
                .collect::<Vec<_>>()
                .join("\n");
            blocks.push(section(&clip(&format!("*Evidence*\n```{lines}```"), 2900)));
        }
        let mut context = Vec::new();
        if let Some(a) = &self.alert {
            if let Some(t) = a.resolved_at {
                context.push(format!("resolved {}", t.format("%Y-%m-%d %H:%M UTC")));
            }
            if let Some(t) = a.starts_at {
                context.push(format!("firing since {}", t.format("%Y-%m-%d %H:%M UTC")));
            }
        }
        if let Some(id) = &self.analysis_id {
            context.push(format!("analysis `{id}`"));
        }
        match (&self.trace_url, &self.trace_id) {
            (Some(url), _) => context.push(format!("<{}|trace>", escape(url))),
            (None, Some(id)) => context.push(format!("trace `{id}`")),
            (None, None) => {}
        }
        if !context.is_empty() {
            blocks.push(json!({
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": context.join(" · ")}]
            }));
        }
        blocks
    }

    /// The generic webhook's body: the report itself, with a type and version so a
    /// receiver can tell what it got.
    pub fn webhook_body(&self) -> Value {
        json!({ "type": "loglens.report", "version": 1, "report": self })
    }
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn severity_mark(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Critical) => ":red_circle:",
        Some(Severity::Error) => ":large_orange_circle:",
        Some(Severity::Warn) => ":large_yellow_circle:",
        Some(Severity::Info) => ":large_blue_circle:",
        None => ":warning:",
    }
}

/// Slack's three control characters escaped, so untrusted text cannot mention
/// `@channel`, link elsewhere or break the formatting.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(root_cause: &str, evidence: Vec<String>) -> Report {
        let finding: Finding = serde_json::from_value(json!({
            "root_cause": root_cause,
            "severity": "CRITICAL",
            "component": "redis-cart",
            "error_signature": "Can't access cart storage",
            "summary": "s",
            "action": "Restart <redis>",
            "evidence": [],
            "confidence": 0.8
        }))
        .unwrap();
        Report {
            title: "CartErrors".into(),
            question: "q".into(),
            status: "ok".into(),
            error: None,
            analysis_id: Some("a1".into()),
            finding: Some(finding),
            evidence,
            trace_id: Some("t1".into()),
            trace_url: trace_link(Some("https://grafana/explore?trace={trace_id}"), Some("t1")),
            alert: None,
        }
    }

    #[test]
    fn untrusted_text_cannot_ping_or_link() {
        let r = report(
            "<!channel> see <https://evil.example|here> & pay",
            vec!["14:50:01 cart: <!here> ```".into()],
        );
        let all = serde_json::to_string(&r.slack_blocks()).unwrap() + &r.fallback_text();
        assert!(!all.contains("<!channel>"), "{all}");
        assert!(!all.contains("<!here>"), "{all}");
        assert!(!all.contains("<https://evil"), "{all}");
        assert!(all.contains("&lt;!channel&gt;"));
        assert!(all.contains("&amp; pay"));
        // The trace link (configured by the operator) stays a link.
        assert!(
            all.contains("<https://grafana/explore?trace=t1|trace>"),
            "{all}"
        );
    }

    #[test]
    fn blocks_carry_every_part_of_the_finding() {
        let r = report("Redis is out of memory", vec!["line one".into()]);
        let text = serde_json::to_string(&r.slack_blocks()).unwrap();
        for part in [
            "CartErrors",
            "CRITICAL",
            "redis-cart",
            "Can't access cart storage",
            "Redis is out of memory",
            "Restart &lt;redis&gt;",
            "line one",
            "analysis `a1`",
            "80%",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        assert_eq!(
            r.webhook_body()["report"]["finding"]["component"],
            "redis-cart"
        );
    }

    #[test]
    fn a_failed_report_says_why() {
        let r = Report::failed("X".into(), "q".into(), "model_unavailable", "down".into());
        let text = serde_json::to_string(&r.slack_blocks()).unwrap();
        assert!(text.contains("Investigation failed"));
        assert!(text.contains("model_unavailable"));
        assert!(r.fallback_text().contains("failed"));
    }
}
