//! View models of the report pages beyond «Сводка»: «Таргетинг»,
//! «Менеджеры», «Воронка», the private manager pages and the office TV.
//! Every value is a formatted string; ordering is explicit.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use voronka_core::metrics::{
    ChannelRow, FunnelRow, ManagerRow, Marts, NO_MANAGER, UNDEFINED_PLATFORM,
};

use crate::format::{self, DASH};
use crate::kpi::{self, Fmt, Window};
use crate::palette::{self, platform_colour, platform_label};
use crate::view::{Totals, ratio};

// ---------------------------------------------------------------- tables

/// A column of a grouped table: metric id (glossary anchor and `app.js`
/// key) and header label.
#[derive(Debug, Serialize, Clone, Copy)]
pub struct Column {
    pub id: &'static str,
    pub label: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Cell {
    pub v: String,
    pub na: bool,
}

#[derive(Debug, Serialize)]
pub struct GroupRow {
    /// The raw key (for the filter `app.js` applies on click).
    pub key: String,
    pub label: String,
    pub colour: Option<&'static str>,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Serialize)]
pub struct GroupTable {
    pub dim: &'static str,
    pub dim_label: &'static str,
    pub title: &'static str,
    pub columns: Vec<Column>,
    /// `spend,clicks,...` for `data-cols`.
    pub cols: String,
    pub rows: Vec<GroupRow>,
    pub total: Vec<Cell>,
}

pub fn columns(ids: &[&'static str]) -> Vec<Column> {
    ids.iter()
        .filter_map(|id| kpi::kpi(id))
        .map(|k| Column {
            id: k.metric.id,
            label: k.metric.label,
        })
        .collect()
}

/// Table format: money with kopecks.
pub fn table_value(fmt: Fmt, v: Option<Decimal>) -> String {
    match (fmt, v) {
        (Fmt::Rub, Some(v)) => format::rub_kop(v),
        _ => kpi::fmt_value(fmt, v),
    }
}

fn cells(ids: &[&str], t: &Totals, vc: Decimal) -> Vec<Cell> {
    ids.iter()
        .filter_map(|id| kpi::kpi(id))
        .map(|k| {
            let v = (k.value)(t, vc);
            Cell {
                v: table_value(k.fmt, v),
                na: v.is_none(),
            }
        })
        .collect()
}

pub const DIMS: [(&str, &str); 5] = [
    ("platform", "Площадка"),
    ("campaign", "Кампания"),
    ("contractor", "Подрядчик"),
    ("product", "Продукт"),
    ("manager", "Менеджер"),
];

fn channel_dim<'a>(r: &'a ChannelRow, dim: &str) -> &'a str {
    match dim {
        "platform" => &r.platform,
        "campaign" => &r.campaign,
        _ => &r.contractor,
    }
}

pub fn dim_label(dim: &str, key: &str) -> String {
    match dim {
        "platform" => platform_label(key),
        "campaign" if key.is_empty() => "(без кампании)".into(),
        "product" if key.is_empty() => "(продукт не указан)".into(),
        "manager" if key.is_empty() => "(лиды без менеджера)".into(),
        _ => key.to_string(),
    }
}

/// Channel rows of the window grouped by `dim`, biggest spend first,
/// "(не определено)" last.
pub fn group_table(
    m: &Marts,
    w: Window,
    dim: &'static str,
    title: &'static str,
    ids: &[&'static str],
) -> GroupTable {
    let vc = kpi::variable_cost_rate(m);
    let mut groups: BTreeMap<&str, Totals> = BTreeMap::new();
    let mut total = Totals::default();
    for r in m.channels.iter().filter(|r| w.contains(r.date)) {
        groups.entry(channel_dim(r, dim)).or_default().add(r);
        total.add(r);
    }
    let mut sorted: Vec<(&str, Totals)> = groups.into_iter().collect();
    sorted.sort_by(|a, b| {
        (a.0 == UNDEFINED_PLATFORM, std::cmp::Reverse(a.1.spend), a.0).cmp(&(
            b.0 == UNDEFINED_PLATFORM,
            std::cmp::Reverse(b.1.spend),
            b.0,
        ))
    });
    GroupTable {
        dim,
        dim_label: DIMS.iter().find(|d| d.0 == dim).map_or("", |d| d.1),
        title,
        columns: columns(ids),
        cols: ids.join(","),
        rows: sorted
            .iter()
            .map(|(k, t)| GroupRow {
                key: k.to_string(),
                label: dim_label(dim, k),
                colour: (dim == "platform").then(|| platform_colour(k)),
                cells: cells(ids, t, vc),
            })
            .collect(),
        total: cells(ids, &total, vc),
    }
}

// ---------------------------------------------------------------- filters

#[derive(Debug, Serialize)]
pub struct FilterDim {
    pub id: &'static str,
    pub label: &'static str,
    pub options: Vec<FilterOption>,
}

#[derive(Debug, Serialize)]
pub struct FilterOption {
    pub value: String,
    pub label: String,
}

/// The filter bar's dimensions and their values, from the data.
pub fn filter_dims(m: &Marts, dims: &[&'static str]) -> Vec<FilterDim> {
    dims.iter()
        .map(|&dim| {
            let mut values: BTreeSet<&str> = BTreeSet::new();
            match dim {
                "product" | "manager" => {
                    for r in &m.funnel {
                        values.insert(if dim == "product" {
                            &r.product
                        } else {
                            &r.manager
                        });
                    }
                }
                _ => {
                    for r in &m.channels {
                        values.insert(channel_dim(r, dim));
                    }
                }
            }
            FilterDim {
                id: dim,
                label: DIMS.iter().find(|d| d.0 == dim).map_or("", |d| d.1),
                options: values
                    .into_iter()
                    .map(|v| FilterOption {
                        value: v.to_string(),
                        label: dim_label(dim, v),
                    })
                    .collect(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------- cohorts

#[derive(Debug, Serialize)]
pub struct CohortCellView {
    pub ltv2: String,
    pub customers: String,
    pub romi2: String,
    pub revenue2: String,
    /// Heat level 0-4 (by LTV2 among all cells).
    pub level: u8,
    pub forecast: bool,
    pub empty: bool,
}

#[derive(Debug, Serialize)]
pub struct CohortRowView {
    pub cohort: String,
    pub spend: String,
    pub cells: Vec<CohortCellView>,
}

#[derive(Debug, Serialize)]
pub struct Cohorts {
    pub ages: Vec<u32>,
    pub rows: Vec<CohortRowView>,
    pub chart: String,
}

fn cohort_label(c: &str) -> String {
    NaiveDate::parse_from_str(&format!("{c}-01"), "%Y-%m-%d")
        .map(format::month)
        .unwrap_or_else(|_| c.to_string())
}

pub fn cohorts(m: &Marts) -> Cohorts {
    use rust_decimal::prelude::ToPrimitive;
    let cells: Vec<_> = m
        .cohorts
        .iter()
        .filter(|c| c.granularity == "month")
        .collect();
    let max_age = cells.iter().map(|c| c.age).max().unwrap_or(0);
    let ages: Vec<u32> = (0..=max_age).collect();
    let mut ltvs: Vec<Decimal> = cells.iter().filter_map(|c| c.ltv2).collect();
    ltvs.sort();
    let level = |v: Option<Decimal>| -> u8 {
        let (Some(v), false) = (v, ltvs.is_empty()) else {
            return 0;
        };
        let below = ltvs.iter().filter(|x| **x < v).count();
        (1 + below * 4 / ltvs.len()).min(4) as u8
    };
    let mut by_cohort: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for c in &cells {
        by_cohort.entry(c.cohort.as_str()).or_default().push(*c);
    }
    let rows = by_cohort
        .iter()
        .map(|(cohort, cs)| CohortRowView {
            cohort: cohort_label(cohort),
            spend: format::rub(cs.first().map_or(Decimal::ZERO, |c| c.spend)),
            cells: ages
                .iter()
                .map(|a| match cs.iter().find(|c| c.age == *a) {
                    Some(c) => CohortCellView {
                        ltv2: format::rub_opt(c.ltv2),
                        customers: format::int(c.customers),
                        romi2: format::percent_opt(c.romi2),
                        revenue2: format::rub(c.revenue2),
                        level: level(c.ltv2),
                        forecast: c.forecast,
                        empty: false,
                    },
                    None => CohortCellView {
                        ltv2: DASH.into(),
                        customers: String::new(),
                        romi2: String::new(),
                        revenue2: String::new(),
                        level: 0,
                        forecast: false,
                        empty: true,
                    },
                })
                .collect(),
        })
        .collect();
    // LTV2 curves of the latest six cohorts: fact solid, forecast dashed
    // (the forecast line starts at the last fact point).
    let palette_cycle = [
        "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#332288",
    ];
    let mut series = Vec::new();
    let recent: Vec<_> = by_cohort.iter().rev().take(6).collect();
    for (i, (cohort, cs)) in recent.iter().rev().enumerate() {
        let colour = palette_cycle[i % palette_cycle.len()];
        let val = |c: &&voronka_core::metrics::CohortCell| {
            c.ltv2
                .map(|v| json!(format::round(v, 2).to_f64().unwrap_or(0.0)))
                .unwrap_or(serde_json::Value::Null)
        };
        let last_fact = cs.iter().filter(|c| !c.forecast).map(|c| c.age).max();
        let fact: Vec<_> = ages
            .iter()
            .map(|a| {
                cs.iter()
                    .find(|c| c.age == *a && !c.forecast)
                    .map_or(serde_json::Value::Null, val)
            })
            .collect();
        let fc: Vec<_> = ages
            .iter()
            .map(|a| {
                cs.iter()
                    .find(|c| c.age == *a && (c.forecast || Some(*a) == last_fact))
                    .filter(|_| cs.iter().any(|c| c.forecast))
                    .map_or(serde_json::Value::Null, val)
            })
            .collect();
        let name = cohort_label(cohort);
        series.push(json!({"type": "line", "name": name, "data": fact,
            "itemStyle": {"color": colour}, "lineStyle": {"width": 2}}));
        series.push(
            json!({"type": "line", "name": format!("{name} · прогноз"), "data": fc,
            "itemStyle": {"color": colour}, "lineStyle": {"width": 2, "type": "dashed"},
            "symbol": "emptyCircle"}),
        );
    }
    let chart = json!({
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll", "top": 0, "left": 0},
        "grid": {"left": 8, "right": 16, "top": 40, "bottom": 8, "containLabel": true},
        "xAxis": {"type": "category", "name": "возраст, мес.", "nameLocation": "middle", "nameGap": 28,
            "data": ages.iter().map(|a| a.to_string()).collect::<Vec<_>>()},
        "yAxis": {"type": "value"},
        "series": series,
    });
    Cohorts {
        ages,
        rows,
        chart: embed(&chart),
    }
}

/// JSON safe inside `<script type="application/json">`.
pub fn embed(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

// ---------------------------------------------------------------- managers

/// `YYYY-MM` of a date.
pub fn month_key(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

#[derive(Debug, Serialize)]
pub struct PlanBar {
    /// Widths in percent of the bar (0-100), one decimal.
    pub fact: String,
    pub forecast: String,
    /// Position of the plan line, or "" without a plan.
    pub plan: String,
    pub text: String,
}

fn pct_str(x: Decimal) -> String {
    format::round(x.clamp(Decimal::ZERO, Decimal::ONE_HUNDRED), 1).to_string()
}

/// The bar's full length: the largest of fact, forecast and plan.
pub fn bar_scale(r: &ManagerRow) -> Decimal {
    r.revenue
        .max(r.forecast.unwrap_or(r.revenue))
        .max(r.plan_revenue.unwrap_or(Decimal::ZERO))
}

/// A plan bar on a shared `scale` (so the board's bars compare).
pub fn plan_bar(r: &ManagerRow, scale: Decimal) -> PlanBar {
    let fc = r.forecast.unwrap_or(r.revenue);
    let plan = r.plan_revenue.unwrap_or(Decimal::ZERO);
    let w = |v: Decimal| ratio(v * Decimal::ONE_HUNDRED, scale).map_or("0".into(), pct_str);
    PlanBar {
        fact: w(r.revenue),
        forecast: w(fc),
        plan: if plan > Decimal::ZERO {
            w(plan)
        } else {
            String::new()
        },
        text: match r.percent {
            Some(p) => format!(
                "{} плана, прогноз {}",
                format::percent(p),
                format::rub_opt(r.forecast)
            ),
            None => format!("плана нет, прогноз {}", format::rub_opt(r.forecast)),
        },
    }
}

#[derive(Debug, Serialize)]
pub struct ManagerView {
    pub place: String,
    pub anchor: String,
    pub name: String,
    pub leads: String,
    pub sales: String,
    pub conversion: String,
    pub revenue: String,
    pub plan: String,
    pub percent: String,
    pub remaining: String,
    pub forecast: String,
    pub avg_check1: String,
    pub avg_check2: String,
    pub spend: String,
    pub romi1: String,
    pub romi2: String,
    pub bar: PlanBar,
    pub month: String,
    /// Card versions (roubles).
    pub revenue_r: String,
    pub plan_r: String,
    pub remaining_r: String,
    pub forecast_r: String,
    pub avg_check1_r: String,
    pub avg_check2_r: String,
}

pub fn manager_view(
    r: &ManagerRow,
    place: Option<usize>,
    anchor: String,
    scale: Decimal,
) -> ManagerView {
    ManagerView {
        place: place.map_or(DASH.into(), |p| p.to_string()),
        anchor,
        name: r.manager.clone(),
        leads: format::int(r.leads),
        sales: format::int(r.sales),
        conversion: format::percent_opt(r.conversion.map(|c| c * Decimal::ONE_HUNDRED)),
        revenue: format::rub_kop(r.revenue),
        plan: format::rub_kop_opt(r.plan_revenue),
        percent: format::percent_opt(r.percent),
        remaining: format::rub_kop_opt(r.remaining),
        forecast: format::rub_kop_opt(r.forecast),
        avg_check1: format::rub_kop_opt(r.avg_check1),
        avg_check2: format::rub_kop_opt(r.avg_check2),
        spend: format::rub_kop(r.spend),
        romi1: format::percent_opt(r.romi1),
        romi2: format::percent_opt(r.romi2),
        bar: plan_bar(r, scale),
        month: month_label(&r.month),
        revenue_r: format::rub(r.revenue),
        plan_r: format::rub_opt(r.plan_revenue),
        remaining_r: format::rub_opt(r.remaining),
        forecast_r: format::rub_opt(r.forecast),
        avg_check1_r: format::rub_opt(r.avg_check1),
        avg_check2_r: format::rub_opt(r.avg_check2),
    }
}

pub fn month_label(key: &str) -> String {
    cohort_label(key)
}

/// The managers of `month` ranked: by plan percent when a plan exists,
/// then by revenue, then name; "(без менеджера)" is not ranked.
pub fn ranked<'a>(m: &'a Marts, month: &str) -> Vec<&'a ManagerRow> {
    let mut rows: Vec<&ManagerRow> = m
        .managers
        .iter()
        .filter(|r| r.month == month && r.manager != NO_MANAGER)
        .collect();
    rows.sort_by(|a, b| {
        (
            std::cmp::Reverse(a.percent.unwrap_or(Decimal::MIN)),
            std::cmp::Reverse(a.revenue),
            &a.manager,
        )
            .cmp(&(
                std::cmp::Reverse(b.percent.unwrap_or(Decimal::MIN)),
                std::cmp::Reverse(b.revenue),
                &b.manager,
            ))
    });
    rows
}

/// Every named manager of the marts, sorted (for links and private pages).
pub fn manager_names(m: &Marts) -> Vec<String> {
    let set: BTreeSet<&str> = m
        .managers
        .iter()
        .map(|r| r.manager.as_str())
        .chain(m.manager_weeks.iter().map(|r| r.manager.as_str()))
        .filter(|n| *n != NO_MANAGER && !n.is_empty())
        .collect();
    set.into_iter().map(String::from).collect()
}

#[derive(Debug, Serialize)]
pub struct WeekTable {
    pub weeks: Vec<String>,
    pub rows: Vec<WeekRowView>,
}

#[derive(Debug, Serialize)]
pub struct WeekRowView {
    pub name: String,
    pub cells: Vec<WeekCell>,
}

#[derive(Debug, Serialize)]
pub struct WeekCell {
    pub sales: String,
    pub leads: String,
    pub conversion: String,
    pub revenue: String,
}

/// The last `n` ISO weeks to `as_of`, for `only` manager or everyone.
pub fn week_table(m: &Marts, n: usize, only: Option<&str>, money: bool) -> WeekTable {
    let mut weeks: Vec<NaiveDate> = m
        .manager_weeks
        .iter()
        .map(|r| r.week)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    weeks = weeks.split_off(weeks.len().saturating_sub(n));
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for r in &m.manager_weeks {
        if weeks.contains(&r.week) && only.is_none_or(|o| o == r.manager) {
            names.insert(&r.manager);
        }
    }
    let rows = names
        .into_iter()
        .map(|name| WeekRowView {
            name: name.to_string(),
            cells: weeks
                .iter()
                .map(|w| {
                    let r = m
                        .manager_weeks
                        .iter()
                        .find(|r| r.week == *w && r.manager == name);
                    WeekCell {
                        sales: r.map_or("0".into(), |r| format::int(r.sales)),
                        leads: r.map_or("0".into(), |r| format::int(r.leads)),
                        conversion: format::percent_opt(
                            r.and_then(|r| r.conversion)
                                .map(|c| c * Decimal::ONE_HUNDRED),
                        ),
                        revenue: if money {
                            format::rub(r.map_or(Decimal::ZERO, |r| r.revenue))
                        } else {
                            String::new()
                        },
                    }
                })
                .collect(),
        })
        .collect();
    WeekTable {
        weeks: weeks.iter().map(|w| format::week(*w)).collect(),
        rows,
    }
}

#[derive(Debug, Serialize)]
pub struct SliceRow {
    pub label: String,
    pub applications: String,
    pub sales: String,
    pub revenue1: String,
    pub revenue2: String,
}

/// A manager's funnel rows in the window grouped by `dim`.
pub fn manager_slice(m: &Marts, w: Window, manager: &str, dim: &str) -> Vec<SliceRow> {
    let mut g: BTreeMap<String, (u64, u64, Decimal, Decimal)> = BTreeMap::new();
    for r in m
        .funnel
        .iter()
        .filter(|r| r.manager == manager && w.contains(r.date))
    {
        let key = match dim {
            "product" => r.product.clone(),
            _ => r.platform.clone(),
        };
        let e = g.entry(key).or_default();
        e.0 += r.applications;
        e.1 += r.sales;
        e.2 += r.revenue1;
        e.3 += r.revenue2;
    }
    let mut v: Vec<_> = g.into_iter().collect();
    v.sort_by(|a, b| (std::cmp::Reverse(a.1.3), &a.0).cmp(&(std::cmp::Reverse(b.1.3), &b.0)));
    v.into_iter()
        .map(|(k, (a, s, r1, r2))| SliceRow {
            label: dim_label(dim, &k),
            applications: format::int(a),
            sales: format::int(s),
            revenue1: format::rub_kop(r1),
            revenue2: format::rub_kop(r2),
        })
        .collect()
}

// ---------------------------------------------------------------- funnel

pub const STAGES: [(&str, &str); 5] = [
    ("leads", "Лиды"),
    ("attendees", "Дошли до вебинара"),
    ("stayed_to_offer", "Досмотрели до продажи"),
    ("applications", "Заявки"),
    ("sales", "Продажи"),
];

pub fn stage_counts<'a>(rows: impl Iterator<Item = &'a FunnelRow>) -> [u64; 5] {
    let mut c = [0u64; 5];
    for r in rows {
        c[0] += r.leads;
        c[1] += r.attendees;
        c[2] += r.stayed_to_offer;
        c[3] += r.applications;
        c[4] += r.sales;
    }
    c
}

#[derive(Debug, Serialize)]
pub struct StageView {
    pub id: &'static str,
    pub label: &'static str,
    pub count: String,
    /// Bar width in percent of the first stage.
    pub width: String,
    /// Conversion from the previous stage ("" for the first).
    pub step: String,
    pub step_prev: String,
    pub from_leads: String,
    pub weakest: bool,
}

fn conv(a: u64, b: u64) -> Option<Decimal> {
    ratio(Decimal::from(b) * Decimal::ONE_HUNDRED, Decimal::from(a))
}

/// Stage bars for `cur` with the step conversion against `prev`; the step
/// whose conversion fell most (in percentage points) is the weakest link.
pub fn stages(cur: [u64; 5], prev: [u64; 5]) -> (Vec<StageView>, Option<&'static str>) {
    let top = cur.iter().copied().max().unwrap_or(0);
    let mut worst: Option<(usize, Decimal)> = None;
    for i in 1..5 {
        if let (Some(c), Some(p)) = (conv(cur[i - 1], cur[i]), conv(prev[i - 1], prev[i])) {
            let drop = p - c;
            if drop > Decimal::ZERO && worst.is_none_or(|(_, w)| drop > w) {
                worst = Some((i, drop));
            }
        }
    }
    let views = STAGES
        .iter()
        .enumerate()
        .map(|(i, (id, label))| StageView {
            id,
            label,
            count: format::int(cur[i]),
            width: ratio(
                Decimal::from(cur[i]) * Decimal::ONE_HUNDRED,
                Decimal::from(top),
            )
            .map_or("0".into(), pct_str),
            step: if i == 0 {
                String::new()
            } else {
                format::percent_opt(conv(cur[i - 1], cur[i]))
            },
            step_prev: if i == 0 {
                String::new()
            } else {
                format::percent_opt(conv(prev[i - 1], prev[i]))
            },
            from_leads: format::percent_opt(conv(cur[0], cur[i])),
            weakest: worst.is_some_and(|(w, _)| w == i),
        })
        .collect();
    (views, worst.map(|(i, _)| STAGES[i].1))
}

#[derive(Debug, Serialize)]
pub struct PipelineView {
    pub name: String,
    pub rows: Vec<PipelineStageView>,
}

#[derive(Debug, Serialize)]
pub struct PipelineStageView {
    pub status: String,
    pub reached: String,
    pub current: String,
    pub width: String,
    pub from_first: String,
}

pub fn pipelines(m: &Marts) -> Vec<PipelineView> {
    let mut out: Vec<PipelineView> = Vec::new();
    let mut order: Vec<(&str, &str)> = Vec::new();
    for r in &m.pipeline_stages {
        if !order.contains(&(r.pipeline_id.as_str(), r.pipeline.as_str())) {
            order.push((&r.pipeline_id, &r.pipeline));
        }
    }
    for (id, name) in order {
        let rows: Vec<_> = m
            .pipeline_stages
            .iter()
            .filter(|r| r.pipeline_id == id)
            .collect();
        let top = rows.iter().map(|r| r.reached).max().unwrap_or(0);
        let first = rows.first().map_or(0, |r| r.reached);
        out.push(PipelineView {
            name: name.to_string(),
            rows: rows
                .iter()
                .map(|r| PipelineStageView {
                    status: r.status.clone(),
                    reached: format::int(r.reached),
                    current: format::int(r.current),
                    width: ratio(
                        Decimal::from(r.reached) * Decimal::ONE_HUNDRED,
                        Decimal::from(top),
                    )
                    .map_or("0".into(), pct_str),
                    from_first: format::percent_opt(conv(first, r.reached)),
                })
                .collect(),
        });
    }
    out
}

#[derive(Debug, Serialize)]
pub struct LoadTable {
    pub days: Vec<String>,
    pub rows: Vec<LoadRow>,
}

#[derive(Debug, Serialize)]
pub struct LoadRow {
    pub name: String,
    pub cells: Vec<LoadCell>,
    pub total: String,
}

#[derive(Debug, Serialize)]
pub struct LoadCell {
    pub v: String,
    pub level: u8,
}

/// Applications per manager and day, the last 14 days of the window.
pub fn load(m: &Marts, w: Window) -> LoadTable {
    let from = (w.to - Days::new(13)).max(w.from);
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= w.to).collect();
    let mut grid: BTreeMap<&str, BTreeMap<NaiveDate, u64>> = BTreeMap::new();
    for r in m
        .funnel
        .iter()
        .filter(|r| r.applications > 0 && r.date >= from && r.date <= w.to)
    {
        *grid
            .entry(&r.manager)
            .or_default()
            .entry(r.date)
            .or_default() += r.applications;
    }
    let max = grid
        .values()
        .flat_map(|d| d.values())
        .copied()
        .max()
        .unwrap_or(0);
    LoadTable {
        days: days.iter().map(|d| d.format("%d.%m").to_string()).collect(),
        rows: grid
            .iter()
            .map(|(name, by)| LoadRow {
                name: dim_label("manager", name),
                cells: days
                    .iter()
                    .map(|d| {
                        let v = by.get(d).copied().unwrap_or(0);
                        LoadCell {
                            v: format::int(v),
                            level: if v == 0 || max == 0 {
                                0
                            } else {
                                (1 + (v - 1) * 4 / max).min(4) as u8
                            },
                        }
                    })
                    .collect(),
                total: format::int(by.values().sum::<u64>()),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------- private

#[derive(Debug, Serialize)]
pub struct Place {
    pub place: usize,
    pub name: String,
    pub me: bool,
}

#[derive(Debug, Serialize)]
pub struct Achievement {
    pub icon: &'static str,
    pub title: String,
    pub detail: String,
}

/// Small factual achievements from the month row and the weekly rows.
pub fn achievements(m: &Marts, manager: &str, row: Option<&ManagerRow>) -> Vec<Achievement> {
    let mut out = Vec::new();
    if let Some(r) = row {
        if r.sales > 0 {
            out.push(Achievement {
                icon: "★",
                title: "Первая продажа месяца".into(),
                detail: format!(
                    "{} {} в этом месяце",
                    format::int(r.sales),
                    format::plural(r.sales, "продажа", "продажи", "продаж")
                ),
            });
        }
        for (goal, title) in [(50, "50 % плана"), (100, "100 % плана")] {
            if r.percent.is_some_and(|p| p >= Decimal::from(goal)) {
                out.push(Achievement {
                    icon: if goal == 100 { "✓" } else { "◆" },
                    title: title.into(),
                    detail: format!("выполнено {}", format::percent_opt(r.percent)),
                });
            }
        }
    }
    // Streak of consecutive ISO weeks with a sale, ending at the latest week.
    let mut weeks: Vec<(NaiveDate, u64)> = m
        .manager_weeks
        .iter()
        .filter(|r| r.manager == manager)
        .map(|r| (r.week, r.sales))
        .collect();
    weeks.sort();
    let mut streak: u64 = 0;
    let mut expect: Option<NaiveDate> = None;
    for (w, s) in weeks.iter().rev() {
        if *s == 0 || expect.is_some_and(|e| e != *w) {
            break;
        }
        streak += 1;
        expect = Some(*w - Days::new(7));
    }
    if streak >= 3 {
        out.push(Achievement {
            icon: "✦",
            title: format!(
                "Серия: {streak} {} подряд с продажами",
                format::plural(streak, "неделя", "недели", "недель")
            ),
            detail: "каждую неделю хотя бы одна продажа".into(),
        });
    }
    if let Some((w, s)) = weeks
        .iter()
        .max_by_key(|(w, s)| (*s, std::cmp::Reverse(*w)))
        && *s > 0
    {
        out.push(Achievement {
            icon: "▲",
            title: "Лучшая неделя".into(),
            detail: format!(
                "{}: {} {}",
                format::week(*w),
                format::int(*s),
                format::plural(*s, "продажа", "продажи", "продаж")
            ),
        });
    }
    out
}

// ---------------------------------------------------------------- TV

#[derive(Debug, Serialize)]
pub struct TvRace {
    pub name: String,
    pub percent: String,
    pub width: String,
    pub sales: String,
    pub done: bool,
    pub key: String,
}

pub fn tv_race(m: &Marts, month: &str) -> Vec<TvRace> {
    ranked(m, month)
        .into_iter()
        .enumerate()
        .map(|(i, r)| TvRace {
            name: r.manager.clone(),
            percent: format::percent_opt(r.percent),
            width: r.percent.map_or("0".into(), pct_str),
            sales: format::int(r.sales),
            done: r.percent.is_some_and(|p| p >= Decimal::ONE_HUNDRED),
            key: format!("m{i}"),
        })
        .collect()
}

/// Calendar month of `d` as a window.
pub fn month_window(d: NaiveDate) -> Window {
    Window {
        from: d.with_day(1).unwrap_or(d),
        to: d,
    }
}

/// Colour of a series by platform (re-exported for templates).
pub fn colour(platform: &str) -> &'static str {
    if platform.is_empty() {
        palette::SPEND
    } else {
        platform_colour(platform)
    }
}
