//! JSON data files for the browser (`data/*.json`) and `version.json`.
//! Money is a string with exactly 2 decimals (`"52300.00"`, rounded half
//! away from zero) so it stays exact; undefined ratios are `null`; counts
//! are numbers. Field order is fixed by the structs (no maps).

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::Serialize;
use voronka_core::metrics::{CheckStatus, Marts};

use crate::format;

/// Money or a ratio as an exact string with `dp` decimals.
fn fixed(d: Decimal, dp: u32) -> String {
    format::round(d, dp).to_string()
}

fn money(d: Decimal) -> String {
    fixed(d, 2)
}

fn money_opt(d: Option<Decimal>) -> Option<String> {
    d.map(money)
}

#[derive(Serialize)]
struct Version<'a> {
    as_of: String,
    generated_at: String,
    timezone: &'a str,
}

pub fn version(m: &Marts, generated_at_local: NaiveDateTime) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Version {
        as_of: m.as_of.format("%Y-%m-%d").to_string(),
        generated_at: generated_at_local.format("%Y-%m-%dT%H:%M:%S").to_string(),
        timezone: &m.timezone,
    })
}

#[derive(Serialize)]
struct SummaryFile<'a> {
    as_of: String,
    timezone: &'a str,
    attribution: &'a str,
    basis: &'static str,
    from: String,
    to: String,
    spend: String,
    impressions: u64,
    clicks: u64,
    leads: u64,
    applications: u64,
    sales: u64,
    customers: u64,
    revenue1: String,
    revenue2: String,
    cash_revenue: String,
    prepayments: String,
    surcharges: String,
    refunds: String,
    variable_costs: String,
    margin: String,
    cpl: Option<String>,
    cac: Option<String>,
    avg_check1: Option<String>,
    avg_check2: Option<String>,
    ltv1: Option<String>,
    ltv2: Option<String>,
    /// Percent, 2 decimals.
    romi1: Option<String>,
    romi2: Option<String>,
    checks: CheckCounts,
}

#[derive(Serialize)]
struct CheckCounts {
    green: usize,
    yellow: usize,
    red: usize,
}

pub fn summary(m: &Marts) -> serde_json::Result<Vec<u8>> {
    let s = &m.summary;
    let count = |st| m.checks.iter().filter(|c| c.status == st).count();
    serde_json::to_vec(&SummaryFile {
        as_of: m.as_of.format("%Y-%m-%d").to_string(),
        timezone: &m.timezone,
        attribution: &m.attribution,
        basis: "cohort",
        from: s.from.format("%Y-%m-%d").to_string(),
        to: s.to.format("%Y-%m-%d").to_string(),
        spend: money(s.spend),
        impressions: s.impressions,
        clicks: s.clicks,
        leads: s.leads,
        applications: s.applications,
        sales: s.sales,
        customers: s.customers,
        revenue1: money(s.revenue1),
        revenue2: money(s.revenue2),
        cash_revenue: money(s.cash_revenue),
        prepayments: money(s.prepayments),
        surcharges: money(s.surcharges),
        refunds: money(s.refunds),
        variable_costs: money(s.variable_costs),
        margin: money(s.margin),
        cpl: money_opt(s.cpl),
        cac: money_opt(s.cac),
        avg_check1: money_opt(s.avg_check1),
        avg_check2: money_opt(s.avg_check2),
        ltv1: money_opt(s.ltv1),
        ltv2: money_opt(s.ltv2),
        romi1: money_opt(s.romi1),
        romi2: money_opt(s.romi2),
        checks: CheckCounts {
            green: count(CheckStatus::Green),
            yellow: count(CheckStatus::Yellow),
            red: count(CheckStatus::Red),
        },
    })
}

/// A column-oriented table: `{"columns": [...], "dicts": {...}, "rows":
/// [[...], ...]}`. Text columns named in `dicts` hold an index into that
/// column's list of distinct values (sorted), which keeps the files small.
#[derive(Serialize)]
struct Table {
    columns: &'static [&'static str],
    dicts: std::collections::BTreeMap<&'static str, Vec<String>>,
    /// Platform colours and display names, for the charts.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    colours: std::collections::BTreeMap<String, &'static str>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    labels: std::collections::BTreeMap<String, String>,
    rows: Vec<Vec<serde_json::Value>>,
}

/// Distinct values of a text column, and a value -> index lookup.
struct Dict {
    values: Vec<String>,
}

impl Dict {
    fn new<'a>(items: impl Iterator<Item = &'a str>) -> Dict {
        let set: std::collections::BTreeSet<&str> = items.collect();
        Dict {
            values: set.into_iter().map(String::from).collect(),
        }
    }

    fn index(&self, v: &str) -> serde_json::Value {
        serde_json::Value::from(
            self.values
                .binary_search_by(|x| x.as_str().cmp(v))
                .unwrap_or(0),
        )
    }
}

/// Money for a data file: "0" for zero (most cells), else 2 decimals.
fn money_cell(d: Decimal) -> serde_json::Value {
    let s = money(d);
    if s == "0.00" {
        serde_json::Value::from(0)
    } else {
        serde_json::Value::from(s)
    }
}

