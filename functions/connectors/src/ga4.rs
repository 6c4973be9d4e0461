//! `ga4`: Google Analytics 4 Data API — sessions and users by day and UTM.
//!
//! **Request.** One job, `sessions`, for the window [from, to] (the
//! pipeline picks the window; GA4 revises the last 24–72 h, so scheduled
//! runs re-fetch a trailing 3 days):
//! `POST {base}/v1beta/properties/{property_id}:runReport` with
//! `{"dateRanges":[{"startDate":"YYYY-MM-DD","endDate":"YYYY-MM-DD"}],
//!   "dimensions":[{"name":"date"},{"name":"sessionSource"},{"name":"sessionMedium"},{"name":"sessionCampaignName"}],
//!   "metrics":[{"name":"sessions"},{"name":"totalUsers"}],
//!   "limit":"100000","offset":"N","keepEmptyRows":false}`.
//! Paged by `offset += len(rows)` until `offset >= rowCount`; an answer
//! without `rows` is a window without data (done, no records, no error).
//!
//! **Auth.** With `credentials.service_account` (the key JSON) the driver
//! exchanges a signed service-account JWT for an access token
//! ([`OAuthFlow::JwtBearer`]: [`service_account_jwt`],
//! [`token_request_body`] → `POST` [`TOKEN_URL`]) and reuses it while
//! unexpired; otherwise a ready `credentials.access_token` is sent as
//! [`AuthScheme::Bearer`].
//!
//! **Normalization.** Each row → [`Session`]; columns are found by header
//! name. `date` is `YYYYMMDD` in the *property's* zone
//! (`metadata.timeZone`), kept as that calendar date. Metric values are
//! strings, parsed by `metricHeaders[i].type` (`TYPE_INTEGER` as an
//! integer; other numeric types as decimals that must be whole and
//! non-negative). GA4's placeholders `(direct)`, `(none)`, `(not set)` and
//! `""` become empty UTM fields (so direct traffic joins the "(не
//! определено)" platform); `(other)` (GA4's high-cardinality bucket) is
//! kept as text. Two rows that map to the same UTM (e.g. `(direct)/(none)`
//! and `(not set)/(not set)`) stay two records: the original dimension
//! values are kept in `Session::dims`, part of the record key; consumers
//! sum.
//!
//! **Errors.** `429 RESOURCE_EXHAUSTED` (quota) and 5xx are retryable;
//! `403 PERMISSION_DENIED` and `403 SERVICE_DISABLED` are terminal with a
//! hint (add the service account's e-mail as a Viewer of the property;
//! enable the Google Analytics Data API in the Cloud project); `401` and
//! other 4xx terminal.
//!
//! Options: `property_id` (required, digits; `properties/123` accepted),
//! `page_size` (1..=250000, default 100000).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use voronka_core::config::AccountConfig;
use voronka_core::model::{Record, Session, Utm};

use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, OAuthFlow,
    ParseError, RateLimit, RawEnvelope, Request, Response, Step,
};

pub const SLUG: &str = "ga4";

pub const DEFAULT_BASE_URL: &str = "https://analyticsdata.googleapis.com";

/// Google's OAuth token endpoint (also the JWT audience).
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// The read-only Analytics scope.
pub const SCOPE: &str = "https://www.googleapis.com/auth/analytics.readonly";

/// Default `limit` of a report page.
pub const DEFAULT_PAGE_SIZE: u64 = 100_000;

/// GA4's maximum `limit`.
pub const MAX_PAGE_SIZE: u64 = 250_000;

/// Lifetime of a signed assertion (Google's maximum).
pub const JWT_LIFETIME_SECS: i64 = 3600;

/// Dimension values that mean "no value".
pub const EMPTY_VALUES: [&str; 4] = ["(direct)", "(none)", "(not set)", ""];

const DIMENSIONS: [&str; 4] = [
    "date",
    "sessionSource",
    "sessionMedium",
    "sessionCampaignName",
];
const METRICS: [&str; 2] = ["sessions", "totalUsers"];

/// The GA4 connector.
pub struct Ga4;

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

