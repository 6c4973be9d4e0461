//! `amocrm`: normalization of recorded-shape pages, next-step decisions,
//! request shapes, and the driver loop against a mock server.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{MockResponse, MockServer, account, date, fetch_context, fixture, fixture_str};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use voronka_connectors::amocrm::Amocrm;
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::{
    Connector, FetchError, Job, NormalizeContext, ParseError, RawEnvelope, Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{
    Contact, Deal, Manager, Pipeline, PipelineStatus, Record, StatusChange, StatusKind, Utm,
};
use voronka_store::{MemoryStore, Store};

const TOKEN: &str = "amo-long-lived-token-xyz";

fn acc() -> AccountConfig {
    account(json!({
        "id": "main",
        "options": {"subdomain": "school"},
        "credentials": {"token": {"env": "AMO_TOKEN"}},
    }))
}

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap()
}

fn envelope(entity: &str, status: u16, body: &[u8]) -> RawEnvelope {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    RawEnvelope {
        v: 1,
        source: "amocrm".into(),
        account: "main".into(),
        run: "r1".into(),
        seq: 1,
        entity: entity.into(),
        window_from: None,
        window_to: None,
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "GET".into(),
            url: "https://school.amocrm.ru/api/v4/x".into(),
            body: None,
        },
        status,
        headers: BTreeMap::new(),
        received_at: utc(2026, 12, 3, 12, 0, 0),
        body_encoding,
        body,
    }
}

fn normalize(entity: &str, body: &[u8]) -> voronka_connectors::Normalized {
    let account = acc();
    let ctx = NormalizeContext {
        account: &account,
        school_tz: chrono_tz::Europe::Moscow,
    };
    Amocrm.normalize(&envelope(entity, 200, body), &ctx)
}

fn job(entity: &str, from: Option<&str>) -> Job {
    let mut meta = BTreeMap::new();
    if let Some(f) = from {
        meta.insert("from".to_string(), f.to_string());
    }
    Job {
        entity: entity.into(),
        window: None,
        meta,
    }
}

fn response(status: u16, body: &[u8]) -> Response {
    Response {
        status,
        headers: BTreeMap::new(),
        body: bytes::Bytes::copy_from_slice(body),
    }
}

fn deal_1() -> Deal {
    Deal {
        source: "amocrm".into(),
        account: "main".into(),
        id: "21000001".into(),
        name: "Заявка: курс Python".into(),
        pipeline_id: "5500001".into(),
        status_id: "142".into(),
        responsible_user_id: "7001001".into(),
        price: Decimal::from(45000),
        currency: "RUB".into(),
        created_at: utc(2023, 11, 14, 22, 13, 20),
        updated_at: utc(2023, 11, 14, 23, 13, 20),
        closed_at: Some(utc(2023, 11, 14, 23, 13, 20)),
        contact_ids: vec!["30000001".into()],
        utm: Utm {
            source: "yandex".into(),
            medium: "cpc".into(),
            campaign: "python_autumn".into(),
            content: String::new(),
            term: String::new(),
        },
        product: String::new(),
        deleted: false,
    }
}

#[test]
fn leads_page_1_normalizes_exactly() {
    let out = normalize("leads", &fixture("amocrm", "leads_page1.json"));
    assert_eq!(out.rejected, vec![]);
    assert_eq!(
        out.records,
        vec![
            Record::Deal(deal_1()),
            Record::Deal(Deal {
                source: "amocrm".into(),
                account: "main".into(),
                id: "21000002".into(),
                name: "Сделка #21000002".into(),
                pipeline_id: "5500001".into(),
                status_id: "143".into(),
                responsible_user_id: "7001002".into(),
                price: Decimal::ZERO,
                currency: "RUB".into(),
                created_at: utc(2023, 11, 14, 22, 30, 0),
                updated_at: utc(2023, 11, 15, 1, 0, 0),
                closed_at: Some(utc(2023, 11, 15, 1, 0, 0)),
                contact_ids: vec![],
                utm: Utm::default(),
                product: String::new(),
                deleted: false,
            }),
        ]
    );
}

