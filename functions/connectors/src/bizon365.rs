//! `bizon365`: Bizon365 webinar reports (webinars and their viewers).
//!
//! One job, `webinars`, covers the run's window and chains two kinds of
//! requests (all `GET`, header `X-Token: <token>` added by the driver):
//!
//! 1. list: `{base}/webinars/reports/getlist?skip=N&limit=100&LiveWebinars=1&AutoWebinars=1`
//!    → `{"count":C,"list":[...]}`; paged until `skip + len(list) >= count`
//!    or the list is empty. No date filter is sent (Bizon's `minDate` /
//!    `maxDate` are unverified): a webinar belongs to the window when the
//!    school-local date of its start (`data.start`, epoch ms; else the local
//!    time in its `webinarId`) lies in [from, to];
//! 2. viewers, for each in-window webinar of that list page:
//!    `{base}/webinars/reports/getviewers?webinarId=W&skip=N&limit=1000`
//!    → `{"total":T,"skip":N,"loaded":L,"viewers":[...]}`; paged until
//!    `skip + loaded >= total` or `loaded` is 0.
//!
//! The list is walked page by page: after each list page, the viewers of
//! that page's in-window webinars are fetched, then the next list page.
//! [`Connector::next_step`] stays a pure function of (job, request,
//! response) because the rest of the walk travels in the request's URL
//! fragment (never sent, kept in `raw/`):
//! `#list_skip=<next list skip>&pending=<webinarId>&pending=...`
//! (form-urlencoded; `list_skip` absent on the last list page). A fragment
//! therefore holds at most one list page of ids (≤ 100, about 5 KB).
//!
//! Normalization is pure and reads the request URL to tell list pages from
//! viewer pages:
//! - list → [`Webinar`] per in-window item: `id` = `webinarId`
//!   (`<group>:<room>*<local start, no zone>`), `name` = the room name
//!   (`name`), `start` from `data.start` (`data` is a JSON *string*),
//!   `duration_minutes` from `data.minutes` (else `count2`), `offer_minute`
//!   from the account option `offer_minute` (else `None`: the core default
//!   applies);
//! - viewers → [`WebinarViewer`]: `view`/`viewTill` epoch ms, `username`,
//!   `email`, `phone`, `utm_*`; `viewer_id` = `chatUserId`, else a stable
//!   `anon-<hash>` of the webinar, contact fields and entry time;
//!   `webinar_start` = the `webinarId` local time read in the Bizon zone.
//!
//! Bizon local times (the `webinarId` suffix) are Moscow time; an account
//! `timezone` overrides that. Options: `offer_minute` (non-negative
//! integer). Credential: `token` (Bizon → Настройки → API).
//!
//! [`decode_report`] decodes the full report (`reports/get`), whose
//! `report.report`, `report.messages` and `report.messagesTS` are JSON
//! strings; no job requests it yet (it is for the `webinarEnd` webhook).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use sha2::{Digest, Sha256};
use voronka_core::config::AccountConfig;
use voronka_core::model::{Record, Utm, Webinar, WebinarViewer};

use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};

pub const SLUG: &str = "bizon365";

/// Default API base.
pub const DEFAULT_BASE_URL: &str = "https://online.bizon365.ru/api/v1";

/// List page size (Bizon's maximum).
pub const LIST_LIMIT: u64 = 100;

/// Viewers page size (Bizon's maximum).
pub const VIEWERS_LIMIT: u64 = 1000;

const LIST_PATH: &str = "/webinars/reports/getlist";
const VIEWERS_PATH: &str = "/webinars/reports/getviewers";

/// Fragment keys (client-side walk state).
const FRAG_LIST_SKIP: &str = "list_skip";
const FRAG_PENDING: &str = "pending";

/// The zone of Bizon's naive local times.
pub const BIZON_TZ: Tz = chrono_tz::Europe::Moscow;

/// The Bizon365 connector.
pub struct Bizon365;

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

fn base(ctx: &FetchContext<'_>) -> String {
    ctx.base_url.trim_end_matches('/').to_string()
}

/// The zone of the account's naive times: its `timezone`, else Moscow.
fn bizon_tz(account: &AccountConfig) -> Tz {
    account
        .timezone
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or(BIZON_TZ)
}

/// The walk state carried in a request's fragment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Walk {
    /// `skip` of the next list page, when there is one.
    list_skip: Option<u64>,
    /// In-window webinars of the current list page still to fetch.
    pending: Vec<String>,
}

