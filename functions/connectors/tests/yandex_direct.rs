//! `yandex_direct`: report requests, 201/202 polling, errors, TSV
//! normalization, and the driver loop against a mock server.

mod common;

use common::{MockResponse, MockServer, account, date, fetch_context, fixture, fixture_str};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_connectors::raw::RawRequest;
use voronka_connectors::yandex_direct::{self, YandexDirect};
use voronka_connectors::{
    AuthScheme, Connector, FetchError, Job, NormalizeContext, Normalized, RawEnvelope, Request,
    Response, Step,
};
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};
use voronka_store::{MemoryStore, Store};

const BASE: &str = "https://api.direct.yandex.com";

fn acc() -> AccountConfig {
    account(json!({
        "id": "yd",
        "credentials": {"token": {"env": "YD_TOKEN"}},
        "options": {"client_login": "school-client"},
    }))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A response from a sidecar fixture `{"status","headers","body"}`.
fn sidecar(name: &str) -> Response {
    let v: Value = serde_json::from_slice(&fixture("yandex_direct", name)).unwrap();
    Response {
        status: v["status"].as_u64().unwrap() as u16,
        headers: v["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_string()))
            .collect(),
        body: bytes::Bytes::from(v["body"].as_str().unwrap().to_string()),
    }
}

fn response(status: u16, body: &[u8]) -> Response {
    Response {
        status,
        headers: BTreeMap::new(),
        body: bytes::Bytes::copy_from_slice(body),
    }
}

fn normalize_with(a: &AccountConfig, status: u16, body: &str) -> Normalized {
    let (body_encoding, body) = RawEnvelope::encode_body(body.as_bytes());
    let env = RawEnvelope {
        v: 1,
        source: "yandex_direct".into(),
        account: "yd".into(),
        run: "r1".into(),
        seq: 1,
        entity: "report".into(),
        window_from: Some(date(2026, 11, 1)),
        window_to: Some(date(2026, 11, 30)),
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "POST".into(),
            url: format!("{BASE}/json/v5/reports"),
            body: Some(yandex_direct::report_body(
                date(2026, 11, 1),
                date(2026, 11, 30),
            )),
        },
        status,
        headers: BTreeMap::new(),
        received_at: chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
        body_encoding,
        body,
    };
    let ctx = NormalizeContext {
        account: a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    YandexDirect.normalize(&env, &ctx)
}

fn normalize(body: &str) -> Normalized {
    normalize_with(&acc(), 200, body)
}

fn stat(day: u32, campaign: &str, name: &str, imp: u64, clicks: u64, spend: &str) -> Record {
    Record::AdStat(AdStat {
        source: "yandex_direct".into(),
        account: "yd".into(),
        date: date(2026, 11, day),
        platform: "yandex".into(),
        level: StatLevel::Campaign,
        campaign_id: campaign.into(),
        campaign_name: name.into(),
        ad_id: String::new(),
        ad_name: String::new(),
        impressions: imp,
        clicks,
        spend: dec(spend),
        currency: "RUB".into(),
        vat: VatMode::Excluded,
    })
}

fn expected_records() -> Vec<Record> {
    vec![
        // 1061083620 micros = 1061.08362 exactly.
        stat(1, "104693586", "Поиск Python", 12034, 315, "1061.08362"),
        stat(1, "104693587", "РСЯ Python", 45890, 102, "250"),
        // `--` counts are 0 (documented); 10000 micros = 0.01.
        stat(2, "104693586", "Поиск Python", 0, 0, "0.01"),
        stat(2, "104693587", "РСЯ Python", 0, 0, "0"),
    ]
}

#[test]
fn plan_chunks_windows_of_at_most_30_days() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 10, 1), date(2026, 11, 30));
    let jobs = YandexDirect.plan(&ctx);
    let windows: Vec<_> = jobs.iter().map(|j| j.window.unwrap()).collect();
    assert_eq!(
        windows,
        vec![
            (date(2026, 10, 1), date(2026, 10, 30)),
            (date(2026, 10, 31), date(2026, 11, 29)),
            (date(2026, 11, 30), date(2026, 11, 30)),
        ]
    );
    assert!(jobs.iter().all(|j| j.entity == "report"));
    let one = fetch_context(&a, BASE, date(2026, 11, 5), date(2026, 11, 5));
    assert_eq!(YandexDirect.plan(&one).len(), 1);
}

