//! Yandex Direct Reports API v5: 201 → 202 → 200 TSV.

use super::{Req, Shared, json};
use crate::model::{AdVendor, YandexRow};
use axum::body::Body;
use axum::http::Method;
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CT_JSON: &str = "application/json; charset=utf-8";

fn error(sh: &Shared, status: u16, code: u32, string: &str, detail: &str) -> Response {
    let rid = sh.request_id();
    let mut r = json(
        status,
        CT_JSON,
        &json!({"error": {"request_id": rid, "error_code": code, "error_string": string, "error_detail": detail}}),
    );
    if let Ok(v) = rid.parse() {
        r.headers_mut().insert("requestid", v);
    }
    r
}

fn bad(sh: &Shared, detail: &str) -> Response {
    error(sh, 400, 8000, "Invalid request", detail)
}

const DIMENSIONS: [&str; 4] = ["Date", "CampaignId", "CampaignName", "CampaignType"];
const METRICS: [&str; 6] = ["Impressions", "Clicks", "Cost", "Ctr", "AvgCpc", "AvgCpm"];
const NULLS: [&str; 6] = [
    "AdId",
    "AdGroupId",
    "AdGroupName",
    "Conversions",
    "CriterionId",
    "Criterion",
];

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    match req.bearer() {
        None => return error(sh, 400, 53, "Authorization error", "Token not entered"),
        Some(t) if t != super::YANDEX_TOKEN => {
            return error(sh, 400, 53, "Authorization error", "Invalid OAuth token");
        }
        _ => {}
    }
    if req.method != Method::POST || req.path.trim_end_matches('/') != "/json/v5/reports" {
        return error(
            sh,
            404,
            8000,
            "Invalid request",
            "Unknown service or method",
        );
    }
    let school = &sh.school;
    let yandex_accounts: Vec<&str> = school
        .accounts
        .iter()
        .filter(|a| a.vendor == AdVendor::YandexDirect)
        .map(|a| a.id.as_str())
        .collect();
    let login = match req.header("client-login") {
        None => yandex_accounts
            .first()
            .copied()
            .unwrap_or_default()
            .to_string(),
        Some(l) => {
            let l = l.trim().to_ascii_lowercase();
            if !yandex_accounts.contains(&l.as_str()) {
                return error(
                    sh,
                    400,
                    513,
                    "Your Yandex login is not connected to Yandex Direct",
                    &format!("Client-Login {l} not found"),
                );
            }
            l
        }
    };
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return bad(sh, &format!("Request body is not valid JSON: {e}")),
    };
    let p = &body["params"];
    let Some(name) = p["ReportName"].as_str().filter(|s| !s.is_empty()) else {
        return bad(sh, "ReportName is required");
    };
    let fields: Vec<&str> = match p["FieldNames"].as_array() {
        Some(a) if !a.is_empty() => a.iter().filter_map(Value::as_str).collect(),
        _ => return bad(sh, "FieldNames is required"),
    };
    for f in &fields {
        if !DIMENSIONS.contains(f) && !METRICS.contains(f) && !NULLS.contains(f) {
            return bad(sh, &format!("Field {f} is not supported by the sandbox"));
        }
    }
    if p["Format"].as_str() != Some("TSV") {
        return bad(sh, "Format must be TSV");
    }
    let include_vat = match p["IncludeVAT"].as_str() {
        Some("YES") => true,
        Some("NO") => false,
        _ => return bad(sh, "IncludeVAT is required (YES or NO)"),
    };
    let range_type = p["DateRangeType"].as_str().unwrap_or("CUSTOM_DATE");
    if range_type != "CUSTOM_DATE" {
        return bad(sh, "the sandbox supports DateRangeType CUSTOM_DATE only");
    }
    let date = |k: &str| {
        p["SelectionCriteria"][k]
            .as_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    let (Some(from), Some(to)) = (date("DateFrom"), date("DateTo")) else {
        return bad(
            sh,
            "SelectionCriteria.DateFrom and DateTo are required (YYYY-MM-DD)",
        );
    };
    // the 201 → 202 → 200 dance, keyed by (login, ReportName)
    let seen = {
        let mut reports = sh.yandex.lock().expect("yandex state");
        let entry = reports
            .entry((login.clone(), name.to_string()))
            .or_insert_with(|| (body.clone(), 0));
        if entry.0 != body {
            drop(reports);
            return error(
                sh,
                400,
                4000,
                "Invalid request parameters",
                "A report with the same name but different parameters is already in the queue or was built",
            );
        }
        entry.1 += 1;
        entry.1
    };
    let rid = sh.request_id();
    let retry = sh.opts.yandex_retry_in.to_string();
    if seen <= 2 {
        let status = if seen == 1 { 201 } else { 202 };
        return Response::builder()
            .status(status)
            .header("RequestId", rid)
            .header("retryIn", retry)
            .header("reportsInQueue", "1")
            .body(Body::empty())
            .expect("valid response");
    }
    let micros = req
        .header("returnMoneyInMicros")
        .map(|v| !v.trim().eq_ignore_ascii_case("false"))
        .unwrap_or(true);
    let skip = |h: &str| {
        req.header(h)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    };
    let campaign_filter: Option<Vec<String>> =
        p["SelectionCriteria"]["Filter"].as_array().and_then(|fs| {
            fs.iter()
                .find(|f| f["Field"].as_str() == Some("CampaignId"))
                .map(|f| {
                    f["Values"]
                        .as_array()
                        .map(|vs| {
                            vs.iter()
                                .map(|v| {
                                    v.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| v.to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
        });
    let rows: Vec<&YandexRow> = school
        .yandex_rows
        .iter()
        .filter(|r| r.account_id == login && r.date >= from && r.date <= to)
        .filter(|r| {
            campaign_filter
                .as_ref()
                .is_none_or(|ids| ids.contains(&r.campaign_id))
        })
        .collect();
    // group by the requested dimensions
    let mut groups: BTreeMap<Vec<String>, (u64, u64, i64)> = BTreeMap::new();
    for r in rows {
        let key: Vec<String> = DIMENSIONS
            .iter()
            .filter(|d| fields.contains(d))
            .map(|d| match *d {
                "Date" => r.date.to_string(),
                "CampaignId" => r.campaign_id.clone(),
                "CampaignName" => r.campaign_name.clone(),
                _ => campaign_type(&r.campaign_name).to_string(),
            })
            .collect();
        let cost = if include_vat {
            let pct = if r.date >= NaiveDate::from_ymd_opt(2026, 1, 1).expect("date") {
                122
            } else {
                120
            };
            (r.cost_micros * pct / 100 + 5_000) / 10_000 * 10_000
        } else {
            r.cost_micros
        };
        let g = groups.entry(key).or_insert((0, 0, 0));
        g.0 += r.impressions;
        g.1 += r.clicks;
        g.2 += cost;
    }
    let dims: Vec<&str> = DIMENSIONS
        .iter()
        .copied()
        .filter(|d| fields.contains(d))
        .collect();
    let money = |m: i64| -> String {
        if micros {
            m.to_string()
        } else {
            rust_decimal::Decimal::new(m, 6).round_dp(2).to_string()
        }
    };
    let mut out = String::new();
    if !skip("skipReportHeader") {
        out.push_str(&format!("{name} ({from} - {to})\n"));
    }
    if !skip("skipColumnHeader") {
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    let n = groups.len();
    for (key, (imp, clicks, cost)) in &groups {
        let cells: Vec<String> = fields
            .iter()
            .map(|f| {
                if let Some(i) = dims.iter().position(|d| d == f) {
                    return key[i].clone();
                }
                match *f {
                    "Impressions" => imp.to_string(),
                    "Clicks" => clicks.to_string(),
                    "Cost" => money(*cost),
                    "Ctr" if *imp > 0 => format!("{:.2}", *clicks as f64 / *imp as f64 * 100.0),
                    "AvgCpc" if *clicks > 0 => {
                        money((*cost / *clicks as i64 + 5_000) / 10_000 * 10_000)
                    }
                    "AvgCpm" if *imp > 0 => {
                        money((*cost * 1000 / *imp as i64 + 5_000) / 10_000 * 10_000)
                    }
                    _ => "--".to_string(),
                }
            })
            .collect();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    if !skip("skipReportSummary") {
        out.push_str(&format!("Total rows: {n}\n"));
    }
    Response::builder()
        .status(200)
        .header("content-type", "text/tab-separated-values; charset=utf-8")
        .header("RequestId", rid)
        .body(Body::from(out))
        .expect("valid response")
}

fn campaign_type(name: &str) -> &'static str {
    if name.contains("Мастер") {
        "UNIFIED_CAMPAIGN"
    } else {
        "TEXT_CAMPAIGN"
    }
}
