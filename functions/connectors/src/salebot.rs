//! `salebot`: Salebot.pro bot subscribers (API) and lead webhooks.
//!
//! **API (daily sync).** One job, `clients`: `GET {base}/get_clients?offset=N&limit=500`
//! → `{"status":"success","clients":[...]}`, paged by `offset += len(clients)`
//! until a page holds fewer than 500 clients. `get_clients` has no date
//! filter, so the whole base is read and a client becomes a lead only when
//! the school-local date of its `created_at` (Unix s) lies in the job's
//! window. Each client → [`Lead`]: `id` = client id, `form` =
//! `salebot:<group>` (the bot), `form_name` = the group, `name`; extra
//! `platform_id`, `client_type`, `tag`. No UTM: `get_clients` carries no
//! variables, and one `get_variables` call per client is too many calls;
//! UTM comes from the webhook path below.
//!
//! **Credential placement.** Salebot takes the key as a *path segment*:
//! `https://chatter.salebot.pro/api/{api_key}/get_clients`. The connector
//! writes the literal placeholder `{api_key}` into the URL ([`action_url`])
//! and asks for [`AuthScheme::PathSegment`] (credential `api_key`): the
//! driver substitutes the percent-encoded key on the wire only; `raw/` and
//! errors show `***`.
//!
//! **Errors.** Salebot answers failures with HTTP 200 and
//! `{"status":"fail",...}`: a message about limits / too many requests is
//! retryable, anything else (bad key, missing scope, tariff) terminal.
//! `client_not_found` on `get_clients` is an empty base (done). HTTP 401,
//! 403 and 404 (unknown key) are terminal; 429 and 5xx retryable.
//!
//! **Webhooks (real time).** Bots POST their own JSON from an "API request"
//! block, e.g. `{"client_id":…,"name":…,"phone":…,"email":…,"utm_source":…,
//! "utm_campaign":…,"start":"…","event":"lead"|"application"}` (a flat
//! form-urlencoded body works too). The receiver stores it with
//! [`webhook_envelope`] (entity `webhook`); normalization gives one
//! [`Lead`] with `form` = `salebot:<event>` (`event` absent = `lead`), `id`
//! = `<client_id>:<event>:<received_at Unix s>` (Salebot never re-sends, so
//! each delivery is its own lead; the core dedupes per person, form and
//! day), `created_at` = receipt time; `start` and other fields go to
//! `extra`. The project's ordinary message webhook
//! (`{"id":…,"client":{…},"message":"…","is_input":1,…}`) gives no record
//! and no error. An unknown `event` or a missing `client_id` is a parse
//! error.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use voronka_core::config::AccountConfig;
use voronka_core::model::{Lead, Record, Utm};

use crate::raw::RawRequest;
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};

pub const SLUG: &str = "salebot";

/// Default API base (the key goes after it, as a path segment, on the
/// real API).
pub const DEFAULT_BASE_URL: &str = "https://chatter.salebot.pro/api";

/// `get_clients` page size (Salebot's maximum).
pub const PAGE_LIMIT: u64 = 500;

/// The path the webhook receiver is expected to serve (recorded in `raw/`).
pub const WEBHOOK_PATH: &str = "/salebot/webhook";

/// Wait after a "too many requests" failure.
pub const RATE_LIMITED_WAIT: Duration = Duration::from_secs(60);

/// The Salebot connector.
pub struct Salebot;

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

/// The placeholder the driver replaces by the API key (on the wire only).
pub const KEY_PLACEHOLDER: &str = "{api_key}";

/// The URL of an API action: `{base}/{api_key}/{action}`, the key left as
/// the placeholder [`KEY_PLACEHOLDER`] for the driver to fill in.
pub fn action_url(base: &str, action: &str) -> String {
    format!("{}/{KEY_PLACEHOLDER}/{action}", base.trim_end_matches('/'))
}

fn clients_request(ctx: &FetchContext<'_>, offset: u64) -> Request {
    Request::get(action_url(&ctx.base_url, "get_clients"))
        .query("offset", offset.to_string())
        .query("limit", PAGE_LIMIT.to_string())
}

