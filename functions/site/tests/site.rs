//! Renders a small hand-made `Marts` and checks the pages.
//!
//! Set `VORONKA_SITE_DUMP=<dir>` to also write the rendered sample site
//! there (to open it in a browser or take a screenshot).

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use voronka_core::metrics::{
    CashRow, ChannelRow, CheckResult, CheckStatus, Marts, NO_CONTRACTOR, Summary,
    UNDEFINED_PLATFORM,
};
use voronka_site::{SiteFile, SiteInput, render_site};

const NNBSP: char = '\u{202F}';
const NBSP: char = '\u{00A0}';

fn d(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, day).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn row(
    day: u32,
    platform: &str,
    campaign: &str,
    contractor: &str,
    spend: Decimal,
    clicks: u64,
    leads: u64,
    sales: u64,
    revenue1: Decimal,
    revenue2: Decimal,
) -> ChannelRow {
    ChannelRow {
        date: d(day),
        platform: platform.to_string(),
        campaign: campaign.to_string(),
        contractor: contractor.to_string(),
        spend,
        impressions: clicks * 40,
        clicks,
        sessions: clicks / 2,
        leads,
        attendees: leads / 2,
        applications: sales,
        sales,
        customers: sales,
        revenue1,
        revenue2,
    }
}

fn check(check: &str, scope: &str, status: CheckStatus, detail: &str) -> CheckResult {
    CheckResult {
        check: check.to_string(),
        scope: scope.to_string(),
        status,
        detail: detail.to_string(),
    }
}

/// Spend 52 300 ₽, 97 leads, 5 sales; the unattributed row has no spend
/// (its ROMI is undefined).
fn sample() -> Marts {
    let channels = vec![
        row(
            1,
            "vk",
            "Осень_вебинар",
            "Агентство Альфа",
            dec!(30000),
            1200,
            60,
            3,
            dec!(45000),
            dec!(60000),
        ),
        row(
            2,
            "vk",
            "Осень_вебинар",
            "Агентство Альфа",
            dec!(12300),
            500,
            20,
            1,
            dec!(15000),
            dec!(15000),
        ),
        row(
            2,
            "yandex",
            "Поиск <бренд> & co",
            NO_CONTRACTOR,
            dec!(10000),
            300,
            12,
            0,
            dec!(0),
            dec!(0),
        ),
        row(
            3,
            UNDEFINED_PLATFORM,
            "",
            NO_CONTRACTOR,
            dec!(0),
            0,
            5,
            1,
            dec!(20000),
            dec!(25000),
        ),
    ];
    let spend = dec!(52300);
    let (revenue1, revenue2) = (dec!(80000), dec!(100000));
    let summary = Summary {
        from: d(1),
        to: d(3),
        spend,
        impressions: 80000,
        clicks: 2000,
        leads: 97,
        applications: 5,
        sales: 5,
        customers: 5,
        revenue1,
        revenue2,
        cash_revenue: dec!(95000),
        prepayments: dec!(10000),
        surcharges: dec!(20000),
        refunds: dec!(-5000),
        variable_costs: dec!(3000),
        margin: revenue2 - spend - dec!(3000),
        cpl: Some(spend / dec!(97)),
        cac: Some(spend / dec!(5)),
        avg_check1: Some(revenue1 / dec!(5)),
        avg_check2: Some(revenue2 / dec!(5)),
        ltv1: Some(revenue1 / dec!(5)),
        ltv2: Some(revenue2 / dec!(5)),
        romi1: Some((revenue1 - spend) / spend * dec!(100)),
        romi2: Some((revenue2 - spend) / spend * dec!(100)),
    };
    let cash = (1..=3)
        .map(|day| CashRow {
            date: d(day),
            revenue: dec!(31666.665),
            prepayments: Decimal::ZERO,
            surcharges: Decimal::ZERO,
            refunds: Decimal::ZERO,
            spend: dec!(17433.333),
        })
        .collect();
    Marts {
        as_of: d(3),
        timezone: "Europe/Moscow".to_string(),
        attribution: "last_touch".to_string(),
        channels,
        cash,
        summary,
        checks: vec![
            check(
                "freshness",
                "facebook:main",
                CheckStatus::Green,
                "данные за 02.12.2026",
            ),
            check(
                "unattributed",
                "all",
                CheckStatus::Yellow,
                "5 % лидов без источника",
            ),
            check("reconciliation", "all", CheckStatus::Green, ""),
        ],
        managers: Vec::new(),
        manager_weeks: Vec::new(),
        cohorts: Vec::new(),
        funnel: Vec::new(),
        pipeline_stages: Vec::new(),
    }
}

fn stamp() -> NaiveDateTime {
    d(3).and_hms_opt(9, 15, 0).unwrap()
}

