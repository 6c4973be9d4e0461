//! The generator: determinism, volumes and the planted quirks.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use std::collections::{HashMap, HashSet};
use voronka_sandbox::*;

fn school() -> School {
    generate(&SchoolSpec::default())
}

#[test]
fn same_spec_same_school_and_other_seed_differs() {
    let spec = SchoolSpec::default();
    let a = serde_json::to_string(&generate(&spec)).unwrap();
    let b = serde_json::to_string(&generate(&spec)).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_string(&generate(&SchoolSpec {
        seed: 43,
        ..spec.clone()
    }))
    .unwrap();
    assert_ne!(a, c);
    let da = serde_json::to_string(&tilda_deliveries(&generate(&spec))).unwrap();
    let db = serde_json::to_string(&tilda_deliveries(&generate(&spec))).unwrap();
    assert_eq!(da, db);
}

#[test]
fn generation_is_fast_and_volumes_are_realistic() {
    let t = std::time::Instant::now();
    let s = school();
    let took = t.elapsed();
    eprintln!(
        "generate(default) took {took:?}: {} registrations, {} persons, {} deals, {} contacts, {} events, {} orders, {} payments, {} fb rows, {} yandex rows",
        s.registrations.len(),
        s.persons.len(),
        s.deals.len(),
        s.contacts.len(),
        s.events.len(),
        s.orders.len(),
        s.payments.len(),
        s.facebook_rows.len(),
        s.yandex_rows.len()
    );
    assert_eq!(s.start, NaiveDate::from_ymd_opt(2026, 9, 2).unwrap());
    let mut per_day: HashMap<NaiveDate, usize> = HashMap::new();
    for r in s.registrations.iter().filter(|r| r.is_registration) {
        *per_day.entry(msk_date(r.received_at)).or_default() += 1;
    }
    assert_eq!(per_day.len(), 90);
    let avg = per_day.values().sum::<usize>() / per_day.len();
    assert!((100..=300).contains(&avg), "avg registrations/day {avg}");
    // deals for ~15–25% of registrants
    let registrants: HashSet<u32> = s.registrations.iter().map(|r| r.person_id).collect();
    let with_deal: HashSet<u32> = s.deals.iter().map(|d| d.person_id).collect();
    let share = with_deal.len() as f64 / registrants.len() as f64;
    assert!((0.12..=0.28).contains(&share), "deal share {share}");
    // orders for ~40% of deals
    let deals_with_order: HashSet<u64> = s.orders.iter().filter_map(|o| o.deal_id).collect();
    let share = deals_with_order.len() as f64 / s.deals.len() as f64;
    assert!((0.3..=0.45).contains(&share), "order share {share}");
    // a scaled school is bigger
    let big = generate(&SchoolSpec {
        scale: 2.0,
        days: 30,
        ..SchoolSpec::default()
    });
    let small = generate(&SchoolSpec {
        scale: 1.0,
        days: 30,
        ..SchoolSpec::default()
    });
    assert!(big.registrations.len() > small.registrations.len() * 3 / 2);
}

#[test]
fn ads_accounts_and_stats() {
    let s = school();
    let usd = s.accounts.iter().find(|a| a.currency == "USD").unwrap();
    assert_eq!(usd.vendor, AdVendor::Facebook);
    assert!(usd.id.bytes().all(|b| b.is_ascii_digit()));
    assert!(s.accounts.iter().filter(|a| a.contractor.is_some()).count() >= 1);
    assert!(s.accounts.len() >= 3);
    for a in &s.accounts {
        let n = s.campaigns.iter().filter(|c| c.account_id == a.id).count();
        let range = match a.vendor {
            AdVendor::Facebook | AdVendor::YandexDirect => 4..=8,
            _ => 2..=5,
        };
        assert!(range.contains(&n), "{} has {n} campaigns", a.id);
    }
    let platforms: HashSet<&str> = s
        .facebook_rows
        .iter()
        .map(|r| r.publisher_platform.as_str())
        .collect();
    assert_eq!(platforms, HashSet::from(["facebook", "instagram"]));
    assert!(s.yandex_rows.iter().all(|r| r.cost_micros % 10_000 == 0));
    // some campaign-days have no delivery
    let days = (s.end - s.start).num_days() as usize + 1;
    let ya_campaigns = s
        .campaigns
        .iter()
        .filter(|c| c.vendor == AdVendor::YandexDirect)
        .count();
    assert!(s.yandex_rows.len() < days * ya_campaigns);
    // the spike: that campaign-day's spend is several times its median
    let spike = &s.spend_spike;
    let mut daily: HashMap<NaiveDate, f64> = HashMap::new();
    for r in s
        .facebook_rows
        .iter()
        .filter(|r| r.campaign_id == spike.campaign_id)
    {
        *daily.entry(r.date).or_default() += f64::try_from(r.spend).unwrap();
    }
    let mut v: Vec<f64> = daily.values().copied().collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert!(daily[&spike.date] > v[v.len() / 2] * 3.0);
}

