//! Replays the committed fuzz corpora (`fuzz/corpus/`) through the same entry points the
//! fuzz targets call, on stable Rust: every input the fuzzer kept, and every crash it
//! found (saved there once fixed), must still parse without a panic. Runs with
//! `--features fuzzing` (scripts/test.sh does).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use loglens_tools::fuzzing;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/../fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(!inputs.is_empty(), "{dir} is empty");
    inputs
}

#[test]
fn log_line_corpus() {
    for input in corpus("log_line") {
        fuzzing::log_line(&input);
    }
}

#[test]
fn loki_export_corpus() {
    for input in corpus("loki_export") {
        fuzzing::loki_export(&input);
    }
}

#[test]
fn logql_corpus() {
    for input in corpus("logql") {
        if let Ok(text) = std::str::from_utf8(&input) {
            fuzzing::logql(text);
        }
    }
}

#[test]
fn kubectl_corpus() {
    for input in corpus("kubectl") {
        if let Ok(text) = std::str::from_utf8(&input) {
            fuzzing::kubectl(text);
        }
    }
}
