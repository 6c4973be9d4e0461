//! `salebot`: `get_clients` paging and HTTP-200 failures, normalization of
//! client pages and lead webhooks, and the driver loop against a mock
//! server.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{MockResponse, MockServer, account, date, fetch_context, fixture};
use serde_json::{Value, json};
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::salebot::{self, Salebot};
use voronka_connectors::{
    AuthScheme, Connector, FetchError, Job, NormalizeContext, Normalized, RawEnvelope, Request,
    Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{Lead, Record, Utm};
use voronka_store::{MemoryStore, Store};

const BASE: &str = "https://chatter.salebot.pro/api";
const KEY: &str = "salebot-secret-key-123";

fn acc() -> AccountConfig {
    account(json!({
        "id": "sb",
        "credentials": {"api_key": {"env": "SALEBOT_KEY"}},
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
        entity: "clients".into(),
        window: Some((date(2026, 12, 1), date(2026, 12, 3))),
        meta: BTreeMap::new(),
    }
}

fn clients_req(base: &str, offset: u64) -> Request {
    Request::get(format!("{base}/{{api_key}}/get_clients"))
        .query("offset", offset.to_string())
        .query("limit", "500")
}

/// A full page of 500 synthetic clients, all created in November 2026
/// (before the window).
fn full_page() -> Vec<u8> {
    let start = utc(2026, 11, 1, 0, 0, 0).timestamp();
    let clients: Vec<Value> = (0..500)
        .map(|i| {
            json!({"id": 10_000 + i, "platform_id": format!("{}", 500_000 + i), "client_type": 0,
                   "name": format!("Клиент {i}"), "created_at": start + i * 60,
                   "updated_at": start + i * 60, "tag": null, "group": "python_bot"})
        })
        .collect();
    json!({"status": "success", "clients": clients})
        .to_string()
        .into_bytes()
}

fn envelope(entity: &str, url: &str, body: &[u8], received_at: DateTime<Utc>) -> RawEnvelope {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    RawEnvelope {
        v: 1,
        source: "salebot".into(),
        account: "sb".into(),
        run: "r1".into(),
        seq: 1,
        entity: entity.into(),
        window_from: Some(date(2026, 12, 1)),
        window_to: Some(date(2026, 12, 3)),
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "GET".into(),
            url: url.into(),
            body: None,
        },
        status: 200,
        headers: BTreeMap::new(),
        received_at,
        body_encoding,
        body,
    }
}

fn ctx_norm(a: &AccountConfig) -> NormalizeContext<'_> {
    NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    }
}

fn normalize_clients(body: &[u8]) -> Normalized {
    let a = acc();
    Salebot.normalize(
        &envelope(
            "clients",
            &format!("{BASE}/***/get_clients?offset=500&limit=500"),
            body,
            utc(2026, 12, 4, 3, 0, 0),
        ),
        &ctx_norm(&a),
    )
}

const RECEIVED: i64 = 1_796_378_400; // 2026-12-04T10:00:00Z

fn normalize_webhook(body: &[u8]) -> Normalized {
    let a = acc();
    let env = salebot::webhook_envelope(
        "sb",
        body,
        DateTime::from_timestamp(RECEIVED, 0).unwrap(),
        "hook1",
        7,
    );
    Salebot.normalize(&env, &ctx_norm(&a))
}

fn lead(id: &str, created_at: DateTime<Utc>, form: &str) -> Lead {
    Lead {
        source: "salebot".into(),
        account: "sb".into(),
        id: id.into(),
        created_at,
        form: form.into(),
        form_name: String::new(),
        name: String::new(),
        email: String::new(),
        phone: String::new(),
        utm: Utm::default(),
        extra: BTreeMap::new(),
    }
}

fn extra(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn expected_clients() -> Vec<Record> {
    vec![
        Record::Lead(Lead {
            form_name: "python_bot".into(),
            name: "Анна".into(),
            extra: extra(&[
                ("client_type", "0"),
                ("platform_id", "100000001"),
                ("tag", "webinar"),
            ]),
            ..lead("44483", utc(2026, 12, 1, 9, 0, 0), "salebot:python_bot")
        }),
        // created_at as a string; no name.
        Record::Lead(Lead {
            form_name: "200000002".into(),
            extra: extra(&[("client_type", "6"), ("platform_id", "79990000002")]),
            ..lead("44485", utc(2026, 12, 2, 12, 15, 0), "salebot:200000002")
        }),
    ]
}

#[test]
fn options_auth_and_validation() {
    let a = acc();
    assert_eq!(Salebot.default_base_url(&a), BASE);
    assert_eq!(Salebot.validate(&a), Ok(()));
    // The key is a path segment, filled in by the driver on the wire only.
    assert_eq!(
        Salebot.auth(),
        AuthScheme::PathSegment {
            placeholder: "{api_key}",
            credential: "api_key"
        }
    );
    assert_eq!(
        salebot::action_url("https://chatter.salebot.pro/api/", "get_clients"),
        "https://chatter.salebot.pro/api/{api_key}/get_clients"
    );
    let no_key = account(json!({"id": "sb"}));
    assert!(
        Salebot
            .validate(&no_key)
            .unwrap_err()
            .contains("credentials.api_key")
    );
}

#[test]
fn paging_until_a_short_page() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 12, 1), date(2026, 12, 3));
    let j = job();
    assert_eq!(Salebot.plan(&ctx), vec![j.clone()]);
    let first = Salebot.first_request(&ctx, &j);
    assert_eq!(first, clients_req(BASE, 0));
    assert_eq!(
        Salebot.next_step(&ctx, &j, &first, &response(200, &full_page())),
        Ok(Step::Next(clients_req(BASE, 500)))
    );
    let second = clients_req(BASE, 500);
    for name in [
        "get_clients_last_page.json",
        "get_clients_empty.json",
        "client_not_found.json",
    ] {
        assert_eq!(
            Salebot.next_step(&ctx, &j, &second, &response(200, &fixture("salebot", name))),
            Ok(Step::Done { watermark: None }),
            "{name}"
        );
    }
}

