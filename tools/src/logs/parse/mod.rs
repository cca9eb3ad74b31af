//! Parsing of the local log formats: JSON lines, plain `kubectl logs` output (with or
//! without `--timestamps`, and the CRI format the kubelet writes under `/var/log/pods`),
//! and Loki `query_range` JSON exports.
use std::collections::BTreeMap;
use std::path::Path;

use std::borrow::Cow;

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use smallvec::SmallVec;

#[cfg(any(test, feature = "fuzzing"))]
use super::view::Facts;
pub(crate) use super::view::Parsed;
use super::view::{AppView, LineLabels, LineView};

mod json_fields;
mod json_scan;
mod time;

use json_fields::{Field, Fields};
pub(crate) use time::SecondMemo;
#[cfg(feature = "fuzzing")]
pub(crate) use time::check_time_readers;
use time::epoch;
pub use time::{MAX_SINCE_DAYS, parse_since, parse_timestamp, time_before};

/// What a scan remembers from one matching line to the next, to read the next faster
/// when it is like the last: the second its time fell in, the keys of an app's JSON line.
#[derive(Debug, Default)]
pub(crate) struct LineMemo {
    pub(crate) second: SecondMemo,
    keys: json_scan::KeyMemo,
}

/// The canonical name of a label key, for the aliases different shippers use
/// (`pod_name`, `k8s_pod_name`, `kubernetes_namespace_name`, ...). `None` for keys that
/// are not labels loglens knows.
pub fn canonical_label(key: &str) -> Option<&'static str> {
    // Most keys of a JSON line are none of these (a message, a caller, a trace id): their
    // length or first letter rules them out before any comparison.
    if !(3..=25).contains(&key.len())
        || !matches!(
            key.as_bytes()[0],
            b'n' | b'k' | b'p' | b'c' | b'h' | b'a' | b's' | b'j' | b'l' | b'd' | b'f'
        )
    {
        return None;
    }
    Some(match key {
        "namespace"
        | "namespace_name"
        | "k8s_namespace_name"
        | "kubernetes_namespace_name"
        | "k8s.namespace.name" => "namespace",
        "pod" | "pod_name" | "k8s_pod_name" | "kubernetes_pod_name" | "k8s.pod.name" => "pod",
        "container"
        | "container_name"
        | "k8s_container_name"
        | "kubernetes_container_name"
        | "k8s.container.name" => "container",
        "node" | "node_name" | "nodename" | "k8s_node_name" | "kubernetes_host" | "host"
        | "k8s.node.name" => "node",
        "app" | "app_kubernetes_io_name" | "service_name" | "service.name" | "job" => "app",
        "level" | "severity" | "detected_level" | "lvl" => "level",
        "stream" => "stream",
        "filename" => "filename",
        _ => return None,
    })
}

fn value_timestamp(v: &Field<'_>) -> Option<DateTime<Utc>> {
    value_timestamp_with(v, &mut SecondMemo::default())
}

/// [`value_timestamp`], with the last second read remembered ([`SecondMemo`]).
#[inline]
fn value_timestamp_with(v: &Field<'_>, memo: &mut SecondMemo) -> Option<DateTime<Utc>> {
    match v {
        Field::Str(s) => time::parse_timestamp_with(s, memo),
        Field::Num(n) => {
            if let Some(i) = n.as_i64() {
                epoch(i)
            } else {
                let f = n.as_f64()?;
                if !(0.0..1e11).contains(&f) {
                    return None;
                }
                Utc.timestamp_opt(f.trunc() as i64, ((f.fract()) * 1e9) as u32)
                    .single()
            }
        }
        _ => None,
    }
}

/// Puts `key=value` under the key's canonical name (the first value seen stays).
fn put_label<'a>(labels: &mut LineLabels<'a>, key: &str, value: &Field<'a>) {
    if let Some(canon) = canonical_label(key) {
        put_canonical(labels, canon, value);
    }
}

