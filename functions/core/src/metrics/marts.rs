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

/// One manager and month (metrics.md §6; `managers.csv`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerRow {
    /// `YYYY-MM`.
    pub month: String,
    /// As the CRM spells it; "(без менеджера)" for the unassigned.
    pub manager: String,
    /// Deals assigned, by the local month of the deal's creation.
    pub leads: u64,
    /// Their orders' sales, in the month of the first payment.
    pub sales: u64,
    /// All their orders' payments dated in the month (cash view).
    pub revenue: Decimal,
    /// Over the month's sales, payments to `as_of`.
    pub avg_check1: Option<Decimal>,
    pub avg_check2: Option<Decimal>,
    /// CR(deal -> sale) = sales / leads.
    pub conversion: Option<Decimal>,
    /// Allocated spend: Σ over the manager's deals of the CPL of the lead
    /// behind the deal (its channel key and day).
    pub spend: Decimal,
    pub romi1: Option<Decimal>,
    pub romi2: Option<Decimal>,
    pub plan_revenue: Option<Decimal>,
    pub plan_sales: Option<u32>,
    /// max(plan - fact, 0) for the revenue plan.
    pub remaining: Option<Decimal>,
    /// fact / plan x 100 for the revenue plan.
    pub percent: Option<Decimal>,
    pub remaining_sales: Option<u32>,
    /// Run-rate forecast of revenue to month end.
    pub forecast: Option<Decimal>,
}

/// One manager and ISO week (weekly summaries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerWeekRow {
    /// Monday of the ISO week.
    pub week: NaiveDate,
    pub manager: String,
    pub leads: u64,
    pub sales: u64,
    pub revenue: Decimal,
    pub conversion: Option<Decimal>,
}

/// One cohort and age (metrics.md §5; `cohorts.csv`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortCell {
    /// `month` or `week`.
    pub granularity: String,
    /// `YYYY-MM`, or the ISO week's Monday `YYYY-MM-DD`.
    pub cohort: String,
    /// 0 = the cohort's own month (week).
    pub age: u32,
    /// Cumulative customers to this age.
    pub customers: u64,
    /// Cumulative revenue2 to this age (projected when `forecast`).
    pub revenue2: Decimal,
    /// Spend of the cohort's month (week).
    pub spend: Decimal,
    pub ltv2: Option<Decimal>,
    pub romi2: Option<Decimal>,
    pub forecast: bool,
}

/// A slice of the funnel: one lead date and combination of dimensions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelRow {
    pub date: NaiveDate,
    pub platform: String,
    pub campaign: String,
    pub contractor: String,
    /// GetCourse offer / amoCRM product ("" when unknown).
    pub product: String,
    pub manager: String,
    pub leads: u64,
    pub attendees: u64,
    pub stayed_to_offer: u64,
    pub applications: u64,
    pub sales: u64,
    pub revenue1: Decimal,
    pub revenue2: Decimal,
}

/// How many deals reached each status of an ordered pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineStageRow {
    pub pipeline_id: String,
    pub pipeline: String,
    pub status_id: String,
    pub status: String,
    pub sort: i64,
    /// Deals now in this status or past it.
    pub reached: u64,
    /// Deals now in this status.
    pub current: u64,
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
    #[serde(default)]
    pub managers: Vec<ManagerRow>,
    #[serde(default)]
    pub manager_weeks: Vec<ManagerWeekRow>,
    #[serde(default)]
    pub cohorts: Vec<CohortCell>,
    #[serde(default)]
    pub funnel: Vec<FunnelRow>,
    #[serde(default)]
    pub pipeline_stages: Vec<PipelineStageRow>,
}