#[test]
fn failures_sent_with_http_200() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 12, 1), date(2026, 12, 3));
    let j = job();
    let req = clients_req(BASE, 0);
    let at = |status: u16, body: &[u8]| Salebot.next_step(&ctx, &j, &req, &response(status, body));
    match at(200, &fixture("salebot", "fail_bad_key.json")) {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(reason.contains("Неверный API ключ"), "{reason}")
        }
        other => panic!("expected terminal, got {other:?}"),
    }
    match at(200, &fixture("salebot", "fail_rate_limit.json")) {
        Err(FetchError::Retryable { after, .. }) => {
            assert_eq!(after, Some(salebot::RATE_LIMITED_WAIT))
        }
        other => panic!("expected retryable, got {other:?}"),
    }
    assert!(matches!(
        at(200, br#"{"status":"fail"}"#),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        at(200, br#"{"status":"weird"}"#),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        at(200, br#"{"status":"success"}"#),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        at(200, b"<html>"),
        Err(FetchError::Terminal { .. })
    ));
    for status in [401, 403, 404] {
        assert!(
            matches!(at(status, b"Not Found"), Err(FetchError::Terminal { .. })),
            "{status}"
        );
    }
    assert!(matches!(at(429, b""), Err(FetchError::Retryable { .. })));
    assert!(matches!(at(502, b""), Err(FetchError::Retryable { .. })));
}

#[test]
fn client_pages_normalize_to_in_window_leads() {
    let n = normalize_clients(&fixture("salebot", "get_clients_last_page.json"));
    assert_eq!(n.records, expected_clients());
    let rejected: Vec<(&str, &str)> = n
        .rejected
        .iter()
        .map(|e| (e.record.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(rejected, vec![("44486", "created_at")]);
    // All of November: nothing in the window.
    assert_eq!(normalize_clients(&full_page()), Normalized::default());
    for name in [
        "fail_bad_key.json",
        "client_not_found.json",
        "get_clients_empty.json",
    ] {
        assert_eq!(
            normalize_clients(&fixture("salebot", name)),
            Normalized::default(),
            "{name}"
        );
    }
}

#[test]
fn lead_webhooks_normalize_to_leads() {
    let received = DateTime::from_timestamp(RECEIVED, 0).unwrap();
    let n = normalize_webhook(&fixture("salebot", "webhook_lead.json"));
    assert_eq!(n.rejected, vec![]);
    assert_eq!(
        n.records,
        vec![Record::Lead(Lead {
            name: "Анна".into(),
            email: "anna@example.com".into(),
            phone: "+7 999 000-00-01".into(),
            utm: Utm {
                source: "vk".into(),
                medium: "cpc".into(),
                campaign: "dec_webinar".into(),
                ..Utm::default()
            },
            extra: extra(&[("client_id", "44483"), ("start", "vk_dec_webinar")]),
            ..lead("44483:lead:1796378400", received, "salebot:lead")
        })]
    );
    let n = normalize_webhook(&fixture("salebot", "webhook_application.json"));
    assert_eq!(
        n.records,
        vec![Record::Lead(Lead {
            phone: "79990000002".into(),
            utm: Utm {
                source: "tg".into(),
                campaign: "channel_post".into(),
                ..Utm::default()
            },
            extra: extra(&[
                ("client_id", "44485"),
                ("order_id", "40338"),
                ("start", "tg_post_12"),
                ("tariff", "Стандарт"),
            ]),
            ..lead(
                "44485:application:1796378400",
                received,
                "salebot:application"
            )
        })]
    );
    // A form-urlencoded body works too.
    let n = normalize_webhook(&fixture("salebot", "webhook_lead_form.txt"));
    assert_eq!(
        n.records,
        vec![Record::Lead(Lead {
            name: "Олег".into(),
            utm: Utm {
                source: "fb".into(),
                medium: "paid".into(),
                ..Utm::default()
            },
            extra: extra(&[("client_id", "44490"), ("start", "fb_ads")]),
            ..lead("44490:lead:1796378400", received, "salebot:lead")
        })]
    );
}

#[test]
fn message_webhooks_are_ignored_and_bad_ones_rejected() {
    assert_eq!(
        normalize_webhook(&fixture("salebot", "webhook_message.json")),
        Normalized::default()
    );
    for (name, field) in [
        ("webhook_unknown_event.json", "event"),
        ("webhook_no_client.json", "client_id"),
    ] {
        let n = normalize_webhook(&fixture("salebot", name));
        assert!(n.records.is_empty(), "{name}");
        assert_eq!(n.rejected.len(), 1, "{name}");
        assert_eq!(n.rejected[0].field, field, "{name}");
        assert_eq!(n.rejected[0].record, "webhook hook1-7");
    }
    let n = normalize_webhook(b"");
    assert_eq!(n.rejected[0].field, "body");
    let n = normalize_webhook(b"{not json");
    assert_eq!(n.rejected[0].field, "body");
}

#[test]
fn webhook_envelope_shape() {
    let at = DateTime::from_timestamp(RECEIVED, 0).unwrap();
    let body = fixture("salebot", "webhook_lead.json");
    let env = salebot::webhook_envelope("sb", &body, at, "hook1", 7);
    assert_eq!(env.source, "salebot");
    assert_eq!(env.entity, "webhook");
    assert_eq!(env.request.method, "POST");
    assert_eq!(env.request.url, salebot::WEBHOOK_PATH);
    assert_eq!(env.status, 200);
    assert_eq!(env.body_bytes().unwrap(), body);
    assert_eq!((env.run.as_str(), env.seq), ("hook1", 7));
    assert!(
        env.key().starts_with("raw/salebot/sb/2026/12/04/"),
        "{}",
        env.key()
    );
    // Same delivery, same records.
    assert_eq!(
        normalize_webhook(&body),
        normalize_webhook(&fixture("salebot", "webhook_lead.json"))
    );
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
            "api_key".to_string(),
            KEY.to_string(),
        )]))),
    )
}

