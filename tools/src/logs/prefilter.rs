//! The fast path of the file scan, for queries with a required literal (`|= "ERROR"`).
//!
//! Instead of parsing every line, it reads the file in 512 KiB blocks, finds the literal
//! with SIMD substring search (`memchr::memmem`), and parses only the lines that contain
//! it. Those lines then go through exactly the same parsing and filtering as the slow
//! path ([`super::file`]), so the result is the same; the only thing the fast path must
//! reconstruct is a line's inherited time (a stack-trace line takes the time of the last
//! timed line of its stream), which it finds by reading backwards from the line. If that
//! search runs off the two blocks it keeps, it gives up (`Ok(None)`) and the caller
//! scans the file the slow way. A file of 64 MiB or more is cut into one range per core,
//! scanned in parallel.
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, Utc};
use memchr::memmem;

use super::line_steps::{Kept, accept, parse_raw, stream_key, with_base_labels};
use super::{LogFilter, LogLine};
use crate::ToolError;

/// Block size. Small enough that a block and the one before it stay in a core's L2 cache
/// while the literal search and the newline count each pass over it: 8 MiB blocks
/// (read from memory twice) scanned at 0.39-0.48 of ripgrep's speed, 512 KiB blocks at
/// 0.54 on one core and 0.80-0.84 on two (docs/benchmarks.md). A line longer than a
/// block grows the buffer, up to [`MAX_BLOCK`].
const BLOCK: usize = 512 << 10;

/// Largest the buffer grows for one line without a newline. A longer line (a file of
/// one 10 GiB line is untrusted input too) makes the fast path give up: the slow path
/// reads lines with a bounded buffer and keeps the first `cap` bytes.
const MAX_BLOCK: usize = 16 * BLOCK;

/// Files at least this large are split into ranges scanned by one thread each.
const PARALLEL_MIN: u64 = 64 << 20;

/// Most threads one file is scanned with.
const MAX_THREADS: usize = 8;

/// Scans `job.path` for lines containing `job.needle`, with at most `threads` threads
/// (`None`: one per core; at most 8). `None`: fall back to the slow scan.
///
/// A large file is cut into as many ranges as there are cores (each starting right after
/// a newline) and the ranges are scanned in parallel, each with its own file handle;
/// their lines are then numbered by the newlines of the ranges before them. The result
/// is the same as one pass: the ranges hold whole lines, a range's inherited-time
/// lookups can read back into the block before it, and when that is not far enough the
/// file is scanned again in one pass.
pub(super) fn scan(job: Job<'_>, threads: Option<usize>) -> Result<Option<Kept>, ToolError> {
    let len = std::fs::metadata(job.path)
        .map_err(|e| job.io_err(e))?
        .len();
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, MAX_THREADS);
    let parts = if len < PARALLEL_MIN { 1 } else { threads };
    job.in_parts(len, parts)
}

/// What one scan looks for, where: shared by its ranges.
#[derive(Clone, Copy)]
pub(super) struct Job<'a> {
    /// The file.
    pub(super) path: &'a Path,
    /// What a line must match.
    pub(super) filter: &'a LogFilter,
    /// Bytes of a line kept (the rest is cut, as the slow path does).
    pub(super) cap: usize,
    /// The literal every matching line contains.
    pub(super) needle: &'a [u8],
    /// The lines' `source`.
    pub(super) source: &'a str,
    /// The file's labels.
    pub(super) base_labels: &'a BTreeMap<String, String>,
    /// Keep only the newest this many lines ([`Kept`]).
    pub(super) limit: Option<usize>,
}

