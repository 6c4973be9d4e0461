//! GA4 Data API: `POST /v1beta/properties/{id}:runReport` and the OAuth
//! token endpoint `POST /token` (JWT bearer grant).

use super::{Req, Shared, json};
use crate::model::Ga4Row;
use axum::http::Method;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CT: &str = "application/json; charset=UTF-8";

const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn error(code: u16, status: &str, message: &str) -> Response {
    json(
        code,
        CT,
        &json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

fn invalid(message: &str) -> Response {
    error(400, "INVALID_ARGUMENT", message)
}

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    let path = req.path.trim_end_matches('/');
    if path == "/token" {
        return token(req);
    }
    match req.bearer() {
        Some(t) if t == super::GA4_ACCESS_TOKEN => {}
        _ => {
            return error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            );
        }
    }
    let Some(property) = path
        .strip_prefix("/v1beta/properties/")
        .and_then(|p| p.strip_suffix(":runReport"))
    else {
        return error(404, "NOT_FOUND", "Method not found.");
    };
    if req.method != Method::POST {
        return error(404, "NOT_FOUND", "Method not found.");
    }
    if property != super::GA4_PROPERTY {
        return error(
            403,
            "PERMISSION_DENIED",
            "User does not have sufficient permissions for this property. To learn more about Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
        );
    }
    run_report(sh, req)
}

fn token(req: &Req) -> Response {
    if req.method != Method::POST {
        return error(405, "METHOD_NOT_ALLOWED", "POST only");
    }
    let form = req.form();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if get("grant_type") != JWT_GRANT {
        return json(
            400,
            CT,
            &json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "}),
        );
    }
    let jwt = get("assertion");
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return json(
            400,
            CT,
            &json!({"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}),
        );
    }
    json(
        200,
        CT,
        &json!({"access_token": super::GA4_ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
    )
}

fn date_of(s: &str, today: NaiveDate) -> Option<NaiveDate> {
    match s.trim() {
        "today" => Some(today),
        "yesterday" => Some(today - Duration::days(1)),
        other => {
            if let Some(n) = other.strip_suffix("daysAgo") {
                return n.parse::<i64>().ok().map(|n| today - Duration::days(n));
            }
            NaiveDate::parse_from_str(other, "%Y-%m-%d").ok()
        }
    }
}

fn int_field(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn dimension(row: &Ga4Row, name: &str) -> String {
    match name {
        "date" => row.date.format("%Y%m%d").to_string(),
        "sessionSource" => row.source.clone(),
        "sessionMedium" => row.medium.clone(),
        "sessionCampaignName" => row.campaign.clone(),
        "sessionSourceMedium" => format!("{} / {}", row.source, row.medium),
        _ => String::new(),
    }
}

fn run_report(sh: &Shared, req: &Req) -> Response {
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return invalid(&format!("Invalid JSON payload received. {e}")),
    };
    let names = |key: &str| -> Vec<String> {
        body.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.get("name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let dims = names("dimensions");
    let mets = names("metrics");
    for d in &dims {
        if !matches!(
            d.as_str(),
            "date"
                | "sessionSource"
                | "sessionMedium"
                | "sessionCampaignName"
                | "sessionSourceMedium"
        ) {
            return invalid(&format!(
                "Field {d} is not a valid dimension. For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema "
            ));
        }
    }
    if mets.is_empty() {
        return invalid("At least one metric is required.");
    }
    for m in &mets {
        if !matches!(
            m.as_str(),
            "sessions" | "totalUsers" | "activeUsers" | "newUsers"
        ) {
            return invalid(&format!(
                "Field {m} is not a valid metric. For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema "
            ));
        }
    }
    let today = sh.school.end;
    let ranges = body
        .get("dateRanges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(range) = ranges.first() else {
        return invalid("dateRanges is required.");
    };
    let parse = |k: &str| {
        range
            .get(k)
            .and_then(Value::as_str)
            .and_then(|s| date_of(s, today))
    };
    let (Some(from), Some(to)) = (parse("startDate"), parse("endDate")) else {
        return invalid("Invalid date range: startDate and endDate are required.");
    };
    if from > to {
        return invalid(&format!(
            "The dateRange startDate {from} should be before the endDate {to}."
        ));
    }
    let limit = int_field(body.get("limit")).unwrap_or(10_000);
    if limit == 0 || limit > 250_000 {
        return invalid("limit must be positive and at most 250000.");
    }
    let offset = int_field(body.get("offset")).unwrap_or(0) as usize;
    // aggregate by the requested dimensions
    let mut agg: BTreeMap<Vec<String>, (u64, u64)> = BTreeMap::new();
    for r in sh
        .school
        .ga4_rows
        .iter()
        .filter(|r| from <= r.date && r.date <= to)
    {
        let key: Vec<String> = dims.iter().map(|d| dimension(r, d)).collect();
        let e = agg.entry(key).or_default();
        e.0 += r.sessions;
        e.1 += r.users;
    }
    let mut rows: Vec<(Vec<String>, (u64, u64))> = agg.into_iter().collect();
    // GA4 orders by the first metric, descending, unless told otherwise
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    let total = rows.len();
    let page: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(limit as usize)
        .map(|(key, (sessions, users))| {
            let metric_values: Vec<Value> = mets
                .iter()
                .map(|m| {
                    let v = match m.as_str() {
                        "sessions" => *sessions,
                        "newUsers" => users * 7 / 10,
                        _ => *users,
                    };
                    json!({"value": v.to_string()})
                })
                .collect();
            json!({
                "dimensionValues": key.iter().map(|v| json!({"value": v})).collect::<Vec<_>>(),
                "metricValues": metric_values,
            })
        })
        .collect();
    let mut out = json!({
        "dimensionHeaders": dims.iter().map(|d| json!({"name": d})).collect::<Vec<_>>(),
        "metricHeaders": mets.iter().map(|m| json!({"name": m, "type": "TYPE_INTEGER"})).collect::<Vec<_>>(),
        "metadata": {"currencyCode": "RUB", "timeZone": "Europe/Moscow"},
        "kind": "analyticsData#runReport",
    });
    if total > 0 {
        out["rowCount"] = json!(total);
        if !page.is_empty() {
            out["rows"] = json!(page);
        }
    }
    json(200, CT, &out)
}