fn server_account(server: &MockServer) -> AccountConfig {
    account(json!({
        "id": "sb",
        "base_url": server.base_url(),
        "credentials": {"api_key": {"env": "SALEBOT_KEY"}},
    }))
}

async fn stored(store: &MemoryStore, keys: &[String]) -> (Vec<RawEnvelope>, Vec<Record>) {
    let a = acc();
    let mut envs = Vec::new();
    let mut records = Vec::new();
    for k in keys {
        let bytes = store.get(k).await.unwrap().expect("raw envelope stored");
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains(KEY), "key leaked into {k}");
        let env = RawEnvelope::from_json(&bytes).unwrap();
        records.extend(Salebot.normalize(&env, &ctx_norm(&a)).records);
        envs.push(env);
    }
    (envs, records)
}

#[tokio::test]
async fn driver_pages_after_throttling_and_is_idempotent() {
    let server = MockServer::start().await;
    server
        .route("GET", &format!("/{KEY}/get_clients"))
        .query("offset", "0")
        .query("limit", "500")
        .respond([MockResponse::json(200, full_page())]);
    server
        .route("GET", &format!("/{KEY}/get_clients"))
        .query("offset", "500")
        .respond([
            MockResponse::json(200, fixture("salebot", "fail_rate_limit.json")),
            MockResponse::json(200, fixture("salebot", "get_clients_last_page.json")),
        ]);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let d = driver();
    let store = MemoryStore::new();
    let report = d.ingest(&store, &Salebot, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    let offsets: Vec<&str> = sent.iter().map(|r| r.param("offset").unwrap()).collect();
    assert_eq!(offsets, ["0", "500", "500"]);
    assert!(
        sent.iter()
            .all(|r| r.path == format!("/{KEY}/get_clients") && r.param("api_key").is_none())
    );
    let (envs, first) = stored(&store, &report.raw_keys()).await;
    assert!(
        envs.iter()
            .all(|e| e.request.url.contains("/***/get_clients"))
    );
    assert_eq!(first, expected_clients());

    // Same window again → identical records.
    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &Salebot, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    let (_, second) = stored(&store2, &report2.raw_keys()).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn driver_empty_base_and_bad_key() {
    let server = MockServer::start().await;
    server
        .route("GET", &format!("/{KEY}/get_clients"))
        .respond([MockResponse::json(
            200,
            fixture("salebot", "get_clients_empty.json"),
        )]);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let store = MemoryStore::new();
    let report = driver().ingest(&store, &Salebot, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let (_, records) = stored(&store, &report.raw_keys()).await;
    assert!(records.is_empty());

    let server = MockServer::start().await;
    server
        .route("GET", &format!("/{KEY}/get_clients"))
        .respond([MockResponse::json(
            200,
            fixture("salebot", "fail_bad_key.json"),
        )]);
    let a = server_account(&server);
    let ctx = fetch_context(&a, &server.base_url(), date(2026, 12, 1), date(2026, 12, 3));
    let store = MemoryStore::new();
    let report = driver().ingest(&store, &Salebot, &ctx, "run1").await;
    assert_eq!(report.failed().len(), 1);
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(
        err.contains("Неверный API ключ") && !err.contains(KEY),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1, "terminal: no retry");
    stored(&store, &report.raw_keys()).await;
}
