//! The newer channels of the school: TikTok, VK Ads, myTarget and Google
//! Ads spend, Bizon365 webinars and viewers, GA4 sessions and Salebot bot
//! clients. Each part draws from its own rng fork, so the older parts of
//! the school (Meta and Yandex spend, CBR rates) do not move.

use crate::generate::{CampaignPlan, d2, format_email, format_phone};
use crate::model::*;
use crate::rng::Rng;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The Bizon365 group (account) number, the first part of every room id.
pub const BIZON_GROUP: &str = "31337";
/// The Bizon365 room of the weekly live webinar.
pub const BIZON_ROOM: &str = "analitik_webinar";
/// The Salebot Telegram bot (`group` of its clients).
pub const SALEBOT_BOT: &str = "shkola_analitiki_bot";
/// The Salebot WhatsApp channel (`group` of its clients).
pub const SALEBOT_WHATSAPP: &str = "200000002";

const WEEKDAY_ADS: [f64; 7] = [1.05, 1.1, 1.05, 1.0, 0.9, 0.75, 0.8];

const TT_MAIN: &[&str] = &[
    "TT | Вебинар | Лиды",
    "TT | Ретаргет 30д",
    "TT | Lookalike покупателей",
    "TT | Интересы: аналитика",
    "TT | Spark Ads блогеры",
];
const TT_AGENCY: &[&str] = &[
    "TM | Вебинар аналитик | широкая",
    "TM | Вебинар аналитик | 25-40",
    "TM | Ретаргет видео 50%",
];
const VK_PLANS: &[&str] = &[
    "VK | Вебинар | ЦА 25-45",
    "VK | Ретаргетинг сайта",
    "VK | Подписчики конкурентов",
    "VK | Look-alike заявок",
    "VK | Клипы вебинар",
];
const MT_CAMPAIGNS: &[&str] = &[
    "MT | Вебинар | Одноклассники",
    "MT | Ретаргетинг",
    "MT | Интересы ИТ",
    "MT | Мультиформат",
];
const GOOGLE_SEARCH: &[&str] = &["Search | курс аналитика данных", "Search | обучение SQL"];
const GOOGLE_VIDEO: &[&str] = &[
    "YouTube | In-stream вебинар",
    "YouTube | Discovery курс аналитика",
];

const CITIES: &[&str] = &[
    "Москва",
    "Санкт-Петербург",
    "Новосибирск",
    "Екатеринбург",
    "Казань",
    "Нижний Новгород",
    "Краснодар",
    "Самара",
    "Алматы",
    "Минск",
    "",
];

