//! Driver auth against a scripted mock server: amoCRM rotating refresh
//! tokens (happy path, 401 → refresh once, re-auth on token-endpoint 4xx,
//! one refresh for concurrent runs, crash injection with recovery), VK
//! client-credentials reuse, GA4 service-account JWT, Salebot's key in the
//! URL path and Google Ads' developer-token header (never in `raw/`).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use common::{MockResponse, MockServer, account, date, fetch_context, fixture, fixture_str};
use serde_json::{Value, json};
use voronka_connectors::Connector;
use voronka_connectors::auth::{
    FaultPoint, FileTokenStore, JournalEntry, JournalState, MemoryTokenStore, StoredToken,
    TokenStore,
};
use voronka_connectors::driver::{Driver, DriverOptions, IngestReport, StaticSecrets};
use voronka_core::config::AccountConfig;
use voronka_store::{MemoryStore, Store};

const TOKEN_PATH: &str = "/oauth2/access_token";
const CLIENT_SECRET: &str = "amo-client-s3cret";
const AMO_API: [&str; 5] = [
    "/api/v4/leads/pipelines",
    "/api/v4/users",
    "/api/v4/contacts",
    "/api/v4/leads",
    "/api/v4/events",
];

fn fast() -> DriverOptions {
    DriverOptions {
        wait_cap: Some(Duration::ZERO),
        base_backoff: Duration::ZERO,
        ..DriverOptions::default()
    }
}

fn secrets(pairs: &[(&str, &str)]) -> Arc<StaticSecrets> {
    Arc::new(StaticSecrets(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    ))
}

fn amo_driver(store: Arc<dyn TokenStore>) -> Driver {
    Driver::new(
        fast(),
        secrets(&[("refresh_token", "r0"), ("client_secret", CLIENT_SECRET)]),
    )
    .with_token_store(store)
}

fn amo_account(server: &MockServer) -> AccountConfig {
    account(json!({
        "id": "main",
        "base_url": server.base_url(),
        "credentials": {
            "refresh_token": {"env": "AMO_REFRESH"},
            "client_secret": {"env": "AMO_SECRET"},
        },
        "options": {"client_id": "client-uuid", "redirect_uri": "https://school.example/oauth"},
    }))
}

fn pair(n: u32) -> MockResponse {
    MockResponse::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 86400,
               "access_token": format!("a{n}"), "refresh_token": format!("r{n}")})
        .to_string(),
    )
}

/// Every amoCRM list answers 204 (empty) unless scripted before.
fn amo_api_empty(server: &MockServer) {
    for p in AMO_API {
        server.route("GET", p).respond([MockResponse::empty(204)]);
    }
}

async fn amo_run(
    driver: &Driver,
    server: &MockServer,
    store: &MemoryStore,
    run: &str,
) -> IngestReport {
    let a = amo_account(server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    driver
        .ingest(store, &voronka_connectors::amocrm::Amocrm, &ctx, run)
        .await
}

/// The refresh tokens the token endpoint received, in order.
fn refresh_tokens_seen(server: &MockServer) -> Vec<String> {
    server
        .requests_to(TOKEN_PATH)
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("JSON token request");
            body["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn api_bearers(server: &MockServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.path != TOKEN_PATH)
        .map(|r| r.header("authorization").unwrap_or_default().to_string())
        .collect()
}

async fn raw_text(store: &MemoryStore, report: &IngestReport) -> String {
    let mut out = String::new();
    for k in report.raw_keys() {
        let bytes = store.get(&k).await.unwrap().unwrap();
        out.push_str(&String::from_utf8_lossy(&bytes));
        out.push('\n');
    }
    out
}

fn assert_no_secrets(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "secret {s:?} leaked into: {text}");
    }
}

fn expired(access: &str, refresh: &str, version: u64) -> StoredToken {
    StoredToken {
        access_token: access.into(),
        refresh_token: Some(refresh.into()),
        expires_at: Some(Utc::now() - chrono::Duration::hours(1)),
        version,
        seed_sha256: None,
    }
}

