//! The formats' parsers on lines of each shape.
use super::*;

/// The owned line [`json_view`] gives.
fn parse_json_line(raw: &str) -> Option<Parsed> {
    json_view(raw).map(LineView::into_parsed)
}

/// The owned line [`plain_view`] gives.
fn parse_plain_line(raw: &str) -> Parsed {
    plain_view(raw).into_parsed()
}

#[test]
fn epoch_numbers_out_of_every_range_give_no_time_and_no_panic() {
    // Microseconds whose nanoseconds overflow i64 (once a multiply-overflow panic).
    let t = parse_json_line(r#"{"ts": 9999999999999999, "level":"error", "msg":"x"}"#);
    assert!(t.is_some());
    for n in [i64::MAX, i64::MIN, -1, 99_999_999_999_999_999] {
        let _ = epoch(n);
    }
    assert_eq!(epoch(-5), None);
    for f in [1e300, -1e300] {
        let n = serde_json::Number::from_f64(f).unwrap();
        assert_eq!(value_timestamp(&Field::Num(n)), None);
    }
    assert_eq!(
        epoch(1_700_000_000_000_000).map(|t| t.timestamp()),
        Some(1_700_000_000)
    );
}

#[test]
fn since_is_bounded() {
    assert_eq!(parse_since("9999999999h"), None);
    assert_eq!(parse_since("0s"), None);
    assert!(parse_since("36500d").is_some());
    assert_eq!(parse_since("36501d"), None);
}

#[test]
fn kubectl_timestamps_prefix_is_parsed() {
    let p = parse_plain_line("2025-11-11T14:43:04.731512607Z Starting server on :8080");
    assert_eq!(p.text, "Starting server on :8080");
    assert_eq!(
        p.timestamp.map(|t| t.timestamp_subsec_nanos()),
        Some(731_512_607)
    );
}

#[test]
fn plain_line_without_time_is_kept_whole() {
    let p = parse_plain_line("at Foo.Bar(Baz.java:42)");
    assert_eq!(p.text, "at Foo.Bar(Baz.java:42)");
    assert!(p.timestamp.is_none());
}

#[test]
fn cri_format_is_parsed() {
    let p = parse_plain_line("2024-05-01T10:00:00.5Z stderr F panic: runtime error");
    assert_eq!(p.text, "panic: runtime error");
    assert_eq!(p.labels.get("stream").map(String::as_str), Some("stderr"));
}

#[test]
fn envelope_json_line_uses_line_and_labels() {
    let p = parse_json_line(
        r#"{"timestamp":"2025-01-01T00:00:00Z","labels":{"pod_name":"a-1","namespace":"ns"},"line":"boom"}"#,
    );
    let p = p.unwrap_or_else(|| unreachable!());
    assert_eq!(p.text, "boom");
    assert_eq!(p.labels.get("pod").map(String::as_str), Some("a-1"));
    assert_eq!(p.labels.get("namespace").map(String::as_str), Some("ns"));
    assert!(p.timestamp.is_some());
}

#[test]
fn app_json_line_keeps_whole_object_as_text() {
    let raw =
        r#"{"message":"request error","severity":"error","timestamp":"2025-11-11T14:44:05.557Z"}"#;
    let p = parse_json_line(raw).unwrap_or_else(|| unreachable!());
    assert_eq!(p.text, raw);
    assert!(p.timestamp.is_some());
    assert!(!p.labels.contains_key("level"));
}

#[test]
fn epoch_units_are_detected() {
    let s = parse_timestamp("1700000000").map(|t| t.timestamp());
    let ms = parse_timestamp("1700000000000").map(|t| t.timestamp());
    let ns = parse_timestamp("1700000000000000000").map(|t| t.timestamp());
    assert_eq!(s, Some(1_700_000_000));
    assert_eq!(ms, s);
    assert_eq!(ns, s);
}

#[test]
fn kubelet_paths_give_labels() {
    let l = labels_from_path(Path::new(
        "/var/log/pods/shop_checkout-6d4f_0a1b/server/0.log",
    ));
    assert_eq!(l.get("namespace").map(String::as_str), Some("shop"));
    assert_eq!(l.get("pod").map(String::as_str), Some("checkout-6d4f"));
    assert_eq!(l.get("container").map(String::as_str), Some("server"));
}

#[test]
fn loki_export_is_parsed() {
    let body = br#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{"namespace":"ns","pod":"p-1"},"values":[["1700000000000000000","a"],["1700000001000000000","b"]]}]}}"#;
    assert!(looks_like_loki_export(body));
    let lines = parse_loki_export(body).unwrap_or_default();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].text, "b");
    assert_eq!(lines[0].labels.get("pod").map(String::as_str), Some("p-1"));
}

