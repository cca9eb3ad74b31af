//! Structured retrieval: the lines a filter (LogQL on Loki, or the same filter over
//! files) selects, and the live warning events of that scope.
//!
//! Hybrid retrieval (`super::hybrid`) searches the same scope by meaning; both give the
//! evidence stage lines and events.
use std::collections::BTreeSet;

use loglens_tools::k8s::{EventFilter, EventSource, K8sEvent};
use loglens_tools::logs::{LogFilter, LogLine, LogSource};

/// The scope's warning events that still stand (a failure a later success settled is
/// dropped: `loglens_tools::k8s::settled`).
pub async fn live_warning_events(
    events: &dyn EventSource,
    filter: &LogFilter,
) -> Result<Vec<K8sEvent>, loglens_tools::ToolError> {
    let ef = EventFilter {
        namespace: filter.namespace.clone(),
        object: filter.pod.clone(),
        kind: None,
        warnings_only: true,
        since: filter.start,
    };
    loglens_tools::k8s::settled::live_warnings(events, &ef).await
}

/// The facts the lines and the cluster state show together
/// ([`loglens_tools::k8s::state_lines`]: a node whose Service traffic is not forwarded);
/// none when the source knows no state or cannot give it now.
pub async fn facts_from_lines(
    events: &dyn EventSource,
    filter: &LogFilter,
    lines: &[LogLine],
) -> Vec<K8sEvent> {
    let ef = EventFilter {
        namespace: filter.namespace.clone(),
        ..EventFilter::default()
    };
    match events.state(&ef).await {
        Ok(Some(state)) => loglens_tools::k8s::state_lines::from_lines(&state, lines),
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "cluster state unavailable; lines not joined with it");
            Vec::new()
        }
    }
}

/// Most troubled pods whose own recent lines are added to the evidence.
const TROUBLED_PODS: usize = 8;

/// Most recent lines added per troubled pod.
const TROUBLED_POD_LINES: usize = 20;

/// The lines `filter` selects.
///
/// - When none match its text filter and there are no warning events either, the scope
///   may still have lines: a healthy service, or a problem that logs no errors (slow calls
///   logged at INFO). Then the scope's lines without the text filter are the evidence, so
///   the answer can say so; the flag says this happened.
/// - A pod a warning event is about (a crash loop, a failed job's pod) whose lines the
///   text filter kept none of: its own last lines are added, unfiltered. A container that
///   exits at start often says why in words no error filter knows ("environment variable
///   DEPLOY_ENV is undefined").
pub async fn lines_in_scope(
    source: &dyn LogSource,
    filter: &LogFilter,
    warnings: &[K8sEvent],
) -> Result<(Vec<LogLine>, bool), loglens_tools::ToolError> {
    let mut lines = source.query(filter).await?;
    if filter.pattern.is_none() || filter.logql.is_some() {
        return Ok((lines, false));
    }
    if lines.is_empty() && warnings.is_empty() {
        let wider = LogFilter {
            pattern: None,
            ..filter.clone()
        };
        let lines = source.query(&wider).await?;
        let widened = !lines.is_empty();
        return Ok((lines, widened));
    }
    let seen: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l.label("pod").map(str::to_string))
        .collect();
    let mut troubled: Vec<&str> = Vec::new();
    for e in warnings {
        if e.kind.eq_ignore_ascii_case("pod")
            && !seen.contains(&e.name)
            && !troubled.contains(&e.name.as_str())
            && filter
                .pod
                .as_deref()
                .is_none_or(|p| loglens_tools::logs::in_workload(&e.name, p))
        {
            troubled.push(&e.name);
        }
    }
    for pod in troubled.into_iter().take(TROUBLED_PODS) {
        let own = LogFilter {
            pattern: None,
            pod: Some(pod.to_string()),
            ..filter.clone()
        };
        let mut found = source.query(&own).await?;
        let skip = found.len().saturating_sub(TROUBLED_POD_LINES);
        lines.extend(found.drain(skip..));
    }
    Ok((lines, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, name: &str, reason: &str) -> K8sEvent {
        K8sEvent {
            namespace: Some("default".into()),
            kind: kind.into(),
            name: name.into(),
            event_type: "Warning".into(),
            reason: reason.into(),
            message: String::new(),
            count: 3,
            last_seen: None,
            age: None,
            source: None,
        }
    }

    #[tokio::test]
    async fn a_troubled_pods_own_lines_join_the_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.jsonl");
        let line = |pod: &str, msg: &str| {
            format!(r#"{{"namespace":"default","pod":"{pod}","msg":"{msg}"}}"#)
        };
        let text = [
            line(
                "worker-7f9c8d6b5-abcde",
                "Environment variable DEPLOY_ENV is undefined",
            ),
            line("web-5d8f7c9b4-fghij", "GET /cart failed: upstream error"),
            line("web-5d8f7c9b4-fghij", "GET / 200"),
            line("quiet-6c7d8e9f0-klmno", "all good"),
        ]
        .join("\n");
        std::fs::write(&path, text).unwrap();
        let source = loglens_tools::logs::FileLogSource::new(vec![path]);
        let filter = LogFilter::errors();
        let crash = event("Pod", "worker-7f9c8d6b5-abcde", "BackOff");
        // The crash-looping pod's own line joins the error lines; a quiet pod's does not.
        let (lines, widened) = lines_in_scope(&source, &filter, std::slice::from_ref(&crash))
            .await
            .unwrap();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert!(!widened);
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("DEPLOY_ENV")), "{texts:?}");
        // A pod outside the filter's workload is not added.
        let only_web = LogFilter {
            pod: Some("web".into()),
            ..LogFilter::errors()
        };
        let (lines, _) = lines_in_scope(&source, &only_web, &[crash]).await.unwrap();
        assert_eq!(lines.len(), 1);
        // No error lines and no warnings: the scope's lines, flagged as widened.
        let quiet = LogFilter {
            pod: Some("quiet".into()),
            ..LogFilter::errors()
        };
        let (lines, widened) = lines_in_scope(&source, &quiet, &[]).await.unwrap();
        assert!(widened);
        assert_eq!(lines.len(), 1);
    }
}