fn offset_of(request: &Request) -> u64 {
    request
        .query
        .iter()
        .find(|(k, _)| k == "offset")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Text of a scalar (numbers printed), trimmed; "" for null and others.
fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The failure text of a `{"status":"fail",...}` answer.
fn fail_reason(json: &Value) -> String {
    let parts: Vec<String> = ["error", "message", "description", "result", "errors"]
        .iter()
        .filter_map(|k| json.get(*k))
        .map(|v| match v {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        "no reason given".to_string()
    } else {
        parts.join("; ")
    }
}

fn is_rate_limit(reason: &str) -> bool {
    let r = reason.to_lowercase();
    [
        "too many",
        "rate limit",
        "limit exceeded",
        "слишком много",
        "превышен",
        "лимит запросов",
    ]
    .iter()
    .any(|m| r.contains(m))
}

fn retry_after(response: &Response) -> Option<Duration> {
    response
        .header("retry-after")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

impl Connector for Salebot {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        DEFAULT_BASE_URL.to_string()
    }

    /// See the module docs: the key is a path segment.
    fn auth(&self) -> AuthScheme {
        AuthScheme::PathSegment {
            placeholder: KEY_PLACEHOLDER,
            credential: "api_key",
        }
    }

    /// One request per second (Salebot publishes no limit).
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 1.0,
            burst: 2,
            budget: None,
        }
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        if !account.credentials.contains_key("api_key") {
            return Err(
                "credentials.api_key: required (Salebot project → Integrations → API key, \
                 scope \"read clients\")"
                    .into(),
            );
        }
        Ok(())
    }

    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        vec![Job {
            entity: "clients".to_string(),
            window: Some((ctx.from, ctx.to)),
            meta: BTreeMap::new(),
        }]
    }

    fn first_request(&self, ctx: &FetchContext<'_>, _job: &Job) -> Request {
        clients_request(ctx, 0)
    }

    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        _job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        let status = response.status;
        if status == 429 || status >= 500 {
            return Err(retryable(format!("HTTP {status}"), retry_after(response)));
        }
        if matches!(status, 401 | 403 | 404) {
            return Err(terminal(format!(
                "HTTP {status}: the API key was refused or the action is unknown \
                 (check credentials.api_key and its scopes): {}",
                body_excerpt(&response.body)
            )));
        }
        let json: Value = serde_json::from_slice(&response.body).map_err(|e| {
            terminal(format!(
                "HTTP {status}: body is not JSON ({e}): {}",
                body_excerpt(&response.body)
            ))
        })?;
        let vendor_status = text(json.get("status"));
        match vendor_status.as_str() {
            "success" | "" => {}
            "client_not_found" => return Ok(Step::Done { watermark: None }),
            "fail" | "error" => {
                let reason = fail_reason(&json);
                return Err(if is_rate_limit(&reason) {
                    retryable(
                        format!("Salebot: {reason}"),
                        retry_after(response).or(Some(RATE_LIMITED_WAIT)),
                    )
                } else {
                    terminal(format!("Salebot: status fail: {reason}"))
                });
            }
            other => return Err(terminal(format!("Salebot: unknown status {other:?}"))),
        }
        if !(200..300).contains(&status) {
            return Err(terminal(format!(
                "HTTP {status}: {}",
                body_excerpt(&response.body)
            )));
        }
        let clients = json
            .get("clients")
            .and_then(Value::as_array)
            .ok_or_else(|| terminal("get_clients: no `clients` array in the answer"))?;
        let n = clients.len() as u64;
        if n < PAGE_LIMIT {
            return Ok(Step::Done { watermark: None });
        }
        Ok(Step::Next(clients_request(ctx, offset_of(request) + n)))
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
        if envelope.entity == "webhook" {
            webhook(envelope, &bytes, &mut out);
            return out;
        }
        let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
            out.rejected
                .push(ParseError::new(SLUG, "page", "body", "not JSON"));
            return out;
        };
        if !matches!(text(json.get("status")).as_str(), "success" | "") {
            return out;
        }
        let Some(clients) = json.get("clients").and_then(Value::as_array) else {
            return out;
        };
        let window = envelope.window_from.zip(envelope.window_to);
        for (i, c) in clients.iter().enumerate() {
            if let Some(lead) = client_lead(envelope, c, i, window, ctx.school_tz, &mut out) {
                out.records.push(Record::Lead(lead));
            }
        }
        out
    }
}