#[test]
fn registrations_carry_the_planted_mess() {
    let s = school();
    let sources: HashSet<&str> = s
        .registrations
        .iter()
        .filter_map(|r| r.utm_source.as_deref())
        .collect();
    for alias in [
        "fb",
        "FB",
        "facebook",
        "ig",
        "instagram ",
        "ya",
        "yandex",
        "Yandex_Direct",
    ] {
        assert!(
            sources.contains(alias),
            "missing utm_source alias {alias:?}"
        );
    }
    let ids: HashSet<&str> = s.campaigns.iter().map(|c| c.id.as_str()).collect();
    let names: HashSet<&str> = s.campaigns.iter().map(|c| c.name.as_str()).collect();
    let camps: Vec<&str> = s
        .registrations
        .iter()
        .filter_map(|r| r.utm_campaign.as_deref())
        .collect();
    assert!(camps.iter().any(|c| ids.contains(c)));
    assert!(camps.iter().any(|c| names.contains(c)));
    assert!(
        camps
            .iter()
            .any(|c| !names.contains(c) && names.iter().any(|n| n.eq_ignore_ascii_case(c)))
    );
    assert!(s.registrations.iter().any(|r| r.utm_source.is_none()));
    assert!(
        s.registrations
            .iter()
            .any(|r| matches!(r.touch, Touch::Organic { .. }))
    );
    assert!(
        s.registrations
            .iter()
            .any(|r| r.email.is_some() && r.phone.is_none())
    );
    assert!(
        s.registrations
            .iter()
            .any(|r| r.email.is_none() && r.phone.is_some())
    );
    assert!(
        s.registrations
            .iter()
            .any(|r| r.email.as_deref().is_some_and(|e| e.starts_with(' ')))
    );
    assert!(s.registrations.iter().any(|r| {
        r.email
            .as_deref()
            .is_some_and(|e| e.chars().any(|c| c.is_ascii_uppercase()))
    }));
    let phones: Vec<&str> = s
        .registrations
        .iter()
        .filter_map(|r| r.phone.as_deref())
        .collect();
    assert!(phones.iter().any(|p| p.starts_with("+7 (")));
    assert!(phones.iter().any(|p| p.len() == 11 && p.starts_with('8')));
    assert!(phones.iter().any(|p| p.len() == 10 && p.starts_with('9')));
    assert!(phones.iter().any(|p| p.contains("доб.")));
    // duplicates same day, re-deliveries
    let dups: Vec<&Registration> = s
        .registrations
        .iter()
        .filter(|r| r.duplicate_of.is_some())
        .collect();
    assert!(!dups.is_empty());
    for d in &dups {
        let first = s
            .registrations
            .iter()
            .find(|r| Some(r.id) == d.duplicate_of)
            .unwrap();
        assert_eq!(first.person_id, d.person_id);
        assert_eq!(msk_date(first.received_at), msk_date(d.received_at));
        assert_ne!(first.tranid, d.tranid);
    }
    let tranids: HashSet<&str> = s.registrations.iter().map(|r| r.tranid.as_str()).collect();
    assert_eq!(tranids.len(), s.registrations.len());
    let deliveries = tilda_deliveries(&s);
    let redelivered = s.registrations.iter().filter(|r| r.redelivered).count();
    assert!(redelivered > 0);
    assert_eq!(deliveries.len(), s.registrations.len() + redelivered + 1);
    assert_eq!(deliveries[0].body, "test=test");
    assert!(
        deliveries
            .windows(2)
            .all(|w| w[0].received_at <= w[1].received_at)
    );
    let d = &deliveries[1].body;
    assert!(d.starts_with("Name="), "{d}");
    assert!(
        d.contains("&tranid=7807982%3A") && d.contains("&formid=form"),
        "{d}"
    );
    assert!(
        deliveries
            .iter()
            .any(|d| d.body.contains("&COOKIES=_ym_uid%3D"))
    );
    // a person registering for two launches from different sources
    let mut by_person: HashMap<u32, Vec<&Registration>> = HashMap::new();
    for r in s.registrations.iter().filter(|r| r.is_registration) {
        by_person.entry(r.person_id).or_default().push(r);
    }
    assert!(by_person.values().any(|rs| {
        rs.iter().any(|a| {
            rs.iter()
                .any(|b| a.launch_id != b.launch_id && a.touch != b.touch)
        })
    }));
    // webinars on Thursdays at 19:00 Moscow, weekly
    for w in s.launches.windows(2) {
        assert_eq!(w[1].date - w[0].date, Duration::days(7));
    }
    assert!(s.launches.iter().all(|l| l.date.weekday() == Weekday::Thu
        && to_msk(l.starts_at).format("%H:%M").to_string() == "19:00"
        && l.offer_minute == 60));
}

