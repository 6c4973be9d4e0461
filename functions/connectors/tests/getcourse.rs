//! `getcourse`: export start/poll decisions, normalization of recorded
//! exports, and the driver loop against a mock server.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{MockResponse, MockServer, account, date, fetch_context, fixture};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::getcourse::{self, Getcourse};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::{
    Connector, FetchError, Job, NormalizeContext, RawEnvelope, Request, Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{Order, OrderStatus, Payment, PaymentStatus, Record, Utm};
use voronka_store::MemoryStore;
use voronka_store::Store;

const BASE: &str = "https://school.getcourse.ru";

fn acc(poll: Option<i64>) -> AccountConfig {
    let mut options = json!({"school": "school", "crm_deal_field": "ID сделки amoCRM"});
    if let Some(p) = poll {
        options["poll_interval_secs"] = json!(p);
    }
    account(json!({
        "id": "gc",
        "timezone": "Europe/Moscow",
        "credentials": {"key": {"env": "GC_KEY"}},
        "options": options,
    }))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
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

fn job(kind: &str) -> Job {
    Job {
        entity: kind.into(),
        window: Some((date(2026, 11, 1), date(2026, 11, 30))),
        meta: BTreeMap::from([("kind".to_string(), kind.to_string())]),
    }
}

fn envelope(kind: &str, url: &str, status: u16, body: &[u8]) -> RawEnvelope {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    RawEnvelope {
        v: 1,
        source: "getcourse".into(),
        account: "gc".into(),
        run: "r1".into(),
        seq: 1,
        entity: kind.into(),
        window_from: Some(date(2026, 11, 1)),
        window_to: Some(date(2026, 11, 30)),
        meta: BTreeMap::from([("kind".to_string(), kind.to_string())]),
        request: RawRequest {
            method: "GET".into(),
            url: url.into(),
            body: None,
        },
        status,
        headers: BTreeMap::new(),
        received_at: utc(2026, 12, 1, 3, 0, 0),
        body_encoding,
        body,
    }
}

fn normalize(kind: &str, body: &[u8]) -> voronka_connectors::Normalized {
    let a = acc(Some(0));
    let ctx = NormalizeContext {
        account: &a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    Getcourse.normalize(
        &envelope(
            kind,
            &format!("{BASE}/pl/api/account/exports/1234567?key=***"),
            200,
            body,
        ),
        &ctx,
    )
}

#[test]
fn options_base_url_and_validation() {
    let a = acc(None);
    assert_eq!(Getcourse.default_base_url(&a), BASE);
    assert_eq!(Getcourse.validate(&a), Ok(()));
    assert_eq!(getcourse::poll_interval(&a), Duration::from_secs(30));
    assert_eq!(getcourse::poll_interval(&acc(Some(0))), Duration::ZERO);
    let rl = Getcourse.rate_limit();
    assert_eq!(rl.budget, Some((100, Duration::from_secs(7200))));

    let no_school = account(json!({"id": "gc", "credentials": {"key": {"env": "K"}}}));
    let e = Getcourse.validate(&no_school).unwrap_err();
    assert!(e.contains("options.school"), "{e}");
    let with_base = account(json!({"id": "gc", "base_url": "http://127.0.0.1:1",
        "credentials": {"key": {"env": "K"}}}));
    assert_eq!(Getcourse.validate(&with_base), Ok(()));
    let bad_poll = account(json!({"id": "gc", "credentials": {"key": {"env": "K"}},
        "options": {"school": "s", "poll_interval_secs": "soon"}}));
    assert!(
        Getcourse
            .validate(&bad_poll)
            .unwrap_err()
            .contains("poll_interval_secs")
    );
    let no_key = account(json!({"id": "gc", "options": {"school": "s"}}));
    assert!(
        Getcourse
            .validate(&no_key)
            .unwrap_err()
            .contains("credentials.key")
    );
}

#[test]
fn plan_and_start_requests() {
    let a = acc(None);
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 30));
    let jobs = Getcourse.plan(&ctx);
    assert_eq!(jobs, vec![job("deals"), job("payments")]);
    let r = Getcourse.first_request(&ctx, &jobs[0]);
    assert_eq!(
        r,
        Request::get(format!("{BASE}/pl/api/account/deals"))
            .query("created_at[from]", "2026-11-01")
            .query("created_at[to]", "2026-11-30")
    );
    let r = Getcourse.first_request(&ctx, &jobs[1]);
    assert_eq!(r.url, format!("{BASE}/pl/api/account/payments"));
    assert_eq!(
        Getcourse.auth(),
        voronka_connectors::AuthScheme::Query {
            param: "key",
            credential: "key"
        }
    );
}

