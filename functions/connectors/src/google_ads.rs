//! `google_ads`: Google Ads API (REST) campaign spend per day, YouTube
//! included.
//!
//! One `campaign_stats` job per window chunk of at most [`MAX_CHUNK_DAYS`]
//! days, one request each:
//!
//! ```text
//! POST {base}/{api_version}/customers/{customer_id}/googleAds:searchStream
//! Authorization: Bearer <access_token>          (driver, OAuth2 refresh token)
//! developer-token: <credentials.developer_token> (driver)
//! login-customer-id: <options.login_customer_id>   (only when set)
//! Content-Type: application/json
//!
//! {"query":"SELECT campaign.id, campaign.name, campaign.advertising_channel_type,
//!   segments.date, metrics.cost_micros, metrics.impressions, metrics.clicks
//!   FROM campaign WHERE segments.date BETWEEN 'YYYY-MM-DD' AND 'YYYY-MM-DD'"}
//! ```
//!
//! `searchStream` answers with the whole result at once, a JSON array of
//! batches `[{"results":[…],"fieldMask","requestId"}]`: no paging.
//!
//! **Credentials** ([`AuthScheme::All`]): the `developer-token` header from
//! `credentials.developer_token` (option `developer_token` is no longer
//! read: validation asks to move it), and the Bearer access token, minted
//! by the driver from `credentials.refresh_token` + `client_id` +
//! `client_secret` ([`OAuthFlow::RefreshStatic`], `POST`
//! [`TOKEN_URL`]; Google's refresh tokens do not rotate) and reused while
//! unexpired. Without `credentials.refresh_token` a short-lived
//! `credentials.access_token` is sent as is (legacy). The driver never
//! records request headers in `raw/`.
//!
//! Errors (`{"error":{"code","message","status","details":[{"errors":[
//! {"errorCode":{"quotaError":"…"},"message"}]}]}}`, also as an element of
//! the stream array): quota errors (`RESOURCE_EXHAUSTED`,
//! `RESOURCE_TEMPORARILY_EXHAUSTED`,
//! `EXCESSIVE_SHORT_TERM_QUERY_RESOURCE_CONSUMPTION`) are retryable after
//! the error's `retryDelay` (else 30 s); `UNAVAILABLE`, `INTERNAL`,
//! `DEADLINE_EXCEEDED`, `ABORTED` retryable; `UNAUTHENTICATED`,
//! `PERMISSION_DENIED`, `INVALID_ARGUMENT` and anything else terminal with
//! Google's message and error codes.
//!
//! Options: `customer_id` (required; digits, dashes allowed:
//! `123-456-7890`), `login_customer_id` (manager account, same form),
//! `client_id` (or a credential), `api_version` (default
//! [`DEFAULT_API_VERSION`]), `currency` (else the account's `currency`; one
//! is required: `SELECT customer.currency_code FROM customer` tells it).
//!
//! ## Normalized rows
//!
//! One [`AdStat`] per (day, campaign): int64 fields arrive as strings
//! (numbers accepted too); omitted metrics are 0 (proto3 drops zeros);
//! `spend = costMicros / 1 000 000` exactly; `advertisingChannelType`
//! `VIDEO` → platform `youtube`, anything else → `google`; net spend,
//! [`VatMode::Excluded`] [unverified].

use crate::util::{chunks, option_str};
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, OAuthFlow,
    ParseError, RateLimit, RawEnvelope, Request, Response, Step,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};

const SLUG: &str = "google_ads";

/// API version used when the account does not set `api_version`.
pub const DEFAULT_API_VERSION: &str = "v21";

/// Longest window one query covers.
pub const MAX_CHUNK_DAYS: i64 = 30;

/// Google's OAuth2 token endpoint (account option `token_url` overrides).
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// The `developer-token` header from credential `developer_token`.
pub const DEVELOPER_TOKEN: AuthScheme = AuthScheme::Header {
    name: "developer-token",
    credential: "developer_token",
};

/// Wait after a quota error that names no `retryDelay`.
pub const DEFAULT_QUOTA_WAIT: Duration = Duration::from_secs(30);

