//! Chunking: which pieces of log text get an embedding.
//!
//! A *chunk* is the unit the vector index stores and semantic search returns. Two modes:
//! - **line**: one line with its metadata; precise, one vector per distinct message;
//! - **window**: `n` consecutive lines of one stream embedded together, so a message is
//!   read with its neighbours (a stack trace, a retry loop around an error).
//!
//! Either way, lines of the same *pattern* (the message with its numbers, ids and
//! addresses masked) in the same stream and hour are **collapsed** into one chunk that
//! counts its repeats: a flood of one message gets one vector, not ten thousand, and
//! cannot crowd the rest out of a top-k search.
//!
//! Chunk ids are content hashes of stream, time bucket and text, so indexing the same
//! logs twice stores nothing new (`loglens index` is idempotent and resumable).
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loglens_tools::budget::message_shape;
use loglens_tools::embed::content_id;
use loglens_tools::logs::LogLine;
use loglens_tools::redact::redact;
use loglens_tools::vector::Chunk;
use regex::Regex;
use std::sync::LazyLock;

use crate::evidence::signatures::workload;

/// How lines become chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkMode {
    /// One line per chunk.
    Line,
    /// Up to this many consecutive lines of one stream per chunk.
    Window(usize),
}

impl std::str::FromStr for ChunkMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "line" => Ok(ChunkMode::Line),
            w => match w.strip_prefix("window:").map(str::parse::<usize>) {
                Some(Ok(n)) if (2..=50).contains(&n) => Ok(ChunkMode::Window(n)),
                _ => Err(format!(
                    "chunking must be `line` or `window:N` with N in 2..=50, got {s:?}"
                )),
            },
        }
    }
}

impl std::fmt::Display for ChunkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkMode::Line => f.write_str("line"),
            ChunkMode::Window(n) => write!(f, "window:{n}"),
        }
    }
}

/// Chunking settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkConfig {
    /// Line or window.
    pub mode: ChunkMode,
    /// Collapse lines of one pattern (per stream and hour) into one chunk.
    pub collapse: bool,
    /// Longest line text embedded, in characters.
    pub max_line_chars: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            mode: ChunkMode::Line,
            collapse: true,
            max_line_chars: 400,
        }
    }
}

/// A chunk and the lines it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunked {
    /// The chunk as stored.
    pub chunk: Chunk,
    /// Indexes into the input of the lines embedded in it, first line first.
    pub lines: Vec<usize>,
    /// Indexes of the lines collapsed into it (same pattern, not embedded).
    pub collapsed: Vec<usize>,
}

static LEVEL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(?:\b|level[=:"\s]+|^)(fatal|panic|crit(?:ical)?|err(?:or)?|warn(?:ing)?|info|debug|trace)\b"#,
    )
    .ok()
});

/// The severity a line states (`error`, `warn`, `info`, `debug`, `fatal`), from a
/// `level`/`detected_level` label or the first level word in its head.
pub fn severity(line: &LogLine) -> Option<String> {
    if let Some(l) = line.label("level").or_else(|| line.label("detected_level")) {
        return normalize_level(l);
    }
    let head: String = line.text.chars().take(160).collect();
    // klog: "E1120 10:00:00.000000 ..." / "W1120 ...".
    let b = head.as_bytes();
    if b.len() > 5 && b[1..5].iter().all(u8::is_ascii_digit) {
        match b[0] {
            b'E' => return Some("error".into()),
            b'W' => return Some("warn".into()),
            b'I' => return Some("info".into()),
            b'F' => return Some("fatal".into()),
            _ => {}
        }
    }
    let re = LEVEL.as_ref()?;
    re.captures(&head)
        .and_then(|c| c.get(1))
        .and_then(|m| normalize_level(m.as_str()))
}

fn normalize_level(l: &str) -> Option<String> {
    let l = l.to_ascii_lowercase();
    let s = match l.as_str() {
        "fatal" | "panic" | "crit" | "critical" | "emerg" | "alert" => "fatal",
        "err" | "error" | "eror" => "error",
        "warn" | "warning" => "warn",
        "info" | "notice" | "information" => "info",
        "debug" | "trace" | "dbug" => "debug",
        _ => return None,
    };
    Some(s.into())
}

/// The id of a message's pattern: its shape (numbers, ids, addresses masked), hashed.
pub fn pattern_id(text: &str) -> String {
    format!("{:016x}", content_id(&[&message_shape(text)]) as u64)
}

