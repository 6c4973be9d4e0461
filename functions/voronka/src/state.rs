//! The `state/` zone: watermarks, the run log and per-source status.
//!
//! - `state/watermarks/<slug>/<account>.json`: `{entity: watermark}`;
//! - `state/runs/<run>.json`: what one ingest run did, job by job;
//! - `state/sources.json`: last success / latest data / last error per
//!   source account (feeds the freshness check);
//! - `state/normalize.json`: duplicates collapsed, records quarantined and
//!   latest data date as of the last normalization, and each raw folder's
//!   cursor (informational; the bookkeeping normalization resumes from is
//!   [`NormalizeBook`] and the key indexes under `state/normalize/`);
//! - `state/normalize.lock`: the normalization lease ([`NormalizeLock`]).

use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use voronka_core::metrics::SourceStatus;
use voronka_store::Store;

pub async fn read_json<T: for<'de> Deserialize<'de>>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<T>> {
    match store.get(key).await? {
        None => Ok(None),
        Some(b) => Ok(Some(
            serde_json::from_slice(&b).with_context(|| format!("{key} is not valid JSON"))?,
        )),
    }
}

pub async fn write_json<T: Serialize>(store: &dyn Store, key: &str, value: &T) -> Result<()> {
    let mut v = serde_json::to_vec_pretty(value)?;
    v.push(b'\n');
    store.put(key, Bytes::from(v)).await?;
    Ok(())
}

pub fn watermark_key(slug: &str, account: &str) -> String {
    format!("state/watermarks/{slug}/{account}.json")
}

pub async fn watermarks(
    store: &dyn Store,
    slug: &str,
    account: &str,
) -> Result<BTreeMap<String, String>> {
    Ok(read_json(store, &watermark_key(slug, account))
        .await?
        .unwrap_or_default())
}

/// One job of one run, as the run log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLog {
    pub source: String,
    pub account: String,
    pub entity: String,
    pub window_from: Option<NaiveDate>,
    pub window_to: Option<NaiveDate>,
    pub requests: u32,
    pub raw_objects: usize,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLog {
    pub run: String,
    pub started_at: DateTime<Utc>,
    pub jobs: Vec<JobLog>,
}

pub fn run_log_key(run: &str) -> String {
    format!("state/runs/{run}.json")
}

/// Every run log (for window replacement in normalization).
pub async fn run_logs(store: &dyn Store) -> Result<Vec<RunLog>> {
    let mut out = Vec::new();
    for key in store.list("state/runs/").await? {
        if let Some(log) = read_json::<RunLog>(store, &key).await? {
            out.push(log);
        }
    }
    Ok(out)
}

pub const SOURCES_KEY: &str = "state/sources.json";

pub async fn source_statuses(store: &dyn Store) -> Result<Vec<SourceStatus>> {
    Ok(read_json(store, SOURCES_KEY).await?.unwrap_or_default())
}

/// Updates one source account's status after a run.
pub async fn record_source_status(
    store: &dyn Store,
    source: &str,
    account: &str,
    at: DateTime<Utc>,
    ok: bool,
    error: Option<String>,
) -> Result<()> {
    let mut all = source_statuses(store).await?;
    let idx = all
        .iter()
        .position(|s| s.source == source && s.account == account);
    let entry = match idx {
        Some(i) => &mut all[i],
        None => {
            all.push(SourceStatus {
                source: source.to_string(),
                account: account.to_string(),
                last_success: None,
                latest_data: None,
                last_error: None,
            });
            all.last_mut().expect("just pushed")
        }
    };
    if ok {
        entry.last_success = Some(at);
        entry.last_error = None;
    } else {
        entry.last_error = error;
    }
    all.sort_by(|a, b| (&a.source, &a.account).cmp(&(&b.source, &b.account)));
    write_json(store, SOURCES_KEY, &all).await
}

/// What the last normalization collapsed and refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizeState {
    pub collapsed: BTreeMap<String, u64>,
    pub quarantined: u64,
    /// Latest data date per `source:account` (feeds freshness).
    pub latest_data: BTreeMap<String, NaiveDate>,
    /// The greatest raw key normalized per raw folder `slug/account`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cursors: BTreeMap<String, String>,
}

pub const NORMALIZE_KEY: &str = "state/normalize.json";

/// Where incremental normalization keeps its bookkeeping. Not inside
/// `normalized/`: the bookkeeping holds raw keys and receipt times, and
/// `normalized/` must be the same bytes for the same records. A book whose
/// `probe` partition is missing (`normalized/` deleted, or `state/` copied
/// without it) is not trusted: normalization rebuilds.
pub const NORMALIZE_BOOK_KEY: &str = "state/normalize/book.json";
/// The prefix of the per-(entity, source, account) key indexes
/// (`index/…`) and the per-(source, account) window covers (`cover/…`).
pub const NORMALIZE_INDEX_PREFIX: &str = "state/normalize/";
/// The normalization lease.
pub const NORMALIZE_LOCK_KEY: &str = "state/normalize.lock";

