//! `unisender` and `sendpulse`: requests, chaining through URL fragments,
//! error bodies, normalization of recorded answers, and the driver loop
//! (SendPulse through the OAuth2 client-credentials flow) against a mock
//! server.

mod common;

use common::{MockResponse, MockServer, account, date, fetch_context, fixture};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::email::{self, Email, Pending, SENDPULSE, UNISENDER};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::{
    AuthScheme, Connector, FetchError, NormalizeContext, Normalized, OAuthFlow, RawEnvelope,
    Request, Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};
use voronka_store::{MemoryStore, Store};

const UNI: &str = "https://api.unisender.com";
const SP: &str = "https://api.sendpulse.com";

fn uni_acc() -> AccountConfig {
    account(json!({"id": "main", "credentials": {"api_key": {"env": "UNISENDER_KEY"}}}))
}

fn sp_acc() -> AccountConfig {
    account(json!({
        "id": "main",
        "credentials": {"client_secret": {"env": "SP_SECRET"}},
        "options": {"client_id": "sp-client"},
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

fn envelope(c: &Email, url: &str, status: u16, body: &[u8]) -> RawEnvelope {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    RawEnvelope {
        v: 1,
        source: c.slug().into(),
        account: "main".into(),
        run: "r1".into(),
        seq: 1,
        entity: "campaigns".into(),
        window_from: Some(date(2026, 11, 1)),
        window_to: Some(date(2026, 11, 2)),
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "GET".into(),
            url: url.into(),
            body: None,
        },
        status,
        headers: BTreeMap::new(),
        received_at: chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
        body_encoding,
        body,
    }
}

fn normalize(c: &Email, a: &AccountConfig, url: &str, body: &[u8]) -> Normalized {
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    c.normalize(&envelope(c, url, 200, body), &ctx)
}

#[allow(clippy::too_many_arguments)]
fn stat(
    source: &str,
    day: u32,
    id: &str,
    name: &str,
    delivered: u64,
    clicks: u64,
    spend: &str,
    currency: &str,
) -> Record {
    Record::AdStat(AdStat {
        source: source.into(),
        account: "main".into(),
        date: date(2026, 11, day),
        platform: "email".into(),
        level: StatLevel::Campaign,
        campaign_id: id.into(),
        campaign_name: name.into(),
        ad_id: String::new(),
        ad_name: String::new(),
        impressions: delivered,
        clicks,
        spend: dec(spend),
        currency: currency.into(),
        vat: VatMode::Unknown,
    })
}

fn uni_records() -> Vec<Record> {
    vec![
        stat(
            "unisender",
            1,
            "6626556",
            "Вебинар по Python: старт в четверг",
            81737,
            447,
            "0",
            "RUB",
        ),
        // 23:30 UTC on the 2nd: dated the 2nd (UTC), whatever the school zone.
        stat(
            "unisender",
            2,
            "6626557",
            "Последний день скидки",
            1180,
            25,
            "0",
            "RUB",
        ),
    ]
}

fn sp_records() -> Vec<Record> {
    vec![
        stat(
            "sendpulse",
            1,
            "701",
            "Ноябрьский дайджест",
            4870,
            133,
            "250.75",
            "RUB",
        ),
        stat(
            "sendpulse",
            2,
            "702",
            "Приглашение на вебинар",
            2950,
            58,
            "0",
            "USD",
        ),
    ]
}

fn queue() -> Vec<Pending> {
    vec![
        Pending(
            "6626556".into(),
            "2026-11-01 10:03:59".into(),
            "Вебинар по Python: старт в четверг".into(),
        ),
        Pending(
            "6626557".into(),
            "2026-11-02 23:30:00".into(),
            "Последний день скидки".into(),
        ),
    ]
}

// ---------------------------------------------------------------- UniSender

#[test]
fn unisender_options_and_requests() {
    let a = uni_acc();
    assert_eq!(UNISENDER.slug(), "unisender");
    assert!(voronka_connectors::SLUGS.contains(&"unisender"));
    assert!(voronka_connectors::connector("unisender").is_some());
    assert_eq!(UNISENDER.validate(&a), Ok(()));
    assert_eq!(UNISENDER.default_base_url(&a), UNI);
    assert_eq!(
        UNISENDER.auth(),
        AuthScheme::Query {
            param: "api_key",
            credential: "api_key"
        }
    );
    let ctx = fetch_context(&a, UNI, date(2026, 11, 1), date(2026, 11, 2));
    let jobs = UNISENDER.plan(&ctx);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].entity, "campaigns");
    assert_eq!(jobs[0].window, Some((date(2026, 11, 1), date(2026, 11, 2))));
    assert_eq!(
        UNISENDER.first_request(&ctx, &jobs[0]),
        Request::get(format!("{UNI}/ru/api/getCampaigns"))
            .query("format", "json")
            .query("from", "2026-11-01 00:00:00")
            .query("to", "2026-11-02 23:59:59")
            .query("limit", "100")
            .query("offset", "0")
    );
    // Selzy: another host and language.
    let selzy = account(json!({"id": "s", "base_url": "https://api.selzy.com",
        "credentials": {"api_key": {"env": "K"}}, "options": {"lang": "en"}}));
    assert_eq!(UNISENDER.validate(&selzy), Ok(()));
    let ctx = fetch_context(
        &selzy,
        "https://api.selzy.com",
        date(2026, 11, 1),
        date(2026, 11, 2),
    );
    assert_eq!(
        UNISENDER.first_request(&ctx, &UNISENDER.plan(&ctx)[0]).url,
        "https://api.selzy.com/en/api/getCampaigns"
    );
    for (bad, key) in [
        (json!({"id": "m"}), "api_key"),
        (
            json!({"id": "m", "credentials": {"api_key": {"env": "K"}}, "options": {"lang": "russian"}}),
            "lang",
        ),
        (
            json!({"id": "m", "credentials": {"api_key": {"env": "K"}}, "options": {"currency": "рубли"}}),
            "currency",
        ),
    ] {
        let err = UNISENDER.validate(&account(bad)).unwrap_err();
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn unisender_chains_stats_calls_through_the_fragment() {
    let a = uni_acc();
    let ctx = fetch_context(&a, UNI, date(2026, 11, 1), date(2026, 11, 2));
    let job = UNISENDER.plan(&ctx).remove(0);
    let list = UNISENDER.first_request(&ctx, &job);
    let step =
        |req: &Request, body: &[u8]| UNISENDER.next_step(&ctx, &job, req, &response(200, body));

    // The page's started campaigns (not the scheduled one) are queued.
    let Ok(Step::Next(first)) = step(&list, &fixture("email", "unisender_campaigns_page1.json"))
    else {
        panic!("expected a stats call")
    };
    assert_eq!(first, UNISENDER.unisender_stats(UNI, &a, &queue(), None));
    assert!(
        first
            .url
            .starts_with(&format!("{UNI}/ru/api/getCampaignCommonStats#q="))
    );
    assert_eq!(
        first.query,
        vec![
            ("format".to_string(), "json".to_string()),
            ("campaign_id".to_string(), "6626556".to_string())
        ]
    );
    assert_eq!(email::pending_from_url(&first.url).unwrap(), queue());

    let Ok(Step::Next(second)) = step(&first, &fixture("email", "unisender_stats_6626556.json"))
    else {
        panic!("expected the second stats call")
    };
    assert_eq!(
        second,
        UNISENDER.unisender_stats(UNI, &a, &queue()[1..], None)
    );
    assert_eq!(
        step(&second, &fixture("email", "unisender_stats_6626557.json")),
        Ok(Step::Done { watermark: None })
    );

    // A full page: stats first, then the next page (offset in the fragment).
    let full: Vec<Value> = (0..100)
        .map(|i| json!({"id": 1000 + i, "start_time": "2026-11-01 08:00:00", "status": "completed", "subject": "s"}))
        .collect();
    let body = json!({ "result": full }).to_string();
    let Ok(Step::Next(stats)) = step(&list, body.as_bytes()) else {
        panic!()
    };
    let q = email::pending_from_url(&stats.url).unwrap();
    assert_eq!(q.len(), 100);
    let mut last = stats.clone();
    last.url = UNISENDER.unisender_stats(UNI, &a, &q[99..], Some(100)).url;
    assert_eq!(
        step(&last, &fixture("email", "unisender_stats_6626556.json")),
        Ok(Step::Next(UNISENDER.unisender_list(
            UNI,
            &a,
            date(2026, 11, 1),
            date(2026, 11, 2),
            100
        )))
    );
    // A full page of unsent campaigns goes straight to the next page.
    let unsent: Vec<Value> = (0..100)
        .map(|i| json!({"id": i, "status": "scheduled", "start_time": "", "subject": "x"}))
        .collect();
    assert_eq!(
        step(&list, json!({ "result": unsent }).to_string().as_bytes()),
        Ok(Step::Next(UNISENDER.unisender_list(
            UNI,
            &a,
            date(2026, 11, 1),
            date(2026, 11, 2),
            100
        )))
    );
    // Bounded: a full page at offset 9900 stops the walk.
    let deep = UNISENDER.unisender_list(UNI, &a, date(2026, 11, 1), date(2026, 11, 2), 9900);
    assert!(matches!(
        step(&deep, json!({ "result": unsent }).to_string().as_bytes()),
        Err(FetchError::Terminal { .. })
    ));
    // An empty window is done at once.
    assert_eq!(
        step(&list, br#"{"result":[]}"#),
        Ok(Step::Done { watermark: None })
    );
}

#[test]
fn unisender_errors_come_with_http_200() {
    let a = uni_acc();
    let ctx = fetch_context(&a, UNI, date(2026, 11, 1), date(2026, 11, 2));
    let job = UNISENDER.plan(&ctx).remove(0);
    let list = UNISENDER.first_request(&ctx, &job);
    let step =
        |status: u16, body: &[u8]| UNISENDER.next_step(&ctx, &job, &list, &response(status, body));
    match step(200, &fixture("email", "unisender_error_key.json")) {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(reason.contains("invalid_api_key"), "{reason}");
            assert!(reason.contains("credentials.api_key"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        step(200, &fixture("email", "unisender_error_limit.json")),
        Err(FetchError::Retryable {
            slug: "unisender".into(),
            reason: "throttled: error api_call_limit_exceeded_for_api_key: Превышен лимит запросов к API".into(),
            after: Some(Duration::from_secs(60)),
        })
    );
    assert!(matches!(
        step(
            200,
            br#"{"error":"campaign_id: invalid","code":"invalid_arg"}"#
        ),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        step(503, b"<html>busy</html>"),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        step(200, b"not json"),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(step(200, b"{}"), Err(FetchError::Terminal { .. })));
}

#[test]
fn unisender_stats_normalize_with_exact_values() {
    let a = uni_acc();
    let first = UNISENDER.unisender_stats(UNI, &a, &queue(), None);
    let second = UNISENDER.unisender_stats(UNI, &a, &queue()[1..], None);
    let url = |r: &Request| r.url.clone();
    let n1 = normalize(
        &UNISENDER,
        &a,
        &url(&first),
        &fixture("email", "unisender_stats_6626556.json"),
    );
    let n2 = normalize(
        &UNISENDER,
        &a,
        &url(&second),
        &fixture("email", "unisender_stats_6626557.json"),
    );
    assert_eq!((n1.rejected.len(), n2.rejected.len()), (0, 0));
    let got: Vec<Record> = n1.records.into_iter().chain(n2.records).collect();
    assert_eq!(got, uni_records());

    // The account's currency replaces RUB.
    let eur =
        account(json!({"id": "main", "currency": "eur", "credentials": {"api_key": {"env": "K"}}}));
    let n = normalize(
        &UNISENDER,
        &eur,
        &url(&first),
        &fixture("email", "unisender_stats_6626556.json"),
    );
    let Record::AdStat(s) = &n.records[0] else {
        panic!()
    };
    assert_eq!(s.currency, "EUR");

    // List pages and error bodies give nothing; missing counts are refused.
    let list = format!("{UNI}/ru/api/getCampaigns?format=json&api_key=***");
    assert_eq!(
        normalize(
            &UNISENDER,
            &a,
            &list,
            &fixture("email", "unisender_campaigns_page1.json")
        ),
        Normalized::default()
    );
    assert_eq!(
        normalize(
            &UNISENDER,
            &a,
            &url(&first),
            &fixture("email", "unisender_error_key.json")
        ),
        Normalized::default()
    );
    let n = normalize(
        &UNISENDER,
        &a,
        &url(&first),
        br#"{"result":{"delivered":5}}"#,
    );
    assert!(n.records.is_empty());
    assert_eq!(n.rejected[0].field, "clicked_unique");
    assert_eq!(n.rejected[0].record, "6626556");
    // A stats answer without its fragment cannot be dated: refused.
    let bare = format!("{UNI}/ru/api/getCampaignCommonStats?campaign_id=1");
    let n = normalize(
        &UNISENDER,
        &a,
        &bare,
        &fixture("email", "unisender_stats_6626556.json"),
    );
    assert!(n.records.is_empty());
    assert_eq!(n.rejected.len(), 1);
}

fn driver(secrets: &[(&str, &str)]) -> Driver {
    Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            base_backoff: Duration::ZERO,
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(
            secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )),
    )
}

async fn normalized(
    c: &Email,
    store: &MemoryStore,
    keys: &[String],
    a: &AccountConfig,
    secrets: &[&str],
) -> Vec<Record> {
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut out = Vec::new();
    for k in keys {
        let bytes = store.get(k).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in secrets {
            assert!(!text.contains(s), "{k} leaks {s}");
        }
        let env = RawEnvelope::from_json(&bytes).unwrap();
        let n = c.normalize(&env, &ctx);
        assert_eq!(n.rejected, vec![], "{k}");
        out.extend(n.records);
    }
    out
}

#[tokio::test]
async fn unisender_driver_after_a_throttle_and_idempotent() {
    let server = MockServer::start().await;
    server.route("GET", "/ru/api/getCampaigns").respond([
        MockResponse::json(200, fixture("email", "unisender_error_limit.json")),
        MockResponse::json(200, fixture("email", "unisender_campaigns_page1.json")),
    ]);
    server
        .route("GET", "/ru/api/getCampaignCommonStats")
        .query("campaign_id", "6626556")
        .respond([MockResponse::json(
            200,
            fixture("email", "unisender_stats_6626556.json"),
        )]);
    server
        .route("GET", "/ru/api/getCampaignCommonStats")
        .query("campaign_id", "6626557")
        .respond([MockResponse::json(
            200,
            fixture("email", "unisender_stats_6626557.json"),
        )]);
    let a = account(json!({"id": "main", "base_url": server.base_url(),
        "credentials": {"api_key": {"env": "UNISENDER_KEY"}}}));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let d = driver(&[("api_key", "uni-s3cret")]);
    let store = MemoryStore::new();
    let report = d.ingest(&store, &UNISENDER, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    let shape: Vec<(&str, Option<&str>)> = sent
        .iter()
        .map(|r| (r.path.as_str(), r.param("campaign_id")))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("/ru/api/getCampaigns", None),
            ("/ru/api/getCampaigns", None),
            ("/ru/api/getCampaignCommonStats", Some("6626556")),
            ("/ru/api/getCampaignCommonStats", Some("6626557")),
        ]
    );
    for r in &sent {
        assert_eq!(r.param("api_key"), Some("uni-s3cret"));
        assert_eq!(r.param("format"), Some("json"));
    }
    assert_eq!(sent[0].param("from"), Some("2026-11-01 00:00:00"));
    assert_eq!(sent[0].param("to"), Some("2026-11-02 23:59:59"));
    let got = normalized(&UNISENDER, &store, &report.raw_keys(), &a, &["uni-s3cret"]).await;
    assert_eq!(got, uni_records());

    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &UNISENDER, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    assert_eq!(
        normalized(
            &UNISENDER,
            &store2,
            &report2.raw_keys(),
            &a,
            &["uni-s3cret"]
        )
        .await,
        got
    );
}

#[tokio::test]
async fn unisender_driver_stops_on_a_bad_key() {
    let server = MockServer::start().await;
    server
        .route("GET", "/ru/api/getCampaigns")
        .respond([MockResponse::json(
            200,
            fixture("email", "unisender_error_key.json"),
        )]);
    let a = account(json!({"id": "main", "base_url": server.base_url(),
        "credentials": {"api_key": {"env": "UNISENDER_KEY"}}}));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let report = driver(&[("api_key", "uni-s3cret")])
        .ingest(&MemoryStore::new(), &UNISENDER, &ctx, "run1")
        .await;
    assert_eq!(server.requests().len(), 1);
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("invalid_api_key"), "{err}");
    assert!(!err.contains("uni-s3cret"));
}

// ---------------------------------------------------------------- SendPulse

#[test]
fn sendpulse_options_and_requests() {
    let a = sp_acc();
    assert_eq!(SENDPULSE.slug(), "sendpulse");
    assert!(voronka_connectors::SLUGS.contains(&"sendpulse"));
    assert!(voronka_connectors::connector("sendpulse").is_some());
    assert_eq!(SENDPULSE.validate(&a), Ok(()));
    assert_eq!(SENDPULSE.default_base_url(&a), SP);
    assert_eq!(
        SENDPULSE.auth_for(&a),
        AuthScheme::OAuth2(OAuthFlow::ClientCredentials {
            token_url_path: "/oauth/access_token"
        })
    );
    let ctx = fetch_context(&a, SP, date(2026, 11, 1), date(2026, 11, 2));
    let jobs = SENDPULSE.plan(&ctx);
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        SENDPULSE.first_request(&ctx, &jobs[0]),
        Request::get(format!("{SP}/campaigns"))
            .query("limit", "100")
            .query("offset", "0")
    );
    let as_credential = account(json!({"id": "m",
        "credentials": {"client_secret": {"env": "S"}, "client_id": {"env": "I"}}}));
    assert_eq!(SENDPULSE.validate(&as_credential), Ok(()));
    for (bad, key) in [
        (
            json!({"id": "m", "options": {"client_id": "x"}}),
            "client_secret",
        ),
        (
            json!({"id": "m", "credentials": {"client_secret": {"env": "S"}}}),
            "client_id",
        ),
    ] {
        let err = SENDPULSE.validate(&account(bad)).unwrap_err();
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn sendpulse_walks_list_then_details_in_the_window() {
    let a = sp_acc();
    let ctx = fetch_context(&a, SP, date(2026, 11, 1), date(2026, 11, 2));
    let job = SENDPULSE.plan(&ctx).remove(0);
    let list = SENDPULSE.first_request(&ctx, &job);
    let step = |req: &Request, status: u16, body: &[u8]| {
        SENDPULSE.next_step(&ctx, &job, req, &response(status, body))
    };
    // October and unsent campaigns are left out.
    let d701 = Request::get(format!("{SP}/campaigns/701#rest=702"));
    assert_eq!(
        step(&list, 200, &fixture("email", "sendpulse_campaigns.json")),
        Ok(Step::Next(d701.clone()))
    );
    let d702 = Request::get(format!("{SP}/campaigns/702#rest="));
    assert_eq!(
        step(&d701, 200, &fixture("email", "sendpulse_campaign_701.json")),
        Ok(Step::Next(d702.clone()))
    );
    assert_eq!(
        step(&d702, 200, &fixture("email", "sendpulse_campaign_702.json")),
        Ok(Step::Done { watermark: None })
    );
    // A campaign deleted meanwhile (404) is skipped.
    assert_eq!(
        step(
            &d701,
            404,
            br#"{"error_code":404,"message":"Campaign not found","is_error":true}"#
        ),
        Ok(Step::Next(d702.clone()))
    );
    // A full page: details carry the next offset, then the next page.
    let full: Vec<Value> = (0..100)
        .map(|i| json!({"id": 5000 + i, "send_date": if i == 7 { "2026-11-02 10:00:00" } else { "2026-09-01 10:00:00" }}))
        .collect();
    let next_detail = Request::get(format!("{SP}/campaigns/5007#rest=&next=100"));
    assert_eq!(
        step(&list, 200, json!(full).to_string().as_bytes()),
        Ok(Step::Next(next_detail.clone()))
    );
    assert_eq!(
        step(
            &next_detail,
            200,
            &fixture("email", "sendpulse_campaign_701.json")
        ),
        Ok(Step::Next(SENDPULSE.sendpulse_list(SP, 100)))
    );
    assert_eq!(step(&list, 200, b"[]"), Ok(Step::Done { watermark: None }));
}

#[test]
fn sendpulse_errors() {
    let a = sp_acc();
    let ctx = fetch_context(&a, SP, date(2026, 11, 1), date(2026, 11, 2));
    let job = SENDPULSE.plan(&ctx).remove(0);
    let list = SENDPULSE.first_request(&ctx, &job);
    let step =
        |status: u16, body: &[u8]| SENDPULSE.next_step(&ctx, &job, &list, &response(status, body));
    // A rejected token (the driver has already renewed it once): terminal.
    for status in [401, 200] {
        match step(status, &fixture("email", "sendpulse_error_401.json")) {
            Err(FetchError::Terminal { reason, .. }) => {
                assert!(reason.contains("access token rejected"), "{reason}")
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    assert!(matches!(step(403, b""), Err(FetchError::Terminal { .. })));
    assert!(matches!(
        step(
            429,
            br#"{"error_code":429,"message":"Too many requests","is_error":true}"#
        ),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        step(502, b"<html/>"),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        step(
            400,
            br#"{"error_code":10,"message":"Bad limit","is_error":true}"#
        ),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        step(200, br#"{"x":1}"#),
        Err(FetchError::Terminal { .. })
    ));
    // A 404 on the list itself is not a skipped campaign.
    assert!(matches!(step(404, b""), Err(FetchError::Terminal { .. })));
}

#[test]
fn sendpulse_details_normalize_either_statistics_shape() {
    let a = sp_acc();
    let n1 = normalize(
        &SENDPULSE,
        &a,
        &format!("{SP}/campaigns/701#rest=702"),
        &fixture("email", "sendpulse_campaign_701.json"),
    );
    let n2 = normalize(
        &SENDPULSE,
        &a,
        &format!("{SP}/campaigns/702#rest="),
        &fixture("email", "sendpulse_campaign_702.json"),
    );
    assert_eq!((n1.rejected.len(), n2.rejected.len()), (0, 0));
    let got: Vec<Record> = n1.records.into_iter().chain(n2.records).collect();
    assert_eq!(got, sp_records());

    assert_eq!(
        email::sendpulse_counts(Some(&json!({"delivered": "10", "opening": 3}))),
        Ok((10, 0))
    );
    assert!(email::sendpulse_counts(Some(&json!({"link_redirected": 3}))).is_err());
    assert!(email::sendpulse_counts(None).is_err());

    let detail = format!("{SP}/campaigns/9#rest=");
    let base = json!({"id": 9, "name": "", "message": {"subject": "Тема"},
        "send_date": "2026-11-01T21:30:00+03:00", "statistics": {"delivered": 5, "link_redirected": 1}});
    // No name: the subject; an RFC 3339 send date is read in UTC (Nov 1).
    let n = normalize(&SENDPULSE, &a, &detail, base.to_string().as_bytes());
    let Record::AdStat(s) = &n.records[0] else {
        panic!()
    };
    assert_eq!(
        (
            s.campaign_name.as_str(),
            s.date,
            s.spend,
            s.currency.as_str()
        ),
        ("Тема", date(2026, 11, 1), dec("0"), "RUB")
    );
    // overdraft_price when no company_price; a price like "300 руб." reads.
    let mut v = base.clone();
    v["overdraft_price"] = json!("300,50 руб.");
    let n = normalize(&SENDPULSE, &a, &detail, v.to_string().as_bytes());
    let Record::AdStat(s) = &n.records[0] else {
        panic!()
    };
    assert_eq!(s.spend, dec("300.50"));
    // An unreadable price is refused, not zeroed.
    let mut v = base.clone();
    v["company_price"] = json!("free?");
    let n = normalize(&SENDPULSE, &a, &detail, v.to_string().as_bytes());
    assert!(n.records.is_empty());
    assert_eq!(n.rejected[0].field, "company_price");
    // Outside the window (rescheduled): nothing; no statistics: refused.
    let mut v = base.clone();
    v["send_date"] = json!("2026-12-01 10:00:00");
    assert_eq!(
        normalize(&SENDPULSE, &a, &detail, v.to_string().as_bytes()),
        Normalized::default()
    );
    let mut v = base.clone();
    v.as_object_mut().unwrap().remove("statistics");
    let n = normalize(&SENDPULSE, &a, &detail, v.to_string().as_bytes());
    assert_eq!(n.rejected[0].field, "statistics");
    // The list, error bodies: nothing.
    assert_eq!(
        normalize(
            &SENDPULSE,
            &a,
            &format!("{SP}/campaigns?limit=100&offset=0"),
            &fixture("email", "sendpulse_campaigns.json")
        ),
        Normalized::default()
    );
    assert_eq!(
        normalize(
            &SENDPULSE,
            &a,
            &detail,
            &fixture("email", "sendpulse_error_401.json")
        ),
        Normalized::default()
    );
}

fn sp_server_account(server: &MockServer) -> AccountConfig {
    account(json!({
        "id": "main",
        "base_url": server.base_url(),
        "credentials": {"client_secret": {"env": "SP_SECRET"}},
        "options": {"client_id": "sp-client"},
    }))
}

#[tokio::test]
async fn sendpulse_driver_gets_a_token_walks_and_is_idempotent() {
    let server = MockServer::start().await;
    server
        .route("POST", "/oauth/access_token")
        .respond([MockResponse::json(
            200,
            fixture("email", "sendpulse_token.json"),
        )]);
    server
        .route("GET", "/campaigns")
        .respond([MockResponse::json(
            200,
            fixture("email", "sendpulse_campaigns.json"),
        )]);
    server.route("GET", "/campaigns/701").respond([
        MockResponse::json(
            429,
            r#"{"error_code":429,"message":"Too many requests","is_error":true}"#,
        ),
        MockResponse::json(200, fixture("email", "sendpulse_campaign_701.json")),
    ]);
    server
        .route("GET", "/campaigns/702")
        .respond([MockResponse::json(
            200,
            fixture("email", "sendpulse_campaign_702.json"),
        )]);
    let a = sp_server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let d = driver(&[("client_secret", "sp-s3cret")]);
    let store = MemoryStore::new();
    let report = d.ingest(&store, &SENDPULSE, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    let shape: Vec<(&str, &str)> = sent
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("POST", "/oauth/access_token"),
            ("GET", "/campaigns"),
            ("GET", "/campaigns/701"),
            ("GET", "/campaigns/701"),
            ("GET", "/campaigns/702"),
        ]
    );
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&sent[0].body)
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "sp-client");
    assert_eq!(form["client_secret"], "sp-s3cret");
    for r in &sent[1..] {
        assert_eq!(r.header("authorization"), Some("Bearer sp-access-token-1"));
    }
    // The token exchange is not stored; API answers are (the 429 included).
    assert_eq!(report.raw_keys().len(), 4);
    let secrets = ["sp-s3cret", "sp-access-token-1"];
    let got = normalized(&SENDPULSE, &store, &report.raw_keys(), &a, &secrets).await;
    assert_eq!(got, sp_records());

    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &SENDPULSE, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    assert_eq!(
        normalized(&SENDPULSE, &store2, &report2.raw_keys(), &a, &secrets).await,
        got
    );
}

#[tokio::test]
async fn sendpulse_token_refused_fails_without_api_calls() {
    let server = MockServer::start().await;
    server
        .route("POST", "/oauth/access_token")
        .respond([MockResponse::json(
            400,
            fixture("email", "sendpulse_token_error.json"),
        )]);
    let a = sp_server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let report = driver(&[("client_secret", "sp-s3cret")])
        .ingest(&MemoryStore::new(), &SENDPULSE, &ctx, "run1")
        .await;
    assert!(!report.ok());
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("re-authorize"), "{err}");
    assert!(!err.contains("sp-s3cret"));
    assert_eq!(server.requests().len(), 1, "no API call without a token");
}
