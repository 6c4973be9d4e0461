//! Managers (metrics.md §6) on a hand-built school. Every expected figure
//! is computed by hand in the comments, not by the code.
//!
//! The school, as of Tue 10.11.2026 (10 of November's 30 days elapsed):
//! - CRM users u1 "Иван Петров" (ivan@school.ru), u2 "Мария Соколова"
//!   (maria@school.ru); a deal's responsible "u9" has no user record.
//! - Spend: 05.10 vk "Осень" 3 000 ₽ for 3 leads (Anna, Boris, Gleb) →
//!   CPL 1 000 ₽; 02.11 yandex "Поиск" 3 000 ₽ for 2 leads (Dasha, Egor) →
//!   CPL 1 500 ₽.
//! - Anna: deals d1 (Иван, 06.10) and d4 (Мария, 08.10); order 2001
//!   (created 09.10, `crm_deal_id` = d1 → Иван, although her latest deal is
//!   Мария's d4): 100 000 on 09.10, 50 000 on 20.10.
//! - Boris: deal d2 (Иван, 06.10); order 2002 (12.10, no deal id → his
//!   latest deal at or before it, d2 → Иван): 60 000 on 12.10, a surcharge
//!   of 100 000 on 06.11.
//! - Gleb: no deal; order 2003 (15.10) with the GetCourse manager field
//!   "  мария СОКОЛОВА " → Мария by name: 40 000 on 15.10.
//! - Dasha: deal d3 (Иван, 03.11); order 2004 (04.11, `crm_deal_id` d3):
//!   200 000 on 04.11.
//! - Egor: deal d5 (Мария, 03.11); order 2005 (05.11, person fallback):
//!   30 000 on 05.11.
//! - Zhenya (no lead): order 2006 created 08.11, paid 5 000 on 08.11; her
//!   deal d6 (responsible "u9") is created only on 09.11, after the order,
//!   and the order has no manager field → "(без менеджера)".
//! - A 700 ₽ payment on 07.11 to an unknown order 9999 → "(без менеджера)".
//! - Plans: Иван 2026-10 revenue 100 000 (over plan); Иван 2026-11 revenue
//!   1 000 000 and 5 sales; Ольга Новикова 2026-11 revenue 100 000 (no
//!   activity at all); Мария has no plan.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use voronka_core::config::Config;
use voronka_core::metrics::{self, ManagerRow, Marts, export};
use voronka_core::model::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// Moscow local time (UTC+3) to UTC.
fn msk(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, day, h, min, 0).unwrap() - chrono::Duration::hours(3)
}

fn stat(date: NaiveDate, platform: &str, id: &str, name: &str, spend: Decimal) -> AdStat {
    AdStat {
        source: "ads".into(),
        account: platform.into(),
        date,
        platform: platform.into(),
        level: StatLevel::Campaign,
        campaign_id: id.into(),
        campaign_name: name.into(),
        ad_id: String::new(),
        ad_name: String::new(),
        impressions: 1000,
        clicks: 10,
        spend,
        currency: "RUB".into(),
        vat: VatMode::Included,
    }
}

fn lead(id: &str, at: DateTime<Utc>, email: &str, src: &str, camp: &str) -> Lead {
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
            source: src.into(),
            campaign: camp.into(),
            ..Utm::default()
        },
        extra: BTreeMap::new(),
    }
}

fn contact(id: &str, email: &str) -> Contact {
    Contact {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        name: String::new(),
        emails: vec![email.into()],
        phones: vec![],
        created_at: msk(2026, 10, 1, 0, 0),
        updated_at: msk(2026, 10, 1, 0, 0),
    }
}

fn deal(id: &str, at: DateTime<Utc>, user: &str, contact: &str) -> Deal {
    Deal {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        name: String::new(),
        pipeline_id: "1".into(),
        status_id: "142".into(),
        responsible_user_id: user.into(),
        price: dec!(0),
        currency: "RUB".into(),
        created_at: at,
        updated_at: at,
        closed_at: None,
        contact_ids: vec![contact.into()],
        utm: Utm::default(),
        product: String::new(),
        deleted: false,
    }
}

