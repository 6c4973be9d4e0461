//! `facebook`: insights requests, paging, error classification,
//! normalization of recorded pages, and the driver loop against a mock
//! server.

mod common;

use common::{MockResponse, MockServer, account, date, fetch_context, fixture, fixture_str};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::facebook::{self, Facebook};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::{
    AuthScheme, Connector, FetchError, NormalizeContext, Normalized, RawEnvelope, Request,
    Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};
use voronka_store::{MemoryStore, Store};

const BASE: &str = "https://graph.facebook.com";

fn acc() -> AccountConfig {
    account(json!({
        "id": "fb",
        "credentials": {"token": {"env": "FB_TOKEN"}},
        "options": {"ad_account_id": "100000000000001"},
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

fn normalize_with(a: &AccountConfig, body: &[u8]) -> Normalized {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    let env = RawEnvelope {
        v: 1,
        source: "facebook".into(),
        account: "fb".into(),
        run: "r1".into(),
        seq: 1,
        entity: "insights".into(),
        window_from: Some(date(2026, 11, 1)),
        window_to: Some(date(2026, 11, 2)),
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "GET".into(),
            url: format!("{BASE}/v25.0/act_100000000000001/insights?access_token=***"),
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
    Facebook.normalize(&env, &ctx)
}

fn normalize(body: &[u8]) -> Normalized {
    normalize_with(&acc(), body)
}

#[allow(clippy::too_many_arguments)]
fn stat(
    day: u32,
    campaign: &str,
    name: &str,
    platform: &str,
    pp: &str,
    imp: u64,
    clicks: u64,
    spend: &str,
) -> Record {
    Record::AdStat(AdStat {
        source: "facebook".into(),
        account: "fb".into(),
        date: date(2026, 11, day),
        platform: platform.into(),
        level: StatLevel::Campaign,
        campaign_id: campaign.into(),
        campaign_name: name.into(),
        ad_id: format!("pp:{pp}"),
        ad_name: String::new(),
        impressions: imp,
        clicks,
        spend: dec(spend),
        currency: "USD".into(),
        vat: VatMode::Excluded,
    })
}

const C1: &str = "120000000000001";
const C2: &str = "120000000000002";

fn page1_records() -> Vec<Record> {
    vec![
        // clicks absent in the row → 0.
        stat(
            1,
            C1,
            "Python — лиды",
            "facebook",
            "audience_network",
            40,
            0,
            "0.55",
        ),
        stat(
            1,
            C1,
            "Python — лиды",
            "facebook",
            "facebook",
            185,
            9,
            "14.35",
        ),
        stat(
            1,
            C1,
            "Python — лиды",
            "instagram",
            "instagram",
            1200,
            31,
            "20.10",
        ),
    ]
}

fn page2_records() -> Vec<Record> {
    vec![
        stat(1, C1, "Python — лиды", "facebook", "messenger", 77, 2, "3"),
        stat(2, C2, "Reels", "instagram", "instagram", 900, 12, "7.005"),
    ]
}

#[test]
fn options_and_first_request() {
    let a = acc();
    assert_eq!(Facebook.validate(&a), Ok(()));
    assert_eq!(Facebook.default_base_url(&a), BASE);
    assert_eq!(
        Facebook.auth(),
        AuthScheme::Query {
            param: "access_token",
            credential: "token"
        }
    );
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 2));
    let jobs = Facebook.plan(&ctx);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].entity, "insights");
    let r = Facebook.first_request(&ctx, &jobs[0]);
    assert_eq!(
        r,
        Request::get(format!("{BASE}/v25.0/act_100000000000001/insights"))
            .query("level", "campaign")
            .query("time_increment", "1")
            .query("breakdowns", "publisher_platform")
            .query(
                "fields",
                "campaign_id,campaign_name,spend,impressions,clicks,account_currency,date_start,date_stop"
            )
            .query("time_range", r#"{"since":"2026-11-01","until":"2026-11-02"}"#)
            .query("limit", "500")
    );

    let v26 = account(json!({"id": "fb", "credentials": {"token": {"env": "T"}},
        "options": {"ad_account_id": "act_42", "api_version": "v26.0"}}));
    assert_eq!(Facebook.validate(&v26), Ok(()));
    let ctx = fetch_context(
        &v26,
        "http://127.0.0.1:9/",
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    let r = Facebook.first_request(&ctx, &Facebook.plan(&ctx)[0]);
    assert_eq!(r.url, "http://127.0.0.1:9/v26.0/act_42/insights");

    for bad in [
        json!({"id": "fb", "credentials": {"token": {"env": "T"}}}),
        json!({"id": "fb", "credentials": {"token": {"env": "T"}}, "options": {"ad_account_id": "abc"}}),
    ] {
        assert!(
            Facebook
                .validate(&account(bad))
                .unwrap_err()
                .contains("ad_account_id")
        );
    }
    let bad_version = account(json!({"id": "fb", "credentials": {"token": {"env": "T"}},
        "options": {"ad_account_id": "1", "api_version": "25"}}));
    assert!(
        Facebook
            .validate(&bad_version)
            .unwrap_err()
            .contains("api_version")
    );
}

#[test]
fn plan_chunks_windows_of_at_most_30_days() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 9, 1), date(2026, 11, 30));
    let windows: Vec<_> = Facebook
        .plan(&ctx)
        .iter()
        .map(|j| j.window.unwrap())
        .collect();
    assert_eq!(
        windows,
        vec![
            (date(2026, 9, 1), date(2026, 9, 30)),
            (date(2026, 10, 1), date(2026, 10, 30)),
            (date(2026, 10, 31), date(2026, 11, 29)),
            (date(2026, 11, 30), date(2026, 11, 30)),
        ]
    );
    let r = Facebook.first_request(&ctx, &Facebook.plan(&ctx)[2]);
    assert!(r.query.contains(&(
        "time_range".to_string(),
        r#"{"since":"2026-10-31","until":"2026-11-29"}"#.to_string()
    )));
}

