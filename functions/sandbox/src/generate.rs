//! The deterministic synthetic school generator.

use crate::extras;
use crate::model::*;
use crate::names::*;
use crate::rng::Rng;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};

pub const AMOCRM_ACCOUNT_ID: u64 = 31_234_567;
pub const MAIN_PIPELINE: u64 = 7_010_001;
pub const UPSELL_PIPELINE: u64 = 7_010_002;
pub const WON: u64 = 142;
pub const LOST: u64 = 143;
/// Main pipeline open statuses, in funnel order (the first is Неразобранное).
pub const MAIN_OPEN: [u64; 6] = [
    61_000_001, 61_000_002, 61_000_003, 61_000_004, 61_000_005, 61_000_006,
];
pub const UPSELL_OPEN: [u64; 3] = [61_000_101, 61_000_102, 61_000_103];
pub const LOSS_REASONS: [u64; 3] = [5_001, 5_002, 5_003];
/// The Tilda project id, the first half of every `tranid`.
pub const TILDA_PROJECT: &str = "7807982";

const WEEKDAY_ADS: [f64; 7] = [1.05, 1.1, 1.05, 1.0, 0.9, 0.75, 0.8];
const WEEKDAY_REGS: [f64; 7] = [1.1, 1.1, 1.05, 1.0, 0.9, 0.8, 0.95];

pub(crate) fn d2(x: f64) -> Decimal {
    Decimal::new((x * 100.0).round() as i64, 2)
}

fn rub(x: i64) -> Decimal {
    Decimal::from(x)
}

fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

/// Generates the school for `spec`. Same spec, same school.
pub fn generate(spec: &SchoolSpec) -> School {
    let root = Rng::new(spec.seed);
    let days = spec.days.max(1);
    let scale = if spec.scale.is_finite() && spec.scale > 0.0 {
        spec.scale
    } else {
        1.0
    };
    let end = spec.end;
    let start = end - Duration::days(i64::from(days) - 1);
    let horizon = msk(end, 23, 59, 59);

    let users = users();
    let pipelines = pipelines();
    let (mut accounts, mut campaign_plans) =
        accounts_and_campaigns(&mut root.fork("ads"), start, days);
    let mut ads = ad_stats(
        &mut root.fork("stats"),
        &accounts,
        &campaign_plans,
        start,
        days,
    );
    let (more_accounts, more_plans) = extras::accounts(&mut root.fork("ads2"), days);
    let (ad_rows, more_touches) = extras::stats(
        &mut root.fork("stats2"),
        &more_plans,
        campaign_plans.len(),
        start,
        days,
    );
    accounts.extend(more_accounts);
    campaign_plans.extend(more_plans);
    for (day, t) in more_touches.into_iter().enumerate() {
        ads.touches[day].extend(t);
    }
    let campaigns: Vec<Campaign> = campaign_plans.iter().map(|p| p.campaign.clone()).collect();
    let launches = launches(start, end);
    let forms = forms();
    let mut world = World {
        persons: Vec::new(),
        emails: HashSet::new(),
        phones: HashSet::new(),
    };
    let registrations = registrations(
        &mut root.fork("registrations"),
        &mut world,
        &ads,
        &campaigns,
        &launches,
        &forms,
        start,
        days,
        scale,
        horizon,
    );
    let mut webinars = extras::webinars(&mut root.fork("webinars"), &launches, horizon);
    let (webinar_viewers, attended) = extras::viewers(
        &mut root.fork("viewers"),
        &world.persons,
        &registrations,
        &launches,
        &mut webinars,
    );
    let crm = crm(
        &mut root.fork("crm"),
        &world.persons,
        &registrations,
        &launches,
        &users,
        horizon,
        start,
        &attended,
    );
    let ga4_rows = extras::ga4_rows(
        &mut root.fork("ga4"),
        &ads.touches,
        &campaigns,
        &registrations,
        start,
    );
    let (salebot_clients, salebot_events) = extras::salebot(
        &mut root.fork("salebot"),
        &world.persons,
        &registrations,
        &launches,
        horizon,
    );
    let rates = rates(&mut root.fork("rates"), start, end);

    School {
        spec: spec.clone(),
        start,
        end,
        horizon,
        accounts,
        campaigns,
        facebook_rows: ads.facebook_rows,
        yandex_rows: ads.yandex_rows,
        spend_spike: ads.spike,
        ad_rows,
        launches,
        forms,
        persons: world.persons,
        registrations,
        amocrm_account_id: AMOCRM_ACCOUNT_ID,
        users,
        pipelines,
        contacts: crm.contacts,
        deals: crm.deals,
        events: crm.events,
        orders: crm.orders,
        payments: crm.payments,
        rates,
        webinars,
        webinar_viewers,
        ga4_rows,
        salebot_clients,
        salebot_events,
    }
}

fn users() -> Vec<User> {
    let list = [
        (9_000_001, "Ольга Кузнецова", "o.kuznetsova", true),
        (9_000_002, "Анна Смирнова", "anna.smirnova", false),
        (9_000_003, "Дмитрий Волков", "d.volkov", false),
        (9_000_004, "Екатерина Морозова", "e.morozova", false),
        (9_000_005, "Игорь Лебедев", "i.lebedev", false),
    ];
    list.iter()
        .map(|(id, name, login, admin)| User {
            id: *id,
            name: (*name).to_string(),
            email: format!("{login}@shkola-analitiki.ru"),
            is_admin: *admin,
        })
        .collect()
}

/// The managers who get deals, with weights.
const MANAGERS: [(u64, f64); 4] = [
    (9_000_002, 0.32),
    (9_000_003, 0.28),
    (9_000_004, 0.25),
    (9_000_005, 0.15),
];

fn status(id: u64, name: &str, sort: u32, kind: u8, color: &str) -> Status {
    Status {
        id,
        name: name.to_string(),
        sort,
        kind,
        color: color.to_string(),
    }
}

fn pipelines() -> Vec<Pipeline> {
    vec![
        Pipeline {
            id: MAIN_PIPELINE,
            name: "Продажи курса".into(),
            sort: 1,
            is_main: true,
            statuses: vec![
                status(MAIN_OPEN[0], "Неразобранное", 10, 1, "#c1c1c1"),
                status(MAIN_OPEN[1], "Новая заявка", 20, 0, "#99ccff"),
                status(MAIN_OPEN[2], "Взят в работу", 30, 0, "#ffff99"),
                status(MAIN_OPEN[3], "Связались", 40, 0, "#ffcc66"),
                status(MAIN_OPEN[4], "Выставлен счёт", 50, 0, "#ff9966"),
                status(MAIN_OPEN[5], "Предоплата получена", 60, 0, "#ccff66"),
                status(WON, "Успешно реализовано", 10000, 0, "#CCFF66"),
                status(LOST, "Закрыто и не реализовано", 11000, 0, "#D5D8DB"),
            ],
        },
        Pipeline {
            id: UPSELL_PIPELINE,
            name: "Допродажи".into(),
            sort: 2,
            is_main: false,
            statuses: vec![
                status(UPSELL_OPEN[0], "Неразобранное", 10, 1, "#c1c1c1"),
                status(UPSELL_OPEN[1], "Новый запрос", 20, 0, "#99ccff"),
                status(UPSELL_OPEN[2], "Предложение отправлено", 30, 0, "#ffcc66"),
                status(WON, "Успешно реализовано", 10000, 0, "#CCFF66"),
                status(LOST, "Закрыто и не реализовано", 11000, 0, "#D5D8DB"),
            ],
        },
    ]
}