#[test]
fn leads_page_2_uses_hand_made_utm_fields_and_rejects_only_the_bad_lead() {
    let out = normalize("leads", &fixture("amocrm", "leads_page2.json"));
    assert_eq!(
        out.records,
        vec![Record::Deal(Deal {
            source: "amocrm".into(),
            account: "main".into(),
            id: "21000003".into(),
            name: "Интенсив по аналитике".into(),
            pipeline_id: "5500001".into(),
            status_id: "5500003".into(),
            responsible_user_id: "7001001".into(),
            price: Decimal::from(129900),
            currency: "RUB".into(),
            created_at: utc(2023, 11, 15, 20, 26, 40),
            updated_at: utc(2023, 11, 15, 22, 13, 20),
            closed_at: None,
            contact_ids: vec!["30000002".into(), "30000003".into()],
            utm: Utm {
                source: "telegram".into(),
                medium: "social".into(),
                campaign: "post_0311".into(),
                content: String::new(),
                term: String::new(),
            },
            product: String::new(),
            deleted: true,
        })]
    );
    assert_eq!(out.rejected.len(), 1);
    let e: &ParseError = &out.rejected[0];
    assert_eq!(e.source_slug, "amocrm");
    assert_eq!(e.record, "leads 21000004");
    assert_eq!(e.field, "created_at");
    assert!(e.reason.contains("вчера"), "{}", e.reason);
}

#[test]
fn currency_comes_from_option_then_account() {
    let with_option = account(json!({
        "id": "main", "currency": "USD",
        "options": {"subdomain": "school", "currency": "KZT"},
    }));
    let with_account =
        account(json!({"id": "main", "currency": "EUR", "options": {"subdomain": "school"}}));
    let body = fixture("amocrm", "leads_page1.json");
    for (acc, want) in [(with_option, "KZT"), (with_account, "EUR")] {
        let ctx = NormalizeContext {
            account: &acc,
            school_tz: chrono_tz::Europe::Moscow,
        };
        let out = Amocrm.normalize(&envelope("leads", 200, &body), &ctx);
        let Record::Deal(d) = &out.records[0] else {
            panic!("not a deal")
        };
        assert_eq!(d.currency, want);
    }
}

#[test]
fn contacts_normalize_exactly() {
    let out = normalize("contacts", &fixture("amocrm", "contacts.json"));
    assert_eq!(out.rejected, vec![]);
    assert_eq!(
        out.records,
        vec![
            Record::Contact(Contact {
                source: "amocrm".into(),
                account: "main".into(),
                id: "30000001".into(),
                name: "Анна Смирнова".into(),
                emails: vec!["anna@example.com".into()],
                phones: vec!["+7 900 000-00-01".into(), "+7 (900) 000-00-02".into()],
                created_at: utc(2023, 11, 14, 19, 26, 40),
                updated_at: utc(2023, 11, 14, 22, 15, 0),
            }),
            Record::Contact(Contact {
                source: "amocrm".into(),
                account: "main".into(),
                id: "30000002".into(),
                name: "Борис".into(),
                emails: vec![],
                phones: vec![],
                created_at: utc(2023, 11, 3, 8, 26, 40),
                updated_at: utc(2023, 11, 14, 22, 30, 0),
            }),
        ]
    );
}

#[test]
fn users_normalize_to_managers() {
    let out = normalize("users", &fixture("amocrm", "users.json"));
    assert_eq!(out.rejected, vec![]);
    assert_eq!(
        out.records,
        vec![
            Record::Manager(Manager {
                source: "amocrm".into(),
                account: "main".into(),
                id: "7001001".into(),
                name: "Мария Менеджер".into(),
                email: "maria@school.example".into(),
            }),
            Record::Manager(Manager {
                source: "amocrm".into(),
                account: "main".into(),
                id: "7001002".into(),
                name: "Иван Продажи".into(),
                email: "ivan@school.example".into(),
            }),
        ]
    );
}

