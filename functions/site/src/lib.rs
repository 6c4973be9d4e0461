//! voronka's static dashboards: the marts in, the files of the site out.
//!
//! Invariants: this crate is the only one that knows tera and ECharts; it
//! does no I/O and reads no clock (the "Обновлено" stamp is passed in);
//! the same input gives byte-identical files (no hash-map iteration order,
//! no timestamps but the given ones). Templates, CSS, the page script and
//! the ECharts build are compiled in from `site-templates/`; the pages make
//! no third-party requests.
//!
//! Pages: «Сводка», «Таргетинг», «Менеджеры», «Воронка», the office TV,
//! checks, glossary, and (with a link secret) the private manager pages
//! `m/<token>/index.html` ([`tokens`]).
//!
//! Adding a page: write `site-templates/<page>.html` extending `base.html`,
//! add it to [`TEMPLATES`] and a [`Page`] with its context in
//! [`render_site`].

pub mod charts;
pub mod data;
pub mod format;
pub mod glossary;
pub mod kpi;
pub mod pages;
pub mod palette;
pub mod tokens;
pub mod view;

pub use palette::platform_colour;
pub use tokens::{manager_links, manager_token};

use chrono::NaiveDateTime;
use serde::Serialize;
use tera::{Context, Tera};
use voronka_core::metrics::{Marts, NO_MANAGER};

/// Everything a render needs; the caller derives `generated_at_local` (the
/// build time in the school's zone).
#[derive(Debug, Clone, Copy)]
pub struct SiteInput<'a> {
    pub marts: &'a Marts,
    /// The school's name, shown in every header.
    pub title: &'a str,
    /// "Обновлено" stamp, in the school zone, derived by the caller.
    pub generated_at_local: NaiveDateTime,
    /// The secret behind the private manager links (`[site] link_secret`).
    /// Without it no private pages are rendered.
    pub link_secret: Option<&'a [u8]>,
}

/// One file of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    /// Relative, `/`-separated: `index.html`, `data/summary.json`,
    /// `assets/echarts.min.js`, `version.json`.
    pub path: String,
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("failed to compile the site templates")]
    Templates(#[source] tera::Error),
    #[error("failed to render {page}")]
    Render {
        page: &'static str,
        #[source]
        source: tera::Error,
    },
    #[error("failed to serialize {what}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! templates {
    ($($name:literal),*) => {
        &[$(($name, include_str!(concat!("../../../site-templates/", $name)))),*]
    };
}

/// The templates, compiled in: (name, source).
const TEMPLATES: &[(&str, &str)] = templates!(
    "base.html",
    "macros.html",
    "filters.html",
    "index.html",
    "targeting.html",
    "managers.html",
    "funnel.html",
    "private.html",
    "tv.html",
    "checks.html",
    "glossary.html"
);

const SITE_CSS: &str = include_str!("../../../site-templates/site.css");
const TV_CSS: &str = include_str!("../../../site-templates/tv.css");
const NOSCRIPT_CSS: &str = include_str!("../../../site-templates/noscript.css");
const APP_JS: &str = include_str!("../../../site-templates/app.js");
const TV_JS: &str = include_str!("../../../site-templates/tv.js");
/// The official ECharts build (see `site-templates/vendor/README.md`).
pub const ECHARTS_JS: &[u8] = include_bytes!("../../../site-templates/vendor/echarts.min.js");

/// `robots.txt`: keeps crawlers out of the private manager pages.
pub const ROBOTS_TXT: &str = "User-agent: *\nDisallow: /m/\n";

/// One HTML page: its template, output path and header texts.
struct Page {
    template: &'static str,
    /// The output path (also the navigation link).
    path: &'static str,
    /// Short name for the tab title and the navigation.
    name: &'static str,
    /// The question the page answers, the `<h1>`.
    question: &'static str,
    /// "когорты (по дате лида)" or "поступления".
    basis: &'static str,
}

const COHORT_BASIS: &str = "когорты (по дате лида)";
const MIXED_BASIS: &str = "когорты (по дате лида); деньги по дням — поступления";

