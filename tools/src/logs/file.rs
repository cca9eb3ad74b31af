//! [`FileLogSource`]: the embedded default. Reads log files from disk, so loglens works
//! with nothing but a folder of logs.
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::line_steps::{Kept, accept, labels_read, parse_raw, stream_key, with_base_labels};
use super::parse::{self, Parsed};
use super::prefilter;
use super::{LogFilter, LogLine, LogSource, Newest};
use crate::ToolError;

/// Longest line kept whole by default; longer lines keep their first 64 KiB and record how
/// many bytes were dropped (`LogLine::truncated_bytes`).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// File extensions read when a directory is given (a file named explicitly is always read).
const LOG_EXTENSIONS: [&str; 5] = ["log", "jsonl", "ndjson", "json", "txt"];

/// Reads logs from files and directories. Each file's format is detected on its own:
/// a Loki `query_range` export (one JSON document), JSON lines, or plain text
/// (`kubectl logs` output, with or without `--timestamps`, or the kubelet's CRI format).
/// JSON lines that fail to parse are kept as plain text: nothing is dropped.
#[derive(Debug, Clone)]
pub struct FileLogSource {
    paths: Vec<PathBuf>,
    max_line_bytes: usize,
    /// Most threads one large file is scanned with (`None`: one per core, up to 8).
    scan_threads: Option<usize>,
    /// Whether a large file's fast scan reads it through a memory map.
    memory_map: bool,
}

impl FileLogSource {
    /// A source over these files or directories (directories are read recursively).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            scan_threads: None,
            memory_map: true,
        }
    }

    /// Scans a large file with at most `n` threads (at least one); by default one per
    /// core, up to 8. On a machine busy with other work, fewer threads leave it cores.
    pub fn with_scan_threads(mut self, n: usize) -> Self {
        self.scan_threads = Some(n.max(1));
        self
    }

    /// Whether a large file (4 MiB or more) is scanned through a read-only memory map
    /// (the default) instead of read into buffers. A map saves copying the file, but a
    /// process that truncates a file while it is mapped (logrotate's `copytruncate`)
    /// crashes the scan with `SIGBUS`; turn maps off where that can happen.
    pub fn with_memory_map(mut self, on: bool) -> Self {
        self.memory_map = on;
        self
    }

    /// Changes the per-line byte limit.
    pub fn with_max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n.max(256);
        self
    }

    /// The files this source reads, in a stable order.
    pub fn files(&self) -> Result<Vec<PathBuf>, ToolError> {
        let mut out = Vec::new();
        for p in &self.paths {
            if !p.exists() {
                return Err(ToolError::NotFound(p.clone()));
            }
            if p.is_dir() {
                collect_dir(p, &mut out)?;
            } else {
                out.push(p.clone());
            }
        }
        Ok(out)
    }

    /// Reads every file and returns the matching lines, oldest first.
    pub fn scan(&self, filter: &LogFilter) -> Result<Vec<LogLine>, ToolError> {
        Ok(self.scan_newest(filter, None)?.lines)
    }

    /// Reads every file and returns the newest `limit` matching lines (all with `None`),
    /// oldest first, and how many matched. With a limit, each file's scan holds at most
    /// twice that many lines, however many match.
    pub fn scan_newest(
        &self,
        filter: &LogFilter,
        limit: Option<usize>,
    ) -> Result<Newest, ToolError> {
        filter.validate()?;
        let mut all = Vec::new();
        let mut matched = 0;
        for (idx, path) in self.files()?.iter().enumerate() {
            let mut kept = scan_file(path, filter, self, limit)?;
            kept.shrink();
            matched += kept.matched;
            all.extend(kept.lines.into_iter().map(|line| (idx, line)));
        }
        // Stable: lines of unknown time first, then by time; ties keep file order.
        all.sort_by(|(ia, a), (ib, b)| {
            (a.timestamp, ia, a.line_no).cmp(&(b.timestamp, ib, b.line_no))
        });
        let skip = limit.map_or(0, |n| all.len().saturating_sub(n));
        Ok(Newest {
            lines: all.into_iter().skip(skip).map(|(_, l)| l).collect(),
            matched,
        })
    }
}

#[async_trait]
impl LogSource for FileLogSource {
    fn describe(&self) -> String {
        let names: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        format!("local files: {}", names.join(", "))
    }

    async fn query(&self, filter: &LogFilter) -> Result<Vec<LogLine>, ToolError> {
        let this = self.clone();
        let filter = filter.clone();
        tokio::task::spawn_blocking(move || this.scan(&filter))
            .await
            .map_err(|e| ToolError::Task(e.to_string()))?
    }

    async fn query_newest(&self, filter: &LogFilter, limit: usize) -> Result<Newest, ToolError> {
        let this = self.clone();
        let filter = filter.clone();
        tokio::task::spawn_blocking(move || this.scan_newest(&filter, Some(limit)))
            .await
            .map_err(|e| ToolError::Task(e.to_string()))?
    }

