//! `voronka bench`: the performance benchmark (`docs/performance.md`).
//!
//! Generates a synthetic school with the sandbox, stores its raw zone once
//! (through the fake vendor APIs and the real connectors and driver, like
//! the demo; `--reuse` skips it), then measures, each step in its own
//! child process on one thread (a current-thread tokio runtime), wall time
//! and peak RSS (`VmHWM`):
//!
//! - full rebuild from raw: normalize (full) + aggregate + render;
//! - aggregate alone; render alone;
//! - aggregate's phases: list + read, parse, compute, serialize + write;
//! - a 15-minute refresh: the last hour's webhook deliveries (held back
//!   when the raw zone was made) land in `raw/`, then normalize
//!   (incremental) + aggregate + render;
//! - the site's size and the largest page's transferred size (gzip).
//!
//! Figures are printed and written to `<out>/bench-report.json`; the DuckDB
//! reference (`benches/perf/`) reads that file for the ratio.

use crate::pipeline::Pipeline;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voronka_connectors::driver::{Driver, DriverOptions, EnvSecrets, SecretSource};
use voronka_core::config::{Config, SecretRef};
use voronka_core::metrics;
use voronka_core::model::{Dataset, Record};
use voronka_core::time;
use voronka_sandbox as sandbox;
use voronka_store::{LocalStore, Store};

/// Marks a folder as made by `bench`, so a re-run may replace it.
const MARKER: &str = ".voronka-bench";
/// What the raw zone was made from (read back by `--reuse` and the steps).
const META: &str = "bench.json";
/// The held-back last hour of webhook deliveries: `<raw key>` → envelope.
const HELD: &str = "bench-held";