const INDEX: Page = Page {
    template: "index.html",
    path: "index.html",
    name: "Сводка",
    question: "Окупается ли реклама?",
    basis: MIXED_BASIS,
};
const TARGETING: Page = Page {
    template: "targeting.html",
    path: "targeting.html",
    name: "Таргетинг",
    question: "Какой трафик окупается?",
    basis: COHORT_BASIS,
};
const MANAGERS: Page = Page {
    template: "managers.html",
    path: "managers.html",
    name: "Менеджеры",
    question: "Кто выполняет план?",
    basis: "поступления (по дню оплаты), менеджер × месяц",
};
const FUNNEL: Page = Page {
    template: "funnel.html",
    path: "funnel.html",
    name: "Воронка",
    question: "Где теряются лиды?",
    basis: COHORT_BASIS,
};
const TV: Page = Page {
    template: "tv.html",
    path: "tv/index.html",
    name: "ТВ",
    question: "Гонка за планом",
    basis: "поступления (план), когорты (воронка)",
};
const PRIVATE: Page = Page {
    template: "private.html",
    path: "m/index.html",
    name: "Мои показатели",
    question: "Как идёт мой план?",
    basis: "поступления (по дню оплаты)",
};
const CHECKS: Page = Page {
    template: "checks.html",
    path: "checks.html",
    name: "Проверка данных",
    question: "Можно ли доверять цифрам?",
    basis: COHORT_BASIS,
};
const GLOSSARY: Page = Page {
    template: "glossary.html",
    path: "glossary.html",
    name: "Глоссарий",
    question: "Что означают метрики?",
    basis: COHORT_BASIS,
};

/// Pages in navigation order.
const NAV: [&Page; 7] = [
    &INDEX, &TARGETING, &MANAGERS, &FUNNEL, &TV, &CHECKS, &GLOSSARY,
];

#[derive(Serialize)]
struct NavItem {
    href: &'static str,
    name: &'static str,
    current: bool,
}

const INDEX_CARDS: &[&str] = &[
    "spend",
    "leads",
    "cpl",
    "sales",
    "revenue1",
    "revenue2",
    "romi1",
    "romi2",
    "avg_check1",
    "avg_check2",
    "ltv1",
    "ltv2",
    "margin",
    "clicks",
    "cash_revenue",
];
const TARGETING_CARDS: &[&str] = &[
    "spend",
    "clicks",
    "cpc",
    "leads",
    "cpl",
    "attendance",
    "applications",
    "cpo",
    "sales",
    "cac",
    "romi1",
    "romi2",
    "ltv2",
];
const INDEX_COLS: &[&str] = &[
    "spend", "clicks", "leads", "cpl", "sales", "revenue1", "revenue2", "romi1", "romi2",
];
const TARGETING_COLS: &[&str] = &[
    "spend",
    "impressions",
    "clicks",
    "cpc",
    "leads",
    "cpl",
    "attendees",
    "attendance",
    "applications",
    "cpo",
    "sales",
    "cac",
    "revenue1",
    "revenue2",
    "romi1",
    "romi2",
    "ltv2",
];

