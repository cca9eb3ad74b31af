//! The fast path of the file scan, for queries with a required literal (`|= "ERROR"`).
//!
//! Instead of parsing every line, it reads the file in 8 MiB blocks, finds the literal
//! with SIMD substring search (`memchr::memmem`), and parses only the lines that contain
//! it. Those lines then go through exactly the same parsing and filtering as the slow
//! path ([`super::file`]), so the result is the same; the only thing the fast path must
//! reconstruct is a line's inherited time (a stack-trace line takes the time of the last
//! timed line of its stream), which it finds by reading backwards from the line. If that
//! search runs off the two blocks it keeps, it gives up (`Ok(None)`) and the caller
//! scans the file the slow way.
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use memchr::memmem;

use super::file::{accept, labelled, parse_raw};
use super::{LogFilter, LogLine};
use crate::ToolError;

const BLOCK: usize = 8 << 20;

/// Scans `path` for lines containing `needle`. `None`: fall back to the slow scan.
pub(super) fn scan(
    path: &Path,
    filter: &LogFilter,
    cap: usize,
    needle: &[u8],
    source: &str,
    base_labels: &BTreeMap<String, String>,
) -> Result<Option<Vec<LogLine>>, ToolError> {
    let io_err = |source| ToolError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let finder = memmem::Finder::new(needle);
    let mut out = Vec::new();
    // Two buffers, zeroed once and reused: the block being scanned and the one before it
    // (for inherited times). Fresh 8 MiB allocations per block cost page faults and
    // zeroing that showed up as a third of the scan's time.
    let mut cur_buf = vec![0u8; BLOCK];
    let mut prev_buf = vec![0u8; BLOCK];
    let mut prev_len = 0usize;
    // Bytes at the front of `cur_buf` carried over from the last block (a partial line).
    let mut carried = 0usize;
    let mut lines_before_cur = 0u64;
    let mut lines_before_prev = 0u64;
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
                    let grown = cur_buf.len() * 2;
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
                    let (parsed, key) = labelled(parsed, base_labels);
                    let timestamp = match parsed.timestamp {
                        Some(t) => Some(t),
                        None => match inherited(
                            &key,
                            &cur[..ls],
                            prev,
                            lines_before_prev == 0,
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
        lines_before_prev = lines_before_cur;
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
    }
    Ok(Some(out))
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
                let (_, k) = labelled(parsed, base);
                if &k == key {
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
        let fast = scan(
            &path,
            &q(r#"{filename="t.log"} |= "ERROR""#),
            256,
            b"ERROR",
            &path.display().to_string(),
            &base,
        )
        .unwrap()
        .map(|mut v| {
            v.sort_by_key(|l| (l.timestamp, l.line_no));
            v
        });
        let slow = FileLogSource::new(vec![path.clone()])
            .with_max_line_bytes(256)
            .scan(&q(r#"{filename="t.log"} |~ "ERROR""#))
            .unwrap();
        (fast, slow)
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