#[test]
fn loki_matrix_is_refused() {
    let body = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
    assert!(parse_loki_export(body).is_err());
}

#[test]
fn a_repeated_json_key_keeps_its_last_value() {
    let few =
        parse_json_line(r#"{"ts":"2025-03-01T10:00:00Z","pod":"a","pod":"b","msg":"x"}"#).unwrap();
    assert_eq!(few.labels.get("pod").map(String::as_str), Some("b"));
    let mut many = String::from("{\"ts\":\"2025-03-01T10:00:00Z\",\"pod\":\"a\"");
    for i in 0..40 {
        many.push_str(&format!(",\"k{i}\":{i}"));
    }
    many.push_str(",\"pod\":\"b\"}");
    let many = parse_json_line(&many).unwrap();
    assert_eq!(many.labels.get("pod").map(String::as_str), Some("b"));
    assert!(many.timestamp.is_some());
}

/// How [`plain_view`] read a line before it found its words as bytes: the reference
/// the byte version is checked against.
fn plain_view_by_chars(raw: &str) -> (String, Option<DateTime<Utc>>, Option<String>) {
    if let Some((first, rest)) = raw.split_once(' ')
        && first.len() >= 20
        && first.as_bytes().get(4) == Some(&b'-')
        && let Some(ts) = parse_timestamp(first)
    {
        let mut parts = rest.splitn(3, ' ');
        if let (Some(stream @ ("stdout" | "stderr")), Some("F" | "P"), Some(text)) =
            (parts.next(), parts.next(), parts.next())
        {
            return (text.to_string(), Some(ts), Some(stream.to_string()));
        }
        return (rest.to_string(), Some(ts), None);
    }
    (raw.to_string(), None, None)
}

#[test]
fn the_plain_reader_agrees_with_reading_by_characters_on_mutated_lines() {
    let seeds = [
        "2024-01-01T00:00:00.000Z stdout F message",
        "2024-01-01T00:00:00.000Z stderr P partial line",
        "2024-01-01T00:00:00.000Z stdout F ",
        "2024-01-01T00:00:00.000Z stdout F",
        "2025-03-01T10:00:00.001Z WARN request path=/api/cart/1 status=503",
        "2025-03-01T10:00:00+02:00 stdout F é unicode ✓",
        "2025-03-01 10:00:00 INFO a space inside the time",
        "plain text without a time",
        "  2025-03-01T10:00:00Z indented",
    ];
    let alphabet = " sdtoeruFP:-.TZ0129é\t";
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    let mut memo = SecondMemo::default();
    let mut cri = 0;
    for i in 0..100_000 {
        let mut line: Vec<char> = seeds[i % seeds.len()].chars().collect();
        for _ in 0..1 + next(3) {
            let at = next(line.len() + 1);
            match next(3) {
                0 if at < line.len() => line[at] = alphabet[next(alphabet.len())],
                1 if at < line.len() => {
                    line.remove(at);
                }
                _ => line.insert(at, alphabet[next(alphabet.len())]),
            }
        }
        let line: String = line.into_iter().collect();
        // One memo for the run, as the scan keeps one.
        let view = plain_view_with(&line, &mut memo);
        let got = (
            view.text.to_string(),
            view.timestamp,
            view.labels.get("stream").map(str::to_string),
        );
        let want = plain_view_by_chars(&line);
        cri += usize::from(want.2.is_some());
        assert_eq!(got, want, "{line:?}");
    }
    assert!(cri > 5_000, "{cri} CRI lines among the mutants");
}