/// Renders the whole site, files sorted by path.
pub fn render_site(input: &SiteInput) -> Result<Vec<SiteFile>, SiteError> {
    let m = input.marts;
    let mut tera = Tera::default();
    tera.set_escape_fn(escape_html);
    tera.add_raw_templates(TEMPLATES.iter().copied())
        .map_err(SiteError::Templates)?;

    let (cur, prev) = kpi::default_windows(m);
    let mut common = Context::new();
    common.insert("school", input.title);
    common.insert("period", &cur.label());
    common.insert("prev_period", &prev.label());
    common.insert("updated", &format::datetime(input.generated_at_local));
    common.insert("zone", format::zone_label(&m.timezone));
    common.insert("attribution", format::attribution_label(&m.attribution));
    common.insert("badge", &view::badge(&m.checks));
    common.insert("as_of", &m.as_of.format("%Y-%m-%d").to_string());
    common.insert("as_of_label", &format::date(m.as_of));
    common.insert("default_days", &kpi::DEFAULT_DAYS);
    common.insert("root", "");
    common.insert("private", &false);
    common.insert("m", &metric_links(""));

    let mut files = Vec::new();
    let json_err = |what| move |source| SiteError::Json { what, source };

    // index.html
    let mut ctx = Context::new();
    ctx.insert("cards", &kpi::cards(m, INDEX_CARDS, cur, prev));
    ctx.insert(
        "filters",
        &pages::filter_dims(m, &["platform", "campaign", "contractor"]),
    );
    ctx.insert("daily_rows", &view::daily_rows(&view::daily(m)));
    ctx.insert("cash_rows", &view::cash_rows(m, cur));
    ctx.insert(
        "tables",
        &[
            pages::group_table(m, cur, "platform", "По площадкам", INDEX_COLS),
            pages::group_table(m, cur, "campaign", "По кампаниям", INDEX_COLS),
        ],
    );
    files.push(render_page(&tera, &INDEX, &common, ctx)?);

    // targeting.html
    let mut ctx = Context::new();
    ctx.insert("cards", &kpi::cards(m, TARGETING_CARDS, cur, prev));
    ctx.insert(
        "filters",
        &pages::filter_dims(m, &["platform", "campaign", "contractor"]),
    );
    ctx.insert(
        "tables",
        &[
            pages::group_table(m, cur, "platform", "По площадкам", TARGETING_COLS),
            pages::group_table(m, cur, "contractor", "По подрядчикам", TARGETING_COLS),
            pages::group_table(m, cur, "campaign", "По кампаниям", TARGETING_COLS),
        ],
    );
    ctx.insert("cohorts", &pages::cohorts(m));
    files.push(render_page(&tera, &TARGETING, &common, ctx)?);

    // managers.html
    let month = pages::month_key(m.as_of);
    let ranked = pages::ranked(m, &month);
    let names = pages::manager_names(m);
    let anchor = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .map_or("mgr-none".to_string(), |i| format!("mgr-{}", i + 1))
    };
    let unassigned = m
        .managers
        .iter()
        .find(|r| r.month == month && r.manager == NO_MANAGER);
    let scale = ranked
        .iter()
        .copied()
        .chain(unassigned)
        .map(pages::bar_scale)
        .max()
        .unwrap_or_default();
    let mut board: Vec<pages::ManagerView> = ranked
        .iter()
        .enumerate()
        .map(|(i, r)| pages::manager_view(r, Some(i + 1), anchor(&r.manager), scale))
        .collect();
    if let Some(r) = unassigned {
        board.push(pages::manager_view(r, None, anchor(&r.manager), scale));
    }
    let drill: Vec<DrillDown> = names
        .iter()
        .chain(std::iter::once(&NO_MANAGER.to_string()))
        .map(|name| DrillDown {
            anchor: anchor(name),
            name: name.clone(),
            months: m
                .managers
                .iter()
                .rev()
                .filter(|r| &r.manager == name)
                .map(|r| pages::manager_view(r, None, String::new(), pages::bar_scale(r)))
                .collect(),
            products: pages::manager_slice(m, cur, name, "product"),
            platforms: pages::manager_slice(m, cur, name, "platform"),
        })
        .filter(|d| !d.months.is_empty())
        .collect();
    let mut ctx = Context::new();
    ctx.insert("month", &format::month(m.as_of));
    ctx.insert("board", &board);
    ctx.insert("weeks", &pages::week_table(m, 8, None, true));
    ctx.insert("drill", &drill);
    files.push(render_page(&tera, &MANAGERS, &common, ctx)?);

    // funnel.html
    let in_window =
        |w: kpi::Window| pages::stage_counts(m.funnel.iter().filter(move |r| w.contains(r.date)));
    let (stages, weakest) = pages::stages(in_window(cur), in_window(prev));
    let mut ctx = Context::new();
    ctx.insert("stages", &stages);
    ctx.insert("weakest", &weakest);
    ctx.insert(
        "filters",
        &pages::filter_dims(
            m,
            &["platform", "campaign", "contractor", "product", "manager"],
        ),
    );
    ctx.insert("pipelines", &pages::pipelines(m));
    ctx.insert("load", &pages::load(m, cur));
    files.push(render_page(&tera, &FUNNEL, &common, ctx)?);

    // tv/index.html
    let mw = pages::month_window(m.as_of);
    let (tv_stages, _) = pages::stages(
        pages::stage_counts(m.funnel.iter().filter(|r| mw.contains(r.date))),
        [0; 5],
    );
    let month_rows: Vec<_> = m.managers.iter().filter(|r| r.month == month).collect();
    let plan: rust_decimal::Decimal = month_rows.iter().filter_map(|r| r.plan_revenue).sum();
    let fact: rust_decimal::Decimal = month_rows
        .iter()
        .filter(|r| r.plan_revenue.is_some())
        .map(|r| r.revenue)
        .sum();
    let today = m.cash.iter().find(|r| r.date == m.as_of);
    let mut ctx = Context::new();
    ctx.insert("root", "../");
    ctx.insert("m", &metric_links("../"));
    ctx.insert("month", &format::month(m.as_of));
    ctx.insert(
        "today_cash",
        &format::rub(today.map_or(rust_decimal::Decimal::ZERO, |r| r.revenue)),
    );
    ctx.insert(
        "month_sales",
        &format::int(month_rows.iter().map(|r| r.sales).sum::<u64>()),
    );
    ctx.insert(
        "month_cash",
        &format::rub(month_rows.iter().map(|r| r.revenue).sum()),
    );
    ctx.insert(
        "team_percent",
        &format::percent_opt(view::ratio(fact * rust_decimal::Decimal::ONE_HUNDRED, plan)),
    );
    ctx.insert("race", &pages::tv_race(m, &month));
    ctx.insert("tv_stages", &tv_stages);
    ctx.insert(
        "generated_iso",
        &input
            .generated_at_local
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string(),
    );
    ctx.insert("timezone", &m.timezone);
    files.push(render_page(&tera, &TV, &common, ctx)?);

    // checks.html
    let mut ctx = Context::new();
    ctx.insert("checks", &view::checks(&m.checks));
    files.push(render_page(&tera, &CHECKS, &common, ctx)?);

    // glossary.html
    let mut ctx = Context::new();
    ctx.insert("metrics", &glossary::ALL);
    files.push(render_page(&tera, &GLOSSARY, &common, ctx)?);

    // m/<token>/index.html
    if let Some(secret) = input.link_secret {
        for name in &names {
            let mut ctx = Context::new();
            ctx.insert("root", "../../");
            ctx.insert("private", &true);
            ctx.insert("m", &metric_links("../../"));
            ctx.extend(private_context(m, name, &month, cur));
            let mut f = render_page(&tera, &PRIVATE, &common, ctx)?;
            f.path = tokens::manager_path(secret, name);
            files.push(f);
        }
    }

    files.push(file(
        "version.json",
        data::version(m, input.generated_at_local).map_err(json_err("version.json"))?,
        JSON,
    ));
    files.push(file(
        "data/summary.json",
        data::summary(m).map_err(json_err("data/summary.json"))?,
        JSON,
    ));
    files.push(file(
        "data/channels.json",
        data::channels(m).map_err(json_err("data/channels.json"))?,
        JSON,
    ));
    files.push(file(
        "data/cash.json",
        data::cash(m).map_err(json_err("data/cash.json"))?,
        JSON,
    ));
    files.push(file(
        "data/funnel.json",
        data::funnel(m).map_err(json_err("data/funnel.json"))?,
        JSON,
    ));
    files.push(file("robots.txt", ROBOTS_TXT.as_bytes().to_vec(), TEXT));
    files.push(file("assets/site.css", SITE_CSS.as_bytes().to_vec(), CSS));
    files.push(file("assets/tv.css", TV_CSS.as_bytes().to_vec(), CSS));
    files.push(file(
        "assets/noscript.css",
        NOSCRIPT_CSS.as_bytes().to_vec(),
        CSS,
    ));
    files.push(file("assets/app.js", APP_JS.as_bytes().to_vec(), JS));
    files.push(file("assets/tv.js", TV_JS.as_bytes().to_vec(), JS));
    files.push(file("assets/echarts.min.js", ECHARTS_JS.to_vec(), JS));

    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

