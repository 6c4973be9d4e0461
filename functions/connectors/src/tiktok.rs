//! `tiktok`: TikTok API for Business v1.3, campaign spend per day.
//!
//! A run has one `advertiser` job, then one `report` job per window chunk
//! of at most [`MAX_CHUNK_DAYS`] days (TikTok's limit with
//! `stat_time_day`):
//!
//! ```text
//! GET {base}/open_api/v1.3/advertiser/info/
//!     ?advertiser_ids=["<id>"]&fields=["currency","timezone","name"]
//! GET {base}/open_api/v1.3/report/integrated/get/
//!     ?advertiser_id=<id>&report_type=BASIC&data_level=AUCTION_CAMPAIGN
//!     &dimensions=["campaign_id","stat_time_day"]
//!     &metrics=["spend","impressions","clicks","campaign_name"]
//!     &start_date=YYYY-MM-DD&end_date=YYYY-MM-DD&page=N&page_size=1000
//! ```
//!
//! (lists are URL-encoded JSON arrays). The token travels in the
//! `Access-Token` header (credential `token`), added by the driver.
//! Paging: while `data.page_info.page < data.page_info.total_page`, the same
//! request with `page + 1`.
//!
//! Errors come with HTTP 200 and a non-zero `code` (see [`classify`]):
//! `40100`/`40133`/`40016` (rate limits) are retryable after 1 s, or 60 s
//! when the message names a per-minute (QPM) limit; a per-day (QPD) limit is
//! terminal (it resets at 00:00 UTC; a later run picks the window up again).
//! `40102`/`40104`/`40105`/`40106` are terminal with a re-authorization hint,
//! other `4xxxx` terminal, `5xxxx` retryable; anything else non-zero (e.g.
//! `20001` partial success) is terminal rather than silently incomplete.
//! A non-200 HTTP status means a wrong path or method (TikTok paths need
//! their trailing `/`), except 429/5xx which are retried.
//!
//! Options: `advertiser_id` (required, digits), `currency` (else the
//! account's `currency`; one of them is required).
//!
//! ## Currency
//!
//! Normalization works one stored response at a time, so report rows cannot
//! see the `advertiser` response. Report rows therefore take the configured
//! currency, and the `advertiser` response is a **check**: it yields no
//! record, but a [`ParseError`] (record `advertiser`, field `currency`) when
//! the advertiser's currency differs from the configured one (or none is
//! configured), telling the user which `currency` to set.
//!
//! ## Normalized rows
//!
//! One [`AdStat`] per (day, campaign): `platform` `tiktok`, level campaign,
//! `stat_time_day` `"YYYY-MM-DD 00:00:00"` in the advertiser's zone,
//! metrics read as strings or numbers. A **missing metric is 0** (TikTok
//! documents omitting empty metrics); an unreadable one rejects the row.
//! Rows repeating a (day, campaign) in one response are summed. Spend is
//! net of tax: [`VatMode::Excluded`] [unverified].

use crate::util::{chunks, option_str};
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};

const SLUG: &str = "tiktok";

/// Longest window one daily report covers.
pub const MAX_CHUNK_DAYS: i64 = 30;

/// Rows per report page (TikTok's maximum).
pub const PAGE_SIZE: u32 = 1000;

/// API prefix under the base URL.
pub const API_PREFIX: &str = "/open_api/v1.3";

/// Wait after a per-second rate limit.
pub const QPS_WAIT: Duration = Duration::from_secs(1);

/// Wait after a per-minute rate limit.
pub const QPM_WAIT: Duration = Duration::from_secs(60);

/// The report's dimensions (a JSON array, as sent).
pub const DIMENSIONS: &str = r#"["campaign_id","stat_time_day"]"#;

/// The report's metrics (a JSON array, as sent).
pub const METRICS: &str = r#"["spend","impressions","clicks","campaign_name"]"#;

/// The advertiser fields requested (a JSON array, as sent).
pub const ADVERTISER_FIELDS: &str = r#"["currency","timezone","name"]"#;

/// The TikTok for Business connector.
pub struct Tiktok;

