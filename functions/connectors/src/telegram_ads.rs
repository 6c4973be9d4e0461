//! `telegram_ads`: Telegram Ads cabinet exports (file import).
//!
//! Telegram offers no stable API to rely on, so there is nothing to fetch
//! ([`TelegramAds::plan`] returns no jobs). Each ad's stats page
//! (`ads.telegram.org/stats/<ad>`) exports **tab-separated** files: a
//! views file (`date`, `Views`, `Clicks`, `Started bot`, joins…) and a
//! budget file (`date`, `Spent budget, TON` — or `, EUR`, `, Stars`) with
//! a **decimal comma**. `voronka import telegram_ads FILE [--campaign
//! NAME] [--account ID]` stores one file whole as one raw envelope
//! ([`tsv_envelope`]); normalization ([`tsv_stats`]) gives one
//! [`AdStat`] per day:
//!
//! - platform `telegram`, level campaign; `campaign_id` = `campaign_name`
//!   = the `--campaign` option, else the file's base name without its
//!   extension (the export is per ad: name each ad's campaign the way its
//!   links' `utm_campaign` / bot start parameter name it);
//! - `ad_id` = the file's kind, `budget` or `views` (`stats` for one file
//!   holding both), so the two exports of an ad are two records per day
//!   that add up (spend from one, views and clicks from the other). Import
//!   either the two cabinet exports or one combined file, not both;
//! - `spend` from `Spent budget, <CUR>` (`,` or `.` decimal mark, spaces
//!   ignored, empty = 0), currency from that header: `TON`, `EUR`, `XTR`
//!   for Stars, any other code as written; views files carry spend 0 in
//!   `RUB` (they state no currency);
//! - `impressions` from `Views`, `clicks` from `Clicks` (empty = 0);
//! - dates `YYYY-MM-DD`, `DD.MM.YYYY`, `12 Mar 2024`, `Mar 12, 2024`,
//!   optionally followed by a time: per-5-minute exports are summed per
//!   day. A bad row is a parse error naming its line (header = line 1) and
//!   column.
//!
//! **Currency.** The engine converts at the CBR rate in force, and CBR
//! publishes no TON (or Stars) rate: a TON row is left out of the figures
//! and the currency check turns red. Enter TON spend through
//! `manual_costs` in RUB instead (what was actually paid in roubles), and
//! import the views file for impressions and clicks. EUR works as is.
//!
//! **Re-imports.** Like `manual_costs`
//! ([`manual_costs::import_envelope`](crate::manual_costs)): run
//! `import-<import time>-<id>`, `received_at` the Unix epoch; entity
//! `<kind>:<campaign>`, window = the file's first and last day. A later
//! export of the same ad and kind replaces the days it spans (ad stats are
//! window records); the same bytes again write nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};

use crate::manual_costs::{ImportSpec, decode, import_envelope, line_of, separator};
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};

pub const SLUG: &str = "telegram_ads";
pub const PLATFORM: &str = "telegram";

pub struct TelegramAds;

impl Connector for TelegramAds {
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
        if envelope.status == 200 && envelope.request.method == "IMPORT" {
            return tsv_stats(envelope, ctx);
        }
        Normalized::default()
    }
}

/// The campaign of an export: `campaign` when given (trimmed, non-empty),
/// else the file's base name without its extension.
pub fn campaign_of(file_name: &str, campaign: Option<&str>) -> String {
    if let Some(c) = campaign.map(str::trim).filter(|c| !c.is_empty()) {
        return c.to_string();
    }
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match base.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_string(),
        _ => base.to_string(),
    }
}

/// Builds the raw-zone envelope of one cabinet export (see the module
/// docs): entity `<kind>:<campaign>`, meta `campaign` and `kind`, window =
/// the file's first and last valid day.
pub fn tsv_envelope(
    account: &str,
    file_name: &str,
    bytes: &[u8],
    campaign: Option<&str>,
    imported_at: DateTime<Utc>,
) -> RawEnvelope {
    let campaign = campaign_of(file_name, campaign);
    let parsed = parse(account, &campaign, bytes);
    let days = parsed.stats.iter().map(|s| s.date);
    let window = days.clone().min().zip(days.max());
    let kind = parsed.kind.unwrap_or("views");
    import_envelope(ImportSpec {
        slug: SLUG,
        account,
        entity: &format!("{kind}:{campaign}"),
        file_name,
        bytes,
        id_salt: &campaign,
        imported_at,
        window,
        content_type: "text/tab-separated-values",
        meta: BTreeMap::from([
            ("campaign".to_string(), campaign.clone()),
            ("kind".to_string(), kind.to_string()),
        ]),
    })
}

