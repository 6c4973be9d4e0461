//! The pipeline: ingest → normalize → aggregate → render → export. Each
//! step reads and writes the store; every step but ingest is a
//! deterministic function of the store's contents, the config and `as_of`.

use crate::state::{self, JobLog, NormalizeState, RunLog};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use voronka_connectors::driver::Driver;
use voronka_connectors::{FetchContext, NormalizeContext, ParseError, RawEnvelope};
use voronka_core::config::{AccountConfig, Config};
use voronka_core::metrics::{self, Marts};
use voronka_core::model::{Dataset, Record};
use voronka_core::time;
use voronka_store::Store;

/// The pieces every step needs.
pub struct Pipeline {
    pub store: Arc<dyn Store>,
    pub config: Config,
    pub driver: Driver,
}

/// Watermark entry recording the last complete window's end.
pub const LAST_WINDOW: &str = "_last_window_to";

/// What one source account's ingest did.
#[derive(Debug, Clone)]
pub struct IngestSummary {
    pub source: String,
    pub account: String,
    pub jobs: usize,
    pub failed: Vec<String>,
    pub requests: u32,
    pub raw_objects: usize,
}

/// What normalization did.
#[derive(Debug, Clone, Default)]
pub struct NormalizeSummary {
    pub envelopes: usize,
    pub records: usize,
    pub partitions: usize,
    pub quarantined: usize,
    pub collapsed: BTreeMap<String, u64>,
}

/// A sortable, unique-enough run id: UTC time to the millisecond + what ran.
pub fn run_id(now: DateTime<Utc>, what: &str) -> String {
    format!("{}-{}", now.format("%Y%m%dT%H%M%S%3fZ"), what)
}

/// The default fetch window of an account: `lookback_days` (7; 28 for
/// Facebook, which revises a month back) ending today in the school zone;
/// `start_date` when the lake has no watermark for it yet.
pub fn default_window(
    slug: &str,
    account: &AccountConfig,
    today: NaiveDate,
    first_run: bool,
) -> (NaiveDate, NaiveDate) {
    let lookback = account
        .lookback_days
        .unwrap_or(if slug == "facebook" { 28 } else { 7 });
    let from = match (first_run, account.start_date) {
        (true, Some(start)) => start,
        _ => today - chrono::Duration::days(lookback as i64),
    };
    (from.min(today), today)
}

fn default_account(id: &str) -> AccountConfig {
    AccountConfig {
        id: id.to_string(),
        base_url: None,
        credentials: BTreeMap::new(),
        timezone: None,
        currency: None,
        spend_multiplier: None,
        lookback_days: None,
        start_date: None,
        options: BTreeMap::new(),
    }
}

