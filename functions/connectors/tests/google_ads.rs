//! `google_ads`: searchStream requests, error classification, normalization
//! of a recorded stream (micros, omitted zeros, YouTube), and the driver
//! loop against a mock server.

mod common;

use common::{MockResponse, MockServer, account, date, fetch_context, fixture};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::google_ads::{self, GoogleAds};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::{
    AuthScheme, Connector, FetchError, NormalizeContext, Normalized, OAuthFlow, RawEnvelope,
    Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};
use voronka_store::{MemoryStore, Store};

const BASE: &str = "https://googleads.googleapis.com";
const PATH: &str = "/v21/customers/1234567890/googleAds:searchStream";
const DEV_TOKEN: &str = "DEVTOKEN-SYNTHETIC";

fn acc() -> AccountConfig {
    account(json!({
        "id": "ga",
        "currency": "USD",
        "credentials": {"access_token": {"env": "GA_TOKEN"}, "developer_token": {"env": "GA_DEV"}},
        "options": {
            "customer_id": "123-456-7890",
            "login_customer_id": "999-000-1111",
        },
    }))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn response(status: u16, body: &[u8]) -> Response {
    Response {
        status,
        headers: BTreeMap::new(),
        body: bytes::Bytes::copy_from_slice(body),
    }
}

fn normalize_with(a: &AccountConfig, status: u16, body: &[u8]) -> Normalized {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    let env = RawEnvelope {
        v: 1,
        source: "google_ads".into(),
        account: "ga".into(),
        run: "r1".into(),
        seq: 1,
        entity: "campaign_stats".into(),
        window_from: Some(date(2026, 11, 1)),
        window_to: Some(date(2026, 11, 2)),
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "POST".into(),
            url: format!("{BASE}{PATH}"),
            body: Some(r#"{"query":"…"}"#.into()),
        },
        status,
        headers: BTreeMap::new(),
        received_at: chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
        body_encoding,
        body,
    };
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    GoogleAds.normalize(&env, &ctx)
}

fn stat(
    day: u32,
    id: &str,
    name: &str,
    platform: &str,
    imp: u64,
    clicks: u64,
    spend: &str,
) -> Record {
    Record::AdStat(AdStat {
        source: "google_ads".into(),
        account: "ga".into(),
        date: date(2026, 11, day),
        platform: platform.into(),
        level: StatLevel::Campaign,
        campaign_id: id.into(),
        campaign_name: name.into(),
        ad_id: String::new(),
        ad_name: String::new(),
        impressions: imp,
        clicks,
        spend: dec(spend),
        currency: "USD".into(),
        vat: VatMode::Excluded,
    })
}

fn stream_records() -> Vec<Record> {
    vec![
        // costMicros "1061083620" → 1061.08362 exactly.
        stat(
            1,
            "456",
            "Search — Python курс",
            "google",
            5012,
            204,
            "1061.08362",
        ),
        stat(1, "789", "YouTube — вебинар", "youtube", 12000, 17, "0.25"),
        // Omitted clicks and costMicros are 0.
        stat(2, "456", "Search — Python курс", "google", 3, 0, "0"),
        // Numbers instead of int64 strings.
        stat(2, "790", "PMax", "google", 100, 5, "0.000001"),
    ]
}

const QUERY: &str = "SELECT campaign.id, campaign.name, campaign.advertising_channel_type, \
    segments.date, metrics.cost_micros, metrics.impressions, metrics.clicks FROM campaign \
    WHERE segments.date BETWEEN '2026-11-01' AND '2026-11-02'";

#[test]
fn options_plan_and_request() {
    let a = acc();
    assert_eq!(GoogleAds.validate(&a), Ok(()));
    assert_eq!(GoogleAds.default_base_url(&a), BASE);
    assert_eq!(
        GoogleAds.auth(),
        AuthScheme::All(&[
            AuthScheme::OAuth2(OAuthFlow::RefreshStatic {
                token_url: "https://oauth2.googleapis.com/token"
            }),
            AuthScheme::Header {
                name: "developer-token",
                credential: "developer_token"
            },
        ])
    );
    // Without a refresh token: the legacy ready access token.
    assert_eq!(
        GoogleAds.auth_for(&a),
        AuthScheme::All(&[
            AuthScheme::Bearer {
                credential: "access_token"
            },
            google_ads::DEVELOPER_TOKEN,
        ])
    );
    let ctx = fetch_context(&a, BASE, date(2026, 10, 1), date(2026, 11, 2));
    let jobs = GoogleAds.plan(&ctx);
    let windows: Vec<_> = jobs.iter().map(|j| j.window.unwrap()).collect();
    assert_eq!(
        windows,
        vec![
            (date(2026, 10, 1), date(2026, 10, 30)),
            (date(2026, 10, 31), date(2026, 11, 2)),
        ]
    );
    assert_eq!(jobs[0].entity, "campaign_stats");

    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 2));
    let r = GoogleAds.first_request(&ctx, &GoogleAds.plan(&ctx)[0]);
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, format!("{BASE}{PATH}"));
    assert!(r.query.is_empty());
    let headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        vec![
            ("Content-Type", "application/json"),
            ("login-customer-id", "9990001111"),
        ]
    );
    let body: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(body, json!({ "query": QUERY }));
    assert_eq!(
        google_ads::query(date(2026, 11, 1), date(2026, 11, 2)),
        QUERY
    );

    // Integer ids, another version, no manager account.
    let other = account(
        json!({"id": "ga", "credentials": {"access_token": {"env": "T"}, "developer_token": {"env": "D"}},
        "options": {"customer_id": 1234567890, "api_version": "v22",
                    "currency": "eur"}}),
    );
    assert_eq!(GoogleAds.validate(&other), Ok(()));
    let ctx = fetch_context(
        &other,
        "http://127.0.0.1:9/",
        date(2026, 11, 1),
        date(2026, 11, 1),
    );
    let r = GoogleAds.first_request(&ctx, &GoogleAds.plan(&ctx)[0]);
    assert_eq!(
        r.url,
        "http://127.0.0.1:9/v22/customers/1234567890/googleAds:searchStream"
    );
    assert!(!r.headers.iter().any(|(k, _)| k == "login-customer-id"));

    let good = json!({"customer_id": "1"});
    let with = |patch: Value| {
        let mut o = good.clone();
        o.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        o
    };
    let cases = [
        (
            json!({"id": "ga", "currency": "USD", "credentials": {"access_token": {"env": "T"}, "developer_token": {"env": "D"}},
                "options": {}}),
            "options.customer_id",
        ),
        (
            json!({"id": "ga", "currency": "USD", "credentials": {"access_token": {"env": "T"}, "developer_token": {"env": "D"}},
                "options": with(json!({"customer_id": "12x"}))}),
            "options.customer_id",
        ),
        (
            json!({"id": "ga", "currency": "USD", "credentials": {"access_token": {"env": "T"}, "developer_token": {"env": "D"}},
                "options": with(json!({"login_customer_id": "mcc"}))}),
            "options.login_customer_id",
        ),
        (
            json!({"id": "ga", "currency": "USD", "credentials": {"access_token": {"env": "T"}, "developer_token": {"env": "D"}},
                "options": {"customer_id": "1", "developer_token": "d"}}),
            "options.developer_token: deprecated",
        ),
        (
            json!({"id": "ga", "currency": "USD", "credentials": {"access_token": {"env": "T"}},
                "options": {"customer_id": "1"}}),
            "credentials.developer_token",
        ),
        (
            json!({"id": "ga", "currency": "USD",
                "credentials": {"refresh_token": {"env": "R"}, "developer_token": {"env": "D"}},
                "options": {"customer_id": "1", "client_id": "c"}}),
            "credentials.client_secret",
        ),
        (
            json!({"id": "ga", "currency": "USD", "credentials": {"access_token": {"env": "T"}, "developer_token": {"env": "D"}},
                "options": with(json!({"api_version": "21"}))}),
            "options.api_version",
        ),
        (
            json!({"id": "ga", "credentials": {"access_token": {"env": "T"}, "developer_token": {"env": "D"}}, "options": good}),
            "currency",
        ),
        (
            json!({"id": "ga", "currency": "USD", "options": good,
                "credentials": {"developer_token": {"env": "D"}}}),
            "credentials.access_token",
        ),
    ];
    for (bad, key) in cases {
        let e = GoogleAds.validate(&account(bad.clone())).unwrap_err();
        assert!(e.contains(key), "{bad}: {e}");
    }
}

