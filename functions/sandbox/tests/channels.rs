//! The newer channels of the school: ad vendors, webinar viewers, GA4,
//! Salebot and the planted lost leads.

use chrono::Duration;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use voronka_sandbox::*;

fn school() -> &'static School {
    static S: OnceLock<School> = OnceLock::new();
    S.get_or_init(|| generate(&SchoolSpec::default()))
}

#[test]
fn extras_are_deterministic() {
    let spec = SchoolSpec {
        days: 30,
        ..SchoolSpec::default()
    };
    let (a, b) = (generate(&spec), generate(&spec));
    assert_eq!(a.ad_rows, b.ad_rows);
    assert_eq!(a.webinar_viewers, b.webinar_viewers);
    assert_eq!(a.ga4_rows, b.ga4_rows);
    assert_eq!(a.salebot_clients, b.salebot_clients);
    assert_eq!(salebot_deliveries(&a), salebot_deliveries(&b));
    assert_eq!(demo_accounts(&a), demo_accounts(&b));
}

#[test]
fn new_ad_vendors_have_spend_and_bring_leads() {
    let s = school();
    for (vendor, platforms) in [
        (AdVendor::Tiktok, &["tiktok"][..]),
        (AdVendor::VkAds, &["vk"][..]),
        (AdVendor::MyTarget, &["mytarget"][..]),
        (AdVendor::GoogleAds, &["google", "youtube"][..]),
    ] {
        let rows: Vec<&AdRow> = s.ad_rows.iter().filter(|r| r.vendor == vendor).collect();
        assert!(!rows.is_empty(), "{vendor:?} has no rows");
        assert!(rows.iter().all(|r| r.spend > Decimal::ZERO));
        for p in platforms {
            let regs = s
                .registrations
                .iter()
                .filter(|r| matches!(&r.touch, Touch::Paid { platform, .. } if platform == p))
                .count();
            assert!(regs > 20, "{p}: {regs} registrations");
        }
    }
    let currencies: HashSet<&str> = s
        .accounts
        .iter()
        .filter(|a| a.vendor == AdVendor::Tiktok)
        .map(|a| a.currency.as_str())
        .collect();
    assert_eq!(currencies, HashSet::from(["USD", "RUB"]));
    let channels: HashSet<&str> = s
        .campaigns
        .iter()
        .filter(|c| c.vendor == AdVendor::GoogleAds)
        .filter_map(|c| c.channel.as_deref())
        .collect();
    assert_eq!(channels, HashSet::from(["SEARCH", "VIDEO"]));
    let sources: HashSet<&str> = s
        .registrations
        .iter()
        .filter_map(|r| r.utm_source.as_deref())
        .collect();
    for alias in [
        "tt", "tiktok", "vk", "mt", "mytarget", "google", "gads", "yt", "youtube",
    ] {
        assert!(sources.contains(alias), "missing utm_source {alias}");
    }
    // the old planted quirks are still there
    assert!(sources.contains("instagram ") && sources.contains("Yandex_Direct"));
    assert!(s.deals.iter().any(|d| d.before_registration));
    assert!(s.payments.iter().any(|p| !p.order_exists));
}

#[test]
fn webinar_viewers_are_realistic() {
    let s = school();
    assert!(!s.webinars.is_empty());
    assert!(s.webinars.iter().all(|w| w.start <= s.horizon));
    let registrants: HashSet<u32> = s
        .registrations
        .iter()
        .filter(|r| r.is_registration)
        .map(|r| r.person_id)
        .collect();
    let viewers: HashSet<u32> = s
        .webinar_viewers
        .iter()
        .filter_map(|v| v.person_id)
        .collect();
    let share = viewers.len() as f64 / registrants.len() as f64;
    assert!((0.35..=0.5).contains(&share), "attendance {share}");
    let gaps: Vec<i64> = s
        .webinar_viewers
        .iter()
        .filter_map(|v| v.days_after_registration)
        .collect();
    assert!(gaps.iter().all(|g| (0..=21).contains(g)));
    let stayed_all = s
        .webinar_viewers
        .iter()
        .filter(|v| v.person_id.is_some() && v.stayed_to_offer)
        .count();
    eprintln!(
        "attendance {share:.3}, stayed {:.3}, day0 {}, day14 {}, day15 {}",
        stayed_all as f64 / viewers.len() as f64,
        gaps.iter().filter(|g| **g == 0).count(),
        gaps.iter().filter(|g| **g == 14).count(),
        gaps.iter().filter(|g| **g == 15).count()
    );
    for day in [0, 14, 15] {
        assert!(
            gaps.contains(&day),
            "no viewer {day} days after registering"
        );
    }
    let known: Vec<&WebinarViewer> = s
        .webinar_viewers
        .iter()
        .filter(|v| v.person_id.is_some())
        .collect();
    let stayed = known.iter().filter(|v| v.stayed_to_offer).count() as f64 / known.len() as f64;
    assert!((0.5..=0.6).contains(&stayed), "stayed {stayed}");
    for v in &s.webinar_viewers {
        let w = s.webinars.iter().find(|w| w.id == v.webinar_id).unwrap();
        let offer = w.start + Duration::minutes(60);
        assert!(v.view <= v.view_till);
        assert_eq!(v.stayed_to_offer, v.view_till >= offer, "{v:?}");
    }
    assert!(
        s.webinar_viewers
            .iter()
            .any(|v| v.person_id.is_none() && v.email.is_none() && v.phone.is_none())
    );
    // contacts typed differently from the registration
    let regs: HashMap<u32, &Registration> = s.registrations.iter().map(|r| (r.id, r)).collect();
    assert!(known.iter().any(|v| {
        let r = regs[&v.registration_id.unwrap()];
        v.phone.is_some() && r.phone.is_some() && v.phone != r.phone
    }));
    // attendees convert better than the others
    let dealt: HashSet<u32> = s.deals.iter().map(|d| d.person_id).collect();
    let rate = |set: &HashSet<u32>| {
        set.iter().filter(|p| dealt.contains(p)).count() as f64 / set.len() as f64
    };
    let absent: HashSet<u32> = registrants.difference(&viewers).copied().collect();
    assert!(rate(&viewers) > 2.0 * rate(&absent));
    for w in &s.webinars {
        assert!(w.id.starts_with(&format!("{BIZON_GROUP}:{BIZON_ROOM}*")));
        assert!(w.id.ends_with("T19:00:00"));
    }
}

