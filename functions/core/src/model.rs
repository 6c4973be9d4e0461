//! The canonical model: what every source is normalized into.
//!
//! Connectors produce these records from vendor payloads; the metric engine
//! consumes only these. Nothing here knows a wire format. Times are UTC
//! instants (`DateTime<Utc>`); ad-platform statistics carry the platform's
//! own calendar date (the platform reports per day in the account's zone).
//! Money is always [`Decimal`] in the record's own `currency`; conversion to
//! the reporting currency happens in the metric engine.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// UTM tags as the source reported them (trimmed; empty = absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Utm {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub medium: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub campaign: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub term: String,
}

impl Utm {
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
            && self.medium.is_empty()
            && self.campaign.is_empty()
            && self.content.is_empty()
            && self.term.is_empty()
    }
}

/// Whether a cost figure already includes VAT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VatMode {
    Included,
    Excluded,
    #[default]
    Unknown,
}

/// Which ad object a statistics row describes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatLevel {
    Account,
    #[default]
    Campaign,
    AdGroup,
    Ad,
}

/// One day of one ad object's statistics (spend, impressions, clicks).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AdStat {
    pub source: String,
    pub account: String,
    /// The platform's calendar date (account time zone).
    pub date: NaiveDate,
    /// Canonical platform (`facebook`, `instagram`, `yandex`, ...).
    pub platform: String,
    pub level: StatLevel,
    pub campaign_id: String,
    pub campaign_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ad_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ad_name: String,
    pub impressions: u64,
    pub clicks: u64,
    /// Spend in `currency`, as reported (before multiplier and conversion).
    pub spend: Decimal,
    pub currency: String,
    pub vat: VatMode,
}

/// Web-analytics sessions for one day and traffic source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Session {
    pub source: String,
    pub account: String,
    pub date: NaiveDate,
    pub utm: Utm,
    /// The source's own dimension values (e.g. GA4 `(direct)|(none)|…`),
    /// kept so that rows which normalize to the same UTM stay distinct.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dims: String,
    pub sessions: u64,
    pub users: u64,
}

/// A registration (form submission, bot subscription): the touch that
/// attribution credits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Lead {
    pub source: String,
    pub account: String,
    /// Source-side id, the re-delivery dedupe key (Tilda `tranid`).
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// Form (or bot/webinar) identifier.
    pub form: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub form_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone: String,
    pub utm: Utm,
    /// Extra fields kept for display and identity stitching (cookies etc.).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// A webinar (room session) with its start and offer minute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Webinar {
    pub source: String,
    pub account: String,
    pub id: String,
    pub name: String,
    pub start: DateTime<Utc>,
    pub duration_minutes: u32,
    /// Minute of the sales offer, when known (else the config default).
    pub offer_minute: Option<u32>,
}

/// One person's presence at a webinar.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WebinarViewer {
    pub source: String,
    pub account: String,
    pub webinar_id: String,
    pub viewer_id: String,
    pub webinar_start: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone: String,
    pub view_from: DateTime<Utc>,
    pub view_till: DateTime<Utc>,
    pub utm: Utm,
}

/// A CRM deal (application worked by sales managers).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Deal {
    pub source: String,
    pub account: String,
    pub id: String,
    pub name: String,
    pub pipeline_id: String,
    pub status_id: String,
    pub responsible_user_id: String,
    pub price: Decimal,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub contact_ids: Vec<String>,
    pub utm: Utm,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub product: String,
    #[serde(default)]
    pub deleted: bool,
}

/// A CRM contact: the bridge between deals and people.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Contact {
    pub source: String,
    pub account: String,
    pub id: String,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A sales manager (CRM user).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Manager {
    pub source: String,
    pub account: String,
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
}

/// Kind of a pipeline status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    Unsorted,
    Open,
    Won,
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PipelineStatus {
    pub id: String,
    pub name: String,
    pub sort: i64,
    pub kind: StatusKind,
}

/// A CRM pipeline with its ordered statuses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pipeline {
    pub source: String,
    pub account: String,
    pub id: String,
    pub name: String,
    pub statuses: Vec<PipelineStatus>,
}

/// A deal's move between statuses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StatusChange {
    pub source: String,
    pub account: String,
    pub id: String,
    pub deal_id: String,
    pub at: DateTime<Utc>,
    pub from_pipeline_id: String,
    pub from_status_id: String,
    pub to_pipeline_id: String,
    pub to_status_id: String,
}

/// Order status, mapped from the billing system's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    New,
    InProgress,
    PartPaid,
    Paid,
    Cancelled,
    /// "Ложный": a fake/test order.
    False,
}

