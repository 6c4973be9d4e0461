//! `ga4`: runReport request shape, paging and error decisions,
//! normalization of recorded-shape reports, service-account JWT signing,
//! and the driver loop against a mock server.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use common::{MockResponse, MockServer, account, date, fetch_context, fixture, fixture_str};
use serde_json::{Value, json};
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::ga4::{self, Ga4};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::{
    AuthScheme, Connector, FetchError, Job, NormalizeContext, Normalized, RawEnvelope, Response,
    Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{Record, Session, Utm};
use voronka_store::{MemoryStore, Store};

const BASE: &str = "https://analyticsdata.googleapis.com";
const TOKEN: &str = "ya29.secret-access-token";
const REPORT_PATH: &str = "/v1beta/properties/123456789:runReport";

fn acc(page_size: Option<i64>) -> AccountConfig {
    let mut options = json!({"property_id": "123456789"});
    if let Some(n) = page_size {
        options["page_size"] = json!(n);
    }
    account(json!({
        "id": "ga",
        "options": options,
        "credentials": {"access_token": {"env": "GA4_TOKEN"}},
    }))
}

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap()
}

fn response(status: u16, body: &[u8]) -> Response {
    Response {
        status,
        headers: BTreeMap::new(),
        body: bytes::Bytes::copy_from_slice(body),
    }
}

fn job() -> Job {
    Job {
        entity: "sessions".into(),
        window: Some((date(2026, 12, 1), date(2026, 12, 3))),
        meta: BTreeMap::from([("property_id".to_string(), "123456789".to_string())]),
    }
}

fn envelope(status: u16, offset: u64, body: &[u8]) -> RawEnvelope {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    RawEnvelope {
        v: 1,
        source: "ga4".into(),
        account: "ga".into(),
        run: "r1".into(),
        seq: 1,
        entity: "sessions".into(),
        window_from: Some(date(2026, 12, 1)),
        window_to: Some(date(2026, 12, 3)),
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "POST".into(),
            url: format!("{BASE}{REPORT_PATH}"),
            body: Some(format!(r#"{{"offset":"{offset}"}}"#)),
        },
        status,
        headers: BTreeMap::new(),
        received_at: utc(2026, 12, 4, 3, 0, 0),
        body_encoding,
        body,
    }
}

fn normalize(status: u16, offset: u64, body: &[u8]) -> Normalized {
    let a = acc(None);
    let ctx = NormalizeContext {
        account: &a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    Ga4.normalize(&envelope(status, offset, body), &ctx)
}

/// `dims`: GA4's own source|medium|campaign values, kept in the key.
fn session(d: u32, utm: (&str, &str, &str), dims: &str, sessions: u64, users: u64) -> Record {
    Record::Session(Session {
        source: "ga4".into(),
        account: "ga".into(),
        date: date(2026, 12, d),
        utm: Utm {
            source: utm.0.into(),
            medium: utm.1.into(),
            campaign: utm.2.into(),
            ..Utm::default()
        },
        dims: dims.into(),
        sessions,
        users,
    })
}

fn expected_all() -> Vec<Record> {
    vec![
        session(1, ("", "", ""), "(direct)|(none)|(direct)", 412, 380),
        session(
            1,
            ("yandex", "cpc", "python_dec"),
            "yandex|cpc|python_dec",
            125,
            117,
        ),
        session(2, ("vk", "paid", ""), "vk|paid|(not set)", 58, 51),
        session(2, ("", "", ""), "(not set)|(not set)|(not set)", 3, 3),
        session(
            3,
            ("(other)", "(other)", "(other)"),
            "(other)|(other)|(other)",
            7,
            6,
        ),
    ]
}

#[test]
fn options_auth_and_validation() {
    let a = acc(None);
    assert_eq!(Ga4.default_base_url(&a), BASE);
    assert_eq!(Ga4.validate(&a), Ok(()));
    assert_eq!(
        Ga4.auth(),
        AuthScheme::Bearer {
            credential: "access_token"
        }
    );
    assert_eq!(ga4::page_size(&a), 100_000);
    assert_eq!(ga4::page_size(&acc(Some(3))), 3);
    let prefixed = account(
        json!({"id": "ga", "options": {"property_id": "properties/42"},
        "credentials": {"service_account": {"env": "SA"}}}),
    );
    assert_eq!(ga4::property_id(&prefixed).as_deref(), Some("42"));
    assert_eq!(Ga4.validate(&prefixed), Ok(()));
    let numeric = account(json!({"id": "ga", "options": {"property_id": 42},
        "credentials": {"access_token": {"env": "T"}}}));
    assert_eq!(ga4::property_id(&numeric).as_deref(), Some("42"));

    let none = account(json!({"id": "ga", "credentials": {"access_token": {"env": "T"}}}));
    assert!(
        Ga4.validate(&none)
            .unwrap_err()
            .contains("options.property_id")
    );
    let bad = account(json!({"id": "ga", "options": {"property_id": "G-ABC123"},
        "credentials": {"access_token": {"env": "T"}}}));
    assert!(
        Ga4.validate(&bad)
            .unwrap_err()
            .contains("options.property_id")
    );
    let big = account(
        json!({"id": "ga", "options": {"property_id": "1", "page_size": 300000},
        "credentials": {"access_token": {"env": "T"}}}),
    );
    assert!(
        Ga4.validate(&big)
            .unwrap_err()
            .contains("options.page_size")
    );
    let no_cred = account(json!({"id": "ga", "options": {"property_id": "1"}}));
    assert!(
        Ga4.validate(&no_cred)
            .unwrap_err()
            .contains("credentials.service_account")
    );
}

#[test]
fn plan_and_request_shape() {
    let a = acc(None);
    let ctx = fetch_context(&a, BASE, date(2026, 12, 1), date(2026, 12, 3));
    let jobs = Ga4.plan(&ctx);
    assert_eq!(jobs, vec![job()]);
    let r = Ga4.first_request(&ctx, &jobs[0]);
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, format!("{BASE}{REPORT_PATH}"));
    assert!(r.query.is_empty());
    assert!(
        r.headers
            .contains(&("Content-Type".to_string(), "application/json".to_string()))
    );
    let body: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "dateRanges": [{"startDate": "2026-12-01", "endDate": "2026-12-03"}],
            "dimensions": [{"name": "date"}, {"name": "sessionSource"},
                           {"name": "sessionMedium"}, {"name": "sessionCampaignName"}],
            "metrics": [{"name": "sessions"}, {"name": "totalUsers"}],
            "limit": "100000",
            "offset": "0",
            "keepEmptyRows": false,
        })
    );
}

