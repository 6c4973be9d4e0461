//! The generic driver against a scripted mock server: paging, retries,
//! terminal errors, raw capture with redaction, rate-limit budgets.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{MockResponse, MockServer, account, date, fetch_context};
use serde_json::{Value, json};
use voronka_connectors::driver::{Driver, DriverOptions, EnvSecrets, SecretSource, StaticSecrets};
use voronka_connectors::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, RateLimit,
    RawEnvelope, Request, Response, Step,
};
use voronka_core::config::{AccountConfig, SecretRef};
use voronka_store::{MemoryStore, Store};

const SECRET: &str = "sup3r-s3cret/+token";

/// A minimal paging connector: `GET {base}/{entity}?page=N`, body
/// `{"items": [...], "next": "/path?page=2" | null}`; `{"busy": ms}`
/// asks for a retry; HTTP 400 is terminal.
struct Paged {
    auth: AuthScheme,
    limit: RateLimit,
    entities: Vec<&'static str>,
}

impl Paged {
    fn new(auth: AuthScheme) -> Paged {
        Paged {
            auth,
            limit: RateLimit {
                per_second: 1000.0,
                burst: 100,
                budget: None,
            },
            entities: vec!["items"],
        }
    }
}

impl Connector for Paged {
    fn slug(&self) -> &'static str {
        "paged"
    }
    fn default_base_url(&self, _account: &AccountConfig) -> String {
        "http://unused.invalid".into()
    }
    fn auth(&self) -> AuthScheme {
        self.auth.clone()
    }
    fn rate_limit(&self) -> RateLimit {
        self.limit
    }
    fn plan(&self, _ctx: &FetchContext<'_>) -> Vec<Job> {
        self.entities
            .iter()
            .map(|e| Job {
                entity: e.to_string(),
                window: Some((date(2026, 11, 1), date(2026, 11, 2))),
                meta: BTreeMap::from([("kind".to_string(), e.to_string())]),
            })
            .collect()
    }
    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request {
        Request::get(format!("{}/{}", ctx.base_url, job.entity)).query("page", "1")
    }
    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        _job: &Job,
        _request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        if response.status == 400 {
            return Err(FetchError::Terminal {
                slug: "paged".into(),
                reason: "HTTP 400: bad request".into(),
            });
        }
        let v: Value =
            serde_json::from_slice(&response.body).map_err(|e| FetchError::Terminal {
                slug: "paged".into(),
                reason: format!("not JSON: {e}"),
            })?;
        if let Some(ms) = v.get("busy").and_then(Value::as_u64) {
            return Err(FetchError::Retryable {
                slug: "paged".into(),
                reason: "busy".into(),
                after: Some(Duration::from_millis(ms)),
            });
        }
        match v.get("next").and_then(Value::as_str) {
            Some(next) => Ok(Step::Next(Request::get(format!("{}{next}", ctx.base_url)))),
            None => Ok(Step::Done {
                watermark: v.get("page").map(|p| p.to_string()),
            }),
        }
    }
    fn normalize(&self, _envelope: &RawEnvelope, _ctx: &NormalizeContext<'_>) -> Normalized {
        Normalized::default()
    }
}

fn acc() -> AccountConfig {
    account(json!({"id": "main", "credentials": {"token": {"env": "PAGED_TOKEN_UNUSED"}}}))
}

fn secrets() -> Arc<dyn SecretSource> {
    Arc::new(StaticSecrets(BTreeMap::from([(
        "token".to_string(),
        SECRET.to_string(),
    )])))
}

fn fast() -> DriverOptions {
    DriverOptions {
        max_attempts: 3,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        wait_cap: Some(Duration::from_millis(5)),
        timeout: Duration::from_secs(10),
        ..DriverOptions::default()
    }
}

fn page(n: u32, next: Option<&str>) -> MockResponse {
    MockResponse::json(
        200,
        json!({"page": n, "items": [n * 10, n * 10 + 1], "next": next}).to_string(),
    )
}

async fn envelopes(store: &MemoryStore) -> Vec<RawEnvelope> {
    let mut out = Vec::new();
    for key in store.list("raw/").await.unwrap() {
        let bytes = store.get(&key).await.unwrap().unwrap();
        out.push(RawEnvelope::from_json(&bytes).unwrap());
    }
    out.sort_by_key(|e| e.seq);
    out
}

