//! `unisender` and `sendpulse`: e-mail campaign volumes and clicks as
//! [`AdStat`]s with platform `email`.
//!
//! Two slugs, one module (like `vk_ads`/`mytarget`): each vendor has its
//! own credentials, so a `[sources.unisender]` or `[sources.sendpulse]`
//! table needs no `service` switch, and `raw/<slug>/` tells the vendors
//! apart. Fixtures of both live in `fixtures/email/`.
//!
//! ## UniSender (Selzy abroad)
//!
//! `credentials.api_key`, sent as the `api_key` query parameter
//! ([`AuthScheme::Query`]). One `campaigns` job per run window:
//!
//! ```text
//! GET {base}/{lang}/api/getCampaigns?format=json&from=YYYY-MM-DD 00:00:00&to=YYYY-MM-DD 23:59:59&limit=100&offset=N
//! GET {base}/{lang}/api/getCampaignCommonStats?format=json&campaign_id=ID#q=…&next=N
//! …one stats call per campaign of the page, then the next list page
//! ```
//!
//! `from`/`to` filter on the campaign's start time in **UTC**, so the
//! window's dates are read as UTC days here. Campaigns whose status says
//! they never started ([`UNISENDER_UNSENT`]) get no stats call. The stats
//! answer carries neither the subject nor the start time, so the page's
//! remaining campaigns `[[id, start_time, subject], …]` ride in the stats
//! request's URL fragment `#q=<base64url JSON>[&next=<list offset>]` (never
//! sent, kept in `raw/`): `q[0]` is the campaign of that request. The
//! fragment is bounded by one list page (100 campaigns); the walk stops
//! with an error past [`MAX_OFFSET`] campaigns in one window.
//!
//! Errors come with HTTP 200 as `{"error":"…","code":"…"}`:
//! `invalid_api_key`/`access_denied` are terminal (check the key), codes
//! containing `limit_exceeded` are retried after 60 s, anything else is
//! terminal. Options: `lang` (path language, default `ru`; Selzy:
//! `base_url = "https://api.selzy.com"`, `lang = "en"`), `currency`.
//!
//! ## SendPulse
//!
//! OAuth2 client credentials through the driver
//! ([`OAuthFlow::ClientCredentials`] at `POST {base}/oauth/access_token`,
//! form `grant_type=client_credentials&client_id&client_secret`; the token,
//! valid an hour, is cached in the driver's token store and never reaches
//! `raw/`). `client_id` is an option or a credential, `client_secret` a
//! credential. One `campaigns` job per run window:
//!
//! ```text
//! GET {base}/campaigns?limit=100&offset=N
//! GET {base}/campaigns/{id}#rest=ID2,ID3&next=N
//! ```
//!
//! The list has no date filter: every page is read, and only campaigns
//! whose `send_date` (read as UTC [unverified]) falls on a window day get
//! a detail call; pending ids ride in the fragment. A 404 on a detail (the
//! campaign was deleted meanwhile) is skipped. 401/403 are terminal (the
//! driver has already renewed the token once), 429 and 5xx retryable, any
//! other status or an error body (`error`, `error_code`, `is_error`) is
//! terminal.
//!
//! ## Normalized rows
//!
//! One [`AdStat`] per campaign (level campaign, platform `email`,
//! `ad_id` empty), dated on the campaign's **start date in UTC**
//! (UniSender `start_time`, SendPulse `send_date`):
//!
//! - `impressions` = **delivered** e-mails (the closest thing to an ad
//!   impression; opens are not counted), `clicks` = **unique** clicks
//!   (UniSender `clicked_unique`; SendPulse `link_redirected`, recipients
//!   who followed a link [unverified]).
//! - `spend`: UniSender reports no cost (plan pricing): 0. SendPulse:
//!   `company_price`, else `overdraft_price`, else 0; an unreadable price
//!   rejects the row. Currency: SendPulse `overdraft_currency`, else option
//!   `currency`, else the account `currency`, else `RUB`. VAT unknown.
//! - SendPulse `statistics` is an object `{sent, delivered, opening,
//!   link_redirected, …}` or an array `[{code, count, explain}]`; in the
//!   array form statuses are recognised by `explain` (`…deliver…`,
//!   `…redirect…`/`…click…`) and absent ones are 0. In the object form a
//!   missing `delivered` rejects the row, a missing `link_redirected` is 0.
//! - Opens and clicks keep growing for days after a send, and a campaign is
//!   re-read only while its start date is inside the fetch window: use a
//!   `lookback_days` of 14–30 for final numbers.