#[test]
fn crm_and_orders_carry_the_planted_quirks() {
    let s = school();
    assert!(s.users.len() >= 4);
    assert_eq!(s.pipelines.len(), 2);
    let main = &s.pipelines[0];
    assert_eq!(main.statuses[0].kind, 1);
    assert!(main.statuses.iter().any(|st| st.id == WON));
    assert!(main.statuses.iter().any(|st| st.id == LOST));
    for d in &s.deals {
        assert!(d.updated_at >= d.created_at, "deal {}", d.id);
        assert_eq!(
            d.closed_at.is_some(),
            d.status_id == WON || d.status_id == LOST
        );
        assert!(d.created_at <= s.horizon && d.updated_at <= s.horizon);
        assert!(s.contacts.iter().any(|c| c.id == d.contact_id));
    }
    assert!(s.deals.iter().any(|d| d.status_id == WON));
    assert!(s.deals.iter().any(|d| d.status_id == LOST));
    assert!(s.deals.iter().any(|d| d.pipeline_id == UPSELL_PIPELINE));
    // deal before any registration
    let before = s
        .deals
        .iter()
        .find(|d| d.before_registration)
        .expect("planted");
    let first_reg = s
        .registrations
        .iter()
        .filter(|r| r.person_id == before.person_id)
        .map(|r| r.received_at)
        .min()
        .unwrap();
    assert!(before.created_at < first_reg);
    // contacts: ids increase with creation, updated ≥ created
    assert!(s.contacts.iter().all(|c| c.updated_at >= c.created_at));
    // orders
    let users: HashSet<&str> = s.users.iter().map(|u| u.name.as_str()).collect();
    assert!(
        s.orders
            .iter()
            .all(|o| o.manager.is_empty() || users.contains(o.manager.as_str()))
    );
    assert!(
        s.orders
            .iter()
            .all(|o| o.cost >= 14_900.into() && o.cost <= 89_000.into())
    );
    assert!(s.orders.iter().any(|o| o.deal_id.is_none()));
    let with_deal = s.orders.iter().filter(|o| o.deal_id.is_some()).count();
    let exported = s.orders.iter().filter(|o| o.deal_id_in_export).count();
    assert!(exported * 10 >= with_deal * 7);
    assert!(s.orders.iter().any(|o| o.repeat));
    assert!(s.orders.iter().any(|o| o.status == "Отменен"));
    let numbers: HashSet<u64> = s.orders.iter().map(|o| o.number).collect();
    let cancelled = s.orders.iter().find(|o| o.status == "Отменен").unwrap();
    assert!(
        !s.payments
            .iter()
            .any(|p| p.order_number == cancelled.number)
    );
    // payments
    assert!(
        s.payments
            .iter()
            .any(|p| p.status == PaymentStatus::Refunded)
    );
    assert!(
        s.payments
            .iter()
            .any(|p| p.status == PaymentStatus::Expected)
    );
    assert_eq!(
        s.payments.iter().filter(|p| p.duplicated_in_export).count(),
        1
    );
    let orphans: Vec<&Payment> = s
        .payments
        .iter()
        .filter(|p| !numbers.contains(&p.order_number))
        .collect();
    assert_eq!(orphans.len(), 1);
    assert!(!orphans[0].order_exists);
    let mut per_order: HashMap<u64, usize> = HashMap::new();
    for p in s
        .payments
        .iter()
        .filter(|p| p.status == PaymentStatus::Received)
    {
        *per_order.entry(p.order_number).or_default() += 1;
    }
    assert!(
        per_order.values().any(|&n| n == 2),
        "prepayment + one доплата"
    );
    assert!(
        per_order.values().any(|&n| n == 3),
        "prepayment + two доплаты"
    );
    let nums: HashSet<u64> = s.payments.iter().map(|p| p.number).collect();
    assert_eq!(nums.len(), s.payments.len());
    // order money agrees with its payments
    for o in &s.orders {
        let net: rust_decimal::Decimal = s
            .payments
            .iter()
            .filter(|p| p.order_number == o.number)
            .map(|p| p.signed_amount())
            .sum();
        assert_eq!(net, o.paid, "order {}", o.number);
    }
}

#[test]
fn rates_follow_weekend_semantics() {
    let s = school();
    let mut d = s.start;
    while d <= s.end {
        let set = s.rates_on(d);
        assert!(set.date <= d);
        match d.weekday() {
            Weekday::Sun => assert_eq!(set.date, d - Duration::days(1)),
            Weekday::Mon => assert_eq!(set.date, d - Duration::days(2)),
            _ => assert_eq!(set.date, d),
        }
        let usd = s.rate("USD", d).unwrap();
        assert!(usd > 80.into() && usd < 100.into());
        assert!(s.rate("EUR", d).unwrap() > usd);
        assert_eq!(
            set.rates
                .iter()
                .find(|r| r.char_code == "AMD")
                .unwrap()
                .nominal,
            100
        );
        d += Duration::days(1);
    }
}

#[test]
fn small_schools_still_have_the_quirks() {
    for seed in [1, 2, 3] {
        let s = generate(&SchoolSpec {
            seed,
            days: 28,
            scale: 0.3,
            ..SchoolSpec::default()
        });
        assert!(s.deals.iter().any(|d| d.before_registration), "seed {seed}");
        assert!(
            s.payments
                .iter()
                .any(|p| p.status == PaymentStatus::Refunded),
            "seed {seed}"
        );
        assert!(s.payments.iter().any(|p| !p.order_exists), "seed {seed}");
        assert!(s.orders.iter().any(|o| o.repeat), "seed {seed}");
    }
}
