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

/// The config a school pointing at the sandbox would write.
pub fn sandbox_config(school: &sandbox::School, base: &str, start: NaiveDate) -> String {
    let mut t = String::new();
    t.push_str(
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
    t.push_str("[storage]\nkind = \"local\"\npath = \".\"\n\n[site]\ntitle = \"Школа «Демо»\"\n\n");
    t.push_str(&format!(
        "[sources.cbr]\naccounts = [{{ id = \"cbr\", base_url = \"{base}/cbr\", start_date = \"{start}\" }}]\n\n"
    ));
    t.push_str(&format!(
        "[sources.amocrm]\naccounts = [{{ id = \"main\", base_url = \"{base}/amocrm\", credentials = {{ token = {{ env = \"SANDBOX_AMOCRM_TOKEN\" }} }} }}]\n\n"
    ));
    t.push_str(&format!(
        "[sources.getcourse]\naccounts = [{{ id = \"main\", base_url = \"{base}/getcourse\", start_date = \"{start}\", credentials = {{ key = {{ env = \"SANDBOX_GETCOURSE_KEY\" }} }}, options = {{ poll_interval_secs = 0, crm_deal_field = \"ID сделки amoCRM\" }} }}]\n\n"
    ));
    t.push_str("[sources.tilda]\naccounts = [{ id = \"main\" }]\n\n");
    let mut fb = Vec::new();
    let mut ya = Vec::new();
    let mut rules = String::new();
    for a in &school.accounts {
        let id = format!(
            "a{}",
            a.id.to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "")
        );
        match a.vendor.slug() {
            "facebook" => fb.push(format!(
                "{{ id = \"{id}\", base_url = \"{base}/facebook\", currency = \"{}\", start_date = \"{start}\", credentials = {{ token = {{ env = \"SANDBOX_FACEBOOK_TOKEN\" }} }}, options = {{ ad_account_id = \"{}\" }} }}",
                a.currency, a.id
            )),
            "yandex_direct" => ya.push(format!(
                "{{ id = \"{id}\", base_url = \"{base}/yandex_direct\", currency = \"{}\", spend_multiplier = \"1.2\", start_date = \"{start}\", credentials = {{ token = {{ env = \"SANDBOX_YANDEX_TOKEN\" }} }}, options = {{ client_login = \"{}\" }} }}",
                a.currency, a.id
            )),
            _ => continue,
        }
        if let Some(c) = &a.contractor {
            rules.push_str(&format!(
                "[[contractors]]\ncontractor = \"{c}\"\naccount = \"{}:{id}\"\n\n",
                a.vendor.slug()
            ));
        }
    }
    t.push_str(&format!(
        "[sources.facebook]\naccounts = [\n  {}\n]\n\n",
        fb.join(",\n  ")
    ));
    t.push_str(&format!(
        "[sources.yandex_direct]\naccounts = [\n  {}\n]\n\n",
        ya.join(",\n  ")
    ));
    t.push_str(&rules);
    t.push_str("[[variable_costs]]\nname = \"Эквайринг\"\npercent_of_revenue = \"3.5\"\n");
    t
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
    let config_text = sandbox_config(&school, &sb.base_url(), start);
    std::fs::write(opts.out.join("voronka.toml"), &config_text)?;
    let config = Config::from_toml(&config_text).context("the demo config is invalid")?;
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(opts.out.clone()));
    let secrets = SandboxSecrets(BTreeMap::from([
        (
            "SANDBOX_AMOCRM_TOKEN".to_string(),
            sandbox::AMOCRM_TOKEN.to_string(),
        ),
        (
            "SANDBOX_GETCOURSE_KEY".to_string(),
            sandbox::GETCOURSE_KEY.to_string(),
        ),
        (
            "SANDBOX_YANDEX_TOKEN".to_string(),
            sandbox::YANDEX_TOKEN.to_string(),
        ),
        (
            "SANDBOX_FACEBOOK_TOKEN".to_string(),
            sandbox::FACEBOOK_TOKEN.to_string(),
        ),
    ]));
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

    let slugs = ["cbr", "amocrm", "getcourse", "yandex_direct", "facebook"];
    let b = bar(
        opts.progress,
        slugs.len() as u64 + 1,
        "ingest from sandbox APIs",
    );
    let mut failed = Vec::new();
    for slug in slugs {
        b.set_message(format!("ingest {slug}"));
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
        b.inc(1);
    }
    b.set_message("deliver Tilda webhooks");
    deliver_tilda(&*store, &school).await?;
    crate::state::record_source_status(&*store, "tilda", "main", now, true, None).await?;
    b.inc(1);
    b.finish_and_clear();
    if !failed.is_empty() {
        bail!("demo ingest failed: {}", failed.join("; "));
    }

    let sp = bar(opts.progress, 3, "normalize → aggregate → render");
    p.normalize().await?;
    sp.inc(1);
    let marts = p.aggregate(opts.end, now).await?;
    sp.inc(1);
    let pages = p.render(now).await?;
    sp.inc(1);
    sp.finish_and_clear();
    drop(sb);
    Ok(DemoReport {
        marts,
        pages,
        index: opts.out.join("site").join("index.html"),
        elapsed: started.elapsed(),
    })
}

/// Stores every Tilda delivery exactly as the webhook receiver does.
async fn deliver_tilda(store: &dyn Store, school: &sandbox::School) -> Result<()> {
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
    Ok(())
}
