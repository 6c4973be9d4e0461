//! The aggregation: normalized records -> marts, for one `as_of`.
//!
//! A pure function of (dataset, config, as_of, source statuses): it
//! recomputes the whole school every time (attribution moves credit
//! backwards in time), so a full and an incremental run give the same
//! bytes. Outputs are ordered (BTreeMap), hash maps are used for lookups
//! only.

use super::channel::Channels;
use super::checks::{self, CheckInput};
use super::marts::*;
use crate::config::{Attribution, Config};
use crate::identity::PersonIndex;
use crate::model::{Dataset, PaymentStatus};
use crate::money::{RateBook, RateUse};
use crate::time;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// A deduplicated lead: the unit attribution credits.
#[derive(Debug, Clone)]
pub(crate) struct TouchLead {
    pub person: u32,
    pub at: DateTime<Utc>,
    pub date: NaiveDate,
    pub key: ChannelKey,
    pub has_source: bool,
}

/// Picks the lead that gets the credit for something that happened `at`
/// (metrics.md §2). `leads` are one person's leads sorted by time.
pub(crate) fn attribute(
    leads: &[usize],
    all: &[TouchLead],
    at: DateTime<Utc>,
    model: Attribution,
) -> Option<usize> {
    let first = leads.first().copied();
    match model {
        Attribution::FirstTouch => leads.iter().copied().find(|&i| all[i].has_source).or(first),
        Attribution::LastTouch => leads
            .iter()
            .rev()
            .copied()
            .find(|&i| all[i].has_source && all[i].at <= at)
            .or_else(|| {
                leads
                    .iter()
                    .copied()
                    .find(|&i| all[i].has_source && all[i].at > at)
            })
            .or_else(|| leads.iter().rev().copied().find(|&i| all[i].at <= at))
            .or(first),
    }
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
    let Input {
        dataset: ds,
        config,
        as_of,
        ..
    } = input;
    let tz = config.tz();
    let end = time::end_of_day(as_of, tz);
    let rates = RateBook::new(&ds.rates);
    let channels = Channels::new(config, &ds.ad_stats);
    let mut rows: BTreeMap<(NaiveDate, ChannelKey), RowAcc> = BTreeMap::new();
    let mut conv = checks::Conversion::default();
    let mut spend_by_day: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();

    // --- Spend (stats date, channel of the ad campaign).
    for s in ds.ad_stats.iter().filter(|s| s.date <= as_of) {
        let mult = config
            .account(&s.source, &s.account)
            .map(|a| a.multiplier())
            .unwrap_or(Decimal::ONE);
        let what = format!(
            "{}:{} {} {} {}",
            s.source, s.account, s.date, s.platform, s.campaign_id
        );
        let Some(rub) = conv.convert(&rates, s.spend * mult, &s.currency, s.date, what) else {
            continue;
        };
        let row = rows.entry((s.date, channels.stat_key(s))).or_default();
        row.spend += rub;
        row.impressions += s.impressions;
        row.clicks += s.clicks;
        *spend_by_day.entry(s.date).or_default() += rub;
    }
    for m in ds.manual_costs.iter().filter(|m| m.date <= as_of) {
        let what = format!("{}:{} line {}", m.source, m.account, m.line);
        let Some(rub) = conv.convert(&rates, m.amount, &m.currency, m.date, what) else {
            continue;
        };
        let mut key = channels.lead_key(&m.platform, &m.campaign, "");
        if !m.contractor.trim().is_empty() {
            key.contractor = m.contractor.trim().to_string();
        }
        rows.entry((m.date, key)).or_default().spend += rub;
        *spend_by_day.entry(m.date).or_default() += rub;
    }

    // --- Sessions (GA4).
    for s in ds.sessions.iter().filter(|s| s.date <= as_of) {
        let key = channels.lead_key(&s.utm.source, &s.utm.campaign, &s.utm.content);
        rows.entry((s.date, key)).or_default().sessions += s.sessions;
    }

    // --- Persons: every record with contact data is a node.
    let mut index = PersonIndex::new();
    let registration: BTreeSet<&str> = config
        .registration_forms
        .iter()
        .map(String::as_str)
        .collect();
    let mut lead_ids: Vec<usize> = (0..ds.leads.len())
        .filter(|&i| {
            let l = &ds.leads[i];
            l.created_at < end
                && (registration.is_empty() || registration.contains(l.form.as_str()))
        })
        .collect();
    // Input order must not matter: sort by a total order first.
    lead_ids.sort_by(|&a, &b| {
        let (x, y) = (&ds.leads[a], &ds.leads[b]);
        (x.created_at, &x.source, &x.account, &x.id).cmp(&(
            y.created_at,
            &y.source,
            &y.account,
            &y.id,
        ))
    });
    let lead_nodes: Vec<u32> = lead_ids
        .iter()
        .map(|&i| index.add([ds.leads[i].email.as_str()], [ds.leads[i].phone.as_str()]))
        .collect();
    let contact_nodes: Vec<u32> = ds
        .contacts
        .iter()
        .map(|c| {
            index.add(
                c.emails.iter().map(String::as_str),
                c.phones.iter().map(String::as_str),
            )
        })
        .collect();
    let order_nodes: Vec<u32> = ds
        .orders
        .iter()
        .map(|o| index.add([o.email.as_str()], [o.phone.as_str()]))
        .collect();
    // Payments link people too (an order's e-mail, a payment's phone).
    for p in &ds.payments {
        index.add([p.email.as_str()], [p.phone.as_str()]);
    }
    let viewer_nodes: Vec<u32> = ds
        .viewers
        .iter()
        .map(|v| index.add([v.email.as_str()], [v.phone.as_str()]))
        .collect();
    let person = index.finish();
    let mut next_person = person.iter().copied().max().map_or(0, |m| m + 1);
    let mut own_person = || {
        next_person += 1;
        next_person - 1
    };

    // --- Leads, deduplicated per person, form and local day.
    let mut touches: Vec<TouchLead> = Vec::new();
    let mut seen: BTreeSet<(u32, &str, NaiveDate)> = BTreeSet::new();
    let mut same_day_dupes = 0u64;
    for (n, &i) in lead_ids.iter().enumerate() {
        let l = &ds.leads[i];
        let p = person[lead_nodes[n] as usize];
        let date = time::local_date(l.created_at, tz);
        if !seen.insert((p, l.form.as_str(), date)) {
            same_day_dupes += 1;
            continue;
        }
        touches.push(TouchLead {
            person: p,
            at: l.created_at,
            date,
            key: channels.lead_key(&l.utm.source, &l.utm.campaign, &l.utm.content),
            has_source: !l.utm.source.trim().is_empty(),
        });
    }
    let mut by_person: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, t) in touches.iter().enumerate() {
        by_person.entry(t.person).or_default().push(i);
    }

    // --- Attendance: a viewer of a webinar within the window.
    let mut viewed: HashMap<u32, Vec<NaiveDate>> = HashMap::new();
    for (v, node) in ds.viewers.iter().zip(&viewer_nodes) {
        if v.webinar_start < end {
            viewed
                .entry(person[*node as usize])
                .or_default()
                .push(time::local_date(v.webinar_start, tz));
        }
    }
    let window = chrono::Duration::days(config.attendance_window_days as i64);
    for t in &touches {
        let row = rows.entry((t.date, t.key.clone())).or_default();
        row.leads += 1;
        if viewed
            .get(&t.person)
            .is_some_and(|ds| ds.iter().any(|d| *d >= t.date && *d <= t.date + window))
        {
            row.attendees += 1;
        }
    }

    // --- Applications: deals credited to a lead.
    let contact_by_id: HashMap<(&str, &str, &str), usize> = ds
        .contacts
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.source.as_str(), c.account.as_str(), c.id.as_str()), i))
        .collect();
    let mut deals: Vec<usize> = (0..ds.deals.len())
        .filter(|&i| !ds.deals[i].deleted && ds.deals[i].created_at < end)
        .collect();
    deals.sort_by(|&a, &b| {
        (&ds.deals[a].source, &ds.deals[a].id).cmp(&(&ds.deals[b].source, &ds.deals[b].id))
    });
    for &i in &deals {
        let d = &ds.deals[i];
        let p = d
            .contact_ids
            .iter()
            .find_map(|c| contact_by_id.get(&(d.source.as_str(), d.account.as_str(), c.as_str())))
            .map(|&ci| person[contact_nodes[ci] as usize])
            .unwrap_or_else(&mut own_person);
        let (date, key) = credit(&by_person, &touches, p, d.created_at, config.attribution)
            .unwrap_or_else(|| (time::local_date(d.created_at, tz), ChannelKey::undefined()));
        rows.entry((date, key)).or_default().applications += 1;
    }

    // --- Orders and payments.
    let order_by_number: HashMap<(&str, &str, &str), usize> = ds
        .orders
        .iter()
        .enumerate()
        .map(|(i, o)| {
            (
                (o.source.as_str(), o.account.as_str(), o.number.as_str()),
                i,
            )
        })
        .collect();
    let mut order_payments: Vec<Vec<usize>> = vec![Vec::new(); ds.orders.len()];
    let mut cash: BTreeMap<NaiveDate, CashRow> = BTreeMap::new();
    let mut unmatched = (0u64, Decimal::ZERO);
    let mut rub_amount: Vec<Option<Decimal>> = vec![None; ds.payments.len()];
    let mut money_payments: Vec<usize> = (0..ds.payments.len())
        .filter(|&i| {
            let p = &ds.payments[i];
            p.paid_at < end && matches!(p.status, PaymentStatus::Received | PaymentStatus::Refunded)
        })
        .collect();
    money_payments.sort_by(|&a, &b| {
        let (x, y) = (&ds.payments[a], &ds.payments[b]);
        (x.paid_at, &x.source, &x.id).cmp(&(y.paid_at, &y.source, &y.id))
    });
    for &i in &money_payments {
        let p = &ds.payments[i];
        let amount = signed_amount(p.status, p.amount);
        let date = time::local_date(p.paid_at, tz);
        let what = format!("{}:{} payment {}", p.source, p.account, p.id);
        let Some(rub) = conv.convert(&rates, amount, &p.currency, date, what) else {
            continue;
        };
        rub_amount[i] = Some(rub);
        let row = cash.entry(date).or_insert_with(|| CashRow {
            date,
            ..CashRow::default()
        });
        row.revenue += rub;
        if amount < Decimal::ZERO {
            row.refunds += rub;
        }
        match order_by_number.get(&(
            p.source.as_str(),
            p.account.as_str(),
            p.order_number.as_str(),
        )) {
            Some(&o) => order_payments[o].push(i),
            None => {
                unmatched.0 += 1;
                unmatched.1 += rub;
            }
        }
    }
    for (o, pays) in order_payments.iter().enumerate() {
        let order = &ds.orders[o];
        let mut paid = Decimal::ZERO;
        let mut first: Option<usize> = None;
        let mut revenue2 = Decimal::ZERO;
        for &i in pays {
            let p = &ds.payments[i];
            let amount = signed_amount(p.status, p.amount);
            let rub = rub_amount[i].unwrap_or_default();
            revenue2 += rub;
            paid += amount;
            if amount > Decimal::ZERO {
                let date = time::local_date(p.paid_at, tz);
                let row = cash
                    .get_mut(&date)
                    .expect("cash row exists for a converted payment");
                if first.is_some() {
                    row.surcharges += rub;
                }
                if paid < order.cost {
                    row.prepayments += rub;
                }
                first.get_or_insert(i);
            }
        }
        let Some(first) = first else { continue };
        if revenue2 <= Decimal::ZERO {
            continue;
        }
        let p = person[order_nodes[o] as usize];
        let first_date = time::local_date(ds.payments[first].paid_at, tz);
        let (date, key) = credit(
            &by_person,
            &touches,
            p,
            order.created_at,
            config.attribution,
        )
        .unwrap_or((first_date, ChannelKey::undefined()));
        let row = rows.entry((date, key)).or_default();
        row.sales += 1;
        row.revenue1 += rub_amount[first].unwrap_or_default();
        row.revenue2 += revenue2;
        row.customers.insert(p);
    }

    // --- Cash spend and a row for every day to as_of.
    for (d, s) in &spend_by_day {
        cash.entry(*d)
            .or_insert_with(|| CashRow {
                date: *d,
                ..CashRow::default()
            })
            .spend += *s;
    }
    if let Some(first) = cash.keys().next().copied() {
        let mut d = first;
        while d <= as_of {
            cash.entry(d).or_insert_with(|| CashRow {
                date: d,
                ..CashRow::default()
            });
            d = d.succ_opt().expect("date in range");
        }
    }

    // --- Channel rows and the summary.
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
        .or_default() += same_day_dupes;
    let checks = checks::run(CheckInput {
        config,
        dataset: ds,
        as_of,
        checked_at: input.checked_at,
        sources: input.sources,
        channels: &channel_rows,
        cash: &cash_rows,
        conversion: &conv,
        rates: &rates,
        unmatched_payments: unmatched,
        collapsed: &collapsed,
    });

    Marts {
        as_of,
        timezone: config.timezone.clone(),
        attribution: config.attribution.as_str().to_string(),
        channels: channel_rows,
        cash: cash_rows,
        summary,
        checks,
    }
}

fn signed_amount(status: PaymentStatus, amount: Decimal) -> Decimal {
    match status {
        PaymentStatus::Refunded => -amount.abs(),
        _ => amount,
    }
}

fn credit(
    by_person: &HashMap<u32, Vec<usize>>,
    touches: &[TouchLead],
    person: u32,
    at: DateTime<Utc>,
    model: Attribution,
) -> Option<(NaiveDate, ChannelKey)> {
    let leads = by_person.get(&person)?;
    let i = attribute(leads, touches, at, model)?;
    Some((touches[i].date, touches[i].key.clone()))
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

/// Records the conversions made (for the currency check).
impl checks::Conversion {
    fn convert(
        &mut self,
        rates: &RateBook,
        amount: Decimal,
        currency: &str,
        date: NaiveDate,
        what: String,
    ) -> Option<Decimal> {
        match rates.to_rub(amount, currency, date) {
            Ok((rub, RateUse::Fallback { effective, wanted })) => {
                self.fallbacks.push(format!(
                    "{what}: {currency} {wanted} by the set of {effective}"
                ));
                Some(rub)
            }
            Ok((rub, _)) => Some(rub),
            Err(e) => {
                self.missing.push(format!("{what}: {e}"));
                None
            }
        }
    }
}
