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
    // Forced sync (a 91-day window would otherwise go async).
    let a = account(json!({
        "id": "fb",
        "credentials": {"token": {"env": "FB_TOKEN"}},
        "options": {"ad_account_id": "100000000000001", "async": false},
    }));
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

// ------------------------------------------------------------ async report runs

const RUN: &str = "192025512975195";

fn acc_with(options: Value) -> AccountConfig {
    let mut o = json!({"ad_account_id": "100000000000001"});
    o.as_object_mut()
        .unwrap()
        .extend(options.as_object().unwrap().clone());
    account(json!({"id": "fb", "credentials": {"token": {"env": "FB_TOKEN"}}, "options": o}))
}

#[allow(clippy::too_many_arguments)]
fn stat_on(
    d: chrono::NaiveDate,
    campaign: &str,
    name: &str,
    platform: &str,
    pp: &str,
    imp: u64,
    clicks: u64,
    spend: &str,
) -> Record {
    let Record::AdStat(mut s) = stat(1, campaign, name, platform, pp, imp, clicks, spend) else {
        unreachable!()
    };
    s.date = d;
    Record::AdStat(s)
}

fn async_records() -> Vec<Record> {
    vec![
        stat_on(
            date(2026, 8, 1),
            C1,
            "Python — лиды",
            "facebook",
            "facebook",
            5400,
            87,
            "101.25",
        ),
        stat_on(
            date(2026, 8, 1),
            C1,
            "Python — лиды",
            "instagram",
            "instagram",
            3100,
            40,
            "64.5",
        ),
        stat_on(
            date(2026, 10, 29),
            C2,
            "Reels",
            "instagram",
            "instagram",
            800,
            9,
            "12.005",
        ),
    ]
}

#[test]
fn long_windows_and_the_async_option_plan_report_runs() {
    // 91 days, no option: async, chunks of at most 90 days.
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 9, 1), date(2026, 11, 30));
    let jobs = Facebook.plan(&ctx);
    let windows: Vec<_> = jobs.iter().map(|j| j.window.unwrap()).collect();
    assert_eq!(
        windows,
        vec![
            (date(2026, 9, 1), date(2026, 11, 29)),
            (date(2026, 11, 30), date(2026, 11, 30)),
        ]
    );
    assert!(
        jobs.iter()
            .all(|j| j.entity == "insights"
                && j.meta.get("mode").map(String::as_str) == Some("async"))
    );
    let r = Facebook.first_request(&ctx, &jobs[0]);
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.url,
        format!("{BASE}/v25.0/act_100000000000001/insights#attempt=1")
    );
    assert!(r.query.is_empty());
    let form: BTreeMap<String, String> =
        url::form_urlencoded::parse(r.body.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        form["time_range"],
        r#"{"since":"2026-09-01","until":"2026-11-29"}"#
    );
    assert_eq!(form["level"], "campaign");
    assert_eq!(form["breakdowns"], "publisher_platform");
    assert_eq!(form["time_increment"], "1");
    assert_eq!(form["fields"], facebook::FIELDS);

    // Exactly 30 days stays sync; `async = true` forces report runs.
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 30));
    let jobs = Facebook.plan(&ctx);
    assert_eq!(jobs.len(), 1);
    assert!(!jobs[0].meta.contains_key("mode"));
    assert_eq!(Facebook.first_request(&ctx, &jobs[0]).method, "GET");
    let forced = acc_with(json!({"async": true}));
    assert_eq!(Facebook.validate(&forced), Ok(()));
    let ctx = fetch_context(&forced, BASE, date(2026, 11, 1), date(2026, 11, 2));
    let jobs = Facebook.plan(&ctx);
    assert_eq!(jobs.len(), 1);
    assert_eq!(Facebook.first_request(&ctx, &jobs[0]).method, "POST");

    // url_tags = true adds one windowless `ads` job.
    let tags = acc_with(json!({"url_tags": true}));
    let ctx = fetch_context(&tags, BASE, date(2026, 11, 1), date(2026, 11, 2));
    let jobs = Facebook.plan(&ctx);
    assert_eq!(jobs.len(), 2);
    assert_eq!((jobs[1].entity.as_str(), jobs[1].window), ("ads", None));
    assert_eq!(
        Facebook.first_request(&ctx, &jobs[1]),
        Request::get(format!("{BASE}/v25.0/act_100000000000001/ads"))
            .query("fields", "campaign_id,creative{url_tags}")
            .query("limit", "500")
    );

    for (bad, key) in [
        (json!({"async": "yes"}), "async"),
        (json!({"url_tags": 1}), "url_tags"),
        (
            json!({"poll_interval_seconds": -1}),
            "poll_interval_seconds",
        ),
        (
            json!({"poll_interval_seconds": "10"}),
            "poll_interval_seconds",
        ),
    ] {
        let err = Facebook.validate(&acc_with(bad)).unwrap_err();
        assert!(err.contains(key), "{err}");
    }
    assert_eq!(
        Facebook.validate(&acc_with(json!({"poll_interval_seconds": 0}))),
        Ok(())
    );
}