fn order(number: &str, at: DateTime<Utc>, email: &str, crm: &str, manager: &str) -> Order {
    Order {
        source: "getcourse".into(),
        account: "main".into(),
        id: format!("o{number}"),
        number: number.into(),
        created_at: at,
        name: String::new(),
        email: email.into(),
        phone: String::new(),
        cost: dec!(1000000),
        currency: "RUB".into(),
        status: OrderStatus::InProgress,
        product: String::new(),
        manager: manager.into(),
        crm_deal_id: crm.into(),
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
        amount,
        currency: "RUB".into(),
        status: PaymentStatus::Received,
        name: String::new(),
        email: String::new(),
        phone: String::new(),
    }
}

fn user(id: &str, name: &str, email: &str) -> Manager {
    Manager {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        name: name.into(),
        email: email.into(),
    }
}

fn school() -> Dataset {
    let mut ds = Dataset::default();
    ds.managers
        .push(user("u1", "Иван Петров", "ivan@school.ru"));
    ds.managers
        .push(user("u2", "Мария Соколова", "Maria@School.ru"));

    ds.ad_stats
        .push(stat(d(2026, 10, 5), "vk", "c1", "Осень", dec!(3000)));
    ds.ad_stats
        .push(stat(d(2026, 11, 2), "yandex", "c2", "Поиск", dec!(3000)));
    for (id, day, email) in [
        ("l1", 5, "anna@x.ru"),
        ("l2", 5, "boris@x.ru"),
        ("l3", 5, "gleb@x.ru"),
    ] {
        ds.leads
            .push(lead(id, msk(2026, 10, day, 12, 0), email, "vk", "Осень"));
    }
    for (id, email) in [("l4", "dasha@x.ru"), ("l5", "egor@x.ru")] {
        ds.leads
            .push(lead(id, msk(2026, 11, 2, 12, 0), email, "yandex", "Поиск"));
    }
    for (id, email) in [
        ("ca", "anna@x.ru"),
        ("cb", "boris@x.ru"),
        ("cd", "dasha@x.ru"),
        ("ce", "egor@x.ru"),
        ("cz", "zhenya@x.ru"),
    ] {
        ds.contacts.push(contact(id, email));
    }
    ds.deals
        .push(deal("d1", msk(2026, 10, 6, 10, 0), "u1", "ca"));
    ds.deals
        .push(deal("d2", msk(2026, 10, 6, 11, 0), "u1", "cb"));
    ds.deals
        .push(deal("d4", msk(2026, 10, 8, 10, 0), "u2", "ca"));
    ds.deals
        .push(deal("d3", msk(2026, 11, 3, 10, 0), "u1", "cd"));
    ds.deals
        .push(deal("d5", msk(2026, 11, 3, 11, 0), "u2", "ce"));
    ds.deals
        .push(deal("d6", msk(2026, 11, 9, 10, 0), "u9", "cz"));

    ds.orders
        .push(order("2001", msk(2026, 10, 9, 9, 0), "anna@x.ru", "d1", ""));
    ds.orders
        .push(order("2002", msk(2026, 10, 12, 9, 0), "boris@x.ru", "", ""));
    ds.orders.push(order(
        "2003",
        msk(2026, 10, 15, 9, 0),
        "gleb@x.ru",
        "",
        "  мария СОКОЛОВА ",
    ));
    ds.orders.push(order(
        "2004",
        msk(2026, 11, 4, 9, 0),
        "dasha@x.ru",
        "d3",
        "",
    ));
    ds.orders
        .push(order("2005", msk(2026, 11, 5, 9, 0), "egor@x.ru", "", ""));
    ds.orders
        .push(order("2006", msk(2026, 11, 8, 9, 0), "zhenya@x.ru", "", ""));

    for (id, number, at, amount) in [
        ("p1", "2001", msk(2026, 10, 9, 10, 0), dec!(100000)),
        ("p2", "2001", msk(2026, 10, 20, 10, 0), dec!(50000)),
        ("p3", "2002", msk(2026, 10, 12, 10, 0), dec!(60000)),
        ("p4", "2002", msk(2026, 11, 6, 10, 0), dec!(100000)),
        ("p5", "2003", msk(2026, 10, 15, 10, 0), dec!(40000)),
        ("p6", "2004", msk(2026, 11, 4, 10, 0), dec!(200000)),
        ("p7", "2005", msk(2026, 11, 5, 10, 0), dec!(30000)),
        ("p8", "2006", msk(2026, 11, 8, 10, 0), dec!(5000)),
        ("p9", "9999", msk(2026, 11, 7, 10, 0), dec!(700)),
        // After as_of: not money yet.
        ("p10", "2005", msk(2026, 11, 11, 10, 0), dec!(1000)),
    ] {
        ds.payments.push(payment(id, number, at, amount));
    }
    ds
}

