//! `vk_ads` and `mytarget`: VK Ads (ads.vk.com) and myTarget
//! (target.my.com), one client parameterised by host and object.
//!
//! | slug       | default host            | object (list and stats) | platform   |
//! |------------|-------------------------|-------------------------|------------|
//! | `vk_ads`   | `https://ads.vk.com`    | `ad_plans` (UI "campaigns") | `vk`   |
//! | `mytarget` | `https://target.my.com` | `campaigns`             | `mytarget` |
//!
//! ## Requests
//!
//! One `statistics` job per window chunk of at most [`MAX_CHUNK_DAYS`]
//! days. Each job walks the object list one page at a time and, after each
//! page, asks for the day statistics of that page's ids:
//!
//! ```text
//! GET {base}/api/v2/{object}.json?fields=id,name,status&limit=50&offset=0
//! GET {base}/api/v2/statistics/{object}/day.json?id=11,12,…&date_from=…&date_to=…&metrics=base#names=…&next=50
//! GET {base}/api/v2/{object}.json?fields=id,name,status&limit=50&offset=50
//! GET {base}/api/v2/statistics/{object}/day.json?id=…&date_from=…&date_to=…&metrics=base#names=…
//! ```
//!
//! until `offset + limit >= count`. A stats call therefore carries at most
//! 50 ids (the API allows 200).
//!
//! **Why interleaved.** [`Connector::next_step`] is stateless and
//! normalization reads one stored response at a time, yet stats rows carry
//! only ids while the dashboard needs campaign names. So the names of a
//! page travel with its stats request as the URL fragment
//! `#names=<base64url(JSON {"id":"name"})>[&next=<list offset>]`. The driver
//! never sends a fragment but keeps it in `raw/`, so [`Connector::normalize`]
//! of a stats envelope reads the names from `envelope.request.url`, and
//! `next` tells `next_step` which list page follows. Interleaving keeps each
//! fragment to one list page (≤ 50 names, a few KB) instead of growing with
//! the whole list.
//!
//! ## Auth
//!
//! `Authorization: Bearer`. With `credentials.client_secret` (and
//! `client_id`, credential or option) the driver runs the OAuth2
//! client-credentials flow at `POST /api/v2/oauth2/token.json`
//! ([`OAuthFlow::ClientCredentials`]): VK allows only 5 live tokens per
//! (client_id, user), so the token is kept in the driver's token store and
//! reused while unexpired, renewed with its refresh token under a lock,
//! and a new one is minted only when nothing is stored; token responses
//! never reach `raw/`. Without `client_secret` a ready
//! `credentials.access_token` (e.g. a long-lived agency token) is sent as
//! [`AuthScheme::Bearer`]. The pure request builders stay here, tested:
//! [`VkAds::token_request`], [`VkAds::refresh_request`] and
//! [`VkAds::parse_token_response`].
//!
//! ## Errors
//!
//! `{"error":{"code":"ERR_…","message":…}}` (any status) and the OAuth
//! shape `{"code":"expired_token"|…,"message":…}` (401):
//! `expired_token`/`invalid_token`/`revoked_token`/`invalid_client`/
//! `invalid_user` and any 401 are terminal with a re-auth hint;
//! `ERR_LIMIT_EXCEEDED` is retryable after 60 s; `ERR_INTERNAL`, 429 and
//! 5xx are retryable; anything else (`ERR_WRONG_PARAMETER`,
//! `ERR_ACCESS_DENIED`, …) is terminal.
//!
//! ## Normalized rows
//!
//! Stats envelopes give one [`AdStat`] per (day, object): `items[].id`,
//! `items[].rows[].date`, `base.shows` → impressions, `base.clicks`,
//! `base.spent` (string `"23328.92"` or number `500.0`, read as a decimal
//! from its text). All-zero days are kept (they are real days). A missing
//! `spent` rejects the row; missing counts are 0. List envelopes yield no
//! records. Options:
//!
//! - `currency`: else the account's `currency`, else `RUB` (VK Ads bills
//!   Russian accounts in roubles [unverified]; the account's real currency
//!   is `GET /api/v2/user.json` → `currency`, to be read in a later step);
//! - `vat_included` (`true`/`false`): whether `spent` includes VAT; absent →
//!   [`VatMode::Unknown`] (it depends on the account's billing).

