//! `tilda`: webhook envelopes and normalization of form bodies.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use common::{account, date, fetch_context, fixture};
use serde_json::json;
use voronka_connectors::tilda::{Tilda, webhook_envelope};
use voronka_connectors::{Connector, NormalizeContext, Normalized, RawEnvelope};
use voronka_core::config::AccountConfig;
use voronka_core::model::{Lead, Record, Utm};

const FORM: &str = "application/x-www-form-urlencoded";

fn acc() -> AccountConfig {
    account(json!({"id": "site"}))
}

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, h, m, s).unwrap()
}

fn normalize(env: &RawEnvelope) -> Normalized {
    let account = acc();
    let ctx = NormalizeContext {
        account: &account,
        school_tz: chrono_tz::Europe::Moscow,
    };
    Tilda.normalize(env, &ctx)
}

fn delivery(name: &str, received_at: DateTime<Utc>, seq: u64) -> RawEnvelope {
    webhook_envelope(
        "site",
        "",
        FORM,
        &fixture("tilda", name),
        received_at,
        "r1",
        seq,
    )
}

fn anna(received_at: DateTime<Utc>) -> Lead {
    Lead {
        source: "tilda".into(),
        account: "site".into(),
        id: "7807982:7606836802".into(),
        created_at: received_at,
        form: "form1069343426".into(),
        form_name: "Запись на курс".into(),
        name: "Анна".into(),
        email: "a@example.com".into(),
        phone: "+7 (999) 000-00-00".into(),
        utm: Utm {
            source: "yandex".into(),
            medium: "cpc".into(),
            campaign: "spring".into(),
            content: "banner_1".into(),
            term: String::new(),
        },
        extra: BTreeMap::from([
            (
                "COOKIES".to_string(),
                "_ym_uid=1730000000123456789; _ga=GA1.1.123.456; roistat_visit=4242".to_string(),
            ),
            ("_ga".to_string(), "GA1.1.123.456".to_string()),
            ("_ym_uid".to_string(), "1730000000123456789".to_string()),
            ("roistat_visit".to_string(), "4242".to_string()),
        ]),
    }
}

#[test]
fn envelope_shape() {
    let env = webhook_envelope(
        "site",
        "token=leaked&form=1",
        FORM,
        b"test=test",
        at(10, 20, 30),
        "r9",
        7,
    );
    assert_eq!(env.source, "tilda");
    assert_eq!(env.account, "site");
    assert_eq!(env.entity, "webhook");
    assert_eq!(env.request.method, "POST");
    assert_eq!(env.request.url, "/tilda/webhook?token=***&form=1");
    assert_eq!(env.status, 200);
    assert_eq!(
        env.headers.get("content-type").map(String::as_str),
        Some(FORM)
    );
    assert_eq!(env.body, "test=test");
    assert_eq!(env.received_at, at(10, 20, 30));
    assert_eq!(
        env.key(),
        "raw/tilda/site/2026/12/03/102030-r9-000007-webhook.json"
    );
    assert_eq!(
        webhook_envelope("site", "", FORM, b"", at(0, 0, 0), "r", 1)
            .request
            .url,
        "/tilda/webhook"
    );
    let back = RawEnvelope::from_json(&env.to_json()).unwrap();
    assert_eq!(back, env);
}

#[test]
fn a_form_submission_becomes_a_lead() {
    let out = normalize(&delivery("normal.txt", at(9, 15, 0), 1));
    assert_eq!(out.rejected, vec![]);
    assert_eq!(out.records, vec![Record::Lead(anna(at(9, 15, 0)))]);
}

#[test]
fn the_setup_ping_gives_nothing() {
    assert_eq!(
        normalize(&delivery("test.txt", at(9, 0, 0), 1)),
        Normalized::default()
    );
}

#[test]
fn a_redelivery_with_lowercase_names_dedupes_by_tranid() {
    let first = normalize(&delivery("normal.txt", at(9, 15, 0), 1));
    let again = normalize(&delivery("duplicate_tranid.txt", at(9, 16, 0), 2));
    assert_eq!(again.rejected, vec![]);
    assert_eq!(again.records, vec![Record::Lead(anna(at(9, 16, 0)))]);
    assert_eq!(first.records[0].key(), again.records[0].key());
    assert_eq!(first.records[0].key(), "7807982:7606836802");
}

#[test]
fn a_body_without_tranid_is_rejected() {
    let out = normalize(&delivery("no_tranid.txt", at(9, 0, 0), 3));
    assert_eq!(out.records, vec![]);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].source_slug, "tilda");
    assert_eq!(out.rejected[0].record, "webhook r1-3");
    assert_eq!(out.rejected[0].field, "tranid");
}

#[test]
fn json_bodies_are_accepted_too() {
    let body = r#"{"Name":"Анна","Email":"a@example.com","tranid":"1:2","formid":"form1","utm_source":"vk","extra_field":"x"}"#.as_bytes();
    let env = webhook_envelope("site", "", "application/json", body, at(8, 0, 0), "r1", 4);
    let out = normalize(&env);
    assert_eq!(out.rejected, vec![]);
    let Record::Lead(l) = &out.records[0] else {
        panic!()
    };
    assert_eq!(l.id, "1:2");
    assert_eq!(l.form, "form1");
    assert_eq!(l.name, "Анна");
    assert_eq!(l.email, "a@example.com");
    assert_eq!(l.utm.source, "vk");
    assert_eq!(l.extra.get("extra_field").map(String::as_str), Some("x"));
}

#[test]
fn normalizing_twice_gives_the_same_records() {
    for name in [
        "normal.txt",
        "test.txt",
        "duplicate_tranid.txt",
        "no_tranid.txt",
    ] {
        let env = delivery(name, at(9, 0, 0), 1);
        assert_eq!(normalize(&env), normalize(&env), "{name}");
    }
}

#[test]
fn nothing_to_fetch() {
    let account = acc();
    let ctx = fetch_context(&account, "", date(2026, 12, 1), date(2026, 12, 3));
    assert!(Tilda.plan(&ctx).is_empty());
}