#[test]
fn errors_are_classified() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 2));
    let job = GoogleAds.plan(&ctx).remove(0);
    let req = GoogleAds.first_request(&ctx, &job);
    let step =
        |status: u16, body: &[u8]| GoogleAds.next_step(&ctx, &job, &req, &response(status, body));
    let wait = |r: Result<Step, FetchError>| match r {
        Err(FetchError::Retryable { after, .. }) => after,
        other => panic!("expected retryable, got {other:?}"),
    };
    let terminal = |r: Result<Step, FetchError>| match r {
        Err(FetchError::Terminal { reason, .. }) => reason,
        other => panic!("expected terminal, got {other:?}"),
    };

    assert_eq!(
        step(200, &fixture("google_ads", "search_stream.json")),
        Ok(Step::Done { watermark: None })
    );
    assert_eq!(step(200, b"[]"), Ok(Step::Done { watermark: None }));
    // Quota: the error's retryDelay, else 30 s; also inside a stream array.
    assert_eq!(
        wait(step(429, &fixture("google_ads", "error_quota_429.json"))),
        Some(Duration::from_secs(13))
    );
    assert_eq!(
        wait(step(
            200,
            &fixture("google_ads", "error_quota_stream_200.json")
        )),
        Some(Duration::from_secs(30))
    );
    let temp = json!({"error": {"code": 400, "message": "m", "status": "FAILED_PRECONDITION",
        "details": [{"errors": [{"errorCode": {"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"}}]}]}});
    assert_eq!(
        wait(step(400, temp.to_string().as_bytes())),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        wait(step(
            503,
            &fixture("google_ads", "error_unavailable_503.json")
        )),
        None
    );
    assert_eq!(wait(step(500, b"")), None);

    let reason = terminal(step(
        401,
        &fixture("google_ads", "error_unauthenticated_401.json"),
    ));
    assert!(
        reason.contains("UNAUTHENTICATED") && reason.contains("credentials.access_token"),
        "{reason}"
    );
    let reason = terminal(step(
        403,
        &fixture("google_ads", "error_permission_denied_403.json"),
    ));
    assert!(
        reason.contains("PERMISSION_DENIED")
            && reason.contains("authorizationError.DEVELOPER_TOKEN_NOT_APPROVED")
            && reason.contains("only approved for use with test accounts")
            && reason.contains("requestId q-SYNTHETIC-3"),
        "{reason}"
    );
    let reason = terminal(step(
        400,
        &fixture("google_ads", "error_invalid_argument_400.json"),
    ));
    assert!(
        reason.contains("INVALID_ARGUMENT")
            && reason.contains("queryError.UNRECOGNIZED_FIELD")
            && reason.contains("metrics.cost"),
        "{reason}"
    );
    assert!(terminal(step(404, b"Not Found")).contains("HTTP 404"));
    assert!(terminal(step(200, b"{}")).contains("not an array"));
    assert!(terminal(step(200, b"<html>")).contains("not JSON"));
}

