//! The fast path against the full scan: the same lines, numbers and times.
use std::sync::Arc;

use super::blocks::{BLOCK, MAX_BLOCK};
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
    // The file read, or mapped (a small window: the bytes passed handed back every
    // block or two; a large one: never): the same blocks, so the same answer.
    // File order, as the caller gets it before sorting all files' lines by time.
    let fast = |parts: usize, limit: Option<usize>, window: Option<usize>| {
        let filter = q(r#"{filename="t.log"} |= "ERROR""#);
        let source = path.display().to_string();
        let wanted = super::super::line_steps::labels_read(&filter);
        let job = Job {
            path: &path,
            filter: &filter,
            cap: 256,
            needle: &Needle::One("ERROR".into()),
            wanted: &wanted,
            source: &source,
            base_labels: &base,
            limit,
            memory_map: window.is_some(),
        };
        job.in_parts(bytes.len() as u64, parts, window)
            .unwrap()
            .map(|mut k| {
                k.shrink();
                let mut v = k.lines;
                v.sort_by_key(|l| (l.timestamp, l.line_no));
                (v, k.matched)
            })
    };
    let one = fast(1, None, None);
    // Cut into ranges scanned in parallel: the same lines, numbers and times (or the
    // same give-up), read or mapped.
    let (small, large) = (Some(BLOCK + BLOCK / 2), Some(64 << 20));
    for (parts, window) in [
        (1, small),
        (1, large),
        (2, None),
        (3, None),
        (3, small),
        (7, None),
        (7, large),
    ] {
        let got = fast(parts, None, window);
        assert_eq!(got, one, "{parts} ranges, window {window:?}");
    }
    // With a limit: the newest lines of the full result, and the same count of matches.
    if let Some((all, matched)) = &one {
        assert_eq!(*matched, all.len() as u64);
        for limit in [1, 40] {
            let newest = all[all.len().saturating_sub(limit)..].to_vec();
            for (parts, window) in [(1, None), (3, None), (3, small)] {
                assert_eq!(
                    fast(parts, Some(limit), window),
                    Some((newest.clone(), *matched)),
                    "{parts} ranges, limit {limit}, window {window:?}"
                );
            }
        }
    }
    let one = one.map(|(v, _)| v);
    // `|\x01`: a byte the file does not have, which a line's raw bytes cannot be
    // searched for (a control character: JSON escapes it), so the whole file is read.
    let slow = FileLogSource::new(vec![path.clone()])
        .with_max_line_bytes(256)
        .scan(&q(r#"{filename="t.log"} |~ "ERROR|\x01""#))
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
fn a_regex_searched_for_by_its_literals_agrees_with_the_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.log");
    std::fs::write(&path, mixed()).unwrap();
    let filter = |q: &str| LogFilter {
        logql: Some(Arc::new(logql::parse(q).unwrap())),
        ..LogFilter::default()
    };
    let scan = |q: &str| {
        FileLogSource::new(vec![path.clone()])
            .with_max_line_bytes(256)
            .scan(&filter(q))
            .unwrap()
    };
    for re in [
        "ERROR",
        // Not `s` or `k` under (?i): they fold to letters beyond ASCII (a JSON encoder
        // may write those as \u escapes), and such a regex is not searched for.
        "(?i)error|charge",
        "ERR(OR)? (request|cause)",
        "envelope|failed",
        "(?i)info",
    ] {
        let q = format!(r#"{{filename="t.log"}} |~ "{re}""#);
        assert!(Needle::of(&filter(&q)).is_some(), "{re}: searched for");
        let fast = scan(&q);
        // As above: `|\x01` makes the scan read every line.
        let slow_q = format!(r#"{{filename="t.log"}} |~ "{re}|\x01""#);
        assert!(Needle::of(&filter(&slow_q)).is_none(), "{re}: read whole");
        let slow = scan(&slow_q);
        assert!(slow.len() > 1_000, "{re}: {} lines", slow.len());
        assert_eq!(fast, slow, "{re}");
    }
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

#[test]
fn a_line_decided_on_its_view_is_kept_as_the_full_scan_keeps_it() {
    // Labels, a window, a pattern and line filters, decided on the view of each timed
    // line (kept as bytes, built at the end), and a parser stage that cannot be (every
    // line built): each must give what the full scan gives.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.log");
    let mut bytes = mixed();
    bytes.extend_from_slice(
        b"\n2025-03-01T12:00:00Z stdout F ERROR cri line\n2025-03-01T12:00:01Z stderr P ERROR cri partial\n{\"ts\":\"2025-03-01T12:00:02Z\",\"kubernetes\":{\"pod_name\":\"p1\"},\"log\":\"ERROR nested\\n\"}\n{\"ts\":\"2025-03-01T12:00:03Z\",\"pod\":\"p1\",\"pod\":\"p2\",\"msg\":\"ERROR \\\"escaped\\\" \\u00e9\"}\n",
    );
    // App lines read for the filter's labels only: two keys for one label, a time key
    // that decides over a later one (valid or not), an own `filename` and `namespace`.
    bytes.extend_from_slice(
        br#"{"ts":"2025-03-01T12:00:04Z","pod_name":"p2","pod":"p1","msg":"ERROR two keys"}
{"time":"bad","ts":"2025-03-01T12:00:05Z","msg":"ERROR ts decides"}
{"timestamp":"not a time","ts":"2025-03-01T12:00:06Z","msg":"ERROR untimed: its first key decides"}
{"ts":"2025-03-01T12:00:07Z","namespace_name":"shop","filename":"other.log","msg":"ERROR own filename"}
{"ts":"2025-03-01T12:00:08Z","namespace":"shop","level":"error","msg":"ERROR level is no label"}
"#,
    );
    std::fs::write(&path, &bytes).unwrap();
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let cases: Vec<(LogFilter, &str)> = vec![
        (LogFilter::default(), r#"{filename="t.log"} |= "ERROR""#),
        (
            LogFilter {
                pod: Some("p1".into()),
                ..LogFilter::default()
            },
            r#"{filename="t.log"} |= "ERROR""#,
        ),
        (
            LogFilter {
                start: Some(t("2025-03-01T10:30:00Z")),
                end: Some(t("2025-03-01T11:45:00Z")),
                ..LogFilter::default()
            },
            r#"{filename="t.log"} |= "ERROR""#,
        ),
        (
            LogFilter::default()
                .with_pattern(Some(r#"json [0-9]*7""#))
                .unwrap(),
            r#"{filename="t.log"} |= "ERROR""#,
        ),
        (
            LogFilter::default(),
            r#"{filename="t.log", stream=~"stdout|"} |= "ERROR" != "request 7" |~ "[0-9]|cri|nested""#,
        ),
        (
            LogFilter::default(),
            r#"{filename="t.log", pod="p2"} |= "ERROR""#,
        ),
        (
            LogFilter {
                namespace: Some("shop".into()),
                ..LogFilter::default()
            },
            r#"{filename="t.log", level=""} |= "ERROR""#,
        ),
        (
            LogFilter::default(),
            r#"{filename="t.log"} |= "ERROR" | json | pod="p0""#,
        ),
    ];
    for (filter, query) in cases {
        let with = |q: &str| LogFilter {
            logql: Some(Arc::new(logql::parse(q).unwrap())),
            ..filter.clone()
        };
        // `|~` has no required literal: the full scan, line by line.
        let slow_query = query.replacen(r#"|= "ERROR""#, r#"|~ "ERROR|\x01""#, 1);
        let source = FileLogSource::new(vec![path.clone()]).with_max_line_bytes(256);
        let slow = source.scan(&with(&slow_query)).unwrap();
        for limit in [None, Some(3)] {
            let fast = source.scan_newest(&with(query), limit).unwrap();
            let want = &slow[slow.len().saturating_sub(limit.unwrap_or(usize::MAX))..];
            assert_eq!(fast.lines, want, "{query} {limit:?}");
            assert_eq!(fast.matched, slow.len() as u64, "{query}");
        }
        assert!(
            !slow.is_empty(),
            "{query}: a case that keeps nothing proves little"
        );
    }
}

#[test]
fn the_found_literal_counts_only_where_the_text_covers_it() {
    let line = "2025-03-01T10:00:00Z WARN disk almost full";
    let text = &line[21..];
    // Found at 21 ("WARN"), inside the text: known.
    assert!(holds_at(line, text, 21, "WARN"));
    // In the time prefix, outside the text.
    assert!(!holds_at(line, text, 0, "2025"));
    // Running past the text's end.
    assert!(!holds_at(line, &line[21..24], 21, "WARN"));
    // The bytes there are not the literal (the file changed after the search).
    assert!(!holds_at(line, text, 26, "WARN"));
    // A text that is a copy, not part of the line.
    let copy = text.to_string();
    assert!(!holds_at(line, &copy, 21, "WARN"));
    // Past the line's end.
    assert!(!holds_at(line, text, line.len() - 2, "WARN"));
}