#[test]
fn paging_by_offset_until_row_count() {
    let a = acc(Some(3));
    let ctx = fetch_context(&a, BASE, date(2026, 12, 1), date(2026, 12, 3));
    let j = job();
    let first = Ga4.first_request(&ctx, &j);
    let Ok(Step::Next(second)) = Ga4.next_step(
        &ctx,
        &j,
        &first,
        &response(200, &fixture("ga4", "report_page1.json")),
    ) else {
        panic!("3 of 5 rows: next page");
    };
    let body: Value = serde_json::from_str(second.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        (body["offset"].clone(), body["limit"].clone()),
        (json!("3"), json!("3"))
    );
    assert_eq!(second.url, first.url);
    assert_eq!(
        Ga4.next_step(
            &ctx,
            &j,
            &second,
            &response(200, &fixture("ga4", "report_page2.json"))
        ),
        Ok(Step::Done { watermark: None })
    );
    // No rows: done, not an error.
    assert_eq!(
        Ga4.next_step(
            &ctx,
            &j,
            &first,
            &response(200, &fixture("ga4", "report_no_rows.json"))
        ),
        Ok(Step::Done { watermark: None })
    );
}

#[test]
fn error_decisions() {
    let a = acc(None);
    let ctx = fetch_context(&a, BASE, date(2026, 12, 1), date(2026, 12, 3));
    let j = job();
    let req = Ga4.first_request(&ctx, &j);
    let step = |status: u16, name: &str| {
        Ga4.next_step(&ctx, &j, &req, &response(status, &fixture("ga4", name)))
    };

    assert!(matches!(
        step(429, "error_429_quota.json"),
        Err(FetchError::Retryable { .. })
    ));
    match step(403, "error_403_permission.json") {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(reason.contains("PERMISSION_DENIED"), "{reason}");
            assert!(reason.contains("Viewer"), "{reason}");
            assert!(reason.contains("123456789"), "{reason}");
        }
        other => panic!("expected terminal, got {other:?}"),
    }
    match step(403, "error_403_service_disabled.json") {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(
                reason.contains("enable the Google Analytics Data API"),
                "{reason}"
            );
        }
        other => panic!("expected terminal, got {other:?}"),
    }
    match step(401, "error_401_unauthenticated.json") {
        Err(FetchError::Terminal { reason, .. }) => assert!(reason.contains("UNAUTHENTICATED")),
        other => panic!("expected terminal, got {other:?}"),
    }
    assert!(matches!(
        step(400, "error_400_invalid_argument.json"),
        Err(FetchError::Terminal { .. })
    ));
    let plain = |status: u16, body: &[u8]| Ga4.next_step(&ctx, &j, &req, &response(status, body));
    assert!(matches!(
        plain(503, b"<html>"),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        plain(404, b"not found"),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        plain(200, b"<html>"),
        Err(FetchError::Terminal { .. })
    ));
}

