//! View models: the marts turned into what the templates print. Every value
//! here is already a formatted string; the templates only place them.
//! Sorting is explicit everywhere so that output is byte-deterministic.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use voronka_core::metrics::{
    ChannelRow, CheckResult, CheckStatus, Marts, NO_CONTRACTOR, UNDEFINED_PLATFORM,
};

use crate::format::{self, DASH};
use crate::glossary::{self, Metric};
use crate::palette::{platform_colour, platform_label};

/// `num / den`, or `None` for a zero denominator.
pub fn ratio(num: Decimal, den: Decimal) -> Option<Decimal> {
    if den.is_zero() {
        None
    } else {
        num.checked_div(den)
    }
}

/// ROMI in percent: `(revenue - spend) / spend x 100`.
pub fn romi(revenue: Decimal, spend: Decimal) -> Option<Decimal> {
    ratio(revenue - spend, spend).map(|r| r * Decimal::ONE_HUNDRED)
}

/// Additive channel figures (a sum of [`ChannelRow`]s), plus the cash view
/// of the same days when summed with [`Totals::add_cash`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub spend: Decimal,
    pub impressions: u64,
    pub clicks: u64,
    pub sessions: u64,
    pub leads: u64,
    pub attendees: u64,
    pub applications: u64,
    pub sales: u64,
    pub customers: u64,
    pub revenue1: Decimal,
    pub revenue2: Decimal,
    pub cash_revenue: Decimal,
    pub prepayments: Decimal,
    pub surcharges: Decimal,
    pub refunds: Decimal,
}

impl Totals {
    pub fn add(&mut self, r: &ChannelRow) {
        self.spend += r.spend;
        self.impressions += r.impressions;
        self.clicks += r.clicks;
        self.sessions += r.sessions;
        self.leads += r.leads;
        self.attendees += r.attendees;
        self.applications += r.applications;
        self.sales += r.sales;
        self.customers += r.customers;
        self.revenue1 += r.revenue1;
        self.revenue2 += r.revenue2;
    }

    pub fn add_cash(&mut self, r: &voronka_core::metrics::CashRow) {
        self.cash_revenue += r.revenue;
        self.prepayments += r.prepayments;
        self.surcharges += r.surcharges;
        self.refunds += r.refunds;
    }

    pub fn cpl(&self) -> Option<Decimal> {
        ratio(self.spend, Decimal::from(self.leads))
    }
}

/// The first and last date with data (channels or cash), or the summary's
/// period when there is none.
pub fn period(m: &Marts) -> (NaiveDate, NaiveDate) {
    let dates = m
        .channels
        .iter()
        .map(|r| r.date)
        .chain(m.cash.iter().map(|r| r.date));
    let (mut lo, mut hi) = (None::<NaiveDate>, None::<NaiveDate>);
    for d in dates {
        lo = Some(lo.map_or(d, |x| x.min(d)));
        hi = Some(hi.map_or(d, |x| x.max(d)));
    }
    match (lo, hi) {
        (Some(lo), Some(hi)) => (lo, hi),
        _ => (m.summary.from, m.summary.to),
    }
}

#[derive(Debug, Serialize)]
pub struct Card {
    pub id: &'static str,
    pub label: &'static str,
    pub value: String,
    /// Formula inputs or a short explanation, e.g. "52 300 ₽ / 97 лидов".
    pub hint: String,
}

fn card(m: Metric, value: String, hint: String) -> Card {
    Card {
        id: m.id,
        label: m.label,
        value,
        hint,
    }
}

