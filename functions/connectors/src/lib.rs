//! Vendor connectors: the only crate that parses vendor wire formats.
//!
//! A connector is small and mostly pure (see [`Connector`]): it plans the
//! jobs of a run, builds each request, reads each response to decide the
//! next step, and normalizes a stored raw response into canonical records.
//! The generic [`driver`] owns everything else: credentials, rate limits,
//! retries with backoff, honouring `Retry-After`-style waits, and writing
//! every response to the `raw/` zone *before* anything parses it.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::time::Duration;
use voronka_core::config::AccountConfig;
use voronka_core::model::Record;

pub mod auth;
pub mod driver;
pub mod raw;
mod util;

pub mod amocrm;
pub mod cbr;
pub mod facebook;
pub mod getcourse;
pub mod tilda;
pub mod yandex_direct;

pub mod google_ads;
pub mod tiktok;
pub mod vk_ads;

pub mod bizon365;
pub mod ga4;
pub mod salebot;

pub mod manual_costs;
pub mod telegram_ads;

pub mod email;

pub use raw::RawEnvelope;

/// Every slug this crate implements, in ingest order (rates first).
pub const SLUGS: [&str; 17] = [
    "cbr",
    "amocrm",
    "getcourse",
    "yandex_direct",
    "facebook",
    "tilda",
    "tiktok",
    "vk_ads",
    "mytarget",
    "google_ads",
    "bizon365",
    "salebot",
    "ga4",
    "unisender",
    "sendpulse",
    "telegram_ads",
    "manual_costs",
];

/// Looks up a connector by slug.
pub fn connector(slug: &str) -> Option<Box<dyn Connector>> {
    Some(match slug {
        "amocrm" => Box::new(amocrm::Amocrm),
        "cbr" => Box::new(cbr::Cbr),
        "facebook" => Box::new(facebook::Facebook),
        "getcourse" => Box::new(getcourse::Getcourse),
        "tilda" => Box::new(tilda::Tilda),
        "yandex_direct" => Box::new(yandex_direct::YandexDirect),
        "tiktok" => Box::new(tiktok::Tiktok),
        "vk_ads" => Box::new(vk_ads::VK_ADS),
        "mytarget" => Box::new(vk_ads::MYTARGET),
        "google_ads" => Box::new(google_ads::GoogleAds),
        "bizon365" => Box::new(bizon365::Bizon365),
        "salebot" => Box::new(salebot::Salebot),
        "ga4" => Box::new(ga4::Ga4),
        "unisender" => Box::new(email::UNISENDER),
        "sendpulse" => Box::new(email::SENDPULSE),
        "telegram_ads" => Box::new(telegram_ads::TelegramAds),
        "manual_costs" => Box::new(manual_costs::ManualCosts),
        _ => return None,
    })
}

