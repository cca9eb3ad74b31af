use super::*;

fn line(n: u64, labels: &[(&str, &str)], text: &str) -> LogLine {
    LogLine {
        source: "t".into(),
        line_no: n,
        timestamp: None,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        text: text.into(),
        truncated_bytes: 0,
    }
}

#[test]
fn levels_come_from_labels_fields_or_words() {
    assert_eq!(
        detect_level(&line(1, &[("level", "error")], "x")),
        Severity::Error
    );
    assert_eq!(
        detect_level(&line(1, &[], r#"{"level":"warn","msg":"slow"}"#)),
        Severity::Warn
    );
    assert_eq!(
        detect_level(&line(1, &[], "ts=1 level=fatal msg=boom")),
        Severity::Critical
    );
    assert_eq!(
        detect_level(&line(1, &[], "2024-01-01 ERROR db down")),
        Severity::Error
    );
    assert_eq!(detect_level(&line(1, &[], "all fine here")), Severity::Info);
    // A level word beats a keyword later in the line.
    assert_eq!(
        detect_level(&line(1, &[], "INFO retry after error")),
        Severity::Info
    );
}

#[test]
fn the_message_part_drops_dates_levels_and_loggers() {
    assert_eq!(
        message_part(
            "081109 203615 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating"
        ),
        "PacketResponder 1 terminating"
    );
    assert_eq!(
        message_part("[ERROR] db down: retrying"),
        "db down: retrying"
    );
    assert_eq!(message_part("no level here"), "no level here");
}

#[test]
fn noise_is_dropped_and_info_floods_capped() {
    let mut ls = vec![];
    for i in 0..30 {
        ls.push(line(i, &[("app", "api")], "GET /healthz 200"));
        ls.push(line(
            100 + i,
            &[("app", "api")],
            "INFO request served in 3ms",
        ));
    }
    ls.push(line(
        500,
        &[("app", "api")],
        "ERROR database connection refused",
    ));
    let ws = windows(&ls, 10);
    let all: Vec<&LogLine> = ws.iter().flat_map(|w| &w.lines).collect();
    assert!(all.iter().all(|l| !l.text.contains("healthz")));
    // 5 of the repeated info line per window, and the error kept.
    assert!(all.iter().any(|l| l.text.contains("connection refused")));
    assert!(all.len() <= 6, "{}", all.len());
}

#[test]
fn a_window_is_labelled_from_its_worst_lines() {
    let lib = SignatureLibrary::builtin().unwrap();
    let mut ls = vec![];
    for i in 0..8 {
        ls.push(line(
            i,
            &[("job", "shop"), ("component", "web")],
            &format!("INFO served order {i}"),
        ));
    }
    for i in 0..3 {
        ls.push(line(
            10 + i,
            &[("job", "shop"), ("component", "db-client")],
            &format!("ERROR dial tcp 10.0.0.{i}:5432: connect: connection refused"),
        ));
    }
    ls.push(line(
        20,
        &[("job", "shop"), ("component", "web")],
        "WARN slow request",
    ));
    let ws = windows(&ls, 12);
    assert_eq!(ws.len(), 1);
    let cfg = ExtractConfig {
        window_lines: 12,
        max_cases: 10,
        seed: 1,
        id_prefix: "loki".into(),
        source: "test".into(),
        licence: "test".into(),
    };
    let c = label_window(&ws[0], 1, &lib, &cfg, &mut Rng::new(1));
    assert_eq!(c.expected.diagnosis.severity, Severity::Error);
    assert_eq!(c.expected.diagnosis.component, "db-client");
    assert_eq!(c.expected.cause, "connection_refused");
    assert_eq!(c.expected.evidence.len(), 3);
    assert!(
        c.expected
            .diagnosis
            .error_signature
            .contains("connection refused")
    );
    assert!(c.tags.contains(&"auto-labelled".to_string()));
    let text = serde_json::to_string(&c).unwrap();
    crate::case::parse_case(&text, Path::new("x.json")).unwrap();
}

#[test]
fn sampling_follows_the_mix_and_fills_from_what_exists() {
    let lib = SignatureLibrary::builtin().unwrap();
    let cfg = ExtractConfig {
        window_lines: 4,
        max_cases: 10,
        seed: 3,
        id_prefix: "loki".into(),
        source: "t".into(),
        licence: "t".into(),
    };
    let mut ls = vec![];
    // 20 healthy windows, 4 with errors, no warnings or criticals.
    for w in 0..24u64 {
        for i in 0..4u64 {
            let text = if w < 4 && i == 3 {
                format!("ERROR job {w} failed")
            } else {
                format!("INFO step {w}-{i} done with code {}", w * 10 + i)
            };
            ls.push(line(w * 4 + i, &[("job", "batch")], &text));
        }
    }
    let cases = extract(&ls, &lib, &cfg);
    assert_eq!(cases.len(), 10);
    let errors = cases
        .iter()
        .filter(|c| c.expected.diagnosis.severity == Severity::Error)
        .count();
    // All 4 error windows are taken (their quota is 4 of 10); info fills the rest.
    assert_eq!(errors, 4);
    // The same seed gives the same cases.
    let again = extract(&ls, &lib, &cfg);
    assert_eq!(
        cases.iter().map(|c| &c.id).collect::<Vec<_>>(),
        again.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
}

#[test]
fn loghub_sets_read_with_their_own_levels_and_times() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/loghub2_2k");
    let lines = loghub_lines(&dir).unwrap();
    assert_eq!(lines.len(), 8000);
    assert!(
        lines.iter().all(|l| l.timestamp.is_some()),
        "every set's time parses"
    );
    let zk_errors = lines
        .iter()
        .filter(|l| l.label("job") == Some("Zookeeper") && detect_level(l) == Severity::Error)
        .count();
    assert_eq!(zk_errors, 13);
}
