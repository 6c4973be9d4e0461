//! `cbr`: Bank of Russia daily exchange rates (`XML_daily.asp`).
//!
//! One job per local date of the requested window (meta `date_req` =
//! `DD/MM/YYYY`), `GET {base}/scripts/XML_daily.asp?date_req=DD/MM/YYYY`,
//! no auth. The body is windows-1251 XML (the prolog's encoding is
//! honoured). `ValCurs/@Date` is the date the set takes **effect**, not
//! the date asked: a Sunday request returns Saturday's set, so several
//! jobs may yield the same records; they dedupe by key downstream.
//!
//! cbr.ru sometimes answers with an anti-bot HTML page (HTTP 200): a body
//! whose root is not `ValCurs` is retryable, and a stored HTML page
//! normalizes to nothing (no records, nothing quarantined). The driver's
//! User-Agent is sent on every request.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use quick_xml::events::Event;
use rust_decimal::Decimal;
use voronka_core::config::AccountConfig;
use voronka_core::model::{Rate, Record};

use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};

pub const SLUG: &str = "cbr";

pub struct Cbr;

impl Connector for Cbr {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        "https://www.cbr.ru".to_string()
    }

    fn auth(&self) -> AuthScheme {
        AuthScheme::None
    }

    /// Gentle: cbr.ru blocks clients that hammer it.
    fn rate_limit(&self) -> RateLimit {
        RateLimit::per_second(2.0)
    }

    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        ctx.from
            .iter_days()
            .take_while(|d| *d <= ctx.to)
            .map(|d| Job {
                entity: "rates".to_string(),
                window: Some((d, d)),
                meta: BTreeMap::from([("date_req".to_string(), d.format("%d/%m/%Y").to_string())]),
            })
            .collect()
    }

    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request {
        let base = ctx.base_url.trim_end_matches('/');
        let date_req = job.meta.get("date_req").cloned().unwrap_or_default();
        // Literally in the URL, slashes unescaped, as cbr.ru documents it.
        Request::get(format!("{base}/scripts/XML_daily.asp?date_req={date_req}"))
    }

    fn next_step(
        &self,
        _ctx: &FetchContext<'_>,
        _job: &Job,
        _request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        match response.status {
            200 => match root_element(&decode(&response.body)) {
                Some(root) if root == "ValCurs" => Ok(Step::Done { watermark: None }),
                root => Err(FetchError::Retryable {
                    slug: SLUG.to_string(),
                    reason: format!(
                        "cbr.ru answered HTTP 200 without ValCurs XML (root {}): anti-bot page?",
                        root.as_deref().unwrap_or("none")
                    ),
                    after: None,
                }),
            },
            s if s == 429 || s >= 500 => Err(FetchError::Retryable {
                slug: SLUG.to_string(),
                reason: format!("HTTP {s}"),
                after: None,
            }),
            s => Err(FetchError::Terminal {
                slug: SLUG.to_string(),
                reason: format!("HTTP {s}: unexpected response from cbr.ru"),
            }),
        }
    }

    fn normalize(&self, envelope: &RawEnvelope, _ctx: &NormalizeContext<'_>) -> Normalized {
        let mut out = Normalized::default();
        if envelope.status != 200 {
            return out;
        }
        match envelope.body_bytes() {
            Ok(bytes) => parse_daily(&bytes, &mut out),
            Err(e) => out.rejected.push(ParseError::new(SLUG, "page", "body", e)),
        }
        out
    }
}

/// Decodes an XML body per its prolog's `encoding` (default: UTF-8 when
/// valid, else windows-1251).
pub fn decode(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(200)];
    let head = String::from_utf8_lossy(head);
    let label = head
        .strip_prefix('\u{feff}')
        .unwrap_or(&head)
        .trim_start()
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split("?>").next())
        .and_then(|prolog| {
            let i = prolog.find("encoding")?;
            let rest = prolog[i + "encoding".len()..]
                .trim_start()
                .strip_prefix('=')?;
            let rest = rest.trim_start();
            let q = rest.chars().next()?;
            if q != '"' && q != '\'' {
                return None;
            }
            rest[1..].split(q).next().map(str::to_string)
        });
    let encoding = label
        .and_then(|l| encoding_rs::Encoding::for_label(l.trim().as_bytes()))
        .unwrap_or_else(|| {
            if std::str::from_utf8(bytes).is_ok() {
                encoding_rs::UTF_8
            } else {
                encoding_rs::WINDOWS_1251
            }
        });
    let (text, _, _) = encoding.decode(bytes);
    text.into_owned()
}