// ---------------------------------------------------------------- ads

pub(crate) struct CampaignPlan {
    pub campaign: Campaign,
    /// Daily budget in account currency.
    pub budget: f64,
    /// Cost per 1000 impressions, account currency.
    pub cpm: f64,
    pub ctr: f64,
    /// Facebook: instagram share of spend.
    pub ig_share: f64,
    pub first_day: u32,
    pub last_day: u32,
}

fn accounts_and_campaigns(
    rng: &mut Rng,
    _start: NaiveDate,
    days: u32,
) -> (Vec<AdAccount>, Vec<CampaignPlan>) {
    let accounts = vec![
        AdAccount {
            vendor: AdVendor::Facebook,
            id: "100000000000001".into(),
            name: "Школа аналитики — Meta".into(),
            currency: "USD".into(),
            vat_included: false,
            contractor: None,
        },
        AdAccount {
            vendor: AdVendor::Facebook,
            id: "100000000000002".into(),
            name: "TargetPro agency (Школа аналитики)".into(),
            currency: "EUR".into(),
            vat_included: false,
            contractor: Some("ТаргетПро".into()),
        },
        AdAccount {
            vendor: AdVendor::YandexDirect,
            id: "shkola-analitiki".into(),
            name: "Школа аналитики — Директ".into(),
            currency: "RUB".into(),
            vat_included: false,
            contractor: None,
        },
        AdAccount {
            vendor: AdVendor::YandexDirect,
            id: "di-agency-shkola".into(),
            name: "Директолог Иванов (Школа аналитики)".into(),
            currency: "RUB".into(),
            vat_included: false,
            contractor: Some("Директолог Иванов".into()),
        },
    ];
    let mut plans = Vec::new();
    for (ai, account) in accounts.iter().enumerate() {
        let (pool, lo, hi): (&[&str], usize, usize) = match ai {
            0 => (FB_MAIN_CAMPAIGNS, 5, 7),
            1 => (FB_CONTRACTOR_CAMPAIGNS, 4, 5),
            2 => (YA_MAIN_CAMPAIGNS, 5, 7),
            _ => (YA_CONTRACTOR_CAMPAIGNS, 4, 4),
        };
        let n = rng.range(lo as i64, hi as i64) as usize;
        // a deterministic partial shuffle of the pool
        let mut idx: Vec<usize> = (0..pool.len()).collect();
        for i in 0..n {
            let j = i + rng.index(pool.len() - i);
            idx.swap(i, j);
        }
        for &pi in idx.iter().take(n) {
            let name = pool[pi].to_string();
            let (id, budget, cpm, ctr) = match account.vendor {
                AdVendor::Facebook => {
                    let budget = if ai == 0 {
                        rng.range(25, 90) as f64
                    } else {
                        rng.range(15, 45) as f64
                    };
                    (
                        format!("1202{}", rng.digits(14)),
                        budget,
                        4.0 + rng.f64() * 5.0,
                        0.008 + rng.f64() * 0.012,
                    )
                }
                _ => {
                    let search = name.contains("Поиск");
                    let budget = if ai == 2 {
                        rng.range(2_000, 9_000) as f64
                    } else {
                        rng.range(1_500, 5_000) as f64
                    };
                    let (cpm, ctr) = if search {
                        (600.0 + rng.f64() * 600.0, 0.04 + rng.f64() * 0.05)
                    } else {
                        (150.0 + rng.f64() * 250.0, 0.005 + rng.f64() * 0.007)
                    };
                    (rng.digits(9), budget, cpm, ctr)
                }
            };
            let (mut first_day, mut last_day) = (0, days - 1);
            if days > 20 && rng.chance(0.3) {
                if rng.chance(0.5) {
                    first_day = rng.range(5, i64::from(days / 2)) as u32;
                } else {
                    last_day = rng.range(i64::from(days / 2), i64::from(days) - 5) as u32;
                }
            }
            plans.push(CampaignPlan {
                campaign: Campaign {
                    account_id: account.id.clone(),
                    vendor: account.vendor,
                    id,
                    name,
                    channel: None,
                },
                budget,
                cpm,
                ctr,
                ig_share: 0.45 + rng.f64() * 0.35,
                first_day,
                last_day,
            });
        }
    }
    (accounts, plans)
}

