//! Renders a small hand-made `Marts` and checks the pages.
//!
//! Set `VORONKA_SITE_DUMP=<dir>` to also write the rendered sample site
//! there (to open it in a browser or take a screenshot).

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use voronka_core::metrics::{
    CashRow, ChannelRow, CheckResult, CheckStatus, CohortCell, FunnelRow, ManagerRow,
    ManagerWeekRow, Marts, NO_CONTRACTOR, NO_MANAGER, PipelineStageRow, Summary,
    UNDEFINED_PLATFORM,
};
use voronka_site::{SiteFile, SiteInput, manager_links, manager_token, render_site};

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
        managers: managers(),
        manager_weeks: manager_weeks(),
        cohorts: cohorts(),
        funnel: funnel(),
        pipeline_stages: pipeline_stages(),
    }
}

const ANNA: &str = "Анна Смирнова";
const BORIS: &str = "Борис Орлов";

#[allow(clippy::too_many_arguments)]
fn manager(
    month: &str,
    name: &str,
    leads: u64,
    sales: u64,
    revenue: Decimal,
    plan: Option<Decimal>,
    forecast: Decimal,
) -> ManagerRow {
    ManagerRow {
        month: month.to_string(),
        manager: name.to_string(),
        leads,
        sales,
        revenue,
        avg_check1: (sales > 0).then(|| revenue / Decimal::from(sales)),
        avg_check2: (sales > 0).then(|| revenue / Decimal::from(sales)),
        conversion: (leads > 0).then(|| Decimal::from(sales) / Decimal::from(leads)),
        spend: dec!(1000),
        romi1: Some(dec!(150)),
        romi2: Some(dec!(175)),
        plan_revenue: plan,
        plan_sales: None,
        remaining: plan.map(|p| (p - revenue).max(Decimal::ZERO)),
        percent: plan.map(|p| revenue / p * dec!(100)),
        remaining_sales: None,
        forecast: Some(forecast),
    }
}

/// Anna: 123 456,78 ₽ of 200 000 (61,7 %); Boris: 987 654,32 ₽ of
/// 2 000 000 (49,4 %) — so Anna leads on percent with less money.
fn managers() -> Vec<ManagerRow> {
    vec![
        manager("2026-11", ANNA, 10, 3, dec!(90000), None, dec!(90000)),
        manager("2026-12", NO_MANAGER, 0, 0, dec!(700), None, dec!(7233.33)),
        manager(
            "2026-12",
            ANNA,
            8,
            4,
            dec!(123456.78),
            Some(dec!(200000)),
            dec!(1275720.06),
        ),
        manager(
            "2026-12",
            BORIS,
            12,
            6,
            dec!(987654.32),
            Some(dec!(2000000)),
            dec!(10205761.31),
        ),
    ]
}

fn week(day: NaiveDate, name: &str, sales: u64, revenue: Decimal) -> ManagerWeekRow {
    ManagerWeekRow {
        week: day,
        manager: name.to_string(),
        leads: 5,
        sales,
        revenue,
        conversion: Some(Decimal::from(sales) / dec!(5)),
    }
}

fn manager_weeks() -> Vec<ManagerWeekRow> {
    let nov = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    vec![
        week(nov(16), ANNA, 1, dec!(30000)),
        week(nov(23), ANNA, 2, dec!(60000)),
        week(nov(30), ANNA, 4, dec!(123456.78)),
        week(nov(30), BORIS, 6, dec!(55555.55)),
    ]
}

fn cell(cohort: &str, age: u32, customers: u64, revenue2: Decimal, forecast: bool) -> CohortCell {
    CohortCell {
        granularity: "month".to_string(),
        cohort: cohort.to_string(),
        age,
        customers,
        revenue2,
        spend: dec!(10000),
        ltv2: Some(revenue2 / Decimal::from(customers)),
        romi2: Some((revenue2 - dec!(10000)) / dec!(100)),
        forecast,
    }
}

