//! Incremental normalization (`Pipeline::normalize`) gives the bytes of a
//! full rebuild (`Pipeline::normalize_full`) of the same `raw/`.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voronka::pipeline::{NormalizeSummary, Pipeline};
use voronka::state::{self, JobLog, RunLog};
use voronka_connectors::RawEnvelope;
use voronka_connectors::driver::{Driver, DriverOptions, EnvSecrets};
use voronka_store::{LocalStore, Store};

const END: (i32, u32, u32) = (2026, 11, 30);

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(END.0, END.1, END.2).unwrap()
}

/// A small demo lake (raw/, state/, the config).
async fn demo(dir: &Path) {
    voronka::demo::run(voronka::demo::DemoOptions {
        out: dir.to_path_buf(),
        seed: 11,
        days: 21,
        scale: 0.2,
        end: end(),
        progress: false,
    })
    .await
    .unwrap();
}

fn pipeline(config: &Path, lake: &Path) -> Pipeline {
    Pipeline {
        store: Arc::new(LocalStore::new(lake.to_path_buf())),
        config: voronka::load_config(config).unwrap(),
        driver: Driver::new(DriverOptions::default(), Arc::new(EnvSecrets)),
    }
}

/// Every object under `zone/`, key -> bytes.
async fn zone(store: &dyn Store, zone: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for key in store.list(&format!("{zone}/")).await.unwrap() {
        out.insert(
            key.clone(),
            store.get(&key).await.unwrap().unwrap().to_vec(),
        );
    }
    out
}

async fn copy(from: &dyn Store, to: &dyn Store, keys: &[String]) {
    for k in keys {
        to.put(k, from.get(k).await.unwrap().unwrap())
            .await
            .unwrap();
    }
}

/// Asserts two lakes hold the same `normalized/`, `quarantine/` and
/// normalization summary, naming the first difference.
async fn assert_same(inc: &dyn Store, full: &dyn Store, what: &str) {
    for z in ["normalized", "quarantine", "state/normalize"] {
        let a = zone(inc, z).await;
        let b = zone(full, z).await;
        let ka: Vec<_> = a.keys().collect();
        let kb: Vec<_> = b.keys().collect();
        if ka != kb {
            let only_a: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
            let only_b: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
            panic!("{what}: {z}/ keys differ: only incremental {only_a:?}, only full {only_b:?}");
        }
        for (k, v) in &a {
            if k == state::NORMALIZE_BOOK_KEY {
                // The probe is whichever partition the last run wrote.
                let strip = |v: &[u8]| {
                    let mut j: serde_json::Value = serde_json::from_slice(v).unwrap();
                    j.as_object_mut().unwrap().remove("probe");
                    j
                };
                assert_eq!(strip(v), strip(&b[k]), "{what}: {k} differs");
                continue;
            }
            assert!(
                v == &b[k],
                "{what}: {k} differs:\nincremental:\n{}\nfull:\n{}",
                String::from_utf8_lossy(v),
                String::from_utf8_lossy(&b[k])
            );
        }
    }
    let a = inc.get(state::NORMALIZE_KEY).await.unwrap().unwrap();
    let b = full.get(state::NORMALIZE_KEY).await.unwrap().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b),
        "{what}: state/normalize.json"
    );
}

/// Raw keys sorted by receipt (the order normalization applies them).
async fn by_receipt(store: &dyn Store) -> Vec<(String, RawEnvelope)> {
    let mut out = Vec::new();
    for key in store.list("raw/").await.unwrap() {
        let env = RawEnvelope::from_json(&store.get(&key).await.unwrap().unwrap()).unwrap();
        out.push((key, env));
    }
    out.sort_by(|a, b| {
        (a.1.received_at, &a.1.run, a.1.seq, &a.0).cmp(&(b.1.received_at, &b.1.run, b.1.seq, &b.0))
    });
    out
}

