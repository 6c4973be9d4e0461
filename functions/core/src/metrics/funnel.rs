//! Funnel slices (metrics.md §7): the funnel by product, channel and
//! manager; deals reached per CRM pipeline status; client search.
//!
//! Every count is the channel marts' count, split further: leads and
//! attendees on the touch's own date and channel key, applications and
//! sales on their credited date and key. Summing funnel rows over product
//! and manager gives the channel rows back.
//!
//! Readings chosen where metrics.md is silent (also in docs/metrics.md §7):
//! - a lead is not about a product yet and has no manager: its row has
//!   product "" and manager "";
//! - an application (deal) carries the deal's `product` and its
//!   responsible user's name;
//! - a sale (order) carries the order's `product` (GetCourse offer), else
//!   its linked deal's `product`; its manager is the linked deal's manager
//!   (see [`OrderDeals`]), else the order's own manager field mapped to a
//!   CRM user by name or e-mail, else "(без менеджера)".

use super::marts::{ChannelKey, FunnelRow, NO_MANAGER, PipelineStageRow};
use super::resolve::Resolved;
use crate::identity::{normalize_email, normalize_phone};
use crate::model::{Deal, StatusKind};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Names of CRM users, by (source, account, id).
pub struct ManagerNames<'a> {
    by_id: HashMap<(&'a str, &'a str, &'a str), &'a str>,
    /// Lowercased name or e-mail -> name (GetCourse manager field mapping).
    by_label: BTreeMap<String, &'a str>,
}

impl<'a> ManagerNames<'a> {
    pub fn new(r: &Resolved<'a>) -> ManagerNames<'a> {
        let mut by_id = HashMap::new();
        let mut by_label = BTreeMap::new();
        let mut managers: Vec<_> = r.ds.managers.iter().collect();
        managers.sort();
        for m in managers {
            by_id.insert(
                (m.source.as_str(), m.account.as_str(), m.id.as_str()),
                m.name.as_str(),
            );
            for label in [&m.name, &m.email] {
                let label = label.trim().to_lowercase();
                if !label.is_empty() {
                    by_label.entry(label).or_insert(m.name.as_str());
                }
            }
        }
        ManagerNames { by_id, by_label }
    }

    /// A deal's manager: its responsible user's name; an unknown id is
    /// shown as the id; no responsible user: "(без менеджера)".
    pub fn of_deal(&self, d: &Deal) -> String {
        let id = d.responsible_user_id.trim();
        if id.is_empty() {
            return NO_MANAGER.to_string();
        }
        match self.by_id.get(&(d.source.as_str(), d.account.as_str(), id)) {
            Some(name) if !name.trim().is_empty() => name.to_string(),
            _ => id.to_string(),
        }
    }

    /// A billing-side manager label (name or e-mail) mapped to a CRM user.
    pub fn by_label(&self, label: &str) -> Option<String> {
        self.by_label
            .get(&label.trim().to_lowercase())
            .map(|s| s.to_string())
    }
}

/// The order -> deal link of metrics.md §6: the deal whose id the order
/// stores (`crm_deal_id`), else the person's latest deal created at or
/// before the order. A `crm_deal_id` that names no known deal (deleted,
/// or created after `as_of`) falls back to the person's deal.
pub struct OrderDeals {
    /// Index into `Resolved::deals` per `Resolved::orders` slot.
    link: Vec<Option<usize>>,
}

impl OrderDeals {
    pub fn new(r: &Resolved<'_>) -> OrderDeals {
        let ds = r.ds;
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        let mut by_person: HashMap<u32, Vec<usize>> = HashMap::new();
        // `r.deals` is sorted by (source, account, id): the first wins.
        for (i, d) in r.deals.iter().enumerate() {
            by_id.entry(ds.deals[d.deal].id.as_str()).or_insert(i);
            by_person.entry(d.person).or_default().push(i);
        }
        let link = r
            .orders
            .iter()
            .map(|o| {
                let order = &ds.orders[o.order];
                let id = order.crm_deal_id.trim();
                if !id.is_empty()
                    && let Some(&i) = by_id.get(id)
                {
                    return Some(i);
                }
                by_person.get(&o.person).and_then(|deals| {
                    deals
                        .iter()
                        .copied()
                        .filter(|&i| ds.deals[r.deals[i].deal].created_at <= order.created_at)
                        .max_by_key(|&i| (ds.deals[r.deals[i].deal].created_at, i))
                })
            })
            .collect();
        OrderDeals { link }
    }

