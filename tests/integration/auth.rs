//! API keys and per-key rate limits on the HTTP API (`serve --require-api-key`), and the
//! `loglens keys` commands.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use loglens::server::app;
use loglens::server::auth::Auth;
use loglens::store::{Store, api_key_hash};
use tower::ServiceExt;

use crate::support::{INCIDENT, app_state, assert_ok, dead_url, loglens, write_logs};

async fn get(
    router: axum::Router,
    uri: &str,
    key: Option<(&str, &str)>,
) -> axum::response::Response {
    let mut req = Request::builder().uri(uri);
    if let Some((header, value)) = key {
        req = req.header(header, value);
    }
    router
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn keys_are_required_checked_rate_limited_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_logs(dir.path(), "a.jsonl", INCIDENT);
    // No model call is made here: a dead model URL proves it.
    let mut state = app_state(dir.path(), logs, &dead_url()).await;
    state.auth = Auth::required();
    let store = state.service.store().clone();
    let (record, key) = store.create_api_key("test", 2).await.unwrap();
    assert!(key.starts_with("llk_") && key.len() > 60);
    let router = app(state);
    let bearer = format!("Bearer {key}");

    // Probes and scrapes stay open.
    assert_eq!(
        get(router.clone(), "/healthz", None).await.status(),
        StatusCode::OK
    );
    // No key, a wrong key: 401 with a challenge and a JSON error.
    let r = get(router.clone(), "/v1/analyses/nope", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = get(
        router.clone(),
        "/v1/analyses/nope",
        Some(("authorization", "Bearer llk_wrong")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The key, either header: through to the handler (404: no such analysis).
    let r = get(
        router.clone(),
        "/v1/analyses/nope",
        Some(("authorization", &bearer)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get(
        router.clone(),
        "/v1/analyses/nope",
        Some(("x-api-key", &key)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Its rate is 2 a minute: the third request is 429 with Retry-After.
    let r = get(
        router.clone(),
        "/v1/analyses/nope",
        Some(("authorization", &bearer)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "retry after {retry}");
    // Another key has its own bucket.
    let (_, other) = store.create_api_key("other", 5).await.unwrap();
    let r = get(
        router.clone(),
        "/v1/analyses/nope",
        Some(("x-api-key", &other)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Revoked: refused.
    assert!(store.revoke_api_key(&record.id).await.unwrap());
    assert!(
        !store.revoke_api_key(&record.id).await.unwrap(),
        "already revoked"
    );
    let r = get(
        router.clone(),
        "/v1/analyses/nope",
        Some(("x-api-key", &key)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn loglens_keys_shows_a_key_once_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let out = loglens()
        .args([
            "keys",
            "create",
            "slack-bot",
            "--rate",
            "30",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(key.starts_with("llk_"), "{key}");
    let list = loglens()
        .args(["keys", "list", "--database-url", &db])
        .output()
        .unwrap();
    assert_ok(&list);
    let text = String::from_utf8_lossy(&list.stdout).to_string();
    let id = &key[4..12];
    assert!(
        text.contains(id) && text.contains("slack-bot") && text.contains("30/min"),
        "{text}"
    );
    assert!(!text.contains(&key), "the key is never shown again");
    // The database holds the hash, not the key.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(Store::connect(&db)).unwrap();
    assert!(
        rt.block_on(store.live_api_key(&api_key_hash(&key)))
            .unwrap()
            .is_some()
    );
    let raw = std::fs::read(dir.path().join("k.db")).unwrap();
    assert!(
        !raw.windows(key.len()).any(|w| w == key.as_bytes()),
        "plain key in the database file"
    );
    let revoke = loglens()
        .args(["keys", "revoke", id, "--database-url", &db])
        .output()
        .unwrap();
    assert_ok(&revoke);
    assert!(
        rt.block_on(store.live_api_key(&api_key_hash(&key)))
            .unwrap()
            .is_none()
    );
    let again = loglens()
        .args(["keys", "revoke", id, "--database-url", &db])
        .output()
        .unwrap();
    assert!(!again.status.success());
}
