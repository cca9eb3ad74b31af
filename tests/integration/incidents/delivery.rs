//! Investigations end to end: reports delivered to Slack and webhooks despite faults, dead letters, the queue command, and one Slack thread per alert group.
use super::*;

/// An alert, end to end on PostgreSQL: queued, investigated by the pipeline on the real
/// model, reported to Slack (which first answers 429 with Retry-After) and to a signed
/// webhook (which first answers 500). The database's connections are cut while the
/// investigation runs: nothing is lost.
#[tokio::test]
async fn an_alert_is_investigated_and_reported_despite_faults() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let db = fresh_postgres().await;
    let store = Store::connect(&db).await.unwrap();
    let slack = StandIn::start(vec![
        (
            429,
            Some("1"),
            json!({"ok": false, "error": "ratelimited"}).to_string(),
        ),
        slack_ok(),
    ])
    .await;
    let hook = StandIn::start(vec![(500, None, "down".into()), (204, None, String::new())]).await;
    let outputs = vec![
        Output::Slack {
            api_url: format!("{}/api", slack.url),
            token: "xoxb-test".into(),
            channel: "#incidents".into(),
        },
        Output::Webhook {
            url: format!("{}/hook", hook.url),
            secret: Some("hook-secret".into()),
        },
    ];
    let config = BotConfig {
        trace_url: Some("https://grafana.test/trace/{trace_id}".into()),
        poll: Duration::from_millis(200),
        ..BotConfig::default()
    };
    let bots = bots(&store, outputs, config, quick_queue());
    let state = AppState {
        service: service(logs, &model_url(), None, store.clone()),
        metrics: prometheus::Registry::new(),
        auth: loglens::server::auth::Auth::open(),
        bots: bots.clone(),
    };
    let workers = worker::spawn(&bots, &state.service);

    let (status, body) = post_json(
        app(state.clone()),
        "/v1/alerts",
        &notification(json!([payments_alert("firing", "fp-e2e")])),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Once it runs, cut every connection to the database (what a restart does to them).
    wait_for(&bots, Duration::from_secs(60), |jobs| {
        jobs.iter()
            .any(|j| j.kind == "investigate" && j.status != "queued")
    })
    .await;
    let db_name = db
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let mut admin = sqlx::AnyConnection::connect(&crate::support::postgres_url())
        .await
        .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}' AND pid <> pg_backend_pid()"
        )))
        .await
        .unwrap();

    let jobs = wait_for(&bots, Duration::from_secs(480), |jobs| {
        all_settled(jobs, &[("investigate", 1), ("deliver", 2)])
    })
    .await;
    for w in workers {
        w.abort();
    }
    let inv = of_kind(&jobs, "investigate")[0];
    assert_eq!(inv.status, "done", "{inv:#?}");
    let analysis_id = inv.result.as_ref().unwrap()["analysis_id"]
        .as_str()
        .unwrap()
        .to_string();
    let record = store
        .get(&analysis_id)
        .await
        .unwrap()
        .expect("the analysis is stored");
    assert_eq!(record.channel, "alert");
    assert!(record.question.contains("PaymentsErrors"));
    for d in of_kind(&jobs, "deliver") {
        assert_eq!(d.status, "done", "{d:#?}");
        assert_eq!(
            d.attempts, 2,
            "each output failed once, then took it: {d:#?}"
        );
    }

    // Slack: chat.postMessage with the bot token, Block Kit, after waiting Retry-After.
    let posts = slack.seen();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].path, "/api/chat.postMessage");
    assert_eq!(posts[1].headers["authorization"], "Bearer xoxb-test");
    assert!(
        posts[1].at - posts[0].at >= Duration::from_millis(900),
        "Retry-After: 1 was honoured"
    );
    let msg = posts[1].json();
    assert_eq!(msg["channel"], "#incidents");
    assert!(msg["text"].as_str().unwrap().contains("PaymentsErrors"));
    let blocks = msg["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(
        blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("PaymentsErrors (critical) in shop")
    );
    let all = msg["blocks"].to_string();
    if record.status == "ok" {
        assert!(
            all.contains("Root cause") && all.contains("Evidence"),
            "{all}"
        );
    }
    if let Some(t) = &record.trace_id {
        assert!(
            all.contains(&format!("https://grafana.test/trace/{t}")),
            "{all}"
        );
    }

    // Webhook: the report, signed over timestamp and body.
    let hooks = hook.seen();
    assert_eq!(hooks.len(), 2);
    let h = &hooks[1];
    let ts: i64 = h.headers["x-loglens-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        h.headers["x-loglens-signature"].to_str().unwrap(),
        webhook_signature("hook-secret", ts, &h.body)
    );
    let report = h.json();
    assert_eq!(report["type"], "loglens.report");
    assert_eq!(report["report"]["analysis_id"], analysis_id);
    assert_eq!(report["report"]["alert"]["name"], "PaymentsErrors");
    assert_eq!(report["report"]["alert"]["fingerprint"], "fp-e2e");
}