/// Puts `value` under the canonical label name `canon` (the first value seen stays).
fn put_canonical<'a>(labels: &mut LineLabels<'a>, canon: &'static str, value: &Field<'a>) {
    if let Some(value) = label_value(value) {
        labels.put(canon, value);
    }
}

/// A field's value as a label: a string, or a number written out; nothing else is one.
fn label_value<'a>(value: &Field<'a>) -> Option<Cow<'a, str>> {
    match value {
        Field::Str(s) => Some(s.clone()),
        Field::Num(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

const TIME_KEYS: [&str; 6] = ["timestamp", "ts", "time", "@timestamp", "date", "T"];
const TEXT_KEYS: [&str; 2] = ["line", "log"];

/// Whether [`json_view`] reads a top-level field: a time, the text of an
/// envelope, nested labels, or a label loglens knows.
fn is_read(key: &str) -> bool {
    // A label is read; any other key read starts with one of these letters, which rules
    // out most keys (a message, a caller, a trace id) before any comparison.
    canonical_label(key).is_some()
        || matches!(
            key.as_bytes().first(),
            Some(b't' | b'T' | b'@' | b'd' | b'l' | b's' | b'k')
        ) && (TIME_KEYS.contains(&key)
            || TEXT_KEYS.contains(&key)
            || matches!(key, "labels" | "stream" | "kubernetes"))
}

/// Parses one JSON-lines record. Two shapes are understood:
/// - an envelope with the line in `line` (or `log`) and labels in `labels` (or `stream`),
///   as `logcli --output=jsonl` and Alloy/Fluent Bit write it;
/// - an application's own JSON log line: the whole object is the text, its time comes
///   from `timestamp`/`ts`/`time`/..., and top-level label-like keys become labels.
///
/// Returns `None` when the text is not a JSON object. The view borrows from `raw`
/// ([`LineView::into_parsed`] gives the owned line).
#[inline]
pub(crate) fn json_view(raw: &str) -> Option<LineView<'_>> {
    // The fast reader for the common shapes; serde_json for the rest (same answer).
    let mut obj = Fields::default();
    if json_scan::read(raw, &mut obj).is_none() {
        obj = serde_json::from_str::<Fields>(raw).ok()?;
    }
    let mut labels = LineLabels::default();
    let timestamp = TIME_KEYS
        .iter()
        .find_map(|k| obj.get(k))
        .and_then(value_timestamp);
    let envelope_text = TEXT_KEYS
        .iter()
        .find_map(|k| obj.get(k).and_then(Field::as_cow));
    if let Some(text) = envelope_text {
        for key in ["labels", "stream", "kubernetes"] {
            if let Some(Field::Map(m)) = obj.get(key) {
                for (k, v) in m {
                    put_label(&mut labels, k, v);
                }
            }
        }
        for (k, v) in obj.iter() {
            if !TEXT_KEYS.contains(&k) {
                put_label(&mut labels, k, v);
            }
        }
        let text = match text {
            Cow::Borrowed(t) => Cow::Borrowed(t.trim_end_matches(['\n', '\r'])),
            Cow::Owned(t) => Cow::Owned(t.trim_end_matches(['\n', '\r']).to_string()),
        };
        return Some(LineView {
            text,
            timestamp,
            labels,
        });
    }
    for (k, v) in obj.iter() {
        // An app's "level" stays in the text; it is not a stream label.
        if let Some(canon) = canonical_label(k).filter(|c| *c != "level") {
            put_canonical(&mut labels, canon, v);
        }
    }
    Some(LineView {
        text: Cow::Borrowed(raw),
        timestamp,
        labels,
    })
}

/// [`json_view`] of an application's own JSON line, for a filter that reads only the
/// labels `wanted` (of the canonical ones; `level` is never an app line's label): the
/// same text and time, and of the labels only those, read without building the line's
/// other fields ([`json_scan::app_fields`]). `None` where `json_view`'s answer could
/// differ in those, and for a line without a time of its own (its time is inherited,
/// which the caller looks up): ask `json_view`. `memo` keeps the last second read and
/// the last app line's keys across the lines of a scan.
#[inline(always)]
pub(crate) fn app_json_view<'a>(
    raw: &'a str,
    wanted: &[&str],
    memo: &mut LineMemo,
) -> Option<AppView<'a>> {
    let mut labels = SmallVec::new();
    let time = json_scan::app_fields(raw, wanted, &mut memo.keys, |canon, value| {
        // As `put_canonical` puts it (once per name: `app_fields` hands each name once).
        if let Some(value) = label_value(value) {
            labels.push((canon, value));
        }
    })?;
    Some(AppView {
        text: raw,
        timestamp: value_timestamp_with(&time, &mut memo.second)?,
        labels,
    })
}

