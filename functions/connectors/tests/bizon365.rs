//! `bizon365`: the list → viewers walk, error decisions, normalization of
//! recorded-shape pages, the full-report decoder, and the driver loop
//! against a mock server.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{MockResponse, MockServer, account, date, fetch_context, fixture};
use serde_json::json;
use voronka_connectors::bizon365::{self, Bizon365};
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::{
    AuthScheme, Connector, FetchError, Job, NormalizeContext, Normalized, RawEnvelope, Request,
    Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{Record, Utm, Webinar, WebinarViewer};
use voronka_store::{MemoryStore, Store};

const BASE: &str = "https://online.bizon365.ru/api/v1";
const TOKEN: &str = "bizon-secret-token";
const A: &str = "10001:webinar_room*2026-12-02T19:00:00";
const C: &str = "10001:auto_room*2026-12-03T23:30:00";
const LIST: &str = "/webinars/reports/getlist";
const VIEWERS: &str = "/webinars/reports/getviewers";

fn acc() -> AccountConfig {
    account(json!({
        "id": "bz",
        "options": {"offer_minute": 45},
        "credentials": {"token": {"env": "BIZON_TOKEN"}},
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
        entity: "webinars".into(),
        window: Some((date(2026, 12, 1), date(2026, 12, 3))),
        meta: BTreeMap::new(),
    }
}

fn list_req(base: &str, skip: u64) -> Request {
    Request::get(format!("{base}{LIST}"))
        .query("skip", skip.to_string())
        .query("limit", "100")
        .query("LiveWebinars", "1")
        .query("AutoWebinars", "1")
}

fn viewers_req(base: &str, id: &str, skip: u64, fragment: &str) -> Request {
    let url = if fragment.is_empty() {
        format!("{base}{VIEWERS}")
    } else {
        format!("{base}{VIEWERS}#{fragment}")
    };
    Request::get(url)
        .query("webinarId", id)
        .query("skip", skip.to_string())
        .query("limit", "1000")
}

fn envelope(url: &str, status: u16, body: &[u8]) -> RawEnvelope {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    RawEnvelope {
        v: 1,
        source: "bizon365".into(),
        account: "bz".into(),
        run: "r1".into(),
        seq: 1,
        entity: "webinars".into(),
        window_from: Some(date(2026, 12, 1)),
        window_to: Some(date(2026, 12, 3)),
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "GET".into(),
            url: url.into(),
            body: None,
        },
        status,
        headers: BTreeMap::new(),
        received_at: utc(2026, 12, 4, 3, 0, 0),
        body_encoding,
        body,
    }
}

fn normalize(url: &str, body: &[u8]) -> Normalized {
    let a = acc();
    let ctx = NormalizeContext {
        account: &a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    Bizon365.normalize(&envelope(url, 200, body), &ctx)
}

fn list_url(skip: u64) -> String {
    format!("{BASE}{LIST}?skip={skip}&limit=100&LiveWebinars=1&AutoWebinars=1")
}

fn viewers_url(id: &str, skip: u64) -> String {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("{BASE}{VIEWERS}?webinarId={id}&skip={skip}&limit=1000")
}

fn webinar_a() -> Record {
    Record::Webinar(Webinar {
        source: "bizon365".into(),
        account: "bz".into(),
        id: A.into(),
        name: "10001:webinar_room".into(),
        // data.start 1796227200000 ms = 16:00 UTC = 19:00 Moscow.
        start: utc(2026, 12, 2, 16, 0, 0),
        duration_minutes: 95,
        offer_minute: Some(45),
    })
}

fn webinar_c() -> Record {
    Record::Webinar(Webinar {
        source: "bizon365".into(),
        account: "bz".into(),
        id: C.into(),
        name: "10001:auto_room".into(),
        // No data.start: 23:30 Moscow from the webinarId = 20:30 UTC;
        // no data.minutes: count2.
        start: utc(2026, 12, 3, 20, 30, 0),
        duration_minutes: 40,
        offer_minute: Some(45),
    })
}

fn viewer(viewer_id: &str, name: &str, from: DateTime<Utc>, till: DateTime<Utc>) -> WebinarViewer {
    WebinarViewer {
        source: "bizon365".into(),
        account: "bz".into(),
        webinar_id: A.into(),
        viewer_id: viewer_id.into(),
        webinar_start: utc(2026, 12, 2, 16, 0, 0),
        name: name.into(),
        email: String::new(),
        phone: String::new(),
        view_from: from,
        view_till: till,
        utm: Utm::default(),
    }
}

fn viewers_page1() -> Vec<Record> {
    vec![
        Record::WebinarViewer(WebinarViewer {
            email: "anna@example.com".into(),
            phone: "+79990000001".into(),
            utm: Utm {
                source: "vk".into(),
                medium: "cpc".into(),
                campaign: "dec_webinar".into(),
                content: "video_1".into(),
                term: String::new(),
            },
            ..viewer(
                "u_Ab12Cd",
                "Анна",
                utc(2026, 12, 2, 16, 5, 0),
                utc(2026, 12, 2, 17, 35, 0),
            )
        }),
        // No chatUserId: sha256(webinarId, e-mail lowercased, phone, name, view)
        // computed independently; no viewTill: left when entered.
        Record::WebinarViewer(WebinarViewer {
            email: "Guest@Example.com".into(),
            ..viewer(
                "anon-5c1526613a289805",
                "Гость",
                utc(2026, 12, 2, 16, 10, 0),
                utc(2026, 12, 2, 16, 10, 0),
            )
        }),
    ]
}

fn viewers_page2() -> Vec<Record> {
    vec![Record::WebinarViewer(WebinarViewer {
        phone: "89990000003".into(),
        utm: Utm {
            source: "yandex".into(),
            medium: "cpc".into(),
            campaign: "python_dec".into(),
            ..Utm::default()
        },
        ..viewer(
            "u_Zz99Yy",
            "Пётр",
            utc(2026, 12, 2, 16, 0, 0),
            utc(2026, 12, 2, 16, 30, 30),
        )
    })]
}

#[test]
fn options_auth_and_validation() {
    let a = acc();
    assert_eq!(Bizon365.default_base_url(&a), BASE);
    assert_eq!(
        Bizon365.auth(),
        AuthScheme::Header {
            name: "X-Token",
            credential: "token"
        }
    );
    assert_eq!(Bizon365.validate(&a), Ok(()));
    assert!(Bizon365.rate_limit().per_second <= 5.0);
    let bad = account(json!({"id": "bz", "options": {"offer_minute": "60"},
        "credentials": {"token": {"env": "T"}}}));
    assert!(
        Bizon365
            .validate(&bad)
            .unwrap_err()
            .contains("offer_minute")
    );
    let neg = account(json!({"id": "bz", "options": {"offer_minute": -1},
        "credentials": {"token": {"env": "T"}}}));
    assert!(
        Bizon365
            .validate(&neg)
            .unwrap_err()
            .contains("offer_minute")
    );
    let no_token = account(json!({"id": "bz"}));
    assert!(
        Bizon365
            .validate(&no_token)
            .unwrap_err()
            .contains("credentials.token")
    );
}

#[test]
fn walk_lists_then_viewers_page_by_page() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 12, 1), date(2026, 12, 3));
    let j = job();
    assert_eq!(Bizon365.plan(&ctx), vec![j.clone()]);
    let first = Bizon365.first_request(&ctx, &j);
    assert_eq!(first, list_req(BASE, 0));
    let step = |req: &Request, name: &str| {
        Bizon365.next_step(&ctx, &j, req, &response(200, &fixture("bizon365", name)))
    };
    // List page 1: A is in the window, B (20 Nov) is not; 2 of 3 listed,
    // so the next list page (skip=2) waits in the fragment.
    let v1 = viewers_req(BASE, A, 0, "list_skip=2");
    assert_eq!(
        step(&first, "getlist_page1.json"),
        Ok(Step::Next(v1.clone()))
    );
    // Viewers of A: 2 of 4 loaded → next viewers page, same fragment.
    let v2 = viewers_req(BASE, A, 2, "list_skip=2");
    assert_eq!(
        step(&v1, "getviewers_a_page1.json"),
        Ok(Step::Next(v2.clone()))
    );
    // All of A's viewers loaded → the next list page.
    assert_eq!(
        step(&v2, "getviewers_a_page2.json"),
        Ok(Step::Next(list_req(BASE, 2)))
    );
    // List page 2 (the last): C (23:30 Moscow on 3 Dec) is in the window.
    let vc = viewers_req(BASE, C, 0, "");
    assert_eq!(
        step(&list_req(BASE, 2), "getlist_page2.json"),
        Ok(Step::Next(vc.clone()))
    );
    assert_eq!(
        step(&vc, "getviewers_empty.json"),
        Ok(Step::Done { watermark: None })
    );
    // An empty list is done at once.
    assert_eq!(
        step(&first, "getlist_empty.json"),
        Ok(Step::Done { watermark: None })
    );
}

