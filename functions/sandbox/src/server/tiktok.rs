//! TikTok API for Business v1.3: advertiser info and the integrated
//! (synchronous) report, errors as HTTP 200 with a non-zero `code`.

use super::{Req, Shared, json};
use crate::model::{AdRow, AdVendor};
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{Value, json};

const CT: &str = "application/json";

fn answer(sh: &Shared, code: u32, message: &str, data: Value) -> Response {
    let rid = format!("2026{}", &sh.request_id()[7..]);
    json(
        200,
        CT,
        &json!({"code": code, "message": message, "request_id": rid, "data": data}),
    )
}

fn fail(sh: &Shared, code: u32, message: &str) -> Response {
    answer(sh, code, message, json!({}))
}

/// A list parameter: a JSON array (`["a","b"]`) or a bare value.
fn list_param(v: &str) -> Vec<String> {
    match serde_json::from_str::<Value>(v) {
        Ok(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => vec![v.trim().to_string()],
    }
}

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    let path = req.path.as_str();
    let known = [
        "/open_api/v1.3/advertiser/info/",
        "/open_api/v1.3/report/integrated/get/",
    ];
    if !known.contains(&path) {
        // TikTok paths need their trailing slash
        return super::respond(404, "text/plain; charset=utf-8", "404 page not found");
    }
    match req.header("access-token").map(str::trim) {
        None | Some("") => {
            return fail(
                sh,
                40104,
                "Access token is null, you should set it in http header with key Access-Token.",
            );
        }
        Some(t) if t != super::TIKTOK_TOKEN => {
            return fail(sh, 40105, "Access token is incorrect or has been revoked.");
        }
        _ => {}
    }
    if path == known[0] {
        advertiser_info(sh, req)
    } else {
        report(sh, req)
    }
}

fn advertiser_info(sh: &Shared, req: &Req) -> Response {
    let Some(ids) = req.q("advertiser_ids").map(list_param) else {
        return fail(
            sh,
            40002,
            "advertiser_ids: Missing data for required field.",
        );
    };
    let mut list = Vec::new();
    for id in &ids {
        let Some(a) = sh
            .school
            .accounts
            .iter()
            .find(|a| a.vendor == AdVendor::Tiktok && &a.id == id)
        else {
            return fail(
                sh,
                40001,
                &format!("No permission to operate advertiser {id}"),
            );
        };
        list.push(json!({
            "advertiser_id": a.id,
            "name": a.name,
            "currency": a.currency,
            "timezone": "Europe/Moscow",
        }));
    }
    answer(sh, 0, "OK", json!({"list": list}))
}

fn report(sh: &Shared, req: &Req) -> Response {
    let Some(id) = req.q("advertiser_id").map(str::trim) else {
        return fail(sh, 40002, "advertiser_id: Missing data for required field.");
    };
    if !sh
        .school
        .accounts
        .iter()
        .any(|a| a.vendor == AdVendor::Tiktok && a.id == id)
    {
        return fail(
            sh,
            40001,
            &format!("No permission to operate advertiser {id}"),
        );
    }
    for (k, want) in [("report_type", "BASIC"), ("data_level", "AUCTION_CAMPAIGN")] {
        if req.q(k).map(str::trim) != Some(want) {
            return fail(
                sh,
                40002,
                &format!("{k}: the sandbox serves {k}={want} only"),
            );
        }
    }
    let dims = req.q("dimensions").map(list_param).unwrap_or_default();
    if dims != ["campaign_id", "stat_time_day"] && dims != ["stat_time_day", "campaign_id"] {
        return fail(
            sh,
            40002,
            "dimensions: the sandbox serves [\"campaign_id\",\"stat_time_day\"] only",
        );
    }
    let metrics = req.q("metrics").map(list_param).unwrap_or_default();
    let date = |k: &str| {
        req.q(k)
            .and_then(|v| NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok())
    };
    let (Some(from), Some(to)) = (date("start_date"), date("end_date")) else {
        return fail(
            sh,
            40002,
            "start_date/end_date: Missing data for required field or not YYYY-MM-DD.",
        );
    };
    if from > to {
        return fail(sh, 40002, "start_date must be before end_date.");
    }
    if (to - from).num_days() + 1 > 30 {
        return fail(
            sh,
            40002,
            "The time span between start_date and end_date cannot exceed 30 days when stat_time_day is used.",
        );
    }
    let num = |k: &str, d: i64| {
        req.q(k)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(d)
    };
    let page = num("page", 1);
    let page_size = num("page_size", 10);
    if page < 1 || !(1..=1000).contains(&page_size) {
        return fail(
            sh,
            40002,
            "page_size: Must be between 1 and 1000; page: must be at least 1.",
        );
    }
    let mut rows: Vec<&AdRow> = sh
        .school
        .ad_rows
        .iter()
        .filter(|r| r.account_id == id && from <= r.date && r.date <= to)
        .collect();
    rows.sort_by(|a, b| (a.date, &a.campaign_id).cmp(&(b.date, &b.campaign_id)));
    let total = rows.len() as i64;
    let total_page = (total + page_size - 1) / page_size;
    let list: Vec<Value> = rows
        .iter()
        .skip(((page - 1) * page_size) as usize)
        .take(page_size as usize)
        .map(|r| {
            let mut m = serde_json::Map::new();
            for name in &metrics {
                let v = match name.as_str() {
                    "spend" => json!(format!("{:.2}", r.spend)),
                    "impressions" => json!(r.impressions.to_string()),
                    "clicks" => json!(r.clicks.to_string()),
                    "campaign_name" => json!(r.campaign_name),
                    "cpc" if r.clicks > 0 => {
                        json!(format!(
                            "{:.2}",
                            r.spend / rust_decimal::Decimal::from(r.clicks)
                        ))
                    }
                    "cpc" => json!("0.00"),
                    _ => continue,
                };
                m.insert(name.clone(), v);
            }
            json!({
                "dimensions": {
                    "campaign_id": r.campaign_id,
                    "stat_time_day": format!("{} 00:00:00", r.date.format("%Y-%m-%d")),
                },
                "metrics": Value::Object(m),
            })
        })
        .collect();
    answer(
        sh,
        0,
        "OK",
        json!({
            "list": list,
            "page_info": {"page": page, "page_size": page_size, "total_number": total, "total_page": total_page}
        }),
    )
}
