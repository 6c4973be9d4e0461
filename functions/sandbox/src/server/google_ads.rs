//! Google Ads API (REST): `POST /{v}/customers/{id}/googleAds:searchStream`
//! and an OAuth token endpoint `POST /token` (refresh-token grant).

use super::{Req, Shared, json};
use crate::model::{AdRow, AdVendor};
use axum::http::Method;
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{Map, Value, json};

const CT: &str = "application/json; charset=UTF-8";

const FIELD_MASK: &str = "campaign.id,campaign.name,campaign.advertisingChannelType,segments.date,metrics.costMicros,metrics.impressions,metrics.clicks";

/// Rows per stream batch (Google's is 10 000).
const BATCH: usize = 10_000;

fn failure(
    sh: &Shared,
    code: u16,
    status: &str,
    message: &str,
    kind: &str,
    value: &str,
    detail: &str,
) -> Response {
    json(
        code,
        CT,
        &json!({"error": {
            "code": code,
            "message": message,
            "status": status,
            "details": [{
                "@type": "type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure",
                "errors": [{"errorCode": {kind: value}, "message": detail}],
                "requestId": format!("sbx{}", &sh.request_id()[10..]),
            }]
        }}),
    )
}

fn version_ok(v: &str) -> bool {
    v.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    let path = req.path.trim_end_matches('/');
    if path == "/token" {
        return token(req);
    }
    match req.bearer() {
        Some(t) if t == super::GOOGLE_ACCESS_TOKEN => {}
        _ => {
            return json(
                401,
                CT,
                &json!({"error": {"code": 401, "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", "status": "UNAUTHENTICATED"}}),
            );
        }
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let customer = match parts.as_slice() {
        [v, "customers", c, "googleAds:searchStream"] if version_ok(v) => *c,
        _ => {
            return json(
                404,
                CT,
                &json!({"error": {"code": 404, "message": "The sandbox serves POST /v{N}/customers/{id}/googleAds:searchStream only.", "status": "NOT_FOUND"}}),
            );
        }
    };
    if req.method != Method::POST {
        return json(
            405,
            CT,
            &json!({"error": {"code": 405, "message": "Method not allowed", "status": "UNIMPLEMENTED"}}),
        );
    }
    match req.header("developer-token").map(str::trim) {
        None | Some("") => {
            return failure(
                sh,
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential.",
                "authenticationError",
                "DEVELOPER_TOKEN_NOT_ON_ALLOWLIST",
                "The developer token is missing from the request (header developer-token).",
            );
        }
        Some(t) if t != super::GOOGLE_DEVELOPER_TOKEN => {
            return failure(
                sh,
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                "authorizationError",
                "DEVELOPER_TOKEN_PROHIBITED",
                "The developer token is not valid.",
            );
        }
        _ => {}
    }
    let customer = customer.replace('-', "");
    if !sh
        .school
        .accounts
        .iter()
        .any(|a| a.vendor == AdVendor::GoogleAds && a.id == customer)
    {
        return failure(
            sh,
            403,
            "PERMISSION_DENIED",
            "The caller does not have permission",
            "authorizationError",
            "USER_PERMISSION_DENIED",
            "User doesn't have permission to access customer. Note: If you're accessing a client customer, the manager's customer id must be set in the 'login-customer-id' header.",
        );
    }
    let query = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| v.get("query").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let Some((from, to)) = between(&query) else {
        return failure(
            sh,
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
            "queryError",
            "UNEXPECTED_END_OF_QUERY",
            "The sandbox needs `FROM campaign WHERE segments.date BETWEEN 'YYYY-MM-DD' AND 'YYYY-MM-DD'`.",
        );
    };
    let mut rows: Vec<&AdRow> = sh
        .school
        .ad_rows
        .iter()
        .filter(|r| r.account_id == customer && from <= r.date && r.date <= to)
        .collect();
    rows.sort_by(|a, b| (&a.campaign_id, a.date).cmp(&(&b.campaign_id, b.date)));
    let results: Vec<Value> = rows.iter().map(|r| result(&customer, r)).collect();
    let rid = format!("sbx{}", &sh.request_id()[10..]);
    let batches: Vec<Value> = results
        .chunks(BATCH)
        .map(|c| {
            json!({"results": c, "fieldMask": FIELD_MASK, "requestId": rid, "queryResourceConsumption": (c.len() * 3 + 100).to_string()})
        })
        .collect();
    json(200, CT, &Value::Array(batches))
}

fn result(customer: &str, r: &AdRow) -> Value {
    let mut metrics = Map::new();
    let micros = (r.spend * rust_decimal::Decimal::from(1_000_000))
        .trunc()
        .to_string();
    // proto3: zero values are left out
    if r.clicks > 0 {
        metrics.insert("clicks".into(), json!(r.clicks.to_string()));
    }
    if micros != "0" {
        metrics.insert("costMicros".into(), json!(micros));
    }
    if r.impressions > 0 {
        metrics.insert("impressions".into(), json!(r.impressions.to_string()));
    }
    json!({
        "campaign": {
            "resourceName": format!("customers/{customer}/campaigns/{}", r.campaign_id),
            "id": r.campaign_id,
            "name": r.campaign_name,
            "advertisingChannelType": r.channel.clone().unwrap_or_else(|| "SEARCH".into()),
        },
        "metrics": metrics,
        "segments": {"date": r.date.format("%Y-%m-%d").to_string()},
    })
}

/// The dates of `segments.date BETWEEN 'a' AND 'b'`.
fn between(query: &str) -> Option<(NaiveDate, NaiveDate)> {
    let q = query.to_ascii_lowercase();
    if !q.contains("from campaign") {
        return None;
    }
    let i = q.find("segments.date between")?;
    let rest = &query[i..];
    let mut quoted = rest.split('\'').skip(1).step_by(2);
    let a = NaiveDate::parse_from_str(quoted.next()?, "%Y-%m-%d").ok()?;
    let b = NaiveDate::parse_from_str(quoted.next()?, "%Y-%m-%d").ok()?;
    (a <= b).then_some((a, b))
}

fn token(req: &Req) -> Response {
    if req.method != Method::POST {
        return json(405, CT, &json!({"error": "invalid_request"}));
    }
    let form = req.form();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let ok = match get("grant_type") {
        "refresh_token" => {
            get("client_id") == super::GOOGLE_CLIENT_ID
                && get("client_secret") == super::GOOGLE_CLIENT_SECRET
                && get("refresh_token") == super::GOOGLE_REFRESH_TOKEN
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => get("assertion").split('.').count() == 3,
        _ => false,
    };
    if !ok {
        return json(
            400,
            CT,
            &json!({"error": "invalid_grant", "error_description": "Bad Request"}),
        );
    }
    json(
        200,
        CT,
        &json!({"access_token": super::GOOGLE_ACCESS_TOKEN, "expires_in": 3599, "scope": "https://www.googleapis.com/auth/adwords", "token_type": "Bearer"}),
    )
}