#[tokio::test]
async fn follows_pages_to_the_end() {
    let server = MockServer::start().await;
    server
        .route("GET", "/items")
        .query("page", "1")
        .respond([page(1, Some("/items?page=2"))]);
    server
        .route("GET", "/items")
        .query("page", "2")
        .respond([page(2, Some("/items?page=3"))]);
    server
        .route("GET", "/items")
        .query("page", "3")
        .respond([page(3, None)]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let driver = Driver::new(fast(), secrets());
    let connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;

    assert!(report.ok(), "{report:?}");
    assert_eq!(report.slug, "paged");
    assert_eq!(report.account, "main");
    let job = &report.jobs[0];
    assert_eq!(job.requests, 3);
    assert_eq!(job.raw_keys.len(), 3);
    assert_eq!(job.watermark.as_deref(), Some("3"));
    assert_eq!(job.window, Some((date(2026, 11, 1), date(2026, 11, 2))));

    let reqs = server.requests();
    let pages: Vec<&str> = reqs.iter().map(|r| r.param("page").unwrap()).collect();
    assert_eq!(pages, vec!["1", "2", "3"]);
    for r in &reqs {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {SECRET}").as_str())
        );
        assert!(r.header("user-agent").unwrap().contains("voronka/"));
    }

    let envs = envelopes(&store).await;
    assert_eq!(envs.len(), 3);
    assert_eq!(
        envs.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let e = &envs[0];
    assert_eq!(e.source, "paged");
    assert_eq!(e.account, "main");
    assert_eq!(e.run, "run1");
    assert_eq!(e.entity, "items");
    assert_eq!(e.window_from, Some(date(2026, 11, 1)));
    assert_eq!(e.window_to, Some(date(2026, 11, 2)));
    assert_eq!(e.meta.get("kind").map(String::as_str), Some("items"));
    assert_eq!(e.request.method, "GET");
    assert_eq!(e.request.url, format!("{}/items?page=1", server.base_url()));
    assert_eq!(e.status, 200);
    assert_eq!(
        e.headers.keys().cloned().collect::<Vec<_>>(),
        vec!["content-type".to_string(), "date".to_string()]
    );
    assert_eq!(e.body_encoding, "utf8");
    assert!(e.body.contains("\"page\":1"));
    assert_eq!(report.raw_keys(), store.list("raw/").await.unwrap());
}

#[tokio::test]
async fn retries_429_honouring_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    server.route("GET", "/items").respond([
        MockResponse::text(429, "slow down").header("Retry-After", "1"),
        page(1, None),
    ]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    // No wait cap: the Retry-After second is really waited.
    let opts = DriverOptions {
        wait_cap: None,
        base_backoff: Duration::from_millis(1),
        ..fast()
    };
    let driver = Driver::new(opts, secrets());
    let connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;

    assert!(report.ok(), "{report:?}");
    assert_eq!(report.jobs[0].requests, 2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(950), "waited only {gap:?}");
    let envs = envelopes(&store).await;
    assert_eq!(
        envs.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    assert_eq!(
        envs[0].headers.get("retry-after").map(String::as_str),
        Some("1")
    );
    assert_eq!(envs[0].body, "slow down");
}

#[tokio::test]
async fn retries_503_twice_then_succeeds() {
    let server = MockServer::start().await;
    server.route("GET", "/items").respond([
        MockResponse::text(503, "unavailable"),
        MockResponse::text(503, "unavailable"),
        page(1, None),
    ]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let driver = Driver::new(fast(), secrets());
    let connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.jobs[0].requests, 3);
    assert_eq!(report.jobs[0].watermark.as_deref(), Some("1"));
    let envs = envelopes(&store).await;
    assert_eq!(
        envs.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![503, 503, 200]
    );
}

#[tokio::test]
async fn server_errors_forever_fail_the_job_but_not_the_others() {
    let server = MockServer::start().await;
    server
        .route("GET", "/broken")
        .respond([MockResponse::text(502, "bad gateway")]);
    server.route("GET", "/items").respond([page(1, None)]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let driver = Driver::new(fast(), secrets());
    let mut connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    connector.entities = vec!["broken", "items"];
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;

    assert!(!report.ok());
    assert_eq!(report.failed().len(), 1);
    let broken = &report.jobs[0];
    assert_eq!(broken.entity, "broken");
    assert_eq!(broken.requests, 3, "max_attempts = 3");
    assert_eq!(broken.raw_keys.len(), 3, "every 502 is captured");
    assert_eq!(broken.watermark, None);
    let err = broken.error.as_deref().unwrap();
    assert!(err.starts_with("paged/main: GET "), "{err}");
    assert!(err.contains("/broken?page=1"), "{err}");
    assert!(err.contains("HTTP 502"), "{err}");
    assert!(err.contains("3 attempts"), "{err}");
    let items = &report.jobs[1];
    assert!(items.ok(), "{items:?}");
    assert_eq!(items.watermark.as_deref(), Some("1"));
    assert_eq!(server.requests_to("/broken").len(), 3);
}

#[tokio::test]
async fn transport_errors_are_retried_then_fail() {
    // Nothing listens on this port once the listener is dropped.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let store = MemoryStore::new();
    let account = acc();
    let base = format!("http://127.0.0.1:{port}");
    let ctx = fetch_context(&account, &base, date(2026, 11, 1), date(2026, 11, 2));
    let driver = Driver::new(fast(), secrets());
    let connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;
    let job = &report.jobs[0];
    assert_eq!(job.requests, 0);
    let err = job.error.as_deref().unwrap();
    assert!(err.contains("transport error"), "{err}");
    assert!(err.contains("3 attempts"), "{err}");
    assert!(store.list("raw/").await.unwrap().is_empty());
}

#[tokio::test]
async fn terminal_error_stops_the_job_without_retry() {
    let server = MockServer::start().await;
    server
        .route("GET", "/items")
        .respond([MockResponse::json(400, r#"{"error":"bad"}"#)]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let driver = Driver::new(fast(), secrets());
    let connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;
    let job = &report.jobs[0];
    assert_eq!(job.requests, 1);
    assert_eq!(
        job.raw_keys.len(),
        1,
        "the 400 is captured before the connector sees it"
    );
    assert_eq!(
        job.error.as_deref(),
        Some(
            format!(
                "paged/main: GET {}/items?page=1: HTTP 400: bad request",
                server.base_url()
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn connector_retryable_error_is_retried_with_its_wait() {
    let server = MockServer::start().await;
    server
        .route("GET", "/items")
        .respond([MockResponse::json(200, r#"{"busy": 1}"#), page(1, None)]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let driver = Driver::new(fast(), secrets());
    let connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.jobs[0].requests, 2);
}

#[tokio::test]
async fn query_credentials_never_reach_the_store() {
    let server = MockServer::start().await;
    server
        .route("GET", "/items")
        .query("page", "1")
        .respond([page(1, Some("/items?page=2"))]);
    server
        .route("GET", "/items")
        .query("page", "2")
        .respond([MockResponse::text(500, "oops"), page(2, None)]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let driver = Driver::new(fast(), secrets());
    let connector = Paged::new(AuthScheme::Query {
        param: "key",
        credential: "token",
    });
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");

    // Sent on the wire...
    for r in server.requests() {
        assert_eq!(r.param("key"), Some(SECRET));
    }
    // ...but nowhere in the store, raw or encoded.
    let encoded: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    let keys = store.list("").await.unwrap();
    assert_eq!(keys.len(), 3);
    for key in &keys {
        let bytes = store.get(key).await.unwrap().unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains(SECRET), "{key} leaks the secret");
        assert!(!text.contains(&encoded), "{key} leaks the encoded secret");
        assert!(!key.contains(SECRET));
    }
    let envs = envelopes(&store).await;
    assert_eq!(
        envs[0].request.url,
        format!("{}/items?page=1&key=***", server.base_url())
    );
    assert_eq!(
        envs.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![200, 500, 200]
    );
}

#[tokio::test]
async fn header_credentials_are_sent_and_not_recorded() {
    let server = MockServer::start().await;
    server.route("GET", "/items").respond([page(1, None)]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let driver = Driver::new(fast(), secrets());
    let connector = Paged::new(AuthScheme::Header {
        name: "X-Token",
        credential: "token",
    });
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(server.requests()[0].header("x-token"), Some(SECRET));
    for key in store.list("").await.unwrap() {
        let text = String::from_utf8(store.get(&key).await.unwrap().unwrap().to_vec()).unwrap();
        assert!(!text.contains(SECRET));
    }
}

#[tokio::test]
async fn missing_credential_fails_every_job_naming_account_and_credential() {
    let server = MockServer::start().await;
    let store = MemoryStore::new();
    let account = account(json!({"id": "school2"}));
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let driver = Driver::new(fast(), secrets());
    let mut connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    connector.entities = vec!["a", "b"];
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;
    assert_eq!(report.failed().len(), 2);
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("school2"), "{err}");
    assert!(err.contains("`token`"), "{err}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn budget_is_never_exceeded() {
    let server = MockServer::start().await;
    for n in 1..=6 {
        let next = (n < 6).then(|| format!("/items?page={}", n + 1));
        server
            .route("GET", "/items")
            .query("page", &n.to_string())
            .respond([page(n, next.as_deref())]);
    }
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let opts = DriverOptions {
        wait_cap: None,
        ..fast()
    };
    let driver = Driver::new(opts, secrets());
    let window = Duration::from_millis(300);
    let mut connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    connector.limit = RateLimit {
        per_second: 1000.0,
        burst: 10,
        budget: Some((2, window)),
    };
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 6);
    // Any 3 consecutive requests span at least one window.
    for w in reqs.windows(3) {
        let span = w[2].at - w[0].at;
        assert!(
            span >= window - Duration::from_millis(50),
            "3 requests within {span:?}"
        );
    }
}

#[tokio::test]
async fn token_bucket_paces_requests() {
    let server = MockServer::start().await;
    for n in 1..=4 {
        let next = (n < 4).then(|| format!("/items?page={}", n + 1));
        server
            .route("GET", "/items")
            .query("page", &n.to_string())
            .respond([page(n, next.as_deref())]);
    }
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let driver = Driver::new(
        DriverOptions {
            wait_cap: None,
            ..fast()
        },
        secrets(),
    );
    let mut connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    connector.limit = RateLimit::per_second(20.0);
    let report = driver.ingest(&store, &connector, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let reqs = server.requests();
    // burst 1 at 20/s: 4 requests need at least 3 x 50 ms (minus arrival jitter).
    let span = reqs[3].at - reqs[0].at;
    assert!(span >= Duration::from_millis(120), "{span:?}");
}

#[test]
fn env_secrets_explain_what_is_missing() {
    let s = EnvSecrets;
    let err = s
        .resolve(
            "token",
            &SecretRef {
                env: Some("VORONKA_TEST_SURELY_UNSET_VAR".into()),
                secret: None,
            },
        )
        .unwrap_err();
    assert!(
        err.contains("VORONKA_TEST_SURELY_UNSET_VAR is not set"),
        "{err}"
    );
    let err = s
        .resolve(
            "token",
            &SecretRef {
                env: None,
                secret: Some("amocrm/main-token".into()),
            },
        )
        .unwrap_err();
    assert!(err.contains("secret store not available locally"), "{err}");
    assert!(err.contains("VORONKA_SECRET_AMOCRM_MAIN_TOKEN"), "{err}");
    // PATH is always set: an `env` reference reads it.
    let path = s
        .resolve(
            "x",
            &SecretRef {
                env: Some("PATH".into()),
                secret: None,
            },
        )
        .unwrap();
    assert!(!path.is_empty());
}

fn multi_secrets() -> Arc<dyn SecretSource> {
    Arc::new(StaticSecrets(BTreeMap::from([
        ("token".to_string(), SECRET.to_string()),
        ("app".to_string(), "app-k3y/x".to_string()),
        ("client_secret".to_string(), "cl-s3cret".to_string()),
    ])))
}

#[tokio::test]
async fn several_credentials_go_on_the_wire_and_never_into_raw() {
    let server = MockServer::start().await;
    server.route("GET", "/items").respond([page(1, None)]);
    let store = MemoryStore::new();
    let account = account(json!({"id": "main", "credentials": {
        "token": {"env": "UNUSED_T"}, "app": {"env": "UNUSED_A"}}}));
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let connector = Paged::new(AuthScheme::All(&[
        AuthScheme::Header {
            name: "X-Token",
            credential: "token",
        },
        AuthScheme::Query {
            param: "app",
            credential: "app",
        },
    ]));
    let report = Driver::new(fast(), multi_secrets())
        .ingest(&store, &connector, &ctx, "run1")
        .await;
    assert!(report.ok(), "{report:?}");
    let r = &server.requests()[0];
    assert_eq!(r.header("x-token"), Some(SECRET));
    assert_eq!(r.param("app"), Some("app-k3y/x"));
    let envs = envelopes(&store).await;
    assert!(
        envs[0].request.url.ends_with("page=1&app=***"),
        "{}",
        envs[0].request.url
    );
    let raw = serde_json::to_string(&envs[0].request).unwrap();
    assert!(!raw.contains(SECRET) && !raw.contains("app-k3y"), "{raw}");
}

#[tokio::test]
async fn a_missing_path_placeholder_fails_the_job_without_sending() {
    let server = MockServer::start().await;
    server.route("GET", "/items").respond([page(1, None)]);
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let connector = Paged::new(AuthScheme::PathSegment {
        placeholder: "{key}",
        credential: "token",
    });
    let report = Driver::new(fast(), secrets())
        .ingest(&MemoryStore::new(), &connector, &ctx, "run1")
        .await;
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("{key}"), "{err}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn oauth_token_endpoint_is_retried_on_5xx_and_never_captured() {
    let server = MockServer::start().await;
    server.route("POST", "/token").respond([
        MockResponse::text(503, "busy"),
        MockResponse::json(
            200,
            r#"{"access_token":"tok-1","expires_in":"3600","refresh_token":"ref-1"}"#,
        ),
    ]);
    server.route("GET", "/items").respond([page(1, None)]);
    let store = MemoryStore::new();
    let account = account(json!({"id": "main",
        "credentials": {"client_secret": {"env": "UNUSED_S"}},
        "options": {"client_id": "cid"}}));
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let connector = Paged::new(AuthScheme::OAuth2(
        voronka_connectors::OAuthFlow::ClientCredentials {
            token_url_path: "/token",
        },
    ));
    let report = Driver::new(fast(), multi_secrets())
        .ingest(&store, &connector, &ctx, "run1")
        .await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(server.requests_to("/token").len(), 2);
    assert_eq!(
        server.requests_to("/items")[0].header("authorization"),
        Some("Bearer tok-1")
    );
    // Only the API answer is in raw/.
    let keys = store.list("raw/").await.unwrap();
    assert_eq!(keys.len(), 1);
    let text = String::from_utf8(store.get(&keys[0]).await.unwrap().unwrap().to_vec()).unwrap();
    assert!(!text.contains("tok-1") && !text.contains("ref-1") && !text.contains("cl-s3cret"));
}

/// `/items?page=1..=n`, each page linking to the next.
fn pages(server: &MockServer, n: u32) {
    for p in 1..=n {
        let next = (p < n).then(|| format!("/items?page={}", p + 1));
        server
            .route("GET", "/items")
            .query("page", &p.to_string())
            .respond([page(p, next.as_deref())]);
    }
}

fn budgeted(count: u32, window: Duration) -> Paged {
    let mut connector = Paged::new(AuthScheme::Bearer {
        credential: "token",
    });
    connector.limit = RateLimit {
        per_second: 1000.0,
        burst: 100,
        budget: Some((count, window)),
    };
    connector
}

const HOUR: Duration = Duration::from_secs(3600);
const BUDGET_KEY: &str = "state/budget/paged/main.json";

/// The instants recorded in the budget file, as epoch milliseconds.
async fn budget_instants(store: &MemoryStore) -> Vec<i64> {
    let bytes = store.get(BUDGET_KEY).await.unwrap().expect("budget file");
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["source"], "paged");
    assert_eq!(v["account"], "main");
    v["sent"]
        .as_array()
        .expect("sent list")
        .iter()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t.as_str().expect("RFC 3339 string"))
                .expect("RFC 3339")
                .timestamp_millis()
        })
        .collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn the_budget_is_shared_by_successive_runs_through_the_store() {
    let server = MockServer::start().await;
    pages(&server, 4);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let connector = budgeted(5, HOUR);
    assert_eq!(
        voronka_connectors::driver::budget_key("paged", "main"),
        BUDGET_KEY
    );

    // First process: 4 of 5 requests.
    let before = now_ms();
    let first = Driver::new(fast(), secrets())
        .ingest(&store, &connector, &ctx, "run1")
        .await;
    assert!(first.ok(), "{first:?}");
    assert_eq!(first.jobs[0].requests, 4);
    let sent = budget_instants(&store).await;
    assert_eq!(sent.len(), 4);
    assert!(sent.windows(2).all(|w| w[0] <= w[1]), "{sent:?}");
    assert!(sent[0] >= before && sent[3] <= now_ms(), "{sent:?}");

    // Second process (a new driver, nothing in memory): one request is
    // left; the next slot frees in about an hour, more than the default
    // 15 minutes, so the job fails instead of waiting.
    let second = Driver::new(fast(), secrets())
        .ingest(&store, &connector, &ctx, "run2")
        .await;
    let job = &second.jobs[0];
    assert_eq!(job.requests, 1, "{job:?}");
    assert_eq!(server.requests().len(), 5);
    let err = job.error.as_deref().unwrap();
    assert!(
        err.starts_with("paged/main: request budget exhausted: 5 of 5 requests per 1h"),
        "{err}"
    );
    assert!(err.contains(BUDGET_KEY), "{err}");
    assert!(
        err.contains("longer than the maximum wait of 15m: retry after "),
        "{err}"
    );
    // The next slot is the oldest instant plus the window.
    let frees = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(sent[0] + 3_600_000)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert!(err.ends_with(&format!("retry after {frees}")), "{err}");
    let after = budget_instants(&store).await;
    assert_eq!(after.len(), 5);
    assert_eq!(after[..4], sent[..]);
    // Only the answered request is in raw/; the refused one was never sent.
    assert_eq!(job.raw_keys.len(), 1);
}

#[tokio::test]
async fn a_run_waits_for_budget_slots_up_to_max_budget_wait() {
    let server = MockServer::start().await;
    pages(&server, 4);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let connector = budgeted(5, HOUR);
    let opts = DriverOptions {
        max_budget_wait: 2 * HOUR,
        ..fast()
    };
    let first = Driver::new(opts.clone(), secrets())
        .ingest(&store, &connector, &ctx, "run1")
        .await;
    assert!(first.ok(), "{first:?}");
    let sent = budget_instants(&store).await;

    // The wait cap shortens the hour-long waits; the virtual clock moves on.
    let second = Driver::new(opts, secrets())
        .ingest(&store, &connector, &ctx, "run2")
        .await;
    assert!(second.ok(), "{second:?}");
    assert_eq!(second.jobs[0].requests, 4);
    assert_eq!(server.requests().len(), 8);
    let after = budget_instants(&store).await;
    // The first request of run 2 went at once (the fifth slot); the other
    // three each waited until an instant of run 1 left the window, which
    // is then dropped from the record (how many of run 1's instants are
    // still inside depends on the few real milliseconds between them).
    assert!((4..=5).contains(&after.len()), "{after:?}");
    assert!(!after.contains(&sent[0]), "{after:?}");
    let tail = &after[after.len() - 3..];
    assert!(tail.iter().all(|t| *t >= sent[0] + 3_600_000), "{after:?}");
    let latest = *after.last().unwrap();
    assert!(after.iter().all(|t| latest - t < 3_600_000), "{after:?}");
    assert!(after.windows(2).all(|w| w[0] <= w[1]), "{after:?}");
}

#[tokio::test]
async fn instants_outside_the_window_are_dropped_and_recent_ones_count() {
    let server = MockServer::start().await;
    pages(&server, 4);
    let store = MemoryStore::new();
    let now = now_ms();
    let two_hours_ago = now - 2 * 3_600_000;
    let recent = [now - 600_000, now - 500_000, now - 400_000];
    let seeded = json!({"sent": [
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(two_hours_ago).unwrap().to_rfc3339(),
        two_hours_ago + 1,
        // Epoch milliseconds are read too.
        recent[0], recent[1], recent[2],
    ]});
    store
        .put(BUDGET_KEY, bytes::Bytes::from(seeded.to_string()))
        .await
        .unwrap();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let report = Driver::new(fast(), secrets())
        .ingest(&store, &connector_5_per_hour(), &ctx, "run1")
        .await;
    // 3 recent + 2 new = 5: the third page is refused.
    let job = &report.jobs[0];
    assert_eq!(job.requests, 2, "{job:?}");
    let err = job.error.as_deref().unwrap();
    assert!(err.contains("5 of 5 requests per 1h"), "{err}");
    // The oldest recent instant frees the next slot, ~50 minutes from now.
    assert!(
        err.contains(", in 49m") || err.contains(", in 50m"),
        "{err}"
    );
    let after = budget_instants(&store).await;
    assert_eq!(after.len(), 5, "{after:?}");
    assert_eq!(after[..3], recent[..]);
    assert!(after[3] >= now && after[4] >= after[3], "{after:?}");
}

fn connector_5_per_hour() -> Paged {
    budgeted(5, HOUR)
}

#[tokio::test]
async fn an_exhausted_budget_fails_every_job_without_sending() {
    let server = MockServer::start().await;
    pages(&server, 1);
    let store = MemoryStore::new();
    let now = now_ms();
    let seeded = json!({"sent": [now - 60_000, now - 30_000]});
    store
        .put(BUDGET_KEY, bytes::Bytes::from(seeded.to_string()))
        .await
        .unwrap();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let mut connector = budgeted(2, HOUR);
    connector.entities = vec!["items", "other"];
    let opts = DriverOptions {
        max_budget_wait: Duration::from_secs(30 * 60),
        ..fast()
    };
    let report = Driver::new(opts, secrets())
        .ingest(&store, &connector, &ctx, "run1")
        .await;
    assert_eq!(report.failed().len(), 2);
    for job in &report.jobs {
        assert_eq!(job.requests, 0);
        let err = job.error.as_deref().unwrap();
        assert!(
            err.starts_with("paged/main: request budget exhausted: 2 of 2 requests per 1h"),
            "{err}"
        );
        // The older instant (a minute ago) leaves the window first.
        assert!(err.contains(", in 58m"), "{err}");
        assert!(err.contains("maximum wait of 30m: retry after "), "{err}");
    }
    assert!(server.requests().is_empty());
    assert!(store.list("raw/").await.unwrap().is_empty());
    // Nothing was reserved: the record is untouched.
    assert_eq!(
        store.get(BUDGET_KEY).await.unwrap().unwrap(),
        seeded.to_string()
    );
}

#[tokio::test]
async fn a_short_budget_wait_is_really_waited() {
    let server = MockServer::start().await;
    pages(&server, 1);
    let store = MemoryStore::new();
    let window = Duration::from_millis(400);
    let seeded = json!({"sent": [now_ms()]});
    store
        .put(BUDGET_KEY, bytes::Bytes::from(seeded.to_string()))
        .await
        .unwrap();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let opts = DriverOptions {
        wait_cap: None,
        max_budget_wait: Duration::from_secs(5),
        ..fast()
    };
    let start = std::time::Instant::now();
    let report = Driver::new(opts, secrets())
        .ingest(&store, &budgeted(1, window), &ctx, "run1")
        .await;
    assert!(report.ok(), "{report:?}");
    let waited = server.requests()[0].at - start;
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
}

#[tokio::test]
async fn an_unreadable_budget_record_fails_the_job_without_sending() {
    let server = MockServer::start().await;
    pages(&server, 1);
    let store = MemoryStore::new();
    store
        .put(BUDGET_KEY, bytes::Bytes::from_static(b"not json"))
        .await
        .unwrap();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let report = Driver::new(fast(), secrets())
        .ingest(&store, &connector_5_per_hour(), &ctx, "run1")
        .await;
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(
        err.starts_with("paged/main: the request budget record"),
        "{err}"
    );
    assert!(err.contains(BUDGET_KEY), "{err}");
    assert!(server.requests().is_empty());
}
