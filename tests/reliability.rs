//! Reliability and security (docs/reliability.md): vendor faults injected
//! by the sandbox through the real driver and pipeline, crashes at step
//! boundaries, idempotent re-ingest, secrets kept out of the lake, private
//! manager links, and the last good site staying published.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use voronka::pipeline::{IngestSummary, Pipeline};
use voronka::state::{self, RunLog};
use voronka_connectors::RawEnvelope;
use voronka_connectors::driver::{Driver, DriverOptions, SecretSource, StaticSecrets};
use voronka_core::config::{Config, SecretRef};
use voronka_core::metrics::{CheckResult, CheckStatus, Marts};
use voronka_sandbox::{self as sandbox, Sandbox, SandboxOptions};
use voronka_store::{LocalStore, MemoryStore, Store};

const DAYS: u32 = 21;

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
}

fn start() -> NaiveDate {
    end() - chrono::Duration::days(DAYS as i64 - 1)
}

// `..default()`: keeps compiling when `SchoolSpec` gains a knob.
#[allow(clippy::needless_update)]
fn school() -> Arc<sandbox::School> {
    Arc::new(sandbox::generate(&sandbox::SchoolSpec {
        seed: 5,
        days: DAYS,
        scale: 0.2,
        end: end(),
        ..sandbox::SchoolSpec::default()
    }))
}

/// The run instants: the demo's (a minute before the end of the last
/// day), then `n` seconds later.
fn now(n: i64) -> DateTime<Utc> {
    voronka_core::time::end_of_day(end(), chrono_tz::Europe::Moscow) - chrono::Duration::minutes(1)
        + chrono::Duration::seconds(n)
}

/// Sandbox credentials by environment-variable name, as the demo holds them.
struct EnvMap(BTreeMap<String, String>);

impl SecretSource for EnvMap {
    fn resolve(&self, name: &str, r: &SecretRef) -> Result<String, String> {
        r.env
            .as_ref()
            .and_then(|e| self.0.get(e))
            .cloned()
            .ok_or_else(|| format!("no credential {name}"))
    }
}

type StoreFut<'a, T> = Pin<Box<dyn Future<Output = voronka_store::Result<T>> + Send + 'a>>;

/// A `MemoryStore` that can fail writes: after `allow` more writes
/// (`put`, `put_if_absent`, `delete`) under `prefix`, every further one
/// fails (a crash at that point: nothing after it happens).
struct Flaky {
    inner: MemoryStore,
    prefix: Mutex<String>,
    allow: AtomicI64,
}

impl Flaky {
    fn new() -> Flaky {
        Flaky {
            inner: MemoryStore::new(),
            prefix: Mutex::new(String::new()),
            allow: AtomicI64::new(-1),
        }
    }

    /// Fails writes under `prefix` after `allow` more succeed.
    fn crash_after(&self, prefix: &str, allow: i64) {
        *self.prefix.lock().unwrap() = prefix.to_string();
        self.allow.store(allow, Ordering::SeqCst);
    }

    fn heal(&self) {
        self.allow.store(-1, Ordering::SeqCst);
    }

    fn check(&self, op: &'static str, key: &str) -> voronka_store::Result<()> {
        if self.allow.load(Ordering::SeqCst) < 0 || !key.starts_with(&*self.prefix.lock().unwrap())
        {
            return Ok(());
        }
        if self.allow.fetch_sub(1, Ordering::SeqCst) > 0 {
            return Ok(());
        }
        self.allow.store(0, Ordering::SeqCst);
        Err(voronka_store::StoreError::Backend {
            backend: "flaky".into(),
            op,
            key: key.into(),
            message: "injected crash".into(),
        })
    }
}

impl Store for Flaky {
    fn put<'a, 'b, 'c>(&'a self, key: &'b str, bytes: Bytes) -> StoreFut<'c, ()>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            self.check("put", key)?;
            self.inner.put(key, bytes).await
        })
    }
    fn put_if_absent<'a, 'b, 'c>(&'a self, key: &'b str, bytes: Bytes) -> StoreFut<'c, bool>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            self.check("put_if_absent", key)?;
            self.inner.put_if_absent(key, bytes).await
        })
    }
    fn get<'a, 'b, 'c>(&'a self, key: &'b str) -> StoreFut<'c, Option<Bytes>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move { self.inner.get(key).await })
    }
    fn list<'a, 'b, 'c>(&'a self, prefix: &'b str) -> StoreFut<'c, Vec<String>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move { self.inner.list(prefix).await })
    }
    fn delete<'a, 'b, 'c>(&'a self, key: &'b str) -> StoreFut<'c, ()>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            self.check("delete", key)?;
            self.inner.delete(key).await
        })
    }
    fn describe(&self) -> String {
        "flaky memory store".into()
    }
}