    /// The linked deal (index into `Resolved::deals`) of an order slot
    /// (index into `Resolved::orders`).
    pub fn get(&self, order_slot: usize) -> Option<usize> {
        self.link.get(order_slot).copied().flatten()
    }
}

/// The linked deal of one order (see [`OrderDeals`]; build that once when
/// linking many orders).
pub fn order_deal(r: &Resolved<'_>, order_slot: usize) -> Option<usize> {
    OrderDeals::new(r).get(order_slot)
}

/// An order's product and manager (module docs).
fn order_labels(
    r: &Resolved<'_>,
    links: &OrderDeals,
    names: &ManagerNames<'_>,
    slot: usize,
) -> (String, String) {
    let order = &r.ds.orders[r.orders[slot].order];
    let deal = links.get(slot).map(|i| &r.ds.deals[r.deals[i].deal]);
    let product = if order.product.trim().is_empty() {
        deal.map(|d| d.product.trim().to_string())
            .unwrap_or_default()
    } else {
        order.product.trim().to_string()
    };
    let manager = match deal {
        Some(d) => names.of_deal(d),
        None => names
            .by_label(&order.manager)
            .unwrap_or_else(|| NO_MANAGER.to_string()),
    };
    (product, manager)
}

/// (source, account, deal id).
type DealKey<'a> = (&'a str, &'a str, &'a str);

type FunnelKey = (NaiveDate, ChannelKey, String, String);

#[derive(Default)]
struct Acc {
    leads: u64,
    attendees: u64,
    stayed_to_offer: u64,
    applications: u64,
    sales: u64,
    revenue1: Decimal,
    revenue2: Decimal,
}

/// The funnel sliced by (date, platform, campaign, contractor, product,
/// manager), sorted by that key.
pub fn funnel(r: &Resolved<'_>) -> Vec<FunnelRow> {
    let names = ManagerNames::new(r);
    let links = OrderDeals::new(r);
    let mut rows: BTreeMap<FunnelKey, Acc> = BTreeMap::new();
    for t in &r.touches {
        let row = rows
            .entry((t.date, t.key.clone(), String::new(), String::new()))
            .or_default();
        row.leads += 1;
        row.attendees += u64::from(t.attended);
        row.stayed_to_offer += u64::from(t.stayed_to_offer);
    }
    for d in &r.deals {
        let deal = &r.ds.deals[d.deal];
        rows.entry((
            d.credit.date,
            d.credit.key.clone(),
            deal.product.trim().to_string(),
            names.of_deal(deal),
        ))
        .or_default()
        .applications += 1;
    }
    for (slot, o) in r.orders.iter().enumerate().filter(|(_, o)| o.is_sale) {
        let (product, manager) = order_labels(r, &links, &names, slot);
        let row = rows
            .entry((o.credit.date, o.credit.key.clone(), product, manager))
            .or_default();
        row.sales += 1;
        row.revenue1 += o.revenue1;
        row.revenue2 += o.revenue2;
    }
    rows.into_iter()
        .map(|((date, key, product, manager), a)| FunnelRow {
            date,
            platform: key.platform,
            campaign: key.campaign,
            contractor: key.contractor,
            product,
            manager,
            leads: a.leads,
            attendees: a.attendees,
            stayed_to_offer: a.stayed_to_offer,
            applications: a.applications,
            sales: a.sales,
            revenue1: a.revenue1,
            revenue2: a.revenue2,
        })
        .collect()
}

