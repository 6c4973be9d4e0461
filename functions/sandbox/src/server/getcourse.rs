//! GetCourse legacy export API: start an export, poll it until ready.

use super::{Req, Shared, json};
use crate::model::{Order, Payment, msk_date, to_msk};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration as StdDuration, Instant};

const CT: &str = "application/json; charset=utf-8";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ExportKind {
    Deals,
    Payments,
}

struct Export {
    kind: ExportKind,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    polls: u32,
}

pub(crate) struct GcState {
    next_id: u64,
    exports: HashMap<u64, Export>,
    recent: VecDeque<Instant>,
}

impl GcState {
    pub fn new() -> GcState {
        GcState {
            next_id: 5_100_000,
            exports: HashMap::new(),
            recent: VecDeque::new(),
        }
    }
}

fn error(message: &str, code: Option<u32>) -> Response {
    let mut v = json!({"success": false, "error": true, "error_message": message});
    if let Some(c) = code {
        v["error_code"] = json!(c);
    }
    json(200, CT, &v)
}

/// Parameters from the query string, and from a form body (GetCourse
/// accepts `key` by POST too).
fn param(req: &Req, name: &str) -> Option<String> {
    if let Some(v) = req.q(name) {
        return Some(v.to_string());
    }
    url::form_urlencoded::parse(&req.body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn date_param(req: &Req, name: &str) -> Result<Option<NaiveDate>, Response> {
    match param(req, name) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
            .map(Some)
            .map_err(|_| error(&format!("Неверный формат даты в параметре {name}"), None)),
    }
}

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    let mut st = sh.getcourse.lock().expect("getcourse state");
    let now = Instant::now();
    let window = StdDuration::from_secs(2 * 3600);
    while st
        .recent
        .front()
        .is_some_and(|t| now.duration_since(*t) > window)
    {
        st.recent.pop_front();
    }
    st.recent.push_back(now);
    if st.recent.len() > sh.opts.getcourse_request_limit as usize {
        return error("Слишком много запросов", None);
    }
    if param(req, "key").as_deref() != Some(super::GETCOURSE_KEY) {
        return error("Неверный ключ доступа", None);
    }
    let path = req.path.trim_end_matches('/');
    let kind = match path {
        "/pl/api/account/deals" => Some(ExportKind::Deals),
        "/pl/api/account/payments" => Some(ExportKind::Payments),
        _ => None,
    };
    if let Some(kind) = kind {
        let from = match date_param(req, "created_at[from]") {
            Ok(d) => d,
            Err(r) => return r,
        };
        let to = match date_param(req, "created_at[to]") {
            Ok(d) => d,
            Err(r) => return r,
        };
        st.next_id += 1;
        let id = st.next_id;
        st.exports.insert(
            id,
            Export {
                kind,
                from,
                to,
                polls: 0,
            },
        );
        return json(
            200,
            CT,
            &json!({"success": true, "info": {"export_id": id}}),
        );
    }
    if let Some(id) = path.strip_prefix("/pl/api/account/exports/") {
        let Some(export) = id
            .parse::<u64>()
            .ok()
            .and_then(|id| st.exports.get_mut(&id))
        else {
            return error("Файл не создан, попробуйте другой фильтр", Some(910));
        };
        export.polls += 1;
        if export.polls <= sh.opts.getcourse_not_ready_polls {
            return error("Файл еще не создан", Some(909));
        }
        let (kind, from, to) = (export.kind, export.from, export.to);
        drop(st);
        let in_range = |d: NaiveDate| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t);
        let info = match kind {
            ExportKind::Deals => deals(sh, &in_range),
            ExportKind::Payments => payments(sh, &in_range),
        };
        return json(200, CT, &json!({"success": true, "info": info}));
    }
    error("Неизвестный метод API", None)
}

fn dt(t: DateTime<Utc>) -> String {
    to_msk(t).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn money(d: Decimal) -> String {
    d.normalize().to_string()
}

pub const DEAL_FIELDS: [&str; 21] = [
    "ID заказа",
    "Номер",
    "ID пользователя",
    "Пользователь",
    "Email",
    "Телефон",
    "Дата создания",
    "Дата оплаты",
    "Состав заказа",
    "Статус",
    "Стоимость, RUB",
    "Оплачено",
    "Получено",
    "Менеджер",
    "ID сделки amoCRM",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "Теги",
];

pub const PAYMENT_FIELDS: [&str; 12] = [
    "Номер",
    "Пользователь",
    "Email",
    "Заказ",
    "Дата создания",
    "Тип",
    "Статус",
    "Сумма",
    "Комиссии",
    "Получено",
    "Код платежа",
    "Название",
];

fn deal_row(o: &Order) -> Value {
    json!([
        o.id.to_string(),
        o.number.to_string(),
        o.gc_user_id.to_string(),
        o.user_name,
        o.email,
        o.phone,
        dt(o.created_at),
        o.paid_at.map(dt).unwrap_or_default(),
        o.product,
        o.status,
        money(o.cost),
        money(o.paid),
        money(o.received),
        o.manager,
        if o.deal_id_in_export {
            o.deal_id.map(|d| d.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        o.utm_source,
        o.utm_medium,
        o.utm_campaign,
        o.utm_content,
        o.utm_term,
        o.tags,
    ])
}

fn deals(sh: &Shared, in_range: &dyn Fn(NaiveDate) -> bool) -> Value {
    let items: Vec<Value> = sh
        .school
        .orders
        .iter()
        .filter(|o| in_range(msk_date(o.created_at)))
        .map(deal_row)
        .collect();
    json!({"fields": DEAL_FIELDS, "items": items})
}

fn rub(d: Decimal) -> String {
    format!("{} руб.", money(d))
}

fn payment_row(p: &Payment) -> Value {
    let received = if p.status == crate::model::PaymentStatus::Received {
        p.amount - p.commission
    } else {
        Decimal::ZERO
    };
    json!([
        p.number.to_string(),
        p.user_name,
        p.email,
        p.order_number.to_string(),
        dt(p.created_at),
        p.method,
        p.status.label(),
        rub(p.amount),
        rub(p.commission),
        rub(received),
        p.code,
        p.title,
    ])
}

fn payments(sh: &Shared, in_range: &dyn Fn(NaiveDate) -> bool) -> Value {
    let mut items = Vec::new();
    for p in &sh.school.payments {
        let d = msk_date(p.created_at);
        if in_range(d) {
            items.push(payment_row(p));
            if p.duplicated_in_export {
                items.push(payment_row(p));
            }
        } else if p.duplicated_in_export && in_range(d + Duration::days(1)) {
            items.push(payment_row(p));
        }
    }
    json!({"fields": PAYMENT_FIELDS, "items": items})
}