/// The driver options of the demo: every wait capped to zero.
fn fast() -> DriverOptions {
    DriverOptions {
        wait_cap: Some(Duration::ZERO),
        ..DriverOptions::default()
    }
}

/// A sandbox school served with `opts`, and a pipeline over a fresh lake
/// pointed at it with the demo's config and credentials.
struct Lake {
    sb: Sandbox,
    store: Arc<Flaky>,
    p: Pipeline,
    secrets: BTreeMap<String, String>,
}

async fn lake(opts: SandboxOptions, driver: DriverOptions) -> Lake {
    let school = school();
    let sb = Sandbox::start(school.clone(), opts).await.unwrap();
    let (toml, secrets) = voronka::demo::sandbox_config(&school, &sb.base_url(), start());
    let store = Arc::new(Flaky::new());
    let p = Pipeline {
        store: store.clone(),
        config: Config::from_toml(&toml).unwrap(),
        driver: Driver::new(driver, Arc::new(EnvMap(secrets.clone()))),
    };
    Lake {
        sb,
        store,
        p,
        secrets,
    }
}

impl Lake {
    /// Ingests `slugs` as the demo does (amoCRM with its default window).
    async fn ingest(&self, slugs: &[&str], at: DateTime<Utc>) -> Vec<IngestSummary> {
        let mut out = Vec::new();
        for slug in slugs {
            let window = (*slug != "amocrm").then(|| (start(), end()));
            out.extend(self.p.ingest(slug, window, at).await.unwrap());
        }
        out
    }

    /// normalize → aggregate; `normalized/` and `marts/marts.json`.
    async fn finish(&self, at: DateTime<Utc>) -> Outcome {
        self.p.normalize().await.unwrap();
        self.p.aggregate(end(), at).await.unwrap();
        (
            zone(&*self.store, "normalized").await,
            self.store
                .get("marts/marts.json")
                .await
                .unwrap()
                .unwrap()
                .to_vec(),
        )
    }

    async fn envelopes(&self, slug: &str) -> Vec<RawEnvelope> {
        let mut out = Vec::new();
        for key in self.store.list(&format!("raw/{slug}/")).await.unwrap() {
            let bytes = self.store.get(&key).await.unwrap().unwrap();
            out.push(RawEnvelope::from_json(&bytes).unwrap());
        }
        out
    }
}

/// `normalized/` (key -> bytes) and `marts/marts.json`.
type Outcome = (BTreeMap<String, Vec<u8>>, Vec<u8>);

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

/// The fault-free lake's `normalized/` and marts for `slugs` ingested at `at`.
async fn baseline(slugs: &[&str], at: DateTime<Utc>) -> Outcome {
    let l = lake(SandboxOptions::default(), fast()).await;
    let s = l.ingest(slugs, at).await;
    assert!(s.iter().all(|s| s.failed.is_empty()), "baseline: {s:?}");
    l.finish(at).await
}

fn assert_same_zone(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: normalized/ keys differ"
    );
    for (k, v) in got {
        assert!(v == &want[k], "{what}: {k} differs from the fault-free run");
    }
}

/// No normalized partition holds the same record twice.
fn assert_no_duplicates(normalized: &BTreeMap<String, Vec<u8>>, what: &str) {
    let mut n = 0;
    for (k, v) in normalized {
        let mut seen = BTreeSet::new();
        for line in v.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            assert!(seen.insert(line), "{what}: {k} repeats a record");
            n += 1;
        }
    }
    assert!(n > 0, "{what}: nothing normalized");
}

struct Case {
    name: &'static str,
    slug: &'static str,
    opts: SandboxOptions,
    /// The status of the faulty responses as stored in raw/ (None: no
    /// response at all, e.g. a timeout).
    raw_status: Option<u16>,
    driver: DriverOptions,
}

impl Case {
    fn stored(mut self, status: u16) -> Case {
        self.raw_status = Some(status);
        self
    }
}