struct Ads {
    facebook_rows: Vec<FacebookRow>,
    yandex_rows: Vec<YandexRow>,
    spike: SpendSpike,
    /// Per day: (campaign index, platform, clicks) candidates for registrations.
    touches: Vec<Vec<(usize, &'static str, u64)>>,
}

fn ad_stats(
    rng: &mut Rng,
    accounts: &[AdAccount],
    plans: &[CampaignPlan],
    start: NaiveDate,
    days: u32,
) -> Ads {
    let spike_day = rng.range(i64::from(days / 3), i64::from(days * 2 / 3)) as u32;
    // the spike goes to the main facebook account's first campaign running that day
    let spike_campaign = plans
        .iter()
        .position(|p| {
            p.campaign.account_id == accounts[0].id
                && p.first_day <= spike_day
                && spike_day <= p.last_day
        })
        .unwrap_or(0);
    let spike_factor = 7.5;
    let mut facebook_rows = Vec::new();
    let mut yandex_rows = Vec::new();
    let mut touches = vec![Vec::new(); days as usize];
    for day in 0..days {
        let date = start + Duration::days(i64::from(day));
        let wd = WEEKDAY_ADS[date.weekday().num_days_from_monday() as usize];
        for (ci, p) in plans.iter().enumerate() {
            let is_spike = day == spike_day && ci == spike_campaign;
            if day < p.first_day || day > p.last_day || (!is_spike && rng.chance(0.04)) {
                continue; // no delivery
            }
            let mut spend = p.budget * wd * rng.noise(0.35);
            if is_spike {
                spend *= spike_factor;
            }
            let c = &p.campaign;
            match c.vendor {
                AdVendor::Facebook => {
                    let ig = (p.ig_share * rng.noise(0.2)).clamp(0.0, 1.0);
                    for (platform, share) in [("instagram", ig), ("facebook", 1.0 - ig)] {
                        let part = d2(spend * share);
                        if part <= Decimal::ZERO || (share < 0.5 && rng.chance(0.05)) {
                            continue;
                        }
                        let cents = f64::from(u32::try_from(part.mantissa()).unwrap_or(0));
                        let impressions = ((cents / 100.0) / p.cpm * 1000.0 * rng.noise(0.1))
                            .round()
                            .max(1.0) as u64;
                        let clicks = (impressions as f64 * p.ctr * rng.noise(0.3)).round() as u64;
                        touches[day as usize].push((ci, platform, clicks));
                        facebook_rows.push(FacebookRow {
                            account_id: c.account_id.clone(),
                            date,
                            campaign_id: c.id.clone(),
                            campaign_name: c.name.clone(),
                            publisher_platform: platform.to_string(),
                            spend: part,
                            impressions,
                            clicks,
                        });
                    }
                }
                _ => {
                    let micros = ((spend * 100.0).round() as i64) * 10_000;
                    let impressions =
                        (spend / p.cpm * 1000.0 * rng.noise(0.1)).round().max(1.0) as u64;
                    let clicks = (impressions as f64 * p.ctr * rng.noise(0.3)).round() as u64;
                    touches[day as usize].push((ci, "yandex", clicks));
                    yandex_rows.push(YandexRow {
                        account_id: c.account_id.clone(),
                        date,
                        campaign_id: c.id.clone(),
                        campaign_name: c.name.clone(),
                        cost_micros: micros,
                        impressions,
                        clicks,
                    });
                }
            }
        }
    }
    let sc = &plans[spike_campaign].campaign;
    Ads {
        facebook_rows,
        yandex_rows,
        spike: SpendSpike {
            vendor: sc.vendor,
            account_id: sc.account_id.clone(),
            campaign_id: sc.id.clone(),
            date: start + Duration::days(i64::from(spike_day)),
            factor: spike_factor,
        },
        touches,
    }
}

// ---------------------------------------------------------------- launches, forms

fn launches(start: NaiveDate, end: NaiveDate) -> Vec<Launch> {
    // Webinars on Thursdays, from the first Thursday in range to the first
    // Thursday after the range (registrations at the end are for it).
    let mut d = start;
    while d.weekday() != Weekday::Thu {
        d += Duration::days(1);
    }
    let mut out = Vec::new();
    let mut id = 1;
    loop {
        out.push(Launch {
            id,
            name: format!(
                "Вебинар «Как стать аналитиком данных» {}",
                d.format("%d.%m.%Y")
            ),
            date: d,
            starts_at: msk(d, 19, 0, 0),
            offer_minute: 60,
        });
        id += 1;
        if d > end {
            break;
        }
        d += Duration::days(7);
    }
    out
}

pub const FORM_MAIN: &str = "form1069343426";
pub const FORM_LANDING2: &str = "form1069351877";
pub const FORM_CALLBACK: &str = "form1069360012";

fn forms() -> Vec<Form> {
    vec![
        Form {
            id: FORM_MAIN.into(),
            name: "Регистрация на вебинар".into(),
            is_registration: true,
        },
        Form {
            id: FORM_LANDING2.into(),
            name: "Регистрация (лендинг 2)".into(),
            is_registration: true,
        },
        Form {
            id: FORM_CALLBACK.into(),
            name: "Обратный звонок".into(),
            is_registration: false,
        },
    ]
}

// ---------------------------------------------------------------- persons

struct World {
    persons: Vec<Person>,
    emails: HashSet<String>,
    phones: HashSet<String>,
}

impl World {
    fn new_person(&mut self, rng: &mut Rng) -> u32 {
        let id = self.persons.len() as u32;
        let female = rng.chance(0.62);
        let (first, last) = if female {
            (
                rng.pick(FEMALE).to_string(),
                format!("{}а", rng.pick(SURNAMES)),
            )
        } else {
            (rng.pick(MALE).to_string(), rng.pick(SURNAMES).to_string())
        };
        let mut email;
        loop {
            let local = match rng.index(5) {
                0 => format!("{}.{}", translit(&first), translit(&last)),
                1 => format!("{}{}", translit(&first), rng.range(1, 2005)),
                2 => format!("{}_{}", translit(&last), rng.range(70, 2005)),
                3 => format!(
                    "{}{}{}",
                    &translit(&first)[..1],
                    translit(&last),
                    rng.range(1, 99)
                ),
                _ => format!(
                    "{}.{}{}",
                    translit(&last),
                    translit(&first),
                    rng.range(1, 999)
                ),
            };
            email = format!("{local}@{}", rng.pick(MAIL_DOMAINS));
            if self.emails.insert(email.clone()) {
                break;
            }
        }
        let mut phone;
        loop {
            phone = format!("79{}", rng.digits(9));
            if self.phones.insert(phone.clone()) {
                break;
            }
        }
        self.persons.push(Person {
            id,
            first_name: first,
            last_name: last,
            email,
            phone,
            gc_user_id: 512_000_000 + u64::from(id) * 7 + rng.range(0, 6) as u64,
            ym_uid: format!("17{}", rng.digits(17)),
        });
        id
    }
}

/// The same phone in one of the formats people type.
pub(crate) fn format_phone(rng: &mut Rng, canonical: &str) -> String {
    let d = &canonical[1..]; // 10 digits
    let (a, b, c, e) = (&d[0..3], &d[3..6], &d[6..8], &d[8..10]);
    match rng.weighted(&[25.0, 20.0, 10.0, 1.0, 20.0, 8.0, 10.0, 6.0]) {
        0 => format!("+7 ({a}) {b}-{c}-{e}"),
        1 => format!("8{d}"),
        2 => d.to_string(),
        3 => format!("7-{a}-{b}-{c}-{e} доб. {}", rng.range(10, 99)),
        4 => format!("+7{d}"),
        5 => format!("8 ({a}) {b} {c} {e}"),
        6 => format!("+7 {a} {b}-{c}-{e}"),
        _ => format!("8-{a}-{b}-{c}{e}"),
    }
}

/// The same e-mail as people type it (case, spaces).
pub(crate) fn format_email(rng: &mut Rng, canonical: &str) -> String {
    match rng.weighted(&[88.0, 5.0, 4.0, 3.0]) {
        0 => canonical.to_string(),
        1 => canonical.to_uppercase(),
        2 => format!(" {canonical} "),
        _ => {
            let mut c = canonical.chars();
            let first = c
                .next()
                .map(|f| f.to_uppercase().to_string())
                .unwrap_or_default();
            format!("{first}{}", c.as_str())
        }
    }
}

// ---------------------------------------------------------------- registrations

struct Utm {
    source: Option<String>,
    medium: Option<String>,
    campaign: Option<String>,
    content: Option<String>,
    term: Option<String>,
}

fn paid_utm(rng: &mut Rng, c: &Campaign, platform: &str, contractor: bool) -> Utm {
    let source = match platform {
        "instagram" => {
            let opts = ["ig", "instagram", "instagram ", "IG", "Instagram"];
            opts[rng.weighted(&[40.0, 25.0, 15.0, 10.0, 10.0])]
        }
        "facebook" => {
            let opts = ["fb", "facebook", "FB", "Facebook"];
            opts[rng.weighted(&[45.0, 25.0, 15.0, 15.0])]
        }
        "tiktok" => {
            let opts = ["tt", "tiktok", "TikTok"];
            opts[rng.weighted(&[40.0, 45.0, 15.0])]
        }
        "vk" => {
            let opts = ["vk", "vk_ads", "VK"];
            opts[rng.weighted(&[60.0, 25.0, 15.0])]
        }
        "mytarget" => {
            let opts = ["mt", "mytarget", "myTarget"];
            opts[rng.weighted(&[40.0, 40.0, 20.0])]
        }
        "google" => {
            let opts = ["google", "gads", "Google"];
            opts[rng.weighted(&[60.0, 30.0, 10.0])]
        }
        "youtube" => {
            let opts = ["yt", "youtube", "YouTube"];
            opts[rng.weighted(&[40.0, 45.0, 15.0])]
        }
        _ => {
            let opts = ["ya", "yandex", "Yandex_Direct", "YANDEX", "direct"];
            opts[rng.weighted(&[25.0, 35.0, 20.0, 10.0, 10.0])]
        }
    };
    let campaign = match rng.weighted(&[50.0, 30.0, 10.0, 10.0]) {
        0 => c.id.clone(),
        1 => c.name.clone(),
        2 => c.name.to_lowercase(),
        _ => c.name.to_uppercase(),
    };
    let medium = if matches!(platform, "yandex" | "google" | "mytarget") {
        "cpc"
    } else if platform == "youtube" {
        *rng.pick(&["cpc", "video"])
    } else {
        *rng.pick(&["cpc", "paid", "target"])
    };
    let content = if platform == "yandex" {
        Some(rng.digits(11))
    } else if contractor {
        Some(format!("tp_creo_{}", rng.range(1, 12)))
    } else if rng.chance(0.7) {
        Some(format!("video_{}", rng.range(1, 9)))
    } else {
        None
    };
    let term = if (platform == "yandex" && c.name.contains("Поиск")) || platform == "google" {
        Some(rng.pick(KEYWORDS).to_string())
    } else {
        None
    };
    Utm {
        source: Some(source.to_string()),
        medium: Some(medium.to_string()),
        campaign: Some(campaign),
        content,
        term,
    }
}

fn organic_utm(rng: &mut Rng) -> (Utm, String) {
    let (source, medium, platform) = *rng.pick(&[
        ("tg", "post", "telegram"),
        ("telegram", "post", "telegram"),
        ("email", "newsletter", "email"),
        ("rassylka", "newsletter", "email"),
        ("blog", "article", "blog"),
        ("vk", "post", "vk"),
    ]);
    (
        Utm {
            source: Some(source.to_string()),
            medium: Some(medium.to_string()),
            campaign: Some(
                rng.pick(&["webinar", "anons", "vebinar_analitik"])
                    .to_string(),
            ),
            content: None,
            term: None,
        },
        platform.to_string(),
    )
}

#[allow(clippy::too_many_arguments)]
fn registrations(
    rng: &mut Rng,
    world: &mut World,
    ads: &Ads,
    campaigns: &[Campaign],
    launches: &[Launch],
    forms: &[Form],
    start: NaiveDate,
    days: u32,
    scale: f64,
    horizon: DateTime<Utc>,
) -> Vec<Registration> {
    let mut regs: Vec<Registration> = Vec::new();
    // persons who registered for some launch, with the launch id
    let mut past: Vec<(u32, u32)> = Vec::new();
    let contractor_accounts = ["100000000000002", "di-agency-shkola", "7301846520193847002"];
    for day in 0..days {
        let date = start + Duration::days(i64::from(day));
        let wd = WEEKDAY_REGS[date.weekday().num_days_from_monday() as usize];
        let launch = launches
            .iter()
            .find(|l| l.date >= date)
            .expect("a launch after every day");
        let to_webinar = (launch.date - date).num_days().clamp(0, 6) as usize;
        let cycle = [1.35, 1.2, 1.05, 0.95, 0.85, 0.8, 0.8][to_webinar];
        let n = (165.0 * wd * cycle * rng.noise(0.2) * scale)
            .round()
            .max(0.0) as usize;
        let touch_weights: Vec<f64> = ads.touches[day as usize]
            .iter()
            .map(|t| t.2 as f64 + 0.5)
            .collect();
        let mut today: Vec<Registration> = Vec::with_capacity(n + n / 10);
        for _ in 0..n {
            // Moscow 07:00..23:59, more in the evening
            let minute = if rng.chance(0.6) {
                rng.range(16 * 60, 23 * 60 + 59)
            } else {
                rng.range(7 * 60, 16 * 60)
            };
            let mut at = msk(date, 0, 0, 0)
                + Duration::minutes(minute)
                + Duration::seconds(rng.range(0, 59));
            // registrations for today's webinar stop at its start; later ones are for the next
            let launch_id = if at >= launch.starts_at {
                launches
                    .iter()
                    .find(|l| l.starts_at > at)
                    .map(|l| l.id)
                    .unwrap_or(launch.id)
            } else {
                launch.id
            };
            if at > horizon {
                at = horizon - Duration::seconds(rng.range(60, 3600));
            }
            // who
            let person_id = if !past.is_empty() && rng.chance(0.06) {
                let (pid, lid) = past[rng.index(past.len())];
                if lid != launch_id {
                    pid
                } else {
                    world.new_person(rng)
                }
            } else {
                world.new_person(rng)
            };
            // where from
            let (utm, touch) = match rng.weighted(&[72.0, 13.0, 15.0]) {
                0 if !touch_weights.is_empty() => {
                    let (ci, platform, _) = ads.touches[day as usize][rng.weighted(&touch_weights)];
                    let c = &campaigns[ci];
                    let contractor = contractor_accounts.contains(&c.account_id.as_str());
                    (
                        paid_utm(rng, c, platform, contractor),
                        Touch::Paid {
                            vendor: c.vendor,
                            account_id: c.account_id.clone(),
                            campaign_id: c.id.clone(),
                            platform: platform.to_string(),
                        },
                    )
                }
                1 | 0 => {
                    let (u, platform) = organic_utm(rng);
                    (u, Touch::Organic { platform })
                }
                _ => (
                    Utm {
                        source: None,
                        medium: None,
                        campaign: None,
                        content: None,
                        term: None,
                    },
                    Touch::None,
                ),
            };
            let form = if rng.chance(0.85) {
                &forms[0]
            } else {
                &forms[1]
            };
            let reg =
                make_registration(rng, world, person_id, form, Some(launch_id), at, utm, touch);
            let dup = rng.chance(0.03);
            if dup {
                let mut second = reg.clone();
                second.received_at = (reg.received_at + minutes(rng.range(2, 40))).min(horizon);
                let p = &world.persons[person_id as usize];
                if second.phone.is_some() {
                    second.phone = Some(format_phone(rng, &p.phone));
                }
                second.duplicate_of = Some(u32::MAX); // resolved after sorting
                today.push(second);
            }
            past.push((person_id, launch_id));
            today.push(reg);
        }
        // callback requests from people who already registered
        let callbacks = (4.0 * scale * rng.noise(0.5)).round() as usize;
        for _ in 0..callbacks {
            if past.is_empty() {
                break;
            }
            let (pid, _) = past[rng.index(past.len())];
            let at = (msk(date, 10, 0, 0) + minutes(rng.range(0, 600))).min(horizon);
            let none = Utm {
                source: None,
                medium: None,
                campaign: None,
                content: None,
                term: None,
            };
            let mut reg =
                make_registration(rng, world, pid, &forms[2], None, at, none, Touch::None);
            reg.email = None;
            today.push(reg);
        }
        // planted: applications by new people that nobody calls back
        if rng.chance(0.3) || day == days / 2 {
            let pid = world.new_person(rng);
            let at = (msk(date, 9, 0, 0) + minutes(rng.range(0, 12 * 60))).min(horizon);
            let none = Utm {
                source: None,
                medium: None,
                campaign: None,
                content: None,
                term: None,
            };
            let mut reg =
                make_registration(rng, world, pid, &forms[2], None, at, none, Touch::None);
            if reg.phone.is_none() {
                reg.phone = Some(format_phone(rng, &world.persons[pid as usize].phone));
            }
            reg.lost_lead = true;
            today.push(reg);
        }
        today.sort_by_key(|r| r.received_at);
        regs.extend(today);
    }
    // stable order: by receipt time; assign ids and tranids in receipt order
    regs.sort_by_key(|r| r.received_at);
    let mut tran: u64 = 7_606_836_802;
    let mut first_of: HashMap<(u32, String, NaiveDate), u32> = HashMap::new();
    for (i, r) in regs.iter_mut().enumerate() {
        r.id = i as u32 + 1;
        tran += rng.range(1_200, 48_000) as u64;
        r.tranid = format!("{TILDA_PROJECT}:{tran}");
        let key = (r.person_id, r.form_id.clone(), msk_date(r.received_at));
        if r.duplicate_of.is_some() {
            r.duplicate_of = first_of.get(&key).copied();
        }
        first_of.entry(key).or_insert(r.id);
        r.redelivered = rng.chance(0.015);
    }
    regs
}

#[allow(clippy::too_many_arguments)]
fn make_registration(
    rng: &mut Rng,
    world: &World,
    person_id: u32,
    form: &Form,
    launch_id: Option<u32>,
    at: DateTime<Utc>,
    utm: Utm,
    touch: Touch,
) -> Registration {
    let p = &world.persons[person_id as usize];
    let (with_email, with_phone) = match rng.weighted(&[78.0, 11.0, 11.0]) {
        0 => (true, true),
        1 => (true, false),
        _ => (false, true),
    };
    let name = match rng.weighted(&[55.0, 30.0, 10.0, 5.0]) {
        0 => p.first_name.clone(),
        1 => p.full_name(),
        2 => p.first_name.to_lowercase(),
        _ => format!("{} {}", p.last_name, p.first_name),
    };
    let cookies = if rng.chance(0.4) {
        Some(format!(
            "_ym_uid={}; _ga=GA1.1.{}.{}; roistat_visit={}",
            p.ym_uid,
            rng.digits(10),
            at.timestamp(),
            rng.digits(7)
        ))
    } else {
        None
    };
    Registration {
        id: 0,
        tranid: String::new(),
        form_id: form.id.clone(),
        form_name: form.name.clone(),
        is_registration: form.is_registration,
        launch_id,
        person_id,
        received_at: at,
        name,
        email: with_email.then(|| format_email(rng, &p.email)),
        phone: with_phone.then(|| format_phone(rng, &p.phone)),
        utm_source: utm.source,
        utm_medium: utm.medium,
        utm_campaign: utm.campaign,
        utm_content: utm.content,
        utm_term: utm.term,
        cookies,
        touch,
        duplicate_of: None,
        redelivered: false,
        lost_lead: false,
    }
}

// ---------------------------------------------------------------- CRM and orders

struct Crm {
    contacts: Vec<Contact>,
    deals: Vec<Deal>,
    events: Vec<StatusEvent>,
    orders: Vec<Order>,
    payments: Vec<Payment>,
}

#[derive(Clone, Copy, PartialEq)]
enum OrderKind {
    Full,
    Prepay,
    Pending,
    Cancelled,
    Unpaid,
}

struct Seed {
    person_id: u32,
    reg: usize,
    launch: Option<usize>,
    created_at: DateTime<Utc>,
    before_registration: bool,
}

fn round_1000(x: f64) -> i64 {
    ((x / 1000.0).round() as i64) * 1000
}

fn between(rng: &mut Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to - from).num_seconds().max(0);
    from + Duration::seconds(rng.range(0, span))
}

