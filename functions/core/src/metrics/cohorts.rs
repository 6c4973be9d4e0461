//! Cohorts and their forecast (metrics.md §5).
//!
//! A cohort is the set of persons whose first lead falls in one calendar
//! month (or ISO week). For each cohort and age (0 = the cohort's own
//! period) the table holds cumulative customers and cumulative revenue2 by
//! payment date, to `as_of`, against the spend of the cohort's period.
//! Young cohorts are projected to age [`FORECAST_AGE`] with chain-ladder
//! development factors of the mature cohorts; projected cells carry
//! `forecast = true` and are never mixed into facts.

use super::engine::{ratio, romi};
use super::marts::CohortCell;
use super::resolve::Resolved;
use crate::time;
use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

/// `CohortCell::granularity` of calendar-month cohorts.
pub const MONTH: &str = "month";
/// `CohortCell::granularity` of ISO-week cohorts.
pub const WEEK: &str = "week";
/// The forecast projects young cohorts up to this age.
pub const FORECAST_AGE: u32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grain {
    Month,
    Week,
}

impl Grain {
    fn name(self) -> &'static str {
        match self {
            Grain::Month => MONTH,
            Grain::Week => WEEK,
        }
    }

    /// First day of the period that holds `d`.
    fn start(self, d: NaiveDate) -> NaiveDate {
        match self {
            Grain::Month => time::month_start(d),
            Grain::Week => time::week_start(d),
        }
    }

    fn label(self, start: NaiveDate) -> String {
        match self {
            Grain::Month => time::month_label(start),
            Grain::Week => start.format("%Y-%m-%d").to_string(),
        }
    }

    /// Periods from the cohort's start to the period of `d` (negative
    /// before the cohort).
    fn age(self, cohort: NaiveDate, d: NaiveDate) -> i64 {
        match self {
            Grain::Month => {
                let index = |x: NaiveDate| x.year() as i64 * 12 + x.month0() as i64;
                index(d) - index(cohort)
            }
            Grain::Week => (self.start(d) - cohort).num_days().div_euclid(7),
        }
    }

    /// Last day of the period at `age` of a cohort starting `cohort`.
    fn end(self, cohort: NaiveDate, age: u32) -> NaiveDate {
        match self {
            Grain::Month => {
                cohort
                    .checked_add_months(Months::new(age + 1))
                    .expect("date in range")
                    - chrono::Duration::days(1)
            }
            Grain::Week => cohort + chrono::Duration::days(7 * age as i64 + 6),
        }
    }
}

#[derive(Debug, Default)]
struct Acc {
    spend: Decimal,
    /// New customers per age.
    customers: BTreeMap<u32, u64>,
    /// revenue2 per age (not cumulative).
    revenue: BTreeMap<u32, Decimal>,
}

/// Fact cells of one cohort: (cumulative customers, cumulative revenue2)
/// for ages 0..=its age at `as_of`.
struct Facts {
    start: NaiveDate,
    spend: Decimal,
    cells: Vec<(u64, Decimal)>,
}

/// Monthly cohorts first, then weekly; each by cohort, then age.
pub fn cohorts(r: &Resolved<'_>) -> Vec<CohortCell> {
    let mut out = cells(r, Grain::Month);
    out.extend(cells(r, Grain::Week));
    out
}

fn cells(r: &Resolved<'_>, grain: Grain) -> Vec<CohortCell> {
    let as_of = r.as_of;
    // Cohort of every person with a lead: the period of their first lead.
    let mut cohort_of: HashMap<u32, NaiveDate> = HashMap::new();
    for (&person, touches) in &r.by_person {
        if let Some(&first) = touches.first() {
            cohort_of.insert(person, grain.start(r.touches[first].date));
        }
    }
    let mut accs: BTreeMap<NaiveDate, Acc> = cohort_of
        .values()
        .map(|&start| (start, Acc::default()))
        .collect();
    // Money dated before the cohort (a person who paid before their first
    // lead) counts at age 0.
    let age_of = |cohort: NaiveDate, d: NaiveDate| grain.age(cohort, d).max(0) as u32;

    // A person becomes a customer with the first payment of their earliest
    // sale.
    let mut first_sale: HashMap<u32, NaiveDate> = HashMap::new();
    for o in r.orders.iter().filter(|o| o.is_sale) {
        if let Some(d) = o.first_date {
            first_sale
                .entry(o.person)
                .and_modify(|e| *e = (*e).min(d))
                .or_insert(d);
        }
    }
    for (person, &date) in &first_sale {
        if let Some(&c) = cohort_of.get(person) {
            let acc = accs.get_mut(&c).expect("cohort exists");
            *acc.customers.entry(age_of(c, date)).or_default() += 1;
        }
    }
    // revenue2 of the cohort's sales by payment date, refunds negative.
    for p in &r.payments {
        let Some(o) = p.order.map(|o| &r.orders[o]) else {
            continue;
        };
        if !o.is_sale {
            continue;
        }
        if let Some(&c) = cohort_of.get(&o.person) {
            let acc = accs.get_mut(&c).expect("cohort exists");
            *acc.revenue.entry(age_of(c, p.date)).or_default() += p.rub;
        }
    }
    // Spend of the cohort's own period, every channel.
    for s in &r.spend {
        if let Some(acc) = accs.get_mut(&grain.start(s.date)) {
            acc.spend += s.rub;
        }
    }

    let facts: Vec<Facts> = accs
        .into_iter()
        .map(|(start, acc)| {
            let top = grain.age(start, as_of).max(0) as u32;
            let (mut customers, mut revenue) = (0u64, Decimal::ZERO);
            let cells = (0..=top)
                .map(|age| {
                    customers += acc.customers.get(&age).copied().unwrap_or(0);
                    revenue += acc.revenue.get(&age).copied().unwrap_or_default();
                    (customers, revenue)
                })
                .collect();
            Facts {
                start,
                spend: acc.spend,
                cells,
            }
        })
        .collect();

    // Development factors a -> a+1 over the cohorts whose age a+1 period
    // has ENDED by as_of (a running period is not yet a fact to learn
    // from).
    let factors: Vec<Option<Decimal>> = (0..FORECAST_AGE)
        .map(|a| {
            let (mut num, mut den, mut mature) = (Decimal::ZERO, Decimal::ZERO, false);
            for f in &facts {
                let next = a as usize + 1;
                if f.cells.len() > next && grain.end(f.start, a + 1) <= as_of {
                    mature = true;
                    num += f.cells[next].1;
                    den += f.cells[a as usize].1;
                }
            }
            (mature && den > Decimal::ZERO).then(|| num / den)
        })
        .collect();

    let mut out = Vec::new();
    for f in &facts {
        let cell = |age: u32, customers: u64, revenue: Decimal, forecast: bool| CohortCell {
            granularity: grain.name().to_string(),
            cohort: grain.label(f.start),
            age,
            customers,
            revenue2: revenue,
            spend: f.spend,
            ltv2: ratio(revenue, Decimal::from(customers)),
            romi2: romi(revenue, f.spend),
            forecast,
        };
        for (age, &(customers, revenue)) in f.cells.iter().enumerate() {
            out.push(cell(age as u32, customers, revenue, false));
        }
        // Projection from the last fact; customers carried forward.
        let last = f.cells.len() as u32 - 1;
        let (customers, mut revenue) = f.cells[last as usize];
        for a in last..FORECAST_AGE {
            let Some(factor) = factors[a as usize] else {
                break;
            };
            revenue *= factor;
            out.push(cell(a + 1, customers, revenue, true));
        }
    }
    out
}
