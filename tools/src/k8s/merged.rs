//! [`MergedEventSource`]: several event sources read as one.
//!
//! In the cluster the Kubernetes API knows the present (pod status; events of the last
//! hour, which is all the API server keeps) and Loki the past (Alloy's
//! `loki.source.kubernetes_events` ships every event as it happens). Read together, an
//! answer gets both; an event both hold is folded into one, keeping the higher count and
//! the later time. A source that fails is left out with a warning while another answers;
//! only when every source fails is the first error returned.
use std::sync::Arc;

use async_trait::async_trait;

use super::{ClusterState, EventFilter, EventSource, K8sEvent, fold, rank};
use crate::ToolError;

/// Several sources as one.
#[derive(Clone)]
pub struct MergedEventSource {
    sources: Vec<Arc<dyn EventSource>>,
}

impl MergedEventSource {
    /// Reads all of `sources` (in this order for the description).
    pub fn new(sources: Vec<Arc<dyn EventSource>>) -> Self {
        Self { sources }
    }
}

#[async_trait]
impl EventSource for MergedEventSource {
    fn describe(&self) -> String {
        self.sources
            .iter()
            .map(|s| s.describe())
            .collect::<Vec<_>>()
            .join(" + ")
    }

    async fn events(&self, filter: &EventFilter) -> Result<Vec<K8sEvent>, ToolError> {
        let results =
            futures::future::join_all(self.sources.iter().map(|s| s.events(filter))).await;
        let mut all = Vec::new();
        let mut first_error = None;
        let mut answered = 0;
        for (source, r) in self.sources.iter().zip(results) {
            match r {
                Ok(events) => {
                    answered += 1;
                    all.extend(events);
                }
                Err(e) => {
                    tracing::warn!(source = %source.describe(), error = %e, "event source failed; using the others");
                    first_error.get_or_insert(e);
                }
            }
        }
        if answered == 0
            && let Some(e) = first_error
        {
            return Err(e);
        }
        let mut out = fold(all);
        rank(&mut out);
        Ok(out)
    }

    /// The first source's state that has one (the API's present before Loki's history).
    async fn state(&self, filter: &EventFilter) -> Result<Option<ClusterState>, ToolError> {
        for s in &self.sources {
            match s.state(filter).await {
                Ok(Some(state)) => return Ok(Some(state)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(source = %s.describe(), error = %e, "cluster state unavailable from this source");
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Result<Vec<K8sEvent>, &'static str>);

    #[async_trait]
    impl EventSource for Fixed {
        fn describe(&self) -> String {
            "fixed".into()
        }
        async fn events(&self, _: &EventFilter) -> Result<Vec<K8sEvent>, ToolError> {
            self.0
                .clone()
                .map_err(|e| ToolError::InvalidFilter(e.to_string()))
        }
    }

    fn event(reason: &str, count: u32, warning: bool) -> K8sEvent {
        K8sEvent {
            namespace: Some("shop".into()),
            kind: "Pod".into(),
            name: "api-1".into(),
            event_type: if warning { "Warning" } else { "Normal" }.into(),
            reason: reason.into(),
            message: format!("{reason} happened"),
            count,
            last_seen: None,
            age: None,
            source: None,
        }
    }

    #[tokio::test]
    async fn both_sources_are_read_and_shared_events_folded() {
        let api: Arc<dyn EventSource> = Arc::new(Fixed(Ok(vec![
            event("BackOff", 3, true),
            event("Pulled", 1, false),
        ])));
        let loki: Arc<dyn EventSource> = Arc::new(Fixed(Ok(vec![
            event("BackOff", 7, true),
            event("OOMKilling", 1, true),
        ])));
        let merged = MergedEventSource::new(vec![api, loki]);
        assert_eq!(merged.describe(), "fixed + fixed");
        let got = merged
            .events(&EventFilter::default())
            .await
            .unwrap_or_default();
        let seen: Vec<(&str, u32)> = got.iter().map(|e| (e.reason.as_str(), e.count)).collect();
        // Warnings first, most repeated first; BackOff once, with the higher count.
        assert_eq!(seen, vec![("BackOff", 7), ("OOMKilling", 1), ("Pulled", 1)]);
    }

    #[tokio::test]
    async fn a_failing_source_is_left_out_unless_all_fail() {
        let ok: Arc<dyn EventSource> = Arc::new(Fixed(Ok(vec![event("BackOff", 1, true)])));
        let down: Arc<dyn EventSource> = Arc::new(Fixed(Err("Loki is down")));
        let merged = MergedEventSource::new(vec![down.clone(), ok]);
        assert_eq!(
            merged
                .events(&EventFilter::default())
                .await
                .map(|e| e.len())
                .unwrap_or_default(),
            1
        );
        let all_down = MergedEventSource::new(vec![down.clone(), down]);
        let err = all_down
            .events(&EventFilter::default())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("Loki is down"), "{err}");
    }
}