#[test]
fn pipelines_normalize_with_status_kinds_in_sort_order() {
    let out = normalize("pipelines", &fixture("amocrm", "pipelines.json"));
    assert_eq!(out.rejected, vec![]);
    let st = |id: &str, name: &str, sort: i64, kind| PipelineStatus {
        id: id.into(),
        name: name.into(),
        sort,
        kind,
    };
    assert_eq!(
        out.records,
        vec![Record::Pipeline(Pipeline {
            source: "amocrm".into(),
            account: "main".into(),
            id: "5500001".into(),
            name: "Воронка".into(),
            statuses: vec![
                st("5500002", "Неразобранное", 10, StatusKind::Unsorted),
                st("5500003", "Первичный контакт", 20, StatusKind::Open),
                st("5500004", "Ожидает оплаты", 30, StatusKind::Open),
                st("142", "Успешно реализовано", 10000, StatusKind::Won),
                st("143", "Закрыто и не реализовано", 11000, StatusKind::Lost),
            ],
        })]
    );
}

#[test]
fn events_normalize_to_status_changes() {
    let out = normalize("events", &fixture("amocrm", "events.json"));
    assert_eq!(out.rejected, vec![]);
    assert_eq!(
        out.records,
        vec![
            Record::StatusChange(StatusChange {
                source: "amocrm".into(),
                account: "main".into(),
                id: "01hf3m0s7g4x2k9v6b8n1q5r0a".into(),
                deal_id: "21000001".into(),
                at: utc(2023, 11, 14, 23, 13, 20),
                from_pipeline_id: "5500001".into(),
                from_status_id: "5500004".into(),
                to_pipeline_id: "5500001".into(),
                to_status_id: "142".into(),
            }),
            Record::StatusChange(StatusChange {
                source: "amocrm".into(),
                account: "main".into(),
                id: "01hf3q9d2c8w5y7t3m6p4j1k0b".into(),
                deal_id: "21000002".into(),
                at: utc(2023, 11, 15, 1, 0, 0),
                from_pipeline_id: "5500001".into(),
                from_status_id: "5500003".into(),
                to_pipeline_id: "5500001".into(),
                to_status_id: "143".into(),
            }),
        ]
    );
}

#[test]
fn empty_and_error_responses_give_no_records() {
    let account = acc();
    let ctx = NormalizeContext {
        account: &account,
        school_tz: chrono_tz::Europe::Moscow,
    };
    assert_eq!(
        Amocrm.normalize(&envelope("leads", 204, b""), &ctx),
        Default::default()
    );
    assert_eq!(
        Amocrm.normalize(
            &envelope("leads", 429, &fixture("amocrm", "error_429.html")),
            &ctx
        ),
        Default::default()
    );
    assert_eq!(
        Amocrm.normalize(
            &envelope("leads", 401, &fixture("amocrm", "error_401.json")),
            &ctx
        ),
        Default::default()
    );
    let bad = Amocrm.normalize(&envelope("leads", 200, b"<html>"), &ctx);
    assert_eq!(bad.records, vec![]);
    assert_eq!(bad.rejected[0].record, "page");
}

#[test]
fn normalizing_twice_gives_the_same_records() {
    for (entity, file) in [
        ("leads", "leads_page1.json"),
        ("leads", "leads_page2.json"),
        ("contacts", "contacts.json"),
        ("users", "users.json"),
        ("pipelines", "pipelines.json"),
        ("events", "events.json"),
    ] {
        let body = fixture("amocrm", file);
        assert_eq!(normalize(entity, &body), normalize(entity, &body), "{file}");
    }
}

#[test]
fn validate_names_the_key() {
    assert_eq!(Amocrm.validate(&acc()), Ok(()));
    let no_sub = account(json!({"id": "main", "credentials": {"token": {"env": "T"}}}));
    assert!(
        Amocrm
            .validate(&no_sub)
            .unwrap_err()
            .contains("`subdomain`")
    );
    let with_base = account(json!({
        "id": "main", "base_url": "http://127.0.0.1:1",
        "credentials": {"token": {"env": "T"}},
    }));
    assert_eq!(Amocrm.validate(&with_base), Ok(()));
    let bad_sub = account(json!({
        "id": "main", "options": {"subdomain": "school.amocrm.ru"},
        "credentials": {"token": {"env": "T"}},
    }));
    assert!(
        Amocrm
            .validate(&bad_sub)
            .unwrap_err()
            .contains("`subdomain`")
    );
    let no_token = account(json!({"id": "main", "options": {"subdomain": "school"}}));
    assert!(Amocrm.validate(&no_token).unwrap_err().contains("`token`"));
    assert_eq!(Amocrm.default_base_url(&acc()), "https://school.amocrm.ru");
}

