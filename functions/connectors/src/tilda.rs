//! `tilda`: Tilda form webhooks.
//!
//! Tilda pushes each form submission to one webhook URL (`POST`,
//! `application/x-www-form-urlencoded` by default); there is nothing to
//! fetch, so [`Tilda::plan`] returns no jobs. The webhook receiver (a later
//! issue) checks the URL token, stores the delivery with
//! [`webhook_envelope`] (same raw zone as fetched responses) and answers
//! 200 at once; normalization turns the stored body into a
//! [`Lead`](voronka_core::model::Lead):
//!
//! - `tranid` is the id and the re-delivery dedupe key (Tilda re-sends);
//! - `created_at` is the receipt time (Tilda sends no timestamp);
//! - `formid` / `formname` name the form; `Name`, `Email`, `Phone` (any
//!   case) the person; `utm_*` fields the tags; `COOKIES` is kept in
//!   `extra` with `_ga` / `_ym_uid` / `roistat_visit` split out for
//!   stitching; every other field is kept in `extra` too;
//! - the set-up ping `test=test` gives no record; a body without `tranid`
//!   is a parse error.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use voronka_core::config::AccountConfig;
use voronka_core::model::{Lead, Record, Utm};

use crate::raw::RawRequest;
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};

pub const SLUG: &str = "tilda";

/// The path the webhook receiver is expected to serve (recorded in `raw/`).
pub const WEBHOOK_PATH: &str = "/tilda/webhook";

/// Query parameters that may carry a credential; recorded as `***`.
const SECRET_PARAMS: [&str; 5] = ["token", "key", "api_key", "apikey", "secret"];

pub struct Tilda;

impl Connector for Tilda {
    fn slug(&self) -> &'static str {
        SLUG
    }

    /// Tilda is push-only: no API is called.
    fn default_base_url(&self, _account: &AccountConfig) -> String {
        String::new()
    }

    fn auth(&self) -> AuthScheme {
        AuthScheme::None
    }

    fn rate_limit(&self) -> RateLimit {
        RateLimit::per_second(1.0)
    }

    fn plan(&self, _ctx: &FetchContext<'_>) -> Vec<Job> {
        Vec::new()
    }

    fn first_request(&self, ctx: &FetchContext<'_>, _job: &Job) -> Request {
        Request::get(ctx.base_url.clone())
    }

    fn next_step(
        &self,
        _ctx: &FetchContext<'_>,
        _job: &Job,
        _request: &Request,
        _response: &Response,
    ) -> Result<Step, FetchError> {
        Ok(Step::Done { watermark: None })
    }

    fn normalize(&self, envelope: &RawEnvelope, _ctx: &NormalizeContext<'_>) -> Normalized {
        let mut out = Normalized::default();
        if envelope.entity != "webhook" || envelope.status != 200 {
            return out;
        }
        let record_name = format!("webhook {}-{}", envelope.run, envelope.seq);
        let bytes = match envelope.body_bytes() {
            Ok(b) => b,
            Err(e) => {
                out.rejected
                    .push(ParseError::new(SLUG, record_name, "body", e));
                return out;
            }
        };
        let content_type = envelope
            .headers
            .get("content-type")
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default();
        let fields = match parse_fields(&content_type, &bytes) {
            Ok(f) => f,
            Err(e) => {
                out.rejected
                    .push(ParseError::new(SLUG, record_name, "body", e));
                return out;
            }
        };
        if fields.is_empty() {
            out.rejected
                .push(ParseError::new(SLUG, record_name, "body", "empty body"));
            return out;
        }
        let get = |name: &str| -> Option<String> {
            fields
                .iter()
                .find(|(k, _)| k.trim() == name)
                .map(|(_, v)| v.trim().to_string())
        };
        let tranid = get("tranid").filter(|t| !t.is_empty());
        let Some(id) = tranid else {
            if get("test").is_some_and(|t| t.eq_ignore_ascii_case("test")) {
                return out; // Tilda's set-up ping.
            }
            out.rejected.push(ParseError::new(
                SLUG,
                record_name,
                "tranid",
                "missing: cannot dedupe the submission",
            ));
            return out;
        };
        let mut lead = Lead {
            source: SLUG.to_string(),
            account: envelope.account.clone(),
            id,
            created_at: envelope.received_at,
            form: get("formid").unwrap_or_default(),
            form_name: get("formname").unwrap_or_default(),
            name: String::new(),
            email: String::new(),
            phone: String::new(),
            utm: Utm::default(),
            extra: BTreeMap::new(),
        };
        for (k, v) in &fields {
            let key = k.trim();
            let value = v.trim();
            if value.is_empty() {
                continue;
            }
            let slot = match key.to_ascii_lowercase().as_str() {
                "tranid" | "formid" | "formname" | "test" => continue,
                "name" => &mut lead.name,
                "email" | "e-mail" => &mut lead.email,
                "phone" => &mut lead.phone,
                "utm_source" => &mut lead.utm.source,
                "utm_medium" => &mut lead.utm.medium,
                "utm_campaign" => &mut lead.utm.campaign,
                "utm_content" => &mut lead.utm.content,
                "utm_term" => &mut lead.utm.term,
                "cookies" => {
                    for (ck, cv) in cookies(value) {
                        if matches!(ck.as_str(), "_ga" | "_ym_uid" | "roistat_visit") {
                            lead.extra.entry(ck).or_insert(cv);
                        }
                    }
                    lead.extra
                        .entry(key.to_string())
                        .or_insert_with(|| value.to_string());
                    continue;
                }
                _ => {
                    lead.extra
                        .entry(key.to_string())
                        .or_insert_with(|| value.to_string());
                    continue;
                }
            };
            if slot.is_empty() {
                *slot = value.to_string();
            }
        }
        out.records.push(Record::Lead(lead));
        out
    }
}

