//! The metric tables ("marts") the engine produces and the site renders.
//! Money is `Decimal` at full precision; rounding happens per displayed or
//! exported cell. Undefined ratios are `None` (shown as "—").

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The channel key of unattributed rows.
pub const UNDEFINED_PLATFORM: &str = "(не определено)";
pub const NO_CONTRACTOR: &str = "(без подрядчика)";
pub const NO_MANAGER: &str = "(без менеджера)";

/// (platform, campaign label, contractor).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChannelKey {
    pub platform: String,
    pub campaign: String,
    pub contractor: String,
}

impl ChannelKey {
    pub fn undefined() -> ChannelKey {
        ChannelKey {
            platform: UNDEFINED_PLATFORM.to_string(),
            campaign: String::new(),
            contractor: NO_CONTRACTOR.to_string(),
        }
    }
}

/// One row of `channels.csv` (cohort view): a date and channel key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRow {
    pub date: NaiveDate,
    pub platform: String,
    pub campaign: String,
    pub contractor: String,
    /// RUB, after multiplier and conversion.
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
}

/// One row of `cash.csv` (cash view): money by the day it moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashRow {
    pub date: NaiveDate,
    /// Payments dated that day, refunds subtracted, unmatched included.
    pub revenue: Decimal,
    pub prepayments: Decimal,
    pub surcharges: Decimal,
    /// Negative.
    pub refunds: Decimal,
    pub spend: Decimal,
}

/// Headline figures for a period (cohort view unless noted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub spend: Decimal,
    pub impressions: u64,
    pub clicks: u64,
    pub leads: u64,
    pub applications: u64,
    pub sales: u64,
    pub customers: u64,
    pub revenue1: Decimal,
    pub revenue2: Decimal,
    /// Cash view: payments dated in the period.
    pub cash_revenue: Decimal,
    pub prepayments: Decimal,
    pub surcharges: Decimal,
    pub refunds: Decimal,
    pub variable_costs: Decimal,
    pub margin: Decimal,
    pub cpl: Option<Decimal>,
    pub cac: Option<Decimal>,
    pub avg_check1: Option<Decimal>,
    pub avg_check2: Option<Decimal>,
    pub ltv1: Option<Decimal>,
    pub ltv2: Option<Decimal>,
    /// Percent.
    pub romi1: Option<Decimal>,
    /// Percent.
    pub romi2: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Green,
    Yellow,
    Red,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Green => "green",
            CheckStatus::Yellow => "yellow",
            CheckStatus::Red => "red",
        }
    }
}

/// One data check result (`checks.csv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Check id (`freshness`, `reconciliation`, ...).
    pub check: String,
    /// What it concerns (`amocrm:main`, `facebook 2026-11-30`, `all`).
    pub scope: String,
    pub status: CheckStatus,
    /// One line: what is wrong and what to fix (Russian, for the user).
    pub detail: String,
}

/// Per-source ingest status, from the run log (feeds freshness).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub source: String,
    pub account: String,
    pub last_success: Option<chrono::DateTime<chrono::Utc>>,
    pub latest_data: Option<NaiveDate>,
    pub last_error: Option<String>,
}

/// Everything one aggregation produced, for one `as_of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marts {
    pub as_of: NaiveDate,
    pub timezone: String,
    /// `last_touch` or `first_touch`.
    pub attribution: String,
    pub channels: Vec<ChannelRow>,
    pub cash: Vec<CashRow>,
    /// Whole history to `as_of`.
    pub summary: Summary,
    pub checks: Vec<CheckResult>,
}
