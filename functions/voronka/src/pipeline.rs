//! The pipeline: ingest → normalize → aggregate → render → export. Each
//! step reads and writes the store; every step but ingest is a
//! deterministic function of the store's contents, the config and `as_of`.

use crate::state::{self, IndexStats, JobLog, NormalizeBook, NormalizeState, RawCursor, RunLog};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
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
    /// A full rebuild (else: incremental, counts are of the new envelopes).
    pub full: bool,
    /// Why it rebuilt, or what waits.
    pub note: Option<String>,
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

    /// Normalizes what arrived in `raw/` since the last normalization onto
    /// `normalized/` — the same bytes a full rebuild ([`Self::normalize_full`])
    /// of all of `raw/` gives. Reads only the new envelopes, the key indexes
    /// and covers they touch, and the partitions they change. Falls back to
    /// a full rebuild when there is no bookkeeping yet (a new or copied
    /// lake) or when the new envelopes can't be applied exactly (see
    /// `docs/storage.md`). Holds the lease `state/normalize.lock`.
    pub async fn normalize(&self) -> Result<NormalizeSummary> {
        let lock = state::acquire_normalize_lock(&*self.store, Utc::now()).await?;
        let res = match self.normalize_incremental(Utc::now()).await {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(reason)) => self.rebuild(Some(reason)).await,
            Err(e) => Err(e),
        };
        state::release_normalize_lock(&*self.store, &lock).await?;
        res
    }

    /// Rebuilds `normalized/` (and `quarantine/`) from every envelope in
    /// `raw/`. Window sources: the latest run whose job covered a day (and
    /// did not fail) replaces that day; everything else is an upsert by
    /// record key, the latest received wins. Holds the lease.
    pub async fn normalize_full(&self) -> Result<NormalizeSummary> {
        let lock = state::acquire_normalize_lock(&*self.store, Utc::now()).await?;
        let res = self.rebuild(None).await;
        state::release_normalize_lock(&*self.store, &lock).await?;
        res
    }

    fn normalize_context_account(&self, env: &RawEnvelope) -> AccountConfig {
        self.config
            .account(&env.source, &env.account)
            .cloned()
            .unwrap_or_else(|| default_account(&env.account))
    }

    /// Normalizes one envelope: its records, or the quarantine entry.
    fn read_envelope(
        &self,
        key: &str,
        env: &RawEnvelope,
        quarantine: &mut BTreeMap<String, serde_json::Value>,
    ) -> Vec<Record> {
        let Some(connector) = voronka_connectors::connector(&env.source) else {
            quarantine.insert(
                quarantine_key(key),
                serde_json::json!({"raw": key, "errors": [{"record": "envelope", "reason": format!("unknown source {:?}", env.source)}]}),
            );
            return Vec::new();
        };
        let account = self.normalize_context_account(env);
        let ctx = NormalizeContext {
            account: &account,
            school_tz: self.config.tz(),
        };
        let normalized = connector.normalize(env, &ctx);
        if !normalized.rejected.is_empty() {
            quarantine.insert(
                quarantine_key(key),
                serde_json::json!({"raw": key, "errors": normalized.rejected.iter().map(error_json).collect::<Vec<_>>()}),
            );
        }
        normalized.records
    }

    /// The full rebuild (the caller holds the lease).
    async fn rebuild(&self, reason: Option<String>) -> Result<NormalizeSummary> {
        let store = &*self.store;
        let logs = state::run_logs(store).await?;
        let logged: HashSet<String> = logs.iter().map(|l| l.run.clone()).collect();
        let failed: HashSet<JobId> = logs
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
        let listed = store.list("raw/").await?;
        for key in &listed {
            let bytes = store.get(key).await?.unwrap_or_default();
            match RawEnvelope::from_json(&bytes) {
                Ok(env) => envelopes.push((key.clone(), env)),
                Err(e) => {
                    quarantine.insert(
                        quarantine_key(key),
                        serde_json::json!({"raw": key, "errors": [{"record": "envelope", "reason": e}]}),
                    );
                }
            }
        }
        envelopes.sort_by(|a, b| position(&a.1, &a.0).cmp(&position(&b.1, &b.0)));

        let mut engine = Engine::new(store, false);
        let mut book = NormalizeBook {
            v: NormalizeBook::VERSION,
            ..NormalizeBook::default()
        };
        // Which run last covered each (source, account, job entity, day):
        // the greatest run id among the jobs that fetched that day and did
        // not fail (run ids sort by time).
        for (_, e) in &envelopes {
            let (Some(from), Some(_)) = (e.window_from, e.window_to) else {
                continue;
            };
            if !logged.contains(&e.run) {
                book.unlogged_runs.insert(e.run.clone());
            }
            if failed.contains(&job_id(e, from)) {
                continue;
            }
            engine.raise_cover(e).await?;
        }

        let mut cursors: BTreeMap<String, (String, Option<DateTime<Utc>>)> = BTreeMap::new();
        for (key, env) in &envelopes {
            let c = cursors.entry(raw_group(key)).or_default();
            if key > &c.0 {
                *c = (key.clone(), Some(env.received_at));
            }
            for rec in self.read_envelope(key, env, &mut quarantine) {
                engine.apply(rec, env).await?;
            }
        }
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in listed {
            groups.entry(raw_group(&key)).or_default().push(key);
        }
        for (group, keys) in groups {
            let (cursor, received_at) = cursors.remove(&group).unwrap_or_default();
            book.cursors.insert(
                group.clone(),
                raw_cursor(&group, cursor, received_at, &keys, None),
            );
        }
        book.quarantined = quarantine.len() as u64;

        let summary = NormalizeSummary {
            envelopes: envelopes.len(),
            records: engine.indexes.values().map(|i| i.keys.len()).sum(),
            partitions: engine.partitions.values().filter(|p| !p.is_empty()).count(),
            quarantined: quarantine.len(),
            collapsed: BTreeMap::new(),
            full: true,
            note: reason,
        };

        // Write: the book goes first (so a crash midway leaves none, and
        // the next normalization rebuilds) and comes back last.
        store.delete(state::NORMALIZE_BOOK_KEY).await?;
        let files = engine.finish(&mut book)?;
        let (partitions, index): (BTreeMap<_, _>, BTreeMap<_, _>) = files
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .partition(|(k, _)| k.starts_with("normalized/"));
        book.probe = partitions.keys().next_back().cloned().unwrap_or_default();
        let book_bytes = json_bytes(&book)?;
        replace_prefix(store, "normalized/", partitions).await?;
        replace_prefix_except(
            store,
            state::NORMALIZE_INDEX_PREFIX,
            index,
            state::NORMALIZE_BOOK_KEY,
        )
        .await?;
        let q: BTreeMap<String, Vec<u8>> = quarantine
            .into_iter()
            .map(|(k, v)| Ok((k, json_bytes(&v)?)))
            .collect::<Result<_>>()?;
        replace_prefix(store, "quarantine/", q).await?;
        store
            .put(state::NORMALIZE_BOOK_KEY, Bytes::from(book_bytes))
            .await?;
        let published = book.summary();
        state::write_json(store, state::NORMALIZE_KEY, &published).await?;
        Ok(NormalizeSummary {
            collapsed: published.collapsed,
            ..summary
        })
    }

    /// One incremental step (the caller holds the lease). `Ok(Err(why))`:
    /// the new envelopes can't be applied exactly; rebuild instead.
    pub async fn normalize_incremental(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Result<NormalizeSummary, String>> {
        let store = &*self.store;
        let Some(mut book) =
            state::read_json::<NormalizeBook>(store, state::NORMALIZE_BOOK_KEY).await?
        else {
            return Ok(Err("no incremental bookkeeping yet".into()));
        };
        if !book.probe.is_empty() && store.get(&book.probe).await?.is_none() {
            return Ok(Err(format!(
                "{} is missing: normalized/ is not the one the bookkeeping describes",
                book.probe
            )));
        }
        if book.v != NormalizeBook::VERSION {
            return Ok(Err(format!(
                "bookkeeping version {} is not {}",
                book.v,
                NormalizeBook::VERSION
            )));
        }

        // Runs normalized without their log: a log that now shows a failed
        // window job would have changed what they replaced.
        let mut logs: HashMap<String, Option<RunLog>> = HashMap::new();
        for run in book.unlogged_runs.clone() {
            let log = run_log(store, &mut logs, &run).await?;
            if let Some(log) = log {
                if log.jobs.iter().any(|j| !j.ok && j.window_from.is_some()) {
                    return Ok(Err(format!(
                        "run {run} was normalized before its log, which shows a failed window job"
                    )));
                }
                book.unlogged_runs.remove(&run);
            }
        }

        // What is new, per raw folder.
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in store.list("raw/").await? {
            groups.entry(raw_group(&key)).or_default().push(key);
        }
        for (group, c) in &book.cursors {
            if !groups.contains_key(group) && (c.below > 0 || !c.recent.is_empty()) {
                return Ok(Err(format!("raw/{group}/ lost objects")));
            }
        }
        let mut new_keys: Vec<String> = Vec::new();
        for (group, keys) in &groups {
            let c = book.cursors.get(group).cloned().unwrap_or_default();
            let below = keys.iter().filter(|k| **k < c.horizon).count() as u64;
            if below != c.below {
                return Ok(Err(format!(
                    "raw/{group}/ has {below} objects older than {} where {} were normalized: \
                     an object arrived later than the overlap allows",
                    c.horizon, c.below
                )));
            }
            new_keys.extend(
                keys.iter()
                    .filter(|k| **k >= c.horizon && !c.recent.contains(*k))
                    .cloned(),
            );
        }

        // Read them; defer window fetches whose run log isn't written yet
        // (the run may still mark the job failed), unless the run is older
        // than the overlap (it died: a rebuild would count it complete).
        let mut quarantine: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut processed: BTreeSet<String> = BTreeSet::new();
        let mut deferred: BTreeSet<String> = BTreeSet::new();
        let mut envelopes: Vec<(String, RawEnvelope, bool)> = Vec::new();
        for key in new_keys {
            let bytes = store.get(&key).await?.unwrap_or_default();
            let env = match RawEnvelope::from_json(&bytes) {
                Ok(env) => env,
                Err(e) => {
                    quarantine.insert(
                        quarantine_key(&key),
                        serde_json::json!({"raw": key, "errors": [{"record": "envelope", "reason": e}]}),
                    );
                    processed.insert(key);
                    continue;
                }
            };
            let mut failed = false;
            if let (Some(from), Some(_)) = (env.window_from, env.window_to) {
                match run_log(store, &mut logs, &env.run).await? {
                    Some(log) => {
                        failed = log.jobs.iter().any(|j| {
                            !j.ok
                                && j.source == env.source
                                && j.account == env.account
                                && j.entity == env.entity
                                && j.window_from == Some(from)
                        });
                    }
                    None if env.received_at + NORMALIZE_OVERLAP > now => {
                        deferred.insert(key);
                        continue;
                    }
                    None => {
                        book.unlogged_runs.insert(env.run.clone());
                    }
                }
            }
            processed.insert(key.clone());
            envelopes.push((key, env, failed));
        }
        envelopes.sort_by(|a, b| position(&a.1, &a.0).cmp(&position(&b.1, &b.0)));

        let mut engine = Engine::new(store, true);
        engine.logs = logs;
        for (_, env, failed) in &envelopes {
            if !failed && env.window_from.is_some() && env.window_to.is_some() {
                engine.raise_cover(env).await?;
            }
        }
        engine.drop_replaced().await?;
        if let Some(why) = engine.conflict.take() {
            return Ok(Err(why));
        }
        let mut records = 0;
        for (key, env, _) in &envelopes {
            for rec in self.read_envelope(key, env, &mut quarantine) {
                records += 1;
                engine.apply(rec, env).await?;
                if let Some(why) = engine.conflict.take() {
                    return Ok(Err(why));
                }
            }
        }

        // Advance the cursors.
        for (group, keys) in &groups {
            let mut c = book.cursors.get(group).cloned().unwrap_or_default();
            for (key, env, _) in &envelopes {
                if raw_group(key) == *group && *key > c.cursor {
                    c.cursor = key.clone();
                    c.received_at = Some(env.received_at);
                }
            }
            let first_deferred = deferred.iter().find(|k| raw_group(k) == *group);
            let done = |k: &String| k < &c.horizon || c.recent.contains(k) || processed.contains(k);
            let done: BTreeSet<&String> = keys.iter().filter(|k| done(k)).collect();
            let next = raw_cursor(
                group,
                c.cursor.clone(),
                c.received_at,
                keys,
                first_deferred.map(String::as_str),
            );
            debug_assert!(keys.iter().all(|k| k >= &next.horizon || done.contains(k)));
            let next = RawCursor {
                recent: next
                    .recent
                    .into_iter()
                    .filter(|k| done.contains(k))
                    .collect(),
                ..next
            };
            book.cursors.insert(group.clone(), next);
        }
        book.quarantined += quarantine.len() as u64;

        // Write: partitions, quarantine, indexes, covers, then the book.
        let partitions = engine.dirty_partitions.len();
        let files = engine.finish(&mut book)?;
        // The probe: a partition this run leaves in place.
        if let Some(p) = files
            .iter()
            .filter(|(k, v)| k.starts_with("normalized/") && v.is_some())
            .map(|(k, _)| k)
            .next_back()
        {
            book.probe = p.clone();
        } else if files.get(&book.probe).is_some_and(Option::is_none) {
            book.probe = String::new();
        }
        for (key, bytes) in files {
            match bytes {
                Some(b) => store.put(&key, Bytes::from(b)).await?,
                None => store.delete(&key).await?,
            }
        }
        for (k, v) in &quarantine {
            store.put(k, Bytes::from(json_bytes(v)?)).await?;
        }
        state::write_json(store, state::NORMALIZE_BOOK_KEY, &book).await?;
        let published = book.summary();
        state::write_json(store, state::NORMALIZE_KEY, &published).await?;
        Ok(Ok(NormalizeSummary {
            envelopes: envelopes.len(),
            records,
            partitions,
            quarantined: quarantine.len(),
            collapsed: published.collapsed,
            full: false,
            note: (!deferred.is_empty()).then(|| {
                format!(
                    "{} window response(s) wait for their run log",
                    deferred.len()
                )
            }),
        }))
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
            quarantined: norm.quarantined,
            checked_at,
        }))
    }

    /// Renders the site from `marts/` into `site/`.
    /// The site's link secret (`[site] link_secret`), if configured.
    pub fn link_secret(&self) -> Result<Option<Vec<u8>>> {
        let Some(r) = &self.config.site.link_secret else {
            return Ok(None);
        };
        let secret = self
            .driver
            .secrets()
            .resolve("link_secret", r)
            .map_err(|e| anyhow::anyhow!("config key `site.link_secret`: {e}"))?;
        if secret.len() < 16 {
            bail!("config key `site.link_secret`: the secret must have at least 16 characters");
        }
        Ok(Some(secret.into_bytes()))
    }

    /// Renders the site from `marts/` and publishes it into `site/`, with
    /// a dated copy in `archive/site/<as_of>/`. A red reconciliation check
    /// means the figures cannot be trusted: the last good site stays
    /// published (its `version.json` keeps its old time, so the TV page
    /// shows the data as stale) and the step fails. Files are written
    /// before stale ones are deleted, and `version.json` — which the TV
    /// page polls — sorts last, so it changes only once the rest is there.
    pub async fn render(&self, generated_at: DateTime<Utc>) -> Result<usize> {
        let marts: Marts = state::read_json(&*self.store, "marts/marts.json")
            .await?
            .context("marts/marts.json is missing: run `voronka aggregate` first")?;
        let red: Vec<String> = marts
            .checks
            .iter()
            .filter(|c| {
                c.check == "reconciliation" && c.status == voronka_core::metrics::CheckStatus::Red
            })
            .map(|c| format!("{} {}: {}", c.check, c.scope, c.detail))
            .collect();
        if !red.is_empty() {
            bail!(
                "not publishing: {}; the last good site stays published",
                red.join("; ")
            );
        }
        let secret = self.link_secret()?;
        let local = generated_at.with_timezone(&self.config.tz()).naive_local();
        let files = voronka_site::render_site(&voronka_site::SiteInput {
            marts: &marts,
            title: &self.config.site.title,
            generated_at_local: local,
            link_secret: secret.as_deref(),
        })
        .context("failed to render the site")?;
        let n = files.len();
        let archive = format!("archive/site/{}/", marts.as_of);
        let mut site: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut copy: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for f in files {
            // Private pages are not archived: rotating the secret must
            // revoke every old link.
            if !f.path.starts_with("m/") {
                copy.insert(format!("{archive}{}", f.path), f.bytes.clone());
            }
            site.insert(format!("site/{}", f.path), f.bytes);
        }
        replace_prefix(&*self.store, &archive, copy).await?;
        replace_prefix(&*self.store, "site/", site).await?;
        Ok(n)
    }
}