fn incremental(n: &NormalizeSummary, what: &str) {
    assert!(!n.full, "{what}: rebuilt in full: {:?}", n.note);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_batches_give_the_bytes_of_a_full_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tmp.path().join("demo");
    demo(&src_dir).await;
    let config = src_dir.join("voronka.toml");
    let src = LocalStore::new(src_dir.clone());
    let all = by_receipt(&src).await;
    let state_keys: Vec<String> = src
        .list("state/")
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.starts_with("state/runs/") || k == state::SOURCES_KEY)
        .collect();

    // The full rebuild of everything.
    let full_dir = tmp.path().join("full");
    let full = pipeline(&config, &full_dir);
    let keys: Vec<String> = all.iter().map(|(k, _)| k.clone()).collect();
    copy(&src, &*full.store, &keys).await;
    copy(&src, &*full.store, &state_keys).await;
    let t = Instant::now();
    let nf = full.normalize_full().await.unwrap();
    let full_time = t.elapsed();
    assert!(nf.full && nf.records > 0, "{nf:?}");

    // Incremental: five batches in receipt order; two amoCRM pages and a
    // Yandex Direct report of batch 5 are written late, after batch 5.
    let late: Vec<String> = keys
        .iter()
        .filter(|k| {
            (k.starts_with("raw/amocrm/") && (k.contains("-000002-") || k.contains("-000005-")))
                || (k.starts_with("raw/yandex_direct/") && k.contains("-000002-"))
        })
        .cloned()
        .collect();
    assert_eq!(late.len(), 3, "{late:?}");
    let on_time: Vec<String> = keys.iter().filter(|k| !late.contains(k)).cloned().collect();
    let inc_dir = tmp.path().join("inc");
    let inc = pipeline(&config, &inc_dir);
    copy(&src, &*inc.store, &state_keys).await;
    let size = on_time.len().div_ceil(5);
    let mut inc_time = Duration::ZERO;
    for (i, batch) in on_time.chunks(size).enumerate() {
        copy(&src, &*inc.store, batch).await;
        let t = Instant::now();
        let n = inc.normalize().await.unwrap();
        inc_time += t.elapsed();
        println!(
            "batch {i}: {} envelopes, full={}, {:?}",
            batch.len(),
            n.full,
            t.elapsed()
        );
        if i == 0 {
            assert!(n.full, "the first normalization has nothing to resume from");
        } else {
            incremental(&n, &format!("batch {i}"));
            assert_eq!(n.envelopes, batch.len());
        }
    }
    copy(&src, &*inc.store, &late).await;
    let t = Instant::now();
    let n = inc.normalize().await.unwrap();
    let late_time = t.elapsed();
    incremental(&n, "late batch");
    assert_eq!(n.envelopes, late.len());
    assert_same(&*inc.store, &*full.store, "after all batches").await;

    // Nothing new: nothing to do.
    let n = inc.normalize().await.unwrap();
    incremental(&n, "no-op");
    assert_eq!((n.envelopes, n.partitions), (0, 0));

    // The marts agree too.
    let checked_at: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
    inc.aggregate(end(), checked_at).await.unwrap();
    full.aggregate(end(), checked_at).await.unwrap();
    assert_eq!(
        zone(&*inc.store, "marts").await,
        zone(&*full.store, "marts").await,
        "marts differ"
    );

    // One new webhook on top of the whole history, vs a full rebuild.
    let (key, env) = all
        .iter()
        .find(|(k, e)| k.starts_with("raw/tilda/") && e.body.contains("tranid="))
        .unwrap()
        .clone();
    let mut redelivered = env.clone();
    redelivered.received_at = all.last().unwrap().1.received_at + chrono::Duration::seconds(5);
    redelivered.run = voronka::pipeline::run_id(redelivered.received_at, "tilda");
    assert_ne!(redelivered.key(), key);
    for p in [&inc, &full] {
        p.store
            .put(&redelivered.key(), Bytes::from(redelivered.to_json()))
            .await
            .unwrap();
    }
    let t = Instant::now();
    let n = inc.normalize().await.unwrap();
    let one_time = t.elapsed();
    incremental(&n, "one webhook");
    let t = Instant::now();
    full.normalize_full().await.unwrap();
    let full_again = t.elapsed();
    assert_same(&*inc.store, &*full.store, "one more webhook").await;

    // raw/ and state/ copied without normalized/ (as into a new bucket):
    // the bookkeeping is not trusted, normalization rebuilds.
    let copy_dir = tmp.path().join("copy");
    let copied = pipeline(&config, &copy_dir);
    let mut keys = inc.store.list("raw/").await.unwrap();
    keys.extend(inc.store.list("state/").await.unwrap());
    copy(&*inc.store, &*copied.store, &keys).await;
    let n = copied.normalize().await.unwrap();
    assert!(n.full, "{n:?}");
    assert!(n.note.as_deref().unwrap_or("").contains("missing"), "{n:?}");
    assert_same(&*copied.store, &*full.store, "copied lake").await;

    println!(
        "normalize on {} raw envelopes: full rebuild {full_time:?} (again {full_again:?}); \
         incremental, all batches {inc_time:?}, late batch {late_time:?}, \
         one new webhook {one_time:?} ({:.1}x faster than full)",
        all.len(),
        full_again.as_secs_f64() / one_time.as_secs_f64().max(1e-9)
    );
}

