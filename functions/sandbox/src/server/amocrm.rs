//! amoCRM API v4 (HAL JSON, page/limit paging, 204 when empty).

use super::{Req, Shared, empty, json, with_param};
use crate::model::{Contact, Deal, StatusEvent, User};
use axum::http::Method;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const HAL: &str = "application/hal+json";
const PROBLEM: &str = "application/problem+json";

const F_UTM_SOURCE: u64 = 1_001_841;
const F_UTM_MEDIUM: u64 = 1_001_843;
const F_UTM_CAMPAIGN: u64 = 1_001_845;
const F_UTM_CONTENT: u64 = 1_001_847;
const F_QUIZ: u64 = 1_002_001;
const F_PHONE: u64 = 1_001_801;
const F_PHONE_WORK: u64 = 1_001_803;
const F_EMAIL: u64 = 1_001_805;
const F_EMAIL_WORK: u64 = 1_001_807;

fn problem(status: u16, title: &str, detail: &str) -> Response {
    json(
        status,
        PROBLEM,
        &json!({"title": title, "type": format!("https://httpstatus.es/{status}"), "status": status, "detail": detail}),
    )
}

fn validation(path: &str, detail: &str) -> Response {
    json(
        400,
        PROBLEM,
        &json!({
            "validation-errors": [{"request_id": "0", "errors": [{"code": "InvalidValue", "path": path, "detail": detail}]}],
            "title": "Bad Request",
            "type": "https://httpstatus.es/400",
            "status": 400,
            "detail": "Request validation failed"
        }),
    )
}

/// OAuth 2.0 state: the one live refresh token and every access token
/// issued so far (an access token lives until the sandbox stops).
pub(crate) struct OAuthState {
    refresh: String,
    access: Vec<String>,
    issued: u64,
}

impl OAuthState {
    pub fn new() -> OAuthState {
        OAuthState {
            refresh: super::AMOCRM_REFRESH_TOKEN.to_string(),
            access: Vec::new(),
            issued: 0,
        }
    }
}

fn oauth_problem(status: u16, hint: &str, detail: &str) -> Response {
    json(
        status,
        PROBLEM,
        &json!({
            "hint": hint,
            "title": "Некорректный запрос",
            "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
            "status": status,
            "detail": detail
        }),
    )
}

/// `POST /oauth2/access_token` (JSON or form body): `authorization_code`
/// or `refresh_token`; each refresh rotates the pair.
fn access_token(sh: &Shared, req: &Req) -> Response {
    if req.method != Method::POST {
        return problem(405, "Method Not Allowed", "Method Not Allowed");
    }
    let form = req.form();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if get("client_id") != super::AMOCRM_CLIENT_ID
        || get("client_secret") != super::AMOCRM_CLIENT_SECRET
    {
        return oauth_problem(
            401,
            "Check the `client_id` parameter",
            "Client authentication failed",
        );
    }
    let mut st = sh.amocrm_oauth.lock().expect("oauth state");
    match get("grant_type") {
        "authorization_code" => {
            if get("code") != super::AMOCRM_AUTH_CODE {
                return oauth_problem(
                    400,
                    "Cannot decrypt the authorization code",
                    "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
                );
            }
        }
        "refresh_token" => {
            if get("refresh_token") != st.refresh {
                return oauth_problem(
                    400,
                    "Token has been revoked",
                    "The refresh token is invalid.",
                );
            }
        }
        _ => {
            return oauth_problem(
                400,
                "Check the `grant_type` parameter",
                "The authorization grant type is not supported by the authorization server.",
            );
        }
    }
    st.issued += 1;
    let n = st.issued;
    let access = format!("sandbox-amocrm-access-{n}");
    st.refresh = format!("sandbox-amocrm-refresh-{n}");
    st.access.push(access.clone());
    json(
        200,
        "application/json",
        &json!({
            "token_type": "Bearer",
            "expires_in": 86400,
            "access_token": access,
            "refresh_token": st.refresh,
        }),
    )
}

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    if req.path.trim_end_matches('/') == "/oauth2/access_token" {
        return access_token(sh, req);
    }
    let authorized = match req.bearer() {
        Some(t) if t == super::AMOCRM_TOKEN => true,
        Some(t) => sh
            .amocrm_oauth
            .lock()
            .expect("oauth state")
            .access
            .iter()
            .any(|a| a == t),
        None => false,
    };
    if !authorized {
        return problem(401, "Unauthorized", "Unauthorized");
    }
    if req.method != Method::GET {
        return problem(405, "Method Not Allowed", "Method Not Allowed");
    }
    match req.path.trim_end_matches('/') {
        "/api/v4/leads" => list(sh, req, Kind::Leads),
        "/api/v4/contacts" => list(sh, req, Kind::Contacts),
        "/api/v4/users" => list(sh, req, Kind::Users),
        "/api/v4/events" => list(sh, req, Kind::Events),
        "/api/v4/leads/pipelines" => pipelines(sh),
        _ => problem(404, "Not Found", "Not Found"),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Leads,
    Contacts,
    Users,
    Events,
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn int_param(req: &Req, name: &str) -> Result<Option<i64>, Response> {
    match req.q(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| validation(name, "This value should be of type int.")),
    }
}

