//! Data checks (metrics.md §8): each with a status, a scope and one line
//! that tells the user what to fix: freshness, reconciliation, unattributed
//! share, unmatched payments, currency, missing days, duplicates, CRM vs
//! payments, spend anomaly (platforms and campaigns), lost leads.

use super::marts::*;
use super::resolve::Resolved;
use crate::config::Config;
use crate::identity::PersonIndex;
use crate::model::{Dataset, PaymentStatus, StatusKind};
use crate::money::RateBook;
use crate::ru;
use crate::time;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Conversions that needed attention.
#[derive(Debug, Clone, Default)]
pub struct Conversion {
    /// Amounts converted with an older set than the one in force.
    pub fallbacks: Vec<String>,
    /// Amounts with no rate at all (left out of the figures).
    pub missing: Vec<String>,
}

pub struct CheckInput<'a> {
    pub config: &'a Config,
    pub dataset: &'a Dataset,
    pub as_of: NaiveDate,
    pub checked_at: DateTime<Utc>,
    pub sources: &'a [SourceStatus],
    pub channels: &'a [ChannelRow],
    pub cash: &'a [CashRow],
    pub conversion: &'a Conversion,
    pub rates: &'a RateBook,
    pub unmatched_payments: (u64, Decimal),
    pub collapsed: &'a BTreeMap<String, u64>,
    pub quarantined: u64,
    /// The resolved facts (deals, orders, persons) the CRM and lost-leads
    /// checks read.
    pub resolved: &'a Resolved<'a>,
}

/// How many ids a check's detail lists (the count is always in full).
const LISTED: usize = 10;

/// The Salebot form id of an application (a lead, not a registration).
pub const SALEBOT_APPLICATION: &str = "salebot:application";

/// A check's detail names at most `LISTED` items: "a, b, c" or
/// "a, b, … (ещё N)".
fn listed(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        s.push_str(&format!(", … (ещё {})", items.len() - LISTED));
    }
    s
}

fn check(
    check: &str,
    scope: impl Into<String>,
    status: CheckStatus,
    detail: impl Into<String>,
) -> CheckResult {
    CheckResult {
        check: check.to_string(),
        scope: scope.into(),
        status,
        detail: detail.into(),
    }
}

pub fn run(input: CheckInput<'_>) -> Vec<CheckResult> {
    let mut out = Vec::new();
    freshness(&input, &mut out);
    reconciliation(&input, &mut out);
    unattributed(&input, &mut out);
    unmatched(&input, &mut out);
    currency(&input, &mut out);
    missing_days(&input, &mut out);
    duplicates(&input, &mut out);
    quarantine(&input, &mut out);
    crm_vs_payments(&input, &mut out);
    spend_anomaly(&input, &mut out);
    lost_leads(&input, &mut out);
    out
}

fn freshness(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let yellow = input.config.checks.freshness_yellow_hours as i64;
    let red = input.config.checks.freshness_red_hours as i64;
    for s in input.sources {
        let scope = format!("{}:{}", s.source, s.account);
        let data = s
            .latest_data
            .map(|d| format!("; последние данные за {}", d.format("%d.%m.%Y")))
            .unwrap_or_default();
        let (status, detail) = match s.last_success {
            None => (
                CheckStatus::Red,
                format!(
                    "ни одной успешной загрузки{}; проверьте доступы и запустите `voronka ingest {}`",
                    s.last_error
                        .as_ref()
                        .map(|e| format!(" (последняя ошибка: {e})"))
                        .unwrap_or_default(),
                    s.source
                ),
            ),
            Some(at) => {
                let hours = (input.checked_at - at).num_hours();
                let when = at.format("%d.%m.%Y %H:%M UTC");
                if hours >= red {
                    (
                        CheckStatus::Red,
                        format!(
                            "последняя успешная загрузка {when} ({hours} ч назад){data}: загрузка остановилась, проверьте расписание и доступы"
                        ),
                    )
                } else if hours >= yellow {
                    (
                        CheckStatus::Yellow,
                        format!(
                            "последняя успешная загрузка {when} ({hours} ч назад){data}: данные запаздывают"
                        ),
                    )
                } else {
                    (CheckStatus::Green, format!("загружено {when}{data}"))
                }
            }
        };
        out.push(check("freshness", scope, status, detail));
    }
}

