//! `getcourse`: GetCourse legacy export API (orders and payments).
//!
//! Each job runs one asynchronous export for the run's window:
//!
//! 1. start: `GET {base}/pl/api/account/{deals|payments}?created_at[from]=YYYY-MM-DD&created_at[to]=YYYY-MM-DD`
//!    → `{"success":true,"info":{"export_id":N}}`;
//! 2. poll, every `poll_interval_secs`: `GET {base}/pl/api/account/exports/{N}`
//!    → not ready (`error_code` 909 or 905: poll again), expired (910: start
//!    a new export, at most [`MAX_RESTARTS`] times), or ready
//!    (`{"success":true,"info":{"fields":[...],"items":[[...]]}}`: done).
//!
//! The school key travels as the `key` query parameter (added by the
//! driver). Every start and every poll counts against GetCourse's budget of
//! 100 requests per 2 hours; "Слишком много запросов" in any response is a
//! retryable error with a long wait.
//!
//! The restart count of a job travels with the request as the URL fragment
//! `#export_attempt=N` (absent for the first export), so that
//! [`Connector::next_step`] stays a pure function of (job, request,
//! response). The driver never sends fragments but keeps them in `raw/`.
//!
//! Normalization reads only ready exports and maps columns **by the names
//! in `fields`**, never by position (columns depend on account settings).
//! Options: `school` (the `{school}.getcourse.ru` subdomain; required unless
//! the account sets `base_url`), `poll_interval_secs` (default 30),
//! `crm_deal_field` (the name of the order column holding the CRM deal id).
//!
//! **Webhooks** (entity `webhook`, stored by the receiver with
//! [`webhook_envelope`]): two kinds of delivery, told apart by the body.
//!
//! - New-API webhooks: a JSON **array** of events (`getcourse/dealCreated`,
//!   `getcourse/dealPaid`, `getcourse/dealStatusChanged`). Each event gives
//!   an [`Order`] upsert keyed by `deal.id` (the export's `ID заказа`):
//!   `number`, `status` (codes, see [`order_status`]; `"false"` is a
//!   status), `cost` (string or number) in `currency`, `createdAt`,
//!   `user.email`. `isPayed` (bool or 0/1) is read only when `status` is
//!   absent; a free deal arrives `payed` with `isPayed: 0` and stays paid.
//!   `clientDealNumber` (string or number) is not used. One payment fires
//!   `dealPaid` and `dealStatusChanged` with the same `ts`: both give the
//!   same record key; within one body only the latest event per deal
//!   (by `ts`, then position) is kept, across deliveries the pipeline's
//!   upsert collapses them.
//! - Process callbacks ("Вызвать URL"): the data is in the **query
//!   string** (GET or POST; a form body fills in what the query lacks).
//!   `deal_id` (or `id`), `status` and `cost_money_value` / `cost` /
//!   `cost_money` are required, else a parse error names the missing
//!   parameter; `number`, `email`, `name` / `first_name` + `last_name`,
//!   `phone`, `currency`, `positions` and `created_at` are read when
//!   present. Without `created_at` the receipt time stands in.
//!
//! **Webhooks give no payments.** `payedValue` is cumulative and a
//! delivery says nothing about earlier ones (GetCourse does not promise
//! order or completeness), so the paid delta is not derivable from one
//! envelope; the daily payments export stays the source of money. A
//! webhook order also carries fewer fields than an export row (no UTM,
//! product, manager or CRM deal id): being the later version of the same
//! key, it replaces the exported one until the next export of that order.

use crate::util::option_str;
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, NormalizeContext, Normalized, ParseError,
    RateLimit, RawEnvelope, Request, Response, Step,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;
use voronka_core::config::AccountConfig;
use voronka_core::model::{Order, OrderStatus, Payment, PaymentStatus, Record, Utm};

const SLUG: &str = "getcourse";

/// URL fragment key carrying how many times the job's export was restarted
/// after a 910 ("export expired"). Client-side state, never sent.
pub const ATTEMPT_FRAGMENT: &str = "export_attempt";

/// How many times an expired export (910) is started again before the job
/// fails.
pub const MAX_RESTARTS: u32 = 2;

/// Default pause between export polls (GetCourse asks for 30–60 s).
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 30;

/// Wait after "Слишком много запросов": the budget is 100 requests per
/// 2 hours, so a short back-off would only burn more of it.
pub const RATE_LIMITED_WAIT: Duration = Duration::from_secs(20 * 60);

const TOO_MANY_REQUESTS: &str = "Слишком много запросов";
const EXPORTS_PATH: &str = "/pl/api/account/exports/";

