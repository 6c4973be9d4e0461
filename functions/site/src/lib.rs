//! voronka's static dashboards: the marts in, the files of the site out.
//!
//! Invariants: this crate is the only one that knows tera and ECharts; it
//! does no I/O and reads no clock (the "Обновлено" stamp is passed in);
//! the same input gives byte-identical files (no hash-map iteration order,
//! no timestamps but the given ones). Templates, CSS, the page script and
//! the ECharts build are compiled in from `site-templates/`; the pages make
//! no third-party requests.
//!
//! Adding a page: write `site-templates/<page>.html` extending `base.html`,
//! add it to [`TEMPLATES`] and a [`Page`] with its context in
//! [`render_site`].

pub mod charts;
pub mod data;
pub mod format;
pub mod glossary;
pub mod palette;
pub mod view;

pub use palette::platform_colour;

use chrono::NaiveDateTime;
use serde::Serialize;
use tera::{Context, Tera};
use voronka_core::metrics::Marts;

/// Everything a render needs; the caller derives `generated_at_local` (the
/// build time in the school's zone).
#[derive(Debug, Clone, Copy)]
pub struct SiteInput<'a> {
    pub marts: &'a Marts,
    /// The school's name, shown in every header.
    pub title: &'a str,
    /// "Обновлено" stamp, in the school zone, derived by the caller.
    pub generated_at_local: NaiveDateTime,
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

/// The templates, compiled in: (name, source).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../site-templates/base.html"),
    ),
    (
        "index.html",
        include_str!("../../../site-templates/index.html"),
    ),
    (
        "checks.html",
        include_str!("../../../site-templates/checks.html"),
    ),
    (
        "glossary.html",
        include_str!("../../../site-templates/glossary.html"),
    ),
];

const SITE_CSS: &str = include_str!("../../../site-templates/site.css");
const NOSCRIPT_CSS: &str = include_str!("../../../site-templates/noscript.css");
const APP_JS: &str = include_str!("../../../site-templates/app.js");
/// The official ECharts build (see `site-templates/vendor/README.md`).
pub const ECHARTS_JS: &[u8] = include_bytes!("../../../site-templates/vendor/echarts.min.js");

/// One HTML page: its template (also its output path) and header texts.
struct Page {
    template: &'static str,
    /// Short name for the tab title and the navigation.
    name: &'static str,
    /// The question the page answers, the `<h1>`.
    question: &'static str,
}

const INDEX: Page = Page {
    template: "index.html",
    name: "Сводка",
    question: "Окупается ли реклама?",
};
const CHECKS: Page = Page {
    template: "checks.html",
    name: "Проверка данных",
    question: "Можно ли доверять цифрам?",
};
const GLOSSARY: Page = Page {
    template: "glossary.html",
    name: "Глоссарий",
    question: "Что означают метрики?",
};

/// Pages in navigation order.
const NAV: [&Page; 3] = [&INDEX, &CHECKS, &GLOSSARY];

#[derive(Serialize)]
struct NavItem {
    href: &'static str,
    name: &'static str,
    current: bool,
}

/// Renders the whole site, files sorted by path.
pub fn render_site(input: &SiteInput) -> Result<Vec<SiteFile>, SiteError> {
    let m = input.marts;
    let mut tera = Tera::default();
    tera.set_escape_fn(escape_html);
    tera.add_raw_templates(TEMPLATES.iter().copied())
        .map_err(SiteError::Templates)?;

    let (from, to) = view::period(m);
    let mut common = Context::new();
    common.insert("school", input.title);
    common.insert(
        "period",
        &format!("{} – {}", format::date(from), format::date(to)),
    );
    common.insert("updated", &format::datetime(input.generated_at_local));
    common.insert("zone", format::zone_label(&m.timezone));
    common.insert("attribution", format::attribution_label(&m.attribution));
    common.insert("basis", "когорты (по дате лида)");
    common.insert("badge", &view::badge(&m.checks));

    let mut files = Vec::new();

    // index.html
    let days = view::daily(m);
    let daily_chart = charts::ChartView {
        id: "chart-daily".to_string(),
        unit: "rub",
        json: charts::to_embedded_json(&charts::daily_spend_revenue(&days)).map_err(|source| {
            SiteError::Json {
                what: "chart \"daily\"",
                source,
            }
        })?,
    };
    let tables = view::tables(m);
    let mut ctx = Context::new();
    ctx.insert("cards", &view::cards(m));
    ctx.insert("daily_chart", &daily_chart);
    ctx.insert("daily_rows", &view::daily_rows(&days));
    ctx.insert("platforms", &tables.platforms);
    ctx.insert("campaigns", &tables.campaigns);
    ctx.insert("total", &tables.total);
    ctx.insert("m", &metric_links());
    files.push(render_page(&tera, &INDEX, &common, ctx)?);

    // checks.html
    let mut ctx = Context::new();
    ctx.insert("checks", &view::checks(&m.checks));
    files.push(render_page(&tera, &CHECKS, &common, ctx)?);

    // glossary.html
    let mut ctx = Context::new();
    ctx.insert("metrics", &glossary::ALL);
    files.push(render_page(&tera, &GLOSSARY, &common, ctx)?);

    let json =
        |what, r: serde_json::Result<Vec<u8>>| r.map_err(|source| SiteError::Json { what, source });
    files.push(file(
        "version.json",
        json("version.json", data::version(m, input.generated_at_local))?,
        JSON,
    ));
    files.push(file(
        "data/summary.json",
        json("data/summary.json", data::summary(m))?,
        JSON,
    ));
    files.push(file(
        "data/channels.json",
        json("data/channels.json", data::channels(m))?,
        JSON,
    ));
    files.push(file(
        "data/cash.json",
        json("data/cash.json", data::cash(m))?,
        JSON,
    ));
    files.push(file("assets/site.css", SITE_CSS.as_bytes().to_vec(), CSS));
    files.push(file(
        "assets/noscript.css",
        NOSCRIPT_CSS.as_bytes().to_vec(),
        CSS,
    ));
    files.push(file("assets/app.js", APP_JS.as_bytes().to_vec(), JS));
    files.push(file("assets/echarts.min.js", ECHARTS_JS.to_vec(), JS));

    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// `{metric id: glossary link}` for the templates: `m.cpl` is
/// `glossary.html#cpl`.
fn metric_links() -> std::collections::BTreeMap<&'static str, String> {
    glossary::ALL
        .iter()
        .map(|m| (m.id, format!("glossary.html#{}", m.id)))
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
    ctx.extend(extra);
    ctx.insert("page_name", page.name);
    ctx.insert("question", page.question);
    let nav: Vec<NavItem> = NAV
        .iter()
        .map(|p| NavItem {
            href: p.template,
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
    Ok(file(page.template, html.into_bytes(), HTML))
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