impl Pipeline {
    /// Fetches one source (every enabled account) into `raw/`.
    /// `window` overrides the default window; `now` stamps the run log.
    pub async fn ingest(
        &self,
        slug: &str,
        window: Option<(NaiveDate, NaiveDate)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestSummary>> {
        let connector = voronka_connectors::connector(slug)
            .with_context(|| format!("unknown source {slug:?}"))?;
        let Some(source) = self.config.sources.get(slug) else {
            bail!("source {slug:?} is not configured in voronka.toml ([sources.{slug}])");
        };
        if !source.enabled {
            return Ok(Vec::new());
        }
        let tz = self.config.tz();
        let today = time::local_date(now, tz);
        let run = run_id(now, slug);
        let mut log = RunLog {
            run: run.clone(),
            started_at: now,
            jobs: Vec::new(),
        };
        let mut out = Vec::new();
        for account in &source.accounts {
            connector
                .validate(account)
                .map_err(|e| anyhow::anyhow!("{slug}:{}: {e}", account.id))?;
            let mut watermarks = state::watermarks(&*self.store, slug, &account.id).await?;
            let (from, to) = window
                .unwrap_or_else(|| default_window(slug, account, today, watermarks.is_empty()));
            let ctx = FetchContext {
                account,
                school_tz: tz,
                base_url: account
                    .base_url
                    .clone()
                    .unwrap_or_else(|| connector.default_base_url(account)),
                from,
                to,
                watermarks: watermarks.clone(),
                now,
            };
            let report = self
                .driver
                .ingest(&*self.store, connector.as_ref(), &ctx, &run)
                .await;
            let mut summary = IngestSummary {
                source: slug.to_string(),
                account: account.id.clone(),
                jobs: report.jobs.len(),
                failed: Vec::new(),
                requests: 0,
                raw_objects: 0,
            };
            for job in &report.jobs {
                summary.requests += job.requests;
                summary.raw_objects += job.raw_keys.len();
                if let Some(e) = &job.error {
                    summary.failed.push(format!(
                        "{} {}: {e}",
                        job.entity,
                        window_label(job.window)
                    ));
                } else if let Some(w) = &job.watermark {
                    watermarks.insert(job.entity.clone(), w.clone());
                }
                log.jobs.push(JobLog {
                    source: slug.to_string(),
                    account: account.id.clone(),
                    entity: job.entity.clone(),
                    window_from: job.window.map(|w| w.0),
                    window_to: job.window.map(|w| w.1),
                    requests: job.requests,
                    raw_objects: job.raw_keys.len(),
                    ok: job.error.is_none(),
                    error: job.error.clone(),
                });
            }
            // Remember that this account has had a complete run, so the
            // next run uses the lookback rather than `start_date`.
            if summary.failed.is_empty() && summary.jobs > 0 {
                watermarks.insert(LAST_WINDOW.to_string(), to.to_string());
            }
            state::write_json(
                &*self.store,
                &state::watermark_key(slug, &account.id),
                &watermarks,
            )
            .await?;
            let ok = summary.failed.is_empty();
            state::record_source_status(
                &*self.store,
                slug,
                &account.id,
                now,
                ok,
                summary.failed.first().cloned(),
            )
            .await?;
            out.push(summary);
        }
        state::write_json(&*self.store, &state::run_log_key(&run), &log).await?;
        Ok(out)
    }

    /// Rebuilds `normalized/` (and `quarantine/`) from every envelope in
    /// `raw/`. Window sources: the latest complete fetch of a day replaces
    /// that day; everything else is an upsert by record key, later wins.
    pub async fn normalize(&self) -> Result<NormalizeSummary> {
        let store = &*self.store;
        let tz = self.config.tz();
        let failed: HashSet<(String, String, String, String, Option<NaiveDate>)> =
            state::run_logs(store)
                .await?
                .into_iter()
                .flat_map(|log| {
                    let run = log.run.clone();
                    log.jobs
                        .into_iter()
                        .filter(|j| !j.ok)
                        .map(move |j| (run.clone(), j.source, j.account, j.entity, j.window_from))
                })
                .collect();

        // Load every envelope; unreadable ones are quarantined whole.
        let mut quarantine: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut envelopes: Vec<(String, RawEnvelope)> = Vec::new();
        for key in store.list("raw/").await? {
            let bytes = store.get(&key).await?.unwrap_or_default();
            match RawEnvelope::from_json(&bytes) {
                Ok(env) => envelopes.push((key, env)),
                Err(e) => {
                    quarantine.insert(
                        quarantine_key(&key),
                        serde_json::json!({"raw": key, "errors": [{"record": "envelope", "reason": e}]}),
                    );
                }
            }
        }
        envelopes.sort_by(|a, b| {
            (a.1.received_at, &a.1.run, a.1.seq, &a.0).cmp(&(
                b.1.received_at,
                &b.1.run,
                b.1.seq,
                &b.0,
            ))
        });

        // Which run last covered each (source, account, job entity, day).
        let mut cover: HashMap<(String, String, String, NaiveDate), String> = HashMap::new();
        for (_, e) in &envelopes {
            let (Some(from), Some(to)) = (e.window_from, e.window_to) else {
                continue;
            };
            let job = (
                e.run.clone(),
                e.source.clone(),
                e.account.clone(),
                e.entity.clone(),
                Some(from),
            );
            if failed.contains(&job) {
                continue;
            }
            let mut d = from;
            while d <= to {
                cover.insert(
                    (e.source.clone(), e.account.clone(), e.entity.clone(), d),
                    e.run.clone(),
                );
                d = d.succ_opt().expect("date in range");
            }
        }

        let mut summary = NormalizeSummary {
            envelopes: envelopes.len(),
            ..NormalizeSummary::default()
        };
        // (entity, source, account, key) -> (run, record)
        let mut records: BTreeMap<(&'static str, String, String, String), (String, Record)> =
            BTreeMap::new();
        let mut collapsed: BTreeMap<String, u64> = BTreeMap::new();
        let mut latest: BTreeMap<String, NaiveDate> = BTreeMap::new();
        for (key, env) in &envelopes {
            let Some(connector) = voronka_connectors::connector(&env.source) else {
                quarantine.insert(
                    quarantine_key(key),
                    serde_json::json!({"raw": key, "errors": [{"record": "envelope", "reason": format!("unknown source {:?}", env.source)}]}),
                );
                continue;
            };
            let account = self
                .config
                .account(&env.source, &env.account)
                .cloned()
                .unwrap_or_else(|| default_account(&env.account));
            let ctx = NormalizeContext {
                account: &account,
                school_tz: tz,
            };
            let normalized = connector.normalize(env, &ctx);
            if !normalized.rejected.is_empty() {
                quarantine.insert(
                    quarantine_key(key),
                    serde_json::json!({"raw": key, "errors": normalized.rejected.iter().map(error_json).collect::<Vec<_>>()}),
                );
            }
            for rec in normalized.records {
                if let Some(day) = rec.window_day() {
                    let c = cover.get(&(
                        env.source.clone(),
                        env.account.clone(),
                        env.entity.clone(),
                        day,
                    ));
                    if c.is_some_and(|run| run != &env.run) {
                        continue; // a later complete fetch replaced this day
                    }
                }
                if let Some(day) = rec.partition_day() {
                    let k = format!("{}:{}", rec.source(), rec.account());
                    let e = latest.entry(k).or_insert(day);
                    *e = (*e).max(day);
                }
                let id = (
                    rec.entity(),
                    rec.source().to_string(),
                    rec.account().to_string(),
                    rec.key(),
                );
                if let Some((prev_run, _)) = records.get(&id) {
                    // A data duplicate: a re-delivered webhook, or the same
                    // business record twice in one fetch (rates repeat by
                    // design: the Saturday set answers for Sunday and Monday).
                    let redelivery = env.entity == "webhook";
                    let business = matches!(rec.entity(), "payment" | "order" | "deal" | "lead");
                    if redelivery || (business && prev_run == &env.run) {
                        let kind = if redelivery {
                            "webhook_redeliveries".to_string()
                        } else {
                            format!("{}s", rec.entity())
                        };
                        *collapsed.entry(kind).or_default() += 1;
                    }
                }
                records.insert(id, (env.run.clone(), rec));
            }
        }

        // Partition and write.
        let mut partitions: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for ((entity, source, account, _), (_, rec)) in &records {
            let day = rec
                .partition_day()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "all".to_string());
            // Rates belong to no account: one shared folder.
            let account = if account.is_empty() { "all" } else { account };
            let path = format!("normalized/{entity}/{source}/{account}/{day}.jsonl");
            let buf = partitions.entry(path).or_default();
            serde_json::to_writer(&mut *buf, rec)?;
            buf.push(b'\n');
        }
        summary.records = records.len();
        summary.partitions = partitions.len();
        summary.quarantined = quarantine.len();
        replace_prefix(store, "normalized/", partitions).await?;
        let q: BTreeMap<String, Vec<u8>> = quarantine
            .into_iter()
            .map(|(k, v)| {
                let mut b = serde_json::to_vec_pretty(&v).expect("json");
                b.push(b'\n');
                (k, b)
            })
            .collect();
        replace_prefix(store, "quarantine/", q).await?;
        summary.collapsed = collapsed.clone();
        state::write_json(
            store,
            state::NORMALIZE_KEY,
            &NormalizeState {
                collapsed,
                quarantined: summary.quarantined as u64,
                latest_data: latest,
            },
        )
        .await?;
        Ok(summary)
    }

    /// Reads every normalized record.
    pub async fn load_dataset(&self) -> Result<Dataset> {
        let mut ds = Dataset::default();
        for key in self.store.list("normalized/").await? {
            let bytes = self.store.get(&key).await?.unwrap_or_default();
            for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let rec: Record = serde_json::from_slice(line)
                    .with_context(|| format!("{key} line {}: not a canonical record", n + 1))?;
                ds.push(rec);
            }
        }
        Ok(ds)
    }