#[test]
fn paging_follows_next_without_its_access_token() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 2));
    let job = Facebook.plan(&ctx).remove(0);
    let req = Facebook.first_request(&ctx, &job);
    let step = Facebook.next_step(
        &ctx,
        &job,
        &req,
        &response(200, &fixture("facebook", "insights_page1.json")),
    );
    let Ok(Step::Next(next)) = step else {
        panic!("expected the next page, got {step:?}")
    };
    assert!(next.query.is_empty());
    assert!(!next.url.contains("access_token"), "{}", next.url);
    assert!(!next.url.contains("EAAB-SYNTHETIC-TOKEN"));
    let url = url::Url::parse(&next.url).unwrap();
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(url.path(), "/v25.0/act_100000000000001/insights");
    assert_eq!(q["after"], "NzIZD");
    assert_eq!(
        q["time_range"],
        r#"{"since":"2026-11-01","until":"2026-11-02"}"#
    );
    assert_eq!(q["breakdowns"], "publisher_platform");

    assert_eq!(
        Facebook.next_step(
            &ctx,
            &job,
            &next,
            &response(200, &fixture("facebook", "insights_page2.json"))
        ),
        Ok(Step::Done { watermark: None })
    );
    // A `next` without a token is sent byte-for-byte.
    let plain = "https://graph.facebook.com/v25.0/act_1/insights?limit=500&after=QQ%3D%3D";
    assert_eq!(facebook::strip_access_token(plain).unwrap(), plain);
}