/// Fields a pushed order lacks are taken from the version it updates.
fn fill_order_gaps(new: &mut voronka_core::model::Order, old: &voronka_core::model::Order) {
    let fill = |n: &mut String, o: &String| {
        if n.is_empty() {
            n.clone_from(o);
        }
    };
    fill(&mut new.name, &old.name);
    fill(&mut new.email, &old.email);
    fill(&mut new.phone, &old.phone);
    fill(&mut new.product, &old.product);
    fill(&mut new.manager, &old.manager);
    fill(&mut new.crm_deal_id, &old.crm_deal_id);
    if new.utm.is_empty() {
        new.utm = old.utm.clone();
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

/// A job as the run log names it: (run, source, account, entity, window start).
type JobId = (String, String, String, String, Option<NaiveDate>);

fn job_id(e: &RawEnvelope, from: NaiveDate) -> JobId {
    (
        e.run.clone(),
        e.source.clone(),
        e.account.clone(),
        e.entity.clone(),
        Some(from),
    )
}

/// How long before the cursor's receipt time an incremental run still
/// looks for envelopes written late (and how long a window fetch waits for
/// its run log).
pub const NORMALIZE_OVERLAP: chrono::Duration = chrono::Duration::hours(1);

/// The order normalization applies envelopes in (later wins).
fn position<'a>(e: &'a RawEnvelope, key: &'a str) -> (DateTime<Utc>, &'a str, u64, &'a str) {
    (e.received_at, &e.run, e.seq, key)
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// `slug/account` of a raw key (`raw/<slug>/<account>/…`).
fn raw_group(key: &str) -> String {
    let mut parts = key.splitn(4, '/');
    let (_, a, b, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
    match (a, b, rest) {
        (Some(a), Some(b), Some(_)) => format!("{a}/{b}"),
        _ => String::new(),
    }
}

/// A raw folder's cursor with every listed key normalized but those from
/// `deferred` on.
fn raw_cursor(
    group: &str,
    cursor: String,
    received_at: Option<DateTime<Utc>>,
    keys: &[String],
    deferred: Option<&str>,
) -> RawCursor {
    let mut horizon = received_at
        .map(|t| {
            let t = t - NORMALIZE_OVERLAP;
            format!("raw/{group}/{}", t.format("%Y/%m/%d/%H%M%S"))
        })
        .unwrap_or_default();
    if let Some(d) = deferred
        && d < horizon.as_str()
    {
        horizon = d.to_string();
    }
    let below = keys.iter().filter(|k| **k < horizon).count() as u64;
    let recent = keys.iter().filter(|k| **k >= horizon).cloned().collect();
    RawCursor {
        cursor,
        received_at,
        horizon,
        below,
        recent,
    }
}

async fn run_log(
    store: &dyn Store,
    cache: &mut HashMap<String, Option<RunLog>>,
    run: &str,
) -> Result<Option<RunLog>> {
    if !cache.contains_key(run) {
        let log = state::read_json::<RunLog>(store, &state::run_log_key(run)).await?;
        cache.insert(run.to_string(), log);
    }
    Ok(cache[run].clone())
}

fn json_bytes<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    let mut b = serde_json::to_vec_pretty(v)?;
    b.push(b'\n');
    Ok(b)
}

/// Index files are read and written on every run that touches them:
/// compact JSON, one line.
fn compact_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    let mut b = serde_json::to_vec(v)?;
    b.push(b'\n');
    Ok(b)
}

/// One record key's current version in `normalized/`: partition day (or
/// `all`), run, receipt time (ns), sequence number, and — for window
/// entities — the job entity that fetched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry(String, String, i64, u64, String);

/// `state/normalize/index/<entity>/<source>/<account>.json`: every record key
/// of one (entity, source, account) with where its current version lives,
/// and the figures counted from them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct IndexFile {
    source: String,
    account: String,
    /// Upsert entities: the latest partition day of any version seen;
    /// window entities: of the current records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latest: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    collapsed: BTreeMap<String, u64>,
    /// Keys already counted as a duplicate within one fetch: a re-fetch of
    /// the same window repeats the vendor's duplicate, which is still one.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    duplicated: BTreeSet<String>,
    keys: BTreeMap<String, Entry>,
}