#[test]
fn several_pending_webinars_travel_in_the_fragment() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 12, 1), date(2026, 12, 3));
    let j = job();
    let item = |id: &str, start_ms: i64| {
        json!({"name": "1:r", "webinarId": id,
               "data": json!({"start": start_ms, "minutes": 10}).to_string()})
    };
    let list = json!({"count": 3, "list": [
        item("1:r*2026-12-01T10:00:00", 1_796_108_400_000_i64),
        item("1:r*2026-12-01T12:00:00", 1_796_115_600_000_i64),
        item("1:r*2026-12-01T14:00:00", 1_796_122_800_000_i64),
    ]});
    let got = Bizon365.next_step(
        &ctx,
        &j,
        &list_req(BASE, 0),
        &response(200, list.to_string().as_bytes()),
    );
    let rest = "pending=1%3Ar*2026-12-01T12%3A00%3A00&pending=1%3Ar*2026-12-01T14%3A00%3A00";
    let first = viewers_req(BASE, "1:r*2026-12-01T10:00:00", 0, rest);
    assert_eq!(got, Ok(Step::Next(first.clone())));
    let empty = fixture("bizon365", "getviewers_empty.json");
    let got = Bizon365.next_step(&ctx, &j, &first, &response(200, &empty));
    let second = viewers_req(
        BASE,
        "1:r*2026-12-01T12:00:00",
        0,
        "pending=1%3Ar*2026-12-01T14%3A00%3A00",
    );
    assert_eq!(got, Ok(Step::Next(second.clone())));
    let got = Bizon365.next_step(&ctx, &j, &second, &response(200, &empty));
    let third = viewers_req(BASE, "1:r*2026-12-01T14:00:00", 0, "");
    assert_eq!(got, Ok(Step::Next(third.clone())));
    assert_eq!(
        Bizon365.next_step(&ctx, &j, &third, &response(200, &empty)),
        Ok(Step::Done { watermark: None })
    );
}