fn fresh(access: &str, refresh: &str, version: u64) -> StoredToken {
    StoredToken {
        expires_at: Some(Utc::now() + chrono::Duration::hours(5)),
        ..expired(access, refresh, version)
    }
}

#[tokio::test]
async fn amocrm_rotation_happy_path() {
    let server = MockServer::start().await;
    server.route("POST", TOKEN_PATH).respond([pair(1), pair(2)]);
    amo_api_empty(&server);
    let tokens = Arc::new(MemoryTokenStore::new());
    assert!(
        tokens
            .save("amocrm", "main", 0, &expired("a0", "r-stored", 1))
            .unwrap()
    );
    let driver = amo_driver(tokens.clone());
    let raw = MemoryStore::new();
    let report = amo_run(&driver, &server, &raw, "run1").await;
    assert!(report.ok(), "{report:?}");

    // One refresh, from the STORED refresh token (the store is authoritative).
    let calls = server.requests_to(TOKEN_PATH);
    assert_eq!(calls.len(), 1);
    let body: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(
        body,
        json!({"client_id": "client-uuid", "client_secret": CLIENT_SECRET,
               "grant_type": "refresh_token", "refresh_token": "r-stored",
               "redirect_uri": "https://school.example/oauth"})
    );
    assert_eq!(calls[0].header("content-type"), Some("application/json"));
    // The new pair is saved before use...
    let saved = tokens.load("amocrm", "main").unwrap().unwrap();
    assert_eq!(
        (saved.access_token.as_str(), saved.refresh_token.as_deref()),
        ("a1", Some("r1"))
    );
    assert_eq!(saved.version, 2);
    assert!(tokens.read_journal("amocrm", "main").unwrap().is_none());
    // ...and every API call uses the new access token.
    assert_eq!(api_bearers(&server), vec!["Bearer a1"; 5]);
    // raw/ holds API answers only: no token exchange, no secret.
    assert_eq!(report.raw_keys().len(), 5);
    assert_no_secrets(
        &raw_text(&raw, &report).await,
        &["a1", "r1", "r-stored", CLIENT_SECRET, "access_token"],
    );

    // A second run reuses the unexpired token.
    let report = amo_run(&driver, &server, &MemoryStore::new(), "run2").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(server.requests_to(TOKEN_PATH).len(), 1);
}

#[tokio::test]
async fn amocrm_first_refresh_comes_from_the_credential() {
    let server = MockServer::start().await;
    server.route("POST", TOKEN_PATH).respond([pair(1)]);
    amo_api_empty(&server);
    let tokens = Arc::new(MemoryTokenStore::new());
    let report = amo_run(
        &amo_driver(tokens.clone()),
        &server,
        &MemoryStore::new(),
        "r",
    )
    .await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(refresh_tokens_seen(&server), vec!["r0"]);
    let saved = tokens.load("amocrm", "main").unwrap().unwrap();
    assert_eq!(saved.version, 1);
    assert!(saved.seed_sha256.is_some());
}

