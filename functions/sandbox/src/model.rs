//! The sandbox's own truth types: what really happened in the synthetic
//! school. Tests compute expectations from these; the fake vendor APIs
//! render them in each vendor's wire format. Deliberately independent of
//! `voronka-core`.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Moscow has been UTC+3 all year since 2014.
pub fn moscow() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).expect("valid offset")
}

/// A Moscow wall-clock time as UTC.
pub fn msk(date: NaiveDate, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    let local = date.and_hms_opt(hour, minute, second).expect("valid time");
    moscow()
        .from_local_datetime(&local)
        .single()
        .expect("fixed offset")
        .with_timezone(&Utc)
}

/// The Moscow wall-clock time of a UTC instant.
pub fn to_msk(t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&moscow()).naive_local()
}

/// The Moscow local date of a UTC instant.
pub fn msk_date(t: DateTime<Utc>) -> NaiveDate {
    to_msk(t).date()
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchoolSpec {
    pub seed: u64,
    /// Number of days in the range, ending with `end` (inclusive).
    pub days: u32,
    /// Multiplies volumes (registrations, deals, orders); 1.0 ≈ 100–300
    /// registrations a day.
    pub scale: f64,
    /// Last day of the range (Moscow); nothing happens after its end.
    pub end: NaiveDate,
}

impl Default for SchoolSpec {
    fn default() -> Self {
        SchoolSpec {
            seed: 42,
            days: 90,
            scale: 1.0,
            end: NaiveDate::from_ymd_opt(2026, 11, 30).expect("valid date"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdVendor {
    Facebook,
    YandexDirect,
    Tiktok,
    VkAds,
    MyTarget,
    GoogleAds,
}

impl AdVendor {
    pub fn slug(self) -> &'static str {
        match self {
            AdVendor::Facebook => "facebook",
            AdVendor::YandexDirect => "yandex_direct",
            AdVendor::Tiktok => "tiktok",
            AdVendor::VkAds => "vk_ads",
            AdVendor::MyTarget => "mytarget",
            AdVendor::GoogleAds => "google_ads",
        }
    }
}

/// An advertising account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdAccount {
    pub vendor: AdVendor,
    /// Facebook: the digits of `act_<id>`; Yandex Direct: the client login
    /// (sent as `Client-Login`; the first Yandex account is the token
    /// owner's own and is served when no `Client-Login` is sent).
    pub id: String,
    pub name: String,
    /// ISO code of the account currency (`USD`, `EUR`, `RUB`).
    pub currency: String,
    /// Whether the platform reports spend with VAT (false for all here).
    pub vat_included: bool,
    /// The contractor running the account, if not the school itself.
    pub contractor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub account_id: String,
    pub vendor: AdVendor,
    pub id: String,
    pub name: String,
    /// Google Ads `advertisingChannelType` (`SEARCH`, `VIDEO`); None elsewhere.
    pub channel: Option<String>,
}

/// One day of one campaign of the newer ad vendors (TikTok, VK Ads,
/// myTarget, Google Ads). Only days with delivery have rows (the VK family
/// fakes serve the other days of a requested range as zero rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdRow {
    pub vendor: AdVendor,
    pub account_id: String,
    pub date: NaiveDate,
    pub campaign_id: String,
    pub campaign_name: String,
    /// Google Ads: `SEARCH` or `VIDEO` (YouTube); None elsewhere.
    pub channel: Option<String>,
    /// Account currency, 2 decimal places, VAT excluded.
    pub spend: Decimal,
    pub impressions: u64,
    pub clicks: u64,
}

/// A Bizon365 webinar (one per launch that took place before the horizon).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webinar {
    pub launch_id: u32,
    /// `<group>:<room>*<Moscow local start>`.
    pub id: String,
    /// `<group>:<room>`.
    pub room_id: String,
    pub title: String,
    pub start: DateTime<Utc>,
    pub minutes: u32,
    /// Participants (`count1`).
    pub participants: u32,
}

/// One Bizon365 viewer row (one entry into the room).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebinarViewer {
    pub webinar_id: String,
    pub launch_id: u32,
    /// None for anonymous guests.
    pub person_id: Option<u32>,
    /// The registration that brought the person (truth), if any.
    pub registration_id: Option<u32>,
    /// Whole Moscow days from the registration date to the webinar date.
    pub days_after_registration: Option<i64>,
    /// None for some anonymous guests.
    pub chat_user_id: Option<String>,
    pub username: String,
    /// As typed in the room (may differ from the registration).
    pub email: Option<String>,
    pub phone: Option<String>,
    pub city: String,
    pub view: DateTime<Utc>,
    pub view_till: DateTime<Utc>,
    /// Stayed at least until the offer minute.
    pub stayed_to_offer: bool,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
}

