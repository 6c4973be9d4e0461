//! Funnel slices (metrics.md §7) on a hand-built school: products and
//! managers per stage, slices summing to the channel marts, deals reached
//! per pipeline status, client search. Expected figures are computed by
//! hand in the comments.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use voronka_core::config::Config;
use voronka_core::metrics::funnel::{self, OrderDeals};
use voronka_core::metrics::{self, FunnelRow, Marts, Resolved};
use voronka_core::model::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// Moscow local time (UTC+3) to UTC.
fn msk(m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, day, h, min, 0).unwrap() - chrono::Duration::hours(3)
}

fn lead(
    id: &str,
    at: DateTime<Utc>,
    name: &str,
    email: &str,
    phone: &str,
    src: &str,
    camp: &str,
) -> Lead {
    Lead {
        source: "tilda".into(),
        account: "main".into(),
        id: id.into(),
        created_at: at,
        form: "reg".into(),
        form_name: String::new(),
        name: name.into(),
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

fn contact(id: &str, name: &str, emails: &[&str], phones: &[&str]) -> Contact {
    Contact {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        name: name.into(),
        emails: emails.iter().map(|s| s.to_string()).collect(),
        phones: phones.iter().map(|s| s.to_string()).collect(),
        created_at: msk(11, 1, 0, 0),
        updated_at: msk(11, 1, 0, 0),
    }
}

#[allow(clippy::too_many_arguments)]
fn deal(
    id: &str,
    contact: &str,
    at: DateTime<Utc>,
    pipeline: &str,
    status: &str,
    user: &str,
    product: &str,
) -> Deal {
    Deal {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        name: format!("Сделка {id}"),
        pipeline_id: pipeline.into(),
        status_id: status.into(),
        responsible_user_id: user.into(),
        price: dec!(0),
        currency: "RUB".into(),
        created_at: at,
        updated_at: at,
        closed_at: None,
        contact_ids: vec![contact.into()],
        utm: Utm::default(),
        product: product.into(),
        deleted: false,
    }
}

#[allow(clippy::too_many_arguments)]
fn order(
    number: &str,
    at: DateTime<Utc>,
    email: &str,
    phone: &str,
    product: &str,
    manager: &str,
    crm_deal_id: &str,
) -> Order {
    Order {
        source: "getcourse".into(),
        account: "main".into(),
        id: format!("o{number}"),
        number: number.into(),
        created_at: at,
        name: String::new(),
        email: email.into(),
        phone: phone.into(),
        cost: dec!(100000),
        currency: "RUB".into(),
        status: OrderStatus::InProgress,
        product: product.into(),
        manager: manager.into(),
        crm_deal_id: crm_deal_id.into(),
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

fn status(id: &str, name: &str, sort: i64, kind: StatusKind) -> PipelineStatus {
    PipelineStatus {
        id: id.into(),
        name: name.into(),
        sort,
        kind,
    }
}

fn change(id: &str, deal: &str, at: DateTime<Utc>, from: &str, to: &str) -> StatusChange {
    StatusChange {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        deal_id: deal.into(),
        at,
        from_pipeline_id: "1".into(),
        from_status_id: from.into(),
        to_pipeline_id: "1".into(),
        to_status_id: to.into(),
    }
}

fn viewer(id: &str, phone: &str, email: &str, start: DateTime<Utc>, minutes: i64) -> WebinarViewer {
    WebinarViewer {
        source: "bizon365".into(),
        account: "main".into(),
        webinar_id: "w1".into(),
        viewer_id: id.into(),
        webinar_start: start,
        name: String::new(),
        email: email.into(),
        phone: phone.into(),
        view_from: start,
        view_till: start + chrono::Duration::minutes(minutes),
        utm: Utm::default(),
    }
}

fn school() -> Dataset {
    let mut ds = Dataset::default();
    // Leads: Anna 20.11 (fb «Осень»), Boris 21.11 (yandex «Поиск», phone
    // only), Vera 22.11 (vk «Зима»), Gleb 23.11 (no UTM, no contact).
    ds.leads.push(lead(
        "l1",
        msk(11, 20, 10, 0),
        "Анна Петрова",
        "anna@example.com",
        "",
        "fb",
        "Осень",
    ));
    ds.leads.push(lead(
        "l2",
        msk(11, 21, 10, 0),
        "Борис",
        "",
        "8 (999) 000-00-01",
        "yandex",
        "Поиск",
    ));
    ds.leads.push(lead(
        "l3",
        msk(11, 22, 10, 0),
        "Вера",
        "vera@example.com",
        "",
        "vk",
        "Зима",
    ));
    ds.leads
        .push(lead("l4", msk(11, 23, 10, 0), "Глеб", "", "", "", ""));
    // Webinar on 21.11 at 19:00, offer at minute 60 (default): Anna stays
    // 90 minutes (attended, stayed to the offer), Boris 30 (attended only).
    ds.viewers
        .push(viewer("v1", "", "anna@example.com", msk(11, 21, 19, 0), 90));
    ds.viewers
        .push(viewer("v2", "+79990000001", "", msk(11, 21, 19, 0), 30));

    ds.managers.push(Manager {
        source: "amocrm".into(),
        account: "main".into(),
        id: "u1".into(),
        name: "Ольга".into(),
        email: "olga@school.ru".into(),
    });
    ds.managers.push(Manager {
        source: "amocrm".into(),
        account: "main".into(),
        id: "u2".into(),
        name: "Пётр".into(),
        email: String::new(),
    });
    ds.pipelines.push(Pipeline {
        source: "amocrm".into(),
        account: "main".into(),
        id: "1".into(),
        name: "Продажи".into(),
        // Listed out of order on purpose: `sort` orders them.
        statuses: vec![
            status("143", "Закрыто и не реализовано", 11000, StatusKind::Lost),
            status("102", "Консультация", 30, StatusKind::Open),
            status("100", "Неразобранное", 10, StatusKind::Unsorted),
            status("101", "Новая", 20, StatusKind::Open),
            status("103", "Счёт", 40, StatusKind::Open),
            status("142", "Успешно реализовано", 10000, StatusKind::Won),
        ],
    });
    ds.pipelines.push(Pipeline {
        source: "amocrm".into(),
        account: "main".into(),
        id: "2".into(),
        name: "Интенсив".into(),
        statuses: vec![
            status("200", "Новая", 10, StatusKind::Open),
            status("142", "Успешно реализовано", 10000, StatusKind::Won),
            status("143", "Закрыто и не реализовано", 11000, StatusKind::Lost),
        ],
    });

    ds.contacts.push(contact(
        "c1",
        "Анна",
        &["anna@example.com"],
        &["+7 999 123-45-67"],
    ));
    ds.contacts
        .push(contact("c2", "Борис", &[], &["9990000001"]));
    ds.contacts
        .push(contact("c3", "Вера", &["vera@example.com"], &[]));
    // d1 Anna: won, Ольга, «Курс A». d2 Boris: in «Консультация», Пётр.
    // d3 Vera: lost after reaching «Счёт» (history). d4 Vera: lost, no
    // history, an unknown user id. d5 Boris: pipeline 2, «Интенсив».
    ds.deals.push(deal(
        "d1",
        "c1",
        msk(11, 21, 12, 0),
        "1",
        "142",
        "u1",
        "Курс A",
    ));
    ds.deals
        .push(deal("d2", "c2", msk(11, 21, 13, 0), "1", "102", "u2", ""));
    ds.deals.push(deal(
        "d3",
        "c3",
        msk(11, 22, 12, 0),
        "1",
        "143",
        "u1",
        "Курс B",
    ));
    ds.deals
        .push(deal("d4", "c3", msk(11, 23, 12, 0), "1", "143", "u9", ""));
    ds.deals.push(deal(
        "d5",
        "c2",
        msk(11, 24, 12, 0),
        "2",
        "200",
        "u2",
        "Интенсив",
    ));
    ds.status_changes
        .push(change("s1", "d3", msk(11, 22, 12, 1), "100", "101"));
    ds.status_changes
        .push(change("s2", "d3", msk(11, 22, 13, 0), "101", "103"));
    ds.status_changes
        .push(change("s3", "d3", msk(11, 23, 9, 0), "103", "143"));

    // o1001 Anna, offer «Курс A», no deal id: her latest deal at or
    // before the order is d1. 10 000 on 21.11, 5 000 on 25.11.
    ds.orders.push(order(
        "1001",
        msk(11, 21, 14, 0),
        "anna@example.com",
        "",
        "Курс A",
        "",
        "",
    ));
    ds.payments
        .push(payment("p1", "1001", msk(11, 21, 14, 5), dec!(10000)));
    ds.payments
        .push(payment("p2", "1001", msk(11, 25, 10, 0), dec!(5000)));
    // o1002 Boris, no offer, stores deal d5: product and manager from d5.
    ds.orders.push(order(
        "1002",
        msk(11, 24, 13, 0),
        "",
        "+7 999 000 00 01",
        "",
        "",
        "d5",
    ));
    ds.payments
        .push(payment("p3", "1002", msk(11, 24, 13, 5), dec!(3000)));
    // o1003 Vera, created before her deals: no linked deal; the GetCourse
    // manager field (Ольга's e-mail) maps to Ольга.
    ds.orders.push(order(
        "1003",
        msk(11, 21, 9, 0),
        "vera@example.com",
        "",
        "Курс B",
        "OLGA@school.ru",
        "",
    ));
    ds.payments
        .push(payment("p4", "1003", msk(11, 22, 15, 0), dec!(7000)));
    // o1004 a stranger: no lead, no deal, no manager; undefined channel on
    // the first payment's date 26.11.
    ds.orders.push(order(
        "1004",
        msk(11, 26, 9, 0),
        "nobody@example.com",
        "",
        "",
        "",
        "",
    ));
    ds.payments
        .push(payment("p5", "1004", msk(11, 26, 9, 5), dec!(2000)));
    // o1005 Anna, never paid: not a sale.
    ds.orders.push(order(
        "1005",
        msk(11, 27, 9, 0),
        "anna@example.com",
        "",
        "Курс C",
        "",
        "",
    ));
    ds
}

fn as_of() -> NaiveDate {
    d(2026, 11, 30)
}

fn run(ds: &Dataset, config: &Config) -> Marts {
    let collapsed = BTreeMap::new();
    metrics::aggregate(metrics::Input {
        dataset: ds,
        config,
        as_of: as_of(),
        sources: &[],
        collapsed: &collapsed,
        quarantined: 0,
        checked_at: msk(12, 1, 0, 0),
    })
}

#[allow(clippy::too_many_arguments)]
fn frow(
    date: NaiveDate,
    platform: &str,
    campaign: &str,
    product: &str,
    manager: &str,
    stages: [u64; 5],
    revenue1: Decimal,
    revenue2: Decimal,
) -> FunnelRow {
    FunnelRow {
        date,
        platform: platform.into(),
        campaign: campaign.into(),
        contractor: "(без подрядчика)".into(),
        product: product.into(),
        manager: manager.into(),
        leads: stages[0],
        attendees: stages[1],
        stayed_to_offer: stages[2],
        applications: stages[3],
        sales: stages[4],
        revenue1,
        revenue2,
    }
}

#[test]
fn products_and_managers_per_stage() {
    let config = Config::default();
    let m = run(&school(), &config);
    let z = dec!(0);
    let und = "(не определено)";
    // Sorted by (date, platform, campaign, contractor, product, manager).
    let expected = vec![
        // Anna's lead: no product, no manager; attended and stayed.
        frow(
            d(2026, 11, 20),
            "facebook",
            "Осень",
            "",
            "",
            [1, 1, 1, 0, 0],
            z,
            z,
        ),
        // d1 (credited to l1) and o1001 (offer «Курс A», d1's Ольга):
        // revenue1 10 000, revenue2 10 000 + 5 000.
        frow(
            d(2026, 11, 20),
            "facebook",
            "Осень",
            "Курс A",
            "Ольга",
            [0, 0, 0, 1, 1],
            dec!(10000),
            dec!(15000),
        ),
        // Boris' lead: attended, left before the offer.
        frow(
            d(2026, 11, 21),
            "yandex",
            "Поиск",
            "",
            "",
            [1, 1, 0, 0, 0],
            z,
            z,
        ),
        // d2: no product, Пётр.
        frow(
            d(2026, 11, 21),
            "yandex",
            "Поиск",
            "",
            "Пётр",
            [0, 0, 0, 1, 0],
            z,
            z,
        ),
        // d5 and o1002 (product and manager from d5 by crm_deal_id).
        frow(
            d(2026, 11, 21),
            "yandex",
            "Поиск",
            "Интенсив",
            "Пётр",
            [0, 0, 0, 1, 1],
            dec!(3000),
            dec!(3000),
        ),
        // Vera's lead: the webinar on 21.11 is before her lead: not attended.
        frow(d(2026, 11, 22), "vk", "Зима", "", "", [1, 0, 0, 0, 0], z, z),
        // d4: unknown user id u9 shown as the id.
        frow(
            d(2026, 11, 22),
            "vk",
            "Зима",
            "",
            "u9",
            [0, 0, 0, 1, 0],
            z,
            z,
        ),
        // d3 and o1003 (created before her first lead and deals: credited
        // to the earliest sourced lead after it, l3; no deal at or before
        // the order, so the GetCourse manager field: Ольга).
        frow(
            d(2026, 11, 22),
            "vk",
            "Зима",
            "Курс B",
            "Ольга",
            [0, 0, 0, 1, 1],
            dec!(7000),
            dec!(7000),
        ),
        // Gleb: no UTM.
        frow(d(2026, 11, 23), und, "", "", "", [1, 0, 0, 0, 0], z, z),
        // o1004: no lead: undefined on its first payment's date.
        frow(
            d(2026, 11, 26),
            und,
            "",
            "",
            "(без менеджера)",
            [0, 0, 0, 0, 1],
            dec!(2000),
            dec!(2000),
        ),
    ];
    assert_eq!(m.funnel, expected);
}

#[test]
fn order_deal_links() {
    let ds = school();
    let config = Config::default();
    let r = Resolved::new(&ds, &config, as_of());
    let links = OrderDeals::new(&r);
    let deal_of = |number: &str| {
        let slot = r
            .orders
            .iter()
            .position(|o| ds.orders[o.order].number == number)
            .unwrap();
        assert_eq!(funnel::order_deal(&r, slot), links.get(slot));
        links
            .get(slot)
            .map(|i| ds.deals[r.deals[i].deal].id.clone())
    };
    assert_eq!(deal_of("1001").as_deref(), Some("d1"));
    assert_eq!(deal_of("1002").as_deref(), Some("d5"));
    assert_eq!(deal_of("1003"), None);
    assert_eq!(deal_of("1004"), None);
    // Anna's unpaid order of 27.11: her latest deal before it is d1.
    assert_eq!(deal_of("1005").as_deref(), Some("d1"));
}

/// Funnel rows summed over product and manager are the channel rows.
fn assert_slices_sum_to_channels(m: &Marts) {
    type Sums = (u64, u64, u64, u64, Decimal, Decimal);
    let mut from_funnel: BTreeMap<(NaiveDate, String, String, String), Sums> = BTreeMap::new();
    for f in &m.funnel {
        let e = from_funnel
            .entry((
                f.date,
                f.platform.clone(),
                f.campaign.clone(),
                f.contractor.clone(),
            ))
            .or_default();
        e.0 += f.leads;
        e.1 += f.attendees;
        e.2 += f.applications;
        e.3 += f.sales;
        e.4 += f.revenue1;
        e.5 += f.revenue2;
    }
    let mut from_channels: BTreeMap<(NaiveDate, String, String, String), Sums> = BTreeMap::new();
    for c in &m.channels {
        let sums = (
            c.leads,
            c.attendees,
            c.applications,
            c.sales,
            c.revenue1,
            c.revenue2,
        );
        if sums != Sums::default() {
            from_channels.insert(
                (
                    c.date,
                    c.platform.clone(),
                    c.campaign.clone(),
                    c.contractor.clone(),
                ),
                sums,
            );
        }
    }
    assert_eq!(from_funnel, from_channels);
}

#[test]
fn slices_sum_to_channel_totals() {
    let ds = school();
    let last = Config::default();
    let m = run(&ds, &last);
    assert_slices_sum_to_channels(&m);
    // Whole-school totals: 4 leads, 2 attendees, 5 applications, 4 sales,
    // revenue1 = 10 000 + 3 000 + 7 000 + 2 000 = 22 000, revenue2 27 000.
    let apps: u64 = m.funnel.iter().map(|f| f.applications).sum();
    let sales: u64 = m.funnel.iter().map(|f| f.sales).sum();
    let rev1: Decimal = m.funnel.iter().map(|f| f.revenue1).sum();
    let rev2: Decimal = m.funnel.iter().map(|f| f.revenue2).sum();
    assert_eq!((apps, sales, rev1, rev2), (5, 4, dec!(22000), dec!(27000)));
    assert_eq!((m.summary.applications, m.summary.sales), (5, 4));

    // The same under first touch, and with the input shuffled.
    let first = Config::from_toml("attribution = \"first_touch\"").unwrap();
    let mut shuffled = ds.clone();
    shuffled.leads.reverse();
    shuffled.deals.reverse();
    shuffled.orders.reverse();
    shuffled.payments.reverse();
    shuffled.pipelines.reverse();
    shuffled.managers.reverse();
    let f = run(&shuffled, &first);
    assert_slices_sum_to_channels(&f);
    assert_eq!(run(&shuffled, &last).funnel, m.funnel);
    assert_eq!(run(&shuffled, &last).pipeline_stages, m.pipeline_stages);
}

#[test]
fn pipeline_reached_counts() {
    let m = run(&school(), &Config::default());
    let got: Vec<(&str, &str, &str, i64, u64, u64)> = m
        .pipeline_stages
        .iter()
        .map(|s| {
            (
                s.pipeline_id.as_str(),
                s.status_id.as_str(),
                s.status.as_str(),
                s.sort,
                s.reached,
                s.current,
            )
        })
        .collect();
    // Pipeline 1 deals: d1 won (passed 100..103, reached 142); d2 in 102
    // (100, 101, 102); d3 lost with history 100 -> 101 -> 103 -> 143
    // (100..103 and 143); d4 lost without history (143 only).
    // reached: 100: d1 d2 d3 = 3; 101: 3; 102: 3; 103: d1 d3 = 2;
    // 142: d1 = 1; 143: d3 d4 = 2. Pipeline 2: d5 in 200.
    assert_eq!(
        got,
        vec![
            ("1", "100", "Неразобранное", 10, 3, 0),
            ("1", "101", "Новая", 20, 3, 0),
            ("1", "102", "Консультация", 30, 3, 1),
            ("1", "103", "Счёт", 40, 2, 0),
            ("1", "142", "Успешно реализовано", 10000, 1, 1),
            ("1", "143", "Закрыто и не реализовано", 11000, 2, 2),
            ("2", "200", "Новая", 10, 1, 1),
            ("2", "142", "Успешно реализовано", 10000, 0, 0),
            ("2", "143", "Закрыто и не реализовано", 11000, 0, 0),
        ]
    );
    assert!(m.pipeline_stages.iter().all(|s| !s.pipeline.is_empty()));
}

#[test]
fn moves_after_as_of_are_not_history() {
    let mut ds = school();
    // d3's move to «Счёт» dated after as_of: it reached only 101.
    ds.status_changes[1].at = msk(12, 5, 10, 0);
    ds.status_changes[2].from_status_id = "101".into();
    let m = run(&ds, &Config::default());
    let reached = |id: &str| {
        m.pipeline_stages
            .iter()
            .find(|s| s.pipeline_id == "1" && s.status_id == id)
            .unwrap()
            .reached
    };
    assert_eq!((reached("101"), reached("102"), reached("103")), (3, 2, 1));
}

#[test]
fn find_person_by_name_email_and_phone() {
    let ds = school();
    let config = Config::default();
    let r = Resolved::new(&ds, &config, as_of());
    let person_of = |lead: &str| {
        r.touches
            .iter()
            .find(|t| ds.leads[t.lead].id == lead)
            .unwrap()
            .person
    };
    let (anna, boris, vera) = (person_of("l1"), person_of("l2"), person_of("l3"));
    assert_ne!(anna, boris);
    // Name: case-insensitive substring of a lead, contact or order name.
    assert_eq!(funnel::find_person(&r, "петрова"), vec![anna]);
    assert_eq!(funnel::find_person(&r, "  ВЕРА "), vec![vera]);
    assert_eq!(funnel::find_person(&r, "Бор"), vec![boris]);
    // E-mail in any case.
    assert_eq!(funnel::find_person(&r, " ANNA@Example.com"), vec![anna]);
    // Phone in different formats: only her CRM contact carries it.
    for q in [
        "+7 (999) 123-45-67",
        "89991234567",
        "9991234567",
        "7-999-123-45-67",
    ] {
        assert_eq!(funnel::find_person(&r, q), vec![anna], "{q}");
    }
    for q in ["8 999 000 00 01", "+79990000001"] {
        assert_eq!(funnel::find_person(&r, q), vec![boris], "{q}");
    }
    // Several persons, sorted; nobody; empty query.
    let mut both = vec![anna, vera];
    both.sort();
    // "Анна Петрова" and "Вера" contain "в"; "Борис" and "Глеб" do not.
    assert_eq!(funnel::find_person(&r, "В"), both);
    assert!(funnel::find_person(&r, "zoe@example.com").is_empty());
    assert!(funnel::find_person(&r, "   ").is_empty());
}