/// A Slack question is answered in its thread, by the real pipeline.
#[tokio::test]
async fn a_slack_question_is_answered_in_its_thread() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let mut state = app_state(dir.path(), logs, &model_url()).await;
    let slack = StandIn::start(vec![slack_ok()]).await;
    let secret = "slack-secret";
    state.bots = bots(
        state.service.store(),
        vec![Output::Slack {
            api_url: slack.url.clone(),
            token: "xoxb-test".into(),
            channel: "#incidents".into(),
        }],
        BotConfig {
            slack_signing_secret: Some(secret.into()),
            slack_since: None, // the bundled incident is from 2025
            poll: Duration::from_millis(200),
            ..BotConfig::default()
        },
        quick_queue(),
    );
    let workers = worker::spawn(&state.bots, &state.service);
    let now = chrono::Utc::now().timestamp();
    let (status, _) = slack_post(
        app(state.clone()),
        secret,
        now,
        &mention("Ev9", "<@U0BOT> why are payments failing?"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let jobs = wait_for(&state.bots, Duration::from_secs(480), |jobs| {
        all_settled(jobs, &[("answer", 1), ("deliver", 1)])
    })
    .await;
    for w in workers {
        w.abort();
    }
    assert!(jobs.iter().all(|j| j.status == "done"), "{jobs:#?}");
    let posts = slack.seen();
    assert_eq!(posts.len(), 1);
    let msg = posts[0].json();
    assert_eq!(msg["channel"], "C9");
    assert_eq!(msg["thread_ts"], "1700000000.000200");
    assert!(
        msg["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("why are payments failing?")
    );
    let answer = of_kind(&jobs, "answer")[0];
    let id = answer.result.as_ref().unwrap()["analysis_id"]
        .as_str()
        .unwrap();
    let record = state.service.store().get(id).await.unwrap().unwrap();
    assert_eq!(record.channel, "slack");
}

/// Outputs that keep failing end as dead letters with the server's answer; a permanent
/// refusal is dead at once; a dead letter can be retried. An investigation whose model
/// is down ends dead too, and its failure is still reported.
#[tokio::test]
async fn failures_end_as_dead_letters_and_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let mut state = app_state(dir.path(), logs, &dead_url()).await;
    let hook = StandIn::start(vec![
        (500, None, "boom".into()),
        (503, None, "still down".into()),
        (200, None, "{}".into()),
    ])
    .await;
    let slack = StandIn::start(vec![(
        200,
        None,
        json!({"ok": false, "error": "channel_not_found"}).to_string(),
    )])
    .await;
    state.bots = bots(
        state.service.store(),
        vec![
            Output::Webhook {
                url: hook.url.clone(),
                secret: None,
            },
            Output::Slack {
                api_url: slack.url.clone(),
                token: "xoxb-x".into(),
                channel: "#gone".into(),
            },
        ],
        BotConfig {
            max_attempts: 1,
            delivery_attempts: 2,
            poll: Duration::from_millis(100),
            ..BotConfig::default()
        },
        quick_queue(),
    );
    let bots = state.bots.clone();
    let report = Report::failed("t".into(), "q".into(), "x", "y".into());
    let delivery = |output: &str| Delivery {
        output: output.into(),
        report: report.clone(),
        channel: None,
        thread_ts: None,
    };
    let hook_job = bots
        .queue
        .enqueue(NewJob {
            kind: JobKind::Deliver,
            dedupe_key: "deliver:test:webhook".into(),
            group_key: None,
            payload: serde_json::to_value(delivery("webhook")).unwrap(),
            max_attempts: 2,
        })
        .await
        .unwrap()
        .id()
        .to_string();
    let slack_job = bots
        .queue
        .enqueue(NewJob {
            kind: JobKind::Deliver,
            dedupe_key: "deliver:test:slack".into(),
            group_key: None,
            payload: serde_json::to_value(delivery("slack")).unwrap(),
            max_attempts: 2,
        })
        .await
        .unwrap()
        .id()
        .to_string();
    let workers = worker::spawn(&bots, &state.service);
    wait_for(&bots, Duration::from_secs(30), |jobs| {
        all_settled(jobs, &[("deliver", 2)])
    })
    .await;
    let h = bots.queue.get(&hook_job).await.unwrap().unwrap();
    assert_eq!((h.status.as_str(), h.attempts), ("dead", 2));
    assert!(h.last_error.as_deref().unwrap().contains("503"), "{h:#?}");
    let s = bots.queue.get(&slack_job).await.unwrap().unwrap();
    assert_eq!(
        (s.status.as_str(), s.attempts),
        ("dead", 1),
        "a permanent refusal is not retried"
    );
    assert!(
        s.last_error
            .as_deref()
            .unwrap()
            .contains("channel_not_found")
    );

    // The webhook is back: the dead letter is retried by hand and delivered.
    let (status, _) = post_json(
        app(state.clone()),
        &format!("/v1/jobs/{hook_job}/retry"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    wait_for(&bots, Duration::from_secs(30), |jobs| {
        jobs.iter().any(|j| j.id == hook_job && j.status == "done")
    })
    .await;
    assert_eq!(hook.seen().len(), 3);

    // An alert while the model server is down: one attempt allowed, so it is dead, and
    // its failure report goes out (the webhook takes it; Slack refuses it again).
    let (status, _) = post_json(
        app(state.clone()),
        "/v1/alerts",
        &notification(json!([payments_alert("firing", "fp-down")])),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let jobs = wait_for(&bots, Duration::from_secs(60), |jobs| {
        all_settled(jobs, &[("investigate", 1), ("deliver", 4)])
    })
    .await;
    for w in workers {
        w.abort();
    }
    let inv = of_kind(&jobs, "investigate")[0];
    assert_eq!(inv.status, "dead");
    assert!(
        inv.last_error
            .as_deref()
            .unwrap()
            .starts_with("model_unavailable"),
        "{inv:#?}"
    );
    let last = hook.seen().last().unwrap().json();
    assert_eq!(last["report"]["status"], "investigation_failed");
    assert!(
        last["report"]["error"]
            .as_str()
            .unwrap()
            .contains("model_unavailable")
    );
    assert_eq!(last["report"]["alert"]["fingerprint"], "fp-down");
}

/// `loglens queue list` shows the dead letters with their errors; `loglens queue retry`
/// puts one back; an unknown id is a clear error.
#[tokio::test]
async fn the_queue_command_lists_and_retries_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let store = Store::connect(&url).await.unwrap();
    let queue = loglens::incidents::queue::JobQueue::new(&store, quick_queue());
    let id = queue
        .enqueue(NewJob {
            kind: JobKind::Deliver,
            dedupe_key: "deliver:cli:webhook".into(),
            group_key: None,
            payload: json!({"output": "webhook"}),
            max_attempts: 1,
        })
        .await
        .unwrap()
        .id()
        .to_string();
    let job = queue
        .claim(&[JobKind::Deliver], "w")
        .await
        .unwrap()
        .unwrap();
    queue
        .fail(
            &job,
            "w",
            "the server answered 500: boom",
            loglens::incidents::queue::Retry::Backoff,
        )
        .await
        .unwrap();
    drop(store);

    let run = |args: &[&str]| {
        crate::support::loglens()
            .args(args)
            .args(["--database-url", &url])
            .output()
            .unwrap()
    };
    let out = run(&["queue", "list", "--status", "dead"]);
    crate::support::assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&id) && text.contains("deliver") && text.contains("boom"),
        "{text}"
    );
    let out = run(&["queue", "list", "--status", "queued"]);
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());

    crate::support::assert_ok(&run(&["queue", "retry", &id]));
    let out = run(&["queue", "list", "--status", "queued"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let out = run(&["queue", "retry", "no-such-job"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dead job"));
}

/// Alertmanager groups alerts; in Slack a group is one thread: the group's first report
/// opens it, later ones (more alerts, a failure) answer in it. Other groups get their own.
#[tokio::test]
async fn reports_of_one_alert_group_share_a_slack_thread() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "app.jsonl", INCIDENT);
    let state = app_state(dir.path(), logs, &dead_url()).await;
    let answer = |ts: &str| {
        (
            200,
            None,
            json!({"ok": true, "channel": "C1", "ts": ts}).to_string(),
        )
    };
    let slack = StandIn::start(vec![answer("111.1"), answer("222.2"), answer("333.3")]).await;
    let bots = bots(
        state.service.store(),
        vec![Output::Slack {
            api_url: slack.url.clone(),
            token: "xoxb-t".into(),
            channel: "#incidents".into(),
        }],
        BotConfig {
            poll: Duration::from_millis(100),
            ..BotConfig::default()
        },
        quick_queue(),
    );
    let report = Report::failed("PaymentsErrors".into(), "q".into(), "x", "y".into());
    let enqueue = |key: &str, group: &str| {
        let bots = bots.clone();
        let payload = serde_json::to_value(Delivery {
            output: "slack".into(),
            report: report.clone(),
            channel: None,
            thread_ts: None,
        })
        .unwrap();
        let (key, group) = (key.to_string(), group.to_string());
        async move {
            bots.queue
                .enqueue(NewJob {
                    kind: JobKind::Deliver,
                    dedupe_key: key,
                    group_key: Some(group),
                    payload,
                    max_attempts: 3,
                })
                .await
                .unwrap();
            bots.wake();
        }
    };
    let workers = worker::spawn(&bots, &state.service);
    enqueue("deliver:a:slack", "group-1").await;
    wait_for(&bots, Duration::from_secs(30), |jobs| {
        all_settled(jobs, &[("deliver", 1)])
    })
    .await;
    enqueue("deliver:b:slack", "group-1").await;
    wait_for(&bots, Duration::from_secs(30), |jobs| {
        all_settled(jobs, &[("deliver", 2)])
    })
    .await;
    enqueue("deliver:c:slack", "group-2").await;
    wait_for(&bots, Duration::from_secs(30), |jobs| {
        all_settled(jobs, &[("deliver", 3)])
    })
    .await;
    for w in workers {
        w.abort();
    }
    let posts: Vec<Value> = slack.seen().iter().map(Seen::json).collect();
    assert_eq!(posts.len(), 3);
    assert!(
        posts[0].get("thread_ts").is_none(),
        "the group's first report opens a thread"
    );
    assert_eq!(
        posts[1]["thread_ts"], "111.1",
        "the group's next report answers in it"
    );
    assert!(
        posts[2].get("thread_ts").is_none(),
        "another group, another thread"
    );
}