/// Retryable faults: retried within the run, every response (the faulty
/// ones included) in raw/, and `normalized/` and the marts byte-identical
/// to a fault-free run's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retryable_vendor_faults_are_retried_and_change_nothing() {
    let f = SandboxOptions::fault;
    let case = |name: &'static str, slug: &'static str, fault| Case {
        name,
        slug,
        opts: SandboxOptions::default().with_fault(fault),
        raw_status: None,
        driver: fast(),
    };
    let cases = vec![
        case(
            "429 without Retry-After",
            "facebook",
            f("facebook").status(429).on_path("insights"),
        )
        .stored(429),
        case(
            "429 with Retry-After, twice",
            "facebook",
            f("facebook")
                .status(429)
                .header("Retry-After", "3")
                .after(1)
                .times(2),
        )
        .stored(429),
        case(
            "503 three times",
            "getcourse",
            f("getcourse").status(503).after(1).times(3),
        )
        .stored(503),
        case(
            "500 twice",
            "yandex_direct",
            f("yandex_direct").status(500).times(2),
        )
        .stored(500),
        case(
            "Facebook error 17 inside an HTTP 200",
            "facebook",
            f("facebook").json(
                200,
                &serde_json::json!({"error": {"message": "(#17) User request limit reached",
                    "type": "OAuthException", "code": 17, "is_transient": true,
                    "fbtrace_id": "AFault17"}}),
            ),
        )
        .stored(200),
        case(
            "GetCourse \"Слишком много запросов\" inside an HTTP 200",
            "getcourse",
            f("getcourse").after(1).json(
                200,
                &serde_json::json!({"success": false, "error": true,
                    "error_message": "Слишком много запросов"}),
            ),
        )
        .stored(200),
        case(
            "amoCRM expired access token (401 once: refresh, retry)",
            "amocrm",
            f("amocrm").on_path("/api/v4/").after(2).json(
                401,
                &serde_json::json!({"title": "Unauthorized", "type":
                    "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
                    "status": 401, "detail": "Unauthorized"}),
            ),
        )
        .stored(401),
        Case {
            driver: DriverOptions {
                timeout: Duration::from_millis(300),
                ..fast()
            },
            ..case(
                "a response slower than the client timeout",
                "facebook",
                f("facebook").delayed(Duration::from_millis(1500)),
            )
        },
    ];
    let mut baselines: BTreeMap<&str, Outcome> = BTreeMap::new();
    for c in cases {
        let what = c.name;
        if !baselines.contains_key(c.slug) {
            baselines.insert(c.slug, baseline(&[c.slug], now(0)).await);
        }
        let l = lake(c.opts.clone(), c.driver.clone()).await;
        let summaries = l.ingest(&[c.slug], now(0)).await;
        assert!(
            summaries.iter().all(|s| s.failed.is_empty()),
            "{what}: {summaries:?}"
        );
        // Every response reached raw/ (token exchanges never do; a timed
        // out request has no response).
        let envs = l.envelopes(c.slug).await;
        let faulty = envs
            .iter()
            .filter(|e| Some(e.status) == c.raw_status && c.raw_status != Some(200))
            .count();
        match c.raw_status {
            Some(200) => {
                let bodies: Vec<String> = envs
                    .iter()
                    .map(|e| String::from_utf8_lossy(&e.body_bytes().unwrap()).into_owned())
                    .collect();
                assert!(
                    bodies
                        .iter()
                        .any(|b| b.contains("AFault17") || b.contains("Слишком много")),
                    "{what}: the error-in-200 answer is not in raw/"
                );
            }
            Some(_) => assert!(
                faulty as u64 >= c.opts.faults[0].times.min(9),
                "{what}: {faulty} faulty responses in raw/"
            ),
            None => {}
        }
        if c.slug != "amocrm" {
            let lost = u64::from(c.raw_status.is_none());
            assert_eq!(
                envs.len() as u64 + lost,
                l.sb.requests(c.slug),
                "{what}: raw/ holds every response received"
            );
        }
        let raw_requests: u32 = summaries.iter().map(|s| s.requests).sum();
        assert_eq!(raw_requests as usize, envs.len(), "{what}");
        let (normalized, marts) = l.finish(now(0)).await;
        assert_no_duplicates(&normalized, what);
        let (want_n, want_m) = &baselines[c.slug];
        assert_same_zone(&normalized, want_n, what);
        assert!(
            &marts == want_m,
            "{what}: marts differ from the fault-free run"
        );
    }
}

