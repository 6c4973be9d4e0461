//! `facebook`: Meta Ads Insights (Facebook and Instagram placements).
//!
//! One `insights` job per window chunk of at most [`MAX_CHUNK_DAYS`] days:
//!
//! ```text
//! GET {base}/{api_version}/act_{ad_account_id}/insights
//!     ?level=campaign&time_increment=1&breakdowns=publisher_platform
//!     &fields=campaign_id,campaign_name,spend,impressions,clicks,account_currency,date_start,date_stop
//!     &time_range={"since":"YYYY-MM-DD","until":"YYYY-MM-DD"}&limit=500
//! ```
//!
//! The token is the `access_token` query parameter, added by the driver.
//! Paging follows `paging.next`, a full URL sent as-is except that its own
//! `access_token` parameter (Meta echoes the token there) is removed, so the
//! token is neither duplicated nor written to `raw/`. No `next`: done.
//!
//! Errors are read from the body (`{"error":{"message","type","code",
//! "error_subcode","fbtrace_id"}}`) whatever the HTTP status: throttling
//! codes 4, 17, 32, 613 and 80000–80014 are retryable after
//! `estimated_time_to_regain_access` minutes from `X-Business-Use-Case-Usage`
//! (else 60 s); 190 is terminal (token expired or revoked); 100/1504018
//! (sync timeout), code 2 and `is_transient: true` are retryable; anything
//! else is terminal.
//!
//! Options: `ad_account_id` (digits; an `act_` prefix is tolerated),
//! `api_version` (default [`DEFAULT_API_VERSION`]), `currency` (used only
//! when a row lacks `account_currency`; else the account's `currency`),
//! `async`, `poll_interval_seconds`, `url_tags` (below).
//!
//! ## Async report runs
//!
//! A run window longer than [`MAX_CHUNK_DAYS`] days (a backfill), or option
//! `async = true`, is fetched through async report runs instead, one job
//! per chunk of at most [`MAX_ASYNC_CHUNK_DAYS`] days (meta `mode=async`;
//! `async = false` forces the sync path whatever the length):
//!
//! ```text
//! POST {base}/{api_version}/act_{id}/insights   (form body: the sync query)
//!   → {"report_run_id":"…"}
//! GET  {base}/{api_version}/{run_id}#attempt=1&polls=N   (every `poll_interval_seconds`, default 10)
//!   → {"async_status":"Job Running","async_percent_completion":42,…}
//! GET  {base}/{api_version}/{run_id}/insights?limit=500   (then `paging.next`)
//! ```
//!
//! The poll is repeated ([`Step::Wait`]) while `async_status` is `Job Not
//! Started`/`Job Started`/`Job Running` (or `Job Completed` below 100 %),
//! at most [`MAX_POLLS`] times. `Job Failed`/`Job Skipped` starts a new run
//! once (`#attempt=2`); a second failure is terminal with Meta's
//! `error_message`/`error_code`/`error_user_msg`. Any other status is
//! terminal. Error bodies are classified as for sync requests on every
//! step. The result pages normalize exactly like sync pages; the start and
//! poll answers carry no data and give no records.
//!
//! ## Creative URL tags
//!
//! With option `url_tags = true` an extra `ads` job (no window) reads
//! `GET {base}/{api_version}/act_{id}/ads?fields=campaign_id,creative{url_tags}&limit=500`
//! (cursor paging) into `raw/`. The core model has no record for UTM
//! templates, so normalization emits nothing for it; [`campaign_url_tags`]
//! reads a stored page into campaign id → distinct `url_tags`, for a future
//! `CampaignTag` record (see `docs/sources.md`).
//!
//! ## Normalized rows and their keys
//!
//! Every metric arrives as a string (`"14.35"`, `"185"`). One [`AdStat`]
//! is produced per (date, campaign, `publisher_platform`):
//!
//! - `platform` is canonical: `instagram` → `instagram`; `facebook`,
//!   `audience_network`, `messenger` → `facebook`. Unknown placements are
//!   rejected with a [`ParseError`] (visible in quarantine, never guessed).
//! - `level` stays [`StatLevel::Campaign`], and `ad_id` holds the raw
//!   breakdown value as `pp:<publisher_platform>` (`pp:audience_network`).
//!   Several breakdown rows map to the `facebook` platform; keeping the raw
//!   value in the key keeps each (date, campaign, platform, ad_id) unique,
//!   so a row on page 2 never replaces a sibling row from page 1 in the
//!   upsert-by-key of `normalized/`. **Consumers sum `AdStat`s by
//!   `platform`** (they must anyway: campaigns have many rows).
//! - Rows repeating the same (date, campaign, publisher_platform) within one
//!   response are summed.
//! - `vat` is [`VatMode::Excluded`]: Meta reports net spend and invoices
//!   tax separately [unverified].
//! - Missing `impressions`/`clicks` are 0 (counts only; Meta omits some
//!   zero metrics); a missing or unreadable `spend` rejects the row.

