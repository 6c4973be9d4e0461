//! `manual_costs`: spend no API reports (bloggers, paid Telegram posts,
//! reseller or agency fees, offline events), uploaded as a CSV file.
//!
//! There is nothing to fetch ([`ManualCosts::plan`] returns no jobs):
//! `voronka import manual_costs FILE --account <stream>` stores the file
//! whole as one raw envelope of entity [`CSV_ENTITY`] ([`csv_envelope`]),
//! and normalization ([`csv_costs`]) turns each row into a
//! [`ManualCost`](voronka_core::model::ManualCost).
//!
//! **File.** UTF-8 (a BOM is fine; windows-1251 is accepted too), `,` or
//! `;` separated (the header line decides), header
//! `date,platform,campaign,contractor,amount,currency,note` matched by
//! name, case-insensitively, in any order (`note` may be left out; other
//! columns are ignored). Per row:
//!
//! - `date`: `YYYY-MM-DD`, the school-local day the cost belongs to;
//! - `platform`: required, the `utm_source` alias table maps it to the
//!   channel's platform (`telegram`, `youtube`, `blogger`, …);
//! - `campaign`: the placement link's `utm_campaign` (may be empty);
//!   `contractor`: the blogger, channel or agency (may be empty);
//! - `amount`: a positive decimal, `.` or `,` as the decimal mark, nothing
//!   else: no thousands separators, spaces, signs or currency symbols;
//! - `currency`: a three-letter code (`RUB`, `EUR`, …; lower case is
//!   upper-cased). `TON` is refused: CBR publishes no TON rate, so convert
//!   to roubles before entry;
//! - `note`: free text.
//!
//! A bad row gives one [`ParseError`] per bad cell, named `line N` (the
//! header is line 1) and the column; the file's good rows still count.
//!
//! **Versions and re-imports.** One `--account` is one stream of uploads
//! (e.g. `bloggers`): [`csv_envelope`] gives run id
//! `import-<import time, UTC, ms>-<16 hex of the file's SHA-256>` and
//! `received_at` the Unix epoch, so imports sort among themselves by
//! import time: the later upload of a stream wins. Importing bytes that
//! are already the stream's latest upload writes nothing and answers the
//! existing key ([`current_import`]). A record's key is `(date, line)`
//! within the stream, so a corrected file (same rows, changed amounts)
//! replaces the earlier version row by row. The envelope also carries the
//! window `[min date, max date]` of its valid rows: once the pipeline
//! treats `manual_cost` as a window entity (`Record::window_day` → the
//! date, and `manual_cost` in the pipeline's window entities), the newest
//! upload replaces every day it spans, so removed or shifted rows vanish
//! too. Until then a row of an older version at a `(date, line)` the new
//! file no longer has keeps counting: append rows at the end and correct
//! rows in place, never delete or reorder (see `docs/sources.md`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use voronka_core::config::AccountConfig;
use voronka_core::model::{ManualCost, Record};

use crate::raw::RawRequest;
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};

pub const SLUG: &str = "manual_costs";

/// The entity of an imported costs file.
pub const CSV_ENTITY: &str = "csv";

/// The header's columns, in the documented order.
pub const COLUMNS: [&str; 7] = [
    "date",
    "platform",
    "campaign",
    "contractor",
    "amount",
    "currency",
    "note",
];

pub struct ManualCosts;

impl Connector for ManualCosts {
    fn slug(&self) -> &'static str {
        SLUG
    }

    /// File import only: no API is called.
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
            return csv_costs(envelope, ctx);
        }
        Normalized::default()
    }
}

/// Builds the raw-zone envelope of an uploaded costs file: the whole file
/// byte-exact, entity [`CSV_ENTITY`], run
/// `import-<imported_at>-<16 hex of SHA-256>`, seq 0, `received_at` the
/// Unix epoch (imports sort by import time, before every fetched or pushed
/// response), window = the min and max date of the valid rows. The file's
/// base name, full hash and import time go to `meta`.
pub fn csv_envelope(
    account: &str,
    file_name: &str,
    bytes: &[u8],
    imported_at: DateTime<Utc>,
) -> RawEnvelope {
    let (records, _) = parse(account, bytes);
    let dates = records.iter().map(|r| r.date);
    let window = dates.clone().min().zip(dates.max());
    import_envelope(ImportSpec {
        slug: SLUG,
        account,
        entity: CSV_ENTITY,
        file_name,
        bytes,
        id_salt: "",
        imported_at,
        window,
        content_type: "text/csv",
        meta: BTreeMap::new(),
    })
}

/// What [`import_envelope`] needs.
pub(crate) struct ImportSpec<'a> {
    pub slug: &'static str,
    pub account: &'a str,
    pub entity: &'a str,
    pub file_name: &'a str,
    pub bytes: &'a [u8],
    /// Mixed into the import id with the bytes (telegram_ads: the campaign).
    pub id_salt: &'a str,
    pub imported_at: DateTime<Utc>,
    pub window: Option<(NaiveDate, NaiveDate)>,
    pub content_type: &'a str,
    pub meta: BTreeMap<String, String>,
}

