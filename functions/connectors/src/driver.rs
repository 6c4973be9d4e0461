//! The generic request loop every connector runs under.
//!
//! For each [`Job`] of a connector's plan the driver sends the first
//! request, then follows the connector's [`Step`]s until `Done` or a
//! failure. It owns everything that is not vendor knowledge:
//!
//! - **credentials**: resolved by name from the account through a
//!   [`SecretSource`] (scheme from [`Connector::auth_for`]), added on the
//!   wire per [`AuthScheme`] (several at once with [`AuthScheme::All`]),
//!   and never written to `raw/` (query and path credentials are recorded
//!   as `***`, header credentials are not recorded at all, and any
//!   occurrence of a secret value — credentials and OAuth2 tokens — in a
//!   recorded URL, body or error is replaced by `***`);
//! - **OAuth2** ([`AuthScheme::OAuth2`], see [`crate::auth`]): an access
//!   token is obtained before the first request of a run (a stored
//!   unexpired one is reused), renewed when it is about to expire, and on
//!   the first HTTP 401 of a run refreshed once and the request retried (a
//!   second 401 fails the job: re-authorize). Token-endpoint exchanges are
//!   never written to `raw/`; tokens live in the driver's [`TokenStore`]
//!   ([`Driver::with_token_store`], default: in memory);
//! - **pacing**: one token bucket per driver, connector and account, plus
//!   the optional hard budget, which is shared by every process through
//!   the store (see "Hard budgets" below);
//! - **retries**: transport errors, HTTP 429 and 5xx, and
//!   [`FetchError::Retryable`] are retried with deterministic exponential
//!   backoff, honouring `Retry-After` (seconds or HTTP date) and the
//!   connector's requested wait, up to [`DriverOptions::max_attempts`];
//! - **raw capture**: every response (204s, 429s, 5xx, polls included) is
//!   written to the store as a [`RawEnvelope`] *before* the connector reads
//!   it; only [`raw::KEPT_HEADERS`] are kept.
//!
//! Other 4xx responses are handed to the connector, which decides (an
//! amoCRM 401 is terminal, a vendor may encode a retryable error in a 400).
//!
//! A URL fragment (`#...`) in a connector's request is client-side state
//! (e.g. a running watermark across pages): it is never sent on the wire,
//! but it is kept in the request given back to the connector and in `raw/`.
//!
//! A failing job never stops the other jobs of the run.
//!
//! # Hard budgets
//!
//! A [`RateLimit::budget`] (`count` requests per `window`, e.g. GetCourse's
//! 100 per 2 hours) binds the vendor account, not one process: a scheduled
//! run, a manual `voronka ingest` and a retried Lambda invocation spend the
//! same budget. The driver therefore keeps the send times of the budgeted
//! requests in the store given to [`Driver::ingest`], at
//! [`budget_key`] = `state/budget/<slug>/<account>.json`:
//! `{"v":1,"source","account","count","window_ms","sent":[RFC 3339 UTC
//! instants, ascending, only those within the window]}`.
//!
//! Before every budgeted request (retries and polls included) the driver
//! re-reads that file, merges it with the instants it recorded itself,
//! drops those older than the window and, when a slot is free, **writes
//! the file with the new instant before sending** (a reservation): a crash
//! after the write wastes a slot, it never under-counts. A store error
//! while reading or writing the file fails the job without sending (an
//! unreadable file names its key; deleting it resets the budget, so only
//! do that when no request was made in the last window).
//!
//! When the budget is used up, the driver waits until enough instants
//! leave the window, unless that is longer than
//! [`DriverOptions::max_budget_wait`]: then the job fails at once with an
//! error naming the source, the account, the requests used in the window
//! and the time the next slot frees (retry after it). Later jobs of the
//! run fail the same way without sending anything.
//!
//! Concurrency is last-writer-wins (`put` after a re-read), with no lock:
//! two runs reserving at the same moment can each overwrite the other's
//! latest instant, so overlapping runs may exceed the budget by a few
//! requests (at most one per overlapping run per collision; a process
//! writes its own instants back with its next reservation). Runs that
//! follow each other are counted exactly. Instants are wall-clock times:
//! hosts sharing a store must keep their clocks in sync (NTP). With a
//! [`DriverOptions::wait_cap`] the instants are on the driver's virtual
//! clock and may lie in the future: sandboxes and tests only.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use tokio::time::Instant;
use voronka_core::config::SecretRef;
use voronka_store::Store;

use crate::auth::{
    FaultHook, FlowCredentials, HttpCfg, MemoryTokenStore, StoredToken, TokenProvider, TokenStore,
};
use crate::raw::{self, RawEnvelope, RawRequest};
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, OAuthFlow, RateLimit, Request, Response,
    Step,
};

/// Where credential values come from.
pub trait SecretSource: Send + Sync {
    /// The value of credential `name` (the key in the account's
    /// `credentials`) described by `r`. Errors say what is missing, never
    /// a value.
    fn resolve(&self, name: &str, r: &SecretRef) -> Result<String, String>;
}

/// Reads `env` references from the process environment.
///
/// A `secret` reference (AWS Secrets Manager) is not reachable from a
/// laptop; locally it may be mapped to an environment variable named
/// `VORONKA_SECRET_<NAME>` (the secret name upper-cased, every character
/// other than `A-Z0-9` replaced by `_`). Without that mapping it is a clear
/// error.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSecrets;

