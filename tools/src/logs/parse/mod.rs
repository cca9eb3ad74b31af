//! Parsing of the local log formats: JSON lines, plain `kubectl logs` output (with or
//! without `--timestamps`, and the CRI format the kubelet writes under `/var/log/pods`),
//! and Loki `query_range` JSON exports.
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

pub(crate) use super::view::Parsed;
use super::view::{LineLabels, LineView};

/// The canonical name of a label key, for the aliases different shippers use
/// (`pod_name`, `k8s_pod_name`, `kubernetes_namespace_name`, ...). `None` for keys that
/// are not labels loglens knows.
pub fn canonical_label(key: &str) -> Option<&'static str> {
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

/// Parses the time formats found in logs: RFC 3339 (any precision, `Z` or offset),
/// `YYYY-MM-DD HH:MM:SS[.fff]` (taken as UTC) and epoch numbers in s, ms, us or ns.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        return epoch(n);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    None
}

/// A "how far back" duration as users and models write it: `15m`, `1h`, `2d`, `1h30m`
/// (humantime's syntax). `None` for anything else, zero, or a span longer than
/// [`MAX_SINCE_DAYS`] (no log store keeps more, and a longer one could not be subtracted
/// from a time: `9999999999h` is a request, not a window).
pub fn parse_since(s: &str) -> Option<chrono::Duration> {
    let d = humantime::parse_duration(s.trim()).ok()?;
    chrono::Duration::from_std(d)
        .ok()
        .filter(|d| *d > chrono::Duration::zero() && *d <= chrono::Duration::days(MAX_SINCE_DAYS))
}

/// The longest "how far back" span accepted: 100 years.
pub const MAX_SINCE_DAYS: i64 = 36_500;

/// `t - d`, or `None` where that falls outside the times chrono can hold.
pub fn time_before(t: DateTime<Utc>, d: chrono::Duration) -> Option<DateTime<Utc>> {
    t.checked_sub_signed(d)
}

fn epoch(n: i64) -> Option<DateTime<Utc>> {
    // Pick the unit by magnitude: seconds until year ~5138, then ms, us, ns. Every unit
    // conversion is checked: a line's number is untrusted and may be anything.
    match n {
        0..=99_999_999_999 => Utc.timestamp_opt(n, 0).single(),
        100_000_000_000..=99_999_999_999_999 => Utc.timestamp_millis_opt(n).single(),
        100_000_000_000_000..=99_999_999_999_999_999 => DateTime::from_timestamp_micros(n),
        n if n > 0 => Some(Utc.timestamp_nanos(n)),
        _ => None,
    }
}

