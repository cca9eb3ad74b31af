use super::*;

#[test]
fn builtin_library_loads_and_covers_the_known_failure_modes() {
    let lib = SignatureLibrary::builtin().unwrap();
    let ids: Vec<&str> = lib.signatures().iter().map(|s| s.id.as_str()).collect();
    for want in [
        "oom_killed",
        "crash_loop_backoff",
        "liveness_probe_failure",
        "readiness_probe_failure",
        "image_pull_error",
        "dns_resolution_failure",
        "connection_refused",
        "connection_pool_exhausted",
        "db_auth_failure",
        "tls_certificate_error",
        "disk_pressure",
        "memory_pressure",
        "pod_evicted",
        "pvc_mount_failure",
        "upstream_timeout",
        "panic_or_uncaught_exception",
        "rate_limited",
    ] {
        assert!(ids.contains(&want), "{want} missing");
    }
}

#[test]
fn bad_libraries_are_refused_with_the_reason() {
    let dup = "[[signature]]\nid='a'\ntitle='t'\nseverity='WARN'\ncategory='app'\naction='x'\nlog=['a']\n";
    let err = SignatureLibrary::from_toml(&format!("{dup}{dup}"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("used twice"), "{err}");
    let bad = "[[signature]]\nid='a'\ntitle='t'\nseverity='WARN'\ncategory='app'\naction='x'\nlog=['(']\n";
    assert!(
        SignatureLibrary::from_toml(bad)
            .unwrap_err()
            .to_string()
            .contains("bad pattern")
    );
    let empty = "[[signature]]\nid='a'\ntitle='t'\nseverity='WARN'\ncategory='app'\naction='x'\n";
    assert!(
        SignatureLibrary::from_toml(empty)
            .unwrap_err()
            .to_string()
            .contains("no patterns")
    );
}

#[test]
fn durations_of_seconds_on_ordinary_lines_are_slowness() {
    let builtin = SignatureLibrary::builtin().unwrap();
    // Only looked for when the question asks about slowness.
    assert!(
        builtin
            .match_line("INFO:app:Database call completed in 7.3 seconds.")
            .is_none()
    );
    assert!(
        builtin
            .for_question("what failed in checkout?")
            .match_line("INFO:app:Database call completed in 7.3 seconds.")
            .is_none()
    );
    let lib = builtin.for_question("Why is there high latency with customer-orders?");
    let slow = |text: &str| lib.match_line(text).map(|s| s.id.as_str()) == Some("slow_response");
    for text in [
        "INFO:app:Database call completed in 7.3 seconds.",
        "INFO:app:Page rendered in 8.1 seconds.",
        r#"{"level":"info","msg":"GET /orders","responseTime":3644}"#,
        "level=info msg=query took=2.4s",
        "request served in 1500ms",
        r#"{"duration_ms": 2300, "path": "/cart"}"#,
        "upstream latency: 1.2s",
        "172.18.0.1 - GET /x 200 request_time=1.204",
        "export finished in 2 minutes",
    ] {
        assert!(slow(text), "slow: {text}");
    }
    for text in [
        "INFO:app:Database call completed in 0.3 seconds.",
        r#"{"level":"info","responseTime":364}"#,
        "request served in 15ms",
        "retrying in 5 seconds",
        "Started Application in 12.3 seconds (JVM running for 13.1)",
        "health check every 10s took 2s",
        "cache entry expires in 300 seconds",
        "GET /metrics HTTP/1.1 200 OK",
        "Uvicorn running on http://0.0.0.0:8000",
    ] {
        assert!(!slow(text), "not slow: {text}");
    }
    // A duration signature needs the number's group.
    let bad = "[[signature]]\nid='a'\ntitle='t'\nseverity='WARN'\ncategory='app'\naction='x'\nmin_seconds=1.0\nlog=['took \\d+']\n";
    let err = SignatureLibrary::from_toml(bad).unwrap_err().to_string();
    assert!(err.contains("`value` group"), "{err}");
}

#[test]
fn a_missing_setting_the_container_reports_is_a_configuration_error() {
    let lib = SignatureLibrary::builtin().unwrap();
    for text in [
        "Environment variable DEPLOY_ENV is undefined",
        "error: env var DATABASE_URL must be set",
        "FATAL missing required environment variable: API_KEY",
        "config key 'redis.host' is missing",
    ] {
        assert_eq!(
            lib.match_line(text).map(|s| s.id.as_str()),
            Some("container_config_error"),
            "{text}"
        );
    }
    assert!(
        lib.match_line("loaded environment variable PORT=8080")
            .is_none()
    );
}

#[test]
fn callees_are_read_from_failed_calls() {
    for (text, want) in [
        (
            "dial tcp: lookup cartservice on 10.0.0.10:53: no such host",
            Some("cartservice"),
        ),
        (
            "UnableToConnect on redis-cart:6379/Interactive",
            Some("redis-cart"),
        ),
        (
            "GET /api/cart 500: upstream checkout connection refused",
            Some("checkout"),
        ),
        (
            "java.net.UnknownHostException: mysql-primary",
            Some("mysql-primary"),
        ),
        (
            "could not connect to postgres.db.svc:5432",
            Some("postgres"),
        ),
        ("dial tcp 10.42.4.8:6379: connect: connection refused", None),
        ("connection refused", None),
    ] {
        assert_eq!(callee(text).as_deref(), want, "{text}");
    }
}

#[test]
fn a_callers_failures_point_at_the_callee_in_view() {
    let lib = SignatureLibrary::builtin().unwrap();
    let line = |pod: &str, text: &str| LogLine {
        source: "f".into(),
        line_no: 1,
        timestamp: None,
        labels: BTreeMap::from([("pod".to_string(), pod.to_string())]),
        text: text.into(),
        truncated_bytes: 0,
    };
    let mut lines: Vec<LogLine> = (0..5)
        .map(|_| {
            line(
                "web-7f9c8d6b5-abcde",
                "GET / 500: upstream checkout connection refused",
            )
        })
        .collect();
    lines.push(line("checkout-5d8f7c9b4-fghij", "listening on :8080"));
    let c = lib.detect(&lines, &[]);
    assert_eq!(c[0].component.as_deref(), Some("checkout"));
    // A host that is no workload in view: the caller's address is wrong.
    let lines = vec![line(
        "web-7f9c8d6b5-abcde",
        "UnableToConnect on checkout-typo:7070",
    )];
    let c = lib.detect(&lines, &[]);
    assert_eq!(c[0].component.as_deref(), Some("web"));
}

#[test]
fn workload_names() {
    assert_eq!(workload("adservice-84dbdf99d-2zdgh"), "adservice");
    assert_eq!(workload("redis-cart-68db7b6f97-22p84"), "redis-cart");
    assert_eq!(workload("cartservice-7f96948897"), "cartservice");
    assert_eq!(workload("frontend"), "frontend");
    assert_eq!(workload("db-0"), "db-0");
    assert_eq!(workload("accounts-rbfmqwbwr-xkzqp"), "accounts");
    assert_eq!(workload("payment-service"), "payment-service");
}

#[test]
fn an_unbound_claims_component_is_the_workload_whatever_the_kinds_case() {
    let ev = |kind: &str, name: &str, reason: &str, message: &str| K8sEvent {
        namespace: Some("app".into()),
        kind: kind.into(),
        name: name.into(),
        event_type: "Warning".into(),
        reason: reason.into(),
        message: message.into(),
        count: 5,
        last_seen: None,
        age: None,
        source: None,
    };
    for kind in ["PersistentVolumeClaim", "persistentvolumeclaim"] {
        let events = [
            ev(
                kind,
                "redis-data",
                "ProvisioningFailed",
                "storageclass.storage.k8s.io \"fast\" not found",
            ),
            ev(
                "pod",
                "redis-747ffc844f-f9ghd",
                "FailedScheduling",
                "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
            ),
        ];
        let candidates = SignatureLibrary::builtin().unwrap().detect(&[], &events);
        assert_eq!(candidates[0].signature, "pvc_unbound", "{candidates:?}");
        assert_eq!(candidates[0].component.as_deref(), Some("redis"), "{kind}");
    }
}

#[test]
fn a_command_that_cannot_start_is_the_cause_not_the_crash_loop_it_makes() {
    let ev = |reason: &str, message: &str| K8sEvent {
        namespace: Some("default".into()),
        kind: "Pod".into(),
        name: "logging-agent".into(),
        event_type: "Warning".into(),
        reason: reason.into(),
        message: message.into(),
        count: 4,
        last_seen: None,
        age: None,
        source: None,
    };
    let events = [
        ev(
            "BackOff",
            "Back-off restarting failed container downloader in pod logging-agent",
        ),
        ev(
            "Failed",
            "Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"wge\": executable file not found in $PATH: unknown",
        ),
    ];
    let c = SignatureLibrary::builtin().unwrap().detect(&[], &events);
    assert_eq!(c[0].signature, "container_start_failure", "{c:?}");
    assert_eq!(c[0].detail.as_deref(), Some("command_not_found"));
    // The runtime's words for an OOM-killed init are no start failure.
    let oom = [ev(
        "FailedCreatePodSandBox",
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: container init was OOM-killed (memory limit too low?): unknown",
    )];
    let c = SignatureLibrary::builtin().unwrap().detect(&[], &oom);
    assert!(
        c.iter().all(|c| c.signature != "container_start_failure"),
        "{c:?}"
    );
}
