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
//!
//! **History import** (`voronka import tilda FILE`): Tilda's leads export
//! ("Заявки", CSV) is stored whole as one envelope of entity `csv`
//! ([`csv_envelope`]; its key derives from the SHA-256 of the file bytes,
//! so importing the same file again writes nothing). Normalization
//! ([`csv_leads`]): UTF-8 with or without BOM (windows-1251 accepted), `;`,
//! `,` or tab separated (the header line decides), columns mapped **by
//! header name**, case-insensitively, English or Russian (`sent`/`Дата`,
//! `Name`/`Имя`, `Email`/`Почта`, `Phone`/`Телефон`, `formid`,
//! `formname`/`Форма`, `tranid`, `utm_*`, `COOKIES`; the rest goes to
//! `extra`). The date is school-local (account zone if set). Each row →
//! [`Lead`] with id = `tranid` when the file has it (the webhook's id, so
//! a webhook of the same submission is the same record), else
//! `csv:<16 hex of the row's SHA-256>`. The envelope's `received_at` is
//! the Unix epoch: an import sorts before every webhook, so a delivered
//! webhook's version of a submission wins. A bad row is a parse error
//! naming its line (header = line 1) and column.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use sha2::{Digest, Sha256};
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

    fn normalize(&self, envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized {
        if envelope.entity == CSV_ENTITY && envelope.status == 200 {
            return csv_leads(envelope, ctx);
        }
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

pub(crate) fn redact_query(query: &str) -> String {
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

/// The entity of an imported leads file.
pub const CSV_ENTITY: &str = "csv";

/// Builds the raw-zone envelope of an imported leads export (Tilda →
/// Заявки → CSV): the whole file byte-exact, entity [`CSV_ENTITY`].
///
/// Deterministic in the bytes: run `import-<first 16 hex of SHA-256>`,
/// seq 0, `received_at` the Unix epoch, so the same file always gets the
/// same key (write it with `put_if_absent`: a re-import is a no-op). The
/// file name (base name only) and the full hash go to `meta`.
pub fn csv_envelope(account: &str, file_name: &str, bytes: &[u8]) -> RawEnvelope {
    let hash = hex::encode(Sha256::digest(bytes));
    let name = file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(file_name)
        .to_string();
    let (body_encoding, body) = RawEnvelope::encode_body(bytes);
    RawEnvelope {
        v: RawEnvelope::VERSION,
        source: SLUG.to_string(),
        account: account.to_string(),
        run: format!("import-{}", &hash[..16]),
        seq: 0,
        entity: CSV_ENTITY.to_string(),
        window_from: None,
        window_to: None,
        meta: BTreeMap::from([
            ("file".to_string(), name.clone()),
            ("sha256".to_string(), hash),
        ]),
        request: RawRequest {
            method: "IMPORT".to_string(),
            url: format!("file:{name}"),
            body: None,
        },
        status: 200,
        headers: BTreeMap::from([("content-type".to_string(), "text/csv".to_string())]),
        received_at: DateTime::UNIX_EPOCH,
        body_encoding,
        body,
    }
}

/// What a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Id,
    Date,
    Name,
    Email,
    Phone,
    Form,
    FormName,
    Source,
    Medium,
    Campaign,
    Content,
    Term,
    Cookies,
    Extra,
}

fn column_role(header: &str) -> Col {
    match header.trim().to_lowercase().as_str() {
        "tranid" | "requestid" | "request id" | "id заявки" | "номер заявки" => {
            Col::Id
        }
        "sent" | "date" | "дата" | "дата заявки" | "дата создания" | "created" => {
            Col::Date
        }
        "name" | "имя" | "фио" => Col::Name,
        "email" | "e-mail" | "почта" | "электронная почта" => Col::Email,
        "phone" | "телефон" => Col::Phone,
        "formid" | "id формы" => Col::Form,
        "formname" | "форма" | "название формы" => Col::FormName,
        "utm_source" => Col::Source,
        "utm_medium" => Col::Medium,
        "utm_campaign" => Col::Campaign,
        "utm_content" => Col::Content,
        "utm_term" => Col::Term,
        "cookies" => Col::Cookies,
        _ => Col::Extra,
    }
}

/// A school-local timestamp of the export: `YYYY-MM-DD HH:MM[:SS]`,
/// `DD.MM.YYYY HH:MM[:SS]`, a bare date (midnight), or RFC 3339.
fn csv_time(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    const FORMATS: [&str; 5] = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ];
    let s = s.trim();
    if s.is_empty() {
        return Err("missing date".into());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            ["%Y-%m-%d", "%d.%m.%Y"]
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| format!("not a date-time: {s:?}"))?;
    Ok(voronka_core::time::from_local(naive, tz))
}

/// The separator of a CSV file: the most frequent of `;`, `,` and tab in
/// its first line (`,` when none).
fn separator(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    [b';', b',', b'\t']
        .into_iter()
        .map(|c| (first.bytes().filter(|b| *b == c).count(), c))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, c)| (*n, *c == b';'))
        .map(|(_, c)| c)
        .unwrap_or(b',')
}

