//! The first slice of the metric engine on a hand-built school. Every
//! expected figure is computed by hand in the comments, not by the code.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use voronka_core::config::Config;
use voronka_core::metrics::{self, CheckStatus, Marts};
use voronka_core::model::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// Moscow local time (UTC+3) to UTC.
fn msk(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, day, h, min, 0).unwrap() - chrono::Duration::hours(3)
}

#[allow(clippy::too_many_arguments)]
fn stat(
    source: &str,
    account: &str,
    date: NaiveDate,
    platform: &str,
    id: &str,
    name: &str,
    spend: Decimal,
    cur: &str,
) -> AdStat {
    AdStat {
        source: source.into(),
        account: account.into(),
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
        currency: cur.into(),
        vat: VatMode::Excluded,
    }
}

fn lead(id: &str, at: DateTime<Utc>, email: &str, phone: &str, src: &str, camp: &str) -> Lead {
    Lead {
        source: "tilda".into(),
        account: "main".into(),
        id: id.into(),
        created_at: at,
        form: "f1".into(),
        form_name: String::new(),
        name: String::new(),
        email: email.into(),
        phone: phone.into(),
        utm: Utm {
            source: src.into(),
            campaign: camp.into(),
            ..Utm::default()
        },
        extra: BTreeMap::new(),
    }
}

fn order(
    id: &str,
    number: &str,
    at: DateTime<Utc>,
    email: &str,
    phone: &str,
    cost: Decimal,
) -> Order {
    Order {
        source: "getcourse".into(),
        account: "main".into(),
        id: id.into(),
        number: number.into(),
        created_at: at,
        name: String::new(),
        email: email.into(),
        phone: phone.into(),
        cost,
        currency: "RUB".into(),
        status: OrderStatus::Paid,
        product: String::new(),
        manager: String::new(),
        crm_deal_id: String::new(),
        utm: Utm::default(),
    }
}

fn payment(
    id: &str,
    order: &str,
    at: DateTime<Utc>,
    amount: Decimal,
    status: PaymentStatus,
) -> Payment {
    Payment {
        source: "getcourse".into(),
        account: "main".into(),
        id: id.into(),
        order_number: order.into(),
        paid_at: at,
        amount,
        currency: "RUB".into(),
        status,
        name: String::new(),
        email: String::new(),
        phone: String::new(),
    }
}