use crate::util::option_str;
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, OAuthFlow,
    ParseError, RateLimit, RawEnvelope, Request, Response, Step,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};

/// Campaigns per list page (UniSender and SendPulse maximum).
pub const PAGE_LIMIT: u64 = 100;

/// The walk of one window stops with an error past this list offset
/// (UniSender answers at most 10,000 campaigns per query).
pub const MAX_OFFSET: u64 = 10_000;

/// Wait after a UniSender `…limit_exceeded…` error.
pub const LIMIT_WAIT: Duration = Duration::from_secs(60);

/// UniSender statuses of campaigns that never started: no stats call.
pub const UNISENDER_UNSENT: [&str; 6] = [
    "waits_censor",
    "censor_hold",
    "declined",
    "waits_schedule",
    "scheduled",
    "canceled",
];

/// The canonical platform of every row.
pub const PLATFORM: &str = "email";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    UniSender,
    SendPulse,
}

/// An e-mail service client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Email {
    slug: &'static str,
    service: Service,
}

/// UniSender / Selzy.
pub const UNISENDER: Email = Email {
    slug: "unisender",
    service: Service::UniSender,
};

/// SendPulse.
pub const SENDPULSE: Email = Email {
    slug: "sendpulse",
    service: Service::SendPulse,
};

/// Text of a string or number value ("" otherwise).
fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A count from a string or a number; `None` when absent or null.
fn count_of(v: Option<&Value>) -> Result<Option<u64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| format!("not a count: {n}")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("not a count: {s:?}")),
        Some(other) => Err(format!("not a count: {other}")),
    }
}

/// A decimal from a string (comma decimals and a trailing currency word
/// tolerated) or a number read from its text; `None` when absent, null or
/// empty.
fn price_of(v: Option<&Value>) -> Result<Option<Decimal>, String> {
    let t = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("not a decimal: {other}")),
    };
    if t.is_empty() {
        return Ok(None);
    }
    let cleaned: String = t
        .trim_end_matches(|c: char| c.is_alphabetic() || c == '.' || c.is_whitespace())
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    Decimal::from_str(&cleaned)
        .or_else(|_| Decimal::from_scientific(&cleaned))
        .map(Some)
        .map_err(|_| format!("not a decimal: {t:?}"))
}

/// The UTC date of a vendor timestamp (`YYYY-MM-DD hh:mm:ss`, RFC 3339 or
/// a bare date).
pub fn utc_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(dt.naive_utc().date());
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
            return Some(dt.date());
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()
}