fn cohorts() -> Vec<CohortCell> {
    vec![
        cell("2026-11", 0, 2, dec!(20000), false),
        cell("2026-11", 1, 3, dec!(45000), false),
        cell("2026-12", 0, 1, dec!(15000), false),
        cell("2026-12", 1, 1, dec!(33750), true),
    ]
}

#[allow(clippy::too_many_arguments)]
fn frow(
    day: u32,
    platform: &str,
    product: &str,
    manager: &str,
    leads: u64,
    attendees: u64,
    applications: u64,
    sales: u64,
) -> FunnelRow {
    FunnelRow {
        date: d(day),
        platform: platform.to_string(),
        campaign: "Осень_вебинар".to_string(),
        contractor: NO_CONTRACTOR.to_string(),
        product: product.to_string(),
        manager: manager.to_string(),
        leads,
        attendees,
        stayed_to_offer: attendees / 2,
        applications,
        sales,
        revenue1: Decimal::from(sales) * dec!(15000),
        revenue2: Decimal::from(sales) * dec!(20000),
    }
}

fn funnel() -> Vec<FunnelRow> {
    let mut rows = vec![
        frow(1, "vk", "", "", 80, 40, 0, 0),
        frow(1, "vk", "Курс аналитики", ANNA, 0, 0, 4, 2),
        frow(2, "vk", "Курс аналитики", BORIS, 0, 0, 3, 1),
        frow(2, "yandex", "Интенсив", BORIS, 0, 0, 2, 1),
    ];
    // The previous period converted applications to sales better.
    let mut prev = frow(1, "vk", "Курс аналитики", ANNA, 50, 25, 10, 9);
    prev.date = NaiveDate::from_ymd_opt(2026, 10, 20).unwrap();
    rows.insert(0, prev);
    rows
}

fn pipeline_stages() -> Vec<PipelineStageRow> {
    ["Новая заявка", "Выставлен счёт", "Успешно реализовано"]
        .iter()
        .enumerate()
        .map(|(i, s)| PipelineStageRow {
            pipeline_id: "1".to_string(),
            pipeline: "Продажи курса".to_string(),
            status_id: format!("{}", 10 + i),
            status: s.to_string(),
            sort: i as i64 * 10,
            reached: 10 - 3 * i as u64,
            current: 2,
        })
        .collect()
}

fn stamp() -> NaiveDateTime {
    d(3).and_hms_opt(9, 15, 0).unwrap()
}

const SECRET: &[u8] = b"test-link-secret";

fn render(m: &Marts) -> Vec<SiteFile> {
    render_with(m, Some(SECRET))
}

fn render_with(m: &Marts, secret: Option<&[u8]>) -> Vec<SiteFile> {
    render_site(&SiteInput {
        marts: m,
        title: "Школа «Пример»",
        generated_at_local: stamp(),
        link_secret: secret,
    })
    .expect("site renders")
}

fn private_path(name: &str) -> String {
    format!("m/{}/index.html", manager_token(SECRET, name))
}