/// The run log's failed jobs (source, entity, error).
async fn failed_jobs(store: &dyn Store) -> Vec<(String, String, String)> {
    let logs: Vec<RunLog> = state::run_logs(store).await.unwrap();
    logs.iter()
        .flat_map(|l| l.jobs.iter())
        .filter(|j| !j.ok)
        .map(|j| {
            (
                j.source.clone(),
                j.entity.clone(),
                j.error.clone().unwrap_or_default(),
            )
        })
        .collect()
}

async fn source_error(store: &dyn Store, slug: &str) -> Option<String> {
    state::source_statuses(store)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.source == slug)
        .and_then(|s| s.last_error)
}

/// Faults the driver does not retry (or retries in vain) fail the job
/// with a clear status in the summary, the run log and `state/sources.json`;
/// the raw responses stay; the next run recovers to the fault-free marts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminal_faults_fail_the_job_clearly_and_the_next_run_recovers() {
    let f = SandboxOptions::fault;
    let with = |fault| SandboxOptions::default().with_fault(fault);
    let cases: Vec<(&str, &str, SandboxOptions, DriverOptions, &str)> = vec![
        (
            "a truncated 200 body",
            "facebook",
            with(f("facebook").truncated()),
            fast(),
            "body is not JSON",
        ),
        (
            "503 on every attempt",
            "getcourse",
            with(f("getcourse").status(503).after(1).times(5)),
            fast(),
            "gave up after 5 attempts",
        ),
        (
            "an export that never becomes ready, request cap 20",
            "getcourse",
            with(f("getcourse").on_path("/exports/").times(25).json(
                200,
                &serde_json::json!({"success": false, "error": true,
                    "error_message": "Файл еще не создан", "error_code": 909}),
            )),
            DriverOptions {
                max_requests_per_job: 20,
                ..fast()
            },
            "stopped after 20 requests (connector never finished)",
        ),
    ];
    for (what, slug, fault, driver, expect) in cases {
        let l = lake(fault, driver).await;
        let s = l.ingest(&[slug], now(0)).await;
        let failed: Vec<&String> = s.iter().flat_map(|s| &s.failed).collect();
        assert!(
            failed.iter().any(|e| e.contains(expect)),
            "{what}: {failed:?}"
        );
        let jobs = failed_jobs(&*l.store).await;
        assert!(
            jobs.iter()
                .any(|(src, _, e)| src == slug && e.contains(expect)),
            "{what}: run log {jobs:?}"
        );
        let status = source_error(&*l.store, slug).await.unwrap_or_default();
        assert!(status.contains(expect), "{what}: sources.json {status:?}");
        let envs = l.envelopes(slug).await;
        assert_eq!(envs.len() as u64, l.sb.requests(slug), "{what}: raw/");

        // The next run (the fault has passed) recovers.
        let s = l.ingest(&[slug], now(30)).await;
        assert!(s.iter().all(|s| s.failed.is_empty()), "{what}: {s:?}");
        assert_eq!(source_error(&*l.store, slug).await, None, "{what}");
        let (normalized, marts) = l.finish(now(30)).await;
        if what == "a truncated 200 body" {
            // The malformed body is not dropped silently: quarantined,
            // naming its raw object.
            let q = zone(&*l.store, "quarantine").await;
            assert_eq!(q.len(), 1, "{what}: {:?}", q.keys());
            let entry = String::from_utf8_lossy(q.values().next().unwrap());
            assert!(entry.contains("raw/facebook/"), "{entry}");
        }
        let (want_n, want_m) = baseline(&[slug], now(30)).await;
        assert_no_duplicates(&normalized, what);
        assert_same_zone(&normalized, &want_n, what);
        let (mut got, want): (Marts, Marts) = (
            serde_json::from_slice(&marts).unwrap(),
            serde_json::from_slice(&want_m).unwrap(),
        );
        if what == "a truncated 200 body" {
            // The quarantined response keeps its data check yellow (the
            // user must know some data was refused); every figure is
            // the fault-free run's.
            let q = got
                .checks
                .iter()
                .find(|c| c.check == "quarantine")
                .cloned()
                .unwrap();
            assert_eq!(
                q.status,
                voronka_core::metrics::CheckStatus::Yellow,
                "{q:?}"
            );
            assert!(q.detail.starts_with("1\u{a0}ответ "), "{}", q.detail);
            let fault_free = want
                .checks
                .iter()
                .find(|c| c.check == "quarantine")
                .cloned();
            for c in got.checks.iter_mut().filter(|c| c.check == "quarantine") {
                *c = fault_free.clone().unwrap();
            }
        }
        assert_marts_eq(&got, &want, what);
    }
}