use crate::util::{chunks, option_str};
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, OAuthFlow,
    ParseError, RateLimit, RawEnvelope, Request, Response, Step,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};

/// Longest window one job covers.
pub const MAX_CHUNK_DAYS: i64 = 30;

/// Objects per list page (the API's maximum).
pub const LIST_LIMIT: u64 = 50;

/// Wait after `ERR_LIMIT_EXCEEDED`.
pub const LIMIT_EXCEEDED_WAIT: Duration = Duration::from_secs(60);

/// OAuth error codes that mean "authorize again".
pub const AUTH_CODES: [&str; 5] = [
    "expired_token",
    "invalid_token",
    "revoked_token",
    "invalid_client",
    "invalid_user",
];

/// A VK Ads family client: one host, one object kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VkAds {
    slug: &'static str,
    default_host: &'static str,
    platform: &'static str,
    object: &'static str,
}

/// VK Ads: `ad_plans` on ads.vk.com, platform `vk`.
pub const VK_ADS: VkAds = VkAds {
    slug: "vk_ads",
    default_host: "https://ads.vk.com",
    platform: "vk",
    object: "ad_plans",
};

/// myTarget: `campaigns` on target.my.com, platform `mytarget`.
pub const MYTARGET: VkAds = VkAds {
    slug: "mytarget",
    default_host: "https://target.my.com",
    platform: "mytarget",
    object: "campaigns",
};

/// An OAuth2 token response. `Debug` never prints the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub access_token: String,
    pub token_type: String,
    /// Lifetime in seconds (VK sends a string or a number).
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"***")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("scope", &self.scope)
            .finish()
    }
}

/// Text of a string or number value ("" otherwise).
fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn int_of(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A count from a string or a number; missing or null is 0.
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
        Some(Value::String(s)) => s.trim().parse().map_err(|_| format!("not a count: {s:?}")),
        Some(other) => Err(format!("not a count: {other}")),
    }
}

/// A decimal from a string or a number, read from its text (never via
/// `f64`).
fn decimal_of(v: Option<&Value>) -> Result<Decimal, String> {
    let t = match v {
        None | Some(Value::Null) => return Err("missing".into()),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("not a decimal: {other}")),
    };
    Decimal::from_str(&t)
        .or_else(|_| Decimal::from_scientific(&t))
        .map_err(|_| format!("not a decimal: {t:?}"))
}