#[test]
fn error_decisions() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 12, 1), date(2026, 12, 3));
    let j = job();
    let list = list_req(BASE, 0);
    let v = viewers_req(BASE, A, 0, "");
    let at = |req: &Request, status: u16, body: &[u8]| {
        Bizon365.next_step(&ctx, &j, req, &response(status, body))
    };
    match at(&list, 401, &fixture("bizon365", "error_401.json")) {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(reason.contains("credentials.token"), "{reason}")
        }
        other => panic!("expected terminal, got {other:?}"),
    }
    assert!(matches!(
        at(&list, 403, b""),
        Err(FetchError::Terminal { .. })
    ));
    match at(&v, 200, &fixture("bizon365", "getviewers_error.json")) {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(reason.contains("Вебинар не найден"), "{reason}")
        }
        other => panic!("expected terminal, got {other:?}"),
    }
    assert!(matches!(
        at(&list, 429, b""),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        at(&list, 502, b"<html>bad gateway</html>"),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        at(&list, 200, b"<html>login</html>"),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        at(&list, 200, br#"{"count":1}"#),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        at(&list, 404, br#"{"list":[]}"#),
        Err(FetchError::Terminal { .. })
    ));
}

#[test]
fn list_pages_normalize_to_in_window_webinars() {
    let n = normalize(&list_url(0), &fixture("bizon365", "getlist_page1.json"));
    assert_eq!(n.rejected, vec![]);
    assert_eq!(n.records, vec![webinar_a()]);
    let n = normalize(&list_url(2), &fixture("bizon365", "getlist_page2.json"));
    assert_eq!(n.records, vec![webinar_c()]);

    // Without an offer_minute option the webinar has none (core default).
    let plain = account(json!({"id": "bz", "credentials": {"token": {"env": "T"}}}));
    let ctx = NormalizeContext {
        account: &plain,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let n = Bizon365.normalize(
        &envelope(
            &list_url(0),
            200,
            &fixture("bizon365", "getlist_page1.json"),
        ),
        &ctx,
    );
    let Record::Webinar(w) = &n.records[0] else {
        panic!()
    };
    assert_eq!(w.offer_minute, None);

    // Bad items are refused with the field named.
    let body = json!({"count": 3, "list": [
        {"name": "x", "data": "{}"},
        {"name": "x", "webinarId": "1:x*2026-12-02T10:00:00", "data": "{not json"},
        {"name": "x", "webinarId": "1:x", "data": "{}"},
    ]});
    let n = normalize(&list_url(0), body.to_string().as_bytes());
    assert!(n.records.is_empty());
    let fields: Vec<(&str, &str)> = n
        .rejected
        .iter()
        .map(|e| (e.record.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("list item 1", "webinarId"),
            ("1:x*2026-12-02T10:00:00", "data"),
            ("1:x", "data.start"),
        ]
    );
}

#[test]
fn viewer_pages_normalize_to_viewers() {
    let n = normalize(
        &viewers_url(A, 0),
        &fixture("bizon365", "getviewers_a_page1.json"),
    );
    assert_eq!(n.rejected, vec![]);
    assert_eq!(n.records, viewers_page1());
    let n = normalize(
        &format!("{}#list_skip=2", viewers_url(A, 2)),
        &fixture("bizon365", "getviewers_a_page2.json"),
    );
    assert_eq!(n.records, viewers_page2());
    assert_eq!(n.rejected.len(), 1);
    assert_eq!(n.rejected[0].record, format!("{A} u_NoView"));
    assert_eq!(n.rejected[0].field, "view");
    // Error answers and empty pages give nothing.
    for name in ["getviewers_error.json", "getviewers_empty.json"] {
        assert_eq!(
            normalize(&viewers_url(A, 0), &fixture("bizon365", name)),
            Normalized::default(),
            "{name}"
        );
    }
}

#[test]
fn webinar_id_local_time_is_moscow() {
    assert_eq!(
        bizon365::webinar_id_start(A, chrono_tz::Europe::Moscow),
        Some(utc(2026, 12, 2, 16, 0, 0))
    );
    assert_eq!(
        bizon365::webinar_id_start("1:r*2026-12-02T19:00:00.000", chrono_tz::Europe::Moscow),
        Some(utc(2026, 12, 2, 16, 0, 0))
    );
    assert_eq!(
        bizon365::webinar_id_start("1:r", chrono_tz::Europe::Moscow),
        None
    );
}

#[test]
fn full_report_decodes_nested_json_strings() {
    let v = bizon365::decode_report(&fixture("bizon365", "report_get.json")).unwrap();
    assert_eq!(v["room_title"], json!("Python с нуля"));
    assert_eq!(v["report"]["webinarId"], json!(A));
    assert_eq!(
        v["report"]["report"]["usersMeta"]["u_Ab12Cd"]["phone"],
        json!("+79990000001")
    );
    assert_eq!(v["report"]["report"]["rating"], json!([["u_Ab12Cd", 10]]));
    assert_eq!(
        v["report"]["messages"],
        json!({"u_Ab12Cd": ["Добрый день", "Спасибо!"]})
    );
    assert_eq!(v["report"]["messagesTS"], json!({"u_Ab12Cd": [52, 3600]}));

    let e = bizon365::decode_report(&fixture("bizon365", "report_not_ready.json")).unwrap_err();
    assert_eq!(
        (e.source_slug.as_str(), e.field.as_str()),
        ("bizon365", "report.report")
    );
    let bad = json!({"report": {"report": "{\"usersMeta\":{}}", "messages": "{oops"}});
    let e = bizon365::decode_report(bad.to_string().as_bytes()).unwrap_err();
    assert_eq!(e.field, "report.messages");
    let e = bizon365::decode_report(b"<html>").unwrap_err();
    assert_eq!(e.field, "body");
    let e = bizon365::decode_report(br#"{"errors":["no such webinar"]}"#).unwrap_err();
    assert!(e.reason.contains("no such webinar"), "{e}");
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
            "token".to_string(),
            TOKEN.to_string(),
        )]))),
    )
}