/// A GetCourse export that never becomes ready (909 forever) with the
/// default driver options: GetCourse's hard budget (100 requests per 2
/// hours, shared through state/budget/) ends the job long before
/// `max_requests_per_job` (10 000), and the later job fails without
/// sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_ready_export_is_bounded_by_the_request_budget() {
    let opts = SandboxOptions {
        getcourse_not_ready_polls: u32::MAX,
        getcourse_request_limit: 1_000,
        ..SandboxOptions::default()
    };
    let l = lake(opts, fast()).await;
    let s = l.ingest(&["getcourse"], now(0)).await;
    let failed: Vec<&String> = s.iter().flat_map(|s| &s.failed).collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|e| e.contains("request budget exhausted") && e.contains("retry after")),
        "{failed:?}"
    );
    assert_eq!(l.sb.requests("getcourse"), 100);
    assert_eq!(l.envelopes("getcourse").await.len(), 100);
    assert!(
        l.store
            .get("state/budget/getcourse/main.json")
            .await
            .unwrap()
            .is_some()
    );
    let status = source_error(&*l.store, "getcourse").await.unwrap();
    assert!(status.contains("request budget exhausted"), "{status}");
}

/// amoCRM rejecting every token (revoked): one refresh, then the job fails
/// asking to re-authorize, every later job fails without a new refresh,
/// and no error names a credential or token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_fails_with_reauthorize_and_leaks_nothing() {
    let fault = SandboxOptions::fault("amocrm")
        .on_path("/api/v4/")
        .times(u64::MAX)
        .status(401);
    let l = lake(SandboxOptions::default().with_fault(fault), fast()).await;
    let s = l.ingest(&["amocrm"], now(0)).await;
    let failed: Vec<String> = s.iter().flat_map(|s| s.failed.clone()).collect();
    assert!(!failed.is_empty());
    assert!(failed[0].contains("re-authorize"), "{failed:?}");
    assert_eq!(failed.len(), s[0].jobs, "every job fails: {failed:?}");
    let mut texts = failed.join("\n");
    for (_, _, e) in failed_jobs(&*l.store).await {
        texts.push_str(&e);
    }
    texts.push_str(&source_error(&*l.store, "amocrm").await.unwrap());
    assert_no_secret(&texts, &secret_values(&l.secrets), "amoCRM errors");
    for (k, v) in all_objects(&*l.store).await {
        assert_no_secret(&String::from_utf8_lossy(&v), &secret_values(&l.secrets), &k);
    }
}

async fn all_objects(store: &dyn Store) -> BTreeMap<String, Vec<u8>> {
    zone(store, "").await
}

/// Every credential value of the sandbox config plus every OAuth token the
/// sandbox issues (amoCRM access/refresh chains by prefix).
fn secret_values(secrets: &BTreeMap<String, String>) -> Vec<String> {
    let mut v: Vec<String> = secrets
        .iter()
        // The redirect URI is a public URL, not a secret.
        .filter(|(k, _)| !k.ends_with("_REDIRECT_URI"))
        .map(|(_, v)| v.clone())
        .collect();
    for t in [
        sandbox::AMOCRM_TOKEN,
        sandbox::AMOCRM_CLIENT_SECRET,
        sandbox::AMOCRM_REFRESH_TOKEN,
        sandbox::AMOCRM_AUTH_CODE,
        sandbox::GA4_ACCESS_TOKEN,
        sandbox::VK_ACCESS_TOKEN,
        sandbox::VK_REFRESH_TOKEN,
        sandbox::VK_CLIENT_SECRET,
        sandbox::GOOGLE_ACCESS_TOKEN,
        sandbox::GOOGLE_REFRESH_TOKEN,
        sandbox::GOOGLE_CLIENT_SECRET,
        sandbox::GOOGLE_DEVELOPER_TOKEN,
        sandbox::FACEBOOK_TOKEN,
        sandbox::GETCOURSE_KEY,
        sandbox::YANDEX_TOKEN,
        sandbox::BIZON_TOKEN,
        sandbox::SALEBOT_KEY,
        sandbox::TIKTOK_TOKEN,
        "sandbox-amocrm-access-",
        "sandbox-amocrm-refresh-",
    ] {
        v.push(t.to_string());
    }
    v.sort();
    v.dedup();
    v
}

