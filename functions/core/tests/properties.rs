//! Invariants of the metric engine on generated schools (proptest):
//! channel rows sum to the totals; revenue2 ≥ revenue1 without refunds;
//! reconciliation holds; funnel slices sum to the channel rows; results
//! do not depend on input order.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use voronka_core::config::Config;
use voronka_core::metrics::{self, CheckStatus, Marts};
use voronka_core::model::*;

const SOURCES: [&str; 6] = ["fb", "IG", "yandex", "", "vk", "Blog"];
const CAMPAIGNS: [&str; 4] = ["c1", "Весна", "x", ""];

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).unwrap() + chrono::Duration::days(n as i64)
}

fn at(n: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
        + chrono::Duration::days(n as i64)
        + chrono::Duration::minutes(minute as i64)
}

/// (person, day, cost, payments as (day, kopecks, refund?)).
type GenOrder = (u8, u32, u32, Vec<(u32, u32, bool)>);

#[derive(Debug, Clone)]
struct Gen {
    leads: Vec<(u8, u32, u32, usize, usize)>,
    stats: Vec<(u32, usize, u32, bool)>,
    orders: Vec<GenOrder>,
    refunds: bool,
}

fn gen_school(refunds: bool) -> impl Strategy<Value = Gen> {
    (
        prop::collection::vec((0u8..12, 0u32..40, 0u32..1440, 0usize..6, 0usize..4), 0..40),
        prop::collection::vec((0u32..40, 0usize..4, 1u32..100_000, any::<bool>()), 0..30),
        prop::collection::vec(
            (
                0u8..14,
                0u32..40,
                1u32..90_000,
                prop::collection::vec((0u32..45, 1u32..90_000, any::<bool>()), 0..4),
            ),
            0..15,
        ),
    )
        .prop_map(move |(leads, stats, orders)| Gen {
            leads,
            stats,
            orders,
            refunds,
        })
}

fn person_email(p: u8) -> String {
    format!("p{p}@example.com")
}

fn person_phone(p: u8) -> String {
    format!("8 (900) 000-00-{:02}", p)
}

fn build(g: &Gen) -> Dataset {
    let mut ds = Dataset::default();
    for (n, cur) in [(0u32, "USD"), (10, "USD")] {
        ds.rates.push(Rate {
            source: "cbr".into(),
            date: day(n),
            currency: cur.into(),
            nominal: 1,
            value: Decimal::new(8_000 + n as i64, 2),
        });
    }
    for (i, &(p, d, minute, src, camp)) in g.leads.iter().enumerate() {
        // Alternate e-mail-only and phone-only records of the same person.
        let (email, phone) = if i % 2 == 0 {
            (person_email(p), String::new())
        } else {
            (String::new(), person_phone(p))
        };
        ds.leads.push(Lead {
            source: "tilda".into(),
            account: "main".into(),
            id: format!("t{i}"),
            created_at: at(d, minute),
            form: "f".into(),
            form_name: String::new(),
            name: String::new(),
            email,
            phone,
            utm: Utm {
                source: SOURCES[src].into(),
                campaign: CAMPAIGNS[camp].into(),
                ..Utm::default()
            },
            extra: BTreeMap::new(),
        });
    }
    for (i, &(d, camp, kopecks, usd)) in g.stats.iter().enumerate() {
        ds.ad_stats.push(AdStat {
            source: "facebook".into(),
            account: "a".into(),
            date: day(d),
            platform: if usd { "instagram" } else { "facebook" }.into(),
            level: StatLevel::Campaign,
            campaign_id: CAMPAIGNS[camp].into(),
            campaign_name: format!("Campaign {camp}"),
            ad_id: format!("{i}"),
            ad_name: String::new(),
            impressions: kopecks as u64,
            clicks: (kopecks / 100) as u64,
            spend: Decimal::new(kopecks as i64, 3),
            currency: if usd { "USD" } else { "RUB" }.into(),
            vat: VatMode::Excluded,
        });
    }
    for (i, (p, d, cost, pays)) in g.orders.iter().enumerate() {
        let number = format!("{}", 1000 + i);
        ds.orders.push(Order {
            source: "getcourse".into(),
            account: "main".into(),
            id: format!("o{i}"),
            number: number.clone(),
            created_at: at(*d, 600),
            name: String::new(),
            email: if *p < 12 {
                person_email(*p)
            } else {
                String::new()
            },
            phone: String::new(),
            cost: Decimal::from(*cost),
            currency: "RUB".into(),
            status: OrderStatus::New,
            product: String::new(),
            manager: String::new(),
            crm_deal_id: String::new(),
            utm: Utm::default(),
        });
        for (j, &(pd, amount, refund)) in pays.iter().enumerate() {
            let refund = refund && g.refunds && j > 0;
            ds.payments.push(Payment {
                source: "getcourse".into(),
                account: "main".into(),
                id: format!("p{i}-{j}"),
                // Every fifth order's payments point at no order.
                order_number: if i % 5 == 4 {
                    format!("x{number}")
                } else {
                    number.clone()
                },
                paid_at: at(pd, 700 + j as u32),
                amount: Decimal::new(amount as i64, 2),
                currency: "RUB".into(),
                status: if refund {
                    PaymentStatus::Refunded
                } else {
                    PaymentStatus::Received
                },
                name: String::new(),
                email: String::new(),
                phone: String::new(),
            });
        }
    }
    ds
}

