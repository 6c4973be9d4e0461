//! What an integrator needs to point voronka at the sandbox: the Salebot
//! webhook deliveries and every account a demo config lists.

use crate::extras::BIZON_GROUP;
use crate::generate::{FORM_CALLBACK, FORM_LANDING2, FORM_MAIN};
use crate::model::{AdVendor, School};
use crate::server::{GA4_PROPERTY, GOOGLE_LOGIN_CUSTOMER_ID};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// One Salebot "API request" POST (`application/json`) to the project's
/// lead webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalebotDelivery {
    pub received_at: DateTime<Utc>,
    /// The JSON body exactly as the bot sends it.
    pub body: String,
}

/// Every Salebot lead / application request, in receipt order. Body:
/// `{"client_id","name","phone","email","utm_source","utm_medium",
/// "utm_campaign","start","event"[,"tariff"]}` (absent values as `null`).
pub fn salebot_deliveries(school: &School) -> Vec<SalebotDelivery> {
    school
        .salebot_events
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("client_id".into(), json!(e.client_id));
            m.insert("name".into(), json!(e.name));
            m.insert("phone".into(), json!(e.phone));
            m.insert("email".into(), json!(e.email));
            m.insert("utm_source".into(), json!(e.utm_source));
            m.insert("utm_medium".into(), json!(e.utm_medium));
            m.insert("utm_campaign".into(), json!(e.utm_campaign));
            m.insert("start".into(), json!(e.start));
            m.insert("event".into(), json!(e.event));
            if let Some(t) = &e.tariff {
                m.insert("tariff".into(), json!(t));
            }
            SalebotDelivery {
                received_at: e.received_at,
                body: Value::Object(m).to_string(),
            }
        })
        .collect()
}

/// The placeholder in option values for the sandbox's base URL
/// ([`crate::Sandbox::base_url`]); replace it when writing a config.
pub const BASE_PLACEHOLDER: &str = "{base}";

/// One account of a demo config: `[sources.<slug>] accounts = [{ id,
/// currency, options, credentials }]` with `base_url = "{base}/<slug>"`.
/// Option values are given as text (`offer_minute` is an integer and
/// `vat_included` a boolean in TOML) and may contain [`BASE_PLACEHOLDER`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoAccount {
    pub slug: String,
    pub id: String,
    pub currency: String,
    pub options: Vec<(String, String)>,
    /// (credential name, sandbox value): what the connector reads from
    /// `credentials.<name>`.
    pub credentials: Vec<(String, String)>,
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn account(slug: &str, id: &str, currency: &str, options: &[(&str, &str)]) -> DemoAccount {
    DemoAccount {
        slug: slug.into(),
        id: id.into(),
        currency: currency.into(),
        options: pairs(options),
        credentials: credentials(slug),
    }
}

/// The sandbox credentials of a source.
fn credentials(slug: &str) -> Vec<(String, String)> {
    use crate::server::*;
    pairs(match slug {
        "amocrm" => &[
            ("token", AMOCRM_TOKEN),
            ("client_id", AMOCRM_CLIENT_ID),
            ("client_secret", AMOCRM_CLIENT_SECRET),
            ("redirect_uri", AMOCRM_REDIRECT_URI),
            ("refresh_token", AMOCRM_REFRESH_TOKEN),
        ],
        "getcourse" => &[("key", GETCOURSE_KEY)],
        "facebook" => &[("token", FACEBOOK_TOKEN)],
        "yandex_direct" => &[("token", YANDEX_TOKEN)],
        "bizon365" => &[("token", BIZON_TOKEN)],
        "salebot" => &[("api_key", SALEBOT_KEY)],
        "ga4" => &[("access_token", GA4_ACCESS_TOKEN)],
        "tiktok" => &[("token", TIKTOK_TOKEN)],
        "vk_ads" | "mytarget" => &[
            ("client_id", VK_CLIENT_ID),
            ("client_secret", VK_CLIENT_SECRET),
        ],
        "google_ads" => &[
            ("client_id", GOOGLE_CLIENT_ID),
            ("client_secret", GOOGLE_CLIENT_SECRET),
            ("refresh_token", GOOGLE_REFRESH_TOKEN),
            ("developer_token", GOOGLE_DEVELOPER_TOKEN),
        ],
        _ => &[],
    })
}

/// Every account the demo config needs, one per (source, account), in a
/// stable order. Credentials are the crate's constants (see the report of
/// each slug in [`crate::Sandbox`]).
pub fn demo_accounts(school: &School) -> Vec<DemoAccount> {
    let mut out = vec![
        account("cbr", "cbr", "RUB", &[]),
        account("amocrm", "main", "RUB", &[]),
        account(
            "getcourse",
            "main",
            "RUB",
            &[
                ("poll_interval_secs", "0"),
                ("crm_deal_field", "ID сделки amoCRM"),
            ],
        ),
        account(
            "tilda",
            "main",
            "RUB",
            &[
                (
                    "registration_forms",
                    &format!("{FORM_MAIN},{FORM_LANDING2}"),
                ),
                ("application_forms", FORM_CALLBACK),
            ],
        ),
        account(
            "bizon365",
            "main",
            "RUB",
            &[("offer_minute", "60"), ("group", BIZON_GROUP)],
        ),
        account("salebot", "main", "RUB", &[]),
        account(
            "ga4",
            "main",
            "RUB",
            &[
                ("property_id", GA4_PROPERTY),
                ("token_url", "{base}/ga4/token"),
            ],
        ),
    ];
    for a in &school.accounts {
        let cur = a.currency.as_str();
        let d = match a.vendor {
            AdVendor::Facebook => account("facebook", &a.id, cur, &[("ad_account_id", &a.id)]),
            AdVendor::YandexDirect => {
                account("yandex_direct", &a.id, cur, &[("client_login", &a.id)])
            }
            AdVendor::Tiktok => account(
                "tiktok",
                &a.id,
                cur,
                &[("advertiser_id", &a.id), ("currency", cur)],
            ),
            AdVendor::VkAds => account(
                "vk_ads",
                &a.id,
                cur,
                &[("currency", cur), ("vat_included", "false")],
            ),
            AdVendor::MyTarget => account(
                "mytarget",
                &a.id,
                cur,
                &[("currency", cur), ("vat_included", "false")],
            ),
            AdVendor::GoogleAds => account(
                "google_ads",
                &a.id,
                cur,
                &[
                    ("customer_id", &a.id),
                    ("login_customer_id", GOOGLE_LOGIN_CUSTOMER_ID),
                    ("currency", cur),
                    ("token_url", "{base}/google_ads/token"),
                ],
            ),
        };
        out.push(d);
    }
    out
}
