//! Cohorts and their chain-ladder forecast (metrics.md §5) on a hand-built
//! school. Every expected figure is computed by hand in the comments.
//!
//! The school (2026; every sum in ₽):
//! - January cohort: Anna (first lead Sat 10.01), Boris (Tue 20.01);
//!   spend 10 000 on 10.01.
//!   Anna's order 1: 10 000 on 15.01, a surcharge 5 000 on 10.02.
//!   Boris' order 2: 20 000 on 05.02 (a customer from age 1), a 7 000
//!   refund on 10.03.
//! - February cohort: Vera (03.02), Gleb (Sat 14.02; a second lead on
//!   09.03 does not move him); spend 5 000 on 14.02.
//!   Vera's order 3: 20 000 on 04.02, 5 000 on 12.03. Gleb buys nothing.
//! - March cohort: Dasha (02.03), Egor (03.03); spend 4 000 on 02.03.
//!   Dasha's order 5: 8 000 on 05.03; Egor's order 6: 4 000 on 06.03.
//! - Oleg (lead 09.01) has an order fully refunded (1 000 on 12.01, −1 000
//!   on 13.01): net 0, not a sale, no customer, no revenue2.
//!
//! Cumulative facts (customers, revenue2):
//! - 2026-01: age 0 (1, 10 000); age 1 (2, 10 000 + 5 000 + 20 000 =
//!   35 000); age 2 (2, 35 000 − 7 000 = 28 000) — the refund lowers it.
//! - 2026-02: age 0 (1, 20 000); age 1 (1, 25 000).
//! - 2026-03: age 0 (2, 8 000 + 4 000 = 12 000).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use voronka_core::config::Config;
use voronka_core::metrics::{self, CohortCell, Marts, export};
use voronka_core::model::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// Moscow local time (UTC+3) to UTC, at noon.
fn msk(m: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, day, 12, 0, 0).unwrap() - chrono::Duration::hours(3)
}

fn stat(date: NaiveDate, spend: Decimal) -> AdStat {
    AdStat {
        source: "ads".into(),
        account: "vk".into(),
        date,
        platform: "vk".into(),
        level: StatLevel::Campaign,
        campaign_id: "c1".into(),
        campaign_name: "Всегда".into(),
        ad_id: String::new(),
        ad_name: String::new(),
        impressions: 1000,
        clicks: 10,
        spend,
        currency: "RUB".into(),
        vat: VatMode::Included,
    }
}

fn lead(id: &str, at: DateTime<Utc>, email: &str) -> Lead {
    Lead {
        source: "tilda".into(),
        account: "main".into(),
        id: id.into(),
        created_at: at,
        form: "f1".into(),
        form_name: String::new(),
        name: String::new(),
        email: email.into(),
        phone: String::new(),
        utm: Utm {
            source: "vk".into(),
            campaign: "Всегда".into(),
            ..Utm::default()
        },
        extra: BTreeMap::new(),
    }
}

fn order(number: &str, at: DateTime<Utc>, email: &str) -> Order {
    Order {
        source: "getcourse".into(),
        account: "main".into(),
        id: format!("o{number}"),
        number: number.into(),
        created_at: at,
        name: String::new(),
        email: email.into(),
        phone: String::new(),
        cost: dec!(100000),
        currency: "RUB".into(),
        status: OrderStatus::InProgress,
        product: String::new(),
        manager: String::new(),
        crm_deal_id: String::new(),
        utm: Utm::default(),
    }
}

fn payment(id: &str, order: &str, at: DateTime<Utc>, amount: Decimal) -> Payment {
    Payment {
        source: "getcourse".into(),
        account: "main".into(),
        id: id.into(),
        order_number: order.into(),
        paid_at: at,
        amount: amount.abs(),
        currency: "RUB".into(),
        status: if amount < Decimal::ZERO {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::Received
        },
        name: String::new(),
        email: String::new(),
        phone: String::new(),
    }
}

