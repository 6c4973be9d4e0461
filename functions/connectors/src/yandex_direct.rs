//! `yandex_direct`: Yandex Direct Reports API v5, campaign spend per day.
//!
//! One job per window chunk of at most [`MAX_CHUNK_DAYS`] days. Each job
//! sends `POST {base}/json/v5/reports` with headers `processingMode: auto`,
//! `returnMoneyInMicros: true`, `Accept-Language: en` (and `Client-Login`
//! from option `client_login`, required for agency accounts) and the body
//!
//! ```json
//! {"params":{"SelectionCriteria":{"DateFrom":"2026-11-01","DateTo":"2026-11-30"},
//!   "FieldNames":["Date","CampaignId","CampaignName","Impressions","Clicks","Cost"],
//!   "ReportName":"voronka-<16 hex>","ReportType":"CUSTOM_REPORT",
//!   "DateRangeType":"CUSTOM_DATE","Format":"TSV","IncludeVAT":"NO"}}
//! ```
//!
//! `ReportName` is deterministic: `voronka-` and the first 16 hex digits of
//! the SHA-256 of the canonical JSON of the other params, so the same window
//! always names the same report and a poll re-identifies it. 200 is the
//! report; 201/202 mean queued/building: wait `retryIn` seconds (default 5)
//! and send the **identical** request again. 400 is terminal (except the
//! queue/limit codes listed in [`RETRYABLE_CODES`]), 500/502 retryable.
//!
//! Normalization reads the TSV by column name: optional title line
//! `Name (YYYY-MM-DD - YYYY-MM-DD)`, the header line, rows, and the summary
//! `Total rows: N`. `Cost` is integer micros (÷ 1 000 000 exactly), without
//! VAT (`IncludeVAT: NO` → [`VatMode::Excluded`]). `--` is Yandex's null:
//!
//! - `--` in `Impressions` or `Clicks` becomes 0. A row exists only for a
//!   (day, campaign) with statistics, and these counts feed only CTR/CPC;
//!   rejecting the row would drop its spend, which ROMI needs more.
//! - `--` (or anything non-integer) in `Cost` rejects the row: spend is
//!   never invented.
//! - A `Total rows: N` that differs from the data rows read (or a missing
//!   summary line, i.e. a possibly truncated body) is reported as a
//!   rejected [`ParseError`] with record `page`; the rows read are kept.
//!
//! Currency: option `currency`, else the account's `currency`, else RUB
//! (Reports carry no currency column).

use crate::util::{chunks, option_str};
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};

const SLUG: &str = "yandex_direct";

/// Longest window one report covers.
pub const MAX_CHUNK_DAYS: i64 = 30;

/// Wait when a 201/202 has no `retryIn`.
pub const DEFAULT_RETRY_IN: Duration = Duration::from_secs(5);

/// The report's columns, in request order.
pub const FIELD_NAMES: [&str; 6] = [
    "Date",
    "CampaignId",
    "CampaignName",
    "Impressions",
    "Clicks",
    "Cost",
];

/// API error codes sent with HTTP 400 that clear by themselves [unverified]:
/// 52 authorization server unavailable, 56 request limit, 152 not enough
/// units, 506 concurrent connections, 1000/1001/1002 temporary server
/// trouble, 9000 offline report queue full.
pub const RETRYABLE_CODES: [i64; 8] = [52, 56, 152, 506, 1000, 1001, 1002, 9000];