#[test]
fn report_pages_normalize_to_sessions() {
    let mut got = normalize(200, 0, &fixture("ga4", "report_page1.json"));
    assert_eq!(got.rejected, vec![]);
    let page2 = normalize(200, 3, &fixture("ga4", "report_page2.json"));
    assert_eq!(page2.rejected, vec![]);
    got.records.extend(page2.records);
    assert_eq!(got.records, expected_all());
}

#[test]
fn no_rows_and_errors_normalize_to_nothing() {
    for (status, name) in [
        (200, "report_no_rows.json"),
        (429, "error_429_quota.json"),
        (403, "error_403_permission.json"),
        (200, "error_403_permission.json"),
    ] {
        assert_eq!(
            normalize(status, 0, &fixture("ga4", name)),
            Normalized::default(),
            "{name}"
        );
    }
}

#[test]
fn metric_types_columns_by_name_and_bad_rows() {
    // Columns reordered, float-typed metrics, one bad date, one fractional value.
    let body = json!({
        "dimensionHeaders": [{"name": "sessionCampaignName"}, {"name": "date"},
                             {"name": "sessionMedium"}, {"name": "sessionSource"}],
        "metricHeaders": [{"name": "totalUsers", "type": "TYPE_FLOAT"},
                          {"name": "sessions", "type": "TYPE_INTEGER"}],
        "rows": [
            {"dimensionValues": [{"value": "spring"}, {"value": "20261203"}, {"value": "email"}, {"value": "newsletter"}],
             "metricValues": [{"value": "9.0"}, {"value": "10"}]},
            {"dimensionValues": [{"value": "x"}, {"value": "2026-12-03"}, {"value": "m"}, {"value": "s"}],
             "metricValues": [{"value": "1"}, {"value": "1"}]},
            {"dimensionValues": [{"value": "x"}, {"value": "20261203"}, {"value": "m"}, {"value": "s"}],
             "metricValues": [{"value": "1.5"}, {"value": "2"}]},
            {"dimensionValues": [{"value": "x"}, {"value": "20261203"}, {"value": "m"}, {"value": "s"}],
             "metricValues": [{"value": "1"}, {"value": "-2"}]}
        ],
        "rowCount": 4
    });
    let n = normalize(200, 0, body.to_string().as_bytes());
    assert_eq!(
        n.records,
        vec![session(
            3,
            ("newsletter", "email", "spring"),
            "newsletter|email|spring",
            10,
            9
        )]
    );
    let rejected: Vec<(&str, &str)> = n
        .rejected
        .iter()
        .map(|e| (e.record.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            ("row 2", "date"),
            ("row 3", "totalUsers"),
            ("row 4", "sessions")
        ]
    );
    assert_eq!(ga4::parse_count("12", "TYPE_INTEGER"), Ok(12));
    assert_eq!(ga4::parse_count("12.00", "TYPE_FLOAT"), Ok(12));
    assert!(ga4::parse_count("12.00", "TYPE_INTEGER").is_err());
    assert!(ga4::parse_count("", "TYPE_INTEGER").is_err());
    for (raw, want) in [
        ("(direct)", ""),
        ("(none)", ""),
        ("(not set)", ""),
        ("", ""),
        (" google ", "google"),
        ("(other)", "(other)"),
    ] {
        assert_eq!(ga4::utm_value(raw), want, "{raw}");
    }
}

// --- service-account JWT -------------------------------------------------