impl Job<'_> {
    fn io_err(&self, e: std::io::Error) -> ToolError {
        ToolError::Io {
            path: self.path.to_path_buf(),
            source: e,
        }
    }

    /// The scan with the file (`len` bytes) cut into `parts` ranges.
    fn in_parts(&self, len: u64, parts: usize) -> Result<Option<Kept>, ToolError> {
        let ranges = if parts < 2 {
            vec![(0, len)]
        } else {
            split(self.path, len, parts).map_err(|e| self.io_err(e))?
        };
        let results: Vec<Result<Option<RangeScan>, ToolError>> = if ranges.len() == 1 {
            ranges.into_iter().map(|(a, b)| self.range(a, b)).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = ranges
                    .into_iter()
                    .map(|(a, b)| s.spawn(move || self.range(a, b)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(self.io_err(std::io::Error::other("a scan thread panicked")))
                        })
                    })
                    .collect()
            })
        };
        let mut scanned = Vec::with_capacity(results.len());
        for r in results {
            match r? {
                Some(range) => scanned.push(range),
                // A range's first lines could not find their inherited time within the
                // block before it; one pass over the whole file may (else it gives up).
                None if parts > 1 => return self.in_parts(len, 1),
                None => return Ok(None),
            }
        }
        let mut out = Kept::new(self.limit);
        let mut lines_before = 0u64;
        for mut range in scanned {
            for line in &mut range.lines.lines {
                line.line_no += lines_before;
            }
            lines_before += range.newlines;
            out.extend(range.lines);
        }
        Ok(Some(out))
    }
}

/// Cuts `[0, len)` into about `parts` ranges, each starting right after a newline.
fn split(path: &Path, len: u64, parts: usize) -> std::io::Result<Vec<(u64, u64)>> {
    use std::os::unix::fs::FileExt;
    let file = File::open(path)?;
    let mut bounds = vec![0u64];
    let mut buf = vec![0u8; 64 * 1024];
    for i in 1..parts as u64 {
        let mut at = (len * i / parts as u64).max(*bounds.last().unwrap_or(&0));
        // The byte after the next newline at or after the nominal cut.
        let cut = loop {
            if at >= len {
                break len;
            }
            let n = file.read_at(&mut buf, at)?;
            if n == 0 {
                break len;
            }
            if let Some(k) = memchr::memchr(b'\n', &buf[..n]) {
                break at + k as u64 + 1;
            }
            at += n as u64;
        };
        if cut > *bounds.last().unwrap_or(&0) && cut < len {
            bounds.push(cut);
        }
    }
    bounds.push(len);
    Ok(bounds.windows(2).map(|w| (w[0], w[1])).collect())
}

/// What one range gave.
struct RangeScan {
    /// Matching lines, numbered from the range's start (its first line is 1).
    lines: Kept,
    /// Newlines in the range.
    newlines: u64,
}

