//! Channels (metrics.md §2): platform aliases, campaign labels, contractors.

use super::marts::{ChannelKey, NO_CONTRACTOR, UNDEFINED_PLATFORM};
use crate::config::Config;
use crate::model::AdStat;
use std::collections::{BTreeMap, HashMap};

/// Default `utm_source` aliases (metrics.md §2).
pub const DEFAULT_ALIASES: [(&str, &str); 26] = [
    ("fb", "facebook"),
    ("facebook", "facebook"),
    ("ig", "instagram"),
    ("instagram", "instagram"),
    ("vk", "vk"),
    ("vkontakte", "vk"),
    ("vk_ads", "vk"),
    ("mt", "mytarget"),
    ("mytarget", "mytarget"),
    ("ya", "yandex"),
    ("yandex", "yandex"),
    ("direct", "yandex"),
    ("yandex_direct", "yandex"),
    ("google", "google"),
    ("gads", "google"),
    ("adwords", "google"),
    ("yt", "youtube"),
    ("youtube", "youtube"),
    ("tt", "tiktok"),
    ("tiktok", "tiktok"),
    ("tg", "telegram"),
    ("telegram", "telegram"),
    ("email", "email"),
    ("mail", "email"),
    ("newsletter", "email"),
    ("rassylka", "email"),
];

/// Resolves platforms, campaign labels and contractors for one config and
/// one set of ad campaigns.
#[derive(Debug, Clone)]
pub struct Channels {
    aliases: HashMap<String, String>,
    /// (platform, lowercased id or name) -> (campaign name, source:account)
    campaigns: HashMap<(String, String), (String, String)>,
    mappings: HashMap<(String, String), String>,
    account_rules: Vec<(String, String)>,
    prefix_rules: Vec<(String, String)>,
    content_rules: Vec<(String, String)>,
}

impl Channels {
    pub fn new(config: &Config, ad_stats: &[AdStat]) -> Channels {
        let mut aliases: HashMap<String, String> = DEFAULT_ALIASES
            .iter()
            .map(|(a, p)| (a.to_string(), p.to_string()))
            .collect();
        for (a, p) in &config.utm_aliases {
            aliases.insert(a.trim().to_lowercase(), p.trim().to_lowercase());
        }
        // Campaign index: deterministic (stats sorted by the caller or not:
        // the first seen wins only among identical names; ids are unique).
        let mut campaigns: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
        for s in ad_stats {
            let label = if s.campaign_name.trim().is_empty() {
                s.campaign_id.trim().to_string()
            } else {
                s.campaign_name.trim().to_string()
            };
            let acc = format!("{}:{}", s.source, s.account);
            let platform = s.platform.clone();
            campaigns
                .entry((platform.clone(), s.campaign_id.trim().to_lowercase()))
                .or_insert_with(|| (label.clone(), acc.clone()));
            campaigns
                .entry((platform, label.to_lowercase()))
                .or_insert((label, acc));
        }
        let mut mappings = HashMap::new();
        for m in &config.campaign_mappings {
            mappings.insert(
                (
                    m.platform.trim().to_lowercase(),
                    m.utm_campaign.trim().to_lowercase(),
                ),
                m.campaign_id.trim().to_lowercase(),
            );
        }
        let mut account_rules = Vec::new();
        let mut prefix_rules = Vec::new();
        let mut content_rules = Vec::new();
        for r in &config.contractors {
            if let Some(a) = &r.account {
                account_rules.push((a.trim().to_string(), r.contractor.clone()));
            } else if let Some(p) = &r.campaign_prefix {
                prefix_rules.push((p.trim().to_lowercase(), r.contractor.clone()));
            } else if let Some(c) = &r.utm_content_contains {
                content_rules.push((c.trim().to_lowercase(), r.contractor.clone()));
            }
        }
        Channels {
            aliases,
            campaigns: campaigns.into_iter().collect(),
            mappings,
            account_rules,
            prefix_rules,
            content_rules,
        }
    }

    /// Canonical platform of a `utm_source` (case-insensitive, trimmed);
    /// unknown sources keep their lowercased text; empty is undefined.
    pub fn platform(&self, utm_source: &str) -> String {
        let s = utm_source.trim().to_lowercase();
        if s.is_empty() {
            return UNDEFINED_PLATFORM.to_string();
        }
        self.aliases.get(&s).cloned().unwrap_or(s)
    }