#[test]
fn stream_normalizes_exactly() {
    let n = normalize_with(&acc(), 200, &fixture("google_ads", "search_stream.json"));
    assert_eq!(n.records, stream_records());
    assert_eq!(n.rejected.len(), 1);
    assert_eq!(
        (n.rejected[0].record.as_str(), n.rejected[0].field.as_str()),
        ("2026-11-02 791", "metrics.costMicros")
    );
    let Record::AdStat(s) = &n.records[0] else {
        unreachable!()
    };
    assert_eq!(s.spend, Decimal::new(106108362, 5));
    assert_eq!(s.spend.to_string(), "1061.08362");

    // Rows repeating a (day, campaign) are summed.
    let body = json!([{"results": [
        {"campaign": {"id": "1", "name": "A", "advertisingChannelType": "VIDEO"},
         "metrics": {"costMicros": "1500000", "impressions": "10", "clicks": "1"},
         "segments": {"date": "2026-11-05"}},
        {"campaign": {"id": "1", "name": "A", "advertisingChannelType": "VIDEO"},
         "metrics": {"costMicros": "2500000", "impressions": "5"},
         "segments": {"date": "2026-11-05"}},
        {"campaign": {"id": "1"}, "metrics": {}, "segments": {"date": "05.11.2026"}}
    ]}]);
    let n = normalize_with(&acc(), 200, body.to_string().as_bytes());
    assert_eq!(n.records, vec![stat(5, "1", "A", "youtube", 15, 1, "4")]);
    assert_eq!(n.rejected[0].field, "segments.date");

    // No currency: refused, not guessed.
    let none = account(json!({"id": "ga", "options": {"customer_id": "1"}}));
    let n = normalize_with(&none, 200, &fixture("google_ads", "search_stream.json"));
    assert!(n.records.is_empty());
    let fields: Vec<&str> = n.rejected.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "currency",
            "currency",
            "currency",
            "currency",
            "metrics.costMicros"
        ]
    );

    // Errors and empty streams give nothing.
    assert_eq!(normalize_with(&acc(), 200, b"[]"), Normalized::default());
    for (status, name) in [
        (200, "error_quota_stream_200.json"),
        (429, "error_quota_429.json"),
        (401, "error_unauthenticated_401.json"),
    ] {
        assert_eq!(
            normalize_with(&acc(), status, &fixture("google_ads", name)),
            Normalized::default(),
            "{name}"
        );
    }
}