#[test]
fn ga4_sessions_follow_clicks() {
    let s = school();
    assert!(!s.ga4_rows.is_empty());
    let day = s.start + Duration::days(20);
    let clicks: u64 = s
        .facebook_rows
        .iter()
        .filter(|r| r.date == day)
        .map(|r| r.clicks)
        .sum::<u64>()
        + s.yandex_rows
            .iter()
            .filter(|r| r.date == day)
            .map(|r| r.clicks)
            .sum::<u64>()
        + s.ad_rows
            .iter()
            .filter(|r| r.date == day)
            .map(|r| r.clicks)
            .sum::<u64>();
    let paid: u64 = s
        .ga4_rows
        .iter()
        .filter(|r| r.date == day && r.medium == "cpc")
        .map(|r| r.sessions)
        .sum();
    let ratio = paid as f64 / clicks as f64;
    assert!((0.7..=0.9).contains(&ratio), "sessions/clicks {ratio}");
    assert!(
        s.ga4_rows
            .iter()
            .any(|r| r.date == day && r.source == "(direct)" && r.sessions > 100)
    );
    assert!(s.ga4_rows.iter().any(|r| r.source == "tg"));
    assert!(s.ga4_rows.iter().all(|r| r.users <= r.sessions));
}

#[test]
fn salebot_clients_and_deliveries() {
    let s = school();
    assert!(s.salebot_clients.len() > 500);
    assert!(s.salebot_clients.windows(2).all(|w| w[0].id < w[1].id));
    let ds = salebot_deliveries(s);
    assert!(ds.windows(2).all(|w| w[0].received_at <= w[1].received_at));
    let mut events = HashSet::new();
    for d in &ds {
        let v: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert!(v["client_id"].is_u64());
        events.insert(v["event"].as_str().unwrap().to_string());
        assert!(d.received_at <= s.horizon);
    }
    assert_eq!(
        events,
        HashSet::from(["lead".to_string(), "application".to_string()])
    );
}

#[test]
fn lost_lead_applications_get_no_deal() {
    let s = school();
    let lost: Vec<&Registration> = s.registrations.iter().filter(|r| r.lost_lead).collect();
    assert!(lost.len() >= 10, "{} lost leads", lost.len());
    for r in &lost {
        assert_eq!(r.form_id, FORM_CALLBACK);
        assert!(r.phone.is_some());
        assert!(
            !s.deals.iter().any(|d| d.person_id == r.person_id
                && d.created_at >= r.received_at
                && d.created_at <= r.received_at + Duration::hours(24)),
            "lost lead {} got a deal",
            r.id
        );
    }
    // ordinary applications mostly do get a deal
    assert!(
        s.registrations
            .iter()
            .any(|r| !r.is_registration && !r.lost_lead)
    );
}

#[test]
fn demo_accounts_cover_every_source() {
    let s = school();
    let accounts = demo_accounts(s);
    let slugs: HashSet<&str> = accounts.iter().map(|a| a.slug.as_str()).collect();
    for slug in SLUGS.iter().chain(["tilda"].iter()) {
        assert!(slugs.contains(slug), "no demo account for {slug}");
    }
    let g = accounts.iter().find(|a| a.slug == "google_ads").unwrap();
    assert!(
        g.credentials
            .iter()
            .any(|(k, v)| k == "developer_token" && v == GOOGLE_DEVELOPER_TOKEN)
    );
    assert!(
        g.options
            .iter()
            .any(|(k, v)| k == "token_url" && v.starts_with(BASE_PLACEHOLDER))
    );
    assert!(
        accounts
            .iter()
            .all(|a| a.slug == "cbr" || a.slug == "tilda" || !a.credentials.is_empty())
    );
}
