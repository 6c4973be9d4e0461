//! VK Ads (`ad_plans`) and myTarget (`campaigns`): object lists, day
//! statistics v2 and the OAuth2 token endpoint.

use super::{Req, Shared, json};
use crate::model::{AdRow, AdVendor, Campaign};
use axum::http::Method;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CT: &str = "application/json";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    VkAds,
    MyTarget,
}

impl Family {
    fn vendor(self) -> AdVendor {
        match self {
            Family::VkAds => AdVendor::VkAds,
            Family::MyTarget => AdVendor::MyTarget,
        }
    }

    fn object(self) -> &'static str {
        match self {
            Family::VkAds => "ad_plans",
            Family::MyTarget => "campaigns",
        }
    }

    fn wrong_ids(self) -> &'static str {
        match self {
            Family::VkAds => "ERR_WRONG_ADPLANS",
            Family::MyTarget => "ERR_WRONG_CAMPAIGNS",
        }
    }
}

fn err(status: u16, code: &str, message: &str) -> Response {
    json(
        status,
        CT,
        &json!({"error": {"message": message, "code": code}}),
    )
}

fn unauthorized(code: &str, message: &str) -> Response {
    let mut r = json(401, CT, &json!({"code": code, "message": message}));
    if let Ok(v) = format!("Bearer realm=\"api\", error=\"{code}\"").parse() {
        r.headers_mut().insert("www-authenticate", v);
    }
    r
}

pub(crate) fn handle(sh: &Shared, req: &Req, fam: Family) -> Response {
    let path = req.path.trim_end_matches('/');
    if path == "/api/v2/oauth2/token.json" {
        return token(req);
    }
    match req.bearer() {
        None | Some("") => return unauthorized("invalid_token", "Access token is missing"),
        Some(t) if t != super::VK_ACCESS_TOKEN => {
            return unauthorized("invalid_token", "Access token is invalid");
        }
        _ => {}
    }
    if req.method != Method::GET {
        return err(405, "ERR_WRONG_METHOD", "Method not allowed");
    }
    let list_path = format!("/api/v2/{}.json", fam.object());
    let stats_path = format!("/api/v2/statistics/{}/day.json", fam.object());
    if path == list_path {
        list(sh, req, fam)
    } else if path == stats_path {
        stats(sh, req, fam)
    } else {
        err(404, "ERR_WRONG_RESOURCE", "Resource not found")
    }
}

fn token(req: &Req) -> Response {
    if req.method != Method::POST {
        return err(405, "ERR_WRONG_METHOD", "Method not allowed");
    }
    let form = req.form();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if get("client_id") != super::VK_CLIENT_ID || get("client_secret") != super::VK_CLIENT_SECRET {
        return json(
            401,
            CT,
            &json!({"code": "invalid_client", "message": "Invalid client id or secret"}),
        );
    }
    match get("grant_type") {
        "client_credentials" => {}
        "refresh_token" if get("refresh_token") == super::VK_REFRESH_TOKEN => {}
        "refresh_token" => {
            return json(
                401,
                CT,
                &json!({"code": "invalid_token", "message": "Refresh token is invalid"}),
            );
        }
        other => {
            return json(
                400,
                CT,
                &json!({"code": "unsupported_grant_type", "message": format!("Unsupported grant type: {other}")}),
            );
        }
    }
    json(
        200,
        CT,
        &json!({
            "access_token": super::VK_ACCESS_TOKEN,
            "token_type": "bearer",
            "scope": "read_ads read_payments",
            "expires_in": "86400",
            "refresh_token": super::VK_REFRESH_TOKEN,
        }),
    )
}

fn campaigns(sh: &Shared, fam: Family) -> Vec<&Campaign> {
    let mut v: Vec<&Campaign> = sh
        .school
        .campaigns
        .iter()
        .filter(|c| c.vendor == fam.vendor())
        .collect();
    v.sort_by_key(|c| c.id.parse::<u64>().unwrap_or(0));
    v
}