/// The GetCourse connector (legacy export API).
pub struct Getcourse;

/// What a job exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deals,
    Payments,
}

impl Kind {
    fn from_name(s: &str) -> Option<Kind> {
        match s {
            "deals" => Some(Kind::Deals),
            "payments" => Some(Kind::Payments),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Deals => "deals",
            Kind::Payments => "payments",
        }
    }
}

/// The poll interval from `poll_interval_secs` (default 30 s).
pub fn poll_interval(account: &AccountConfig) -> Duration {
    let secs = account
        .options
        .get("poll_interval_secs")
        .and_then(|v| v.as_integer())
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(DEFAULT_POLL_INTERVAL_SECS);
    Duration::from_secs(secs)
}

fn base(ctx: &FetchContext<'_>) -> String {
    ctx.base_url.trim_end_matches('/').to_string()
}

fn attempt_of(request: &Request) -> u32 {
    request
        .url
        .split_once('#')
        .and_then(|(_, frag)| frag.strip_prefix(ATTEMPT_FRAGMENT)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `url` with the attempt fragment when `attempt > 0`.
fn with_attempt(url: String, attempt: u32) -> String {
    if attempt == 0 {
        url
    } else {
        format!("{url}#{ATTEMPT_FRAGMENT}={attempt}")
    }
}

fn start_request(ctx: &FetchContext<'_>, job: &Job, attempt: u32) -> Request {
    let kind = job
        .meta
        .get("kind")
        .map(String::as_str)
        .unwrap_or(&job.entity);
    let (from, to) = job.window.unwrap_or((ctx.from, ctx.to));
    Request::get(with_attempt(
        format!("{}/pl/api/account/{kind}", base(ctx)),
        attempt,
    ))
    .query("created_at[from]", from.format("%Y-%m-%d").to_string())
    .query("created_at[to]", to.format("%Y-%m-%d").to_string())
}

fn poll_request(ctx: &FetchContext<'_>, export_id: &str, attempt: u32) -> Request {
    Request::get(with_attempt(
        format!("{}{EXPORTS_PATH}{export_id}", base(ctx)),
        attempt,
    ))
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

/// The common envelope of every legacy API answer.
struct Answer<'a> {
    success: bool,
    error_code: Option<i64>,
    error_message: &'a str,
    info: Option<&'a Value>,
}

fn answer(v: &Value) -> Answer<'_> {
    Answer {
        success: v.get("success").and_then(Value::as_bool).unwrap_or(false),
        error_code: v.get("error_code").and_then(|c| match c {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }),
        error_message: v.get("error_message").and_then(Value::as_str).unwrap_or(""),
        info: v.get("info"),
    }
}

fn describe(a: &Answer<'_>) -> String {
    match a.error_code {
        Some(code) => format!("error {code}: {}", a.error_message),
        None if a.error_message.is_empty() => "unsuccessful answer without a message".into(),
        None => a.error_message.to_string(),
    }
}

fn retry_after(response: &Response) -> Option<Duration> {
    response
        .header("retry-after")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl Connector for Getcourse {
    fn slug(&self) -> &'static str {
        SLUG
    }

    /// `https://{school}.getcourse.ru` from option `school` ("" when unset:
    /// [`Connector::validate`] then requires `base_url`).
    fn default_base_url(&self, account: &AccountConfig) -> String {
        match option_str(account, "school") {
            Some(school) => format!("https://{school}.getcourse.ru"),
            None => String::new(),
        }
    }

    fn auth(&self) -> AuthScheme {
        AuthScheme::Query {
            param: "key",
            credential: "key",
        }
    }

    /// One request per second at most, and the vendor's hard budget of 100
    /// requests (starts and polls alike) per 2 hours.
    fn rate_limit(&self) -> RateLimit {
        RateLimit {
            per_second: 1.0,
            burst: 2,
            budget: Some((100, Duration::from_secs(2 * 60 * 60))),
        }
    }

    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        match account.options.get("school") {
            Some(v) => {
                let school = v.as_str().map(str::trim).unwrap_or("");
                let ok = !school.is_empty()
                    && school
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                if !ok {
                    return Err(
                        "options.school: expected the school's getcourse.ru subdomain (e.g. \"myschool\")"
                            .into(),
                    );
                }
            }
            None if account.base_url.is_none() => {
                return Err(
                    "options.school: required (the {school}.getcourse.ru subdomain) unless base_url is set"
                        .into(),
                );
            }
            None => {}
        }
        if let Some(v) = account.options.get("poll_interval_secs")
            && v.as_integer().is_none_or(|n| n < 0)
        {
            return Err("options.poll_interval_secs: expected a non-negative integer".into());
        }
        if let Some(v) = account.options.get("crm_deal_field")
            && v.as_str().is_none_or(|s| s.trim().is_empty())
        {
            return Err("options.crm_deal_field: expected the name of an order column".into());
        }
        if !account.credentials.contains_key("key") {
            return Err("credentials.key: required (the school's API key)".into());
        }
        Ok(())
    }

    /// Two jobs, `deals` then `payments`, each one export of
    /// `created_at` in [from, to]. Exports run one at a time (the driver
    /// runs jobs in order).
    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job> {
        [Kind::Deals, Kind::Payments]
            .into_iter()
            .map(|kind| Job {
                entity: kind.name().to_string(),
                window: Some((ctx.from, ctx.to)),
                meta: BTreeMap::from([("kind".to_string(), kind.name().to_string())]),
            })
            .collect()
    }

    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request {
        start_request(ctx, job, 0)
    }

    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError> {
        let attempt = attempt_of(request);
        let is_poll = request.url.contains(EXPORTS_PATH);
        let body = String::from_utf8_lossy(&response.body);
        let json = serde_json::from_slice::<Value>(&response.body);
        let rate_limited = match &json {
            Ok(v) => answer(v).error_message.contains(TOO_MANY_REQUESTS),
            Err(_) => body.contains(TOO_MANY_REQUESTS),
        };
        if rate_limited {
            return Err(retryable(
                "rate limited (\"Слишком много запросов\")",
                Some(RATE_LIMITED_WAIT),
            ));
        }
        if response.status == 429 || response.status >= 500 {
            return Err(retryable(
                format!("HTTP {}", response.status),
                retry_after(response),
            ));
        }
        let json = json.map_err(|e| {
            terminal(format!(
                "HTTP {}: body is not JSON ({e}): {}",
                response.status,
                body.chars().take(200).collect::<String>()
            ))
        })?;
        let a = answer(&json);
        if !(200..300).contains(&response.status) && a.success {
            return Err(terminal(format!("HTTP {}", response.status)));
        }
        if !is_poll {
            if !a.success {
                return Err(terminal(format!("export start failed: {}", describe(&a))));
            }
            let export_id = match a.info.and_then(|i| i.get("export_id")) {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                _ => return Err(terminal("export start: no info.export_id in the answer")),
            };
            return Ok(Step::Wait(
                poll_interval(ctx.account),
                poll_request(ctx, &export_id, attempt),
            ));
        }
        if a.success {
            let info = a.info.unwrap_or(&Value::Null);
            if info.get("items").is_some_and(Value::is_array)
                && info.get("fields").is_some_and(Value::is_array)
            {
                return Ok(Step::Done { watermark: None });
            }
            return Err(terminal(
                "export poll: success without info.fields/info.items",
            ));
        }
        match a.error_code {
            Some(909) | Some(905) => Ok(Step::Wait(poll_interval(ctx.account), request.clone())),
            None if a.error_message.contains("еще не создан")
                || a.error_message.contains("ещё не создан") =>
            {
                Ok(Step::Wait(poll_interval(ctx.account), request.clone()))
            }
            Some(910) if attempt < MAX_RESTARTS => {
                Ok(Step::Next(start_request(ctx, job, attempt + 1)))
            }
            Some(910) => Err(terminal(format!(
                "export expired (910) after {MAX_RESTARTS} restarts: {}",
                a.error_message
            ))),
            _ => Err(terminal(format!("export poll failed: {}", describe(&a)))),
        }
    }

    /// Orders from a ready `deals` export, payments from a ready `payments`
    /// export; any other response (start, not ready, error) gives nothing.
    fn normalize(&self, envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized {
        let mut out = Normalized::default();
        if envelope.status != 200 {
            return out;
        }
        if envelope.entity == "webhook" {
            webhook(envelope, ctx, &mut out);
            return out;
        }
        let kind =
            Kind::from_name(envelope.meta("kind")).or_else(|| Kind::from_name(&envelope.entity));
        let Some(kind) = kind else {
            return out;
        };
        let Ok(bytes) = envelope.body_bytes() else {
            out.rejected.push(ParseError::new(
                SLUG,
                "page",
                "body",
                "body could not be decoded",
            ));
            return out;
        };
        let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
            return out;
        };
        let a = answer(&json);
        let info = a.info.unwrap_or(&Value::Null);
        let (Some(fields), Some(items)) = (
            info.get("fields").and_then(Value::as_array),
            info.get("items").and_then(Value::as_array),
        ) else {
            return out;
        };
        if !a.success {
            return out;
        }
        let table = Table::new(fields);
        let tz = ctx.tz();
        match kind {
            Kind::Deals => deals(&table, items, ctx, tz, &mut out),
            Kind::Payments => payments(&table, items, ctx, tz, &mut out),
        }
        out
    }
}

