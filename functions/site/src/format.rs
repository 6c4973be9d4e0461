//! Russian number and date formatting for the pages (see `docs/ux.md`,
//! "Numbers").
//!
//! Thousands are separated by U+202F (narrow no-break space), the decimal
//! separator is a comma, `₽` and `%` follow the number after U+00A0
//! (no-break space). Money is rounded half away from zero once, here, per
//! displayed cell; a rounded zero is never shown with a minus sign.
//! Undefined values are [`DASH`].

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use rust_decimal::{Decimal, RoundingStrategy};

/// Shown for an undefined value (a ratio with a zero denominator).
pub const DASH: &str = "—";
/// Thousands separator: narrow no-break space.
pub const THOUSANDS: char = '\u{202F}';
/// Between a number and its unit: no-break space.
pub const NBSP: char = '\u{00A0}';

const MONTHS: [&str; 12] = [
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
];

/// Rounds half away from zero to `dp` places; a rounded zero loses its sign.
pub fn round(value: Decimal, dp: u32) -> Decimal {
    let mut r = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    if r.is_zero() {
        r = Decimal::ZERO;
    }
    r.rescale(dp);
    r
}

/// A decimal with `dp` places, comma as decimal separator, grouped thousands:
/// `-1 234,5`.
pub fn decimal(value: Decimal, dp: u32) -> String {
    let r = round(value, dp);
    let plain = r.abs().to_string();
    let (int_part, frac_part) = match plain.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (plain.as_str(), None),
    };
    let mut out = String::new();
    if r.is_sign_negative() && !r.is_zero() {
        out.push('-');
    }
    out.push_str(&group(int_part));
    if let Some(f) = frac_part {
        out.push(',');
        out.push_str(f);
    }
    out
}

/// Groups a string of ASCII digits by three from the right.
fn group(digits: &str) -> String {
    let len = digits.chars().count();
    let mut out = String::with_capacity(len + len / 3 * 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (len - i).is_multiple_of(3) {
            out.push(THOUSANDS);
        }
        out.push(ch);
    }
    out
}

/// An integer count: `1 234`, `-5`, `0`.
pub fn int(value: impl Into<i128>) -> String {
    let v: i128 = value.into();
    let mut out = String::new();
    if v < 0 {
        out.push('-');
    }
    out.push_str(&group(&v.unsigned_abs().to_string()));
    out
}

/// Money rounded to roubles, for cards: `1 234 567 ₽`.
pub fn rub(value: Decimal) -> String {
    format!("{}{NBSP}₽", decimal(value, 0))
}

/// Money with kopecks, for tables and tooltips: `1 234 567,89 ₽`.
pub fn rub_kop(value: Decimal) -> String {
    format!("{}{NBSP}₽", decimal(value, 2))
}

/// A percentage with one decimal: `12,5 %`. The value is already in percent.
pub fn percent(value: Decimal) -> String {
    format!("{}{NBSP}%", decimal(value, 1))
}

/// [`rub`], or [`DASH`] when undefined.
pub fn rub_opt(value: Option<Decimal>) -> String {
    value.map_or_else(|| DASH.to_string(), rub)
}

/// [`rub_kop`], or [`DASH`] when undefined.
pub fn rub_kop_opt(value: Option<Decimal>) -> String {
    value.map_or_else(|| DASH.to_string(), rub_kop)
}

/// [`percent`], or [`DASH`] when undefined.
pub fn percent_opt(value: Option<Decimal>) -> String {
    value.map_or_else(|| DASH.to_string(), percent)
}

/// `03.12.2026`.
pub fn date(d: NaiveDate) -> String {
    d.format("%d.%m.%Y").to_string()
}

/// `03.12.2026 09:15`.
pub fn datetime(dt: NaiveDateTime) -> String {
    dt.format("%d.%m.%Y %H:%M").to_string()
}

/// `декабрь 2026`.
pub fn month(d: NaiveDate) -> String {
    format!("{} {}", MONTHS[d.month0() as usize], d.year())
}

/// ISO week with its Monday..Sunday: `нед. 49 (30.11–06.12)`.
pub fn week(d: NaiveDate) -> String {
    let w = d.iso_week();
    let monday = NaiveDate::from_isoywd_opt(w.year(), w.week(), chrono::Weekday::Mon).unwrap_or(d);
    let sunday = monday + chrono::Days::new(6);
    format!(
        "нед. {} ({}–{})",
        w.week(),
        monday.format("%d.%m"),
        sunday.format("%d.%m")
    )
}

/// Russian plural form for `n`: `plural(97, "лид", "лида", "лидов")` is
/// `"лидов"`.
pub fn plural<'a>(n: u64, one: &'a str, few: &'a str, many: &'a str) -> &'a str {
    let (m10, m100) = (n % 10, n % 100);
    if m10 == 1 && m100 != 11 {
        one
    } else if (2..=4).contains(&m10) && !(12..=14).contains(&m100) {
        few
    } else {
        many
    }
}

/// The short label of a school time zone: `Europe/Moscow` is `МСК`, any
/// other zone is shown by its IANA name.
pub fn zone_label(tz: &str) -> &str {
    match tz {
        "Europe/Moscow" => "МСК",
        other => other,
    }
}