/// One GA4 row: sessions of a (day, source, medium, campaign).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ga4Row {
    pub date: NaiveDate,
    /// GA4 values: `(direct)`, `(none)`, `(organic)` included.
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub sessions: u64,
    pub users: u64,
}

/// A Salebot bot subscriber (`get_clients` item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalebotClient {
    pub id: u64,
    pub person_id: u32,
    pub registration_id: Option<u32>,
    pub platform_id: String,
    /// 1 Telegram, 6 WhatsApp, 0 VK.
    pub client_type: u32,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The bot (group) name.
    pub group: String,
    pub tag: Option<String>,
}

/// A bot "API request" block firing: a lead or an application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalebotEvent {
    pub client_id: u64,
    pub person_id: u32,
    pub registration_id: Option<u32>,
    /// `lead` or `application`.
    pub event: String,
    pub received_at: DateTime<Utc>,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    /// The bot start parameter.
    pub start: String,
    pub tariff: Option<String>,
}

/// One Meta insights row: (day, campaign, publisher_platform). Only days
/// with delivery have rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacebookRow {
    pub account_id: String,
    pub date: NaiveDate,
    pub campaign_id: String,
    pub campaign_name: String,
    /// `facebook` or `instagram`.
    pub publisher_platform: String,
    /// Account currency, 2 decimal places.
    pub spend: Decimal,
    pub impressions: u64,
    pub clicks: u64,
}

/// One Yandex Direct row: (day, campaign), VAT excluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YandexRow {
    pub account_id: String,
    pub date: NaiveDate,
    pub campaign_id: String,
    pub campaign_name: String,
    /// Cost in micros of RUB, a multiple of 10 000 (VAT excluded).
    pub cost_micros: i64,
    pub impressions: u64,
    pub clicks: u64,
}

impl YandexRow {
    pub fn cost(&self) -> Decimal {
        Decimal::new(self.cost_micros, 6)
    }
}

/// The planted spend spike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendSpike {
    pub vendor: AdVendor,
    pub account_id: String,
    pub campaign_id: String,
    pub date: NaiveDate,
    pub factor: f64,
}

/// A webinar launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    pub id: u32,
    pub name: String,
    /// Moscow date of the webinar.
    pub date: NaiveDate,
    /// 19:00 Moscow.
    pub starts_at: DateTime<Utc>,
    pub offer_minute: u32,
}

/// A Tilda form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Form {
    /// `form<digits>`.
    pub id: String,
    pub name: String,
    /// Whether a submission is a webinar registration (a lead).
    pub is_registration: bool,
}

/// A real human in the synthetic world (the identity ground truth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: u32,
    pub first_name: String,
    pub last_name: String,
    /// Canonical: trimmed, lowercase.
    pub email: String,
    /// Canonical: 11 digits starting with 7.
    pub phone: String,
    pub gc_user_id: u64,
    /// Metrica cookie, stable per person.
    pub ym_uid: String,
}

impl Person {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// The true source of a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Touch {
    /// From an ad campaign; `platform` is `facebook`, `instagram` or `yandex`.
    Paid {
        vendor: AdVendor,
        account_id: String,
        campaign_id: String,
        platform: String,
    },
    /// With UTM tags but no ad account (e-mail, Telegram channel, blog).
    Organic { platform: String },
    /// No UTM at all.
    None,
}

