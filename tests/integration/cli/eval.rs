//! The eval harness and the golden dataset, from the command line: reports, stored runs, drift, resume, and an eval through a real Loki API.
use super::*;

/// The golden dataset in the repository is valid, and the harness runs over the fixed
/// smoke subset end to end (the evidence-only variant needs no model): reports, the run
/// stored, compared with the last good run, drift flagged and failing the run when asked,
/// and a stopped run resumed. A smoke test of the harness, not a score.
#[test]
fn golden_cases_check_and_the_eval_harness_reports() {
    let out = loglens().args(["golden", "analyze"]).output().unwrap();
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("all fit golden/case.schema.json"), "{text}");
    let n: usize = text.split_whitespace().next().unwrap().parse().unwrap();
    assert!(n >= 150, "{n} cases");
    assert!(text.contains("origin    real"), "{text}");

    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("evals.db").display());
    let subset: Vec<String> = std::fs::read_to_string("golden/smoke.txt")
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let eval = |extra: &[&str], out: &std::path::Path| {
        loglens()
            .args([
                "eval",
                "--subset",
                "golden/smoke.txt",
                "--database-url",
                &db,
            ])
            .args(extra)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let first = tmp.path().join("first");
    let out = eval(&[], &first);
    assert_ok(&out);
    let report = std::fs::read_to_string(first.join("report.md")).unwrap();
    assert!(
        report.contains(&format!("| cases | {} |", subset.len())),
        "{report}"
    );
    for section in [
        "## Fields (macro over classes)",
        "## By source",
        "## Severity",
        "## Failure modes",
        "retrieval precision / recall / MRR / NDCG@10",
        "summary ROUGE-L",
        "this run is the reference",
    ] {
        assert!(report.contains(section), "{section} missing:\n{report}");
    }
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["variant"], "evidence");
    assert_eq!(run["cases"].as_array().unwrap().len(), subset.len());
    let csv = std::fs::read_to_string(first.join("cases.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        subset.len() + 1,
        "a header and a row per case"
    );

    // The same cases again: compared with the first run, nothing drifted.
    let second = tmp.path().join("second");
    let out = eval(&["--fail-on-drift"], &second);
    assert_ok(&out);
    let report = std::fs::read_to_string(second.join("report.md")).unwrap();
    assert!(report.contains("## Against the last good run"), "{report}");
    assert!(!report.contains("DRIFT"), "{report}");

    // The same case ids with different ground truth (a relabelling, or a model that got
    // worse): cause accuracy falls, which is drift, and --fail-on-drift fails the run.
    let relabelled = tmp.path().join("relabelled");
    for id in &subset {
        let mut case = golden_case(id);
        case["expected"]["cause"] = Value::from("relabelled_cause");
        let dst = relabelled.join(format!("{id}.json"));
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::write(&dst, case.to_string()).unwrap();
    }
    let third = tmp.path().join("third");
    let out = eval(
        &["--fail-on-drift", "--cases", relabelled.to_str().unwrap()],
        &third,
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("drift: cause_accuracy"));
    let report = std::fs::read_to_string(third.join("report.md")).unwrap();
    assert!(report.contains("| DRIFT |"), "{report}");

    // Runs are stored: listed, and compared by folder.
    let out = loglens()
        .args(["eval", "list", "--database-url", &db])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listing.lines().count(), 3, "{listing}");
    assert!(listing.contains("DRIFT"), "{listing}");
    let out = loglens()
        .args(["eval", "compare"])
        .arg(&first)
        .arg(&third)
        .args(["--database-url", &db])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("| cause_accuracy |") && table.contains("DRIFT"),
        "{table}"
    );

    // A stopped run resumes: the cases in progress.jsonl are kept, the rest run.
    let resumed = tmp.path().join("resumed");
    std::fs::create_dir_all(&resumed).unwrap();
    let progress = std::fs::read_to_string(first.join("progress.jsonl")).unwrap();
    let kept: Vec<&str> = progress.lines().take(3).collect();
    std::fs::write(resumed.join("progress.jsonl"), kept.join("\n") + "\n").unwrap();
    let out = loglens()
        .args([
            "eval",
            "--subset",
            "golden/smoke.txt",
            "--no-store",
            "--resume",
        ])
        .arg(&resumed)
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 of 10 cases already done"));
    let after = std::fs::read_to_string(resumed.join("progress.jsonl")).unwrap();
    assert_eq!(after.lines().count(), subset.len());
    assert_eq!(
        after.lines().take(3).collect::<Vec<_>>(),
        kept,
        "kept as they were"
    );
    // Without --resume, a folder holding a run is refused rather than overwritten.
    let out = eval(&["--no-store"], &resumed);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));

    // A broken case is refused with the file and the field.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("x.json"), r#"{"id":"x"}"#).unwrap();
    let out = loglens()
        .args(["golden", "check", "--cases"])
        .arg(bad.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not fit the case schema"));
}