/// (from, to) inclusive unix bounds of `filter[<field>]`.
fn range(req: &Req, field: &str) -> Result<(i64, i64), Response> {
    let from = int_param(req, &format!("filter[{field}][from]"))?.unwrap_or(i64::MIN);
    let to = int_param(req, &format!("filter[{field}][to]"))?.unwrap_or(i64::MAX);
    Ok((from, to))
}

fn list(sh: &Shared, req: &Req, kind: Kind) -> Response {
    let max = if kind == Kind::Events { 100 } else { 250 };
    let page = match int_param(req, "page") {
        Ok(p) => p.unwrap_or(1),
        Err(r) => return r,
    };
    let limit = match int_param(req, "limit") {
        Ok(l) => l.unwrap_or(50),
        Err(r) => return r,
    };
    if limit < 1 || limit > max {
        return validation(
            "limit",
            &format!("This value should be between 1 and {max}."),
        );
    }
    if page < 1 {
        return validation("page", "This value should be greater than 0.");
    }
    let school = &sh.school;
    // (sort keys, json) of the matching items
    let mut items: Vec<(i64, i64, u64, usize)> = Vec::new();
    let with = req.q("with").unwrap_or("");
    let base = format!("{}/amocrm", sh.base);
    let order = order_of(req);
    match kind {
        Kind::Leads | Kind::Contacts => {
            let (uf, ut) = match range(req, "updated_at") {
                Ok(r) => r,
                Err(r) => return r,
            };
            let (cf, ct) = match range(req, "created_at") {
                Ok(r) => r,
                Err(r) => return r,
            };
            let ids: Vec<u64> = id_filter(req);
            let keep = |id: u64, c: i64, u: i64| {
                (uf..=ut).contains(&u)
                    && (cf..=ct).contains(&c)
                    && (ids.is_empty() || ids.contains(&id))
            };
            if kind == Kind::Leads {
                for (i, d) in school.deals.iter().enumerate() {
                    let (c, u) = (ts(d.created_at), ts(d.updated_at));
                    if keep(d.id, c, u) {
                        items.push((c, u, d.id, i));
                    }
                }
            } else {
                for (i, ct_) in school.contacts.iter().enumerate() {
                    let (c, u) = (ts(ct_.created_at), ts(ct_.updated_at));
                    if keep(ct_.id, c, u) {
                        items.push((c, u, ct_.id, i));
                    }
                }
            }
        }
        Kind::Users => {
            for (i, u) in school.users.iter().enumerate() {
                items.push((0, 0, u.id, i));
            }
        }
        Kind::Events => {
            let (cf, ct) = match range(req, "created_at") {
                Ok(r) => r,
                Err(r) => return r,
            };
            let types_ok = req
                .q("filter[type]")
                .map(|t| t.split(',').any(|x| x.trim() == "lead_status_changed"))
                .unwrap_or(true);
            let entity_ok = req.q("filter[entity]").map(|e| e == "lead").unwrap_or(true);
            let ids: Vec<u64> = req
                .query
                .iter()
                .filter(|(k, _)| k.starts_with("filter[entity_id]"))
                .filter_map(|(_, v)| v.parse().ok())
                .collect();
            if types_ok && entity_ok {
                for (i, e) in school.events.iter().enumerate() {
                    let c = ts(e.created_at);
                    if (cf..=ct).contains(&c) && (ids.is_empty() || ids.contains(&e.deal_id)) {
                        items.push((c, c, i as u64, i));
                    }
                }
            }
        }
    }
    match order {
        Order::Updated(desc) => {
            items.sort_by_key(|i| (i.1, i.2));
            if desc {
                items.reverse();
            }
        }
        Order::Created(desc) => {
            items.sort_by_key(|i| (i.0, i.2));
            if desc {
                items.reverse();
            }
        }
        Order::Id(desc) => {
            items.sort_by_key(|i| i.2);
            if desc {
                items.reverse();
            }
        }
    }
    let offset = ((page - 1) * limit) as usize;
    if offset >= items.len() {
        return empty(204);
    }
    let end = (offset + limit as usize).min(items.len());
    let page_items: Vec<Value> = items[offset..end]
        .iter()
        .map(|&(_, _, _, i)| match kind {
            Kind::Leads => lead_json(sh, &base, &school.deals[i], with),
            Kind::Contacts => contact_json(sh, &base, &school.contacts[i]),
            Kind::Users => user_json(&base, &school.users[i]),
            Kind::Events => event_json(sh, &base, &school.events[i]),
        })
        .collect();
    let key = match kind {
        Kind::Leads => "leads",
        Kind::Contacts => "contacts",
        Kind::Users => "users",
        Kind::Events => "events",
    };
    let here = format!("{base}{}", req.path);
    let mut links = json!({"self": {"href": format!("{here}?{}", with_param(&req.query, "page", &page.to_string()))}});
    if end < items.len() {
        links["next"] = json!({"href": format!("{here}?{}", with_param(&req.query, "page", &(page + 1).to_string()))});
    }
    if page > 1 {
        links["first"] = json!({"href": format!("{here}?{}", with_param(&req.query, "page", "1"))});
        links["prev"] = json!({"href": format!("{here}?{}", with_param(&req.query, "page", &(page - 1).to_string()))});
    }
    let mut embedded = serde_json::Map::new();
    embedded.insert(key.to_string(), Value::Array(page_items));
    json(
        200,
        HAL,
        &json!({"_page": page, "_links": links, "_embedded": embedded}),
    )
}

