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

use super::line_steps::{
    Kept, accept, can_decide_on_views, parse_raw, stream_key, view_accepted, view_str,
    with_base_labels,
};
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
        let mut blocks = Blocks::open(self.path, start, end).map_err(|e| self.io_err(e))?;
        let finder = memmem::Finder::new(self.needle);
        let on_views = can_decide_on_views(self.filter);
        let mut out = Kept::new(self.limit);
        let mut lines_before = 0u64;
        loop {
            match blocks.next_block().map_err(|e| self.io_err(e))? {
                Fill::Block => {}
                Fill::Done => break,
                Fill::TooLong => return Ok(None),
            }
            match self.block(&blocks, &finder, lines_before, &mut out, on_views) {
                Some(after) => lines_before = after,
                None => return Ok(None),
            }
            blocks.advance();
        }
        out.build_raw(|r, bytes| {
            let parsed = with_base_labels(parse_raw(bytes)?, self.base_labels);
            Some(LogLine {
                source: self.source.to_string(),
                line_no: r.line_no,
                timestamp: r.timestamp,
                labels: parsed.labels,
                text: parsed.text,
                truncated_bytes: r.truncated_bytes,
            })
        });
        Ok(Some(RangeScan {
            lines: out,
            newlines: lines_before,
        }))
    }

    /// Takes the lines of the current block that contain the needle. Returns the number
    /// of lines up to the block's end, or `None` to give up (an inherited time too far
    /// back).
    fn block(
        &self,
        blocks: &Blocks,
        finder: &memmem::Finder<'_>,
        lines_before: u64,
        out: &mut Kept,
        on_views: bool,
    ) -> Option<u64> {
        let cur = blocks.cur();
        let mut pos = 0;
        let mut counted_to = 0;
        let mut line_no = lines_before;
        while let Some(found) = finder.find(&cur[pos..]) {
            let m = pos + found;
            let ls = memchr::memrchr(b'\n', &cur[..m]).map_or(0, |i| i + 1);
            let le = memchr::memchr(b'\n', &cur[m..]).map_or(cur.len(), |i| m + i);
            line_no += newlines(&cur[counted_to..ls]);
            counted_to = ls;
            pos = le + 1;
            // The slow path keeps only the first `cap` bytes of a line; an occurrence that
            // ends past them is not in the text it filters.
            if m + self.needle.len() <= ls + self.cap {
                let kept = (le - ls).min(self.cap);
                let hit = Hit {
                    bytes: &cur[ls..ls + kept],
                    line_no: line_no + 1,
                    truncated_bytes: (le - ls) - kept,
                    before: &cur[..ls],
                };
                if !self.take(hit, blocks, out, on_views) {
                    return None;
                }
            }
            if pos >= cur.len() {
                break;
            }
        }
        Some(line_no + newlines(&cur[counted_to..]))
    }

    /// Keeps `hit` if it matches. A line with its own time, under a filter its view can
    /// decide, is kept as bytes ([`Kept::push_raw`]); any other is built, its inherited
    /// time looked up, and filtered as the slow path does. `false`: give up.
    fn take(&self, hit: Hit<'_>, blocks: &Blocks, out: &mut Kept, on_views: bool) -> bool {
        let parsed = match std::str::from_utf8(hit.bytes) {
            Ok(s) => match view_str(s) {
                None => return true,
                Some(view) if on_views && view.timestamp.is_some() => {
                    if view_accepted(self.filter, &view, self.base_labels) {
                        out.push_raw(view.timestamp, hit.line_no, hit.bytes, hit.truncated_bytes);
                    }
                    return true;
                }
                Some(view) => view.into_parsed(),
            },
            Err(_) => match parse_raw(hit.bytes) {
                Some(parsed) => parsed,
                None => return true,
            },
        };
        let parsed = with_base_labels(parsed, self.base_labels);
        let timestamp = match parsed.timestamp {
            Some(t) => Some(t),
            None => match inherited(
                &stream_key(&parsed.labels),
                hit.before,
                blocks.prev(),
                blocks.prev_from_file_start,
                self.cap,
                self.base_labels,
            ) {
                Lookup::Found(t) => t,
                Lookup::GaveUp => return false,
            },
        };
        let line = LogLine {
            source: self.source.to_string(),
            line_no: hit.line_no,
            timestamp,
            labels: parsed.labels,
            text: parsed.text,
            truncated_bytes: hit.truncated_bytes,
        };
        accept(out, self.filter, line);
        true
    }
}