impl Walk {
    fn of(request: &Request) -> Walk {
        let mut walk = Walk::default();
        let Some((_, frag)) = request.url.split_once('#') else {
            return walk;
        };
        for (k, v) in url::form_urlencoded::parse(frag.as_bytes()) {
            match k.as_ref() {
                FRAG_LIST_SKIP => walk.list_skip = v.parse().ok(),
                FRAG_PENDING if !v.is_empty() => walk.pending.push(v.into_owned()),
                _ => {}
            }
        }
        walk
    }

    fn fragment(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(skip) = self.list_skip {
            s.append_pair(FRAG_LIST_SKIP, &skip.to_string());
        }
        for id in &self.pending {
            s.append_pair(FRAG_PENDING, id);
        }
        s.finish()
    }

    /// The request that continues the walk, or None when it is over.
    fn next(mut self, ctx: &FetchContext<'_>) -> Option<Request> {
        if !self.pending.is_empty() {
            let id = self.pending.remove(0);
            return Some(viewers_request(ctx, &id, 0, &self));
        }
        self.list_skip.map(|skip| list_request(ctx, skip))
    }
}

fn with_fragment(url: String, walk: &Walk) -> String {
    let frag = walk.fragment();
    if frag.is_empty() {
        url
    } else {
        format!("{url}#{frag}")
    }
}

fn list_request(ctx: &FetchContext<'_>, skip: u64) -> Request {
    Request::get(format!("{}{LIST_PATH}", base(ctx)))
        .query("skip", skip.to_string())
        .query("limit", LIST_LIMIT.to_string())
        .query("LiveWebinars", "1")
        .query("AutoWebinars", "1")
}

fn viewers_request(ctx: &FetchContext<'_>, webinar_id: &str, skip: u64, rest: &Walk) -> Request {
    Request::get(with_fragment(format!("{}{VIEWERS_PATH}", base(ctx)), rest))
        .query("webinarId", webinar_id)
        .query("skip", skip.to_string())
        .query("limit", VIEWERS_LIMIT.to_string())
}

fn url_path(url: &str) -> &str {
    let no_frag = url.split('#').next().unwrap_or("");
    no_frag.split('?').next().unwrap_or("")
}

/// A query parameter of a recorded or built request URL.
fn url_param(url: &str, name: &str) -> Option<String> {
    let no_frag = url.split('#').next().unwrap_or("");
    let (_, q) = no_frag.split_once('?')?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn request_param(request: &Request, name: &str) -> Option<String> {
    request
        .query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .or_else(|| url_param(&request.url, name))
}

/// A non-negative integer from a number or a numeric string.
fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
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

/// Text of a scalar (numbers printed), trimmed; "" for null and others.
fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn from_epoch_ms(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// The local start encoded in a `webinarId` (`<group>:<room>*2020-03-03T20:00:00`)
/// read in `tz`.
pub fn webinar_id_start(webinar_id: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let (_, local) = webinar_id.rsplit_once('*')?;
    let local = local.trim();
    const FORMATS: [&str; 3] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ];
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(local, f).ok())
        .map(|naive| voronka_core::time::from_local(naive, tz))
}

/// The decoded `data` of a list item (a JSON string, or already an object).
fn item_data(item: &Value) -> Result<Value, String> {
    match item.get("data") {
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| format!("not JSON: {e}")),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        None | Some(Value::Null) => Ok(Value::Null),
        Some(_) => Err("neither a JSON string nor an object".into()),
    }
}

/// A list item's start: `data.start` (epoch ms), else its `webinarId` time.
fn item_start(item: &Value, tz: Tz) -> Option<DateTime<Utc>> {
    let from_data = item_data(item)
        .ok()
        .and_then(|d| as_i64(d.get("start")))
        .and_then(from_epoch_ms);
    from_data.or_else(|| {
        item.get("webinarId")
            .and_then(Value::as_str)
            .and_then(|id| webinar_id_start(id, tz))
    })
}

fn in_window(at: DateTime<Utc>, window: Option<(NaiveDate, NaiveDate)>, school_tz: Tz) -> bool {
    match window {
        None => true,
        Some((from, to)) => {
            let day = voronka_core::time::local_date(at, school_tz);
            from <= day && day <= to
        }
    }
}

