//! KPI cards with a delta against the previous equal period and a
//! sparkline. The default view is the last 30 days ending `as_of`
//! (`app.js` computes the same for any other range from the data files).

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use voronka_core::metrics::Marts;

use crate::format::{self, DASH};
use crate::glossary::{self, Metric};
use crate::view::{Totals, ratio, romi};

/// Length of the default window in days (the "30 дней" preset).
pub const DEFAULT_DAYS: u64 = 30;

/// An inclusive range of local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Window {
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.from <= d && d <= self.to
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.from.iter_days().take_while(|d| *d <= self.to)
    }

    pub fn label(&self) -> String {
        format!("{} – {}", format::date(self.from), format::date(self.to))
    }
}

/// The last 30 days ending `as_of`, and the 30 days before them.
pub fn default_windows(m: &Marts) -> (Window, Window) {
    let to = m.as_of;
    let from = to - Days::new(DEFAULT_DAYS - 1);
    let prev_to = from - Days::new(1);
    let prev_from = prev_to - Days::new(DEFAULT_DAYS - 1);
    (
        Window { from, to },
        Window {
            from: prev_from,
            to: prev_to,
        },
    )
}

/// Channel and cash totals per day (only days with rows).
pub fn by_day(m: &Marts) -> BTreeMap<NaiveDate, Totals> {
    let mut days: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
    for r in &m.channels {
        days.entry(r.date).or_default().add(r);
    }
    for r in &m.cash {
        days.entry(r.date).or_default().add_cash(r);
    }
    days
}

pub fn total(days: &BTreeMap<NaiveDate, Totals>, w: Window) -> Totals {
    let mut t = Totals::default();
    for (_, d) in days.range(w.from..=w.to) {
        add_totals(&mut t, d);
    }
    t
}

fn add_totals(t: &mut Totals, d: &Totals) {
    t.spend += d.spend;
    t.impressions += d.impressions;
    t.clicks += d.clicks;
    t.sessions += d.sessions;
    t.leads += d.leads;
    t.attendees += d.attendees;
    t.applications += d.applications;
    t.sales += d.sales;
    t.customers += d.customers;
    t.revenue1 += d.revenue1;
    t.revenue2 += d.revenue2;
    t.cash_revenue += d.cash_revenue;
    t.prepayments += d.prepayments;
    t.surcharges += d.surcharges;
    t.refunds += d.refunds;
}

/// How a KPI is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Rub,
    Int,
    Pct,
}

/// One KPI: its metric, format, whether growth is good, and its value.
#[derive(Clone, Copy)]
pub struct Kpi {
    pub metric: Metric,
    pub fmt: Fmt,
    pub up_is_good: bool,
    pub value: fn(&Totals, Decimal) -> Option<Decimal>,
}

fn d(n: u64) -> Decimal {
    Decimal::from(n)
}

macro_rules! kpi {
    ($m:expr, $fmt:ident, $good:expr, |$t:ident, $vc:ident| $body:expr) => {
        Kpi {
            metric: $m,
            fmt: Fmt::$fmt,
            up_is_good: $good,
            value: |$t: &Totals, $vc: Decimal| $body,
        }
    };
}

