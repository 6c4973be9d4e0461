//! `getcourse` webhooks: new-API event arrays and process callbacks
//! ("Вызвать URL") → order upserts; no payments.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{account, fixture};
use rust_decimal::Decimal;
use serde_json::json;
use std::str::FromStr;
use voronka_connectors::getcourse::{Getcourse, WEBHOOK_PATH, webhook_envelope};
use voronka_connectors::{Connector, NormalizeContext, Normalized, ParseError, RawEnvelope};
use voronka_core::config::AccountConfig;
use voronka_core::model::{Order, OrderStatus, Record, Utm};

fn acc() -> AccountConfig {
    account(json!({"id": "main", "options": {"school": "myschool"}}))
}

fn received() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 17, 10, 0, 0).unwrap()
}

fn normalize(env: &RawEnvelope) -> Normalized {
    let account = acc();
    let ctx = NormalizeContext {
        account: &account,
        school_tz: chrono_tz::Europe::Moscow,
    };
    Getcourse.normalize(env, &ctx)
}

/// A new-API delivery: JSON body, no query.
fn events(name: &str) -> RawEnvelope {
    webhook_envelope(
        "main",
        "POST",
        "",
        "application/json",
        &fixture("getcourse", &format!("webhooks/{name}")),
        received(),
        "r1",
        1,
    )
}

/// A process callback: the data in the query, no body.
fn callback(method: &str, query: &str) -> RawEnvelope {
    webhook_envelope("main", method, query, "", b"", received(), "r1", 2)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn order(id: &str, number: &str, status: OrderStatus, cost: &str, email: &str) -> Order {
    Order {
        source: "getcourse".into(),
        account: "main".into(),
        id: id.into(),
        number: number.into(),
        created_at: Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0).unwrap(),
        name: String::new(),
        email: email.into(),
        phone: String::new(),
        cost: dec(cost),
        currency: "RUB".into(),
        status,
        product: String::new(),
        manager: String::new(),
        crm_deal_id: String::new(),
        utm: Utm::default(),
    }
}

fn paid_order() -> Order {
    order(
        "871035642",
        "11892043",
        OrderStatus::Paid,
        "14900",
        "test@example.com",
    )
}

#[test]
fn envelope_keeps_method_query_and_body_but_no_credential() {
    let env = webhook_envelope(
        "main",
        "get",
        "deal_id=1&key=leaked&status=new",
        "",
        b"",
        received(),
        "r1",
        7,
    );
    assert_eq!(env.source, "getcourse");
    assert_eq!(env.entity, "webhook");
    assert_eq!(env.status, 200);
    assert_eq!(env.request.method, "GET");
    assert_eq!(
        env.request.url,
        format!("{WEBHOOK_PATH}?deal_id=1&key=***&status=new")
    );
    assert!(env.key().starts_with("raw/getcourse/main/2026/01/17/"));
    let body = events("deal_paid.json");
    assert_eq!(
        body.body_bytes().unwrap(),
        fixture("getcourse", "webhooks/deal_paid.json")
    );
    assert_eq!(body.headers["content-type"], "application/json");
}

#[test]
fn deal_created_is_a_new_order() {
    let out = normalize(&events("deal_created.json"));
    assert_eq!(out.rejected, vec![]);
    assert_eq!(
        out.records,
        vec![Record::Order(order(
            "871035642",
            "11892043",
            OrderStatus::New,
            "14900",
            "test@example.com",
        ))]
    );
}

#[test]
fn deal_paid_gives_the_order_and_no_payment() {
    let out = normalize(&events("deal_paid.json"));
    assert_eq!(out.rejected, vec![]);
    assert_eq!(out.records, vec![Record::Order(paid_order())]);
    let changed = normalize(&events("deal_status_changed.json"));
    assert_eq!(changed.records, out.records, "isPayed 1 reads like true");
}

#[test]
fn paid_and_status_changed_in_one_body_are_one_record() {
    let out = normalize(&events("deal_paid_pair.json"));
    assert_eq!(out.rejected, vec![]);
    assert_eq!(out.records, vec![Record::Order(paid_order())]);
}

#[test]
fn the_latest_event_of_a_deal_wins_within_a_body() {
    let mut body: Vec<serde_json::Value> =
        serde_json::from_slice(&fixture("getcourse", "webhooks/deal_paid.json")).unwrap();
    let created: Vec<serde_json::Value> =
        serde_json::from_slice(&fixture("getcourse", "webhooks/deal_created.json")).unwrap();
    // Paid first in the array, created (earlier ts) after it.
    body.extend(created);
    let env = webhook_envelope(
        "main",
        "POST",
        "",
        "application/json",
        serde_json::to_string(&body).unwrap().as_bytes(),
        received(),
        "r1",
        1,
    );
    assert_eq!(normalize(&env).records, vec![Record::Order(paid_order())]);
}

#[test]
fn a_free_deal_is_paid_with_zero_cost() {
    let out = normalize(&events("free_deal.json"));
    assert_eq!(out.rejected, vec![]);
    let mut o = order(
        "871040001",
        "11892100",
        OrderStatus::Paid,
        "0",
        "free@example.com",
    );
    o.created_at = Utc.with_ymd_and_hms(2026, 1, 16, 12, 0, 0).unwrap();
    assert_eq!(out.records, vec![Record::Order(o)]);
}