/// The vendor error of an answer: a non-empty `errors`, or a `message` /
/// `error` without data.
fn vendor_error(json: &Value) -> Option<String> {
    match json.get("errors") {
        Some(Value::Array(a)) if !a.is_empty() => return Some(Value::Array(a.clone()).to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => return Some(s.trim().to_string()),
        Some(Value::Object(o)) if !o.is_empty() => {
            return Some(Value::Object(o.clone()).to_string());
        }
        _ => {}
    }
    let has_data = json.get("list").is_some() || json.get("viewers").is_some();
    if !has_data {
        for key in ["message", "error"] {
            let t = text(json.get(key));
            if !t.is_empty() {
                return Some(t);
            }
        }
    }
    None
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

impl Connector for Bizon365 {
    fn slug(&self) -> &'static str {
        SLUG
    }

    fn default_base_url(&self, _account: &AccountConfig) -> String {
        DEFAULT_BASE_URL.to_string()
    }

    fn auth(&self) -> AuthScheme {
        AuthScheme::Header {
            name: "X-Token",
            credential: "token",
        }
    }

    /// Two requests per second: Bizon publishes no limit; this stays
    /// well under "a few per second".
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 2.0,
            burst: 2,
            budget: None,
        }
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        if let Some(v) = account.options.get("offer_minute")
            && v.as_integer()
                .is_none_or(|n| n < 0 || n > i64::from(u32::MAX))
        {
            return Err("options.offer_minute: expected a non-negative integer (minutes)".into());
        }
        if let Some(tz) = &account.timezone
            && tz.parse::<Tz>().is_err()
        {
            return Err(format!("timezone: unknown IANA zone {tz:?}"));
        }
        if !account.credentials.contains_key("token") {
            return Err("credentials.token: required (Bizon365 API token, sent as X-Token)".into());
        }
        Ok(())
    }

    /// One job: the webinar list of the window, then the viewers of each
    /// in-window webinar.
    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        vec![Job {
            entity: "webinars".to_string(),
            window: Some((ctx.from, ctx.to)),
            meta: BTreeMap::new(),
        }]
    }

    fn first_request(&self, ctx: &FetchContext<'_>, _job: &Job) -> Request {
        list_request(ctx, 0)
    }

    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        let status = response.status;
        if status == 429 || status >= 500 {
            return Err(retryable(format!("HTTP {status}"), retry_after(response)));
        }
        if status == 401 || status == 403 {
            return Err(terminal(format!(
                "HTTP {status}: the token was refused (check credentials.token: \
                 Bizon365 → Настройки → API): {}",
                body_excerpt(&response.body)
            )));
        }
        let json: Value = serde_json::from_slice(&response.body).map_err(|e| {
            terminal(format!(
                "HTTP {status}: body is not JSON ({e}): {}",
                body_excerpt(&response.body)
            ))
        })?;
        if let Some(err) = vendor_error(&json) {
            return Err(terminal(format!("HTTP {status}: Bizon365 error: {err}")));
        }
        if !(200..300).contains(&status) {
            return Err(terminal(format!(
                "HTTP {status}: {}",
                body_excerpt(&response.body)
            )));
        }
        let walk = Walk::of(request);
        let path = url_path(&request.url);
        if path.ends_with(VIEWERS_PATH) {
            let viewers = json
                .get("viewers")
                .and_then(Value::as_array)
                .ok_or_else(|| terminal("getviewers: no `viewers` array in the answer"))?;
            let skip = as_u64(json.get("skip"))
                .or_else(|| request_param(request, "skip").and_then(|s| s.parse().ok()))
                .unwrap_or(0);
            let loaded = as_u64(json.get("loaded")).unwrap_or(viewers.len() as u64);
            let total = as_u64(json.get("total")).unwrap_or(0);
            if loaded > 0 && skip + loaded < total {
                let id = request_param(request, "webinarId")
                    .ok_or_else(|| terminal("getviewers request without webinarId"))?;
                return Ok(Step::Next(viewers_request(ctx, &id, skip + loaded, &walk)));
            }
            return Ok(match walk.next(ctx) {
                Some(r) => Step::Next(r),
                None => Step::Done { watermark: None },
            });
        }
        if !path.ends_with(LIST_PATH) {
            return Err(terminal(format!("unexpected request path {path:?}")));
        }
        let list = json
            .get("list")
            .and_then(Value::as_array)
            .ok_or_else(|| terminal("getlist: no `list` array in the answer"))?;
        let skip = request_param(request, "skip")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let count = as_u64(json.get("count")).unwrap_or(0);
        let next_skip = skip + list.len() as u64;
        let tz = bizon_tz(ctx.account);
        let window = job.window.or(Some((ctx.from, ctx.to)));
        let mut pending: Vec<String> = Vec::new();
        for item in list {
            let Some(id) = item.get("webinarId").and_then(Value::as_str) else {
                continue;
            };
            let id = id.trim();
            if id.is_empty() || pending.iter().any(|p| p == id) {
                continue;
            }
            if item_start(item, tz).is_some_and(|at| in_window(at, window, ctx.school_tz)) {
                pending.push(id.to_string());
            }
        }
        let next = Walk {
            list_skip: (!list.is_empty() && next_skip < count).then_some(next_skip),
            pending,
        };
        Ok(match next.next(ctx) {
            Some(r) => Step::Next(r),
            None => Step::Done { watermark: None },
        })
    }

    /// Webinars from list pages, viewers from viewer pages; error answers
    /// give nothing.
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
        let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
            out.rejected
                .push(ParseError::new(SLUG, "page", "body", "not JSON"));
            return out;
        };
        if vendor_error(&json).is_some() {
            return out;
        }
        let tz = bizon_tz(ctx.account);
        let window = envelope.window_from.zip(envelope.window_to);
        let path = url_path(&envelope.request.url);
        if path.ends_with(LIST_PATH) {
            webinars(envelope, &json, ctx, tz, window, &mut out);
        } else if path.ends_with(VIEWERS_PATH) {
            let requested = url_param(&envelope.request.url, "webinarId").unwrap_or_default();
            viewers(envelope, &json, &requested, tz, &mut out);
        }
        out
    }
}