fn script(server: &MockServer, throttle_first: bool) {
    let mut first = Vec::new();
    if throttle_first {
        first.push(MockResponse::text(429, "Too Many Requests").header("retry-after", "1"));
    }
    first.push(MockResponse::json(
        200,
        fixture("bizon365", "getlist_page1.json"),
    ));
    server
        .route("GET", LIST)
        .query("skip", "0")
        .query("limit", "100")
        .query("LiveWebinars", "1")
        .query("AutoWebinars", "1")
        .respond(first);
    server
        .route("GET", LIST)
        .query("skip", "2")
        .respond([MockResponse::json(
            200,
            fixture("bizon365", "getlist_page2.json"),
        )]);
    server
        .route("GET", VIEWERS)
        .query("webinarId", A)
        .query("skip", "0")
        .query("limit", "1000")
        .respond([MockResponse::json(
            200,
            fixture("bizon365", "getviewers_a_page1.json"),
        )]);
    server
        .route("GET", VIEWERS)
        .query("webinarId", A)
        .query("skip", "2")
        .respond([MockResponse::json(
            200,
            fixture("bizon365", "getviewers_a_page2.json"),
        )]);
    server
        .route("GET", VIEWERS)
        .query("webinarId", C)
        .respond([MockResponse::json(
            200,
            fixture("bizon365", "getviewers_empty.json"),
        )]);
}