#[test]
fn plan_and_first_requests() {
    let account = acc();
    let mut ctx = fetch_context(
        &account,
        "https://school.amocrm.ru",
        date(2026, 12, 1),
        date(2026, 12, 3),
    );
    ctx.watermarks.insert("leads".into(), "1700000000".into());
    let jobs = Amocrm.plan(&ctx);
    let entities: Vec<&str> = jobs.iter().map(|j| j.entity.as_str()).collect();
    assert_eq!(
        entities,
        vec!["pipelines", "users", "contacts", "leads", "events"]
    );

    let shape = |j: &Job| {
        let r = Amocrm.first_request(&ctx, j);
        assert_eq!(r.method, "GET");
        (r.url, r.query)
    };
    let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        shape(&jobs[0]),
        (
            "https://school.amocrm.ru/api/v4/leads/pipelines".into(),
            vec![]
        )
    );
    assert_eq!(
        shape(&jobs[1]),
        (
            "https://school.amocrm.ru/api/v4/users".into(),
            q(&[("limit", "250"), ("page", "1")])
        )
    );
    assert_eq!(
        shape(&jobs[2]),
        (
            "https://school.amocrm.ru/api/v4/contacts".into(),
            q(&[
                ("limit", "250"),
                ("page", "1"),
                ("order[updated_at]", "asc")
            ])
        )
    );
    assert_eq!(
        shape(&jobs[3]),
        (
            "https://school.amocrm.ru/api/v4/leads".into(),
            q(&[
                ("limit", "250"),
                ("page", "1"),
                ("order[updated_at]", "asc"),
                ("with", "contacts"),
                ("filter[updated_at][from]", "1700000000"),
            ])
        )
    );
    assert_eq!(
        shape(&jobs[4]),
        (
            "https://school.amocrm.ru/api/v4/events".into(),
            q(&[
                ("limit", "100"),
                ("page", "1"),
                ("filter[type]", "lead_status_changed")
            ])
        )
    );
}

#[test]
fn next_step_decisions() {
    let account = acc();
    let ctx = fetch_context(
        &account,
        "https://school.amocrm.ru",
        date(2026, 12, 1),
        date(2026, 12, 3),
    );
    let leads = job("leads", Some("1690000000"));
    let first = Amocrm.first_request(&ctx, &leads);

    // A page with `_links.next`: follow it on the base host, carrying the watermark.
    let step = Amocrm
        .next_step(
            &ctx,
            &leads,
            &first,
            &response(200, &fixture("amocrm", "leads_page1.json")),
        )
        .unwrap();
    let Step::Next(next) = step else {
        panic!("expected Next, got {step:?}")
    };
    assert_eq!(
        next.url,
        "https://school.amocrm.ru/api/v4/leads?limit=250&page=2&order%5Bupdated_at%5D=asc&with=contacts#wm=1700010000"
    );
    // The last page: done with the greatest updated_at seen.
    let step = Amocrm
        .next_step(
            &ctx,
            &leads,
            &next,
            &response(200, &fixture("amocrm", "leads_page2.json")),
        )
        .unwrap();
    assert_eq!(
        step,
        Step::Done {
            watermark: Some("1700086400".into())
        }
    );
    // 204 after a full page: done with the carried watermark.
    assert_eq!(
        Amocrm
            .next_step(&ctx, &leads, &next, &response(204, b""))
            .unwrap(),
        Step::Done {
            watermark: Some("1700010000".into())
        }
    );
    // 204 on the first page: the previous watermark stays.
    assert_eq!(
        Amocrm
            .next_step(&ctx, &leads, &first, &response(204, b""))
            .unwrap(),
        Step::Done {
            watermark: Some("1690000000".into())
        }
    );
    // Dimensions have no watermark.
    assert_eq!(
        Amocrm
            .next_step(
                &ctx,
                &job("pipelines", None),
                &first,
                &response(200, &fixture("amocrm", "pipelines.json"))
            )
            .unwrap(),
        Step::Done { watermark: None }
    );

    let err = Amocrm
        .next_step(
            &ctx,
            &leads,
            &first,
            &response(401, &fixture("amocrm", "error_401.json")),
        )
        .unwrap_err();
    let FetchError::Terminal { reason, .. } = err else {
        panic!("401 must be terminal")
    };
    assert!(reason.contains("HTTP 401"), "{reason}");
    assert!(reason.contains("Token has expired"), "{reason}");
    assert!(reason.contains("Keys and scopes"), "{reason}");

    for status in [402u16, 403] {
        let err = Amocrm
            .next_step(&ctx, &leads, &first, &response(status, b"{}"))
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Terminal { .. }),
            "{status}: {err:?}"
        );
    }
    let err = Amocrm
        .next_step(
            &ctx,
            &leads,
            &first,
            &response(429, &fixture("amocrm", "error_429.html")),
        )
        .unwrap_err();
    assert!(matches!(err, FetchError::Retryable { .. }), "{err:?}");
}