/// The envelope of an uploaded file whose later uploads replace earlier
/// ones (see the module docs).
pub(crate) fn import_envelope(spec: ImportSpec<'_>) -> RawEnvelope {
    let hash = hex::encode(Sha256::digest(spec.bytes));
    let id = if spec.id_salt.is_empty() {
        hash[..16].to_string()
    } else {
        let mut h = Sha256::new();
        h.update(spec.id_salt.as_bytes());
        h.update([0]);
        h.update(spec.bytes);
        hex::encode(h.finalize())[..16].to_string()
    };
    let name = spec
        .file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(spec.file_name)
        .to_string();
    let (body_encoding, body) = RawEnvelope::encode_body(spec.bytes);
    let mut meta = spec.meta;
    meta.insert("file".to_string(), name.clone());
    meta.insert("sha256".to_string(), hash);
    meta.insert("imported_at".to_string(), spec.imported_at.to_rfc3339());
    RawEnvelope {
        v: RawEnvelope::VERSION,
        source: spec.slug.to_string(),
        account: spec.account.to_string(),
        run: format!(
            "import-{}-{id}",
            spec.imported_at.format("%Y%m%dT%H%M%S%3fZ")
        ),
        seq: 0,
        entity: spec.entity.to_string(),
        window_from: spec.window.map(|w| w.0),
        window_to: spec.window.map(|w| w.1),
        meta,
        request: RawRequest {
            method: "IMPORT".to_string(),
            url: format!("file:{name}"),
            body: None,
        },
        status: 200,
        headers: BTreeMap::from([("content-type".to_string(), spec.content_type.to_string())]),
        received_at: DateTime::UNIX_EPOCH,
        body_encoding,
        body,
    }
}

/// Idempotent re-import: `keys` are the raw keys under
/// `raw/<slug>/<account>/`; when the latest import of `env`'s entity holds
/// the same file (same import id), its key. Then nothing is to be written.
/// An older upload of the same bytes is not current: importing it again
/// makes it the latest (a revert).
pub fn current_import(keys: &[String], env: &RawEnvelope) -> Option<String> {
    let id = env.run.rsplit('-').next()?;
    let key = env.key();
    let marker = format!("-{id}-{:06}-", env.seq);
    let suffix = &key[key.rfind(&marker)? + id.len() + 1..];
    let prefix = format!("raw/{}/{}/", env.source, env.account);
    keys.iter()
        .filter(|k| k.starts_with(&prefix) && k.ends_with(suffix) && k.contains("-import-"))
        .max()
        .filter(|k| k.ends_with(&format!("-{id}{suffix}")))
        .cloned()
}

/// Costs from an uploaded costs file (see the module docs).
pub fn csv_costs(envelope: &RawEnvelope, _ctx: &NormalizeContext<'_>) -> Normalized {
    let bytes = match envelope.body_bytes() {
        Ok(b) => b,
        Err(e) => {
            return Normalized {
                records: Vec::new(),
                rejected: vec![ParseError::new(
                    SLUG,
                    format!("import {}", envelope.meta("file")),
                    "body",
                    e,
                )],
            };
        }
    };
    let (records, rejected) = parse(&envelope.account, &bytes);
    Normalized {
        records: records.into_iter().map(Record::ManualCost).collect(),
        rejected,
    }
}

/// The file's text: BOM dropped; UTF-8, else windows-1251.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => encoding_rs::WINDOWS_1251.decode(bytes).0.into_owned(),
    }
}

/// The separator: the most frequent of `candidates` in the first line
/// (the first candidate when none occurs).
pub(crate) fn separator(text: &str, candidates: &[u8]) -> u8 {
    let first = text.lines().next().unwrap_or("");
    candidates
        .iter()
        .rev()
        .map(|c| (first.bytes().filter(|b| b == c).count(), *c))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, _)| *n)
        .map(|(_, c)| c)
        .unwrap_or(candidates[0])
}

/// The 1-based line of a record's start (the csv crate miscounts CRLF).
pub(crate) fn line_of(text: &str, pos: Option<&csv::Position>) -> u64 {
    let Some(pos) = pos else { return 0 };
    let bytes = text.as_bytes();
    let mut end = (pos.byte() as usize).min(bytes.len());
    while end < bytes.len() && matches!(bytes[end], b'\r' | b'\n') {
        end += 1;
    }
    bytes[..end].iter().filter(|b| **b == b'\n').count() as u64 + 1
}