/// Quota error codes worth waiting for.
pub const RETRYABLE_QUOTA: [&str; 3] = [
    "RESOURCE_EXHAUSTED",
    "RESOURCE_TEMPORARILY_EXHAUSTED",
    "EXCESSIVE_SHORT_TERM_QUERY_RESOURCE_CONSUMPTION",
];

/// The Google Ads connector.
pub struct GoogleAds;

/// A customer id option as digits (`123-456-7890` → `1234567890`); also
/// accepts a TOML integer. `Some(Err)` when set but malformed.
fn customer_option(account: &AccountConfig, key: &str) -> Option<Result<String, ()>> {
    let v = account.options.get(key)?;
    let digits = match (v.as_integer(), v.as_str()) {
        (Some(n), _) if n > 0 => n.to_string(),
        (_, Some(s)) => s.trim().replace('-', ""),
        _ => return Some(Err(())),
    };
    Some(
        (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
            .then_some(digits)
            .ok_or(()),
    )
}

fn api_version(account: &AccountConfig) -> &str {
    option_str(account, "api_version").unwrap_or(DEFAULT_API_VERSION)
}

fn valid_version(v: &str) -> bool {
    v.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

fn configured_currency(account: &AccountConfig) -> Option<String> {
    option_str(account, "currency")
        .or(account.currency.as_deref())
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
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

/// The GAQL query for a window.
pub fn query(from: NaiveDate, to: NaiveDate) -> String {
    format!(
        "SELECT campaign.id, campaign.name, campaign.advertising_channel_type, segments.date, \
         metrics.cost_micros, metrics.impressions, metrics.clicks FROM campaign \
         WHERE segments.date BETWEEN '{}' AND '{}'",
        from.format("%Y-%m-%d"),
        to.format("%Y-%m-%d")
    )
}

/// The `error` object of a response: top-level, or inside an element of a
/// stream array.
fn error_object(json: &Value) -> Option<&Value> {
    match json {
        Value::Object(o) => o.get("error"),
        Value::Array(a) => a.iter().find_map(|b| b.get("error")),
        _ => None,
    }
}

/// `"30s"` / `"1.5s"` as a duration.
fn parse_delay(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Classifies a Google error object.
fn classify(http: u16, error: &Value) -> FetchError {
    let status = error.get("status").and_then(Value::as_str).unwrap_or("");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message");
    let mut codes = Vec::new();
    let mut details = Vec::new();
    let mut delay = None;
    let mut request_id = None;
    for d in error
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = d.get("requestId").and_then(Value::as_str) {
            request_id = Some(id.to_string());
        }
        for e in d
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(Value::Object(code)) = e.get("errorCode") {
                for (kind, v) in code {
                    let v = v.as_str().unwrap_or("");
                    codes.push(v.to_string());
                    details.push(format!(
                        "{kind}.{v}: {}",
                        e.get("message").and_then(Value::as_str).unwrap_or("")
                    ));
                }
            }
            if let Some(d) = e
                .pointer("/details/quotaErrorDetails/retryDelay")
                .and_then(Value::as_str)
                .and_then(parse_delay)
            {
                delay = Some(d);
            }
        }
    }
    let mut what = format!("HTTP {http}, {status}: {message}");
    if !details.is_empty() {
        what.push_str(&format!(" [{}]", details.join("; ")));
    }
    if let Some(id) = request_id {
        what.push_str(&format!(" (requestId {id})"));
    }
    let quota = status == "RESOURCE_EXHAUSTED"
        || codes.iter().any(|c| RETRYABLE_QUOTA.contains(&c.as_str()));
    match status {
        _ if quota => retryable(
            format!("quota: {what}"),
            Some(delay.unwrap_or(DEFAULT_QUOTA_WAIT)),
        ),
        "UNAUTHENTICATED" => terminal(format!(
            "access token invalid or expired; obtain a new one and update \
             credentials.access_token: {what}"
        )),
        "PERMISSION_DENIED" => terminal(format!(
            "permission denied (developer token, customer access or login_customer_id): {what}"
        )),
        "UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED" | "ABORTED" => retryable(what, None),
        _ => terminal(what),
    }
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// An int64 (string or number); missing or null is 0.
fn int64_of(v: Option<&Value>) -> Result<i64, String> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("not an int64: {n}")),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| format!("not an int64: {s:?}")),
        Some(other) => Err(format!("not an int64: {other}")),
    }
}