use crate::util::{chunks, option_str};
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};

const SLUG: &str = "facebook";

/// Graph API version used when the account does not set `api_version`.
pub const DEFAULT_API_VERSION: &str = "v25.0";

/// Longest window one insights query covers (sync path), and the longest
/// run window fetched synchronously unless option `async` says otherwise.
pub const MAX_CHUNK_DAYS: i64 = 30;

/// Longest window one async report run covers.
pub const MAX_ASYNC_CHUNK_DAYS: i64 = 90;

/// Wait between polls of a report run unless `poll_interval_seconds` is set.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Polls of one report run before the job gives up (2 h at 10 s).
pub const MAX_POLLS: u32 = 720;

/// The fields of the `ads` job (creative URL tags).
pub const AD_FIELDS: &str = "campaign_id,creative{url_tags}";

/// The insights fields requested.
pub const FIELDS: &str =
    "campaign_id,campaign_name,spend,impressions,clicks,account_currency,date_start,date_stop";

/// Wait after throttling when the usage header gives no estimate.
pub const DEFAULT_THROTTLE_WAIT: Duration = Duration::from_secs(60);

/// The Meta Ads connector.
pub struct Facebook;

/// The ad account id without `act_`.
fn ad_account_id(account: &AccountConfig) -> Option<&str> {
    let raw = option_str(account, "ad_account_id")?;
    let id = raw.strip_prefix("act_").unwrap_or(raw);
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then_some(id)
}

fn api_version(account: &AccountConfig) -> &str {
    option_str(account, "api_version").unwrap_or(DEFAULT_API_VERSION)
}

fn valid_version(v: &str) -> bool {
    v.strip_prefix('v')
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
        })
}

/// Whether a run window is fetched through async report runs: option
/// `async` when set, else windows longer than [`MAX_CHUNK_DAYS`] days.
fn use_async(account: &AccountConfig, from: NaiveDate, to: NaiveDate) -> bool {
    match account.options.get("async").and_then(|v| v.as_bool()) {
        Some(forced) => forced,
        None => (to - from).num_days() + 1 > MAX_CHUNK_DAYS,
    }
}

fn poll_interval(account: &AccountConfig) -> Duration {
    account
        .options
        .get("poll_interval_seconds")
        .and_then(|v| v.as_integer())
        .and_then(|n| u64::try_from(n).ok())
        .map_or(DEFAULT_POLL_INTERVAL, Duration::from_secs)
}