fn parse(account: &str, bytes: &[u8]) -> (Vec<ManualCost>, Vec<ParseError>) {
    let text = decode(bytes);
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator(&text, b",;"))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    // Column index of each of COLUMNS (note: optional).
    let mut header: Option<[Option<usize>; 7]> = None;
    let mut width = 0;
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = line_of(&text, e.position());
                rejected.push(ParseError::new(
                    SLUG,
                    format!("line {line}"),
                    "row",
                    format!("not CSV: {e}"),
                ));
                continue;
            }
        };
        let line = line_of(&text, row.position());
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let Some(cols) = header else {
            let names: Vec<String> = row.iter().map(|h| h.trim().to_lowercase()).collect();
            let mut cols = [None; 7];
            for (slot, col) in cols.iter_mut().zip(COLUMNS) {
                *slot = names.iter().position(|n| n == col);
            }
            let missing: Vec<&str> = COLUMNS
                .iter()
                .zip(cols)
                .filter(|(c, i)| i.is_none() && **c != "note")
                .map(|(c, _)| *c)
                .collect();
            if !missing.is_empty() {
                for col in missing {
                    rejected.push(ParseError::new(
                        SLUG,
                        format!("line {line}"),
                        col,
                        format!("missing column: the header must be `{}`", COLUMNS.join(",")),
                    ));
                }
                return (records, rejected);
            }
            width = names.len();
            header = Some(cols);
            continue;
        };
        let record = format!("line {line}");
        let cell = |c: usize| -> &str {
            cols[c]
                .and_then(|i| row.get(i))
                .map(str::trim)
                .unwrap_or("")
        };
        let mut errors = Vec::new();
        let date = match NaiveDate::parse_from_str(cell(0), "%Y-%m-%d") {
            Ok(d) if cell(0).len() == 10 => Some(d),
            _ if cell(0).is_empty() => {
                errors.push(("date", "missing date".to_string()));
                None
            }
            _ => {
                errors.push(("date", format!("not a YYYY-MM-DD date: {:?}", cell(0))));
                None
            }
        };
        if cell(1).is_empty() {
            errors.push((
                "platform",
                "missing platform (a utm_source such as `telegram` or `blogger`)".to_string(),
            ));
        }
        let amount = match amount(cell(4)) {
            Ok(a) => Some(a),
            Err(e) => {
                errors.push(("amount", e));
                None
            }
        };
        let currency = match currency(cell(5)) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(("currency", e));
                None
            }
        };
        for (i, v) in row.iter().enumerate().skip(width) {
            if !v.trim().is_empty() {
                errors.push((
                    "row",
                    format!("a value beyond the header's columns (column {})", i + 1),
                ));
                break;
            }
        }
        if !errors.is_empty() {
            for (field, reason) in errors {
                rejected.push(ParseError::new(SLUG, record.clone(), field, reason));
            }
            continue;
        }
        let (Some(date), Some(amount), Some(currency)) = (date, amount, currency) else {
            continue;
        };
        records.push(ManualCost {
            source: SLUG.to_string(),
            account: account.to_string(),
            date,
            platform: cell(1).to_string(),
            campaign: cell(2).to_string(),
            contractor: cell(3).to_string(),
            amount,
            currency,
            note: cell(6).to_string(),
            line: line as u32,
        });
    }
    if header.is_none() {
        rejected.push(ParseError::new(
            SLUG,
            "line 1",
            "date",
            format!("empty file: the header must be `{}`", COLUMNS.join(",")),
        ));
    }
    (records, rejected)
}

/// A positive decimal: digits, at most one `.` or `,` followed by digits.
fn amount(s: &str) -> Result<Decimal, String> {
    if s.is_empty() {
        return Err("missing amount".into());
    }
    let (int, frac) = match s.find(['.', ',']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(format!(
            "not a plain positive number: {s:?} (digits with `.` or `,` as the decimal mark; \
             no thousands separators, spaces, signs or currency symbols)"
        ));
    }
    let plain = match frac {
        Some(f) => format!("{int}.{f}"),
        None => int.to_string(),
    };
    let d: Decimal = plain
        .parse()
        .map_err(|e| format!("not a number: {s:?}: {e}"))?;
    if d <= Decimal::ZERO {
        return Err(format!("must be positive: {s:?}"));
    }
    Ok(d.normalize())
}

/// `RUB` or another three-letter code (upper-cased).
fn currency(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("missing currency (`RUB` or an ISO code)".into());
    }
    let c = s.to_ascii_uppercase();
    if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("not a three-letter ISO code: {s:?}"));
    }
    if c == "TON" {
        return Err(
            "TON: the Bank of Russia publishes no TON rate; enter the amount in RUB".to_string(),
        );
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(amount("7500,50").unwrap().to_string(), "7500.5");
        assert_eq!(amount("15000").unwrap().to_string(), "15000");
        for bad in [
            "15 000", "1,234.5", "-5", "0", "0,00", "100₽", "1.", ",5", "",
        ] {
            assert!(amount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn separators() {
        assert_eq!(separator("a;b;c", b",;"), b';');
        assert_eq!(separator("a,b,c", b",;"), b',');
        assert_eq!(separator("abc", b",;"), b',');
    }
}