/// The added ad accounts and their campaigns.
pub(crate) fn accounts(rng: &mut Rng, days: u32) -> (Vec<AdAccount>, Vec<CampaignPlan>) {
    let account =
        |vendor, id: &str, name: &str, currency: &str, contractor: Option<&str>| AdAccount {
            vendor,
            id: id.into(),
            name: name.into(),
            currency: currency.into(),
            vat_included: false,
            contractor: contractor.map(str::to_string),
        };
    let accounts = vec![
        account(
            AdVendor::Tiktok,
            "7301846520193847001",
            "Школа аналитики — TikTok",
            "USD",
            None,
        ),
        account(
            AdVendor::Tiktok,
            "7301846520193847002",
            "ТикТокМаркет (Школа аналитики)",
            "RUB",
            Some("ТикТокМаркет"),
        ),
        account(
            AdVendor::VkAds,
            "18273645",
            "Школа аналитики — VK Реклама",
            "RUB",
            None,
        ),
        account(
            AdVendor::MyTarget,
            "9182736",
            "Школа аналитики — myTarget",
            "RUB",
            None,
        ),
        account(
            AdVendor::GoogleAds,
            "5723418896",
            "Shkola Analitiki — Google Ads",
            "USD",
            None,
        ),
    ];
    let mut plans = Vec::new();
    for (ai, a) in accounts.iter().enumerate() {
        let names: Vec<(&str, Option<&str>)> = match ai {
            0 => pick_n(rng, TT_MAIN, 3, 4),
            1 => pick_n(rng, TT_AGENCY, 2, 3),
            2 => pick_n(rng, VK_PLANS, 3, 5),
            3 => pick_n(rng, MT_CAMPAIGNS, 2, 3),
            _ => {
                let mut v: Vec<(&str, Option<&str>)> =
                    GOOGLE_SEARCH.iter().map(|n| (*n, Some("SEARCH"))).collect();
                v.extend(GOOGLE_VIDEO.iter().map(|n| (*n, Some("VIDEO"))));
                v
            }
        };
        for (name, channel) in names {
            let f = rng.f64();
            let g = rng.f64();
            let (id, budget, cpm, ctr) = match (a.vendor, channel) {
                (AdVendor::Tiktok, _) if a.currency == "USD" => (
                    format!("17{}", rng.digits(17)),
                    rng.range(20, 60) as f64,
                    3.0 + f * 3.0,
                    0.008 + g * 0.007,
                ),
                (AdVendor::Tiktok, _) => (
                    format!("17{}", rng.digits(17)),
                    rng.range(1_500, 4_500) as f64,
                    250.0 + f * 200.0,
                    0.008 + g * 0.007,
                ),
                (AdVendor::VkAds, _) => (
                    rng.range(10_000_000, 19_999_999).to_string(),
                    rng.range(1_500, 6_000) as f64,
                    150.0 + f * 150.0,
                    0.004 + g * 0.005,
                ),
                (AdVendor::MyTarget, _) => (
                    rng.range(40_000_000, 49_999_999).to_string(),
                    rng.range(800, 3_000) as f64,
                    100.0 + f * 100.0,
                    0.003 + g * 0.003,
                ),
                (_, Some("VIDEO")) => (
                    rng.digits(11),
                    rng.range(15, 40) as f64,
                    4.0 + f * 4.0,
                    0.003 + g * 0.003,
                ),
                _ => (
                    rng.digits(11),
                    rng.range(20, 60) as f64,
                    40.0 + f * 40.0,
                    0.03 + g * 0.03,
                ),
            };
            let (mut first_day, mut last_day) = (0, days - 1);
            if days > 20 && rng.chance(0.25) {
                if rng.chance(0.5) {
                    first_day = rng.range(5, i64::from(days / 2)) as u32;
                } else {
                    last_day = rng.range(i64::from(days / 2), i64::from(days) - 5) as u32;
                }
            }
            plans.push(CampaignPlan {
                campaign: Campaign {
                    account_id: a.id.clone(),
                    vendor: a.vendor,
                    id,
                    name: name.to_string(),
                    channel: channel.map(str::to_string),
                },
                budget,
                cpm,
                ctr,
                ig_share: 0.0,
                first_day,
                last_day,
            });
        }
    }
    (accounts, plans)
}

fn pick_n<'a>(
    rng: &mut Rng,
    pool: &[&'a str],
    lo: i64,
    hi: i64,
) -> Vec<(&'a str, Option<&'a str>)> {
    let n = (rng.range(lo, hi) as usize).min(pool.len());
    let mut idx: Vec<usize> = (0..pool.len()).collect();
    for i in 0..n {
        let j = i + rng.index(pool.len() - i);
        idx.swap(i, j);
    }
    idx.iter().take(n).map(|&i| (pool[i], None)).collect()
}

/// The platform a registration from this campaign reports.
pub(crate) fn platform_of(c: &Campaign) -> &'static str {
    match c.vendor {
        AdVendor::Tiktok => "tiktok",
        AdVendor::VkAds => "vk",
        AdVendor::MyTarget => "mytarget",
        AdVendor::GoogleAds if c.channel.as_deref() == Some("VIDEO") => "youtube",
        AdVendor::GoogleAds => "google",
        AdVendor::Facebook => "facebook",
        AdVendor::YandexDirect => "yandex",
    }
}