/// Column positions by name.
struct Table {
    index: HashMap<String, usize>,
    names: Vec<String>,
}

impl Table {
    fn new(fields: &[Value]) -> Table {
        let names: Vec<String> = fields.iter().map(cell_text).collect();
        let mut index = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            index.entry(n.clone()).or_insert(i);
        }
        Table { index, names }
    }

    /// The trimmed text of the named column ("" when absent or empty).
    fn get(&self, row: &[Value], name: &str) -> String {
        self.index
            .get(name)
            .and_then(|&i| row.get(i))
            .map(cell_text)
            .unwrap_or_default()
    }

    /// The first column whose name starts with `prefix`, with the rest of
    /// its name (`"Стоимость, "` → `("Стоимость, RUB", "RUB")`).
    fn with_prefix(&self, prefix: &str) -> Option<(String, String)> {
        self.names
            .iter()
            .find(|n| n.starts_with(prefix))
            .map(|n| (n.clone(), n[prefix.len()..].trim().to_string()))
    }
}

/// A cell as text: strings trimmed, numbers printed, nested arrays (tags)
/// joined with ", ", objects as compact JSON, null as "".
fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => a
            .iter()
            .map(cell_text)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => v.to_string(),
    }
}

fn as_row(item: &Value) -> &[Value] {
    item.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Parses an account-local `YYYY-MM-DD HH:MM:SS` (also without seconds,
/// or `DD.MM.YYYY`) into UTC.
pub fn parse_local_time(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    const FORMATS: [&str; 4] = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
    ];
    if s.is_empty() {
        return Err("missing".into());
    }
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|naive| voronka_core::time::from_local(naive, tz))
        .ok_or_else(|| format!("not a date-time: {s:?}"))
}