const CONFIG: &str = r#"
[[plans]]
manager = "Иван Петров"
month = "2026-10"
revenue = "100000"

[[plans]]
manager = "Иван Петров"
month = "2026-11"
revenue = "1000000"
sales = 5

[[plans]]
manager = "Ольга Новикова"
month = "2026-11"
revenue = "100000"

[[plans]]
manager = "Мария Соколова"
month = "2027-01"
revenue = "1"
"#;

fn run() -> Marts {
    let config = Config::from_toml(CONFIG).unwrap();
    let collapsed = BTreeMap::new();
    metrics::aggregate(metrics::Input {
        dataset: &school(),
        config: &config,
        as_of: d(2026, 11, 10),
        sources: &[],
        collapsed: &collapsed,
        quarantined: 0,
        checked_at: msk(2026, 11, 11, 0, 0),
    })
}

fn row<'a>(m: &'a Marts, month: &str, manager: &str) -> &'a ManagerRow {
    m.managers
        .iter()
        .find(|r| r.month == month && r.manager == manager)
        .unwrap_or_else(|| panic!("no row {month} {manager}: {:#?}", m.managers))
}

#[test]
fn october_is_finished() {
    let m = run();
    // Иван, October: deals d1, d2 → 2 leads; sales 2001 (first paid 09.10)
    // and 2002 (12.10) → 2; cash 100 000 + 50 000 + 60 000 = 210 000.
    let ivan = row(&m, "2026-10", "Иван Петров");
    assert_eq!((ivan.leads, ivan.sales), (2, 2));
    assert_eq!(ivan.revenue, dec!(210000));
    // revenue1 = 100 000 + 60 000 = 160 000 → avg 80 000;
    // revenue2 (to as_of) = 150 000 + (60 000 + 100 000) = 310 000 → 155 000.
    assert_eq!(ivan.avg_check1, Some(dec!(80000)));
    assert_eq!(ivan.avg_check2, Some(dec!(155000)));
    assert_eq!(ivan.conversion, Some(dec!(1)));
    // Allocated spend: d1 (Anna's 05.10 vk lead) + d2 (Boris') = 2 × 1 000.
    assert_eq!(ivan.spend, dec!(2000));
    // ROMI1 = (160 000 − 2 000) / 2 000 × 100 = 7 900 %;
    // ROMI2 = (310 000 − 2 000) / 2 000 × 100 = 15 400 %.
    assert_eq!(ivan.romi1, Some(dec!(7900)));
    assert_eq!(ivan.romi2, Some(dec!(15400)));
    // Over plan: remaining max(100 000 − 210 000, 0) = 0; 210 %; a finished
    // month's forecast is the fact.
    assert_eq!(ivan.plan_revenue, Some(dec!(100000)));
    assert_eq!(ivan.remaining, Some(dec!(0)));
    assert_eq!(ivan.percent, Some(dec!(210)));
    assert_eq!((ivan.plan_sales, ivan.remaining_sales), (None, None));
    assert_eq!(ivan.forecast, Some(dec!(210000)));

    // Мария, October: d4 (Anna's later deal; her lead is the 05.10 vk one →
    // 1 000 allocated); Gleb's order 2003 by the GetCourse manager name:
    // 1 sale, 40 000. ROMI1 = ROMI2 = (40 000 − 1 000) / 1 000 × 100 = 3 900.
    let maria = row(&m, "2026-10", "Мария Соколова");
    assert_eq!((maria.leads, maria.sales), (1, 1));
    assert_eq!(maria.revenue, dec!(40000));
    assert_eq!(maria.spend, dec!(1000));
    assert_eq!(maria.romi1, Some(dec!(3900)));
    assert_eq!(maria.romi2, Some(dec!(3900)));
    assert_eq!(
        (maria.plan_revenue, maria.remaining, maria.percent),
        (None, None, None)
    );
    assert_eq!(maria.forecast, Some(dec!(40000)));
}