#[tokio::test]
async fn amocrm_401_refreshes_once_and_retries() {
    let server = MockServer::start().await;
    server.route("POST", TOKEN_PATH).respond([pair(1)]);
    server.route("GET", AMO_API[0]).respond([
        MockResponse::json(401, r#"{"title":"Unauthorized","status":401}"#),
        MockResponse::empty(204),
    ]);
    amo_api_empty(&server);
    let tokens = Arc::new(MemoryTokenStore::new());
    tokens
        .save("amocrm", "main", 0, &fresh("a0", "r-stored", 1))
        .unwrap();
    let raw = MemoryStore::new();
    let report = amo_run(&amo_driver(tokens.clone()), &server, &raw, "run").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(refresh_tokens_seen(&server), vec!["r-stored"]);
    let mut want = vec!["Bearer a0"];
    want.extend(["Bearer a1"; 5]);
    assert_eq!(api_bearers(&server), want);
    // The 401 itself is stored like every response.
    assert_eq!(report.raw_keys().len(), 6);
    assert_no_secrets(&raw_text(&raw, &report).await, &["a0", "a1", "r1"]);
}

#[tokio::test]
async fn amocrm_401_after_refresh_is_terminal() {
    let server = MockServer::start().await;
    server.route("POST", TOKEN_PATH).respond([pair(1), pair(2)]);
    server
        .route("GET", AMO_API[0])
        .respond([MockResponse::json(401, r#"{"title":"Unauthorized"}"#)]);
    amo_api_empty(&server);
    let tokens = Arc::new(MemoryTokenStore::new());
    tokens
        .save("amocrm", "main", 0, &fresh("a0", "r-stored", 1))
        .unwrap();
    let report = amo_run(&amo_driver(tokens), &server, &MemoryStore::new(), "run").await;
    assert!(!report.ok());
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("re-authorize") && err.contains("401"), "{err}");
    assert!(err.contains("main"), "{err}");
    assert_no_secrets(err, &["a0", "a1", "r1", "r-stored"]);
    // Exactly one refresh; the pipelines request went twice.
    assert_eq!(server.requests_to(TOKEN_PATH).len(), 1);
    assert_eq!(server.requests_to(AMO_API[0]).len(), 2);
}

#[tokio::test]
async fn amocrm_token_endpoint_4xx_needs_reauthorization() {
    let server = MockServer::start().await;
    server.route("POST", TOKEN_PATH).respond([MockResponse::json(
        400,
        r#"{"hint":"Invalid refresh token","title":"Некорректный запрос","type":"https://developers.amocrm.ru/v3/errors/OAuthProblemJson","status":400,"detail":"Refresh token has been revoked"}"#,
    )]);
    amo_api_empty(&server);
    let report = amo_run(
        &amo_driver(Arc::new(MemoryTokenStore::new())),
        &server,
        &MemoryStore::new(),
        "run",
    )
    .await;
    assert_eq!(report.jobs.len(), 5);
    for job in &report.jobs {
        let err = job.error.as_deref().expect("every job fails");
        assert!(err.starts_with("re-authorize"), "{err}");
        assert!(err.contains("\"main\"") && err.contains("amocrm"), "{err}");
        assert!(err.contains("Invalid refresh token"), "{err}");
        assert_no_secrets(err, &["r0", CLIENT_SECRET]);
    }
    // Never retried; the API never called.
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn concurrent_runs_on_one_account_refresh_once() {
    let server = MockServer::start().await;
    server
        .route("POST", TOKEN_PATH)
        .respond([pair(1).delay(Duration::from_millis(300)), pair(2)]);
    amo_api_empty(&server);
    let dir = tempfile::tempdir().unwrap();
    // Two drivers, two store instances over one folder (as two runs would).
    let d1 = amo_driver(Arc::new(FileTokenStore::new(dir.path())));
    let d2 = amo_driver(Arc::new(FileTokenStore::new(dir.path())));
    let (raw1, raw2) = (MemoryStore::new(), MemoryStore::new());
    let (r1, r2) = tokio::join!(
        amo_run(&d1, &server, &raw1, "run1"),
        amo_run(&d2, &server, &raw2, "run2")
    );
    assert!(r1.ok() && r2.ok(), "{r1:?} {r2:?}");
    assert_eq!(refresh_tokens_seen(&server), vec!["r0"]);
    assert_eq!(api_bearers(&server), vec!["Bearer a1"; 10]);
}

/// A process "dies" at `point` during the first refresh; a new driver and
/// store over the same folder must recover the rotated pair without ever
/// re-sending a dead refresh token.
async fn crash_and_recover(point: FaultPoint) {
    let server = MockServer::start().await;
    server.route("POST", TOKEN_PATH).respond([pair(1), pair(2)]);
    server.route("GET", AMO_API[0]).respond([
        MockResponse::empty(204),
        MockResponse::json(401, r#"{"title":"Unauthorized"}"#),
        MockResponse::empty(204),
    ]);
    amo_api_empty(&server);
    let dir = tempfile::tempdir().unwrap();
    let store = || {
        Arc::new(FileTokenStore::new(dir.path()).with_stale_lock_after(Duration::from_millis(300)))
    };

    let hits = Arc::new(Mutex::new(Vec::new()));
    let h = hits.clone();
    let crashing = amo_driver(store()).with_fault_hook(Arc::new(move |p| {
        h.lock().unwrap().push(p);
        p == point
    }));
    let report = amo_run(&crashing, &server, &MemoryStore::new(), "crash").await;
    assert!(!report.ok());
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("fault injected"), "{err}");
    assert_eq!(hits.lock().unwrap().last(), Some(&point));
    assert_eq!(server.requests_to(TOKEN_PATH).len(), 1);
    assert!(api_bearers(&server).is_empty(), "no API call before commit");

    // A new process: recovers a1/r1 from the journal (or the committed
    // store) and uses it; no call to the token endpoint.
    let report = amo_run(&amo_driver(store()), &server, &MemoryStore::new(), "after").await;
    assert!(report.ok(), "{point:?}: {report:?}");
    assert_eq!(refresh_tokens_seen(&server), vec!["r0"], "{point:?}");
    assert_eq!(api_bearers(&server), vec!["Bearer a1"; 5], "{point:?}");
    let t = store().load("amocrm", "main").unwrap().unwrap();
    assert_eq!((t.version, t.access_token.as_str()), (1, "a1"));
    assert!(store().read_journal("amocrm", "main").unwrap().is_none());

    // The chain continues from r1 (never r0 again): a 401 forces a refresh.
    let report = amo_run(&amo_driver(store()), &server, &MemoryStore::new(), "next").await;
    assert!(report.ok(), "{point:?}: {report:?}");
    assert_eq!(refresh_tokens_seen(&server), vec!["r0", "r1"], "{point:?}");
    let bearers = api_bearers(&server);
    assert_eq!(
        bearers[5..],
        [
            "Bearer a1",
            "Bearer a2",
            "Bearer a2",
            "Bearer a2",
            "Bearer a2",
            "Bearer a2"
        ]
    );
    let t = store().load("amocrm", "main").unwrap().unwrap();
    assert_eq!((t.version, t.refresh_token.as_deref()), (2, Some("r2")));
}

#[tokio::test]
async fn crash_after_token_response_recovers() {
    crash_and_recover(FaultPoint::AfterTokenResponse).await;
}

#[tokio::test]
async fn crash_after_journal_write_recovers() {
    crash_and_recover(FaultPoint::AfterJournalWrite).await;
}

#[tokio::test]
async fn crash_after_commit_recovers() {
    crash_and_recover(FaultPoint::AfterCommit).await;
}

#[tokio::test]
async fn journal_from_an_older_version_is_dropped() {
    let server = MockServer::start().await;
    amo_api_empty(&server);
    let tokens = Arc::new(MemoryTokenStore::new());
    tokens
        .save("amocrm", "main", 0, &fresh("a5", "r5", 1))
        .unwrap();
    // A stale answer journaled from version 0: already superseded.
    tokens
        .write_journal(
            "amocrm",
            "main",
            &JournalEntry {
                from_version: 0,
                started_at: Utc::now(),
                state: JournalState::Received {
                    received_at: Utc::now(),
                    status: 200,
                    body: r#"{"access_token":"old","refresh_token":"old-r","expires_in":86400}"#
                        .into(),
                },
            },
        )
        .unwrap();
    let report = amo_run(
        &amo_driver(tokens.clone()),
        &server,
        &MemoryStore::new(),
        "r",
    )
    .await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(api_bearers(&server), vec!["Bearer a5"; 5]);
    assert!(tokens.read_journal("amocrm", "main").unwrap().is_none());
    assert_eq!(tokens.load("amocrm", "main").unwrap().unwrap().version, 1);
}

#[cfg(unix)]
#[tokio::test]
async fn file_token_store_is_private_and_cas() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let s = FileTokenStore::new(dir.path().join(".voronka-tokens"));
    assert!(s.save("amocrm", "main", 0, &fresh("a", "r", 1)).unwrap());
    assert!(!s.save("amocrm", "main", 0, &fresh("b", "r", 1)).unwrap());
    assert!(s.save("amocrm", "main", 1, &fresh("c", "r", 2)).unwrap());
    assert_eq!(s.load("amocrm", "main").unwrap().unwrap().access_token, "c");
    let file = dir.path().join(".voronka-tokens/amocrm/main.token.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let lock = s.try_lock("amocrm", "main").unwrap().expect("free");
    assert!(s.try_lock("amocrm", "main").unwrap().is_none());
    drop(lock);
    assert!(s.try_lock("amocrm", "main").unwrap().is_some());
}

// ---------------------------------------------------------------------------
// VK Ads: client credentials, reuse while unexpired.

const VK_TOKEN_PATH: &str = "/api/v2/oauth2/token.json";

#[tokio::test]
async fn vk_client_credentials_token_is_reused() {
    let server = MockServer::start().await;
    server.route("POST", VK_TOKEN_PATH).respond([
        MockResponse::json(200, fixture("vk_ads", "token.json")),
        MockResponse::json(
            200,
            r#"{"access_token":"vk-a2","token_type":"bearer","expires_in":86400,"refresh_token":"vk-r2"}"#,
        ),
    ]);
    server
        .route("GET", "/api/v2/ad_plans.json")
        .respond([MockResponse::json(
            200,
            r#"{"count":0,"offset":0,"limit":50,"items":[]}"#,
        )]);
    let a = account(json!({
        "id": "vk",
        "base_url": server.base_url(),
        "credentials": {"client_secret": {"env": "VK_SECRET"}},
        "options": {"client_id": "vk-client"},
    }));
    let tokens = Arc::new(MemoryTokenStore::new());
    let driver = Driver::new(fast(), secrets(&[("client_secret", "vk-client-s3cret")]))
        .with_token_store(tokens.clone());
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let vk = voronka_connectors::connector("vk_ads").unwrap();
    let raw = MemoryStore::new();
    let r1 = driver.ingest(&raw, vk.as_ref(), &ctx, "run1").await;
    let r2 = driver.ingest(&raw, vk.as_ref(), &ctx, "run2").await;
    assert!(r1.ok() && r2.ok(), "{r1:?} {r2:?}");
    let calls = server.requests_to(VK_TOKEN_PATH);
    assert_eq!(calls.len(), 1, "one token for two runs (5-token limit)");
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&calls[0].body)
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "vk-client");
    let api: Vec<_> = server.requests_to("/api/v2/ad_plans.json");
    assert!(!api.is_empty());
    assert!(
        api.iter()
            .all(|r| r.header("authorization") == Some("Bearer SYNTHETIC-ACCESS-vk-1"))
    );

    // Expired: renewed with the stored refresh token, not a new token.
    let mut t = tokens.load("vk_ads", "vk").unwrap().unwrap();
    let v = t.version;
    t.expires_at = Some(Utc::now() - chrono::Duration::minutes(1));
    t.version = v + 1;
    assert!(tokens.save("vk_ads", "vk", v, &t).unwrap());
    let r3 = driver.ingest(&raw, vk.as_ref(), &ctx, "run3").await;
    assert!(r3.ok(), "{r3:?}");
    let calls = server.requests_to(VK_TOKEN_PATH);
    assert_eq!(calls.len(), 2);
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&calls[1].body)
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "SYNTHETIC-REFRESH-vk-1");
    let mut all = raw_text(&raw, &r1).await;
    all.push_str(&raw_text(&raw, &r3).await);
    assert_no_secrets(
        &all,
        &[
            "SYNTHETIC-ACCESS",
            "SYNTHETIC-REFRESH",
            "vk-a2",
            "vk-client-s3cret",
        ],
    );
}