/// `state/normalize/cover/<source>/<account>.json`: per job entity and
/// day, the run whose complete job last fetched that day.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CoverFile {
    cover: BTreeMap<String, BTreeMap<NaiveDate, String>>,
}

type IndexId = (&'static str, String, String);

fn folder(account: &str) -> &str {
    // Rates belong to no account: one shared folder.
    if account.is_empty() { "all" } else { account }
}

fn index_key((entity, source, account): &IndexId) -> String {
    format!(
        "{}index/{entity}/{source}/{}.json",
        state::NORMALIZE_INDEX_PREFIX,
        folder(account)
    )
}

fn cover_key(source: &str, account: &str) -> String {
    format!(
        "{}cover/{source}/{}.json",
        state::NORMALIZE_INDEX_PREFIX,
        folder(account)
    )
}

fn partition_key(entity: &str, source: &str, account: &str, day: &str) -> String {
    format!(
        "normalized/{entity}/{source}/{}/{day}.jsonl",
        folder(account)
    )
}

const WINDOW_ENTITIES: [&str; 3] = ["ad_stat", "session", "manual_cost"];

/// Applies records onto `normalized/`: loads indexes, covers and
/// partitions on first use (incremental) or starts empty (rebuild).
struct Engine<'a> {
    store: &'a dyn Store,
    incremental: bool,
    indexes: BTreeMap<IndexId, IndexFile>,
    dirty_indexes: BTreeSet<IndexId>,
    covers: BTreeMap<(String, String), CoverFile>,
    dirty_covers: BTreeSet<(String, String)>,
    /// (source, account, job entity) -> days whose cover changed.
    raised: BTreeMap<(String, String, String), BTreeSet<NaiveDate>>,
    /// path -> record key -> JSON line.
    partitions: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    dirty_partitions: BTreeSet<String>,
    /// Keys written by this invocation (a repeat within one envelope is a
    /// duplicate, not a replay).
    written: HashSet<(IndexId, String)>,
    /// Why the new envelopes can't be applied exactly.
    conflict: Option<String>,
    /// Run logs read so far.
    logs: HashMap<String, Option<RunLog>>,
}

