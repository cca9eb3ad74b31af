//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): every parser that
//! reads untrusted text, callable with arbitrary input. Each must return (an error is
//! fine); a panic, an overflow or a hang is a bug. See `docs/fuzzing.md`.
use serde_json::Value;

use crate::k8s::{ClusterState, current_events, recorded_events};

/// One raw log line, as the file reader parses it (JSON lines, logfmt, klog, CRI,
/// `kubectl logs --timestamps`), then its time and level words. Also differential
/// checks: the fast JSON and RFC 3339 readers must agree with serde_json and chrono
/// wherever they answer.
pub fn log_line(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        crate::logs::parse::check_json_readers(text);
        crate::logs::parse::check_time_readers(text);
    }
    if let Some(p) = crate::logs::line_steps::parse_raw(bytes) {
        let _ = p.timestamp.map(|t| t.timestamp_nanos_opt());
    }
    let text = String::from_utf8_lossy(bytes);
    let _ = crate::logs::parse_timestamp(&text);
    let _ = crate::logs::parse_since(&text);
    let _ = crate::redact::redact(&text);
    let _ = crate::injection::addresses_model(&text);
}

/// A Loki `query_range` export.
pub fn loki_export(bytes: &[u8]) {
    let _ = crate::logs::parse::parse_loki_export(bytes);
}

/// A LogQL query: parsed, then validated against a store's labels.
pub fn logql(text: &str) {
    if let Ok(q) = crate::logs::logql::parse(text) {
        let _ = q.validate(&crate::logs::logql::QueryPolicy {
            known_labels: vec!["namespace".into(), "pod".into(), "app".into()],
        });
    }
}

/// kubectl output: events as a table, `describe` text, JSON lists, and a recorded
/// cluster snapshot (the text under several commands), with its state facts.
pub fn kubectl(text: &str) {
    let _ = crate::k8s::parse_event_table(text, Some("shop"));
    let _ = crate::k8s::parse_describe_events(text, "Pod");
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let _ = crate::k8s::parse_event_list_json(&v);
        let _ = crate::k8s::parse_pod_list_json(&v);
        let _ = recorded_events(&[("kubectl get events -n shop -o json", &v)], true);
    }
    let state = ClusterState::from_recorded([
        ("kubectl get pods -n shop -o wide", text),
        ("kubectl get nodes", text),
        ("kubectl get deployments -n shop -o wide", text),
        ("kubectl get services -n shop -o wide", text),
        ("kubectl describe pods -n shop", text),
        ("kubectl describe nodes", text),
        ("kubectl describe services -n shop", text),
        ("kubectl get resourcequota -n shop", text),
        ("kubectl describe resourcequota -n shop", text),
        ("kubectl get pvc -n shop", text),
        ("kubectl get pv", text),
    ]);
    let events = crate::k8s::parse_event_table(text, Some("shop"));
    let _ = current_events(&state, events);
}