fn list(sh: &Shared, req: &Req, fam: Family) -> Response {
    let num = |k: &str, d: usize| {
        req.q(k)
            .map(|v| v.trim().parse::<usize>().map_err(|_| k.to_string()))
            .unwrap_or(Ok(d))
    };
    let (offset, limit) = match (num("offset", 0), num("limit", 20)) {
        (Ok(o), Ok(l)) => (o, l),
        (Err(k), _) | (_, Err(k)) => {
            return err(
                400,
                "ERR_WRONG_PARAMETER",
                &format!("Invalid parameter: {k}"),
            );
        }
    };
    if !(1..=50).contains(&limit) {
        return err(
            400,
            "ERR_WRONG_PARAMETER",
            "Invalid parameter: limit (must be between 1 and 50)",
        );
    }
    let all = campaigns(sh, fam);
    let last_day: BTreeMap<&str, NaiveDate> = sh
        .school
        .ad_rows
        .iter()
        .filter(|r| r.vendor == fam.vendor())
        .map(|r| (r.campaign_id.as_str(), r.date))
        .collect();
    let items: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| {
            let active = last_day
                .get(c.id.as_str())
                .is_some_and(|d| *d + Duration::days(3) >= sh.school.end);
            json!({
                "id": c.id.parse::<u64>().unwrap_or(0),
                "name": c.name,
                "status": if active { "active" } else { "blocked" },
            })
        })
        .collect();
    json(
        200,
        CT,
        &json!({"count": all.len(), "offset": offset, "limit": limit, "items": items}),
    )
}

fn base(shows: u64, clicks: u64, spent: Decimal) -> Value {
    let ratio = |num: Decimal, den: u64| {
        if den == 0 {
            "0".to_string()
        } else {
            (num / Decimal::from(den))
                .round_dp(2)
                .normalize()
                .to_string()
        }
    };
    let ctr = if shows == 0 {
        0.0
    } else {
        (clicks as f64 * 10_000.0 / shows as f64).round() / 100.0
    };
    json!({
        "shows": shows,
        "clicks": clicks,
        "goals": 0,
        "spent": spent.round_dp(2).normalize().to_string(),
        "cpm": ratio(spent * Decimal::from(1000), shows),
        "cpc": ratio(spent, clicks),
        "cpa": "0",
        "ctr": ctr,
        "cr": 0,
    })
}

fn stats(sh: &Shared, req: &Req, fam: Family) -> Response {
    let date = |k: &str| {
        req.q(k)
            .map(|v| NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d"))
    };
    let from = match date("date_from") {
        Some(Ok(d)) => d,
        _ => return err(400, "ERR_WRONG_PARAMETER", "Invalid parameter: date_from"),
    };
    let to = match date("date_to") {
        Some(Ok(d)) => d,
        _ => return err(400, "ERR_WRONG_PARAMETER", "Invalid parameter: date_to"),
    };
    if from > to {
        return err(400, "ERR_WRONG_DATE", "date_from is after date_to");
    }
    if (to - from).num_days() > 366 {
        return err(400, "ERR_LIMIT_EXCEEDED", "Too many dates requested");
    }
    if let Some(m) = req.q("metrics")
        && m.trim() != "base"
    {
        return err(
            400,
            "ERR_WRONG_PARAMETER",
            "Invalid parameter: metrics (the sandbox serves metrics=base)",
        );
    }
    let ids: Vec<&str> = req
        .q("id")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return err(400, "ERR_WRONG_PARAMETER", "Invalid parameter: id");
    }
    if ids.len() > 200 {
        return err(400, "ERR_LIMIT_EXCEEDED", "Too many objects requested");
    }
    let known = campaigns(sh, fam);
    if let Some(bad) = ids.iter().find(|id| !known.iter().any(|c| c.id == **id)) {
        return err(
            400,
            fam.wrong_ids(),
            &format!("Invalid {} id: {bad}", fam.object()),
        );
    }
    let mut by_key: BTreeMap<(&str, NaiveDate), &AdRow> = BTreeMap::new();
    for r in sh
        .school
        .ad_rows
        .iter()
        .filter(|r| r.vendor == fam.vendor() && from <= r.date && r.date <= to)
    {
        by_key.insert((r.campaign_id.as_str(), r.date), r);
    }
    let (mut ts, mut tc, mut tsp) = (0u64, 0u64, Decimal::ZERO);
    let mut items = Vec::new();
    for id in &ids {
        let (mut s, mut c, mut sp) = (0u64, 0u64, Decimal::ZERO);
        let mut rows = Vec::new();
        let mut d = from;
        while d <= to {
            let (shows, clicks, spent) = by_key
                .get(&(*id, d))
                .map(|r| (r.impressions, r.clicks, r.spend))
                .unwrap_or((0, 0, Decimal::ZERO));
            s += shows;
            c += clicks;
            sp += spent;
            rows.push(json!({"date": d.format("%Y-%m-%d").to_string(), "base": base(shows, clicks, spent)}));
            d += Duration::days(1);
        }
        ts += s;
        tc += c;
        tsp += sp;
        items.push(json!({
            "id": id.parse::<u64>().unwrap_or(0),
            "rows": rows,
            "total": {"base": base(s, c, sp)},
        }));
    }
    json(
        200,
        CT,
        &json!({"items": items, "total": {"base": base(ts, tc, tsp)}}),
    )
}
