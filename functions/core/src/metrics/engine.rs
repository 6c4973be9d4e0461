//! The aggregation: normalized records -> marts, for one `as_of`.
//!
//! A pure function of (dataset, config, as_of, source statuses): it
//! recomputes the whole school every time (attribution moves credit
//! backwards in time), so a full and an incremental run give the same
//! bytes. Outputs are ordered (BTreeMap), hash maps are used for lookups
//! only.

use super::checks::{self, CheckInput};
use super::cohorts;
use super::funnel;
use super::managers;
use super::marts::*;
use super::resolve::Resolved;
use crate::config::Config;
use crate::model::Dataset;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// Everything the aggregation reads.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub dataset: &'a Dataset,
    pub config: &'a Config,
    /// Last local day of the report: figures are as of its end.
    pub as_of: NaiveDate,
    /// Per-source ingest status from the run log (freshness check).
    pub sources: &'a [SourceStatus],
    /// Duplicates collapsed upstream (normalization), by kind.
    pub collapsed: &'a BTreeMap<String, u64>,
    /// Raw responses or records normalization refused (in `quarantine/`).
    pub quarantined: u64,
    /// The instant the freshness check compares against (end of `as_of`
    /// for reproducible rebuilds, the wall clock for live runs).
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Default, Clone)]
struct RowAcc {
    spend: Decimal,
    impressions: u64,
    clicks: u64,
    sessions: u64,
    leads: u64,
    attendees: u64,
    applications: u64,
    sales: u64,
    revenue1: Decimal,
    revenue2: Decimal,
    customers: BTreeSet<u32>,
}

/// Ratio with "—" (None) on a zero denominator.
pub fn ratio(num: Decimal, den: Decimal) -> Option<Decimal> {
    if den.is_zero() { None } else { Some(num / den) }
}

/// ROMI in percent: (revenue - spend) / spend x 100.
pub fn romi(revenue: Decimal, spend: Decimal) -> Option<Decimal> {
    ratio(revenue - spend, spend).map(|r| r * Decimal::ONE_HUNDRED)
}

/// Computes the marts.
pub fn aggregate(input: Input<'_>) -> Marts {
    let r = Resolved::new(input.dataset, input.config, input.as_of);
    marts_from(&r, &input)
}