#[test]
fn error_classification() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 2));
    let job = Facebook.plan(&ctx).remove(0);
    let req = Facebook.first_request(&ctx, &job);
    let step = |resp: Response| Facebook.next_step(&ctx, &job, &req, &resp);
    let retry_after = |r: Result<Step, FetchError>| match r {
        Err(FetchError::Retryable { after, .. }) => after,
        other => panic!("expected retryable, got {other:?}"),
    };

    // Throttling, whatever the HTTP status (200 or 400): 60 s by default.
    for status in [200, 400] {
        assert_eq!(
            retry_after(step(response(
                status,
                &fixture("facebook", "error_throttle_17.json")
            ))),
            Some(Duration::from_secs(60))
        );
    }
    // BUC throttling with the usage header: 5 minutes.
    let side: Value =
        serde_json::from_slice(&fixture("facebook", "error_throttle_80000.headers.json")).unwrap();
    let mut r = response(400, &fixture("facebook", "error_throttle_80000.json"));
    r.headers.insert(
        "x-business-use-case-usage".into(),
        side["headers"]["x-business-use-case-usage"]
            .as_str()
            .unwrap()
            .into(),
    );
    assert_eq!(retry_after(step(r)), Some(Duration::from_secs(300)));
    for (code, sub) in [
        (4, 1504022),
        (613, 1487742),
        (32, 0),
        (80004, 0),
        (80014, 0),
    ] {
        let body = json!({"error": {"message": "limit", "code": code, "error_subcode": sub}});
        assert!(
            matches!(
                step(response(400, body.to_string().as_bytes())),
                Err(FetchError::Retryable { .. })
            ),
            "{code}"
        );
    }
    // Sync timeouts and transient errors: retryable.
    for body in [
        json!({"error": {"message": "Please reduce the amount of data", "code": 100, "error_subcode": 1504018}}),
        json!({"error": {"message": "Service temporarily unavailable", "code": 2, "error_subcode": 1504043}}),
        json!({"error": {"message": "An unknown error occurred", "code": 1, "is_transient": true}}),
    ] {
        assert!(matches!(
            step(response(400, body.to_string().as_bytes())),
            Err(FetchError::Retryable { .. })
        ));
    }
    // Token expired: terminal with a clear reason.
    match step(response(400, &fixture("facebook", "error_token_190.json"))) {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(reason.contains("token expired or revoked"), "{reason}")
        }
        other => panic!("190 must be terminal: {other:?}"),
    }
    // Other errors (permissions, bad parameter 100 without subcode): terminal.
    assert!(matches!(
        step(response(
            400,
            &fixture("facebook", "error_permission_200.json")
        )),
        Err(FetchError::Terminal { .. })
    ));
    let bad_param = json!({"error": {"message": "(#100) Invalid parameter", "code": 100}});
    assert!(matches!(
        step(response(400, bad_param.to_string().as_bytes())),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        step(response(502, b"<html>Bad gateway</html>")),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        step(response(200, b"{}")),
        Err(FetchError::Terminal { .. })
    ));
}

#[test]
fn pages_normalize_with_unique_keys_per_breakdown() {
    let n1 = normalize(&fixture("facebook", "insights_page1.json"));
    assert_eq!(n1.rejected, vec![]);
    assert_eq!(n1.records, page1_records());

    let n2 = normalize(&fixture("facebook", "insights_page2.json"));
    assert_eq!(n2.records, page2_records());
    let rejected: Vec<&str> = n2.rejected.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(rejected, vec!["spend", "publisher_platform"]);
    assert!(n2.rejected[1].reason.contains("threads"));

    // Across pages, facebook-platform rows of one (date, campaign) keep
    // distinct keys, so the upsert-by-key never drops one of them.
    let all: Vec<&Record> = n1.records.iter().chain(&n2.records).collect();
    let keys: BTreeSet<String> = all.iter().map(|r| r.key()).collect();
    assert_eq!(keys.len(), all.len());
    // Summing by platform gives the Meta totals per day and campaign.
    let mut by_platform: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for r in &all {
        if let Record::AdStat(s) = r {
            *by_platform
                .entry((s.campaign_id.clone(), s.platform.clone()))
                .or_default() += s.spend;
        }
    }
    assert_eq!(
        by_platform[&(C1.to_string(), "facebook".to_string())],
        dec("17.90")
    );
    assert_eq!(
        by_platform[&(C1.to_string(), "instagram".to_string())],
        dec("20.10")
    );
}

#[test]
fn duplicate_rows_in_one_page_are_summed_and_numbers_parsed_either_way() {
    let body = json!({"data": [
        {"campaign_id": "9", "campaign_name": "A", "spend": "1.10", "impressions": "10", "clicks": "1",
         "date_start": "2026-11-05", "date_stop": "2026-11-05", "publisher_platform": "facebook"},
        {"campaign_id": "9", "campaign_name": "A", "spend": 2.2, "impressions": 20, "clicks": 2,
         "date_start": "2026-11-05", "date_stop": "2026-11-05", "publisher_platform": "facebook"},
        {"campaign_id": "9", "campaign_name": "A", "spend": "1", "impressions": "1",
         "date_start": "2026-11-05", "date_stop": "2026-11-06", "publisher_platform": "instagram"}
    ]});
    // No account_currency in the rows: the account's currency is used.
    let eur = account(json!({"id": "fb", "currency": "EUR", "options": {"ad_account_id": "1"}}));
    let n = normalize_with(&eur, body.to_string().as_bytes());
    let Record::AdStat(s) = &n.records[0] else {
        panic!()
    };
    assert_eq!(n.records.len(), 1);
    assert_eq!(
        (s.spend, s.impressions, s.clicks, s.currency.as_str()),
        (dec("3.30"), 30, 3, "EUR")
    );
    assert_eq!(n.rejected.len(), 1);
    assert_eq!(n.rejected[0].field, "date_stop");

    // Without any currency the row is refused, not guessed.
    let n = normalize(body.to_string().as_bytes());
    assert!(n.records.is_empty());
    assert!(n.rejected.iter().any(|e| e.field == "account_currency"));
}

