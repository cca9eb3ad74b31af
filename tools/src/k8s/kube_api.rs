//! [`KubeEventSource`]: events and the cluster's current state from the Kubernetes API
//! (kube-rs).
//!
//! In the cluster loglens runs with a service account (`k8s/`: a ClusterRole that may
//! `get` and `list` events and the objects below, nothing else); elsewhere it uses the
//! current kubeconfig context (`KUBECONFIG` or `~/.kube/config`), as kubectl does. What
//! one call reads:
//! - events (`core/v1` Event), warnings only when asked (a field selector, so the API
//!   server filters), turned into [`K8sEvent`]s by the same parser as
//!   `kubectl get events -o json` files ([`parse_event_list_json`]);
//! - pods, whose status says what events may no longer hold (events expire after an
//!   hour): a container waiting in CrashLoopBackOff, its last termination (OOMKilled,
//!   exit code), restart counts, an unschedulable or evicted pod
//!   ([`parse_pod_list_json`], the parser of `kubectl get pods -o json` files);
//! - unless another kind is asked for, the rest of the snapshot: nodes, Deployments,
//!   StatefulSets, ReplicaSets, DaemonSets, Services, Endpoints, PersistentVolumeClaims,
//!   PersistentVolumes and ResourceQuotas. Serialized, the API's objects are what
//!   `kubectl get ... -o json` prints, so [`ClusterState::from_json`] reads them as it
//!   reads such a file, and the state's facts (a NotReady node, a Service that selects no
//!   pod, a Deployment scaled to zero, a full quota) join the events, with the events the
//!   state has superseded dropped ([`super::current_events`]). A kind the account may
//!   not list is left out of the snapshot (with a warning), not an error: the events
//!   and pods still answer.
//!
//! No Kubernetes API server installs on the machines the tests run on, so this backend's
//! own code is tested through the parsers it shares with the file backend (on real
//! kubectl output), and against a cluster by an ignored test that runs where one is
//! reachable (`LOGLENS_TEST_KUBECONFIG`, see `tools/tests/kube.rs`).
use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Endpoints, Event, Node, PersistentVolume, PersistentVolumeClaim, Pod, ResourceQuota, Service,
};
use kube::api::{Api, ListParams};
use kube::{Client, Config};
use serde_json::Value;

use super::parse::{parse_event_list_json, parse_pod_list_json};
use super::{ClusterState, EventFilter, EventSource, K8sEvent, rank};
use crate::ToolError;

/// Most objects of one kind read per call (the API server pages beyond this; events past
/// it are the oldest, which matter least).
const PAGE: u32 = 500;

/// Reads events and the cluster state from a Kubernetes API server.
#[derive(Clone)]
pub struct KubeEventSource {
    client: Client,
    cluster: String,
}

impl std::fmt::Debug for KubeEventSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeEventSource")
            .field("cluster", &self.cluster)
            .finish()
    }
}

fn config_error(what: &str, e: impl std::fmt::Display) -> ToolError {
    ToolError::Kubernetes {
        message: format!("{what}: {e}"),
        retryable: false,
    }
}

/// A failed API call: permission and not-found answers are final, the rest (timeouts,
/// 5xx, 429, connections) may pass.
fn api_error(what: &str, e: kube::Error) -> ToolError {
    let retryable = match &e {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        _ => true,
    };
    ToolError::Kubernetes {
        message: format!("{what}: {e}"),
        retryable,
    }
}

impl KubeEventSource {
    /// A source for the cluster the environment points at: the pod's service account in
    /// a cluster, else the current kubeconfig context.
    pub async fn infer() -> Result<Self, ToolError> {
        let config = Config::infer()
            .await
            .map_err(|e| config_error("no cluster configuration (in-cluster or kubeconfig)", e))?;
        Self::from_config(config)
    }