/// For the `log_line` fuzz target: panics where the fast JSON reader is sure of a line
/// and serde_json reads it differently (or not at all).
#[cfg(feature = "fuzzing")]
pub(crate) fn check_json_readers(raw: &str) {
    let mut fast = Fields::default();
    if json_scan::read(raw, &mut fast).is_some() {
        assert_eq!(
            Some(fast),
            serde_json::from_str::<Fields>(raw).ok(),
            "{raw:?}"
        );
    }
    // Twice with one memo: the second read finds the first one's keys remembered.
    let wanted = ["pod", "namespace", "filename", "stream", "level", "job"];
    let mut memo = LineMemo::default();
    let sure = check_app_view_with(raw, &wanted, &mut memo);
    assert_eq!(
        check_app_view_with(raw, &wanted, &mut memo),
        sure,
        "{raw:?}"
    );
}

/// Panics where [`app_json_view`] answers for `raw` and differs from [`json_view`] in
/// the text, the time or a `wanted` label. `true`: it answered.
#[cfg(test)]
pub(crate) fn check_app_view(raw: &str, wanted: &[&str]) -> bool {
    check_app_view_with(raw, wanted, &mut LineMemo::default())
}

/// [`check_app_view`] with `memo` kept from the lines read before, as a scan keeps it.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn check_app_view_with(raw: &str, wanted: &[&str], memo: &mut LineMemo) -> bool {
    let Some(app) = app_json_view(raw, wanted, memo) else {
        return false;
    };
    let full = json_view(raw);
    assert!(
        full.is_some(),
        "{raw:?}: read as an app line, not JSON to json_view"
    );
    let Some(full) = full else { return true };
    assert_eq!(app.text, full.text, "{raw:?}");
    assert_eq!(Some(app.timestamp), full.timestamp, "{raw:?}");
    for name in wanted {
        assert_eq!(app.own_label(name), full.labels.get(name), "{raw:?} {name}");
    }
    true
}

/// Parses one plain line: `kubectl logs` output (optionally `--timestamps`, which puts an
/// RFC 3339 time and a space in front) or the CRI format (`TIME stdout|stderr F|P text`).
/// The view borrows from `raw`.
#[cfg(test)]
pub(crate) fn plain_view(raw: &str) -> LineView<'_> {
    plain_view_with(raw, &mut SecondMemo::default())
}

/// [`plain_view`], with the last second read remembered ([`SecondMemo`]). The words are
/// found as bytes (a space is one byte in UTF-8, so every cut is at a character
/// boundary): `str::split_once(' ')` and `splitn` searched for the space as a
/// character, which the scan's profile showed as `memcmp` calls and a third of the
/// time spent on a plain line.
#[inline(always)]
pub(crate) fn plain_view_with<'a>(raw: &'a str, memo: &mut SecondMemo) -> LineView<'a> {
    let mut labels = LineLabels::default();
    if let Some(space) = memchr::memchr(b' ', raw.as_bytes())
        && space >= 20
        && raw.as_bytes().get(4) == Some(&b'-')
        && let Some(ts) = time::parse_timestamp_with(&raw[..space], memo)
    {
        let rest = &raw[space + 1..];
        // CRI: "2024-01-01T00:00:00.000Z stdout F message": the stream, one space, the
        // tag `F` or `P`, one space, the text (which may be empty).
        if let [s0, s1, s2, s3, s4, s5, b' ', b'F' | b'P', b' ', ..] = rest.as_bytes() {
            let stream = match [*s0, *s1, *s2, *s3, *s4, *s5] {
                [b's', b't', b'd', b'o', b'u', b't'] => Some("stdout"),
                [b's', b't', b'd', b'e', b'r', b'r'] => Some("stderr"),
                _ => None,
            };
            if let Some(stream) = stream {
                labels.put("stream", Cow::Borrowed(stream));
                return LineView {
                    text: Cow::Borrowed(&rest[9..]),
                    timestamp: Some(ts),
                    labels,
                };
            }
        }
        return LineView {
            text: Cow::Borrowed(rest),
            timestamp: Some(ts),
            labels,
        };
    }
    LineView {
        text: Cow::Borrowed(raw),
        timestamp: None,
        labels,
    }
}