/// The Yandex Direct connector (Reports API v5).
pub struct YandexDirect;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SelectionCriteria {
    date_from: String,
    date_to: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Params {
    selection_criteria: SelectionCriteria,
    field_names: [&'static str; 6],
    #[serde(skip_serializing_if = "Option::is_none")]
    report_name: Option<String>,
    report_type: &'static str,
    date_range_type: &'static str,
    format: &'static str,
    #[serde(rename = "IncludeVAT")]
    include_vat: &'static str,
}

#[derive(Serialize)]
struct Body {
    params: Params,
}

/// The request body for a window, with its deterministic `ReportName`.
/// Struct serialization fixes the key order, so the JSON (and the name)
/// do not depend on serde_json's map implementation.
pub fn report_body(from: NaiveDate, to: NaiveDate) -> String {
    let mut params = Params {
        selection_criteria: SelectionCriteria {
            date_from: from.format("%Y-%m-%d").to_string(),
            date_to: to.format("%Y-%m-%d").to_string(),
        },
        field_names: FIELD_NAMES,
        report_name: None,
        report_type: "CUSTOM_REPORT",
        date_range_type: "CUSTOM_DATE",
        format: "TSV",
        include_vat: "NO",
    };
    let canonical = serde_json::to_string(&params).expect("params serialize");
    let digest = hex::encode(Sha256::digest(canonical.as_bytes()));
    params.report_name = Some(format!("voronka-{}", &digest[..16]));
    serde_json::to_string(&Body { params }).expect("body serializes")
}

/// Splits [from, to] into consecutive chunks of at most `max_days` days.
pub fn currency(account: &AccountConfig) -> String {
    option_str(account, "currency")
        .or(account.currency.as_deref())
        .unwrap_or("RUB")
        .to_ascii_uppercase()
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

fn seconds_header(response: &Response, name: &str) -> Option<Duration> {
    let v = response.header(name)?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(Duration::from_secs_f64)
    })
}

/// `(error_code, "error_string: error_detail")` from a JSON error body.
fn api_error(body: &[u8]) -> Option<(Option<i64>, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    let code = e.get("error_code").and_then(|c| match c {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let text = |k: &str| e.get(k).and_then(|s| s.as_str()).unwrap_or("").to_string();
    let (s, d) = (text("error_string"), text("error_detail"));
    let msg = match (s.is_empty(), d.is_empty()) {
        (false, false) => format!("{s}: {d}"),
        (false, true) => s,
        (true, false) => d,
        (true, true) => "error without a message".into(),
    };
    Some((code, msg))
}

impl Connector for YandexDirect {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        "https://api.direct.yandex.com".to_string()
    }

    fn auth(&self) -> AuthScheme {
        AuthScheme::Bearer {
            credential: "token",
        }
    }

    /// Yandex allows 20 requests per 10 s per user.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 2.0,
            burst: 5,
            budget: None,
        }
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        if let Some(v) = account.options.get("client_login")
            && v.as_str().is_none_or(|s| s.trim().is_empty())
        {
            return Err("options.client_login: expected the client's Yandex login".into());
        }
        if let Some(v) = account.options.get("currency")
            && v.as_str().is_none_or(|s| {
                let s = s.trim();
                s.len() != 3 || !s.chars().all(|c| c.is_ascii_alphabetic())
            })
        {
            return Err("options.currency: expected an ISO code such as \"RUB\"".into());
        }
        if !account.credentials.contains_key("token") {
            return Err("credentials.token: required (OAuth token)".into());
        }
        Ok(())
    }

