//! `amocrm`: amoCRM API v4 (HAL JSON): deals, contacts, managers,
//! pipelines and status history.
//!
//! Auth, chosen per account ([`Connector::auth_for`]):
//! - **OAuth 2.0 with rotating refresh tokens** when the account has
//!   `credentials.refresh_token` ([`OAuthFlow::RefreshRotating`],
//!   `POST {base}/oauth2/access_token`): also `credentials.client_secret`,
//!   `client_id` and `redirect_uri` (credentials or options). The driver
//!   refreshes under a per-account lock, journals and commits the new pair
//!   before use (see [`crate::auth`]); after the first rotation its token
//!   store is authoritative and the credential's refresh token is stale by
//!   design. On a 401 it refreshes once and retries.
//! - otherwise a **long-lived token** (credential `token`, `Authorization:
//!   Bearer`), created by an admin in *Settings → Integrations → Keys and
//!   scopes* of a private integration.
//!
//! Jobs of a run, in order: `pipelines`, `users`, `contacts`, `leads`,
//! `events` (lead status changes). `contacts`, `leads` and `events` are
//! incremental: the watermark is the greatest `updated_at` (events:
//! `created_at`) seen, Unix seconds as a string. Paging follows
//! `_links.next.href` (its path and query, re-based on the account's base
//! URL so the token never goes to another host) until it is absent; HTTP
//! 204 is an empty page. The running watermark travels in the URL fragment
//! (`#wm=<unix>`), which the driver never sends.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use voronka_core::config::AccountConfig;
use voronka_core::model::{
    Contact, Deal, Manager, Pipeline, PipelineStatus, Record, StatusChange, StatusKind, Utm,
};

use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, OAuthFlow,
    ParseError, RateLimit, RawEnvelope, Request, Response, Step,
};

pub const SLUG: &str = "amocrm";

/// OAuth2 with rotating refresh tokens at `{base}/oauth2/access_token`.
pub const OAUTH: OAuthFlow = OAuthFlow::RefreshRotating {
    token_url_path: "/oauth2/access_token",
};

/// Page size of list endpoints (the API maximum).
pub const PAGE_LIMIT: u32 = 250;
/// Page size of `/api/v4/events` (the API maximum).
pub const EVENTS_LIMIT: u32 = 100;

/// The entities a run fetches, in order.
pub const ENTITIES: [&str; 5] = ["pipelines", "users", "contacts", "leads", "events"];

/// Meta key holding the watermark a job started from.
const META_FROM: &str = "from";

pub struct Amocrm;

