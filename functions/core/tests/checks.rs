//! The CRM-vs-payments, lost-leads and campaign spend-anomaly checks
//! (metrics.md §8, checks 8, 9 and 10), green and yellow, on hand-built
//! data; the expected ids and names are written out by hand.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use voronka_core::config::Config;
use voronka_core::metrics::{self, CheckResult, CheckStatus, Marts};
use voronka_core::model::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// Moscow local time (UTC+3) to UTC.
fn msk(m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, day, h, min, 0).unwrap() - chrono::Duration::hours(3)
}

fn lead(id: &str, form: &str, at: DateTime<Utc>, name: &str, email: &str, phone: &str) -> Lead {
    Lead {
        source: "tilda".into(),
        account: "main".into(),
        id: id.into(),
        created_at: at,
        form: form.into(),
        form_name: String::new(),
        name: name.into(),
        email: email.into(),
        phone: phone.into(),
        utm: Utm::default(),
        extra: BTreeMap::new(),
    }
}

fn contact(id: &str, emails: &[&str], phones: &[&str]) -> Contact {
    Contact {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        name: String::new(),
        emails: emails.iter().map(|s| s.to_string()).collect(),
        phones: phones.iter().map(|s| s.to_string()).collect(),
        created_at: msk(11, 1, 0, 0),
        updated_at: msk(11, 1, 0, 0),
    }
}