/// Parses a GetCourse money string: `"300 руб."`, `"1 500,50 руб."`,
/// `"14900"`, `"99.90 USD"`, `"$ 10"`. Returns the amount and the
/// currency named by a suffix or prefix, if any.
pub fn parse_amount(s: &str) -> Result<(Decimal, Option<String>), String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("missing".into());
    }
    let is_num = |c: char| c.is_ascii_digit() || matches!(c, ',' | '.' | '-' | '+');
    let is_space = |c: char| c.is_whitespace() || c == '\u{a0}' || c == '\u{202f}';
    let start = s
        .find(is_num)
        .ok_or_else(|| format!("no number in {s:?}"))?;
    let end = s
        .char_indices()
        .skip_while(|(i, _)| *i < start)
        .find(|&(_, c)| !(is_num(c) || is_space(c)))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let prefix = s[..start].trim();
    let suffix = s[end..].trim();
    let currency = match (prefix, suffix) {
        ("", "") => None,
        (p, "") => Some(currency_of(p).ok_or_else(|| format!("unknown currency {p:?}"))?),
        ("", x) => Some(currency_of(x).ok_or_else(|| format!("unknown currency {x:?}"))?),
        _ => return Err(format!("not an amount: {s:?}")),
    };
    let mut number: String = s[start..end].chars().filter(|&c| !is_space(c)).collect();
    if number.contains(',') {
        if number.contains('.') {
            return Err(format!("ambiguous decimal separators in {s:?}"));
        }
        number = number.replace(',', ".");
    }
    let value = Decimal::from_str(&number).map_err(|_| format!("not an amount: {s:?}"))?;
    Ok((value, currency))
}

fn currency_of(s: &str) -> Option<String> {
    let lower = s.trim().trim_end_matches('.').to_lowercase();
    let code = match lower.as_str() {
        "руб" | "р" | "₽" | "rub" | "rur" => "RUB",
        "$" | "usd" => "USD",
        "€" | "eur" => "EUR",
        "тг" | "тенге" | "₸" | "kzt" => "KZT",
        "грн" | "₴" | "uah" => "UAH",
        _ if s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase()) => s,
        _ => return None,
    };
    Some(code.to_string())
}