fn is_private(path: &str) -> bool {
    path.starts_with("m/")
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
    let mut expected = vec![
        "assets/app.js",
        "assets/echarts.min.js",
        "assets/noscript.css",
        "assets/site.css",
        "assets/tv.css",
        "assets/tv.js",
        "checks.html",
        "data/cash.json",
        "data/channels.json",
        "data/funnel.json",
        "data/summary.json",
        "funnel.html",
        "glossary.html",
        "index.html",
    ];
    let (anna, boris) = (private_path(ANNA), private_path(BORIS));
    let mut private = vec![anna.as_str(), boris.as_str()];
    private.sort();
    expected.extend(private);
    expected.extend([
        "managers.html",
        "robots.txt",
        "targeting.html",
        "tv/index.html",
        "version.json",
    ]);
    assert_eq!(paths, expected);
    let checks = files.iter().find(|f| f.path == "checks.html").unwrap();
    assert_eq!(checks.content_type, "text/html; charset=utf-8");
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
        "04.11.2026 – 03.12.2026",
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
    let vk = table_row(html, "fill=\"#0072B2\"/></svg>VK</button></th>");
    assert!(vk.contains(&format!("42{NNBSP}300,00{NBSP}₽")), "{vk}");
    assert!(vk.contains(&format!("60{NNBSP}000,00{NBSP}₽")));
    assert!(vk.contains(&format!("75{NNBSP}000,00{NBSP}₽")));
    assert!(vk.contains(&format!("528,75{NBSP}₽")), "CPL 42300/80");
    let undefined = table_row(html, "(не определено)</button></th>");
    assert!(undefined.contains("class=\"na\">—</td>"), "{undefined}");
    let yandex_at = html.find("Яндекс</button></th>").unwrap();
    let undefined_at = html.find("(не определено)</button></th>").unwrap();
    assert!(html.find("VK</button></th>").unwrap() < yandex_at && yandex_at < undefined_at);

    // Campaign table, with names escaped.
    assert!(html.contains("Осень_вебинар"));
    assert!(html.contains("Агентство Альфа"));
    assert!(html.contains("Поиск &lt;бренд&gt; &amp; co"));
    assert!(!html.contains("<бренд>"));
    assert!(!html.contains("style="), "no inline styles (strict CSP)");
    assert!(html.contains("(без кампании)"));

    // Chart alternative table.
    assert!(html.contains("Таблица: расход и выручка по дням"));
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
    let html = page(&files, "targeting.html");
    let open = "<script type=\"application/json\" id=\"chart-ltv-data\">";
    let start = html.find(open).unwrap() + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    let v: serde_json::Value = serde_json::from_str(&html[start..end]).expect("chart JSON parses");
    assert_eq!(v["xAxis"]["data"], serde_json::json!(["0", "1"]));
    let series = v["series"].as_array().unwrap();
    // Fact and forecast line per cohort; forecast dashed, joined at the
    // last fact point.
    assert_eq!(series.len(), 4);
    assert_eq!(series[2]["name"], "декабрь 2026");
    assert_eq!(series[2]["data"], serde_json::json!([15000.0, null]));
    assert_eq!(series[3]["name"], "декабрь 2026 · прогноз");
    assert_eq!(series[3]["lineStyle"]["type"], "dashed");
    assert_eq!(series[3]["data"], serde_json::json!([15000.0, 33750.0]));
    assert_eq!(series[1]["data"], serde_json::json!([null, null]));
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
        // Scopes by their Russian labels, sources by display name.
        "<td>Facebook Ads: main</td>",
        "<td>Все данные</td>",
    ] {
        assert!(html.contains(needle), "checks.html lacks {needle:?}");
    }
    assert!(
        !html.contains("<td>all</td>"),
        "raw scope id on checks.html"
    );
}

#[test]
fn check_scopes_have_russian_labels() {
    use voronka_site::view::scope_label;
    assert_eq!(scope_label("crm_vs_payments", "orders"), "Заказы");
    assert_eq!(scope_label("reconciliation", "spend"), "Расход");
    assert_eq!(scope_label("spend_anomaly", "spend"), "Расход по площадкам");
    assert_eq!(
        scope_label("spend_anomaly", "campaign_spend"),
        "Расход по кампаниям"
    );
    assert_eq!(
        scope_label("unattributed", "revenue2"),
        "Выручка (с доплатами)"
    );
    assert_eq!(
        scope_label("freshness", "yandex_direct:shkola-analitiki"),
        "Яндекс Директ: shkola-analitiki"
    );
    // Unknown sources and scopes stay as they are.
    assert_eq!(scope_label("freshness", "partner:42"), "partner:42");
    assert_eq!(scope_label("future", "something"), "something");
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
    assert!(html.contains("card__value na\" data-v>—</span>"));
}

const PUBLIC_PAGES: [&str; 7] = [
    "index.html",
    "targeting.html",
    "managers.html",
    "funnel.html",
    "checks.html",
    "glossary.html",
    "tv/index.html",
];