fn reconciliation(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    // Spend per platform and day: the marts vs an independent sum over the
    // normalized ad stats and manual costs.
    let mut marts: BTreeMap<(String, NaiveDate), Decimal> = BTreeMap::new();
    for r in input.channels {
        if !r.spend.is_zero() {
            *marts.entry((r.platform.clone(), r.date)).or_default() += r.spend;
        }
    }
    let mut direct: BTreeMap<(String, NaiveDate), Decimal> = BTreeMap::new();
    for s in input
        .dataset
        .ad_stats
        .iter()
        .filter(|s| s.date <= input.as_of)
    {
        let mult = input
            .config
            .account(&s.source, &s.account)
            .map(|a| a.multiplier())
            .unwrap_or(Decimal::ONE);
        if let Ok((rub, _)) = input.rates.to_rub(s.spend * mult, &s.currency, s.date)
            && !rub.is_zero()
        {
            *direct.entry((s.platform.clone(), s.date)).or_default() += rub;
        }
    }
    let channels = super::channel::Channels::new(input.config, &input.dataset.ad_stats);
    for m in input
        .dataset
        .manual_costs
        .iter()
        .filter(|m| m.date <= input.as_of)
    {
        if let Ok((rub, _)) = input.rates.to_rub(m.amount, &m.currency, m.date)
            && !rub.is_zero()
        {
            *direct
                .entry((channels.platform(&m.platform), m.date))
                .or_default() += rub;
        }
    }
    let diffs: Vec<String> = marts
        .keys()
        .chain(direct.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter_map(|k| {
            let a = marts.get(k).copied().unwrap_or_default();
            let b = direct.get(k).copied().unwrap_or_default();
            (a != b).then(|| format!("{} {}: {} ≠ {}", k.0, k.1, ru::money(a), ru::money(b)))
        })
        .collect();
    if diffs.is_empty() {
        out.push(check(
            "reconciliation",
            "spend",
            CheckStatus::Green,
            "расход в отчётах совпадает с суммой загруженной статистики",
        ));
    } else {
        out.push(check(
            "reconciliation",
            "spend",
            CheckStatus::Red,
            format!("расход в отчётах не сходится со статистикой площадок ({} расхождений, напр. {}): сообщите разработчикам", diffs.len(), diffs[0]),
        ));
    }
    let tz = input.config.tz();
    let end = time::end_of_day(input.as_of, tz);
    let mut received = Decimal::ZERO;
    for p in &input.dataset.payments {
        if p.paid_at >= end
            || !matches!(p.status, PaymentStatus::Received | PaymentStatus::Refunded)
        {
            continue;
        }
        let amount = if p.status == PaymentStatus::Refunded {
            -p.amount.abs()
        } else {
            p.amount
        };
        if let Ok((rub, _)) =
            input
                .rates
                .to_rub(amount, &p.currency, time::local_date(p.paid_at, tz))
        {
            received += rub;
        }
    }
    let cash: Decimal = input.cash.iter().map(|c| c.revenue).sum();
    if cash == received {
        out.push(check(
            "reconciliation",
            "cash",
            CheckStatus::Green,
            "поступления в отчётах равны сумме полученных платежей за вычетом возвратов",
        ));
    } else {
        out.push(check(
            "reconciliation",
            "cash",
            CheckStatus::Red,
            format!(
                "поступления {} ≠ сумма платежей {}: сообщите разработчикам",
                ru::money(cash),
                ru::money(received)
            ),
        ));
    }
}

fn share(part: Decimal, total: Decimal) -> Option<Decimal> {
    (!total.is_zero()).then(|| part / total * Decimal::ONE_HUNDRED)
}

fn unattributed(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let (mut leads, mut und_leads, mut rev, mut und_rev) =
        (0u64, 0u64, Decimal::ZERO, Decimal::ZERO);
    for r in input.channels {
        leads += r.leads;
        rev += r.revenue2;
        if r.platform == UNDEFINED_PLATFORM {
            und_leads += r.leads;
            und_rev += r.revenue2;
        }
    }
    let ten = Decimal::TEN;
    for (scope, part, total) in [
        ("leads", Decimal::from(und_leads), Decimal::from(leads)),
        ("revenue2", und_rev, rev),
    ] {
        let what = if scope == "leads" {
            "лидов"
        } else {
            "выручки (с доплатами)"
        };
        match share(part, total) {
            None => out.push(check(
                "unattributed",
                scope,
                CheckStatus::Green,
                format!("{what} пока нет"),
            )),
            Some(p) => {
                let pct = ru::percent(p);
                if p > ten {
                    out.push(check("unattributed", scope, CheckStatus::Yellow, format!("{pct} {what} без источника (выше 10\u{a0}%): проверьте UTM-метки в ссылках и скрытые поля форм")));
                } else {
                    out.push(check(
                        "unattributed",
                        scope,
                        CheckStatus::Green,
                        format!("{pct} {what} без источника"),
                    ));
                }
            }
        }
    }
}

fn unmatched(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let (n, sum) = input.unmatched_payments;
    if n == 0 {
        out.push(check(
            "unmatched_payments",
            "payments",
            CheckStatus::Green,
            "все платежи привязаны к заказам",
        ));
    } else {
        out.push(check(
            "unmatched_payments",
            "payments",
            CheckStatus::Yellow,
            format!("{} на {} не привязаны ни к одному заказу: проверьте номер заказа в платёжной системе", ru::plural(n, "платёж", "платежа", "платежей"), ru::money(sum)),
        ));
    }
}

/// The smallest item: an example that does not depend on input order.
fn first(items: &[String]) -> &str {
    items.iter().min().map(String::as_str).unwrap_or("")
}

fn currency(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let c = input.conversion;
    if !c.missing.is_empty() {
        out.push(check(
            "currency",
            "rates",
            CheckStatus::Red,
            format!("{} без курса ЦБ исключены из отчётов (напр. {}): загрузите курсы `voronka ingest cbr`", ru::plural(c.missing.len() as u64, "сумма", "суммы", "сумм"), first(&c.missing)),
        ));
    }
    if !c.fallbacks.is_empty() {
        out.push(check(
            "currency",
            "rates",
            CheckStatus::Yellow,
            format!("{} пересчитаны по более старому курсу, чем действующий (напр. {}): догрузите курсы ЦБ за эти дни", ru::plural(c.fallbacks.len() as u64, "сумма", "суммы", "сумм"), first(&c.fallbacks)),
        ));
    }
    if c.missing.is_empty() && c.fallbacks.is_empty() {
        out.push(check(
            "currency",
            "rates",
            CheckStatus::Green,
            "все суммы пересчитаны по курсу ЦБ, действующему на дату",
        ));
    }
}

fn missing_days(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    // Facebook omits days without delivery: not a gap.
    let mut days: BTreeMap<(String, String), BTreeSet<NaiveDate>> = BTreeMap::new();
    for s in input
        .dataset
        .ad_stats
        .iter()
        .filter(|s| s.date <= input.as_of && s.source != "facebook")
    {
        days.entry((s.source.clone(), s.account.clone()))
            .or_default()
            .insert(s.date);
    }
    for ((source, account), set) in days {
        let (Some(&first), Some(&last)) = (set.first(), set.last()) else {
            continue;
        };
        let total = (last - first).num_days() + 1;
        let missing: Vec<NaiveDate> = first
            .iter_days()
            .take(total as usize)
            .filter(|d| !set.contains(d))
            .collect();
        let scope = format!("{source}:{account}");
        if missing.is_empty() {
            out.push(check(
                "missing_days",
                scope,
                CheckStatus::Green,
                format!(
                    "статистика без пропусков с {} по {}",
                    first.format("%d.%m.%Y"),
                    last.format("%d.%m.%Y")
                ),
            ));
        } else {
            out.push(check(
                "missing_days",
                scope,
                CheckStatus::Yellow,
                format!("нет статистики за {} (напр. {}): перезагрузите период `voronka ingest {source}`", ru::plural(missing.len() as u64, "день", "дня", "дней"), missing[0].format("%d.%m.%Y")),
            ));
        }
    }
}

fn quarantine(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let n = input.quarantined;
    if n == 0 {
        out.push(check(
            "quarantine",
            "all",
            CheckStatus::Green,
            "все ответы источников разобраны",
        ));
    } else {
        out.push(check(
            "quarantine",
            "all",
            CheckStatus::Yellow,
            format!(
                "{} с записями, которые не удалось разобрать, отложены в quarantine/ с причиной (поле и запись): их данные не вошли в отчёты — исправьте источник или сообщите разработчикам",
                ru::plural(n, "ответ", "ответа", "ответов")
            ),
        ));
    }
}

fn duplicates(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let total: u64 = input.collapsed.values().sum();
    if total == 0 {
        out.push(check(
            "duplicates",
            "all",
            CheckStatus::Green,
            "дублей не найдено",
        ));
        return;
    }
    let list: Vec<String> = input
        .collapsed
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    out.push(check(
        "duplicates",
        "all",
        CheckStatus::Yellow,
        format!(
            "схлопнуто дублей: {} ({}); каждый посчитан один раз",
            total,
            list.join(", ")
        ),
    ));
}

/// Check 8, CRM vs payments. A paid order (a sale: received money, net
/// paid above zero) links to the deal whose id it stores (`crm_deal_id`);
/// without one (or when that id names no known deal) it links to every
/// deal of its person — timing is ignored here, since billing often
/// creates the order before the CRM deal. Won = the status's kind in its
/// pipeline is `Won` (status 142 when the pipeline is unknown). Deals are
/// listed by id, orders by number.
fn crm_vs_payments(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let r = input.resolved;
    let ds = r.ds;
    let mut kind: HashMap<(&str, &str, &str, &str), StatusKind> = HashMap::new();
    for p in &ds.pipelines {
        for s in &p.statuses {
            kind.insert(
                (
                    p.source.as_str(),
                    p.account.as_str(),
                    p.id.as_str(),
                    s.id.as_str(),
                ),
                s.kind,
            );
        }
    }
    let mut deal_by_id: HashMap<&str, usize> = HashMap::new();
    let mut deals_of: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, d) in r.deals.iter().enumerate() {
        deal_by_id.entry(ds.deals[d.deal].id.as_str()).or_insert(i);
        deals_of.entry(d.person).or_default().push(i);
    }
    let mut covered: BTreeSet<usize> = BTreeSet::new();
    let mut orphan_orders: Vec<String> = Vec::new();
    for o in r.orders.iter().filter(|o| o.is_sale) {
        let order = &ds.orders[o.order];
        let id = order.crm_deal_id.trim();
        if let Some(&i) = deal_by_id.get(id).filter(|_| !id.is_empty()) {
            covered.insert(i);
        } else if let Some(deals) = deals_of.get(&o.person) {
            covered.extend(deals.iter().copied());
        } else {
            orphan_orders.push(if order.number.is_empty() {
                order.id.clone()
            } else {
                order.number.clone()
            });
        }
    }
    let won_unpaid: Vec<String> = r
        .deals
        .iter()
        .enumerate()
        .filter(|(i, d)| {
            let deal = &ds.deals[d.deal];
            let won = kind
                .get(&(
                    deal.source.as_str(),
                    deal.account.as_str(),
                    deal.pipeline_id.as_str(),
                    deal.status_id.as_str(),
                ))
                .map_or(deal.status_id.trim() == "142", |k| *k == StatusKind::Won);
            won && !covered.contains(i)
        })
        .map(|(_, d)| ds.deals[d.deal].id.clone())
        .collect();
    if won_unpaid.is_empty() {
        out.push(check(
            "crm_vs_payments",
            "deals",
            CheckStatus::Green,
            "у каждой успешной сделки есть оплаченный заказ",
        ));
    } else {
        out.push(check(
            "crm_vs_payments",
            "deals",
            CheckStatus::Yellow,
            format!(
                "{} успешных сделок без оплаченного заказа: {}; проверьте, пришла ли оплата, укажите номер сделки CRM в заказе или верните сделку из статуса «Успешно реализовано»",
                won_unpaid.len(),
                listed(&won_unpaid)
            ),
        ));
    }
    if orphan_orders.is_empty() {
        out.push(check(
            "crm_vs_payments",
            "orders",
            CheckStatus::Green,
            "у каждого оплаченного заказа есть сделка в CRM",
        ));
    } else {
        out.push(check(
            "crm_vs_payments",
            "orders",
            CheckStatus::Yellow,
            format!(
                "{} оплаченных заказов без сделки в CRM: {}; создайте сделку на покупателя или укажите номер сделки в заказе",
                orphan_orders.len(),
                listed(&orphan_orders)
            ),
        ));
    }
}

