//! The `state/` zone: watermarks, the run log and per-source status.
//!
//! - `state/watermarks/<slug>/<account>.json`: `{entity: watermark}`;
//! - `state/runs/<run>.json`: what one ingest run did, job by job;
//! - `state/sources.json`: last success / latest data / last error per
//!   source account (feeds the freshness check);
//! - `state/normalize.json`: duplicates collapsed and records quarantined
//!   by the last normalization.

use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
}

pub const NORMALIZE_KEY: &str = "state/normalize.json";