impl Connector for Amocrm {
    fn slug(&self) -> &'static str {
        SLUG
    }

    /// `https://{subdomain}.amocrm.ru` from option `subdomain`.
    fn default_base_url(&self, account: &AccountConfig) -> String {
        let sub = option_str(account, "subdomain").unwrap_or_default();
        format!("https://{sub}.amocrm.ru")
    }

    fn auth(&self) -> AuthScheme {
        AuthScheme::Bearer {
            credential: "token",
        }
    }

    /// OAuth2 (rotating refresh token) when `credentials.refresh_token` is
    /// given, else the long-lived token.
    fn auth_for(&self, account: &AccountConfig) -> AuthScheme {
        if account.credentials.contains_key("refresh_token") {
            AuthScheme::OAuth2(OAUTH)
        } else {
            self.auth()
        }
    }

    /// amoCRM allows at most 7 requests per second.
    fn rate_limit(&self) -> RateLimit {
        RateLimit::per_second(7.0)
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        match account.options.get("subdomain") {
            None if account.base_url.is_none() => {
                return Err(
                    "option `subdomain` is required (the `school` of school.amocrm.ru) unless `base_url` is set"
                        .to_string(),
                );
            }
            None => {}
            Some(v) => {
                let s = v.as_str().ok_or("option `subdomain` must be a string")?;
                if s.is_empty()
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    return Err(format!(
                        "option `subdomain` must be the account's subdomain only ([a-z0-9-]), got {s:?}"
                    ));
                }
            }
        }
        if let Some(v) = account.options.get("currency")
            && v.as_str().is_none_or(|c| c.len() != 3)
        {
            return Err("option `currency` must be a 3-letter ISO code".to_string());
        }
        if account.credentials.contains_key("refresh_token") {
            if !account.credentials.contains_key("client_secret") {
                return Err(
                    "credential `client_secret` is required with `refresh_token` (OAuth2)"
                        .to_string(),
                );
            }
            for key in ["client_id", "redirect_uri"] {
                if !account.credentials.contains_key(key) && option_str(account, key).is_none() {
                    return Err(format!(
                        "option `{key}` (or credential `{key}`) is required with \
                         `refresh_token` (OAuth2)"
                    ));
                }
            }
            return Ok(());
        }
        if !account.credentials.contains_key("token") {
            return Err(
                "credential `token` (long-lived token) is required, or OAuth2: \
                 `refresh_token` + `client_secret` + `client_id` + `redirect_uri`"
                    .to_string(),
            );
        }
        Ok(())
    }

    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        ENTITIES
            .iter()
            .map(|entity| {
                let mut meta = BTreeMap::new();
                if matches!(*entity, "contacts" | "leads" | "events")
                    && let Some(wm) = ctx.watermarks.get(*entity)
                    && wm.trim().parse::<i64>().is_ok()
                {
                    meta.insert(META_FROM.to_string(), wm.trim().to_string());
                }
                Job {
                    entity: entity.to_string(),
                    window: None,
                    meta,
                }
            })
            .collect()
    }

    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request {
        let base = ctx.base_url.trim_end_matches('/');
        let from = job.meta.get(META_FROM);
        match job.entity.as_str() {
            "pipelines" => Request::get(format!("{base}/api/v4/leads/pipelines")),
            "users" => Request::get(format!("{base}/api/v4/users"))
                .query("limit", PAGE_LIMIT.to_string())
                .query("page", "1"),
            "events" => {
                let mut r = Request::get(format!("{base}/api/v4/events"))
                    .query("limit", EVENTS_LIMIT.to_string())
                    .query("page", "1")
                    .query("filter[type]", "lead_status_changed");
                if let Some(from) = from {
                    r = r.query("filter[created_at][from]", from.clone());
                }
                r
            }
            entity => {
                let mut r = Request::get(format!("{base}/api/v4/{entity}"))
                    .query("limit", PAGE_LIMIT.to_string())
                    .query("page", "1")
                    .query("order[updated_at]", "asc");
                if entity == "leads" {
                    r = r.query("with", "contacts");
                }
                if let Some(from) = from {
                    r = r.query("filter[updated_at][from]", from.clone());
                }
                r
            }
        }
    }

    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        let carried = max_opt(
            fragment_watermark(&request.url),
            job.meta.get(META_FROM).and_then(|s| s.parse().ok()),
        );
        let done = |wm: Option<i64>| Step::Done {
            watermark: if incremental(&job.entity) {
                wm.map(|w| w.to_string())
            } else {
                None
            },
        };
        match response.status {
            204 => return Ok(done(carried)),
            200 => {}
            401 => {
                return Err(terminal(format!(
                    "HTTP 401: amoCRM rejected the token{}; create a new long-lived token in \
                     amoCRM → Settings → Integrations → Keys and scopes and update credential `token`",
                    problem_hint(&response.body)
                )));
            }
            402 => {
                return Err(terminal(format!(
                    "HTTP 402: the amoCRM subscription of this account has lapsed (payment required){}",
                    problem_hint(&response.body)
                )));
            }
            403 => {
                return Err(terminal(format!(
                    "HTTP 403: amoCRM refused access: this IP is blocked or not in the account's IP \
                     whitelist, or the token lacks rights{}",
                    problem_hint(&response.body)
                )));
            }
            429 => {
                return Err(FetchError::Retryable {
                    slug: SLUG.to_string(),
                    reason: "HTTP 429: amoCRM rate limit (7 requests/s) exceeded".to_string(),
                    after: None,
                });
            }
            s if s >= 500 => {
                return Err(FetchError::Retryable {
                    slug: SLUG.to_string(),
                    reason: format!("HTTP {s}: amoCRM server error"),
                    after: None,
                });
            }
            s => {
                return Err(terminal(format!(
                    "HTTP {s}: unexpected response{}",
                    problem_hint(&response.body)
                )));
            }
        }
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(done(carried));
        }
        let page: Value = serde_json::from_slice(&response.body)
            .map_err(|e| terminal(format!("HTTP 200 but the body is not JSON: {e}")))?;
        let field = match job.entity.as_str() {
            "events" => "created_at",
            _ => "updated_at",
        };
        let page_max = page
            .pointer(&format!("/_embedded/{}", embedded_key(&job.entity)))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.get(field).and_then(as_i64))
            .max();
        let wm = max_opt(carried, page_max);
        let Some(href) = page.pointer("/_links/next/href").and_then(Value::as_str) else {
            return Ok(done(wm));
        };
        let next = rebase(&ctx.base_url, href)
            .ok_or_else(|| terminal(format!("cannot follow `_links.next.href` {href:?}")))?;
        let next = match (incremental(&job.entity), wm) {
            (true, Some(w)) => format!("{next}#wm={w}"),
            _ => next,
        };
        if strip_fragment(&next) == strip_fragment(&request.url) && request.query.is_empty() {
            return Err(terminal(format!(
                "`_links.next.href` points to the page just read ({href}); stopping"
            )));
        }
        Ok(Step::Next(Request::get(next)))
    }

    fn normalize(&self, envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized {
        let mut out = Normalized::default();
        if envelope.status != 200 {
            return out;
        }
        let bytes = match envelope.body_bytes() {
            Ok(b) => b,
            Err(e) => {
                out.rejected.push(ParseError::new(SLUG, "page", "body", e));
                return out;
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return out;
        }
        let page: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                out.rejected.push(ParseError::new(
                    SLUG,
                    "page",
                    "body",
                    format!("not JSON: {e}"),
                ));
                return out;
            }
        };
        let account = envelope.account.as_str();
        let currency = currency(ctx.account);
        let key = embedded_key(&envelope.entity);
        let items = match page.pointer(&format!("/_embedded/{key}")) {
            Some(Value::Array(items)) => items.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => {
                out.rejected.push(ParseError::new(
                    SLUG,
                    "page",
                    format!("_embedded.{key}"),
                    "not an array",
                ));
                return out;
            }
        };
        for (i, item) in items.iter().enumerate() {
            let parsed = match envelope.entity.as_str() {
                "leads" => lead(item, account, &currency).map(|d| Some(Record::Deal(d))),
                "contacts" => contact(item, account).map(|c| Some(Record::Contact(c))),
                "users" => manager(item, account).map(|m| Some(Record::Manager(m))),
                "pipelines" => pipeline(item, account).map(|p| Some(Record::Pipeline(p))),
                "events" => status_change(item, account).map(|s| s.map(Record::StatusChange)),
                other => {
                    out.rejected.push(ParseError::new(
                        SLUG,
                        "page",
                        "entity",
                        format!("unknown entity {other:?}"),
                    ));
                    return out;
                }
            };
            match parsed {
                Ok(Some(r)) => out.records.push(r),
                Ok(None) => {}
                Err((field, reason)) => {
                    let id = item
                        .get("id")
                        .and_then(id_string)
                        .unwrap_or_else(|| format!("#{i}"));
                    out.rejected.push(ParseError::new(
                        SLUG,
                        format!("{} {id}", envelope.entity),
                        field,
                        reason,
                    ));
                }
            }
        }
        out
    }
}