/// Labels implied by the kubelet's log paths:
/// `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log` and
/// `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`.
pub(crate) fn labels_from_path(path: &Path) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    if let Some(i) = parts.iter().position(|p| *p == "pods")
        && parts.len() >= i + 4
    {
        let pod_dir: Vec<&str> = parts[i + 1].splitn(3, '_').collect();
        if pod_dir.len() == 3 {
            labels.insert("namespace".into(), pod_dir[0].to_string());
            labels.insert("pod".into(), pod_dir[1].to_string());
            labels.insert("container".into(), parts[i + 2].to_string());
        }
    } else if parts.contains(&"containers")
        && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
    {
        let f: Vec<&str> = stem.splitn(3, '_').collect();
        if f.len() == 3 {
            labels.insert("pod".into(), f[0].to_string());
            labels.insert("namespace".into(), f[1].to_string());
            let container = f[2].rsplit_once('-').map_or(f[2], |(c, _)| c);
            labels.insert("container".into(), container.to_string());
        }
    }
    labels
}

#[derive(Deserialize)]
struct LokiResponse<'a> {
    status: Option<String>,
    #[serde(borrow)]
    data: LokiData<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LokiData<'a> {
    result_type: String,
    #[serde(borrow)]
    result: Vec<LokiStream<'a>>,
}

#[derive(Deserialize)]
struct LokiStream<'a> {
    #[serde(borrow)]
    stream: BTreeMap<String, Field<'a>>,
    #[serde(borrow)]
    values: Vec<Vec<Field<'a>>>,
}

/// Parses a Loki `query_range` response (`resultType: streams`), as saved by
/// `curl .../loki/api/v1/query_range` or `logcli query --output=raw`.
pub(crate) fn parse_loki_export(bytes: &[u8]) -> Result<Vec<Parsed>, String> {
    let resp: LokiResponse = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if let Some(status) = &resp.status
        && status != "success"
    {
        return Err(format!("status is {status:?}, not \"success\""));
    }
    if resp.data.result_type != "streams" {
        return Err(format!(
            "resultType is {:?}; only log queries (\"streams\") hold lines",
            resp.data.result_type
        ));
    }
    let mut out = Vec::new();
    for s in resp.data.result {
        let mut labels = LineLabels::default();
        for (k, v) in &s.stream {
            put_label(&mut labels, k, v);
        }
        let labels = labels.into_map();
        for entry in s.values {
            let ts = entry.first().and_then(value_timestamp);
            let Some(text) = entry.get(1).and_then(Field::as_cow) else {
                return Err("a value is not a [timestamp, line] pair".into());
            };
            out.push(Parsed {
                text: text.into_owned(),
                timestamp: ts,
                labels: labels.clone(),
            });
        }
    }
    Ok(out)
}

/// Whether a file's opening bytes look like a Loki query response rather than JSON lines.
pub(crate) fn looks_like_loki_export(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head);
    let t = head.trim_start();
    t.starts_with('{')
        && t.contains("\"data\"")
        && (t.contains("\"resultType\"") || t.contains("\"status\""))
        && !t.lines().next().is_some_and(|l| l.contains("\"line\""))
}

#[cfg(test)]
mod tests;