    /// Computes the marts as of the end of `as_of` and writes `marts/`.
    /// `checked_at` is the instant freshness is judged against.
    pub async fn aggregate(&self, as_of: NaiveDate, checked_at: DateTime<Utc>) -> Result<Marts> {
        let marts = self.compute(as_of, checked_at).await?;
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut json = serde_json::to_vec_pretty(&marts)?;
        json.push(b'\n');
        files.insert("marts/marts.json".into(), json);
        let from = marts.summary.from;
        files.insert(
            "marts/channels.csv".into(),
            metrics::export::channels_csv(&marts, from, as_of).into_bytes(),
        );
        files.insert(
            "marts/cash.csv".into(),
            metrics::export::cash_csv(&marts, from, as_of).into_bytes(),
        );
        files.insert(
            "marts/checks.csv".into(),
            metrics::export::checks_csv(&marts).into_bytes(),
        );
        files.insert(
            "marts/managers.csv".into(),
            metrics::export::managers_csv(&marts, from, as_of).into_bytes(),
        );
        files.insert(
            "marts/cohorts.csv".into(),
            metrics::export::cohorts_csv(&marts).into_bytes(),
        );
        replace_prefix(&*self.store, "marts/", files).await?;
        Ok(marts)
    }

    /// The marts without writing them.
    pub async fn compute(&self, as_of: NaiveDate, checked_at: DateTime<Utc>) -> Result<Marts> {
        let ds = self.load_dataset().await?;
        let norm: NormalizeState = state::read_json(&*self.store, state::NORMALIZE_KEY)
            .await?
            .unwrap_or_default();
        let mut sources = state::source_statuses(&*self.store).await?;
        for s in &mut sources {
            s.latest_data = norm
                .latest_data
                .get(&format!("{}:{}", s.source, s.account))
                .copied();
        }
        Ok(metrics::aggregate(metrics::Input {
            dataset: &ds,
            config: &self.config,
            as_of,
            sources: &sources,
            collapsed: &norm.collapsed,
            checked_at,
        }))
    }

