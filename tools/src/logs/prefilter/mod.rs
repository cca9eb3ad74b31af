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
use std::path::Path;

use chrono::{DateTime, Utc};

use super::line_steps::{
    Kept, accept, app_view, can_decide_on_views, parse_raw, stream_key, view_accepted,
    view_str_with, with_base_labels,
};
use super::parse::LineMemo;
use super::view::Facts;
use super::{LogFilter, LogLine};
use crate::ToolError;

mod blocks;
mod map;
mod needle;

use blocks::{Blocks, Fill, MappedBlocks, ReadBlocks};
pub(crate) use needle::Needle;
use needle::Searcher;

/// Files at least this large are split into ranges scanned by one thread each.
const PARALLEL_MIN: u64 = 64 << 20;

/// Most threads one file is scanned with.
const MAX_THREADS: usize = 8;

/// Bytes past a matching line asked into the cache before it is read ([`prefetch`]): a
/// page. 2 and 4 KiB ran alike at 10% matches (-11% time on JSON lines, -12% on plain
/// text, one thread, read back from disk), 4 KiB a little better at 1%; 1 KiB gained
/// half as much, 8 KiB less (docs/benchmarks.md).
const PREFETCH: usize = 4096;

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
    let window = (job.memory_map && len >= map::MAP_MIN).then_some(map::WINDOW);
    job.in_parts(len, parts, window)
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
    /// What every matching line contains.
    pub(super) needle: &'a Needle,
    /// The label names the filter reads ([`super::line_steps::labels_read`]).
    pub(super) wanted: &'a [&'a str],
    /// The lines' `source`.
    pub(super) source: &'a str,
    /// The file's labels.
    pub(super) base_labels: &'a BTreeMap<String, String>,
    /// Keep only the newest this many lines ([`Kept`]).
    pub(super) limit: Option<usize>,
    /// Read a large file through a memory map ([`map`]) rather than `read()`.
    pub(super) memory_map: bool,
}