impl Job<'_> {
    /// Scans the lines in `[start, end)` (`start` is 0 or follows a newline).
    fn range(&self, start: u64, end: u64) -> Result<Option<RangeScan>, ToolError> {
        let Job {
            path,
            filter,
            cap,
            needle,
            source,
            base_labels,
            limit,
        } = *self;
        let io_err = |e| self.io_err(e);
        let mut file = File::open(path).map_err(io_err)?;
        let finder = memmem::Finder::new(needle);
        let mut out = Kept::new(limit);
        // Two buffers, zeroed once and reused: the block being scanned and the one before it
        // (for inherited times). Fresh allocations per block cost page faults and
        // zeroing that showed up as a third of the scan's time.
        let mut cur_buf = vec![0u8; BLOCK];
        let mut prev_buf = vec![0u8; BLOCK];
        // A range after the first starts with the whole lines of the block before it as its
        // `prev`, so its first lines can inherit a time from there.
        let (mut prev_len, mut prev_from_file_start) = if start == 0 {
            (0, true)
        } else {
            let seed_start = start.saturating_sub(BLOCK as u64);
            let want = (start - seed_start) as usize;
            file.seek(SeekFrom::Start(seed_start)).map_err(io_err)?;
            file.read_exact(&mut prev_buf[..want]).map_err(io_err)?;
            if seed_start == 0 {
                (want, true)
            } else {
                // Drop the partial line at the front.
                let skip = memchr::memchr(b'\n', &prev_buf[..want]).map_or(want, |i| i + 1);
                prev_buf.copy_within(skip..want, 0);
                (want - skip, false)
            }
        };
        file.seek(SeekFrom::Start(start)).map_err(io_err)?;
        let mut file = file.take(end - start);
        // Bytes at the front of `cur_buf` carried over from the last block (a partial line).
        let mut carried = 0usize;
        let mut lines_before_cur = 0u64;
        let mut cur_from_file_start = start == 0;
        let mut eof = false;
        while !eof {
            // The next block of whole lines (the last one may lack its newline at EOF).
            let mut filled = carried;
            while filled < cur_buf.len() {
                let n = file.read(&mut cur_buf[filled..]).map_err(io_err)?;
                if n == 0 {
                    eof = true;
                    break;
                }
                filled += n;
            }
            let mut end = filled;
            if !eof {
                match memchr::memrchr(b'\n', &cur_buf[..filled]) {
                    Some(i) => end = i + 1,
                    None => {
                        // One line longer than the buffer: grow it and keep reading the line.
                        carried = filled;
                        if cur_buf.len() >= MAX_BLOCK {
                            return Ok(None);
                        }
                        let grown = cur_buf.len().saturating_mul(2).min(MAX_BLOCK);
                        cur_buf.resize(grown, 0);
                        continue;
                    }
                }
            }
            let cur = &cur_buf[..end];
            let prev = &prev_buf[..prev_len];

            let mut pos = 0;
            let mut counted_to = 0;
            let mut line_no = lines_before_cur;
            while let Some(found) = finder.find(&cur[pos..]) {
                let m = pos + found;
                let ls = memchr::memrchr(b'\n', &cur[..m]).map_or(0, |i| i + 1);
                let le = memchr::memchr(b'\n', &cur[m..]).map_or(cur.len(), |i| m + i);
                line_no += newlines(&cur[counted_to..ls]);
                counted_to = ls;
                pos = le + 1;
                // The slow path keeps only the first `cap` bytes of a line; an occurrence that
                // ends past them is not in the text it filters.
                if m + needle.len() <= ls + cap {
                    let kept = (le - ls).min(cap);
                    if let Some(parsed) = parse_raw(&cur[ls..ls + kept]) {
                        let parsed = with_base_labels(parsed, base_labels);
                        let timestamp = match parsed.timestamp {
                            Some(t) => Some(t),
                            None => match inherited(
                                &stream_key(&parsed.labels),
                                &cur[..ls],
                                prev,
                                prev_from_file_start,
                                cap,
                                base_labels,
                            ) {
                                Lookup::Found(t) => t,
                                Lookup::GaveUp => return Ok(None),
                            },
                        };
                        let line = LogLine {
                            source: source.to_string(),
                            line_no: line_no + 1,
                            timestamp,
                            labels: parsed.labels,
                            text: parsed.text,
                            truncated_bytes: (le - ls) - kept,
                        };
                        accept(&mut out, filter, line);
                    }
                }
                if pos >= cur.len() {
                    break;
                }
            }
            lines_before_cur = line_no + newlines(&cur[counted_to..]);
            // The partial line after the block goes to the front of the other buffer, which
            // becomes the next block; this block becomes `prev`.
            carried = filled - end;
            if prev_buf.len() < cur_buf.len() {
                prev_buf.resize(cur_buf.len(), 0);
            }
            prev_buf[..carried].copy_from_slice(&cur_buf[end..filled]);
            std::mem::swap(&mut cur_buf, &mut prev_buf);
            prev_len = end;
            prev_from_file_start = cur_from_file_start;
            cur_from_file_start = false;
        }
        Ok(Some(RangeScan {
            lines: out,
            newlines: lines_before_cur,
        }))
    }
}

/// Counts newlines (bytecount: SIMD, chosen at run time; about twice memchr's iterator).
fn newlines(bytes: &[u8]) -> u64 {
    bytecount::count(bytes, b'\n') as u64
}