#[test]
fn error_bodies_normalize_to_nothing() {
    for name in [
        "error_throttle_17.json",
        "error_throttle_80000.json",
        "error_token_190.json",
    ] {
        assert_eq!(
            normalize(&fixture("facebook", name)),
            Normalized::default(),
            "{name}"
        );
    }
}

async fn normalized(store: &MemoryStore, keys: &[String], a: &AccountConfig) -> Vec<Record> {
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut out = Vec::new();
    for k in keys {
        let env = RawEnvelope::from_json(&store.get(k).await.unwrap().unwrap()).unwrap();
        assert!(
            !env.request.url.contains("fb-secret"),
            "{}",
            env.request.url
        );
        assert!(
            !env.request.url.contains("EAAB-SYNTHETIC-TOKEN"),
            "{}",
            env.request.url
        );
        out.extend(Facebook.normalize(&env, &ctx).records);
    }
    out
}

#[tokio::test]
async fn driver_follows_next_after_a_throttle_and_is_idempotent() {
    let server = MockServer::start().await;
    let path = "/v25.0/act_100000000000001/insights";
    let page1 = fixture_str("facebook", "insights_page1.json").replace(BASE, &server.base_url());
    server
        .route("GET", path)
        .query("after", "NzIZD")
        .respond([MockResponse::json(
            200,
            fixture("facebook", "insights_page2.json"),
        )]);
    server.route("GET", path).respond([
        MockResponse::json(400, fixture("facebook", "error_throttle_17.json")),
        MockResponse::json(200, page1.into_bytes()),
    ]);
    let a = account(json!({
        "id": "fb",
        "base_url": server.base_url(),
        "credentials": {"token": {"env": "FB_TOKEN"}},
        "options": {"ad_account_id": "100000000000001"},
    }));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let d = Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            base_backoff: Duration::ZERO,
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "token".to_string(),
            "fb-secret".to_string(),
        )]))),
    );
    let store = MemoryStore::new();
    let report = d.ingest(&store, &Facebook, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    assert_eq!(sent.len(), 3, "throttled, page 1, page 2");
    for r in &sent {
        let tokens: Vec<&str> = r
            .query
            .iter()
            .filter(|(k, _)| k == "access_token")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(tokens, vec!["fb-secret"], "{}", r.path_and_query());
    }
    assert_eq!(sent[2].param("after"), Some("NzIZD"));
    assert_eq!(
        sent[0].param("time_range"),
        Some(r#"{"since":"2026-11-01","until":"2026-11-02"}"#)
    );

    let got = normalized(&store, &report.raw_keys(), &a).await;
    let expected: Vec<Record> = page1_records().into_iter().chain(page2_records()).collect();
    assert_eq!(got, expected);

    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &Facebook, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    assert_eq!(normalized(&store2, &report2.raw_keys(), &a).await, got);
}

#[tokio::test]
async fn driver_stops_on_expired_token() {
    let server = MockServer::start().await;
    server
        .route("GET", "/v25.0/act_100000000000001/insights")
        .respond([MockResponse::json(
            400,
            fixture("facebook", "error_token_190.json"),
        )]);
    let a = account(json!({
        "id": "fb",
        "base_url": server.base_url(),
        "credentials": {"token": {"env": "FB_TOKEN"}},
        "options": {"ad_account_id": "100000000000001"},
    }));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let d = Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "token".to_string(),
            "fb-secret".to_string(),
        )]))),
    );
    let report = d.ingest(&MemoryStore::new(), &Facebook, &ctx, "run1").await;
    assert_eq!(server.requests().len(), 1);
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("token expired or revoked"), "{err}");
    assert!(!err.contains("fb-secret"));
}