fn run(ds: &Dataset) -> Marts {
    let config = Config::from_toml("").unwrap();
    let collapsed = BTreeMap::new();
    metrics::aggregate(metrics::Input {
        dataset: ds,
        config: &config,
        as_of: day(44),
        sources: &[],
        collapsed: &collapsed,
        quarantined: 0,
        checked_at: at(45, 0),
    })
}

fn sum<T>(rows: &[T], f: impl Fn(&T) -> Decimal) -> Decimal {
    rows.iter().map(f).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rows_sum_to_totals_and_reconcile(g in gen_school(true)) {
        let m = run(&build(&g));
        let s = &m.summary;
        prop_assert_eq!(sum(&m.channels, |r| r.spend), s.spend);
        prop_assert_eq!(sum(&m.channels, |r| r.revenue1), s.revenue1);
        prop_assert_eq!(sum(&m.channels, |r| r.revenue2), s.revenue2);
        prop_assert_eq!(m.channels.iter().map(|r| r.leads).sum::<u64>(), s.leads);
        prop_assert_eq!(m.channels.iter().map(|r| r.sales).sum::<u64>(), s.sales);
        prop_assert_eq!(sum(&m.cash, |c| c.spend), s.spend);
        prop_assert_eq!(sum(&m.cash, |c| c.revenue), s.cash_revenue);
        for c in m.checks.iter().filter(|c| c.check == "reconciliation") {
            prop_assert_eq!(c.status, CheckStatus::Green, "{}", c.detail);
        }
        // Funnel slices sum back to the channel rows.
        prop_assert_eq!(m.funnel.iter().map(|f| f.leads).sum::<u64>(), s.leads);
        prop_assert_eq!(m.funnel.iter().map(|f| f.sales).sum::<u64>(), s.sales);
        prop_assert_eq!(sum(&m.funnel, |f| f.revenue2), s.revenue2);
        // Sales counted in the cash view (first payments) ≤ all payments.
        prop_assert!(s.revenue2 <= s.cash_revenue || g.refunds);
    }

    #[test]
    fn revenue2_is_at_least_revenue1_without_refunds(g in gen_school(false)) {
        let m = run(&build(&g));
        for r in &m.channels {
            prop_assert!(r.revenue2 >= r.revenue1, "{:?}", r);
        }
    }

    #[test]
    fn input_order_does_not_matter(g in gen_school(true), seed in any::<u64>()) {
        let ds = build(&g);
        let mut shuffled = ds.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        fn shuffle<T>(v: &mut [T], next: &mut impl FnMut() -> u64) {
            for i in (1..v.len()).rev() {
                let j = (next() % (i as u64 + 1)) as usize;
                v.swap(i, j);
            }
        }
        shuffle(&mut shuffled.leads, &mut next);
        shuffle(&mut shuffled.payments, &mut next);
        shuffle(&mut shuffled.orders, &mut next);
        shuffle(&mut shuffled.ad_stats, &mut next);
        shuffle(&mut shuffled.rates, &mut next);
        let (a, b) = (run(&ds), run(&shuffled));
        prop_assert_eq!(&a.channels, &b.channels);
        prop_assert_eq!(&a.cash, &b.cash);
        prop_assert_eq!(&a.summary, &b.summary);
        prop_assert_eq!(&a.checks, &b.checks);
        prop_assert_eq!(&a.managers, &b.managers);
        prop_assert_eq!(&a.manager_weeks, &b.manager_weeks);
        prop_assert_eq!(&a.cohorts, &b.cohorts);
        prop_assert_eq!(&a.funnel, &b.funnel);
        prop_assert_eq!(a, b);
    }
}