/// The advertiser id: digits, given as a string or an integer.
fn advertiser_id(account: &AccountConfig) -> Option<String> {
    let v = account.options.get("advertiser_id")?;
    let id = match v.as_integer() {
        Some(n) if n > 0 => n.to_string(),
        _ => v.as_str()?.trim().to_string(),
    };
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then_some(id)
}

/// The configured currency: option `currency`, else the account's.
fn configured_currency(account: &AccountConfig) -> Option<String> {
    option_str(account, "currency")
        .or(account.currency.as_deref())
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
}

fn valid_currency(c: &str) -> bool {
    c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic())
}

fn retryable(reason: impl Into<String>, after: Option<Duration>) -> FetchError {
    FetchError::Retryable {
        slug: SLUG.to_string(),
        reason: reason.into(),
        after,
    }
}

fn terminal(reason: impl Into<String>) -> FetchError {
    FetchError::Terminal {
        slug: SLUG.to_string(),
        reason: reason.into(),
    }
}

fn int_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Classifies a non-zero TikTok `code` with its `message`.
pub fn classify(code: i64, message: &str, request_id: &str) -> FetchError {
    let what = format!("code {code}: {message} (request_id {request_id})");
    let upper = message.to_ascii_uppercase();
    match code {
        40100 | 40133 | 40016 => {
            if upper.contains("QPD") || upper.contains("PER DAY") || upper.contains("DAILY") {
                terminal(format!(
                    "daily request quota exhausted (resets at 00:00 UTC): {what}"
                ))
            } else if upper.contains("QPM") || upper.contains("PER MINUTE") {
                retryable(format!("rate limited (per minute): {what}"), Some(QPM_WAIT))
            } else {
                retryable(format!("rate limited: {what}"), Some(QPS_WAIT))
            }
        }
        40102 | 40104 | 40105 | 40106 => terminal(format!(
            "access token missing, expired or invalid; re-authorize the app and update \
             credentials.token: {what}"
        )),
        40000..=49999 => terminal(what),
        50000..=59999 => retryable(format!("TikTok server error: {what}"), None),
        _ => terminal(format!("unexpected response code: {what}")),
    }
}

/// `request` with its `page` query parameter set to `page`.
fn with_page(request: &Request, page: i64) -> Request {
    let mut next = request.clone();
    next.query.retain(|(k, _)| k != "page");
    next.query.push(("page".to_string(), page.to_string()));
    next
}

/// A value as text: strings trimmed, numbers as written, else "".
fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A count from a string or a number; missing, null or "" is 0.
fn count_of(v: Option<&Value>) -> Result<u64, String> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| format!("not a count: {n}")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(0),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| format!("not a count: {s:?}")),
        Some(other) => Err(format!("not a count: {other}")),
    }
}

/// A decimal from a string or a number (read from its text, never via
/// `f64`); missing, null or "" is 0.
fn decimal_of(v: Option<&Value>) -> Result<Decimal, String> {
    match v {
        None | Some(Value::Null) => Ok(Decimal::ZERO),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Decimal::ZERO),
        Some(Value::String(s)) => Decimal::from_str(s.trim())
            .or_else(|_| Decimal::from_scientific(s.trim()))
            .map_err(|_| format!("not a decimal: {s:?}")),
        Some(Value::Number(n)) => {
            let t = n.to_string();
            Decimal::from_str(&t)
                .or_else(|_| Decimal::from_scientific(&t))
                .map_err(|_| format!("not a decimal: {t}"))
        }
        Some(other) => Err(format!("not a decimal: {other}")),
    }
}