#[test]
fn async_statuses_decide_the_next_step() {
    let a = acc_with(json!({"async": true}));
    let ctx = fetch_context(&a, BASE, date(2026, 8, 1), date(2026, 10, 29));
    let job = Facebook.plan(&ctx).remove(0);
    let start = Facebook.first_request(&ctx, &job);
    let step =
        |req: &Request, body: &[u8]| Facebook.next_step(&ctx, &job, req, &response(200, body));
    let poll = |attempt: u32, polls: u32| {
        Request::get(format!(
            "{BASE}/v25.0/{RUN}#attempt={attempt}&polls={polls}"
        ))
    };

    // Start → wait (default 10 s) → first poll.
    assert_eq!(
        step(&start, &fixture("facebook", "async_start.json")),
        Ok(Step::Wait(Duration::from_secs(10), poll(1, 1)))
    );
    // A numeric run id works too; none is terminal.
    assert_eq!(
        step(&start, br#"{"report_run_id": 42}"#),
        Ok(Step::Wait(
            Duration::from_secs(10),
            Request::get(format!("{BASE}/v25.0/42#attempt=1&polls=1"))
        ))
    );
    assert!(matches!(
        step(&start, br#"{"id": "x"}"#),
        Err(FetchError::Terminal { .. })
    ));
    // Running → poll again, counting.
    assert_eq!(
        step(&poll(1, 1), &fixture("facebook", "async_running.json")),
        Ok(Step::Wait(Duration::from_secs(10), poll(1, 2)))
    );
    for status in ["Job Not Started", "Job Started"] {
        let body = json!({"id": RUN, "async_status": status, "async_percent_completion": 0});
        assert_eq!(
            step(&poll(1, 3), body.to_string().as_bytes()),
            Ok(Step::Wait(Duration::from_secs(10), poll(1, 4)))
        );
    }
    // Completed but below 100 %: still waiting.
    let almost = json!({"async_status": "Job Completed", "async_percent_completion": "99"});
    assert_eq!(
        step(&poll(1, 2), almost.to_string().as_bytes()),
        Ok(Step::Wait(Duration::from_secs(10), poll(1, 3)))
    );
    // Completed at 100 % → the result pages.
    let results = Request::get(format!("{BASE}/v25.0/{RUN}/insights")).query("limit", "500");
    assert_eq!(
        step(&poll(1, 3), &fixture("facebook", "async_completed.json")),
        Ok(Step::Next(results.clone()))
    );
    // Result pages follow `next` without the echoed token, then stop.
    let Ok(Step::Next(next)) = step(&results, &fixture("facebook", "async_results_page1.json"))
    else {
        panic!("expected page 2")
    };
    assert_eq!(
        next.url,
        format!("{BASE}/v25.0/{RUN}/insights?limit=500&after=QkJC")
    );
    assert_eq!(
        step(&next, &fixture("facebook", "async_results_page2.json")),
        Ok(Step::Done { watermark: None })
    );

    // Failed or skipped once → a new run (attempt 2); twice → terminal
    // with Meta's message.
    let mut restart = start.clone();
    restart.url = format!("{BASE}/v25.0/act_100000000000001/insights#attempt=2");
    assert_eq!(
        step(&poll(1, 5), &fixture("facebook", "async_failed.json")),
        Ok(Step::Next(restart.clone()))
    );
    let skipped = json!({"async_status": "Job Skipped", "async_percent_completion": 0});
    assert_eq!(
        step(&poll(1, 1), skipped.to_string().as_bytes()),
        Ok(Step::Next(restart.clone()))
    );
    assert_eq!(
        step(&restart, &fixture("facebook", "async_start.json")),
        Ok(Step::Wait(Duration::from_secs(10), poll(2, 1)))
    );
    match step(&poll(2, 7), &fixture("facebook", "async_failed.json")) {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(reason.contains(RUN), "{reason}");
            assert!(reason.contains("error -2/2490547"), "{reason}");
            assert!(
                reason.contains("Async job failed; Please retry with a smaller date range"),
                "{reason}"
            );
        }
        other => panic!("a second failure is terminal: {other:?}"),
    }
    assert!(matches!(
        step(&poll(2, 1), skipped.to_string().as_bytes()),
        Err(FetchError::Terminal { .. })
    ));
    // Unknown status, and too many polls: terminal.
    let odd = json!({"async_status": "Job Vanished"});
    assert!(matches!(
        step(&poll(1, 1), odd.to_string().as_bytes()),
        Err(FetchError::Terminal { .. })
    ));
    match step(
        &poll(1, facebook::MAX_POLLS),
        &fixture("facebook", "async_running.json"),
    ) {
        Err(FetchError::Terminal { reason, .. }) => assert!(reason.contains("polls"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Errors on any step are classified as for sync requests.
    assert!(matches!(
        step(&poll(1, 1), &fixture("facebook", "error_throttle_17.json")),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        step(&start, &fixture("facebook", "error_token_190.json")),
        Err(FetchError::Terminal { .. })
    ));

    // The poll interval option (0 in tests).
    let fast = acc_with(json!({"async": true, "poll_interval_seconds": 0}));
    let ctx = fetch_context(&fast, BASE, date(2026, 8, 1), date(2026, 10, 29));
    assert_eq!(
        Facebook.next_step(
            &ctx,
            &job,
            &start,
            &response(200, &fixture("facebook", "async_start.json"))
        ),
        Ok(Step::Wait(Duration::ZERO, poll(1, 1)))
    );
}

#[test]
fn async_pages_normalize_like_sync_and_polls_give_nothing() {
    let n1 = normalize(&fixture("facebook", "async_results_page1.json"));
    let n2 = normalize(&fixture("facebook", "async_results_page2.json"));
    assert_eq!((n1.rejected.len(), n2.rejected.len()), (0, 0));
    let got: Vec<Record> = n1.records.into_iter().chain(n2.records).collect();
    assert_eq!(got, async_records());
    for name in [
        "async_start.json",
        "async_running.json",
        "async_completed.json",
        "async_failed.json",
    ] {
        assert_eq!(
            normalize(&fixture("facebook", name)),
            Normalized::default(),
            "{name}"
        );
    }
}

#[test]
fn url_tags_are_read_but_not_normalized() {
    let body = fixture("facebook", "ads_url_tags.json");
    let tags = facebook::campaign_url_tags(&body).unwrap();
    assert_eq!(
        tags,
        BTreeMap::from([(
            C1.to_string(),
            BTreeSet::from([
                "utm_source=fb&utm_medium=cpc&utm_campaign={{campaign.name}}".to_string(),
                "utm_source=ig&utm_medium=cpc&utm_campaign={{campaign.name}}".to_string(),
            ])
        )])
    );
    assert!(facebook::campaign_url_tags(b"{}").is_err());
    // An `ads` envelope yields no records (the core has no record for it).
    let (body_encoding, body) = RawEnvelope::encode_body(&body);
    let env = RawEnvelope {
        v: 1,
        source: "facebook".into(),
        account: "fb".into(),
        run: "r1".into(),
        seq: 1,
        entity: "ads".into(),
        window_from: None,
        window_to: None,
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "GET".into(),
            url: format!("{BASE}/v25.0/act_100000000000001/ads?access_token=***"),
            body: None,
        },
        status: 200,
        headers: BTreeMap::new(),
        received_at: chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
        body_encoding,
        body,
    };
    let a = acc();
    let ctx = NormalizeContext {
        account: &a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    assert_eq!(Facebook.normalize(&env, &ctx), Normalized::default());
}

fn script_async(server: &MockServer, polls: Vec<MockResponse>) {
    let run_path = format!("/v25.0/{RUN}");
    let results = format!("/v25.0/{RUN}/insights");
    let page1 =
        fixture_str("facebook", "async_results_page1.json").replace(BASE, &server.base_url());
    server
        .route("POST", "/v25.0/act_100000000000001/insights")
        .respond([MockResponse::json(
            200,
            fixture("facebook", "async_start.json"),
        )]);
    server
        .route("GET", &results)
        .query("after", "QkJC")
        .respond([MockResponse::json(
            200,
            fixture("facebook", "async_results_page2.json"),
        )]);
    server
        .route("GET", &results)
        .respond([MockResponse::json(200, page1.into_bytes())]);
    server.route("GET", &run_path).respond(polls);
}

fn fast_driver() -> Driver {
    Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            base_backoff: Duration::ZERO,
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "token".to_string(),
            "fb-secret".to_string(),
        )]))),
    )
}

