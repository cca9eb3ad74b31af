//! The steps every scanned line goes through, shared by the file source's two scan paths
//! (the plain reader in [`super::file`] and the byte prefilter in [`super::prefilter`]):
//! decode and parse a raw line, attach the file's labels, apply the filter. Both paths
//! calling the same steps is what keeps their results the same.
use std::collections::BTreeMap;

use super::parse::{self, Parsed};
use super::{LogFilter, LogLine};

/// One raw line as both scan paths read it: lossily decoded, `\r` trimmed, parsed as JSON
/// when it looks like JSON and as plain text otherwise. `None` for a blank line.
pub(crate) fn parse_raw(bytes: &[u8]) -> Option<Parsed> {
    let raw = String::from_utf8_lossy(bytes);
    let raw = raw.trim_end_matches('\r');
    if raw.trim().is_empty() {
        return None;
    }
    Some(if raw.starts_with('{') {
        parse::parse_json_line(raw).unwrap_or_else(|| parse::parse_plain_line(raw))
    } else {
        parse::parse_plain_line(raw)
    })
}

/// The line's labels (its own, then the file's) and its stream key (the labels that
/// identify its stream, for inheriting times).
pub(crate) fn labelled(
    mut parsed: Parsed,
    base_labels: &BTreeMap<String, String>,
) -> (Parsed, BTreeMap<String, String>) {
    for (k, v) in base_labels {
        parsed.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let stream_key = parsed
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "stream")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (parsed, stream_key)
}

/// Applies the filter (and its LogQL) to a finished line.
pub(crate) fn accept(out: &mut Vec<LogLine>, filter: &LogFilter, line: LogLine) {
    if filter.matches_labels(&line)
        && filter.matches_time(line.timestamp)
        && filter.matches_text(&line.text)
    {
        match &filter.logql {
            None => out.push(line),
            Some(q) => out.extend(q.apply(&line)),
        }
    }
}
