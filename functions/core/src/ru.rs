//! Russian number formatting for the texts the engine writes itself (data
//! check details): `1 234 567,89 ₽`, `12,5 %`, plural forms. The site
//! formats everything else; this is the minimum the core's own sentences
//! need, kept pure.

use crate::money::round_kopecks;
use rust_decimal::Decimal;

/// Narrow no-break space between thousands.
const THIN: char = '\u{202F}';
/// No-break space before a unit.
const NBSP: char = '\u{00A0}';

fn group(int: &str) -> String {
    let (sign, digits) = match int.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", int),
    };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(THIN);
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// Money: kopecks only when there are any (`9 900 ₽`, `1 234,56 ₽`).
pub fn money(d: Decimal) -> String {
    let r = round_kopecks(d);
    let s = format!("{r:.2}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    if frac == "00" {
        format!("{}{NBSP}₽", group(int))
    } else {
        format!("{},{frac}{NBSP}₽", group(int))
    }
}

/// Percent with one decimal and a decimal comma (`15,5 %`).
pub fn percent(d: Decimal) -> String {
    let s = format!("{:.1}", d.round_dp(1));
    format!("{}{NBSP}%", s.replace('.', ","))
}

/// `n` with the Russian plural form: `plural(1, "платёж", "платежа",
/// "платежей")` → "1 платёж", 3 → "3 платежа", 11 → "11 платежей".
pub fn plural(n: u64, one: &str, few: &str, many: &str) -> String {
    let word = match (n % 10, n % 100) {
        (_, 11..=14) => many,
        (1, _) => one,
        (2..=4, _) => few,
        _ => many,
    };
    format!("{}{NBSP}{word}", group(&n.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn formats() {
        assert_eq!(money(dec!(9900)), "9\u{202F}900\u{A0}₽");
        assert_eq!(
            money(dec!(1234567.891)),
            "1\u{202F}234\u{202F}567,89\u{A0}₽"
        );
        assert_eq!(money(dec!(-208.46)), "-208,46\u{A0}₽");
        assert_eq!(percent(dec!(15.46)), "15,5\u{A0}%");
        assert_eq!(plural(1, "платёж", "платежа", "платежей"), "1\u{A0}платёж");
        assert_eq!(plural(3, "платёж", "платежа", "платежей"), "3\u{A0}платежа");
        assert_eq!(
            plural(11, "платёж", "платежа", "платежей"),
            "11\u{A0}платежей"
        );
        assert_eq!(
            plural(21, "платёж", "платежа", "платежей"),
            "21\u{A0}платёж"
        );
        assert_eq!(
            plural(1000, "день", "дня", "дней"),
            "1\u{202F}000\u{A0}дней"
        );
    }
}