impl<'a> Engine<'a> {
    fn new(store: &'a dyn Store, incremental: bool) -> Self {
        Engine {
            store,
            incremental,
            indexes: BTreeMap::new(),
            dirty_indexes: BTreeSet::new(),
            covers: BTreeMap::new(),
            dirty_covers: BTreeSet::new(),
            raised: BTreeMap::new(),
            partitions: BTreeMap::new(),
            dirty_partitions: BTreeSet::new(),
            written: HashSet::new(),
            conflict: None,
            logs: HashMap::new(),
        }
    }

    fn conflict(&mut self, why: String) {
        if self.conflict.is_none() {
            self.conflict = Some(why);
        }
    }

    async fn load_index(&mut self, id: &IndexId) -> Result<()> {
        if !self.indexes.contains_key(id) {
            let file = if self.incremental {
                state::read_json::<IndexFile>(self.store, &index_key(id)).await?
            } else {
                None
            };
            let file = file.unwrap_or_else(|| IndexFile {
                source: id.1.clone(),
                account: id.2.clone(),
                ..IndexFile::default()
            });
            self.indexes.insert(id.clone(), file);
        }
        Ok(())
    }

    async fn load_cover(&mut self, source: &str, account: &str) -> Result<&mut CoverFile> {
        let id = (source.to_string(), account.to_string());
        if !self.covers.contains_key(&id) {
            let file = if self.incremental {
                state::read_json::<CoverFile>(self.store, &cover_key(source, account)).await?
            } else {
                None
            };
            self.covers.insert(id.clone(), file.unwrap_or_default());
        }
        Ok(self.covers.get_mut(&id).expect("loaded"))
    }