/// One Tilda form submission (one `tranid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub id: u32,
    /// `"<project>:<digits>"`, the idempotency key.
    pub tranid: String,
    pub form_id: String,
    pub form_name: String,
    pub is_registration: bool,
    /// The launch this submission is for (registration forms only).
    pub launch_id: Option<u32>,
    pub person_id: u32,
    /// Receipt time of the first delivery.
    pub received_at: DateTime<Utc>,
    /// As typed (raw).
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_content: Option<String>,
    pub utm_term: Option<String>,
    pub cookies: Option<String>,
    pub touch: Touch,
    /// Set on a second submission by the same person, same form, same day.
    pub duplicate_of: Option<u32>,
    /// Tilda delivered this submission twice (same tranid, a minute apart).
    pub redelivered: bool,
    /// Planted: an application (callback form) by a person who gets no
    /// amoCRM deal at all (the "lost leads" check must find it).
    pub lost_lead: bool,
}

/// An amoCRM user (manager).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub id: u64,
    pub name: String,
    pub sort: u32,
    /// 1 = Неразобранное, 0 = normal (142 and 143 are type 0 too).
    pub kind: u8,
    pub color: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub id: u64,
    pub name: String,
    pub sort: u32,
    pub is_main: bool,
    pub statuses: Vec<Status>,
}