/// `eval --loki` pushes each case into a real Loki API (qryn, started by scripts/test.sh),
/// retimed and labelled, and reads it back through the Loki client. The deterministic
/// variant must then answer every smoke case exactly as it does from the embedded file
/// source, with the same lines retrieved and cited (mapped back to the case's lines).
/// Then the agents variant runs through Loki with the real test model: answers in choose
/// mode (the model is under 1B parameters) that cite case lines.
#[test]
fn eval_through_loki_answers_as_the_file_source_does() {
    let loki = std::env::var("LOGLENS_TEST_LOKI_URL").unwrap_or_else(|_| {
        panic!("LOGLENS_TEST_LOKI_URL is not set: run the tests with scripts/test.sh")
    });
    let tmp = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], out: &std::path::Path| -> Value {
        let o = loglens()
            .args(["eval", "--subset", "golden/smoke.txt", "--no-store"])
            .args(extra)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert_ok(&o);
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap()
    };
    let files = run(&[], &tmp.path().join("files"));
    let through_loki = run(&["--loki", "--loki-url", &loki], &tmp.path().join("loki"));
    assert_eq!(through_loki["variant"], "evidence+loki");
    let by_case = |v: &Value| -> std::collections::BTreeMap<String, Value> {
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["case"].as_str().unwrap().to_string(), r.clone()))
            .collect()
    };
    let (a, b) = (by_case(&files), by_case(&through_loki));
    assert_eq!(a.len(), 10);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut retrieved = 0;
    for (id, fr) in &a {
        let lr = &b[id];
        assert_eq!(fr["error"], lr["error"], "{id}");
        assert_eq!(fr["cited"], lr["cited"], "{id}: lines cited");
        // Loki has no "unknown time": a case's untimed lines (kubectl logs without
        // --timestamps) get push times before its first timed line, in file order, as the
        // file source orders them; the time-based parts of choosing lines can then pick a
        // different one of equivalent lines. With every line timed, the same lines exactly.
        let case = golden_case(id);
        let untimed = case["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["timestamp"].is_null());
        let set = |v: &Value| -> std::collections::BTreeSet<u64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect()
        };
        let (fs, ls) = (set(&fr["retrieved"]), set(&lr["retrieved"]));
        if untimed {
            let shared = fs.intersection(&ls).count() as f64;
            let all = fs.union(&ls).count().max(1) as f64;
            // Half at least: the Cloud-OpsBench cases, re-imported with more untimed
            // lines (a .NET service's), were seen at 10 of 17 shared.
            assert!(
                fs == ls || shared / all >= 0.5,
                "{id}: lines retrieved {fs:?} / {ls:?}"
            );
        } else {
            assert_eq!(fr["retrieved"], lr["retrieved"], "{id}: lines retrieved");
        }
        for field in [
            "cause",
            "component",
            "severity",
            "error_signature",
            "root_cause",
        ] {
            assert_eq!(fr["finding"][field], lr["finding"][field], "{id}: {field}");
        }
        retrieved += lr["retrieved"].as_array().unwrap().len();
    }
    assert!(
        retrieved > 20,
        "the cases' lines came back from Loki ({retrieved})"
    );

    // The agents variant with the real model, through Loki.
    let out = tmp.path().join("agents");
    let subset = tmp.path().join("subset.txt");
    std::fs::write(
        &subset,
        "synthetic/oom_killed-001\nsynthetic/db_auth-001\nsynthetic/tls-001\n",
    )
    .unwrap();
    let o = loglens()
        .args([
            "eval",
            "--variant",
            "agents",
            "--no-store",
            "--max-steps",
            "0",
        ])
        .arg("--subset")
        .arg(&subset)
        .args(["--loki", "--loki-url", &loki, "--model-url", &model_url()])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_ok(&o);
    let agents: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(agents["variant"], "agents+loki");
    assert_eq!(
        agents["settings"]["answer"], "choose",
        "{}",
        agents["settings"]
    );
    let runs = agents["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "the three synthetic smoke cases");
    for r in runs {
        assert!(r["error"].is_null(), "{r}");
        assert!(r["model_calls"].as_u64().unwrap() >= 1, "{r}");
        let f = &r["finding"];
        // Choose mode: the model picked, loglens worded it from the evidence.
        assert!(!f["root_cause"].as_str().unwrap().is_empty(), "{f}");
        assert!(
            f["evidence"].as_array().unwrap().iter().all(|e| e["source"]
                .as_str()
                .unwrap()
                .starts_with("loki {")
                || e["source"] == "kubernetes-events"),
            "{f}"
        );
        assert!(!r["retrieved"].as_array().unwrap().is_empty(), "{r}");
    }
}