#[tokio::test]
async fn driver_runs_an_async_report_and_is_idempotent() {
    let server = MockServer::start().await;
    script_async(
        &server,
        vec![
            MockResponse::json(200, fixture("facebook", "async_running.json")),
            MockResponse::json(200, fixture("facebook", "async_running.json")),
            MockResponse::json(200, fixture("facebook", "async_completed.json")),
        ],
    );
    let a = account(json!({
        "id": "fb",
        "base_url": server.base_url(),
        "credentials": {"token": {"env": "FB_TOKEN"}},
        "options": {"ad_account_id": "100000000000001", "poll_interval_seconds": 0},
    }));
    // 90 days: one async job.
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 8, 1), date(2026, 10, 29));
    let d = fast_driver();
    let store = MemoryStore::new();
    let report = d.ingest(&store, &Facebook, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.jobs.len(), 1);
    let sent = server.requests();
    let shape: Vec<(&str, &str, Option<&str>)> = sent
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.param("after")))
        .collect();
    let run_path = format!("/v25.0/{RUN}");
    let results = format!("/v25.0/{RUN}/insights");
    assert_eq!(
        shape,
        vec![
            ("POST", "/v25.0/act_100000000000001/insights", None),
            ("GET", run_path.as_str(), None),
            ("GET", run_path.as_str(), None),
            ("GET", run_path.as_str(), None),
            ("GET", results.as_str(), None),
            ("GET", results.as_str(), Some("QkJC")),
        ]
    );
    for r in &sent {
        let tokens: Vec<&str> = r
            .query
            .iter()
            .filter(|(k, _)| k == "access_token")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(tokens, vec!["fb-secret"], "{}", r.path_and_query());
    }
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&sent[0].body)
        .into_owned()
        .collect();
    assert_eq!(
        form["time_range"],
        r#"{"since":"2026-08-01","until":"2026-10-29"}"#
    );
    assert_eq!(sent[4].param("limit"), Some("500"));
    assert_eq!(report.raw_keys().len(), 6, "every response is stored");

    let got = normalized(&store, &report.raw_keys(), &a).await;
    assert_eq!(got, async_records());

    // Re-fetching the window gives the same records.
    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &Facebook, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    assert_eq!(normalized(&store2, &report2.raw_keys(), &a).await, got);
}