pub struct BenchOptions {
    pub out: PathBuf,
    pub seed: u64,
    pub scale: f64,
    pub years: f64,
    pub end: NaiveDate,
    /// Reuse the raw zone already in `out`.
    pub reuse: bool,
    /// Internal: run one measured step in this process (a child of the
    /// benchmark) and print its figures as one JSON line.
    pub step: Option<String>,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BenchReport {
    pub figures: Vec<Figure>,
    /// Record counts of the normalized zone, by entity.
    pub records: BTreeMap<String, u64>,
}

impl BenchReport {
    fn add(&mut self, name: &str, value: f64, unit: &str) {
        self.figures.push(Figure {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
        });
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    seed: u64,
    scale: f64,
    days: u32,
    end: NaiveDate,
    /// The instant the runs pretend to happen (freshness, "updated at").
    now: DateTime<Utc>,
    held_back: usize,
}

/// Resolves the sandbox credentials by environment-variable name.
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

pub async fn run(opts: BenchOptions) -> Result<BenchReport> {
    if let Some(step) = opts.step.clone() {
        let out = opts.out.clone();
        // The measured work runs on one thread: a current-thread runtime
        // on a thread of its own (the binary's runtime stays idle).
        let report = std::thread::spawn(move || -> Result<BenchReport> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(run_step(&out, &step))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("bench step panicked"))??;
        println!("BENCH-STEP {}", serde_json::to_string(&report)?);
        return Ok(report);
    }

    let mut report = BenchReport::default();
    let meta = if opts.reuse {
        let meta: Meta = serde_json::from_slice(
            &std::fs::read(opts.out.join(META))
                .with_context(|| format!("--reuse: no {META} in {}", opts.out.display()))?,
        )?;
        println!(
            "reusing the raw zone in {} (scale {}, {} days to {})",
            opts.out.display(),
            meta.scale,
            meta.days,
            meta.end
        );
        meta
    } else {
        make_raw(&opts, &mut report).await?
    };
    report.add("school scale", meta.scale, "x");
    report.add("school days", f64::from(meta.days), "days");
    report.add("held-back webhook deliveries", meta.held_back as f64, "");
    let raw = dir_size(&opts.out.join("raw"));
    report.add("raw zone objects", raw.0 as f64, "");
    report.add("raw zone size", raw.1 as f64 / 1e6, "MB");

    // The lake as before the refresh: no held-back deliveries in raw/,
    // nothing downstream (a full rebuild starts from raw alone).
    let held = held_envelopes(&opts.out)?;
    for (key, _) in &held {
        let p = opts.out.join(key);
        if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    for zone in ["normalized", "quarantine", "marts", "site"] {
        let p = opts.out.join(zone);
        if p.exists() {
            std::fs::remove_dir_all(&p)?;
        }
    }

    let full = child(&opts.out, "full")?;
    merge(&mut report, &full, "full rebuild: ");
    report.records = full.records.clone();
    let agg = child(&opts.out, "aggregate")?;
    merge(&mut report, &agg, "aggregate alone: ");
    let render = child(&opts.out, "render")?;
    merge(&mut report, &render, "render alone: ");
    let phases = child(&opts.out, "phases")?;
    merge(&mut report, &phases, "aggregate phase: ");

    // The 15-minute refresh: the held-back hour arrives, then the pipeline.
    // They arrive now, as real webhooks do: re-stamped with the arrival
    // time (a delivery stamped hours in the past would be a late writer,
    // which the incremental normalizer answers with a full rebuild).
    let store = LocalStore::new(opts.out.clone());
    let arrival = chrono::Utc::now();
    for (key, bytes) in &held {
        let mut env = voronka_connectors::RawEnvelope::from_json(bytes)
            .map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
        env.received_at = arrival;
        env.run = format!("{}-bench", arrival.format("%Y%m%dT%H%M%S%3fZ"));
        store
            .put_if_absent(&env.key(), Bytes::from(env.to_json()))
            .await?;
    }
    let refresh = child(&opts.out, "refresh")?;
    merge(&mut report, &refresh, "15-minute refresh: ");

    site_sizes(&opts.out.join("site"), &mut report)?;

    println!();
    println!("voronka bench — {}", opts.out.display());
    for (entity, n) in &report.records {
        println!("  records {entity:<16} {n:>12}");
    }
    for f in &report.figures {
        println!("  {:<52} {:>14.3} {}", f.name, f.value, f.unit);
    }
    let mut json = serde_json::to_vec_pretty(&report)?;
    json.push(b'\n');
    std::fs::write(opts.out.join("bench-report.json"), json)?;
    Ok(report)
}

fn merge(report: &mut BenchReport, step: &BenchReport, prefix: &str) {
    for f in &step.figures {
        report.add(&format!("{prefix}{}", f.name), f.value, &f.unit);
    }
}

/// Runs `voronka bench --step <step>` as a child process (inheriting the
/// CPU affinity, e.g. `taskset -c 0`) and reads its figures.
fn child(out: &Path, step: &str) -> Result<BenchReport> {
    let exe = std::env::current_exe().context("cannot find the voronka binary")?;
    eprintln!("bench: step {step} …");
    let started = Instant::now();
    let output = std::process::Command::new(exe)
        .arg("bench")
        .arg("--out")
        .arg(out)
        .arg("--step")
        .arg(step)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run bench step {step}"))?;
    let wall = started.elapsed();
    if !output.status.success() {
        bail!("bench step {step} failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH-STEP "))
        .with_context(|| format!("bench step {step} printed no figures"))?;
    let mut r: BenchReport = serde_json::from_str(line)?;
    r.add("process wall time (incl. start-up)", secs(wall), "s");
    Ok(r)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Peak resident set size of this process so far, MB (`VmHWM`).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0), so the next phase's
/// peak is its own. Returns whether it worked.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn read_meta(out: &Path) -> Result<Meta> {
    Ok(serde_json::from_slice(
        &std::fs::read(out.join(META))
            .with_context(|| format!("no {META} in {}", out.display()))?,
    )?)
}

fn pipeline(out: &Path) -> Result<Pipeline> {
    let config = crate::load_config(&out.join("voronka.toml"))?;
    Ok(Pipeline {
        store: Arc::new(LocalStore::new(out.to_path_buf())),
        config,
        driver: Driver::new(DriverOptions::default(), Arc::new(EnvSecrets)),
    })
}

/// One measured step, in this process.
async fn run_step(out: &Path, step: &str) -> Result<BenchReport> {
    let meta = read_meta(out)?;
    let p = pipeline(out)?;
    let mut r = BenchReport::default();
    let t0 = Instant::now();
    match step {
        "full" | "refresh" => {
            let t = Instant::now();
            let n = if step == "full" {
                p.normalize_full().await?
            } else {
                p.normalize().await?
            };
            r.add("normalize", secs(t.elapsed()), "s");
            r.add("normalize peak RSS", peak_rss_mb(), "MB");
            r.add("normalize envelopes read", n.envelopes as f64, "");
            r.add(
                "normalize ran as a full rebuild (1 = yes)",
                f64::from(u8::from(n.full)),
                "",
            );
            if let Some(note) = &n.note {
                eprintln!("normalize ({step}): {note}");
            }
            r.add("normalize records", n.records as f64, "");
            let reset = reset_peak_rss();
            let t = Instant::now();
            p.aggregate(meta.end, meta.now).await?;
            r.add("aggregate", secs(t.elapsed()), "s");
            if reset {
                r.add("aggregate peak RSS", peak_rss_mb(), "MB");
            }
            let reset = reset_peak_rss();
            let t = Instant::now();
            let pages = p.render(meta.now).await?;
            r.add("render", secs(t.elapsed()), "s");
            if reset {
                r.add("render peak RSS", peak_rss_mb(), "MB");
            }
            r.add("site files", pages as f64, "");
            if step == "full" {
                r.records = count_records(out)?;
            }
        }
        "aggregate" => {
            p.aggregate(meta.end, meta.now).await?;
        }
        "render" => {
            p.render(meta.now).await?;
        }
        "phases" => {
            // aggregate, split: list + read, parse, compute, serialize.
            let t = Instant::now();
            // Record partitions only (not the normalizer's own indexes).
            let keys: Vec<String> = p
                .store
                .list("normalized/")
                .await?
                .into_iter()
                .filter(|k| k.ends_with(".jsonl") && !k.contains("/_"))
                .collect();
            let mut blobs = Vec::with_capacity(keys.len());
            for key in &keys {
                blobs.push(p.store.get(key).await?.unwrap_or_default());
            }
            r.add("list + read normalized/", secs(t.elapsed()), "s");
            r.add(
                "normalized bytes",
                blobs.iter().map(|b| b.len()).sum::<usize>() as f64 / 1e6,
                "MB",
            );
            let t = Instant::now();
            let mut ds = Dataset::default();
            for (key, bytes) in keys.iter().zip(&blobs) {
                for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let rec: Record = serde_json::from_slice(line)
                        .with_context(|| format!("{key}: not a canonical record"))?;
                    ds.push(rec);
                }
            }
            drop(blobs);
            r.add("parse JSON lines into the dataset", secs(t.elapsed()), "s");
            r.add("peak RSS after parse", peak_rss_mb(), "MB");
            let t = Instant::now();
            let collapsed = BTreeMap::new();
            let marts = metrics::aggregate(metrics::Input {
                dataset: &ds,
                config: &p.config,
                as_of: meta.end,
                sources: &[],
                collapsed: &collapsed,
                quarantined: 0,
                checked_at: meta.now,
            });
            r.add(
                "compute marts (resolve, marts, checks)",
                secs(t.elapsed()),
                "s",
            );
            let t = Instant::now();
            let json = serde_json::to_vec_pretty(&marts)?;
            let from = marts.summary.from;
            let csv = metrics::export::channels_csv(&marts, from, meta.end).len()
                + metrics::export::cash_csv(&marts, from, meta.end).len();
            r.add("serialize marts.json + CSVs", secs(t.elapsed()), "s");
            r.add("marts.json size", json.len() as f64 / 1e6, "MB");
            r.add("channels.csv + cash.csv size", csv as f64 / 1e6, "MB");
        }
        other => bail!("unknown bench step {other:?}"),
    }
    r.add("wall time", secs(t0.elapsed()), "s");
    r.add("peak RSS", peak_rss_mb(), "MB");
    Ok(r)
}

fn count_records(out: &Path) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    let root = out.join("normalized");
    for entity in std::fs::read_dir(&root)? {
        let entity = entity?;
        let mut n = 0u64;
        walk(&entity.path(), &mut |p| {
            if let Ok(b) = std::fs::read(p) {
                n += b.iter().filter(|c| **c == b'\n').count() as u64;
            }
        });
        counts.insert(entity.file_name().to_string_lossy().into_owned(), n);
    }
    Ok(counts)
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

/// (files, bytes) under `dir`.
fn dir_size(dir: &Path) -> (u64, u64) {
    let (mut n, mut bytes) = (0u64, 0u64);
    walk(dir, &mut |p| {
        n += 1;
        bytes += p.metadata().map(|m| m.len()).unwrap_or(0);
    });
    (n, bytes)
}

/// Prepares the output folder: refuses to touch a folder bench didn't make.
fn prepare_out(out: &Path) -> Result<()> {
    if out.exists() {
        let non_empty = std::fs::read_dir(out)?.next().is_some();
        if non_empty && !out.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by `voronka bench`; choose another --out",
                out.display()
            );
        }
        std::fs::remove_dir_all(out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    std::fs::create_dir_all(out.join(HELD))?;
    std::fs::write(out.join(MARKER), "made by voronka bench\n")?;
    Ok(())
}

/// Generates the school and stores its raw zone: every source through the
/// fake vendor APIs and the real driver (as `voronka demo` does), the Tilda
/// and Salebot webhook deliveries as the receiver stores them — except the
/// last hour's, which are kept aside for the refresh step.
async fn make_raw(opts: &BenchOptions, report: &mut BenchReport) -> Result<Meta> {
    prepare_out(&opts.out)?;
    let days = (opts.years * 365.25).round().max(1.0) as u32;
    let spec = sandbox::SchoolSpec {
        seed: opts.seed,
        days,
        scale: opts.scale,
        end: opts.end,
    };
    eprintln!(
        "bench: generating the school ({days} days, scale {}) …",
        opts.scale
    );
    let t = Instant::now();
    let school = Arc::new(sandbox::generate(&spec));
    report.add("raw zone: generate the school", secs(t.elapsed()), "s");
    report.add(
        "school registrations",
        school.registrations.len() as f64,
        "",
    );
    report.add("school deals", school.deals.len() as f64, "");
    report.add("school payments", school.payments.len() as f64, "");
    report.add(
        "school webinar viewers",
        school.webinar_viewers.len() as f64,
        "",
    );
    report.add(
        "school ad-stat rows (campaign level)",
        (school.facebook_rows.len() + school.yandex_rows.len() + school.ad_rows.len()) as f64,
        "",
    );

    let t = Instant::now();
    let sb = sandbox::Sandbox::start(school.clone(), sandbox::SandboxOptions::default())
        .await
        .context("cannot start the sandbox vendors on 127.0.0.1")?;
    let start = opts.end - chrono::Duration::days(i64::from(days) - 1);
    let (config_text, secrets) = crate::demo::sandbox_config(&school, &sb.base_url(), start);
    std::fs::write(opts.out.join("voronka.toml"), &config_text)?;
    let config = Config::from_toml(&config_text).context("the bench config is invalid")?;
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(opts.out.clone()));
    let driver = Driver::new(
        DriverOptions {
            wait_cap: Some(Duration::ZERO),
            ..DriverOptions::default()
        },
        Arc::new(SandboxSecrets(secrets)),
    );
    let p = Pipeline {
        store: store.clone(),
        config,
        driver,
    };
    let now: DateTime<Utc> =
        time::end_of_day(opts.end, p.config.tz()) - chrono::Duration::minutes(1);
    let mut failed = Vec::new();
    for slug in crate::demo::DEMO_SLUGS {
        if slug == "tilda" || !p.config.sources.contains_key(slug) {
            continue;
        }
        eprintln!("bench: ingest {slug} …");
        let ts = Instant::now();
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
        report.add(&format!("raw zone: ingest {slug}"), secs(ts.elapsed()), "s");
    }
    if !failed.is_empty() {
        bail!("bench ingest failed: {}", failed.join("; "));
    }
    drop(sb);
    report.add("raw zone: ingest through fake APIs", secs(t.elapsed()), "s");