#[test]
fn report_request_shape_and_deterministic_name() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 30));
    let job = &YandexDirect.plan(&ctx)[0];
    let r = YandexDirect.first_request(&ctx, job);
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, format!("{BASE}/json/v5/reports"));
    assert!(r.query.is_empty());
    let h: BTreeMap<&str, &str> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(h.get("Client-Login"), Some(&"school-client"));
    assert_eq!(h.get("processingMode"), Some(&"auto"));
    assert_eq!(h.get("returnMoneyInMicros"), Some(&"true"));
    assert_eq!(h.get("Accept-Language"), Some(&"en"));
    assert_eq!(
        YandexDirect.auth(),
        AuthScheme::Bearer {
            credential: "token"
        }
    );

    let params_without_name = r#"{"SelectionCriteria":{"DateFrom":"2026-11-01","DateTo":"2026-11-30"},"FieldNames":["Date","CampaignId","CampaignName","Impressions","Clicks","Cost"],"ReportType":"CUSTOM_REPORT","DateRangeType":"CUSTOM_DATE","Format":"TSV","IncludeVAT":"NO"}"#;
    let name = format!(
        "voronka-{}",
        &hex::encode(Sha256::digest(params_without_name.as_bytes()))[..16]
    );
    let expected = format!(
        r#"{{"params":{{"SelectionCriteria":{{"DateFrom":"2026-11-01","DateTo":"2026-11-30"}},"FieldNames":["Date","CampaignId","CampaignName","Impressions","Clicks","Cost"],"ReportName":"{name}","ReportType":"CUSTOM_REPORT","DateRangeType":"CUSTOM_DATE","Format":"TSV","IncludeVAT":"NO"}}}}"#
    );
    assert_eq!(r.body.as_deref(), Some(expected.as_str()));
    // Same window → same request; another window → another name.
    assert_eq!(YandexDirect.first_request(&ctx, job), r);
    let other = yandex_direct::report_body(date(2026, 11, 2), date(2026, 11, 30));
    assert!(!other.contains(&name));

    // Without client_login there is no Client-Login header.
    let plain = account(json!({"id": "yd", "credentials": {"token": {"env": "T"}}}));
    let ctx = fetch_context(&plain, BASE, date(2026, 11, 1), date(2026, 11, 30));
    let r = YandexDirect.first_request(&ctx, &YandexDirect.plan(&ctx)[0]);
    assert!(r.headers.iter().all(|(k, _)| k != "Client-Login"));
    assert_eq!(YandexDirect.validate(&plain), Ok(()));
    let no_token = account(json!({"id": "yd"}));
    assert!(
        YandexDirect
            .validate(&no_token)
            .unwrap_err()
            .contains("credentials.token")
    );
}

#[test]
fn status_decisions() {
    let a = acc();
    let ctx = fetch_context(&a, BASE, date(2026, 11, 1), date(2026, 11, 30));
    let job: Job = YandexDirect.plan(&ctx).remove(0);
    let req = YandexDirect.first_request(&ctx, &job);
    let step = |resp: &Response| YandexDirect.next_step(&ctx, &job, &req, resp);

    assert_eq!(
        step(&sidecar("queued_201.json")),
        Ok(Step::Wait(Duration::from_secs(1), req.clone()))
    );
    assert_eq!(
        step(&sidecar("building_202.json")),
        Ok(Step::Wait(Duration::from_secs(2), req.clone()))
    );
    assert_eq!(
        step(&response(202, b"")),
        Ok(Step::Wait(Duration::from_secs(5), req.clone()))
    );
    assert_eq!(
        step(&response(200, &fixture("yandex_direct", "report.tsv"))),
        Ok(Step::Done { watermark: None })
    );
    match step(&response(400, &fixture("yandex_direct", "error_53.json"))) {
        Err(FetchError::Terminal { reason, .. }) => {
            assert!(
                reason.contains("53") && reason.contains("Token not entered"),
                "{reason}"
            )
        }
        other => panic!("53 must be terminal: {other:?}"),
    }
    let bad_request = br#"{"error":{"error_code":8000,"error_string":"Invalid request","error_detail":"ReportName"}}"#;
    assert!(matches!(
        step(&response(400, bad_request)),
        Err(FetchError::Terminal { .. })
    ));
    assert!(matches!(
        step(&response(
            400,
            &fixture("yandex_direct", "error_9000_queue_full.json")
        )),
        Err(FetchError::Retryable { .. })
    ));
    for status in [500, 502] {
        assert!(
            matches!(
                step(&response(
                    status,
                    &fixture("yandex_direct", "error_500.json")
                )),
                Err(FetchError::Retryable { .. })
            ),
            "{status}"
        );
    }
    assert!(matches!(
        step(&response(401, b"")),
        Err(FetchError::Terminal { .. })
    ));
}