#[derive(Serialize)]
struct DrillDown {
    anchor: String,
    name: String,
    months: Vec<pages::ManagerView>,
    products: Vec<pages::SliceRow>,
    platforms: Vec<pages::SliceRow>,
}

/// Only this manager's money; colleagues by name and place.
fn private_context(m: &Marts, name: &str, month: &str, cur: kpi::Window) -> Context {
    let ranked = pages::ranked(m, month);
    let row = m
        .managers
        .iter()
        .find(|r| r.month == month && r.manager == name);
    let places: Vec<pages::Place> = ranked
        .iter()
        .enumerate()
        .map(|(i, r)| pages::Place {
            place: i + 1,
            name: r.manager.clone(),
            me: r.manager == name,
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("manager", name);
    ctx.insert("month", &format::month(m.as_of));
    ctx.insert(
        "me",
        &row.map(|r| pages::manager_view(r, None, String::new(), pages::bar_scale(r))),
    );
    ctx.insert("my_place", &places.iter().find(|p| p.me).map(|p| p.place));
    ctx.insert("team_size", &places.len());
    ctx.insert("places", &places);
    ctx.insert("achievements", &pages::achievements(m, name, row));
    ctx.insert("weeks", &pages::week_table(m, 8, Some(name), true));
    ctx.insert(
        "history",
        &m.managers
            .iter()
            .rev()
            .filter(|r| r.manager == name)
            .map(|r| pages::manager_view(r, None, String::new(), pages::bar_scale(r)))
            .collect::<Vec<_>>(),
    );
    ctx.insert("products", &pages::manager_slice(m, cur, name, "product"));
    ctx
}

/// `{metric id: glossary link}` for the templates: `m.cpl` is
/// `glossary.html#cpl` (prefixed with `root` below the site root).
fn metric_links(root: &str) -> std::collections::BTreeMap<&'static str, String> {
    glossary::ALL
        .iter()
        .map(|m| (m.id, format!("{root}glossary.html#{}", m.id)))
        .collect()
}

/// HTML escaping for text and quoted attributes: `& < > " '`. Unlike
/// tera's default it leaves `/` alone, so "Расход / Лиды" stays readable.
fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

fn file(path: &str, bytes: Vec<u8>, content_type: &'static str) -> SiteFile {
    SiteFile {
        path: path.to_string(),
        bytes,
        content_type,
    }
}

fn render_page(
    tera: &Tera,
    page: &Page,
    common: &Context,
    extra: Context,
) -> Result<SiteFile, SiteError> {
    let mut ctx = common.clone();
    ctx.insert("page_name", page.name);
    ctx.insert("page_id", page.template.trim_end_matches(".html"));
    ctx.insert("question", page.question);
    ctx.insert("basis", page.basis);
    ctx.extend(extra);
    let nav: Vec<NavItem> = NAV
        .iter()
        .map(|p| NavItem {
            href: p.path,
            name: p.name,
            current: p.template == page.template,
        })
        .collect();
    ctx.insert("nav", &nav);
    let html = tera
        .render(page.template, &ctx)
        .map_err(|source| SiteError::Render {
            page: page.template,
            source,
        })?;
    Ok(file(page.path, html.into_bytes(), HTML))
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn render_errors_name_the_page() {
        let mut tera = tera::Tera::default();
        tera.add_raw_template("index.html", "{{ missing.value }}")
            .unwrap();
        let err = super::render_page(
            &tera,
            &super::INDEX,
            &tera::Context::new(),
            tera::Context::new(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "failed to render index.html");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn escaping_keeps_slashes() {
        assert_eq!(
            super::escape_html(r#"<a href="x">'Расход / Лиды' & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#x27;Расход / Лиды&#x27; &amp; co&lt;/a&gt;"
        );
    }

    #[test]
    fn vendored_echarts_matches_readme() {
        let readme = include_str!("../../../site-templates/vendor/README.md");
        let digest = hex::encode(Sha256::digest(super::ECHARTS_JS));
        let documented: Vec<&str> = readme
            .lines()
            .map(|l| l.trim().trim_matches('`'))
            .filter(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        assert_eq!(documented, [digest.as_str()], "sha256 in vendor/README.md");
        assert!(readme.contains(&format!("Size: {} bytes", super::ECHARTS_JS.len())));
    }
}