/// The id→name map of a stats request, from its URL fragment.
pub fn names_from_url(url: &str) -> Result<BTreeMap<String, String>, String> {
    let (_, fragment) = url
        .split_once('#')
        .ok_or("the request URL has no `#names=` fragment")?;
    let encoded = url::form_urlencoded::parse(fragment.as_bytes())
        .find(|(k, _)| k == "names")
        .map(|(_, v)| v.into_owned())
        .ok_or("the request URL fragment has no `names`")?;
    let json = URL_SAFE_NO_PAD
        .decode(encoded.as_bytes())
        .map_err(|e| format!("`names` is not base64url: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("`names` is not a JSON map: {e}"))
}

/// The list offset a stats request says comes next, from its fragment.
fn next_offset_from_url(url: &str) -> Option<u64> {
    let (_, fragment) = url.split_once('#')?;
    url::form_urlencoded::parse(fragment.as_bytes())
        .find(|(k, _)| k == "next")
        .and_then(|(_, v)| v.parse().ok())
}

fn is_stats_url(url: &str) -> bool {
    url.split(['?', '#'])
        .next()
        .is_some_and(|path| path.contains("/api/v2/statistics/"))
}

impl VkAds {
    /// The platform written on rows (`vk`, `mytarget`).
    pub fn platform(&self) -> &'static str {
        self.platform
    }

    /// The listed and counted object (`ad_plans`, `campaigns`).
    pub fn object(&self) -> &'static str {
        self.object
    }

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

    fn vat(&self, account: &AccountConfig) -> VatMode {
        match account
            .options
            .get("vat_included")
            .and_then(|v| v.as_bool())
        {
            Some(true) => VatMode::Included,
            Some(false) => VatMode::Excluded,
            None => VatMode::Unknown,
        }
    }

    /// Page `offset` of the object list.
    pub fn list_request(&self, base_url: &str, offset: u64) -> Request {
        Request::get(format!(
            "{}/api/v2/{}.json",
            base_url.trim_end_matches('/'),
            self.object
        ))
        .query("fields", "id,name,status")
        .query("limit", LIST_LIMIT.to_string())
        .query("offset", offset.to_string())
    }

    /// Day statistics of `names`' ids over [from, to]; the names (and the
    /// next list offset, if any) ride in the URL fragment.
    pub fn stats_request(
        &self,
        base_url: &str,
        names: &BTreeMap<String, String>,
        from: NaiveDate,
        to: NaiveDate,
        next_offset: Option<u64>,
    ) -> Request {
        let json = serde_json::to_vec(names).expect("names serialize");
        let mut fragment = format!("names={}", URL_SAFE_NO_PAD.encode(json));
        if let Some(next) = next_offset {
            fragment.push_str(&format!("&next={next}"));
        }
        let ids: Vec<&str> = names.keys().map(String::as_str).collect();
        Request::get(format!(
            "{}/api/v2/statistics/{}/day.json#{fragment}",
            base_url.trim_end_matches('/'),
            self.object
        ))
        .query("id", ids.join(","))
        .query("date_from", from.format("%Y-%m-%d").to_string())
        .query("date_to", to.format("%Y-%m-%d").to_string())
        .query("metrics", "base")
    }

    /// The client-credentials token request (own account).
    pub fn token_request(&self, base_url: &str, client_id: &str, client_secret: &str) -> Request {
        self.form_post(
            base_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ],
        )
    }

    /// The refresh request (kills the old access token at once: persist the
    /// new pair before using it).
    pub fn refresh_request(
        &self,
        base_url: &str,
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
    ) -> Request {
        self.form_post(
            base_url,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ],
        )
    }

    fn form_post(&self, base_url: &str, pairs: &[(&str, &str)]) -> Request {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Request {
            method: "POST".into(),
            url: format!(
                "{}/api/v2/oauth2/token.json",
                base_url.trim_end_matches('/')
            ),
            query: Vec::new(),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(body),
        }
    }

    /// Reads a token-endpoint response. A 4xx (or an error body) means the
    /// app must be authorized again: terminal, never retried; 429 and 5xx
    /// are retryable.
    pub fn parse_token_response(&self, status: u16, body: &[u8]) -> Result<Token, FetchError> {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let (code, message) = json.as_ref().map(error_of).unwrap_or_default();
        let what = if code.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}, {code}: {message}")
        };
        if status == 429 || status >= 500 {
            return Err(self.retryable(format!("token endpoint: {what}"), None));
        }
        if status == 403 {
            return Err(self.terminal(format!(
                "token endpoint refused: {what}; at most 5 tokens may live per (client_id, user): \
                 delete old ones with POST /api/v2/oauth2/token/delete.json"
            )));
        }
        if status != 200 || !code.is_empty() {
            return Err(self.terminal(format!(
                "token endpoint: {what}; check client_id/client_secret and authorize again"
            )));
        }
        let json = json.ok_or_else(|| self.terminal("token endpoint: body is not JSON"))?;
        let access_token = text_of(json.get("access_token"));
        if access_token.is_empty() {
            return Err(self.terminal("token endpoint: response has no `access_token`"));
        }
        let optional = |k: &str| Some(text_of(json.get(k))).filter(|s| !s.is_empty());
        Ok(Token {
            access_token,
            token_type: optional("token_type").unwrap_or_else(|| "bearer".into()),
            expires_in: int_of(json.get("expires_in")),
            refresh_token: optional("refresh_token"),
            scope: optional("scope"),
        })
    }

    /// Classifies an error response.
    fn classify(&self, status: u16, body: &[u8]) -> FetchError {
        let (code, message) = serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .map(error_of)
            .unwrap_or_default();
        let what = if code.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}, {code}: {message}")
        };
        if status == 401 || AUTH_CODES.contains(&code.as_str()) {
            return self.terminal(format!(
                "access token rejected ({what}); obtain a new token (OAuth2 at \
                 /api/v2/oauth2/token.json) and update credentials.access_token"
            ));
        }
        match code.as_str() {
            "ERR_LIMIT_EXCEEDED" => self.retryable(what, Some(LIMIT_EXCEEDED_WAIT)),
            "ERR_INTERNAL" => self.retryable(what, None),
            _ if status == 429 || status >= 500 => self.retryable(what, None),
            _ => self.terminal(what),
        }
    }
}

