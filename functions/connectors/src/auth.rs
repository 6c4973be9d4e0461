//! OAuth2 access tokens for the driver: token providers per [`OAuthFlow`],
//! the [`TokenStore`] that keeps tokens between runs, and crash-safe
//! refresh-token rotation (sources.md, rule 8).
//!
//! # Where tokens live
//!
//! Never in the data lake: the token endpoint's exchange is **not written
//! to `raw/` at all** (no envelope, not even a redacted one: it carries no
//! data, only secrets). Tokens live in a [`TokenStore`]:
//! [`FileTokenStore`] (a folder outside the lake, e.g.
//! `<config dir>/.voronka-tokens/`, files mode 0600) or
//! [`MemoryTokenStore`] (tests; tokens die with the process).
//!
//! # Initial tokens
//!
//! For [`OAuthFlow::RefreshRotating`] (amoCRM) the first refresh token comes
//! from the credential `refresh_token` while the store holds nothing for
//! the account. After the first rotation **the store is authoritative**:
//! the credential's value is then stale by design (amoCRM has killed it).
//! The store remembers a SHA-256 fingerprint of the credential it started
//! from; when the operator re-authorizes and puts a *different* refresh
//! token into the credential, the chain restarts from it.
//! [`OAuthFlow::RefreshStatic`] always reads the (non-rotating) refresh token
//! from the credential; [`OAuthFlow::ClientCredentials`] and
//! [`OAuthFlow::JwtBearer`] need none.
//!
//! # One refresh at a time, crash-safe
//!
//! A refresh runs under two locks per (slug, account): an in-process async
//! mutex (shared by every driver of the process) and the store's lock
//! ([`TokenStore::try_lock`]; a `create_new` lock file for
//! [`FileTokenStore`], broken after a stale timeout when its holder died).
//! Under them the provider re-reads the store (another run may have
//! refreshed meanwhile: then no token-endpoint call is made) and otherwise:
//!
//! 1. writes the journal entry "refreshing from version N";
//! 2. calls the token endpoint; as soon as the response body is read it is
//!    written to the journal (temp + fsync + rename) *before* it is parsed
//!    or used ([`FaultPoint::AfterTokenResponse`] is right after this
//!    write);
//! 3. parses it and journals the token to commit
//!    ([`FaultPoint::AfterJournalWrite`]);
//! 4. commits it with compare-and-swap version N → N+1
//!    ([`FaultPoint::AfterCommit`]), clears the journal, and only then is
//!    the access token used.
//!
//! Before every refresh (and whenever a journal exists) the journal is
//! recovered: a response or token journaled from the current version is
//! parsed and committed, so a process killed anywhere after step 2's write
//! loses nothing and never re-sends a refresh token the vendor has already
//! rotated. A journal from an older version (already committed) is dropped.
//!
//! **The one unavoidable window**: between the vendor rotating the token
//! (while answering) and the fsync of the journaled body — i.e. while the
//! response is on the wire or being read from the socket. A crash there
//! loses the new pair; the journal then holds only "refreshing from N", the
//! next run retries with the old refresh token, and a rotating vendor
//! answers 4xx: the job fails with "re-authorize: …" naming the account.
//!
//! Token-endpoint 4xx (and OAuth error bodies) mean "needs re-auth" and
//! are never retried; 429, 5xx and transport errors are retried with the
//! driver's backoff.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use voronka_core::config::AccountConfig;

use crate::OAuthFlow;
use crate::driver::SecretSource;

/// A token as kept in a [`TokenStore`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Bumped by one on every commit; 0 means "nothing stored".
    pub version: u64,
    /// SHA-256 (hex) of the credential `refresh_token` this chain started
    /// from (rotating flows): a different credential value restarts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_sha256: Option<String>,
}

impl StoredToken {
    /// Usable at `now` (with a minute of margin); no expiry = until a 401.
    pub fn fresh_at(&self, now: DateTime<Utc>) -> bool {
        !self.access_token.is_empty()
            && self
                .expires_at
                .is_none_or(|e| e - chrono::Duration::seconds(60) > now)
    }
}