/// Crockford base32 ULID-like id from a time and the rng.
fn ulid(rng: &mut Rng, at: DateTime<Utc>) -> String {
    const A: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut ms = at.timestamp_millis().max(0) as u64;
    let mut time = [0u8; 10];
    for c in time.iter_mut().rev() {
        *c = A[(ms % 32) as usize];
        ms /= 32;
    }
    let mut s: String = time.iter().map(|&b| b as char).collect();
    for _ in 0..16 {
        s.push(A[rng.index(32)] as char);
    }
    s
}

/// (method, commission in thousandths).
fn payment_method(rng: &mut Rng, installment_ok: bool) -> (&'static str, i64) {
    let opts: [(&str, i64, f64); 4] = [
        ("Карта РФ (CloudPayments)", 35, 55.0),
        ("СБП", 7, 25.0),
        (
            "Тинькофф Рассрочка",
            49,
            if installment_ok { 12.0 } else { 0.0 },
        ),
        ("Перевод на расчётный счёт", 0, 8.0),
    ];
    let w: Vec<f64> = opts.iter().map(|o| o.2).collect();
    let o = opts[rng.weighted(&w)];
    (o.0, o.1)
}

#[allow(clippy::too_many_arguments)]
fn new_payment(
    rng: &mut Rng,
    order_idx: usize,
    person: &Person,
    at: DateTime<Utc>,
    status: PaymentStatus,
    amount: i64,
    installment_ok: bool,
    title: &str,
) -> Payment {
    let (method, fee) = payment_method(rng, installment_ok);
    let amount = rub(amount);
    let commission = if status == PaymentStatus::Received {
        (amount * Decimal::new(fee, 3)).round_dp(2)
    } else {
        Decimal::ZERO
    };
    Payment {
        number: 0,
        order_number: order_idx as u64,
        order_exists: true,
        user_name: person.full_name(),
        email: person.email.clone(),
        created_at: at,
        method: method.to_string(),
        status,
        amount,
        commission: commission.normalize(),
        code: rng.hex(20),
        title: title.to_string(),
        duplicated_in_export: false,
    }
}