fn b64url_decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn public_key_der() -> Vec<u8> {
    let pem = fixture_str("ga4", "test_service_account_public.pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[test]
fn service_account_jwt_is_signed_rs256() {
    let key = fixture_str("ga4", "test_service_account.json");
    let now = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
    let jwt = ga4::service_account_jwt(&key, now).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&b64url_decode(parts[0])).unwrap();
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef0123456789abcdef01234567"})
    );
    let claims: Value = serde_json::from_slice(&b64url_decode(parts[1])).unwrap();
    assert_eq!(
        claims,
        json!({
            "iss": "voronka-test@voronka-test.iam.gserviceaccount.com",
            "scope": "https://www.googleapis.com/auth/analytics.readonly",
            "aud": "https://oauth2.googleapis.com/token",
            "iat": 1_764_000_000,
            "exp": 1_764_003_600,
        })
    );
    // The signature verifies with the key pair's public half...
    let signed = format!("{}.{}", parts[0], parts[1]);
    let sig = b64url_decode(parts[2]);
    assert_eq!(sig.len(), 256);
    let pk = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key_der(),
    );
    pk.verify(signed.as_bytes(), &sig)
        .expect("signature verifies");
    let mut tampered = signed.clone().into_bytes();
    tampered[10] ^= 1;
    assert!(pk.verify(&tampered, &sig).is_err());
    // ...and equals, byte for byte, the JWT `openssl dgst -sha256 -sign`
    // made from the same key (PKCS#1 v1.5 signatures are deterministic).
    assert_eq!(
        jwt,
        fixture_str("ga4", "test_service_account_jwt_1764000000.txt").trim()
    );
}

#[test]
fn service_account_jwt_errors_name_the_field() {
    let now = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
    let key: Value =
        serde_json::from_str(&fixture_str("ga4", "test_service_account.json")).unwrap();
    let with = |k: &str, v: Value| {
        let mut x = key.clone();
        x[k] = v;
        x.to_string()
    };
    let e = ga4::service_account_jwt(&with("private_key", json!("nope")), now).unwrap_err();
    assert!(e.contains("private_key"), "{e}");
    let e = ga4::service_account_jwt(
        &with(
            "private_key",
            json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        ),
        now,
    )
    .unwrap_err();
    assert!(e.contains("private_key"), "{e}");
    let e = ga4::service_account_jwt(&with("type", json!("authorized_user")), now).unwrap_err();
    assert!(e.contains("service_account"), "{e}");
    let mut no_email = key.clone();
    no_email.as_object_mut().unwrap().remove("client_email");
    let e = ga4::service_account_jwt(&no_email.to_string(), now).unwrap_err();
    assert!(e.contains("client_email"), "{e}");
    assert!(!e.contains("BEGIN PRIVATE KEY"), "{e}");
    // No private_key_id: the header simply has no kid.
    let mut no_kid = key.clone();
    no_kid.as_object_mut().unwrap().remove("private_key_id");
    let jwt = ga4::service_account_jwt(&no_kid.to_string(), now).unwrap();
    let header: Value =
        serde_json::from_slice(&b64url_decode(jwt.split('.').next().unwrap())).unwrap();
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT"}));
}

#[test]
fn token_exchange_pieces() {
    assert_eq!(ga4::TOKEN_URL, "https://oauth2.googleapis.com/token");
    assert_eq!(
        ga4::token_request_body("aa.bb.c-_"),
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=aa.bb.c-_"
    );
    assert_eq!(
        ga4::parse_token_response(&fixture("ga4", "token_ok.json")),
        Ok(ga4::AccessToken {
            access_token: "ya29.c.synthetic-test-token".into(),
            expires_in: 3599,
            token_type: "Bearer".into(),
        })
    );
    let e = ga4::parse_token_response(&fixture("ga4", "token_invalid_grant.json")).unwrap_err();
    assert!(e.contains("invalid_grant") && e.contains("clock"), "{e}");
    assert!(ga4::parse_token_response(b"{}").is_err());
    assert!(ga4::parse_token_response(b"<html>").is_err());
}

// --- driver ----------------------------------------------------------------

fn driver() -> Driver {
    Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            base_backoff: Duration::ZERO,
            max_attempts: 3,
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "access_token".to_string(),
            TOKEN.to_string(),
        )]))),
    )
}