fn terminal(reason: String) -> FetchError {
    FetchError::Terminal {
        slug: SLUG.to_string(),
        reason,
    }
}

fn incremental(entity: &str) -> bool {
    matches!(entity, "contacts" | "leads" | "events")
}

fn embedded_key(entity: &str) -> &str {
    match entity {
        "leads" => "leads",
        "contacts" => "contacts",
        "users" => "users",
        "pipelines" => "pipelines",
        "events" => "events",
        other => other,
    }
}

fn option_str(account: &AccountConfig, key: &str) -> Option<String> {
    account
        .options
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Option `currency`, else the account currency, else RUB.
fn currency(account: &AccountConfig) -> String {
    option_str(account, "currency")
        .or_else(|| account.currency.clone())
        .unwrap_or_else(|| "RUB".to_string())
        .to_ascii_uppercase()
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn fragment_watermark(url: &str) -> Option<i64> {
    let (_, frag) = url.split_once('#')?;
    frag.split('&')
        .find_map(|kv| kv.strip_prefix("wm="))
        .and_then(|v| v.parse().ok())
}

fn strip_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(u, _)| u)
}

/// `href`'s path and query on `base` (amoCRM links are absolute URLs on
/// the account host; a proxy or mock base must keep receiving them).
fn rebase(base: &str, href: &str) -> Option<String> {
    let base_url = url::Url::parse(base).ok()?;
    let target = base_url.join(href).ok()?;
    let mut out = base_url;
    let prefix = out.path().trim_end_matches('/').to_string();
    let path = target.path();
    if !prefix.is_empty() && !path.starts_with(&format!("{prefix}/")) {
        out.set_path(&format!("{prefix}{path}"));
    } else {
        out.set_path(path);
    }
    out.set_query(target.query());
    out.set_fragment(None);
    Some(out.to_string())
}