/// Maps a GetCourse order status label (or code) to [`OrderStatus`].
pub fn order_status(label: &str) -> Option<OrderStatus> {
    let l = label.trim().to_lowercase().replace('ё', "е");
    Some(match l.as_str() {
        "новый" | "new" => OrderStatus::New,
        "в работе"
        | "ожидаем оплаты"
        | "ожидает оплаты"
        | "не подтвержден"
        | "отложен"
        | "ожидаем возврата"
        | "ожидает возврата"
        | "in_work"
        | "payment_waiting"
        | "not_confirmed"
        | "pending"
        | "waiting_for_return" => OrderStatus::InProgress,
        "частично оплачен" | "part_payed" => OrderStatus::PartPaid,
        "завершен" | "оплачен" | "payed" => OrderStatus::Paid,
        "отменен" | "cancelled" => OrderStatus::Cancelled,
        "ложный" | "false" => OrderStatus::False,
        _ => return None,
    })
}

/// Maps a payment status label (or code) to [`PaymentStatus`].
pub fn payment_status(label: &str) -> PaymentStatus {
    let l = label.trim().to_lowercase().replace('ё', "е");
    match l.as_str() {
        "получен" | "accepted" => PaymentStatus::Received,
        "возвращен" | "returned" => PaymentStatus::Refunded,
        "ожидается" | "expected" => PaymentStatus::Expected,
        _ => PaymentStatus::Other,
    }
}

fn deals(t: &Table, items: &[Value], ctx: &NormalizeContext<'_>, tz: Tz, out: &mut Normalized) {
    let Some((cost_col, header_currency)) = t.with_prefix("Стоимость, ") else {
        out.rejected.push(ParseError::new(
            SLUG,
            "page",
            "Стоимость, <CUR>",
            "the export has no cost column, so no currency: every order of this page is rejected",
        ));
        return;
    };
    let header_currency = currency_of(&header_currency).unwrap_or(header_currency);
    let crm_field = option_str(ctx.account, "crm_deal_field");
    for (i, item) in items.iter().enumerate() {
        let row = as_row(item);
        let id = t.get(row, "ID заказа");
        let record = if id.is_empty() {
            format!("row {}", i + 1)
        } else {
            id.clone()
        };
        let err =
            |field: &str, reason: String| ParseError::new(SLUG, record.clone(), field, reason);
        if id.is_empty() {
            out.rejected
                .push(err("ID заказа", "missing order id".into()));
            continue;
        }
        let created_at = match parse_local_time(&t.get(row, "Дата создания"), tz) {
            Ok(at) => at,
            Err(e) => {
                out.rejected.push(err("Дата создания", e));
                continue;
            }
        };
        let cost_text = t.get(row, &cost_col);
        // An empty cost is an absent value: GetCourse leaves it empty on
        // free orders; revenue comes from payments, not from this figure.
        let cost = if cost_text.is_empty() {
            Decimal::ZERO
        } else {
            match parse_amount(&cost_text) {
                Ok((v, None)) => v,
                Ok((v, Some(c))) if c == header_currency => v,
                Ok((_, Some(c))) => {
                    out.rejected.push(err(
                        &cost_col,
                        format!("amount in {c} under a {header_currency} header"),
                    ));
                    continue;
                }
                Err(e) => {
                    out.rejected.push(err(&cost_col, e));
                    continue;
                }
            }
        };
        let label = t.get(row, "Статус");
        let Some(status) = order_status(&label) else {
            out.rejected
                .push(err("Статус", format!("unknown order status {label:?}")));
            continue;
        };
        out.records.push(Record::Order(Order {
            source: SLUG.to_string(),
            account: ctx.account.id.clone(),
            id,
            number: t.get(row, "Номер"),
            created_at,
            name: t.get(row, "Пользователь"),
            email: t.get(row, "Email"),
            phone: t.get(row, "Телефон"),
            cost,
            currency: header_currency.clone(),
            status,
            product: t.get(row, "Состав заказа"),
            manager: t.get(row, "Менеджер"),
            crm_deal_id: crm_field.map(|f| t.get(row, f)).unwrap_or_default(),
            utm: Utm {
                source: t.get(row, "utm_source"),
                medium: t.get(row, "utm_medium"),
                campaign: t.get(row, "utm_campaign"),
                content: t.get(row, "utm_content"),
                term: t.get(row, "utm_term"),
            },
        }));
    }
}