impl Job<'_> {
    fn io_err(&self, e: std::io::Error) -> ToolError {
        ToolError::Io {
            path: self.path.to_path_buf(),
            source: e,
        }
    }

    /// The scan with the file (`len` bytes) cut into `parts` ranges.
    fn in_parts(
        &self,
        len: u64,
        parts: usize,
        window: Option<usize>,
    ) -> Result<Option<Kept>, ToolError> {
        let ranges = if parts < 2 {
            vec![(0, len)]
        } else {
            split(self.path, len, parts).map_err(|e| self.io_err(e))?
        };
        let results: Vec<Result<Option<RangeScan>, ToolError>> = if ranges.len() == 1 {
            ranges
                .into_iter()
                .map(|(a, b)| self.range(a, b, window))
                .collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = ranges
                    .into_iter()
                    .map(|(a, b)| s.spawn(move || self.range(a, b, window)))
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
                None if parts > 1 => return self.in_parts(len, 1, window),
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
    /// Scans the lines in `[start, end)` (`start` is 0 or follows a newline), through
    /// memory maps of `window` bytes when given (and the file can be mapped), else read.
    fn range(
        &self,
        start: u64,
        end: u64,
        window: Option<usize>,
    ) -> Result<Option<RangeScan>, ToolError> {
        if let Some(window) = window
            && let Ok(blocks) = MappedBlocks::open(self.path, start, end, window)
        {
            return self.range_of(blocks);
        }
        self.range_of(ReadBlocks::open(self.path, start, end).map_err(|e| self.io_err(e))?)
    }

    fn range_of(&self, mut blocks: impl Blocks) -> Result<Option<RangeScan>, ToolError> {
        let searcher = self.needle.searcher();
        let on_views = can_decide_on_views(self.filter);
        let mut out = Kept::new(self.limit);
        let mut lines_before = 0u64;
        let mut memo = LineMemo::default();
        loop {
            match blocks.next_block().map_err(|e| self.io_err(e))? {
                Fill::Block => {}
                Fill::Done => break,
                Fill::TooLong => return Ok(None),
            }
            match self.block(
                &blocks,
                &searcher,
                lines_before,
                &mut out,
                on_views,
                &mut memo,
            ) {
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
        blocks: &impl Blocks,
        searcher: &Searcher<'_>,
        lines_before: u64,
        out: &mut Kept,
        on_views: bool,
        memo: &mut LineMemo,
    ) -> Option<u64> {
        let cur = blocks.cur();
        let mut pos = 0;
        let mut counted_to = 0;
        let mut line_no = lines_before;
        // How far into the block the cache has been asked for ([`prefetch`]).
        let mut fetched = 0;
        while let Some((found, found_len)) = searcher.find(&cur[pos..]) {
            let m = pos + found;
            // `pos` starts a line: the line's start is at or after it.
            let ls = memchr::memrchr(b'\n', &cur[pos..m]).map_or(pos, |i| pos + i + 1);
            let le = memchr::memchr(b'\n', &cur[m..]).map_or(cur.len(), |i| m + i);
            line_no += newlines(&cur[counted_to..ls]);
            counted_to = ls;
            pos = le + 1;
            // The search goes on from here once this line is read: the bytes it will
            // read next are asked for now, to arrive while the line is read.
            fetched = fetched.max(pos);
            let until = pos.saturating_add(PREFETCH).min(cur.len());
            while fetched < until {
                prefetch(cur, fetched);
                fetched += 64;
            }
            // The slow path keeps only the first `cap` bytes of a line; an occurrence of
            // the one literal that ends past them is not in the text it filters (of
            // several literals, another may be: the line is read, its regex decides).
            if self.needle.literal().is_none() || m + found_len <= ls + self.cap {
                let kept = (le - ls).min(self.cap);
                let hit = Hit {
                    bytes: &cur[ls..ls + kept],
                    found_at: m - ls,
                    line_no: line_no + 1,
                    truncated_bytes: (le - ls) - kept,
                    before: &cur[..ls],
                };
                if !self.take(hit, blocks, out, on_views, memo) {
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
    /// decide, is kept as bytes ([`Kept::commit`]); any other is built, its inherited
    /// time looked up, and filtered as the slow path does. `false`: give up. An app's
    /// JSON line is first read for only what the filter needs ([`app_view`]: its time
    /// and the labels the filter reads), the full view being read where that reader is
    /// not sure.
    ///
    /// The line is copied into `out`'s buffer first ([`Kept::stage`]) and read from
    /// there: a mapped file's bytes can change under the scan (another process writing
    /// it), text checked as UTF-8 must not; and a kept line is then already where it
    /// stays.
    fn take(
        &self,
        hit: Hit<'_>,
        blocks: &impl Blocks,
        out: &mut Kept,
        on_views: bool,
        memo: &mut LineMemo,
    ) -> bool {
        let staged = out.stage(hit.bytes);
        let decided = {
            let bytes = out.staged(staged);
            match simdutf8::basic::from_utf8(bytes) {
                // An app's JSON line is read for what the filter needs only.
                Ok(s) => match on_views.then(|| app_view(s, self.wanted, memo)).flatten() {
                    Some(app) => self.decide(s, &app, hit.found_at),
                    None => match view_str_with(s, &mut memo.second) {
                        None => Decided::Skip,
                        Some(view) if on_views && view.timestamp.is_some() => {
                            self.decide(s, &view, hit.found_at)
                        }
                        Some(view) => Decided::Build(view.into_parsed()),
                    },
                },
                Err(_) => parse_raw(bytes).map_or(Decided::Skip, Decided::Build),
            }
        };
        let parsed = match decided {
            Decided::Keep(ts) => {
                out.commit(staged, ts, hit.line_no, hit.truncated_bytes);
                return true;
            }
            Decided::Skip => {
                out.unstage(staged);
                return true;
            }
            Decided::Build(parsed) => {
                out.unstage(staged);
                parsed
            }
        };
        let parsed = with_base_labels(parsed, self.base_labels);
        let timestamp = match parsed.timestamp {
            Some(t) => Some(t),
            None => match inherited(
                &stream_key(&parsed.labels),
                hit.before,
                blocks.prev(),
                blocks.prev_from_file_start(),
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

    /// Keep or skip the line `s`, timed, told from its `view` (the filter can be decided
    /// on views) and where the literal was found (`found_at`).
    #[inline]
    fn decide(&self, s: &str, view: &impl Facts, found_at: usize) -> Decided {
        // The literal was found in the line: where the text holds that spot, its `|=`
        // needs no second search.
        let known =
            (self.needle.literal()).filter(|needle| holds_at(s, view.text(), found_at, needle));
        if view_accepted(self.filter, view, self.base_labels, known) {
            Decided::Keep(view.time())
        } else {
            Decided::Skip
        }
    }
}

/// What [`Job::take`] does with a line, told from its view.
enum Decided {
    /// It matches and has its own time: kept as bytes.
    Keep(Option<DateTime<Utc>>),
    /// It does not match (or is blank).
    Skip,
    /// Its time is inherited, or its filter needs the whole line: built and filtered.
    Build(super::parse::Parsed),
}

/// A line that contains the needle.
struct Hit<'b> {
    /// Its first `cap` bytes.
    bytes: &'b [u8],
    /// Where in them the needle was found.
    found_at: usize,
    /// Its number in the range (1-based).
    line_no: u64,
    /// Bytes past the cap.
    truncated_bytes: usize,
    /// The block up to the line (for an inherited time).
    before: &'b [u8],
}

/// Whether `text`, a slice of `line` (a line's view borrows from it), holds `needle` at
/// `line`'s byte `at`. `false` when `text` is not part of `line` (an unescaped copy) or
/// does not cover that spot (a plain line's time prefix), or the bytes there are not
/// the needle (the mapped file changed between the search and the copy).
fn holds_at(line: &str, text: &str, at: usize, needle: &str) -> bool {
    let start = (text.as_ptr() as usize).checked_sub(line.as_ptr() as usize);
    start.is_some_and(|start| {
        let end = start.saturating_add(text.len());
        start <= at
            && at.saturating_add(needle.len()) <= end
            && end <= line.len()
            && line.as_bytes().get(at..at + needle.len()) == Some(needle.as_bytes())
    })
}

/// Asks the CPU to start loading the cache line that holds `bytes[at]` (nothing if there
/// is none). The scan reads a file faster than memory answers a miss when it reads
/// nothing but the file (a search is a stream the hardware prefetches); between matches
/// it reads a line, and the misses of the search that follows were waited for, not
/// overlapped. Asked for ahead, they arrive while the line is read.
#[inline(always)]
fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.get(at) {
        // SAFETY: a prefetch is a hint: it changes no memory, cannot fault, and is given
        // the address of a byte of a live slice.
        #[allow(unsafe_code)]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                std::ptr::from_ref(b).cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
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
            // A copy: see `Job::take`.
            let bytes = block[start..line_end.min(start + cap)].to_vec();
            if let Some(parsed) = parse_raw(&bytes)
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
