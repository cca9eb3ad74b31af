//! Replays the committed `fuzz/corpus/model_answer` inputs (model replies and their event
//! streams) through the fuzz target's entry points, on stable Rust. Runs with
//! `--features fuzzing` (scripts/test.sh does).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn model_answer_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/model_answer");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        let split = input.first().copied().unwrap_or(0) as usize;
        loglens_agents::fuzzing::model_stream(&input, split);
        if let Ok(text) = std::str::from_utf8(&input) {
            loglens_agents::fuzzing::model_answer(text);
        }
        n += 1;
    }
    assert!(n > 0);
}