#[test]
fn november_runs_mid_month() {
    let m = run();
    // Иван, November: d3 → 1 lead; sale 2004 → 1; cash 200 000 (Dasha) +
    // 100 000 (Boris' surcharge on an October sale) = 300 000.
    let ivan = row(&m, "2026-11", "Иван Петров");
    assert_eq!((ivan.leads, ivan.sales), (1, 1));
    assert_eq!(ivan.revenue, dec!(300000));
    assert_eq!(
        (ivan.avg_check1, ivan.avg_check2),
        (Some(dec!(200000)), Some(dec!(200000)))
    );
    // d3 ← Dasha's 02.11 yandex lead: CPL 3 000 / 2 = 1 500.
    // ROMI1 = (200 000 − 1 500) / 1 500 × 100 = 13 233.33 %.
    assert_eq!(ivan.spend, dec!(1500));
    assert_eq!(ivan.romi1.unwrap().round_dp(2), dec!(13233.33));
    // Plan 1 000 000: remaining 700 000, 30 %; 5 sales planned, 1 made → 4.
    // Run rate: 300 000 / 10 elapsed days × 30 days = 900 000.
    assert_eq!(ivan.remaining, Some(dec!(700000)));
    assert_eq!(ivan.percent, Some(dec!(30)));
    assert_eq!((ivan.plan_sales, ivan.remaining_sales), (Some(5), Some(4)));
    assert_eq!(ivan.forecast, Some(dec!(900000)));

    // Мария: Egor's d5 and order 2005 (person fallback): 30 000 → 90 000.
    let maria = row(&m, "2026-11", "Мария Соколова");
    assert_eq!(
        (maria.leads, maria.sales, maria.revenue),
        (1, 1, dec!(30000))
    );
    assert_eq!(maria.spend, dec!(1500));
    assert_eq!(maria.plan_revenue, None);
    assert_eq!(maria.forecast, Some(dec!(90000)));

    // Unassigned: Zhenya's order 2006 (5 000, a sale) + the unmatched 700.
    // Forecast 5 700 / 10 × 30 = 17 100. No deals: conversion "—".
    let none = row(&m, "2026-11", "(без менеджера)");
    assert_eq!((none.leads, none.sales), (0, 1));
    assert_eq!(none.revenue, dec!(5700));
    assert_eq!(none.avg_check1, Some(dec!(5000)));
    assert_eq!(none.conversion, None);
    assert_eq!((none.spend, none.romi1), (dec!(0), None));
    assert_eq!(none.forecast, Some(dec!(17100)));

    // Unknown responsible id: shown as the id. Zhenya has no lead → no
    // allocated spend. Conversion 0 / 1 = 0.
    let u9 = row(&m, "2026-11", "u9");
    assert_eq!((u9.leads, u9.sales, u9.revenue), (1, 0, dec!(0)));
    assert_eq!(u9.conversion, Some(dec!(0)));
    assert_eq!(u9.avg_check1, None);

    // A plan without activity still shows: remaining = the plan, 0 %.
    let olga = row(&m, "2026-11", "Ольга Новикова");
    assert_eq!((olga.leads, olga.revenue), (0, dec!(0)));
    assert_eq!(olga.remaining, Some(dec!(100000)));
    assert_eq!(olga.percent, Some(dec!(0)));
    assert_eq!(olga.forecast, Some(dec!(0)));

    // Totals: cash over all rows = every payment to as_of =
    // 150 000 + 160 000 + 40 000 + 200 000 + 30 000 + 5 000 + 700 = 585 700.
    let cash: Decimal = m.managers.iter().map(|r| r.revenue).sum();
    assert_eq!(cash, dec!(585700));
    // Months after as_of (Мария's January plan) get no row.
    assert_eq!(m.managers.len(), 7);
}