fn stream_key(l: &LogLine) -> String {
    let mut k = String::new();
    for name in ["namespace", "pod", "container", "node"] {
        k.push_str(l.label(name).unwrap_or(""));
        k.push('|');
    }
    if k == "||||" {
        k.push_str(&l.source);
    }
    k
}

fn hour(t: Option<DateTime<Utc>>) -> i64 {
    t.map(|t| t.timestamp() / 3600).unwrap_or(-1)
}

fn base_chunk(l: &LogLine, text: String, lines: u32) -> Chunk {
    let pod = l.label("pod").map(str::to_string);
    Chunk {
        id: 0,
        text,
        timestamp: l.timestamp,
        namespace: l.label("namespace").map(str::to_string),
        workload: pod.as_deref().map(workload),
        pod,
        container: l.label("container").map(str::to_string),
        node: l.label("node").map(str::to_string),
        severity: severity(l),
        pattern: pattern_id(&l.text),
        source: l.source.clone(),
        line_no: l.line_no,
        lines,
        repeats: 0,
    }
}

/// The text embedded for one line: its stream's name, then the message (secrets masked,
/// clipped). The stream name carries meaning ("postgres", "ingress") the message may lack.
fn line_text(l: &LogLine, max_chars: usize) -> String {
    let msg: String = redact(&l.text).chars().take(max_chars).collect();
    format!("{}: {}", l.stream_name(), msg.trim())
}

