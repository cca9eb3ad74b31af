//! The fast reader against serde_json: wherever it is sure, it must give what serde_json
//! gives; on the common shapes it must be sure.
use super::super::json_fields::Fields;
use super::*;

/// Lines of every shape: what apps and shippers write, and what they get wrong.
const LINES: &[&str] = &[
    r#"{"ts":"2025-03-01T10:00:00.123Z","level":"WARN","pod":"cart-7c9d-1","msg":"request path=/api/cart/1 took=3ms"}"#,
    r#"{"time":"2025-03-01T10:00:00Z","severity":"error","message":"db: connection refused","caller":"db.go:12","attempt":3}"#,
    r#"{"@timestamp":"2025-03-01T10:00:00+02:00","log.level":"info","service.name":"checkout","trace_id":"abc"}"#,
    r#"{"timestamp":1740823200,"level":"info","msg":"ok","latency":0.25,"ok":true,"tags":["a","b"],"err":null}"#,
    r#"{"ts":1740823200123,"lvl":"debug","msg":"x"}"#,
    r#"{"line":"GET /healthz 200","labels":{"namespace":"shop","pod":"web-1","container":"nginx","job":"shop/web"},"timestamp":"2025-03-01T10:00:00Z"}"#,
    r#"{"log":"panic: nil map\n","stream":"stderr","time":"2025-03-01T10:00:00.5Z","kubernetes":{"pod_name":"api-2","namespace_name":"prod","labels":{"app":"api"}}}"#,
    r#"{"stream":{"app":"x"},"line":"y"}"#,
    r#"  { "ts" : "2025-03-01T10:00:00Z" , "msg" : "spaces\taround" }  "#,
    r#"{"msg":"quote \" and backslash \\ and slash \/ \b\f\n\r\t","level":"error"}"#,
    r#"{"msg":"go escapes \u003chtml\u003e \u0026","level":"info"}"#,
    r#"{"msg":"lone \ud800 surrogate","level":"info"}"#,
    r#"{"level":"caf\u00e9","msg":"read value with an escape"}"#,
    r#"{"le\u0076el":"error","msg":"key with an escape"}"#,
    r#"{"level":"\ud83d\ude00","msg":"an escaped surrogate pair in a read value"}"#,
    r#"{"level":"\ud83d","msg":"a lone surrogate in a read value"}"#,
    r#"{"pod":"a","pod":"b","level":"x","level":7}"#,
    r#"{"ts":-5,"msg":"negative time"}"#,
    r#"{"ts":-0,"msg":"negative zero"}"#,
    r#"{"ts":1.5e9,"msg":"float time"}"#,
    r#"{"ts":18446744073709551616,"msg":"past u64"}"#,
    r#"{"ts":18446744073709551615,"msg":"u64 max"}"#,
    r#"{"pod":12,"node":0,"app":false,"level":[1,{"a":[]}]}"#,
    r#"{"a":{"b":{"c":{"d":[[[[{"e":"f"}]]]]}}},"pod":"deep"}"#,
    r#"{"kubernetes":{"labels":{"pod":"nested twice"},"host":"n1","pod_name":"p"},"log":"x"}"#,
    r#"{"n":[-1,0,1,-0.5,1e3,1E+3,2.5e-3,0.0]}"#,
    r#"{"unicode":"日本語 ✓ émoji 🎉","pod":"ü"}"#,
    r#"{}"#,
    r#"{ }"#,
    // Not JSON, or not an object.
    r#"{"a":1,}"#,
    r#"{"a":1}x"#,
    r#"{"a":1"#,
    r#"{"a":"unterminated}"#,
    r#"{"a":01}"#,
    r#"{"a":1.}"#,
    r#"{"a":.5}"#,
    r#"{"a":1e}"#,
    r#"{"a":-}"#,
    r#"{"a":tru}"#,
    r#"{"a":truex}"#,
    r#"{"a" 1}"#,
    r#"{a:1}"#,
    r#"{"a":[1,]}"#,
    r#"{"a":[1 2]}"#,
    r#"{"a":"bad \x escape"}"#,
    r#"{"a":"short \u12"}"#,
    r#"{"a":"hex \u12g4"}"#,
    "{\"a\":\"tab\tinside\"}",
    "{\"a\":\"nul\u{0}inside\"}",
    r#"{"a":1}{"b":2}"#,
    r#"["not","an","object"]"#,
    r#"{"ts":"2025-03-01T10:00:00Z" "msg":"missing comma"}"#,
    "{ plain text in braces }",
];

