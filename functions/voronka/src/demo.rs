//! `voronka demo`: the whole path on a synthetic school, no account needed.
//!
//! The sandbox generates a school and serves it from fake vendor APIs on
//! 127.0.0.1 that speak the real protocols; the real connectors and driver
//! pull from them into a local lake; Tilda webhooks are delivered as the
//! receiver would store them; then normalize → aggregate → render.
//! Everything after raw/ is byte-identical for the same seed.

use crate::pipeline::Pipeline;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voronka_connectors::driver::{Driver, DriverOptions, SecretSource};
use voronka_core::config::{Config, SecretRef};
use voronka_core::metrics::Marts;
use voronka_core::time;
use voronka_sandbox as sandbox;
use voronka_store::{LocalStore, Store};

/// Marks a folder as made by `demo`, so a re-run may replace it.
const MARKER: &str = ".voronka-demo";

pub struct DemoOptions {
    pub out: PathBuf,
    pub seed: u64,
    pub days: u32,
    pub scale: f64,
    pub end: NaiveDate,
    pub progress: bool,
}

pub struct DemoReport {
    pub marts: Marts,
    pub pages: usize,
    pub index: PathBuf,
    pub elapsed: Duration,
    /// Wall time of each step (`ingest <slug>`, `normalize`, ...).
    pub steps: Vec<(String, Duration)>,
}

/// Resolves the sandbox credentials by environment-variable name, as if
/// the environment held them.
struct SandboxSecrets(BTreeMap<String, String>);

impl SecretSource for SandboxSecrets {
    fn resolve(&self, name: &str, r: &SecretRef) -> Result<String, String> {
        r.env
            .as_ref()
            .and_then(|e| self.0.get(e))
            .cloned()
            .ok_or_else(|| format!("sandbox has no credential {name}"))
    }
}

/// Environment-variable name under which the demo's secret source holds a
/// sandbox credential.
fn secret_env(slug: &str, name: &str) -> String {
    format!("SANDBOX_{}_{}", slug, name).to_ascii_uppercase()
}