fn school() -> Dataset {
    let mut ds = Dataset::default();
    for (date, spend) in [
        (d(2026, 1, 10), dec!(10000)),
        (d(2026, 2, 14), dec!(5000)),
        (d(2026, 3, 2), dec!(4000)),
    ] {
        ds.ad_stats.push(stat(date, spend));
    }
    for (id, m, day, email) in [
        ("l1", 1, 10, "anna@x.ru"),
        ("l2", 1, 20, "boris@x.ru"),
        ("l3", 2, 3, "vera@x.ru"),
        ("l4", 2, 14, "gleb@x.ru"),
        ("l4b", 3, 9, "gleb@x.ru"),
        ("l5", 3, 2, "dasha@x.ru"),
        ("l6", 3, 3, "egor@x.ru"),
        ("l7", 1, 9, "oleg@x.ru"),
    ] {
        ds.leads.push(lead(id, msk(m, day), email));
    }
    for (number, m, day, email) in [
        ("1", 1, 15, "anna@x.ru"),
        ("2", 2, 5, "boris@x.ru"),
        ("3", 2, 4, "vera@x.ru"),
        ("5", 3, 5, "dasha@x.ru"),
        ("6", 3, 6, "egor@x.ru"),
        ("7", 1, 12, "oleg@x.ru"),
    ] {
        ds.orders.push(order(number, msk(m, day), email));
    }
    for (id, number, m, day, amount) in [
        ("p1", "1", 1, 15, dec!(10000)),
        ("p2", "1", 2, 10, dec!(5000)),
        ("p3", "2", 2, 5, dec!(20000)),
        ("p4", "2", 3, 10, dec!(-7000)),
        ("p5", "3", 2, 4, dec!(20000)),
        ("p6", "3", 3, 12, dec!(5000)),
        ("p7", "5", 3, 5, dec!(8000)),
        ("p8", "6", 3, 6, dec!(4000)),
        ("p9", "7", 1, 12, dec!(1000)),
        ("p10", "7", 1, 13, dec!(-1000)),
    ] {
        ds.payments.push(payment(id, number, msk(m, day), amount));
    }
    ds
}

fn run(as_of: NaiveDate) -> Marts {
    let config = Config::default();
    let collapsed = BTreeMap::new();
    metrics::aggregate(metrics::Input {
        dataset: &school(),
        config: &config,
        as_of,
        sources: &[],
        collapsed: &collapsed,
        quarantined: 0,
        checked_at: Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap(),
    })
}

fn monthly(m: &Marts) -> Vec<(&str, u32, u64, Decimal, bool)> {
    m.cohorts
        .iter()
        .filter(|c| c.granularity == "month")
        .map(|c| {
            (
                c.cohort.as_str(),
                c.age,
                c.customers,
                c.revenue2,
                c.forecast,
            )
        })
        .collect()
}

fn cell<'a>(m: &'a Marts, granularity: &str, cohort: &str, age: u32) -> &'a CohortCell {
    m.cohorts
        .iter()
        .find(|c| c.granularity == granularity && c.cohort == cohort && c.age == age)
        .unwrap_or_else(|| panic!("no cell {granularity} {cohort} {age}: {:#?}", m.cohorts))
}

#[test]
fn months_with_forecast_at_the_end_of_march() {
    // as_of 31.03: every month to March is complete.
    // Factor 0→1 over the cohorts whose age-1 month has ended (January's
    // February, February's March): (35 000 + 25 000) / (10 000 + 20 000) =
    // 60 000 / 30 000 = 2.
    // Factor 1→2 over January only (its March has ended; February's age 2
    // is April): 28 000 / 35 000 = 0.8.
    // Factor 2→3: no cohort has reached age 3 → undefined, projection stops.
    // Projections: February age 2 = 25 000 × 0.8 = 20 000 (1 customer
    // carried); March age 1 = 12 000 × 2 = 24 000, age 2 = 24 000 × 0.8 =
    // 19 200 (2 customers carried). January gets none.
    let m = run(d(2026, 3, 31));
    assert_eq!(
        monthly(&m),
        vec![
            ("2026-01", 0, 1, dec!(10000), false),
            ("2026-01", 1, 2, dec!(35000), false),
            ("2026-01", 2, 2, dec!(28000), false),
            ("2026-02", 0, 1, dec!(20000), false),
            ("2026-02", 1, 1, dec!(25000), false),
            ("2026-02", 2, 1, dec!(20000), true),
            ("2026-03", 0, 2, dec!(12000), false),
            ("2026-03", 1, 2, dec!(24000), true),
            ("2026-03", 2, 2, dec!(19200), true),
        ]
    );
    // Oleg (January, net-zero order) adds neither customers nor revenue;
    // his cohort is January's. January: spend 10 000; age 2: LTV2 =
    // 28 000 / 2 = 14 000, ROMI2 = (28 000 − 10 000) / 10 000 × 100 = 180 %.
    let jan = cell(&m, "month", "2026-01", 2);
    assert_eq!(jan.spend, dec!(10000));
    assert_eq!(jan.ltv2, Some(dec!(14000)));
    assert_eq!(jan.romi2, Some(dec!(180)));
    // February age 1: ROMI2 = (25 000 − 5 000) / 5 000 × 100 = 400 %.
    assert_eq!(cell(&m, "month", "2026-02", 1).romi2, Some(dec!(400)));
    // March (spend 4 000): age 0 LTV2 6 000, ROMI2 (12 000 − 4 000) / 4 000
    // = 200 %; forecast age 2: LTV2 19 200 / 2 = 9 600, ROMI2 (19 200 −
    // 4 000) / 4 000 = 380 %.
    let mar0 = cell(&m, "month", "2026-03", 0);
    assert_eq!((mar0.ltv2, mar0.romi2), (Some(dec!(6000)), Some(dec!(200))));
    let mar2 = cell(&m, "month", "2026-03", 2);
    assert_eq!((mar2.ltv2, mar2.romi2), (Some(dec!(9600)), Some(dec!(380))));
    assert_eq!(mar2.spend, dec!(4000));
}