/// serde_json's answer.
fn serde(raw: &str) -> Option<Fields<'_>> {
    serde_json::from_str::<Fields>(raw).ok()
}

/// The fast reader, where sure, agrees with serde_json. `true`: it was sure.
fn agrees(raw: &str) -> bool {
    let fast = fields(raw);
    let sure = fast.is_some();
    if sure {
        assert_eq!(fast, serde(raw), "{raw:?}");
    }
    sure
}

#[test]
fn it_agrees_with_serde_json_on_every_shape() {
    for raw in LINES {
        agrees(raw);
    }
}

#[test]
fn it_is_sure_of_the_common_shapes_and_of_no_invalid_line() {
    // Lines it must read itself (else the scan pays serde_json for them): all those
    // before the one with an escaped key, and the duplicated keys.
    let escaped_key = LINES
        .iter()
        .position(|l| l.contains("le\\u0076el"))
        .unwrap();
    let sure = LINES[..escaped_key].iter().chain(
        LINES
            .iter()
            .filter(|l| l.contains(r#""pod":"a","pod":"b""#)),
    );
    for raw in sure {
        assert!(fields(raw).is_some(), "{raw}");
    }
    for raw in LINES.iter().filter(|l| serde(l).is_none()) {
        assert!(fields(raw).is_none(), "{raw}");
    }
    // Left to serde_json: escaped keys and surrogates, numbers other than a u64.
    let unsure = [
        "le\\u0076el",
        "\\ud83d",
        r#""ts":-"#,
        r#""ts":1.5e9"#,
        r#""ts":18446744073709551616"#,
    ];
    for raw in LINES
        .iter()
        .filter(|l| unsure.iter().any(|u| l.contains(u)))
    {
        assert!(fields(raw).is_none(), "{raw}");
    }
    let read = fields(LINES[0]).unwrap();
    let keys: Vec<&str> = read.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["ts", "level", "pod"], "msg is skipped, not read");
}

/// A tiny deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// `seed` with `edits` random edits: a byte of `alphabet` written over one, put in,
    /// or a byte taken out, or a slice repeated (a duplicated key, a nested value).
    fn mutate(&mut self, seed: &[u8], alphabet: &[u8], edits: usize) -> Vec<u8> {
        let mut b = seed.to_vec();
        for _ in 0..edits {
            let at = self.below(b.len() + 1);
            match self.below(4) {
                0 if at < b.len() => b[at] = alphabet[self.below(alphabet.len())],
                1 if at < b.len() => {
                    b.remove(at);
                }
                2 => b.insert(at, alphabet[self.below(alphabet.len())]),
                _ => {
                    let from = self.below(b.len());
                    let len = self.below(b.len() - from + 1).min(24);
                    let piece = b[from..from + len].to_vec();
                    let at = at.min(b.len());
                    b.splice(at..at, piece);
                }
            }
        }
        b
    }
}

#[test]
fn it_agrees_with_serde_json_on_mutated_lines() {
    // Bytes that matter to JSON, and a few that do not.
    const ALPHABET: &[u8] = b"{}[]:,\"\\/-+.0123456789eEtrufalsn \t\r\nux\x01\x1f\x7f";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut checked, mut sure) = (0, 0);
    for _ in 0..60_000 {
        let seed = LINES[rng.below(LINES.len())].as_bytes();
        let edits = 1 + rng.below(3);
        let b = rng.mutate(seed, ALPHABET, edits);
        if let Ok(raw) = std::str::from_utf8(&b) {
            sure += usize::from(agrees(raw));
            checked += 1;
        }
    }
    assert!(checked > 50_000, "{checked}");
    // Both readers are exercised: the fast one is sure of many mutants, not of all.
    assert!(
        sure > checked / 10 && sure < checked * 9 / 10,
        "{sure} of {checked}"
    );
}

#[test]
fn deep_nesting_is_left_to_serde_json() {
    let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(40), "]".repeat(40));
    assert!(fields(&deep).is_none());
    assert!(serde(&deep).is_some());
    let read_deep = format!(
        r#"{{"labels":{}"x"{}}}"#,
        r#"{"pod":"#.repeat(40),
        "}".repeat(40)
    );
    assert!(fields(&read_deep).is_none());
    agrees(&read_deep);
    let shallow = format!(r#"{{"a":{}1{}}}"#, "[".repeat(20), "]".repeat(20));
    assert!(fields(&shallow).is_some());
}