enum Order {
    Updated(bool),
    Created(bool),
    Id(bool),
}

fn order_of(req: &Req) -> Order {
    for (k, v) in &req.query {
        let desc = v.eq_ignore_ascii_case("desc");
        match k.as_str() {
            "order[updated_at]" => return Order::Updated(desc),
            "order[created_at]" => return Order::Created(desc),
            "order[id]" => return Order::Id(desc),
            _ => {}
        }
    }
    Order::Id(false)
}

fn id_filter(req: &Req) -> Vec<u64> {
    req.query
        .iter()
        .filter(|(k, _)| k == "filter[id]" || k.starts_with("filter[id]["))
        .flat_map(|(_, v)| {
            v.split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect()
}

fn link(href: String) -> Value {
    json!({"self": {"href": href}})
}

fn tracking(field_id: u64, name: &str, code: &str, v: &Option<String>) -> Option<Value> {
    v.as_ref().map(|v| {
        json!({"field_id": field_id, "field_name": name, "field_code": code, "field_type": "tracking_data", "values": [{"value": v}]})
    })
}

fn lead_json(sh: &Shared, base: &str, d: &Deal, with: &str) -> Value {
    let mut cf: Vec<Value> = [
        tracking(F_UTM_SOURCE, "utm_source", "UTM_SOURCE", &d.utm_source),
        tracking(F_UTM_MEDIUM, "utm_medium", "UTM_MEDIUM", &d.utm_medium),
        tracking(
            F_UTM_CAMPAIGN,
            "utm_campaign",
            "UTM_CAMPAIGN",
            &d.utm_campaign,
        ),
        tracking(F_UTM_CONTENT, "utm_content", "UTM_CONTENT", &d.utm_content),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(q) = d.quiz_score {
        cf.push(json!({"field_id": F_QUIZ, "field_name": "Баллы теста", "field_code": null, "field_type": "numeric", "values": [{"value": q.to_string()}]}));
    }
    let mut embedded = json!({"tags": [], "companies": []});
    let withs: Vec<&str> = with.split(',').map(str::trim).collect();
    if withs.contains(&"contacts") {
        embedded["contacts"] = json!([{
            "id": d.contact_id,
            "is_main": true,
            "_links": link(format!("{base}/api/v4/contacts/{}", d.contact_id)),
        }]);
    }
    if withs.contains(&"loss_reason") {
        embedded["loss_reason"] = match d.loss_reason_id {
            Some(id) => json!([{
                "id": id,
                "name": match id { 5_001 => "Дорого", 5_002 => "Не выходит на связь", _ => "Купил у конкурентов" },
                "sort": (id - 5_000) * 10,
                "created_at": 1_700_000_000,
                "updated_at": 1_700_000_000,
                "_links": link(format!("{base}/api/v4/leads/loss_reasons/{id}")),
            }]),
            None => json!([]),
        };
    }
    json!({
        "id": d.id,
        "name": d.name,
        "price": d.price,
        "responsible_user_id": d.responsible_user_id,
        "group_id": 0,
        "status_id": d.status_id,
        "pipeline_id": d.pipeline_id,
        "loss_reason_id": d.loss_reason_id,
        "created_by": if d.registration_id.is_some() { 0 } else { d.responsible_user_id },
        "updated_by": d.responsible_user_id,
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "closed_at": d.closed_at.map(ts),
        "closest_task_at": null,
        "is_deleted": false,
        "custom_fields_values": if cf.is_empty() { Value::Null } else { Value::Array(cf) },
        "score": null,
        "account_id": sh.school.amocrm_account_id,
        "labor_cost": null,
        "_links": link(format!("{base}/api/v4/leads/{}", d.id)),
        "_embedded": embedded,
    })
}

fn contact_json(sh: &Shared, base: &str, c: &Contact) -> Value {
    let mut cf = Vec::new();
    if !c.phones.is_empty() {
        let values: Vec<Value> = c
            .phones
            .iter()
            .map(|p| json!({"value": p, "enum_id": F_PHONE_WORK, "enum_code": "WORK"}))
            .collect();
        cf.push(json!({"field_id": F_PHONE, "field_name": "Телефон", "field_code": "PHONE", "field_type": "multitext", "values": values}));
    }
    if !c.emails.is_empty() {
        let values: Vec<Value> = c
            .emails
            .iter()
            .map(|e| json!({"value": e, "enum_id": F_EMAIL_WORK, "enum_code": "WORK"}))
            .collect();
        cf.push(json!({"field_id": F_EMAIL, "field_name": "Email", "field_code": "EMAIL", "field_type": "multitext", "values": values}));
    }
    json!({
        "id": c.id,
        "name": c.name,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "responsible_user_id": c.responsible_user_id,
        "group_id": 0,
        "created_by": 0,
        "updated_by": c.responsible_user_id,
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "closest_task_at": null,
        "is_deleted": false,
        "is_unsorted": false,
        "custom_fields_values": if cf.is_empty() { Value::Null } else { Value::Array(cf) },
        "account_id": sh.school.amocrm_account_id,
        "_links": link(format!("{base}/api/v4/contacts/{}", c.id)),
        "_embedded": {"tags": [], "companies": []},
    })
}

fn user_json(base: &str, u: &User) -> Value {
    let full = json!({"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"});
    json!({
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "lang": "ru",
        "rights": {
            "leads": full, "contacts": full, "companies": full,
            "tasks": {"edit": "A", "delete": "A"},
            "mail_access": true, "catalog_access": true, "files_access": true,
            "status_rights": [],
            "is_admin": u.is_admin, "is_free": false, "is_active": true,
            "group_id": null, "role_id": null,
        },
        "_links": link(format!("{base}/api/v4/users/{}", u.id)),
    })
}

fn event_json(sh: &Shared, base: &str, e: &StatusEvent) -> Value {
    json!({
        "id": e.id,
        "type": "lead_status_changed",
        "entity_id": e.deal_id,
        "entity_type": "lead",
        "created_by": e.created_by,
        "created_at": ts(e.created_at),
        "value_after": [{"lead_status": {"id": e.to_status, "pipeline_id": e.pipeline_id}}],
        "value_before": [{"lead_status": {"id": e.from_status, "pipeline_id": e.pipeline_id}}],
        "account_id": sh.school.amocrm_account_id,
        "_links": link(format!("{base}/api/v4/events/{}", e.id)),
        "_embedded": {"entity": {"id": e.deal_id, "_links": link(format!("{base}/api/v4/leads/{}", e.deal_id))}},
    })
}

fn pipelines(sh: &Shared) -> Response {
    let base = format!("{}/amocrm", sh.base);
    let account = sh.school.amocrm_account_id;
    let list: Vec<Value> = sh
        .school
        .pipelines
        .iter()
        .map(|p| {
            let statuses: Vec<Value> = p
                .statuses
                .iter()
                .map(|s| {
                    json!({
                        "id": s.id,
                        "name": s.name,
                        "sort": s.sort,
                        "is_editable": !(s.kind == 1 || s.id == 142 || s.id == 143),
                        "pipeline_id": p.id,
                        "color": s.color,
                        "type": s.kind,
                        "account_id": account,
                        "_links": link(format!("{base}/api/v4/leads/pipelines/{}/statuses/{}", p.id, s.id)),
                    })
                })
                .collect();
            json!({
                "id": p.id,
                "name": p.name,
                "sort": p.sort,
                "is_main": p.is_main,
                "is_unsorted_on": true,
                "is_archive": false,
                "account_id": account,
                "_links": link(format!("{base}/api/v4/leads/pipelines/{}", p.id)),
                "_embedded": {"statuses": statuses},
            })
        })
        .collect();
    json(
        200,
        HAL,
        &json!({
            "_total_items": list.len(),
            "_links": link(format!("{base}/api/v4/leads/pipelines")),
            "_embedded": {"pipelines": list},
        }),
    )
}