/// Day statistics from an imported export (see the module docs).
pub fn tsv_stats(envelope: &RawEnvelope, _ctx: &NormalizeContext<'_>) -> Normalized {
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
    let campaign = match envelope.meta("campaign") {
        "" => campaign_of(envelope.meta("file"), None),
        c => c.to_string(),
    };
    let parsed = parse(&envelope.account, &campaign, &bytes);
    Normalized {
        records: parsed.stats.into_iter().map(Record::AdStat).collect(),
        rejected: parsed.rejected,
    }
}

struct Parsed {
    /// `budget`, `views` or `stats`; `None` when the header is unusable.
    kind: Option<&'static str>,
    stats: Vec<AdStat>,
    rejected: Vec<ParseError>,
}

/// `Spent budget, TON` → `TON`; Stars → `XTR` (Telegram's code).
fn budget_currency(header: &str) -> Option<String> {
    let lower = header.trim().to_lowercase();
    let rest = lower.strip_prefix("spent budget")?;
    let cur = rest.trim_start_matches([',', ' ']).trim();
    Some(match cur {
        "" => String::new(),
        "stars" | "star" | "xtr" => "XTR".to_string(),
        other => other.to_ascii_uppercase(),
    })
}

fn parse(account: &str, campaign: &str, bytes: &[u8]) -> Parsed {
    let text = decode(bytes);
    let mut out = Parsed {
        kind: None,
        stats: Vec::new(),
        rejected: Vec::new(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator(&text, b"\t;"))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    struct Cols {
        date: usize,
        spend: Option<(usize, String, String)>,
        views: Option<(usize, String)>,
        clicks: Option<(usize, String)>,
    }
    let mut cols: Option<Cols> = None;
    let mut days: BTreeMap<NaiveDate, AdStat> = BTreeMap::new();
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = line_of(&text, e.position());
                out.rejected.push(ParseError::new(
                    SLUG,
                    format!("line {line}"),
                    "row",
                    format!("not a TSV row: {e}"),
                ));
                continue;
            }
        };
        let line = line_of(&text, row.position());
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let Some(c) = &cols else {
            let names: Vec<&str> = row.iter().map(str::trim).collect();
            let find = |want: &[&str]| {
                names
                    .iter()
                    .position(|n| want.iter().any(|w| n.eq_ignore_ascii_case(w)))
                    .map(|i| (i, names[i].to_string()))
            };
            let Some((date, _)) = find(&["date", "day", "дата"]) else {
                out.rejected.push(ParseError::new(
                    SLUG,
                    format!("line {line}"),
                    "date",
                    "no `date` column: not a Telegram Ads export",
                ));
                return out;
            };
            let spend = names
                .iter()
                .enumerate()
                .find_map(|(i, n)| budget_currency(n).map(|cur| (i, n.to_string(), cur)));
            if let Some((_, name, cur)) = &spend
                && cur.is_empty()
            {
                out.rejected.push(ParseError::new(
                    SLUG,
                    format!("line {line}"),
                    name.clone(),
                    "no currency in the header (`Spent budget, TON`, `, EUR` or `, Stars`)",
                ));
                return out;
            }
            let views = find(&["views"]);
            let clicks = find(&["clicks"]);
            out.kind = match (&spend, views.is_some() || clicks.is_some()) {
                (Some(_), false) => Some("budget"),
                (None, true) => Some("views"),
                (Some(_), true) => Some("stats"),
                (None, false) => {
                    out.rejected.push(ParseError::new(
                        SLUG,
                        format!("line {line}"),
                        "Views",
                        "neither `Spent budget, <currency>` nor `Views`/`Clicks`: nothing to import",
                    ));
                    return out;
                }
            };
            cols = Some(Cols {
                date,
                spend,
                views,
                clicks,
            });
            continue;
        };
        let record = format!("line {line}");
        let get = |i: usize| row.get(i).map(str::trim).unwrap_or("");
        let mut bad = false;
        let date = match day(get(c.date)) {
            Ok(d) => Some(d),
            Err(e) => {
                out.rejected
                    .push(ParseError::new(SLUG, record.clone(), "date", e));
                bad = true;
                None
            }
        };
        let mut spend = Decimal::ZERO;
        if let Some((i, name, _)) = &c.spend {
            match decimal(get(*i)) {
                Ok(v) => spend = v,
                Err(e) => {
                    out.rejected
                        .push(ParseError::new(SLUG, record.clone(), name.clone(), e));
                    bad = true;
                }
            }
        }
        let mut counts = [0u64; 2];
        for (slot, col) in counts.iter_mut().zip([&c.views, &c.clicks]) {
            if let Some((i, name)) = col {
                match count(get(*i)) {
                    Ok(v) => *slot = v,
                    Err(e) => {
                        out.rejected
                            .push(ParseError::new(SLUG, record.clone(), name.clone(), e));
                        bad = true;
                    }
                }
            }
        }
        let (Some(date), false) = (date, bad) else {
            continue;
        };
        let stat = days.entry(date).or_insert_with(|| AdStat {
            source: SLUG.to_string(),
            account: account.to_string(),
            date,
            platform: PLATFORM.to_string(),
            level: StatLevel::Campaign,
            campaign_id: campaign.to_string(),
            campaign_name: campaign.to_string(),
            ad_id: out.kind.unwrap_or("views").to_string(),
            ad_name: String::new(),
            impressions: 0,
            clicks: 0,
            spend: Decimal::ZERO,
            currency: c
                .spend
                .as_ref()
                .map(|s| s.2.clone())
                .unwrap_or_else(|| "RUB".to_string()),
            vat: VatMode::Unknown,
        });
        stat.spend += spend;
        stat.impressions += counts[0];
        stat.clicks += counts[1];
    }
    if cols.is_none() && out.rejected.is_empty() {
        out.rejected.push(ParseError::new(
            SLUG,
            "line 1",
            "date",
            "empty file: no header",
        ));
    }
    out.stats = days
        .into_values()
        .map(|mut s| {
            s.spend = s.spend.normalize();
            s
        })
        .collect();
    out
}

