//! The command line. `voronka --help` explains every command.

use crate::pipeline::{IngestSummary, NormalizeSummary, Pipeline};
use crate::{demo, load_config, open_store};
use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use voronka_connectors::auth::FileTokenStore;
use voronka_connectors::driver::{Driver, DriverOptions, EnvSecrets};
use voronka_core::metrics::{CheckStatus, Marts};
use voronka_core::money::round_kopecks;
use voronka_core::time;

/// voronka: end-to-end marketing analytics for online schools.
///
/// Ingests ad platforms, forms, webinars, CRM and payments into a data lake
/// (a local folder or S3), computes spend → leads → sales → ROMI, and
/// renders static dashboards. Start with `voronka demo`.
#[derive(Debug, Parser)]
#[command(name = "voronka", version, about, long_about)]
pub struct Cli {
    /// The configuration file (see voronka.example.toml).
    #[arg(
        long,
        short,
        global = true,
        default_value = "voronka.toml",
        env = "VORONKA_CONFIG"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Builds the whole site from a synthetic school: fake vendor APIs on
    /// 127.0.0.1 speak the real protocols, the connectors pull from them,
    /// and the pipeline renders the dashboards into DIR. No account needed.
    Demo {
        /// Output folder (the data lake and the site inside it).
        #[arg(long, default_value = "demo")]
        out: PathBuf,
        /// Seed of the synthetic school (same seed, same bytes).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days of history.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Volume multiplier (1.0 = a typical school).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Last day of the synthetic history (and the report's as-of).
        #[arg(long, default_value = "2026-11-30")]
        end: NaiveDate,
    },
    /// Measures the pipeline on a large synthetic school (docs/performance.md):
    /// stores its raw zone once, then times a full rebuild, aggregate,
    /// render and a 15-minute refresh, each on one thread, with peak RSS.
    Bench {
        /// Output folder (the benchmark's data lake).
        #[arg(long, default_value = "bench")]
        out: PathBuf,
        /// Volume multiplier of the school (1.0 = a typical school).
        #[arg(long, default_value_t = 8.0)]
        scale: f64,
        /// Years of history.
        #[arg(long, default_value_t = 3.0)]
        years: f64,
        /// Reuse the raw zone already in --out (skip generating it).
        #[arg(long)]
        reuse: bool,
        /// Seed of the synthetic school.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Last day of the synthetic history (and the report's as-of).
        #[arg(long, default_value = "2026-11-30")]
        end: NaiveDate,
        /// Internal: run one measured step in this process.
        #[arg(long, hide = true)]
        step: Option<String>,
    },
    /// The scheduled job: ingest every enabled source, then normalize,
    /// aggregate and render.
    Run {
        /// Skip fetching: re-normalize everything already in raw/ (how a
        /// parser fix is replayed over history), then aggregate and render.
        #[arg(long)]
        from_raw: bool,
        /// Report date (default: yesterday in the school's zone).
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Fetches one source into raw/ and re-normalizes.
    Ingest {
        /// Source slug (amocrm, getcourse, yandex_direct, facebook, cbr...).
        slug: String,
        /// First day of the window (default: the account's lookback).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day of the window (default: today).
        #[arg(long)]
        to: Option<NaiveDate>,
    },
    /// Recomputes the metric tables (marts/) from normalized/.
    Aggregate {
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Renders the dashboards (site/) from marts/.
    Render,
    /// Writes the export CSVs (channels, cash, managers, cohorts, checks)
    /// and an XLSX workbook for a date range, as of its end.
    Export {
        #[arg(long)]
        from: NaiveDate,
        #[arg(long)]
        to: NaiveDate,
        #[arg(long)]
        out: PathBuf,
    },
    /// Validates voronka.toml and prints what it configures.
    CheckConfig,
    /// Prints each manager's private page URL (`/m/<token>/`). Tokens are
    /// derived from `[site] link_secret`: change the secret to revoke all.
    Links,
    /// Explains how voronka sees something.
    Explain {
        #[command(subcommand)]
        what: Explain,
    },
    /// Receives vendor webhooks (Tilda forms, Salebot bots, GetCourse
    /// deals) over HTTP and stores each delivery in raw/ at once:
    /// `POST /webhook/<slug>/<account>?token=…`.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
    },
    /// Imports a vendor export file into raw/ (once: the same file again
    /// writes nothing) and re-normalizes. `tilda`: the leads export
    /// (Заявки → CSV) for history before the webhook. `manual_costs`: the
    /// costs CSV (a later upload to the same --account replaces the
    /// earlier one). `telegram_ads`: one ad's cabinet export (TSV).
    Import {
        /// Source slug (tilda, manual_costs, telegram_ads).
        slug: String,
        /// The exported file.
        file: PathBuf,
        /// The source account the file belongs to (manual_costs: the
        /// stream of uploads, e.g. `bloggers`).
        #[arg(long, default_value = "main")]
        account: String,
        /// telegram_ads: the campaign the ad's stats belong to (default:
        /// the file name without its extension).
        #[arg(long)]
        campaign: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Explain {
    /// Why records were joined into one person: every record of the person
    /// with an e-mail or phone (any format) and which key linked which.
    Person {
        /// An e-mail or a phone number.
        query: String,
    },
}

pub async fn main(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo {
            out,
            seed,
            days,
            scale,
            end,
        } => {
            let report = demo::run(demo::DemoOptions {
                out: out.clone(),
                seed,
                days,
                scale,
                end,
                progress: true,
            })
            .await?;
            print_marts(&report.marts);
            println!();
            let steps: Vec<String> = report
                .steps
                .iter()
                .map(|(name, d)| format!("{name} {:.1} s", d.as_secs_f64()))
                .collect();
            println!("Steps: {}", steps.join(", "));
            println!(
                "Done in {:.1} s: {} site files in {}",
                report.elapsed.as_secs_f64(),
                report.pages,
                report
                    .index
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            println!(
                "The pages load their data with fetch(), so open them over HTTP, e.g.\n  \
                 python3 -m http.server -d {} 8000   then   http://127.0.0.1:8000/",
                report
                    .index
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            Ok(())
        }
        Command::Bench {
            out,
            scale,
            years,
            reuse,
            seed,
            end,
            step,
        } => {
            crate::bench::run(crate::bench::BenchOptions {
                out,
                seed,
                scale,
                years,
                end,
                reuse,
                step,
            })
            .await?;
            Ok(())
        }
        Command::CheckConfig => {
            let config = load_config(&cli.config)?;
            println!("{}: OK", cli.config.display());
            println!("  timezone: {}", config.timezone);
            println!("  attribution: {}", config.attribution.as_str());
            println!("  storage: {:?}", config.storage);
            for (slug, s) in &config.sources {
                let ids: Vec<&str> = s.accounts.iter().map(|a| a.id.as_str()).collect();
                println!(
                    "  source {slug}: {} ({})",
                    ids.join(", "),
                    if s.enabled { "enabled" } else { "disabled" }
                );
            }
            Ok(())
        }
        command => {
            let config = load_config(&cli.config)?;
            let base = cli
                .config
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let store = open_store(&config, &base).await?;
            // OAuth tokens (rotating amoCRM refresh tokens, VK client
            // tokens) live beside the config, outside the data lake.
            let driver = Driver::new(DriverOptions::default(), Arc::new(EnvSecrets))
                .with_token_store(Arc::new(FileTokenStore::beside_config(&cli.config)));
            let p = Pipeline {
                store,
                config,
                driver,
            };
            run_command(&p, command).await
        }
    }
}

async fn run_command(p: &Pipeline, command: Command) -> Result<()> {
    let now = Utc::now();
    let tz = p.config.tz();
    let yesterday = time::local_date(now, tz) - chrono::Duration::days(1);
    match command {
        Command::Run { from_raw, as_of } => {
            let mut failed = 0;
            if !from_raw {
                let slugs: Vec<String> = voronka_connectors::SLUGS
                    .iter()
                    .filter(|s| p.config.sources.get(**s).is_some_and(|c| c.enabled))
                    .map(|s| s.to_string())
                    .collect();
                for slug in slugs {
                    let sp = spinner(&format!("ingest {slug}"));
                    let res = p.ingest(&slug, None, now).await;
                    sp.finish_and_clear();
                    match res {
                        Ok(summaries) => {
                            for s in &summaries {
                                failed += s.failed.len();
                                print_ingest(s);
                            }
                        }
                        Err(e) => {
                            failed += 1;
                            eprintln!("{slug}: {e:#}");
                        }
                    }
                }
            }
            let n = if from_raw {
                p.normalize_full().await?
            } else {
                p.normalize().await?
            };
            print_normalize(&n);
            let marts = p.aggregate(as_of.unwrap_or(yesterday), now).await?;
            let pages = p.render(now).await?;
            print_marts(&marts);
            println!("{pages} site files in {}", p.store.describe());
            if failed > 0 {
                bail!("{failed} ingest job(s) failed (see above); the rest of the run completed");
            }
            Ok(())
        }
        Command::Ingest { slug, from, to } => {
            let window = match (from, to) {
                (None, None) => None,
                (f, t) => {
                    let to = t.unwrap_or(time::local_date(now, tz));
                    Some((f.unwrap_or(to - chrono::Duration::days(7)), to))
                }
            };
            let sp = spinner(&format!("ingest {slug}"));
            let res = p.ingest(&slug, window, now).await;
            sp.finish_and_clear();
            let summaries = res?;
            let failed: usize = summaries.iter().map(|s| s.failed.len()).sum();
            summaries.iter().for_each(print_ingest);
            print_normalize(&p.normalize().await?);
            if failed > 0 {
                bail!("{failed} ingest job(s) of {slug} failed");
            }
            Ok(())
        }
        Command::Aggregate { as_of } => {
            let marts = p.aggregate(as_of.unwrap_or(yesterday), now).await?;
            print_marts(&marts);
            Ok(())
        }
        Command::Render => {
            let n = p.render(now).await?;
            println!("{n} site files in {}", p.store.describe());
            Ok(())
        }
        Command::Export { from, to, out } => {
            if from > to {
                bail!("--from {from} is after --to {to}");
            }
            let marts = p.compute(to, now).await?;
            let files = crate::export::write(&marts, from, to, &out)?;
            println!(
                "{} for {from}..{to} (as of {to}, attribution {}) in {}",
                files.join(", "),
                marts.attribution,
                out.display()
            );
            Ok(())
        }
        Command::Links => {
            let secret = p.link_secret()?.context(
                "set `[site] link_secret = { env = \"…\" }` to give managers private pages",
            )?;
            let marts: Marts = crate::state::read_json(&*p.store, "marts/marts.json")
                .await?
                .context("marts/marts.json is missing: run `voronka aggregate` first")?;
            let mut names: Vec<String> = marts.managers.iter().map(|m| m.manager.clone()).collect();
            names.sort();
            names.dedup();
            let base = p.config.site.base_url.trim_end_matches('/');
            for (name, path) in voronka_site::manager_links(&secret, &names) {
                println!("{name}\t{base}/{path}");
            }
            Ok(())
        }
        Command::Explain {
            what: Explain::Person { query },
        } => {
            let ds = p.load_dataset().await?;
            match voronka_core::identity::explain(&ds, &query) {
                Some(e) => println!("{e}"),
                None => bail!("no person with e-mail or phone {query:?} in the normalized data"),
            }
            Ok(())
        }
        Command::Serve { bind } => {
            let receiver = crate::webhook::Receiver::new(&p.config, &EnvSecrets, p.store.clone())?;
            for path in receiver.paths() {
                println!("listening: POST http://{bind}{path}?token=…");
            }
            crate::webhook::serve(Arc::new(receiver), bind).await
        }
        Command::Import {
            slug,
            file,
            account,
            campaign,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let r = crate::webhook::import_file_with(
                &*p.store,
                &p.config,
                &slug,
                &account,
                name.as_deref().unwrap_or(""),
                &bytes,
                campaign.as_deref(),
                Utc::now(),
            )
            .await?;
            let what = if r.written {
                "imported"
            } else {
                "already imported"
            };
            println!(
                "{what}: {} → {} ({} records, {} bad rows)",
                file.display(),
                r.key,
                r.records,
                r.rejected.len()
            );
            for e in &r.rejected {
                println!("    ✗ {}: {}: {}", e.record, e.field, e.reason);
            }
            print_normalize(&p.normalize().await?);
            Ok(())
        }
        Command::Demo { .. } | Command::Bench { .. } | Command::CheckConfig => {
            unreachable!("handled before")
        }
    }
}

fn spinner(msg: &str) -> ProgressBar {
    let sp = ProgressBar::new_spinner();
    sp.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("template"));
    sp.set_message(msg.to_string());
    sp.enable_steady_tick(Duration::from_millis(120));
    sp
}

pub fn print_ingest(s: &IngestSummary) {
    let status = if s.failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "  {}:{} {status}: {} jobs, {} requests, {} raw objects",
        s.source, s.account, s.jobs, s.requests, s.raw_objects
    );
    for f in &s.failed {
        println!("    ✗ {f}");
    }
}

pub fn print_normalize(n: &NormalizeSummary) {
    println!(
        "  normalized {} raw responses into {} records ({} partitions); {} quarantined",
        n.envelopes, n.records, n.partitions, n.quarantined
    );
}

/// A readable summary of the figures and checks.
pub fn print_marts(m: &Marts) {
    let s = &m.summary;
    let pct = |v: Option<rust_decimal::Decimal>| {
        v.map(|v| format!("{} %", v.round_dp(1)))
            .unwrap_or_else(|| "—".into())
    };
    let rub = |v: rust_decimal::Decimal| format!("{} ₽", round_kopecks(v));
    println!();
    println!(
        "Figures {}..{} as of {} ({}):",
        s.from, s.to, m.as_of, m.attribution
    );
    println!("  spend       {}", rub(s.spend));
    println!("  leads       {}", s.leads);
    println!("  applications {}", s.applications);
    println!("  sales       {}", s.sales);
    println!("  revenue1    {}", rub(s.revenue1));
    println!("  revenue2    {}", rub(s.revenue2));
    println!("  cash        {}", rub(s.cash_revenue));
    println!("  ROMI1       {}", pct(s.romi1));
    println!("  ROMI2       {}", pct(s.romi2));
    let mut counts = [0; 3];
    for c in &m.checks {
        counts[c.status as usize] += 1;
    }
    println!(
        "Checks: {} green, {} yellow, {} red",
        counts[0], counts[1], counts[2]
    );
    for c in m.checks.iter().filter(|c| c.status != CheckStatus::Green) {
        println!(
            "  [{}] {} {}: {}",
            c.status.as_str(),
            c.check,
            c.scope,
            c.detail
        );
    }
}

/// Parses a CLI invocation (for tests).
pub fn parse(args: &[&str]) -> Result<Cli> {
    Cli::try_parse_from(args).context("bad arguments")
}
