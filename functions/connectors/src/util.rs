//! Small helpers shared by the connector modules.

use chrono::NaiveDate;
use voronka_core::config::AccountConfig;

/// A connector option as trimmed, non-empty text.
pub(crate) fn option_str<'a>(account: &'a AccountConfig, key: &str) -> Option<&'a str> {
    account
        .options
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Splits an inclusive date window into chunks of at most `max_days` days.
pub(crate) fn chunks(from: NaiveDate, to: NaiveDate, max_days: i64) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + chrono::Duration::days(max_days - 1)).min(to);
        out.push((start, end));
        start = end + chrono::Duration::days(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_window_without_overlap() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert_eq!(
            chunks(d(1, 1), d(2, 5), 30),
            vec![(d(1, 1), d(1, 30)), (d(1, 31), d(2, 5))]
        );
        assert_eq!(chunks(d(1, 2), d(1, 1), 30), vec![]);
    }
}
