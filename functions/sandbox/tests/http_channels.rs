//! The newer fake vendor APIs over real HTTP: Bizon365, Salebot, GA4,
//! TikTok, VK Ads / myTarget, Google Ads, and amoCRM OAuth.

use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};
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

async fn start() -> Sandbox {
    Sandbox::start(school(), SandboxOptions::default())
        .await
        .expect("sandbox starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("json body")
}

#[tokio::test]
async fn bizon_list_viewers_report() {
    let sb = start().await;
    let s = school();
    let c = client();
    let base = sb.vendor_url("bizon365");
    let r = c
        .get(format!("{base}/webinars/reports/getlist?skip=0&limit=100"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // page through the list 2 at a time
    let mut ids = Vec::new();
    let mut skip = 0;
    loop {
        let v = body(
            c.get(format!(
                "{base}/webinars/reports/getlist?skip={skip}&limit=2&LiveWebinars=1&AutoWebinars=1"
            ))
            .header("X-Token", BIZON_TOKEN)
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(v["count"], s.webinars.len());
        let list = v["list"].as_array().unwrap();
        if list.is_empty() {
            break;
        }
        for item in list {
            let data: Value = serde_json::from_str(item["data"].as_str().unwrap()).unwrap();
            let id = item["webinarId"].as_str().unwrap().to_string();
            let w = s.webinars.iter().find(|w| w.id == id).unwrap();
            assert_eq!(data["start"], w.start.timestamp_millis());
            assert_eq!(data["minutes"], w.minutes);
            ids.push(id);
        }
        skip += list.len();
    }
    assert_eq!(ids.len(), s.webinars.len());
    // limit is capped at 100
    let v = body(
        c.get(format!("{base}/webinars/reports/getlist?skip=0&limit=500"))
            .header("X-Token", BIZON_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["limit"], 100);
    let none = body(
        c.get(format!(
            "{base}/webinars/reports/getlist?skip=0&limit=100&LiveWebinars=0"
        ))
        .header("X-Token", BIZON_TOKEN)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(none["count"], 0);
    assert_eq!(none["list"], json!([]));
    // viewers of one webinar, paged by 50
    let w = &s.webinars[1];
    let expected = s
        .webinar_viewers
        .iter()
        .filter(|v| v.webinar_id == w.id)
        .count();
    let mut got = 0;
    let mut skip = 0;
    loop {
        let url = reqwest::Url::parse_with_params(
            &format!("{base}/webinars/reports/getviewers"),
            &[
                ("webinarId", w.id.as_str()),
                ("skip", &skip.to_string()),
                ("limit", "50"),
            ],
        )
        .unwrap();
        let v = body(
            c.get(url)
                .header("X-Token", BIZON_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(v["total"], expected);
        assert_eq!(v["errors"], json!([]));
        let loaded = v["loaded"].as_u64().unwrap() as usize;
        for viewer in v["viewers"].as_array().unwrap() {
            assert!(viewer["view"].as_i64().unwrap() <= viewer["viewTill"].as_i64().unwrap());
            assert_eq!(viewer["webinarId"], w.id.as_str());
        }
        got += loaded;
        skip += loaded;
        if loaded == 0 || skip >= expected {
            break;
        }
    }
    assert_eq!(got, expected);
    let missing = body(
        c.get(format!(
            "{base}/webinars/reports/getviewers?webinarId=1:x*2020-01-01T10:00:00&skip=0&limit=1000"
        ))
        .header("X-Token", BIZON_TOKEN)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(missing["errors"], json!(["Вебинар не найден"]));
    // the full report with JSON strings inside
    let url = reqwest::Url::parse_with_params(
        &format!("{base}/webinars/reports/get"),
        &[("webinarId", w.id.as_str())],
    )
    .unwrap();
    let rep = body(
        c.get(url)
            .header("X-Token", BIZON_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let inner: Value = serde_json::from_str(rep["report"]["report"].as_str().unwrap()).unwrap();
    assert!(inner["usersMeta"].is_object());
    let _: Value = serde_json::from_str(rep["report"]["messagesTS"].as_str().unwrap()).unwrap();
}

#[tokio::test]
async fn salebot_get_clients_key_in_path_or_query() {
    let sb = start().await;
    let s = school();
    let c = client();
    let base = sb.vendor_url("salebot");
    let bad = body(
        c.get(format!("{base}/wrong-key/get_clients?offset=0&limit=500"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bad["status"], "fail");
    let mut ids = Vec::new();
    let mut offset = 0;
    loop {
        let v = body(
            c.get(format!(
                "{base}/{SALEBOT_KEY}/get_clients?offset={offset}&limit=500"
            ))
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(v["status"], "success");
        let page = v["clients"].as_array().unwrap();
        ids.extend(page.iter().map(|c| c["id"].as_u64().unwrap()));
        offset += page.len();
        if page.len() < 500 {
            break;
        }
    }
    let want: Vec<u64> = s.salebot_clients.iter().map(|c| c.id).collect();
    assert_eq!(ids, want);
    let q = body(
        c.get(format!(
            "{base}/get_clients?api_key={SALEBOT_KEY}&offset=0&limit=2"
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(q["clients"].as_array().unwrap().len(), 2);
    assert!(q["clients"][0]["created_at"].is_i64());
    let empty = body(
        c.get(format!(
            "{base}/{SALEBOT_KEY}/get_clients?offset=1000000&limit=500"
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(empty, json!({"status": "success", "clients": []}));
}

fn report_body(from: NaiveDate, to: NaiveDate, offset: u64, limit: u64) -> Value {
    json!({
        "dateRanges": [{"startDate": from.to_string(), "endDate": to.to_string()}],
        "dimensions": [{"name": "date"}, {"name": "sessionSource"}, {"name": "sessionMedium"}, {"name": "sessionCampaignName"}],
        "metrics": [{"name": "sessions"}, {"name": "totalUsers"}],
        "limit": limit.to_string(), "offset": offset.to_string(), "keepEmptyRows": false
    })
}

#[tokio::test]
async fn ga4_token_and_run_report() {
    let sb = start().await;
    let s = school();
    let c = client();
    let base = sb.vendor_url("ga4");
    let bad = c
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "not-a-jwt"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(body(bad).await["error"], "invalid_grant");
    let tok = body(
        c.post(format!("{base}/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        tok,
        json!({"access_token": "sandbox-ga4-access", "expires_in": 3599, "token_type": "Bearer"})
    );
    let url = format!("{base}/v1beta/properties/{GA4_PROPERTY}:runReport");
    let (from, to) = (s.start, s.start + Duration::days(6));
    let unauth = c
        .post(&url)
        .json(&report_body(from, to, 0, 100))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    assert_eq!(body(unauth).await["error"]["status"], "UNAUTHENTICATED");
    let other = c
        .post(format!("{base}/v1beta/properties/1:runReport"))
        .bearer_auth(GA4_ACCESS_TOKEN)
        .json(&report_body(from, to, 0, 100))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    let mut sessions = 0u64;
    let mut offset = 0u64;
    let mut pages = 0;
    loop {
        let v = body(
            c.post(&url)
                .bearer_auth(GA4_ACCESS_TOKEN)
                .json(&report_body(from, to, offset, 100))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(v["metricHeaders"][0]["type"], "TYPE_INTEGER");
        let rows = v["rows"].as_array().unwrap();
        for r in rows {
            sessions += r["metricValues"][0]["value"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap();
            assert_eq!(r["dimensionValues"][0]["value"].as_str().unwrap().len(), 8);
        }
        offset += rows.len() as u64;
        pages += 1;
        if offset >= v["rowCount"].as_u64().unwrap() {
            break;
        }
    }
    assert!(pages > 1);
    let want: u64 = s
        .ga4_rows
        .iter()
        .filter(|r| from <= r.date && r.date <= to)
        .map(|r| r.sessions)
        .sum();
    assert_eq!(sessions, want);
    let future = s.end + Duration::days(10);
    let empty = body(
        c.post(&url)
            .bearer_auth(GA4_ACCESS_TOKEN)
            .json(&report_body(future, future, 0, 100))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(empty.get("rows").is_none() && empty.get("rowCount").is_none());
    assert!(empty["dimensionHeaders"].is_array());
}

#[tokio::test]
async fn tiktok_advertiser_and_report() {
    let sb = start().await;
    let s = school();
    let c = client();
    let base = sb.vendor_url("tiktok");
    let adv = s
        .accounts
        .iter()
        .find(|a| a.vendor == AdVendor::Tiktok)
        .unwrap();
    let info_url = reqwest::Url::parse_with_params(
        &format!("{base}/open_api/v1.3/advertiser/info/"),
        &[
            ("advertiser_ids", format!("[\"{}\"]", adv.id)),
            ("fields", r#"["currency","timezone","name"]"#.to_string()),
        ],
    )
    .unwrap();
    let r = c.get(info_url.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["code"], 40104);
    let r = body(
        c.get(info_url.clone())
            .header("Access-Token", "nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r["code"], 40105);
    let info = body(
        c.get(info_url)
            .header("Access-Token", TIKTOK_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(info["code"], 0);
    assert_eq!(info["data"]["list"][0]["currency"], adv.currency.as_str());
    let no_slash = c
        .get(format!("{base}/open_api/v1.3/report/integrated/get"))
        .header("Access-Token", TIKTOK_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(no_slash.status(), 404);
    let (from, to) = (s.start, s.start + Duration::days(29));
    let report_url = |page: i64, from: NaiveDate, to: NaiveDate| {
        reqwest::Url::parse_with_params(
            &format!("{base}/open_api/v1.3/report/integrated/get/"),
            &[
                ("advertiser_id", adv.id.clone()),
                ("report_type", "BASIC".into()),
                ("data_level", "AUCTION_CAMPAIGN".into()),
                ("dimensions", r#"["campaign_id","stat_time_day"]"#.into()),
                (
                    "metrics",
                    r#"["spend","impressions","clicks","campaign_name"]"#.into(),
                ),
                ("start_date", from.to_string()),
                ("end_date", to.to_string()),
                ("page", page.to_string()),
                ("page_size", "40".into()),
            ],
        )
        .unwrap()
    };
    let mut page = 1;
    let mut n = 0;
    loop {
        let v = body(
            c.get(report_url(page, from, to))
                .header("Access-Token", TIKTOK_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(v["code"], 0, "{v}");
        for row in v["data"]["list"].as_array().unwrap() {
            assert!(row["metrics"]["spend"].is_string());
            assert!(
                row["dimensions"]["stat_time_day"]
                    .as_str()
                    .unwrap()
                    .ends_with(" 00:00:00")
            );
            n += 1;
        }
        let total = v["data"]["page_info"]["total_page"].as_i64().unwrap();
        if page >= total {
            break;
        }
        page += 1;
    }
    assert!(page > 1);
    let want = s
        .ad_rows
        .iter()
        .filter(|r| r.account_id == adv.id && from <= r.date && r.date <= to)
        .count();
    assert_eq!(n, want);
    let too_long = body(
        c.get(report_url(1, from, from + Duration::days(40)))
            .header("Access-Token", TIKTOK_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(too_long["code"], 40002);
    let future = s.end + Duration::days(5);
    let empty = body(
        c.get(report_url(1, future, future))
            .header("Access-Token", TIKTOK_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(empty["code"], 0);
    assert_eq!(empty["data"]["list"], json!([]));
}

#[tokio::test]
async fn vk_ads_and_mytarget() {
    let sb = start().await;
    let s = school();
    let c = client();
    for (slug, object, vendor) in [
        ("vk_ads", "ad_plans", AdVendor::VkAds),
        ("mytarget", "campaigns", AdVendor::MyTarget),
    ] {
        let base = sb.vendor_url(slug);
        let bad = c
            .post(format!("{base}/api/v2/oauth2/token.json"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", VK_CLIENT_ID),
                ("client_secret", "wrong"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401);
        let tok = body(
            c.post(format!("{base}/api/v2/oauth2/token.json"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", VK_CLIENT_ID),
                    ("client_secret", VK_CLIENT_SECRET),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(tok["access_token"], "sandbox-vk-access");
        assert_eq!(tok["expires_in"], "86400");
        assert_eq!(tok["refresh_token"], "sandbox-vk-refresh");
        let token = tok["access_token"].as_str().unwrap().to_string();
        let list_url = format!("{base}/api/v2/{object}.json");
        let unauth = c.get(&list_url).send().await.unwrap();
        assert_eq!(unauth.status(), 401);
        assert_eq!(body(unauth).await["code"], "invalid_token");
        // page by 2
        let mut ids: Vec<String> = Vec::new();
        let mut offset = 0;
        loop {
            let v = body(
                c.get(format!(
                    "{list_url}?fields=id,name,status&limit=2&offset={offset}"
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
            )
            .await;
            let count = v["count"].as_u64().unwrap() as usize;
            ids.extend(
                v["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].to_string()),
            );
            offset += 2;
            if offset >= count {
                break;
            }
        }
        let n = s.campaigns.iter().filter(|c| c.vendor == vendor).count();
        assert_eq!(ids.len(), n);
        let (from, to) = (s.start, s.start + Duration::days(9));
        let v = body(
            c.get(format!(
                "{base}/api/v2/statistics/{object}/day.json?id={}&date_from={from}&date_to={to}&metrics=base",
                ids.join(",")
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        )
        .await;
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), n);
        let mut zero_rows = 0;
        for item in items {
            let rows = item["rows"].as_array().unwrap();
            assert_eq!(rows.len(), 10, "every day, zero days as zero rows");
            zero_rows += rows
                .iter()
                .filter(|r| r["base"]["shows"] == 0 && r["base"]["spent"] == "0")
                .count();
            assert!(item["total"]["base"]["spent"].is_string());
        }
        let want = s
            .ad_rows
            .iter()
            .filter(|r| r.vendor == vendor && from <= r.date && r.date <= to)
            .count();
        assert_eq!(n * 10 - zero_rows, want);
        assert!(v["total"]["base"]["shows"].as_u64().unwrap() > 0);
        let wrong = c
            .get(format!(
                "{base}/api/v2/statistics/{object}/day.json?id=1&date_from={from}&date_to={to}&metrics=base"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 400);
        assert!(
            body(wrong).await["error"]["code"]
                .as_str()
                .unwrap()
                .starts_with("ERR_WRONG_")
        );
    }
}

#[tokio::test]
async fn google_ads_search_stream() {
    let sb = start().await;
    let s = school();
    let c = client();
    let base = sb.vendor_url("google_ads");
    let customer = s
        .accounts
        .iter()
        .find(|a| a.vendor == AdVendor::GoogleAds)
        .unwrap()
        .id
        .clone();
    let (from, to) = (s.start, s.start + Duration::days(29));
    let q = |from: NaiveDate, to: NaiveDate| json!({"query": format!("SELECT campaign.id, campaign.name, campaign.advertising_channel_type, segments.date, metrics.cost_micros, metrics.impressions, metrics.clicks FROM campaign WHERE segments.date BETWEEN '{from}' AND '{to}'")});
    let url = format!("{base}/v21/customers/{customer}/googleAds:searchStream");
    let unauth = c.post(&url).json(&q(from, to)).send().await.unwrap();
    assert_eq!(unauth.status(), 401);
    let no_dev = c
        .post(&url)
        .bearer_auth(GOOGLE_ACCESS_TOKEN)
        .json(&q(from, to))
        .send()
        .await
        .unwrap();
    assert!(no_dev.status().is_client_error());
    let tok = body(
        c.post(format!("{base}/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", GOOGLE_CLIENT_ID),
                ("client_secret", GOOGLE_CLIENT_SECRET),
                ("refresh_token", GOOGLE_REFRESH_TOKEN),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let access = tok["access_token"].as_str().unwrap().to_string();
    let v = body(
        c.post(&url)
            .bearer_auth(&access)
            .header("developer-token", GOOGLE_DEVELOPER_TOKEN)
            .header("login-customer-id", GOOGLE_LOGIN_CUSTOMER_ID)
            .json(&q(from, to))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let batches = v.as_array().unwrap();
    let results: Vec<&Value> = batches
        .iter()
        .flat_map(|b| b["results"].as_array().unwrap())
        .collect();
    let want = s
        .ad_rows
        .iter()
        .filter(|r| r.account_id == customer && from <= r.date && r.date <= to)
        .count();
    assert_eq!(results.len(), want);
    let channels: std::collections::HashSet<&str> = results
        .iter()
        .map(|r| r["campaign"]["advertisingChannelType"].as_str().unwrap())
        .collect();
    assert!(channels.contains("VIDEO") && channels.contains("SEARCH"));
    assert!(results.iter().all(|r| r["campaign"]["id"].is_string()));
    assert!(
        results
            .iter()
            .all(|r| r["metrics"]["impressions"].is_string())
    );
    // proto3: a zero metric is left out
    for r in &results {
        let truth = s
            .ad_rows
            .iter()
            .find(|t| {
                t.campaign_id == r["campaign"]["id"].as_str().unwrap()
                    && t.date.to_string() == r["segments"]["date"].as_str().unwrap()
            })
            .unwrap();
        assert_eq!(r["metrics"].get("clicks").is_none(), truth.clicks == 0);
        assert_eq!(
            r["metrics"]["costMicros"].as_str().map(str::to_string),
            Some(
                (truth.spend * rust_decimal::Decimal::from(1_000_000))
                    .trunc()
                    .to_string()
            )
        );
    }
    let future = s.end + Duration::days(3);
    let empty = body(
        c.post(&url)
            .bearer_auth(&access)
            .header("developer-token", GOOGLE_DEVELOPER_TOKEN)
            .json(&q(future, future))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(empty, json!([]));
    let other = c
        .post(format!(
            "{base}/v21/customers/1112223333/googleAds:searchStream"
        ))
        .bearer_auth(&access)
        .header("developer-token", GOOGLE_DEVELOPER_TOKEN)
        .json(&q(from, to))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    assert_eq!(body(other).await["error"]["status"], "PERMISSION_DENIED");
}

#[tokio::test]
async fn amocrm_refresh_rotation() {
    let sb = start().await;
    let c = client();
    let base = sb.vendor_url("amocrm");
    let refresh = |token: String| {
        let c = c.clone();
        let base = base.clone();
        async move {
            c.post(format!("{base}/oauth2/access_token"))
                .json(&json!({
                    "client_id": AMOCRM_CLIENT_ID,
                    "client_secret": AMOCRM_CLIENT_SECRET,
                    "grant_type": "refresh_token",
                    "refresh_token": token,
                    "redirect_uri": AMOCRM_REDIRECT_URI,
                }))
                .send()
                .await
                .unwrap()
        }
    };
    let first = refresh(AMOCRM_REFRESH_TOKEN.to_string()).await;
    assert_eq!(first.status(), 200);
    let first = body(first).await;
    assert_eq!(first["token_type"], "Bearer");
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    let a1 = first["access_token"].as_str().unwrap().to_string();
    assert_ne!(r1, AMOCRM_REFRESH_TOKEN);
    // the used refresh token is dead
    let again = refresh(AMOCRM_REFRESH_TOKEN.to_string()).await;
    assert_eq!(again.status(), 400);
    assert_eq!(
        body(again).await["type"],
        "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
    );
    let second = body(refresh(r1.clone()).await).await;
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r2, r1);
    assert_eq!(refresh(r1).await.status(), 400);
    // issued access tokens and the long-lived token both work
    for token in [a1.as_str(), AMOCRM_TOKEN] {
        let r = c
            .get(format!("{base}/api/v4/users?limit=250"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = c
        .get(format!("{base}/api/v4/users"))
        .bearer_auth("sandbox-amocrm-access-999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // a form body works too; a wrong client is refused
    let form = c
        .post(format!("{base}/oauth2/access_token"))
        .form(&[
            ("client_id", AMOCRM_CLIENT_ID),
            ("client_secret", AMOCRM_CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", r2.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let wrong = c
        .post(format!("{base}/oauth2/access_token"))
        .json(&json!({"client_id": "x", "client_secret": "y", "grant_type": "authorization_code", "code": AMOCRM_AUTH_CODE}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}
