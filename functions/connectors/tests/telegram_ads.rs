//! `telegram_ads`: cabinet TSV exports (budget with a decimal comma and the
//! currency in the header; views and clicks) → day ad stats.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use voronka_connectors::telegram_ads::tsv_envelope;
use voronka_connectors::{NormalizeContext, ParseError, connector};
use voronka_core::config::AccountConfig;
use voronka_core::model::{AdStat, Record, StatLevel, VatMode};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../fixtures/telegram_ads/{name}",
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

fn stats(file: &str, campaign: Option<&str>) -> (Vec<AdStat>, Vec<ParseError>) {
    let env = tsv_envelope("main", file, &fixture(file), campaign, at(9));
    let acc: AccountConfig = serde_json::from_value(serde_json::json!({"id": "main"})).unwrap();
    let out = connector("telegram_ads").unwrap().normalize(
        &env,
        &NormalizeContext {
            account: &acc,
            school_tz: chrono_tz::Europe::Moscow,
        },
    );
    let stats = out
        .records
        .into_iter()
        .map(|r| match r {
            Record::AdStat(s) => s,
            other => panic!("not an ad stat: {other:?}"),
        })
        .collect();
    (stats, out.rejected)
}

#[allow(clippy::too_many_arguments)]
fn stat(
    d: NaiveDate,
    campaign: &str,
    kind: &str,
    impressions: u64,
    clicks: u64,
    spend: Decimal,
    currency: &str,
) -> AdStat {
    AdStat {
        source: "telegram_ads".into(),
        account: "main".into(),
        date: d,
        platform: "telegram".into(),
        level: StatLevel::Campaign,
        campaign_id: campaign.into(),
        campaign_name: campaign.into(),
        ad_id: kind.into(),
        ad_name: String::new(),
        impressions,
        clicks,
        spend,
        currency: currency.into(),
        vat: VatMode::Unknown,
    }
}

#[test]
fn budget_in_ton_with_a_decimal_comma() {
    let (stats, rejected) = stats("budget_ad17.tsv", None);
    assert_eq!(rejected, vec![]);
    assert_eq!(
        stats,
        vec![
            stat(
                date(2026, 3, 1),
                "budget_ad17",
                "budget",
                0,
                0,
                d("1.5"),
                "TON"
            ),
            stat(
                date(2026, 3, 2),
                "budget_ad17",
                "budget",
                0,
                0,
                d("2.25"),
                "TON"
            ),
            stat(
                date(2026, 3, 3),
                "budget_ad17",
                "budget",
                0,
                0,
                d("0"),
                "TON"
            ),
        ]
    );
}

#[test]
fn views_and_clicks_with_a_campaign_option() {
    let (stats, rejected) = stats("views_ad17.tsv", Some("spring_tg"));
    assert_eq!(rejected, vec![]);
    assert_eq!(
        stats,
        vec![
            stat(
                date(2026, 3, 1),
                "spring_tg",
                "views",
                12000,
                150,
                d("0"),
                "RUB"
            ),
            stat(
                date(2026, 3, 2),
                "spring_tg",
                "views",
                8500,
                97,
                d("0"),
                "RUB"
            ),
            stat(date(2026, 3, 3), "spring_tg", "views", 0, 0, d("0"), "RUB"),
        ]
    );
    // The budget export of the same ad is another record per day.
    let budget = tsv_envelope(
        "main",
        "b.tsv",
        &fixture("budget_ad17.tsv"),
        Some("spring_tg"),
        at(9),
    );
    let views = tsv_envelope(
        "main",
        "v.tsv",
        &fixture("views_ad17.tsv"),
        Some("spring_tg"),
        at(9),
    );
    assert_eq!(budget.entity, "budget:spring_tg");
    assert_eq!(views.entity, "views:spring_tg");
    assert_eq!(
        (views.window_from, views.window_to),
        (Some(date(2026, 3, 1)), Some(date(2026, 3, 3)))
    );
    assert_eq!(budget.meta("campaign"), "spring_tg");
}

#[test]
fn five_minute_eur_export_with_bom_sums_per_day() {
    let (stats, rejected) = stats("budget_eur_5min.tsv", Some("eur_ad"));
    assert_eq!(rejected, vec![]);
    assert_eq!(
        stats,
        vec![
            stat(date(2026, 3, 1), "eur_ad", "budget", 0, 0, d("0.75"), "EUR"),
            stat(date(2026, 3, 2), "eur_ad", "budget", 0, 0, d("1.1"), "EUR"),
        ]
    );
}

#[test]
fn bad_rows_name_their_line_and_column() {
    let (stats, rejected) = stats("views_bad.tsv", None);
    assert_eq!(
        stats,
        vec![stat(
            date(2026, 3, 3),
            "views_bad",
            "views",
            10,
            1,
            d("0"),
            "RUB"
        )]
    );
    let got: Vec<(&str, &str)> = rejected
        .iter()
        .map(|e| (e.record.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(got, vec![("line 2", "Views"), ("line 3", "date")]);
    // A budget header without a currency, and a file that is no export.
    let env = tsv_envelope(
        "main",
        "x.tsv",
        b"date\tSpent budget\n2026-03-01\t1\n",
        None,
        at(9),
    );
    let acc: AccountConfig = serde_json::from_value(serde_json::json!({"id": "main"})).unwrap();
    let ctx = NormalizeContext {
        account: &acc,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let out = connector("telegram_ads").unwrap().normalize(&env, &ctx);
    assert!(out.records.is_empty());
    assert_eq!(out.rejected[0].field, "Spent budget");
    let env = tsv_envelope("main", "x.tsv", b"a\tb\n1\t2\n", None, at(9));
    let out = connector("telegram_ads").unwrap().normalize(&env, &ctx);
    assert_eq!(
        (out.records.len(), out.rejected[0].field.as_str()),
        (0, "date")
    );
}

#[test]
fn same_bytes_same_envelope() {
    let bytes = fixture("budget_ad17.tsv");
    let a = tsv_envelope("main", "budget_ad17.tsv", &bytes, None, at(9));
    let b = tsv_envelope("main", "budget_ad17.tsv", &bytes, None, at(10));
    assert_eq!(
        voronka_connectors::manual_costs::current_import(&[a.key()], &b),
        Some(a.key())
    );
    // The same bytes for another campaign are another import.
    let c = tsv_envelope("main", "budget_ad17.tsv", &bytes, Some("other"), at(10));
    assert_eq!(
        voronka_connectors::manual_costs::current_import(&[a.key()], &c),
        None
    );
    assert_eq!(a.received_at, DateTime::UNIX_EPOCH);
}