/// The path of a URL without query and fragment.
fn path_of(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A numeric pair of a URL fragment (`#attempt=1&polls=3`).
fn fragment_num(url: &str, key: &str) -> Option<u32> {
    let (_, fragment) = url.split_once('#')?;
    url::form_urlencoded::parse(fragment.as_bytes())
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// The insights query of a window (sync GET query, async POST form).
fn insights_params(from: NaiveDate, to: NaiveDate) -> Vec<(String, String)> {
    [
        ("level", "campaign".to_string()),
        ("time_increment", "1".to_string()),
        ("breakdowns", "publisher_platform".to_string()),
        ("fields", FIELDS.to_string()),
        (
            "time_range",
            format!(
                r#"{{"since":"{}","until":"{}"}}"#,
                from.format("%Y-%m-%d"),
                to.format("%Y-%m-%d")
            ),
        ),
        ("limit", "500".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn graph_url(ctx: &FetchContext<'_>, path: &str) -> String {
    format!(
        "{}/{}/{path}",
        ctx.base_url.trim_end_matches('/'),
        api_version(ctx.account)
    )
}

/// Starts an async report run over [from, to]; `attempt` (1, 2) rides in
/// the fragment.
pub fn async_start_request(
    ctx: &FetchContext<'_>,
    from: NaiveDate,
    to: NaiveDate,
    attempt: u32,
) -> Request {
    let id = ad_account_id(ctx.account).unwrap_or("0");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(insights_params(from, to))
        .finish();
    Request {
        method: "POST".into(),
        url: format!(
            "{}#attempt={attempt}",
            graph_url(ctx, &format!("act_{id}/insights"))
        ),
        query: Vec::new(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: Some(body),
    }
}

/// Poll `polls` (1-based) of report run `run_id`.
pub fn async_poll_request(
    ctx: &FetchContext<'_>,
    run_id: &str,
    attempt: u32,
    polls: u32,
) -> Request {
    Request::get(format!(
        "{}#attempt={attempt}&polls={polls}",
        graph_url(ctx, run_id)
    ))
}

/// The first result page of a completed report run.
pub fn async_results_request(ctx: &FetchContext<'_>, run_id: &str) -> Request {
    Request::get(graph_url(ctx, &format!("{run_id}/insights"))).query("limit", "500")
}

/// Campaign id → distinct creative `url_tags` of one stored `ads` page
/// (ads without tags are left out).
pub fn campaign_url_tags(body: &[u8]) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let json: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let rows = json
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no `data` array")?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        let campaign = match row.get("campaign_id") {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        let tags = row
            .pointer("/creative/url_tags")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("");
        if !campaign.is_empty() && !tags.is_empty() {
            out.entry(campaign).or_default().insert(tags.to_string());
        }
    }
    Ok(out)
}

/// `paging.next` (token stripped) of a page, or done.
fn page_step(json: &Value) -> Result<Step, FetchError> {
    if !json.get("data").is_some_and(Value::is_array) {
        return Err(terminal("response has no `data` array"));
    }
    match json.pointer("/paging/next").and_then(Value::as_str) {
        Some(next) if !next.is_empty() => Ok(Step::Next(Request::get(
            strip_access_token(next).map_err(terminal)?,
        ))),
        _ => Ok(Step::Done { watermark: None }),
    }
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

fn int_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The longest `estimated_time_to_regain_access` (minutes) in an
/// `X-Business-Use-Case-Usage` header, as a wait.
pub fn buc_wait(header: &str) -> Option<Duration> {
    let v: Value = serde_json::from_str(header).ok()?;
    let minutes = v
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|e| int_of(e.get("estimated_time_to_regain_access")))
        .max()?;
    (minutes > 0).then(|| Duration::from_secs(minutes as u64 * 60))
}

/// `next` without its `access_token` query parameter (unchanged when it
/// has none).
pub fn strip_access_token(next: &str) -> Result<String, String> {
    let mut url = url::Url::parse(next).map_err(|e| format!("paging.next is not a URL: {e}"))?;
    if !url.query_pairs().any(|(k, _)| k == "access_token") {
        return Ok(next.to_string());
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "access_token")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok(url.to_string())
}

/// Classifies a Graph API error object.
fn classify(error: &Value, response: &Response) -> FetchError {
    let code = int_of(error.get("code"));
    let subcode = int_of(error.get("error_subcode"));
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message");
    let trace = error
        .get("fbtrace_id")
        .and_then(Value::as_str)
        .unwrap_or("-");
    let what = format!(
        "HTTP {}, error {}{}: {message} (fbtrace_id {trace})",
        response.status,
        code.map_or("?".to_string(), |c| c.to_string()),
        subcode.map_or(String::new(), |s| format!("/{s}")),
    );
    let throttle_wait = || {
        response
            .header("x-business-use-case-usage")
            .and_then(buc_wait)
            .unwrap_or(DEFAULT_THROTTLE_WAIT)
    };
    match code {
        Some(4 | 17 | 32 | 613 | 80000..=80014) => {
            retryable(format!("throttled: {what}"), Some(throttle_wait()))
        }
        Some(190) => terminal(format!("token expired or revoked: {what}")),
        Some(100) if subcode == Some(1504018) => retryable(what, None),
        Some(2) => retryable(what, None),
        _ if error.get("is_transient").and_then(Value::as_bool) == Some(true) => {
            retryable(what, None)
        }
        _ => terminal(what),
    }
}

impl Connector for Facebook {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        "https://graph.facebook.com".to_string()
    }

    fn auth(&self) -> AuthScheme {
        AuthScheme::Query {
            param: "access_token",
            credential: "token",
        }
    }

    /// Gentle pacing; the real limits are Meta's usage headers, honoured
    /// through throttling errors.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 1.0,
            burst: 3,
            budget: None,
        }
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        if ad_account_id(account).is_none() {
            return Err(
                "options.ad_account_id: required, the ad account's digits (without `act_`)".into(),
            );
        }
        if let Some(v) = account.options.get("api_version")
            && v.as_str().is_none_or(|s| !valid_version(s.trim()))
        {
            return Err("options.api_version: expected a version such as \"v25.0\"".into());
        }
        for key in ["async", "url_tags"] {
            if let Some(v) = account.options.get(key)
                && v.as_bool().is_none()
            {
                return Err(format!("options.{key}: expected true or false"));
            }
        }
        if let Some(v) = account.options.get("poll_interval_seconds")
            && v.as_integer().is_none_or(|n| n < 0)
        {
            return Err("options.poll_interval_seconds: expected a whole number ≥ 0".into());
        }
        if !account.credentials.contains_key("token") {
            return Err("credentials.token: required (system-user access token)".into());
        }
        Ok(())
    }

    /// One `insights` job per chunk of at most 30 days (sync) or 90 days
    /// (async: meta `mode=async`); meta `since`, `until`. With option
    /// `url_tags = true`, one more `ads` job without a window.
    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        let is_async = use_async(ctx.account, ctx.from, ctx.to);
        let days = if is_async {
            MAX_ASYNC_CHUNK_DAYS
        } else {
            MAX_CHUNK_DAYS
        };
        let mut jobs: Vec<Job> = chunks(ctx.from, ctx.to, days)
            .into_iter()
            .map(|(from, to)| {
                let mut meta = BTreeMap::from([
                    ("since".to_string(), from.format("%Y-%m-%d").to_string()),
                    ("until".to_string(), to.format("%Y-%m-%d").to_string()),
                ]);
                if is_async {
                    meta.insert("mode".to_string(), "async".to_string());
                }
                Job {
                    entity: "insights".to_string(),
                    window: Some((from, to)),
                    meta,
                }
            })
            .collect();
        if ctx
            .account
            .options
            .get("url_tags")
            .and_then(|v| v.as_bool())
            == Some(true)
        {
            jobs.push(Job {
                entity: "ads".to_string(),
                window: None,
                meta: BTreeMap::new(),
            });
        }
        jobs
    }

    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request {
        let (from, to) = job.window.unwrap_or((ctx.from, ctx.to));
        let id = ad_account_id(ctx.account).unwrap_or("0");
        if job.entity == "ads" {
            return Request::get(graph_url(ctx, &format!("act_{id}/ads")))
                .query("fields", AD_FIELDS)
                .query("limit", "500");
        }
        if job.meta.get("mode").map(String::as_str) == Some("async") {
            return async_start_request(ctx, from, to, 1);
        }
        let mut r = Request::get(graph_url(ctx, &format!("act_{id}/insights")));
        r.query = insights_params(from, to);
        r
    }

    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        let json = serde_json::from_slice::<Value>(&response.body);
        if let Ok(Value::Object(o)) = &json
            && let Some(error) = o.get("error")
        {
            return Err(classify(error, response));
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
        let json = json.map_err(|e| terminal(format!("body is not JSON: {e}")))?;
        let attempt = fragment_num(&request.url, "attempt").unwrap_or(1);
        if request.method == "POST" {
            // A report run started.
            let run_id = match json.get("report_run_id") {
                Some(Value::String(s)) => s.trim().to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            if run_id.is_empty() || !run_id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(terminal(format!(
                    "async start answered without a usable report_run_id: {json}"
                )));
            }
            return Ok(Step::Wait(
                poll_interval(ctx.account),
                async_poll_request(ctx, &run_id, attempt, 1),
            ));
        }
        if job.entity == "ads" || path_of(&request.url).ends_with("/insights") {
            return page_step(&json);
        }
        // A poll of a report run.
        let run_id = path_of(&request.url)
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let status = json
            .get("async_status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        let percent = match json.get("async_percent_completion") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(0.0);
        let polls = fragment_num(&request.url, "polls").unwrap_or(1);
        match status {
            "Job Completed" if percent >= 100.0 => {
                Ok(Step::Next(async_results_request(ctx, &run_id)))
            }
            "Job Completed" | "Job Not Started" | "Job Started" | "Job Running" => {
                if polls >= MAX_POLLS {
                    return Err(terminal(format!(
                        "report run {run_id} still {status:?} ({percent} %) after {polls} polls"
                    )));
                }
                Ok(Step::Wait(
                    poll_interval(ctx.account),
                    async_poll_request(ctx, &run_id, attempt, polls + 1),
                ))
            }
            "Job Failed" | "Job Skipped" => {
                if attempt < 2 {
                    let (from, to) = job.window.unwrap_or((ctx.from, ctx.to));
                    return Ok(Step::Next(async_start_request(ctx, from, to, attempt + 1)));
                }
                let text = |k: &str| match json.get(k) {
                    Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                let code = match (text("error_code"), text("error_subcode")) {
                    (Some(c), Some(sc)) => format!(" (error {c}/{sc})"),
                    (Some(c), None) => format!(" (error {c})"),
                    _ => String::new(),
                };
                let message = [text("error_message"), text("error_user_msg")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
                let message = if message.is_empty() {
                    "no error_message given".to_string()
                } else {
                    message
                };
                Err(terminal(format!(
                    "report run {run_id}: {status} twice{code}: {message}"
                )))
            }
            other => Err(terminal(format!(
                "report run {run_id}: unexpected async_status {other:?}"
            ))),
        }
    }

    fn normalize(&self, envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized {
        let mut out = Normalized::default();
        // `ads` pages (URL tags) have no canonical record yet.
        if envelope.status != 200 || envelope.entity == "ads" {
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
        if json.get("error").is_some() {
            return out;
        }
        let Some(rows) = json.get("data").and_then(Value::as_array) else {
            return out;
        };
        let fallback_currency = option_str(ctx.account, "currency")
            .or(ctx.account.currency.as_deref())
            .map(str::to_ascii_uppercase);
        let mut stats: BTreeMap<(NaiveDate, String, String), AdStat> = BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            let text = |k: &str| -> String {
                match row.get(k) {
                    Some(Value::String(s)) => s.trim().to_string(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => String::new(),
                }
            };
            let campaign_id = text("campaign_id");
            let date_text = text("date_start");
            let record = format!(
                "{} {} {}",
                date_text,
                campaign_id,
                text("publisher_platform")
            );
            let record = if record.trim().is_empty() {
                format!("row {}", i + 1)
            } else {
                record
            };
            let err =
                |field: &str, reason: String| ParseError::new(SLUG, record.clone(), field, reason);
            let Ok(date) = NaiveDate::parse_from_str(&date_text, "%Y-%m-%d") else {
                out.rejected
                    .push(err("date_start", format!("not a date: {date_text:?}")));
                continue;
            };
            let stop = text("date_stop");
            if !stop.is_empty() && stop != date_text {
                out.rejected.push(err(
                    "date_stop",
                    format!("a daily row spans {date_text}..{stop}"),
                ));
                continue;
            }
            if campaign_id.is_empty() {
                out.rejected
                    .push(err("campaign_id", "missing campaign id".into()));
                continue;
            }
            let pp = text("publisher_platform");
            let platform = match pp.as_str() {
                "instagram" => "instagram",
                "facebook" | "audience_network" | "messenger" => "facebook",
                other => {
                    out.rejected.push(err(
                        "publisher_platform",
                        format!("unknown placement {other:?}"),
                    ));
                    continue;
                }
            };
            let spend_text = text("spend");
            let spend = match Decimal::from_str(&spend_text) {
                Ok(d) => d,
                Err(_) => {
                    out.rejected
                        .push(err("spend", format!("not a decimal: {spend_text:?}")));
                    continue;
                }
            };
            let count = |k: &str| -> Result<u64, String> {
                let t = text(k);
                if t.is_empty() {
                    Ok(0)
                } else {
                    t.parse().map_err(|_| format!("not a count: {t:?}"))
                }
            };
            let (impressions, clicks) = match (count("impressions"), count("clicks")) {
                (Ok(i), Ok(c)) => (i, c),
                (Err(e), _) => {
                    out.rejected.push(err("impressions", e));
                    continue;
                }
                (_, Err(e)) => {
                    out.rejected.push(err("clicks", e));
                    continue;
                }
            };
            let currency = match text("account_currency") {
                c if !c.is_empty() => c.to_ascii_uppercase(),
                _ => match &fallback_currency {
                    Some(c) => c.clone(),
                    None => {
                        out.rejected.push(err(
                            "account_currency",
                            "missing, and the account sets no currency".into(),
                        ));
                        continue;
                    }
                },
            };
            let entry = stats
                .entry((date, campaign_id.clone(), pp.clone()))
                .or_insert_with(|| AdStat {
                    source: SLUG.to_string(),
                    account: ctx.account.id.clone(),
                    date,
                    platform: platform.to_string(),
                    level: StatLevel::Campaign,
                    campaign_id: campaign_id.clone(),
                    campaign_name: text("campaign_name"),
                    ad_id: format!("pp:{pp}"),
                    ad_name: String::new(),
                    impressions: 0,
                    clicks: 0,
                    spend: Decimal::ZERO,
                    currency: currency.clone(),
                    vat: VatMode::Excluded,
                });
            if entry.currency != currency {
                out.rejected.push(err(
                    "account_currency",
                    format!(
                        "{currency} differs from {} in the same row key",
                        entry.currency
                    ),
                ));
                continue;
            }
            entry.impressions += impressions;
            entry.clicks += clicks;
            entry.spend += spend;
        }
        out.records = stats.into_values().map(Record::AdStat).collect();
        out
    }
}
