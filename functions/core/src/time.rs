//! Local dates, weeks and months in the school's time zone.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The local calendar date of an instant in `tz`.
pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Interprets a naive local time in `tz`. In a DST gap the time is taken
/// one hour later; in an overlap the earlier instant wins.
pub fn from_local(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => from_local(naive + chrono::Duration::hours(1), tz),
    }
}

/// End of a local day (the first instant of the next day), in UTC.
pub fn end_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let next = date.succ_opt().expect("date in range");
    from_local(next.and_hms_opt(0, 0, 0).expect("midnight"), tz)
}

/// Parses `YYYY-MM` into the month's first day.
pub fn parse_month(s: &str) -> Option<NaiveDate> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// `YYYY-MM` of a date.
pub fn month_label(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// First day of the date's month.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

/// Number of days in the date's month.
pub fn days_in_month(d: NaiveDate) -> u32 {
    let start = month_start(d);
    let next = start
        .checked_add_months(chrono::Months::new(1))
        .expect("date in range");
    (next - start).num_days() as u32
}

/// Monday of the date's ISO week.
pub fn week_start(d: NaiveDate) -> NaiveDate {
    d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moscow_midnight() {
        let tz: Tz = "Europe/Moscow".parse().unwrap();
        // 21:30 UTC on 1 Dec is 00:30 on 2 Dec in Moscow (UTC+3).
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 21, 30, 0).unwrap();
        assert_eq!(
            local_date(t, tz),
            NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
        );
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 20, 59, 59).unwrap();
        assert_eq!(
            local_date(t, tz),
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
    }

    #[test]
    fn months_and_weeks() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 14).unwrap();
        assert_eq!(days_in_month(d), 29);
        assert_eq!(month_label(d), "2024-02");
        assert_eq!(
            parse_month("2024-02"),
            Some(NaiveDate::from_ymd_opt(2024, 2, 1).unwrap())
        );
        assert_eq!(parse_month("2024-2"), None);
        // 3 Dec 2026 is a Thursday; its ISO week starts Monday 30 Nov.
        let d = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(
            week_start(d),
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
        );
    }
}