fn deal(id: &str, contact: &str, at: DateTime<Utc>, status: &str) -> Deal {
    Deal {
        source: "amocrm".into(),
        account: "main".into(),
        id: id.into(),
        name: String::new(),
        pipeline_id: "1".into(),
        status_id: status.into(),
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

fn order(number: &str, at: DateTime<Utc>, email: &str, crm_deal_id: &str) -> Order {
    Order {
        source: "getcourse".into(),
        account: "main".into(),
        id: format!("o{number}"),
        number: number.into(),
        created_at: at,
        name: String::new(),
        email: email.into(),
        phone: String::new(),
        cost: dec!(10000),
        currency: "RUB".into(),
        status: OrderStatus::Paid,
        product: String::new(),
        manager: String::new(),
        crm_deal_id: crm_deal_id.into(),
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

fn pipeline() -> Pipeline {
    let st = |id: &str, sort: i64, kind: StatusKind| PipelineStatus {
        id: id.into(),
        name: id.into(),
        sort,
        kind,
    };
    Pipeline {
        source: "amocrm".into(),
        account: "main".into(),
        id: "1".into(),
        name: "Продажи".into(),
        statuses: vec![
            st("101", 10, StatusKind::Open),
            st("142", 10000, StatusKind::Won),
            st("143", 11000, StatusKind::Lost),
        ],
    }
}

fn run(ds: &Dataset, config: &Config) -> Marts {
    let collapsed = BTreeMap::new();
    metrics::aggregate(metrics::Input {
        dataset: ds,
        config,
        as_of: d(2026, 11, 30),
        sources: &[],
        collapsed: &collapsed,
        quarantined: 0,
        checked_at: msk(12, 1, 0, 0),
    })
}

fn result<'a>(m: &'a Marts, check: &str, scope: &str) -> &'a CheckResult {
    m.checks
        .iter()
        .find(|c| c.check == check && c.scope == scope)
        .unwrap_or_else(|| panic!("no check {check}/{scope}: {:#?}", m.checks))
}

// --- 8. CRM vs payments -------------------------------------------------

/// Anna: won deal d1, paid order 1001 naming d1. Boris: won deal d2, his
/// order 1002 names no deal (linked through his person).
fn crm_consistent() -> Dataset {
    let mut ds = Dataset::default();
    ds.pipelines.push(pipeline());
    ds.contacts.push(contact("c1", &["anna@example.com"], &[]));
    ds.contacts.push(contact("c2", &["boris@example.com"], &[]));
    ds.deals.push(deal("d1", "c1", msk(11, 20, 10, 0), "142"));
    ds.deals.push(deal("d2", "c2", msk(11, 21, 10, 0), "142"));
    // An open and a lost deal need no order.
    ds.deals.push(deal("d3", "c2", msk(11, 22, 10, 0), "101"));
    ds.deals.push(deal("d4", "c2", msk(11, 22, 11, 0), "143"));
    // Boris' order is created before his deal: timing does not matter.
    ds.orders.push(order("1001", msk(11, 20, 11, 0), "", "d1"));
    ds.orders
        .push(order("1002", msk(11, 20, 9, 0), "boris@example.com", ""));
    ds.payments.push(payment(
        "p1",
        "1001",
        msk(11, 20, 12, 0),
        dec!(10000),
        PaymentStatus::Received,
    ));
    ds.payments.push(payment(
        "p2",
        "1002",
        msk(11, 21, 12, 0),
        dec!(5000),
        PaymentStatus::Received,
    ));
    ds
}

#[test]
fn crm_vs_payments_green() {
    let m = run(&crm_consistent(), &Config::default());
    let deals = result(&m, "crm_vs_payments", "deals");
    let orders = result(&m, "crm_vs_payments", "orders");
    assert_eq!(deals.status, CheckStatus::Green, "{}", deals.detail);
    assert_eq!(orders.status, CheckStatus::Green, "{}", orders.detail);
}

#[test]
fn crm_vs_payments_yellow() {
    let mut ds = crm_consistent();
    // Vera: won deal d5, but her only order was fully refunded (not paid).
    ds.contacts.push(contact("c3", &["vera@example.com"], &[]));
    ds.deals.push(deal("d5", "c3", msk(11, 23, 10, 0), "142"));
    ds.orders
        .push(order("1003", msk(11, 23, 11, 0), "vera@example.com", ""));
    ds.payments.push(payment(
        "p3",
        "1003",
        msk(11, 23, 12, 0),
        dec!(4000),
        PaymentStatus::Received,
    ));
    ds.payments.push(payment(
        "p4",
        "1003",
        msk(11, 24, 12, 0),
        dec!(4000),
        PaymentStatus::Refunded,
    ));
    // Gleb: won deal d6 in an unknown pipeline (status 142 = won) and no order.
    ds.contacts.push(contact("c4", &["gleb@example.com"], &[]));
    let mut d6 = deal("d6", "c4", msk(11, 23, 10, 0), "142");
    d6.pipeline_id = "9".into();
    ds.deals.push(d6);
    // Dima: paid order 1004 and no deal at all; order 1005 names a deal
    // that does not exist and Dima has no deal: also unlinked.
    ds.orders
        .push(order("1004", msk(11, 24, 9, 0), "dima@example.com", ""));
    ds.payments.push(payment(
        "p5",
        "1004",
        msk(11, 24, 9, 5),
        dec!(3000),
        PaymentStatus::Received,
    ));
    ds.orders.push(order(
        "1005",
        msk(11, 24, 10, 0),
        "dima@example.com",
        "d404",
    ));
    ds.payments.push(payment(
        "p6",
        "1005",
        msk(11, 24, 10, 5),
        dec!(3000),
        PaymentStatus::Received,
    ));
    // An unpaid order without a deal is not checked.
    ds.orders
        .push(order("1006", msk(11, 24, 11, 0), "zoe@example.com", ""));
    let m = run(&ds, &Config::default());

    let deals = result(&m, "crm_vs_payments", "deals");
    assert_eq!(deals.status, CheckStatus::Yellow);
    assert!(
        deals
            .detail
            .starts_with("2 успешных сделок без оплаченного заказа: d5, d6;"),
        "{}",
        deals.detail
    );
    let orders = result(&m, "crm_vs_payments", "orders");
    assert_eq!(orders.status, CheckStatus::Yellow);
    assert!(
        orders
            .detail
            .starts_with("2 оплаченных заказов без сделки в CRM: 1004, 1005;"),
        "{}",
        orders.detail
    );
    assert!(orders.detail.contains("укажите номер сделки"));
}

#[test]
fn crm_vs_payments_lists_ten_and_counts_all() {
    let mut ds = Dataset::default();
    ds.pipelines.push(pipeline());
    for i in 10..22 {
        ds.contacts.push(contact(
            &format!("c{i}"),
            &[&format!("p{i}@example.com")],
            &[],
        ));
        ds.deals.push(deal(
            &format!("d{i}"),
            &format!("c{i}"),
            msk(11, 20, 10, 0),
            "142",
        ));
    }
    let m = run(&ds, &Config::default());
    let deals = result(&m, "crm_vs_payments", "deals");
    assert!(
        deals.detail.starts_with(
            "12 успешных сделок без оплаченного заказа: d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, … (ещё 2);"
        ),
        "{}",
        deals.detail
    );
}

// --- 10. Lost leads -----------------------------------------------------

const LOST_CONFIG: &str = r#"
registration_forms = ["reg"]
application_forms = ["zayavka"]
"#;

/// As of 30.11 (its end: 01.12 00:00 Moscow).
fn lost_school() -> Dataset {
    let mut ds = Dataset::default();
    ds.pipelines.push(pipeline());
    // Anna applies on 20.11 10:00 (e-mail only); her deal (contact with
    // e-mail and phone) at 15:00 the same day: answered.
    ds.leads.push(lead(
        "a1",
        "zayavka",
        msk(11, 20, 10, 0),
        "Анна",
        "anna@example.com",
        "",
    ));
    ds.contacts
        .push(contact("c1", &["anna@example.com"], &["+79991234567"]));
    ds.deals.push(deal("d1", "c1", msk(11, 20, 15, 0), "101"));
    // Boris applies through the Salebot bot on 21.11 10:00; his deal comes
    // on 23.11, more than 24 hours later: lost.
    ds.leads.push(lead(
        "b1",
        "salebot:application",
        msk(11, 21, 10, 0),
        "Борис",
        "",
        "+7 999 000-00-01",
    ));
    ds.contacts.push(contact("c2", &[], &["89990000001"]));
    ds.deals.push(deal("d2", "c2", msk(11, 23, 10, 0), "101"));
    // Vera applies on 29.11 20:00; her 24 hours end 30.11 20:00, before
    // the end of as_of; no deal: lost.
    ds.leads.push(lead(
        "v1",
        "zayavka",
        msk(11, 29, 20, 0),
        "Вера",
        "vera@example.com",
        "8 999 222 33 44",
    ));
    // Gleb applies on 30.11 10:00: his 24 hours are not over: not judged.
    ds.leads.push(lead(
        "g1",
        "zayavka",
        msk(11, 30, 10, 0),
        "Глеб",
        "gleb@example.com",
        "",
    ));
    // Dima only registered (not an application form): not judged.
    ds.leads.push(lead(
        "r1",
        "reg",
        msk(11, 25, 10, 0),
        "Дима",
        "dima@example.com",
        "",
    ));
    // Egor's deal was created 5 minutes before his application arrived
    // (clocks of two systems): answered.
    ds.leads.push(lead(
        "e1",
        "zayavka",
        msk(11, 26, 10, 0),
        "Егор",
        "egor@example.com",
        "",
    ));
    ds.contacts.push(contact("c3", &["egor@example.com"], &[]));
    ds.deals.push(deal("d3", "c3", msk(11, 26, 9, 55), "101"));
    ds
}

#[test]
fn lost_leads_yellow_lists_name_and_contact() {
    let config = Config::from_toml(LOST_CONFIG).unwrap();
    let m = run(&lost_school(), &config);
    let c = result(&m, "lost_leads", "applications");
    assert_eq!(c.status, CheckStatus::Yellow);
    // Newest first; phone then e-mail as the lead spelled them.
    assert_eq!(
        c.detail,
        "2 человек оставили заявку, но сделка в CRM за 24 ч не создана: \
         Вера (8 999 222 33 44, vera@example.com, заявка 29.11.2026), \
         Борис (+7 999 000-00-01, заявка 21.11.2026); \
         позвоните им и проверьте передачу заявок из форм в CRM"
    );
}

#[test]
fn lost_leads_green() {
    let config = Config::from_toml(LOST_CONFIG).unwrap();
    let mut ds = lost_school();
    // Boris' deal within 24 hours; Vera gets a deal through a contact that
    // carries only her phone, in another format.
    ds.deals[1].created_at = msk(11, 22, 9, 59);
    ds.contacts
        .push(contact("c4", &[], &["+7 (999) 222-33-44"]));
    ds.deals.push(deal("d4", "c4", msk(11, 30, 9, 0), "101"));
    let m = run(&ds, &config);
    let c = result(&m, "lost_leads", "applications");
    assert_eq!(c.status, CheckStatus::Green, "{}", c.detail);

    // No application forms configured and no bot applications: green.
    let mut ds = lost_school();
    ds.leads.retain(|l| l.form != "salebot:application");
    let m = run(&ds, &Config::default());
    assert_eq!(
        result(&m, "lost_leads", "applications").status,
        CheckStatus::Green
    );
}

#[test]
fn lost_leads_one_line_per_person() {
    let config = Config::from_toml(LOST_CONFIG).unwrap();
    let mut ds = lost_school();
    // Vera applied twice without a deal: one line, her latest application.
    ds.leads.push(lead(
        "v0",
        "zayavka",
        msk(11, 10, 12, 0),
        "Вера",
        "VERA@example.com",
        "",
    ));
    let m = run(&ds, &config);
    let c = result(&m, "lost_leads", "applications");
    assert!(c.detail.starts_with("2 человек"), "{}", c.detail);
    assert!(c.detail.contains("заявка 29.11.2026"));
    assert!(!c.detail.contains("10.11.2026"));
}

// --- 9. Spend anomaly per campaign --------------------------------------

fn stat(date: NaiveDate, id: &str, name: &str, spend: Decimal) -> AdStat {
    AdStat {
        source: "yandex_direct".into(),
        account: "ya".into(),
        date,
        platform: "yandex".into(),
        level: StatLevel::Campaign,
        campaign_id: id.into(),
        campaign_name: name.into(),
        ad_id: String::new(),
        ad_name: String::new(),
        impressions: 100,
        clicks: 1,
        spend,
        currency: "RUB".into(),
        vat: VatMode::Included,
    }
}

/// 1..=15 November: «Бренд» 1 000 ₽ a day, «Поиск» 100 ₽ a day; on 15.11
/// «Поиск» spends `spike`.
fn spend_school(spike: Decimal) -> Dataset {
    let mut ds = Dataset::default();
    for day in 1..=15 {
        let date = d(2026, 11, day);
        ds.ad_stats.push(stat(date, "1", "Бренд", dec!(1000)));
        let s = if day == 15 { spike } else { dec!(100) };
        ds.ad_stats.push(stat(date, "2", "Поиск", s));
    }
    ds
}

#[test]
fn campaign_spend_anomaly() {
    // 15.11 is the first day with 14 days of history. «Поиск»: 400 > 3 x
    // median 100 = 300: yellow. The platform: 1 400 < 3 x 1 100: green.
    let m = run(&spend_school(dec!(400)), &Config::default());
    assert_eq!(
        result(&m, "spend_anomaly", "spend").status,
        CheckStatus::Green
    );
    let c = result(&m, "spend_anomaly", "campaign_spend");
    assert_eq!(c.status, CheckStatus::Yellow);
    assert_eq!(
        c.detail,
        "1\u{a0}день с расходом кампаний выше 3× медианы за 14 дней \
         (yandex «Поиск» 15.11.2026: 400\u{a0}₽ при медиане 100\u{a0}₽): проверьте ставки и бюджеты"
    );

    // 300 is not above 3 x 100.
    let m = run(&spend_school(dec!(300)), &Config::default());
    assert_eq!(
        result(&m, "spend_anomaly", "campaign_spend").status,
        CheckStatus::Green
    );
}

#[test]
fn campaign_spend_anomaly_needs_14_days_and_counts_missing_days_as_zero() {
    // Without 1.11, 15.11 has only 13 days of history: no verdict.
    let mut ds = spend_school(dec!(400));
    ds.ad_stats.retain(|s| s.date != d(2026, 11, 1));
    let m = run(&ds, &Config::default());
    assert_eq!(
        result(&m, "spend_anomaly", "campaign_spend").status,
        CheckStatus::Green
    );

    // «Поиск» missing on 2..=8.11 (7 days as 0): history 100 x 7 and
    // 0 x 7, median (0 + 100) / 2 = 50; 200 > 150: yellow.
    let mut ds = spend_school(dec!(200));
    ds.ad_stats
        .retain(|s| !(s.campaign_id == "2" && (2..=8).contains(&chrono::Datelike::day(&s.date))));
    let m = run(&ds, &Config::default());
    let c = result(&m, "spend_anomaly", "campaign_spend");
    assert_eq!(c.status, CheckStatus::Yellow);
    assert!(
        c.detail.contains("200\u{a0}₽ при медиане 50\u{a0}₽"),
        "{}",
        c.detail
    );
}