/// What a refresh in progress has durably reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JournalState {
    /// About to call the token endpoint (no answer saved yet).
    Refreshing,
    /// The token endpoint's answer, exactly as read, not yet parsed.
    Received {
        received_at: DateTime<Utc>,
        status: u16,
        body: String,
    },
    /// The parsed token, ready to commit as `from_version + 1`.
    Parsed { token: StoredToken },
}

/// The crash-safety journal of one (slug, account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The store version the refresh started from.
    pub from_version: u64,
    pub started_at: DateTime<Utc>,
    #[serde(flatten)]
    pub state: JournalState,
}

/// Held while refreshing; released on drop.
pub struct StoreLock {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl StoreLock {
    pub fn new(release: impl FnOnce() + Send + 'static) -> StoreLock {
        StoreLock {
            release: Some(Box::new(release)),
        }
    }
    /// Leaves the lock held, as a killed process would (fault injection).
    pub fn abandon(mut self) {
        self.release = None;
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        if let Some(f) = self.release.take() {
            f();
        }
    }
}

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreLock")
    }
}

/// Where OAuth2 tokens persist between runs. Errors never contain secrets.
pub trait TokenStore: Send + Sync {
    fn load(&self, slug: &str, account: &str) -> Result<Option<StoredToken>, String>;
    /// Compare-and-swap: stores `token` only if the current version is
    /// `expected_version` (0 = nothing stored); `false` = someone else
    /// saved first. Atomic within a process; across processes when called
    /// under [`TokenStore::try_lock`] (the provider always does).
    fn save(
        &self,
        slug: &str,
        account: &str,
        expected_version: u64,
        token: &StoredToken,
    ) -> Result<bool, String>;
    fn read_journal(&self, slug: &str, account: &str) -> Result<Option<JournalEntry>, String>;
    /// Durable (fsynced) before it returns.
    fn write_journal(&self, slug: &str, account: &str, entry: &JournalEntry) -> Result<(), String>;
    fn clear_journal(&self, slug: &str, account: &str) -> Result<(), String>;
    /// The cross-process refresh lock; `None` = held by someone else.
    fn try_lock(&self, slug: &str, account: &str) -> Result<Option<StoreLock>, String>;
    /// How long a caller may wait for [`TokenStore::try_lock`].
    fn lock_wait(&self) -> Duration {
        Duration::from_secs(300)
    }
}

/// In-memory tokens (tests; a process without a writable folder).
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    inner: Arc<Mutex<HashMap<(String, String), MemEntry>>>,
}

#[derive(Debug, Default, Clone)]
struct MemEntry {
    token: Option<StoredToken>,
    journal: Option<JournalEntry>,
    locked: bool,
}

impl MemoryTokenStore {
    pub fn new() -> MemoryTokenStore {
        MemoryTokenStore::default()
    }
    fn with<R>(&self, slug: &str, account: &str, f: impl FnOnce(&mut MemEntry) -> R) -> R {
        let mut map = self.inner.lock().expect("token store lock");
        f(map
            .entry((slug.to_string(), account.to_string()))
            .or_default())
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self, slug: &str, account: &str) -> Result<Option<StoredToken>, String> {
        Ok(self.with(slug, account, |e| e.token.clone()))
    }
    fn save(
        &self,
        slug: &str,
        account: &str,
        expected_version: u64,
        token: &StoredToken,
    ) -> Result<bool, String> {
        Ok(self.with(slug, account, |e| {
            if e.token.as_ref().map_or(0, |t| t.version) != expected_version {
                return false;
            }
            e.token = Some(token.clone());
            true
        }))
    }
    fn read_journal(&self, slug: &str, account: &str) -> Result<Option<JournalEntry>, String> {
        Ok(self.with(slug, account, |e| e.journal.clone()))
    }
    fn write_journal(&self, slug: &str, account: &str, entry: &JournalEntry) -> Result<(), String> {
        self.with(slug, account, |e| e.journal = Some(entry.clone()));
        Ok(())
    }
    fn clear_journal(&self, slug: &str, account: &str) -> Result<(), String> {
        self.with(slug, account, |e| e.journal = None);
        Ok(())
    }
    fn try_lock(&self, slug: &str, account: &str) -> Result<Option<StoreLock>, String> {
        let got = self.with(slug, account, |e| !std::mem::replace(&mut e.locked, true));
        if !got {
            return Ok(None);
        }
        let inner = self.inner.clone();
        let key = (slug.to_string(), account.to_string());
        Ok(Some(StoreLock::new(move || {
            if let Some(e) = inner.lock().expect("token store lock").get_mut(&key) {
                e.locked = false;
            }
        })))
    }
}