fn offer_minute(account: &AccountConfig) -> Option<u32> {
    account
        .options
        .get("offer_minute")
        .and_then(|v| v.as_integer())
        .and_then(|n| u32::try_from(n).ok())
}

fn webinars(
    envelope: &RawEnvelope,
    json: &Value,
    ctx: &NormalizeContext<'_>,
    tz: Tz,
    window: Option<(NaiveDate, NaiveDate)>,
    out: &mut Normalized,
) {
    let Some(list) = json.get("list").and_then(Value::as_array) else {
        return;
    };
    let offer = offer_minute(ctx.account);
    for (i, item) in list.iter().enumerate() {
        let id = text(item.get("webinarId"));
        let record = if id.is_empty() {
            format!("list item {}", i + 1)
        } else {
            id.clone()
        };
        let err =
            |field: &str, reason: String| ParseError::new(SLUG, record.clone(), field, reason);
        if id.is_empty() {
            out.rejected
                .push(err("webinarId", "missing webinar id".into()));
            continue;
        }
        let data = match item_data(item) {
            Ok(d) => d,
            Err(e) => {
                out.rejected.push(err("data", e));
                continue;
            }
        };
        let start = match as_i64(data.get("start")) {
            Some(ms) => match from_epoch_ms(ms) {
                Some(at) => at,
                None => {
                    out.rejected
                        .push(err("data.start", format!("epoch ms out of range: {ms}")));
                    continue;
                }
            },
            None => match webinar_id_start(&id, tz) {
                Some(at) => at,
                None => {
                    out.rejected.push(err(
                        "data.start",
                        "missing, and the webinarId carries no local time".into(),
                    ));
                    continue;
                }
            },
        };
        if !in_window(start, window, ctx.school_tz) {
            continue;
        }
        let minutes = as_u64(data.get("minutes"))
            .or_else(|| as_u64(item.get("count2")))
            .unwrap_or(0);
        let mut name = text(item.get("name"));
        if name.is_empty() {
            name = text(data.get("roomid"));
        }
        out.records.push(Record::Webinar(Webinar {
            source: SLUG.to_string(),
            account: envelope.account.clone(),
            id,
            name,
            start,
            duration_minutes: u32::try_from(minutes).unwrap_or(u32::MAX),
            offer_minute: offer,
        }));
    }
}