struct OrderDraft {
    order: Order,
    kind: OrderKind,
    /// Time of the last payment if the order is fully paid.
    paid_full_at: Option<DateTime<Utc>>,
    any_paid: bool,
}

#[allow(clippy::too_many_arguments)]
fn draft_order(
    rng: &mut Rng,
    person: &Person,
    created_at: DateTime<Utc>,
    kind: OrderKind,
    product: (&str, i64),
    manager: String,
    deal_idx: Option<usize>,
    reg: Option<&Registration>,
    horizon: DateTime<Utc>,
    order_idx: usize,
    payments: &mut Vec<Payment>,
) -> OrderDraft {
    let (product_name, cost) = product;
    let mut pays: Vec<Payment> = Vec::new();
    let title = product_name;
    match kind {
        OrderKind::Full => {
            let t = created_at + minutes(rng.range(3, 24 * 60));
            pays.push(new_payment(
                rng,
                order_idx,
                person,
                t,
                PaymentStatus::Received,
                cost,
                true,
                title,
            ));
        }
        OrderKind::Prepay => {
            let pre = round_1000(cost as f64 * (0.2 + rng.f64() * 0.2)).max(3000);
            let mut t = created_at + minutes(rng.range(3, 24 * 60));
            pays.push(new_payment(
                rng,
                order_idx,
                person,
                t,
                PaymentStatus::Received,
                pre,
                false,
                title,
            ));
            let rest = cost - pre;
            let parts = if rest > 10_000 && rng.chance(0.5) {
                let a = round_1000(rest as f64 * 0.5);
                vec![a, rest - a]
            } else {
                vec![rest]
            };
            for part in parts {
                t += Duration::days(rng.range(3, 15)) + minutes(rng.range(0, 600));
                pays.push(new_payment(
                    rng,
                    order_idx,
                    person,
                    t,
                    PaymentStatus::Received,
                    part,
                    false,
                    title,
                ));
            }
        }
        OrderKind::Pending => {
            let t = created_at + minutes(rng.range(5, 60));
            pays.push(new_payment(
                rng,
                order_idx,
                person,
                t,
                PaymentStatus::Expected,
                cost,
                false,
                title,
            ));
        }
        OrderKind::Cancelled | OrderKind::Unpaid => {}
    }
    pays.retain(|p| p.created_at <= horizon);
    let received: Vec<&Payment> = pays
        .iter()
        .filter(|p| p.status == PaymentStatus::Received)
        .collect();
    let paid: Decimal = received.iter().map(|p| p.amount).sum();
    let commission: Decimal = received.iter().map(|p| p.commission).sum();
    let full = paid >= rub(cost);
    let paid_full_at = if full {
        received.last().map(|p| p.created_at)
    } else {
        None
    };
    let status = match kind {
        OrderKind::Cancelled => "Отменен",
        OrderKind::Pending => "Ожидает оплаты",
        OrderKind::Unpaid => {
            if rng.chance(0.5) {
                "Новый"
            } else {
                "В работе"
            }
        }
        _ if full => "Завершен",
        _ if paid > Decimal::ZERO => "Частично оплачен",
        _ => "Новый",
    };
    let phone = match rng.weighted(&[70.0, 20.0, 10.0]) {
        0 => format!("+{}", person.phone),
        1 => format!("8{}", &person.phone[1..]),
        _ => String::new(),
    };
    let utm = |f: fn(&Registration) -> &Option<String>| -> String {
        reg.and_then(|r| f(r).clone()).unwrap_or_default()
    };
    let with_utm = reg.is_some() && rng.chance(0.5);
    let pick = |s: String| if with_utm { s } else { String::new() };
    let mut tags = vec!["вебинар".to_string()];
    if let Some(l) = reg.and_then(|r| r.launch_id) {
        tags.push(format!("поток-{l}"));
    }
    if rng.chance(0.2) {
        tags.push("рассрочка".into());
    }
    let any_paid = paid > Decimal::ZERO;
    payments.extend(pays);
    OrderDraft {
        order: Order {
            id: 0,
            number: order_idx as u64,
            person_id: person.id,
            gc_user_id: person.gc_user_id,
            user_name: person.full_name(),
            email: person.email.clone(),
            phone,
            created_at,
            paid_at: paid_full_at,
            product: product_name.to_string(),
            status: status.to_string(),
            cost: rub(cost),
            paid,
            received: paid - commission,
            manager,
            deal_id: deal_idx.map(|d| d as u64),
            deal_id_in_export: deal_idx.is_some() && rng.chance(0.85),
            utm_source: pick(utm(|r| &r.utm_source)),
            utm_medium: pick(utm(|r| &r.utm_medium)),
            utm_campaign: pick(utm(|r| &r.utm_campaign)),
            utm_content: pick(utm(|r| &r.utm_content)),
            utm_term: pick(utm(|r| &r.utm_term)),
            tags,
            repeat: false,
        },
        kind,
        paid_full_at,
        any_paid,
    }
}