/// Every KPI the cards can show, by metric id.
pub fn kpi(id: &str) -> Option<Kpi> {
    use glossary as g;
    Some(match id {
        "spend" => kpi!(g::SPEND, Rub, false, |t, _v| Some(t.spend)),
        "impressions" => kpi!(g::IMPRESSIONS, Int, true, |t, _v| Some(d(t.impressions))),
        "clicks" => kpi!(g::CLICKS, Int, true, |t, _v| Some(d(t.clicks))),
        "sessions" => kpi!(g::SESSIONS, Int, true, |t, _v| Some(d(t.sessions))),
        "cpc" => kpi!(g::CPC, Rub, false, |t, _v| ratio(t.spend, d(t.clicks))),
        "leads" => kpi!(g::LEADS, Int, true, |t, _v| Some(d(t.leads))),
        "cpl" => kpi!(g::CPL, Rub, false, |t, _v| ratio(t.spend, d(t.leads))),
        "attendance" => kpi!(g::ATTENDANCE, Pct, true, |t, _v| ratio(
            d(t.attendees) * Decimal::ONE_HUNDRED,
            d(t.leads)
        )),
        "applications" => kpi!(g::APPLICATIONS, Int, true, |t, _v| Some(d(t.applications))),
        "cpo" => kpi!(g::CPO, Rub, false, |t, _v| ratio(
            t.spend,
            d(t.applications)
        )),
        "sales" => kpi!(g::SALES, Int, true, |t, _v| Some(d(t.sales))),
        "cac" => kpi!(g::CAC, Rub, false, |t, _v| ratio(t.spend, d(t.customers))),
        "revenue1" => kpi!(g::REVENUE1, Rub, true, |t, _v| Some(t.revenue1)),
        "revenue2" => kpi!(g::REVENUE2, Rub, true, |t, _v| Some(t.revenue2)),
        "cash_revenue" => kpi!(g::CASH_REVENUE, Rub, true, |t, _v| Some(t.cash_revenue)),
        "prepayments" => kpi!(g::PREPAYMENTS, Rub, true, |t, _v| Some(t.prepayments)),
        "surcharges" => kpi!(g::SURCHARGES, Rub, true, |t, _v| Some(t.surcharges)),
        "refunds" => kpi!(g::REFUNDS, Rub, true, |t, _v| Some(t.refunds)),
        "avg_check1" => kpi!(g::AVG_CHECK1, Rub, true, |t, _v| ratio(
            t.revenue1,
            d(t.sales)
        )),
        "avg_check2" => kpi!(g::AVG_CHECK2, Rub, true, |t, _v| ratio(
            t.revenue2,
            d(t.sales)
        )),
        "ltv1" => kpi!(g::LTV1, Rub, true, |t, _v| ratio(
            t.revenue1,
            d(t.customers)
        )),
        "ltv2" => kpi!(g::LTV2, Rub, true, |t, _v| ratio(
            t.revenue2,
            d(t.customers)
        )),
        "romi1" => kpi!(g::ROMI1, Pct, true, |t, _v| romi(t.revenue1, t.spend)),
        "romi2" => kpi!(g::ROMI2, Pct, true, |t, _v| romi(t.revenue2, t.spend)),
        "margin" => kpi!(g::MARGIN, Rub, true, |t, vc| Some(
            t.revenue2 - t.spend - t.revenue2 * vc
        )),
        _ => return None,
    })
}

/// The share of revenue2 that goes to variable costs, from the whole
/// history (`summary.variable_costs / summary.revenue2`), 0 when undefined.
pub fn variable_cost_rate(m: &Marts) -> Decimal {
    ratio(m.summary.variable_costs, m.summary.revenue2).unwrap_or(Decimal::ZERO)
}

pub fn fmt_value(fmt: Fmt, v: Option<Decimal>) -> String {
    match (fmt, v) {
        (_, None) => DASH.to_string(),
        (Fmt::Rub, Some(v)) => format::rub(v),
        (Fmt::Int, Some(v)) => format::decimal(v, 0),
        (Fmt::Pct, Some(v)) => format::percent(v),
    }
}

#[derive(Debug, Serialize)]
pub struct Delta {
    /// `good`, `bad`, `flat` or `na`.
    pub class: &'static str,
    /// `▲ 12,5 %`, `▼ 3,0 п. п.`, or "—".
    pub text: String,
    /// For screen readers and the tooltip.
    pub title: String,
}

/// The change of `cur` against `prev`: relative for money and counts,
/// percentage points for percentages.
pub fn delta(k: &Kpi, cur: Option<Decimal>, prev: Option<Decimal>) -> Delta {
    let (Some(c), Some(p)) = (cur, prev) else {
        return na_delta();
    };
    let change = match k.fmt {
        Fmt::Pct => Some(c - p),
        _ if p.is_zero() => None,
        _ => Some((c - p) / p.abs() * Decimal::ONE_HUNDRED),
    };
    let Some(change) = change else {
        return na_delta();
    };
    let rounded = format::round(change, 1);
    let unit = if k.fmt == Fmt::Pct {
        "\u{00A0}п.\u{00A0}п."
    } else {
        "\u{00A0}%"
    };
    let magnitude = format!("{}{unit}", format::decimal(rounded.abs(), 1));
    if rounded.is_zero() {
        return Delta {
            class: "flat",
            text: format!("= {magnitude}"),
            title: "без изменений к предыдущему периоду".into(),
        };
    }
    let up = rounded > Decimal::ZERO;
    let good = up == k.up_is_good;
    Delta {
        class: if good { "good" } else { "bad" },
        text: format!("{} {magnitude}", if up { "▲" } else { "▼" }),
        title: format!(
            "{} на {magnitude} к предыдущему периоду ({}) — {}",
            if up { "рост" } else { "снижение" },
            fmt_value(k.fmt, prev),
            if good { "хорошо" } else { "плохо" }
        ),
    }
}