/// A stable id for a viewer without `chatUserId`.
fn anon_viewer_id(webinar_id: &str, v: &Value) -> String {
    let mut h = Sha256::new();
    for part in [
        webinar_id.to_string(),
        text(v.get("email")).to_lowercase(),
        text(v.get("phone")),
        text(v.get("username")),
        text(v.get("view")),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("anon-{}", &hex::encode(h.finalize())[..16])
}

fn viewers(envelope: &RawEnvelope, json: &Value, requested: &str, tz: Tz, out: &mut Normalized) {
    let Some(list) = json.get("viewers").and_then(Value::as_array) else {
        return;
    };
    for (i, v) in list.iter().enumerate() {
        let mut webinar_id = text(v.get("webinarId"));
        if webinar_id.is_empty() {
            webinar_id = requested.to_string();
        }
        let chat_user = text(v.get("chatUserId"));
        let record = if chat_user.is_empty() {
            format!("{webinar_id} viewer {}", i + 1)
        } else {
            format!("{webinar_id} {chat_user}")
        };
        let err =
            |field: &str, reason: String| ParseError::new(SLUG, record.clone(), field, reason);
        if webinar_id.is_empty() {
            out.rejected
                .push(err("webinarId", "missing webinar id".into()));
            continue;
        }
        let Some(webinar_start) = webinar_id_start(&webinar_id, tz) else {
            out.rejected.push(err(
                "webinarId",
                format!("no local start time in {webinar_id:?}"),
            ));
            continue;
        };
        let Some(view_from) = as_i64(v.get("view")).and_then(from_epoch_ms) else {
            out.rejected
                .push(err("view", "missing or not epoch ms".into()));
            continue;
        };
        let view_till = match v.get("viewTill") {
            None | Some(Value::Null) => view_from,
            some => match as_i64(some).and_then(from_epoch_ms) {
                Some(at) => at.max(view_from),
                None => {
                    out.rejected.push(err("viewTill", "not epoch ms".into()));
                    continue;
                }
            },
        };
        let viewer_id = if chat_user.is_empty() {
            anon_viewer_id(&webinar_id, v)
        } else {
            chat_user
        };
        out.records.push(Record::WebinarViewer(WebinarViewer {
            source: SLUG.to_string(),
            account: envelope.account.clone(),
            webinar_id,
            viewer_id,
            webinar_start,
            name: text(v.get("username")),
            email: text(v.get("email")),
            phone: text(v.get("phone")),
            view_from,
            view_till,
            utm: Utm {
                source: text(v.get("utm_source")),
                medium: text(v.get("utm_medium")),
                campaign: text(v.get("utm_campaign")),
                content: text(v.get("utm_content")),
                term: text(v.get("utm_term")),
            },
        }));
    }
}

/// Decodes a full report (`GET webinars/reports/get?webinarId=…`): the
/// JSON strings `report.report`, `report.messages` and `report.messagesTS`
/// are replaced by their decoded values; everything else is kept as is.
///
/// A report whose `report.report` is missing, empty or does not decode to
/// an object is not ready yet (Bizon builds it after the webinar): that is
/// an error naming `report.report`, so a caller can retry later.
pub fn decode_report(body: &[u8]) -> Result<Value, ParseError> {
    let err = |field: &str, reason: String| ParseError::new(SLUG, "report", field, reason);
    let mut json: Value =
        serde_json::from_slice(body).map_err(|e| err("body", format!("not JSON: {e}")))?;
    if let Some(e) = vendor_error(&json).filter(|_| json.get("report").is_none()) {
        return Err(err("body", format!("Bizon365 error: {e}")));
    }
    let report = json
        .get_mut("report")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| err("report", "missing or not an object".into()))?;
    for field in ["report", "messages", "messagesTS"] {
        let decoded = match report.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => serde_json::from_str::<Value>(s)
                .map_err(|e| err(&format!("report.{field}"), format!("not JSON: {e}")))?,
            Some(Value::String(_)) | Some(Value::Null) | None => {
                if field == "report" {
                    return Err(err(
                        "report.report",
                        "empty: the report is not ready yet".into(),
                    ));
                }
                continue;
            }
            Some(other) => other.clone(),
        };
        if field == "report" && !decoded.is_object() {
            return Err(err(
                "report.report",
                "does not decode to an object: the report is not ready yet".into(),
            ));
        }
        report.insert(field.to_string(), decoded);
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_round_trips() {
        let walk = Walk {
            list_skip: Some(200),
            pending: vec!["1:a*2026-01-01T10:00:00".into(), "1:b c*x&y".into()],
        };
        let r = Request::get(format!("https://x/y#{}", walk.fragment()));
        assert_eq!(Walk::of(&r), walk);
        assert_eq!(Walk::of(&Request::get("https://x/y")), Walk::default());
    }
}