fn count_of(v: Option<&Value>) -> Result<u64, String> {
    let n = int64_of(v)?;
    u64::try_from(n).map_err(|_| format!("negative count: {n}"))
}

impl Connector for GoogleAds {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        "https://googleads.googleapis.com".to_string()
    }

    /// OAuth2 from a refresh token plus the developer token.
    fn auth(&self) -> AuthScheme {
        AuthScheme::All(&[
            AuthScheme::OAuth2(OAuthFlow::RefreshStatic {
                token_url: TOKEN_URL,
            }),
            DEVELOPER_TOKEN,
        ])
    }

    /// [`Connector::auth`], or a ready access token (legacy) when the
    /// account has no `credentials.refresh_token`.
    fn auth_for(&self, account: &AccountConfig) -> AuthScheme {
        if account.credentials.contains_key("refresh_token") {
            self.auth()
        } else {
            AuthScheme::All(&[
                AuthScheme::Bearer {
                    credential: "access_token",
                },
                DEVELOPER_TOKEN,
            ])
        }
    }

    /// Google Ads has no per-second limit for reads; stay gentle.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 1.0,
            burst: 2,
            budget: None,
        }
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        match customer_option(account, "customer_id") {
            Some(Ok(_)) => {}
            _ => {
                return Err(
                    "options.customer_id: required, the customer's digits (dashes allowed)".into(),
                );
            }
        }
        if let Some(Err(())) = customer_option(account, "login_customer_id") {
            return Err(
                "options.login_customer_id: expected the manager account's digits (dashes allowed)"
                    .into(),
            );
        }
        if account.options.contains_key("developer_token") {
            return Err(
                "options.developer_token: deprecated and no longer read: move it to \
                 credentials.developer_token (env or secret) and delete the option"
                    .into(),
            );
        }
        if !account.credentials.contains_key("developer_token") {
            return Err(
                "credentials.developer_token: required (the Google Ads API developer token)".into(),
            );
        }
        if let Some(v) = account.options.get("api_version")
            && v.as_str().is_none_or(|s| !valid_version(s.trim()))
        {
            return Err("options.api_version: expected a version such as \"v21\"".into());
        }
        match configured_currency(account) {
            Some(c) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => {}
            Some(_) => return Err("options.currency: expected an ISO code such as \"USD\"".into()),
            None => {
                return Err(
                    "options.currency (or the account's `currency`): required, the customer's \
                     currency (customer.currency_code)"
                        .into(),
                );
            }
        }
        if account.credentials.contains_key("refresh_token") {
            if !account.credentials.contains_key("client_secret") {
                return Err(
                    "credentials.client_secret: required with credentials.refresh_token".into(),
                );
            }
            if !account.credentials.contains_key("client_id")
                && option_str(account, "client_id").is_none()
            {
                return Err(
                    "options.client_id (or credentials.client_id): required with \
                     credentials.refresh_token"
                        .into(),
                );
            }
        } else if !account.credentials.contains_key("access_token") {
            return Err(
                "credentials.refresh_token: required (with client_id and client_secret; or a \
                 short-lived credentials.access_token)"
                    .into(),
            );
        }
        Ok(())
    }

    /// One `campaign_stats` job per chunk of at most 30 days; meta
    /// `date_from`, `date_to`.
    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        chunks(ctx.from, ctx.to, MAX_CHUNK_DAYS)
            .into_iter()
            .map(|(from, to)| Job {
                entity: "campaign_stats".to_string(),
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
        let customer = match customer_option(ctx.account, "customer_id") {
            Some(Ok(c)) => c,
            _ => "0".to_string(),
        };
        let mut request = Request::post_json(
            format!(
                "{}/{}/customers/{customer}/googleAds:searchStream",
                ctx.base_url.trim_end_matches('/'),
                api_version(ctx.account)
            ),
            &json!({ "query": query(from, to) }),
        );
        if let Some(Ok(login)) = customer_option(ctx.account, "login_customer_id") {
            request = request.header("login-customer-id", login);
        }
        request
    }

    fn next_step(
        &self,
        _ctx: &FetchContext<'_>,
        _job: &Job,
        _request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        let json = serde_json::from_slice::<Value>(&response.body);
        if let Ok(j) = &json
            && let Some(error) = error_object(j)
        {
            return Err(classify(response.status, error));
        }
        if response.status == 429 || response.status >= 500 {
            return Err(retryable(format!("HTTP {}", response.status), None));
        }
        if response.status != 200 {
            return Err(terminal(format!(
                "HTTP {} without an error body",
                response.status
            )));
        }
        match json.map_err(|e| terminal(format!("body is not JSON: {e}")))? {
            Value::Array(_) => Ok(Step::Done { watermark: None }),
            _ => Err(terminal("searchStream response is not an array of batches")),
        }
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
        if error_object(&json).is_some() {
            return out;
        }
        let batches: Vec<&Value> = match &json {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let currency = configured_currency(ctx.account);
        let mut stats: BTreeMap<(NaiveDate, String), AdStat> = BTreeMap::new();
        let mut n = 0usize;
        for batch in batches {
            for row in batch
                .get("results")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                n += 1;
                let campaign_id = text_of(row.pointer("/campaign/id"));
                let date_text = text_of(row.pointer("/segments/date"));
                let record = if campaign_id.is_empty() && date_text.is_empty() {
                    format!("row {n}")
                } else {
                    format!("{date_text} {campaign_id}")
                };
                let err = |field: &str, reason: String| {
                    ParseError::new(SLUG, record.clone(), field, reason)
                };
                let Ok(date) = NaiveDate::parse_from_str(&date_text, "%Y-%m-%d") else {
                    out.rejected
                        .push(err("segments.date", format!("not a date: {date_text:?}")));
                    continue;
                };
                if campaign_id.is_empty() {
                    out.rejected
                        .push(err("campaign.id", "missing campaign id".into()));
                    continue;
                }
                let spend = match int64_of(row.pointer("/metrics/costMicros")) {
                    Ok(micros) => Decimal::new(micros, 6).normalize(),
                    Err(e) => {
                        out.rejected.push(err("metrics.costMicros", e));
                        continue;
                    }
                };
                let (impressions, clicks) = match (
                    count_of(row.pointer("/metrics/impressions")),
                    count_of(row.pointer("/metrics/clicks")),
                ) {
                    (Ok(i), Ok(c)) => (i, c),
                    (Err(e), _) => {
                        out.rejected.push(err("metrics.impressions", e));
                        continue;
                    }
                    (_, Err(e)) => {
                        out.rejected.push(err("metrics.clicks", e));
                        continue;
                    }
                };
                let Some(currency) = currency.clone() else {
                    out.rejected.push(err(
                        "currency",
                        "no currency configured: set options.currency (customer.currency_code)"
                            .into(),
                    ));
                    continue;
                };
                let platform =
                    match text_of(row.pointer("/campaign/advertisingChannelType")).as_str() {
                        "VIDEO" => "youtube",
                        _ => "google",
                    };
                let entry = stats
                    .entry((date, campaign_id.clone()))
                    .or_insert_with(|| AdStat {
                        source: SLUG.to_string(),
                        account: ctx.account.id.clone(),
                        date,
                        platform: platform.to_string(),
                        level: StatLevel::Campaign,
                        campaign_id: campaign_id.clone(),
                        campaign_name: text_of(row.pointer("/campaign/name")),
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
                entry.spend = (entry.spend + spend).normalize();
            }
        }
        out.records = stats.into_values().map(Record::AdStat).collect();
        out
    }
}