fn server_account(server: &MockServer) -> AccountConfig {
    account(json!({
        "id": "bz",
        "base_url": server.base_url(),
        "options": {"offer_minute": 45},
        "credentials": {"token": {"env": "BIZON_TOKEN"}},
    }))
}

async fn stored(store: &MemoryStore, keys: &[String]) -> (Vec<RawEnvelope>, Normalized) {
    let a = acc();
    let ctx = NormalizeContext {
        account: &a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut envs = Vec::new();
    let mut out = Normalized::default();
    for k in keys {
        let bytes = store.get(k).await.unwrap().expect("raw envelope stored");
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains(TOKEN), "token leaked into {k}");
        let env = RawEnvelope::from_json(&bytes).unwrap();
        let n = Bizon365.normalize(&env, &ctx);
        out.records.extend(n.records);
        out.rejected.extend(n.rejected);
        envs.push(env);
    }
    (envs, out)
}

#[tokio::test]
async fn driver_walks_lists_and_viewers_and_is_idempotent() {
    let server = MockServer::start().await;
    script(&server, true);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let d = driver();
    let store = MemoryStore::new();
    let report = d.ingest(&store, &Bizon365, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    let walk: Vec<(String, Option<String>, Option<String>)> = sent
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.param("webinarId").map(str::to_string),
                r.param("skip").map(str::to_string),
            )
        })
        .collect();
    let s = |p: &str, w: Option<&str>, k: &str| {
        (p.to_string(), w.map(str::to_string), Some(k.to_string()))
    };
    assert_eq!(
        walk,
        vec![
            s(LIST, None, "0"), // 429
            s(LIST, None, "0"),
            s(VIEWERS, Some(A), "0"),
            s(VIEWERS, Some(A), "2"),
            s(LIST, None, "2"),
            s(VIEWERS, Some(C), "0"),
        ]
    );
    assert!(sent.iter().all(|r| r.header("x-token") == Some(TOKEN)));
    assert!(sent.iter().all(|r| !r.raw_query.contains(TOKEN)));
    let (envs, first) = stored(&store, &report.raw_keys()).await;
    assert_eq!(envs.len(), 6);
    assert_eq!(envs[0].status, 429);
    // The walk state is kept in raw/ but never sent.
    assert!(
        envs[2].request.url.ends_with("#list_skip=2"),
        "{}",
        envs[2].request.url
    );
    assert!(sent.iter().all(|r| !r.raw_query.contains("list_skip")));
    let mut expected = vec![webinar_a()];
    expected.extend(viewers_page1());
    expected.extend(viewers_page2());
    expected.push(webinar_c());
    assert_eq!(first.records, expected);
    assert_eq!(first.rejected.len(), 1, "the viewer without `view`");

    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &Bizon365, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    let (_, second) = stored(&store2, &report2.raw_keys()).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn driver_empty_list_and_bad_token() {
    let server = MockServer::start().await;
    server.route("GET", LIST).respond([MockResponse::json(
        200,
        fixture("bizon365", "getlist_empty.json"),
    )]);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let store = MemoryStore::new();
    let report = driver().ingest(&store, &Bizon365, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(server.requests().len(), 1);
    let (_, n) = stored(&store, &report.raw_keys()).await;
    assert_eq!(n, Normalized::default());

    let server = MockServer::start().await;
    server.route("GET", LIST).respond([MockResponse::json(
        401,
        fixture("bizon365", "error_401.json"),
    )]);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let store = MemoryStore::new();
    let report = driver().ingest(&store, &Bizon365, &ctx, "run1").await;
    assert_eq!(report.failed().len(), 1);
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("401") && !err.contains(TOKEN), "{err}");
    assert_eq!(server.requests().len(), 1, "terminal: no retry");
    stored(&store, &report.raw_keys()).await;
}