    /// Contractor by rules, in order: ad account, campaign-name prefix,
    /// `utm_content` substring; else "(без подрядчика)".
    pub fn contractor(&self, account: Option<&str>, label: &str, utm_content: &str) -> String {
        if let Some(acc) = account
            && let Some((_, c)) = self.account_rules.iter().find(|(a, _)| a == acc)
        {
            return c.clone();
        }
        let l = label.to_lowercase();
        if let Some((_, c)) = self.prefix_rules.iter().find(|(p, _)| l.starts_with(p)) {
            return c.clone();
        }
        let uc = utm_content.to_lowercase();
        if !uc.is_empty()
            && let Some((_, c)) = self.content_rules.iter().find(|(p, _)| uc.contains(p))
        {
            return c.clone();
        }
        NO_CONTRACTOR.to_string()
    }

    /// The channel key of an ad-stats row.
    pub fn stat_key(&self, s: &AdStat) -> ChannelKey {
        let label = if s.campaign_name.trim().is_empty() {
            s.campaign_id.trim().to_string()
        } else {
            s.campaign_name.trim().to_string()
        };
        let acc = format!("{}:{}", s.source, s.account);
        ChannelKey {
            platform: s.platform.clone(),
            contractor: self.contractor(Some(&acc), &label, ""),
            campaign: label,
        }
    }

    /// The channel key of a touch with these UTM tags.
    pub fn lead_key(&self, utm_source: &str, utm_campaign: &str, utm_content: &str) -> ChannelKey {
        let platform = self.platform(utm_source);
        if platform == UNDEFINED_PLATFORM {
            return ChannelKey::undefined();
        }
        let raw = utm_campaign.trim();
        let lc = raw.to_lowercase();
        let target = self
            .mappings
            .get(&(platform.clone(), lc.clone()))
            .cloned()
            .unwrap_or(lc);
        match self.campaigns.get(&(platform.clone(), target)) {
            Some((name, acc)) => ChannelKey {
                contractor: self.contractor(Some(acc), name, utm_content),
                campaign: name.clone(),
                platform,
            },
            None => ChannelKey {
                contractor: self.contractor(None, raw, utm_content),
                campaign: raw.to_string(),
                platform,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StatLevel, VatMode};
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    fn stat(platform: &str, id: &str, name: &str) -> AdStat {
        AdStat {
            source: "facebook".into(),
            account: "main".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            platform: platform.into(),
            level: StatLevel::Campaign,
            campaign_id: id.into(),
            campaign_name: name.into(),
            ad_id: String::new(),
            ad_name: String::new(),
            impressions: 0,
            clicks: 0,
            spend: Decimal::ZERO,
            currency: "USD".into(),
            vat: VatMode::Excluded,
        }
    }

    fn config(text: &str) -> Config {
        Config::from_toml(text).unwrap()
    }

    #[test]
    fn aliases_case_and_spaces() {
        let ch = Channels::new(&config(""), &[]);
        assert_eq!(ch.platform(" FB "), "facebook");
        assert_eq!(ch.platform("Instagram "), "instagram");
        assert_eq!(ch.platform("Yandex_Direct"), "yandex");
        assert_eq!(ch.platform("Partner-Blog"), "partner-blog");
        assert_eq!(ch.platform(""), UNDEFINED_PLATFORM);
    }

    #[test]
    fn utm_campaign_matches_id_or_name_and_contractor_rules_apply() {
        let cfg = config(
            r#"
[[contractors]]
contractor = "Агентство А"
account = "facebook:main"

[[contractors]]
contractor = "Блогер Б"
campaign_prefix = "blog_"
"#,
        );
        let ch = Channels::new(&cfg, &[stat("instagram", "1201", "Весна — лид-магнит")]);
        // By id.
        let k = ch.lead_key("ig", "1201", "");
        assert_eq!(k.campaign, "Весна — лид-магнит");
        assert_eq!(k.contractor, "Агентство А");
        // By name, different case.
        let k = ch.lead_key("instagram", " весна — ЛИД-магнит", "");
        assert_eq!(k.campaign, "Весна — лид-магнит");
        // Unmatched: raw label, prefix rule still applies to it.
        let k = ch.lead_key("telegram", "Blog_Masha", "");
        assert_eq!(k.campaign, "Blog_Masha");
        assert_eq!(k.contractor, "Блогер Б");
        // No source: the undefined key.
        assert_eq!(ch.lead_key("", "x", ""), ChannelKey::undefined());
    }
}