/// Tokens as files: `<dir>/<slug>/<account>.token.json`, the journal
/// `<account>.journal.json` and the lock `<account>.lock`. Files are
/// written temp + fsync + rename (+ fsync of the folder), mode 0600, the
/// folders 0700 (unix). Keep `dir` outside the data lake.
#[derive(Debug)]
pub struct FileTokenStore {
    dir: PathBuf,
    stale_lock_after: Duration,
    cas: Mutex<()>,
}

impl FileTokenStore {
    /// The conventional folder next to a config file: `<config dir>/.voronka-tokens`.
    pub fn beside_config(config_path: &Path) -> FileTokenStore {
        let dir = config_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        FileTokenStore::new(dir.join(".voronka-tokens"))
    }

    pub fn new(dir: impl Into<PathBuf>) -> FileTokenStore {
        FileTokenStore {
            dir: dir.into(),
            stale_lock_after: Duration::from_secs(180),
            cas: Mutex::new(()),
        }
    }

    /// A lock file older than this is taken to belong to a dead process
    /// (default 180 s, longer than a token request with its retries).
    pub fn with_stale_lock_after(mut self, d: Duration) -> FileTokenStore {
        self.stale_lock_after = d;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, slug: &str, account: &str, suffix: &str) -> PathBuf {
        self.dir
            .join(file_safe(slug))
            .join(format!("{}.{suffix}", file_safe(account)))
    }

    fn ensure_dir(&self, slug: &str) -> Result<PathBuf, String> {
        let d = self.dir.join(file_safe(slug));
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&d)
            .map_err(|e| format!("token store {}: {e}", d.display()))?;
        Ok(d)
    }

    fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("token store {}: unreadable: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("token store {}: {e}", path.display())),
        }
    }

    fn write_atomic(&self, slug: &str, path: &Path, bytes: &[u8]) -> Result<(), String> {
        use std::io::Write;
        let dir = self.ensure_dir(slug)?;
        let tmp = path.with_extension(format!(
            "tmp.{}.{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let err = |e: std::io::Error| format!("token store {}: {e}", path.display());
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e)
        })?;
        sync_dir(&dir);
        Ok(())
    }
}

