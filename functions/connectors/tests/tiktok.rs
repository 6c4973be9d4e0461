//! `tiktok`: report and advertiser requests, paging, `code` classification,
//! normalization of recorded pages, the currency check, and the driver loop
//! against a mock server.

mod common;

use common::{MockResponse, MockServer, account, date, fetch_context, fixture};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::tiktok::Tiktok;
use voronka_connectors::{
    AuthScheme, Connector, FetchError, NormalizeContext, Normalized, RawEnvelope, Request,
    Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};
use voronka_store::{MemoryStore, Store};

const BASE: &str = "https://business-api.tiktok.com";
const ADV: &str = "7000000000000000001";
const REPORT: &str = "/open_api/v1.3/report/integrated/get/";
const ADVERTISER: &str = "/open_api/v1.3/advertiser/info/";

fn acc() -> AccountConfig {
    account(json!({
        "id": "tt",
        "currency": "USD",
        "credentials": {"token": {"env": "TT_TOKEN"}},
        "options": {"advertiser_id": ADV},
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

fn normalize_with(a: &AccountConfig, entity: &str, body: &[u8]) -> Normalized {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    let env = RawEnvelope {
        v: 1,
        source: "tiktok".into(),
        account: "tt".into(),
        run: "r1".into(),
        seq: 1,
        entity: entity.into(),
        window_from: None,
        window_to: None,
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "GET".into(),
            url: format!("{BASE}{REPORT}?advertiser_id={ADV}"),
            body: None,
        },
        status: 200,
        headers: BTreeMap::new(),
        received_at: chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
        body_encoding,
        body,
    };
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    Tiktok.normalize(&env, &ctx)
}

fn stat(day: u32, campaign: &str, name: &str, imp: u64, clicks: u64, spend: &str) -> Record {
    Record::AdStat(AdStat {
        source: "tiktok".into(),
        account: "tt".into(),
        date: date(2026, 11, day),
        platform: "tiktok".into(),
        level: StatLevel::Campaign,
        campaign_id: campaign.into(),
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

const C1: &str = "1800000000000001";
const C2: &str = "1800000000000002";

fn page1_records() -> Vec<Record> {
    vec![
        stat(1, C1, "Python — лиды", 4696, 51, "20.00"),
        // `clicks` absent: 0 (TikTok omits empty metrics).
        stat(1, C2, "Ретаргет", 0, 0, "0"),
        // Numbers instead of strings.
        stat(2, C1, "Python — лиды", 1500, 12, "7.35"),
    ]
}

fn page2_records() -> Vec<Record> {
    vec![stat(2, C2, "Ретаргет", 820, 4, "3.5")]
}

fn report_query(page: &str, start: &str, end: &str) -> Vec<(String, String)> {
    [
        ("advertiser_id", ADV),
        ("report_type", "BASIC"),
        ("data_level", "AUCTION_CAMPAIGN"),
        ("dimensions", r#"["campaign_id","stat_time_day"]"#),
        (
            "metrics",
            r#"["spend","impressions","clicks","campaign_name"]"#,
        ),
        ("start_date", start),
        ("end_date", end),
        ("page", page),
        ("page_size", "1000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn options_plan_and_requests() {
    let a = acc();
    assert_eq!(Tiktok.validate(&a), Ok(()));
    assert_eq!(Tiktok.default_base_url(&a), BASE);
    assert_eq!(
        Tiktok.auth(),
        AuthScheme::Header {
            name: "Access-Token",
            credential: "token"
        }
    );
    let ctx = fetch_context(&a, BASE, date(2026, 9, 1), date(2026, 11, 2));
    let jobs = Tiktok.plan(&ctx);
    let shape: Vec<(&str, Option<_>)> =
        jobs.iter().map(|j| (j.entity.as_str(), j.window)).collect();
    assert_eq!(
        shape,
        vec![
            ("advertiser", None),
            ("report", Some((date(2026, 9, 1), date(2026, 9, 30)))),
            ("report", Some((date(2026, 10, 1), date(2026, 10, 30)))),
            ("report", Some((date(2026, 10, 31), date(2026, 11, 2)))),
        ]
    );
    assert_eq!(
        Tiktok.first_request(&ctx, &jobs[0]),
        Request::get(format!("{BASE}{ADVERTISER}"))
            .query("advertiser_ids", format!(r#"["{ADV}"]"#))
            .query("fields", r#"["currency","timezone","name"]"#)
    );
    let r = Tiktok.first_request(&ctx, &jobs[3]);
    assert_eq!(r.method, "GET");
    assert_eq!(r.url, format!("{BASE}{REPORT}"));
    assert_eq!(r.query, report_query("1", "2026-10-31", "2026-11-02"));
    assert_eq!(jobs[3].meta["start_date"], "2026-10-31");
    assert_eq!(jobs[3].meta["end_date"], "2026-11-02");

    // An integer advertiser id and the `currency` option are accepted.
    let int_id = account(json!({"id": "tt", "credentials": {"token": {"env": "T"}},
        "options": {"advertiser_id": 42, "currency": "eur"}}));
    assert_eq!(Tiktok.validate(&int_id), Ok(()));
    let ctx = fetch_context(
        &int_id,
        "http://127.0.0.1:9/",
        date(2026, 11, 1),
        date(2026, 11, 1),
    );
    let r = Tiktok.first_request(&ctx, &Tiktok.plan(&ctx)[1]);
    assert_eq!(r.url, format!("http://127.0.0.1:9{REPORT}"));
    assert_eq!(r.query[0], ("advertiser_id".to_string(), "42".to_string()));

    let cases = [
        (
            json!({"id": "tt", "currency": "USD", "credentials": {"token": {"env": "T"}}}),
            "advertiser_id",
        ),
        (
            json!({"id": "tt", "currency": "USD", "credentials": {"token": {"env": "T"}},
            "options": {"advertiser_id": "12a"}}),
            "advertiser_id",
        ),
        (
            json!({"id": "tt", "credentials": {"token": {"env": "T"}},
            "options": {"advertiser_id": "1"}}),
            "currency",
        ),
        (
            json!({"id": "tt", "credentials": {"token": {"env": "T"}},
            "options": {"advertiser_id": "1", "currency": "dollars"}}),
            "currency",
        ),
        (
            json!({"id": "tt", "currency": "USD", "options": {"advertiser_id": "1"}}),
            "credentials.token",
        ),
    ];
    for (bad, key) in cases {
        let e = Tiktok.validate(&account(bad.clone())).unwrap_err();
        assert!(e.contains(key), "{bad}: {e}");
    }
}

#[test]
fn paging_follows_page_info() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 2));
    let job = Tiktok.plan(&ctx).remove(1);
    let req = Tiktok.first_request(&ctx, &job);
    let step = Tiktok.next_step(
        &ctx,
        &job,
        &req,
        &response(200, &fixture("tiktok", "report_page1.json")),
    );
    let Ok(Step::Next(next)) = step else {
        panic!("expected page 2, got {step:?}")
    };
    assert_eq!(next.url, req.url);
    let mut want = report_query("2", "2026-11-01", "2026-11-02");
    // `page` moves to the end; the other parameters are unchanged.
    let page = want.remove(7);
    want.push(page);
    assert_eq!(next.query, want);
    assert_eq!(
        Tiktok.next_step(
            &ctx,
            &job,
            &next,
            &response(200, &fixture("tiktok", "report_page2.json"))
        ),
        Ok(Step::Done { watermark: None })
    );
    // No page_info (as in some recorded payloads): one page.
    let body = json!({"code": 0, "message": "OK", "data": {"list": []}});
    assert_eq!(
        Tiktok.next_step(
            &ctx,
            &job,
            &req,
            &response(200, body.to_string().as_bytes())
        ),
        Ok(Step::Done { watermark: None })
    );
    // The advertiser job is a single request.
    let adv = Tiktok.plan(&ctx).remove(0);
    let areq = Tiktok.first_request(&ctx, &adv);
    assert_eq!(
        Tiktok.next_step(
            &ctx,
            &adv,
            &areq,
            &response(200, &fixture("tiktok", "advertiser_info.json"))
        ),
        Ok(Step::Done { watermark: None })
    );
}

#[test]
fn codes_are_classified() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 2));
    let job = Tiktok.plan(&ctx).remove(1);
    let req = Tiktok.first_request(&ctx, &job);
    let step =
        |status: u16, body: &[u8]| Tiktok.next_step(&ctx, &job, &req, &response(status, body));
    let wait = |r: Result<Step, FetchError>| match r {
        Err(FetchError::Retryable { after, .. }) => after,
        other => panic!("expected retryable, got {other:?}"),
    };
    let terminal = |r: Result<Step, FetchError>| match r {
        Err(FetchError::Terminal { reason, .. }) => reason,
        other => panic!("expected terminal, got {other:?}"),
    };

    // Rate limits (HTTP 200): next second, or a minute for QPM.
    assert_eq!(
        wait(step(200, &fixture("tiktok", "error_40100_qps.json"))),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        wait(step(200, &fixture("tiktok", "error_40016.json"))),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        wait(step(200, &fixture("tiktok", "error_40133_qpm.json"))),
        Some(Duration::from_secs(60))
    );
    // A daily quota does not clear within a run.
    let qpd = json!({"code": 40100, "message": "App exceeds the QPD limit", "request_id": "x"});
    assert!(terminal(step(200, qpd.to_string().as_bytes())).contains("daily"));
    // Token problems: terminal with a hint.
    for name in [
        "error_40102_expired.json",
        "error_40104_null.json",
        "error_40105_token.json",
    ] {
        let reason = terminal(step(200, &fixture("tiktok", name)));
        assert!(reason.contains("re-authorize"), "{name}: {reason}");
        assert!(reason.contains("request_id 20261203"), "{reason}");
    }
    // Other client errors: terminal with the message.
    let reason = terminal(step(200, &fixture("tiktok", "error_40002_params.json")));
    assert!(
        reason.contains("40002") && reason.contains("start_date"),
        "{reason}"
    );
    assert!(
        terminal(step(200, br#"{"code":40001,"message":"No permission"}"#))
            .contains("No permission")
    );
    // Server errors in the body: retryable.
    assert_eq!(
        wait(step(200, &fixture("tiktok", "error_50000.json"))),
        None
    );
    // Partial success is not silently accepted.
    assert!(terminal(step(200, br#"{"code":20001,"message":"partial"}"#)).contains("20001"));
    // HTTP level.
    let reason = terminal(step(404, b"404 page not found"));
    assert!(
        reason.contains("HTTP 404") && reason.contains("end with `/`"),
        "{reason}"
    );
    assert_eq!(wait(step(503, b"")), None);
    assert_eq!(wait(step(429, b"")), None);
    assert!(terminal(step(200, b"<html>")).contains("not JSON"));
    assert!(terminal(step(200, br#"{"code":0,"message":"OK","data":{}}"#)).contains("data.list"));
}

#[test]
fn report_pages_normalize_exactly() {
    let a = acc();
    let n1 = normalize_with(&a, "report", &fixture("tiktok", "report_page1.json"));
    assert_eq!(n1.rejected, vec![]);
    assert_eq!(n1.records, page1_records());

    let n2 = normalize_with(&a, "report", &fixture("tiktok", "report_page2.json"));
    assert_eq!(n2.records, page2_records());
    assert_eq!(n2.rejected.len(), 1);
    assert_eq!(n2.rejected[0].field, "spend");
    assert_eq!(
        n2.rejected[0].record,
        "2026-11-02 00:00:00 1800000000000003"
    );

    // Duplicated (day, campaign) rows are summed; a bare date is accepted.
    let body = json!({"code": 0, "message": "OK", "data": {"list": [
        {"dimensions": {"campaign_id": "9", "stat_time_day": "2026-11-05 00:00:00"},
         "metrics": {"spend": "1.10", "impressions": "10", "clicks": "1", "campaign_name": "A"}},
        {"dimensions": {"campaign_id": 9, "stat_time_day": "2026-11-05"},
         "metrics": {"spend": 2.2, "impressions": 20, "clicks": 2, "campaign_name": "A"}},
        {"dimensions": {"campaign_id": "9", "stat_time_day": "yesterday"}, "metrics": {}}
    ]}});
    let n = normalize_with(&a, "report", body.to_string().as_bytes());
    assert_eq!(n.records, vec![stat(5, "9", "A", 30, 3, "3.30")]);
    assert_eq!(n.rejected.len(), 1);
    assert_eq!(n.rejected[0].field, "stat_time_day");

    // Without a configured currency rows are refused, never guessed.
    let none = account(json!({"id": "tt", "options": {"advertiser_id": ADV}}));
    let n = normalize_with(&none, "report", &fixture("tiktok", "report_page1.json"));
    assert!(n.records.is_empty());
    assert_eq!(n.rejected.len(), 3);
    assert!(n.rejected.iter().all(|e| e.field == "currency"));

    // Error bodies normalize to nothing.
    for name in [
        "error_40100_qps.json",
        "error_40105_token.json",
        "error_50000.json",
    ] {
        assert_eq!(
            normalize_with(&a, "report", &fixture("tiktok", name)),
            Normalized::default()
        );
    }
}

#[test]
fn advertiser_currency_is_checked_against_the_configuration() {
    let body = fixture("tiktok", "advertiser_info.json");
    assert_eq!(
        normalize_with(&acc(), "advertiser", &body),
        Normalized::default()
    );

    let eur = account(json!({"id": "tt", "currency": "RUB",
        "options": {"advertiser_id": ADV, "currency": "eur"}}));
    let n = normalize_with(&eur, "advertiser", &body);
    assert!(n.records.is_empty());
    assert_eq!(n.rejected.len(), 1);
    let e = &n.rejected[0];
    assert_eq!(
        (e.record.as_str(), e.field.as_str()),
        ("advertiser", "currency")
    );
    assert!(
        e.reason.contains("USD") && e.reason.contains("EUR"),
        "{}",
        e.reason
    );
    assert!(
        e.reason.contains(r#"options.currency = "USD""#),
        "{}",
        e.reason
    );

    let none = account(json!({"id": "tt", "options": {"advertiser_id": ADV}}));
    let n = normalize_with(&none, "advertiser", &body);
    assert_eq!(n.rejected.len(), 1);
    assert!(
        n.rejected[0]
            .reason
            .contains(r#"set options.currency = "USD""#)
    );

    let empty = json!({"code": 0, "message": "OK", "data": {"list": []}});
    let n = normalize_with(&acc(), "advertiser", empty.to_string().as_bytes());
    assert_eq!(n.rejected[0].field, "advertiser_id");
}

fn driver(secret: &str) -> Driver {
    Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            base_backoff: Duration::ZERO,
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "token".to_string(),
            secret.to_string(),
        )]))),
    )
}

fn server_account(server: &MockServer) -> AccountConfig {
    account(json!({
        "id": "tt",
        "currency": "USD",
        "base_url": server.base_url(),
        "credentials": {"token": {"env": "TT_TOKEN"}},
        "options": {"advertiser_id": ADV},
    }))
}

/// Normalized records of `keys`, checking that no envelope holds the secret.
async fn normalized(store: &MemoryStore, keys: &[String], a: &AccountConfig) -> Normalized {
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut out = Normalized::default();
    for k in keys {
        let bytes = store.get(k).await.unwrap().unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("tt-secret"),
            "{k}"
        );
        let env = RawEnvelope::from_json(&bytes).unwrap();
        let n = Tiktok.normalize(&env, &ctx);
        out.records.extend(n.records);
        out.rejected.extend(n.rejected);
    }
    out
}

#[tokio::test]
async fn driver_pages_after_a_throttle_and_is_idempotent() {
    let server = MockServer::start().await;
    server.route("GET", ADVERTISER).respond([MockResponse::json(
        200,
        fixture("tiktok", "advertiser_info.json"),
    )]);
    server
        .route("GET", REPORT)
        .query("page", "2")
        .respond([MockResponse::json(
            200,
            fixture("tiktok", "report_page2.json"),
        )]);
    server.route("GET", REPORT).respond([
        MockResponse::json(200, fixture("tiktok", "error_40100_qps.json")),
        MockResponse::json(200, fixture("tiktok", "report_page1.json")),
    ]);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let d = driver("tt-secret");
    let store = MemoryStore::new();
    let report = d.ingest(&store, &Tiktok, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    let shape: Vec<(String, Option<&str>)> = sent
        .iter()
        .map(|r| (r.path.clone(), r.param("page")))
        .collect();
    assert_eq!(
        shape,
        vec![
            (ADVERTISER.to_string(), None),
            (REPORT.to_string(), Some("1")),
            (REPORT.to_string(), Some("1")),
            (REPORT.to_string(), Some("2")),
        ]
    );
    for r in &sent {
        assert_eq!(r.header("access-token"), Some("tt-secret"));
        assert_eq!(r.header("authorization"), None);
        assert!(!r.raw_query.contains("tt-secret"));
    }
    assert_eq!(
        sent[0].param("advertiser_ids"),
        Some(r#"["7000000000000000001"]"#)
    );
    assert_eq!(
        sent[1].param("dimensions"),
        Some(r#"["campaign_id","stat_time_day"]"#)
    );
    assert_eq!(report.raw_keys().len(), 4);

    let got = normalized(&store, &report.raw_keys(), &a).await;
    let expected: Vec<Record> = page1_records().into_iter().chain(page2_records()).collect();
    assert_eq!(got.records, expected);
    assert_eq!(got.rejected.len(), 1, "the `-` spend of page 2");

    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &Tiktok, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    assert_eq!(normalized(&store2, &report2.raw_keys(), &a).await, got);
}

#[tokio::test]
async fn driver_stops_on_an_invalid_token() {
    let server = MockServer::start().await;
    server.route("GET", ADVERTISER).respond([MockResponse::json(
        200,
        fixture("tiktok", "error_40105_token.json"),
    )]);
    server.route("GET", REPORT).respond([MockResponse::json(
        200,
        fixture("tiktok", "error_40105_token.json"),
    )]);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let store = MemoryStore::new();
    let report = driver("tt-secret")
        .ingest(&store, &Tiktok, &ctx, "run1")
        .await;
    assert_eq!(server.requests().len(), 2, "one try per job, no retries");
    assert_eq!(report.failed().len(), 2);
    for job in report.failed() {
        let err = job.error.as_deref().unwrap();
        assert!(
            err.contains("40105") && err.contains("re-authorize"),
            "{err}"
        );
        assert!(!err.contains("tt-secret"));
    }
    let got = normalized(&store, &report.raw_keys(), &a).await;
    assert_eq!(got, Normalized::default());
}
