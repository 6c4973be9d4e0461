//! Salebot API: `GET /{api_key}/get_clients?offset=&limit=` (the key in
//! the path, as the live API wants it; `?api_key=` accepted too).

use super::{Req, Shared, json};
use crate::model::SalebotClient;
use axum::response::Response;
use serde_json::{Value, json};

const CT: &str = "application/json";

/// Salebot's page size maximum.
const MAX_LIMIT: usize = 500;

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    let path = req.path.trim_matches('/');
    let path = path.strip_prefix("api/").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (key, action) = match segments.as_slice() {
        [key, action] => (Some(*key), *action),
        [action] => (req.q("api_key"), *action),
        _ => return json(404, CT, &json!({"status": "fail", "error": "Not found"})),
    };
    if key.map(str::trim) != Some(super::SALEBOT_KEY) {
        return json(
            200,
            CT,
            &json!({"status": "fail", "error": "Неверный API ключ"}),
        );
    }
    match action {
        "get_clients" => clients(sh, req),
        _ => json(
            200,
            CT,
            &json!({"status": "fail", "error": format!("Unknown method {action}")}),
        ),
    }
}

fn client_json(c: &SalebotClient) -> Value {
    json!({
        "id": c.id,
        "platform_id": c.platform_id,
        "client_type": c.client_type,
        "name": c.name,
        "avatar": null,
        "message_id": null,
        "project_id": 104_217,
        "created_at": c.created_at.timestamp(),
        "updated_at": c.created_at.timestamp(),
        "custom_answer": null,
        "tag": c.tag,
        "group": c.group,
        "operator_start_dialog": null
    })
}

fn clients(sh: &Shared, req: &Req) -> Response {
    let num = |name: &str| req.q(name).and_then(|v| v.trim().parse::<usize>().ok());
    let offset = num("offset").unwrap_or(0);
    let limit = num("limit").unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT);
    let all = &sh.school.salebot_clients;
    if all.is_empty() {
        return json(200, CT, &json!({"status": "client_not_found"}));
    }
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(client_json)
        .collect();
    json(200, CT, &json!({"status": "success", "clients": page}))
}