/// Days above 3x the median of the previous 14 days (missing days as 0),
/// from the 15th day after a series' first day with spend.
fn anomalies(series: &BTreeMap<String, BTreeMap<NaiveDate, Decimal>>) -> Vec<String> {
    let mut found = Vec::new();
    for (name, days) in series {
        let (Some(&first), Some(&last)) = (days.keys().next(), days.keys().next_back()) else {
            continue;
        };
        let mut d = first + chrono::Duration::days(14);
        while d <= last {
            let mut hist: Vec<Decimal> = (1..=14)
                .map(|k| {
                    days.get(&(d - chrono::Duration::days(k)))
                        .copied()
                        .unwrap_or_default()
                })
                .collect();
            hist.sort();
            let median = (hist[6] + hist[7]) / Decimal::TWO;
            let today = days.get(&d).copied().unwrap_or_default();
            if median > Decimal::ZERO && today > median * Decimal::from(3) {
                found.push(format!(
                    "{name} {}: {} при медиане {}",
                    d.format("%d.%m.%Y"),
                    ru::money(today),
                    ru::money(median)
                ));
            }
            d = d.succ_opt().expect("date in range");
        }
    }
    found
}

/// Check 9: per platform (scope `spend`) and per campaign (scope
/// `campaign_spend`; platform and campaign label, rows without a campaign
/// label left out).
fn spend_anomaly(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let mut by_platform: BTreeMap<String, BTreeMap<NaiveDate, Decimal>> = BTreeMap::new();
    let mut by_campaign: BTreeMap<String, BTreeMap<NaiveDate, Decimal>> = BTreeMap::new();
    for r in input.channels.iter().filter(|r| !r.spend.is_zero()) {
        *by_platform
            .entry(r.platform.clone())
            .or_default()
            .entry(r.date)
            .or_default() += r.spend;
        if !r.campaign.is_empty() {
            *by_campaign
                .entry(format!("{} «{}»", r.platform, r.campaign))
                .or_default()
                .entry(r.date)
                .or_default() += r.spend;
        }
    }
    for (scope, series, what) in [
        ("spend", &by_platform, "площадок"),
        ("campaign_spend", &by_campaign, "кампаний"),
    ] {
        let found = anomalies(series);
        if found.is_empty() {
            out.push(check(
                "spend_anomaly",
                scope,
                CheckStatus::Green,
                format!("всплесков расхода {what} не найдено"),
            ));
        } else {
            out.push(check(
                "spend_anomaly",
                scope,
                CheckStatus::Yellow,
                format!(
                    "{} с расходом {what} выше 3× медианы за 14 дней ({}): проверьте ставки и бюджеты",
                    ru::plural(found.len() as u64, "день", "дня", "дней"),
                    listed(&found)
                ),
            ));
        }
    }
}