#[test]
fn every_page_shows_header_facts_and_the_checks_badge() {
    let files = render(&sample());
    let anna = private_path(ANNA);
    for path in PUBLIC_PAGES.iter().copied().chain([anna.as_str()]) {
        let html = page(&files, path);
        let root = match path.matches('/').count() {
            0 => "",
            1 => "../",
            _ => "../../",
        };
        for needle in [
            "Обновлено: 03.12.2026 09:15 (МСК)".to_string(),
            "последнее значимое касание".to_string(),
            format!("href=\"{root}checks.html\""),
            "Проверка данных: есть замечания".to_string(),
            "<html lang=\"ru\">".to_string(),
        ] {
            assert!(html.contains(&needle), "{path} lacks {needle:?}");
        }
        assert!(
            html.contains("База") || html.contains("база:"),
            "{path}: basis"
        );
        assert!(!html.contains("style="), "{path}: no inline styles");
        for (at, _) in html.match_indices("<script") {
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            assert!(
                tag.contains(&format!("src=\"{root}assets/"))
                    || tag.contains("type=\"application/json\""),
                "{path}: {tag}"
            );
        }
    }
}

#[test]
fn pages_answer_their_questions() {
    let files = render(&sample());
    let expect: [(&str, &[&str]); 5] = [
        (
            "targeting.html",
            &[
                "Какой трафик окупается?",
                "По подрядчикам",
                "Агентство Альфа",
                "Доходимость",
                "href=\"glossary.html#cpc\"",
                "href=\"glossary.html#cpo\"",
                "href=\"glossary.html#cac\"",
                "Когорты",
                "heat--",
                " fc\" title=\"прогноз: LTV2",
                "прогноз · 1 кл.",
                "ноябрь 2026",
            ],
        ),
        (
            "managers.html",
            &[
                "Кто выполняет план?",
                "Рейтинг за декабрь 2026",
                ANNA,
                BORIS,
                "61,7\u{00A0}%",
                "49,4\u{00A0}%",
                "123\u{202F}456,78\u{00A0}₽",
                "Недельные сводки",
                "нед. 49 (30.11–06.12)",
                "href=\"#mgr-1\"",
                "id=\"mgr-1\"",
                "Курс аналитики",
                "href=\"glossary.html#plan_percent\"",
            ],
        ),
        (
            "funnel.html",
            &[
                "Где теряются лиды?",
                "Слабое звено: <strong>Продажи</strong>",
                "stage--weak",
                "Досмотрели до продажи",
                "Нагрузка на отдел продаж",
                "Продажи курса",
                "Выставлен счёт",
                "name=\"product\"",
                "name=\"manager\"",
                "Интенсив",
            ],
        ),
        (
            "tv/index.html",
            &[
                "class=\"tv\"",
                "data-rotate=\"25\"",
                "data-stale-hours=\"26\"",
                "data-generated=\"2026-12-03T09:15:00\"",
                "Гонка за планом",
                "../assets/tv.js",
                "61,7\u{00A0}%",
                "Воронка",
            ],
        ),
        (
            "index.html",
            &[
                "Движение денег по дням",
                "data-kpi=\"avg_check2\"",
                "data-kpi=\"ltv1\"",
                "data-kpi=\"margin\"",
                "data-kpi=\"clicks\"",
                "delta--na",
                "name=\"preset\"",
                "data-chips",
            ],
        ),
    ];
    for (path, needles) in expect {
        let html = page(&files, path);
        for needle in needles {
            assert!(html.contains(needle), "{path} lacks {needle:?}");
        }
    }
    // Anna (61,7 %) ranks above Boris (49,4 %) despite less money.
    let html = page(&files, "managers.html");
    assert!(html.find(ANNA).unwrap() < html.find(BORIS).unwrap());
}