fn school() -> Dataset {
    let mut ds = Dataset::default();
    // USD: the Friday publication takes effect Saturday 28.11 and serves
    // Sunday 29.11 (80.00); the set effective 27.11 is 79.50.
    for (date, value) in [
        (d(2026, 11, 27), dec!(79.5)),
        (d(2026, 11, 28), dec!(80.00)),
    ] {
        ds.rates.push(Rate {
            source: "cbr".into(),
            date,
            currency: "USD".into(),
            nominal: 1,
            value,
        });
    }
    // Sunday 29.11: Instagram rows of a USD Facebook account:
    // 10.005 USD x 80 = 800.40 RUB (no rounding before summing).
    ds.ad_stats.push(stat(
        "facebook",
        "fb",
        d(2026, 11, 29),
        "instagram",
        "111",
        "Весна",
        dec!(10.005),
        "USD",
    ));
    // Yandex, RUB without VAT, multiplier 1.2: 1000 x 1.2 = 1200 RUB.
    ds.ad_stats.push(stat(
        "yandex_direct",
        "ya",
        d(2026, 11, 29),
        "yandex",
        "222",
        "Поиск",
        dec!(1000),
        "RUB",
    ));

    // Anna: an autumn touch (unmatched campaign label), then Instagram by
    // campaign id with messy case, then a same-day duplicate (collapsed).
    ds.leads.push(lead(
        "t0",
        msk(2026, 11, 20, 10, 0),
        "anna@example.com",
        "",
        "fb",
        "Осень",
    ));
    ds.leads.push(lead(
        "t1",
        msk(2026, 11, 29, 10, 0),
        "anna@example.com",
        "",
        "IG ",
        "111",
    ));
    ds.leads.push(lead(
        "t1b",
        msk(2026, 11, 29, 12, 0),
        "ANNA@example.com",
        "",
        "ig",
        "111",
    ));
    // Boris, phone only, at 23:30 Moscow (20:30 UTC): still 29.11 locally;
    // campaign by name in lower case.
    ds.leads.push(lead(
        "t2",
        msk(2026, 11, 29, 23, 30),
        "",
        "9990000001",
        "yandex",
        "поиск",
    ));
    // Vera at 00:10 Moscow on 30.11 (21:10 UTC on 29.11): a 30.11 lead, no UTM.
    ds.leads.push(lead(
        "t3",
        msk(2026, 11, 30, 0, 10),
        "vera@example.com",
        "",
        "",
        "",
    ));

    // Anna's CRM contact has her phone and e-mail; her deal on 29.11.
    ds.contacts.push(Contact {
        source: "amocrm".into(),
        account: "main".into(),
        id: "c1".into(),
        name: "Анна".into(),
        emails: vec!["anna@example.com".into()],
        phones: vec!["+7 999 123-45-67".into()],
        created_at: msk(2026, 11, 29, 15, 0),
        updated_at: msk(2026, 11, 29, 15, 0),
    });
    ds.deals.push(Deal {
        source: "amocrm".into(),
        account: "main".into(),
        id: "d1".into(),
        name: "Анна — курс".into(),
        pipeline_id: "1".into(),
        status_id: "142".into(),
        responsible_user_id: "u1".into(),
        price: dec!(30000),
        currency: "RUB".into(),
        created_at: msk(2026, 11, 29, 15, 0),
        updated_at: msk(2026, 11, 29, 15, 0),
        closed_at: None,
        contact_ids: vec!["c1".into()],
        utm: Utm::default(),
        product: String::new(),
        deleted: false,
    });

    // Anna's order 1001 (30 000): 10 000 on 29.11 (first payment and a
    // prepayment: 10 000 < 30 000), 20 000 on 30.11 (a surcharge; paid in
    // full after it, so not a prepayment), a 5 000 refund on 30.11.
    // revenue1 = 10 000; revenue2 = 10 000 + 20 000 - 5 000 = 25 000.
    // The order carries only her phone in another format: identity joins it.
    ds.orders.push(order(
        "o1",
        "1001",
        msk(2026, 11, 29, 16, 0),
        "",
        "8 (999) 123 45 67",
        dec!(30000),
    ));
    ds.payments.push(payment(
        "p1",
        "1001",
        msk(2026, 11, 29, 16, 5),
        dec!(10000),
        PaymentStatus::Received,
    ));
    ds.payments.push(payment(
        "p2",
        "1001",
        msk(2026, 11, 30, 10, 0),
        dec!(20000),
        PaymentStatus::Received,
    ));
    ds.payments.push(payment(
        "p3",
        "1001",
        msk(2026, 11, 30, 12, 0),
        dec!(5000),
        PaymentStatus::Refunded,
    ));
    // Boris' order 1002 paid in full on 30.11; a pending payment is no money.
    ds.orders.push(order(
        "o2",
        "1002",
        msk(2026, 11, 30, 9, 0),
        "",
        "+7 (999) 000-00-01",
        dec!(15000),
    ));
    ds.payments.push(payment(
        "p4",
        "1002",
        msk(2026, 11, 30, 9, 30),
        dec!(15000),
        PaymentStatus::Received,
    ));
    ds.payments.push(payment(
        "p6",
        "1002",
        msk(2026, 11, 30, 9, 40),
        dec!(1000),
        PaymentStatus::Expected,
    ));
    // A payment that matches no order: cash only.
    ds.payments.push(payment(
        "p5",
        "9999",
        msk(2026, 11, 30, 11, 0),
        dec!(700),
        PaymentStatus::Received,
    ));
    ds
}

const CONFIG: &str = r#"
[sources.yandex_direct]
accounts = [{ id = "ya", spend_multiplier = "1.2" }]

[sources.facebook]
accounts = [{ id = "fb" }]

[[contractors]]
contractor = "Агентство"
account = "facebook:fb"
"#;

fn run(ds: &Dataset, config: &Config) -> Marts {
    let collapsed = BTreeMap::new();
    metrics::aggregate(metrics::Input {
        dataset: ds,
        config,
        as_of: d(2026, 11, 30),
        sources: &[],
        collapsed: &collapsed,
        quarantined: 0,
        checked_at: msk(2026, 12, 1, 0, 0),
    })
}

fn row<'a>(
    m: &'a Marts,
    date: NaiveDate,
    platform: &str,
    campaign: &str,
) -> &'a metrics::ChannelRow {
    m.channels
        .iter()
        .find(|r| r.date == date && r.platform == platform && r.campaign == campaign)
        .unwrap_or_else(|| panic!("no row {date} {platform} {campaign}: {:#?}", m.channels))
}