/// How far one raw folder (`raw/<slug>/<account>/`) has been normalized.
///
/// Raw keys sort by receipt time within a folder. Every listed key below
/// `horizon` has been normalized, and there are exactly `below` of them (a
/// different count means a writer put an old key late: normalization then
/// rebuilds in full); keys at or above `horizon` are normalized iff they
/// are in `recent`. `horizon` trails the cursor's receipt time by the
/// safety overlap, and never passes a deferred key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawCursor {
    /// The greatest readable key normalized.
    pub cursor: String,
    /// Its receipt time.
    pub received_at: Option<DateTime<Utc>>,
    pub horizon: String,
    pub below: u64,
    pub recent: BTreeSet<String>,
}

/// Per-index figures, cached from the index files (which are the truth:
/// each file is written atomically with the keys it counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStats {
    /// `source:account` the latest date feeds.
    pub latest_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub collapsed: BTreeMap<String, u64>,
}

/// The bookkeeping incremental normalization resumes from
/// (`state/normalize/book.json`); written last, as the commit point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizeBook {
    pub v: u32,
    /// Per raw folder `slug/account`.
    pub cursors: BTreeMap<String, RawCursor>,
    /// Objects in `quarantine/`.
    pub quarantined: u64,
    /// Per index `entity/source/account`.
    pub indexes: BTreeMap<String, IndexStats>,
    /// Runs whose window envelopes were normalized without a run log (an
    /// ingest that died): if a log shows up later with a failed job, the
    /// next normalization rebuilds in full.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unlogged_runs: BTreeSet<String>,
    /// A partition that exists when `normalized/` is the one this book
    /// describes ("" when there is none).
    #[serde(default)]
    pub probe: String,
}

impl NormalizeBook {
    pub const VERSION: u32 = 1;

    /// The summary `state/normalize.json` publishes.
    pub fn summary(&self) -> NormalizeState {
        let mut collapsed: BTreeMap<String, u64> = BTreeMap::new();
        let mut latest_data: BTreeMap<String, NaiveDate> = BTreeMap::new();
        for stats in self.indexes.values() {
            for (kind, n) in &stats.collapsed {
                *collapsed.entry(kind.clone()).or_default() += n;
            }
            if let Some(day) = stats.latest {
                let e = latest_data.entry(stats.latest_key.clone()).or_insert(day);
                *e = (*e).max(day);
            }
        }
        NormalizeState {
            collapsed,
            quarantined: self.quarantined,
            latest_data,
            cursors: self
                .cursors
                .iter()
                .filter(|(_, c)| !c.cursor.is_empty())
                .map(|(g, c)| (g.clone(), c.cursor.clone()))
                .collect(),
        }
    }
}

/// The normalization lease: at most one normalizer writes `normalized/`
/// at a time. Taken with `put_if_absent`; a lease past `expires_at` (its
/// holder died) may be broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizeLock {
    pub owner: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// How long a lease lasts: longer than a Lambda may run (15 minutes).
pub const NORMALIZE_LEASE: chrono::Duration = chrono::Duration::minutes(20);

/// Takes the normalization lease; the error names the holder.
pub async fn acquire_normalize_lock(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<NormalizeLock> {
    let lock = NormalizeLock {
        owner: format!(
            "{}-{}",
            std::process::id(),
            now.timestamp_nanos_opt().unwrap_or_default()
        ),
        acquired_at: now,
        expires_at: now + NORMALIZE_LEASE,
    };
    let bytes = Bytes::from(serde_json::to_vec_pretty(&lock)?);
    for _ in 0..2 {
        if store
            .put_if_absent(NORMALIZE_LOCK_KEY, bytes.clone())
            .await?
        {
            return Ok(lock);
        }
        let Some(held) = store.get(NORMALIZE_LOCK_KEY).await? else {
            continue; // released meanwhile
        };
        match serde_json::from_slice::<NormalizeLock>(&held) {
            Ok(h) if h.expires_at > now => anyhow::bail!(
                "another normalization holds {NORMALIZE_LOCK_KEY} (owner {}, since {}, until {}); \
                 try again later",
                h.owner,
                h.acquired_at,
                h.expires_at
            ),
            // Expired or unreadable: break it, if it is still the same one.
            _ => {
                if store.get(NORMALIZE_LOCK_KEY).await?.as_deref() == Some(&held[..]) {
                    store.delete(NORMALIZE_LOCK_KEY).await?;
                }
            }
        }
    }
    anyhow::bail!("could not take {NORMALIZE_LOCK_KEY}: it keeps changing hands")
}

/// Releases the lease if it is still ours.
pub async fn release_normalize_lock(store: &dyn Store, lock: &NormalizeLock) -> Result<()> {
    if let Some(held) = read_json::<NormalizeLock>(store, NORMALIZE_LOCK_KEY)
        .await
        .ok()
        .flatten()
        && held.owner == lock.owner
    {
        store.delete(NORMALIZE_LOCK_KEY).await?;
    }
    Ok(())
}
