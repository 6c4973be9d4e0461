//! Data checks (metrics.md §8): each with a status, a scope and one line
//! that tells the user what to fix. Implemented here: freshness,
//! reconciliation, unattributed share, unmatched payments, currency,
//! missing days, duplicates, spend anomaly. The rest follow with the
//! metric-engine issue.

use super::marts::*;
use crate::config::Config;
use crate::model::{Dataset, PaymentStatus};
use crate::money::{RateBook, round_kopecks};
use crate::time;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

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
    spend_anomaly(&input, &mut out);
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
            (a != b).then(|| {
                format!(
                    "{} {}: {} ≠ {}",
                    k.0,
                    k.1,
                    round_kopecks(a),
                    round_kopecks(b)
                )
            })
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
                round_kopecks(cash),
                round_kopecks(received)
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
                let pct = p.round_dp(1);
                if p > ten {
                    out.push(check("unattributed", scope, CheckStatus::Yellow, format!("{pct} % {what} без источника (выше 10 %): проверьте UTM-метки в ссылках и скрытые поля форм")));
                } else {
                    out.push(check(
                        "unattributed",
                        scope,
                        CheckStatus::Green,
                        format!("{pct} % {what} без источника"),
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
            format!("{n} платежей на {} ₽ не привязаны ни к одному заказу: проверьте номер заказа в платёжной системе", round_kopecks(sum)),
        ));
    }
}

fn currency(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let c = input.conversion;
    if !c.missing.is_empty() {
        out.push(check(
            "currency",
            "rates",
            CheckStatus::Red,
            format!("{} сумм без курса ЦБ исключены из отчётов (напр. {}): загрузите курсы `voronka ingest cbr`", c.missing.len(), c.missing[0]),
        ));
    }
    if !c.fallbacks.is_empty() {
        out.push(check(
            "currency",
            "rates",
            CheckStatus::Yellow,
            format!("{} сумм пересчитаны по более старому курсу, чем действующий (напр. {}): догрузите курсы ЦБ за эти дни", c.fallbacks.len(), c.fallbacks[0]),
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
                format!("нет статистики за {} дн. (напр. {}): перезагрузите период `voronka ingest {source}`", missing.len(), missing[0].format("%d.%m.%Y")),
            ));
        }
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

fn spend_anomaly(input: &CheckInput<'_>, out: &mut Vec<CheckResult>) {
    let mut by_platform: BTreeMap<String, BTreeMap<NaiveDate, Decimal>> = BTreeMap::new();
    for r in input.channels {
        *by_platform
            .entry(r.platform.clone())
            .or_default()
            .entry(r.date)
            .or_default() += r.spend;
    }
    let mut found = Vec::new();
    for (platform, days) in &by_platform {
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
                    "{platform} {}: {} ₽ при медиане {} ₽",
                    d.format("%d.%m.%Y"),
                    round_kopecks(today),
                    round_kopecks(median)
                ));
            }
            d = d.succ_opt().expect("date in range");
        }
    }
    if found.is_empty() {
        out.push(check(
            "spend_anomaly",
            "spend",
            CheckStatus::Green,
            "всплесков расхода не найдено",
        ));
    } else {
        out.push(check(
            "spend_anomaly",
            "spend",
            CheckStatus::Yellow,
            format!("{} дн. с расходом выше 3× медианы за 14 дней (напр. {}): проверьте ставки и бюджеты", found.len(), found[0]),
        ));
    }
}