fn render(m: &Marts) -> Vec<SiteFile> {
    render_site(&SiteInput {
        marts: m,
        title: "Школа «Пример»",
        generated_at_local: stamp(),
    })
    .expect("site renders")
}

fn page<'a>(files: &'a [SiteFile], path: &str) -> &'a str {
    let f = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is rendered"));
    std::str::from_utf8(&f.bytes).expect("utf-8")
}

/// The `<tr>` of a table body whose text contains `needle`.
fn table_row<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} in page"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

#[test]
fn files_are_sorted_and_complete() {
    let files = render(&sample());
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "assets/app.js",
            "assets/echarts.min.js",
            "assets/noscript.css",
            "assets/site.css",
            "checks.html",
            "data/cash.json",
            "data/channels.json",
            "data/summary.json",
            "glossary.html",
            "index.html",
            "version.json",
        ]
    );
    assert_eq!(files[4].path, "checks.html");
    assert_eq!(files[4].content_type, "text/html; charset=utf-8");
    if let Ok(dir) = std::env::var("VORONKA_SITE_DUMP") {
        for f in &files {
            let p = std::path::Path::new(&dir).join(&f.path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, &f.bytes).unwrap();
        }
    }
}

#[test]
fn index_shows_header_cards_and_tables() {
    let files = render(&sample());
    let html = page(&files, "index.html");
    for needle in [
        "<html lang=\"ru\">",
        "name=\"viewport\"",
        "Окупается ли реклама?",
        "Школа «Пример»",
        "01.12.2026 – 03.12.2026",
        "Обновлено: 03.12.2026 09:15 (МСК)",
        "последнее значимое касание",
        "когорты",
        "badge--yellow",
        "href=\"checks.html\"",
        "норма 2 · внимание 1 · ошибка 0",
        "Расход и выручка по дням",
        "href=\"glossary.html#cpl\"",
        "href=\"glossary.html#romi2\"",
        "Выручка (первые платежи)",
        "Выручка (с доплатами)",
        "LTV2",
    ] {
        assert!(html.contains(needle), "index.html lacks {needle:?}");
    }
    // Cards: roubles, narrow no-break spaces, no-break space before ₽.
    assert!(html.contains(&format!("52{NNBSP}300{NBSP}₽")));
    assert!(
        html.contains(&format!("539{NBSP}₽")),
        "CPL card, 52300/97 = 539.18"
    );
    assert!(html.contains(&format!("53,0{NBSP}%")), "ROMI1 card");
    assert!(html.contains(&format!("91,2{NBSP}%")), "ROMI2 card");
    assert!(html.contains("₽ / 97 лидов"), "CPL inputs");

    // Platform table: aggregated by platform, kopecks, biggest spend first.
    let vk = table_row(html, "fill=\"#0072B2\"/></svg>VK</th>");
    assert!(vk.contains(&format!("42{NNBSP}300,00{NBSP}₽")), "{vk}");
    assert!(vk.contains(&format!("60{NNBSP}000,00{NBSP}₽")));
    assert!(vk.contains(&format!("75{NNBSP}000,00{NBSP}₽")));
    assert!(vk.contains(&format!("528,75{NBSP}₽")), "CPL 42300/80");
    let undefined = table_row(html, "(не определено)</th>");
    assert!(undefined.contains("class=\"na\">—</td>"), "{undefined}");
    let yandex_at = html.find("Яндекс</th>").unwrap();
    let undefined_at = html.find("(не определено)</th>").unwrap();
    assert!(html.find("VK</th>").unwrap() < yandex_at && yandex_at < undefined_at);

    // Campaign table, with names escaped.
    assert!(html.contains("Осень_вебинар"));
    assert!(html.contains("Агентство Альфа"));
    assert!(html.contains("Поиск &lt;бренд&gt; &amp; co"));
    assert!(!html.contains("<бренд>"));
    assert!(!html.contains("style="), "no inline styles (strict CSP)");
    assert!(html.contains("(без кампании)"));

    // Chart alternative table.
    assert!(html.contains("data-chart-alt"));
    assert!(html.contains(&format!(
        "<th scope=\"row\">02.12.2026</th><td>22{NNBSP}300,00{NBSP}₽</td>"
    )));
}

#[test]
fn output_is_byte_identical_across_renders() {
    let m = sample();
    assert_eq!(render(&m), render(&m));
}