#[test]
fn tsv_report_normalizes_exactly() {
    let n = normalize(&fixture_str("yandex_direct", "report.tsv"));
    assert_eq!(n.records, expected_records());
    assert_eq!(n.rejected.len(), 1, "{:?}", n.rejected);
    assert_eq!(n.rejected[0].field, "Cost");
    assert!(n.rejected[0].record.contains("104693588"));
    let Record::AdStat(s) = &n.records[0] else {
        panic!()
    };
    assert_eq!(s.spend, Decimal::new(1_061_083_620, 6));
    assert_eq!(s.spend.to_string(), "1061.08362");
}

#[test]
fn tsv_without_title_and_currency_from_options() {
    let text = fixture_str("yandex_direct", "report.tsv");
    let no_title = text.split_once('\n').unwrap().1;
    assert_eq!(normalize(no_title).records, expected_records());

    let kzt = account(json!({"id": "yd", "currency": "USD", "options": {"currency": "KZT"}}));
    let n = normalize_with(&kzt, 200, &text);
    assert!(
        n.records
            .iter()
            .all(|r| matches!(r, Record::AdStat(s) if s.currency == "KZT"))
    );
    let usd = account(json!({"id": "yd", "currency": "USD"}));
    let n = normalize_with(&usd, 200, &text);
    assert!(
        n.records
            .iter()
            .all(|r| matches!(r, Record::AdStat(s) if s.currency == "USD"))
    );
}

#[test]
fn total_rows_mismatch_is_reported_and_rows_kept() {
    let text = fixture_str("yandex_direct", "report.tsv").replace("Total rows: 5", "Total rows: 7");
    let n = normalize(&text);
    assert_eq!(n.records, expected_records());
    let page: Vec<_> = n.rejected.iter().filter(|e| e.record == "page").collect();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].field, "Total rows");

    // A truncated body (no summary line) is reported too.
    let text = fixture_str("yandex_direct", "report.tsv");
    let truncated: String = text
        .lines()
        .filter(|l| !l.starts_with("Total rows"))
        .map(|l| format!("{l}\n"))
        .collect();
    let n = normalize(&truncated);
    assert!(
        n.rejected
            .iter()
            .any(|e| e.record == "page" && e.field == "Total rows")
    );
}

#[test]
fn empty_report_and_non_reports() {
    let empty = "r (2026-11-01 - 2026-11-30)\nDate\tCampaignId\tCampaignName\tImpressions\tClicks\tCost\nTotal rows: 0\n";
    assert_eq!(normalize(empty), Normalized::default());
    // 201/202/400 responses carry no data.
    assert_eq!(normalize_with(&acc(), 202, ""), Normalized::default());
    assert_eq!(
        normalize_with(&acc(), 400, &fixture_str("yandex_direct", "error_53.json")),
        Normalized::default()
    );
    // Columns are mapped by name, whatever their order.
    let reordered = "Cost\tDate\tClicks\tCampaignId\tImpressions\tCampaignName\n2500000\t2026-11-03\t4\t55\t100\tX\nTotal rows: 1\n";
    let n = normalize(reordered);
    assert_eq!(n.rejected, vec![]);
    assert_eq!(n.records, vec![stat(3, "55", "X", 100, 4, "2.5")]);
}