#[tokio::test]
async fn driver_restarts_a_failed_run_once_then_fails() {
    // Failed, then completed after the restart.
    let server = MockServer::start().await;
    script_async(
        &server,
        vec![
            MockResponse::json(200, fixture("facebook", "async_failed.json")),
            MockResponse::json(200, fixture("facebook", "async_completed.json")),
        ],
    );
    let a = account(json!({
        "id": "fb",
        "base_url": server.base_url(),
        "credentials": {"token": {"env": "FB_TOKEN"}},
        "options": {"ad_account_id": "100000000000001", "async": true, "poll_interval_seconds": 0},
    }));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 8, 1), date(2026, 10, 29));
    let store = MemoryStore::new();
    let report = fast_driver().ingest(&store, &Facebook, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        2
    );
    assert_eq!(
        normalized(&store, &report.raw_keys(), &a).await,
        async_records()
    );

    // Failed twice: the job fails with Meta's message, nothing else is sent.
    let server = MockServer::start().await;
    script_async(
        &server,
        vec![MockResponse::json(
            200,
            fixture("facebook", "async_failed.json"),
        )],
    );
    let a = account(json!({
        "id": "fb",
        "base_url": server.base_url(),
        "credentials": {"token": {"env": "FB_TOKEN"}},
        "options": {"ad_account_id": "100000000000001", "async": true, "poll_interval_seconds": 0},
    }));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 8, 1), date(2026, 10, 29));
    let report = fast_driver()
        .ingest(&MemoryStore::new(), &Facebook, &ctx, "run1")
        .await;
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("Async job failed"), "{err}");
    assert!(!err.contains("fb-secret"));
    let methods: Vec<String> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, vec!["POST", "GET", "POST", "GET"]);
}
