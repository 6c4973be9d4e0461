//! Meta Marketing API: `GET /v{N}.0/act_{id}/insights`, cursor paging.

use super::{Req, Shared, json, with_param};
use crate::model::{AdVendor, FacebookRow};
use axum::response::Response;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const CT: &str = "application/json; charset=UTF-8";

fn fb_error(sh: &Shared, message: &str, kind: &str, code: u32, subcode: Option<u32>) -> Response {
    let mut e = json!({"message": message, "type": kind, "code": code, "fbtrace_id": format!("A{}", &sh.request_id()[12..])});
    if let Some(s) = subcode {
        e["error_subcode"] = json!(s);
    }
    json(400, CT, &json!({"error": e}))
}

fn invalid_param(sh: &Shared, message: &str) -> Response {
    fb_error(sh, message, "OAuthException", 100, None)
}

fn cursor(i: usize) -> String {
    hex::encode(format!("sandbox:{i}")).to_uppercase()
}

fn parse_cursor(c: &str) -> Option<usize> {
    let bytes = hex::decode(c.to_ascii_lowercase()).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("sandbox:")?
        .parse()
        .ok()
}

pub(crate) fn handle(sh: &Shared, req: &Req, seq: u64) -> Response {
    let token = req
        .q("access_token")
        .map(str::to_string)
        .or_else(|| req.bearer().map(str::to_string));
    if token.as_deref() != Some(super::FACEBOOK_TOKEN) {
        return fb_error(
            sh,
            "Invalid OAuth access token - Cannot parse access token",
            "OAuthException",
            190,
            None,
        );
    }
    if sh.opts.facebook_throttle_on_request == Some(seq) {
        let mut r = json(
            400,
            CT,
            &json!({"error": {
                "message": "(#17) User request limit reached",
                "type": "OAuthException",
                "is_transient": true,
                "code": 17,
                "error_subcode": 2446079,
                "error_user_title": "Too many calls",
                "error_user_msg": "There have been too many calls from this ad-account. Please wait a bit and try again.",
                "fbtrace_id": "AThrottle1"
            }}),
        );
        if let Ok(v) = r#"{"100000000000001":[{"type":"ads_insights","call_count":100,"total_cputime":20,"total_time":20,"estimated_time_to_regain_access":0,"ads_api_access_tier":"standard_access"}]}"#.parse() {
            r.headers_mut().insert("x-business-use-case-usage", v);
        }
        return r;
    }
    // /v{N}.0/act_{id}/insights
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let version_ok = |v: &str| {
        v.strip_prefix('v')
            .and_then(|r| r.strip_suffix(".0"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let (act, ok) = match parts.as_slice() {
        [v, act, "insights"] if version_ok(v) => (*act, true),
        _ => ("", false),
    };
    if !ok {
        return fb_error(
            sh,
            "Unknown path components: the sandbox serves /v{N}.0/act_{id}/insights only",
            "OAuthException",
            2500,
            None,
        );
    }
    let account_id = act.strip_prefix("act_").unwrap_or("");
    let Some(account) = sh
        .school
        .accounts
        .iter()
        .find(|a| a.vendor == AdVendor::Facebook && a.id == account_id)
    else {
        return fb_error(
            sh,
            &format!(
                "Unsupported get request. Object with ID '{act}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
            "GraphMethodException",
            100,
            Some(33),
        );
    };
    let level = req.q("level").unwrap_or("account");
    if level != "campaign" && level != "account" {
        return invalid_param(
            sh,
            "(#100) the sandbox supports level=campaign|account only",
        );
    }
    let daily = match req.q("time_increment").unwrap_or("all_days") {
        "1" => true,
        "all_days" => false,
        other => {
            return invalid_param(
                sh,
                &format!("(#100) time_increment {other} is not supported by the sandbox"),
            );
        }
    };
    let by_platform = match req.q("breakdowns").or_else(|| req.q("breakdowns[]")) {
        None | Some("") => false,
        Some("publisher_platform") => true,
        Some(other) => {
            return invalid_param(
                sh,
                &format!("(#100) breakdowns {other} is not supported by the sandbox"),
            );
        }
    };
    let (since, until) = match time_range(req) {
        Some(r) => r,
        None => {
            let end = sh.school.end;
            (end - chrono::Duration::days(29), end)
        }
    };
    if since > until {
        return invalid_param(sh, "(#100) time_range: since must be on or before until");
    }
    let limit = match req.q("limit").map(str::parse::<usize>) {
        None => 25,
        Some(Ok(l)) if l >= 1 => l.min(5000),
        _ => return invalid_param(sh, "(#100) limit must be a positive integer"),
    };
    let offset = match req.q("after") {
        None => 0,
        Some(c) => match parse_cursor(c) {
            Some(i) => i + 1,
            None => return invalid_param(sh, "(#100) Invalid cursor"),
        },
    };
    let fields: Vec<&str> = req
        .q("fields")
        .map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_else(|| vec!["impressions", "spend"]);

    // group rows
    type Key = (NaiveDate, String, String);
    type Sums = (Decimal, u64, u64, String);
    let mut groups: BTreeMap<Key, Sums> = BTreeMap::new();
    let rows = sh.school.facebook_rows.iter().filter(|r: &&FacebookRow| {
        r.account_id == account.id && r.date >= since && r.date <= until
    });
    for r in rows {
        let key = (
            if daily { r.date } else { since },
            if level == "campaign" {
                r.campaign_id.clone()
            } else {
                String::new()
            },
            if by_platform {
                r.publisher_platform.clone()
            } else {
                String::new()
            },
        );
        let g = groups
            .entry(key)
            .or_insert((Decimal::ZERO, 0, 0, r.campaign_name.clone()));
        g.0 += r.spend;
        g.1 += r.impressions;
        g.2 += r.clicks;
    }
    let all: Vec<(&Key, &Sums)> = groups.iter().collect();
    let end = (offset + limit).min(all.len());
    let page = if offset < all.len() {
        &all[offset..end]
    } else {
        &[][..]
    };
    let data: Vec<Value> = page
        .iter()
        .map(
            |((date, campaign_id, platform), (spend, imp, clicks, cname))| {
                let mut m = Map::new();
                for f in &fields {
                    let v = match *f {
                        "account_currency" => json!(account.currency),
                        "account_id" => json!(account.id),
                        "account_name" => json!(account.name),
                        "campaign_id" if level == "campaign" => json!(campaign_id),
                        "campaign_name" if level == "campaign" => json!(cname),
                        "spend" => json!(spend.round_dp(2).to_string()),
                        "impressions" => json!(imp.to_string()),
                        "clicks" | "inline_link_clicks" => json!(clicks.to_string()),
                        "cpc" if *clicks > 0 => json!(
                            (*spend / Decimal::from(*clicks))
                                .round_dp(6)
                                .normalize()
                                .to_string()
                        ),
                        "ctr" if *imp > 0 => json!(
                            (Decimal::from(*clicks) * Decimal::from(100) / Decimal::from(*imp))
                                .round_dp(6)
                                .normalize()
                                .to_string()
                        ),
                        "cpm" if *imp > 0 => json!(
                            (*spend * Decimal::from(1000) / Decimal::from(*imp))
                                .round_dp(6)
                                .normalize()
                                .to_string()
                        ),
                        _ => continue, // unknown or empty: Meta omits it
                    };
                    m.insert((*f).to_string(), v);
                }
                let (ds, de) = if daily {
                    (*date, *date)
                } else {
                    (since, until)
                };
                m.insert("date_start".into(), json!(ds.to_string()));
                m.insert("date_stop".into(), json!(de.to_string()));
                if by_platform {
                    m.insert("publisher_platform".into(), json!(platform));
                }
                Value::Object(m)
            },
        )
        .collect();
    let mut body = json!({"data": data});
    if !page.is_empty() {
        let here = format!("{}/facebook{}", sh.base, req.path);
        let mut paging = json!({"cursors": {"before": cursor(offset), "after": cursor(end - 1)}});
        let without_after: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| k != "after" && k != "before")
            .cloned()
            .collect();
        if end < all.len() {
            paging["next"] = json!(format!(
                "{here}?{}",
                with_param(&without_after, "after", &cursor(end - 1))
            ));
        }
        if offset > 0 {
            paging["previous"] = json!(format!(
                "{here}?{}",
                with_param(&without_after, "before", &cursor(offset))
            ));
        }
        body["paging"] = paging;
    }
    json(200, CT, &body)
}

fn time_range(req: &Req) -> Option<(NaiveDate, NaiveDate)> {
    let parse = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
    if let Some(tr) = req.q("time_range") {
        let v: Value = serde_json::from_str(tr).ok()?;
        return Some((parse(v["since"].as_str()?)?, parse(v["until"].as_str()?)?));
    }
    match (req.q("time_range[since]"), req.q("time_range[until]")) {
        (Some(s), Some(u)) => Some((parse(s)?, parse(u)?)),
        _ => None,
    }
}