pub fn cards(m: &Marts) -> Vec<Card> {
    let s = &m.summary;
    let leads_word = format::plural(s.leads, "лид", "лида", "лидов");
    let sales_word = format::plural(s.sales, "продажа", "продажи", "продаж");
    let customers_word = format::plural(s.customers, "клиент", "клиента", "клиентов");
    vec![
        card(
            glossary::SPEND,
            format::rub(s.spend),
            "по дате статистики".into(),
        ),
        card(
            glossary::LEADS,
            format::int(s.leads),
            "регистрации без дублей".into(),
        ),
        card(
            glossary::CPL,
            format::rub_opt(s.cpl),
            format!(
                "{} / {} {leads_word}",
                format::rub(s.spend),
                format::int(s.leads)
            ),
        ),
        card(
            glossary::SALES,
            format::int(s.sales),
            format!("{} {customers_word}", format::int(s.customers)),
        ),
        card(
            glossary::REVENUE1,
            format::rub(s.revenue1),
            "первые платежи продаж".into(),
        ),
        card(
            glossary::REVENUE2,
            format::rub(s.revenue2),
            "с доплатами, за вычетом возвратов".into(),
        ),
        card(
            glossary::ROMI1,
            format::percent_opt(s.romi1),
            format!(
                "({} − {}) / {}",
                format::rub(s.revenue1),
                format::rub(s.spend),
                format::rub(s.spend)
            ),
        ),
        card(
            glossary::ROMI2,
            format::percent_opt(s.romi2),
            format!(
                "({} − {}) / {}",
                format::rub(s.revenue2),
                format::rub(s.spend),
                format::rub(s.spend)
            ),
        ),
        card(
            glossary::AVG_CHECK1,
            format::rub_opt(s.avg_check1),
            format!(
                "{} / {} {sales_word}",
                format::rub(s.revenue1),
                format::int(s.sales)
            ),
        ),
        card(
            glossary::LTV2,
            format::rub_opt(s.ltv2),
            format!(
                "{} / {} {customers_word}",
                format::rub(s.revenue2),
                format::int(s.customers)
            ),
        ),
    ]
}

/// One row of the platform or campaign table.
#[derive(Debug, Serialize)]
pub struct TableRow {
    pub colour: &'static str,
    pub platform: String,
    pub campaign: String,
    pub contractor: String,
    pub spend: String,
    pub clicks: String,
    pub leads: String,
    pub cpl: String,
    pub sales: String,
    pub revenue1: String,
    pub revenue2: String,
    pub romi1: String,
    pub romi2: String,
}

fn table_row(platform: &str, campaign: &str, contractor: &str, t: &Totals) -> TableRow {
    TableRow {
        colour: platform_colour(platform),
        platform: platform_label(platform),
        campaign: if campaign.is_empty() {
            "(без кампании)".to_string()
        } else {
            campaign.to_string()
        },
        contractor: contractor.to_string(),
        spend: format::rub_kop(t.spend),
        clicks: format::int(t.clicks),
        leads: format::int(t.leads),
        cpl: format::rub_kop_opt(t.cpl()),
        sales: format::int(t.sales),
        revenue1: format::rub_kop(t.revenue1),
        revenue2: format::rub_kop(t.revenue2),
        romi1: format::percent_opt(romi(t.revenue1, t.spend)),
        romi2: format::percent_opt(romi(t.revenue2, t.spend)),
    }
}

/// Sort key: biggest spend first, then name; "(не определено)" always last.
fn order_key<'a>(name: &'a str, t: &Totals) -> (bool, std::cmp::Reverse<Decimal>, &'a str) {
    (name == UNDEFINED_PLATFORM, std::cmp::Reverse(t.spend), name)
}

pub struct Tables {
    pub platforms: Vec<TableRow>,
    pub campaigns: Vec<TableRow>,
    pub total: TableRow,
}