/// The numeric property id from option `property_id` (`123` or
/// `properties/123`).
pub fn property_id(account: &AccountConfig) -> Option<String> {
    let v = account.options.get("property_id")?;
    let s = match (v.as_str(), v.as_integer()) {
        (Some(s), _) => s.trim().to_string(),
        (None, Some(n)) => n.to_string(),
        _ => return None,
    };
    let s = s.strip_prefix("properties/").unwrap_or(&s).to_string();
    (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())).then_some(s)
}

/// The page size from option `page_size` (default 100000).
pub fn page_size(account: &AccountConfig) -> u64 {
    account
        .options
        .get("page_size")
        .and_then(|v| v.as_integer())
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .unwrap_or(DEFAULT_PAGE_SIZE)
}

fn report_request(ctx: &FetchContext<'_>, job: &Job, offset: u64) -> Request {
    let (from, to) = job.window.unwrap_or((ctx.from, ctx.to));
    let property = property_id(ctx.account).unwrap_or_default();
    let body = json!({
        "dateRanges": [{
            "startDate": from.format("%Y-%m-%d").to_string(),
            "endDate": to.format("%Y-%m-%d").to_string(),
        }],
        "dimensions": DIMENSIONS.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "metrics": METRICS.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "limit": page_size(ctx.account).to_string(),
        "offset": offset.to_string(),
        "keepEmptyRows": false,
    });
    Request::post_json(
        format!(
            "{}/v1beta/properties/{property}:runReport",
            ctx.base_url.trim_end_matches('/')
        ),
        &body,
    )
}

/// An int64 that JSON may carry as a number or a string.
fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn offset_of(request: &Request) -> u64 {
    request
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|v| as_u64(v.get("offset")))
        .unwrap_or(0)
}

/// Google's error envelope: `{"error":{"code":403,"message":"…","status":"PERMISSION_DENIED",
/// "details":[{"reason":"SERVICE_DISABLED",…}]}}`.
struct ApiError {
    code: i64,
    status: String,
    message: String,
    reasons: Vec<String>,
}