/// fsync of a folder so a rename or removal is durable (unix; no-op elsewhere).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// A file-name-safe form of an id (ids are `[a-z0-9_-]` already).
fn file_safe(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

impl TokenStore for FileTokenStore {
    fn load(&self, slug: &str, account: &str) -> Result<Option<StoredToken>, String> {
        FileTokenStore::read_json(&self.path(slug, account, "token.json"))
    }

    fn save(
        &self,
        slug: &str,
        account: &str,
        expected_version: u64,
        token: &StoredToken,
    ) -> Result<bool, String> {
        let _g = self.cas.lock().expect("token store CAS lock");
        let current = self.load(slug, account)?.map_or(0, |t| t.version);
        if current != expected_version {
            return Ok(false);
        }
        let bytes = serde_json::to_vec_pretty(token).expect("token serializes");
        self.write_atomic(slug, &self.path(slug, account, "token.json"), &bytes)?;
        Ok(true)
    }

    fn read_journal(&self, slug: &str, account: &str) -> Result<Option<JournalEntry>, String> {
        FileTokenStore::read_json(&self.path(slug, account, "journal.json"))
    }

    fn write_journal(&self, slug: &str, account: &str, entry: &JournalEntry) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(entry).expect("journal serializes");
        self.write_atomic(slug, &self.path(slug, account, "journal.json"), &bytes)
    }

    fn clear_journal(&self, slug: &str, account: &str) -> Result<(), String> {
        let path = self.path(slug, account, "journal.json");
        match std::fs::remove_file(&path) {
            Ok(()) => {
                if let Some(d) = path.parent() {
                    sync_dir(d);
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("token store {}: {e}", path.display())),
        }
    }

    /// `create_new` on `<account>.lock`; a lock file older than the stale
    /// timeout is removed and taken over. (Two processes breaking the same
    /// stale lock at the same instant could both win; the CAS on save
    /// still keeps the store consistent.)
    fn try_lock(&self, slug: &str, account: &str) -> Result<Option<StoreLock>, String> {
        use std::io::Write;
        self.ensure_dir(slug)?;
        let path = self.path(slug, account, "lock");
        for _ in 0..2 {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(&path) {
                Ok(mut f) => {
                    let _ = writeln!(f, "pid {} at {}", std::process::id(), Utc::now());
                    let _ = f.sync_all();
                    let p = path.clone();
                    return Ok(Some(StoreLock::new(move || {
                        let _ = std::fs::remove_file(&p);
                    })));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    match age {
                        Some(age) if age >= self.stale_lock_after => {
                            tracing::warn!(
                                "token store: breaking stale lock {} ({age:?} old)",
                                path.display()
                            );
                            let _ = std::fs::remove_file(&path);
                        }
                        _ => return Ok(None),
                    }
                }
                Err(e) => return Err(format!("token store {}: {e}", path.display())),
            }
        }
        Ok(None)
    }

    fn lock_wait(&self) -> Duration {
        self.stale_lock_after * 2 + Duration::from_secs(5)
    }
}

/// Where a refresh can be made to "crash" (tests): the hook returning
/// `true` at a point makes the refresh stop right there with an error, as
/// if the process had died: no further writes, the store lock left held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultPoint {
    /// The token endpoint's body has been read and journaled; not parsed.
    AfterTokenResponse,
    /// The parsed token has been journaled; not committed.
    AfterJournalWrite,
    /// The token has been committed; the journal not yet cleared.
    AfterCommit,
}

/// A fault-injection hook (see [`FaultPoint`]).
pub type FaultHook = Arc<dyn Fn(FaultPoint) -> bool + Send + Sync>;

/// Credential values a flow needs (resolved once per run).
#[derive(Clone, Default)]
pub(crate) struct FlowCredentials {
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
    service_account: Option<String>,
}