async fn stored(store: &MemoryStore, keys: &[String]) -> (Vec<RawEnvelope>, Vec<Record>) {
    let a = acc(None);
    let ctx = NormalizeContext {
        account: &a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut envs = Vec::new();
    let mut records = Vec::new();
    for k in keys {
        let bytes = store.get(k).await.unwrap().expect("raw envelope stored");
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains(TOKEN), "token leaked into {k}");
        let env = RawEnvelope::from_json(&bytes).unwrap();
        let n = Ga4.normalize(&env, &ctx);
        assert_eq!(n.rejected, vec![]);
        records.extend(n.records);
        envs.push(env);
    }
    (envs, records)
}

fn server_account(server: &MockServer, page_size: i64) -> AccountConfig {
    account(json!({
        "id": "ga",
        "base_url": server.base_url(),
        "options": {"property_id": "123456789", "page_size": page_size},
        "credentials": {"access_token": {"env": "GA4_TOKEN"}},
    }))
}

#[tokio::test]
async fn driver_pages_after_throttling_and_is_idempotent() {
    let server = MockServer::start().await;
    server.route("POST", REPORT_PATH).respond([
        MockResponse::json(429, fixture("ga4", "error_429_quota.json")),
        MockResponse::json(200, fixture("ga4", "report_page1.json")),
        MockResponse::json(200, fixture("ga4", "report_page2.json")),
        MockResponse::json(429, fixture("ga4", "error_429_quota.json")),
        MockResponse::json(200, fixture("ga4", "report_page1.json")),
        MockResponse::json(200, fixture("ga4", "report_page2.json")),
    ]);
    let a = server_account(&server, 3);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let d = driver();
    let store = MemoryStore::new();
    let report = d.ingest(&store, &Ga4, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.jobs[0].requests, 3);
    let sent = server.requests();
    assert_eq!(sent.len(), 3);
    let mut offsets = Vec::new();
    for r in &sent {
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body["dateRanges"],
            json!([{"startDate": "2026-12-01", "endDate": "2026-12-03"}])
        );
        offsets.push(body["offset"].as_str().unwrap().to_string());
    }
    assert_eq!(offsets, ["0", "0", "3"]);
    let (envs, first) = stored(&store, &report.raw_keys()).await;
    assert_eq!(
        envs[0].status, 429,
        "the throttled answer is kept in raw/ too"
    );
    assert_eq!(first, expected_all());

    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &Ga4, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    let (_, second) = stored(&store2, &report2.raw_keys()).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn driver_empty_window_is_done_without_records() {
    let server = MockServer::start().await;
    server
        .route("POST", REPORT_PATH)
        .respond([MockResponse::json(
            200,
            fixture("ga4", "report_no_rows.json"),
        )]);
    let a = server_account(&server, 100_000);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let store = MemoryStore::new();
    let report = driver().ingest(&store, &Ga4, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(server.requests().len(), 1);
    let (_, records) = stored(&store, &report.raw_keys()).await;
    assert!(records.is_empty());
}

#[tokio::test]
async fn driver_permission_denied_fails_with_a_hint() {
    let server = MockServer::start().await;
    server
        .route("POST", REPORT_PATH)
        .respond([MockResponse::json(
            403,
            fixture("ga4", "error_403_permission.json"),
        )]);
    let a = server_account(&server, 100_000);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let store = MemoryStore::new();
    let report = driver().ingest(&store, &Ga4, &ctx, "run1").await;
    let failed = report.failed();
    assert_eq!(failed.len(), 1);
    let err = failed[0].error.as_deref().unwrap();
    assert!(err.contains("Viewer") && err.contains("123456789"), "{err}");
    assert!(!err.contains(TOKEN));
    assert_eq!(server.requests().len(), 1, "terminal: no retry");
    stored(&store, &report.raw_keys()).await;
}

#[tokio::test]
async fn driver_missing_token_is_reported() {
    let server = MockServer::start().await;
    let a = server_account(&server, 100_000);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let d = Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets::default()),
    );
    let report = d.ingest(&MemoryStore::new(), &Ga4, &ctx, "run1").await;
    assert!(!report.ok());
    assert!(
        report.jobs[0]
            .error
            .as_deref()
            .unwrap()
            .contains("access_token")
    );
    assert!(server.requests().is_empty());
}