#[test]
fn export_state_machine() {
    let a = acc(None);
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 30));
    let j = job("deals");
    let start = Getcourse.first_request(&ctx, &j);
    let poll = Request::get(format!("{BASE}/pl/api/account/exports/1234567"));
    let step = |req: &Request, name: &str| {
        Getcourse.next_step(&ctx, &j, req, &response(200, &fixture("getcourse", name)))
    };

    // start → wait the poll interval, then poll the export.
    assert_eq!(
        step(&start, "export_start.json"),
        Ok(Step::Wait(Duration::from_secs(30), poll.clone()))
    );
    // 909 and 905: not ready, poll the same export again.
    for name in ["export_not_ready_909.json", "export_not_ready_905.json"] {
        assert_eq!(
            step(&poll, name),
            Ok(Step::Wait(Duration::from_secs(30), poll.clone())),
            "{name}"
        );
    }
    // ready → done.
    assert_eq!(
        step(&poll, "export_deals_ready.json"),
        Ok(Step::Done { watermark: None })
    );
    // rate limited → retryable with a long wait.
    match step(&poll, "export_rate_limited.json") {
        Err(FetchError::Retryable { after, .. }) => {
            assert_eq!(after, Some(getcourse::RATE_LIMITED_WAIT));
            assert!(after.unwrap() >= Duration::from_secs(600));
        }
        other => panic!("expected retryable, got {other:?}"),
    }
    match step(&start, "export_rate_limited.json") {
        Err(FetchError::Retryable { .. }) => {}
        other => panic!("expected retryable, got {other:?}"),
    }
    // 910: restart the export, at most twice, then terminal.
    let Ok(Step::Next(restart1)) = step(&poll, "export_expired_910.json") else {
        panic!("910 should restart the export");
    };
    assert_eq!(
        restart1.url,
        format!("{BASE}/pl/api/account/deals#export_attempt=1")
    );
    assert_eq!(restart1.query, start.query);
    // The attempt follows the export through its start and polls.
    let Ok(Step::Wait(_, poll1)) = step(&restart1, "export_start.json") else {
        panic!("start after restart should poll");
    };
    assert_eq!(
        poll1.url,
        format!("{BASE}/pl/api/account/exports/1234567#export_attempt=1")
    );
    let Ok(Step::Next(restart2)) = step(&poll1, "export_expired_910.json") else {
        panic!("second 910 should restart again");
    };
    let Ok(Step::Wait(_, poll2)) = step(&restart2, "export_start.json") else {
        panic!("start should poll");
    };
    match step(&poll2, "export_expired_910.json") {
        Err(FetchError::Terminal { reason, .. }) => assert!(reason.contains("910"), "{reason}"),
        other => panic!("third 910 should be terminal, got {other:?}"),
    }
    // A failed start (bad key, trial plan) is terminal.
    let bad = r#"{"success":false,"error":true,"error_message":"Неверный ключ"}"#.as_bytes();
    assert!(matches!(
        Getcourse.next_step(&ctx, &j, &start, &response(200, bad)),
        Err(FetchError::Terminal { .. })
    ));
    // Unknown poll error is terminal, not an endless wait.
    let odd = br#"{"success":false,"error":true,"error_message":"???","error_code":999}"#;
    assert!(matches!(
        Getcourse.next_step(&ctx, &j, &poll, &response(200, odd)),
        Err(FetchError::Terminal { .. })
    ));
}

#[test]
fn poll_interval_comes_from_options() {
    let a = acc(Some(0));
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 30));
    let j = job("payments");
    let start = Getcourse.first_request(&ctx, &j);
    let got = Getcourse.next_step(
        &ctx,
        &j,
        &start,
        &response(200, &fixture("getcourse", "export_start.json")),
    );
    assert!(matches!(got, Ok(Step::Wait(d, _)) if d == Duration::ZERO));
}

fn order(id: &str, number: &str, at: DateTime<Utc>, status: OrderStatus) -> Order {
    Order {
        source: "getcourse".into(),
        account: "gc".into(),
        id: id.into(),
        number: number.into(),
        created_at: at,
        name: String::new(),
        email: String::new(),
        phone: String::new(),
        cost: dec("14900"),
        currency: "RUB".into(),
        status,
        product: "Курс «Python с нуля»".into(),
        manager: String::new(),
        crm_deal_id: String::new(),
        utm: Utm::default(),
    }
}