/// Status path of a deal and the times of each transition.
fn status_path(
    rng: &mut Rng,
    open: &[u64],
    final_status: u64,
    created_at: DateTime<Utc>,
    until: DateTime<Utc>,
) -> (u64, Vec<(u64, u64, DateTime<Utc>)>) {
    let start_idx = if rng.chance(0.3) && open.len() > 1 {
        1
    } else {
        0
    };
    let mut path: Vec<u64> = Vec::new();
    if let Some(k) = open.iter().position(|&s| s == final_status) {
        let k = k.max(start_idx);
        path.extend_from_slice(&open[start_idx..=k]);
    } else {
        // closed: walk some open statuses, then the final one
        let k = rng.range(start_idx as i64, (open.len() - 1).min(4) as i64) as usize;
        path.extend_from_slice(&open[start_idx..=k]);
        path.push(final_status);
    }
    let n = path.len() - 1;
    let span = (until - created_at).num_seconds().max(0);
    let mut fractions: Vec<i64> = (0..n).map(|_| rng.range(0, span)).collect();
    fractions.sort_unstable();
    if let Some(last) = fractions.last_mut()
        && !open.contains(&final_status)
    {
        *last = span; // closing happens at closed_at
    }
    let events = (0..n)
        .map(|i| {
            (
                path[i],
                path[i + 1],
                created_at + Duration::seconds(fractions[i]),
            )
        })
        .collect();
    (path[0], events)
}