/// The name of the document's root element, if it has one.
fn root_element(xml: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                return Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// `04,0000` → 4.0000 (also accepts a dot).
fn comma_decimal(s: &str) -> Option<Decimal> {
    let cleaned: String = s
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    cleaned.parse().ok()
}

#[derive(Default)]
struct Valute {
    id: String,
    fields: BTreeMap<String, String>,
}

fn parse_daily(bytes: &[u8], out: &mut Normalized) {
    let xml = decode(bytes);
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut date: Option<NaiveDate> = None;
    let mut seen_root = false;
    let mut valutes: Vec<Valute> = Vec::new();
    let mut current: Option<Valute> = None;
    let mut field: Option<String> = None;
    let mut text = String::new();
    loop {
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                out.rejected.push(ParseError::new(
                    SLUG,
                    "page",
                    "body",
                    format!("malformed XML at byte {}: {e}", reader.buffer_position()),
                ));
                return;
            }
        };
        match ev {
            Event::Start(e) | Event::Empty(e) if !seen_root => {
                seen_root = true;
                if e.name().as_ref().eq_ignore_ascii_case(b"html") {
                    // An anti-bot page the driver already retried: no data.
                    return;
                }
                if e.name().as_ref() != b"ValCurs" {
                    out.rejected.push(ParseError::new(
                        SLUG,
                        "page",
                        "ValCurs",
                        format!(
                            "root element is {}, not ValCurs (anti-bot page?)",
                            String::from_utf8_lossy(e.name().as_ref())
                        ),
                    ));
                    return;
                }
                let raw_date = attr(&e, "Date");
                match raw_date
                    .as_deref()
                    .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%d.%m.%Y").ok())
                {
                    Some(d) => date = Some(d),
                    None => {
                        out.rejected.push(ParseError::new(
                            SLUG,
                            "page",
                            "ValCurs/@Date",
                            format!("not a DD.MM.YYYY date: {raw_date:?}"),
                        ));
                        return;
                    }
                }
            }
            Event::Start(e) if e.name().as_ref() == b"Valute" => {
                current = Some(Valute {
                    id: attr(&e, "ID").unwrap_or_default(),
                    fields: BTreeMap::new(),
                });
            }
            Event::Start(e) if current.is_some() => {
                field = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                text.clear();
            }
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.decode().unwrap_or_default());
            }
            Event::GeneralRef(r) if field.is_some() => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = r.decode().unwrap_or_default();
                    text.push_str(match name.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    });
                }
            }
            Event::CData(t) if field.is_some() => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::End(e) if e.name().as_ref() == b"Valute" => {
                if let Some(v) = current.take() {
                    valutes.push(v);
                }
            }
            Event::End(_) if field.is_some() => {
                if let (Some(f), Some(v)) = (field.take(), current.as_mut()) {
                    v.fields.insert(f, text.trim().to_string());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let Some(date) = date else {
        out.rejected.push(ParseError::new(
            SLUG,
            "page",
            "ValCurs",
            "no ValCurs root element",
        ));
        return;
    };
    for v in valutes {
        match rate(&v, date) {
            Ok(r) => out.records.push(Record::Rate(r)),
            Err((f, reason)) => {
                let code = v.fields.get("CharCode").cloned().unwrap_or_default();
                let record = match (v.id.is_empty(), code.is_empty()) {
                    (false, false) => format!("Valute {} {code}", v.id),
                    (false, true) => format!("Valute {}", v.id),
                    _ => format!("Valute {code}"),
                };
                out.rejected
                    .push(ParseError::new(SLUG, record, format!("Valute/{f}"), reason));
            }
        }
    }
}

fn rate(v: &Valute, date: NaiveDate) -> Result<Rate, (&'static str, String)> {
    let code = v
        .fields
        .get("CharCode")
        .filter(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
        .ok_or((
            "CharCode",
            format!("not a currency code: {:?}", v.fields.get("CharCode")),
        ))?;
    let nominal_raw = v.fields.get("Nominal").map(String::as_str).unwrap_or("");
    let nominal: u32 = nominal_raw.trim().parse().ok().filter(|n| *n > 0).ok_or((
        "Nominal",
        format!("not a positive integer: {nominal_raw:?}"),
    ))?;
    let value_raw = v.fields.get("Value").map(String::as_str).unwrap_or("");
    let value = comma_decimal(value_raw)
        .filter(|d| *d > Decimal::ZERO)
        .ok_or(("Value", format!("not a positive decimal: {value_raw:?}")))?;
    Ok(Rate {
        source: SLUG.to_string(),
        date,
        currency: code.to_ascii_uppercase(),
        nominal,
        value,
    })
}

fn attr(e: &quick_xml::events::BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name.as_bytes())
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_honours_prolog() {
        let bytes =
            b"<?xml version=\"1.0\" encoding=\"windows-1251\"?><a>\xc4\xee\xeb\xeb\xe0\xf0</a>";
        assert!(decode(bytes).contains("<a>Доллар</a>"));
        assert_eq!(root_element(&decode(bytes)).as_deref(), Some("a"));
    }

    #[test]
    fn comma_decimal_parses() {
        assert_eq!(comma_decimal("21,5637").unwrap().to_string(), "21.5637");
    }
}