#[test]
fn weekly_rows() {
    let m = run();
    let week = |w: NaiveDate, manager: &str| {
        m.manager_weeks
            .iter()
            .find(|r| r.week == w && r.manager == manager)
            .unwrap_or_else(|| panic!("no week {w} {manager}: {:#?}", m.manager_weeks))
    };
    // Week of Mon 05.10: Иван's d1, d2 and sale 2001 (100 000 on 09.10).
    let w = week(d(2026, 10, 5), "Иван Петров");
    assert_eq!((w.leads, w.sales, w.revenue), (2, 1, dec!(100000)));
    assert_eq!(w.conversion, Some(dec!(0.5)));
    // Week of 19.10: only Anna's 50 000 on 20.10.
    let w = week(d(2026, 10, 19), "Иван Петров");
    assert_eq!((w.leads, w.sales, w.revenue), (0, 0, dec!(50000)));
    assert_eq!(w.conversion, None);
    // Week of 02.11: 200 000 + 100 000.
    let w = week(d(2026, 11, 2), "Иван Петров");
    assert_eq!((w.leads, w.sales, w.revenue), (1, 1, dec!(300000)));
    // Week of 09.11: d6 (u9).
    let w = week(d(2026, 11, 9), "u9");
    assert_eq!((w.leads, w.sales), (1, 0));
    // Ordered by week, then manager.
    let keys: Vec<_> = m
        .manager_weeks
        .iter()
        .map(|r| (r.week, r.manager.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn managers_csv_text() {
    let m = run();
    // Managers sort by code point: "(" < "u" < Cyrillic.
    let expected = "\
month,manager,leads,sales,revenue,avg_check1,avg_check2,plan_revenue,remaining,forecast
2026-10,Иван Петров,2,2,210000.00,80000.00,155000.00,100000.00,0.00,210000.00
2026-10,Мария Соколова,1,1,40000.00,40000.00,40000.00,,,40000.00
2026-11,(без менеджера),0,1,5700.00,5000.00,5000.00,,,17100.00
2026-11,u9,1,0,0.00,,,,,0.00
2026-11,Иван Петров,1,1,300000.00,200000.00,200000.00,1000000.00,700000.00,900000.00
2026-11,Мария Соколова,1,1,30000.00,30000.00,30000.00,,,90000.00
2026-11,Ольга Новикова,0,0,0.00,,,100000.00,100000.00,0.00
";
    assert_eq!(
        export::managers_csv(&m, d(2026, 10, 1), d(2026, 11, 10)),
        expected
    );
    // A range inside November keeps only November's rows (months that
    // overlap the range).
    let nov = export::managers_csv(&m, d(2026, 11, 3), d(2026, 11, 10));
    assert_eq!(nov.lines().count(), 1 + 5);
    assert!(nov.lines().skip(1).all(|l| l.starts_with("2026-11,")));
}