/// A line that contains the needle.
struct Hit<'b> {
    /// Its first `cap` bytes.
    bytes: &'b [u8],
    /// Its number in the range (1-based).
    line_no: u64,
    /// Bytes past the cap.
    truncated_bytes: usize,
    /// The block up to the line (for an inherited time).
    before: &'b [u8],
}

/// What [`Blocks::next_block`] found.
enum Fill {
    /// A block of whole lines ([`Blocks::cur`]).
    Block,
    /// The range is read.
    Done,
    /// A line longer than [`MAX_BLOCK`]: give up.
    TooLong,
}

/// A range of a file read block by block, each block ending at a newline, with the block
/// before it kept (for inherited times). Two buffers, zeroed once and reused: fresh
/// allocations per block cost page faults and zeroing that showed up as a third of the
/// scan's time.
struct Blocks {
    file: std::io::Take<File>,
    /// The block being scanned (`..end`), then the start of the next one (`end..filled`).
    cur: Vec<u8>,
    end: usize,
    filled: usize,
    /// The block before (`..prev_len`).
    prev: Vec<u8>,
    prev_len: usize,
    /// No line precedes `prev`.
    prev_from_file_start: bool,
    cur_from_file_start: bool,
    eof: bool,
    finished: bool,
}

impl Blocks {
    /// The lines in `[start, end)` of `path`. A range after the first starts with the
    /// whole lines of the block before it as its `prev`, so its first lines can inherit
    /// a time from there.
    fn open(path: &Path, start: u64, end: u64) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        let mut prev = vec![0u8; BLOCK];
        let (prev_len, prev_from_file_start) = if start == 0 {
            (0, true)
        } else {
            let seed_start = start.saturating_sub(BLOCK as u64);
            let want = (start - seed_start) as usize;
            file.seek(SeekFrom::Start(seed_start))?;
            file.read_exact(&mut prev[..want])?;
            if seed_start == 0 {
                (want, true)
            } else {
                // Drop the partial line at the front.
                let skip = memchr::memchr(b'\n', &prev[..want]).map_or(want, |i| i + 1);
                prev.copy_within(skip..want, 0);
                (want - skip, false)
            }
        };
        file.seek(SeekFrom::Start(start))?;
        Ok(Self {
            file: file.take(end - start),
            cur: vec![0u8; BLOCK],
            end: 0,
            filled: 0,
            prev,
            prev_len,
            prev_from_file_start,
            cur_from_file_start: start == 0,
            eof: false,
            finished: false,
        })
    }

    /// Reads the next block of whole lines (the last one may lack its newline at EOF).
    /// A line longer than the buffer grows it and is read on.
    fn next_block(&mut self) -> std::io::Result<Fill> {
        if self.finished {
            return Ok(Fill::Done);
        }
        loop {
            // Bytes at the front of `cur` are carried over from the last block.
            let mut filled = self.filled;
            while filled < self.cur.len() {
                let n = self.file.read(&mut self.cur[filled..])?;
                if n == 0 {
                    self.eof = true;
                    break;
                }
                filled += n;
            }
            self.filled = filled;
            self.end = filled;
            if self.eof {
                return Ok(Fill::Block);
            }
            if let Some(i) = memchr::memrchr(b'\n', &self.cur[..filled]) {
                self.end = i + 1;
                return Ok(Fill::Block);
            }
            if self.cur.len() >= MAX_BLOCK {
                return Ok(Fill::TooLong);
            }
            let grown = self.cur.len().saturating_mul(2).min(MAX_BLOCK);
            self.cur.resize(grown, 0);
        }
    }

    /// The block to scan.
    fn cur(&self) -> &[u8] {
        &self.cur[..self.end]
    }

    /// The block before it.
    fn prev(&self) -> &[u8] {
        &self.prev[..self.prev_len]
    }

    /// Moves on: the partial line after the block goes to the front of the other buffer,
    /// which becomes the next block; this block becomes `prev`.
    fn advance(&mut self) {
        let carried = self.filled - self.end;
        if self.prev.len() < self.cur.len() {
            self.prev.resize(self.cur.len(), 0);
        }
        self.prev[..carried].copy_from_slice(&self.cur[self.end..self.filled]);
        std::mem::swap(&mut self.cur, &mut self.prev);
        self.prev_len = self.end;
        self.filled = carried;
        self.end = 0;
        self.prev_from_file_start = self.cur_from_file_start;
        self.cur_from_file_start = false;
        self.finished = self.eof;
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
mod tests;