/// `title`/`hint`/`detail` of an amoCRM problem+json body, when there is one.
fn problem_hint(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let parts: Vec<&str> = ["title", "hint", "detail"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(": "))
    }
}

type FieldResult<T> = Result<T, (String, String)>;

fn bad<T>(field: &str, reason: impl Into<String>) -> FieldResult<T> {
    Err((field.to_string(), reason.into()))
}

/// An integer given as a number or a numeric string.
fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id given as a number or a string.
fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_i64().map(|i| i.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn req_id(item: &Value, field: &str) -> FieldResult<String> {
    match item.get(field) {
        Some(v) => id_string(v).map_or_else(|| bad(field, format!("not an id: {v}")), Ok),
        None => bad(field, "missing"),
    }
}

/// An optional id: null/absent/0 → "".
fn opt_id(item: &Value, field: &str) -> FieldResult<String> {
    match item.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(v) => match id_string(v) {
            Some(s) if s == "0" => Ok(String::new()),
            Some(s) => Ok(s),
            None => bad(field, format!("not an id: {v}")),
        },
    }
}

fn text(item: &Value, field: &str) -> String {
    match item.get(field) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn unix(v: &Value, field: &str) -> FieldResult<DateTime<Utc>> {
    let secs = as_i64(v).map_or_else(|| bad(field, format!("not Unix seconds: {v}")), Ok)?;
    DateTime::from_timestamp(secs, 0)
        .map_or_else(|| bad(field, format!("out of range: {secs}")), Ok)
}

fn req_time(item: &Value, field: &str) -> FieldResult<DateTime<Utc>> {
    match item.get(field) {
        None | Some(Value::Null) => bad(field, "missing"),
        Some(v) => unix(v, field),
    }
}

/// Null, absent or 0 → None.
fn opt_time(item: &Value, field: &str) -> FieldResult<Option<DateTime<Utc>>> {
    match item.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) if as_i64(v) == Some(0) => Ok(None),
        Some(v) => unix(v, field).map(Some),
    }
}

fn price(item: &Value) -> FieldResult<Decimal> {
    match item.get("price") {
        None | Some(Value::Null) => Ok(Decimal::ZERO),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Decimal::from(i))
            } else {
                n.to_string()
                    .parse()
                    .map_or_else(|_| bad("price", format!("not a number: {n}")), Ok)
            }
        }
        Some(Value::String(s)) => s
            .trim()
            .replace(',', ".")
            .replace(' ', "")
            .parse()
            .map_or_else(|_| bad("price", format!("not a number: {s:?}")), Ok),
        Some(v) => bad("price", format!("not a number: {v}")),
    }
}

