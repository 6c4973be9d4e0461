//! Managers: deals, sales, cash, allocated spend and the plan per sales
//! manager and month, plus weekly summaries (metrics.md §6).

use super::engine::{ratio, romi};
use super::funnel::{ManagerNames, OrderDeals};
use super::marts::{ChannelKey, ManagerRow, ManagerWeekRow, NO_MANAGER};
use super::resolve::Resolved;
use crate::time;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default)]
struct MonthAcc {
    leads: u64,
    sales: u64,
    revenue: Decimal,
    revenue1: Decimal,
    revenue2: Decimal,
    spend: Decimal,
}

#[derive(Debug, Default)]
struct WeekAcc {
    leads: u64,
    sales: u64,
    revenue: Decimal,
}

/// The manager of every resolved deal and order (indexes follow
/// `Resolved::deals` and `Resolved::orders`).
pub struct Assignment {
    pub deals: Vec<String>,
    pub orders: Vec<String>,
}

/// Resolves who works each deal and order (the rules live with the funnel
/// slices, which show the same managers: [`ManagerNames`], [`OrderDeals`]):
/// - a deal: its responsible user's name from the `Manager` records of the
///   same source and account; an unknown id is shown as the id itself; no
///   responsible user: "(без менеджера)";
/// - an order: the manager of its linked deal — by `crm_deal_id` (a
///   resolved deal with that id), else the person's latest deal created at
///   or before the order — else the GetCourse `manager` field matched to a
///   CRM user by name or e-mail (trimmed, case-insensitive), else
///   "(без менеджера)".
pub fn assign(r: &Resolved<'_>) -> Assignment {
    let names = ManagerNames::new(r);
    let links = OrderDeals::new(r);
    let deals: Vec<String> = r
        .deals
        .iter()
        .map(|rd| names.of_deal(&r.ds.deals[rd.deal]))
        .collect();
    let orders = (0..r.orders.len())
        .map(|slot| match links.get(slot) {
            Some(i) => deals[i].clone(),
            None => names
                .by_label(&r.ds.orders[r.orders[slot].order].manager)
                .unwrap_or_else(|| NO_MANAGER.to_string()),
        })
        .collect();
    Assignment { deals, orders }
}

/// Monthly rows (by month, then manager) and weekly rows (by ISO week's
/// Monday, then manager).
pub fn managers(r: &Resolved<'_>) -> (Vec<ManagerRow>, Vec<ManagerWeekRow>) {
    let a = assign(r);
    let as_of = r.as_of;

    // CPL per lead day and channel key.
    let mut spend: HashMap<(NaiveDate, &ChannelKey), Decimal> = HashMap::new();
    for s in &r.spend {
        *spend.entry((s.date, &s.key)).or_default() += s.rub;
    }
    let mut leads: HashMap<(NaiveDate, &ChannelKey), u64> = HashMap::new();
    for t in &r.touches {
        *leads.entry((t.date, &t.key)).or_default() += 1;
    }
    let cpl = |touch: Option<usize>| -> Decimal {
        let Some(t) = touch.map(|t| &r.touches[t]) else {
            return Decimal::ZERO;
        };
        let k = (t.date, &t.key);
        let n = leads.get(&k).copied().unwrap_or(0);
        match spend.get(&k) {
            Some(s) if n > 0 => *s / Decimal::from(n),
            _ => Decimal::ZERO,
        }
    };

    let mut months: BTreeMap<(NaiveDate, String), MonthAcc> = BTreeMap::new();
    let mut weeks: BTreeMap<(NaiveDate, String), WeekAcc> = BTreeMap::new();
    for (rd, m) in r.deals.iter().zip(&a.deals) {
        let acc = months
            .entry((time::month_start(rd.date), m.clone()))
            .or_default();
        acc.leads += 1;
        acc.spend += cpl(rd.credit.touch);
        weeks
            .entry((time::week_start(rd.date), m.clone()))
            .or_default()
            .leads += 1;
    }
    for (o, m) in r.orders.iter().zip(&a.orders) {
        let Some(date) = o.first_date.filter(|_| o.is_sale) else {
            continue;
        };
        let acc = months
            .entry((time::month_start(date), m.clone()))
            .or_default();
        acc.sales += 1;
        acc.revenue1 += o.revenue1;
        acc.revenue2 += o.revenue2;
        weeks
            .entry((time::week_start(date), m.clone()))
            .or_default()
            .sales += 1;
    }
    for p in &r.payments {
        let m = p
            .order
            .map_or_else(|| NO_MANAGER.to_string(), |o| a.orders[o].clone());
        months
            .entry((time::month_start(p.date), m.clone()))
            .or_default()
            .revenue += p.rub;
        weeks
            .entry((time::week_start(p.date), m))
            .or_default()
            .revenue += p.rub;
    }

    // Plans by (month, exact manager name); several entries add up.
    let mut plans: BTreeMap<(NaiveDate, String), (Option<Decimal>, Option<u32>)> = BTreeMap::new();
    for p in &r.config.plans {
        let Some(month) = time::parse_month(&p.month) else {
            continue;
        };
        let e = plans.entry((month, p.manager.clone())).or_default();
        if let Some(v) = p.revenue {
            e.0 = Some(e.0.unwrap_or_default() + v);
        }
        if let Some(v) = p.sales {
            e.1 = Some(e.1.unwrap_or_default() + v);
        }
    }
    // A planned manager without activity yet still gets a row, for the
    // months from the first data month through as_of's month.
    let this_month = time::month_start(as_of);
    if let Some(first) = months.keys().next().map(|k| k.0) {
        for key in plans.keys() {
            if key.0 >= first && key.0 <= this_month {
                months.entry(key.clone()).or_default();
            }
        }
    }

    let monthly = months
        .into_iter()
        .map(|((month, manager), acc)| {
            let sales = Decimal::from(acc.sales);
            let (plan_revenue, plan_sales) = plans
                .get(&(month, manager.clone()))
                .copied()
                .unwrap_or_default();
            let forecast = if month < this_month {
                Some(acc.revenue)
            } else if month == this_month {
                Some(
                    acc.revenue * Decimal::from(time::days_in_month(as_of))
                        / Decimal::from(as_of.day()),
                )
            } else {
                None
            };
            ManagerRow {
                month: time::month_label(month),
                manager,
                leads: acc.leads,
                sales: acc.sales,
                revenue: acc.revenue,
                avg_check1: ratio(acc.revenue1, sales),
                avg_check2: ratio(acc.revenue2, sales),
                conversion: ratio(sales, Decimal::from(acc.leads)),
                spend: acc.spend,
                romi1: romi(acc.revenue1, acc.spend),
                romi2: romi(acc.revenue2, acc.spend),
                plan_revenue,
                plan_sales,
                remaining: plan_revenue.map(|p| (p - acc.revenue).max(Decimal::ZERO)),
                percent: plan_revenue
                    .and_then(|p| ratio(acc.revenue, p))
                    .map(|x| x * Decimal::ONE_HUNDRED),
                remaining_sales: plan_sales
                    .map(|p| (u64::from(p).saturating_sub(acc.sales)) as u32),
                forecast,
            }
        })
        .collect();
    let weekly = weeks
        .into_iter()
        .map(|((week, manager), acc)| ManagerWeekRow {
            week,
            manager,
            leads: acc.leads,
            sales: acc.sales,
            revenue: acc.revenue,
            conversion: ratio(Decimal::from(acc.sales), Decimal::from(acc.leads)),
        })
        .collect();
    (monthly, weekly)
}