fn assert_no_secret(text: &str, secrets: &[String], what: &str) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} contains secret {s:?}");
        let form: String = s
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert!(
            !text.contains(&form),
            "{what} contains secret {s:?} (encoded)"
        );
    }
}

/// A crash between fetch and raw write (the store refuses the envelope):
/// the job fails, nothing of that source is in raw/, the next run recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_the_raw_write_fails_the_job_and_writes_nothing() {
    let l = lake(SandboxOptions::default(), fast()).await;
    l.store.crash_after("raw/facebook/", 0);
    let s = l.ingest(&["facebook"], now(0)).await;
    assert!(
        s.iter().all(|s| s
            .failed
            .iter()
            .all(|e| e.contains("could not store the raw response"))
            && !s.failed.is_empty()),
        "{s:?}"
    );
    assert!(l.store.list("raw/facebook/").await.unwrap().is_empty());
    l.store.heal();
    let s = l.ingest(&["facebook"], now(30)).await;
    assert!(s.iter().all(|s| s.failed.is_empty()), "{s:?}");
    let (n, m) = l.finish(now(30)).await;
    let (want_n, want_m) = baseline(&["facebook"], now(30)).await;
    assert_same_zone(&n, &want_n, "after a raw-write crash");
    assert!(m == want_m, "marts differ after a raw-write crash");
}

/// A crash between raw write and normalization, including one midway
/// through writing `normalized/`: raw/ is complete, the next `normalize()`
/// catches up to the bytes and marts of an uninterrupted run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_raw_and_normalize_is_caught_up() {
    let slugs = ["facebook", "getcourse", "cbr"];
    let (want_n, want_m) = baseline(&slugs, now(0)).await;
    for allow in [0, 1, 3] {
        let what = format!("normalize crashed after {allow} writes");
        let l = lake(SandboxOptions::default(), fast()).await;
        l.ingest(&["facebook"], now(0)).await;
        l.p.normalize().await.unwrap();
        l.ingest(&["getcourse", "cbr"], now(0)).await;
        l.store.crash_after("normalized/", allow);
        assert!(l.p.normalize().await.is_err(), "{what}");
        l.store.heal();
        let (n, m) = l.finish(now(0)).await;
        assert_no_duplicates(&n, &what);
        assert_same_zone(&n, &want_n, &what);
        assert!(m == want_m, "{what}: marts differ");
    }
}

/// Ingesting the same window twice (a retried Lambda, a manual re-run)
/// leaves `normalized/` and the marts byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_window_twice_changes_nothing() {
    let slugs = ["cbr", "facebook", "getcourse", "amocrm"];
    let l = lake(SandboxOptions::default(), fast()).await;
    l.ingest(&slugs, now(0)).await;
    let (n1, m1) = l.finish(now(0)).await;
    l.ingest(&slugs, now(0) + chrono::Duration::milliseconds(7))
        .await;
    l.p.normalize().await.unwrap();
    let n2 = zone(&*l.store, "normalized").await;
    assert_same_zone(&n2, &n1, "second ingest of the same window");
    // The marts as of the same instant (freshness is judged against it).
    let a: Marts = serde_json::from_slice(&m1).unwrap();
    let b = l.p.compute(end(), now(0)).await.unwrap();
    let dup = |m: &Marts| -> String {
        m.checks
            .iter()
            .filter(|c| c.check == "duplicates")
            .map(|c| c.detail.clone())
            .collect()
    };
    // The vendor's in-fetch duplicate payment is one duplicate however
    // often the window is fetched.
    assert!(dup(&a).contains("дублей: 1"), "{}", dup(&a));
    assert_eq!(dup(&a), dup(&b), "a re-fetch must not raise the count");
    assert_eq!(a, b, "second ingest of the same window");
    l.p.normalize_full().await.unwrap();
    assert_same_zone(&zone(&*l.store, "normalized").await, &n1, "full rebuild");
    let c = l.p.compute(end(), now(0)).await.unwrap();
    assert_eq!(dup(&c), dup(&b), "a full rebuild counts the same");
}