#[test]
fn last_touch_school() {
    let config = Config::from_toml(CONFIG).unwrap();
    let m = run(&school(), &config);

    let ig = row(&m, d(2026, 11, 29), "instagram", "Весна");
    assert_eq!(ig.contractor, "Агентство");
    assert_eq!(ig.spend, dec!(800.40));
    assert_eq!((ig.impressions, ig.clicks), (1000, 10));
    // t1 survives, t1b (same person, form, day) is collapsed.
    assert_eq!(ig.leads, 1);
    assert_eq!(ig.applications, 1);
    assert_eq!((ig.sales, ig.customers), (1, 1));
    assert_eq!((ig.revenue1, ig.revenue2), (dec!(10000), dec!(25000)));

    let ya = row(&m, d(2026, 11, 29), "yandex", "Поиск");
    assert_eq!(ya.contractor, "(без подрядчика)");
    assert_eq!(ya.spend, dec!(1200.0));
    assert_eq!((ya.leads, ya.sales), (1, 1));
    assert_eq!((ya.revenue1, ya.revenue2), (dec!(15000), dec!(15000)));

    let autumn = row(&m, d(2026, 11, 20), "facebook", "Осень");
    assert_eq!((autumn.leads, autumn.sales, autumn.applications), (1, 0, 0));

    let und = row(&m, d(2026, 11, 30), "(не определено)", "");
    assert_eq!(und.leads, 1);

    // Cash: 29.11 = 10 000 (a prepayment), spend 800.40 + 1 200 = 2 000.40.
    let c29 = m.cash.iter().find(|c| c.date == d(2026, 11, 29)).unwrap();
    assert_eq!(
        (c29.revenue, c29.prepayments, c29.surcharges),
        (dec!(10000), dec!(10000), dec!(0))
    );
    assert_eq!(c29.spend, dec!(2000.40));
    // 30.11 = 20 000 - 5 000 + 15 000 + 700 = 30 700; surcharge 20 000.
    let c30 = m.cash.iter().find(|c| c.date == d(2026, 11, 30)).unwrap();
    assert_eq!(c30.revenue, dec!(30700));
    assert_eq!(
        (c30.surcharges, c30.refunds, c30.prepayments),
        (dec!(20000), dec!(-5000), dec!(0))
    );

    let s = &m.summary;
    assert_eq!(s.spend, dec!(2000.40));
    assert_eq!(
        (s.leads, s.applications, s.sales, s.customers),
        (4, 1, 2, 2)
    );
    assert_eq!((s.revenue1, s.revenue2), (dec!(25000), dec!(40000)));
    assert_eq!(s.cash_revenue, dec!(40700));
    // ROMI1 = (25 000 - 2 000.40) / 2 000.40 = 1 149.75 %;
    // ROMI2 = (40 000 - 2 000.40) / 2 000.40 = 1 899.60 %.
    assert_eq!(s.romi1.unwrap().round_dp(2), dec!(1149.75));
    assert_eq!(s.romi2.unwrap().round_dp(2), dec!(1899.60));
    // avg checks 25 000 / 2 and 40 000 / 2; CPL = 2 000.40 / 4 = 500.10.
    assert_eq!(s.avg_check1, Some(dec!(12500)));
    assert_eq!(s.avg_check2, Some(dec!(20000)));
    assert_eq!(s.cpl, Some(dec!(500.10)));
    assert_eq!(s.margin, dec!(37999.60));

    let status = |check: &str| {
        m.checks
            .iter()
            .filter(|c| c.check == check)
            .map(|c| c.status)
            .max()
            .unwrap()
    };
    assert_eq!(status("reconciliation"), CheckStatus::Green);
    assert_eq!(status("unmatched_payments"), CheckStatus::Yellow);
    assert_eq!(status("duplicates"), CheckStatus::Yellow);
    assert_eq!(status("currency"), CheckStatus::Green);
    // Undefined leads: 1 of 4 = 25 % > 10 %.
    assert_eq!(status("unattributed"), CheckStatus::Yellow);
}

#[test]
fn first_touch_moves_annas_sale_to_her_first_lead() {
    let config = Config::from_toml(&format!("attribution = \"first_touch\"\n{CONFIG}")).unwrap();
    let m = run(&school(), &config);
    let autumn = row(&m, d(2026, 11, 20), "facebook", "Осень");
    assert_eq!((autumn.applications, autumn.sales), (1, 1));
    assert_eq!(
        (autumn.revenue1, autumn.revenue2),
        (dec!(10000), dec!(25000))
    );
    let ig = row(&m, d(2026, 11, 29), "instagram", "Весна");
    assert_eq!((ig.applications, ig.sales, ig.leads), (0, 0, 1));
    assert_eq!(m.attribution, "first_touch");
    // Totals do not depend on the model.
    assert_eq!(m.summary.revenue2, dec!(40000));
}