/// A config account id from a vendor id (`[a-z0-9_-]`).
fn account_id(id: &str) -> String {
    id.to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A TOML value for a sandbox option: booleans and small counts typed,
/// everything else (ids included) a string.
fn toml_value(key: &str, value: &str) -> String {
    match value {
        "true" | "false" => value.to_string(),
        v if matches!(key, "poll_interval_secs" | "offer_minute") => v.to_string(),
        v => format!("{v:?}"),
    }
}

/// Slugs the demo ingests, in order (rates first).
pub const DEMO_SLUGS: [&str; 13] = [
    "cbr",
    "amocrm",
    "getcourse",
    "bizon365",
    "salebot",
    "ga4",
    "yandex_direct",
    "facebook",
    "tiktok",
    "vk_ads",
    "mytarget",
    "google_ads",
    "tilda",
];

/// The config a school pointing at the sandbox would write, and the
/// credentials by environment-variable name.
pub fn sandbox_config(
    school: &sandbox::School,
    base: &str,
    start: NaiveDate,
) -> (String, BTreeMap<String, String>) {
    let mut t = String::from(
        "# Written by `voronka demo`: the synthetic school's sources, served by the\n\
         # sandbox on 127.0.0.1 (gone when the demo exits).\n\
         timezone = \"Europe/Moscow\"\n\
         currency = \"RUB\"\n\
         attribution = \"last_touch\"\n\
         offer_minute = 60\n\
         attendance_window_days = 14\n",
    );
    t.push_str(&format!(
        "registration_forms = [\"{}\", \"{}\"]\napplication_forms = [\"{}\"]\n\n",
        sandbox::FORM_MAIN,
        sandbox::FORM_LANDING2,
        sandbox::FORM_CALLBACK
    ));
    t.push_str(
        "[storage]\nkind = \"local\"\npath = \".\"\n\n[site]\ntitle = \"Школа «Демо»\"\nlink_secret = { env = \"SANDBOX_SITE_LINK_SECRET\" }\n\n",
    );
    let mut secrets = BTreeMap::new();
    // A fixed demo secret, so the demo's private manager links are stable.
    secrets.insert(
        "SANDBOX_SITE_LINK_SECRET".to_string(),
        "voronka-demo-link-secret-not-for-production".to_string(),
    );
    let mut by_slug: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let accounts = sandbox::demo_accounts(school);
    for a in &accounts {
        if !DEMO_SLUGS.contains(&a.slug.as_str()) {
            continue;
        }
        let mut fields = vec![format!("id = {:?}", account_id(&a.id))];
        if a.slug != "tilda" {
            fields.push(format!("base_url = \"{base}/{}\"", a.slug));
            fields.push(format!("start_date = \"{start}\""));
        }
        if a.slug != "cbr" && a.slug != "tilda" {
            fields.push(format!("currency = {:?}", a.currency));
        }
        if a.slug == "yandex_direct" {
            // Yandex reports spend without VAT; the school counts it with 20 %.
            fields.push("spend_multiplier = \"1.2\"".to_string());
        }
        let creds: Vec<String> = a
            .credentials
            .iter()
            .map(|(name, value)| {
                let env = secret_env(&a.slug, name);
                secrets.insert(env.clone(), value.clone());
                format!("{name} = {{ env = {env:?} }}")
            })
            .collect();
        if !creds.is_empty() {
            fields.push(format!("credentials = {{ {} }}", creds.join(", ")));
        }
        let mut options: Vec<String> = a
            .options
            .iter()
            .filter(|_| a.slug != "tilda")
            .map(|(k, v)| {
                let v = v.replace(sandbox::BASE_PLACEHOLDER, base);
                format!("{k} = {}", toml_value(k, &v))
            })
            .collect();
        if a.slug == "facebook" {
            // The fake Graph API serves synchronous insights only; a long
            // demo window would otherwise go through async report runs.
            options.push("async = false".to_string());
        }
        if !options.is_empty() {
            fields.push(format!("options = {{ {} }}", options.join(", ")));
        }
        by_slug
            .entry(a.slug.as_str())
            .or_default()
            .push(format!("{{ {} }}", fields.join(", ")));
    }
    for slug in DEMO_SLUGS {
        if let Some(list) = by_slug.get(slug) {
            t.push_str(&format!(
                "[sources.{slug}]\naccounts = [\n  {}\n]\n\n",
                list.join(",\n  ")
            ));
        }
    }
    for a in &school.accounts {
        if let Some(c) = &a.contractor {
            t.push_str(&format!(
                "[[contractors]]\ncontractor = {c:?}\naccount = \"{}:{}\"\n\n",
                a.vendor.slug(),
                account_id(&a.id)
            ));
        }
    }
    t.push_str("[[variable_costs]]\nname = \"Эквайринг\"\npercent_of_revenue = \"3.5\"\n");
    (t, secrets)
}

fn bar(enabled: bool, len: u64, what: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template("{msg:<28} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("template")
            .progress_chars("=> "),
    );
    b.set_message(what.to_string());
    b
}

/// Prepares the output folder: refuses to touch a folder demo didn't make.
fn prepare_out(out: &Path) -> Result<()> {
    if out.exists() {
        let non_empty = std::fs::read_dir(out)
            .with_context(|| format!("cannot read {}", out.display()))?
            .next()
            .is_some();
        if non_empty && !out.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by `voronka demo`; choose another --out",
                out.display()
            );
        }
        std::fs::remove_dir_all(out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join(MARKER), "made by voronka demo\n")?;
    Ok(())
}