fn payments(t: &Table, items: &[Value], ctx: &NormalizeContext<'_>, tz: Tz, out: &mut Normalized) {
    for (i, item) in items.iter().enumerate() {
        let row = as_row(item);
        let id = t.get(row, "Номер");
        let record = if id.is_empty() {
            format!("row {}", i + 1)
        } else {
            id.clone()
        };
        let err =
            |field: &str, reason: String| ParseError::new(SLUG, record.clone(), field, reason);
        if id.is_empty() {
            out.rejected
                .push(err("Номер", "missing payment number".into()));
            continue;
        }
        let paid_at = match parse_local_time(&t.get(row, "Дата создания"), tz) {
            Ok(at) => at,
            Err(e) => {
                out.rejected.push(err("Дата создания", e));
                continue;
            }
        };
        let (amount, currency) = match parse_amount(&t.get(row, "Сумма")) {
            Ok(v) => v,
            Err(e) => {
                out.rejected.push(err("Сумма", e));
                continue;
            }
        };
        let status = payment_status(&t.get(row, "Статус"));
        let amount = match status {
            PaymentStatus::Refunded => -amount.abs(),
            _ => amount,
        };
        out.records.push(Record::Payment(Payment {
            source: SLUG.to_string(),
            account: ctx.account.id.clone(),
            id,
            order_number: t.get(row, "Заказ"),
            paid_at,
            amount,
            currency: currency.unwrap_or_else(|| "RUB".to_string()),
            status,
            name: t.get(row, "Пользователь"),
            email: t.get(row, "Email"),
            phone: t.get(row, "Телефон"),
        }));
    }
}

/// The path the webhook receiver is expected to serve (recorded in `raw/`).
pub const WEBHOOK_PATH: &str = "/getcourse/webhook";