/// Cuts `lines` into chunks. Lines should be in time order (as every source returns them).
pub fn chunk_lines(lines: &[LogLine], cfg: &ChunkConfig) -> Vec<Chunked> {
    // Collapse first: the first line of each (stream, pattern, hour) stands for the rest.
    let mut keep: Vec<usize> = Vec::with_capacity(lines.len());
    let mut collapsed: HashMap<usize, Vec<usize>> = HashMap::new();
    if cfg.collapse {
        let mut first: HashMap<(String, String, i64), usize> = HashMap::new();
        for (i, l) in lines.iter().enumerate() {
            let key = (stream_key(l), message_shape(&l.text), hour(l.timestamp));
            match first.get(&key) {
                Some(&j) => collapsed.entry(j).or_default().push(i),
                None => {
                    first.insert(key, i);
                    keep.push(i);
                }
            }
        }
    } else {
        keep.extend(0..lines.len());
    }

    let mut out = Vec::new();
    match cfg.mode {
        ChunkMode::Line => {
            for i in keep {
                let l = &lines[i];
                let text = line_text(l, cfg.max_line_chars);
                let folded = collapsed.remove(&i).unwrap_or_default();
                let mut chunk = base_chunk(l, text, 1);
                chunk.repeats = folded.len() as u32;
                chunk.id = content_id(&[
                    &stream_key(l),
                    &hour(l.timestamp).to_string(),
                    &message_shape(&l.text),
                ]);
                out.push(Chunked {
                    chunk,
                    lines: vec![i],
                    collapsed: folded,
                });
            }
        }
        ChunkMode::Window(n) => {
            // Group the kept lines by stream, in order, then cut each into windows.
            let mut streams: Vec<(String, Vec<usize>)> = Vec::new();
            let mut at: HashMap<String, usize> = HashMap::new();
            for i in keep {
                let k = stream_key(&lines[i]);
                let slot = *at.entry(k.clone()).or_insert_with(|| {
                    streams.push((k, Vec::new()));
                    streams.len() - 1
                });
                streams[slot].1.push(i);
            }
            for (key, members) in streams {
                for w in members.chunks(n.max(1)) {
                    let first = &lines[w[0]];
                    let mut texts = Vec::with_capacity(w.len());
                    let mut folded = Vec::new();
                    for &i in w {
                        let extra = collapsed.remove(&i).unwrap_or_default();
                        let mut t: String = redact(&lines[i].text)
                            .chars()
                            .take(cfg.max_line_chars)
                            .collect();
                        if !extra.is_empty() {
                            t.push_str(&format!(" (x{})", extra.len() + 1));
                        }
                        texts.push(t.trim().to_string());
                        folded.extend(extra);
                    }
                    let text = format!("{}: {}", first.stream_name(), texts.join("\n"));
                    let mut chunk = base_chunk(first, text, w.len() as u32);
                    chunk.repeats = folded.len() as u32;
                    // The window's most severe line names its severity.
                    chunk.severity = w
                        .iter()
                        .filter_map(|&i| severity(&lines[i]))
                        .min_by_key(|s| severity_rank(s));
                    chunk.id = content_id(&[
                        &key,
                        &first
                            .timestamp
                            .map(|t| t.timestamp_millis().to_string())
                            .unwrap_or_else(|| first.line_no.to_string()),
                        &chunk.text,
                    ]);
                    out.push(Chunked {
                        chunk,
                        lines: w.to_vec(),
                        collapsed: folded,
                    });
                }
            }
        }
    }
    out
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "fatal" => 0,
        "error" => 1,
        "warn" => 2,
        "info" => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn line(n: u64, pod: &str, min: i64, text: &str) -> LogLine {
        LogLine {
            source: "f.log".into(),
            line_no: n,
            timestamp: Some(
                Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
                    + chrono::Duration::minutes(min),
            ),
            labels: BTreeMap::from([
                ("namespace".to_string(), "shop".to_string()),
                ("pod".to_string(), pod.to_string()),
                ("container".to_string(), "app".to_string()),
            ]),
            text: text.into(),
            truncated_bytes: 0,
        }
    }

    #[test]
    fn a_flood_of_one_message_is_one_chunk() {
        let mut lines: Vec<LogLine> = (0..500)
            .map(|i| {
                line(
                    i,
                    "checkout-7d9f8b6c5-x2x9z",
                    0,
                    &format!("ERROR retry {i} to 10.0.0.{} failed", i % 200),
                )
            })
            .collect();
        lines.push(line(501, "checkout-7d9f8b6c5-x2x9z", 1, "WARN cache cold"));
        let chunks = chunk_lines(&lines, &ChunkConfig::default());
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].chunk.repeats, 499);
        assert_eq!(chunks[0].collapsed.len(), 499);
        assert_eq!(chunks[0].chunk.severity.as_deref(), Some("error"));
        assert_eq!(chunks[0].chunk.workload.as_deref(), Some("checkout"));
        assert_eq!(chunks[1].chunk.severity.as_deref(), Some("warn"));
        assert!(chunks[0].chunk.text.starts_with("app: ERROR retry"));
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let lines = vec![
            line(1, "a-0", 0, "ERROR one"),
            line(2, "a-0", 0, "ERROR two words"),
            line(3, "b-0", 0, "ERROR one"),
        ];
        let a = chunk_lines(&lines, &ChunkConfig::default());
        let b = chunk_lines(&lines, &ChunkConfig::default());
        assert_eq!(a, b);
        let ids: std::collections::HashSet<i64> = a.iter().map(|c| c.chunk.id).collect();
        assert_eq!(ids.len(), 3, "another stream or message is another chunk");
    }

    #[test]
    fn windows_keep_to_one_stream() {
        let mut lines = Vec::new();
        for i in 0..7 {
            lines.push(line(i, "a-0", i as i64, &format!("step {i} of a")));
            lines.push(line(100 + i, "b-0", i as i64, &format!("b did thing {i}x")));
        }
        let cfg = ChunkConfig {
            mode: ChunkMode::Window(3),
            collapse: false,
            ..ChunkConfig::default()
        };
        let chunks = chunk_lines(&lines, &cfg);
        assert_eq!(
            chunks.len(),
            6,
            "7 lines per stream in windows of 3: 3+3+1, twice"
        );
        for c in &chunks {
            let pods: std::collections::BTreeSet<_> =
                c.lines.iter().map(|&i| lines[i].label("pod")).collect();
            assert_eq!(pods.len(), 1);
        }
        assert_eq!(chunks[0].chunk.lines, 3);
        assert!(chunks[0].chunk.text.contains("step 0 of a\nstep 1 of a"));
    }

    #[test]
    fn severity_from_label_klog_and_text() {
        let mut l = line(1, "p", 0, "E1120 10:00:00.000 1 reflector.go failed");
        assert_eq!(severity(&l).as_deref(), Some("error"));
        l.text = r#"{"level":"warning","msg":"slow"}"#.into();
        assert_eq!(severity(&l).as_deref(), Some("warn"));
        l.text = "all good".into();
        assert_eq!(severity(&l), None);
        l.labels.insert("level".into(), "ERROR".into());
        assert_eq!(severity(&l).as_deref(), Some("error"));
    }

    #[test]
    fn modes_parse() {
        assert_eq!("line".parse::<ChunkMode>(), Ok(ChunkMode::Line));
        assert_eq!("window:5".parse::<ChunkMode>(), Ok(ChunkMode::Window(5)));
        assert!("window:1".parse::<ChunkMode>().is_err());
        assert!("lines".parse::<ChunkMode>().is_err());
    }
}
