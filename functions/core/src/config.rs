//! `voronka.toml`: the school's configuration, parsed with
//! `deny_unknown_fields` and validated up-front. Every error names the key.
//!
//! Secrets are never inline: an account names the environment variable or
//! the secret-store entry that holds each credential.

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A configuration problem, naming the key path (`sources.amocrm.accounts[0].base_url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}`: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

fn err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    #[default]
    LastTouch,
    FirstTouch,
}

impl Attribution {
    pub fn label_ru(self) -> &'static str {
        match self {
            Attribution::LastTouch => "последнее значимое касание",
            Attribution::FirstTouch => "первое касание",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Attribution::LastTouch => "last_touch",
            Attribution::FirstTouch => "first_touch",
        }
    }
}

/// Where a credential comes from. Exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Name of an environment variable holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Name of an entry in the secret store (AWS Secrets Manager on AWS,
    /// `state/secrets/<name>` is never used: secrets stay out of the lake).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Storage backend for the data lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageConfig {
    /// A local folder (default `./data`).
    Local { path: String },
    /// An S3 bucket (or an S3-compatible server).
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        region: Option<String>,
        /// Custom endpoint for S3-compatible servers (path-style addressing).
        #[serde(default)]
        endpoint: Option<String>,
    },
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig::Local {
            path: "./data".to_string(),
        }
    }
}

/// One account of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Short id used in storage keys (`[a-z0-9_-]`).
    pub id: String,
    /// Overrides the vendor's API base URL (tests, sandbox, proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Credentials by name (`token`, `client_secret`, ...) -> where to read them.
    #[serde(default)]
    pub credentials: BTreeMap<String, SecretRef>,
    /// IANA zone of the account's naive timestamps (default: the school's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Account currency when the API does not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Spend x multiplier (VAT, agency fee). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_multiplier: Option<Decimal>,
    /// Trailing days re-fetched by each scheduled run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback_days: Option<u32>,
    /// First day to fetch on an empty lake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    /// Connector-specific options, validated by the connector itself.
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
}

impl AccountConfig {
    pub fn multiplier(&self) -> Decimal {
        self.spend_multiplier.unwrap_or(Decimal::ONE)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub accounts: Vec<AccountConfig>,
}

fn yes() -> bool {
    true
}

/// Maps ad accounts, campaign names or `utm_content` to a contractor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractorRule {
    pub contractor: String,
    /// `source:account` of an ad account (e.g. `facebook:agency1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Case-insensitive prefix of the campaign label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_prefix: Option<String>,
    /// Case-insensitive substring of `utm_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_content_contains: Option<String>,
}

/// Explicit campaign mapping: a `utm_campaign` value that should join an
/// ad campaign whose id or name differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignMapping {
    pub platform: String,
    pub utm_campaign: String,
    pub campaign_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub manager: String,
    /// `YYYY-MM`.
    pub month: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableCost {
    pub name: String,
    /// Percent of revenue2 (e.g. 3.5 for a 3.5 % payment fee).
    pub percent_of_revenue: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    #[serde(default = "d26")]
    pub freshness_yellow_hours: u32,
    #[serde(default = "d72")]
    pub freshness_red_hours: u32,
}

fn d26() -> u32 {
    26
}
fn d72() -> u32 {
    72
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            freshness_yellow_hours: 26,
            freshness_red_hours: 72,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    #[serde(default = "default_title")]
    pub title: String,
    /// Public base URL of the site (for `voronka links`).
    #[serde(default)]
    pub base_url: String,
    /// Secret that manager-page tokens are derived from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_secret: Option<SecretRef>,
}