impl EnvSecrets {
    /// The environment variable that maps secret-store entry `secret` locally.
    pub fn local_mapping_var(secret: &str) -> String {
        let mut s = String::from("VORONKA_SECRET_");
        s.extend(secret.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        }));
        s
    }
}

impl SecretSource for EnvSecrets {
    fn resolve(&self, name: &str, r: &SecretRef) -> Result<String, String> {
        if let Some(var) = &r.env {
            return match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(v),
                Ok(_) => Err(format!(
                    "credential `{name}`: environment variable {var} is empty"
                )),
                Err(_) => Err(format!(
                    "credential `{name}`: environment variable {var} is not set"
                )),
            };
        }
        if let Some(secret) = &r.secret {
            let var = EnvSecrets::local_mapping_var(secret);
            return match std::env::var(&var) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => Err(format!(
                    "credential `{name}`: secret store not available locally (secret {secret:?}); \
                     set environment variable {var} or use `env = \"...\"` for this credential"
                )),
            };
        }
        Err(format!(
            "credential `{name}`: neither `env` nor `secret` is given"
        ))
    }
}

/// Fixed credential values by credential name (tests, sandbox).
#[derive(Debug, Clone, Default)]
pub struct StaticSecrets(pub BTreeMap<String, String>);

impl SecretSource for StaticSecrets {
    fn resolve(&self, name: &str, _r: &SecretRef) -> Result<String, String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("credential `{name}`: no static value given"))
    }
}

/// Knobs of the request loop.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverOptions {
    /// Attempts per request (the first try included) before the job fails.
    pub max_attempts: u32,
    /// First retry wait; doubles on each further attempt.
    pub base_backoff: Duration,
    /// Ceiling of the computed backoff (not of vendor-requested waits).
    pub max_backoff: Duration,
    /// Caps every sleep (backoff, `Retry-After`, polls, rate limiting).
    /// For sandboxes and tests against local mocks only: with a cap the
    /// rate limiter keeps its accounting on a virtual clock (shortened
    /// waits count as elapsed), so real request times may exceed the
    /// vendor's pace.
    pub wait_cap: Option<Duration>,
    /// Per-request timeout (connect + response).
    pub timeout: Duration,
    /// Sent on every request (cbr.ru rejects clients without a real one).
    pub user_agent: String,
    /// Safety net against a connector that never says `Done`.
    pub max_requests_per_job: u32,
    /// The longest wait for a hard-budget slot (see the module docs): a
    /// job whose next request would wait longer fails at once with a
    /// "retry after" error. Compared with the uncapped wait.
    pub max_budget_wait: Duration,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            max_attempts: 5,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            wait_cap: None,
            timeout: Duration::from_secs(60),
            user_agent: format!(
                "Mozilla/5.0 (compatible; voronka/{}; marketing analytics)",
                env!("CARGO_PKG_VERSION")
            ),
            max_requests_per_job: 10_000,
            max_budget_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// What one job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub entity: String,
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// HTTP responses received (retries included).
    pub requests: u32,
    /// Keys of the raw envelopes written, in order.
    pub raw_keys: Vec<String>,
    /// The watermark to save for the next incremental run (only on success).
    pub watermark: Option<String>,
    /// Why the job failed: names source, account, request and reason.
    pub error: Option<String>,
}

impl JobOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// What one `ingest` call did for one connector and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReport {
    pub slug: String,
    pub account: String,
    pub jobs: Vec<JobOutcome>,
}

impl IngestReport {
    /// Every job succeeded.
    pub fn ok(&self) -> bool {
        self.jobs.iter().all(JobOutcome::ok)
    }
    /// The failed jobs.
    pub fn failed(&self) -> Vec<&JobOutcome> {
        self.jobs.iter().filter(|j| j.failed()).collect()
    }
    /// Every raw key written, in order.
    pub fn raw_keys(&self) -> Vec<String> {
        self.jobs.iter().flat_map(|j| j.raw_keys.clone()).collect()
    }
}

/// Token bucket plus optional sliding-window budget, on a clock that can
/// be advanced virtually when waits are capped.
#[derive(Debug)]
struct Limiter {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
    /// Budgeted send times (wall clock plus `skew`, epoch milliseconds),
    /// ascending; merged with the store's record before every request.
    sent: VecDeque<i64>,
    /// Time added to the real clock by capped waits.
    skew: Duration,
}