#[test]
fn missing_rate_is_never_one() {
    let config = Config::from_toml(CONFIG).unwrap();
    let mut ds = school();
    ds.rates.clear();
    let m = run(&ds, &config);
    // The USD row is left out (not converted at 1), the check is red.
    assert_eq!(m.summary.spend, dec!(1200.0));
    let currency: Vec<_> = m.checks.iter().filter(|c| c.check == "currency").collect();
    assert_eq!(currency[0].status, CheckStatus::Red);
}

#[test]
fn input_order_does_not_matter() {
    let config = Config::from_toml(CONFIG).unwrap();
    let a = run(&school(), &config);
    let mut ds = school();
    ds.leads.reverse();
    ds.payments.reverse();
    ds.orders.reverse();
    ds.ad_stats.reverse();
    let b = run(&ds, &config);
    assert_eq!(a, b);
}

fn viewer(webinar: NaiveDate, phone: &str, minutes: i64) -> WebinarViewer {
    // Webinars start at 19:00 Moscow.
    let start = msk(webinar.year(), webinar.month(), webinar.day(), 19, 0);
    WebinarViewer {
        source: "bizon365".into(),
        account: "main".into(),
        webinar_id: format!("room*{webinar}"),
        viewer_id: phone.into(),
        webinar_start: start,
        name: String::new(),
        email: String::new(),
        phone: phone.into(),
        view_from: start,
        view_till: start + chrono::Duration::minutes(minutes),
        utm: Utm::default(),
    }
}