/// Builds the raw-zone envelope of one webhook delivery.
///
/// `query_without_token` is the request's query string with the token
/// already removed; any credential-like parameter that is still there
/// (`token`, `key`, `api_key`...) is recorded as `***` anyway. The status
/// is 200 ("accepted"); the content type is kept as the `content-type`
/// header, the body byte-exact.
pub fn webhook_envelope(
    account: &str,
    query_without_token: &str,
    content_type: &str,
    body: &[u8],
    received_at: DateTime<Utc>,
    run: &str,
    seq: u64,
) -> RawEnvelope {
    let query = redact_query(query_without_token.trim_start_matches('?'));
    let url = if query.is_empty() {
        WEBHOOK_PATH.to_string()
    } else {
        format!("{WEBHOOK_PATH}?{query}")
    };
    let (body_encoding, body) = RawEnvelope::encode_body(body);
    let mut headers = BTreeMap::new();
    if !content_type.is_empty() {
        headers.insert("content-type".to_string(), content_type.to_string());
    }
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
            url,
            body: None,
        },
        status: 200,
        headers,
        received_at,
        body_encoding,
        body,
    }
}

fn redact_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, _) = pair.split_once('=').unwrap_or((pair, ""));
            let name = url::form_urlencoded::parse(k.as_bytes())
                .next()
                .map(|(k, _)| k.to_ascii_lowercase())
                .unwrap_or_default();
            if SECRET_PARAMS.contains(&name.as_str()) {
                format!("{k}=***")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Field pairs in body order: form-urlencoded, or a flat JSON object.
fn parse_fields(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let trimmed = body.trim_ascii_start();
    if content_type.contains("json") || (content_type.is_empty() && trimmed.starts_with(b"{")) {
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(map) = v else {
            return Err("JSON body is not an object".to_string());
        };
        return Ok(map
            .into_iter()
            .filter_map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => return None,
                    other => other.to_string(),
                };
                Some((k, s))
            })
            .collect());
    }
    Ok(url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// `a=1; b=2` → pairs.
fn cookies(s: &str) -> Vec<(String, String)> {
    s.split(';')
        .filter_map(|c| {
            let (k, v) = c.split_once('=')?;
            let (k, v) = (k.trim(), v.trim());
            (!k.is_empty() && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_credentials_are_masked() {
        assert_eq!(redact_query("a=1&token=abc&b=2"), "a=1&token=***&b=2");
        assert_eq!(redact_query(""), "");
    }
}