#[test]
fn deals_export_normalizes_by_column_name() {
    let n = normalize("deals", &fixture("getcourse", "export_deals_ready.json"));
    let orders: Vec<Order> = n
        .records
        .iter()
        .map(|r| match r {
            Record::Order(o) => o.clone(),
            other => panic!("not an order: {other:?}"),
        })
        .collect();
    let expected = vec![
        Order {
            name: "Иван Петров".into(),
            email: "ivan@example.com".into(),
            phone: "+79990000001".into(),
            manager: "Анна Смирнова".into(),
            crm_deal_id: "31415926".into(),
            utm: Utm {
                source: "yandex".into(),
                medium: "cpc".into(),
                campaign: "python_nov".into(),
                content: "banner_1".into(),
                term: "курсы python".into(),
            },
            // 09:00 Moscow (UTC+3).
            ..order(
                "871035642",
                "11892043",
                utc(2026, 11, 15, 6, 0, 0),
                OrderStatus::Paid,
            )
        },
        Order {
            name: "Мария Иванова".into(),
            email: "maria@example.com".into(),
            cost: dec("1500.50"),
            utm: Utm {
                source: "facebook".into(),
                medium: "paid".into(),
                campaign: "fb_nov".into(),
                ..Utm::default()
            },
            ..order(
                "871035643",
                "11892044",
                utc(2026, 11, 16, 20, 30, 0),
                OrderStatus::PartPaid,
            )
        },
        Order {
            email: "test@example.com".into(),
            phone: "+79990000003".into(),
            cost: Decimal::ZERO,
            product: "Пробный урок".into(),
            ..order(
                "871035644",
                "11892045",
                utc(2026, 11, 17, 7, 0, 0),
                OrderStatus::New,
            )
        },
        Order {
            name: "Олег".into(),
            email: "oleg@example.com".into(),
            manager: "Анна Смирнова".into(),
            utm: Utm {
                source: "instagram".into(),
                medium: "stories".into(),
                campaign: "ig_nov".into(),
                ..Utm::default()
            },
            ..order(
                "871035645",
                "11892046",
                utc(2026, 11, 17, 8, 0, 0),
                OrderStatus::InProgress,
            )
        },
        Order {
            name: "Тест".into(),
            email: "fake@example.com".into(),
            ..order(
                "871035646",
                "11892047",
                utc(2026, 11, 18, 9, 0, 0),
                OrderStatus::False,
            )
        },
        Order {
            name: "Пётр".into(),
            email: "petr@example.com".into(),
            ..order(
                "871035647",
                "11892048",
                utc(2026, 11, 18, 10, 0, 0),
                OrderStatus::Cancelled,
            )
        },
    ];
    assert_eq!(orders, expected);
    let rejected: Vec<(String, String)> = n
        .rejected
        .iter()
        .map(|e| (e.record.clone(), e.field.clone()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            ("871035648".to_string(), "Статус".to_string()),
            ("871035649".to_string(), "Дата создания".to_string()),
            ("871035650".to_string(), "Стоимость, RUB".to_string()),
        ]
    );
    assert!(n.rejected[0].reason.contains("Архивирован"));
    assert!(n.rejected.iter().all(|e| e.source_slug == "getcourse"));
}

#[test]
fn columns_are_found_by_name_not_position() {
    // Same data, columns reordered and a currency other than RUB.
    let body = json!({"success": true, "info": {
        "fields": ["Статус", "utm_source", "Стоимость, USD", "Дата создания", "Номер", "ID заказа"],
        "items": [["Оплачен", "tg", "99.5", "2026-11-15 12:00:00", "77", "900"]]}});
    let n = normalize("deals", body.to_string().as_bytes());
    assert_eq!(n.rejected, vec![]);
    let Record::Order(o) = &n.records[0] else {
        panic!()
    };
    assert_eq!(
        (
            o.id.as_str(),
            o.number.as_str(),
            o.cost,
            o.currency.as_str()
        ),
        ("900", "77", dec("99.5"), "USD")
    );
    assert_eq!(o.status, OrderStatus::Paid);
    assert_eq!(o.utm.source, "tg");
    assert_eq!(o.created_at, utc(2026, 11, 15, 9, 0, 0));

    // No cost column: the page is refused, loudly.
    let body = json!({"success": true, "info": {"fields": ["ID заказа", "Дата создания", "Статус"],
        "items": [["1", "2026-11-15 12:00:00", "Новый"]]}});
    let n = normalize("deals", body.to_string().as_bytes());
    assert!(n.records.is_empty());
    assert_eq!(n.rejected[0].record, "page");
}