#[allow(clippy::too_many_arguments)]
fn crm(
    rng: &mut Rng,
    persons: &[Person],
    regs: &[Registration],
    launches: &[Launch],
    users: &[User],
    horizon: DateTime<Utc>,
    start: NaiveDate,
    attended: &HashSet<usize>,
) -> Crm {
    let user_name = |id: u64| {
        users
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.name.clone())
            .unwrap_or_default()
    };
    let launch_idx = |id: Option<u32>| id.and_then(|id| launches.iter().position(|l| l.id == id));
    // ---- phase A: seeds
    let mut first_reg: HashMap<u32, usize> = HashMap::new();
    for (i, r) in regs.iter().enumerate() {
        first_reg.entry(r.person_id).or_insert(i);
    }
    let mut seen: HashSet<(u32, Option<u32>)> = HashSet::new();
    let mut seeds: Vec<Seed> = Vec::new();
    let mut non_deal: Vec<usize> = Vec::new();
    for (i, r) in regs.iter().enumerate() {
        if r.lost_lead || r.duplicate_of.is_some() || !seen.insert((r.person_id, r.launch_id)) {
            continue;
        }
        let li = launch_idx(r.launch_id);
        // attendees convert far better than the registrants who never came
        let p = match (r.is_registration, attended.contains(&i)) {
            (true, true) => 0.33,
            (true, false) => 0.09,
            (false, _) => 0.6,
        };
        if !rng.chance(p) {
            if r.is_registration {
                non_deal.push(i);
            }
            continue;
        }
        let created_at = match li {
            Some(l) if rng.chance(0.75) => launches[l].starts_at + minutes(rng.range(90, 72 * 60)),
            _ => r.received_at + minutes(rng.range(5, 6 * 60)),
        };
        if created_at > horizon {
            continue;
        }
        seeds.push(Seed {
            person_id: r.person_id,
            reg: i,
            launch: li,
            created_at,
            before_registration: false,
        });
    }
    // ---- phase B: deals created before any registration of the person
    let earliest = msk(start, 9, 0, 0);
    let mut planted = 0;
    for s in seeds.iter_mut() {
        let eligible = first_reg.get(&s.person_id) == Some(&s.reg)
            && regs[s.reg].received_at - Duration::days(4) > earliest;
        if eligible && (planted == 0 || rng.chance(0.015)) {
            let r = &regs[s.reg];
            s.created_at =
                r.received_at - Duration::days(rng.range(1, 3)) - minutes(rng.range(30, 600));
            s.before_registration = true;
            planted += 1;
        }
    }
    seeds.sort_by_key(|s| (s.created_at, s.reg));

    // ---- phase C: deals, orders, payments
    let mut deals: Vec<Deal> = Vec::new();
    let mut events: Vec<(usize, u64, u64, u64, u64, DateTime<Utc>)> = Vec::new();
    let mut drafts: Vec<OrderDraft> = Vec::new();
    let mut payments: Vec<Payment> = Vec::new();
    let mut won_before: HashSet<u32> = HashSet::new();
    let manager_weights: Vec<f64> = MANAGERS.iter().map(|m| m.1).collect();
    for s in &seeds {
        let person = &persons[s.person_id as usize];
        let reg = &regs[s.reg];
        let deal_idx = deals.len();
        let upsell = won_before.contains(&s.person_id);
        let (pipeline_id, open): (u64, &[u64]) = if upsell {
            (UPSELL_PIPELINE, &UPSELL_OPEN)
        } else {
            (MAIN_PIPELINE, &MAIN_OPEN)
        };
        let responsible = MANAGERS[rng.weighted(&manager_weights)].0;
        let has_order = rng.chance(if upsell { 0.5 } else { 0.4 });
        let product = *rng.pick(if upsell { REPEAT_PRODUCTS } else { PRODUCTS });
        // outcome
        let (final_status, closed_at, until): (u64, Option<DateTime<Utc>>, DateTime<Utc>);
        let mut order_draft = None;
        if has_order {
            let kind = [
                OrderKind::Full,
                OrderKind::Prepay,
                OrderKind::Pending,
                OrderKind::Cancelled,
                OrderKind::Unpaid,
            ][rng.weighted(&[55.0, 25.0, 8.0, 7.0, 5.0])];
            let after = match s.launch {
                Some(l) => s
                    .created_at
                    .max(launches[l].starts_at + minutes(i64::from(launches[l].offer_minute))),
                None => s.created_at,
            };
            let created = after + minutes(rng.range(5, 36 * 60));
            if created <= horizon {
                let manager = if rng.chance(0.9) {
                    user_name(responsible)
                } else {
                    String::new()
                };
                let d = draft_order(
                    rng,
                    person,
                    created,
                    kind,
                    product,
                    manager,
                    Some(deal_idx),
                    (!s.before_registration).then_some(reg),
                    horizon,
                    drafts.len(),
                    &mut payments,
                );
                order_draft = Some(d);
            }
        }
        let invoiced = open[open.len().saturating_sub(2)];
        let prepaid = open[open.len() - 1];
        match &order_draft {
            Some(d) if d.paid_full_at.is_some() => {
                let t = d.paid_full_at.unwrap_or(s.created_at) + minutes(rng.range(5, 180));
                if t <= horizon {
                    (final_status, closed_at, until) = (WON, Some(t), t);
                    won_before.insert(s.person_id);
                } else {
                    (final_status, closed_at, until) = (prepaid, None, horizon);
                }
            }
            Some(d) if d.any_paid => {
                (final_status, closed_at, until) = (prepaid, None, d.order.created_at.min(horizon));
            }
            Some(d) if d.kind == OrderKind::Cancelled => {
                let t = d.order.created_at + Duration::days(rng.range(1, 5));
                if t <= horizon {
                    (final_status, closed_at, until) = (LOST, Some(t), t);
                } else {
                    (final_status, closed_at, until) = (invoiced, None, d.order.created_at);
                }
            }
            Some(d) => {
                (final_status, closed_at, until) = (invoiced, None, d.order.created_at);
            }
            None if rng.chance(0.55) => {
                let t =
                    s.created_at + Duration::days(rng.range(1, 10)) + minutes(rng.range(0, 600));
                if t <= horizon {
                    (final_status, closed_at, until) = (LOST, Some(t), t);
                } else {
                    (final_status, closed_at, until) = (open[1], None, horizon);
                }
            }
            None => {
                let k = rng.index(open.len() - 1);
                let t = (s.created_at + minutes(rng.range(10, 5 * 24 * 60))).min(horizon);
                (final_status, closed_at, until) = (open[k], None, t);
            }
        }
        let until = until.max(s.created_at);
        let (_first, path) = status_path(rng, open, final_status, s.created_at, until);
        let mut updated_at = path.last().map(|e| e.2).unwrap_or(s.created_at);
        if rng.chance(0.3) {
            updated_at = (updated_at + minutes(rng.range(1, 120))).min(horizon);
        }
        let updated_at = updated_at.max(s.created_at);
        for (from, to, at) in path {
            events.push((deal_idx, pipeline_id, from, to, responsible, at));
        }
        let from_reg = !s.before_registration;
        let name = match reg.launch_id {
            Some(_) if from_reg => format!("Заявка с вебинара: {}", person.full_name()),
            _ if !reg.is_registration => format!("Обратный звонок: {}", person.full_name()),
            _ => format!("Входящий звонок: {}", person.full_name()),
        };
        deals.push(Deal {
            id: deal_idx as u64,
            name,
            person_id: s.person_id,
            contact_id: 0,
            price: if has_order || rng.chance(0.6) {
                product.1
            } else {
                0
            },
            responsible_user_id: responsible,
            pipeline_id,
            status_id: final_status,
            loss_reason_id: (final_status == LOST).then(|| *rng.pick(&LOSS_REASONS)),
            created_at: s.created_at,
            updated_at,
            closed_at,
            launch_id: if from_reg { reg.launch_id } else { None },
            registration_id: from_reg.then_some(reg.id),
            before_registration: s.before_registration,
            utm_source: if from_reg {
                reg.utm_source.clone()
            } else {
                None
            },
            utm_medium: if from_reg {
                reg.utm_medium.clone()
            } else {
                None
            },
            utm_campaign: if from_reg {
                reg.utm_campaign.clone()
            } else {
                None
            },
            utm_content: if from_reg {
                reg.utm_content.clone()
            } else {
                None
            },
            quiz_score: rng.chance(0.4).then(|| rng.range(0, 20) as u32),
        });
        if let Some(d) = order_draft {
            drafts.push(d);
        }
    }

    // ---- direct orders without a deal (bought on the webinar page)
    let dealt: HashSet<u32> = deals.iter().map(|d| d.person_id).collect();
    for &i in &non_deal {
        let r = &regs[i];
        if dealt.contains(&r.person_id) || !rng.chance(0.025) {
            continue;
        }
        let Some(l) = launch_idx(r.launch_id) else {
            continue;
        };
        let created = launches[l].starts_at + minutes(rng.range(60, 150));
        if created > horizon {
            continue;
        }
        let person = &persons[r.person_id as usize];
        let product = *rng.pick(&PRODUCTS[..2]);
        let idx = drafts.len();
        let d = draft_order(
            rng,
            person,
            created,
            OrderKind::Full,
            product,
            String::new(),
            None,
            Some(r),
            horizon,
            idx,
            &mut payments,
        );
        drafts.push(d);
    }

    // ---- repeat orders by people who already bought
    let mut repeats = 0;
    let n_before = drafts.len();
    for i in 0..n_before {
        let Some(paid_at) = drafts[i].paid_full_at else {
            continue;
        };
        let created = paid_at + Duration::days(rng.range(10, 25));
        if created + Duration::days(1) > horizon || !(repeats == 0 || rng.chance(0.08)) {
            continue;
        }
        let person = &persons[drafts[i].order.person_id as usize];
        let deal = drafts[i].order.deal_id.map(|d| d as usize);
        let manager = drafts[i].order.manager.clone();
        let product = *rng.pick(REPEAT_PRODUCTS);
        let idx = drafts.len();
        let mut d = draft_order(
            rng,
            person,
            created,
            OrderKind::Full,
            product,
            manager,
            deal,
            None,
            horizon,
            idx,
            &mut payments,
        );
        d.order.repeat = true;
        d.order.deal_id_in_export = deal.is_some() && rng.chance(0.5);
        drafts.push(d);
        repeats += 1;
    }

    // ---- partial refunds
    let mut refunds = 0;
    for d in drafts.iter_mut() {
        let Some(paid_at) = d.paid_full_at else {
            continue;
        };
        let at = paid_at + Duration::days(rng.range(3, 10));
        if d.kind != OrderKind::Full
            || d.order.cost < rub(19_000)
            || at > horizon
            || !(refunds == 0 || rng.chance(0.01))
        {
            continue;
        }
        let amount = round_1000(f64::try_from(d.order.cost).unwrap_or(0.0) * 0.3).max(5_000);
        let person = &persons[d.order.person_id as usize];
        let mut p = new_payment(
            rng,
            d.order.number as usize,
            person,
            at,
            PaymentStatus::Refunded,
            amount,
            false,
            &d.order.product,
        );
        p.method = "Возврат на карту".into();
        d.order.paid -= p.amount;
        d.order.received -= p.amount;
        payments.push(p);
        refunds += 1;
    }

    // ---- contacts, one per person with a deal
    let mut contact_of: BTreeMap<u32, usize> = BTreeMap::new();
    let mut contacts: Vec<Contact> = Vec::new();
    for d in deals.iter_mut() {
        let ci = *contact_of.entry(d.person_id).or_insert_with(|| {
            let p = &persons[d.person_id as usize];
            let mut phones = Vec::new();
            let mut emails = Vec::new();
            let with_phone = rng.chance(0.92);
            if with_phone {
                phones.push(format_phone(rng, &p.phone));
                if rng.chance(0.05) {
                    phones.push(format_phone(rng, &p.phone));
                }
            }
            if !with_phone || rng.chance(0.85) {
                emails.push(if rng.chance(0.1) {
                    p.email.to_uppercase()
                } else {
                    p.email.clone()
                });
            }
            contacts.push(Contact {
                id: 0,
                person_id: p.id,
                name: p.full_name(),
                first_name: p.first_name.clone(),
                last_name: p.last_name.clone(),
                responsible_user_id: d.responsible_user_id,
                phones,
                emails,
                created_at: d.created_at,
                updated_at: d.created_at,
            });
            contacts.len() - 1
        });
        let c = &mut contacts[ci];
        c.updated_at = c.updated_at.max(d.created_at);
        d.contact_id = ci as u64;
    }
    for c in contacts.iter_mut() {
        if rng.chance(0.3) {
            c.updated_at = (c.updated_at + minutes(rng.range(1, 3000))).min(horizon);
        }
    }

    // ---- final ids, in creation order
    let mut order: Vec<usize> = (0..contacts.len()).collect();
    order.sort_by_key(|&i| (contacts[i].created_at, i));
    let mut contact_ids = vec![0u64; contacts.len()];
    let mut next = 40_100_000u64;
    for &i in &order {
        next += rng.range(1, 30) as u64;
        contact_ids[i] = next;
        contacts[i].id = next;
    }
    contacts.sort_by_key(|c| c.id);

    let mut deal_ids = vec![0u64; deals.len()];
    let mut next = 30_500_000u64;
    for (i, d) in deals.iter_mut().enumerate() {
        // deals are already in creation order
        next += rng.range(1, 40) as u64;
        deal_ids[i] = next;
        d.id = next;
        d.contact_id = contact_ids[d.contact_id as usize];
    }

    let mut events: Vec<StatusEvent> = {
        events.sort_by_key(|e| (e.5, e.0));
        events
            .into_iter()
            .map(|(di, pipeline_id, from, to, by, at)| StatusEvent {
                id: ulid(rng, at),
                deal_id: deal_ids[di],
                pipeline_id,
                from_status: from,
                to_status: to,
                created_by: by,
                created_at: at,
            })
            .collect()
    };
    events.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));

    let mut order_idx: Vec<usize> = (0..drafts.len()).collect();
    order_idx.sort_by_key(|&i| (drafts[i].order.created_at, i));
    let mut numbers = vec![0u64; drafts.len()];
    let (mut next_id, mut next_no) = (871_000_000u64, 11_892_000u64);
    let mut orders: Vec<Order> = Vec::with_capacity(drafts.len());
    let mut drafts: Vec<Option<OrderDraft>> = drafts.into_iter().map(Some).collect();
    for &i in &order_idx {
        let mut o = drafts[i].take().expect("each draft once").order;
        next_id += rng.range(1, 5_000) as u64;
        next_no += rng.range(1, 3) as u64;
        numbers[i] = next_no;
        o.id = next_id;
        o.number = next_no;
        o.deal_id = o.deal_id.map(|d| deal_ids[d as usize]);
        orders.push(o);
    }
    for p in payments.iter_mut() {
        p.order_number = numbers[p.order_number as usize];
    }

    // ---- a payment that matches no order
    let orphan_at = between(
        rng,
        msk(start, 10, 0, 0) + Duration::days(3),
        horizon - Duration::days(1),
    );
    let max_no = orders.iter().map(|o| o.number).max().unwrap_or(11_892_000);
    let mut orphan_email = "galina.petrovna1961@rambler.ru".to_string();
    while persons.iter().any(|p| p.email == orphan_email) {
        orphan_email.insert(0, 'x');
    }
    payments.push(Payment {
        number: 0,
        order_number: max_no + 777,
        order_exists: false,
        user_name: "Галина Петровна".into(),
        email: orphan_email,
        created_at: orphan_at,
        method: "Перевод на расчётный счёт".into(),
        status: PaymentStatus::Received,
        amount: rub(9_900),
        commission: Decimal::ZERO,
        code: rng.hex(20),
        title: "Оплата по счёту".into(),
        duplicated_in_export: false,
    });

    payments.sort_by_key(|p| p.created_at);
    let mut next = 4_100_000u64;
    for p in payments.iter_mut() {
        next += rng.range(1, 9) as u64;
        p.number = next;
    }
    // ---- a payment row exported twice
    let received: Vec<usize> = payments
        .iter()
        .enumerate()
        .filter(|(_, p)| p.status == PaymentStatus::Received && p.order_exists)
        .map(|(i, _)| i)
        .collect();
    if !received.is_empty() {
        payments[received[received.len() / 2]].duplicated_in_export = true;
    }

    Crm {
        contacts,
        deals,
        events,
        orders,
        payments,
    }
}

