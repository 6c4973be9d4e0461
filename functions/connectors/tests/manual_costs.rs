//! `manual_costs`: the costs CSV as one raw envelope; rows → manual costs
//! (comma decimals, BOM, `;`), a bad row → errors naming its line and
//! column; re-imports and versions of a stream.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use voronka_connectors::manual_costs::{CSV_ENTITY, csv_envelope, current_import};
use voronka_connectors::{NormalizeContext, ParseError, connector};
use voronka_core::config::AccountConfig;
use voronka_core::model::{ManualCost, Record};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../fixtures/manual_costs/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn d(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, h, 0, 0).unwrap()
}

fn costs(bytes: &[u8]) -> (Vec<ManualCost>, Vec<ParseError>) {
    let env = csv_envelope("bloggers", "costs.csv", bytes, at(9));
    let acc: AccountConfig = serde_json::from_value(serde_json::json!({"id": "bloggers"})).unwrap();
    let out = connector("manual_costs").unwrap().normalize(
        &env,
        &NormalizeContext {
            account: &acc,
            school_tz: chrono_tz::Europe::Moscow,
        },
    );
    let costs = out
        .records
        .into_iter()
        .map(|r| match r {
            Record::ManualCost(c) => c,
            other => panic!("not a manual cost: {other:?}"),
        })
        .collect();
    (costs, out.rejected)
}

#[allow(clippy::too_many_arguments)]
fn cost(
    d: NaiveDate,
    platform: &str,
    campaign: &str,
    contractor: &str,
    amount: rust_decimal::Decimal,
    currency: &str,
    note: &str,
    line: u32,
) -> ManualCost {
    ManualCost {
        source: "manual_costs".into(),
        account: "bloggers".into(),
        date: d,
        platform: platform.into(),
        campaign: campaign.into(),
        contractor: contractor.into(),
        amount,
        currency: currency.into(),
        note: note.into(),
        line,
    }
}

#[test]
fn semicolon_bom_and_comma_decimals() {
    let (costs, rejected) = costs(&fixture("costs_semicolon.csv"));
    assert_eq!(rejected, vec![]);
    let anna = "Анна Блогер";
    assert_eq!(
        costs,
        vec![
            cost(
                date(2026, 3, 2),
                "blogger",
                "spring_webinar",
                anna,
                d("15000"),
                "RUB",
                "Stories x3",
                2
            ),
            cost(
                date(2026, 3, 5),
                "blogger",
                "spring_webinar",
                anna,
                d("7500.5"),
                "RUB",
                "repost",
                3
            ),
            cost(
                date(2026, 3, 5),
                "telegram",
                "tg_posts",
                "Канал «Маркетолог»",
                d("320.25"),
                "EUR",
                "пост 5 марта",
                5
            ),
        ]
    );
}

#[test]
fn bad_rows_name_their_line_and_column() {
    let (costs, rejected) = costs(&fixture("costs_bad.csv"));
    assert_eq!(
        costs,
        vec![cost(
            date(2026, 3, 1),
            "youtube",
            "yt_review",
            "Иван Обзорщик",
            d("1200.5"),
            "RUB",
            "обзор, часть 1",
            2
        )]
    );
    let got: Vec<(&str, &str)> = rejected
        .iter()
        .map(|e| (e.record.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("line 3", "date"),
            ("line 4", "amount"),
            ("line 5", "platform"),
            ("line 5", "amount"),
            ("line 6", "currency"),
            ("line 7", "amount"),
        ]
    );
    assert!(rejected.iter().all(|e| e.source_slug == "manual_costs"));
    assert!(
        rejected[1].reason.contains("thousands"),
        "{}",
        rejected[1].reason
    );
    assert!(rejected[4].reason.contains("TON"), "{}", rejected[4].reason);
    assert!(
        rejected[5].reason.contains("\"-5\""),
        "{}",
        rejected[5].reason
    );
}

#[test]
fn a_header_without_the_columns_is_refused() {
    let (none, rejected) = costs(b"date,amount\n2026-03-01,10\n");
    assert!(none.is_empty());
    let fields: Vec<&str> = rejected.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["platform", "campaign", "contractor", "currency"]);
    assert!(rejected.iter().all(|e| e.record == "line 1"));
    let (_, rejected) = costs(b"");
    assert_eq!(rejected.len(), 1);
}

#[test]
fn envelope_is_one_import_with_the_files_window() {
    let bytes = fixture("costs_semicolon.csv");
    let env = csv_envelope("bloggers", "/home/me/costs.csv", &bytes, at(9));
    assert_eq!(env.source, "manual_costs");
    assert_eq!(env.entity, CSV_ENTITY);
    assert_eq!(env.received_at, DateTime::UNIX_EPOCH);
    assert_eq!(
        (env.window_from, env.window_to),
        (Some(date(2026, 3, 2)), Some(date(2026, 3, 5)))
    );
    assert_eq!(env.meta("file"), "costs.csv");
    assert!(
        env.run.starts_with("import-20260310T090000000Z-"),
        "{}",
        env.run
    );
    assert_eq!(env.body_bytes().unwrap(), bytes);
    // Deterministic in the bytes and the import time.
    assert_eq!(env, csv_envelope("bloggers", "costs.csv", &bytes, at(9)));
}

#[test]
fn re_import_of_the_latest_upload_writes_nothing() {
    let v1 = fixture("costs_semicolon.csv");
    let mut v2 = v1.clone();
    v2.extend_from_slice("2026-03-06;blogger;spring_webinar;Анна Блогер;100;RUB;\r\n".as_bytes());
    let first = csv_envelope("bloggers", "costs.csv", &v1, at(9));
    let mut keys = vec![first.key()];
    // Same bytes later: the existing key, nothing to write.
    let again = csv_envelope("bloggers", "costs.csv", &v1, at(10));
    assert_eq!(current_import(&keys, &again), Some(first.key()));
    // Another stream (account) or a new version: a new envelope.
    assert_eq!(
        current_import(&keys, &csv_envelope("fees", "costs.csv", &v1, at(10))),
        None
    );
    let second = csv_envelope("bloggers", "costs.csv", &v2, at(11));
    assert_eq!(current_import(&keys, &second), None);
    keys.push(second.key());
    // The later upload sorts (and so wins) after the earlier one.
    assert!(second.key() > first.key() && second.run > first.run);
    assert_eq!(second.window_to, Some(date(2026, 3, 6)));
    assert_eq!(
        current_import(&keys, &csv_envelope("bloggers", "x.csv", &v2, at(12))),
        Some(second.key())
    );
    // Reverting to v1 is a new upload: v1 becomes the latest again.
    let revert = csv_envelope("bloggers", "costs.csv", &v1, at(12));
    assert_eq!(current_import(&keys, &revert), None);
    assert!(revert.key() > second.key());
}