fn payment(
    id: &str,
    order: &str,
    at: DateTime<Utc>,
    amount: &str,
    status: PaymentStatus,
) -> Payment {
    Payment {
        source: "getcourse".into(),
        account: "gc".into(),
        id: id.into(),
        order_number: order.into(),
        paid_at: at,
        amount: dec(amount),
        currency: "RUB".into(),
        status,
        name: String::new(),
        email: String::new(),
        phone: String::new(),
    }
}

#[test]
fn payments_export_normalizes_amounts_and_refunds() {
    let n = normalize(
        "payments",
        &fixture("getcourse", "export_payments_ready.json"),
    );
    let got: Vec<Payment> = n
        .records
        .iter()
        .map(|r| match r {
            Record::Payment(p) => p.clone(),
            other => panic!("not a payment: {other:?}"),
        })
        .collect();
    let ivan = |p: Payment| Payment {
        name: "Иван Петров".into(),
        email: "ivan@example.com".into(),
        ..p
    };
    let expected = vec![
        ivan(payment(
            "3001",
            "11892043",
            utc(2026, 11, 15, 6, 5, 12),
            "14900",
            PaymentStatus::Received,
        )),
        Payment {
            name: "Мария Иванова".into(),
            email: "maria@example.com".into(),
            ..payment(
                "3002",
                "11892044",
                utc(2026, 11, 16, 20, 45, 0),
                "1500.50",
                PaymentStatus::Received,
            )
        },
        ivan(payment(
            "3003",
            "11892043",
            utc(2026, 11, 20, 9, 0, 0),
            "-300",
            PaymentStatus::Refunded,
        )),
        Payment {
            name: "Олег".into(),
            email: "oleg@example.com".into(),
            ..payment(
                "3004",
                "11892046",
                utc(2026, 11, 17, 8, 5, 0),
                "14900",
                PaymentStatus::Expected,
            )
        },
        Payment {
            name: "Eva".into(),
            email: "eva@example.com".into(),
            currency: "USD".into(),
            ..payment(
                "3005",
                "",
                utc(2026, 11, 18, 7, 0, 0),
                "99.90",
                PaymentStatus::Received,
            )
        },
        Payment {
            name: "Ира".into(),
            email: "ira@example.com".into(),
            ..payment(
                "3008",
                "11892052",
                utc(2026, 11, 19, 7, 0, 0),
                "500",
                PaymentStatus::Other,
            )
        },
    ];
    assert_eq!(got, expected);
    let rejected: Vec<(&str, &str)> = n
        .rejected
        .iter()
        .map(|e| (e.record.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(rejected, vec![("3006", "Сумма"), ("3007", "Дата создания")]);
}

#[test]
fn amount_strings() {
    let cases = [
        ("300 руб.", "300", Some("RUB")),
        ("1 500,50 руб.", "1500.50", Some("RUB")),
        ("1\u{a0}500,50\u{a0}руб.", "1500.50", Some("RUB")),
        ("14900", "14900", None),
        ("99.90 USD", "99.90", Some("USD")),
        ("$ 10", "10", Some("USD")),
        ("12,5 €", "12.5", Some("EUR")),
        ("7 EUR", "7", Some("EUR")),
    ];
    for (text, value, cur) in cases {
        let (v, c) = getcourse::parse_amount(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!((v, c.as_deref()), (dec(value), cur), "{text}");
    }
    for bad in ["", "много", "1,500.50", "10 попугаев"] {
        assert!(getcourse::parse_amount(bad).is_err(), "{bad}");
    }
}

#[test]
fn non_data_responses_normalize_to_nothing() {
    for name in [
        "export_start.json",
        "export_not_ready_909.json",
        "export_not_ready_905.json",
        "export_expired_910.json",
        "export_rate_limited.json",
    ] {
        let n = normalize("deals", &fixture("getcourse", name));
        assert_eq!(n, Default::default(), "{name}");
    }
}

fn driver() -> Driver {
    Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            base_backoff: Duration::ZERO,
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "key".to_string(),
            "gc-secret-key".to_string(),
        )]))),
    )
}