#[test]
fn deltas_compare_with_the_previous_equal_period() {
    let mut m = sample();
    // Previous 30 days: 10 leads for 26 150 ₽ (CPL 2 615 ₽).
    let mut prev = row(
        1,
        "vk",
        "Осень_вебинар",
        "Агентство Альфа",
        dec!(26150),
        100,
        10,
        0,
        dec!(0),
        dec!(0),
    );
    prev.date = NaiveDate::from_ymd_opt(2026, 10, 20).unwrap();
    m.channels.insert(0, prev);
    let files = render(&m);
    let html = page(&files, "index.html");
    let card = |id: &str| {
        let at = html.find(&format!("data-kpi=\"{id}\"")).unwrap();
        &html[at..at + html[at..].find("</li>").unwrap()]
    };
    // Spend doubled: up, and bad.
    assert!(
        card("spend").contains("delta delta--bad"),
        "{}",
        card("spend")
    );
    assert!(card("spend").contains(&format!("▲ 100,0{NBSP}%")));
    // Leads 10 -> 97: up, good; CPL fell: down, good.
    assert!(card("leads").contains("delta--good"));
    assert!(card("cpl").contains("delta--good"));
    assert!(card("cpl").contains("▼"));
    // ROMI changes in percentage points (-100 % before).
    assert!(
        card("romi1").contains(&format!("▲ 153,0{NBSP}п.{NBSP}п.")),
        "{}",
        card("romi1")
    );
    // Nothing sold before: the average check has no previous value.
    assert!(card("avg_check1").contains("delta--na"));
    assert!(card("spend").contains("<polyline data-s points=\""));
}

#[test]
fn glossary_has_every_metric_and_every_link_resolves() {
    let files = render(&sample());
    let glossary = page(&files, "glossary.html");
    for id in [
        "spend",
        "impressions",
        "clicks",
        "sessions",
        "ctr",
        "cpm",
        "cpc",
        "leads",
        "cpl",
        "attendees",
        "attendance",
        "stayed_to_offer",
        "applications",
        "cpo",
        "sales",
        "customers",
        "cr",
        "cac",
        "revenue1",
        "revenue2",
        "cash_revenue",
        "prepayments",
        "surcharges",
        "refunds",
        "avg_check1",
        "avg_check2",
        "ltv1",
        "ltv2",
        "romi1",
        "romi2",
        "margin",
    ] {
        assert!(
            glossary.contains(&format!("id=\"{id}\"")),
            "glossary lacks {id}"
        );
    }
    assert!(glossary.contains("База: "));
    for f in files.iter().filter(|f| f.path.ends_with(".html")) {
        let html = std::str::from_utf8(&f.bytes).unwrap();
        for (at, _) in html.match_indices("glossary.html#") {
            let rest = &html[at + "glossary.html#".len()..];
            let id = &rest[..rest.find('"').unwrap()];
            assert!(
                glossary.contains(&format!("id=\"{id}\"")),
                "{}: link to missing glossary entry {id:?}",
                f.path
            );
        }
    }
}

#[test]
fn private_pages_show_only_their_own_money() {
    let m = sample();
    let files = render(&m);
    let anna = page(&files, &private_path(ANNA));
    let boris = page(&files, &private_path(BORIS));
    for html in [anna, boris] {
        assert!(html.contains("<meta name=\"robots\" content=\"noindex,nofollow\">"));
        assert!(html.contains("<meta name=\"referrer\" content=\"no-referrer\">"));
        assert!(html.contains("href=\"../../assets/site.css\""));
        assert!(!html.contains("href=\"index.html\""), "no navigation");
    }
    assert!(
        anna.contains(&format!("123{NNBSP}457{NBSP}₽")),
        "own revenue"
    );
    assert!(anna.contains("Место в команде: 1 из 2"));
    assert!(boris.contains("Место в команде: 2 из 2"));
    assert!(anna.contains(BORIS), "colleagues by name");
    assert!(anna.contains("50 % плана"));
    assert!(anna.contains("Серия: 3 недели подряд с продажами"));
    assert!(!anna.contains("100 % плана"));
    let money_of = |name: &str| -> Vec<String> {
        let mut out = Vec::new();
        for r in m.managers.iter().filter(|r| r.manager == name) {
            for v in [
                Some(r.revenue),
                r.forecast,
                r.remaining,
                r.plan_revenue,
                r.avg_check1,
            ]
            .into_iter()
            .flatten()
            {
                out.push(voronka_site::format::rub(v));
                out.push(voronka_site::format::rub_kop(v));
            }
        }
        for w in m.manager_weeks.iter().filter(|w| w.manager == name) {
            out.push(voronka_site::format::rub(w.revenue));
        }
        out
    };
    for (page_html, other) in [(anna, BORIS), (boris, ANNA), (anna, NO_MANAGER)] {
        for figure in money_of(other) {
            assert!(
                !page_html.contains(&figure),
                "a private page shows {other}'s {figure}"
            );
        }
    }
    assert!(
        !anna.contains("61,7") || !anna.contains("49,4"),
        "no colleague's plan percent"
    );
    assert!(!anna.contains("49,4"));
}