/// Envelope helpers for the window tests.
fn refetch(env: &RawEnvelope, at: DateTime<Utc>, what: &str) -> RawEnvelope {
    let mut e = env.clone();
    e.received_at = at;
    e.run = voronka::pipeline::run_id(at, what);
    e
}

async fn put_env(stores: &[&dyn Store], env: &RawEnvelope) {
    for s in stores {
        assert!(
            s.put_if_absent(&env.key(), Bytes::from(env.to_json()))
                .await
                .unwrap()
        );
    }
}

async fn put_log(stores: &[&dyn Store], env: &RawEnvelope, ok: bool) {
    let log = RunLog {
        run: env.run.clone(),
        started_at: env.received_at,
        jobs: vec![JobLog {
            source: env.source.clone(),
            account: env.account.clone(),
            entity: env.entity.clone(),
            window_from: env.window_from,
            window_to: env.window_to,
            requests: 1,
            raw_objects: 1,
            ok,
            error: (!ok).then(|| "HTTP 500".to_string()),
        }],
    };
    for s in stores {
        state::write_json(*s, &state::run_log_key(&log.run), &log)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refetched_windows_failed_jobs_and_redeliveries_match_a_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("demo");
    demo(&lake).await;
    let config = lake.join("voronka.toml");
    let inc = pipeline(&config, &lake);
    // The demo normalized everything (a rebuild); `full` is its copy.
    let full_dir = tmp.path().join("full");
    let full = pipeline(&config, &full_dir);
    let mut keys = inc.store.list("raw/").await.unwrap();
    keys.extend(inc.store.list("state/runs/").await.unwrap());
    keys.push(state::SOURCES_KEY.to_string());
    copy(&*inc.store, &*full.store, &keys).await;
    full.normalize_full().await.unwrap();
    assert_same(&*inc.store, &*full.store, "demo").await;
    let stores: [&dyn Store; 2] = [&*inc.store, &*full.store];
    let all = by_receipt(&*inc.store).await;
    let last = all.last().unwrap().1.received_at;
    // A later run re-fetches a Yandex Direct report window, and finds the
    // window's last day empty now: the day becomes empty.
    let (_, report) = all
        .iter()
        .find(|(k, e)| {
            k.starts_with("raw/yandex_direct/") && e.window_to.is_some() && e.status == 200
        })
        .unwrap()
        .clone();
    let account = report.account.clone();
    let ad_stats = |s: &BTreeMap<String, Vec<u8>>, day: NaiveDate| -> usize {
        let key = format!("normalized/ad_stat/yandex_direct/{account}/{day}.jsonl");
        s.get(&key)
            .map(|v| v.iter().filter(|b| **b == b'\n').count())
            .unwrap_or(0)
    };
    let to = report.window_to.unwrap();
    let before = ad_stats(&zone(&*inc.store, "normalized").await, to);
    assert!(before > 0, "no ad stats on {to}");
    let mut again = refetch(
        &report,
        last + chrono::Duration::minutes(1),
        "yandex_direct",
    );
    let kept: Vec<&str> = again
        .body
        .lines()
        .filter(|l| !l.starts_with(&to.to_string()))
        .collect();
    again.body = kept.join("\n") + "\n";
    put_env(&stores, &again).await;
    put_log(&stores, &again, true).await;
    let n = inc.normalize().await.unwrap();
    incremental(&n, "re-fetched window");
    full.normalize_full().await.unwrap();
    assert_same(&*inc.store, &*full.store, "re-fetched window").await;
    let normalized = zone(&*inc.store, "normalized").await;
    assert_eq!(ad_stats(&normalized, to), 0, "{to} was not replaced");

    // A still later run whose job failed (its response carries the old
    // data) replaces nothing.
    let failed = refetch(
        &report,
        last + chrono::Duration::minutes(2),
        "yandex_direct",
    );
    put_env(&stores, &failed).await;
    put_log(&stores, &failed, false).await;
    let n = inc.normalize().await.unwrap();
    println!("failed job: full={} {:?}", n.full, n.note);
    full.normalize_full().await.unwrap();
    assert_same(&*inc.store, &*full.store, "failed job").await;
    assert_eq!(
        ad_stats(&zone(&*inc.store, "normalized").await, to),
        0,
        "a failed job replaced {to}"
    );

    // A window response whose run log isn't written yet waits for it.
    let pending = refetch(
        &report,
        last + chrono::Duration::minutes(3),
        "yandex_direct",
    );
    put_env(&stores, &pending).await;
    let n = inc.normalize().await.unwrap();
    incremental(&n, "pending window");
    assert_eq!(n.envelopes, 0, "{n:?}");
    put_log(&stores, &pending, true).await;
    let n = inc.normalize().await.unwrap();
    incremental(&n, "window with its log");
    assert_eq!(n.envelopes, 1, "{n:?}");
    full.normalize_full().await.unwrap();
    assert_same(&*inc.store, &*full.store, "logged window").await;
    assert_eq!(ad_stats(&zone(&*inc.store, "normalized").await, to), before);

    // A re-delivered webhook: one more collapsed duplicate in both modes.
    let redeliveries = collapsed(&*inc.store).await;
    let (_, hook) = all
        .iter()
        .find(|(k, e)| k.starts_with("raw/tilda/") && e.body.contains("tranid="))
        .unwrap()
        .clone();
    let again = refetch(&hook, Utc::now(), "tilda");
    put_env(&stores, &again).await;
    let n = inc.normalize().await.unwrap();
    incremental(&n, "re-delivered webhook");
    full.normalize_full().await.unwrap();
    assert_same(&*inc.store, &*full.store, "re-delivered webhook").await;
    assert_eq!(collapsed(&*inc.store).await, redeliveries + 1);
}

async fn collapsed(s: &dyn Store) -> u64 {
    let n: state::NormalizeState = state::read_json(s, state::NORMALIZE_KEY)
        .await
        .unwrap()
        .unwrap();
    n.collapsed
        .get("webhook_redeliveries")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn one_normalizer_at_a_time() {
    let store = voronka_store::MemoryStore::new();
    let now = Utc::now();
    let lock = state::acquire_normalize_lock(&store, now).await.unwrap();
    let err = state::acquire_normalize_lock(&store, now)
        .await
        .expect_err("the lease is held");
    assert!(err.to_string().contains("state/normalize.lock"), "{err}");
    // An expired lease (its holder died) is broken.
    let later = now + state::NORMALIZE_LEASE + chrono::Duration::seconds(1);
    let next = state::acquire_normalize_lock(&store, later).await.unwrap();
    // The old holder's release leaves the new lease alone.
    state::release_normalize_lock(&store, &lock).await.unwrap();
    assert!(state::acquire_normalize_lock(&store, later).await.is_err());
    state::release_normalize_lock(&store, &next).await.unwrap();
    assert!(state::acquire_normalize_lock(&store, later).await.is_ok());
}