    async fn partition(&mut self, path: &str) -> Result<&mut BTreeMap<String, Vec<u8>>> {
        if !self.partitions.contains_key(path) {
            let mut map = BTreeMap::new();
            if self.incremental
                && let Some(bytes) = self.store.get(path).await?
            {
                for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
                    if line.is_empty() {
                        continue;
                    }
                    let rec: Record = serde_json::from_slice(line).with_context(|| {
                        format!("{path} line {}: not a canonical record", n + 1)
                    })?;
                    map.insert(rec.key(), line.to_vec());
                }
            }
            self.partitions.insert(path.to_string(), map);
        }
        self.dirty_partitions.insert(path.to_string());
        Ok(self.partitions.get_mut(path).expect("loaded"))
    }

    /// A complete window fetch: it covers its days unless a later run did.
    async fn raise_cover(&mut self, e: &RawEnvelope) -> Result<()> {
        let (Some(from), Some(to)) = (e.window_from, e.window_to) else {
            return Ok(());
        };
        let cover = self.load_cover(&e.source, &e.account).await?;
        let days = cover.cover.entry(e.entity.clone()).or_default();
        let mut raised = Vec::new();
        let mut d = from;
        while d <= to {
            let slot = days.entry(d).or_default();
            if *slot < e.run {
                *slot = e.run.clone();
                raised.push(d);
            }
            d = d.succ_opt().expect("date in range");
        }
        if !raised.is_empty() {
            self.dirty_covers
                .insert((e.source.clone(), e.account.clone()));
            self.raised
                .entry((e.source.clone(), e.account.clone(), e.entity.clone()))
                .or_default()
                .extend(raised);
        }
        Ok(())
    }

    /// Whether a complete job of `env`'s run covers `day` (unknown
    /// without the run log: yes).
    async fn may_cover(&mut self, env: &RawEnvelope, day: NaiveDate) -> Result<bool> {
        let log = run_log(self.store, &mut self.logs, &env.run).await?;
        Ok(log.is_none_or(|log| {
            log.jobs.iter().any(|j| {
                j.ok && j.source == env.source
                    && j.account == env.account
                    && j.entity == env.entity
                    && j.window_from.is_some_and(|a| a <= day)
                    && j.window_to.is_some_and(|b| day <= b)
            })
        }))
    }

    /// Removes the records of days a newer run now covers.
    async fn drop_replaced(&mut self) -> Result<()> {
        for ((source, account, job), days) in std::mem::take(&mut self.raised) {
            let cover = self.covers[&(source.clone(), account.clone())].cover[&job].clone();
            for entity in WINDOW_ENTITIES {
                let id: IndexId = (entity, source.clone(), account.clone());
                if !self.indexes.contains_key(&id)
                    && self.store.get(&index_key(&id)).await?.is_none()
                {
                    continue;
                }
                self.load_index(&id).await?;
                let stale: Vec<(String, Entry)> = self.indexes[&id]
                    .keys
                    .iter()
                    .filter(|(_, e)| {
                        e.4 == job
                            && e.0
                                .parse::<NaiveDate>()
                                .ok()
                                .is_some_and(|d| days.contains(&d) && cover[&d] != e.1)
                    })
                    .map(|(k, e)| (k.clone(), e.clone()))
                    .collect();
                for (key, entry) in stale {
                    let day: NaiveDate = entry.0.parse().expect("checked");
                    if entry.1 > cover[&day] {
                        self.conflict(format!(
                            "{entity} {key} of run {} is newer than the day's new cover {}",
                            entry.1, cover[&day]
                        ));
                    }
                    self.indexes.get_mut(&id).expect("loaded").keys.remove(&key);
                    self.dirty_indexes.insert(id.clone());
                    let path = partition_key(entity, &source, &account, &entry.0);
                    self.partition(&path).await?.remove(&key);
                }
            }
        }
        Ok(())
    }

    /// Applies one record of `env` (whose job failed when `failed`).
    async fn apply(&mut self, rec: Record, env: &RawEnvelope) -> Result<()> {
        let entity = rec.entity();
        let window = rec.window_day();
        if let Some(day) = window {
            let cover = self
                .load_cover(&env.source, &env.account)
                .await?
                .cover
                .get(&env.entity)
                .and_then(|d| d.get(&day))
                .cloned();
            if let Some(c) = &cover
                && c != &env.run
            {
                // Skipped; exact only if it can't pass later, i.e. unless
                // a complete job of its run covers the day after all.
                if self.incremental && c < &env.run && self.may_cover(env, day).await? {
                    self.conflict(format!(
                        "{entity} of run {} outside a complete fetch of {day}",
                        env.run
                    ));
                }
                return Ok(()); // a later complete fetch replaced this day
            }
            if self.incremental
                && (env.entity == "webhook"
                    || rec.source() != env.source
                    || rec.account() != env.account)
            {
                self.conflict(format!(
                    "{entity} of {day} from {} {} is not a plain window fetch",
                    env.run, env.entity
                ));
                return Ok(());
            }
        }
        let id: IndexId = (entity, rec.source().to_string(), rec.account().to_string());
        self.load_index(&id).await?;
        let key = rec.key();
        let day = rec
            .partition_day()
            .map(|d| d.to_string())
            .unwrap_or_else(|| "all".to_string());
        let t = nanos(env.received_at);
        // A pushed order (GetCourse webhook) carries no UTM, product,
        // manager or CRM deal id: keep those from the version it updates.
        let mut rec = rec;
        if env.entity == "webhook"
            && let Record::Order(order) = &mut rec
            && let Some(prev_day) = self
                .indexes
                .get(&id)
                .and_then(|ix| ix.keys.get(&key))
                .map(|e| e.0.clone())
        {
            let path = partition_key(entity, &id.1, &id.2, &prev_day);
            if let Some(line) = self.partition(&path).await?.get(&key)
                && let Ok(Record::Order(old)) = serde_json::from_slice::<Record>(line)
            {
                fill_order_gaps(order, &old);
            }
        }
        let replay = self.incremental && !self.written.contains(&(id.clone(), key.clone()));
        let index = self.indexes.get_mut(&id).expect("loaded");
        let mut old_day = None;
        let mut conflict = None;
        if let Some(prev) = index.keys.get(&key) {
            if self.incremental {
                match (prev.2, prev.1.as_str(), prev.3).cmp(&(t, env.run.as_str(), env.seq)) {
                    std::cmp::Ordering::Greater => {
                        conflict = Some(format!(
                            "{entity} {key}: a version received earlier ({}) arrived after a later one ({})",
                            env.run, prev.1
                        ));
                    }
                    std::cmp::Ordering::Equal if replay => return Ok(()), // applied before
                    _ => {}
                }
                if window.is_some() && prev.4 != env.entity {
                    conflict = Some(format!("{entity} {key} comes from two jobs"));
                }
            }
            // A data duplicate: a re-delivered webhook, or the same
            // business record twice in one fetch (rates repeat by
            // design: the Saturday set answers for Sunday and Monday).
            let redelivery = env.entity == "webhook";
            let business = matches!(entity, "payment" | "order" | "deal" | "lead");
            if redelivery || (business && prev.1 == env.run && index.duplicated.insert(key.clone()))
            {
                let kind = if redelivery {
                    "webhook_redeliveries".to_string()
                } else {
                    format!("{entity}s")
                };
                *index.collapsed.entry(kind).or_default() += 1;
            }
            if prev.0 != day {
                old_day = Some(prev.0.clone());
            }
        }
        if let Some(why) = conflict {
            self.conflict(why);
            return Ok(());
        }
        if window.is_none()
            && let Some(d) = rec.partition_day()
        {
            index.latest = Some(index.latest.map_or(d, |l| l.max(d)));
        }
        index.keys.insert(
            key.clone(),
            Entry(
                day.clone(),
                env.run.clone(),
                t,
                env.seq,
                if window.is_some() {
                    env.entity.clone()
                } else {
                    String::new()
                },
            ),
        );
        self.dirty_indexes.insert(id.clone());
        let line = serde_json::to_vec(&rec)?;
        if let Some(old) = old_day {
            let path = partition_key(entity, &id.1, &id.2, &old);
            self.partition(&path).await?.remove(&key);
        }
        let path = partition_key(entity, &id.1, &id.2, &day);
        self.partition(&path).await?.insert(key.clone(), line);
        if self.incremental {
            self.written.insert((id, key));
        }
        Ok(())
    }

    /// The objects to write (`None`: delete), updating the book's index
    /// figures.
    fn finish(self, book: &mut NormalizeBook) -> Result<BTreeMap<String, Option<Vec<u8>>>> {
        let mut out: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        for path in &self.dirty_partitions {
            let p = &self.partitions[path];
            if p.is_empty() {
                out.insert(path.clone(), None);
                continue;
            }
            let mut buf = Vec::new();
            for line in p.values() {
                buf.extend_from_slice(line);
                buf.push(b'\n');
            }
            out.insert(path.clone(), Some(buf));
        }
        for id in &self.dirty_indexes {
            let mut index = self.indexes[id].clone();
            let name = format!("{}/{}/{}", id.0, id.1, folder(&id.2));
            if WINDOW_ENTITIES.contains(&id.0) {
                index.latest = index
                    .keys
                    .values()
                    .filter_map(|e| e.0.parse::<NaiveDate>().ok())
                    .max();
            }
            if index.keys.is_empty() && index.collapsed.is_empty() && index.latest.is_none() {
                out.insert(index_key(id), None);
                book.indexes.remove(&name);
                continue;
            }
            book.indexes.insert(
                name,
                IndexStats {
                    latest_key: format!("{}:{}", id.1, id.2),
                    latest: index.latest,
                    collapsed: index.collapsed.clone(),
                },
            );
            out.insert(index_key(id), Some(compact_json(&index)?));
        }
        for (source, account) in &self.dirty_covers {
            let cover = &self.covers[&(source.clone(), account.clone())];
            out.insert(cover_key(source, account), Some(compact_json(cover)?));
        }
        Ok(out)
    }
}

/// `replace_prefix` that leaves `keep` alone (written later).
async fn replace_prefix_except(
    store: &dyn Store,
    prefix: &str,
    files: BTreeMap<String, Vec<u8>>,
    keep: &str,
) -> Result<()> {
    let existing: BTreeSet<String> = store.list(prefix).await?.into_iter().collect();
    for (key, bytes) in &files {
        if existing.contains(key) && store.get(key).await?.as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        store.put(key, Bytes::from(bytes.clone())).await?;
    }
    for key in existing.difference(&files.keys().cloned().collect()) {
        if key != keep {
            store.delete(key).await?;
        }
    }
    Ok(())
}
