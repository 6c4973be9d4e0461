//! Money: conversion to roubles at the Bank of Russia rate in force on a
//! local date (metrics.md §1), and rounding for display/export.

use crate::model::Rate;
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// Rounds to kopecks, half away from zero. Used once per displayed or
/// exported cell, never before summing.
pub fn round_kopecks(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// How a conversion was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateUse {
    /// The amount is already in roubles.
    Rub,
    /// The set in force on the date (latest effective date ≤ the date).
    InForce { effective: NaiveDate },
    /// No set was in force that close; an older one was used. Flags the
    /// "currency" check yellow.
    Fallback {
        effective: NaiveDate,
        wanted: NaiveDate,
    },
}

/// Why an amount could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no Bank of Russia rate for {currency} on or before {date}")]
pub struct NoRate {
    pub currency: String,
    pub date: NaiveDate,
}

/// Rates by currency, ordered by effective date.
#[derive(Debug, Clone, Default)]
pub struct RateBook {
    by_currency: BTreeMap<String, BTreeMap<NaiveDate, Decimal>>,
    /// Effective dates of every published set (any currency).
    set_dates: Vec<NaiveDate>,
}

/// A weekend or holiday gap between sets is normal (the Saturday set
/// serves Sunday and Monday; the New Year holidays reuse one set): a rate
/// older than this many days is a fallback.
pub const MAX_RATE_AGE_DAYS: i64 = 10;

impl RateBook {
    pub fn new(rates: &[Rate]) -> RateBook {
        let mut book = RateBook::default();
        for r in rates {
            book.by_currency
                .entry(r.currency.to_ascii_uppercase())
                .or_default()
                .insert(r.date, r.per_unit());
            book.set_dates.push(r.date);
        }
        book.set_dates.sort();
        book.set_dates.dedup();
        book
    }

    /// The per-unit rate in force on `date`: the latest set whose effective
    /// date is on or before it. A currency missing from the set in force
    /// (but present earlier) is a fallback.
    pub fn rate(&self, currency: &str, date: NaiveDate) -> Result<(Decimal, RateUse), NoRate> {
        let cur = currency.to_ascii_uppercase();
        if cur == "RUB" || cur == "RUR" {
            return Ok((Decimal::ONE, RateUse::Rub));
        }
        let no_rate = || NoRate {
            currency: cur.clone(),
            date,
        };
        let series = self.by_currency.get(&cur).ok_or_else(no_rate)?;
        let (&eff, &rate) = series.range(..=date).next_back().ok_or_else(no_rate)?;
        // The set in force on `date` (any currency).
        let in_force = self
            .set_dates
            .partition_point(|d| *d <= date)
            .checked_sub(1)
            .map(|i| self.set_dates[i]);
        let stale = (date - eff).num_days() > MAX_RATE_AGE_DAYS;
        if in_force == Some(eff) && !stale {
            Ok((rate, RateUse::InForce { effective: eff }))
        } else {
            Ok((
                rate,
                RateUse::Fallback {
                    effective: eff,
                    wanted: date,
                },
            ))
        }
    }

    /// Converts `amount` in `currency` on `date` to roubles, full precision.
    pub fn to_rub(
        &self,
        amount: Decimal,
        currency: &str,
        date: NaiveDate,
    ) -> Result<(Decimal, RateUse), NoRate> {
        let (rate, how) = self.rate(currency, date)?;
        Ok((amount * rate, how))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn rate(date: NaiveDate, cur: &str, nominal: u32, value: Decimal) -> Rate {
        Rate {
            source: "cbr".into(),
            date,
            currency: cur.into(),
            nominal,
            value,
        }
    }

    #[test]
    fn saturday_set_serves_sunday_and_monday() {
        // Sets effective Fri 28.11 and Sat 29.11 (Friday's publication).
        let book = RateBook::new(&[
            rate(d(2026, 11, 28), "USD", 1, dec!(80.1234)),
            rate(d(2026, 11, 29), "USD", 1, dec!(81.5)),
        ]);
        let (r, how) = book.rate("USD", d(2026, 11, 30)).unwrap(); // Monday
        assert_eq!(r, dec!(81.5));
        assert_eq!(
            how,
            RateUse::InForce {
                effective: d(2026, 11, 29)
            }
        );
        // 10 USD on Sunday = 815 RUB.
        assert_eq!(
            book.to_rub(dec!(10), "usd", d(2026, 11, 29)).unwrap().0,
            dec!(815.0)
        );
    }

    #[test]
    fn nominal_divides_value() {
        // 100 AMD = 21.5637 RUB -> 1 AMD = 0.215637.
        let book = RateBook::new(&[rate(d(2025, 4, 4), "AMD", 100, dec!(21.5637))]);
        assert_eq!(book.rate("AMD", d(2025, 4, 4)).unwrap().0, dec!(0.215637));
    }

    #[test]
    fn missing_rate_falls_back_and_is_flagged_never_one() {
        let book = RateBook::new(&[
            rate(d(2026, 11, 20), "EUR", 1, dec!(92)),
            rate(d(2026, 11, 20), "USD", 1, dec!(80)),
            // The 21.11 set has USD only: EUR is missing from it.
            rate(d(2026, 11, 21), "USD", 1, dec!(81)),
        ]);
        let (r, how) = book.rate("EUR", d(2026, 11, 22)).unwrap();
        assert_eq!(r, dec!(92));
        assert_eq!(
            how,
            RateUse::Fallback {
                effective: d(2026, 11, 20),
                wanted: d(2026, 11, 22)
            }
        );
        // Before any rate: an error, never 1.
        assert!(book.rate("EUR", d(2026, 11, 1)).is_err());
        assert!(book.rate("TON", d(2026, 11, 22)).is_err());
    }

    #[test]
    fn rounding_is_half_away_from_zero_once() {
        assert_eq!(round_kopecks(dec!(0.005)), dec!(0.01));
        assert_eq!(round_kopecks(dec!(-0.005)), dec!(-0.01));
        assert_eq!(round_kopecks(dec!(2.675)), dec!(2.68));
        // Summing first: 3 x 0.005 = 0.015 -> 0.02, not 3 x 0.01.
        assert_eq!(round_kopecks(dec!(0.005) * dec!(3)), dec!(0.02));
    }
}