// ---------------------------------------------------------------------------
// GA4: service-account JWT exchange.

#[tokio::test]
async fn ga4_service_account_jwt_is_exchanged_and_reused() {
    let server = MockServer::start().await;
    server
        .route("POST", "/token")
        .respond([MockResponse::json(200, fixture("ga4", "token_ok.json"))]);
    server
        .route("POST", "/v1beta/properties/123456789:runReport")
        .respond([MockResponse::json(
            200,
            fixture("ga4", "report_no_rows.json"),
        )]);
    let key = fixture_str("ga4", "test_service_account.json");
    let a = account(json!({
        "id": "ga",
        "base_url": server.base_url(),
        "credentials": {"service_account": {"env": "GA_KEY"}},
        "options": {"property_id": "123456789", "token_url": server.url("/token")},
    }));
    let ga4 = voronka_connectors::ga4::Ga4;
    assert_eq!(ga4.validate(&a), Ok(()));
    let driver = Driver::new(fast(), secrets(&[("service_account", &key)]));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let raw = MemoryStore::new();
    let r1 = driver.ingest(&raw, &ga4, &ctx, "run1").await;
    let r2 = driver.ingest(&raw, &ga4, &ctx, "run2").await;
    assert!(r1.ok() && r2.ok(), "{r1:?} {r2:?}");
    let calls = server.requests_to("/token");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&calls[0].body)
        .into_owned()
        .collect();
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(form["assertion"].split('.').count(), 3);
    let api = server.requests_to("/v1beta/properties/123456789:runReport");
    assert_eq!(api.len(), 2);
    assert!(
        api.iter()
            .all(|r| r.header("authorization") == Some("Bearer ya29.c.synthetic-test-token"))
    );
    let mut all = raw_text(&raw, &r1).await;
    all.push_str(&raw_text(&raw, &r2).await);
    assert_no_secrets(
        &all,
        &["ya29.c.synthetic", "PRIVATE KEY", &form["assertion"]],
    );
}