fn value_timestamp(v: &Field<'_>) -> Option<DateTime<Utc>> {
    match v {
        Field::Str(s) => parse_timestamp(s),
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
    let Some(canon) = canonical_label(key) else {
        return;
    };
    let value = match value {
        Field::Str(s) => s.clone(),
        Field::Num(n) => Cow::Owned(n.to_string()),
        _ => return,
    };
    labels.put(canon, value);
}

const TIME_KEYS: [&str; 6] = ["timestamp", "ts", "time", "@timestamp", "date", "T"];
const TEXT_KEYS: [&str; 2] = ["line", "log"];

/// Whether [`json_view`] reads a top-level field: a time, the text of an
/// envelope, nested labels, or a label loglens knows.
fn is_read(key: &str) -> bool {
    TIME_KEYS.contains(&key)
        || TEXT_KEYS.contains(&key)
        || matches!(key, "labels" | "stream" | "kubernetes")
        || canonical_label(key).is_some()
}

/// A JSON value as a log line's fields need it, borrowed from the line where it can be
/// (a string without escapes): the file scan parses every matching line, and building
/// a `serde_json::Value` (an allocation per string, key and map) was most of its cost.
enum Field<'de> {
    Str(Cow<'de, str>),
    Num(serde_json::Number),
    /// An object's fields in document order (nested labels).
    Map(Vec<(Cow<'de, str>, Field<'de>)>),
    /// Anything else (a bool, null, an array): nothing reads it.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<Field<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Field<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Field<'a>, E> {
                Ok(Field::Num(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Field<'a>, E> {
                Ok(Field::Num(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Field<'a>, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Field::Other, Field::Num))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Field<'a>, E> {
                Ok(Field::Other)
            }
            fn visit_unit<E>(self) -> Result<Field<'a>, E> {
                Ok(Field::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Field<'a>, A::Error> {
                // Nested objects are read for their labels only.
                read_object(m, |k| canonical_label(k).is_some()).map(Field::Map)
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

impl<'a> Field<'a> {
    /// The string, borrowed from the line where it was.
    fn as_cow(&self) -> Option<Cow<'a, str>> {
        match self {
            Field::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// An object key, borrowed from the line unless it has escapes (serde's own `Cow`
/// always copies).
struct Key<'de>(Cow<'de, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<Key<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visit(std::marker::PhantomData))
    }
}

/// The fields of an object whose key passes `keep`, in document order; a field nothing
/// reads (a message, a payload) is skipped, not built. A repeated key keeps its first
/// place and takes its last value, as in `serde_json::Map`. `keep` passes a bounded set
/// of names, so the list stays short whatever the line (a hostile one can repeat a key
/// thousands of times).
fn read_object<'de: 'a, 'a, A: MapAccess<'de>>(
    mut m: A,
    keep: fn(&str) -> bool,
) -> Result<Vec<(Cow<'a, str>, Field<'a>)>, A::Error> {
    let mut fields: Vec<(Cow<'a, str>, Field<'a>)> = Vec::new();
    while let Some(Key(k)) = m.next_key()? {
        if !keep(&k) {
            m.next_value::<IgnoredAny>()?;
            continue;
        }
        let v: Field<'a> = m.next_value()?;
        match fields.iter().position(|(f, _)| *f == k) {
            Some(i) => fields[i].1 = v,
            None => fields.push((k, v)),
        }
    }
    Ok(fields)
}

/// A JSON object's top-level fields that [`json_view`] reads ([`is_read`]), in
/// document order: no hash map to build for the few keys a log line has, and no value
/// built for the rest. A repeated key keeps its first place and its last value, as in
/// `serde_json::Map`.
struct Fields<'de>(Vec<(Cow<'de, str>, Field<'de>)>);

impl<'de> Fields<'de> {
    fn get(&self, key: &str) -> Option<&Field<'de>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &Field<'de>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<Fields<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Fields<'a>, A::Error> {
                read_object(m, is_read).map(Fields)
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// Parses one JSON-lines record. Two shapes are understood:
/// - an envelope with the line in `line` (or `log`) and labels in `labels` (or `stream`),
///   as `logcli --output=jsonl` and Alloy/Fluent Bit write it;
/// - an application's own JSON log line: the whole object is the text, its time comes
///   from `timestamp`/`ts`/`time`/..., and top-level label-like keys become labels.
///
/// Returns `None` when the text is not a JSON object. The view borrows from `raw`
/// ([`LineView::into_parsed`] gives the owned line).
pub(crate) fn json_view(raw: &str) -> Option<LineView<'_>> {
    let obj: Fields = serde_json::from_str(raw).ok()?;
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
        if canonical_label(k).is_some_and(|c| c != "level") {
            put_label(&mut labels, k, v);
        }
    }
    Some(LineView {
        text: Cow::Borrowed(raw),
        timestamp,
        labels,
    })
}

/// Parses one plain line: `kubectl logs` output (optionally `--timestamps`, which puts an
/// RFC 3339 time and a space in front) or the CRI format (`TIME stdout|stderr F|P text`).
/// The view borrows from `raw`.
pub(crate) fn plain_view(raw: &str) -> LineView<'_> {
    let mut labels = LineLabels::default();
    if let Some((first, rest)) = raw.split_once(' ')
        && first.len() >= 20
        && first.as_bytes().get(4) == Some(&b'-')
        && let Some(ts) = parse_timestamp(first)
    {
        // CRI: "2024-01-01T00:00:00.000Z stdout F message"
        let mut parts = rest.splitn(3, ' ');
        if let (Some(stream @ ("stdout" | "stderr")), Some("F" | "P"), Some(text)) =
            (parts.next(), parts.next(), parts.next())
        {
            labels.put("stream", Cow::Borrowed(stream));
            return LineView {
                text: Cow::Borrowed(text),
                timestamp: Some(ts),
                labels,
            };
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