/// The attribution model in Russian, as named on every dashboard.
pub fn attribution_label(model: &str) -> &str {
    match model {
        "last_touch" => "последнее значимое касание",
        "first_touch" => "первое касание",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn roubles_for_cards() {
        assert_eq!(rub(dec!(52300)), "52\u{202F}300\u{00A0}₽");
        assert_eq!(rub(dec!(1234567.49)), "1\u{202F}234\u{202F}567\u{00A0}₽");
        assert_eq!(rub(dec!(1234567.5)), "1\u{202F}234\u{202F}568\u{00A0}₽");
        assert_eq!(rub(dec!(-1234567.5)), "-1\u{202F}234\u{202F}568\u{00A0}₽");
        assert_eq!(rub(dec!(0)), "0\u{00A0}₽");
        assert_eq!(rub(dec!(-0.4)), "0\u{00A0}₽");
        assert_eq!(rub(dec!(999)), "999\u{00A0}₽");
        assert_eq!(rub(dec!(1000)), "1\u{202F}000\u{00A0}₽");
        assert_eq!(rub(dec!(-1000)), "-1\u{202F}000\u{00A0}₽");
    }

    #[test]
    fn kopecks_for_tables() {
        assert_eq!(
            rub_kop(dec!(1234567.89)),
            "1\u{202F}234\u{202F}567,89\u{00A0}₽"
        );
        assert_eq!(rub_kop(dec!(0)), "0,00\u{00A0}₽");
        assert_eq!(rub_kop(dec!(5)), "5,00\u{00A0}₽");
        assert_eq!(rub_kop(dec!(0.005)), "0,01\u{00A0}₽");
        assert_eq!(rub_kop(dec!(-0.005)), "-0,01\u{00A0}₽");
        assert_eq!(rub_kop(dec!(0.0049)), "0,00\u{00A0}₽");
        assert_eq!(rub_kop(dec!(-0.0049)), "0,00\u{00A0}₽");
        assert_eq!(rub_kop(dec!(2.675)), "2,68\u{00A0}₽");
        assert_eq!(rub_kop(dec!(-12345.5)), "-12\u{202F}345,50\u{00A0}₽");
        assert_eq!(
            rub_kop(dec!(123456789012345.678)),
            "123\u{202F}456\u{202F}789\u{202F}012\u{202F}345,68\u{00A0}₽"
        );
    }

    #[test]
    fn integers() {
        assert_eq!(int(0u64), "0");
        assert_eq!(int(7u64), "7");
        assert_eq!(int(1234u64), "1\u{202F}234");
        assert_eq!(int(-1234i64), "-1\u{202F}234");
        assert_eq!(int(100000u64), "100\u{202F}000");
        assert_eq!(
            int(u64::MAX),
            "18\u{202F}446\u{202F}744\u{202F}073\u{202F}709\u{202F}551\u{202F}615"
        );
    }

    #[test]
    fn percents() {
        assert_eq!(percent(dec!(12.5)), "12,5\u{00A0}%");
        assert_eq!(percent(dec!(12.45)), "12,5\u{00A0}%");
        assert_eq!(percent(dec!(-100)), "-100,0\u{00A0}%");
        assert_eq!(percent(dec!(0)), "0,0\u{00A0}%");
        assert_eq!(percent(dec!(-0.04)), "0,0\u{00A0}%");
        assert_eq!(percent(dec!(1234.56)), "1\u{202F}234,6\u{00A0}%");
    }

    #[test]
    fn undefined_is_a_dash() {
        assert_eq!(rub_opt(None), "—");
        assert_eq!(rub_kop_opt(None), "—");
        assert_eq!(percent_opt(None), "—");
        assert_eq!(percent_opt(Some(dec!(0))), "0,0\u{00A0}%");
    }

    #[test]
    fn dates() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(date(d), "03.12.2026");
        assert_eq!(month(d), "декабрь 2026");
        assert_eq!(
            month(NaiveDate::from_ymd_opt(2027, 1, 31).unwrap()),
            "январь 2027"
        );
        assert_eq!(
            datetime(d.and_hms_opt(9, 15, 59).unwrap()),
            "03.12.2026 09:15"
        );
        assert_eq!(week(d), "нед. 49 (30.11–06.12)");
        assert_eq!(
            week(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()),
            "нед. 53 (28.12–03.01)"
        );
    }

    #[test]
    fn plurals() {
        let f = |n| plural(n, "лид", "лида", "лидов");
        assert_eq!(f(0), "лидов");
        assert_eq!(f(1), "лид");
        assert_eq!(f(2), "лида");
        assert_eq!(f(5), "лидов");
        assert_eq!(f(11), "лидов");
        assert_eq!(f(12), "лидов");
        assert_eq!(f(21), "лид");
        assert_eq!(f(97), "лидов");
        assert_eq!(f(104), "лида");
        assert_eq!(f(111), "лидов");
    }

    #[test]
    fn labels() {
        assert_eq!(zone_label("Europe/Moscow"), "МСК");
        assert_eq!(zone_label("Asia/Yekaterinburg"), "Asia/Yekaterinburg");
        assert_eq!(
            attribution_label("last_touch"),
            "последнее значимое касание"
        );
        assert_eq!(attribution_label("first_touch"), "первое касание");
    }
}
