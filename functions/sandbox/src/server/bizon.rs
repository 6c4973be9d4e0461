//! Bizon365 API v1 webinar reports: `getlist`, `getviewers`, `get`.

use super::{Req, Shared, json};
use crate::model::{Webinar, WebinarViewer};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

const CT: &str = "application/json; charset=utf-8";

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn num(req: &Req, name: &str, default: usize, max: usize) -> usize {
    req.q(name)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(default)
        .min(max)
}

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    if req.header("x-token").map(str::trim) != Some(super::BIZON_TOKEN) {
        return json(401, CT, &json!({"message": "Требуется авторизация"}));
    }
    let path = req.path.trim_end_matches('/');
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    match path {
        "/webinars/reports/getlist" => list(sh, req),
        "/webinars/reports/getviewers" => viewers(sh, req),
        "/webinars/reports/get" => report(sh, req),
        _ => json(404, CT, &json!({"message": "Not found"})),
    }
}

fn flag(req: &Req, name: &str) -> bool {
    !matches!(req.q(name).map(str::trim), Some("0") | Some("false"))
}

fn list_item(w: &Webinar) -> Value {
    let end = w.start + chrono::Duration::minutes(i64::from(w.minutes));
    let data = json!({
        "minutes": w.minutes,
        "roomid": w.room_id,
        "group": crate::extras::BIZON_GROUP.parse::<u64>().unwrap_or(0),
        "start": w.start.timestamp_millis(),
        "stat": 0
    });
    let mut oid = format!("{:08x}", w.start.timestamp());
    oid.push_str(&format!("{:016x}", u64::from(w.launch_id) * 7919 + 0x5e5e));
    json!({
        "_id": oid,
        "name": w.room_id,
        "text": format!("Завершен вебинар {}", w.title),
        "type": "LiveWebinars",
        "nerrors": 0,
        "count1": w.participants,
        "count2": w.minutes,
        "data": data.to_string(),
        "webinarId": w.id,
        "created": iso(end),
    })
}

fn list(sh: &Shared, req: &Req) -> Response {
    let skip = num(req, "skip", 0, usize::MAX);
    let limit = num(req, "limit", 20, 100).max(1);
    // newest first, as the Bizon cabinet lists them
    let items: Vec<&Webinar> = if flag(req, "LiveWebinars") {
        sh.school.webinars.iter().rev().collect()
    } else {
        Vec::new()
    };
    let page: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(limit)
        .map(|w| list_item(w))
        .collect();
    json(
        200,
        CT,
        &json!({"skip": skip, "limit": limit, "rooms": {}, "count": items.len(), "list": page}),
    )
}

fn find<'a>(sh: &'a Shared, req: &Req) -> Option<&'a Webinar> {
    let id = req.q("webinarId")?.trim();
    sh.school.webinars.iter().find(|w| w.id == id)
}

fn viewer_json(w: &Webinar, v: &WebinarViewer) -> Value {
    let mut m = Map::new();
    if let Some(c) = &v.chat_user_id {
        m.insert("chatUserId".into(), json!(c));
    }
    m.insert("username".into(), json!(v.username));
    m.insert("phone".into(), json!(v.phone.clone().unwrap_or_default()));
    m.insert("email".into(), json!(v.email.clone().unwrap_or_default()));
    m.insert(
        "url".into(),
        json!(format!(
            "https://start.bizon365.ru/room/{}",
            w.room_id.replace(':', "/")
        )),
    );
    m.insert("mob".into(), json!(v.view.timestamp_millis() % 3 == 0));
    m.insert("roomid".into(), json!(w.room_id));
    m.insert("city".into(), json!(v.city));
    m.insert("webinarId".into(), json!(w.id));
    m.insert("view".into(), json!(v.view.timestamp_millis()));
    m.insert("viewTill".into(), json!(v.view_till.timestamp_millis()));
    m.insert("playVideo".into(), json!(1));
    m.insert(
        "finished".into(),
        json!(v.view_till >= w.start + chrono::Duration::minutes(i64::from(w.minutes) - 5)),
    );
    for (k, val) in [
        ("utm_source", &v.utm_source),
        ("utm_medium", &v.utm_medium),
        ("utm_campaign", &v.utm_campaign),
    ] {
        if let Some(val) = val {
            m.insert(k.into(), json!(val));
        }
    }
    Value::Object(m)
}

fn viewers(sh: &Shared, req: &Req) -> Response {
    let skip = num(req, "skip", 0, usize::MAX);
    let limit = num(req, "limit", 1000, 1000).max(1);
    let Some(w) = find(sh, req) else {
        return json(
            200,
            CT,
            &json!({"errors": ["Вебинар не найден"], "total": 0, "skip": skip, "limit": limit, "loaded": 0, "viewers": []}),
        );
    };
    let all: Vec<&WebinarViewer> = sh
        .school
        .webinar_viewers
        .iter()
        .filter(|v| v.webinar_id == w.id)
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(limit)
        .map(|v| viewer_json(w, v))
        .collect();
    json(
        200,
        CT,
        &json!({"errors": [], "total": all.len(), "skip": skip, "limit": limit, "loaded": page.len(), "viewers": page}),
    )
}

fn report(sh: &Shared, req: &Req) -> Response {
    let Some(w) = find(sh, req) else {
        return json(200, CT, &json!({"errors": ["Вебинар не найден"]}));
    };
    let mut users = Map::new();
    let mut messages = Map::new();
    let mut ts = Map::new();
    let mut rating: Vec<Value> = Vec::new();
    for v in sh
        .school
        .webinar_viewers
        .iter()
        .filter(|v| v.webinar_id == w.id)
    {
        let Some(id) = &v.chat_user_id else { continue };
        users.insert(
            id.clone(),
            json!({"username": v.username, "phone": v.phone.clone().unwrap_or_default(), "email": v.email.clone().unwrap_or_default(), "city": v.city}),
        );
        let n = (v.view.timestamp_millis() % 4) as usize;
        if n > 0 {
            let offset = (v.view - w.start).num_seconds().max(0);
            let texts: Vec<&str> = ["Добрый вечер!", "Всё слышно", "Спасибо!"][..n].to_vec();
            let at: Vec<i64> = (0..n as i64).map(|k| offset + 60 + k * 900).collect();
            messages.insert(id.clone(), json!(texts));
            ts.insert(id.clone(), json!(at));
            rating.push(json!([id, n]));
        }
    }
    let end = w.start + chrono::Duration::minutes(i64::from(w.minutes));
    json(
        200,
        CT,
        &json!({
            "room_title": w.title,
            "orders": {},
            "report": {
                "_id": format!("{:024x}", w.start.timestamp() as u64 * 31 + u64::from(w.launch_id)),
                "group": crate::extras::BIZON_GROUP,
                "roomid": w.room_id,
                "webinarId": w.id,
                "ver": 2,
                "created": iso(end + chrono::Duration::minutes(3)),
                "report": json!({"usersMeta": users, "rating": rating}).to_string(),
                "messages": Value::Object(messages).to_string(),
                "messagesTS": Value::Object(ts).to_string(),
            }
        }),
    )
}