fn driver() -> Driver {
    Driver::new(
        DriverOptions {
            max_attempts: 3,
            wait_cap: Some(Duration::ZERO),
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "token".to_string(),
            TOKEN.to_string(),
        )]))),
    )
}

fn script_dimensions(server: &MockServer) {
    server
        .route("GET", "/api/v4/leads/pipelines")
        .respond([MockResponse::json(200, fixture("amocrm", "pipelines.json"))]);
    server
        .route("GET", "/api/v4/users")
        .respond([MockResponse::json(200, fixture("amocrm", "users.json"))]);
    server
        .route("GET", "/api/v4/contacts")
        .respond([MockResponse::json(200, fixture("amocrm", "contacts.json"))]);
    server
        .route("GET", "/api/v4/events")
        .respond([MockResponse::json(200, fixture("amocrm", "events.json"))]);
}

async fn normalize_store(store: &MemoryStore) -> Vec<Record> {
    let account = acc();
    let ctx = NormalizeContext {
        account: &account,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut records = Vec::new();
    for key in store.list("raw/amocrm/main/").await.unwrap() {
        let env = RawEnvelope::from_json(&store.get(&key).await.unwrap().unwrap()).unwrap();
        records.extend(Amocrm.normalize(&env, &ctx).records);
    }
    records
}

#[tokio::test]
async fn driver_fetches_two_pages_then_204_and_saves_watermarks() {
    let server = MockServer::start().await;
    script_dimensions(&server);
    // Page 2 of the fixture plus a `next` link: the API then answers 204.
    let mut page2: Value =
        serde_json::from_str(&fixture_str("amocrm", "leads_page2.json")).unwrap();
    page2["_links"]["next"] = json!({"href": "https://school.amocrm.ru/api/v4/leads?limit=250&page=3&order%5Bupdated_at%5D=asc&with=contacts"});
    server
        .route("GET", "/api/v4/leads")
        .query("page", "1")
        .respond([MockResponse::json(
            200,
            fixture("amocrm", "leads_page1.json"),
        )]);
    server
        .route("GET", "/api/v4/leads")
        .query("page", "2")
        .respond([MockResponse::json(200, page2.to_string())]);
    server
        .route("GET", "/api/v4/leads")
        .query("page", "3")
        .respond([MockResponse::empty(204)]);

    let store = MemoryStore::new();
    let account = acc();
    let mut ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 12, 1),
        date(2026, 12, 3),
    );
    ctx.watermarks.insert("leads".into(), "1699999999".into());
    let report = driver().ingest(&store, &Amocrm, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");

    let by_entity: BTreeMap<&str, _> = report.jobs.iter().map(|j| (j.entity.as_str(), j)).collect();
    assert_eq!(by_entity["leads"].requests, 3);
    assert_eq!(by_entity["leads"].watermark.as_deref(), Some("1700086400"));
    assert_eq!(
        by_entity["contacts"].watermark.as_deref(),
        Some("1700001000")
    );
    assert_eq!(by_entity["events"].watermark.as_deref(), Some("1700080000"));
    assert_eq!(by_entity["pipelines"].watermark, None);
    assert_eq!(by_entity["users"].watermark, None);

    let leads = server.requests_to("/api/v4/leads");
    assert_eq!(leads.len(), 3);
    assert_eq!(
        leads[0].path_and_query(),
        "/api/v4/leads?limit=250&page=1&order%5Bupdated_at%5D=asc&with=contacts&filter%5Bupdated_at%5D%5Bfrom%5D=1699999999"
    );
    assert_eq!(
        leads[0].param("filter[updated_at][from]"),
        Some("1699999999")
    );
    assert_eq!(
        leads[1].path_and_query(),
        "/api/v4/leads?limit=250&page=2&order%5Bupdated_at%5D=asc&with=contacts"
    );
    for r in server.requests() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }

    // Raw: 4 dimension/incremental pages + 3 lead responses, the 204 included.
    let keys = store.list("raw/amocrm/main/").await.unwrap();
    assert_eq!(keys.len(), 7);
    for key in &keys {
        let text = String::from_utf8(store.get(key).await.unwrap().unwrap().to_vec()).unwrap();
        assert!(!text.contains(TOKEN), "{key} leaks the token");
    }

    // Normalizing the stored window twice gives the same records.
    let first = normalize_store(&store).await;
    let second = normalize_store(&store).await;
    assert_eq!(first, second);
    let count = |e: &str| first.iter().filter(|r| r.entity() == e).count();
    assert_eq!(count("deal"), 3);
    assert_eq!(count("contact"), 2);
    assert_eq!(count("manager"), 2);
    assert_eq!(count("pipeline"), 1);
    assert_eq!(count("status_change"), 2);
    assert!(first.contains(&Record::Deal(deal_1())));
}

