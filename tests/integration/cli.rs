//! The `loglens` executable, run as a user would.
use std::process::Command;

use serde_json::Value;

use crate::support::{dead_url, model_url};

fn loglens() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loglens"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in [
        "LOGLENS_LOGS",
        "LOGLENS_MODEL_URL",
        "LOGLENS_DATABASE_URL",
        "LOGLENS_CONFIG",
    ] {
        c.env_remove(var);
    }
    c
}

#[test]
fn help_explains_each_command() {
    let out = loglens().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "ask",
        "serve",
        "--model-url",
        "LOGLENS_MODEL_URL",
        "--database-url",
        "--logs",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    let out = loglens().args(["ask", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["--namespace", "--since", "--limit", "--json", "--grep"] {
        assert!(text.contains(word), "ask --help lacks {word}:\n{text}");
    }
}

#[test]
fn ask_answers_over_the_bundled_incident() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("l.db").display());
    let out = loglens()
        .args([
            "ask",
            "Why are customers unable to add items to their cart?",
            "--json",
            "--limit",
            "8",
        ])
        .args([
            "--logs",
            "examples/cart-redis-incident",
            "--model-url",
            &model_url(),
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "ok");
    assert!(v["retrieved"].as_array().unwrap().len() <= 8);
    let file = std::fs::read_to_string("examples/cart-redis-incident/logs.jsonl").unwrap();
    let lines: Vec<&str> = file.lines().collect();
    for e in v["finding"]["evidence"].as_array().unwrap() {
        // Each cited line exists at the cited place in the bundled file.
        let n = e["line_no"].as_u64().unwrap() as usize;
        let raw: Value = serde_json::from_str(lines[n - 1]).unwrap();
        let text = e["text"].as_str().unwrap();
        let prefix: String = text.chars().take(40).collect();
        assert!(
            raw["line"].as_str().unwrap().starts_with(&prefix),
            "line {n}: {text}"
        );
    }
}

#[test]
fn ask_without_logs_or_model_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("l.db").display());
    let out = loglens()
        .args(["ask", "why?", "--database-url", &db])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no logs given"));

    let out = loglens()
        .args([
            "ask",
            "why?",
            "--logs",
            "examples/cart-redis-incident",
            "--model-url",
            &dead_url(),
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unavailable") && err.contains("recorded as analysis"),
        "{err}"
    );

    let out = loglens()
        .args([
            "ask",
            "why?",
            "--logs",
            "does/not/exist",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("does/not/exist"));
}