/// A CRM deal created this long before an application still answers it
/// (the form's receipt time and the CRM's clock differ by seconds).
const CLOCK_SKEW_MINUTES: i64 = 10;

/// Check 10, lost leads: persons with an application (a lead of a form in
/// `application_forms`, or a Salebot application) and no CRM deal created
/// within 24 hours after it. Only applications whose 24 hours are over by
/// the end of `as_of` are judged. Persons are built over every lead (of
/// any form), contact, order, payment and viewer; a deal belongs to the
/// person of its first known contact. One line per person (their latest
/// unanswered application), newest first.
fn lost_leads(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let r = input.resolved;
    let ds = r.ds;
    let forms: BTreeSet<&str> = input
        .config
        .application_forms
        .iter()
        .map(String::as_str)
        .collect();
    let day = chrono::Duration::hours(24);
    let applications: Vec<usize> = (0..ds.leads.len())
        .filter(|&i| {
            let l = &ds.leads[i];
            (forms.contains(l.form.as_str()) || l.form == SALEBOT_APPLICATION)
                && l.created_at + day <= r.end
        })
        .collect();
    if applications.is_empty() {
        out.push(check(
            "lost_leads",
            "applications",
            CheckStatus::Green,
            "заявок без сделки в CRM нет",
        ));
        return;
    }

    let mut index = PersonIndex::new();
    let lead_nodes: Vec<u32> = ds
        .leads
        .iter()
        .map(|l| index.add([l.email.as_str()], [l.phone.as_str()]))
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
    for o in &ds.orders {
        index.add([o.email.as_str()], [o.phone.as_str()]);
    }
    for p in &ds.payments {
        index.add([p.email.as_str()], [p.phone.as_str()]);
    }
    for v in &ds.viewers {
        index.add([v.email.as_str()], [v.phone.as_str()]);
    }
    let person = index.finish();
    let contact_by_id: HashMap<(&str, &str, &str), usize> = ds
        .contacts
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.source.as_str(), c.account.as_str(), c.id.as_str()), i))
        .collect();
    let mut deal_times: HashMap<u32, Vec<DateTime<Utc>>> = HashMap::new();
    for d in &r.deals {
        let deal = &ds.deals[d.deal];
        if let Some(&c) = deal.contact_ids.iter().find_map(|c| {
            contact_by_id.get(&(deal.source.as_str(), deal.account.as_str(), c.as_str()))
        }) {
            deal_times
                .entry(person[contact_nodes[c] as usize])
                .or_default()
                .push(deal.created_at);
        }
    }
    let skew = chrono::Duration::minutes(CLOCK_SKEW_MINUTES);
    // Person -> their latest unanswered application.
    let mut lost: BTreeMap<u32, usize> = BTreeMap::new();
    for i in applications {
        let l = &ds.leads[i];
        let p = person[lead_nodes[i] as usize];
        let answered = deal_times.get(&p).is_some_and(|times| {
            times
                .iter()
                .any(|t| *t >= l.created_at - skew && *t <= l.created_at + day)
        });
        if answered {
            continue;
        }
        let e = lost.entry(p).or_insert(i);
        if (&l.created_at, l) > (&ds.leads[*e].created_at, &ds.leads[*e]) {
            *e = i;
        }
    }
    if lost.is_empty() {
        out.push(check(
            "lost_leads",
            "applications",
            CheckStatus::Green,
            "на каждую заявку в течение 24 ч создана сделка в CRM",
        ));
        return;
    }
    let mut rows: Vec<usize> = lost.into_values().collect();
    rows.sort_by(|&a, &b| {
        (&ds.leads[b].created_at, &ds.leads[b]).cmp(&(&ds.leads[a].created_at, &ds.leads[a]))
    });
    let tz = r.tz;
    let people: Vec<String> = rows
        .iter()
        .map(|&i| {
            let l = &ds.leads[i];
            let name = if l.name.trim().is_empty() {
                "(без имени)"
            } else {
                l.name.trim()
            };
            let contact: Vec<&str> = [l.phone.trim(), l.email.trim()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
            let contact = if contact.is_empty() {
                "нет контактов".to_string()
            } else {
                contact.join(", ")
            };
            format!(
                "{name} ({contact}, заявка {})",
                time::local_date(l.created_at, tz).format("%d.%m.%Y")
            )
        })
        .collect();
    out.push(check(
        "lost_leads",
        "applications",
        CheckStatus::Yellow,
        format!(
            "{} человек оставили заявку, но сделка в CRM за 24 ч не создана: {}; позвоните им и проверьте передачу заявок из форм в CRM",
            people.len(),
            listed(&people)
        ),
    ));
}