/// An amoCRM contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: u64,
    pub person_id: u32,
    pub name: String,
    pub first_name: String,
    pub last_name: String,
    pub responsible_user_id: u64,
    /// Raw values as stored in the CRM (free text).
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One `lead_status_changed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// ULID-like string.
    pub id: String,
    pub deal_id: u64,
    pub pipeline_id: u64,
    pub from_status: u64,
    pub to_status: u64,
    pub created_by: u64,
    pub created_at: DateTime<Utc>,
}

/// An amoCRM deal (lead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    pub id: u64,
    pub name: String,
    pub person_id: u32,
    pub contact_id: u64,
    pub price: i64,
    pub responsible_user_id: u64,
    pub pipeline_id: u64,
    pub status_id: u64,
    pub loss_reason_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub launch_id: Option<u32>,
    /// The registration the deal came from, if any.
    pub registration_id: Option<u32>,
    /// Planted: the deal was created before the person's first registration.
    pub before_registration: bool,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_content: Option<String>,
    /// A numeric custom field ("Баллы теста"), served as a string.
    pub quiz_score: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// "Получен" (accepted): money in.
    Received,
    /// "Возвращен" (returned): a refund of `amount`, on its own row and date.
    Refunded,
    /// "Ожидается" (expected): not money.
    Expected,
}

impl PaymentStatus {
    pub fn label(self) -> &'static str {
        match self {
            PaymentStatus::Received => "Получен",
            PaymentStatus::Refunded => "Возвращен",
            PaymentStatus::Expected => "Ожидается",
        }
    }
}

/// A GetCourse order (deal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// `ID заказа` (system id).
    pub id: u64,
    /// `Номер` (human number; payments' `Заказ` refers to it).
    pub number: u64,
    pub person_id: u32,
    pub gc_user_id: u64,
    pub user_name: String,
    pub email: String,
    pub phone: String,
    pub created_at: DateTime<Utc>,
    /// `Дата оплаты`: time of the payment that completed the order.
    pub paid_at: Option<DateTime<Utc>>,
    pub product: String,
    /// Russian status label (`Завершен`, `Частично оплачен`, `Отменен`, ...).
    pub status: String,
    pub cost: Decimal,
    /// Received minus refunded, as GetCourse shows it (`Оплачено`).
    pub paid: Decimal,
    /// `Получено`: paid minus commissions.
    pub received: Decimal,
    /// `Менеджер`: an amoCRM user's name, or empty.
    pub manager: String,
    /// The amoCRM deal this order belongs to (truth).
    pub deal_id: Option<u64>,
    /// Whether `ID сделки amoCRM` is filled in the export.
    pub deal_id_in_export: bool,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_content: String,
    pub utm_term: String,
    pub tags: Vec<String>,
    /// Planted: a second order of a person who already bought.
    pub repeat: bool,
}

/// A GetCourse payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    /// `Номер` (the dedupe key).
    pub number: u64,
    /// `Заказ`: the order's `Номер`.
    pub order_number: u64,
    /// Whether `order_number` matches an order (false for the planted orphan).
    pub order_exists: bool,
    pub user_name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    /// `Тип`.
    pub method: String,
    pub status: PaymentStatus,
    /// Positive; a refund's amount is what was returned.
    pub amount: Decimal,
    pub commission: Decimal,
    pub code: String,
    pub title: String,
    /// Planted: this row appears twice in every export containing it (and
    /// also in an export of the following day).
    pub duplicated_in_export: bool,
}

impl Payment {
    /// Money effect: + received, − refunded, 0 expected.
    pub fn signed_amount(&self) -> Decimal {
        match self.status {
            PaymentStatus::Received => self.amount,
            PaymentStatus::Refunded => -self.amount,
            PaymentStatus::Expected => Decimal::ZERO,
        }
    }
}

/// A CBR rate set taking effect on `date` (Tuesday to Saturday).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateSet {
    pub date: NaiveDate,
    pub rates: Vec<Rate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// `R01235` ...
    pub id: String,
    pub num_code: String,
    pub char_code: String,
    pub nominal: u32,
    pub name: String,
    /// RUB per `nominal` units, 4 decimal places.
    pub value: Decimal,
}

/// The whole synthetic school.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct School {
    pub spec: SchoolSpec,
    /// First day of the range (Moscow).
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// End of `end` in Moscow: nothing happens after it.
    pub horizon: DateTime<Utc>,
    pub accounts: Vec<AdAccount>,
    pub campaigns: Vec<Campaign>,
    pub facebook_rows: Vec<FacebookRow>,
    pub yandex_rows: Vec<YandexRow>,
    pub spend_spike: SpendSpike,
    /// TikTok, VK Ads, myTarget and Google Ads rows, by (date, campaign).
    pub ad_rows: Vec<AdRow>,
    pub launches: Vec<Launch>,
    pub forms: Vec<Form>,
    pub persons: Vec<Person>,
    /// In receipt order.
    pub registrations: Vec<Registration>,
    pub amocrm_account_id: u64,
    pub users: Vec<User>,
    pub pipelines: Vec<Pipeline>,
    pub contacts: Vec<Contact>,
    pub deals: Vec<Deal>,
    pub events: Vec<StatusEvent>,
    pub orders: Vec<Order>,
    pub payments: Vec<Payment>,
    /// Sorted by effective date.
    pub rates: Vec<RateSet>,
    /// Bizon365 webinars, by start.
    pub webinars: Vec<Webinar>,
    /// By (webinar, view).
    pub webinar_viewers: Vec<WebinarViewer>,
    /// By (date, source, medium, campaign).
    pub ga4_rows: Vec<Ga4Row>,
    /// By id (= creation order).
    pub salebot_clients: Vec<SalebotClient>,
    /// In receipt order.
    pub salebot_events: Vec<SalebotEvent>,
}

impl School {
    pub fn person(&self, id: u32) -> &Person {
        &self.persons[id as usize]
    }

    pub fn account(&self, id: &str) -> Option<&AdAccount> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The rate set in force on `date`: greatest effective date ≤ `date`
    /// (clamped to the first set for earlier dates).
    pub fn rates_on(&self, date: NaiveDate) -> &RateSet {
        let i = self.rates.partition_point(|r| r.date <= date);
        &self.rates[i.saturating_sub(1)]
    }

    /// The single RUB-per-unit rate of `char_code` in force on `date`.
    pub fn rate(&self, char_code: &str, date: NaiveDate) -> Option<Decimal> {
        self.rates_on(date)
            .rates
            .iter()
            .find(|r| r.char_code == char_code)
            .map(|r| r.value / Decimal::from(r.nominal))
    }
}
