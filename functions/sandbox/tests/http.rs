//! The fake vendor APIs over real HTTP.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use voronka_sandbox::*;

fn school() -> Arc<School> {
    static S: OnceLock<Arc<School>> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(generate(&SchoolSpec {
            days: 35,
            ..SchoolSpec::default()
        }))
    })
    .clone()
}

async fn start(opts: SandboxOptions) -> Sandbox {
    Sandbox::start(school(), opts)
        .await
        .expect("sandbox starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn amocrm_leads_page_until_204() {
    let sb = start(SandboxOptions::default()).await;
    let s = school();
    let c = client();
    let bad = c
        .get(format!("{}/amocrm/api/v4/leads", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let from = s.deals[s.deals.len() / 2].updated_at.timestamp();
    let mut url = format!(
        "{}/amocrm/api/v4/leads?limit=250&page=1&with=contacts&order[updated_at]=asc&filter[updated_at][from]={from}",
        sb.base_url()
    );
    let mut got: Vec<Value> = Vec::new();
    let mut pages = 0;
    loop {
        let r = c.get(&url).bearer_auth(AMOCRM_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/hal+json");
        let v: Value = r.json().await.unwrap();
        pages += 1;
        assert_eq!(v["_page"], pages);
        got.extend(v["_embedded"]["leads"].as_array().unwrap().iter().cloned());
        match v["_links"]["next"]["href"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    let expected = s
        .deals
        .iter()
        .filter(|d| d.updated_at.timestamp() >= from)
        .count();
    assert_eq!(got.len(), expected);
    assert!(pages > 1);
    let upd: Vec<i64> = got
        .iter()
        .map(|l| l["updated_at"].as_i64().unwrap())
        .collect();
    assert!(upd.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        got.iter()
            .all(|l| l["_embedded"]["contacts"][0]["is_main"] == true)
    );
    assert!(got.iter().any(|l| l["custom_fields_values"].is_null()));
    let with_utm = got
        .iter()
        .find(|l| {
            l["custom_fields_values"]
                .as_array()
                .is_some_and(|a| a.iter().any(|f| f["field_code"] == "UTM_SOURCE"))
        })
        .unwrap();
    assert_eq!(
        with_utm["custom_fields_values"][0]["field_type"],
        "tracking_data"
    );
    // past the end → 204 with an empty body
    let past = format!(
        "{}/amocrm/api/v4/leads?limit=250&page={}",
        sb.base_url(),
        1000
    );
    let r = c.get(&past).bearer_auth(AMOCRM_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    // limit > 250 → 400 validation error
    let r = c
        .get(format!("{}/amocrm/api/v4/leads?limit=251", sb.base_url()))
        .bearer_auth(AMOCRM_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["detail"], "Request validation failed");
    assert_eq!(sb.requests("amocrm"), pages + 3);
}

#[tokio::test]
async fn amocrm_contacts_users_pipelines_events() {
    let sb = start(SandboxOptions::default()).await;
    let s = school();
    let c = client();
    let get = |path: String| {
        let c = c.clone();
        let url = format!("{}/amocrm{path}", sb.base_url());
        async move { c.get(url).bearer_auth(AMOCRM_TOKEN).send().await.unwrap() }
    };
    let v: Value = get("/api/v4/contacts?limit=250&page=1&order[updated_at]=asc".into())
        .await
        .json()
        .await
        .unwrap();
    let contacts = v["_embedded"]["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 250.min(s.contacts.len()));
    let phone = contacts
        .iter()
        .flat_map(|c| {
            c["custom_fields_values"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|f| f["field_code"] == "PHONE")
        .unwrap();
    assert_eq!(phone["field_type"], "multitext");
    assert_eq!(phone["values"][0]["enum_code"], "WORK");
    let v: Value = get("/api/v4/users?limit=250&page=1".into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["_embedded"]["users"].as_array().unwrap().len(),
        s.users.len()
    );
    assert!(v["_links"].get("next").is_none());
    let v: Value = get("/api/v4/leads/pipelines".into())
        .await
        .json()
        .await
        .unwrap();
    let statuses = v["_embedded"]["pipelines"][0]["_embedded"]["statuses"]
        .as_array()
        .unwrap();
    assert_eq!(statuses[0]["type"], 1);
    assert!(statuses.iter().any(|s| s["id"] == 142) && statuses.iter().any(|s| s["id"] == 143));
    let from = s.events[s.events.len() - 150].created_at.timestamp();
    let v: Value = get(format!(
        "/api/v4/events?limit=100&page=1&filter[type]=lead_status_changed&filter[created_at][from]={from}"
    ))
    .await
    .json()
    .await
    .unwrap();
    let events = v["_embedded"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 100);
    assert!(events[0]["id"].is_string());
    assert!(events[0]["value_after"][0]["lead_status"]["id"].is_u64());
    let r = get("/api/v4/events?limit=101&page=1".into()).await;
    assert_eq!(r.status(), 400);
    let r = get("/api/v4/events?limit=100&page=1&filter[type]=incoming_chat_message".into()).await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn getcourse_export_not_ready_then_ready() {
    let sb = start(SandboxOptions::default()).await;
    let s = school();
    let c = client();
    let base = format!("{}/getcourse", sb.base_url());
    let (from, to) = (s.start, s.end);
    let v: Value = c
        .get(format!(
            "{base}/pl/api/account/deals?key=wrong&created_at[from]={from}&created_at[to]={to}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["success"], false);
    let v: Value = c
        .get(format!("{base}/pl/api/account/deals?key={GETCOURSE_KEY}&created_at[from]={from}&created_at[to]={to}"))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(v["success"], true);
    let id = v["info"]["export_id"].as_u64().unwrap();
    let poll = format!("{base}/pl/api/account/exports/{id}?key={GETCOURSE_KEY}");
    for _ in 0..2 {
        let v: Value = c.get(&poll).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["error_code"], 909);
        assert_eq!(v["error_message"], "Файл еще не создан");
    }
    let v: Value = c.get(&poll).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["success"], true);
    let fields: Vec<&str> = v["info"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(fields[0], "ID заказа");
    assert!(fields.contains(&"Стоимость, RUB") && fields.contains(&"ID сделки amoCRM"));
    let items = v["info"]["items"].as_array().unwrap();
    assert_eq!(items.len(), s.orders.len());
    let tags = fields.iter().position(|f| *f == "Теги").unwrap();
    for row in items {
        for (i, cell) in row.as_array().unwrap().iter().enumerate() {
            assert!(if i == tags {
                cell.is_array()
            } else {
                cell.is_string()
            });
        }
    }
    let created = fields.iter().position(|f| *f == "Дата создания").unwrap();
    assert_eq!(items[0][created].as_str().unwrap().len(), 19);
    // payments: "руб." amounts, the planted duplicate appears twice
    let v: Value = c
        .get(format!("{base}/pl/api/account/payments?key={GETCOURSE_KEY}&created_at[from]={from}&created_at[to]={to}"))
        .send().await.unwrap().json().await.unwrap();
    let id = v["info"]["export_id"].as_u64().unwrap();
    let poll = format!("{base}/pl/api/account/exports/{id}?key={GETCOURSE_KEY}");
    let mut v: Value = Value::Null;
    for _ in 0..3 {
        v = c.get(&poll).send().await.unwrap().json().await.unwrap();
    }
    let items = v["info"]["items"].as_array().unwrap();
    assert!(items[0][7].as_str().unwrap().ends_with(" руб."));
    let dup = s.payments.iter().any(|p| p.duplicated_in_export);
    assert_eq!(items.len(), s.payments.len() + usize::from(dup));
    // unknown export
    let v: Value = c
        .get(format!(
            "{base}/pl/api/account/exports/1?key={GETCOURSE_KEY}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error_code"], 910);
}

#[tokio::test]
async fn getcourse_rate_limit() {
    let sb = start(SandboxOptions {
        getcourse_request_limit: 3,
        ..SandboxOptions::default()
    })
    .await;
    let c = client();
    let url = format!(
        "{}/getcourse/pl/api/account/deals?key={GETCOURSE_KEY}",
        sb.base_url()
    );
    for _ in 0..3 {
        let v: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["success"], true);
    }
    let v: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["error_message"], "Слишком много запросов");
    assert_eq!(sb.requests("getcourse"), 4);
}

#[tokio::test]
async fn yandex_report_201_202_200() {
    let sb = start(SandboxOptions::default()).await;
    let s = school();
    let c = client();
    let url = format!("{}/yandex_direct/json/v5/reports", sb.base_url());
    let (from, to) = (s.start + Duration::days(3), s.start + Duration::days(9));
    let body = serde_json::json!({"params": {
        "SelectionCriteria": {"DateFrom": from.to_string(), "DateTo": to.to_string()},
        "FieldNames": ["Date", "CampaignId", "CampaignName", "Impressions", "Clicks", "Cost", "AdId"],
        "ReportName": "voronka-test-1", "ReportType": "CUSTOM_REPORT", "DateRangeType": "CUSTOM_DATE",
        "Format": "TSV", "IncludeVAT": "NO", "IncludeDiscount": "NO"}});
    let r = c.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["error_code"], 53);
    assert_eq!(v["error"]["error_detail"], "Token not entered");
    let send = || {
        c.post(&url)
            .bearer_auth(YANDEX_TOKEN)
            .header("returnMoneyInMicros", "true")
            .json(&body)
            .send()
    };
    let r = send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["retryIn"], "0");
    assert_eq!(r.headers()["reportsInQueue"], "1");
    assert_eq!(send().await.unwrap().status(), 202);
    let r = send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/tab-separated-values")
    );
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("voronka-test-1 ({from} - {to})"));
    assert_eq!(
        lines[1],
        "Date\tCampaignId\tCampaignName\tImpressions\tClicks\tCost\tAdId"
    );
    let rows = &lines[2..lines.len() - 1];
    let main = &s
        .accounts
        .iter()
        .find(|a| a.vendor == AdVendor::YandexDirect)
        .unwrap()
        .id;
    let expected: Vec<&YandexRow> = s
        .yandex_rows
        .iter()
        .filter(|r| &r.account_id == main && r.date >= from && r.date <= to)
        .collect();
    assert_eq!(rows.len(), expected.len());
    assert_eq!(
        *lines.last().unwrap(),
        format!("Total rows: {}", expected.len())
    );
    let total: i64 = rows
        .iter()
        .map(|l| l.split('\t').nth(5).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, expected.iter().map(|r| r.cost_micros).sum::<i64>());
    assert!(rows.iter().all(|l| l.ends_with("\t--")));
    // the contractor's account via Client-Login
    let mut b2 = body.clone();
    b2["params"]["ReportName"] = "voronka-test-2".into();
    let contractor = &s
        .accounts
        .iter()
        .filter(|a| a.vendor == AdVendor::YandexDirect)
        .nth(1)
        .unwrap()
        .id;
    for _ in 0..2 {
        c.post(&url)
            .bearer_auth(YANDEX_TOKEN)
            .header("Client-Login", contractor.as_str())
            .json(&b2)
            .send()
            .await
            .unwrap();
    }
    let text = c
        .post(&url)
        .bearer_auth(YANDEX_TOKEN)
        .header("Client-Login", contractor.as_str())
        .json(&b2)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let n = s
        .yandex_rows
        .iter()
        .filter(|r| &r.account_id == contractor && r.date >= from && r.date <= to)
        .count();
    assert!(text.ends_with(&format!("Total rows: {n}\n")));
    // the same name with another body → 400 / 4000
    let mut other = body.clone();
    other["params"]["SelectionCriteria"]["DateTo"] = s.end.to_string().into();
    let r = c
        .post(&url)
        .bearer_auth(YANDEX_TOKEN)
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["error_code"], 4000);
}

#[tokio::test]
async fn facebook_insights_cursor_paging() {
    let sb = start(SandboxOptions {
        facebook_throttle_on_request: Some(2),
        ..SandboxOptions::default()
    })
    .await;
    let s = school();
    let c = client();
    let acct = s.accounts.iter().find(|a| a.currency == "USD").unwrap();
    let (since, until) = (s.start, s.start + Duration::days(13));
    let tr = format!("{{\"since\":\"{since}\",\"until\":\"{until}\"}}");
    let mut url = reqwest::Url::parse(&format!(
        "{}/facebook/v25.0/act_{}/insights",
        sb.base_url(),
        acct.id
    ))
    .unwrap();
    url.query_pairs_mut()
        .append_pair("level", "campaign")
        .append_pair("time_increment", "1")
        .append_pair("breakdowns", "publisher_platform")
        .append_pair(
            "fields",
            "account_currency,account_id,campaign_id,campaign_name,spend,impressions,clicks",
        )
        .append_pair("time_range", &tr)
        .append_pair("limit", "50");
    // wrong token
    let r = c
        .get(url.as_str())
        .query(&[("access_token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], 190);
    // request 2 is throttled once
    let r = c
        .get(url.as_str())
        .query(&[("access_token", FACEBOOK_TOKEN)])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], 17);
    let mut next = {
        let mut u = url.clone();
        u.query_pairs_mut()
            .append_pair("access_token", FACEBOOK_TOKEN);
        u.to_string()
    };
    let mut rows: Vec<Value> = Vec::new();
    let mut pages = 0;
    loop {
        let v: Value = c.get(&next).send().await.unwrap().json().await.unwrap();
        pages += 1;
        rows.extend(v["data"].as_array().unwrap().iter().cloned());
        match v["paging"]["next"].as_str() {
            Some(n) => {
                assert!(n.contains("&after="));
                next = n.to_string();
            }
            None => break,
        }
    }
    let expected: Vec<&FacebookRow> = s
        .facebook_rows
        .iter()
        .filter(|r| r.account_id == acct.id && r.date >= since && r.date <= until)
        .collect();
    assert_eq!(rows.len(), expected.len());
    assert!(pages > 1);
    assert!(rows.iter().all(|r| r["account_currency"] == "USD"
        && r["spend"].is_string()
        && r["impressions"].is_string()));
    assert!(rows.iter().all(|r| r["date_start"] == r["date_stop"]));
    let spend: rust_decimal::Decimal = rows
        .iter()
        .map(|r| {
            r["spend"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(spend, expected.iter().map(|r| r.spend).sum());
    assert!(rows.iter().any(|r| r["publisher_platform"] == "instagram"));
    assert_eq!(sb.requests("facebook"), 2 + pages);
}

#[tokio::test]
async fn cbr_windows_1251_with_weekend_date() {
    let sb = start(SandboxOptions::default()).await;
    let s = school();
    let c = client();
    let mut sunday = s.start + Duration::days(7);
    while sunday.weekday() != Weekday::Sun {
        sunday += Duration::days(1);
    }
    for (asked, effective) in [
        (sunday, sunday - Duration::days(1)),
        (sunday + Duration::days(1), sunday - Duration::days(1)),
        (sunday + Duration::days(2), sunday + Duration::days(2)),
    ] {
        let r = c
            .get(format!(
                "{}/cbr/scripts/XML_daily.asp?date_req={}",
                sb.base_url(),
                asked.format("%d/%m/%Y")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["content-type"],
            "application/xml; charset=windows-1251"
        );
        let bytes = r.bytes().await.unwrap();
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "body is cp1251, not UTF-8"
        );
        let (text, _, bad) = encoding_rs::WINDOWS_1251.decode(&bytes);
        assert!(!bad);
        assert!(
            text.starts_with("<?xml version=\"1.0\" encoding=\"windows-1251\"?><ValCurs Date=\"")
        );
        assert!(
            text.contains(&format!("Date=\"{}\"", effective.format("%d.%m.%Y"))),
            "{asked}: {text}"
        );
        assert!(text.contains(
            "<CharCode>USD</CharCode><Nominal>1</Nominal><Name>Доллар США</Name><Value>"
        ));
        assert!(text.contains("<CharCode>AMD</CharCode><Nominal>100</Nominal>"));
        let usd = s
            .rates_on(asked)
            .rates
            .iter()
            .find(|r| r.char_code == "USD")
            .unwrap()
            .value;
        assert!(text.contains(&format!(
            "<Value>{}</Value>",
            format!("{usd:.4}").replace('.', ",")
        )));
        let _ = NaiveDate::default();
    }
}

#[tokio::test]
async fn drop_stops_the_server() {
    let sb = start(SandboxOptions::default()).await;
    let url = format!("{}/cbr/scripts/XML_daily.asp", sb.base_url());
    assert!(
        client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    drop(sb);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(client().get(&url).send().await.is_err());
}
