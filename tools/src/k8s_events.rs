//! The `k8s_events` tool: Kubernetes events for a namespace or object, warnings first.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ToolError;
use crate::k8s::{EventFilter, EventSource, K8sEvent};
use crate::redact::redact;
use crate::tool::Tool;

/// Arguments of `k8s_events`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sEventsArgs {
    /// Only this namespace.
    #[serde(default)]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    /// Only this object, or a workload's objects (`checkout` covers `checkout-7d9f-x1`).
    #[serde(default)]
    #[schemars(length(max = 253))]
    pub object: Option<String>,
    /// Only this kind: Pod, Node, Deployment, ReplicaSet, Job, PersistentVolumeClaim, ...
    #[serde(default)]
    #[schemars(length(max = 63))]
    pub kind: Option<String>,
    /// Only warnings (default true).
    #[serde(default)]
    pub warnings_only: Option<bool>,
    /// How far back, e.g. "1h" (sources that record times only).
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub since: Option<String>,
    /// Most events to return (default 30).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

/// The output of `k8s_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct K8sEventsOutput {
    /// The events, warnings first, then most repeated.
    pub events: Vec<K8sEvent>,
    /// How many more matched than were returned.
    pub omitted: usize,
}

/// `k8s_events` over an event source.
pub struct K8sEvents {
    source: Arc<dyn EventSource>,
}

impl K8sEvents {
    /// The tool over `source`.
    pub fn new(source: Arc<dyn EventSource>) -> Self {
        Self { source }
    }
}

#[async_trait]
impl Tool for K8sEvents {
    const NAME: &'static str = "k8s_events";
    type Args = K8sEventsArgs;
    type Output = K8sEventsOutput;

    fn description(&self) -> String {
        format!(
            "List Kubernetes events ({}), warnings first: OOMKilled, BackOff, FailedScheduling, Unhealthy probes, \
             image pull and mount failures. Filter by namespace, object (pod or workload name) and kind.",
            self.source.describe()
        )
    }

    async fn call(&self, args: K8sEventsArgs) -> Result<K8sEventsOutput, ToolError> {
        let limit = crate::tool::limit(args.limit, 30, 200)?;
        let since = match &args.since {
            None => None,
            Some(s) => {
                let d = crate::logs::parse_since(s).ok_or_else(|| {
                    ToolError::InvalidQuery(format!(
                        "since {s:?} is not a duration such as 15m, 1h or 2d"
                    ))
                })?;
                Some(crate::logs::time_before(Utc::now(), d).ok_or_else(|| {
                    ToolError::InvalidQuery(format!("since {s:?} reaches before the earliest time"))
                })?)
            }
        };
        let filter = EventFilter {
            namespace: args.namespace,
            object: args.object,
            kind: args.kind,
            warnings_only: args.warnings_only.unwrap_or(true),
            since,
        };
        let mut events = self.source.events(&filter).await?;
        let omitted = events.len().saturating_sub(limit as usize);
        events.truncate(limit as usize);
        for e in &mut events {
            e.message = redact(&e.message).into_owned();
        }
        Ok(K8sEventsOutput { events, omitted })
    }
}
