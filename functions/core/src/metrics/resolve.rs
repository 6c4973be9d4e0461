//! Resolution: the shared first pass of every metric. Turns the raw
//! dataset into resolved facts — spend in roubles with its channel key,
//! persons, deduplicated leads (touches), attendance, deals and orders with
//! their person, attribution and payments — once, so the channel marts,
//! cohorts, managers and funnel all count the same things the same way.

use super::channel::Channels;
use super::checks::Conversion;
use super::marts::ChannelKey;
use crate::config::{Attribution, Config};
use crate::identity::PersonIndex;
use crate::model::{Dataset, PaymentStatus};
use crate::money::{RateBook, RateUse};
use crate::time;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};

/// A cost (ad statistics or a manual cost) in roubles.
#[derive(Debug, Clone)]
pub struct SpendItem {
    pub date: NaiveDate,
    pub key: ChannelKey,
    pub rub: Decimal,
    pub impressions: u64,
    pub clicks: u64,
    /// `source:account` of the ad account ("" for manual costs).
    pub account: String,
    pub campaign_id: String,
}

/// A deduplicated lead: the unit attribution credits.
#[derive(Debug, Clone)]
pub struct Touch {
    /// Index into `Dataset::leads`.
    pub lead: usize,
    pub person: u32,
    pub at: DateTime<Utc>,
    pub date: NaiveDate,
    pub key: ChannelKey,
    pub has_source: bool,
    /// Viewed a webinar within the attendance window.
    pub attended: bool,
    /// Viewed it up to the offer minute.
    pub stayed_to_offer: bool,
}

/// Where a deal or order is credited: a touch, or the undefined channel on
/// its own date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub touch: Option<usize>,
    pub date: NaiveDate,
    pub key: ChannelKey,
}

#[derive(Debug, Clone)]
pub struct ResolvedDeal {
    /// Index into `Dataset::deals`.
    pub deal: usize,
    pub person: u32,
    pub date: NaiveDate,
    pub credit: Credit,
}

#[derive(Debug, Clone)]
pub struct ResolvedOrder {
    /// Index into `Dataset::orders`.
    pub order: usize,
    pub person: u32,
    /// Money payments (received or refunded, to `as_of`, converted), in
    /// time order.
    pub payments: Vec<usize>,
    /// The first positive payment.
    pub first: Option<usize>,
    pub first_date: Option<NaiveDate>,
    pub revenue1: Decimal,
    pub revenue2: Decimal,
    /// A sale: a received payment and net paid above zero.
    pub is_sale: bool,
    pub credit: Credit,
}

/// One money payment (received or refunded) in roubles.
#[derive(Debug, Clone)]
pub struct ResolvedPayment {
    /// Index into `Dataset::payments`.
    pub payment: usize,
    pub date: NaiveDate,
    pub rub: Decimal,
    /// Index into `Resolved::orders` (not `Dataset::orders`).
    pub order: Option<usize>,
    pub prepayment: bool,
    pub surcharge: bool,
    pub refund: bool,
}

/// Everything the metric tables are computed from.
#[derive(Debug)]
pub struct Resolved<'a> {
    pub ds: &'a Dataset,
    pub config: &'a Config,
    pub tz: Tz,
    pub as_of: NaiveDate,
    pub end: DateTime<Utc>,
    pub rates: RateBook,
    pub channels: Channels,
    pub conversion: Conversion,
    pub spend: Vec<SpendItem>,
    pub touches: Vec<Touch>,
    /// Touch indexes per person, in time order.
    pub by_person: HashMap<u32, Vec<usize>>,
    pub deals: Vec<ResolvedDeal>,
    pub orders: Vec<ResolvedOrder>,
    /// In time order.
    pub payments: Vec<ResolvedPayment>,
    /// Person of every contact (index = `Dataset::contacts` index).
    pub contact_person: Vec<u32>,
    pub same_day_duplicates: u64,
    pub unmatched_payments: (u64, Decimal),
}