/// A whole demo lake (all sources, webhooks, site) in `dir`.
async fn demo(dir: &Path) -> voronka::demo::DemoReport {
    voronka::demo::run(voronka::demo::DemoOptions {
        out: dir.to_path_buf(),
        seed: 5,
        days: DAYS,
        scale: 0.2,
        end: end(),
        progress: false,
    })
    .await
    .unwrap()
}

/// Every file under `dir`, relative path -> bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The demo with every sandbox credential: no credential value and no
/// OAuth token the sandbox issued appears anywhere in the lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_lake() {
    let tmp = tempfile::tempdir().unwrap();
    demo(tmp.path()).await;
    let (_, secrets) = voronka::demo::sandbox_config(&school(), "http://127.0.0.1:1", start());
    assert!(secrets.len() > 10, "{secrets:?}");
    let secrets = secret_values(&secrets);
    let all = files(tmp.path());
    for zone in [
        "raw/",
        "normalized/",
        "state/",
        "marts/",
        "site/",
        "archive/",
    ] {
        assert!(all.keys().any(|k| k.starts_with(zone)), "no {zone}");
    }
    for (k, v) in &all {
        assert_no_secret(&String::from_utf8_lossy(v), &secrets, k);
    }
}

/// Private manager pages: no public page links to m/, a manager's page
/// shows no other manager's revenue, tokens are 128-bit hex, and another
/// secret replaces every token (old links are gone, never archived).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_links_are_unlinked_unguessable_and_revocable() {
    let tmp = tempfile::tempdir().unwrap();
    let report = demo(tmp.path()).await;
    let site = files(&tmp.path().join("site"));
    let private: BTreeMap<&String, &Vec<u8>> =
        site.iter().filter(|(k, _)| k.starts_with("m/")).collect();
    assert!(!private.is_empty(), "no private pages");
    for (k, v) in &site {
        if k.ends_with(".html") && !k.starts_with("m/") {
            let text = String::from_utf8_lossy(v);
            assert!(!text.contains("m/"), "{k} links to a private page");
        }
    }
    assert!(
        files(&tmp.path().join("archive"))
            .keys()
            .all(|k| !k.contains("/m/")),
        "private pages archived"
    );
    let tokens: BTreeSet<String> = private
        .keys()
        .map(|k| k.split('/').nth(1).unwrap().to_string())
        .collect();
    for t in &tokens {
        assert_eq!(t.len(), 32, "{t}");
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    // Which page is whose: the token of each manager name.
    let secret = b"voronka-demo-link-secret-not-for-production";
    let marts = &report.marts;
    let names: BTreeSet<&str> = marts.managers.iter().map(|r| r.manager.as_str()).collect();
    let mut checked = 0;
    for name in &names {
        let path = format!("m/{}/index.html", voronka_site::manager_token(secret, name));
        let Some(page) = site.get(&path) else {
            continue;
        };
        let page = String::from_utf8_lossy(page);
        let own: BTreeSet<String> = marts
            .managers
            .iter()
            .filter(|r| r.manager == *name)
            .flat_map(|r| [r.revenue, r.spend])
            .chain(
                marts
                    .manager_weeks
                    .iter()
                    .filter(|r| r.manager == *name)
                    .map(|r| r.revenue),
            )
            .map(voronka_site::format::rub)
            .collect();
        for r in marts.managers.iter().filter(|r| r.manager != *name) {
            let figure = voronka_site::format::rub(r.revenue);
            if r.revenue < rust_decimal::Decimal::from(1000) || own.contains(&figure) {
                continue;
            }
            assert!(
                !page.contains(&figure),
                "{path} ({name}) shows {}'s revenue {figure}",
                r.manager
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no figures compared");

    // Another secret: every token changes, the old pages are gone.
    let p = Pipeline {
        store: Arc::new(LocalStore::new(tmp.path().to_path_buf())),
        config: voronka::load_config(&tmp.path().join("voronka.toml")).unwrap(),
        driver: Driver::new(
            fast(),
            Arc::new(StaticSecrets(
                [(
                    "link_secret".to_string(),
                    "a-rotated-secret-0123456789".to_string(),
                )]
                .into(),
            )),
        ),
    };
    p.render(now(0)).await.unwrap();
    let rotated: BTreeSet<String> = files(&tmp.path().join("site"))
        .keys()
        .filter(|k| k.starts_with("m/"))
        .map(|k| k.split('/').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(rotated.len(), tokens.len());
    assert!(
        rotated.is_disjoint(&tokens),
        "a token survived the rotation"
    );
}

/// A red reconciliation check: render refuses ("not publishing") and
/// `site/` (with `version.json`, which drives the TV page's stale warning)
/// and `archive/` stay byte-identical. A render that fails for another
/// reason (the link secret) also leaves them untouched; a crash midway
/// through publishing leaves `version.json` — written last — unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_good_site_stays_published() {
    let tmp = tempfile::tempdir().unwrap();
    demo(tmp.path()).await;
    let site_before = files(&tmp.path().join("site"));
    let archive_before = files(&tmp.path().join("archive"));
    let config = voronka::load_config(&tmp.path().join("voronka.toml")).unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(tmp.path().to_path_buf()));
    let secret = |v: &str| {
        Arc::new(StaticSecrets(
            [("link_secret".to_string(), v.to_string())].into(),
        ))
    };
    let good = Pipeline {
        store: store.clone(),
        config: config.clone(),
        driver: Driver::new(
            fast(),
            secret("voronka-demo-link-secret-not-for-production"),
        ),
    };

    // Red reconciliation.
    let good_marts = store.get("marts/marts.json").await.unwrap().unwrap();
    let mut marts: Marts = serde_json::from_slice(&good_marts).unwrap();
    marts.checks.push(CheckResult {
        check: "reconciliation".into(),
        scope: "all".into(),
        status: CheckStatus::Red,
        detail: "выручка в витринах не сходится с платежами".into(),
    });
    store
        .put(
            "marts/marts.json",
            Bytes::from(serde_json::to_vec_pretty(&marts).unwrap()),
        )
        .await
        .unwrap();
    let err = good.render(now(3600)).await.unwrap_err().to_string();
    assert!(err.contains("not publishing"), "{err}");
    assert!(
        files(&tmp.path().join("site")) == site_before,
        "site/ changed"
    );
    assert!(
        files(&tmp.path().join("archive")) == archive_before,
        "archive/ changed"
    );
    store.put("marts/marts.json", good_marts).await.unwrap();

    // A link secret that cannot be used: nothing is written.
    let short = Pipeline {
        store: store.clone(),
        config: config.clone(),
        driver: Driver::new(fast(), secret("short")),
    };
    let err = short.render(now(3600)).await.unwrap_err().to_string();
    assert!(err.contains("link_secret"), "{err}");
    assert!(
        files(&tmp.path().join("site")) == site_before,
        "site/ changed"
    );

    // A crash midway through publishing: version.json is untouched.
    let flaky = Arc::new(Flaky::new());
    for (k, v) in files(tmp.path()) {
        if k.starts_with("marts/") || k.starts_with("site/") {
            flaky.inner.put(&k, Bytes::from(v)).await.unwrap();
        }
    }
    let crashing = Pipeline {
        store: flaky.clone(),
        config,
        driver: Driver::new(
            fast(),
            secret("voronka-demo-link-secret-not-for-production"),
        ),
    };
    flaky.crash_after("site/", 3);
    assert!(crashing.render(now(3600)).await.is_err());
    assert_eq!(
        flaky
            .get("site/version.json")
            .await
            .unwrap()
            .unwrap()
            .to_vec(),
        site_before["version.json"]
    );
    flaky.heal();
    crashing.render(now(3600)).await.unwrap();
    assert!(
        flaky
            .get("site/version.json")
            .await
            .unwrap()
            .unwrap()
            .to_vec()
            != site_before["version.json"]
    );
}

/// Names the first differing part of two marts (they are large).
fn assert_marts_eq(a: &Marts, b: &Marts, what: &str) {
    let (x, y) = (
        serde_json::to_value(a).unwrap(),
        serde_json::to_value(b).unwrap(),
    );
    for (k, v) in x.as_object().unwrap() {
        if y.get(k) != Some(v) {
            let (va, vb) = (v.to_string(), y[k].to_string());
            let at = va
                .bytes()
                .zip(vb.bytes())
                .take_while(|(p, q)| p == q)
                .count();
            let lo = at.saturating_sub(300);
            panic!(
                "{what}: marts.{k} differs at byte {at}: {} ... vs ... {}",
                va.get(lo..(at + 200).min(va.len())).unwrap_or(""),
                vb.get(lo..(at + 200).min(vb.len())).unwrap_or("")
            );
        }
    }
}