fn client_lead(
    envelope: &RawEnvelope,
    c: &Value,
    i: usize,
    window: Option<(NaiveDate, NaiveDate)>,
    school_tz: Tz,
    out: &mut Normalized,
) -> Option<Lead> {
    let id = text(c.get("id"));
    let record = if id.is_empty() {
        format!("client {}", i + 1)
    } else {
        id.clone()
    };
    let err = |field: &str, reason: &str| ParseError::new(SLUG, record.clone(), field, reason);
    if id.is_empty() {
        out.rejected.push(err("id", "missing client id"));
        return None;
    }
    let Some(created_at) = as_i64(c.get("created_at")).and_then(|s| DateTime::from_timestamp(s, 0))
    else {
        out.rejected
            .push(err("created_at", "missing or not Unix seconds"));
        return None;
    };
    if let Some((from, to)) = window {
        let day = voronka_core::time::local_date(created_at, school_tz);
        if day < from || day > to {
            return None;
        }
    }
    let group = text(c.get("group"));
    let mut extra = BTreeMap::new();
    for key in ["platform_id", "client_type", "tag"] {
        let v = text(c.get(key));
        if !v.is_empty() {
            extra.insert(key.to_string(), v);
        }
    }
    Some(Lead {
        source: SLUG.to_string(),
        account: envelope.account.clone(),
        id,
        created_at,
        form: format!("{SLUG}:{group}"),
        form_name: group,
        name: text(c.get("name")),
        email: String::new(),
        phone: String::new(),
        utm: Utm::default(),
        extra,
    })
}

/// Flat fields of a webhook body: a JSON object (nested values kept as
/// compact JSON) or form-urlencoded pairs.
fn webhook_fields(bytes: &[u8]) -> Result<Option<BTreeMap<String, Value>>, String> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(map) = v else {
            return Err("JSON body is not an object".into());
        };
        return Ok(Some(map.into_iter().collect()));
    }
    if trimmed.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        url::form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect(),
    ))
}

fn webhook(envelope: &RawEnvelope, bytes: &[u8], out: &mut Normalized) {
    let record = format!("webhook {}-{}", envelope.run, envelope.seq);
    let fields = match webhook_fields(bytes) {
        Ok(Some(f)) => f,
        Ok(None) => {
            out.rejected
                .push(ParseError::new(SLUG, record, "body", "empty body"));
            return;
        }
        Err(e) => {
            out.rejected.push(ParseError::new(SLUG, record, "body", e));
            return;
        }
    };
    // Salebot's own message webhook: a chat message, not a lead.
    if fields.get("client").is_some_and(Value::is_object) && fields.contains_key("message") {
        return;
    }
    let get = |k: &str| text(fields.get(k));
    let event = match get("event").to_lowercase().as_str() {
        "" | "lead" => "lead",
        "application" => "application",
        other => {
            out.rejected.push(ParseError::new(
                SLUG,
                record,
                "event",
                format!("unknown event {other:?} (expected \"lead\" or \"application\")"),
            ));
            return;
        }
    };
    let client_id = get("client_id");
    if client_id.is_empty() {
        out.rejected.push(ParseError::new(
            SLUG,
            record,
            "client_id",
            "missing: cannot tell whose lead this is",
        ));
        return;
    }
    let mut lead = Lead {
        source: SLUG.to_string(),
        account: envelope.account.clone(),
        id: format!("{client_id}:{event}:{}", envelope.received_at.timestamp()),
        created_at: envelope.received_at,
        form: format!("{SLUG}:{event}"),
        form_name: String::new(),
        name: get("name"),
        email: get("email"),
        phone: get("phone"),
        utm: Utm {
            source: get("utm_source"),
            medium: get("utm_medium"),
            campaign: get("utm_campaign"),
            content: get("utm_content"),
            term: get("utm_term"),
        },
        extra: BTreeMap::new(),
    };
    for (k, v) in &fields {
        if matches!(
            k.as_str(),
            "event"
                | "name"
                | "email"
                | "phone"
                | "utm_source"
                | "utm_medium"
                | "utm_campaign"
                | "utm_content"
                | "utm_term"
        ) {
            continue;
        }
        let value = match v {
            Value::Null => continue,
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => other.to_string(),
        };
        if !value.is_empty() {
            lead.extra.insert(k.clone(), value);
        }
    }
    out.records.push(Record::Lead(lead));
}

/// Builds the raw-zone envelope of one webhook delivery (entity
/// `webhook`, status 200, body byte-exact, URL [`WEBHOOK_PATH`] without
/// any query, so no credential can reach `raw/`).
pub fn webhook_envelope(
    account: &str,
    body: &[u8],
    received_at: DateTime<Utc>,
    run: &str,
    seq: u64,
) -> RawEnvelope {
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    RawEnvelope {
        v: RawEnvelope::VERSION,
        source: SLUG.to_string(),
        account: account.to_string(),
        run: run.to_string(),
        seq,
        entity: "webhook".to_string(),
        window_from: None,
        window_to: None,
        meta: BTreeMap::new(),
        request: RawRequest {
            method: "POST".to_string(),
            url: WEBHOOK_PATH.to_string(),
            body: None,
        },
        status: 200,
        headers: BTreeMap::new(),
        received_at,
        body_encoding,
        body,
    }
}