fn na_delta() -> Delta {
    Delta {
        class: "na",
        text: DASH.to_string(),
        title: "нет данных за предыдущий период".into(),
    }
}

/// Polyline points (`x,y …`) in a 100 × 24 box; days without a value are
/// left out; "" when fewer than two values.
pub fn sparkline(values: &[Option<Decimal>]) -> String {
    let known: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            v.map(|v| {
                use rust_decimal::prelude::ToPrimitive;
                (i, v.to_f64().unwrap_or(0.0))
            })
        })
        .collect();
    if known.len() < 2 || values.len() < 2 {
        return String::new();
    }
    let lo = known.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    let hi = known.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = (values.len() - 1) as f64;
    known
        .iter()
        .map(|(i, v)| {
            let x = *i as f64 / n * 100.0;
            let y = 22.0 - (v - lo) / span * 20.0;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Serialize)]
pub struct Card {
    pub id: &'static str,
    pub label: &'static str,
    pub value: String,
    pub hint: String,
    pub delta: Delta,
    pub spark: String,
}

/// Builds the cards `ids` for the window `cur` against `prev`.
pub fn cards(m: &Marts, ids: &[&str], cur: Window, prev: Window) -> Vec<Card> {
    let days = by_day(m);
    let vc = variable_cost_rate(m);
    let (tc, tp) = (total(&days, cur), total(&days, prev));
    let empty = Totals::default();
    ids.iter()
        .filter_map(|id| kpi(id))
        .map(|k| {
            let (vcur, vprev) = ((k.value)(&tc, vc), (k.value)(&tp, vc));
            let series: Vec<Option<Decimal>> = cur
                .days()
                .map(|day| (k.value)(days.get(&day).unwrap_or(&empty), vc))
                .collect();
            Card {
                id: k.metric.id,
                label: k.metric.label,
                value: fmt_value(k.fmt, vcur),
                hint: hint(k.metric.id, &tc),
                delta: delta(&k, vcur, vprev),
                spark: sparkline(&series),
            }
        })
        .collect()
}

/// Formula inputs, e.g. "52 300 ₽ / 97 лидов".
pub fn hint(id: &str, t: &Totals) -> String {
    let n = |v: u64, a, b, c| format!("{} {}", format::int(v), format::plural(v, a, b, c));
    let leads = n(t.leads, "лид", "лида", "лидов");
    let sales = n(t.sales, "продажа", "продажи", "продаж");
    let customers = n(t.customers, "клиент", "клиента", "клиентов");
    let spend = format::rub(t.spend);
    match id {
        "spend" => "по дате статистики".into(),
        "leads" => "регистрации без дублей".into(),
        "clicks" => format!("сессий: {}", format::int(t.sessions)),
        "cpc" => format!("{spend} / {}", n(t.clicks, "клик", "клика", "кликов")),
        "cpl" => format!("{spend} / {leads}"),
        "cpo" => format!(
            "{spend} / {}",
            n(t.applications, "заявка", "заявки", "заявок")
        ),
        "cac" => format!("{spend} / {customers}"),
        "attendance" => format!("{} из {leads}", format::int(t.attendees)),
        "sales" => customers,
        "revenue1" => "первые платежи продаж".into(),
        "revenue2" => "с доплатами, за вычетом возвратов".into(),
        "cash_revenue" => format!(
            "предоплаты {} · доплаты {}",
            format::rub(t.prepayments),
            format::rub(t.surcharges)
        ),
        "romi1" => format!("({} − {spend}) / {spend}", format::rub(t.revenue1)),
        "romi2" => format!("({} − {spend}) / {spend}", format::rub(t.revenue2)),
        "avg_check1" => format!("{} / {sales}", format::rub(t.revenue1)),
        "avg_check2" => format!("{} / {sales}", format::rub(t.revenue2)),
        "ltv1" => format!("{} / {customers}", format::rub(t.revenue1)),
        "ltv2" => format!("{} / {customers}", format::rub(t.revenue2)),
        "margin" => format!("{} − {spend} − переменные затраты", format::rub(t.revenue2)),
        _ => String::new(),
    }
}