    async fn label_names(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<String>, ToolError> {
        let filter = LogFilter {
            start: Some(start),
            end: Some(end),
            ..LogFilter::default()
        };
        let lines = self.query(&filter).await?;
        let names: std::collections::BTreeSet<String> = lines
            .into_iter()
            .flat_map(|l| l.labels.into_keys())
            .collect();
        Ok(names.into_iter().collect())
    }
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ToolError> {
    let io_err = |source| ToolError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_dir(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| LOG_EXTENSIONS.contains(&e))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads one line into `buf`, keeping at most `cap` bytes. Returns the number of bytes
/// dropped, or `None` at end of input. Memory stays bounded whatever the line's length.
fn read_capped_line<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Option<usize>> {
    buf.clear();
    let mut dropped = 0;
    let mut read_any = false;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(read_any.then_some(dropped));
        }
        read_any = true;
        let newline = avail.iter().position(|&b| b == b'\n');
        let chunk = &avail[..newline.unwrap_or(avail.len())];
        let take = cap.saturating_sub(buf.len()).min(chunk.len());
        buf.extend_from_slice(&chunk[..take]);
        dropped += chunk.len() - take;
        let consumed = newline.map_or(avail.len(), |i| i + 1);
        r.consume(consumed);
        if newline.is_some() {
            return Ok(Some(dropped));
        }
    }
}

fn scan_file(
    path: &Path,
    filter: &LogFilter,
    settings: &FileLogSource,
    limit: Option<usize>,
) -> Result<Kept, ToolError> {
    let max_line_bytes = settings.max_line_bytes;
    let io_err = |source| ToolError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let source = path.display().to_string();
    let mut base_labels = parse::labels_from_path(path);
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        base_labels.insert("filename".into(), name.to_string());
    }

    let head = reader.fill_buf().map_err(io_err)?;
    if parse::looks_like_loki_export(head) {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(io_err)?;
        let parsed = parse::parse_loki_export(&bytes).map_err(|reason| ToolError::BadExport {
            path: path.to_path_buf(),
            reason,
        })?;
        let mut out = Kept::new(limit);
        let mut carry = Carry::default();
        for (i, p) in parsed.into_iter().enumerate() {
            push_if_match(
                &mut out,
                &mut carry,
                filter,
                &source,
                i as u64 + 1,
                p,
                &base_labels,
                0,
            );
        }
        return Ok(out);
    }

    if let Some(needle) = prefilter::Needle::of(filter) {
        drop(reader);
        let wanted = labels_read(filter);
        let job = prefilter::Job {
            path,
            filter,
            cap: max_line_bytes,
            needle: &needle,
            wanted: &wanted,
            source: &source,
            base_labels: &base_labels,
            limit,
            memory_map: settings.memory_map,
        };
        if let Some(out) = prefilter::scan(job, settings.scan_threads)? {
            return Ok(out);
        }
        // The fast path could not settle a line's inherited time: read it all.
        reader = BufReader::with_capacity(64 * 1024, File::open(path).map_err(io_err)?);
    }

    let mut out = Kept::new(limit);
    let mut carry = Carry::default();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    while let Some(dropped) =
        read_capped_line(&mut reader, &mut buf, max_line_bytes).map_err(io_err)?
    {
        line_no += 1;
        let Some(parsed) = parse_raw(&buf) else {
            continue;
        };
        push_if_match(
            &mut out,
            &mut carry,
            filter,
            &source,
            line_no,
            parsed,
            &base_labels,
            dropped,
        );
    }
    Ok(out)
}

/// The last time seen in each stream, so continuation lines inherit it.
#[derive(Default)]
struct Carry(HashMap<BTreeMap<String, String>, DateTime<Utc>>);

#[allow(clippy::too_many_arguments)]
fn push_if_match(
    out: &mut Kept,
    carry: &mut Carry,
    filter: &LogFilter,
    source: &str,
    line_no: u64,
    parsed: Parsed,
    base_labels: &BTreeMap<String, String>,
    truncated_bytes: usize,
) {
    let parsed = with_base_labels(parsed, base_labels);
    let stream_key = stream_key(&parsed.labels);
    let timestamp = match parsed.timestamp {
        Some(ts) => {
            carry.0.insert(stream_key, ts);
            Some(ts)
        }
        None => carry.0.get(&stream_key).copied(),
    };
    let line = LogLine {
        source: source.to_string(),
        line_no,
        timestamp,
        labels: parsed.labels,
        text: parsed.text,
        truncated_bytes,
    };
    accept(out, filter, line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn capped_reader_bounds_long_lines() {
        let data = format!("{}\nshort\n", "x".repeat(1000));
        let mut r = BufReader::with_capacity(64, Cursor::new(data));
        let mut buf = Vec::new();
        assert_eq!(
            read_capped_line(&mut r, &mut buf, 100).ok().flatten(),
            Some(900)
        );
        assert_eq!(buf.len(), 100);
        assert_eq!(
            read_capped_line(&mut r, &mut buf, 100).ok().flatten(),
            Some(0)
        );
        assert_eq!(buf, b"short");
        assert_eq!(read_capped_line(&mut r, &mut buf, 100).ok().flatten(), None);
    }

    #[test]
    fn last_line_without_newline_is_read() {
        let mut r = BufReader::new(Cursor::new("a\nb"));
        let mut buf = Vec::new();
        assert!(
            read_capped_line(&mut r, &mut buf, 10)
                .ok()
                .flatten()
                .is_some()
        );
        assert!(
            read_capped_line(&mut r, &mut buf, 10)
                .ok()
                .flatten()
                .is_some()
        );
        assert_eq!(buf, b"b");
    }
}