fn platform_meta(
    platforms: &Dict,
) -> (
    std::collections::BTreeMap<String, &'static str>,
    std::collections::BTreeMap<String, String>,
) {
    (
        platforms
            .values
            .iter()
            .map(|p| (p.clone(), crate::palette::platform_colour(p)))
            .collect(),
        platforms
            .values
            .iter()
            .map(|p| (p.clone(), crate::palette::platform_label(p)))
            .collect(),
    )
}

const CHANNEL_COLUMNS: &[&str] = &[
    "date",
    "platform",
    "campaign",
    "contractor",
    "spend",
    "impressions",
    "clicks",
    "sessions",
    "leads",
    "attendees",
    "applications",
    "sales",
    "customers",
    "revenue1",
    "revenue2",
];

/// `data/channels.json`: the channel rows (cohort view), in mart order.
pub fn channels(m: &Marts) -> serde_json::Result<Vec<u8>> {
    use serde_json::Value;
    let pl = Dict::new(m.channels.iter().map(|r| r.platform.as_str()));
    let ca = Dict::new(m.channels.iter().map(|r| r.campaign.as_str()));
    let co = Dict::new(m.channels.iter().map(|r| r.contractor.as_str()));
    let rows = m
        .channels
        .iter()
        .map(|r| {
            vec![
                Value::from(r.date.format("%Y-%m-%d").to_string()),
                pl.index(&r.platform),
                ca.index(&r.campaign),
                co.index(&r.contractor),
                money_cell(r.spend),
                Value::from(r.impressions),
                Value::from(r.clicks),
                Value::from(r.sessions),
                Value::from(r.leads),
                Value::from(r.attendees),
                Value::from(r.applications),
                Value::from(r.sales),
                Value::from(r.customers),
                money_cell(r.revenue1),
                money_cell(r.revenue2),
            ]
        })
        .collect();
    let (colours, labels) = platform_meta(&pl);
    serde_json::to_vec(&Table {
        columns: CHANNEL_COLUMNS,
        dicts: [
            ("platform", pl.values),
            ("campaign", ca.values),
            ("contractor", co.values),
        ]
        .into_iter()
        .collect(),
        colours,
        labels,
        rows,
    })
}

const CASH_COLUMNS: &[&str] = &[
    "date",
    "revenue",
    "prepayments",
    "surcharges",
    "refunds",
    "spend",
];

/// `data/cash.json`: the cash rows (money by the day it moved).
pub fn cash(m: &Marts) -> serde_json::Result<Vec<u8>> {
    use serde_json::Value;
    let rows = m
        .cash
        .iter()
        .map(|r| {
            vec![
                Value::from(r.date.format("%Y-%m-%d").to_string()),
                money_cell(r.revenue),
                money_cell(r.prepayments),
                money_cell(r.surcharges),
                money_cell(r.refunds),
                money_cell(r.spend),
            ]
        })
        .collect();
    serde_json::to_vec(&Table {
        columns: CASH_COLUMNS,
        dicts: Default::default(),
        colours: Default::default(),
        labels: Default::default(),
        rows,
    })
}

const FUNNEL_COLUMNS: &[&str] = &[
    "date",
    "platform",
    "campaign",
    "contractor",
    "product",
    "manager",
    "leads",
    "attendees",
    "stayed_to_offer",
    "applications",
    "sales",
    "revenue1",
    "revenue2",
];

/// `data/funnel.json`: the funnel slices (cohort view), in mart order.
pub fn funnel(m: &Marts) -> serde_json::Result<Vec<u8>> {
    use serde_json::Value;
    let f = &m.funnel;
    let pl = Dict::new(f.iter().map(|r| r.platform.as_str()));
    let ca = Dict::new(f.iter().map(|r| r.campaign.as_str()));
    let co = Dict::new(f.iter().map(|r| r.contractor.as_str()));
    let pr = Dict::new(f.iter().map(|r| r.product.as_str()));
    let mg = Dict::new(f.iter().map(|r| r.manager.as_str()));
    let rows = f
        .iter()
        .map(|r| {
            vec![
                Value::from(r.date.format("%Y-%m-%d").to_string()),
                pl.index(&r.platform),
                ca.index(&r.campaign),
                co.index(&r.contractor),
                pr.index(&r.product),
                mg.index(&r.manager),
                Value::from(r.leads),
                Value::from(r.attendees),
                Value::from(r.stayed_to_offer),
                Value::from(r.applications),
                Value::from(r.sales),
                money_cell(r.revenue1),
                money_cell(r.revenue2),
            ]
        })
        .collect();
    let (colours, labels) = platform_meta(&pl);
    serde_json::to_vec(&Table {
        columns: FUNNEL_COLUMNS,
        dicts: [
            ("platform", pl.values),
            ("campaign", ca.values),
            ("contractor", co.values),
            ("product", pr.values),
            ("manager", mg.values),
        ]
        .into_iter()
        .collect(),
        colours,
        labels,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn money_is_exact_two_decimals() {
        assert_eq!(money(dec!(52300)), "52300.00");
        assert_eq!(money(dec!(0.005)), "0.01");
        assert_eq!(money(dec!(-0.005)), "-0.01");
        assert_eq!(money(dec!(-0.001)), "0.00");
        assert_eq!(money(dec!(1.1)), "1.10");
    }
}