/// `custom_fields_values`: null (amoCRM's "none") or an array.
fn custom_fields(item: &Value) -> FieldResult<&[Value]> {
    match item.get("custom_fields_values") {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a.as_slice()),
        Some(v) => bad("custom_fields_values", format!("not an array: {v}")),
    }
}

/// The string values of a custom field (numbers and booleans as text).
fn field_values(field: &Value) -> Vec<String> {
    field
        .get("values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| match v.get("value") {
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn set_utm(utm: &mut Utm, key: &str, value: String) {
    let slot = match key {
        "utm_source" => &mut utm.source,
        "utm_medium" => &mut utm.medium,
        "utm_campaign" => &mut utm.campaign,
        "utm_content" => &mut utm.content,
        "utm_term" => &mut utm.term,
        _ => return,
    };
    if slot.is_empty() {
        *slot = value;
    }
}

/// UTM tags: `tracking_data` fields by `field_code` first, then hand-made
/// fields named like `utm_source` whose `field_code` is null.
fn utm(fields: &[Value]) -> Utm {
    let mut utm = Utm::default();
    for f in fields {
        if let Some(code) = f.get("field_code").and_then(Value::as_str)
            && let Some(v) = field_values(f).into_iter().next()
        {
            set_utm(&mut utm, &code.to_ascii_lowercase(), v);
        }
    }
    for f in fields {
        if f.get("field_code").is_none_or(Value::is_null)
            && let Some(name) = f.get("field_name").and_then(Value::as_str)
            && let Some(v) = field_values(f).into_iter().next()
        {
            let key: String = name
                .trim()
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c == ' ' || c == '-' { '_' } else { c })
                .collect();
            set_utm(&mut utm, &key, v);
        }
    }
    utm
}

fn lead(item: &Value, account: &str, currency: &str) -> FieldResult<Deal> {
    let fields = custom_fields(item)?;
    let contact_ids = match item.pointer("/_embedded/contacts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(cs)) => {
            let mut ids = Vec::with_capacity(cs.len());
            for c in cs {
                match c.get("id").and_then(id_string) {
                    Some(id) => ids.push(id),
                    None => return bad("_embedded.contacts.id", format!("not an id: {c}")),
                }
            }
            ids
        }
        Some(v) => return bad("_embedded.contacts", format!("not an array: {v}")),
    };
    Ok(Deal {
        source: SLUG.to_string(),
        account: account.to_string(),
        id: req_id(item, "id")?,
        name: text(item, "name"),
        pipeline_id: req_id(item, "pipeline_id")?,
        status_id: req_id(item, "status_id")?,
        responsible_user_id: opt_id(item, "responsible_user_id")?,
        price: price(item)?,
        currency: currency.to_string(),
        created_at: req_time(item, "created_at")?,
        updated_at: req_time(item, "updated_at")?,
        closed_at: opt_time(item, "closed_at")?,
        contact_ids,
        utm: utm(fields),
        product: String::new(),
        deleted: item
            .get("is_deleted")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn contact(item: &Value, account: &str) -> FieldResult<Contact> {
    let fields = custom_fields(item)?;
    let mut emails = Vec::new();
    let mut phones = Vec::new();
    for f in fields {
        match f.get("field_code").and_then(Value::as_str) {
            Some("EMAIL") => emails.extend(field_values(f)),
            Some("PHONE") => phones.extend(field_values(f)),
            _ => {}
        }
    }
    let mut name = text(item, "name");
    if name.is_empty() {
        name = [text(item, "first_name"), text(item, "last_name")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    Ok(Contact {
        source: SLUG.to_string(),
        account: account.to_string(),
        id: req_id(item, "id")?,
        name,
        emails,
        phones,
        created_at: req_time(item, "created_at")?,
        updated_at: req_time(item, "updated_at")?,
    })
}

fn manager(item: &Value, account: &str) -> FieldResult<Manager> {
    Ok(Manager {
        source: SLUG.to_string(),
        account: account.to_string(),
        id: req_id(item, "id")?,
        name: text(item, "name"),
        email: text(item, "email"),
    })
}

fn pipeline(item: &Value, account: &str) -> FieldResult<Pipeline> {
    let id = req_id(item, "id")?;
    let raw = match item.pointer("/_embedded/statuses") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(v) => return bad("_embedded.statuses", format!("not an array: {v}")),
    };
    let mut statuses = Vec::with_capacity(raw.len());
    for s in raw {
        let sid = req_id(s, "id").map_err(|(f, r)| (format!("_embedded.statuses.{f}"), r))?;
        let sort = match s.get("sort") {
            None | Some(Value::Null) => 0,
            Some(v) => as_i64(v).map_or_else(
                || bad("_embedded.statuses.sort", format!("not an integer: {v}")),
                Ok,
            )?,
        };
        let kind = if s.get("type").and_then(as_i64) == Some(1) {
            StatusKind::Unsorted
        } else if sid == "142" {
            StatusKind::Won
        } else if sid == "143" {
            StatusKind::Lost
        } else {
            StatusKind::Open
        };
        statuses.push(PipelineStatus {
            id: sid,
            name: text(s, "name"),
            sort,
            kind,
        });
    }
    statuses.sort_by_key(|s| s.sort);
    Ok(Pipeline {
        source: SLUG.to_string(),
        account: account.to_string(),
        id,
        name: text(item, "name"),
        statuses,
    })
}

/// `(pipeline_id, status_id)` of `value_before`/`value_after`.
fn lead_status(item: &Value, field: &str) -> FieldResult<(String, String)> {
    let first = match item.get(field) {
        Some(Value::Array(a)) => a.first(),
        Some(Value::Object(_)) => item.get(field),
        _ => None,
    };
    let Some(ls) = first.and_then(|v| v.get("lead_status")) else {
        return bad(field, "no lead_status");
    };
    let id = req_id(ls, "id").map_err(|(f, r)| (format!("{field}.lead_status.{f}"), r))?;
    let pipeline =
        req_id(ls, "pipeline_id").map_err(|(f, r)| (format!("{field}.lead_status.{f}"), r))?;
    Ok((pipeline, id))
}

fn status_change(item: &Value, account: &str) -> FieldResult<Option<StatusChange>> {
    if item.get("type").and_then(Value::as_str) != Some("lead_status_changed") {
        return Ok(None);
    }
    if let Some(t) = item.get("entity_type").and_then(Value::as_str)
        && t != "lead"
    {
        return Ok(None);
    }
    let (from_pipeline_id, from_status_id) = lead_status(item, "value_before")?;
    let (to_pipeline_id, to_status_id) = lead_status(item, "value_after")?;
    Ok(Some(StatusChange {
        source: SLUG.to_string(),
        account: account.to_string(),
        id: req_id(item, "id")?,
        deal_id: req_id(item, "entity_id")?,
        at: req_time(item, "created_at")?,
        from_pipeline_id,
        from_status_id,
        to_pipeline_id,
        to_status_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_keeps_path_and_query_on_base_host() {
        assert_eq!(
            rebase(
                "http://127.0.0.1:9/",
                "https://school.amocrm.ru/api/v4/leads?page=2&limit=250"
            )
            .unwrap(),
            "http://127.0.0.1:9/api/v4/leads?page=2&limit=250"
        );
        assert_eq!(
            rebase(
                "https://proxy.example/amo",
                "https://school.amocrm.ru/api/v4/users?page=3"
            )
            .unwrap(),
            "https://proxy.example/amo/api/v4/users?page=3"
        );
    }

    #[test]
    fn fragment_watermark_reads_wm() {
        assert_eq!(
            fragment_watermark("https://x/api?page=2#wm=1700000000"),
            Some(1_700_000_000)
        );
        assert_eq!(fragment_watermark("https://x/api?page=2"), None);
    }
}