enum Lookup {
    Found(Option<DateTime<Utc>>),
    GaveUp,
}

/// The time a line of stream `key` inherits: that of the nearest earlier line of the
/// same stream with its own time. Searches `before` (the current block up to the line)
/// and then `prev` (the previous block); `nothing_before_prev` says no line precedes
/// `prev`, so not finding one means there is none.
fn inherited(
    key: &BTreeMap<String, String>,
    before: &[u8],
    prev: &[u8],
    nothing_before_prev: bool,
    cap: usize,
    base: &BTreeMap<String, String>,
) -> Lookup {
    for block in [before, prev] {
        let mut end = block.len();
        while end > 0 {
            let line_end = if block[end - 1] == b'\n' {
                end - 1
            } else {
                end
            };
            let start = memchr::memrchr(b'\n', &block[..line_end]).map_or(0, |i| i + 1);
            let bytes = &block[start..line_end.min(start + cap)];
            if let Some(parsed) = parse_raw(bytes)
                && let Some(t) = parsed.timestamp
            {
                let parsed = with_base_labels(parsed, base);
                if stream_key(&parsed.labels) == *key {
                    return Lookup::Found(Some(t));
                }
            }
            end = start;
        }
    }
    if nothing_before_prev {
        Lookup::Found(None)
    } else {
        Lookup::GaveUp
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::logs::{FileLogSource, logql};

    fn mixed() -> Vec<u8> {
        let mut s = String::new();
        for i in 0..40_000u32 {
            let m = i % 60;
            match i % 7 {
                0 => s.push_str(&format!("2025-03-01T10:{m:02}:00Z ERROR request {i} failed\r\n")),
                1 => s.push_str("    at com.shop.Charge(Charge.java:7) ERROR cause\n"),
                2 => s.push('\n'),
                3 => s.push_str(&format!("{{\"ts\":\"2025-03-01T11:{m:02}:00Z\",\"pod\":\"p{}\",\"msg\":\"ERROR json {i}\"}}\n", i % 3)),
                4 => s.push_str(&format!("{{\"labels\":{{\"pod\":\"p{}\"}},\"line\":\"ERROR untimed envelope {i}\"}}\n", i % 3)),
                5 => s.push_str(&format!("2025-03-01T10:{m:02}:30Z INFO ok {i} \u{00e9}\n")),
                _ => s.push_str(&format!("{}ERROR after the cap\n", "x".repeat(300))),
            }
        }
        let mut bytes = s.into_bytes();
        bytes.extend_from_slice(b"bad \xff ERROR bytes\n    ERROR last line without newline");
        bytes
    }

    fn run(bytes: &[u8]) -> (Option<Vec<LogLine>>, Vec<LogLine>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        std::fs::write(&path, bytes).unwrap();
        let base = BTreeMap::from([("filename".to_string(), "t.log".to_string())]);
        let q = |s: &str| LogFilter {
            logql: Some(Arc::new(logql::parse(s).unwrap())),
            ..LogFilter::default()
        };
        // File order, as the caller gets it before sorting all files' lines by time.
        let fast = |parts: usize, limit: Option<usize>| {
            let filter = q(r#"{filename="t.log"} |= "ERROR""#);
            let source = path.display().to_string();
            let job = Job {
                path: &path,
                filter: &filter,
                cap: 256,
                needle: b"ERROR",
                source: &source,
                base_labels: &base,
                limit,
            };
            job.in_parts(bytes.len() as u64, parts)
                .unwrap()
                .map(|mut k| {
                    k.shrink();
                    let mut v = k.lines;
                    v.sort_by_key(|l| (l.timestamp, l.line_no));
                    (v, k.matched)
                })
        };
        let one = fast(1, None);
        // Cut into ranges scanned in parallel: the same lines, numbers and times (or the
        // same give-up).
        for parts in [2, 3, 7] {
            assert_eq!(fast(parts, None), one, "{parts} ranges");
        }
        // With a limit: the newest lines of the full result, and the same count of matches.
        if let Some((all, matched)) = &one {
            assert_eq!(*matched, all.len() as u64);
            for limit in [1, 5, 40] {
                let newest = all[all.len().saturating_sub(limit)..].to_vec();
                for parts in [1, 2, 3] {
                    assert_eq!(
                        fast(parts, Some(limit)),
                        Some((newest.clone(), *matched)),
                        "{parts} ranges, limit {limit}"
                    );
                }
            }
        }
        let one = one.map(|(v, _)| v);
        let slow = FileLogSource::new(vec![path.clone()])
            .with_max_line_bytes(256)
            .scan(&q(r#"{filename="t.log"} |~ "ERROR""#))
            .unwrap();
        (one, slow)
    }

    #[test]
    fn agrees_with_the_full_scan() {
        let (fast, slow) = run(&mixed());
        let fast = fast.expect("the fast path settles every line of this file");
        assert!(fast.len() > 20_000);
        assert_eq!(fast, slow);
    }

    #[test]
    fn agrees_over_many_blocks_with_a_line_longer_than_a_block() {
        // Several blocks (the buffers are swapped and reused), partial lines carried over
        // at every boundary, and one line longer than a whole block (the buffer grows).
        let mut bytes = Vec::new();
        for _ in 0..3 {
            bytes.extend_from_slice(&mixed());
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(b"2025-03-01T12:00:00Z ERROR a huge line ");
        bytes.extend(std::iter::repeat_n(b'y', BLOCK + 4096));
        bytes.push(b'\n');
        for _ in 0..3 {
            bytes.extend_from_slice(&mixed());
            bytes.push(b'\n');
        }
        assert!(bytes.len() > 3 * BLOCK);
        let (fast, slow) = run(&bytes);
        let fast = fast.expect("every line settled");
        assert!(
            fast.iter()
                .any(|l| l.text.starts_with("ERROR a huge line") && l.truncated_bytes > 0)
        );
        assert_eq!(fast.len(), slow.len());
        assert_eq!(fast, slow);
    }

    #[test]
    fn a_line_longer_than_the_largest_buffer_goes_to_the_slow_path() {
        let mut bytes =
            b"2025-03-01T12:00:00Z ERROR before\n2025-03-01T12:00:01Z ERROR endless ".to_vec();
        bytes.extend(std::iter::repeat_n(b'z', MAX_BLOCK + 10));
        bytes.extend_from_slice(b"\n2025-03-01T12:00:02Z ERROR after\n");
        let (fast, slow) = run(&bytes);
        assert!(
            fast.is_none(),
            "the fast path gives up instead of growing without bound"
        );
        assert_eq!(slow.len(), 3);
        assert!(
            slow[1].truncated_bytes > MAX_BLOCK - 300,
            "{}",
            slow[1].truncated_bytes
        );
    }

    #[test]
    fn agrees_across_blocks_and_gives_up_when_the_time_is_too_far_back() {
        // An untimed line right after a block boundary inherits from the block before.
        let mut bytes = b"2025-03-01T10:00:00Z start\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'.', BLOCK - 40));
        bytes.extend_from_slice(
            b"\n2025-03-01T10:00:05Z ERROR near the boundary\n    ERROR continuation\n",
        );
        let (fast, slow) = run(&bytes);
        assert_eq!(fast.expect("settled from the previous block"), slow);

        // Its stream's last time is more than a block behind (a whole block of untimed
        // lines in between): give up, and the caller scans the slow way.
        let mut bytes = b"2025-03-01T10:00:00Z start\n".to_vec();
        for _ in 0..(2 * BLOCK / 64) {
            bytes.extend_from_slice(&[b'.'; 63]);
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(b"    ERROR continuation far away\n");
        let (fast, slow) = run(&bytes);
        assert!(fast.is_none());
        assert_eq!(slow.len(), 1);
        assert!(slow[0].timestamp.is_some());
    }
}