/// A pair from a URL fragment.
fn fragment_param(url: &str, key: &str) -> Option<String> {
    let (_, fragment) = url.split_once('#')?;
    url::form_urlencoded::parse(fragment.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn query_param<'a>(request: &'a Request, key: &str) -> Option<&'a str> {
    request
        .query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The path of a URL without query and fragment.
fn path_of(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A UniSender campaign waiting for its stats call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending(pub String, pub String, pub String);

/// The pending UniSender campaigns `[[id, start_time, subject], …]` of a
/// stats request, from its URL fragment; the first is the request's own.
pub fn pending_from_url(url: &str) -> Result<Vec<Pending>, String> {
    let encoded = fragment_param(url, "q").ok_or("the request URL has no `#q=` fragment")?;
    let json = URL_SAFE_NO_PAD
        .decode(encoded.as_bytes())
        .map_err(|e| format!("`q` is not base64url: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("`q` is not a JSON list: {e}"))
}

fn next_from_url(url: &str) -> Option<u64> {
    fragment_param(url, "next").and_then(|v| v.parse().ok())
}

impl Email {
    fn retryable(&self, reason: impl Into<String>, after: Option<Duration>) -> FetchError {
        FetchError::Retryable {
            slug: self.slug.to_string(),
            reason: reason.into(),
            after,
        }
    }

    fn terminal(&self, reason: impl Into<String>) -> FetchError {
        FetchError::Terminal {
            slug: self.slug.to_string(),
            reason: reason.into(),
        }
    }

    fn currency(&self, account: &AccountConfig) -> String {
        option_str(account, "currency")
            .or(account.currency.as_deref())
            .unwrap_or("RUB")
            .trim()
            .to_ascii_uppercase()
    }

    fn window(ctx: &FetchContext<'_>, job: &Job) -> (NaiveDate, NaiveDate) {
        job.window.unwrap_or((ctx.from, ctx.to))
    }

    // ---------------------------------------------------------------- UniSender

    fn unisender_api(base_url: &str, account: &AccountConfig, method: &str) -> String {
        format!(
            "{}/{}/api/{method}",
            base_url.trim_end_matches('/'),
            option_str(account, "lang").unwrap_or("ru")
        )
    }

    /// Page `offset` of UniSender campaigns started within the UTC days
    /// [from, to].
    pub fn unisender_list(
        &self,
        base_url: &str,
        account: &AccountConfig,
        from: NaiveDate,
        to: NaiveDate,
        offset: u64,
    ) -> Request {
        Request::get(Self::unisender_api(base_url, account, "getCampaigns"))
            .query("format", "json")
            .query("from", format!("{} 00:00:00", from.format("%Y-%m-%d")))
            .query("to", format!("{} 23:59:59", to.format("%Y-%m-%d")))
            .query("limit", PAGE_LIMIT.to_string())
            .query("offset", offset.to_string())
    }

    /// The stats call of `queue[0]`; the queue (and the next list offset)
    /// ride in the fragment.
    pub fn unisender_stats(
        &self,
        base_url: &str,
        account: &AccountConfig,
        queue: &[Pending],
        next: Option<u64>,
    ) -> Request {
        let json = serde_json::to_vec(queue).expect("queue serializes");
        let mut fragment = format!("q={}", URL_SAFE_NO_PAD.encode(json));
        if let Some(n) = next {
            fragment.push_str(&format!("&next={n}"));
        }
        Request::get(format!(
            "{}#{fragment}",
            Self::unisender_api(base_url, account, "getCampaignCommonStats")
        ))
        .query("format", "json")
        .query("campaign_id", queue[0].0.clone())
    }

    fn unisender_error(&self, json: &Value) -> Option<FetchError> {
        let error = json.get("error")?;
        let code = text_of(json.get("code"));
        let message = match error {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let what = format!(
            "error {}: {message}",
            if code.is_empty() { "?" } else { &code }
        );
        Some(match code.as_str() {
            "invalid_api_key" | "access_denied" => self.terminal(format!(
                "{what}; check credentials.api_key (Settings → Integrations and API)"
            )),
            c if c.contains("limit_exceeded") => {
                self.retryable(format!("throttled: {what}"), Some(LIMIT_WAIT))
            }
            _ => self.terminal(what),
        })
    }

    fn unisender_next(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        if response.status == 429 || response.status >= 500 {
            return Err(self.retryable(format!("HTTP {}", response.status), None));
        }
        let json: Option<Value> = serde_json::from_slice(&response.body).ok();
        if let Some(e) = json.as_ref().and_then(|j| self.unisender_error(j)) {
            return Err(e);
        }
        if response.status != 200 {
            return Err(self.terminal(format!("HTTP {}", response.status)));
        }
        let json = json.ok_or_else(|| self.terminal("body is not JSON"))?;
        let (from, to) = Self::window(ctx, job);
        if path_of(&request.url).ends_with("/getCampaignCommonStats") {
            if !json.get("result").is_some_and(Value::is_object) {
                return Err(self.terminal("stats response has no `result` object"));
            }
            let queue = pending_from_url(&request.url).map_err(|e| self.terminal(e))?;
            let next = next_from_url(&request.url);
            return Ok(if queue.len() > 1 {
                Step::Next(self.unisender_stats(&ctx.base_url, ctx.account, &queue[1..], next))
            } else if let Some(offset) = next {
                Step::Next(self.unisender_list(&ctx.base_url, ctx.account, from, to, offset))
            } else {
                Step::Done { watermark: None }
            });
        }
        let Some(items) = json.get("result").and_then(Value::as_array) else {
            return Err(self.terminal("list response has no `result` array"));
        };
        let offset = query_param(request, "offset")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let next = (items.len() as u64 >= PAGE_LIMIT).then_some(offset + PAGE_LIMIT);
        if let Some(n) = next
            && n >= MAX_OFFSET
        {
            return Err(self.terminal(format!(
                "more than {MAX_OFFSET} campaigns started in {from}..{to}: fetch shorter windows"
            )));
        }
        let mut queue = Vec::new();
        for item in items {
            let id = text_of(item.get("id"));
            if id.is_empty() {
                return Err(self.terminal(format!("campaign without an id: {item}")));
            }
            if UNISENDER_UNSENT.contains(&text_of(item.get("status")).as_str()) {
                continue;
            }
            queue.push(Pending(
                id,
                text_of(item.get("start_time")),
                text_of(item.get("subject")),
            ));
        }
        Ok(match (queue.is_empty(), next) {
            (false, _) => {
                Step::Next(self.unisender_stats(&ctx.base_url, ctx.account, &queue, next))
            }
            (true, Some(n)) => {
                Step::Next(self.unisender_list(&ctx.base_url, ctx.account, from, to, n))
            }
            (true, None) => Step::Done { watermark: None },
        })
    }

    fn unisender_normalize(
        &self,
        envelope: &RawEnvelope,
        ctx: &NormalizeContext<'_>,
    ) -> Normalized {
        let mut out = Normalized::default();
        if envelope.status != 200
            || !path_of(&envelope.request.url).ends_with("/getCampaignCommonStats")
        {
            return out;
        }
        let json = match envelope
            .body_bytes()
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
        {
            Ok(j) => j,
            Err(e) => {
                out.rejected
                    .push(ParseError::new(self.slug, "page", "body", e));
                return out;
            }
        };
        if json.get("error").is_some() {
            return out;
        }
        let Pending(id, start, subject) = match pending_from_url(&envelope.request.url)
            .and_then(|q| q.into_iter().next().ok_or("empty `q`".to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                out.rejected
                    .push(ParseError::new(self.slug, "page", "campaign", e));
                return out;
            }
        };
        let err =
            |field: &str, reason: String| ParseError::new(self.slug, id.clone(), field, reason);
        let Some(stats) = json.get("result").filter(|r| r.is_object()) else {
            out.rejected
                .push(err("result", "no `result` object".into()));
            return out;
        };
        let Some(date) = utc_date(&start) else {
            out.rejected
                .push(err("start_time", format!("not a timestamp: {start:?}")));
            return out;
        };
        let count = |k: &str| count_of(stats.get(k)).and_then(|c| c.ok_or("missing".to_string()));
        let delivered = match count("delivered") {
            Ok(c) => c,
            Err(e) => {
                out.rejected.push(err("delivered", e));
                return out;
            }
        };
        let clicks = match count("clicked_unique") {
            Ok(c) => c,
            Err(e) => {
                out.rejected.push(err("clicked_unique", e));
                return out;
            }
        };
        out.records.push(self.stat(
            ctx,
            date,
            id.clone(),
            subject,
            delivered,
            clicks,
            Decimal::ZERO,
            self.currency(ctx.account),
        ));
        out
    }

    // ---------------------------------------------------------------- SendPulse

    /// Page `offset` of SendPulse campaigns.
    pub fn sendpulse_list(&self, base_url: &str, offset: u64) -> Request {
        Request::get(format!("{}/campaigns", base_url.trim_end_matches('/')))
            .query("limit", PAGE_LIMIT.to_string())
            .query("offset", offset.to_string())
    }

    /// The detail call of `ids[0]`; the other ids (and the next list
    /// offset) ride in the fragment.
    pub fn sendpulse_detail(&self, base_url: &str, ids: &[String], next: Option<u64>) -> Request {
        let mut fragment = format!("rest={}", ids[1..].join(","));
        if let Some(n) = next {
            fragment.push_str(&format!("&next={n}"));
        }
        Request::get(format!(
            "{}/campaigns/{}#{fragment}",
            base_url.trim_end_matches('/'),
            ids[0]
        ))
    }

    fn sendpulse_error(&self, status: u16, json: Option<&Value>) -> Option<FetchError> {
        let j = json?;
        let flagged = j.get("error").is_some_and(|e| !e.is_null())
            || j.get("error_code").is_some_and(|e| !e.is_null())
            || j.get("is_error").and_then(Value::as_bool) == Some(true)
            || j.get("result").and_then(Value::as_bool) == Some(false);
        if !flagged || j.is_array() {
            return None;
        }
        let code = [j.get("error_code"), j.get("error")]
            .into_iter()
            .map(text_of)
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| "?".into());
        let message = ["message", "error_description"]
            .into_iter()
            .map(|k| text_of(j.get(k)))
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        let what = format!("HTTP {status}, error {code}: {message}");
        Some(if status == 429 || status >= 500 {
            self.retryable(what, None)
        } else if status == 401
            || status == 403
            || code == "401"
            || code == "403"
            || code.contains("token")
            || message.to_lowercase().contains("access token")
        {
            self.terminal(format!(
                "access token rejected ({what}); check client_id/client_secret (API settings)"
            ))
        } else {
            self.terminal(what)
        })
    }

    fn sendpulse_next(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        let json: Option<Value> = serde_json::from_slice(&response.body).ok();
        let is_detail = path_of(&request.url).rsplit_once("/campaigns/").is_some();
        let status = response.status;
        if let Some(e) = self.sendpulse_error(status, json.as_ref())
            && !(is_detail && status == 404)
        {
            return Err(e);
        }
        if status == 429 || status >= 500 {
            return Err(self.retryable(format!("HTTP {status}"), None));
        }
        if status == 401 || status == 403 {
            return Err(self.terminal(format!(
                "HTTP {status}: access token rejected; check client_id/client_secret"
            )));
        }
        if status != 200 && !(is_detail && status == 404) {
            return Err(self.terminal(format!("HTTP {status}")));
        }
        if is_detail {
            if status == 200 && !json.as_ref().is_some_and(Value::is_object) {
                return Err(self.terminal("campaign response is not a JSON object"));
            }
            let rest: Vec<String> = fragment_param(&request.url, "rest")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let next = next_from_url(&request.url);
            return Ok(if !rest.is_empty() {
                Step::Next(self.sendpulse_detail(&ctx.base_url, &rest, next))
            } else if let Some(n) = next {
                Step::Next(self.sendpulse_list(&ctx.base_url, n))
            } else {
                Step::Done { watermark: None }
            });
        }
        let json = json.ok_or_else(|| self.terminal("body is not JSON"))?;
        let items = json
            .as_array()
            .or_else(|| json.get("data").and_then(Value::as_array))
            .ok_or_else(|| self.terminal("list response is not a JSON array"))?;
        let offset = query_param(request, "offset")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let next = (items.len() as u64 >= PAGE_LIMIT).then_some(offset + PAGE_LIMIT);
        if let Some(n) = next
            && n >= MAX_OFFSET
        {
            return Err(self.terminal(format!(
                "more than {MAX_OFFSET} campaigns listed: not walked further"
            )));
        }
        let (from, to) = Self::window(ctx, job);
        let mut ids = Vec::new();
        for item in items {
            let id = text_of(item.get("id"));
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.terminal(format!("campaign with an unusable id: {item}")));
            }
            if utc_date(&text_of(item.get("send_date"))).is_some_and(|d| from <= d && d <= to) {
                ids.push(id);
            }
        }
        Ok(match (ids.is_empty(), next) {
            (false, _) => Step::Next(self.sendpulse_detail(&ctx.base_url, &ids, next)),
            (true, Some(n)) => Step::Next(self.sendpulse_list(&ctx.base_url, n)),
            (true, None) => Step::Done { watermark: None },
        })
    }

    fn sendpulse_normalize(
        &self,
        envelope: &RawEnvelope,
        ctx: &NormalizeContext<'_>,
    ) -> Normalized {
        let mut out = Normalized::default();
        if envelope.status != 200
            || path_of(&envelope.request.url)
                .rsplit_once("/campaigns/")
                .is_none()
        {
            return out;
        }
        let json = match envelope
            .body_bytes()
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
        {
            Ok(j) => j,
            Err(e) => {
                out.rejected
                    .push(ParseError::new(self.slug, "page", "body", e));
                return out;
            }
        };
        if !json.is_object() || self.sendpulse_error(200, Some(&json)).is_some() {
            return out;
        }
        let id = text_of(json.get("id"));
        let record = if id.is_empty() {
            "campaign".to_string()
        } else {
            id.clone()
        };
        let err =
            |field: &str, reason: String| ParseError::new(self.slug, record.clone(), field, reason);
        if id.is_empty() {
            out.rejected.push(err("id", "missing campaign id".into()));
            return out;
        }
        let send_date = text_of(json.get("send_date"));
        let Some(date) = utc_date(&send_date) else {
            out.rejected
                .push(err("send_date", format!("not a timestamp: {send_date:?}")));
            return out;
        };
        if let (Some(a), Some(b)) = (envelope.window_from, envelope.window_to)
            && !(a <= date && date <= b)
        {
            // Rescheduled since it was listed: a run covering that day has it.
            return out;
        }
        let (delivered, clicks) = match sendpulse_counts(json.get("statistics")) {
            Ok(c) => c,
            Err((field, e)) => {
                out.rejected.push(err(field, e));
                return out;
            }
        };
        let spend = match price_of(json.get("company_price")) {
            Ok(Some(p)) => p,
            Ok(None) => match price_of(json.get("overdraft_price")) {
                Ok(p) => p.unwrap_or(Decimal::ZERO),
                Err(e) => {
                    out.rejected.push(err("overdraft_price", e));
                    return out;
                }
            },
            Err(e) => {
                out.rejected.push(err("company_price", e));
                return out;
            }
        };
        let currency = match text_of(json.get("overdraft_currency")) {
            c if !c.is_empty() => c.to_ascii_uppercase(),
            _ => self.currency(ctx.account),
        };
        let name = match text_of(json.get("name")) {
            n if !n.is_empty() => n,
            _ => text_of(json.pointer("/message/subject")),
        };
        out.records
            .push(self.stat(ctx, date, id, name, delivered, clicks, spend, currency));
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn stat(
        &self,
        ctx: &NormalizeContext<'_>,
        date: NaiveDate,
        campaign_id: String,
        campaign_name: String,
        impressions: u64,
        clicks: u64,
        spend: Decimal,
        currency: String,
    ) -> Record {
        Record::AdStat(AdStat {
            source: self.slug.to_string(),
            account: ctx.account.id.clone(),
            date,
            platform: PLATFORM.to_string(),
            level: StatLevel::Campaign,
            campaign_id,
            campaign_name,
            ad_id: String::new(),
            ad_name: String::new(),
            impressions,
            clicks,
            spend,
            currency,
            vat: VatMode::Unknown,
        })
    }
}

/// `(delivered, unique clicks)` of SendPulse `statistics` (object or
/// `[{code, count, explain}]` array); the error names the field.
pub fn sendpulse_counts(stats: Option<&Value>) -> Result<(u64, u64), (&'static str, String)> {
    match stats {
        Some(Value::Object(o)) => {
            let delivered = count_of(o.get("delivered"))
                .map_err(|e| ("statistics.delivered", e))?
                .ok_or(("statistics.delivered", "missing".to_string()))?;
            let clicks = count_of(o.get("link_redirected"))
                .map_err(|e| ("statistics.link_redirected", e))?
                .unwrap_or(0);
            Ok((delivered, clicks))
        }
        Some(Value::Array(rows)) => {
            let (mut delivered, mut clicks) = (0u64, 0u64);
            for row in rows {
                let explain = text_of(row.get("explain")).to_lowercase();
                let count = || {
                    count_of(row.get("count"))
                        .map(|c| c.unwrap_or(0))
                        .map_err(|e| ("statistics.count", e))
                };
                if explain.contains("deliver") {
                    delivered += count()?;
                } else if explain.contains("redirect") || explain.contains("click") {
                    clicks += count()?;
                }
            }
            Ok((delivered, clicks))
        }
        _ => Err(("statistics", "missing".to_string())),
    }
}

impl Connector for Email {
    fn slug(&self) -> &'static str {
        self.slug
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        match self.service {
            Service::UniSender => "https://api.unisender.com",
            Service::SendPulse => "https://api.sendpulse.com",
        }
        .to_string()
    }

    fn auth(&self) -> AuthScheme {
        match self.service {
            Service::UniSender => AuthScheme::Query {
                param: "api_key",
                credential: "api_key",
            },
            Service::SendPulse => AuthScheme::OAuth2(OAuthFlow::ClientCredentials {
                token_url_path: "/oauth/access_token",
            }),
        }
    }

    /// Gentle: UniSender allows about 20 requests/s per key and SendPulse
    /// 10/s [unverified]; 429 is retried by the driver.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 2.0,
            burst: 5,
            budget: None,
        }
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        if let Some(v) = account.options.get("currency")
            && v.as_str().is_none_or(|s| {
                let s = s.trim();
                s.len() != 3 || !s.chars().all(|c| c.is_ascii_alphabetic())
            })
        {
            return Err("options.currency: expected an ISO code such as \"RUB\"".into());
        }
        match self.service {
            Service::UniSender => {
                if let Some(v) = account.options.get("lang")
                    && v.as_str().is_none_or(|s| {
                        let s = s.trim();
                        s.len() != 2 || !s.chars().all(|c| c.is_ascii_lowercase())
                    })
                {
                    return Err("options.lang: expected a two-letter code such as \"ru\"".into());
                }
                if !account.credentials.contains_key("api_key") {
                    return Err("credentials.api_key: required (UniSender API key)".into());
                }
            }
            Service::SendPulse => {
                if !account.credentials.contains_key("client_secret") {
                    return Err("credentials.client_secret: required (SendPulse API secret)".into());
                }
                if !account.credentials.contains_key("client_id")
                    && option_str(account, "client_id").is_none()
                {
                    return Err(
                        "options.client_id (or credentials.client_id): required (SendPulse API ID)"
                            .into(),
                    );
                }
            }
        }
        Ok(())
    }

    /// One `campaigns` job over the whole window (UTC days); meta `from`,
    /// `to`.
    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        if ctx.from > ctx.to {
            return Vec::new();
        }
        vec![Job {
            entity: "campaigns".to_string(),
            window: Some((ctx.from, ctx.to)),
            meta: BTreeMap::from([
                ("from".to_string(), ctx.from.format("%Y-%m-%d").to_string()),
                ("to".to_string(), ctx.to.format("%Y-%m-%d").to_string()),
            ]),
        }]
    }

    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request {
        let (from, to) = Self::window(ctx, job);
        match self.service {
            Service::UniSender => self.unisender_list(&ctx.base_url, ctx.account, from, to, 0),
            Service::SendPulse => self.sendpulse_list(&ctx.base_url, 0),
        }
    }

    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        match self.service {
            Service::UniSender => self.unisender_next(ctx, job, request, response),
            Service::SendPulse => self.sendpulse_next(ctx, job, request, response),
        }
    }

    fn normalize(&self, envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized {
        match self.service {
            Service::UniSender => self.unisender_normalize(envelope, ctx),
            Service::SendPulse => self.sendpulse_normalize(envelope, ctx),
        }
    }
}