pub fn tables(m: &Marts) -> Tables {
    let mut by_platform: BTreeMap<&str, Totals> = BTreeMap::new();
    let mut by_campaign: BTreeMap<(&str, &str, &str), Totals> = BTreeMap::new();
    let mut total = Totals::default();
    for r in &m.channels {
        by_platform.entry(&r.platform).or_default().add(r);
        by_campaign
            .entry((&r.platform, &r.campaign, &r.contractor))
            .or_default()
            .add(r);
        total.add(r);
    }
    let mut platforms: Vec<(&str, Totals)> = by_platform.into_iter().collect();
    platforms.sort_by(|a, b| order_key(a.0, &a.1).cmp(&order_key(b.0, &b.1)));
    let rank: BTreeMap<&str, usize> = platforms
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (*p, i))
        .collect();
    let mut campaigns: Vec<((&str, &str, &str), Totals)> = by_campaign.into_iter().collect();
    campaigns.sort_by(|a, b| {
        let ka = (rank[a.0.0], std::cmp::Reverse(a.1.spend), a.0.1, a.0.2);
        let kb = (rank[b.0.0], std::cmp::Reverse(b.1.spend), b.0.1, b.0.2);
        ka.cmp(&kb)
    });
    Tables {
        platforms: platforms
            .iter()
            .map(|(p, t)| table_row(p, "", NO_CONTRACTOR, t))
            .collect(),
        campaigns: campaigns
            .iter()
            .map(|((p, c, k), t)| table_row(p, c, k, t))
            .collect(),
        total: table_row("Итого", "", "", &total),
    }
}

/// Channel rows summed per day, every day from first to last (gaps are 0).
pub fn daily(m: &Marts) -> Vec<(NaiveDate, Totals)> {
    let mut by_day: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
    for r in &m.channels {
        by_day.entry(r.date).or_default().add(r);
    }
    let (Some(first), Some(last)) = (
        by_day.keys().next().copied(),
        by_day.keys().next_back().copied(),
    ) else {
        return Vec::new();
    };
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| (d, by_day.get(&d).cloned().unwrap_or_default()))
        .collect()
}

#[derive(Debug, Serialize)]
pub struct DailyRow {
    pub date: String,
    pub spend: String,
    pub revenue1: String,
    pub revenue2: String,
}

pub fn daily_rows(days: &[(NaiveDate, Totals)]) -> Vec<DailyRow> {
    days.iter()
        .map(|(d, t)| DailyRow {
            date: format::date(*d),
            spend: format::rub_kop(t.spend),
            revenue1: format::rub_kop(t.revenue1),
            revenue2: format::rub_kop(t.revenue2),
        })
        .collect()
}

/// A status as a word (never colour alone).
pub fn status_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Green => "норма",
        CheckStatus::Yellow => "внимание",
        CheckStatus::Red => "ошибка",
    }
}

fn status_icon(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Green => "✓",
        CheckStatus::Yellow => "!",
        CheckStatus::Red => "✕",
    }
}

/// Russian names of the checks of `docs/metrics.md`, section 8.
pub fn check_name(id: &str) -> &str {
    match id {
        "freshness" => "Свежесть данных",
        "reconciliation" => "Сверка сумм",
        "unattributed" => "Доля без источника",
        "unmatched_payments" => "Платежи без заказа",
        "currency" => "Курсы валют",
        "missing_days" => "Пропущенные дни",
        "duplicates" => "Дубли",
        "quarantine" => "Нераспознанные данные",
        "crm_vs_payments" => "CRM и оплаты",
        "spend_anomaly" => "Всплеск расхода",
        "lost_leads" => "Потерянные заявки",
        other => other,
    }
}

/// Display name of a source (connector slug), if the site knows one.
pub fn source_label(slug: &str) -> Option<&'static str> {
    Some(match slug {
        "amocrm" => "amoCRM",
        "bizon365" => "Бизон 365",
        "cbr" => "ЦБ РФ",
        "facebook" => "Facebook Ads",
        "ga4" => "Google Analytics 4",
        "getcourse" => "GetCourse",
        "google_ads" => "Google Ads",
        "mytarget" => "myTarget",
        "salebot" => "Salebot",
        "tiktok" => "TikTok Ads",
        "tilda" => "Tilda",
        "vk_ads" => "VK Реклама",
        "yandex_direct" => "Яндекс Директ",
        _ => return None,
    })
}