#[tokio::test]
async fn ga4_invalid_grant_needs_reauthorization() {
    let server = MockServer::start().await;
    server.route("POST", "/token").respond([MockResponse::json(
        400,
        fixture("ga4", "token_invalid_grant.json"),
    )]);
    let key = fixture_str("ga4", "test_service_account.json");
    let a = account(json!({
        "id": "ga",
        "base_url": server.base_url(),
        "credentials": {"service_account": {"env": "GA_KEY"}},
        "options": {"property_id": "123456789", "token_url": server.url("/token")},
    }));
    let driver = Driver::new(fast(), secrets(&[("service_account", &key)]));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let r = driver
        .ingest(
            &MemoryStore::new(),
            &voronka_connectors::ga4::Ga4,
            &ctx,
            "run",
        )
        .await;
    let err = r.jobs[0].error.as_deref().unwrap();
    assert!(
        err.starts_with("re-authorize") && err.contains("\"ga\""),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1);
}

// ---------------------------------------------------------------------------
// Salebot: the key is a path segment, never in raw/ nor in errors.

#[tokio::test]
async fn salebot_path_key_never_reaches_raw() {
    const KEY: &str = "sb/k+ey 1";
    const WIRE: &str = "/sb%2Fk%2Bey%201/get_clients";
    let server = MockServer::start().await;
    server
        .route("GET", WIRE)
        .query("offset", "0")
        .respond([MockResponse::json(
            200,
            r#"{"status":"success","clients":[]}"#,
        )]);
    let a = account(json!({
        "id": "sb",
        "base_url": server.base_url(),
        "credentials": {"api_key": {"env": "SB_KEY"}},
    }));
    let driver = Driver::new(fast(), secrets(&[("api_key", KEY)]));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let raw = MemoryStore::new();
    let report = driver
        .ingest(&raw, &voronka_connectors::salebot::Salebot, &ctx, "run")
        .await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    assert_eq!(sent[0].path, WIRE);
    assert!(sent[0].param("api_key").is_none());
    let text = raw_text(&raw, &report).await;
    assert!(text.contains("/***/get_clients"), "{text}");
    assert_no_secrets(&text, &[KEY, "sb%2Fk%2Bey%201", "sb/k+ey"]);

    // An error names the request with the key masked.
    let server = MockServer::start().await;
    server
        .route("GET", WIRE)
        .respond([MockResponse::text(403, "forbidden")]);
    let a = account(json!({
        "id": "sb",
        "base_url": server.base_url(),
        "credentials": {"api_key": {"env": "SB_KEY"}},
    }));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let report = driver
        .ingest(&raw, &voronka_connectors::salebot::Salebot, &ctx, "run2")
        .await;
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("/***/get_clients"), "{err}");
    assert_no_secrets(err, &[KEY, "sb%2Fk%2Bey%201"]);
}