fn api_error(json: &Value) -> Option<ApiError> {
    let e = json.get("error")?.as_object()?;
    let reasons = e
        .get("details")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .filter_map(|x| x.get("reason").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some(ApiError {
        code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
        status: e
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        message: e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        reasons,
    })
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

impl Connector for Ga4 {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        DEFAULT_BASE_URL.to_string()
    }

    /// A ready access token; see [`Connector::auth_for`].
    fn auth(&self) -> AuthScheme {
        AuthScheme::Bearer {
            credential: "access_token",
        }
    }

    /// The service-account exchange when `credentials.service_account` is
    /// given, else the ready `access_token`.
    fn auth_for(&self, account: &AccountConfig) -> AuthScheme {
        if account.credentials.contains_key("service_account") {
            AuthScheme::OAuth2(OAuthFlow::JwtBearer {
                token_url: TOKEN_URL,
            })
        } else {
            self.auth()
        }
    }

    /// GA4 limits tokens and concurrency (10 per property), not requests
    /// per second; one job makes a handful of calls.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 2.0,
            burst: 2,
            budget: None,
        }
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        if property_id(account).is_none() {
            return Err(
                "options.property_id: required, the numeric GA4 property id \
                 (Admin → Property details), e.g. \"123456789\""
                    .into(),
            );
        }
        if let Some(v) = account.options.get("page_size")
            && v.as_integer()
                .is_none_or(|n| n < 1 || n > MAX_PAGE_SIZE as i64)
        {
            return Err(format!(
                "options.page_size: expected an integer from 1 to {MAX_PAGE_SIZE}"
            ));
        }
        if !account.credentials.contains_key("access_token")
            && !account.credentials.contains_key("service_account")
        {
            return Err(
                "credentials.service_account: required (the service-account JSON key; \
                 or credentials.access_token)"
                    .into(),
            );
        }
        Ok(())
    }

    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        let mut meta = BTreeMap::new();
        if let Some(p) = property_id(ctx.account) {
            meta.insert("property_id".to_string(), p);
        }
        vec![Job {
            entity: "sessions".to_string(),
            window: Some((ctx.from, ctx.to)),
            meta,
        }]
    }

    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request {
        report_request(ctx, job, 0)
    }

    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        let status = response.status;
        let json = serde_json::from_slice::<Value>(&response.body).ok();
        let err = json.as_ref().and_then(api_error);
        if let Some(e) = &err {
            let property = job.meta.get("property_id").cloned().unwrap_or_default();
            let describe = format!(
                "HTTP {status}: {} {} {}",
                e.code,
                e.status,
                e.message.chars().take(300).collect::<String>()
            );
            if e.status == "RESOURCE_EXHAUSTED" || e.code == 429 || status == 429 {
                return Err(retryable(
                    format!("quota exhausted: {describe}"),
                    retry_after(response),
                ));
            }
            if matches!(
                e.status.as_str(),
                "UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED"
            ) || status >= 500
            {
                return Err(retryable(describe, retry_after(response)));
            }
            if e.reasons.iter().any(|r| r == "SERVICE_DISABLED")
                || e.message.contains("has not been used in project")
                || e.message.contains("is disabled")
            {
                return Err(terminal(format!(
                    "{describe} — enable the Google Analytics Data API \
                     (analyticsdata.googleapis.com) in the service account's Cloud project"
                )));
            }
            if e.status == "PERMISSION_DENIED" || status == 403 {
                return Err(terminal(format!(
                    "{describe} — add the service account's e-mail (client_email) as a \
                     Viewer of GA4 property {property} (Admin → Property access management)"
                )));
            }
            if e.status == "UNAUTHENTICATED" || status == 401 {
                return Err(terminal(format!(
                    "{describe} — the access token was refused (expired or revoked)"
                )));
            }
            return Err(terminal(describe));
        }
        if status == 429 || status >= 500 {
            return Err(retryable(format!("HTTP {status}"), retry_after(response)));
        }
        if !(200..300).contains(&status) {
            return Err(terminal(format!(
                "HTTP {status}: {}",
                body_excerpt(&response.body)
            )));
        }
        let json = json.ok_or_else(|| {
            terminal(format!(
                "HTTP {status}: body is not JSON: {}",
                body_excerpt(&response.body)
            ))
        })?;
        let rows = match json.get("rows") {
            None | Some(Value::Null) => return Ok(Step::Done { watermark: None }),
            Some(Value::Array(rows)) => rows.len() as u64,
            Some(_) => return Err(terminal("runReport: `rows` is not an array")),
        };
        let row_count = as_u64(json.get("rowCount")).unwrap_or(0);
        let next = offset_of(request) + rows;
        if rows == 0 || next >= row_count {
            return Ok(Step::Done { watermark: None });
        }
        Ok(Step::Next(report_request(ctx, job, next)))
    }

    fn normalize(&self, envelope: &RawEnvelope, _ctx: &NormalizeContext<'_>) -> Normalized {
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
        let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
            out.rejected
                .push(ParseError::new(SLUG, "page", "body", "not JSON"));
            return out;
        };
        if json.get("error").is_some() {
            return out;
        }
        let Some(rows) = json.get("rows").and_then(Value::as_array) else {
            return out; // No data in the window: GA4 omits `rows`.
        };
        let names = |key: &str| -> Vec<String> {
            json.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|h| {
                            h.get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let dims = names("dimensionHeaders");
        let mets = names("metricHeaders");
        let types: Vec<String> = json
            .get("metricHeaders")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|h| {
                        h.get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let dim = |n: &str| dims.iter().position(|d| d == n);
        let met = |n: &str| mets.iter().position(|m| m == n);
        let (Some(i_date), Some(i_sessions), Some(i_users)) =
            (dim("date"), met("sessions"), met("totalUsers"))
        else {
            out.rejected.push(ParseError::new(
                SLUG,
                "page",
                "dimensionHeaders/metricHeaders",
                "missing date, sessions or totalUsers column",
            ));
            return out;
        };
        let (i_source, i_medium, i_campaign) = (
            dim("sessionSource"),
            dim("sessionMedium"),
            dim("sessionCampaignName"),
        );
        let offset = envelope
            .request
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            .and_then(|v| as_u64(v.get("offset")))
            .unwrap_or(0);
        for (i, row) in rows.iter().enumerate() {
            let record = format!("row {}", offset + i as u64 + 1);
            let cell = |key: &str, idx: Option<usize>| -> Option<String> {
                row.get(key)?
                    .as_array()?
                    .get(idx?)?
                    .get("value")
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    })
            };
            let raw_date = cell("dimensionValues", Some(i_date)).unwrap_or_default();
            let Ok(date) = NaiveDate::parse_from_str(&raw_date, "%Y%m%d") else {
                out.rejected.push(ParseError::new(
                    SLUG,
                    record,
                    "date",
                    format!("not YYYYMMDD: {raw_date:?}"),
                ));
                continue;
            };
            let metric = |idx: usize, name: &str| -> Result<u64, ParseError> {
                let raw = cell("metricValues", Some(idx)).unwrap_or_default();
                let ty = types.get(idx).map(String::as_str).unwrap_or("");
                parse_count(&raw, ty).map_err(|e| ParseError::new(SLUG, record.clone(), name, e))
            };
            let (sessions, users) = match (
                metric(i_sessions, "sessions"),
                metric(i_users, "totalUsers"),
            ) {
                (Ok(s), Ok(u)) => (s, u),
                (Err(e), _) | (_, Err(e)) => {
                    out.rejected.push(e);
                    continue;
                }
            };
            let raw = |idx: Option<usize>| cell("dimensionValues", idx).unwrap_or_default();
            let utm_value = |idx: Option<usize>| utm_value(&raw(idx));
            let dims = [i_source, i_medium, i_campaign]
                .iter()
                .map(|i| raw(*i))
                .collect::<Vec<_>>()
                .join("|");
            out.records.push(Record::Session(Session {
                source: SLUG.to_string(),
                account: envelope.account.clone(),
                date,
                utm: Utm {
                    source: utm_value(i_source),
                    medium: utm_value(i_medium),
                    campaign: utm_value(i_campaign),
                    content: String::new(),
                    term: String::new(),
                },
                dims,
                sessions,
                users,
            }));
        }
        out
    }
}