impl FlowCredentials {
    /// Every secret value, for redaction.
    pub(crate) fn secrets(&self) -> Vec<String> {
        [
            &self.client_secret,
            &self.refresh_token,
            &self.service_account,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }

    /// Reads what `flow` needs from the account: secrets from credentials,
    /// `client_id` and `redirect_uri` from credentials or options.
    pub(crate) fn resolve(
        flow: &OAuthFlow,
        account: &AccountConfig,
        secrets: &dyn SecretSource,
    ) -> Result<FlowCredentials, String> {
        let cred = |name: &str, required: bool| -> Result<Option<String>, String> {
            match account.credentials.get(name) {
                Some(r) => secrets.resolve(name, r).map(Some),
                None if required => Err(format!(
                    "credential `{name}` is missing: add `credentials.{name}` (env or secret)"
                )),
                None => Ok(None),
            }
        };
        let public = |name: &str, required: bool| -> Result<Option<String>, String> {
            if account.credentials.contains_key(name) {
                return cred(name, required);
            }
            let v = account.options.get(name).and_then(|v| {
                v.as_str()
                    .map(|s| s.trim().to_string())
                    .or_else(|| v.as_integer().map(|i| i.to_string()))
            });
            match v {
                Some(v) if !v.is_empty() => Ok(Some(v)),
                _ if required => Err(format!(
                    "`{name}` is missing: add `credentials.{name}` or option `{name}`"
                )),
                _ => Ok(None),
            }
        };
        let mut c = FlowCredentials::default();
        match flow {
            OAuthFlow::RefreshRotating { .. } => {
                c.client_id = public("client_id", true)?;
                c.client_secret = cred("client_secret", true)?;
                c.redirect_uri = public("redirect_uri", true)?;
                c.refresh_token = cred("refresh_token", false)?;
            }
            OAuthFlow::RefreshStatic { .. } => {
                c.client_id = public("client_id", true)?;
                c.client_secret = cred("client_secret", true)?;
                c.refresh_token = cred("refresh_token", true)?;
            }
            OAuthFlow::ClientCredentials { .. } => {
                c.client_id = public("client_id", true)?;
                c.client_secret = cred("client_secret", true)?;
            }
            OAuthFlow::JwtBearer { .. } => {
                c.service_account = cred("service_account", true)?;
            }
        }
        Ok(c)
    }
}

/// HTTP knobs the provider borrows from the driver.
#[derive(Clone)]
pub(crate) struct HttpCfg {
    pub client: reqwest::Client,
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub wait_cap: Option<Duration>,
}

impl HttpCfg {
    async fn sleep(&self, d: Duration) {
        let d = self.wait_cap.map_or(d, |c| d.min(c));
        if d > Duration::ZERO {
            tokio::time::sleep(d).await;
        }
    }
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

type LockKey = (String, String);

/// One async mutex per (slug, account) for the whole process.
static REFRESH_LOCKS: LazyLock<Mutex<HashMap<LockKey, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn process_lock(slug: &str, account: &str) -> Arc<tokio::sync::Mutex<()>> {
    REFRESH_LOCKS
        .lock()
        .expect("refresh lock map")
        .entry((slug.to_string(), account.to_string()))
        .or_default()
        .clone()
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Obtains access tokens for one (connector, account) per its flow.
pub(crate) struct TokenProvider {
    pub slug: String,
    pub account: String,
    pub flow: OAuthFlow,
    pub token_url: String,
    pub creds: FlowCredentials,
    pub store: Arc<dyn TokenStore>,
    pub fault: Option<FaultHook>,
    pub http: HttpCfg,
}

/// The token endpoint's URL for `flow` (option `token_url` overrides).
pub(crate) fn token_url(flow: &OAuthFlow, account: &AccountConfig, base_url: &str) -> String {
    if let Some(u) = account.options.get("token_url").and_then(|v| v.as_str()) {
        return u.trim().to_string();
    }
    match flow {
        OAuthFlow::RefreshRotating { token_url_path }
        | OAuthFlow::ClientCredentials { token_url_path } => {
            format!("{}{token_url_path}", base_url.trim_end_matches('/'))
        }
        OAuthFlow::RefreshStatic { token_url } | OAuthFlow::JwtBearer { token_url } => {
            token_url.to_string()
        }
    }
}

impl TokenProvider {
    fn who(&self) -> String {
        format!("{}/{}", self.slug, self.account)
    }

    fn reauth(&self, what: &str) -> String {
        let hint = match self.flow {
            OAuthFlow::RefreshRotating { .. } => {
                "authorize the integration again and put the new refresh token into \
                 credentials.refresh_token (a changed value restarts the stored chain)"
            }
            OAuthFlow::RefreshStatic { .. } => {
                "authorize again and update credentials.refresh_token / client_id / client_secret"
            }
            OAuthFlow::ClientCredentials { .. } => {
                "check client_id/client_secret; at most 5 tokens may live per client and user \
                 (POST /api/v2/oauth2/token/delete.json removes them)"
            }
            OAuthFlow::JwtBearer { .. } => {
                "check credentials.service_account (key deleted? clock skew?)"
            }
        };
        format!(
            "re-authorize: account {:?} of source {}: {what}; {hint}",
            self.account, self.slug
        )
    }

    /// The seed fingerprint a rotating chain must carry, if any.
    fn seed(&self) -> Option<String> {
        match self.flow {
            OAuthFlow::RefreshRotating { .. } => {
                self.creds.refresh_token.as_deref().map(sha256_hex)
            }
            _ => None,
        }
    }

    /// Whether `t` belongs to the current chain (not superseded by a new
    /// credential refresh token).
    fn chain_ok(&self, t: &StoredToken) -> bool {
        match (self.seed(), &t.seed_sha256) {
            (Some(seed), Some(have)) => seed == *have,
            (Some(_), None) => true,
            (None, _) => true,
        }
    }

    /// A usable access token: a stored fresh one, else a refreshed one.
    /// `rejected` = the version the API just refused (401): a stored
    /// token of that version is not reused.
    pub async fn obtain(&self, rejected: Option<u64>) -> Result<StoredToken, String> {
        let now = Utc::now();
        let usable =
            |t: &StoredToken| t.fresh_at(now) && Some(t.version) != rejected && self.chain_ok(t);
        // Fast path: no refresh in flight and a fresh token stored.
        if self
            .store
            .read_journal(&self.slug, &self.account)
            .map_err(|e| format!("{}: {e}", self.who()))?
            .is_none()
            && let Some(t) = self
                .store
                .load(&self.slug, &self.account)
                .map_err(|e| format!("{}: {e}", self.who()))?
            && usable(&t)
        {
            return Ok(t);
        }
        let plock = process_lock(&self.slug, &self.account);
        let _in_process = plock.lock().await;
        let slock = self.store_lock().await?;
        match self.obtain_locked(rejected).await {
            Err(Crash(msg)) => {
                slock.abandon();
                Err(msg)
            }
            Ok(r) => r,
        }
    }

    async fn store_lock(&self) -> Result<StoreLock, String> {
        let deadline = tokio::time::Instant::now() + self.store.lock_wait();
        loop {
            if let Some(l) = self
                .store
                .try_lock(&self.slug, &self.account)
                .map_err(|e| format!("{}: {e}", self.who()))?
            {
                return Ok(l);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "{}: another process holds the token refresh lock; try again later",
                    self.who()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn fault(&self, p: FaultPoint) -> Result<(), Crash> {
        if self.fault.as_ref().is_some_and(|f| f(p)) {
            return Err(Crash(format!(
                "{}: fault injected at {p:?} (simulated crash)",
                self.who()
            )));
        }
        Ok(())
    }

    fn store_err(&self, e: String) -> String {
        format!("{}: token store: {e}", self.who())
    }

    /// Commits a journaled answer left by a crashed refresh.
    fn recover(&self) -> Result<(), String> {
        let Some(entry) = self
            .store
            .read_journal(&self.slug, &self.account)
            .map_err(|e| self.store_err(e))?
        else {
            return Ok(());
        };
        let current = self
            .store
            .load(&self.slug, &self.account)
            .map_err(|e| self.store_err(e))?;
        let version = current.as_ref().map_or(0, |t| t.version);
        if entry.from_version == version {
            let token = match &entry.state {
                JournalState::Refreshing => None,
                JournalState::Received {
                    received_at,
                    status,
                    body,
                } if (200..300).contains(status) => self
                    .parse(body.as_bytes(), *received_at, current.as_ref())
                    .ok(),
                JournalState::Received { .. } => None,
                JournalState::Parsed { token } => Some(token.clone()),
            };
            if let Some(mut token) = token {
                token.version = version + 1;
                let saved = self
                    .store
                    .save(&self.slug, &self.account, version, &token)
                    .map_err(|e| self.store_err(e))?;
                if saved {
                    tracing::info!(
                        source = %self.slug,
                        account = %self.account,
                        "recovered a token journaled by an interrupted refresh (version {})",
                        token.version
                    );
                }
            } else if matches!(entry.state, JournalState::Refreshing) {
                tracing::warn!(
                    source = %self.slug,
                    account = %self.account,
                    "an interrupted refresh left no answer; retrying with the stored refresh token"
                );
            }
        }
        self.store
            .clear_journal(&self.slug, &self.account)
            .map_err(|e| self.store_err(e))
    }

    async fn obtain_locked(
        &self,
        rejected: Option<u64>,
    ) -> Result<Result<StoredToken, String>, Crash> {
        if let Err(e) = self.recover() {
            return Ok(Err(e));
        }
        let current = match self.store.load(&self.slug, &self.account) {
            Ok(c) => c,
            Err(e) => return Ok(Err(self.store_err(e))),
        };
        let now = Utc::now();
        if let Some(t) = &current
            && t.fresh_at(now)
            && Some(t.version) != rejected
            && self.chain_ok(t)
        {
            return Ok(Ok(t.clone()));
        }
        self.refresh(current).await
    }

    /// Steps 1–4 of the module docs.
    async fn refresh(
        &self,
        current: Option<StoredToken>,
    ) -> Result<Result<StoredToken, String>, Crash> {
        let version = current.as_ref().map_or(0, |t| t.version);
        let chain = current.as_ref().filter(|t| self.chain_ok(t));
        let body = match self.request_body(chain) {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let started_at = Utc::now();
        let journal = |state: JournalState| JournalEntry {
            from_version: version,
            started_at,
            state,
        };
        if let Err(e) = self.store.write_journal(
            &self.slug,
            &self.account,
            &journal(JournalState::Refreshing),
        ) {
            return Ok(Err(self.store_err(e)));
        }
        let mut attempt = 0u32;
        let (status, bytes, received_at) = loop {
            attempt += 1;
            let (content_type, payload) = &body;
            let sent = self
                .http
                .client
                .post(&self.token_url)
                .header("Content-Type", *content_type)
                .header("Accept", "application/json")
                .body(payload.clone())
                .send()
                .await;
            let got = match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    resp.bytes().await.map(|b| (status, b))
                }
                Err(e) => Err(e),
            };
            let (status, bytes) = match got {
                Ok(x) => x,
                Err(e) => {
                    let reason = self.redact(&format!("token endpoint: transport error: {e}"));
                    if attempt >= self.http.max_attempts {
                        let _ = self.store.clear_journal(&self.slug, &self.account);
                        return Ok(Err(format!(
                            "{}: {reason} (gave up after {attempt} attempts)",
                            self.who()
                        )));
                    }
                    self.http.sleep(self.http.backoff(attempt)).await;
                    continue;
                }
            };
            let received_at = Utc::now();
            // Durable before anything reads it.
            let entry = journal(JournalState::Received {
                received_at,
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
            if let Err(e) = self.store.write_journal(&self.slug, &self.account, &entry) {
                return Ok(Err(self.store_err(e)));
            }
            self.fault(FaultPoint::AfterTokenResponse)?;
            if status == 429 || status >= 500 {
                if attempt >= self.http.max_attempts {
                    let _ = self.store.clear_journal(&self.slug, &self.account);
                    return Ok(Err(format!(
                        "{}: token endpoint: HTTP {status} (gave up after {attempt} attempts)",
                        self.who()
                    )));
                }
                self.http.sleep(self.http.backoff(attempt)).await;
                continue;
            }
            break (status, bytes, received_at);
        };
        if !(200..300).contains(&status) {
            let _ = self.store.clear_journal(&self.slug, &self.account);
            let what = format!(
                "the token endpoint refused the request (HTTP {status}{})",
                error_hint(&bytes)
            );
            return Ok(Err(self.redact(&self.reauth(&what))));
        }
        let mut token = match self.parse(&bytes, received_at, current.as_ref()) {
            Ok(t) => t,
            Err(e) => {
                let _ = self.store.clear_journal(&self.slug, &self.account);
                return Ok(Err(self.redact(&e)));
            }
        };
        token.version = version + 1;
        if let Err(e) = self.store.write_journal(
            &self.slug,
            &self.account,
            &journal(JournalState::Parsed {
                token: token.clone(),
            }),
        ) {
            return Ok(Err(self.store_err(e)));
        }
        self.fault(FaultPoint::AfterJournalWrite)?;
        match self.store.save(&self.slug, &self.account, version, &token) {
            Ok(true) => {}
            Ok(false) => {
                return Ok(Err(format!(
                    "{}: the token store changed during a locked refresh (another writer without the lock?)",
                    self.who()
                )));
            }
            Err(e) => return Ok(Err(self.store_err(e))),
        }
        self.fault(FaultPoint::AfterCommit)?;
        if let Err(e) = self.store.clear_journal(&self.slug, &self.account) {
            // The token is committed; a leftover journal is dropped at the
            // next recovery (its version is older).
            tracing::warn!(source = %self.slug, account = %self.account, "{}", self.store_err(e));
        }
        Ok(Ok(token))
    }

    /// `(content type, body)` of the token request.
    fn request_body(&self, chain: Option<&StoredToken>) -> Result<(&'static str, String), String> {
        let c = &self.creds;
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let form = |pairs: &[(&str, &str)]| {
            (
                "application/x-www-form-urlencoded",
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish(),
            )
        };
        Ok(match self.flow {
            OAuthFlow::RefreshRotating { .. } => {
                let refresh = match chain.and_then(|t| t.refresh_token.clone()) {
                    Some(r) => r,
                    None => c.refresh_token.clone().ok_or_else(|| {
                        format!(
                            "{}: credential `refresh_token` is missing and the token store holds \
                             no token for this account: add `credentials.refresh_token`",
                            self.who()
                        )
                    })?,
                };
                let body = serde_json::json!({
                    "client_id": s(&c.client_id),
                    "client_secret": s(&c.client_secret),
                    "grant_type": "refresh_token",
                    "refresh_token": refresh,
                    "redirect_uri": s(&c.redirect_uri),
                });
                ("application/json", body.to_string())
            }
            OAuthFlow::RefreshStatic { .. } => form(&[
                ("grant_type", "refresh_token"),
                ("client_id", &s(&c.client_id)),
                ("client_secret", &s(&c.client_secret)),
                ("refresh_token", &s(&c.refresh_token)),
            ]),
            OAuthFlow::ClientCredentials { .. } => {
                match chain.and_then(|t| t.refresh_token.clone()) {
                    Some(r) => form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &r),
                        ("client_id", &s(&c.client_id)),
                        ("client_secret", &s(&c.client_secret)),
                    ]),
                    None => form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", &s(&c.client_id)),
                        ("client_secret", &s(&c.client_secret)),
                    ]),
                }
            }
            OAuthFlow::JwtBearer { .. } => {
                let jwt = crate::ga4::service_account_jwt(&s(&c.service_account), Utc::now())
                    .map_err(|e| format!("{}: credentials.service_account: {e}", self.who()))?;
                (
                    "application/x-www-form-urlencoded",
                    crate::ga4::token_request_body(&jwt),
                )
            }
        })
    }

    /// Reads a 2xx token answer: `access_token`, optional `refresh_token`,
    /// `expires_in` (string or number). An OAuth error body is re-auth.
    fn parse(
        &self,
        body: &[u8],
        received_at: DateTime<Utc>,
        previous: Option<&StoredToken>,
    ) -> Result<StoredToken, String> {
        let json: Value = serde_json::from_slice(body)
            .map_err(|_| format!("{}: token endpoint: the answer is not JSON", self.who()))?;
        if json.get("error").is_some() {
            return Err(self.reauth(&format!("the token endpoint answered{}", error_hint(body))));
        }
        let text = |k: &str| match json.get(k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let access_token = text("access_token").ok_or_else(|| {
            format!(
                "{}: token endpoint: the answer has no access_token",
                self.who()
            )
        })?;
        let expires_at = text("expires_in")
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| received_at + chrono::Duration::seconds(s as i64));
        let refresh_token = match self.flow {
            // Google's refresh token is the credential, never stored.
            OAuthFlow::RefreshStatic { .. } | OAuthFlow::JwtBearer { .. } => None,
            _ => text("refresh_token").or_else(|| {
                previous
                    .filter(|t| self.chain_ok(t))
                    .and_then(|t| t.refresh_token.clone())
            }),
        };
        let seed_sha256 = match self.flow {
            OAuthFlow::RefreshRotating { .. } => self
                .seed()
                .or_else(|| previous.and_then(|t| t.seed_sha256.clone())),
            _ => None,
        };
        Ok(StoredToken {
            access_token,
            refresh_token,
            expires_at,
            version: 0,
            seed_sha256,
        })
    }

    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.creds.secrets() {
            if !s.is_empty() {
                out = out.replace(&s, "***");
            }
        }
        out
    }
}

/// A crash injected by [`FaultPoint`]: stop with no further writes.
struct Crash(String);

/// `: <hint/detail/error_description>` of an error body, one line, short.
fn error_hint(body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        return if one.is_empty() {
            String::new()
        } else {
            format!(": {}", one.chars().take(200).collect::<String>())
        };
    };
    let get = |k: &str| {
        json.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let parts: Vec<&str> = [
        get("error"),
        get("error_description"),
        get("hint"),
        get("detail"),
        get("message"),
        json.get("error")
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(": "))
    }
}