    // Webhooks: the last hour before `now` is held back.
    let t = Instant::now();
    let cut = now - chrono::Duration::hours(1);
    let mut held = 0;
    for (seq, d) in sandbox::tilda_deliveries(&school).iter().enumerate() {
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
        held += usize::from(write_delivery(&opts.out, d.received_at > cut, &env)?);
    }
    for (seq, d) in sandbox::salebot_deliveries(&school).iter().enumerate() {
        let run = crate::pipeline::run_id(d.received_at, "salebot");
        let env = voronka_connectors::salebot::webhook_envelope(
            "main",
            d.body.as_bytes(),
            d.received_at,
            &run,
            seq as u64,
        );
        held += usize::from(write_delivery(&opts.out, d.received_at > cut, &env)?);
    }
    crate::state::record_source_status(&*store, "tilda", "main", now, true, None).await?;
    report.add("raw zone: store webhook deliveries", secs(t.elapsed()), "s");

    let meta = Meta {
        seed: opts.seed,
        scale: opts.scale,
        days,
        end: opts.end,
        now,
        held_back: held,
    };
    std::fs::write(opts.out.join(META), serde_json::to_vec_pretty(&meta)?)?;
    Ok(meta)
}

/// Writes one webhook delivery: into `raw/` at the key the receiver uses
/// (the same bytes, written directly: one file per delivery, without the
/// store's two fsyncs each — the raw zone is made once and is not what is
/// measured), or aside when `held`. Returns `held`.
fn write_delivery(out: &Path, held: bool, env: &voronka_connectors::RawEnvelope) -> Result<bool> {
    let (key, bytes) = (env.key(), env.to_json());
    let path = if held {
        out.join(HELD).join(key.replace('/', "%2F"))
    } else {
        out.join(&key)
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)?;
    Ok(held)
}