/// Leads from an imported Tilda leads export (see the module docs).
pub fn csv_leads(envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized {
    let mut out = Normalized::default();
    let file = format!("import {}", envelope.meta("file"));
    let bytes = match envelope.body_bytes() {
        Ok(b) => b,
        Err(e) => {
            out.rejected.push(ParseError::new(SLUG, file, "body", e));
            return out;
        }
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => encoding_rs::WINDOWS_1251.decode(bytes).0,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator(&text))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let tz = ctx.tz();
    let mut header: Option<Vec<(String, Col)>> = None;
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                out.rejected.push(ParseError::new(
                    SLUG,
                    format!("line {line}"),
                    "row",
                    format!("not CSV: {e}"),
                ));
                continue;
            }
        };
        let line = row.position().map(|p| p.line()).unwrap_or(0);
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let Some(cols) = &header else {
            let cols: Vec<(String, Col)> = row
                .iter()
                .map(|h| (h.trim().to_string(), column_role(h)))
                .collect();
            if !cols.iter().any(|(_, c)| *c == Col::Date) {
                out.rejected.push(ParseError::new(
                    SLUG,
                    format!("line {line}"),
                    "sent",
                    "no date column (`sent` or `Дата`): the leads cannot be dated",
                ));
                return out;
            }
            header = Some(cols);
            continue;
        };
        let record = format!("line {line}");
        let mut lead = Lead {
            source: SLUG.to_string(),
            account: envelope.account.clone(),
            id: String::new(),
            created_at: DateTime::UNIX_EPOCH,
            form: String::new(),
            form_name: String::new(),
            name: String::new(),
            email: String::new(),
            phone: String::new(),
            utm: Utm::default(),
            extra: BTreeMap::new(),
        };
        let mut dated = false;
        let mut bad = false;
        for (i, cell) in row.iter().enumerate() {
            let value = cell.trim();
            let Some((name, col)) = cols.get(i) else {
                if !value.is_empty() {
                    out.rejected.push(ParseError::new(
                        SLUG,
                        record.clone(),
                        format!("column {}", i + 1),
                        "a value beyond the header's columns",
                    ));
                    bad = true;
                }
                continue;
            };
            if *col == Col::Date && !dated {
                match csv_time(value, tz) {
                    Ok(t) => {
                        lead.created_at = t;
                        dated = true;
                    }
                    Err(e) => {
                        out.rejected
                            .push(ParseError::new(SLUG, record.clone(), name.clone(), e));
                        bad = true;
                    }
                }
                continue;
            }
            if value.is_empty() {
                continue;
            }
            let slot = match col {
                Col::Id => &mut lead.id,
                Col::Date => continue,
                Col::Name => &mut lead.name,
                Col::Email => &mut lead.email,
                Col::Phone => &mut lead.phone,
                Col::Form => &mut lead.form,
                Col::FormName => &mut lead.form_name,
                Col::Source => &mut lead.utm.source,
                Col::Medium => &mut lead.utm.medium,
                Col::Campaign => &mut lead.utm.campaign,
                Col::Content => &mut lead.utm.content,
                Col::Term => &mut lead.utm.term,
                Col::Cookies => {
                    for (ck, cv) in cookies(value) {
                        if matches!(ck.as_str(), "_ga" | "_ym_uid" | "roistat_visit") {
                            lead.extra.entry(ck).or_insert(cv);
                        }
                    }
                    lead.extra
                        .entry(name.clone())
                        .or_insert_with(|| value.to_string());
                    continue;
                }
                Col::Extra => {
                    lead.extra
                        .entry(name.clone())
                        .or_insert_with(|| value.to_string());
                    continue;
                }
            };
            if slot.is_empty() {
                *slot = value.to_string();
            }
        }
        if bad {
            continue;
        }
        if !dated {
            let col = cols
                .iter()
                .find(|(_, c)| *c == Col::Date)
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            out.rejected
                .push(ParseError::new(SLUG, record, col, "missing date"));
            continue;
        }
        if lead.id.is_empty() {
            let mut h = Sha256::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    h.update([0x1f]);
                }
                h.update(cell.trim().as_bytes());
            }
            lead.id = format!("csv:{}", &hex::encode(h.finalize())[..16]);
        }
        out.records.push(Record::Lead(lead));
    }
    out
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