#[test]
fn a_running_month_is_not_mature() {
    // as_of 20.03: March is still running. Facts are the same (every March
    // payment is on or before 12.03), but only January's age 1 (February)
    // has ended: factor 0→1 = 35 000 / 10 000 = 3.5; factor 1→2 has no
    // mature cohort (January's March is running) → undefined.
    // March age 1 = 12 000 × 3.5 = 42 000; nothing else is projected.
    let m = run(d(2026, 3, 20));
    assert_eq!(
        monthly(&m),
        vec![
            ("2026-01", 0, 1, dec!(10000), false),
            ("2026-01", 1, 2, dec!(35000), false),
            ("2026-01", 2, 2, dec!(28000), false),
            ("2026-02", 0, 1, dec!(20000), false),
            ("2026-02", 1, 1, dec!(25000), false),
            ("2026-03", 0, 2, dec!(12000), false),
            ("2026-03", 1, 2, dec!(42000), true),
        ]
    );
}

#[test]
fn weekly_cohorts() {
    let m = run(d(2026, 3, 31));
    // ISO weeks (Mondays): Anna 10.01 → 05.01; Oleg 09.01 → 05.01 too.
    // Anna's 10 000 on 15.01 is week 12.01 = age 1; her 5 000 on 10.02 is
    // week 09.02 = age 5. Spend of the week of 05.01: the 10 000 on 10.01.
    let w0 = cell(&m, "week", "2026-01-05", 0);
    assert_eq!(
        (w0.customers, w0.revenue2, w0.spend),
        (0, dec!(0), dec!(10000))
    );
    assert!(!w0.forecast);
    let w1 = cell(&m, "week", "2026-01-05", 1);
    assert_eq!((w1.customers, w1.revenue2), (1, dec!(10000)));
    let w5 = cell(&m, "week", "2026-01-05", 5);
    assert_eq!((w5.customers, w5.revenue2), (1, dec!(15000)));
    assert!(!w5.forecast);
    // Dasha (02.03) and Egor (03.03) share the week of 02.03; both paid in
    // it (05.03, 06.03): age 0 = (2, 12 000); spend 4 000 (02.03).
    let w = cell(&m, "week", "2026-03-02", 0);
    assert_eq!(
        (w.customers, w.revenue2, w.spend),
        (2, dec!(12000), dec!(4000))
    );
    // as_of 31.03 lies in the week of 30.03: that cohort-week is age 4.
    assert!(!cell(&m, "week", "2026-03-02", 4).forecast);
    // Weekly cohorts: 05.01 (Anna, Oleg), 19.01 (Boris), 02.02 (Vera),
    // 09.02 (Gleb), 02.03 (Dasha, Egor).
    let weeks: std::collections::BTreeSet<&str> = m
        .cohorts
        .iter()
        .filter(|c| c.granularity == "week")
        .map(|c| c.cohort.as_str())
        .collect();
    assert_eq!(
        weeks.into_iter().collect::<Vec<_>>(),
        vec![
            "2026-01-05",
            "2026-01-19",
            "2026-02-02",
            "2026-02-09",
            "2026-03-02"
        ]
    );
    // Ordering: granularity, cohort, age.
    let keys: Vec<_> = m
        .cohorts
        .iter()
        .map(|c| (c.granularity.clone(), c.cohort.clone(), c.age))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn cohorts_csv_text() {
    let m = run(d(2026, 3, 31));
    let expected = "\
cohort,age,customers,revenue2,forecast
2026-01,0,1,10000.00,false
2026-01,1,2,35000.00,false
2026-01,2,2,28000.00,false
2026-02,0,1,20000.00,false
2026-02,1,1,25000.00,false
2026-02,2,1,20000.00,true
2026-03,0,2,12000.00,false
2026-03,1,2,24000.00,true
2026-03,2,2,19200.00,true
";
    assert_eq!(export::cohorts_csv(&m), expected);
}