// ---------------------------------------------------------------------------
// Google Ads: refresh token → access token, developer-token header.

#[tokio::test]
async fn google_ads_sends_developer_token_and_refreshed_bearer() {
    const DEV: &str = "DEV-TOKEN-s3cret";
    const PATH: &str = "/v21/customers/1234567890/googleAds:searchStream";
    let server = MockServer::start().await;
    server.route("POST", "/token").respond([MockResponse::json(
        200,
        r#"{"access_token":"ya29.gads","expires_in":3599,"token_type":"Bearer","scope":"https://www.googleapis.com/auth/adwords"}"#,
    )]);
    server.route("POST", PATH).respond([MockResponse::json(
        200,
        fixture("google_ads", "search_stream.json"),
    )]);
    let a = account(json!({
        "id": "gads",
        "currency": "USD",
        "base_url": server.base_url(),
        "credentials": {
            "refresh_token": {"env": "G_REFRESH"},
            "client_secret": {"env": "G_SECRET"},
            "developer_token": {"env": "G_DEV"},
        },
        "options": {"customer_id": "123-456-7890", "client_id": "g-client.apps",
                    "token_url": server.url("/token")},
    }));
    let gads = voronka_connectors::google_ads::GoogleAds;
    assert_eq!(gads.validate(&a), Ok(()));
    let driver = Driver::new(
        fast(),
        secrets(&[
            ("refresh_token", "1//g-refresh"),
            ("client_secret", "g-client-s3cret"),
            ("developer_token", DEV),
        ]),
    );
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let raw = MemoryStore::new();
    let report = driver.ingest(&raw, &gads, &ctx, "run").await;
    assert!(report.ok(), "{report:?}");
    let calls = server.requests_to("/token");
    assert_eq!(calls.len(), 1);
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&calls[0].body)
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "1//g-refresh");
    assert_eq!(form["client_id"], "g-client.apps");
    assert_eq!(form["client_secret"], "g-client-s3cret");
    let api = server.requests_to(PATH);
    assert_eq!(api.len(), 1);
    assert_eq!(api[0].header("developer-token"), Some(DEV));
    assert_eq!(api[0].header("authorization"), Some("Bearer ya29.gads"));
    assert_no_secrets(
        &raw_text(&raw, &report).await,
        &[DEV, "ya29.gads", "1//g-refresh", "g-client-s3cret"],
    );

    // The old option is refused with a pointer to the credential.
    let old = account(json!({
        "id": "gads", "currency": "USD",
        "credentials": {"access_token": {"env": "T"}},
        "options": {"customer_id": "1", "developer_token": "d"},
    }));
    let e = gads.validate(&old).unwrap_err();
    assert!(e.contains("credentials.developer_token"), "{e}");
}