    /// A source for this configuration.
    pub fn from_config(config: Config) -> Result<Self, ToolError> {
        let cluster = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| config_error("client", e))?;
        Ok(Self { client, cluster })
    }

    /// One kind's objects in the filter's namespace (every namespace without one), as
    /// the API's JSON.
    async fn list<K>(&self, filter: &EventFilter, params: &ListParams) -> Result<Value, ToolError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = match &filter.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        read_list(api, params).await
    }

    /// One cluster-scoped kind's objects (nodes, volumes), as the API's JSON.
    async fn list_cluster<K>(&self, params: &ListParams) -> Result<Value, ToolError>
    where
        K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        read_list(Api::<K>::all(self.client.clone()), params).await
    }

    /// The objects besides events and pods that make the cluster snapshot, read side by
    /// side; a kind that cannot be listed is left out (see the module's notes).
    async fn snapshot_objects(&self, filter: &EventFilter) -> Vec<Value> {
        let p = ListParams::default().limit(PAGE);
        let lists = tokio::join!(
            self.list_cluster::<Node>(&p),
            self.list::<Deployment>(filter, &p),
            self.list::<StatefulSet>(filter, &p),
            self.list::<ReplicaSet>(filter, &p),
            self.list::<DaemonSet>(filter, &p),
            self.list::<Service>(filter, &p),
            self.list::<Endpoints>(filter, &p),
            self.list::<PersistentVolumeClaim>(filter, &p),
            self.list_cluster::<PersistentVolume>(&p),
            self.list::<ResourceQuota>(filter, &p),
        );
        [
            lists.0, lists.1, lists.2, lists.3, lists.4, lists.5, lists.6, lists.7, lists.8,
            lists.9,
        ]
        .into_iter()
        .filter_map(|list| match list {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "left out of the cluster snapshot");
                None
            }
        })
        .collect()
    }
}

async fn read_list<K>(api: Api<K>, params: &ListParams) -> Result<Value, ToolError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    K::DynamicType: Default,
{
    let list = api
        .list(params)
        .await
        .map_err(|e| api_error(&format!("listing {}", K::plural(&Default::default())), e))?;
    serde_json::to_value(&list.items).map_err(|e| config_error("reading the list", e))
}

/// The events still in force and the state's facts, from the API's lists (each an array
/// of objects as the API serializes them, kinds included).
fn with_state(events: Vec<K8sEvent>, lists: &[Value]) -> Vec<K8sEvent> {
    super::current_events(&snapshot(lists), events)
}

/// The cluster snapshot the API's lists make.
fn snapshot(lists: &[Value]) -> ClusterState {
    let items: Vec<Value> = lists
        .iter()
        .filter_map(Value::as_array)
        .flatten()
        .cloned()
        .collect();
    ClusterState::from_json(&Value::Array(items))
}

/// The field selector for events: warnings only when asked.
fn event_params(filter: &EventFilter) -> ListParams {
    let params = ListParams::default().limit(PAGE);
    if filter.warnings_only {
        params.fields("type=Warning")
    } else {
        params
    }
}

/// Whether pods are read too: they are only ever about pods.
fn wants_pods(filter: &EventFilter) -> bool {
    filter
        .kind
        .as_deref()
        .is_none_or(|k| k.eq_ignore_ascii_case("pod"))
}

#[async_trait]
impl EventSource for KubeEventSource {
    fn describe(&self) -> String {
        format!("the Kubernetes API at {}", self.cluster)
    }

    async fn events(&self, filter: &EventFilter) -> Result<Vec<K8sEvent>, ToolError> {
        let events = self.list::<Event>(filter, &event_params(filter)).await?;
        let mut out = parse_event_list_json(&events);
        if wants_pods(filter) {
            let pods = self
                .list::<Pod>(filter, &ListParams::default().limit(PAGE))
                .await?;
            out.extend(parse_pod_list_json(&pods));
            if filter.kind.is_none() {
                // The whole snapshot: pods (with the events, which mark them described)
                // and every other kind it reads.
                let mut lists = vec![events, pods];
                lists.extend(self.snapshot_objects(filter).await);
                out = with_state(out, &lists);
            }
        }
        out.retain(|e| filter.matches(e));
        rank(&mut out);
        Ok(out)
    }