/// The held-back deliveries: (raw key, envelope bytes).
fn held_envelopes(out: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut v = Vec::new();
    let dir = out.join(HELD);
    if !dir.exists() {
        return Ok(v);
    }
    for e in std::fs::read_dir(&dir)? {
        let e = e?;
        let key = e.file_name().to_string_lossy().replace("%2F", "/");
        v.push((key, std::fs::read(e.path())?));
    }
    v.sort();
    Ok(v)
}

/// gzip -9 size of a file (what a CDN with compression transfers).
fn gzip_size(path: &Path) -> Result<u64> {
    let out = std::process::Command::new("gzip")
        .arg("-9")
        .arg("-c")
        .arg(path)
        .output()
        .context("cannot run gzip")?;
    if !out.status.success() {
        bail!("gzip failed on {}", path.display());
    }
    Ok(out.stdout.len() as u64)
}

/// Local files a page loads: `src=`/`href=` to .css/.js/.json,
/// `data/*.json` named anywhere in it, and the data its script fetches.
fn page_assets(html: &str) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let Some(end) = rest.find('"') else { continue };
            let url = rest[..end].split(['?', '#']).next().unwrap_or("");
            if url.contains("://") || url.starts_with('/') {
                continue;
            }
            if url.ends_with(".css") || url.ends_with(".js") || url.ends_with(".json") {
                out.insert(url.to_string());
            }
        }
    }
    for (i, _) in html.match_indices("data/") {
        let rest = &html[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "/_-.".contains(c)))
            .unwrap_or(rest.len());
        let url = rest[..end].trim_end_matches('.');
        if url.ends_with(".json") {
            out.insert(url.to_string());
        }
    }
    // Data the page's script fetches at load (`assets/app.js`: `load(name)`
    // by `<body data-page>`), which no attribute names.
    for (page, files) in [
        ("index", &["data/channels.json", "data/cash.json"][..]),
        ("targeting", &["data/channels.json", "data/cash.json"][..]),
        ("funnel", &["data/funnel.json"][..]),
    ] {
        if html.contains(&format!("data-page=\"{page}\"")) {
            out.extend(files.iter().map(|f| f.to_string()));
        }
    }
    out.into_iter().collect()
}

