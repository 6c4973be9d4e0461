//! `cbr`: windows-1251 decoding, effective dates, anti-bot pages, and the
//! driver loop against a mock server.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{MockResponse, MockServer, account, date, fetch_context, fixture};
use rust_decimal::Decimal;
use serde_json::json;
use voronka_connectors::cbr::Cbr;
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::{
    AuthScheme, Connector, FetchError, Job, NormalizeContext, Normalized, RawEnvelope, Response,
    Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{Rate, Record};
use voronka_store::{MemoryStore, Store};

const SATURDAY_SET: &str = "XML_daily_2025-04-05_saturday.xml";

fn acc() -> AccountConfig {
    account(json!({"id": "cbr"}))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn rate(code: &str, nominal: u32, value: &str) -> Record {
    Record::Rate(Rate {
        source: "cbr".into(),
        date: date(2025, 4, 5),
        currency: code.into(),
        nominal,
        value: dec(value),
    })
}

fn envelope(status: u16, body: &[u8]) -> RawEnvelope {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    RawEnvelope {
        v: 1,
        source: "cbr".into(),
        account: "cbr".into(),
        run: "r1".into(),
        seq: 1,
        entity: "rates".into(),
        window_from: Some(date(2025, 4, 6)),
        window_to: Some(date(2025, 4, 6)),
        meta: BTreeMap::from([("date_req".to_string(), "06/04/2025".to_string())]),
        request: RawRequest {
            method: "GET".into(),
            url: "https://www.cbr.ru/scripts/XML_daily.asp?date_req=06/04/2025".into(),
            body: None,
        },
        status,
        headers: BTreeMap::new(),
        received_at: Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap(),
        body_encoding,
        body,
    }
}

fn normalize(body: &[u8]) -> Normalized {
    let account = acc();
    let ctx = NormalizeContext {
        account: &account,
        school_tz: chrono_tz::Europe::Moscow,
    };
    Cbr.normalize(&envelope(200, body), &ctx)
}

fn response(status: u16, body: &[u8]) -> Response {
    Response {
        status,
        headers: BTreeMap::new(),
        body: bytes::Bytes::copy_from_slice(body),
    }
}

#[test]
fn fixture_is_really_windows_1251() {
    let bytes = fixture("cbr", SATURDAY_SET);
    assert!(std::str::from_utf8(&bytes).is_err());
    // "Доллар США" in cp1251.
    let dollar = [0xC4u8, 0xEE, 0xEB, 0xEB, 0xE0, 0xF0, 0x20, 0xD1, 0xD8, 0xC0];
    assert!(bytes.windows(dollar.len()).any(|w| w == dollar));
    let env = envelope(200, &bytes);
    assert_eq!(env.body_encoding, "base64");
    assert_eq!(env.body_bytes().unwrap(), bytes);
}

#[test]
fn saturday_set_normalizes_with_its_effective_date() {
    let out = normalize(&fixture("cbr", SATURDAY_SET));
    assert_eq!(out.rejected, vec![]);
    assert_eq!(
        out.records,
        vec![
            rate("USD", 1, "84.2000"),
            rate("EUR", 1, "92.6731"),
            rate("AMD", 100, "21.5637"),
            rate("CNY", 1, "11.5263"),
        ]
    );
    let Record::Rate(amd) = &out.records[2] else {
        panic!()
    };
    assert_eq!(amd.value.to_string(), "21.5637");
    assert_eq!(amd.per_unit(), dec("0.215637"));
}

#[test]
fn prolog_encoding_is_honoured_for_utf8_too() {
    let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ValCurs Date=\"01.04.2025\" name=\"Foreign Currency Market\"><Valute ID=\"R01235\"><NumCode>840</NumCode><CharCode>USD</CharCode><Nominal>1</Nominal><Name>Доллар США &amp; Co</Name><Value>82,5000</Value></Valute></ValCurs>";
    let out = normalize(xml.as_bytes());
    assert_eq!(out.rejected, vec![]);
    assert_eq!(
        out.records,
        vec![Record::Rate(Rate {
            source: "cbr".into(),
            date: date(2025, 4, 1),
            currency: "USD".into(),
            nominal: 1,
            value: dec("82.5"),
        })]
    );
}

#[test]
fn a_bad_valute_is_rejected_and_the_rest_kept() {
    let xml = "<?xml version=\"1.0\" encoding=\"windows-1251\"?><ValCurs Date=\"05.04.2025\" name=\"x\">\
        <Valute ID=\"R01235\"><CharCode>USD</CharCode><Nominal>1</Nominal><Value>н/д</Value></Valute>\
        <Valute ID=\"R01239\"><CharCode>EUR</CharCode><Nominal>1</Nominal><Value>92,6731</Value></Valute>\
        <Valute ID=\"R01060\"><CharCode>AMD</CharCode><Nominal>сто</Nominal><Value>21,5637</Value></Valute>\
        </ValCurs>";
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(xml);
    let out = normalize(&bytes);
    assert_eq!(out.records, vec![rate("EUR", 1, "92.6731")]);
    assert_eq!(out.rejected.len(), 2);
    assert_eq!(out.rejected[0].source_slug, "cbr");
    assert_eq!(out.rejected[0].record, "Valute R01235 USD");
    assert_eq!(out.rejected[0].field, "Valute/Value");
    assert!(
        out.rejected[0].reason.contains("н/д"),
        "{}",
        out.rejected[0].reason
    );
    assert_eq!(out.rejected[1].record, "Valute R01060 AMD");
    assert_eq!(out.rejected[1].field, "Valute/Nominal");
}

#[test]
fn anti_bot_page_is_retryable_and_normalizes_to_nothing() {
    let account = acc();
    let ctx = fetch_context(
        &account,
        "https://www.cbr.ru",
        date(2025, 4, 6),
        date(2025, 4, 6),
    );
    let job = &Cbr.plan(&ctx)[0];
    let req = Cbr.first_request(&ctx, job);
    let err = Cbr
        .next_step(
            &ctx,
            job,
            &req,
            &response(200, &fixture("cbr", "antibot.html")),
        )
        .unwrap_err();
    let FetchError::Retryable { reason, .. } = err else {
        panic!("anti-bot page must be retryable")
    };
    assert!(reason.contains("root html"), "{reason}");
    assert_eq!(
        normalize(&fixture("cbr", "antibot.html")),
        Normalized::default()
    );

    assert_eq!(
        Cbr.next_step(
            &ctx,
            job,
            &req,
            &response(200, &fixture("cbr", SATURDAY_SET))
        )
        .unwrap(),
        Step::Done { watermark: None }
    );
    assert!(matches!(
        Cbr.next_step(&ctx, job, &req, &response(503, b"")),
        Err(FetchError::Retryable { .. })
    ));
    assert!(matches!(
        Cbr.next_step(&ctx, job, &req, &response(404, b"")),
        Err(FetchError::Terminal { .. })
    ));
}

#[test]
fn plan_is_one_job_per_day() {
    let account = acc();
    let ctx = fetch_context(
        &account,
        "https://www.cbr.ru/",
        date(2025, 4, 4),
        date(2025, 4, 7),
    );
    let jobs = Cbr.plan(&ctx);
    assert_eq!(jobs.len(), 4);
    assert_eq!(
        jobs[1],
        Job {
            entity: "rates".into(),
            window: Some((date(2025, 4, 5), date(2025, 4, 5))),
            meta: BTreeMap::from([("date_req".to_string(), "05/04/2025".to_string())]),
        }
    );
    let req = Cbr.first_request(&ctx, &jobs[2]);
    assert_eq!(req.method, "GET");
    assert_eq!(
        req.url,
        "https://www.cbr.ru/scripts/XML_daily.asp?date_req=06/04/2025"
    );
    assert!(req.query.is_empty());
    assert_eq!(Cbr.auth(), AuthScheme::None);
    assert_eq!(Cbr.default_base_url(&account), "https://www.cbr.ru");
}

fn driver() -> Driver {
    Driver::new(
        DriverOptions {
            max_attempts: 3,
            wait_cap: Some(Duration::ZERO),
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets::default()),
    )
}

#[tokio::test]
async fn driver_fetches_a_weekend_and_both_days_give_saturdays_set() {
    let server = MockServer::start().await;
    for d in ["05/04/2025", "06/04/2025"] {
        server
            .route("GET", "/scripts/XML_daily.asp")
            .query("date_req", d)
            .respond([MockResponse::bytes(
                200,
                "application/xml; charset=windows-1251",
                fixture("cbr", SATURDAY_SET),
            )]);
    }
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2025, 4, 5),
        date(2025, 4, 6),
    );
    let report = driver().ingest(&store, &Cbr, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.jobs.len(), 2);

    let reqs = server.requests();
    assert_eq!(
        reqs.iter().map(|r| r.path_and_query()).collect::<Vec<_>>(),
        vec![
            "/scripts/XML_daily.asp?date_req=05/04/2025",
            "/scripts/XML_daily.asp?date_req=06/04/2025",
        ]
    );
    for r in &reqs {
        assert!(r.header("user-agent").unwrap().starts_with("Mozilla/5.0"));
    }

    let norm_ctx = NormalizeContext {
        account: &account,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut by_key = BTreeMap::new();
    let mut total = 0;
    for key in store.list("raw/cbr/cbr/").await.unwrap() {
        let env = RawEnvelope::from_json(&store.get(&key).await.unwrap().unwrap()).unwrap();
        assert_eq!(env.body_encoding, "base64");
        assert_eq!(
            env.headers.get("content-type").map(String::as_str),
            Some("application/xml; charset=windows-1251")
        );
        let out = Cbr.normalize(&env, &norm_ctx);
        assert_eq!(out, Cbr.normalize(&env, &norm_ctx), "idempotent");
        for r in out.records {
            total += 1;
            by_key.insert(r.key(), r);
        }
    }
    assert_eq!(total, 8);
    // Sunday's request returned Saturday's set: 4 distinct rates, all effective 05.04.
    assert_eq!(
        by_key.into_values().collect::<Vec<_>>(),
        vec![
            rate("AMD", 100, "21.5637"),
            rate("CNY", 1, "11.5263"),
            rate("EUR", 1, "92.6731"),
            rate("USD", 1, "84.2000"),
        ]
    );
}

#[tokio::test]
async fn driver_retries_an_anti_bot_page() {
    let server = MockServer::start().await;
    server.route("GET", "/scripts/XML_daily.asp").respond([
        MockResponse::bytes(
            200,
            "text/html; charset=utf-8",
            fixture("cbr", "antibot.html"),
        ),
        MockResponse::bytes(200, "application/xml", fixture("cbr", SATURDAY_SET)),
    ]);
    let store = MemoryStore::new();
    let account = acc();
    let ctx = fetch_context(
        &account,
        &server.base_url(),
        date(2025, 4, 5),
        date(2025, 4, 5),
    );
    let report = driver().ingest(&store, &Cbr, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.jobs[0].requests, 2);
    assert_eq!(store.list("raw/cbr/").await.unwrap().len(), 2);
}