fn deal(id: &str, contact: &str, at: DateTime<Utc>) -> Deal {
    Deal {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        name: String::new(),
        pipeline_id: "1".into(),
        status_id: "10".into(),
        responsible_user_id: "u1".into(),
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

fn contact(id: &str, phone: &str) -> Contact {
    Contact {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        name: String::new(),
        emails: vec![],
        phones: vec![phone.into()],
        created_at: msk(2026, 11, 1, 0, 0),
        updated_at: msk(2026, 11, 1, 0, 0),
    }
}

/// The rest of the tiny school: attendance window edges, a later lead
/// without UTM, a deal before any lead, prepayment plus two доплаты, a
/// repeat order, a cancelled order.
#[test]
fn window_edges_touch_rules_and_order_shapes() {
    let config = Config::from_toml("").unwrap();
    let mut ds = Dataset::default();
    // Three registrants on 01.11 (vk, "Осень"); they watch a webinar on
    // day 0 (01.11), day 14 (15.11) and day 15 (16.11): attendance counts
    // the first two only (window 14 days, inclusive). Only the day-0 viewer
    // stays to the offer minute (60): 90 minutes watched vs 30 and 45.
    for (i, (phone, day, minutes)) in [
        ("9000000001", 1, 90),
        ("9000000002", 15, 30),
        ("9000000003", 16, 45),
    ]
    .into_iter()
    .enumerate()
    {
        ds.leads.push(lead(
            &format!("a{i}"),
            msk(2026, 11, 1, 12, 0),
            "",
            phone,
            "vk",
            "Осень",
        ));
        ds.viewers.push(viewer(d(2026, 11, day), phone, minutes));
    }
    // Pavel: vk lead 10.11, then a lead WITHOUT UTM on 12.11 (another
    // form), deal on 13.11 -> last touch = the 10.11 vk lead.
    ds.leads.push(lead(
        "p1",
        msk(2026, 11, 10, 12, 0),
        "",
        "9000000010",
        "vk",
        "Осень",
    ));
    let mut l = lead("p2", msk(2026, 11, 12, 12, 0), "", "9000000010", "", "");
    l.form = "f2".into();
    ds.leads.push(l);
    ds.contacts.push(contact("c10", "+7 900 000-00-10"));
    ds.deals.push(deal("d10", "c10", msk(2026, 11, 13, 12, 0)));
    // Gleb: deal on 05.11 BEFORE his only lead (yandex, 07.11) -> credited
    // to the 07.11 lead (the earliest lead with a source after the deal).
    ds.contacts.push(contact("c20", "8 900 000 00 20"));
    ds.deals.push(deal("d20", "c20", msk(2026, 11, 5, 12, 0)));
    ds.leads.push(lead(
        "g1",
        msk(2026, 11, 7, 12, 0),
        "",
        "9000000020",
        "yandex",
        "Поиск",
    ));
    // Pavel's order 2001 (30 000): 10 000 on 14.11 (first, prepayment),
    // 10 000 on 16.11 (доплата and still a prepayment: 20 000 < 30 000),
    // 10 000 on 18.11 (доплата, paid in full: not a prepayment).
    ds.orders.push(order(
        "o21",
        "2001",
        msk(2026, 11, 14, 10, 0),
        "",
        "9000000010",
        dec!(30000),
    ));
    for (id, day) in [("q1", 14), ("q2", 16), ("q3", 18)] {
        ds.payments.push(payment(
            id,
            "2001",
            msk(2026, 11, day, 11, 0),
            dec!(10000),
            PaymentStatus::Received,
        ));
    }
    // His repeat order 2002 (5 000) paid on 20.11: a sale of its own.
    ds.orders.push(order(
        "o22",
        "2002",
        msk(2026, 11, 20, 10, 0),
        "",
        "9000000010",
        dec!(5000),
    ));
    ds.payments.push(payment(
        "q4",
        "2002",
        msk(2026, 11, 20, 11, 0),
        dec!(5000),
        PaymentStatus::Received,
    ));
    // Gleb's order is cancelled and unpaid: no sale.
    let mut cancelled = order(
        "o23",
        "2003",
        msk(2026, 11, 8, 10, 0),
        "",
        "9000000020",
        dec!(9000),
    );
    cancelled.status = OrderStatus::Cancelled;
    ds.orders.push(cancelled);

    let m = run(&ds, &config);
    let autumn1 = row(&m, d(2026, 11, 1), "vk", "Осень");
    assert_eq!((autumn1.leads, autumn1.attendees), (3, 2));
    let autumn10 = row(&m, d(2026, 11, 10), "vk", "Осень");
    // Pavel's deal and both his orders are credited to his 10.11 vk lead;
    // two sales, one customer; revenue1 = 10 000 + 5 000, revenue2 = 35 000.
    assert_eq!(
        (autumn10.applications, autumn10.sales, autumn10.customers),
        (1, 2, 1)
    );
    assert_eq!(
        (autumn10.revenue1, autumn10.revenue2),
        (dec!(15000), dec!(35000))
    );
    let search = row(&m, d(2026, 11, 7), "yandex", "Поиск");
    assert_eq!((search.leads, search.applications, search.sales), (1, 1, 0));
    // The no-UTM lead counts as a lead of its own day, undefined channel.
    let und = row(&m, d(2026, 11, 12), "(не определено)", "");
    assert_eq!((und.leads, und.applications), (1, 0));

    let cash = |day| m.cash.iter().find(|c| c.date == d(2026, 11, day)).unwrap();
    assert_eq!(
        (cash(14).prepayments, cash(14).surcharges),
        (dec!(10000), dec!(0))
    );
    assert_eq!(
        (cash(16).prepayments, cash(16).surcharges),
        (dec!(10000), dec!(10000))
    );
    assert_eq!(
        (cash(18).prepayments, cash(18).surcharges),
        (dec!(0), dec!(10000))
    );
    // The repeat order's only payment is its first: neither.
    assert_eq!(
        (cash(20).prepayments, cash(20).surcharges, cash(20).revenue),
        (dec!(0), dec!(0), dec!(5000))
    );
    assert_eq!(m.summary.sales, 2);

    // Stayed to offer: only the day-0 viewer (90 min ≥ 60) in the funnel.
    let stayed: u64 = m
        .funnel
        .iter()
        .filter(|f| f.date == d(2026, 11, 1))
        .map(|f| f.stayed_to_offer)
        .sum();
    assert_eq!(stayed, 1);
}

#[test]
fn quarantined_responses_turn_their_check_yellow() {
    let config = Config::from_toml(CONFIG).unwrap();
    let collapsed = BTreeMap::new();
    let empty = Dataset::default();
    let input = |quarantined| metrics::Input {
        dataset: &empty,
        config: &config,
        as_of: d(2026, 11, 30),
        sources: &[],
        collapsed: &collapsed,
        quarantined,
        checked_at: msk(2026, 12, 1, 0, 0),
    };
    let status = |m: &Marts| {
        m.checks
            .iter()
            .find(|c| c.check == "quarantine")
            .cloned()
            .unwrap()
    };
    let clean = metrics::aggregate(input(0));
    assert_eq!(status(&clean).status, CheckStatus::Green);
    let bad = status(&metrics::aggregate(input(3)));
    assert_eq!(bad.status, CheckStatus::Yellow);
    // "3 ответа" with a no-break space.
    assert!(bad.detail.starts_with("3\u{a0}ответа "), "{}", bad.detail);
}