/// The documented window: a crash after the vendor rotated but before the
/// answer was journaled leaves only "refreshing from N". The next run
/// retries with the stored refresh token; a rotating vendor refuses it and
/// the job asks for re-authorization (nothing is silently lost).
#[tokio::test]
async fn a_lost_answer_retries_the_stored_token_then_asks_to_reauthorize() {
    let server = MockServer::start().await;
    server
        .route("POST", TOKEN_PATH)
        .respond([MockResponse::json(
            400,
            r#"{"hint":"Invalid refresh token","status":400}"#,
        )]);
    amo_api_empty(&server);
    let tokens = Arc::new(MemoryTokenStore::new());
    tokens
        .save("amocrm", "main", 0, &expired("a3", "r3", 1))
        .unwrap();
    tokens
        .write_journal(
            "amocrm",
            "main",
            &JournalEntry {
                from_version: 1,
                started_at: Utc::now(),
                state: JournalState::Refreshing,
            },
        )
        .unwrap();
    let report = amo_run(
        &amo_driver(tokens.clone()),
        &server,
        &MemoryStore::new(),
        "r",
    )
    .await;
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.starts_with("re-authorize"), "{err}");
    assert_eq!(refresh_tokens_seen(&server), vec!["r3"]);
    assert!(tokens.read_journal("amocrm", "main").unwrap().is_none());
}