    /// One `report` job per chunk of at most 30 days; meta `date_from`,
    /// `date_to`.
    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        chunks(ctx.from, ctx.to, MAX_CHUNK_DAYS)
            .into_iter()
            .map(|(from, to)| Job {
                entity: "report".to_string(),
                window: Some((from, to)),
                meta: BTreeMap::from([
                    ("date_from".to_string(), from.format("%Y-%m-%d").to_string()),
                    ("date_to".to_string(), to.format("%Y-%m-%d").to_string()),
                ]),
            })
            .collect()
    }

    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request {
        let (from, to) = job.window.unwrap_or((ctx.from, ctx.to));
        let mut request = Request {
            method: "POST".into(),
            url: format!("{}/json/v5/reports", ctx.base_url.trim_end_matches('/')),
            query: Vec::new(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(report_body(from, to)),
        };
        if let Some(login) = option_str(ctx.account, "client_login") {
            request = request.header("Client-Login", login);
        }
        request
            .header("processingMode", "auto")
            .header("returnMoneyInMicros", "true")
            .header("Accept-Language", "en")
    }

    fn next_step(
        &self,
        _ctx: &FetchContext<'_>,
        _job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        let retry_in = seconds_header(response, "retryIn");
        match response.status {
            200 => Ok(Step::Done { watermark: None }),
            201 | 202 => Ok(Step::Wait(
                retry_in.unwrap_or(DEFAULT_RETRY_IN),
                request.clone(),
            )),
            status => {
                let (code, msg) = api_error(&response.body)
                    .unwrap_or((None, format!("HTTP {status} without an error body")));
                let what = match code {
                    Some(c) => format!("HTTP {status}, error {c}: {msg}"),
                    None => format!("HTTP {status}: {msg}"),
                };
                match (status, code) {
                    (_, Some(53)) => Err(terminal(format!("authorization failed: {what}"))),
                    (400, Some(c)) if RETRYABLE_CODES.contains(&c) => {
                        Err(retryable(what, retry_in.or(Some(Duration::from_secs(60)))))
                    }
                    (429 | 500 | 502 | 503 | 504, _) => Err(retryable(
                        what,
                        retry_in.or(seconds_header(response, "retry-after")),
                    )),
                    _ => Err(terminal(what)),
                }
            }
        }
    }

    fn normalize(&self, envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized {
        if envelope.status != 200 {
            return Normalized::default();
        }
        match envelope.body_bytes() {
            Ok(bytes) => parse_report(&String::from_utf8_lossy(&bytes), ctx),
            Err(e) => Normalized {
                records: Vec::new(),
                rejected: vec![ParseError::new(SLUG, "page", "body", e)],
            },
        }
    }
}

/// Reads a TSV report into one [`AdStat`] per (date, campaign); rows
/// repeating a (date, campaign) are summed.
pub fn parse_report(text: &str, ctx: &NormalizeContext<'_>) -> Normalized {
    let mut out = Normalized::default();
    let page = |field: &str, reason: String| ParseError::new(SLUG, "page", field, reason);
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .peekable();
    // Optional title line `Name (YYYY-MM-DD - YYYY-MM-DD)`: no tabs.
    if lines.peek().is_some_and(|l| !l.contains('\t')) {
        let first = lines.peek().copied().unwrap_or("");
        if !first.starts_with("Total rows:") {
            lines.next();
        }
    }
    let Some(header) = lines.next() else {
        out.rejected
            .push(page("header", "empty report body (no header line)".into()));
        return out;
    };
    if header.starts_with("Total rows:") {
        out.rejected
            .push(page("header", "no header line before the summary".into()));
        return out;
    }
    let cols: BTreeMap<&str, usize> = header
        .split('\t')
        .enumerate()
        .map(|(i, n)| (n.trim(), i))
        .collect();
    for required in ["Date", "CampaignId", "Cost"] {
        if !cols.contains_key(required) {
            out.rejected.push(page(
                required,
                format!("header line lacks the column: {header:?}"),
            ));
            return out;
        }
    }
    let currency = currency(ctx.account);
    let mut total: Option<Result<usize, String>> = None;
    let mut data_rows = 0usize;
    let mut stats: BTreeMap<(NaiveDate, String), AdStat> = BTreeMap::new();
    for (n, line) in lines.enumerate() {
        if let Some(rest) = line.strip_prefix("Total rows:") {
            total = Some(
                rest.trim()
                    .parse()
                    .map_err(|_| format!("unreadable summary {line:?}")),
            );
            continue;
        }
        data_rows += 1;
        let cells: Vec<&str> = line.split('\t').collect();
        let cell = |name: &str| -> Option<&str> {
            let v = cols
                .get(name)
                .and_then(|&i| cells.get(i))
                .map(|s| s.trim())?;
            (v != "--" && !v.is_empty()).then_some(v)
        };
        let record = format!(
            "row {} ({} {})",
            n + 1,
            cell("Date").unwrap_or("?"),
            cell("CampaignId").unwrap_or("?")
        );
        let err =
            |field: &str, reason: String| ParseError::new(SLUG, record.clone(), field, reason);
        let date = match cell("Date").map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d")) {
            Some(Ok(d)) => d,
            Some(Err(_)) | None => {
                out.rejected
                    .push(err("Date", format!("not a date: {:?}", cell("Date"))));
                continue;
            }
        };
        let Some(campaign_id) = cell("CampaignId") else {
            out.rejected
                .push(err("CampaignId", "missing campaign id".into()));
            continue;
        };
        let spend = match cell("Cost").map(|c| c.parse::<i64>()) {
            Some(Ok(micros)) => Decimal::new(micros, 6).normalize(),
            Some(Err(_)) => {
                out.rejected.push(err(
                    "Cost",
                    format!("not integer micros: {:?}", cell("Cost")),
                ));
                continue;
            }
            None => {
                out.rejected.push(err(
                    "Cost",
                    "null cost (`--`): spend is never invented".into(),
                ));
                continue;
            }
        };
        let count = |name: &str| -> Result<u64, String> {
            match cell(name) {
                None => Ok(0),
                Some(v) => v.parse().map_err(|_| format!("not a count: {v:?}")),
            }
        };
        let (impressions, clicks) = match (count("Impressions"), count("Clicks")) {
            (Ok(i), Ok(c)) => (i, c),
            (Err(e), _) => {
                out.rejected.push(err("Impressions", e));
                continue;
            }
            (_, Err(e)) => {
                out.rejected.push(err("Clicks", e));
                continue;
            }
        };
        let entry = stats
            .entry((date, campaign_id.to_string()))
            .or_insert_with(|| AdStat {
                source: SLUG.to_string(),
                account: ctx.account.id.clone(),
                date,
                platform: "yandex".to_string(),
                level: StatLevel::Campaign,
                campaign_id: campaign_id.to_string(),
                campaign_name: cell("CampaignName").unwrap_or("").to_string(),
                ad_id: String::new(),
                ad_name: String::new(),
                impressions: 0,
                clicks: 0,
                spend: Decimal::ZERO,
                currency: currency.clone(),
                vat: VatMode::Excluded,
            });
        entry.impressions += impressions;
        entry.clicks += clicks;
        entry.spend = (entry.spend + spend).normalize();
    }
    match total {
        Some(Ok(n)) if n == data_rows => {}
        Some(Ok(n)) => out.rejected.push(page(
            "Total rows",
            format!("summary says {n} rows, the body has {data_rows}; the rows read are kept"),
        )),
        Some(Err(e)) => out.rejected.push(page("Total rows", e)),
        None => out.rejected.push(page(
            "Total rows",
            format!("no summary line: the body may be truncated; {data_rows} rows read are kept"),
        )),
    }
    out.records = stats.into_values().map(Record::AdStat).collect();
    out
}
