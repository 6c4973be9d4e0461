//! The export contract (metrics.md §9): CSV text, UTF-8, comma-separated,
//! header row, `.` decimals, `YYYY-MM-DD` dates, money with 2 decimals
//! (rounded once, half away from zero), ratios with 4 places, "" for "—".
//! Producing text is pure; writing files is the caller's business.

use super::marts::*;
use crate::money::round_kopecks;
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

/// Money cell: 2 decimals.
pub fn money(d: Decimal) -> String {
    format!("{:.2}", round_kopecks(d))
}

/// Ratio cell: 4 decimals, empty when undefined.
pub fn ratio_cell(r: Option<Decimal>) -> String {
    r.map(|r| {
        format!(
            "{:.4}",
            r.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        )
    })
    .unwrap_or_default()
}

/// Quotes a text cell when needed (RFC 4180).
pub fn text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn in_range(d: NaiveDate, from: NaiveDate, to: NaiveDate) -> bool {
    d >= from && d <= to
}

/// `channels.csv`: cohort view, one row per date and channel key; rows that
/// are all zero are left out.
pub fn channels_csv(marts: &Marts, from: NaiveDate, to: NaiveDate) -> String {
    let mut out = String::from(
        "date,platform,campaign,contractor,spend,impressions,clicks,sessions,leads,attendees,applications,sales,customers,revenue1,revenue2\n",
    );
    for r in marts.channels.iter().filter(|r| in_range(r.date, from, to)) {
        let zero = r.spend.is_zero()
            && r.impressions == 0
            && r.clicks == 0
            && r.sessions == 0
            && r.leads == 0
            && r.applications == 0
            && r.sales == 0
            && r.revenue2.is_zero();
        if zero {
            continue;
        }
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.date,
            text(&r.platform),
            text(&r.campaign),
            text(&r.contractor),
            money(r.spend),
            r.impressions,
            r.clicks,
            r.sessions,
            r.leads,
            r.attendees,
            r.applications,
            r.sales,
            r.customers,
            money(r.revenue1),
            money(r.revenue2),
        ));
    }
    out
}

/// `cash.csv`: one row per day of the range (days without money are zero).
pub fn cash_csv(marts: &Marts, from: NaiveDate, to: NaiveDate) -> String {
    let mut out = String::from("date,revenue,prepayments,surcharges,refunds,spend\n");
    let by_date: std::collections::BTreeMap<NaiveDate, &CashRow> =
        marts.cash.iter().map(|c| (c.date, c)).collect();
    let empty = CashRow::default();
    let mut d = from;
    while d <= to {
        let c = by_date.get(&d).copied().unwrap_or(&empty);
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            d,
            money(c.revenue),
            money(c.prepayments),
            money(c.surcharges),
            money(c.refunds),
            money(c.spend),
        ));
        d = d.succ_opt().expect("date in range");
    }
    out
}

/// `checks.csv`.
pub fn checks_csv(marts: &Marts) -> String {
    let mut out = String::from("check,scope,status,detail\n");
    for c in &marts.checks {
        out.push_str(&format!(
            "{},{},{},{}\n",
            text(&c.check),
            text(&c.scope),
            c.status.as_str(),
            text(&c.detail)
        ));
    }
    out
}

/// Optional money cell: 2 decimals, empty when undefined.
pub fn money_cell(d: Option<Decimal>) -> String {
    d.map(money).unwrap_or_default()
}

/// `managers.csv`: one row per month and manager whose month overlaps
/// [from, to]; average checks, plan, remaining and forecast are money,
/// empty when undefined (no sales, no plan).
pub fn managers_csv(marts: &Marts, from: NaiveDate, to: NaiveDate) -> String {
    let mut out = String::from(
        "month,manager,leads,sales,revenue,avg_check1,avg_check2,plan_revenue,remaining,forecast\n",
    );
    let (first, last) = (crate::time::month_start(from), crate::time::month_start(to));
    for r in &marts.managers {
        let Some(month) = crate::time::parse_month(&r.month) else {
            continue;
        };
        if month < first || month > last {
            continue;
        }
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            r.month,
            text(&r.manager),
            r.leads,
            r.sales,
            money(r.revenue),
            money_cell(r.avg_check1),
            money_cell(r.avg_check2),
            money_cell(r.plan_revenue),
            money_cell(r.remaining),
            money_cell(r.forecast),
        ));
    }
    out
}

/// `cohorts.csv`: monthly cohorts only (the weekly view is on the site),
/// by cohort and age; `forecast` is `true` for projected cells.
pub fn cohorts_csv(marts: &Marts) -> String {
    let mut out = String::from("cohort,age,customers,revenue2,forecast\n");
    for c in marts.cohorts.iter().filter(|c| c.granularity == "month") {
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            text(&c.cohort),
            c.age,
            c.customers,
            money(c.revenue2),
            c.forecast,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn cells() {
        assert_eq!(money(dec!(1234.005)), "1234.01");
        assert_eq!(money(dec!(-0.005)), "-0.01");
        assert_eq!(money(dec!(7)), "7.00");
        assert_eq!(ratio_cell(Some(dec!(0.123456))), "0.1235");
        assert_eq!(ratio_cell(None), "");
        assert_eq!(text("a,b"), "\"a,b\"");
        assert_eq!(text("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