    /// Renders the site from `marts/` into `site/`.
    pub async fn render(&self, generated_at: DateTime<Utc>) -> Result<usize> {
        let marts: Marts = state::read_json(&*self.store, "marts/marts.json")
            .await?
            .context("marts/marts.json is missing: run `voronka aggregate` first")?;
        let local = generated_at.with_timezone(&self.config.tz()).naive_local();
        let files = voronka_site::render_site(&voronka_site::SiteInput {
            marts: &marts,
            title: &self.config.site.title,
            generated_at_local: local,
        })
        .context("failed to render the site")?;
        let n = files.len();
        let map: BTreeMap<String, Vec<u8>> = files
            .into_iter()
            .map(|f| (format!("site/{}", f.path), f.bytes))
            .collect();
        replace_prefix(&*self.store, "site/", map).await?;
        Ok(n)
    }
}

fn window_label(w: Option<(NaiveDate, NaiveDate)>) -> String {
    w.map(|(a, b)| format!("{a}..{b}")).unwrap_or_default()
}

fn quarantine_key(raw_key: &str) -> String {
    format!(
        "quarantine/{}",
        raw_key.strip_prefix("raw/").unwrap_or(raw_key)
    )
}

fn error_json(e: &ParseError) -> serde_json::Value {
    serde_json::json!({
        "source": e.source_slug,
        "record": e.record,
        "field": e.field,
        "reason": e.reason,
    })
}

/// Makes `prefix` hold exactly `files`: writes each (skipping unchanged
/// ones) and deletes keys no longer produced.
pub async fn replace_prefix(
    store: &dyn Store,
    prefix: &str,
    files: BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let existing: BTreeSet<String> = store.list(prefix).await?.into_iter().collect();
    for (key, bytes) in &files {
        if existing.contains(key) && store.get(key).await?.as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        store.put(key, Bytes::from(bytes.clone())).await?;
    }
    for key in existing.difference(&files.keys().cloned().collect()) {
        store.delete(key).await?;
    }
    Ok(())
}