#[test]
fn status_false_is_a_false_order() {
    let out = normalize(&events("status_false.json"));
    assert_eq!(out.rejected, vec![]);
    let mut o = order(
        "871040002",
        "11892101",
        OrderStatus::False,
        "4990.50",
        "fake@example.com",
    );
    o.created_at = Utc.with_ymd_and_hms(2026, 1, 17, 8, 29, 0).unwrap();
    assert_eq!(out.records, vec![Record::Order(o)]);
}

#[test]
fn bad_events_are_rejected_by_field_and_the_rest_kept() {
    let body = json!([
        {"eventType": "getcourse/userCreated", "user": {"email": "x@example.com"}},
        {"eventType": "getcourse/dealPaid", "deal": {"id": 5, "status": "weird", "createdAt": "2026-01-15T09:00:00Z"}},
        {"eventType": "getcourse/dealPaid", "deal": {"id": "6", "status": "payed", "createdAt": "yesterday"}},
        {"eventType": "getcourse/dealPaid", "deal": {"status": "payed"}},
        {"eventType": "getcourse/dealCreated", "deal": {"id": 7, "number": "8", "status": "in_work", "cost": "1 500,50 руб.", "createdAt": "2026-01-15 12:00:00"}},
    ]);
    let env = webhook_envelope(
        "main",
        "POST",
        "",
        "application/json",
        body.to_string().as_bytes(),
        received(),
        "r1",
        1,
    );
    let out = normalize(&env);
    let fields: Vec<(&str, &str)> = out
        .rejected
        .iter()
        .map(|e| (e.record.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("event 1", "eventType"),
            ("deal 5", "deal.status"),
            ("deal 6", "deal.createdAt"),
            ("event 4", "deal.id"),
        ]
    );
    // A naive createdAt is account-local (Moscow, UTC+3); no currency → RUB.
    let mut o = order("7", "8", OrderStatus::InProgress, "1500.50", "");
    o.created_at = Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0).unwrap();
    assert_eq!(out.records, vec![Record::Order(o)]);
}

#[test]
fn process_callback_from_the_query_string() {
    let query = String::from_utf8(fixture("getcourse", "webhooks/process_callback.txt")).unwrap();
    let expected = Order {
        source: "getcourse".into(),
        account: "main".into(),
        id: "871050000".into(),
        number: "11892200".into(),
        // No created_at parameter: the receipt time stands in.
        created_at: received(),
        name: "Анна Петрова".into(),
        email: "anna@example.com".into(),
        phone: "+79990000002".into(),
        cost: dec("29900"),
        currency: "RUB".into(),
        status: OrderStatus::InProgress,
        product: "Курс «Старт»".into(),
        manager: String::new(),
        crm_deal_id: String::new(),
        utm: Utm::default(),
    };
    for method in ["GET", "POST"] {
        let out = normalize(&callback(method, &query));
        assert_eq!(out.rejected, vec![], "{method}");
        assert_eq!(
            out.records,
            vec![Record::Order(expected.clone())],
            "{method}"
        );
    }
    // cost_money ("29 900 руб.") alone is enough, and created_at is read.
    let out = normalize(&callback(
        "GET",
        "deal_id=1&status=%D0%97%D0%B0%D0%B2%D0%B5%D1%80%D1%88%D0%B5%D0%BD&cost_money=29%C2%A0900+%D1%80%D1%83%D0%B1.&created_at=2026-01-15+12%3A00%3A00",
    ));
    assert_eq!(out.rejected, vec![]);
    let Record::Order(o) = &out.records[0] else {
        panic!("{:?}", out.records)
    };
    assert_eq!(
        (o.cost, o.status, o.created_at),
        (
            dec("29900"),
            OrderStatus::Paid,
            Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0).unwrap()
        )
    );
}

#[test]
fn process_callback_without_enough_fields_names_the_missing_one() {
    let incomplete = String::from_utf8(fixture(
        "getcourse",
        "webhooks/process_callback_incomplete.txt",
    ))
    .unwrap();
    let cases = [
        (incomplete.as_str(), "deal 871050000", "status"),
        (
            "deal_id=1&status=new&cost={object.cost_money_value}",
            "deal 1",
            "cost",
        ),
        ("deal_id=1&status=new", "deal 1", "cost_money_value"),
        (
            "email=a%40example.com&status=new&cost=1",
            "webhook r1-2",
            "deal_id",
        ),
        ("", "webhook r1-2", "query"),
    ];
    for (query, record, field) in cases {
        let out = normalize(&callback("GET", query));
        assert_eq!(out.records, vec![], "{query}");
        assert_eq!(out.rejected.len(), 1, "{query}: {:?}", out.rejected);
        let ParseError {
            record: r,
            field: f,
            reason,
            ..
        } = &out.rejected[0];
        assert_eq!(
            (r.as_str(), f.as_str()),
            (record, field),
            "{query}: {reason}"
        );
    }
}

#[test]
fn not_json_is_a_parse_error() {
    let env = webhook_envelope(
        "main",
        "POST",
        "",
        "application/json",
        b"[{\"eventType\":",
        received(),
        "r1",
        1,
    );
    let out = normalize(&env);
    assert_eq!(out.records, vec![]);
    assert_eq!(out.rejected[0].field, "body");
}