fn default_title() -> String {
    "Онлайн-школа".to_string()
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            title: default_title(),
            base_url: String::new(),
            link_secret: None,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_tz")]
    pub timezone: String,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub attribution: Attribution,
    #[serde(default)]
    pub storage: StorageConfig,
    /// Per source slug.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    #[serde(default)]
    pub contractors: Vec<ContractorRule>,
    /// Extra `utm_source` aliases: alias -> platform (added to the defaults).
    #[serde(default)]
    pub utm_aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub campaign_mappings: Vec<CampaignMapping>,
    /// Form ids counted as registrations (empty = every form).
    #[serde(default)]
    pub registration_forms: Vec<String>,
    /// Form ids that are applications (for the lost-leads check).
    #[serde(default)]
    pub application_forms: Vec<String>,
    #[serde(default = "d60")]
    pub offer_minute: u32,
    #[serde(default = "d14")]
    pub attendance_window_days: u32,
    #[serde(default)]
    pub plans: Vec<Plan>,
    #[serde(default)]
    pub variable_costs: Vec<VariableCost>,
    #[serde(default)]
    pub checks: ChecksConfig,
    #[serde(default)]
    pub site: SiteConfig,
}

fn default_tz() -> String {
    "Europe/Moscow".to_string()
}
fn default_currency() -> String {
    "RUB".to_string()
}
fn d60() -> u32 {
    60
}
fn d14() -> u32 {
    14
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("empty config is valid")
    }
}

impl Config {
    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            // toml's error carries the span; keep its message, which names
            // the unknown or mistyped key.
            let msg = e.message().to_string();
            let key = e
                .span()
                .map(|s| key_at(text, s.start))
                .unwrap_or_else(|| "(document)".to_string());
            err(key, msg)
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Europe::Moscow)
    }

    pub fn account(&self, slug: &str, id: &str) -> Option<&AccountConfig> {
        self.sources.get(slug)?.accounts.iter().find(|a| a.id == id)
    }

    /// Checks every key whose type alone cannot guarantee validity.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timezone.parse::<Tz>().is_err() {
            return Err(err(
                "timezone",
                format!("unknown IANA time zone {:?}", self.timezone),
            ));
        }
        if self.currency != "RUB" {
            return Err(err(
                "currency",
                "only RUB is supported as the reporting currency (rates come from the Bank of Russia)",
            ));
        }
        if let StorageConfig::Local { path } = &self.storage
            && path.trim().is_empty()
        {
            return Err(err("storage.path", "must not be empty"));
        }
        if let StorageConfig::S3 { bucket, .. } = &self.storage
            && bucket.trim().is_empty()
        {
            return Err(err("storage.bucket", "must not be empty"));
        }
        if self.attendance_window_days > 365 {
            return Err(err("attendance_window_days", "must be at most 365"));
        }
        for (slug, source) in &self.sources {
            if !is_id(slug) {
                return Err(err(
                    format!("sources.{slug}"),
                    "source slug must be lowercase letters, digits, '_' or '-'",
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, acc) in source.accounts.iter().enumerate() {
                let key = format!("sources.{slug}.accounts[{i}]");
                if !is_id(&acc.id) {
                    return Err(err(
                        format!("{key}.id"),
                        format!(
                            "{:?}: must be lowercase letters, digits, '_' or '-'",
                            acc.id
                        ),
                    ));
                }
                if !seen.insert(acc.id.clone()) {
                    return Err(err(
                        format!("{key}.id"),
                        format!("duplicate account id {:?}", acc.id),
                    ));
                }
                if let Some(url) = &acc.base_url
                    && !(url.starts_with("http://") || url.starts_with("https://"))
                {
                    return Err(err(
                        format!("{key}.base_url"),
                        format!("{url:?} must start with http:// or https://"),
                    ));
                }
                if let Some(tz) = &acc.timezone
                    && tz.parse::<Tz>().is_err()
                {
                    return Err(err(
                        format!("{key}.timezone"),
                        format!("unknown IANA time zone {tz:?}"),
                    ));
                }
                if let Some(m) = acc.spend_multiplier
                    && m <= Decimal::ZERO
                {
                    return Err(err(format!("{key}.spend_multiplier"), "must be positive"));
                }
                if let Some(c) = &acc.currency
                    && !(c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()))
                {
                    return Err(err(
                        format!("{key}.currency"),
                        format!("{c:?} is not an ISO 4217 code like USD"),
                    ));
                }
                for (name, secret) in &acc.credentials {
                    let ck = format!("{key}.credentials.{name}");
                    match (&secret.env, &secret.secret) {
                        (Some(_), Some(_)) => {
                            return Err(err(ck, "give either `env` or `secret`, not both"));
                        }
                        (None, None) => {
                            return Err(err(
                                ck,
                                "give `env = \"VAR\"` or `secret = \"name\"`; credentials are never inline",
                            ));
                        }
                        _ => {}
                    }
                }
            }
        }
        for (i, rule) in self.contractors.iter().enumerate() {
            let key = format!("contractors[{i}]");
            if rule.contractor.trim().is_empty() {
                return Err(err(format!("{key}.contractor"), "must not be empty"));
            }
            let n = [
                rule.account.is_some(),
                rule.campaign_prefix.is_some(),
                rule.utm_content_contains.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if n != 1 {
                return Err(err(
                    key,
                    "give exactly one of `account`, `campaign_prefix`, `utm_content_contains`",
                ));
            }
        }
        for (i, plan) in self.plans.iter().enumerate() {
            let key = format!("plans[{i}]");
            if crate::time::parse_month(&plan.month).is_none() {
                return Err(err(
                    format!("{key}.month"),
                    format!("{:?} is not YYYY-MM", plan.month),
                ));
            }
            if plan.revenue.is_none() && plan.sales.is_none() {
                return Err(err(key, "give `revenue`, `sales` or both"));
            }
        }
        for (i, vc) in self.variable_costs.iter().enumerate() {
            if vc.percent_of_revenue < Decimal::ZERO || vc.percent_of_revenue > Decimal::from(100) {
                return Err(err(
                    format!("variable_costs[{i}].percent_of_revenue"),
                    "must be between 0 and 100",
                ));
            }
        }
        if self.checks.freshness_yellow_hours > self.checks.freshness_red_hours {
            return Err(err(
                "checks.freshness_yellow_hours",
                "must not exceed checks.freshness_red_hours",
            ));
        }
        Ok(())
    }
}