#[test]
fn pages_make_no_third_party_requests() {
    let files = render(&sample());
    for f in files
        .iter()
        .filter(|f| f.path.ends_with(".html") || f.path.ends_with(".css"))
    {
        let text = std::str::from_utf8(&f.bytes).unwrap();
        for attr in ["src=", "href=", "url("] {
            for (at, _) in text.match_indices(attr) {
                let value = text[at + attr.len()..].trim_start_matches(['"', '\'']);
                assert!(
                    !(value.starts_with("http:")
                        || value.starts_with("https:")
                        || value.starts_with("//")),
                    "{}: external reference at {at}: {}",
                    f.path,
                    &value[..value.len().min(60)]
                );
            }
        }
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{}",
            f.path
        );
    }
    let index = page(&files, "index.html");
    assert!(index.contains("<script src=\"assets/echarts.min.js\" defer></script>"));
    assert!(index.contains("<script src=\"assets/app.js\" defer></script>"));
    // The only inline <script> is the JSON data block.
    for (at, _) in index.match_indices("<script") {
        let tag = &index[at..at + index[at..].find('>').unwrap()];
        assert!(
            tag.contains("src=\"assets/") || tag.contains("type=\"application/json\""),
            "{tag}"
        );
    }
}

#[test]
fn chart_options_are_strict_json() {
    let files = render(&sample());
    let html = page(&files, "index.html");
    let open = "<script type=\"application/json\" id=\"chart-daily-data\">";
    let start = html.find(open).unwrap() + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    let v: serde_json::Value = serde_json::from_str(&html[start..end]).expect("chart JSON parses");
    assert_eq!(
        v["xAxis"]["data"],
        serde_json::json!(["01.12.2026", "02.12.2026", "03.12.2026"])
    );
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 3);
    assert_eq!(series[0]["type"], "bar");
    assert_eq!(series[0]["name"], "Расход");
    assert_eq!(
        series[0]["data"],
        serde_json::json!([30000.0, 22300.0, 0.0])
    );
    assert_eq!(
        series[2]["data"],
        serde_json::json!([60000.0, 15000.0, 25000.0])
    );
}

#[test]
fn checks_page_lists_every_check_worst_first() {
    let files = render(&sample());
    let html = page(&files, "checks.html");
    assert!(html.contains("Проверка данных"));
    let yellow = html.find("status--yellow").unwrap();
    let green = html.find("status--green").unwrap();
    assert!(yellow < green);
    assert_eq!(html.matches("class=\"status status--").count(), 3);
    for needle in [
        "внимание",
        "норма",
        "Доля без источника",
        "5 % лидов без источника",
        "facebook:main",
    ] {
        assert!(html.contains(needle), "checks.html lacks {needle:?}");
    }
}

#[test]
fn glossary_has_every_linked_metric() {
    let files = render(&sample());
    let index = page(&files, "index.html");
    let glossary = page(&files, "glossary.html");
    for (at, _) in index.match_indices("glossary.html#") {
        let rest = &index[at + "glossary.html#".len()..];
        let id = &rest[..rest.find('"').unwrap()];
        assert!(
            glossary.contains(&format!("id=\"{id}\"")),
            "glossary lacks #{id}"
        );
    }
    assert!(glossary.contains("Цена лида = Расход / Лиды"));
}

#[test]
fn data_files_keep_money_exact() {
    let files = render(&sample());
    let summary: serde_json::Value =
        serde_json::from_str(page(&files, "data/summary.json")).unwrap();
    assert_eq!(summary["spend"], "52300.00");
    assert_eq!(summary["cpl"], "539.18");
    assert_eq!(summary["leads"], 97);
    assert_eq!(summary["checks"]["yellow"], 1);
    let channels: serde_json::Value =
        serde_json::from_str(page(&files, "data/channels.json")).unwrap();
    assert_eq!(channels["columns"][4], "spend");
    assert_eq!(channels["rows"].as_array().unwrap().len(), 4);
    assert_eq!(channels["rows"][1][4], "12300.00");
    let cash: serde_json::Value = serde_json::from_str(page(&files, "data/cash.json")).unwrap();
    assert_eq!(cash["rows"][0][1], "31666.67");
    assert_eq!(
        page(&files, "version.json"),
        r#"{"as_of":"2026-12-03","generated_at":"2026-12-03T09:15:00","timezone":"Europe/Moscow"}"#
    );
}

#[test]
fn empty_marts_render_with_dashes() {
    let mut m = sample();
    m.channels.clear();
    m.cash.clear();
    m.checks.clear();
    m.summary = Summary {
        from: d(3),
        to: d(3),
        ..Summary::default()
    };
    m.timezone = "Asia/Yekaterinburg".to_string();
    m.attribution = "first_touch".to_string();
    let files = render(&m);
    let html = page(&files, "index.html");
    assert!(html.contains("Нет данных за период"));
    assert!(html.contains("(Asia/Yekaterinburg)"));
    assert!(html.contains("первое касание"));
    assert!(html.contains("badge--none"));
    assert!(html.contains("card__value na\">—</span>"));
}