/// An HTTP request as a connector wants it sent. The driver adds
/// credentials (per [`AuthScheme`]) and never lets them reach `raw/`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub method: String,
    /// Absolute URL without credentials.
    pub url: String,
    #[serde(default)]
    pub query: Vec<(String, String)>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Request {
    pub fn get(url: impl Into<String>) -> Request {
        Request {
            method: "GET".into(),
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }
    pub fn post_json(url: impl Into<String>, body: &serde_json::Value) -> Request {
        Request {
            method: "POST".into(),
            url: url.into(),
            query: Vec::new(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body.to_string()),
        }
    }
    pub fn query(mut self, k: impl Into<String>, v: impl Into<String>) -> Request {
        self.query.push((k.into(), v.into()));
        self
    }
    pub fn header(mut self, k: impl Into<String>, v: impl Into<String>) -> Request {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// A response as received (body bytes untouched).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
    pub body: bytes::Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// How the driver authenticates requests for a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    None,
    /// `Authorization: Bearer <credential>`.
    Bearer {
        credential: &'static str,
    },
    /// A custom header carrying the credential (`X-Token`, `Access-Token`).
    Header {
        name: &'static str,
        credential: &'static str,
    },
    /// A query parameter carrying the credential (`key`, `access_token`).
    Query {
        param: &'static str,
        credential: &'static str,
    },
    /// The credential as a URL path segment: the connector writes
    /// `placeholder` (e.g. `{api_key}`) into [`Request::url`]; the driver
    /// substitutes the percent-encoded secret on the wire only (`raw/` and
    /// errors show `***`). A request whose URL lacks the placeholder fails.
    PathSegment {
        placeholder: &'static str,
        credential: &'static str,
    },
    /// Several credentials on every request (e.g. an OAuth2 Bearer token
    /// plus Google's `developer-token` header). At most one entry may be
    /// [`AuthScheme::OAuth2`]; nesting `All` is not supported.
    All(&'static [AuthScheme]),
    /// An access token obtained (and cached in the driver's token store)
    /// through an OAuth2 flow, sent as `Authorization: Bearer`. See
    /// [`auth`] for the flows, the credentials they read and crash safety.
    OAuth2(OAuthFlow),
}

/// How an OAuth2 access token is obtained. Token endpoints: an absolute
/// `token_url`, or `token_url_path` appended to the account's base URL;
/// the account option `token_url` overrides either (sandbox, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthFlow {
    /// Refresh token that ROTATES on every refresh (amoCRM): JSON body
    /// `{client_id, client_secret, grant_type:"refresh_token",
    /// refresh_token, redirect_uri}`; the new pair is journaled and
    /// committed to the token store before use. Credentials
    /// `client_secret`, `refresh_token` (the first one only); `client_id`
    /// and `redirect_uri` from credentials or options.
    RefreshRotating { token_url_path: &'static str },
    /// Refresh token that does not rotate (Google): form body
    /// `grant_type=refresh_token&client_id&client_secret&refresh_token`.
    /// Credentials `client_id` (or option), `client_secret`,
    /// `refresh_token` (always read from the credential).
    RefreshStatic { token_url: &'static str },
    /// Client credentials with a capped number of live tokens (VK Ads,
    /// myTarget: at most 5 per client and user): a stored unexpired token
    /// is always reused; an expired one is renewed with its refresh token
    /// when it has one, a new token is minted only when nothing is stored.
    /// Form bodies. Credentials `client_id` (or option), `client_secret`.
    ClientCredentials { token_url_path: &'static str },
    /// Google service account: an RS256 JWT assertion signed with the key
    /// JSON of credential `service_account`
    /// (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`).
    JwtBearer { token_url: &'static str },
}

/// Request pacing a vendor allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second (token bucket refill rate).
    pub per_second: f64,
    /// Bucket size (burst).
    pub burst: u32,
    /// Optional hard budget: at most `count` requests per `window`.
    pub budget: Option<(u32, Duration)>,
}

impl RateLimit {
    pub const fn per_second(n: f64) -> RateLimit {
        RateLimit {
            per_second: n,
            burst: 1,
            budget: None,
        }
    }
}

/// One unit of work in a run: an independent chain of requests (an entity,
/// a report, a day). The connector defines its meaning through `meta`,
/// which is also written into every raw envelope of the job so that
/// normalization can interpret the response without re-deriving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Entity fetched (`leads`, `deals`, `insights`, `rates`...).
    pub entity: String,
    /// Window this job covers, if any (inclusive local dates).
    pub window: Option<(NaiveDate, NaiveDate)>,
    pub meta: BTreeMap<String, String>,
}

/// What to do after a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this request next (next page, export poll...).
    Next(Request),
    /// Wait, then send this request (async report not ready yet).
    Wait(Duration, Request),
    /// The job is complete. `watermark` (if any) is saved to `state/` for
    /// the next incremental run.
    Done { watermark: Option<String> },
}

/// Why a response could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// Worth retrying after a wait (throttled, temporary server trouble).
    #[error("{slug}: retryable: {reason}")]
    Retryable {
        slug: String,
        reason: String,
        /// The vendor's requested wait, if it gave one.
        after: Option<Duration>,
    },
    /// Retrying will not help (bad credentials, bad request, unknown shape).
    #[error("{slug}: {reason}")]
    Terminal { slug: String, reason: String },
}

/// A record-level parse failure: names the source, the record and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{source_slug}: record {record}: field `{field}`: {reason}")]
pub struct ParseError {
    pub source_slug: String,
    /// Which record (id, row number, or "page").
    pub record: String,
    pub field: String,
    pub reason: String,
}

impl ParseError {
    pub fn new(
        slug: &str,
        record: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> ParseError {
        ParseError {
            source_slug: slug.to_string(),
            record: record.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// What normalizing one raw response gave: the records it understood and
/// the ones it refused (they go to `quarantine/` with their reason).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalized {
    pub records: Vec<Record>,
    pub rejected: Vec<ParseError>,
}

/// Everything a connector may read while planning a run.
#[derive(Debug, Clone)]
pub struct FetchContext<'a> {
    pub account: &'a AccountConfig,
    /// The school's zone (default for naive times).
    pub school_tz: Tz,
    /// The vendor base URL (the account's override or the vendor default).
    pub base_url: String,
    /// Inclusive local-date range requested for window sources.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Watermarks saved by earlier runs, by entity.
    pub watermarks: BTreeMap<String, String>,
    pub now: DateTime<Utc>,
}

/// Everything a connector may read while normalizing.
#[derive(Debug, Clone)]
pub struct NormalizeContext<'a> {
    pub account: &'a AccountConfig,
    pub school_tz: Tz,
}

impl NormalizeContext<'_> {
    /// The account's zone for naive local timestamps.
    pub fn tz(&self) -> Tz {
        self.account
            .timezone
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(self.school_tz)
    }
}

/// A vendor connector.
pub trait Connector: Send + Sync {
    /// The slug: module, fixtures folder, storage prefix, config key.
    fn slug(&self) -> &'static str;
    /// The vendor's API base URL when the account gives none.
    fn default_base_url(&self, account: &AccountConfig) -> String;
    fn auth(&self) -> AuthScheme;
    /// The scheme for one account; the driver calls this. Defaults to
    /// [`Connector::auth`]; connectors with several credential modes
    /// (long-lived token or OAuth2) choose by the account's credentials.
    fn auth_for(&self, account: &AccountConfig) -> AuthScheme {
        let _ = account;
        self.auth()
    }
    fn rate_limit(&self) -> RateLimit;
    /// Checks the account's connector-specific `options` and credentials;
    /// errors name the key.
    fn validate(&self, account: &AccountConfig) -> Result<(), String> {
        let _ = account;
        Ok(())
    }
    /// The jobs of one run.
    fn plan(&self, ctx: &FetchContext<'_>) -> Vec<Job>;
    /// The first request of a job.
    fn first_request(&self, ctx: &FetchContext<'_>, job: &Job) -> Request;
    /// Reads a response (already stored in `raw/`) and decides the next
    /// step. Vendor errors sent with HTTP 200 are detected here.
    fn next_step(
        &self,
        ctx: &FetchContext<'_>,
        job: &Job,
        request: &Request,
        response: &Response,
    ) -> Result<Step, FetchError>;
    /// Pure: canonical records from one stored response. Responses that
    /// carry no data (a poll that says "not ready", a 204) give none.
    fn normalize(&self, envelope: &RawEnvelope, ctx: &NormalizeContext<'_>) -> Normalized;
}