/// Builds the raw-zone envelope of one webhook delivery: a new-API event
/// array (POST body) or a process callback (data in the query string, GET
/// or POST).
///
/// `query_without_token` is the request's query string with the token
/// already removed; any credential-like parameter still there is recorded
/// as `***`. The query is kept in `request.url` (the callback's data), the
/// method in `request.method`, the content type as the `content-type`
/// header, the body byte-exact; status 200 ("accepted").
#[allow(clippy::too_many_arguments)]
pub fn webhook_envelope(
    account: &str,
    method: &str,
    query_without_token: &str,
    content_type: &str,
    body: &[u8],
    received_at: DateTime<Utc>,
    run: &str,
    seq: u64,
) -> RawEnvelope {
    let query = crate::tilda::redact_query(query_without_token.trim_start_matches('?'));
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
        request: crate::raw::RawRequest {
            method: method.to_ascii_uppercase(),
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

const DEAL_EVENTS: [&str; 3] = [
    "getcourse/dealCreated",
    "getcourse/dealPaid",
    "getcourse/dealStatusChanged",
];

/// A scalar as text: strings trimmed, numbers printed, null/absent "".
fn scalar(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// A money value: a JSON number (exactly as written) or a string such as
/// `"14900"`, `"14 900 руб."`; with the currency a string names.
fn money(v: &Value) -> Result<(Decimal, Option<String>), String> {
    match v {
        Value::Number(n) => {
            let s = n.to_string();
            Decimal::from_str(&s)
                .or_else(|_| Decimal::from_scientific(&s))
                .map(|d| (d, None))
                .map_err(|_| format!("not an amount: {s}"))
        }
        Value::String(s) => parse_amount(s),
        Value::Null => Err("missing".into()),
        other => Err(format!("not an amount: {other}")),
    }
}

/// `isPayed`: a bool, 0/1, or their strings.
fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => Some(true),
            "0" | "false" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An instant: RFC 3339 (`2026-01-15T09:00:00Z`), else account-local
/// `YYYY-MM-DD HH:MM[:SS]` / `DD.MM.YYYY HH:MM[:SS]`.
fn instant(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Ok(voronka_core::time::from_local(naive, tz));
    }
    parse_local_time(s, tz)
}

/// The account currency for deliveries that name none (default RUB).
fn default_currency(ctx: &NormalizeContext<'_>) -> String {
    ctx.account
        .currency
        .clone()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "RUB".to_string())
}

fn webhook(envelope: &RawEnvelope, ctx: &NormalizeContext<'_>, out: &mut Normalized) {
    let delivery = format!("webhook {}-{}", envelope.run, envelope.seq);
    let bytes = match envelope.body_bytes() {
        Ok(b) => b,
        Err(e) => {
            out.rejected
                .push(ParseError::new(SLUG, delivery, "body", e));
            return;
        }
    };
    let trimmed = bytes.trim_ascii();
    if trimmed.starts_with(b"[") || trimmed.starts_with(b"{") {
        match serde_json::from_slice::<Value>(trimmed) {
            Ok(Value::Array(events)) => deal_events(&events, ctx, out),
            Ok(event @ Value::Object(_)) => deal_events(std::slice::from_ref(&event), ctx, out),
            Ok(other) => out.rejected.push(ParseError::new(
                SLUG,
                delivery,
                "body",
                format!("expected an array of events, got {other}"),
            )),
            Err(e) => out.rejected.push(ParseError::new(
                SLUG,
                delivery,
                "body",
                format!("not JSON: {e}"),
            )),
        }
        return;
    }
    callback(envelope, &bytes, ctx, &delivery, out);
}

/// New-API events → orders, the latest event per deal only.
fn deal_events(events: &[Value], ctx: &NormalizeContext<'_>, out: &mut Normalized) {
    let tz = ctx.tz();
    // deal id -> ((ts, position), order)
    type Rank = (Option<DateTime<Utc>>, usize);
    let mut kept: BTreeMap<String, (Rank, Order)> = BTreeMap::new();
    for (i, event) in events.iter().enumerate() {
        let deal = event.get("deal");
        let id = scalar(deal.and_then(|d| d.get("id")));
        let record = if id.is_empty() {
            format!("event {}", i + 1)
        } else {
            format!("deal {id}")
        };
        let err =
            |field: &str, reason: String| ParseError::new(SLUG, record.clone(), field, reason);
        let kind = scalar(event.get("eventType"));
        if !DEAL_EVENTS.contains(&kind.as_str()) {
            out.rejected.push(err(
                "eventType",
                format!("unknown event type {kind:?} (expected a getcourse/deal… event)"),
            ));
            continue;
        }
        let Some(deal) = deal.filter(|d| d.is_object()) else {
            out.rejected.push(err("deal", "missing deal object".into()));
            continue;
        };
        if id.is_empty() {
            out.rejected.push(err("deal.id", "missing deal id".into()));
            continue;
        }
        let created = scalar(deal.get("createdAt"));
        let created_at = match instant(&created, tz) {
            Ok(t) => t,
            Err(e) => {
                out.rejected.push(err("deal.createdAt", e));
                continue;
            }
        };
        let status_code = scalar(deal.get("status"));
        let status = if status_code.is_empty() {
            match deal.get("isPayed").and_then(flag) {
                Some(true) => Some(OrderStatus::Paid),
                _ => None,
            }
        } else {
            order_status(&status_code)
        };
        let Some(status) = status else {
            out.rejected.push(err(
                "deal.status",
                format!("unknown or missing deal status {status_code:?}"),
            ));
            continue;
        };
        let (cost, named) = match deal.get("cost") {
            None | Some(Value::Null) => (Decimal::ZERO, None),
            Some(v) => match money(v) {
                Ok(m) => m,
                Err(e) => {
                    out.rejected.push(err("deal.cost", e));
                    continue;
                }
            },
        };
        let currency = scalar(deal.get("currency"));
        let currency = match (currency.is_empty(), named) {
            (false, Some(n)) if !n.eq_ignore_ascii_case(&currency) => {
                out.rejected.push(err(
                    "deal.cost",
                    format!("amount in {n} but deal.currency is {currency}"),
                ));
                continue;
            }
            (false, _) => currency.to_ascii_uppercase(),
            (true, Some(n)) => n,
            (true, None) => default_currency(ctx),
        };
        let user = event.get("user");
        let user_field = |k: &str| scalar(user.and_then(|u| u.get(k)));
        let name = {
            let n = user_field("name");
            if n.is_empty() {
                join_name(&user_field("first_name"), &user_field("last_name"))
            } else {
                n
            }
        };
        let ts = event
            .get("ts")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| {
                event
                    .get("ts64")
                    .and_then(Value::as_i64)
                    .and_then(|s| DateTime::from_timestamp(s, 0))
            });
        let order = Order {
            source: SLUG.to_string(),
            account: ctx.account.id.clone(),
            id: id.clone(),
            number: scalar(deal.get("number")),
            created_at,
            name,
            email: user_field("email"),
            phone: user_field("phone"),
            cost,
            currency,
            status,
            product: String::new(),
            manager: String::new(),
            crm_deal_id: String::new(),
            utm: Utm::default(),
        };
        let rank = (ts, i);
        match kept.get(&id) {
            Some((prev, _)) if *prev > rank => {}
            _ => {
                kept.insert(id, (rank, order));
            }
        }
    }
    let mut orders: Vec<_> = kept.into_values().collect();
    orders.sort_by_key(|((_, i), _)| *i);
    out.records
        .extend(orders.into_iter().map(|(_, o)| Record::Order(o)));
}

