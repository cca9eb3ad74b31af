//! The `loglens` executable, run as a user would.
use serde_json::Value;

use crate::support::{assert_ok, dead_url, loglens, model_url};

mod eval;
mod loki;

/// A golden case's JSON by id (`golden/cases/<id>.json`, or `.json.gz` for large ones).
fn golden_case(id: &str) -> Value {
    let plain = std::path::PathBuf::from(format!("golden/cases/{id}.json"));
    let path = if plain.exists() {
        plain
    } else {
        std::path::PathBuf::from(format!("golden/cases/{id}.json.gz"))
    };
    serde_json::from_str(&loglens_evals::case::read_case_text(&path).unwrap()).unwrap()
}

#[test]
fn help_explains_each_command() {
    let out = loglens().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["ask", "serve", "index", "queue", "--config", "--log-format"] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    // Only --config and --log-format are every command's: the rest belongs to the
    // commands that use it.
    assert!(!text.contains("--model-url"), "{text}");
    let out = loglens().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--workers",
        "LOGLENS_WORKERS",
        "--require-api-key",
        "--model-url",
    ] {
        assert!(text.contains(word), "serve --help lacks {word}:\n{text}");
    }
    let out = loglens().args(["ask", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--namespace",
        "--since",
        "--limit",
        "--json",
        "--grep",
        "--retrieval",
        "--model-url",
        "LOGLENS_MODEL_URL",
        "--database-url",
        "--logs",
        "--embed-url",
        "LOGLENS_EMBED_URL",
        "--qdrant-url",
    ] {
        assert!(text.contains(word), "ask --help lacks {word}:\n{text}");
    }
    // A command lists what it reads, nothing else.
    for (command, absent) in [
        (&["explain"][..], "--logs"),
        (&["golden", "import"][..], "--model-url"),
        (&["keys", "list"][..], "--model-url"),
        (&["index"][..], "--samples"),
        (&["triage"][..], "--model-url"),
    ] {
        let out = loglens().args(command).arg("--help").output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains(absent),
            "{command:?} --help lists {absent}:\n{text}"
        );
    }
    let out = loglens().args(["explain", "--help"]).output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(lines < 40, "explain --help is {lines} lines");
    // A flag a command does not use is an error, not silence.
    let out = loglens()
        .args(["golden", "analyze", "--model-url", "http://x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--model-url"));
    // A command's options may follow its subcommand.
    let out = loglens().args(["keys", "list", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--database-url"));
}

#[test]
fn explain_prints_the_pipeline_graph() {
    let out = loglens().arg("explain").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for stage in [
        "router",
        "retrieval",
        "evidence",
        "infra",
        "app",
        "consensus",
    ] {
        assert!(text.contains(stage), "{stage} missing:\n{text}");
    }
    assert!(text.contains("digraph"), "Graphviz output:\n{text}");
    // The specialists share a layer: they run in parallel.
    assert!(
        text.contains("4. infra") && text.contains("4. app"),
        "{text}"
    );
    // It needs no settings: a broken ./loglens.toml does not stop it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("loglens.toml"), "[agents\nmax_steps = ").unwrap();
    let out = loglens()
        .arg("explain")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same file stops a command that needs settings, with a clear error.
    let out = loglens()
        .args(["ask", "why?"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("loglens.toml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `loglens ask QUESTION --json` over a bundled incident with the test model, a fresh
/// database and `extra` arguments; the answer, which must have succeeded.
fn ask_bundled(question: &str, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("l.db").display());
    let out = loglens()
        // Other tests' model calls may be queued ahead of this one.
        .args(["ask", question, "--json", "--model-timeout", "600"])
        .args(extra)
        .args(["--model-url", &model_url(), "--database-url", &db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "ok");
    v
}

#[test]
fn ask_answers_over_the_bundled_incident() {
    let v = ask_bundled(
        "Why are customers unable to add items to their cart?",
        &["--limit", "8", "--logs", "examples/cart-redis-incident"],
    );
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

/// The second bundled incident is a state failure: the logs blame the frontend, the
/// recorded cluster state shows the cart service's pod Pending on no node. The evidence
/// ranks the scheduling failure first, from the state; the tiny model's choice is weighed
/// against that ranking, and what stands is what the weighing kept.
#[test]
fn ask_finds_the_pending_pod_in_the_bundled_cluster_state() {
    let v = ask_bundled(
        "Service Availability Disruption. What is the root cause?",
        &[
            "--max-steps",
            "0",
            "--logs",
            "examples/pending-cart-pod",
            "--events",
            "examples/cluster-states/pending-cart-pod.json",
        ],
    );
    let d = &v["details"];
    assert_eq!(d["candidates"][0]["signature"], "scheduling_failure", "{d}");
    assert_eq!(d["candidates"][0]["component"], "cartservice", "{d}");
    let stated = d["candidates"][0]["cited"].as_array().unwrap().len();
    assert!(stated > 0, "{d}");
    for o in d["opinions"].as_array().unwrap() {
        let w = &o["weighed"];
        assert_eq!(w["options"][0], "scheduling_failure", "{o}");
        assert_eq!(o["finding"]["cause"], w["kept"], "{o}");
        if w["overruled"] == false {
            assert_eq!(o["finding"]["cause"], "scheduling_failure");
            assert_eq!(o["finding"]["component"], "cartservice");
            // It cites the scheduler's own words from the recorded state.
            assert!(
                o["finding"]["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["text"]
                        .as_str()
                        .unwrap_or("")
                        .contains("FailedScheduling")),
                "{o}"
            );
        }
    }
}

/// `loglens ask` over one recorded Cloud-OpsBench case of each fault family (fixtures in
/// `tests/fixtures/cloudopsbench`, MIT): the case's logs as JSON lines, its recorded
/// `kubectl` output as `--events`, the benchmark's question. The evidence's top candidate
/// is the benchmark's cause on the benchmark's component and rests on the cluster state;
/// every specialist answer the tiny model did not overrule names that component and cites
/// a fact from the state.
#[test]
fn ask_names_each_familys_component_from_its_recorded_state() {
    let root = "tests/fixtures/cloudopsbench";
    for (case, cause, component) in [
        ("boutique_admission_13", "quota_exceeded", "boutique"),
        (
            "boutique_infrastructure_14",
            "node_component_down",
            "worker-02",
        ),
        (
            "boutique_runtime_19",
            "liveness_probe_failure",
            "emailservice",
        ),
        ("boutique_scheduling_1", "scheduling_failure", "cartservice"),
        ("boutique_service_14", "service_misconfigured", "redis-cart"),
        ("boutique_startup_14", "image_pull_error", "adservice"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let raw = format!("{root}/{case}/raw_data");
        let logs: std::collections::BTreeMap<String, Vec<String>> =
            serde_json::from_str(&std::fs::read_to_string(format!("{raw}/logs.json")).unwrap())
                .unwrap();
        let jsonl: Vec<String> = logs
            .iter()
            .flat_map(|(container, lines)| {
                lines.iter().map(move |l| {
                    serde_json::json!({
                        "labels": {"namespace": "boutique", "container": container},
                        "line": l,
                    })
                    .to_string()
                })
            })
            .collect();
        let path = dir.path().join("logs.jsonl");
        std::fs::write(&path, jsonl.join("\n")).unwrap();
        let meta: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{root}/{case}/metadata.json")).unwrap(),
        )
        .unwrap();
        let question = format!(
            "{} What is the root cause?",
            meta["query"].as_str().unwrap()
        );
        let v = ask_bundled(
            &question,
            &[
                "--max-steps",
                "0",
                "--namespace",
                "boutique",
                "--logs",
                path.to_str().unwrap(),
                "--events",
                &format!("{raw}/k8s_states.json"),
            ],
        );
        let d = &v["details"];
        let top = &d["candidates"][0];
        assert_eq!(top["signature"], cause, "{case}: {d}");
        assert_eq!(top["component"], component, "{case}: {d}");
        assert!(!top["cited"].as_array().unwrap().is_empty(), "{case}: {d}");
        for o in d["opinions"].as_array().unwrap() {
            if o["weighed"]["overruled"] == true {
                continue;
            }
            let f = &o["finding"];
            assert_eq!(f["cause"], cause, "{case}: {o}");
            assert_eq!(f["component"], component, "{case}: {o}");
            assert!(
                f["evidence"].as_array().unwrap().iter().any(|e| {
                    e["source"] == "kubernetes-events"
                        && e["text"].as_str().unwrap_or("").contains("Warning")
                }),
                "{case}: the answer cites no fact from the state: {o}"
            );
        }
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

    // --kubernetes with no cluster to talk to (no service account, no kubeconfig): a
    // clear error that says where it looked, before any model call.
    let out = loglens()
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("KUBECONFIG", "/does/not/exist/kubeconfig")
        .args(["ask", "why?", "--logs", "examples/cart-redis-incident"])
        .args(["--kubernetes", "--database-url", &db])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Kubernetes API: no cluster configuration")
            && err.contains("/does/not/exist/kubeconfig"),
        "{err}"
    );
}