/// The channel and cash marts, summary and checks from resolved facts.
pub fn marts_from(r: &Resolved<'_>, input: &Input<'_>) -> Marts {
    let (ds, config, as_of) = (r.ds, r.config, r.as_of);
    let mut rows: BTreeMap<(NaiveDate, ChannelKey), RowAcc> = BTreeMap::new();
    let mut spend_by_day: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
    for s in &r.spend {
        let row = rows.entry((s.date, s.key.clone())).or_default();
        row.spend += s.rub;
        row.impressions += s.impressions;
        row.clicks += s.clicks;
        *spend_by_day.entry(s.date).or_default() += s.rub;
    }
    for s in ds.sessions.iter().filter(|s| s.date <= as_of) {
        let key = r
            .channels
            .lead_key(&s.utm.source, &s.utm.campaign, &s.utm.content);
        rows.entry((s.date, key)).or_default().sessions += s.sessions;
    }
    for t in &r.touches {
        let row = rows.entry((t.date, t.key.clone())).or_default();
        row.leads += 1;
        row.attendees += u64::from(t.attended);
    }
    for d in &r.deals {
        rows.entry((d.credit.date, d.credit.key.clone()))
            .or_default()
            .applications += 1;
    }
    for o in r.orders.iter().filter(|o| o.is_sale) {
        let row = rows
            .entry((o.credit.date, o.credit.key.clone()))
            .or_default();
        row.sales += 1;
        row.revenue1 += o.revenue1;
        row.revenue2 += o.revenue2;
        row.customers.insert(o.person);
    }

    // Cash view: money by the day it moved, every day to as_of.
    let mut cash: BTreeMap<NaiveDate, CashRow> = BTreeMap::new();
    let empty = |date| CashRow {
        date,
        ..CashRow::default()
    };
    for p in &r.payments {
        let row = cash.entry(p.date).or_insert_with(|| empty(p.date));
        row.revenue += p.rub;
        if p.refund {
            row.refunds += p.rub;
        }
        if p.prepayment {
            row.prepayments += p.rub;
        }
        if p.surcharge {
            row.surcharges += p.rub;
        }
    }
    for (d, s) in &spend_by_day {
        cash.entry(*d).or_insert_with(|| empty(*d)).spend += *s;
    }
    if let Some(first) = cash.keys().next().copied() {
        let mut d = first;
        while d <= as_of {
            cash.entry(d).or_insert_with(|| empty(d));
            d = d.succ_opt().expect("date in range");
        }
    }

    let mut all_customers: BTreeSet<u32> = BTreeSet::new();
    let channel_rows: Vec<ChannelRow> = rows
        .into_iter()
        .map(|((date, key), acc)| {
            all_customers.extend(acc.customers.iter().copied());
            ChannelRow {
                date,
                platform: key.platform,
                campaign: key.campaign,
                contractor: key.contractor,
                spend: acc.spend,
                impressions: acc.impressions,
                clicks: acc.clicks,
                sessions: acc.sessions,
                leads: acc.leads,
                attendees: acc.attendees,
                applications: acc.applications,
                sales: acc.sales,
                customers: acc.customers.len() as u64,
                revenue1: acc.revenue1,
                revenue2: acc.revenue2,
            }
        })
        .collect();
    let cash_rows: Vec<CashRow> = cash.into_values().collect();
    let from = channel_rows
        .iter()
        .map(|r| r.date)
        .chain(cash_rows.iter().map(|r| r.date))
        .min()
        .unwrap_or(as_of);
    let summary = summarize(
        &channel_rows,
        &cash_rows,
        all_customers.len() as u64,
        config,
        from,
        as_of,
    );

    let mut collapsed = input.collapsed.clone();
    *collapsed
        .entry("same_day_registrations".into())
        .or_default() += r.same_day_duplicates;
    let checks = checks::run(CheckInput {
        config,
        dataset: ds,
        as_of,
        checked_at: input.checked_at,
        sources: input.sources,
        channels: &channel_rows,
        cash: &cash_rows,
        conversion: &r.conversion,
        rates: &r.rates,
        unmatched_payments: r.unmatched_payments,
        collapsed: &collapsed,
        quarantined: input.quarantined,
        resolved: r,
    });

    let (managers, manager_weeks) = managers::managers(r);
    Marts {
        as_of,
        timezone: config.timezone.clone(),
        attribution: config.attribution.as_str().to_string(),
        channels: channel_rows,
        cash: cash_rows,
        summary,
        checks,
        managers,
        manager_weeks,
        cohorts: cohorts::cohorts(r),
        funnel: funnel::funnel(r),
        pipeline_stages: funnel::pipeline_stages(r),
    }
}

/// Totals and ratios over channel rows and cash rows.
pub fn summarize(
    channels: &[ChannelRow],
    cash: &[CashRow],
    customers: u64,
    config: &Config,
    from: NaiveDate,
    to: NaiveDate,
) -> Summary {
    let mut s = Summary {
        from,
        to,
        customers,
        ..Summary::default()
    };
    for r in channels.iter().filter(|r| r.date >= from && r.date <= to) {
        s.spend += r.spend;
        s.impressions += r.impressions;
        s.clicks += r.clicks;
        s.leads += r.leads;
        s.applications += r.applications;
        s.sales += r.sales;
        s.revenue1 += r.revenue1;
        s.revenue2 += r.revenue2;
    }
    for c in cash.iter().filter(|r| r.date >= from && r.date <= to) {
        s.cash_revenue += c.revenue;
        s.prepayments += c.prepayments;
        s.surcharges += c.surcharges;
        s.refunds += c.refunds;
    }
    let pct: Decimal = config
        .variable_costs
        .iter()
        .map(|v| v.percent_of_revenue)
        .sum();
    s.variable_costs = s.revenue2 * pct / Decimal::ONE_HUNDRED;
    s.margin = s.revenue2 - s.spend - s.variable_costs;
    let sales = Decimal::from(s.sales);
    let cust = Decimal::from(s.customers);
    s.cpl = ratio(s.spend, Decimal::from(s.leads));
    s.cac = ratio(s.spend, cust);
    s.avg_check1 = ratio(s.revenue1, sales);
    s.avg_check2 = ratio(s.revenue2, sales);
    s.ltv1 = ratio(s.revenue1, cust);
    s.ltv2 = ratio(s.revenue2, cust);
    s.romi1 = romi(s.revenue1, s.spend);
    s.romi2 = romi(s.revenue2, s.spend);
    s
}