/// A GA4 dimension value as a UTM field: placeholders become "".
pub fn utm_value(raw: &str) -> String {
    let v = raw.trim();
    if EMPTY_VALUES.contains(&v) {
        String::new()
    } else {
        v.to_string()
    }
}

/// A metric value (a string) read as a non-negative count, per its
/// header type.
pub fn parse_count(raw: &str, metric_type: &str) -> Result<u64, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(format!("missing ({metric_type})"));
    }
    if metric_type == "TYPE_INTEGER" {
        return raw
            .parse::<u64>()
            .map_err(|_| format!("not a non-negative integer: {raw:?} ({metric_type})"));
    }
    let d = Decimal::from_str(raw)
        .or_else(|_| Decimal::from_scientific(raw))
        .map_err(|_| format!("not a number: {raw:?} ({metric_type})"))?;
    if d.is_sign_negative() || !d.fract().is_zero() {
        return Err(format!("not a whole count: {raw:?} ({metric_type})"));
    }
    u64::try_from(d).map_err(|_| format!("out of range: {raw:?}"))
}

// ---------------------------------------------------------------------------
// Service-account auth (pure; the driver's JwtBearer flow calls these).

/// The fields of a service-account key JSON that signing needs.
#[derive(Debug, Clone, Deserialize)]
struct ServiceAccountKey {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
}

#[derive(Serialize)]
struct JwtHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The DER body of the first PEM block labelled `PRIVATE KEY` (PKCS#8) or
/// `RSA PRIVATE KEY` (PKCS#1), and whether it is PKCS#8.
fn pem_private_key(pem: &str) -> Result<(Vec<u8>, bool), String> {
    for (label, pkcs8) in [("PRIVATE KEY", true), ("RSA PRIVATE KEY", false)] {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(start) = pem.find(&begin) {
            let rest = &pem[start + begin.len()..];
            let stop = rest
                .find(&end)
                .ok_or_else(|| format!("private_key: no `{end}` line"))?;
            let b64: String = rest[..stop]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("private_key: PEM body is not base64: {e}"))?;
            return Ok((der, pkcs8));
        }
    }
    Err("private_key: no `-----BEGIN PRIVATE KEY-----` PEM block".into())
}