/// Picks the touch that gets the credit for something that happened `at`
/// (metrics.md §2). `leads` are one person's touches sorted by time.
pub fn attribute(
    leads: &[usize],
    all: &[Touch],
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

fn signed_amount(status: PaymentStatus, amount: Decimal) -> Decimal {
    match status {
        PaymentStatus::Refunded => -amount.abs(),
        _ => amount,
    }
}

impl Conversion {
    /// Converts to roubles, recording fallbacks and missing rates.
    pub fn convert(
        &mut self,
        rates: &RateBook,
        amount: Decimal,
        currency: &str,
        date: NaiveDate,
        what: impl FnOnce() -> String,
    ) -> Option<Decimal> {
        match rates.to_rub(amount, currency, date) {
            Ok((rub, RateUse::Fallback { effective, wanted })) => {
                self.fallbacks.push(format!(
                    "{}: {currency} на {wanted} по курсу от {effective}",
                    what()
                ));
                Some(rub)
            }
            Ok((rub, _)) => Some(rub),
            Err(e) => {
                self.missing.push(format!("{}: {e}", what()));
                None
            }
        }
    }
}

impl<'a> Resolved<'a> {
    pub fn new(ds: &'a Dataset, config: &'a Config, as_of: NaiveDate) -> Resolved<'a> {
        let tz = config.tz();
        let end = time::end_of_day(as_of, tz);
        let rates = RateBook::new(&ds.rates);
        let channels = Channels::new(config, &ds.ad_stats);
        let mut conversion = Conversion::default();

        // --- Spend.
        let mut spend = Vec::new();
        for s in ds.ad_stats.iter().filter(|s| s.date <= as_of) {
            let mult = config
                .account(&s.source, &s.account)
                .map(|a| a.multiplier())
                .unwrap_or(Decimal::ONE);
            let Some(rub) = conversion.convert(&rates, s.spend * mult, &s.currency, s.date, || {
                format!(
                    "{}:{} {} {} {}",
                    s.source, s.account, s.date, s.platform, s.campaign_id
                )
            }) else {
                continue;
            };
            spend.push(SpendItem {
                date: s.date,
                key: channels.stat_key(s),
                rub,
                impressions: s.impressions,
                clicks: s.clicks,
                account: format!("{}:{}", s.source, s.account),
                campaign_id: s.campaign_id.clone(),
            });
        }
        for m in ds.manual_costs.iter().filter(|m| m.date <= as_of) {
            let Some(rub) = conversion.convert(&rates, m.amount, &m.currency, m.date, || {
                format!("{}:{} line {}", m.source, m.account, m.line)
            }) else {
                continue;
            };
            let mut key = channels.lead_key(&m.platform, &m.campaign, "");
            if !m.contractor.trim().is_empty() {
                key.contractor = m.contractor.trim().to_string();
            }
            spend.push(SpendItem {
                date: m.date,
                key,
                rub,
                impressions: 0,
                clicks: 0,
                account: String::new(),
                campaign_id: String::new(),
            });
        }

        // --- Persons: every record with contact data is a node.
        let mut index = PersonIndex::new();
        let registration: BTreeSet<&str> = config
            .registration_forms
            .iter()
            .map(String::as_str)
            .collect();
        // Every lead links people (an application form's phone included);
        // only registration-form leads become touches.
        let mut lead_ids: Vec<usize> = (0..ds.leads.len())
            .filter(|&i| ds.leads[i].created_at < end)
            .collect();
        // Input order must not matter: a total order first.
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
        // Payments and viewers link people too.
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
        let contact_person: Vec<u32> = contact_nodes.iter().map(|n| person[*n as usize]).collect();

        // --- Attendance facts per person: (webinar local date, stayed).
        let offer_of: HashMap<(&str, &str, &str), u32> = ds
            .webinars
            .iter()
            .map(|w| {
                (
                    (w.source.as_str(), w.account.as_str(), w.id.as_str()),
                    w.offer_minute.unwrap_or(config.offer_minute),
                )
            })
            .collect();
        let mut viewed: HashMap<u32, Vec<(NaiveDate, bool)>> = HashMap::new();
        for (v, node) in ds.viewers.iter().zip(&viewer_nodes) {
            if v.webinar_start >= end {
                continue;
            }
            let offer = offer_of
                .get(&(v.source.as_str(), v.account.as_str(), v.webinar_id.as_str()))
                .copied()
                .unwrap_or(config.offer_minute);
            let offer_at = v.webinar_start + chrono::Duration::minutes(offer as i64);
            viewed.entry(person[*node as usize]).or_default().push((
                time::local_date(v.webinar_start, tz),
                v.view_till >= offer_at,
            ));
        }
        let window = chrono::Duration::days(config.attendance_window_days as i64);

        // --- Leads, deduplicated per person, form and local day.
        let mut touches: Vec<Touch> = Vec::new();
        let mut seen: BTreeSet<(u32, &str, NaiveDate)> = BTreeSet::new();
        let mut same_day_duplicates = 0u64;
        for (n, &i) in lead_ids.iter().enumerate() {
            let l = &ds.leads[i];
            if !(registration.is_empty() || registration.contains(l.form.as_str())) {
                continue;
            }
            let p = person[lead_nodes[n] as usize];
            let date = time::local_date(l.created_at, tz);
            if !seen.insert((p, l.form.as_str(), date)) {
                same_day_duplicates += 1;
                continue;
            }
            let views = viewed.get(&p).map(Vec::as_slice).unwrap_or(&[]);
            let in_window = |d: &NaiveDate| *d >= date && *d <= date + window;
            touches.push(Touch {
                lead: i,
                person: p,
                at: l.created_at,
                date,
                key: channels.lead_key(&l.utm.source, &l.utm.campaign, &l.utm.content),
                has_source: !l.utm.source.trim().is_empty(),
                attended: views.iter().any(|(d, _)| in_window(d)),
                stayed_to_offer: views.iter().any(|(d, s)| *s && in_window(d)),
            });
        }
        let mut by_person: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, t) in touches.iter().enumerate() {
            by_person.entry(t.person).or_default().push(i);
        }
        let credit = |p: u32, at: DateTime<Utc>, fallback: NaiveDate| -> Credit {
            by_person
                .get(&p)
                .and_then(|leads| attribute(leads, &touches, at, config.attribution))
                .map(|t| Credit {
                    touch: Some(t),
                    date: touches[t].date,
                    key: touches[t].key.clone(),
                })
                .unwrap_or_else(|| Credit {
                    touch: None,
                    date: fallback,
                    key: ChannelKey::undefined(),
                })
        };

        // --- Deals.
        let contact_by_id: HashMap<(&str, &str, &str), usize> = ds
            .contacts
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.source.as_str(), c.account.as_str(), c.id.as_str()), i))
            .collect();
        let mut deal_ids: Vec<usize> = (0..ds.deals.len())
            .filter(|&i| !ds.deals[i].deleted && ds.deals[i].created_at < end)
            .collect();
        deal_ids.sort_by(|&a, &b| {
            let (x, y) = (&ds.deals[a], &ds.deals[b]);
            (&x.source, &x.account, &x.id).cmp(&(&y.source, &y.account, &y.id))
        });
        let mut deals = Vec::with_capacity(deal_ids.len());
        for i in deal_ids {
            let d = &ds.deals[i];
            let p = d
                .contact_ids
                .iter()
                .find_map(|c| {
                    contact_by_id.get(&(d.source.as_str(), d.account.as_str(), c.as_str()))
                })
                .map(|&ci| contact_person[ci])
                .unwrap_or_else(|| {
                    next_person += 1;
                    next_person - 1
                });
            let date = time::local_date(d.created_at, tz);
            deals.push(ResolvedDeal {
                deal: i,
                person: p,
                date,
                credit: credit(p, d.created_at, date),
            });
        }

        // --- Payments (money only, to as_of), in time order.
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
        let mut money: Vec<usize> = (0..ds.payments.len())
            .filter(|&i| {
                let p = &ds.payments[i];
                p.paid_at < end
                    && matches!(p.status, PaymentStatus::Received | PaymentStatus::Refunded)
            })
            .collect();
        money.sort_by(|&a, &b| {
            let (x, y) = (&ds.payments[a], &ds.payments[b]);
            (x.paid_at, &x.source, &x.account, &x.id)
                .cmp(&(y.paid_at, &y.source, &y.account, &y.id))
        });
        let mut order_slot: HashMap<usize, usize> = HashMap::new();
        let mut orders: Vec<ResolvedOrder> = Vec::new();
        let mut payments: Vec<ResolvedPayment> = Vec::new();
        let mut unmatched = (0u64, Decimal::ZERO);
        let mut paid_so_far: Vec<Decimal> = Vec::new();
        for i in money {
            let p = &ds.payments[i];
            let amount = signed_amount(p.status, p.amount);
            let date = time::local_date(p.paid_at, tz);
            let Some(rub) = conversion.convert(&rates, amount, &p.currency, date, || {
                format!("{}:{} payment {}", p.source, p.account, p.id)
            }) else {
                continue;
            };
            let order = order_by_number
                .get(&(
                    p.source.as_str(),
                    p.account.as_str(),
                    p.order_number.as_str(),
                ))
                .copied();
            let mut rp = ResolvedPayment {
                payment: i,
                date,
                rub,
                order: None,
                prepayment: false,
                surcharge: false,
                refund: amount < Decimal::ZERO,
            };
            match order {
                None => {
                    unmatched.0 += 1;
                    unmatched.1 += rub;
                }
                Some(o) => {
                    let slot = *order_slot.entry(o).or_insert_with(|| {
                        orders.push(ResolvedOrder {
                            order: o,
                            person: person[order_nodes[o] as usize],
                            payments: Vec::new(),
                            first: None,
                            first_date: None,
                            revenue1: Decimal::ZERO,
                            revenue2: Decimal::ZERO,
                            is_sale: false,
                            credit: Credit {
                                touch: None,
                                date,
                                key: ChannelKey::undefined(),
                            },
                        });
                        paid_so_far.push(Decimal::ZERO);
                        orders.len() - 1
                    });
                    let ro = &mut orders[slot];
                    paid_so_far[slot] += amount;
                    ro.payments.push(payments.len());
                    ro.revenue2 += rub;
                    if amount > Decimal::ZERO {
                        rp.surcharge = ro.first.is_some();
                        rp.prepayment = paid_so_far[slot] < ds.orders[o].cost;
                        if ro.first.is_none() {
                            ro.first = Some(payments.len());
                            ro.first_date = Some(date);
                            ro.revenue1 = rub;
                        }
                    }
                    rp.order = Some(slot);
                }
            }
            payments.push(rp);
        }
        // Orders without money are still orders (funnel, CRM checks).
        for o in 0..ds.orders.len() {
            if ds.orders[o].created_at < end && !order_slot.contains_key(&o) {
                order_slot.insert(o, orders.len());
                orders.push(ResolvedOrder {
                    order: o,
                    person: person[order_nodes[o] as usize],
                    payments: Vec::new(),
                    first: None,
                    first_date: None,
                    revenue1: Decimal::ZERO,
                    revenue2: Decimal::ZERO,
                    is_sale: false,
                    credit: Credit {
                        touch: None,
                        date: time::local_date(ds.orders[o].created_at, tz),
                        key: ChannelKey::undefined(),
                    },
                });
            }
        }
        orders.sort_by(|a, b| {
            let (x, y) = (&ds.orders[a.order], &ds.orders[b.order]);
            (&x.source, &x.account, &x.id).cmp(&(&y.source, &y.account, &y.id))
        });
        // Re-point payments at the sorted slots.
        for (slot, o) in orders.iter().enumerate() {
            for &pi in &o.payments {
                payments[pi].order = Some(slot);
            }
        }
        for o in &mut orders {
            o.is_sale = o.first.is_some() && o.revenue2 > Decimal::ZERO;
            let fallback = o
                .first_date
                .unwrap_or_else(|| time::local_date(ds.orders[o.order].created_at, tz));
            o.credit = credit(o.person, ds.orders[o.order].created_at, fallback);
        }

        Resolved {
            ds,
            config,
            tz,
            as_of,
            end,
            rates,
            channels,
            conversion,
            spend,
            touches,
            by_person,
            deals,
            orders,
            payments,
            contact_person,
            same_day_duplicates,
            unmatched_payments: unmatched,
        }
    }
}