#[tokio::test]
async fn driver_retries_429_then_succeeds() {
    let server = MockServer::start().await;
    script_dimensions(&server);
    let mut page1: Value =
        serde_json::from_str(&fixture_str("amocrm", "leads_page1.json")).unwrap();
    page1["_links"].as_object_mut().unwrap().remove("next");
    server.route("GET", "/api/v4/leads").respond([
        MockResponse::bytes(429, "text/html", fixture("amocrm", "error_429.html")),
        MockResponse::json(200, page1.to_string()),
    ]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 12, 1),
        date(2026, 12, 3),
    );
    let report = driver().ingest(&store, &Amocrm, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let leads = report.jobs.iter().find(|j| j.entity == "leads").unwrap();
    assert_eq!(leads.requests, 2);
    assert_eq!(leads.watermark.as_deref(), Some("1700010000"));
    let first =
        RawEnvelope::from_json(&store.get(&leads.raw_keys[0]).await.unwrap().unwrap()).unwrap();
    assert_eq!(first.status, 429);
    assert_eq!(
        first.body.as_bytes(),
        fixture("amocrm", "error_429.html").as_slice()
    );
}

#[tokio::test]
async fn driver_stops_on_401_without_retrying() {
    let server = MockServer::start().await;
    for path in [
        "/api/v4/leads/pipelines",
        "/api/v4/users",
        "/api/v4/contacts",
        "/api/v4/leads",
        "/api/v4/events",
    ] {
        server.route("GET", path).respond([MockResponse::bytes(
            401,
            "application/problem+json",
            fixture("amocrm", "error_401.json"),
        )]);
    }
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2026, 12, 1),
        date(2026, 12, 3),
    );
    let report = driver().ingest(&store, &Amocrm, &ctx, "run1").await;
    assert_eq!(report.failed().len(), 5);
    for j in &report.jobs {
        assert_eq!(j.requests, 1, "{}: a 401 is not retried", j.entity);
        let err = j.error.as_deref().unwrap();
        assert!(
            err.starts_with("amocrm/main: GET http://127.0.0.1:"),
            "{err}"
        );
        assert!(err.contains("HTTP 401"), "{err}");
        assert!(err.contains("Token has expired"), "{err}");
    }
    assert_eq!(server.requests().len(), 5);
    assert_eq!(store.list("raw/").await.unwrap().len(), 5);
}