fn site_sizes(site: &Path, report: &mut BenchReport) -> Result<()> {
    let (files, bytes) = dir_size(site);
    report.add("site files", files as f64, "");
    report.add("site size", bytes as f64 / 1e3, "KB");
    let mut gz: BTreeMap<PathBuf, u64> = BTreeMap::new();
    let mut gz_of = |p: &Path| -> Result<u64> {
        if let Some(n) = gz.get(p) {
            return Ok(*n);
        }
        let n = gzip_size(p)?;
        gz.insert(p.to_path_buf(), n);
        Ok(n)
    };
    let mut pages = Vec::new();
    walk(site, &mut |p| {
        if p.extension().is_some_and(|e| e == "html") {
            pages.push(p.to_path_buf());
        }
    });
    pages.sort();
    let (mut worst, mut worst_html) = ((0u64, String::new()), (0u64, String::new()));
    for page in &pages {
        let html = std::fs::read_to_string(page)?;
        let own = gz_of(page)?;
        let mut total = own;
        let base = page.parent().unwrap_or(site);
        for a in page_assets(&html) {
            let p = base.join(&a);
            if p.is_file() {
                total += gz_of(&p)?;
            }
        }
        let name = page
            .strip_prefix(site)
            .unwrap_or(page)
            .display()
            .to_string();
        if total > worst.0 {
            worst = (total, name.clone());
        }
        if own > worst_html.0 {
            worst_html = (own, name);
        }
    }
    println!(
        "largest page transferred (gzip, HTML + its CSS/JS/JSON, cold cache): {} ({:.1} KB); largest HTML alone: {} ({:.1} KB)",
        worst.1,
        worst.0 as f64 / 1e3,
        worst_html.1,
        worst_html.0 as f64 / 1e3
    );
    report.add(
        &format!("largest page transferred, cold cache ({})", worst.1),
        worst.0 as f64 / 1e3,
        "KB",
    );
    report.add(
        &format!("largest page HTML alone, gzip ({})", worst_html.1),
        worst_html.0 as f64 / 1e3,
        "KB",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_of_a_page() {
        let html = r#"<link href="assets/site.css"><script src="assets/echarts.min.js?v=1"></script>
            <a href="glossary.html">x</a><script>fetch("data/channels.json")</script>
            <img src="https://example.com/x.js">"#;
        assert_eq!(
            page_assets(html),
            vec![
                "assets/echarts.min.js",
                "assets/site.css",
                "data/channels.json"
            ]
        );
    }
}