/// Russian label of a check's scope: the known scope ids of
/// `docs/metrics.md`, section 8, by name; `source:account` with the
/// source's display name (when known) and the account as is; anything
/// else unchanged.
pub fn scope_label(check: &str, scope: &str) -> String {
    let known = match (check, scope) {
        ("spend_anomaly", "spend") => "Расход по площадкам",
        (_, "spend") => "Расход",
        (_, "campaign_spend") => "Расход по кампаниям",
        (_, "cash") => "Поступления",
        (_, "leads") => "Лиды",
        (_, "revenue2") => "Выручка (с доплатами)",
        (_, "payments") => "Платежи",
        (_, "rates") => "Курсы валют",
        (_, "all") => "Все данные",
        (_, "deals") => "Сделки",
        (_, "orders") => "Заказы",
        (_, "applications") => "Заявки",
        _ => {
            if let Some((source, account)) = scope.split_once(':')
                && let Some(label) = source_label(source)
            {
                return format!("{label}: {account}");
            }
            return scope.to_string();
        }
    };
    known.to_string()
}

#[derive(Debug, Serialize)]
pub struct Badge {
    /// `green`, `yellow`, `red` or `none`.
    pub status: &'static str,
    pub icon: &'static str,
    pub text: String,
    pub green: usize,
    pub yellow: usize,
    pub red: usize,
}

pub fn badge(checks: &[CheckResult]) -> Badge {
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    let (green, yellow, red) = (
        count(CheckStatus::Green),
        count(CheckStatus::Yellow),
        count(CheckStatus::Red),
    );
    let worst = checks.iter().map(|c| c.status).max();
    let (status, icon, word) = match worst {
        None => ("none", "?", "проверок нет"),
        Some(CheckStatus::Green) => ("green", "✓", "данные в порядке"),
        Some(CheckStatus::Yellow) => ("yellow", "!", "есть замечания"),
        Some(CheckStatus::Red) => ("red", "✕", "есть ошибки"),
    };
    Badge {
        status,
        icon,
        text: format!("Проверка данных: {word}"),
        green,
        yellow,
        red,
    }
}

#[derive(Debug, Serialize)]
pub struct CheckView {
    pub status: &'static str,
    pub icon: &'static str,
    pub word: &'static str,
    pub check: String,
    pub name: String,
    /// The scope's Russian label (see [`scope_label`]).
    pub scope: String,
    pub detail: String,
}

/// Checks, worst first, then by check id and scope.
pub fn checks(checks: &[CheckResult]) -> Vec<CheckView> {
    let mut sorted: Vec<&CheckResult> = checks.iter().collect();
    sorted.sort_by(|a, b| {
        (std::cmp::Reverse(a.status), &a.check, &a.scope, &a.detail).cmp(&(
            std::cmp::Reverse(b.status),
            &b.check,
            &b.scope,
            &b.detail,
        ))
    });
    sorted
        .into_iter()
        .map(|c| CheckView {
            status: c.status.as_str(),
            icon: status_icon(c.status),
            word: status_word(c.status),
            check: c.check.clone(),
            name: check_name(&c.check).to_string(),
            scope: scope_label(&c.check, &c.scope),
            detail: if c.detail.is_empty() {
                DASH.to_string()
            } else {
                c.detail.clone()
            },
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct CashDayRow {
    pub date: String,
    pub revenue: String,
    pub prepayments: String,
    pub surcharges: String,
    pub refunds: String,
    pub spend: String,
}

/// Cash rows of every day of the window (days without a row are zero).
pub fn cash_rows(m: &Marts, w: crate::kpi::Window) -> Vec<CashDayRow> {
    let by: BTreeMap<NaiveDate, &voronka_core::metrics::CashRow> =
        m.cash.iter().map(|r| (r.date, r)).collect();
    w.days()
        .map(|d| {
            let r = by.get(&d);
            let f = |g: fn(&voronka_core::metrics::CashRow) -> Decimal| {
                format::rub_kop(r.map_or(Decimal::ZERO, |r| g(r)))
            };
            CashDayRow {
                date: format::date(d),
                revenue: f(|r| r.revenue),
                prepayments: f(|r| r.prepayments),
                surcharges: f(|r| r.surcharges),
                refunds: f(|r| r.refunds),
                spend: f(|r| r.spend),
            }
        })
        .collect()
}