fn driver(secret: &str) -> Driver {
    Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            base_backoff: Duration::ZERO,
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([
            ("access_token".to_string(), secret.to_string()),
            ("developer_token".to_string(), DEV_TOKEN.to_string()),
        ]))),
    )
}

fn server_account(server: &MockServer) -> AccountConfig {
    account(json!({
        "id": "ga",
        "currency": "USD",
        "base_url": server.base_url(),
        "credentials": {"access_token": {"env": "GA_TOKEN"}, "developer_token": {"env": "GA_DEV"}},
        "options": {
            "customer_id": "123-456-7890",
            "login_customer_id": "999-000-1111",
        },
    }))
}

async fn normalized(store: &MemoryStore, keys: &[String], a: &AccountConfig) -> Normalized {
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut out = Normalized::default();
    for k in keys {
        let bytes = store.get(k).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("ga-secret"), "{k}");
        assert!(
            !text.contains(DEV_TOKEN),
            "request headers are not recorded: {k}"
        );
        let env = RawEnvelope::from_json(&bytes).unwrap();
        let n = GoogleAds.normalize(&env, &ctx);
        out.records.extend(n.records);
        out.rejected.extend(n.rejected);
    }
    out
}

#[tokio::test]
async fn driver_retries_quota_then_reads_the_stream_idempotently() {
    let server = MockServer::start().await;
    server.route("POST", PATH).respond([
        MockResponse::json(429, fixture("google_ads", "error_quota_429.json")),
        MockResponse::json(200, fixture("google_ads", "error_quota_stream_200.json")),
        MockResponse::json(200, fixture("google_ads", "search_stream.json")),
    ]);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let d = driver("ga-secret");
    let store = MemoryStore::new();
    let report = d.ingest(&store, &GoogleAds, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    assert_eq!(sent.len(), 3, "429, quota in stream, data");
    for r in &sent {
        assert_eq!(r.path, PATH);
        assert_eq!(r.header("authorization"), Some("Bearer ga-secret"));
        assert_eq!(r.header("developer-token"), Some(DEV_TOKEN));
        assert_eq!(r.header("login-customer-id"), Some("9990001111"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body, json!({ "query": QUERY }));
    }
    assert_eq!(report.raw_keys().len(), 3);
    let got = normalized(&store, &report.raw_keys(), &a).await;
    assert_eq!(got.records, stream_records());
    assert_eq!(got.rejected.len(), 1);

    // The route keeps answering with its last response: the data.
    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &GoogleAds, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    let again = normalized(&store2, &report2.raw_keys(), &a).await;
    assert_eq!(again, got);
}

#[tokio::test]
async fn driver_stops_when_unauthenticated() {
    let server = MockServer::start().await;
    server.route("POST", PATH).respond([MockResponse::json(
        401,
        fixture("google_ads", "error_unauthenticated_401.json"),
    )]);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let store = MemoryStore::new();
    let report = driver("ga-secret")
        .ingest(&store, &GoogleAds, &ctx, "run1")
        .await;
    assert_eq!(server.requests().len(), 1);
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("UNAUTHENTICATED"), "{err}");
    assert!(!err.contains("ga-secret"));
    assert_eq!(
        normalized(&store, &report.raw_keys(), &a).await,
        Normalized::default()
    );
}