/// Signs the service-account assertion Google exchanges for an access
/// token: RS256 JWT with header `{"alg":"RS256","typ":"JWT","kid":<private_key_id>}`
/// and claims `iss` = `client_email`, `scope` = [`SCOPE`], `aud` =
/// [`TOKEN_URL`], `iat` = `now`, `exp` = `now` + 3600 s.
///
/// Errors name the missing or bad field of the key JSON, never its value.
pub fn service_account_jwt(key_json: &str, now: DateTime<Utc>) -> Result<String, String> {
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    let key: ServiceAccountKey = serde_json::from_str(key_json).map_err(|e| {
        format!(
            "service-account key: not a key JSON (need client_email, private_key): {}",
            // serde's message names the field, not the secret.
            e.to_string().split(" at line").next().unwrap_or("")
        )
    })?;
    if let Some(kind) = key.kind.as_deref()
        && kind != "service_account"
    {
        return Err(format!(
            "service-account key: `type` is {kind:?}, expected \"service_account\""
        ));
    }
    if key.client_email.trim().is_empty() {
        return Err("service-account key: client_email is empty".into());
    }
    let (der, pkcs8) = pem_private_key(&key.private_key)?;
    let pair = if pkcs8 {
        RsaKeyPair::from_pkcs8(&der)
    } else {
        RsaKeyPair::from_der(&der)
    }
    .map_err(|e| format!("private_key: not a usable RSA key: {e}"))?;
    let header = JwtHeader {
        alg: "RS256",
        typ: "JWT",
        kid: key.private_key_id.as_deref().filter(|k| !k.is_empty()),
    };
    let iat = now.timestamp();
    let claims = JwtClaims {
        iss: key.client_email.trim(),
        scope: SCOPE,
        aud: TOKEN_URL,
        iat,
        exp: iat + JWT_LIFETIME_SECS,
    };
    let signing_input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).expect("header serializes")),
        b64url(&serde_json::to_vec(&claims).expect("claims serialize"))
    );
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "private_key: RS256 signing failed".to_string())?;
    Ok(format!("{signing_input}.{}", b64url(&sig)))
}

/// The form body of the token request for a signed assertion
/// (`POST` [`TOKEN_URL`], `Content-Type: application/x-www-form-urlencoded`).
pub fn token_request_body(jwt: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", jwt)
        .finish()
}

/// A token endpoint answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub access_token: String,
    /// Seconds until expiry (Google: 3599).
    pub expires_in: u64,
    pub token_type: String,
}

/// Reads the token endpoint's answer: `{"access_token":"ya29…","expires_in":3599,"token_type":"Bearer"}`,
/// or an OAuth error `{"error":"invalid_grant","error_description":"…"}`
/// (terminal: re-create the key, or fix the clock for "Invalid JWT").
pub fn parse_token_response(body: &[u8]) -> Result<AccessToken, String> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| format!("token endpoint: answer is not JSON: {e}"))?;
    if let Some(err) = json.get("error") {
        let code = match err {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_string(),
            other => other.to_string(),
        };
        let desc = json
            .get("error_description")
            .and_then(Value::as_str)
            .or_else(|| err.get("message").and_then(Value::as_str))
            .unwrap_or("");
        let hint = if desc.contains("Invalid JWT") {
            " (check the machine clock: iat/exp must be within minutes of Google's time)"
        } else if code == "invalid_grant" {
            " (the key may be deleted or the service account disabled: create a new key)"
        } else {
            ""
        };
        return Err(format!("token endpoint: {code}: {desc}{hint}"));
    }
    let access_token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("token endpoint: no access_token in the answer")?
        .to_string();
    Ok(AccessToken {
        access_token,
        expires_in: as_u64(json.get("expires_in")).unwrap_or(0),
        token_type: json
            .get("token_type")
            .and_then(Value::as_str)
            .unwrap_or("Bearer")
            .to_string(),
    })
}