/// Daily rows of the added campaigns and, per day, the registration touch
/// candidates `(campaign index + offset, platform, clicks)`.
#[allow(clippy::type_complexity)]
pub(crate) fn stats(
    rng: &mut Rng,
    plans: &[CampaignPlan],
    offset: usize,
    start: NaiveDate,
    days: u32,
) -> (Vec<AdRow>, Vec<Vec<(usize, &'static str, u64)>>) {
    let mut rows = Vec::new();
    let mut touches = vec![Vec::new(); days as usize];
    for day in 0..days {
        let date = start + Duration::days(i64::from(day));
        let wd = WEEKDAY_ADS[date.weekday().num_days_from_monday() as usize];
        for (ci, p) in plans.iter().enumerate() {
            if day < p.first_day || day > p.last_day || rng.chance(0.04) {
                continue;
            }
            let spend = d2(p.budget * wd * rng.noise(0.35));
            let units = f64::try_from(spend).unwrap_or(0.0);
            let impressions = (units / p.cpm * 1000.0 * rng.noise(0.1)).round().max(1.0) as u64;
            let clicks = (impressions as f64 * p.ctr * rng.noise(0.3)).round() as u64;
            let c = &p.campaign;
            touches[day as usize].push((ci + offset, platform_of(c), clicks));
            rows.push(AdRow {
                vendor: c.vendor,
                account_id: c.account_id.clone(),
                date,
                campaign_id: c.id.clone(),
                campaign_name: c.name.clone(),
                channel: c.channel.clone(),
                spend,
                impressions,
                clicks,
            });
        }
    }
    (rows, touches)
}

// ---------------------------------------------------------------- Bizon365

/// A Bizon-style id: `u_` and 6 letters or digits.
fn chat_id(rng: &mut Rng) -> String {
    const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789";
    let mut s = String::from("u_");
    for _ in 0..6 {
        s.push(A[rng.index(A.len())] as char);
    }
    s
}

/// One webinar per launch that ended before the horizon.
pub(crate) fn webinars(rng: &mut Rng, launches: &[Launch], horizon: DateTime<Utc>) -> Vec<Webinar> {
    let room_id = format!("{BIZON_GROUP}:{BIZON_ROOM}");
    launches
        .iter()
        .filter_map(|l| {
            let minutes = rng.range(120, 160) as u32;
            (l.starts_at + Duration::minutes(i64::from(minutes)) <= horizon).then(|| Webinar {
                launch_id: l.id,
                id: format!(
                    "{room_id}*{}",
                    to_msk(l.starts_at).format("%Y-%m-%dT%H:%M:%S")
                ),
                room_id: room_id.clone(),
                title: l.name.clone(),
                start: l.starts_at,
                minutes,
                participants: 0,
            })
        })
        .collect()
}

/// Viewers of the webinars, and the indexes of registrations whose person
/// attended (any webinar within the registration's attendance).
pub(crate) fn viewers(
    rng: &mut Rng,
    persons: &[Person],
    regs: &[Registration],
    launches: &[Launch],
    webinars: &mut [Webinar],
) -> (Vec<WebinarViewer>, HashSet<usize>) {
    let launch_pos: HashMap<u32, usize> = launches
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id, i))
        .collect();
    let web_of: HashMap<u32, usize> = webinars
        .iter()
        .enumerate()
        .map(|(i, w)| (w.launch_id, i))
        .collect();
    let mut seen: HashSet<(u32, usize)> = HashSet::new();
    let mut out = Vec::new();
    let mut attended = HashSet::new();
    for (i, r) in regs.iter().enumerate() {
        if !r.is_registration || r.duplicate_of.is_some() || !rng.chance(0.43) {
            continue;
        }
        let Some(&li) = r.launch_id.and_then(|id| launch_pos.get(&id)) else {
            continue;
        };
        let own_gap = (launches[li].date - msk_date(r.received_at)).num_days();
        let k = match rng.weighted(&[86.0, 11.0, 3.0]) {
            0 => 0,
            2 if own_gap <= 1 => 2,
            _ => 1,
        };
        let Some(&w) = launches.get(li + k).and_then(|l| web_of.get(&l.id)) else {
            continue;
        };
        if !seen.insert((r.person_id, w)) {
            continue;
        }
        let p = &persons[r.person_id as usize];
        let web = &webinars[w];
        let (with_email, with_phone) = match rng.weighted(&[55.0, 25.0, 20.0]) {
            0 => (true, true),
            1 => (true, false),
            _ => (false, true),
        };
        let username = match rng.weighted(&[60.0, 25.0, 15.0]) {
            0 => p.first_name.clone(),
            1 => p.full_name(),
            _ => p.first_name.to_lowercase(),
        };
        let (view, view_till, stayed) = times(rng, web);
        let copy_utm = rng.chance(0.5);
        let utm = |v: &Option<String>| if copy_utm { v.clone() } else { None };
        out.push(WebinarViewer {
            webinar_id: web.id.clone(),
            launch_id: web.launch_id,
            person_id: Some(p.id),
            registration_id: Some(r.id),
            days_after_registration: Some(
                (msk_date(web.start) - msk_date(r.received_at)).num_days(),
            ),
            chat_user_id: Some(chat_id(rng)),
            username,
            email: with_email.then(|| format_email(rng, &p.email)),
            phone: with_phone.then(|| format_phone(rng, &p.phone)),
            city: rng.pick(CITIES).to_string(),
            view,
            view_till,
            stayed_to_offer: stayed,
            utm_source: utm(&r.utm_source),
            utm_medium: utm(&r.utm_medium),
            utm_campaign: utm(&r.utm_campaign),
        });
        attended.insert(i);
    }
    // anonymous guests
    for web in webinars.iter() {
        for _ in 0..rng.range(3, 9) {
            let (view, view_till, stayed) = times(rng, web);
            out.push(WebinarViewer {
                webinar_id: web.id.clone(),
                launch_id: web.launch_id,
                person_id: None,
                registration_id: None,
                days_after_registration: None,
                chat_user_id: rng.chance(0.5).then(|| chat_id(rng)),
                username: if rng.chance(0.7) {
                    "Гость".into()
                } else {
                    format!("Гость {}", rng.range(100, 999))
                },
                email: None,
                phone: None,
                city: rng.pick(CITIES).to_string(),
                view,
                view_till,
                stayed_to_offer: stayed,
                utm_source: None,
                utm_medium: None,
                utm_campaign: None,
            });
        }
    }
    let order: HashMap<String, usize> = webinars
        .iter()
        .enumerate()
        .map(|(i, w)| (w.id.clone(), i))
        .collect();
    out.sort_by_key(|v| (order[&v.webinar_id], v.view));
    for v in &out {
        webinars[order[&v.webinar_id]].participants += 1;
    }
    (out, attended)
}