impl Connector for Tiktok {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        "https://business-api.tiktok.com".to_string()
    }

    fn auth(&self) -> AuthScheme {
        AuthScheme::Header {
            name: "Access-Token",
            credential: "token",
        }
    }

    /// Well under the Basic tier (10 QPS, 600 QPM per app): 2 requests a
    /// second is at most 120 a minute, so no hard budget (which would cost
    /// a shared state read and write per request) is needed.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 2.0,
            burst: 2,
            budget: None,
        }
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        if advertiser_id(account).is_none() {
            return Err("options.advertiser_id: required, the advertiser's digits".into());
        }
        match configured_currency(account) {
            None => {
                return Err(
                    "options.currency (or the account's `currency`): required, the \
                     advertiser's currency as shown by TikTok Ads Manager (e.g. \"USD\")"
                        .into(),
                );
            }
            Some(c) if !valid_currency(&c) => {
                return Err("options.currency: expected an ISO code such as \"USD\"".into());
            }
            Some(_) => {}
        }
        if !account.credentials.contains_key("token") {
            return Err("credentials.token: required (long-lived Marketing API token)".into());
        }
        Ok(())
    }

    /// One `advertiser` job (currency check), then one `report` job per
    /// chunk of at most 30 days; meta `start_date`, `end_date`.
    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        let mut jobs = vec![Job {
            entity: "advertiser".to_string(),
            window: None,
            meta: BTreeMap::new(),
        }];
        jobs.extend(
            chunks(ctx.from, ctx.to, MAX_CHUNK_DAYS)
                .into_iter()
                .map(|(from, to)| Job {
                    entity: "report".to_string(),
                    window: Some((from, to)),
                    meta: BTreeMap::from([
                        (
                            "start_date".to_string(),
                            from.format("%Y-%m-%d").to_string(),
                        ),
                        ("end_date".to_string(), to.format("%Y-%m-%d").to_string()),
                    ]),
                }),
        );
        jobs
    }

    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request {
        let base = format!("{}{API_PREFIX}", ctx.base_url.trim_end_matches('/'));
        let id = advertiser_id(ctx.account).unwrap_or_else(|| "0".to_string());
        if job.entity == "advertiser" {
            return Request::get(format!("{base}/advertiser/info/"))
                .query("advertiser_ids", format!(r#"["{id}"]"#))
                .query("fields", ADVERTISER_FIELDS);
        }
        let (from, to) = job.window.unwrap_or((ctx.from, ctx.to));
        Request::get(format!("{base}/report/integrated/get/"))
            .query("advertiser_id", id)
            .query("report_type", "BASIC")
            .query("data_level", "AUCTION_CAMPAIGN")
            .query("dimensions", DIMENSIONS)
            .query("metrics", METRICS)
            .query("start_date", from.format("%Y-%m-%d").to_string())
            .query("end_date", to.format("%Y-%m-%d").to_string())
            .query("page", "1")
            .query("page_size", PAGE_SIZE.to_string())
    }

    fn next_step(
        &self,
        _ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        match response.status {
            200 => {}
            429 | 500..=599 => {
                return Err(retryable(format!("HTTP {}", response.status), None));
            }
            s => {
                return Err(terminal(format!(
                    "HTTP {s}: wrong path or method (TikTok paths end with `/`)"
                )));
            }
        }
        let json: Value = serde_json::from_slice(&response.body)
            .map_err(|e| terminal(format!("body is not JSON: {e}")))?;
        let Some(code) = int_of(json.get("code")) else {
            return Err(terminal("response has no `code`"));
        };
        if code != 0 {
            let message = json
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            let request_id = json
                .get("request_id")
                .and_then(Value::as_str)
                .unwrap_or("-");
            return Err(classify(code, message, request_id));
        }
        if !json.pointer("/data/list").is_some_and(Value::is_array) {
            return Err(terminal("response has no `data.list` array"));
        }
        if job.entity == "report" {
            let page = int_of(json.pointer("/data/page_info/page"));
            let total = int_of(json.pointer("/data/page_info/total_page"));
            if let (Some(page), Some(total)) = (page, total)
                && page < total
            {
                return Ok(Step::Next(with_page(request, page + 1)));
            }
        }
        Ok(Step::Done { watermark: None })
    }

    fn normalize(&self, envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized {
        let mut out = Normalized::default();
        if envelope.status != 200 {
            return out;
        }
        let json = envelope
            .body_bytes()
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
        let json = match json {
            Ok(j) => j,
            Err(e) => {
                out.rejected.push(ParseError::new(SLUG, "page", "body", e));
                return out;
            }
        };
        if int_of(json.get("code")) != Some(0) {
            return out;
        }
        let Some(list) = json.pointer("/data/list").and_then(Value::as_array) else {
            return out;
        };
        match envelope.entity.as_str() {
            "advertiser" => check_advertiser(list, ctx, &mut out),
            _ => out = report_rows(list, ctx),
        }
        out
    }
}

/// Compares the advertiser's currency with the configured one.
fn check_advertiser(list: &[Value], ctx: &NormalizeContext<'_>, out: &mut Normalized) {
    let err = |field: &str, reason: String| ParseError::new(SLUG, "advertiser", field, reason);
    let wanted = advertiser_id(ctx.account);
    let entry = wanted
        .as_deref()
        .and_then(|w| list.iter().find(|a| text_of(a.get("advertiser_id")) == w))
        .or_else(|| list.first());
    let Some(entry) = entry else {
        out.rejected.push(err(
            "advertiser_id",
            "advertiser info returned no advertiser (no access to it?)".into(),
        ));
        return;
    };
    let actual = text_of(entry.get("currency")).to_ascii_uppercase();
    if actual.is_empty() {
        return;
    }
    match configured_currency(ctx.account) {
        Some(c) if c == actual => {}
        Some(c) => out.rejected.push(err(
            "currency",
            format!(
                "the advertiser's currency is {actual} but the account is configured with {c}: \
                 set options.currency = \"{actual}\" and re-normalize"
            ),
        )),
        None => out.rejected.push(err(
            "currency",
            format!("no currency configured: set options.currency = \"{actual}\""),
        )),
    }
}

/// One [`AdStat`] per (day, campaign) from report rows.
fn report_rows(list: &[Value], ctx: &NormalizeContext<'_>) -> Normalized {
    let mut out = Normalized::default();
    let currency = configured_currency(ctx.account);
    let mut stats: BTreeMap<(NaiveDate, String), AdStat> = BTreeMap::new();
    for (i, row) in list.iter().enumerate() {
        let dims = row.get("dimensions");
        let metrics = row.get("metrics");
        let campaign_id = text_of(dims.and_then(|d| d.get("campaign_id")));
        let day_text = text_of(dims.and_then(|d| d.get("stat_time_day")));
        let record = if campaign_id.is_empty() && day_text.is_empty() {
            format!("row {}", i + 1)
        } else {
            format!("{day_text} {campaign_id}")
        };
        let err =
            |field: &str, reason: String| ParseError::new(SLUG, record.clone(), field, reason);
        let day_part = day_text.split_whitespace().next().unwrap_or("");
        let Ok(date) = NaiveDate::parse_from_str(day_part, "%Y-%m-%d") else {
            out.rejected
                .push(err("stat_time_day", format!("not a date: {day_text:?}")));
            continue;
        };
        if campaign_id.is_empty() {
            out.rejected
                .push(err("campaign_id", "missing campaign id".into()));
            continue;
        }
        let metric = |k: &str| metrics.and_then(|m| m.get(k));
        let spend = match decimal_of(metric("spend")) {
            Ok(d) => d,
            Err(e) => {
                out.rejected.push(err("spend", e));
                continue;
            }
        };
        let (impressions, clicks) =
            match (count_of(metric("impressions")), count_of(metric("clicks"))) {
                (Ok(i), Ok(c)) => (i, c),
                (Err(e), _) => {
                    out.rejected.push(err("impressions", e));
                    continue;
                }
                (_, Err(e)) => {
                    out.rejected.push(err("clicks", e));
                    continue;
                }
            };
        let Some(currency) = currency.clone() else {
            out.rejected.push(err(
                "currency",
                "no currency configured: set options.currency to the advertiser's currency".into(),
            ));
            continue;
        };
        let entry = stats
            .entry((date, campaign_id.clone()))
            .or_insert_with(|| AdStat {
                source: SLUG.to_string(),
                account: ctx.account.id.clone(),
                date,
                platform: "tiktok".to_string(),
                level: StatLevel::Campaign,
                campaign_id: campaign_id.clone(),
                campaign_name: text_of(metric("campaign_name")),
                ad_id: String::new(),
                ad_name: String::new(),
                impressions: 0,
                clicks: 0,
                spend: Decimal::ZERO,
                currency,
                vat: VatMode::Excluded,
            });
        entry.impressions += impressions;
        entry.clicks += clicks;
        entry.spend += spend;
    }
    out.records = stats.into_values().map(Record::AdStat).collect();
    out
}