pub async fn run(opts: DemoOptions) -> Result<DemoReport> {
    let started = Instant::now();
    prepare_out(&opts.out)?;
    let spec = sandbox::SchoolSpec {
        seed: opts.seed,
        days: opts.days,
        scale: opts.scale,
        end: opts.end,
    };
    let school = Arc::new(sandbox::generate(&spec));
    let sb = sandbox::Sandbox::start(school.clone(), sandbox::SandboxOptions::default())
        .await
        .context("cannot start the sandbox vendors on 127.0.0.1")?;
    let start = opts.end - chrono::Duration::days(opts.days as i64 - 1);
    let (config_text, secrets) = sandbox_config(&school, &sb.base_url(), start);
    std::fs::write(opts.out.join("voronka.toml"), &config_text)?;
    let config = Config::from_toml(&config_text).context("the demo config is invalid")?;
    // A throwaway lake: atomic writes without fsync (see LocalStore).
    let store: Arc<dyn Store> = Arc::new(LocalStore::without_fsync(opts.out.clone()));
    let secrets = SandboxSecrets(secrets);
    let driver = Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            ..DriverOptions::default()
        },
        Arc::new(secrets),
    );
    let p = Pipeline {
        store: store.clone(),
        config,
        driver,
    };
    // The demo pretends the run happens at the end of its last day, so the
    // run log, freshness and "updated at" stamps are reproducible.
    let now: DateTime<Utc> =
        time::end_of_day(opts.end, p.config.tz()) - chrono::Duration::minutes(1);

    let slugs: Vec<&str> = DEMO_SLUGS
        .iter()
        .copied()
        .filter(|s| *s != "tilda" && p.config.sources.contains_key(*s))
        .collect();
    let b = bar(
        opts.progress,
        slugs.len() as u64 + 1,
        "ingest from sandbox APIs",
    );
    let mut failed = Vec::new();
    let mut steps = Vec::new();
    for slug in slugs {
        b.set_message(format!("ingest {slug}"));
        let t = Instant::now();
        let window = if slug == "amocrm" {
            None
        } else {
            Some((start, opts.end))
        };
        for s in p.ingest(slug, window, now).await? {
            failed.extend(
                s.failed
                    .iter()
                    .map(|f| format!("{slug}:{}: {f}", s.account)),
            );
        }
        steps.push((format!("ingest {slug}"), t.elapsed()));
        b.inc(1);
    }
    b.set_message("deliver Tilda and Salebot webhooks");
    deliver_webhooks(&*store, &school).await?;
    crate::state::record_source_status(&*store, "tilda", "main", now, true, None).await?;
    b.inc(1);
    b.finish_and_clear();
    if !failed.is_empty() {
        bail!("demo ingest failed: {}", failed.join("; "));
    }

    let sp = bar(opts.progress, 3, "normalize → aggregate → render");
    let t = Instant::now();
    p.normalize().await?;
    steps.push(("normalize".to_string(), t.elapsed()));
    sp.inc(1);
    let t = Instant::now();
    let marts = p.aggregate(opts.end, now).await?;
    steps.push(("aggregate".to_string(), t.elapsed()));
    sp.inc(1);
    let t = Instant::now();
    let pages = p.render(now).await?;
    steps.push(("render".to_string(), t.elapsed()));
    sp.inc(1);
    sp.finish_and_clear();
    drop(sb);
    Ok(DemoReport {
        marts,
        pages,
        index: opts.out.join("site").join("index.html"),
        elapsed: started.elapsed(),
        steps,
    })
}

/// Stores every Tilda and Salebot delivery exactly as the webhook
/// receiver does.
async fn deliver_webhooks(store: &dyn Store, school: &sandbox::School) -> Result<()> {
    for (seq, d) in sandbox::tilda_deliveries(school).iter().enumerate() {
        let run = crate::pipeline::run_id(d.received_at, "tilda");
        let env = voronka_connectors::tilda::webhook_envelope(
            "main",
            "",
            "application/x-www-form-urlencoded",
            d.body.as_bytes(),
            d.received_at,
            &run,
            seq as u64,
        );
        store
            .put_if_absent(&env.key(), Bytes::from(env.to_json()))
            .await?;
    }
    for (seq, d) in sandbox::salebot_deliveries(school).iter().enumerate() {
        let run = crate::pipeline::run_id(d.received_at, "salebot");
        let env = voronka_connectors::salebot::webhook_envelope(
            "main",
            d.body.as_bytes(),
            d.received_at,
            &run,
            seq as u64,
        );
        store
            .put_if_absent(&env.key(), Bytes::from(env.to_json()))
            .await?;
    }
    Ok(())
}