async fn normalized_from_store(store: &MemoryStore, keys: &[String]) -> Vec<Record> {
    let a = acc(Some(0));
    let ctx = NormalizeContext {
        account: &a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut out = Vec::new();
    for k in keys {
        let bytes = store.get(k).await.unwrap().expect("raw envelope stored");
        let env = RawEnvelope::from_json(&bytes).unwrap();
        assert!(
            !env.request.url.contains("gc-secret-key"),
            "{}",
            env.request.url
        );
        out.extend(Getcourse.normalize(&env, &ctx).records);
    }
    out
}

#[tokio::test]
async fn driver_runs_start_poll_ready_within_budget_and_is_idempotent() {
    let server = MockServer::start().await;
    server
        .route("GET", "/pl/api/account/deals")
        .query("created_at[from]", "2026-11-01")
        .query("created_at[to]", "2026-11-30")
        .query("key", "gc-secret-key")
        .respond([MockResponse::json(
            200,
            br#"{"success":true,"info":{"export_id":111}}"#.to_vec(),
        )]);
    server
        .route("GET", "/pl/api/account/payments")
        .respond([MockResponse::json(
            200,
            br#"{"success":true,"info":{"export_id":222}}"#.to_vec(),
        )]);
    server.route("GET", "/pl/api/account/exports/111").respond([
        MockResponse::json(200, fixture("getcourse", "export_not_ready_909.json")),
        MockResponse::json(200, fixture("getcourse", "export_not_ready_909.json")),
        MockResponse::json(200, fixture("getcourse", "export_deals_ready.json")),
    ]);
    server.route("GET", "/pl/api/account/exports/222").respond([
        MockResponse::json(200, fixture("getcourse", "export_not_ready_905.json")),
        MockResponse::json(200, fixture("getcourse", "export_payments_ready.json")),
    ]);
    let a = account(json!({
        "id": "gc",
        "base_url": server.base_url(),
        "timezone": "Europe/Moscow",
        "credentials": {"key": {"env": "GC_KEY"}},
        "options": {"poll_interval_secs": 0, "crm_deal_field": "ID сделки amoCRM"},
    }));
    let ctx = fetch_context(
        &a,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 30),
    );
    let store = MemoryStore::new();
    let d = driver();
    let report = d.ingest(&store, &Getcourse, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let requests: Vec<u32> = report.jobs.iter().map(|j| j.requests).collect();
    assert_eq!(requests, vec![4, 3]);
    let sent = server.requests();
    assert_eq!(sent.len(), 7);
    assert!(sent.len() <= 100, "within the 100 / 2 h budget");
    assert!(sent.iter().all(|r| r.param("key") == Some("gc-secret-key")));
    let paths: Vec<String> = sent.iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/pl/api/account/deals",
            "/pl/api/account/exports/111",
            "/pl/api/account/exports/111",
            "/pl/api/account/exports/111",
            "/pl/api/account/payments",
            "/pl/api/account/exports/222",
            "/pl/api/account/exports/222",
        ]
    );
    let first = normalized_from_store(&store, &report.raw_keys()).await;
    assert_eq!(first.len(), 12, "6 orders + 6 payments");

    // The same window again gives identical records.
    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &Getcourse, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    let second = normalized_from_store(&store2, &report2.raw_keys()).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn driver_restarts_an_expired_export() {
    let server = MockServer::start().await;
    server.route("GET", "/pl/api/account/deals").respond([
        MockResponse::json(200, br#"{"success":true,"info":{"export_id":1}}"#.to_vec()),
        MockResponse::json(200, br#"{"success":true,"info":{"export_id":2}}"#.to_vec()),
    ]);
    server
        .route("GET", "/pl/api/account/exports/1")
        .respond([MockResponse::json(
            200,
            fixture("getcourse", "export_expired_910.json"),
        )]);
    server
        .route("GET", "/pl/api/account/exports/2")
        .respond([MockResponse::json(
            200,
            fixture("getcourse", "export_deals_ready.json"),
        )]);
    server
        .route("GET", "/pl/api/account/payments")
        .respond([MockResponse::json(
            200,
            fixture("getcourse", "export_expired_910.json"),
        )]);
    let a = account(json!({
        "id": "gc",
        "base_url": server.base_url(),
        "credentials": {"key": {"env": "GC_KEY"}},
        "options": {"poll_interval_secs": 0},
    }));
    let ctx = fetch_context(
        &a,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 30),
    );
    let store = MemoryStore::new();
    let report = driver().ingest(&store, &Getcourse, &ctx, "run1").await;
    // deals: start, 910, restart, ready.
    assert!(report.jobs[0].ok(), "{:?}", report.jobs[0]);
    assert_eq!(report.jobs[0].requests, 4);
    // payments: the start itself answers 910 → an unsuccessful start is terminal.
    assert!(report.jobs[1].failed());
    // The restart's fragment is kept in raw/ but never sent.
    let sent = server.requests_to("/pl/api/account/deals");
    assert_eq!(sent.len(), 2);
    let last = store
        .get(&report.jobs[0].raw_keys[2])
        .await
        .unwrap()
        .unwrap();
    let env = RawEnvelope::from_json(&last).unwrap();
    assert!(
        env.request.url.ends_with("#export_attempt=1"),
        "{}",
        env.request.url
    );
}