    /// The snapshot the events call reads (events, pods and every other kind), as state.
    async fn state(&self, filter: &EventFilter) -> Result<Option<ClusterState>, ToolError> {
        let all = EventFilter {
            namespace: filter.namespace.clone(),
            ..EventFilter::default()
        };
        let events = self.list::<Event>(&all, &event_params(&all)).await?;
        let pods = self
            .list::<Pod>(&all, &ListParams::default().limit(PAGE))
            .await?;
        let mut lists = vec![events, pods];
        lists.extend(self.snapshot_objects(&all).await);
        let state = snapshot(&lists);
        Ok((!state.is_empty()).then_some(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_selected_by_the_api_server() {
        let f = EventFilter {
            warnings_only: true,
            ..EventFilter::default()
        };
        assert_eq!(
            event_params(&f).field_selector.as_deref(),
            Some("type=Warning")
        );
        assert!(
            event_params(&EventFilter::default())
                .field_selector
                .is_none()
        );
        assert_eq!(event_params(&f).limit, Some(PAGE));
    }

    #[test]
    fn pods_are_read_unless_another_kind_is_asked_for() {
        assert!(wants_pods(&EventFilter::default()));
        let kind = |k: &str| EventFilter {
            kind: Some(k.into()),
            ..EventFilter::default()
        };
        assert!(wants_pods(&kind("Pod")));
        assert!(!wants_pods(&kind("Node")));
    }

    #[test]
    fn api_objects_serialize_to_what_the_parsers_read() {
        // kube-rs hands back typed objects; serialized, they are the API's JSON, which is
        // what `kubectl get ... -o json` prints and the parsers were tested on.
        let event: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "api.1", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": "api-7d9f-x1", "namespace": "shop"},
            "type": "Warning", "reason": "BackOff", "count": 12,
            "message": "Back-off restarting failed container server",
            "lastTimestamp": "2025-06-01T10:00:00Z",
            "source": {"component": "kubelet"}
        }))
        .unwrap_or_else(|e| unreachable!("{e}"));
        let v = serde_json::to_value(vec![event]).unwrap_or_default();
        let e = parse_event_list_json(&v);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].reason, "BackOff");
        assert_eq!(e[0].count, 12);
        assert!(e[0].last_seen.is_some());

        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "api-7d9f-x1", "namespace": "shop"},
            "status": {"containerStatuses": [{
                "name": "server", "restartCount": 3, "ready": false, "image": "api:1",
                "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
            }]}
        }))
        .unwrap_or_else(|e| unreachable!("{e}"));
        let v = serde_json::to_value(vec![pod]).unwrap_or_default();
        let reasons: Vec<String> = parse_pod_list_json(&v)
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, vec!["CrashLoopBackOff", "OOMKilled"]);
    }

    /// One kind's list as kube-rs hands it over: typed objects read from the API's JSON
    /// (whose list items carry no `kind`), serialized back.
    fn typed<K: serde::de::DeserializeOwned + serde::Serialize>(items: Value) -> Value {
        let objects: Vec<K> = serde_json::from_value(items).unwrap_or_else(|e| unreachable!("{e}"));
        serde_json::to_value(objects).unwrap_or_default()
    }

    #[test]
    fn the_api_objects_make_the_cluster_snapshot_and_its_facts() {
        use serde_json::json;
        let pods = typed::<Pod>(json!([{
            "metadata": {"name": "web-5d8f7c9b4-fghij", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"nodeName": "worker-01", "containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "web", "ready": true, "restartCount": 0, "image": "web:1", "imageID": "",
                "state": {"running": {}}
            }]}
        }]));
        let nodes = typed::<Node>(json!([{
            "metadata": {"name": "worker-01"},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown",
                "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}
        }]));
        let deployments = typed::<Deployment>(json!([{
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "template": {}},
            "status": {}
        }]));
        let services = typed::<Service>(json!([{
            "metadata": {"name": "cart", "namespace": "shop"},
            "spec": {"clusterIP": "10.43.0.9", "selector": {"app": "kart"},
                "ports": [{"port": 7070, "targetPort": 7070, "protocol": "TCP"}]}
        }]));
        let endpoints =
            typed::<Endpoints>(json!([{"metadata": {"name": "cart", "namespace": "shop"}}]));
        for list in [&pods, &nodes, &deployments, &services, &endpoints] {
            assert!(
                list[0]["kind"].is_string(),
                "kube-rs objects serialize their kind: {list}"
            );
        }
        let before = vec![K8sEvent {
            namespace: Some("shop".into()),
            kind: "Pod".into(),
            name: "web-5d8f7c9b4-fghij".into(),
            reason: "Unhealthy".into(),
            message: "Readiness probe failed: connection refused".into(),
            event_type: "Warning".into(),
            count: 3,
            last_seen: None,
            age: None,
            source: Some("kubelet".into()),
        }];
        let out = with_state(
            before,
            &[json!([]), pods, nodes, deployments, services, endpoints],
        );
        let facts: Vec<(&str, &str, &str)> = out
            .iter()
            .map(|e| (e.kind.as_str(), e.name.as_str(), e.reason.as_str()))
            .collect();
        assert!(
            out.iter().all(|e| e.reason != "Unhealthy"),
            "a probe warning on a pod that is healthy now is superseded: {facts:?}"
        );
        assert!(
            facts.iter().any(|f| f.0 == "Node" && f.1 == "worker-01"),
            "{facts:?}"
        );
        assert!(
            facts.iter().any(|f| f.0 == "Service" && f.1 == "cart"),
            "{facts:?}"
        );
        assert!(out.iter().all(K8sEvent::is_state), "{facts:?}");
    }
}