/// (view, viewTill, stayed to the offer minute).
fn times(rng: &mut Rng, web: &Webinar) -> (DateTime<Utc>, DateTime<Utc>, bool) {
    let ms = |rng: &mut Rng| Duration::milliseconds(rng.range(0, 999));
    let start = web.start;
    let view = start + Duration::seconds(rng.range(-15 * 60, 25 * 60)) + ms(rng);
    let offer = start + Duration::minutes(60);
    let stayed = rng.chance(0.55);
    let till = if stayed {
        start + Duration::seconds(rng.range(60 * 60, i64::from(web.minutes) * 60)) + ms(rng)
    } else {
        let room = (offer - view).num_seconds() - 1;
        view + Duration::seconds(rng.range(60.min(room), room.max(1))) + ms(rng)
    };
    let till = if stayed {
        till
    } else {
        till.min(offer - Duration::seconds(1))
    };
    (view, till.max(view), stayed)
}

// ---------------------------------------------------------------- GA4

fn ga4_source(platform: &str) -> &'static str {
    match platform {
        "instagram" => "ig",
        "facebook" => "fb",
        "yandex" => "yandex",
        "tiktok" => "tiktok",
        "vk" => "vk",
        "mytarget" => "mytarget",
        "youtube" => "youtube",
        _ => "google",
    }
}