#[tokio::test]
async fn driver_polls_201_202_200_with_identical_requests() {
    let server = MockServer::start().await;
    server.route("POST", "/json/v5/reports").respond([
        MockResponse::empty(201)
            .header("retryIn", "0")
            .header("reportsInQueue", "1"),
        MockResponse::empty(202).header("retryIn", "0"),
        MockResponse::text(200, fixture("yandex_direct", "report.tsv")),
    ]);
    let a = account(json!({
        "id": "yd",
        "base_url": server.base_url(),
        "credentials": {"token": {"env": "YD_TOKEN"}},
        "options": {"client_login": "school-client"},
    }));
    let ctx = fetch_context(
        &a,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 30),
    );
    let d = Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            base_backoff: Duration::ZERO,
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "token".to_string(),
            "yd-secret".to_string(),
        )]))),
    );
    let store = MemoryStore::new();
    let report = d.ingest(&store, &YandexDirect, &ctx, "run1").await;
    assert!(report.ok(), "{report:?}");
    let sent = server.requests();
    assert_eq!(sent.len(), 3);
    let expected: &Request = &YandexDirect.first_request(&ctx, &YandexDirect.plan(&ctx)[0]);
    for r in &sent {
        assert_eq!(r.body, sent[0].body, "identical bodies");
        assert_eq!(r.body, expected.body.as_deref().unwrap().as_bytes());
        assert_eq!(r.header("authorization"), Some("Bearer yd-secret"));
        assert_eq!(r.header("client-login"), Some("school-client"));
        assert_eq!(r.header("returnmoneyinmicros"), Some("true"));
        assert_eq!(r.header("processingmode"), Some("auto"));
    }

    let nctx = NormalizeContext {
        account: &a,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let mut records = Vec::new();
    for k in report.raw_keys() {
        let env = RawEnvelope::from_json(&store.get(&k).await.unwrap().unwrap()).unwrap();
        records.extend(YandexDirect.normalize(&env, &nctx).records);
    }
    let expected: Vec<Record> = expected_records()
        .into_iter()
        .map(|r| match r {
            Record::AdStat(s) => Record::AdStat(AdStat {
                account: "yd".into(),
                ..s
            }),
            other => other,
        })
        .collect();
    assert_eq!(records, expected);

    // Idempotent: the same window again normalizes identically.
    // (The route's last response, the report, repeats.)
    let store2 = MemoryStore::new();
    let report2 = d.ingest(&store2, &YandexDirect, &ctx, "run2").await;
    assert!(report2.ok(), "{report2:?}");
    let mut again = Vec::new();
    for k in report2.raw_keys() {
        let env = RawEnvelope::from_json(&store2.get(&k).await.unwrap().unwrap()).unwrap();
        again.extend(YandexDirect.normalize(&env, &nctx).records);
    }
    assert_eq!(records, again);
}

#[tokio::test]
async fn driver_fails_job_on_authorization_error() {
    let server = MockServer::start().await;
    server
        .route("POST", "/json/v5/reports")
        .respond([MockResponse::json(
            400,
            fixture("yandex_direct", "error_53.json"),
        )]);
    let a = account(json!({
        "id": "yd",
        "base_url": server.base_url(),
        "credentials": {"token": {"env": "YD_TOKEN"}},
    }));
    let ctx = fetch_context(
        &a,
        &server.base_url(),
        date(2026, 11, 1),
        date(2026, 11, 30),
    );
    let d = Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            ..DriverOptions::default()
        },
        Arc::new(StaticSecrets(BTreeMap::from([(
            "token".to_string(),
            "yd-secret".to_string(),
        )]))),
    );
    let report = d
        .ingest(&MemoryStore::new(), &YandexDirect, &ctx, "run1")
        .await;
    assert_eq!(server.requests().len(), 1, "terminal: no retry");
    let err = report.jobs[0].error.as_deref().unwrap();
    assert!(err.contains("authorization"), "{err}");
}