/// An order (GetCourse deal): what was sold, to whom, for how much.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Order {
    pub source: String,
    pub account: String,
    /// System id.
    pub id: String,
    /// Human number (payments refer to it).
    pub number: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone: String,
    pub cost: Decimal,
    pub currency: String,
    pub status: OrderStatus,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub product: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manager: String,
    /// The CRM deal id, where the school stores it on the order.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub crm_deal_id: String,
    pub utm: Utm,
}

/// Payment status; only `Received` and `Refunded` are money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Received,
    Refunded,
    Expected,
    Other,
}

/// Money received on (or returned from) an order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Payment {
    pub source: String,
    pub account: String,
    /// Payment number: the dedupe key.
    pub id: String,
    /// The order's human number ("" when unknown).
    pub order_number: String,
    pub paid_at: DateTime<Utc>,
    /// Positive for received money, negative for a refund.
    pub amount: Decimal,
    pub currency: String,
    pub status: PaymentStatus,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone: String,
}

/// A currency rate set by the Central Bank, effective from `date`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rate {
    pub source: String,
    /// Effective date (`ValCurs/@Date`).
    pub date: NaiveDate,
    /// ISO code (`USD`).
    pub currency: String,
    pub nominal: u32,
    /// Roubles per `nominal` units.
    pub value: Decimal,
}

impl Rate {
    /// Roubles per one unit, full precision.
    pub fn per_unit(&self) -> Decimal {
        self.value / Decimal::from(self.nominal.max(1))
    }
}

/// A cost no API reports (bloggers, posts, fees), from a CSV upload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ManualCost {
    pub source: String,
    pub account: String,
    pub date: NaiveDate,
    pub platform: String,
    pub campaign: String,
    pub contractor: String,
    pub amount: Decimal,
    pub currency: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Line number in the uploaded file.
    pub line: u32,
}

/// Any canonical record, tagged by entity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "entity", rename_all = "snake_case")]
pub enum Record {
    AdStat(AdStat),
    Session(Session),
    Lead(Lead),
    Webinar(Webinar),
    WebinarViewer(WebinarViewer),
    Deal(Deal),
    Contact(Contact),
    Manager(Manager),
    Pipeline(Pipeline),
    StatusChange(StatusChange),
    Order(Order),
    Payment(Payment),
    Rate(Rate),
    ManualCost(ManualCost),
}

/// Entity names, used as the first level of the `normalized/` zone.
pub const ENTITIES: [&str; 14] = [
    "ad_stat",
    "session",
    "lead",
    "webinar",
    "webinar_viewer",
    "deal",
    "contact",
    "manager",
    "pipeline",
    "status_change",
    "order",
    "payment",
    "rate",
    "manual_cost",
];