#[test]
fn the_word_at_a_time_search_finds_the_first_special_byte() {
    let scalar = |b: &[u8], i: usize| {
        b[i..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .map_or(b.len(), |p| i + p)
    };
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let len = rng.below(40);
        let b: Vec<u8> = (0..len)
            .map(|_| match rng.below(10) {
                0 => b'"',
                1 => b'\\',
                2 => rng.below(0x20) as u8,
                3 => 0x20 + rng.below(3) as u8,
                4 => 0x80 + rng.below(0x80) as u8,
                _ => b'a' + rng.below(26) as u8,
            })
            .collect();
        let i = rng.below(len + 1);
        assert_eq!(next_special(&b, i), scalar(&b, i), "{b:?} from {i}");
    }
}

/// Label sets a filter may read (`level` and `job` are never an app line's own).
const WANTED: &[&[&str]] = &[
    &[],
    &["pod"],
    &["namespace", "pod", "filename"],
    &["stream", "app", "node", "container"],
    &["level", "job"],
];

#[test]
fn the_app_line_reader_agrees_with_json_view() {
    for raw in LINES {
        for wanted in WANTED {
            crate::logs::parse::check_app_view(raw, wanted);
        }
    }
    // Sure of an app's timed lines, whatever labels are wanted; not of an envelope or of
    // a line whose first time key has no time.
    for (raw, sure) in [
        (LINES[0], true),
        (LINES[1], true),
        (LINES[2], true),
        (LINES[3], true),
        (LINES[5], false),
        (LINES[6], false),
        (r#"{"timestamp":"x","ts":"2025-03-01T10:00:00Z"}"#, false),
        (
            r#"{"pod":"a","pod_name":"b","ts":"2025-03-01T10:00:00Z"}"#,
            true,
        ),
    ] {
        assert_eq!(
            crate::logs::parse::check_app_view(raw, &["namespace", "container"]),
            sure,
            "{raw}"
        );
    }
    // Two keys for a wanted label: which one counts depends on their values.
    let two = r#"{"pod":"a","pod_name":"b","ts":"2025-03-01T10:00:00Z"}"#;
    assert!(!crate::logs::parse::check_app_view(two, &["pod"]));
    assert!(crate::logs::parse::check_app_view(
        r#"{"pod":"a","pod":"b","ts":"2025-03-01T10:00:00Z"}"#,
        &["pod"]
    ));
}

#[test]
fn the_app_line_reader_agrees_with_json_view_on_mutated_lines() {
    const ALPHABET: &[u8] = b"{}[]:,\"\\/-+.0123456789eEtrufalsn \t\r\nux\x01";
    // Timed app lines with label keys, so mutants keep a time and labels to compare.
    let seeds = [
        r#"{"ts":"2025-03-01T10:00:00.123Z","level":"WARN","pod":"cart-7c9d-1","msg":"x"}"#,
        r#"{"time":"2025-03-01T10:00:00Z","pod_name":"p","namespace":"n","stream":"stdout"}"#,
        r#"{"timestamp":1740823200,"app":"a","node":7,"container":{"x":1},"ts":"bad"}"#,
        r#"{"ts":"2025-03-01T10:00:00Z","pod":"a","pod":"b","labels":{"pod":"c"},"filename":"f"}"#,
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut checked, mut sure) = (0, 0);
    // One memo for the run, as a scan keeps one: most keys are found remembered (the
    // seeds share them), some mutated.
    let mut memo = crate::logs::parse::LineMemo::default();
    for _ in 0..40_000 {
        let seed = seeds[rng.below(seeds.len())].as_bytes();
        let edits = 1 + rng.below(2);
        let b = rng.mutate(seed, ALPHABET, edits);
        if let Ok(raw) = std::str::from_utf8(&b) {
            let wanted = WANTED[rng.below(WANTED.len())];
            let fresh = crate::logs::parse::check_app_view(raw, wanted);
            let kept = crate::logs::parse::check_app_view_with(raw, wanted, &mut memo);
            assert_eq!(
                kept, fresh,
                "{raw}: sure with a fresh memo, not with the run's"
            );
            sure += usize::from(fresh);
            checked += 1;
        }
    }
    assert!(checked > 30_000, "{checked}");
    assert!(
        sure > checked / 10 && sure < checked * 9 / 10,
        "{sure} of {checked}"
    );
}