/// Names the key at a byte offset of the TOML text: the table header in
/// force plus the key on that line, and the line number.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_no = text[..offset].matches('\n').count() + 1;
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k} (line {line_no})"),
        (None, Some(k)) => format!("{k} (line {line_no})"),
        (Some(t), None) => format!("{t} (line {line_no})"),
        (None, None) => format!("line {line_no}"),
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../../../voronka.example.toml");
        let c = Config::from_toml(text).unwrap();
        assert_eq!(
            c.sources["facebook"].accounts[0].currency.as_deref(),
            Some("USD")
        );
        assert_eq!(c.plans.len(), 1);
    }

    #[test]
    fn empty_config_has_defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.timezone, "Europe/Moscow");
        assert_eq!(c.attribution, Attribution::LastTouch);
        assert_eq!(c.attendance_window_days, 14);
        assert_eq!(c.offer_minute, 60);
        assert_eq!(
            c.storage,
            StorageConfig::Local {
                path: "./data".into()
            }
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let e =
            Config::from_toml("timezone = \"Europe/Moscow\"\nattribtion = \"x\"\n").unwrap_err();
        assert!(e.reason.contains("attribtion"), "{e}");
        assert_eq!(e.key, "attribtion (line 2)");
        let e = Config::from_toml("[checks]\nfreshness_red_hours = \"soon\"\n").unwrap_err();
        assert_eq!(e.key, "checks.freshness_red_hours (line 2)");
    }

    #[test]
    fn inline_secret_is_refused_with_the_key() {
        let text = r#"
[sources.amocrm]
accounts = [{ id = "main", credentials = { token = {} } }]
"#;
        let e = Config::from_toml(text).unwrap_err();
        assert_eq!(e.key, "sources.amocrm.accounts[0].credentials.token");
    }

    #[test]
    fn bad_timezone_and_base_url_are_named() {
        let e = Config::from_toml("timezone = \"Mars/Olympus\"").unwrap_err();
        assert_eq!(e.key, "timezone");
        let text = r#"
[sources.cbr]
accounts = [{ id = "cbr", base_url = "ftp://x" }]
"#;
        let e = Config::from_toml(text).unwrap_err();
        assert_eq!(e.key, "sources.cbr.accounts[0].base_url");
    }

    #[test]
    fn contractor_rule_needs_exactly_one_matcher() {
        let text = r#"
[[contractors]]
contractor = "Agency"
"#;
        let e = Config::from_toml(text).unwrap_err();
        assert_eq!(e.key, "contractors[0]");
    }
}