impl Record {
    pub fn entity(&self) -> &'static str {
        match self {
            Record::AdStat(_) => "ad_stat",
            Record::Session(_) => "session",
            Record::Lead(_) => "lead",
            Record::Webinar(_) => "webinar",
            Record::WebinarViewer(_) => "webinar_viewer",
            Record::Deal(_) => "deal",
            Record::Contact(_) => "contact",
            Record::Manager(_) => "manager",
            Record::Pipeline(_) => "pipeline",
            Record::StatusChange(_) => "status_change",
            Record::Order(_) => "order",
            Record::Payment(_) => "payment",
            Record::Rate(_) => "rate",
            Record::ManualCost(_) => "manual_cost",
        }
    }

    pub fn source(&self) -> &str {
        match self {
            Record::AdStat(r) => &r.source,
            Record::Session(r) => &r.source,
            Record::Lead(r) => &r.source,
            Record::Webinar(r) => &r.source,
            Record::WebinarViewer(r) => &r.source,
            Record::Deal(r) => &r.source,
            Record::Contact(r) => &r.source,
            Record::Manager(r) => &r.source,
            Record::Pipeline(r) => &r.source,
            Record::StatusChange(r) => &r.source,
            Record::Order(r) => &r.source,
            Record::Payment(r) => &r.source,
            Record::Rate(r) => &r.source,
            Record::ManualCost(r) => &r.source,
        }
    }

    pub fn account(&self) -> &str {
        match self {
            Record::AdStat(r) => &r.account,
            Record::Session(r) => &r.account,
            Record::Lead(r) => &r.account,
            Record::Webinar(r) => &r.account,
            Record::WebinarViewer(r) => &r.account,
            Record::Deal(r) => &r.account,
            Record::Contact(r) => &r.account,
            Record::Manager(r) => &r.account,
            Record::Pipeline(r) => &r.account,
            Record::StatusChange(r) => &r.account,
            Record::Order(r) => &r.account,
            Record::Payment(r) => &r.account,
            Record::Rate(_) => "",
            Record::ManualCost(r) => &r.account,
        }
    }

    /// The identity of a record within its (entity, source, account): a
    /// later version with the same key replaces an earlier one.
    pub fn key(&self) -> String {
        match self {
            Record::AdStat(r) => format!(
                "{}|{}|{:?}|{}|{}",
                r.date, r.platform, r.level, r.campaign_id, r.ad_id
            ),
            Record::Session(r) => format!(
                "{}|{}|{}|{}|{}|{}|{}",
                r.date,
                r.utm.source,
                r.utm.medium,
                r.utm.campaign,
                r.utm.content,
                r.utm.term,
                r.dims
            ),
            Record::Lead(r) => r.id.clone(),
            Record::Webinar(r) => r.id.clone(),
            Record::WebinarViewer(r) => format!("{}|{}", r.webinar_id, r.viewer_id),
            Record::Deal(r) => r.id.clone(),
            Record::Contact(r) => r.id.clone(),
            Record::Manager(r) => r.id.clone(),
            Record::Pipeline(r) => r.id.clone(),
            Record::StatusChange(r) => r.id.clone(),
            Record::Order(r) => r.id.clone(),
            Record::Payment(r) => r.id.clone(),
            Record::Rate(r) => format!("{}|{}", r.date, r.currency),
            Record::ManualCost(r) => format!("{}|{}", r.date, r.line),
        }
    }

    /// The UTC day a record is partitioned under in `normalized/`
    /// (`None` for dimension records kept in one `all` partition).
    pub fn partition_day(&self) -> Option<NaiveDate> {
        match self {
            Record::AdStat(r) => Some(r.date),
            Record::Session(r) => Some(r.date),
            Record::Lead(r) => Some(r.created_at.date_naive()),
            Record::Webinar(r) => Some(r.start.date_naive()),
            Record::WebinarViewer(r) => Some(r.webinar_start.date_naive()),
            Record::Deal(r) => Some(r.created_at.date_naive()),
            Record::Contact(r) => Some(r.created_at.date_naive()),
            Record::Manager(_) | Record::Pipeline(_) => None,
            Record::StatusChange(r) => Some(r.at.date_naive()),
            Record::Order(r) => Some(r.created_at.date_naive()),
            Record::Payment(r) => Some(r.paid_at.date_naive()),
            Record::Rate(r) => Some(r.date),
            Record::ManualCost(r) => Some(r.date),
        }
    }

    /// For date-window sources (ad stats, sessions, manual costs): the date
    /// a re-fetched window (or a newer upload of a costs file) replaces.
    /// Records of other entities are upserts by key and never removed by a
    /// window.
    pub fn window_day(&self) -> Option<NaiveDate> {
        match self {
            Record::AdStat(r) => Some(r.date),
            Record::Session(r) => Some(r.date),
            Record::ManualCost(r) => Some(r.date),
            _ => None,
        }
    }
}

/// Every normalized record of a school, grouped by entity; the input of
/// the metric engine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub ad_stats: Vec<AdStat>,
    pub sessions: Vec<Session>,
    pub leads: Vec<Lead>,
    pub webinars: Vec<Webinar>,
    pub viewers: Vec<WebinarViewer>,
    pub deals: Vec<Deal>,
    pub contacts: Vec<Contact>,
    pub managers: Vec<Manager>,
    pub pipelines: Vec<Pipeline>,
    pub status_changes: Vec<StatusChange>,
    pub orders: Vec<Order>,
    pub payments: Vec<Payment>,
    pub rates: Vec<Rate>,
    pub manual_costs: Vec<ManualCost>,
}

impl Dataset {
    pub fn push(&mut self, record: Record) {
        match record {
            Record::AdStat(r) => self.ad_stats.push(r),
            Record::Session(r) => self.sessions.push(r),
            Record::Lead(r) => self.leads.push(r),
            Record::Webinar(r) => self.webinars.push(r),
            Record::WebinarViewer(r) => self.viewers.push(r),
            Record::Deal(r) => self.deals.push(r),
            Record::Contact(r) => self.contacts.push(r),
            Record::Manager(r) => self.managers.push(r),
            Record::Pipeline(r) => self.pipelines.push(r),
            Record::StatusChange(r) => self.status_changes.push(r),
            Record::Order(r) => self.orders.push(r),
            Record::Payment(r) => self.payments.push(r),
            Record::Rate(r) => self.rates.push(r),
            Record::ManualCost(r) => self.manual_costs.push(r),
        }
    }

    pub fn len(&self) -> usize {
        self.ad_stats.len()
            + self.sessions.len()
            + self.leads.len()
            + self.webinars.len()
            + self.viewers.len()
            + self.deals.len()
            + self.contacts.len()
            + self.managers.len()
            + self.pipelines.len()
            + self.status_changes.len()
            + self.orders.len()
            + self.payments.len()
            + self.rates.len()
            + self.manual_costs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