/// `(code, message)` of an error body: `{"error":{"code","message"}}`,
/// `{"code","message"}` (OAuth) or `{"error":"…","error_description"}`.
/// Empty code when the body is not an error.
fn error_of(json: &Value) -> (String, String) {
    let msg = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match json.get("error") {
        Some(e @ Value::Object(_)) => (text_of(e.get("code")), msg(e, "message")),
        Some(Value::String(s)) => (s.clone(), msg(json, "error_description")),
        _ => match json.get("code") {
            Some(Value::String(c)) => (c.clone(), msg(json, "message")),
            _ => (String::new(), String::new()),
        },
    }
}

impl Connector for VkAds {
    fn slug(&self) -> &'static str {
        self.slug
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        self.default_host.to_string()
    }

    fn auth(&self) -> AuthScheme {
        AuthScheme::Bearer {
            credential: "access_token",
        }
    }

    /// Client credentials when `credentials.client_secret` is given, else
    /// the ready `access_token`.
    fn auth_for(&self, account: &AccountConfig) -> AuthScheme {
        if account.credentials.contains_key("client_secret") {
            AuthScheme::OAuth2(OAuthFlow::ClientCredentials {
                token_url_path: "/api/v2/oauth2/token.json",
            })
        } else {
            self.auth()
        }
    }

    /// Conservative: VK limits are per user per second/hour/day and
    /// reported in `X-RateLimit-*` headers; 429 is retried by the driver.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 1.0,
            burst: 2,
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
        if let Some(v) = account.options.get("vat_included")
            && v.as_bool().is_none()
        {
            return Err("options.vat_included: expected true or false".into());
        }
        if account.credentials.contains_key("client_secret") {
            if !account.credentials.contains_key("client_id")
                && !account.options.contains_key("client_id")
            {
                return Err(
                    "options.client_id (or credentials.client_id): required with \
                     credentials.client_secret"
                        .into(),
                );
            }
        } else if !account.credentials.contains_key("access_token") {
            return Err(
                "credentials.access_token: required (an OAuth2 access token of the ad account; \
                 or credentials.client_secret + client_id for client credentials)"
                    .into(),
            );
        }
        Ok(())
    }

    /// One `statistics` job per chunk of at most 30 days; meta `object`,
    /// `date_from`, `date_to`.
    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        chunks(ctx.from, ctx.to, MAX_CHUNK_DAYS)
            .into_iter()
            .map(|(from, to)| Job {
                entity: "statistics".to_string(),
                window: Some((from, to)),
                meta: BTreeMap::from([
                    ("object".to_string(), self.object.to_string()),
                    ("date_from".to_string(), from.format("%Y-%m-%d").to_string()),
                    ("date_to".to_string(), to.format("%Y-%m-%d").to_string()),
                ]),
            })
            .collect()
    }

    fn first_request(&self, ctx: &FetchContext<'_>, _job: &Job) -> Request {
        self.list_request(&ctx.base_url, 0)
    }

    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        if response.status != 200 {
            return Err(self.classify(response.status, &response.body));
        }
        let json: Value = serde_json::from_slice(&response.body)
            .map_err(|e| self.terminal(format!("body is not JSON: {e}")))?;
        if !error_of(&json).0.is_empty() {
            return Err(self.classify(response.status, &response.body));
        }
        let Some(items) = json.get("items").and_then(Value::as_array) else {
            return Err(self.terminal("response has no `items` array"));
        };
        if is_stats_url(&request.url) {
            return Ok(match next_offset_from_url(&request.url) {
                Some(offset) => Step::Next(self.list_request(&ctx.base_url, offset)),
                None => Step::Done { watermark: None },
            });
        }
        let offset = request
            .query
            .iter()
            .find(|(k, _)| k == "offset")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(0);
        let count = int_of(json.get("count"))
            .ok_or_else(|| self.terminal("list response has no `count`"))?;
        let next = (offset + LIST_LIMIT < count).then_some(offset + LIST_LIMIT);
        let mut names = BTreeMap::new();
        for item in items {
            let id = text_of(item.get("id"));
            if id.is_empty() {
                return Err(self.terminal(format!("list item without an id: {item}")));
            }
            names.insert(id, text_of(item.get("name")));
        }
        let (from, to) = job.window.unwrap_or((ctx.from, ctx.to));
        Ok(match (names.is_empty(), next) {
            (false, _) => Step::Next(self.stats_request(&ctx.base_url, &names, from, to, next)),
            (true, Some(offset)) => Step::Next(self.list_request(&ctx.base_url, offset)),
            (true, None) => Step::Done { watermark: None },
        })
    }

    fn normalize(&self, envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized {
        let mut out = Normalized::default();
        if envelope.status != 200 || !is_stats_url(&envelope.request.url) {
            return out;
        }
        let page = |field: &str, reason: String| ParseError::new(self.slug, "page", field, reason);
        let json = envelope
            .body_bytes()
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
        let json = match json {
            Ok(j) => j,
            Err(e) => {
                out.rejected.push(page("body", e));
                return out;
            }
        };
        if !error_of(&json).0.is_empty() {
            return out;
        }
        let Some(items) = json.get("items").and_then(Value::as_array) else {
            out.rejected
                .push(page("items", "stats response has no `items` array".into()));
            return out;
        };
        let names = names_from_url(&envelope.request.url);
        let currency = self.currency(ctx.account);
        let vat = self.vat(ctx.account);
        let mut stats: BTreeMap<(NaiveDate, String), AdStat> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let id = text_of(item.get("id"));
            if id.is_empty() {
                out.rejected.push(ParseError::new(
                    self.slug,
                    format!("item {}", i + 1),
                    "id",
                    "missing id",
                ));
                continue;
            }
            let rows = item.get("rows").and_then(Value::as_array);
            for (j, row) in rows.into_iter().flatten().enumerate() {
                let date_text = text_of(row.get("date"));
                let record = format!(
                    "{id} {}",
                    if date_text.is_empty() {
                        format!("row {}", j + 1)
                    } else {
                        date_text.clone()
                    }
                );
                let err = |field: &str, reason: String| {
                    ParseError::new(self.slug, record.clone(), field, reason)
                };
                let name = match &names {
                    Ok(map) => match map.get(&id) {
                        Some(n) => n.clone(),
                        None => {
                            out.rejected.push(err(
                                "name",
                                format!("id {id} is not among the names its request carried"),
                            ));
                            continue;
                        }
                    },
                    Err(e) => {
                        out.rejected.push(err("name", e.clone()));
                        continue;
                    }
                };
                let Ok(date) = NaiveDate::parse_from_str(&date_text, "%Y-%m-%d") else {
                    out.rejected
                        .push(err("date", format!("not a date: {date_text:?}")));
                    continue;
                };
                let base = row.get("base");
                let field = |k: &str| base.and_then(|b| b.get(k));
                let spend = match decimal_of(field("spent")) {
                    Ok(d) => d,
                    Err(e) => {
                        out.rejected.push(err("base.spent", e));
                        continue;
                    }
                };
                let (impressions, clicks) =
                    match (count_of(field("shows")), count_of(field("clicks"))) {
                        (Ok(s), Ok(c)) => (s, c),
                        (Err(e), _) => {
                            out.rejected.push(err("base.shows", e));
                            continue;
                        }
                        (_, Err(e)) => {
                            out.rejected.push(err("base.clicks", e));
                            continue;
                        }
                    };
                let entry = stats.entry((date, id.clone())).or_insert_with(|| AdStat {
                    source: self.slug.to_string(),
                    account: ctx.account.id.clone(),
                    date,
                    platform: self.platform.to_string(),
                    level: StatLevel::Campaign,
                    campaign_id: id.clone(),
                    campaign_name: name,
                    ad_id: String::new(),
                    ad_name: String::new(),
                    impressions: 0,
                    clicks: 0,
                    spend: Decimal::ZERO,
                    currency: currency.clone(),
                    vat,
                });
                entry.impressions += impressions;
                entry.clicks += clicks;
                entry.spend += spend;
            }
        }
        out.records = stats.into_values().map(Record::AdStat).collect();
        out
    }
}