/// GA4 sessions per day by (source, medium, campaign): paid traffic at
/// 0.7–0.9 sessions per click, organic from the organic registrations,
/// plus direct and search-engine traffic.
pub(crate) fn ga4_rows(
    rng: &mut Rng,
    touches: &[Vec<(usize, &'static str, u64)>],
    campaigns: &[Campaign],
    regs: &[Registration],
    start: NaiveDate,
) -> Vec<Ga4Row> {
    let mut map: BTreeMap<(NaiveDate, String, String, String), u64> = BTreeMap::new();
    for (day, ts) in touches.iter().enumerate() {
        let date = start + Duration::days(day as i64);
        for &(ci, platform, clicks) in ts {
            let sessions = (clicks as f64 * (0.7 + rng.f64() * 0.2)).round() as u64;
            if sessions == 0 {
                continue;
            }
            let key = (
                date,
                ga4_source(platform).to_string(),
                "cpc".to_string(),
                campaigns[ci].name.clone(),
            );
            *map.entry(key).or_default() += sessions;
        }
        let wd = WEEKDAY_ADS[date.weekday().num_days_from_monday() as usize];
        for (src, med, camp, base) in [
            ("(direct)", "(none)", "(direct)", 320.0),
            ("google", "organic", "(organic)", 120.0),
            ("yandex", "organic", "(organic)", 230.0),
            ("(not set)", "(not set)", "(not set)", 8.0),
        ] {
            let n = (base * wd * rng.noise(0.25)).round() as u64;
            if n > 0 {
                *map.entry((date, src.into(), med.into(), camp.into()))
                    .or_default() += n;
            }
        }
    }
    let last = start + Duration::days(touches.len() as i64 - 1);
    for r in regs {
        if !matches!(r.touch, Touch::Organic { .. }) {
            continue;
        }
        let date = msk_date(r.received_at);
        if date < start || date > last {
            continue;
        }
        let norm = |v: &Option<String>| {
            v.as_deref()
                .map(|s| s.trim().to_lowercase())
                .unwrap_or_default()
        };
        let key = (
            date,
            norm(&r.utm_source),
            norm(&r.utm_medium),
            norm(&r.utm_campaign),
        );
        *map.entry(key).or_default() += rng.range(2, 4) as u64;
    }
    map.into_iter()
        .map(|((date, source, medium, campaign), sessions)| Ga4Row {
            date,
            source,
            medium,
            campaign,
            sessions,
            users: ((sessions as f64 * (0.85 + rng.f64() * 0.12)).round() as u64).max(1),
        })
        .collect()
}

// ---------------------------------------------------------------- Salebot

/// Bot clients created from some registrations, and the bot's lead and
/// application requests.
pub(crate) fn salebot(
    rng: &mut Rng,
    persons: &[Person],
    regs: &[Registration],
    launches: &[Launch],
    horizon: DateTime<Utc>,
) -> (Vec<SalebotClient>, Vec<SalebotEvent>) {
    let mut clients: Vec<SalebotClient> = Vec::new();
    let mut events: Vec<(usize, SalebotEvent)> = Vec::new();
    let mut subscribed: HashSet<u32> = HashSet::new();
    for r in regs {
        if !r.is_registration || r.duplicate_of.is_some() || !rng.chance(0.22) {
            continue;
        }
        if subscribed.contains(&r.person_id) {
            continue;
        }
        let created_at = r.received_at + Duration::seconds(rng.range(30, 1200));
        if created_at > horizon {
            continue;
        }
        subscribed.insert(r.person_id);
        let p = &persons[r.person_id as usize];
        let whatsapp = rng.chance(0.2);
        let ci = clients.len();
        clients.push(SalebotClient {
            id: 0,
            person_id: p.id,
            registration_id: Some(r.id),
            platform_id: if whatsapp {
                p.phone.clone()
            } else {
                rng.digits(10)
            },
            client_type: if whatsapp { 6 } else { 1 },
            name: if rng.chance(if whatsapp { 0.5 } else { 0.85 }) {
                Some(p.first_name.clone())
            } else {
                None
            },
            created_at,
            group: if whatsapp {
                SALEBOT_WHATSAPP.into()
            } else {
                SALEBOT_BOT.into()
            },
            tag: rng.chance(0.6).then(|| "webinar".to_string()),
        });
        let src = r
            .utm_source
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .unwrap_or_else(|| "site".into());
        let start = format!("w{}_{src}", r.launch_id.unwrap_or(0));
        let lead_at = created_at + Duration::seconds(rng.range(2, 40));
        let phone = (whatsapp || rng.chance(0.7)).then(|| format_phone(rng, &p.phone));
        let email = rng.chance(0.4).then(|| format_email(rng, &p.email));
        let lead = SalebotEvent {
            client_id: 0,
            person_id: p.id,
            registration_id: Some(r.id),
            event: "lead".into(),
            received_at: lead_at,
            name: p.first_name.clone(),
            phone,
            email,
            utm_source: r.utm_source.clone(),
            utm_medium: r.utm_medium.clone(),
            utm_campaign: r.utm_campaign.clone(),
            start,
            tariff: None,
        };
        if lead_at <= horizon {
            events.push((ci, lead.clone()));
        }
        if rng.chance(0.12) {
            let base = r
                .launch_id
                .and_then(|id| launches.iter().find(|l| l.id == id))
                .map(|l| l.starts_at)
                .unwrap_or(created_at)
                .max(created_at);
            let at = base + Duration::minutes(rng.range(80, 72 * 60));
            if at <= horizon {
                let mut app = lead;
                app.event = "application".into();
                app.received_at = at;
                app.phone = Some(format_phone(rng, &p.phone));
                app.tariff = Some(rng.pick(&["Базовый", "Стандарт", "PRO"]).to_string());
                events.push((ci, app));
            }
        }
    }
    // ids in creation order
    let mut order: Vec<usize> = (0..clients.len()).collect();
    order.sort_by_key(|&i| (clients[i].created_at, i));
    let mut ids = vec![0u64; clients.len()];
    let mut next = 61_200_000u64;
    for &i in &order {
        next += rng.range(1, 40) as u64;
        ids[i] = next;
        clients[i].id = next;
    }
    clients.sort_by_key(|c| c.id);
    let mut events: Vec<SalebotEvent> = events
        .into_iter()
        .map(|(ci, mut e)| {
            e.client_id = ids[ci];
            e
        })
        .collect();
    events.sort_by_key(|e| (e.received_at, e.client_id));
    (clients, events)
}