/// Deals reached per status of every CRM pipeline (metrics.md §7).
///
/// Statuses are ordered by `sort` (then id). Counted: the resolved deals
/// (not deleted, created by `as_of`) in their current pipeline, matched by
/// (source, account, pipeline id); a deal whose status the pipeline does
/// not list is left out. The furthest open status a deal reached is the
/// highest `sort` among its current status and the statuses of its
/// recorded moves (`StatusChange`s in the same pipeline, before the end
/// of `as_of`); it then reached every open (and unsorted) status up to
/// that one. Won and lost are terminal: a won deal passed every open
/// status; a lost deal reached only the open statuses its recorded moves
/// show (none without history) and the lost status. A won deal does not
/// reach "lost" nor a lost one "won". `current` counts deals now in the
/// status (the latest data, not as of `as_of`: the CRM gives no older
/// state than its moves).
pub fn pipeline_stages(r: &Resolved<'_>) -> Vec<PipelineStageRow> {
    let ds = r.ds;
    let mut pipelines: Vec<_> = ds.pipelines.iter().collect();
    pipelines.sort_by(|a, b| (&a.source, &a.account, &a.id).cmp(&(&b.source, &b.account, &b.id)));

    // Status history per deal: (pipeline id, status id) visited.
    let mut history: HashMap<DealKey<'_>, Vec<(&str, &str)>> = HashMap::new();
    for c in ds.status_changes.iter().filter(|c| c.at < r.end) {
        let e = history
            .entry((c.source.as_str(), c.account.as_str(), c.deal_id.as_str()))
            .or_default();
        e.push((c.from_pipeline_id.as_str(), c.from_status_id.as_str()));
        e.push((c.to_pipeline_id.as_str(), c.to_status_id.as_str()));
    }

    let mut out = Vec::new();
    for p in pipelines {
        let mut statuses: Vec<_> = p.statuses.iter().collect();
        statuses.sort_by(|a, b| (a.sort, &a.id).cmp(&(b.sort, &b.id)));
        let pos: HashMap<&str, usize> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let terminal = |i: usize| matches!(statuses[i].kind, StatusKind::Won | StatusKind::Lost);
        let mut reached = vec![0u64; statuses.len()];
        let mut current = vec![0u64; statuses.len()];
        for d in &r.deals {
            let deal = &ds.deals[d.deal];
            if (
                deal.source.as_str(),
                deal.account.as_str(),
                deal.pipeline_id.as_str(),
            ) != (p.source.as_str(), p.account.as_str(), p.id.as_str())
            {
                continue;
            }
            let Some(&now) = pos.get(deal.status_id.as_str()) else {
                continue;
            };
            current[now] += 1;
            // The furthest open status reached (by position in sort order).
            let visited = history
                .get(&(
                    deal.source.as_str(),
                    deal.account.as_str(),
                    deal.id.as_str(),
                ))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut furthest: Option<usize> = visited
                .iter()
                .filter(|(pl, _)| *pl == p.id.as_str())
                .filter_map(|(_, st)| pos.get(st).copied())
                .filter(|&i| !terminal(i))
                .max();
            match statuses[now].kind {
                StatusKind::Won => {
                    furthest = (0..now).rev().find(|&i| !terminal(i));
                    reached[now] += 1;
                }
                StatusKind::Lost => reached[now] += 1,
                StatusKind::Open | StatusKind::Unsorted => {
                    furthest = furthest.max(Some(now));
                }
            }
            if let Some(f) = furthest {
                for (i, n) in reached.iter_mut().enumerate().take(f + 1) {
                    if !terminal(i) {
                        *n += 1;
                    }
                }
            }
        }
        for (i, s) in statuses.iter().enumerate() {
            out.push(PipelineStageRow {
                pipeline_id: p.id.clone(),
                pipeline: p.name.clone(),
                status_id: s.id.clone(),
                status: s.name.clone(),
                sort: s.sort,
                reached: reached[i],
                current: current[i],
            });
        }
    }
    out
}

/// Client search (metrics.md §7): the persons (sorted, distinct) whose
/// name contains the query (case-insensitive; lead, CRM contact and order
/// names), or who carry the query's e-mail or phone after normalization
/// (`+7 (999) 123-45-67`, `89991234567` and `9991234567` are one phone).
/// Leads searched are the counted (deduplicated) ones. An empty query
/// finds nobody.
pub fn find_person(r: &Resolved<'_>, query: &str) -> Vec<u32> {
    let ds = r.ds;
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    let email = normalize_email(query);
    let phone = normalize_phone(query);
    let hit = |name: &str, emails: &[&str], phones: &[&str]| {
        name.to_lowercase().contains(&q)
            || email.as_ref().is_some_and(|e| {
                emails
                    .iter()
                    .any(|x| normalize_email(x).as_ref() == Some(e))
            })
            || phone.as_ref().is_some_and(|p| {
                phones
                    .iter()
                    .any(|x| normalize_phone(x).as_ref() == Some(p))
            })
    };
    let mut found = BTreeSet::new();
    for t in &r.touches {
        let l = &ds.leads[t.lead];
        if hit(&l.name, &[&l.email], &[&l.phone]) {
            found.insert(t.person);
        }
    }
    for (c, &person) in ds.contacts.iter().zip(&r.contact_person) {
        let emails: Vec<&str> = c.emails.iter().map(String::as_str).collect();
        let phones: Vec<&str> = c.phones.iter().map(String::as_str).collect();
        if hit(&c.name, &emails, &phones) {
            found.insert(person);
        }
    }
    for o in &r.orders {
        let x = &ds.orders[o.order];
        if hit(&x.name, &[&x.email], &[&x.phone]) {
            found.insert(o.person);
        }
    }
    found.into_iter().collect()
}