fn join_name(first: &str, last: &str) -> String {
    [first, last]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A process callback ("Вызвать URL") → one order.
fn callback(
    envelope: &RawEnvelope,
    body: &[u8],
    ctx: &NormalizeContext<'_>,
    delivery: &str,
    out: &mut Normalized,
) {
    let query = envelope
        .request
        .url
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("");
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes())
        .chain(url::form_urlencoded::parse(body.trim_ascii()))
    {
        fields
            .entry(k.trim().to_string())
            .or_insert_with(|| v.trim().to_string());
    }
    if fields.is_empty() {
        out.rejected.push(ParseError::new(
            SLUG,
            delivery,
            "query",
            "empty delivery: no query parameters and no body",
        ));
        return;
    }
    // A variable GetCourse could not fill stays as written: `{object.id}`.
    let unfilled = |v: &str| v.starts_with('{') && v.ends_with('}');
    let get = |k: &str| -> Result<Option<&str>, String> {
        match fields.get(k).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(v) if unfilled(v) => Err(format!("template variable {v} was not filled in")),
            Some(v) => Ok(Some(v)),
        }
    };
    let first = |keys: &[&str]| -> Result<Option<(String, String)>, (String, String)> {
        for k in keys {
            match get(k) {
                Ok(Some(v)) => return Ok(Some((k.to_string(), v.to_string()))),
                Ok(None) => {}
                Err(e) => return Err((k.to_string(), e)),
            }
        }
        Ok(None)
    };
    let id = match first(&["deal_id", "id"]) {
        Ok(Some((_, v))) => v,
        Ok(None) => {
            out.rejected.push(ParseError::new(
                SLUG,
                delivery,
                "deal_id",
                "missing: add deal_id={object.id} to the callback URL",
            ));
            return;
        }
        Err((k, e)) => {
            out.rejected.push(ParseError::new(SLUG, delivery, k, e));
            return;
        }
    };
    let record = format!("deal {id}");
    let err = |field: &str, reason: String| ParseError::new(SLUG, record.clone(), field, reason);
    let optional = |k: &str| get(k).ok().flatten().unwrap_or("").to_string();
    let status = match first(&["status"]) {
        Ok(Some((_, label))) => match order_status(&label) {
            Some(s) => s,
            None => {
                out.rejected
                    .push(err("status", format!("unknown deal status {label:?}")));
                return;
            }
        },
        Ok(None) => {
            out.rejected.push(err(
                "status",
                "missing: add status={object.status} to the callback URL".into(),
            ));
            return;
        }
        Err((k, e)) => {
            out.rejected.push(err(&k, e));
            return;
        }
    };
    let (cost_key, cost_text) = match first(&["cost_money_value", "cost", "cost_money"]) {
        Ok(Some(kv)) => kv,
        Ok(None) => {
            out.rejected.push(err(
                "cost_money_value",
                "missing: add cost_money_value={object.cost_money_value} (or cost) to the callback URL"
                    .into(),
            ));
            return;
        }
        Err((k, e)) => {
            out.rejected.push(err(&k, e));
            return;
        }
    };
    let (cost, named) = match parse_amount(&cost_text) {
        Ok(m) => m,
        Err(e) => {
            out.rejected.push(err(&cost_key, e));
            return;
        }
    };
    let currency = optional("currency");
    let currency = match (currency.is_empty(), named) {
        (false, Some(n)) if !n.eq_ignore_ascii_case(&currency) => {
            out.rejected.push(err(
                &cost_key,
                format!("amount in {n} but currency is {currency}"),
            ));
            return;
        }
        (false, _) => currency.to_ascii_uppercase(),
        (true, Some(n)) => n,
        (true, None) => default_currency(ctx),
    };
    let created_at = match get("created_at") {
        Ok(Some(s)) => match instant(s, ctx.tz()) {
            Ok(t) => t,
            Err(e) => {
                out.rejected.push(err("created_at", e));
                return;
            }
        },
        Ok(None) => envelope.received_at,
        Err(e) => {
            out.rejected.push(err("created_at", e));
            return;
        }
    };
    let name = {
        let n = optional("name");
        if n.is_empty() {
            join_name(&optional("first_name"), &optional("last_name"))
        } else {
            n
        }
    };
    out.records.push(Record::Order(Order {
        source: SLUG.to_string(),
        account: ctx.account.id.clone(),
        id,
        number: optional("number"),
        created_at,
        name,
        email: optional("email"),
        phone: optional("phone"),
        cost,
        currency,
        status,
        product: optional("positions"),
        manager: String::new(),
        crm_deal_id: String::new(),
        utm: Utm::default(),
    }));
}
