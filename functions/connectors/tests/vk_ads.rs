//! `vk_ads` and `mytarget`: list → stats chaining with names carried in the
//! URL fragment, error classification, normalization of recorded stats,
//! the OAuth helpers, and the driver loop against a mock server.

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
use voronka_connectors::vk_ads::{self, MYTARGET, VK_ADS, VkAds};
use voronka_connectors::{
    AuthScheme, Connector, FetchError, NormalizeContext, Normalized, RawEnvelope, Request,
    Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};
use voronka_store::{MemoryStore, Store};

const VK: &str = "https://ads.vk.com";
const MT: &str = "https://target.my.com";
const LIST: &str = "/api/v2/ad_plans.json";
const STATS: &str = "/api/v2/statistics/ad_plans/day.json";

fn acc() -> AccountConfig {
    account(json!({
        "id": "vk",
        "credentials": {"access_token": {"env": "VK_TOKEN"}},
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

fn names(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The full URL a request would be recorded under (query, then fragment).
fn recorded_url(r: &Request) -> String {
    let (base, fragment) = r.url.split_once('#').unwrap_or((&r.url, ""));
    let mut u = url::Url::parse(base).unwrap();
    if !r.query.is_empty() {
        u.query_pairs_mut().extend_pairs(&r.query);
    }
    if !fragment.is_empty() {
        u.set_fragment(Some(fragment));
    }
    u.to_string()
}

fn envelope(c: &VkAds, url: &str, status: u16, body: &[u8]) -> RawEnvelope {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    RawEnvelope {
        v: 1,
        source: c.slug().into(),
        account: "vk".into(),
        run: "r1".into(),
        seq: 1,
        entity: "statistics".into(),
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

fn normalize(c: &VkAds, a: &AccountConfig, request: &Request, body: &[u8]) -> Normalized {
    let env = envelope(c, &recorded_url(request), 200, body);
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    c.normalize(&env, &ctx)
}

#[allow(clippy::too_many_arguments)]
fn stat(
    source: &str,
    platform: &str,
    day: u32,
    id: &str,
    name: &str,
    shows: u64,
    clicks: u64,
    spent: &str,
    currency: &str,
    vat: VatMode,
) -> Record {
    Record::AdStat(AdStat {
        source: source.into(),
        account: "vk".into(),
        date: date(2026, 11, day),
        platform: platform.into(),
        level: StatLevel::Campaign,
        campaign_id: id.into(),
        campaign_name: name.into(),
        ad_id: String::new(),
        ad_name: String::new(),
        impressions: shows,
        clicks,
        spend: dec(spent),
        currency: currency.into(),
        vat,
    })
}

fn vk(day: u32, id: &str, name: &str, shows: u64, clicks: u64, spent: &str) -> Record {
    stat(
        "vk_ads",
        "vk",
        day,
        id,
        name,
        shows,
        clicks,
        spent,
        "RUB",
        VatMode::Unknown,
    )
}

const N1: &str = "Курс Python — лиды";
const N2: &str = "Вебинар «Старт в IT»";
const N51: &str = "Ретаргетинг & «доход»";

fn page1_records() -> Vec<Record> {
    vec![
        vk(1, "10001", N1, 75881, 270, "23328.92"),
        vk(1, "10002", N2, 7143, 37, "500.0"),
        // An all-zero day is a real day: kept.
        vk(2, "10001", N1, 0, 0, "0"),
        // Strings instead of numbers.
        vk(2, "10002", N2, 120, 3, "41.5"),
    ]
}

fn page2_records() -> Vec<Record> {
    vec![vk(1, "10051", N51, 1000, 10, "100.10")]
}

/// The names of list page 1 (ids 10001..=10050).
fn page1_names() -> BTreeMap<String, String> {
    let v: serde_json::Value =
        serde_json::from_slice(&fixture("vk_ads", "ad_plans_page1.json")).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].to_string(), i["name"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn options_plan_and_first_request() {
    let a = acc();
    assert_eq!(VK_ADS.validate(&a), Ok(()));
    assert_eq!(VK_ADS.slug(), "vk_ads");
    assert_eq!(MYTARGET.slug(), "mytarget");
    assert_eq!(VK_ADS.default_base_url(&a), VK);
    assert_eq!(MYTARGET.default_base_url(&a), MT);
    assert_eq!((VK_ADS.platform(), VK_ADS.object()), ("vk", "ad_plans"));
    assert_eq!(
        (MYTARGET.platform(), MYTARGET.object()),
        ("mytarget", "campaigns")
    );
    assert_eq!(
        VK_ADS.auth(),
        AuthScheme::Bearer {
            credential: "access_token"
        }
    );
    for slug in ["vk_ads", "mytarget"] {
        assert_eq!(voronka_connectors::connector(slug).unwrap().slug(), slug);
        assert!(voronka_connectors::SLUGS.contains(&slug));
    }

    let ctx = fetch_context(&a, VK, date(2026, 10, 1), date(2026, 11, 2));
    let jobs = VK_ADS.plan(&ctx);
    let windows: Vec<_> = jobs.iter().map(|j| j.window.unwrap()).collect();
    assert_eq!(
        windows,
        vec![
            (date(2026, 10, 1), date(2026, 10, 30)),
            (date(2026, 10, 31), date(2026, 11, 2)),
        ]
    );
    assert_eq!(jobs[0].entity, "statistics");
    assert_eq!(jobs[0].meta["object"], "ad_plans");
    assert_eq!(
        VK_ADS.first_request(&ctx, &jobs[0]),
        Request::get(format!("{VK}{LIST}"))
            .query("fields", "id,name,status")
            .query("limit", "50")
            .query("offset", "0")
    );
    let ctx = fetch_context(&a, MT, date(2026, 11, 1), date(2026, 11, 2));
    let r = MYTARGET.first_request(&ctx, &MYTARGET.plan(&ctx)[0]);
    assert_eq!(r.url, format!("{MT}/api/v2/campaigns.json"));

    let cases = [
        (json!({"id": "vk"}), "credentials.access_token"),
        (
            json!({"id": "vk", "credentials": {"access_token": {"env": "T"}},
                "options": {"currency": "рубли"}}),
            "options.currency",
        ),
        (
            json!({"id": "vk", "credentials": {"access_token": {"env": "T"}},
                "options": {"vat_included": "yes"}}),
            "options.vat_included",
        ),
    ];
    for (bad, key) in cases {
        let e = VK_ADS.validate(&account(bad.clone())).unwrap_err();
        assert!(e.contains(key), "{bad}: {e}");
    }
    let ok = account(
        json!({"id": "vk", "credentials": {"access_token": {"env": "T"}},
        "options": {"currency": "RUB", "vat_included": false}}),
    );
    assert_eq!(MYTARGET.validate(&ok), Ok(()));
}

#[test]
fn list_pages_chain_into_stats_requests_that_carry_names() {
    let a = acc();
    let ctx = fetch_context(&a, VK, date(2026, 11, 1), date(2026, 11, 2));
    let job = VK_ADS.plan(&ctx).remove(0);
    let list1 = VK_ADS.first_request(&ctx, &job);

    // List page 1 (50 of 52) → stats of its 50 ids; the list resumes at 50.
    let step = VK_ADS.next_step(
        &ctx,
        &job,
        &list1,
        &response(200, &fixture("vk_ads", "ad_plans_page1.json")),
    );
    let Ok(Step::Next(stats1)) = step else {
        panic!("expected stats, got {step:?}")
    };
    let want_names = page1_names();
    assert_eq!(want_names.len(), 50);
    assert_eq!(want_names["10001"], N1);
    assert_eq!(
        stats1,
        VK_ADS.stats_request(
            VK,
            &want_names,
            date(2026, 11, 1),
            date(2026, 11, 2),
            Some(50)
        )
    );
    let (path, fragment) = stats1.url.split_once('#').unwrap();
    assert_eq!(path, format!("{VK}{STATS}"));
    assert!(fragment.starts_with("names=") && fragment.ends_with("&next=50"));
    assert!(fragment.len() < 8 * 1024, "{}", fragment.len());
    assert_eq!(vk_ads::names_from_url(&stats1.url).unwrap(), want_names);
    let ids: Vec<String> = (10001..=10050).map(|i| i.to_string()).collect();
    assert_eq!(
        stats1.query,
        vec![
            ("id".to_string(), ids.join(",")),
            ("date_from".to_string(), "2026-11-01".to_string()),
            ("date_to".to_string(), "2026-11-02".to_string()),
            ("metrics".to_string(), "base".to_string()),
        ]
    );

    // Stats → the next list page.
    let step = VK_ADS.next_step(
        &ctx,
        &job,
        &stats1,
        &response(200, &fixture("vk_ads", "statistics_page1.json")),
    );
    assert_eq!(step, Ok(Step::Next(VK_ADS.list_request(VK, 50))));
    let list2 = VK_ADS.list_request(VK, 50);
    assert_eq!(list2.query[2], ("offset".to_string(), "50".to_string()));

    // Last list page → its stats, without `next`; then done.
    let step = VK_ADS.next_step(
        &ctx,
        &job,
        &list2,
        &response(200, &fixture("vk_ads", "ad_plans_page2.json")),
    );
    let page2_names = names(&[("10051", N51), ("10052", "Архив")]);
    let stats2 = VK_ADS.stats_request(VK, &page2_names, date(2026, 11, 1), date(2026, 11, 2), None);
    assert_eq!(step, Ok(Step::Next(stats2.clone())));
    assert!(!stats2.url.contains("next="));
    assert_eq!(
        stats2.query[0],
        ("id".to_string(), "10051,10052".to_string())
    );
    assert_eq!(
        VK_ADS.next_step(
            &ctx,
            &job,
            &stats2,
            &response(200, &fixture("vk_ads", "statistics_page2.json"))
        ),
        Ok(Step::Done { watermark: None })
    );

    // No objects at all: done without a stats call.
    let empty = json!({"count": 0, "offset": 0, "limit": 50, "items": []});
    assert_eq!(
        VK_ADS.next_step(
            &ctx,
            &job,
            &list1,
            &response(200, empty.to_string().as_bytes())
        ),
        Ok(Step::Done { watermark: None })
    );
    // A list without `count` is not guessed at.
    assert!(matches!(
        VK_ADS.next_step(&ctx, &job, &list1, &response(200, br#"{"items":[]}"#)),
        Err(FetchError::Terminal { .. })
    ));
}

#[test]
fn errors_are_classified() {
    let a = acc();
    let ctx = fetch_context(&a, VK, date(2026, 11, 1), date(2026, 11, 2));
    let job = VK_ADS.plan(&ctx).remove(0);
    let req = VK_ADS.first_request(&ctx, &job);
    let step =
        |status: u16, body: &[u8]| VK_ADS.next_step(&ctx, &job, &req, &response(status, body));
    let wait = |r: Result<Step, FetchError>| match r {
        Err(FetchError::Retryable { after, .. }) => after,
        other => panic!("expected retryable, got {other:?}"),
    };
    let terminal = |r: Result<Step, FetchError>| match r {
        Err(FetchError::Terminal { reason, .. }) => reason,
        other => panic!("expected terminal, got {other:?}"),
    };
    for (name, code) in [
        ("error_expired_token_401.json", "expired_token"),
        ("error_invalid_token_401.json", "invalid_token"),
        ("error_revoked_token_401.json", "revoked_token"),
    ] {
        let reason = terminal(step(401, &fixture("vk_ads", name)));
        assert!(reason.contains(code), "{reason}");
        assert!(reason.contains("credentials.access_token"), "{reason}");
    }
    // A bare 401 is still an auth problem.
    assert!(terminal(step(401, b"")).contains("obtain a new token"));
    for status in [200, 400] {
        assert_eq!(
            wait(step(
                status,
                &fixture("vk_ads", "error_limit_exceeded.json")
            )),
            Some(Duration::from_secs(60))
        );
    }
    assert_eq!(
        wait(step(500, &fixture("vk_ads", "error_internal_500.json"))),
        None
    );
    assert_eq!(wait(step(429, b"")), None);
    assert_eq!(wait(step(502, b"<html>")), None);
    let reason = terminal(step(400, &fixture("vk_ads", "error_wrong_parameter.json")));
    assert!(
        reason.contains("ERR_WRONG_PARAMETER") && reason.contains("date_from"),
        "{reason}"
    );
    assert!(
        terminal(step(
            403,
            &fixture("vk_ads", "error_access_denied_403.json")
        ))
        .contains("ERR_ACCESS_DENIED")
    );
    assert!(terminal(step(404, b"not found")).contains("HTTP 404"));
    assert!(terminal(step(200, b"<html>")).contains("not JSON"));
    assert!(terminal(step(200, b"{}")).contains("items"));
}

#[test]
fn stats_normalize_with_names_from_the_request() {
    let a = acc();
    let stats1 = VK_ADS.stats_request(
        VK,
        &page1_names(),
        date(2026, 11, 1),
        date(2026, 11, 2),
        Some(50),
    );
    let n = normalize(
        &VK_ADS,
        &a,
        &stats1,
        &fixture("vk_ads", "statistics_page1.json"),
    );
    assert_eq!(n.rejected, vec![]);
    assert_eq!(n.records, page1_records());

    let page2_names = names(&[("10051", N51), ("10052", "Архив")]);
    let stats2 = VK_ADS.stats_request(VK, &page2_names, date(2026, 11, 1), date(2026, 11, 2), None);
    let n = normalize(
        &VK_ADS,
        &a,
        &stats2,
        &fixture("vk_ads", "statistics_page2.json"),
    );
    assert_eq!(n.records, page2_records());
    assert_eq!(n.rejected.len(), 1);
    assert_eq!(
        (n.rejected[0].record.as_str(), n.rejected[0].field.as_str()),
        ("10051 2026-11-02", "base.spent")
    );

    // Names missing from the request: refused, never replaced by ids.
    let bare = Request::get(format!("{VK}{STATS}")).query("id", "10051,10052");
    let n = normalize(
        &VK_ADS,
        &a,
        &bare,
        &fixture("vk_ads", "statistics_page2.json"),
    );
    assert!(n.records.is_empty());
    assert_eq!(n.rejected.len(), 2);
    assert!(n.rejected.iter().all(|e| e.field == "name"));
    let other = VK_ADS.stats_request(
        VK,
        &names(&[("1", "x")]),
        date(2026, 11, 1),
        date(2026, 11, 2),
        None,
    );
    let n = normalize(
        &VK_ADS,
        &a,
        &other,
        &fixture("vk_ads", "statistics_page1.json"),
    );
    assert!(n.records.is_empty());
    assert!(n.rejected[0].reason.contains("not among the names"));

    // List pages and error bodies give no records.
    let list = VK_ADS.list_request(VK, 0);
    assert_eq!(
        normalize(
            &VK_ADS,
            &a,
            &list,
            &fixture("vk_ads", "ad_plans_page1.json")
        ),
        Normalized::default()
    );
    assert_eq!(
        normalize(
            &VK_ADS,
            &a,
            &stats1,
            &fixture("vk_ads", "error_limit_exceeded.json")
        ),
        Normalized::default()
    );
    let env = envelope(
        &VK_ADS,
        &recorded_url(&stats1),
        401,
        &fixture("vk_ads", "error_expired_token_401.json"),
    );
    let ctx = NormalizeContext {
        account: &a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    assert_eq!(VK_ADS.normalize(&env, &ctx), Normalized::default());
}

fn mytarget_records(vat: VatMode) -> Vec<Record> {
    let mt = |day, id, name, shows, clicks, spent| {
        stat(
            "mytarget", "mytarget", day, id, name, shows, clicks, spent, "RUB", vat,
        )
    };
    vec![
        mt(1, "4200001", "myTarget — вебинар", 7143, 37, "500.0"),
        mt(2, "4200001", "myTarget — вебинар", 0, 0, "0"),
        mt(2, "4200002", "myTarget — курс", 2500, 20, "1234.5678"),
    ]
}

#[test]
fn mytarget_numbers_parse_exactly_and_vat_follows_the_option() {
    let names = names(&[
        ("4200001", "myTarget — вебинар"),
        ("4200002", "myTarget — курс"),
    ]);
    let req = MYTARGET.stats_request(MT, &names, date(2026, 11, 1), date(2026, 11, 2), None);
    assert_eq!(
        req.url.split_once('#').unwrap().0,
        format!("{MT}/api/v2/statistics/campaigns/day.json")
    );
    let body = fixture("mytarget", "statistics_campaigns_day.json");
    for (vat_option, vat) in [
        (Some(true), VatMode::Included),
        (Some(false), VatMode::Excluded),
        (None, VatMode::Unknown),
    ] {
        let mut a = json!({"id": "vk", "currency": "rub"});
        if let Some(v) = vat_option {
            a["options"] = json!({"vat_included": v});
        }
        let n = normalize(&MYTARGET, &account(a), &req, &body);
        assert_eq!(n.rejected, vec![]);
        assert_eq!(n.records, mytarget_records(vat));
    }
    let Record::AdStat(s) = &mytarget_records(VatMode::Unknown)[2] else {
        unreachable!()
    };
    assert_eq!(s.spend, Decimal::new(12345678, 4));

    // The `currency` option wins over the account's.
    let eur = account(json!({"id": "vk", "currency": "RUB", "options": {"currency": "EUR"}}));
    let n = normalize(&MYTARGET, &eur, &req, &body);
    assert!(
        n.records
            .iter()
            .all(|r| matches!(r, Record::AdStat(s) if s.currency == "EUR"))
    );
}

#[test]
fn oauth_helpers() {
    let r = VK_ADS.token_request(VK, "client-1", "s3cr3t&=");
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, format!("{VK}/api/v2/oauth2/token.json"));
    assert_eq!(
        r.headers,
        vec![(
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string()
        )]
    );
    assert_eq!(
        r.body.as_deref(),
        Some("grant_type=client_credentials&client_id=client-1&client_secret=s3cr3t%26%3D")
    );
    let r = MYTARGET.refresh_request(MT, "c", "s", "rt");
    assert_eq!(r.url, format!("{MT}/api/v2/oauth2/token.json"));
    assert_eq!(
        r.body.as_deref(),
        Some("grant_type=refresh_token&refresh_token=rt&client_id=c&client_secret=s")
    );

    let t = VK_ADS
        .parse_token_response(200, &fixture("vk_ads", "token.json"))
        .unwrap();
    assert_eq!(t.access_token, "SYNTHETIC-ACCESS-vk-1");
    assert_eq!(t.token_type, "bearer");
    assert_eq!(t.expires_in, Some(86400));
    assert_eq!(t.refresh_token.as_deref(), Some("SYNTHETIC-REFRESH-vk-1"));
    assert_eq!(t.scope.as_deref(), Some("read_ads read_payments"));
    let shown = format!("{t:?}");
    assert!(
        !shown.contains("SYNTHETIC-ACCESS") && !shown.contains("SYNTHETIC-REFRESH"),
        "{shown}"
    );
    let t = VK_ADS
        .parse_token_response(200, &fixture("vk_ads", "token_expires_number.json"))
        .unwrap();
    assert_eq!(t.expires_in, Some(86400));

    match VK_ADS.parse_token_response(401, &fixture("vk_ads", "token_error_invalid_client.json")) {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(
                reason.contains("invalid_client") && reason.contains("authorize again"),
                "{reason}"
            )
        }
        other => panic!("invalid_client must be terminal: {other:?}"),
    }
    // An error body with HTTP 200 is still an error.
    assert!(matches!(
        VK_ADS.parse_token_response(200, &fixture("vk_ads", "token_error_invalid_client.json")),
        Err(FetchError::Terminal { .. })
    ));
    match VK_ADS.parse_token_response(403, &fixture("vk_ads", "token_error_limit_403.json")) {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(
                reason.contains("5 tokens") && reason.contains("token/delete.json"),
                "{reason}"
            )
        }
        other => panic!("403 must be terminal: {other:?}"),
    }
    assert!(matches!(
        VK_ADS.parse_token_response(503, b""),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        VK_ADS.parse_token_response(200, br#"{"token_type":"bearer"}"#),
        Err(FetchError::Terminal { .. })
    ));
}

fn driver(secret: &str) -> Driver {
    Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            base_backoff: Duration::ZERO,
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "access_token".to_string(),
            secret.to_string(),
        )]))),
    )
}

fn server_account(server: &MockServer, extra: serde_json::Value) -> AccountConfig {
    let mut a = json!({
        "id": "vk",
        "base_url": server.base_url(),
        "credentials": {"access_token": {"env": "VK_TOKEN"}},
    });
    if let serde_json::Value::Object(m) = extra {
        a.as_object_mut().unwrap().extend(m);
    }
    account(a)
}

async fn normalized(
    c: &VkAds,
    store: &MemoryStore,
    keys: &[String],
    a: &AccountConfig,
) -> Normalized {
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut out = Normalized::default();
    for k in keys {
        let bytes = store.get(k).await.unwrap().unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("vk-secret"),
            "{k}"
        );
        let env = RawEnvelope::from_json(&bytes).unwrap();
        let n = c.normalize(&env, &ctx);
        out.records.extend(n.records);
        out.rejected.extend(n.rejected);
    }
    out
}

#[tokio::test]
async fn driver_walks_lists_and_stats_after_a_throttle_and_is_idempotent() {
    let server = MockServer::start().await;
    server
        .route("GET", LIST)
        .query("offset", "50")
        .respond([MockResponse::json(
            200,
            fixture("vk_ads", "ad_plans_page2.json"),
        )]);
    server.route("GET", LIST).respond([MockResponse::json(
        200,
        fixture("vk_ads", "ad_plans_page1.json"),
    )]);
    server
        .route("GET", STATS)
        .query("id", "10051,10052")
        .respond([MockResponse::json(
            200,
            fixture("vk_ads", "statistics_page2.json"),
        )]);
    server.route("GET", STATS).respond([
        MockResponse::json(
            429,
            r#"{"error":{"code":"ERR_TOO_MANY","message":"slow down"}}"#,
        )
        .header("retry-after", "1"),
        MockResponse::json(200, fixture("vk_ads", "statistics_page1.json")),
    ]);
    let a = server_account(&server, json!({}));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let d = driver("vk-secret");
    let store = MemoryStore::new();
    let report = d.ingest(&store, &VK_ADS, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    let shape: Vec<(&str, Option<&str>)> = sent
        .iter()
        .map(|r| (r.path.as_str(), r.param("offset")))
        .collect();
    assert_eq!(
        shape,
        vec![
            (LIST, Some("0")),
            (STATS, None),
            (STATS, None),
            (LIST, Some("50")),
            (STATS, None),
        ]
    );
    for r in &sent {
        assert_eq!(r.header("authorization"), Some("Bearer vk-secret"));
        assert!(!r.raw_query.contains("names"), "fragments are never sent");
    }
    assert_eq!(sent[4].param("id"), Some("10051,10052"));
    assert_eq!(sent[4].param("date_from"), Some("2026-11-01"));
    assert_eq!(sent[4].param("date_to"), Some("2026-11-02"));
    assert_eq!(sent[4].param("metrics"), Some("base"));

    let got = normalized(&VK_ADS, &store, &report.raw_keys(), &a).await;
    let expected: Vec<Record> = page1_records().into_iter().chain(page2_records()).collect();
    assert_eq!(got.records, expected);
    assert_eq!(got.rejected.len(), 1, "the unreadable `spent` of page 2");

    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &VK_ADS, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    assert_eq!(
        normalized(&VK_ADS, &store2, &report2.raw_keys(), &a).await,
        got
    );
}

#[tokio::test]
async fn driver_runs_mytarget_on_its_own_paths() {
    let server = MockServer::start().await;
    server
        .route("GET", "/api/v2/campaigns.json")
        .respond([MockResponse::json(
            200,
            fixture("mytarget", "campaigns.json"),
        )]);
    server
        .route("GET", "/api/v2/statistics/campaigns/day.json")
        .query("id", "4200001,4200002")
        .respond([MockResponse::json(
            200,
            fixture("mytarget", "statistics_campaigns_day.json"),
        )]);
    let a = server_account(&server, json!({"options": {"vat_included": true}}));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let store = MemoryStore::new();
    let report = driver("vk-secret")
        .ingest(&store, &MYTARGET, &ctx, "run1")
        .await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(server.requests().len(), 2);
    assert!(
        report
            .raw_keys()
            .iter()
            .all(|k| k.starts_with("raw/mytarget/vk/"))
    );
    let got = normalized(&MYTARGET, &store, &report.raw_keys(), &a).await;
    assert_eq!(got.rejected, vec![]);
    assert_eq!(got.records, mytarget_records(VatMode::Included));
}

#[tokio::test]
async fn driver_stops_on_an_expired_token() {
    let server = MockServer::start().await;
    server.route("GET", LIST).respond([MockResponse::json(
        401,
        fixture("vk_ads", "error_expired_token_401.json"),
    )
    .header("www-authenticate", "Bearer error=\"expired_token\"")]);
    let a = server_account(&server, json!({}));
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 11, 1), date(2026, 11, 2));
    let store = MemoryStore::new();
    let report = driver("vk-secret")
        .ingest(&store, &VK_ADS, &ctx, "run1")
        .await;
    assert_eq!(server.requests().len(), 1, "no retry on 401");
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(
        err.contains("expired_token") && err.contains("credentials.access_token"),
        "{err}"
    );
    assert!(!err.contains("vk-secret"));
    assert_eq!(
        normalized(&VK_ADS, &store, &report.raw_keys(), &a).await,
        Normalized::default()
    );
}