#[test]
fn public_pages_never_link_to_private_ones() {
    let files = render(&sample());
    let tokens = [manager_token(SECRET, ANNA), manager_token(SECRET, BORIS)];
    for f in files.iter().filter(|f| !is_private(&f.path)) {
        let Ok(text) = std::str::from_utf8(&f.bytes) else {
            continue;
        };
        for t in &tokens {
            assert!(!text.contains(t.as_str()), "{} contains a token", f.path);
        }
        for link in ["href=\"m/", "href=\"/m/", "href=\"../m/", "href=\"./m/"] {
            assert!(!text.contains(link), "{} links to {link}", f.path);
        }
    }
    assert_eq!(page(&files, "robots.txt"), "User-agent: *\nDisallow: /m/\n");
    // Without a secret: no private pages at all.
    let files = render_with(&sample(), None);
    assert!(files.iter().all(|f| !is_private(&f.path)));
}

#[test]
fn tokens_are_128_bit_hex_and_depend_on_the_secret() {
    let t = manager_token(SECRET, ANNA);
    assert_eq!(t.len(), 32);
    assert!(
        t.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(t, manager_token(SECRET, ANNA), "deterministic");
    assert_ne!(t, manager_token(b"another secret", ANNA));
    assert_ne!(t, manager_token(SECRET, BORIS));
    let links = manager_links(
        SECRET,
        &[ANNA.to_string(), NO_MANAGER.to_string(), BORIS.to_string()],
    );
    assert_eq!(
        links,
        [
            (ANNA.to_string(), format!("m/{t}/")),
            (
                BORIS.to_string(),
                format!("m/{}/", manager_token(SECRET, BORIS))
            ),
        ]
    );
}

#[test]
fn scripts_make_no_third_party_requests() {
    let files = render(&sample());
    for path in ["assets/app.js", "assets/tv.js"] {
        let js = page(&files, path);
        assert!(!js.contains("https://"), "{path}");
        // The only absolute URL is the SVG namespace (not a request).
        assert_eq!(
            js.matches("http://").count(),
            js.matches("http://www.w3.org/2000/svg").count(),
            "{path}"
        );
    }
    assert!(page(&files, "assets/tv.js").contains("'../version.json'"));
}

#[test]
fn data_files_are_compact_and_exact() {
    let files = render(&sample());
    let ch: serde_json::Value = serde_json::from_str(page(&files, "data/channels.json")).unwrap();
    assert_eq!(ch["columns"][1], "platform");
    assert_eq!(
        ch["dicts"]["platform"],
        serde_json::json!(["(не определено)", "vk", "yandex"])
    );
    assert_eq!(ch["colours"]["vk"], "#0072B2");
    let first = &ch["rows"][0];
    assert_eq!(first[0], "2026-12-01");
    assert_eq!(first[1], 1, "dictionary index of vk");
    assert_eq!(first[4], "30000.00", "money as an exact string");
    let f: serde_json::Value = serde_json::from_str(page(&files, "data/funnel.json")).unwrap();
    assert_eq!(f["columns"][8], "stayed_to_offer");
    assert_eq!(f["rows"].as_array().unwrap().len(), 5);
}