impl Limiter {
    fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            tokens: f64::from(limit.burst.max(1)),
            last: Instant::now(),
            sent: VecDeque::new(),
            skew: Duration::ZERO,
        }
    }

    fn now(&self) -> Instant {
        Instant::now() + self.skew
    }

    /// The budget clock: UTC epoch milliseconds plus the virtual skew.
    fn wall_ms(&self) -> i64 {
        Utc::now().timestamp_millis() + millis(self.skew)
    }

    /// The hard budget, if any (a zero count means none).
    fn budget(&self) -> Option<(u32, Duration)> {
        self.limit.budget.filter(|(count, _)| *count > 0)
    }

    /// Refills the bucket; how long until a token is available, or None
    /// when one is.
    fn bucket_wait(&mut self) -> Option<Duration> {
        let now = self.now();
        let cap = f64::from(self.limit.burst.max(1));
        if self.limit.per_second > 0.0 {
            let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.limit.per_second).min(cap);
        } else {
            self.tokens = cap;
        }
        self.last = now;
        if self.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / self.limit.per_second);
            // Never a zero-length spin: round up to a millisecond.
            return Some(wait.max(Duration::from_millis(1)));
        }
        None
    }

    /// Merges instants recorded elsewhere (the store) into `sent`: an
    /// instant appearing n times in either list appears n times after.
    fn merge(&mut self, other: &[i64]) {
        let mut mine: Vec<i64> = self.sent.drain(..).collect();
        mine.sort_unstable();
        let mut theirs = other.to_vec();
        theirs.sort_unstable();
        let (mut i, mut j) = (0, 0);
        while i < mine.len() || j < theirs.len() {
            let next = match (mine.get(i), theirs.get(j)) {
                (Some(a), Some(b)) if a == b => {
                    j += 1;
                    i += 1;
                    *a
                }
                (Some(a), Some(b)) if a < b => {
                    i += 1;
                    *a
                }
                (Some(_), Some(b)) | (None, Some(b)) => {
                    j += 1;
                    *b
                }
                (Some(a), None) => {
                    i += 1;
                    *a
                }
                (None, None) => unreachable!("loop condition"),
            };
            self.sent.push_back(next);
        }
    }

    /// Drops the instants that left the window by `now_ms`.
    fn prune(&mut self, now_ms: i64, window: Duration) {
        let window = millis(window);
        self.sent.retain(|t| now_ms - *t < window);
    }

    /// How long until a budget slot frees at `now_ms` (after [`Self::prune`]),
    /// or None when one is free.
    fn budget_wait(&self, now_ms: i64, count: u32, window: Duration) -> Option<Duration> {
        let count = count as usize;
        if count == 0 || self.sent.len() < count {
            return None;
        }
        // Enough instants must leave for one slot: the (len - count + 1)-th oldest.
        let frees = self.sent[self.sent.len() - count] + millis(window);
        let wait = u64::try_from(frees - now_ms).unwrap_or(0).max(1);
        Some(Duration::from_millis(wait))
    }

    /// Accounts one request sent now (`now_ms` on the budget clock).
    fn take(&mut self, now_ms: i64) {
        self.tokens -= 1.0;
        if self.budget().is_some() {
            let at = self.sent.partition_point(|t| *t <= now_ms);
            self.sent.insert(at, now_ms);
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Where the hard budget of `slug`'s `account` is recorded in the store.
pub fn budget_key(slug: &str, account: &str) -> String {
    format!("state/budget/{slug}/{account}.json")
}

fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// The instants of a budget file (RFC 3339 strings or epoch milliseconds).
fn parse_budget(bytes: &[u8]) -> Result<Vec<i64>, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let list = v
        .get("sent")
        .and_then(serde_json::Value::as_array)
        .ok_or("no `sent` list")?;
    list.iter()
        .map(|t| match t {
            serde_json::Value::Number(n) => n.as_i64().ok_or(format!("bad instant {n}")),
            serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .map_err(|e| format!("bad instant {s:?}: {e}")),
            other => Err(format!("bad instant {other}")),
        })
        .collect()
}

fn budget_json(slug: &str, account: &str, count: u32, window: Duration, sent: &[i64]) -> String {
    serde_json::json!({
        "v": 1,
        "source": slug,
        "account": account,
        "count": count,
        "window_ms": millis(window),
        "sent": sent.iter().map(|t| rfc3339_ms(*t)).collect::<Vec<_>>(),
    })
    .to_string()
}

/// `2h`, `59m 59s`, `1.5s`, `300ms`.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    if secs < 60 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

type LimiterKey = (String, String);

/// The request loop. Build once, reuse for every connector of a run.
pub struct Driver {
    opts: DriverOptions,
    secrets: Arc<dyn SecretSource>,
    client: reqwest::Client,
    limiters: Mutex<HashMap<LimiterKey, Arc<tokio::sync::Mutex<Limiter>>>>,
    seqs: Mutex<HashMap<String, u64>>,
    tokens: Arc<dyn TokenStore>,
    fault: Option<FaultHook>,
}

/// One credential as it is applied on the wire.
#[derive(Debug, Clone)]
enum Part {
    Bearer(String),
    Header(&'static str, String),
    Query(&'static str, String),
    Path(&'static str, String),
}

/// The OAuth2 state of one ingest call.
struct OAuthState {
    provider: TokenProvider,
    token: Option<StoredToken>,
    /// The one refresh a 401 may trigger per run has happened.
    refreshed_on_401: bool,
    /// A token error that fails every later job of the run.
    dead: Option<String>,
}

/// The credentials of a run as they are applied on the wire.
#[derive(Default)]
struct Auth {
    parts: Vec<Part>,
    oauth: Option<OAuthState>,
    /// Every secret value, for redaction.
    secrets: Vec<String>,
}

impl Auth {
    fn add_secret(&mut self, v: &str) {
        if !v.is_empty() && !self.secrets.iter().any(|s| s == v) {
            self.secrets.push(v.to_string());
        }
    }
    fn set_token(&mut self, t: StoredToken) {
        self.add_secret(&t.access_token);
        if let Some(r) = &t.refresh_token {
            self.add_secret(r);
        }
        if let Some(o) = self.oauth.as_mut() {
            o.token = Some(t);
        }
    }
}

/// Why a job stopped early.
struct JobError(String);

impl Driver {
    pub fn new(opts: DriverOptions, secrets: Arc<dyn SecretSource>) -> Driver {
        let client = reqwest::Client::builder()
            .user_agent(opts.user_agent.clone())
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(30)))
            .build()
            .expect("HTTP client builds (TLS backend available)");
        Driver {
            opts,
            secrets,
            client,
            limiters: Mutex::new(HashMap::new()),
            seqs: Mutex::new(HashMap::new()),
            tokens: Arc::new(MemoryTokenStore::new()),
            fault: None,
        }
    }

    /// Where OAuth2 tokens persist between runs (default: in memory, so
    /// every process starts from the credentials). Use a
    /// [`crate::auth::FileTokenStore`] outside the data lake for real runs:
    /// rotating refresh tokens (amoCRM) need it.
    pub fn with_token_store(mut self, store: Arc<dyn TokenStore>) -> Driver {
        self.tokens = store;
        self
    }

    /// Crash injection for token refreshes (tests): see [`crate::auth::FaultPoint`].
    pub fn with_fault_hook(mut self, hook: FaultHook) -> Driver {
        self.fault = Some(hook);
        self
    }

    pub fn token_store(&self) -> &Arc<dyn TokenStore> {
        &self.tokens
    }

    /// The secret source credentials are resolved from (the site's link
    /// secret is read the same way).
    pub fn secrets(&self) -> &dyn SecretSource {
        self.secrets.as_ref()
    }

    pub fn options(&self) -> &DriverOptions {
        &self.opts
    }

    /// Runs every job of `connector`'s plan for `ctx.account`, writing
    /// each response to `raw/` in `store` before the connector reads it.
    pub async fn ingest(
        &self,
        store: &dyn Store,
        connector: &dyn Connector,
        ctx: &FetchContext<'_>,
        run_id: &str,
    ) -> IngestReport {
        let slug = connector.slug();
        let account = ctx.account.id.as_str();
        let mut report = IngestReport {
            slug: slug.to_string(),
            account: account.to_string(),
            jobs: Vec::new(),
        };
        if let Err(e) = connector.validate(ctx.account) {
            report.jobs.push(JobOutcome {
                entity: "config".to_string(),
                window: None,
                requests: 0,
                raw_keys: Vec::new(),
                watermark: None,
                error: Some(format!(
                    "{slug}/{account}: invalid account configuration: {e}"
                )),
            });
            return report;
        }
        let mut auth = self.resolve_auth(connector, ctx);
        if let Ok(a) = auth.as_mut()
            && let Some(o) = a.oauth.as_mut()
        {
            // The first token of the run, before the first request.
            match o.provider.obtain(None).await {
                Ok(t) => a.set_token(t),
                Err(e) => auth = Err(e),
            }
        }
        let limiter = self.limiter(slug, account, connector.rate_limit());
        for job in connector.plan(ctx) {
            let mut outcome = JobOutcome {
                entity: job.entity.clone(),
                window: job.window,
                requests: 0,
                raw_keys: Vec::new(),
                watermark: None,
                error: None,
            };
            let result = match &mut auth {
                Err(e) => Err(JobError(e.clone())),
                Ok(auth) => {
                    self.run_job(
                        store,
                        connector,
                        ctx,
                        run_id,
                        &job,
                        auth,
                        &limiter,
                        &mut outcome,
                    )
                    .await
                }
            };
            match result {
                Ok(watermark) => outcome.watermark = watermark,
                Err(JobError(e)) => {
                    tracing::warn!(source = slug, account, entity = %job.entity, "job failed: {e}");
                    outcome.error = Some(e);
                }
            }
            report.jobs.push(outcome);
        }
        report
    }

    fn resolve_auth(
        &self,
        connector: &dyn Connector,
        ctx: &FetchContext<'_>,
    ) -> Result<Auth, String> {
        let mut auth = Auth::default();
        let scheme = connector.auth_for(ctx.account);
        let schemes: Vec<AuthScheme> = match scheme {
            AuthScheme::All(list) => list.to_vec(),
            other => vec![other],
        };
        for scheme in schemes {
            self.resolve_one(connector, ctx, scheme, &mut auth)?;
        }
        Ok(auth)
    }

    fn resolve_one(
        &self,
        connector: &dyn Connector,
        ctx: &FetchContext<'_>,
        scheme: AuthScheme,
        auth: &mut Auth,
    ) -> Result<(), String> {
        let slug = connector.slug();
        let prefix = format!("{slug}/{}", ctx.account.id);
        let credential = |name: &str| -> Result<String, String> {
            let Some(r) = ctx.account.credentials.get(name) else {
                return Err(format!(
                    "{prefix}: credential `{name}` is missing: add `credentials.{name}` \
                     (env or secret) to account {:?} of source {slug}",
                    ctx.account.id,
                ));
            };
            self.secrets
                .resolve(name, r)
                .map_err(|e| format!("{prefix}: {e}"))
        };
        let part = match scheme {
            AuthScheme::None => return Ok(()),
            AuthScheme::Bearer { credential: c } => Part::Bearer(credential(c)?),
            AuthScheme::Header {
                name,
                credential: c,
            } => Part::Header(name, credential(c)?),
            AuthScheme::Query {
                param,
                credential: c,
            } => Part::Query(param, credential(c)?),
            AuthScheme::PathSegment {
                placeholder,
                credential: c,
            } => Part::Path(placeholder, credential(c)?),
            AuthScheme::All(_) => {
                return Err(format!("{prefix}: nested AuthScheme::All is not supported"));
            }
            AuthScheme::OAuth2(flow) => {
                if auth.oauth.is_some() {
                    return Err(format!("{prefix}: at most one OAuth2 scheme per connector"));
                }
                return self.resolve_oauth(slug, ctx, flow, auth);
            }
        };
        match &part {
            Part::Bearer(v) | Part::Header(_, v) | Part::Query(_, v) | Part::Path(_, v) => {
                auth.add_secret(v);
            }
        }
        auth.parts.push(part);
        Ok(())
    }

    fn resolve_oauth(
        &self,
        slug: &str,
        ctx: &FetchContext<'_>,
        flow: OAuthFlow,
        auth: &mut Auth,
    ) -> Result<(), String> {
        let creds = FlowCredentials::resolve(&flow, ctx.account, self.secrets.as_ref())
            .map_err(|e| format!("{slug}/{}: {e}", ctx.account.id))?;
        for s in creds.secrets() {
            auth.add_secret(&s);
        }
        auth.oauth = Some(OAuthState {
            provider: TokenProvider {
                slug: slug.to_string(),
                account: ctx.account.id.clone(),
                flow,
                token_url: crate::auth::token_url(&flow, ctx.account, &ctx.base_url),
                creds,
                store: self.tokens.clone(),
                fault: self.fault.clone(),
                http: HttpCfg {
                    client: self.client.clone(),
                    max_attempts: self.opts.max_attempts,
                    base_backoff: self.opts.base_backoff,
                    max_backoff: self.opts.max_backoff,
                    wait_cap: self.opts.wait_cap,
                },
            },
            token: None,
            refreshed_on_401: false,
            dead: None,
        });
        Ok(())
    }

    /// Renews the run's OAuth2 token when it is about to expire (long runs).
    async fn ensure_fresh_token(&self, auth: &mut Auth) -> Result<(), String> {
        let Some(o) = auth.oauth.as_mut() else {
            return Ok(());
        };
        if let Some(e) = &o.dead {
            return Err(e.clone());
        }
        if o.token.as_ref().is_some_and(|t| t.fresh_at(Utc::now())) {
            return Ok(());
        }
        match o.provider.obtain(None).await {
            Ok(t) => {
                auth.set_token(t);
                Ok(())
            }
            Err(e) => {
                o.dead = Some(e.clone());
                Err(e)
            }
        }
    }

    fn limiter(
        &self,
        slug: &str,
        account: &str,
        limit: RateLimit,
    ) -> Arc<tokio::sync::Mutex<Limiter>> {
        let mut map = self.limiters.lock().expect("limiter map lock");
        map.entry((slug.to_string(), account.to_string()))
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Limiter::new(limit))))
            .clone()
    }

    fn next_seq(&self, run_id: &str) -> u64 {
        let mut map = self.seqs.lock().expect("seq map lock");
        let n = map.entry(run_id.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    /// Sleeps `d`, shortened to the wait cap. Returns the part skipped.
    async fn sleep(&self, d: Duration) -> Duration {
        let real = match self.opts.wait_cap {
            Some(cap) => d.min(cap),
            None => d,
        };
        if real > Duration::ZERO {
            tokio::time::sleep(real).await;
        }
        d - real
    }

    /// Waits for the token bucket and the hard budget, then accounts the
    /// request; a budgeted request is recorded in the store before it is
    /// sent (see the module docs). Errors are complete job errors.
    async fn pace(
        &self,
        store: &dyn Store,
        slug: &str,
        account: &str,
        limiter: &tokio::sync::Mutex<Limiter>,
    ) -> Result<(), String> {
        let mut l = limiter.lock().await;
        loop {
            if let Some(wait) = l.bucket_wait() {
                let skipped = self.sleep(wait).await;
                l.skew += skipped;
                continue;
            }
            let Some((count, window)) = l.budget() else {
                let now = l.wall_ms();
                l.take(now);
                return Ok(());
            };
            let key = budget_key(slug, account);
            let stored = match store.get(&key).await {
                Ok(None) => Vec::new(),
                Ok(Some(bytes)) => parse_budget(&bytes).map_err(|e| {
                    format!(
                        "{slug}/{account}: the request budget record {key} is unreadable ({e}); \
                         nothing sent. Delete it only if no request was made in the last {}",
                        human(window)
                    )
                })?,
                Err(e) => {
                    return Err(format!(
                        "{slug}/{account}: could not read the request budget record {key}: {e}; \
                         nothing sent"
                    ));
                }
            };
            let now = l.wall_ms();
            l.merge(&stored);
            l.prune(now, window);
            if let Some(wait) = l.budget_wait(now, count, window) {
                let used = l.sent.len();
                let frees = rfc3339_ms(now + millis(wait));
                if wait > self.opts.max_budget_wait {
                    return Err(format!(
                        "{slug}/{account}: request budget exhausted: {used} of {count} requests \
                         per {} already used by this and other runs (recorded in {key}); the \
                         next slot frees at {frees}, in {}, longer than the maximum wait of {}: \
                         retry after {frees}",
                        human(window),
                        human(wait),
                        human(self.opts.max_budget_wait),
                    ));
                }
                tracing::info!(
                    source = slug,
                    account,
                    "request budget exhausted ({used} of {count} per {}); waiting {} until {frees}",
                    human(window),
                    human(wait),
                );
                let skipped = self.sleep(wait).await;
                l.skew += skipped;
                continue;
            }
            l.take(now);
            let sent: Vec<i64> = l.sent.iter().copied().collect();
            let body = budget_json(slug, account, count, window, &sent);
            if let Err(e) = store.put(&key, bytes::Bytes::from(body)).await {
                return Err(format!(
                    "{slug}/{account}: could not record the request in the budget record \
                     {key}: {e}; nothing sent"
                ));
            }
            return Ok(());
        }
    }

    /// Exponential backoff for the n-th failed attempt (1-based).
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.opts
            .base_backoff
            .saturating_mul(factor)
            .min(self.opts.max_backoff)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_job(
        &self,
        store: &dyn Store,
        connector: &dyn Connector,
        ctx: &FetchContext<'_>,
        run_id: &str,
        job: &Job,
        auth: &mut Auth,
        limiter: &tokio::sync::Mutex<Limiter>,
        outcome: &mut JobOutcome,
    ) -> Result<Option<String>, JobError> {
        let slug = connector.slug();
        let account = ctx.account.id.as_str();
        let mut request = connector.first_request(ctx, job);
        let mut attempt: u32 = 0;
        loop {
            if outcome.requests >= self.opts.max_requests_per_job {
                return Err(JobError(format!(
                    "{slug}/{account}: job {} stopped after {} requests (connector never finished)",
                    job.entity, outcome.requests
                )));
            }
            self.ensure_fresh_token(auth)
                .await
                .map_err(|e| JobError(redact(&e, auth)))?;
            let (wire, recorded) = build_urls(&request, auth).map_err(|e| {
                JobError(format!(
                    "{slug}/{account}: bad request URL {:?}: {e}",
                    redact(&request.url, auth)
                ))
            })?;
            let what = format!("{} {}", request.method, recorded);
            let fail = |reason: String| JobError(format!("{slug}/{account}: {what}: {reason}"));

            self.pace(store, slug, account, limiter)
                .await
                .map_err(JobError)?;
            attempt += 1;
            let sent = self.send(&request, wire, auth).await;
            let response = match sent {
                Err(e) => {
                    let reason = format!("transport error: {e}");
                    if attempt >= self.opts.max_attempts {
                        return Err(fail(format!("{reason} (gave up after {attempt} attempts)")));
                    }
                    tracing::debug!(source = slug, account, "{what}: {reason}; retrying");
                    self.sleep(self.backoff(attempt)).await;
                    continue;
                }
                Ok(r) => r,
            };
            outcome.requests += 1;

            // Raw capture comes first: nothing reads a response that is not stored.
            let envelope = self.envelope(
                connector.slug(),
                account,
                run_id,
                job,
                &request,
                &recorded,
                auth,
                &response,
            );
            let key = envelope.key();
            match store
                .put_if_absent(&key, bytes::Bytes::from(envelope.to_json()))
                .await
            {
                Ok(true) => outcome.raw_keys.push(key),
                Ok(false) => {
                    return Err(fail(format!(
                        "raw envelope {key} already exists (run id {run_id:?} reused?)"
                    )));
                }
                Err(e) => return Err(fail(format!("could not store the raw response: {e}"))),
            }

            let status = response.status;
            if status == 401
                && let Some(o) = auth.oauth.as_mut()
            {
                if o.refreshed_on_401 {
                    let e = format!(
                        "HTTP 401 again after refreshing the access token{}: re-authorize: \
                         account {account:?} of source {slug}",
                        body_hint(&response.body)
                    );
                    o.dead = Some(format!("{slug}/{account}: {e}"));
                    return Err(fail(redact(&e, auth)));
                }
                o.refreshed_on_401 = true;
                let rejected = o.token.as_ref().map(|t| t.version);
                match o.provider.obtain(rejected).await {
                    Ok(t) => auth.set_token(t),
                    Err(e) => {
                        o.dead = Some(e.clone());
                        return Err(fail(redact(&e, auth)));
                    }
                }
                tracing::debug!(
                    source = slug,
                    account,
                    "{what}: HTTP 401; token refreshed, retrying"
                );
                attempt -= 1;
                continue;
            }
            if status == 429 || status >= 500 {
                let reason = redact(&format!("HTTP {status}{}", body_hint(&response.body)), auth);
                if attempt >= self.opts.max_attempts {
                    return Err(fail(format!("{reason} (gave up after {attempt} attempts)")));
                }
                let wait = retry_after(&response).unwrap_or_else(|| self.backoff(attempt));
                tracing::debug!(
                    source = slug,
                    account,
                    "{what}: {reason}; retrying in {wait:?}"
                );
                self.sleep(wait).await;
                continue;
            }

            match connector.next_step(ctx, job, &request, &response) {
                Ok(Step::Next(next)) => {
                    request = next;
                    attempt = 0;
                }
                Ok(Step::Wait(d, next)) => {
                    self.sleep(d).await;
                    request = next;
                    attempt = 0;
                }
                Ok(Step::Done { watermark }) => return Ok(watermark),
                Err(FetchError::Retryable { reason, after, .. }) => {
                    let reason = redact(&reason, auth);
                    if attempt >= self.opts.max_attempts {
                        return Err(fail(format!("{reason} (gave up after {attempt} attempts)")));
                    }
                    let wait = after
                        .or_else(|| retry_after(&response))
                        .unwrap_or_else(|| self.backoff(attempt));
                    tracing::debug!(
                        source = slug,
                        account,
                        "{what}: {reason}; retrying in {wait:?}"
                    );
                    self.sleep(wait).await;
                }
                Err(FetchError::Terminal { reason, .. }) => {
                    return Err(fail(redact(&reason, auth)));
                }
            }
        }
    }

    async fn send(
        &self,
        request: &Request,
        wire: url::Url,
        auth: &Auth,
    ) -> Result<Response, String> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| format!("bad method {:?}: {e}", request.method))?;
        let mut rb = self.client.request(method, wire);
        for (k, v) in &request.headers {
            rb = rb.header(k, v);
        }
        for part in &auth.parts {
            match part {
                Part::Bearer(v) => rb = rb.bearer_auth(v),
                Part::Header(name, v) => rb = rb.header(*name, v),
                Part::Query(..) | Part::Path(..) => {}
            }
        }
        if let Some(t) = auth.oauth.as_ref().and_then(|o| o.token.as_ref()) {
            rb = rb.bearer_auth(&t.access_token);
        }
        if let Some(body) = &request.body {
            rb = rb.body(body.clone());
        }
        let resp = rb.send().await.map_err(|e| error_chain(&e, auth))?;
        let status = resp.status().as_u16();
        let mut headers = BTreeMap::new();
        for (k, v) in resp.headers() {
            headers
                .entry(k.as_str().to_ascii_lowercase())
                .or_insert_with(|| String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        let body = resp.bytes().await.map_err(|e| error_chain(&e, auth))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn envelope(
        &self,
        slug: &str,
        account: &str,
        run_id: &str,
        job: &Job,
        request: &Request,
        recorded_url: &str,
        auth: &Auth,
        response: &Response,
    ) -> RawEnvelope {
        let headers = response
            .headers
            .iter()
            .filter(|(k, _)| raw::KEPT_HEADERS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (body_encoding, body) = RawEnvelope::encode_body(&response.body);
        RawEnvelope {
            v: RawEnvelope::VERSION,
            source: slug.to_string(),
            account: account.to_string(),
            run: run_id.to_string(),
            seq: self.next_seq(run_id),
            entity: job.entity.clone(),
            window_from: job.window.map(|w| w.0),
            window_to: job.window.map(|w| w.1),
            meta: job.meta.clone(),
            request: RawRequest {
                method: request.method.clone(),
                url: recorded_url.to_string(),
                body: request.body.as_deref().map(|b| redact(b, auth)),
            },
            status: response.status,
            headers,
            received_at: Utc::now(),
            body_encoding,
            body,
        }
    }
}

/// The URL sent on the wire (with credentials, without fragment) and the
/// URL recorded in `raw/` (credentials as `***`, fragment kept).
fn build_urls(request: &Request, auth: &Auth) -> Result<(url::Url, String), String> {
    let mut wire_url = request.url.clone();
    let mut recorded_url = request.url.clone();
    for part in &auth.parts {
        if let Part::Path(placeholder, value) = part {
            if !request.url.contains(placeholder) {
                return Err(format!(
                    "the credential placeholder {placeholder} is missing from the URL"
                ));
            }
            wire_url = wire_url.replace(placeholder, &encode_path_segment(value));
            recorded_url = recorded_url.replace(placeholder, "***");
        }
    }
    let mut wire = url::Url::parse(&wire_url).map_err(|e| e.to_string())?;
    let mut recorded = url::Url::parse(&recorded_url).map_err(|e| e.to_string())?;
    if !request.query.is_empty() {
        let mut w = wire.query_pairs_mut();
        let mut r = recorded.query_pairs_mut();
        for (k, v) in &request.query {
            w.append_pair(k, v);
            r.append_pair(k, v);
        }
    }
    for part in &auth.parts {
        if let Part::Query(param, value) = part {
            wire.query_pairs_mut().append_pair(param, value);
            recorded.query_pairs_mut().append_pair(param, "***");
        }
    }
    wire.set_fragment(None);
    Ok((wire, redact(recorded.as_str(), auth)))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_path_segment(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Replaces every secret value (raw, form- and path-encoded) by `***`.
fn redact(text: &str, auth: &Auth) -> String {
    let mut out = text.to_string();
    for v in auth.secrets.iter().filter(|v| !v.is_empty()) {
        out = out.replace(v.as_str(), "***");
        let form: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
        if form != *v {
            out = out.replace(&form, "***");
        }
        let path = encode_path_segment(v);
        if path != *v {
            out = out.replace(&path, "***");
        }
    }
    out
}

fn error_chain(e: &dyn std::error::Error, auth: &Auth) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    redact(&s, auth)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    let v = response.header("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = at.with_timezone(&Utc) - Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// A short, single-line excerpt of an error body for messages.
fn body_hint(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return String::new();
    }
    let short: String = one_line.chars().take(200).collect();
    format!(": {short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(part: Part, v: &str) -> Auth {
        Auth {
            parts: vec![part],
            oauth: None,
            secrets: vec![v.to_string()],
        }
    }

    #[test]
    fn path_credential_is_encoded_on_the_wire_only() {
        let a = auth(Part::Path("{api_key}", "k/ey +1".into()), "k/ey +1");
        let req = Request::get("https://x.example/api/{api_key}/get_clients").query("offset", "0");
        let (wire, recorded) = build_urls(&req, &a).unwrap();
        assert_eq!(
            wire.as_str(),
            "https://x.example/api/k%2Fey%20%2B1/get_clients?offset=0"
        );
        assert_eq!(recorded, "https://x.example/api/***/get_clients?offset=0");
        assert_eq!(redact("GET k%2Fey%20%2B1 k/ey +1", &a), "GET *** ***");
        let bad = Request::get("https://x.example/api/get_clients");
        assert!(build_urls(&bad, &a).unwrap_err().contains("{api_key}"));
    }

    #[test]
    fn query_credential_is_redacted_but_sent() {
        let a = auth(Part::Query("key", "s3cr3t/+".into()), "s3cr3t/+");
        let req = Request::get("https://x.example/api?a=1#wm=5").query("b", "2 3");
        let (wire, recorded) = build_urls(&req, &a).unwrap();
        assert_eq!(
            wire.as_str(),
            "https://x.example/api?a=1&b=2+3&key=s3cr3t%2F%2B"
        );
        assert_eq!(recorded, "https://x.example/api?a=1&b=2+3&key=***#wm=5");
    }

    #[test]
    fn limiter_budget_waits_when_exhausted() {
        let window = Duration::from_secs(60);
        let mut l = Limiter::new(RateLimit {
            per_second: 1000.0,
            burst: 10,
            budget: Some((2, window)),
        });
        let now = 1_000_000;
        assert!(l.bucket_wait().is_none());
        assert!(l.budget_wait(now, 2, window).is_none());
        l.take(now);
        assert!(l.budget_wait(now, 2, window).is_none());
        l.take(now + 10);
        let wait = l
            .budget_wait(now + 10, 2, window)
            .expect("budget exhausted");
        assert_eq!(wait, Duration::from_millis(59_990));
        // The oldest leaves the window: a slot frees.
        l.prune(now + 60_000, window);
        assert_eq!(l.sent, [now + 10]);
        assert!(l.budget_wait(now + 60_000, 2, window).is_none());
    }

    #[test]
    fn limiter_merge_keeps_the_larger_multiplicity() {
        let mut l = Limiter::new(RateLimit {
            per_second: 1.0,
            burst: 1,
            budget: Some((10, Duration::from_secs(60))),
        });
        l.sent = [1, 5, 5, 9].into();
        l.merge(&[5, 3, 9, 9, 12]);
        assert_eq!(l.sent, [1, 3, 5, 5, 9, 9, 12]);
        // More recorded than the budget (a race): wait for enough to leave.
        l.prune(12, Duration::from_millis(100));
        assert_eq!(
            l.budget_wait(12, 5, Duration::from_millis(100)),
            Some(Duration::from_millis(5 + 100 - 12))
        );
    }

    #[test]
    fn budget_file_round_trips() {
        let text = budget_json(
            "getcourse",
            "main",
            100,
            Duration::from_secs(7200),
            &[1_764_000_000_123, 1_764_000_001_000],
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["sent"][0], "2025-11-24T16:00:00.123Z");
        assert_eq!(v["window_ms"], 7_200_000);
        assert_eq!(
            parse_budget(text.as_bytes()).unwrap(),
            vec![1_764_000_000_123, 1_764_000_001_000]
        );
        assert_eq!(
            parse_budget(br#"{"sent":[5, "1970-01-01T00:00:01Z"]}"#).unwrap(),
            vec![5, 1000]
        );
        assert!(parse_budget(b"[]").is_err());
        assert_eq!(human(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_secs(3599)), "59m 59s");
        assert_eq!(human(Duration::from_millis(300)), "300ms");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let d = Driver::new(
            DriverOptions {
                base_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(5),
                ..DriverOptions::default()
            },
            Arc::new(StaticSecrets::default()),
        );
        let got: Vec<u64> = (1..=5).map(|a| d.backoff(a).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 5, 5]);
    }

    #[test]
    fn retry_after_seconds() {
        let r = Response {
            status: 429,
            headers: [("retry-after".to_string(), "7".to_string())].into(),
            body: bytes::Bytes::new(),
        };
        assert_eq!(retry_after(&r), Some(Duration::from_secs(7)));
    }
}
