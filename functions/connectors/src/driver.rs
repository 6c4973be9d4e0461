//! The generic request loop every connector runs under.
//!
//! For each [`Job`] of a connector's plan the driver sends the first
//! request, then follows the connector's [`Step`]s until `Done` or a
//! failure. It owns everything that is not vendor knowledge:
//!
//! - **credentials**: resolved by name from the account through a
//!   [`SecretSource`], added on the wire per [`AuthScheme`], and never
//!   written to `raw/` (query credentials are recorded as `***`, header
//!   credentials are not recorded at all, and any occurrence of a secret
//!   value in a recorded URL or body is replaced by `***`);
//! - **pacing**: one token bucket (plus the optional hard budget) per
//!   driver, connector and account;
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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use tokio::time::Instant;
use voronka_core::config::SecretRef;
use voronka_store::Store;

use crate::raw::{self, RawEnvelope, RawRequest};
use crate::{
    AuthScheme, Connector, FetchContext, FetchError, Job, RateLimit, Request, Response, Step,
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
    sent: VecDeque<Instant>,
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

    /// How long to wait before the next request may go, or None to go now
    /// (and then the request is accounted).
    fn try_acquire(&mut self) -> Option<Duration> {
        let now = self.now();
        let cap = f64::from(self.limit.burst.max(1));
        if self.limit.per_second > 0.0 {
            let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.limit.per_second).min(cap);
        } else {
            self.tokens = cap;
        }
        self.last = now;
        let mut wait = Duration::ZERO;
        if self.tokens < 1.0 {
            wait = Duration::from_secs_f64((1.0 - self.tokens) / self.limit.per_second);
        }
        if let Some((count, window)) = self.limit.budget {
            while self
                .sent
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= window)
            {
                self.sent.pop_front();
            }
            if count > 0 && self.sent.len() >= count as usize {
                let oldest = *self.sent.front().expect("non-empty");
                wait = wait.max((oldest + window).saturating_duration_since(now));
            }
        }
        if wait > Duration::ZERO {
            // Never a zero-length spin: round up to a millisecond.
            return Some(wait.max(Duration::from_millis(1)));
        }
        self.tokens -= 1.0;
        if self.limit.budget.is_some() {
            self.sent.push_back(now);
        }
        None
    }
}

type LimiterKey = (String, String);

/// The request loop. Build once, reuse for every connector of a run.
pub struct Driver {
    opts: DriverOptions,
    secrets: Arc<dyn SecretSource>,
    client: reqwest::Client,
    limiters: Mutex<HashMap<LimiterKey, Arc<tokio::sync::Mutex<Limiter>>>>,
    seqs: Mutex<HashMap<String, u64>>,
}

/// The credential of a job as it is applied on the wire.
struct Auth {
    scheme: AuthScheme,
    value: Option<String>,
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
        }
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
        let auth = self.resolve_auth(connector, ctx);
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
            let result = match &auth {
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
        let scheme = connector.auth();
        let credential = match &scheme {
            AuthScheme::None => None,
            AuthScheme::Bearer { credential }
            | AuthScheme::Header { credential, .. }
            | AuthScheme::Query { credential, .. } => Some(*credential),
        };
        let Some(name) = credential else {
            return Ok(Auth {
                scheme,
                value: None,
            });
        };
        let prefix = format!("{}/{}", connector.slug(), ctx.account.id);
        let Some(r) = ctx.account.credentials.get(name) else {
            return Err(format!(
                "{prefix}: credential `{name}` is missing: add `credentials.{name}` \
                 (env or secret) to account {:?} of source {}",
                ctx.account.id,
                connector.slug()
            ));
        };
        let value = self
            .secrets
            .resolve(name, r)
            .map_err(|e| format!("{prefix}: {e}"))?;
        Ok(Auth {
            scheme,
            value: Some(value),
        })
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

    async fn pace(&self, limiter: &tokio::sync::Mutex<Limiter>) {
        let mut l = limiter.lock().await;
        while let Some(wait) = l.try_acquire() {
            let skipped = self.sleep(wait).await;
            l.skew += skipped;
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
        auth: &Auth,
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
            let (wire, recorded) = build_urls(&request, auth).map_err(|e| {
                JobError(format!(
                    "{slug}/{account}: bad request URL {:?}: {e}",
                    redact(&request.url, auth)
                ))
            })?;
            let what = format!("{} {}", request.method, recorded);
            let fail = |reason: String| JobError(format!("{slug}/{account}: {what}: {reason}"));

            self.pace(limiter).await;
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
        match (&auth.scheme, &auth.value) {
            (AuthScheme::Bearer { .. }, Some(v)) => rb = rb.bearer_auth(v),
            (AuthScheme::Header { name, .. }, Some(v)) => rb = rb.header(*name, v),
            _ => {}
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
    let mut wire = url::Url::parse(&request.url).map_err(|e| e.to_string())?;
    let mut recorded = wire.clone();
    if !request.query.is_empty() {
        let mut w = wire.query_pairs_mut();
        let mut r = recorded.query_pairs_mut();
        for (k, v) in &request.query {
            w.append_pair(k, v);
            r.append_pair(k, v);
        }
    }
    if let (AuthScheme::Query { param, .. }, Some(value)) = (&auth.scheme, &auth.value) {
        wire.query_pairs_mut().append_pair(param, value);
        recorded.query_pairs_mut().append_pair(param, "***");
    }
    wire.set_fragment(None);
    Ok((wire, redact(recorded.as_str(), auth)))
}

/// Replaces the secret value (raw and percent-encoded) by `***`.
fn redact(text: &str, auth: &Auth) -> String {
    match &auth.value {
        Some(v) if !v.is_empty() => {
            let encoded: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
            let mut out = text.replace(v.as_str(), "***");
            if encoded != *v {
                out = out.replace(&encoded, "***");
            }
            out
        }
        _ => text.to_string(),
    }
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

    fn auth(scheme: AuthScheme, v: &str) -> Auth {
        Auth {
            scheme,
            value: Some(v.to_string()),
        }
    }

    #[test]
    fn query_credential_is_redacted_but_sent() {
        let a = auth(
            AuthScheme::Query {
                param: "key",
                credential: "key",
            },
            "s3cr3t/+",
        );
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
        let mut l = Limiter::new(RateLimit {
            per_second: 1000.0,
            burst: 10,
            budget: Some((2, Duration::from_secs(60))),
        });
        assert!(l.try_acquire().is_none());
        assert!(l.try_acquire().is_none());
        let wait = l.try_acquire().expect("budget exhausted");
        assert!(wait > Duration::from_secs(59), "{wait:?}");
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