/// A day, optionally followed by a time (summed per day).
fn day(s: &str) -> Result<NaiveDate, String> {
    if s.is_empty() {
        return Err("missing date".into());
    }
    const DATES: [&str; 5] = ["%Y-%m-%d", "%d.%m.%Y", "%d %b %Y", "%b %d, %Y", "%d/%m/%Y"];
    const TIMES: [&str; 2] = [" %H:%M", " %H:%M:%S"];
    for f in DATES {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Ok(d);
        }
        for t in TIMES {
            if let Ok(dt) = NaiveDateTime::parse_from_str(s, &format!("{f}{t}")) {
                return Ok(dt.date());
            }
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.date_naive());
    }
    Err(format!("not a date: {s:?}"))
}

/// `1,5` / `1.5` / `1 234,5` → a non-negative decimal; empty = 0.
fn decimal(s: &str) -> Result<Decimal, String> {
    let plain: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    if plain.is_empty() {
        return Ok(Decimal::ZERO);
    }
    let ok = plain.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && plain.bytes().filter(|b| *b == b'.').count() <= 1
        && !plain.starts_with('.')
        && !plain.ends_with('.');
    if !ok {
        return Err(format!("not a non-negative decimal: {s:?}"));
    }
    plain
        .parse()
        .map_err(|e| format!("not a number: {s:?}: {e}"))
}

/// A count (spaces ignored); empty = 0.
fn count(s: &str) -> Result<u64, String> {
    let plain: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
        .collect();
    if plain.is_empty() {
        return Ok(0);
    }
    if !plain.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("not a whole non-negative number: {s:?}"));
    }
    plain
        .parse()
        .map_err(|e| format!("not a number: {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_numbers() {
        assert_eq!(budget_currency("Spent budget, TON").unwrap(), "TON");
        assert_eq!(budget_currency("Spent budget, Stars").unwrap(), "XTR");
        assert_eq!(budget_currency("spent budget, eur").unwrap(), "EUR");
        assert!(budget_currency("Views").is_none());
        assert_eq!(decimal("1 234,56").unwrap().to_string(), "1234.56");
        assert!(decimal("-1").is_err() && decimal("1,2,3").is_err());
        assert_eq!(
            day("12 Mar 2024 10:05").unwrap(),
            NaiveDate::from_ymd_opt(2024, 3, 12).unwrap()
        );
        assert_eq!(campaign_of("/x/ad_42.tsv", None), "ad_42");
        assert_eq!(campaign_of("/x/ad_42.tsv", Some(" spring ")), "spring");
    }
}