// ---------------------------------------------------------------- CBR rates

fn rates(rng: &mut Rng, start: NaiveDate, end: NaiveDate) -> Vec<RateSet> {
    let mut usd = 88.0 + rng.f64() * 6.0;
    let mut eur_ratio = 1.07 + rng.f64() * 0.03;
    let mut out = Vec::new();
    let mut d = start - Duration::days(10);
    let last = end + Duration::days(1);
    while d <= last {
        let wd = d.weekday();
        if !matches!(wd, Weekday::Sun | Weekday::Mon) {
            usd = (usd + (rng.f64() - 0.5) * 1.2).clamp(81.0, 99.0);
            eur_ratio = (eur_ratio + (rng.f64() - 0.5) * 0.004).clamp(1.04, 1.12);
            let amd_per_usd = 385.0 + rng.f64() * 8.0;
            let cny_per_usd = 7.1 + rng.f64() * 0.1;
            let v4 = |x: f64| Decimal::new((x * 10_000.0).round() as i64, 4);
            let rate = |id: &str, num: &str, code: &str, nominal: u32, name: &str, v: f64| Rate {
                id: id.into(),
                num_code: num.into(),
                char_code: code.into(),
                nominal,
                name: name.into(),
                value: v4(v),
            };
            out.push(RateSet {
                date: d,
                rates: vec![
                    rate(
                        "R01060",
                        "051",
                        "AMD",
                        100,
                        "Армянских драмов",
                        usd * 100.0 / amd_per_usd,
                    ),
                    rate("R01235", "840", "USD", 1, "Доллар США", usd),
                    rate("R01239", "978", "EUR", 1, "Евро", usd * eur_ratio),
                    rate(
                        "R01375",
                        "156",
                        "CNY",
                        1,
                        "Китайский юань",
                        usd / cny_per_usd,
                    ),
                ],
            });
        }
        d += Duration::days(1);
    }
    out
}
