//! The webhook receiver: vendors push (Tilda forms, Salebot bots,
//! GetCourse deals), voronka stores.
//!
//! One `Receiver` serves `voronka serve` locally and the `webhook` Lambda
//! role behind a function URL. For each delivery it checks the secret
//! token (constant time), caps the body size, writes the body exactly as
//! received with its receipt time to `raw/` — before anything parses it —
//! and answers 200 at once. It never waits for the pipeline: the next
//! normalization picks the delivery up, and a re-delivered `tranid` is one
//! record there.
//!
//! Route: `POST /webhook/<slug>/<account>?token=<secret>` (the token may
//! also come in the `X-Voronka-Token` header). Sources that push:
//!
//! - `tilda`: form bodies; every enabled account must name a
//!   `webhook_token` (Tilda has nothing else to fetch).
//! - `salebot`: JSON (or form) bodies from bots' "API request" blocks, and
//!   the project's message webhook (stored, normalizes to nothing).
//! - `getcourse`: new-API webhooks (a JSON array body) and process
//!   callbacks "Вызвать URL" (data in the query string; `GET` is accepted
//!   too). The query minus the token is stored with the delivery.
//!
//! A `salebot` or `getcourse` account gets a route only when it names a
//! `webhook_token` (most only use the API); a route is never open.
//!
//! The module also holds [`import_file`], the `voronka import` command's
//! store step (a file written as one raw envelope, idempotently).

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use voronka_connectors::RawEnvelope;
use voronka_connectors::driver::SecretSource;
use voronka_core::config::Config;
use voronka_store::Store;

/// Largest body accepted (a Tilda form is a few KiB).
pub const MAX_BODY: usize = 64 * 1024;

/// Sources whose webhooks this receiver accepts.
pub const PUSH_SOURCES: [&str; 3] = ["tilda", "salebot", "getcourse"];

/// Push sources whose every enabled account must have a webhook token
/// (the others: only the accounts that name one get a route).
const TOKEN_REQUIRED: [&str; 1] = ["tilda"];

/// Whether `slug` accepts `GET` deliveries (GetCourse process callbacks
/// may call the URL with GET).
fn accepts_get(slug: &str) -> bool {
    slug == "getcourse"
}

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    /// Request path, e.g. `/webhook/tilda/main`.
    pub path: &'a str,
    /// Raw query string without the leading `?`.
    pub query: &'a str,
    /// Header names lowercased.
    pub headers: &'a BTreeMap<String, String>,
    pub body: &'a [u8],
    pub received_at: DateTime<Utc>,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: &'static str,
}

const OK: Answer = Answer {
    status: 200,
    body: "ok",
};

struct Route {
    slug: String,
    account: String,
    token: String,
}

pub struct Receiver {
    store: Arc<dyn Store>,
    routes: Vec<Route>,
    seq: AtomicU64,
    /// Distinguishes concurrent receivers (processes, Lambda instances).
    instance: String,
    /// Per-route token buckets: (tokens, last refill).
    buckets: std::sync::Mutex<Vec<(f64, std::time::Instant)>>,
}

/// Deliveries a route accepts per second, sustained, and in a burst (a
/// launch's registrations arrive far below this; a flood gets 429, which
/// vendors such as Tilda retry later). Per receiver instance.
pub const RATE_PER_SECOND: f64 = 50.0;
pub const RATE_BURST: f64 = 200.0;

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<std::borrow::Cow<'q, str>> {
    url_pairs(query).find(|(k, _)| k == name).map(|(_, v)| v)
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, std::borrow::Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k).into_owned(), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The query without the `token` parameter (it must never be stored).
fn strip_token(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("token"))
        .collect::<Vec<_>>()
        .join("&")
}

impl Receiver {
    /// Builds the routes from the config: every `tilda` account must name
    /// a `webhook_token` credential; `salebot` and `getcourse` accounts get
    /// a route when they name one. Never an open endpoint.
    pub fn new(
        config: &Config,
        secrets: &dyn SecretSource,
        store: Arc<dyn Store>,
    ) -> Result<Receiver> {
        let mut routes = Vec::new();
        for slug in PUSH_SOURCES {
            let Some(source) = config.sources.get(slug) else {
                continue;
            };
            if !source.enabled {
                continue;
            }
            for (i, account) in source.accounts.iter().enumerate() {
                let key = format!("sources.{slug}.accounts[{i}].credentials.webhook_token");
                let r = match account.credentials.get("webhook_token") {
                    Some(r) => r,
                    None if !TOKEN_REQUIRED.contains(&slug) => continue,
                    None => bail!("config key `{key}` is missing: a webhook needs a secret token"),
                };
                let token = secrets
                    .resolve("webhook_token", r)
                    .map_err(|e| anyhow::anyhow!("config key `{key}`: {e}"))?;
                if token.len() < 16 {
                    bail!("config key `{key}`: the token must have at least 16 characters");
                }
                routes.push(Route {
                    slug: slug.to_string(),
                    account: account.id.clone(),
                    token,
                });
            }
        }
        let now = Utc::now();
        let buckets = vec![(RATE_BURST, std::time::Instant::now()); routes.len()];
        Ok(Receiver {
            store,
            routes,
            seq: AtomicU64::new(0),
            instance: format!("{}{:09}", std::process::id(), now.timestamp_subsec_nanos()),
            buckets: std::sync::Mutex::new(buckets),
        })
    }

    /// The paths this receiver answers.
    pub fn paths(&self) -> Vec<String> {
        self.routes
            .iter()
            .map(|r| format!("/webhook/{}/{}", r.slug, r.account))
            .collect()
    }

    /// Handles one `POST` delivery: authenticate, cap, store, answer.
    pub async fn handle(&self, d: &Delivery<'_>) -> Answer {
        self.handle_method("POST", d).await
    }

    /// Handles one delivery made with `method` (`POST`; `GET` for GetCourse
    /// process callbacks).
    pub async fn handle_method(&self, method: &str, d: &Delivery<'_>) -> Answer {
        let Some((index, route)) = self.routes.iter().enumerate().find(|(_, r)| {
            d.path.trim_end_matches('/') == format!("/webhook/{}/{}", r.slug, r.account)
        }) else {
            return Answer {
                status: 404,
                body: "unknown webhook",
            };
        };
        // Rate limit before anything else (token guessing included).
        {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let (tokens, last) = &mut buckets[index];
            let now = std::time::Instant::now();
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * RATE_PER_SECOND)
                .min(RATE_BURST);
            *last = now;
            if *tokens < 1.0 {
                return Answer {
                    status: 429,
                    body: "too many deliveries",
                };
            }
            *tokens -= 1.0;
        }
        let given = query_param(d.query, "token")
            .map(|t| t.into_owned())
            .or_else(|| d.headers.get("x-voronka-token").cloned())
            .unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), route.token.as_bytes()) {
            return Answer {
                status: 403,
                body: "bad token",
            };
        }
        let method = method.to_ascii_uppercase();
        if !(method == "POST" || method == "GET" && accepts_get(&route.slug)) {
            return Answer {
                status: 405,
                body: "method not allowed",
            };
        }
        if d.body.len() > MAX_BODY || d.query.len() > MAX_BODY {
            return Answer {
                status: 413,
                body: "body too large",
            };
        }
        let content_type = d
            .headers
            .get("content-type")
            .map(String::as_str)
            .unwrap_or("");
        let query = strip_token(d.query);
        // Store before anything else; a key collision (two instances in
        // the same nanosecond) takes the next sequence number.
        for _ in 0..5 {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let run = format!(
                "{}-wh{}",
                d.received_at.format("%Y%m%dT%H%M%S%3fZ"),
                self.instance
            );
            let env: RawEnvelope = match route.slug.as_str() {
                "tilda" => voronka_connectors::tilda::webhook_envelope(
                    &route.account,
                    &query,
                    content_type,
                    d.body,
                    d.received_at,
                    &run,
                    seq,
                ),
                "salebot" => voronka_connectors::salebot::webhook_envelope(
                    &route.account,
                    d.body,
                    d.received_at,
                    &run,
                    seq,
                ),
                "getcourse" => voronka_connectors::getcourse::webhook_envelope(
                    &route.account,
                    &method,
                    &query,
                    content_type,
                    d.body,
                    d.received_at,
                    &run,
                    seq,
                ),
                _ => {
                    return Answer {
                        status: 404,
                        body: "unknown webhook",
                    };
                }
            };
            match self
                .store
                .put_if_absent(&env.key(), Bytes::from(env.to_json()))
                .await
            {
                Ok(true) => return OK,
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(
                        "webhook {}:{}: cannot store: {e}",
                        route.slug,
                        route.account
                    );
                    // 5xx makes Tilda retry (twice, a minute apart);
                    // Salebot never retries.
                    return Answer {
                        status: 503,
                        body: "storage unavailable",
                    };
                }
            }
        }
        Answer {
            status: 503,
            body: "storage busy",
        }
    }
}

/// `voronka serve`: the receiver over HTTP.
pub async fn serve(receiver: Arc<Receiver>, bind: std::net::SocketAddr) -> Result<()> {
    use axum::extract::{DefaultBodyLimit, Request};
    use axum::http::StatusCode;
    use axum::routing::{get, post};

    async fn one(receiver: Arc<Receiver>, req: Request) -> (StatusCode, &'static str) {
        let received_at = Utc::now();
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY + 1).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        };
        let headers: BTreeMap<String, String> = parts
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().ok()?.to_string(),
                ))
            })
            .collect();
        let answer = receiver
            .handle_method(
                parts.method.as_str(),
                &Delivery {
                    path: parts.uri.path(),
                    query: parts.uri.query().unwrap_or(""),
                    headers: &headers,
                    body: &bytes,
                    received_at,
                },
            )
            .await;
        (
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            answer.body,
        )
    }

    let for_get = receiver.clone();
    let app = axum::Router::new()
        .route(
            "/webhook/{slug}/{account}",
            post(move |req: Request| one(receiver.clone(), req))
                .merge(get(move |req: Request| one(for_get.clone(), req))),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY + 1));
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    axum::serve(listener, app)
        .await
        .context("webhook server stopped")
}

/// What [`import_file`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The raw key of the file's envelope.
    pub key: String,
    /// False when the same bytes were imported before (nothing written).
    pub written: bool,
    /// Records the file normalizes to, and its rejected rows.
    pub records: usize,
    pub rejected: Vec<voronka_connectors::ParseError>,
}

/// `voronka import <slug> FILE`: writes a vendor export file into `raw/` as
/// one envelope with `put_if_absent` (the key derives from the file's
/// hash, so a re-import writes nothing) and reports what it normalizes to.
/// Sources: `tilda` (the leads export, "Заявки" → CSV), `manual_costs`
/// (the costs CSV) and `telegram_ads` (a cabinet export; the campaign is
/// the file's base name, see [`import_file_with`]).
pub async fn import_file(
    store: &dyn Store,
    config: &Config,
    slug: &str,
    account: &str,
    file_name: &str,
    bytes: &[u8],
) -> Result<Imported> {
    import_file_with(
        store,
        config,
        slug,
        account,
        file_name,
        bytes,
        None,
        Utc::now(),
    )
    .await
}

/// [`import_file`] with the `telegram_ads` campaign (`--campaign`) and the
/// import time. `manual_costs` and `telegram_ads` uploads are versions of
/// a stream: the envelope's run carries `now`, a later upload replaces an
/// earlier one, and bytes that already are the stream's latest upload
/// write nothing (the existing key is answered).
#[allow(clippy::too_many_arguments)]
pub async fn import_file_with(
    store: &dyn Store,
    config: &Config,
    slug: &str,
    account: &str,
    file_name: &str,
    bytes: &[u8],
    campaign: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Imported> {
    use voronka_connectors::{manual_costs, telegram_ads};
    let env = match slug {
        "tilda" => voronka_connectors::tilda::csv_envelope(account, file_name, bytes),
        "manual_costs" => manual_costs::csv_envelope(account, file_name, bytes, now),
        "telegram_ads" => telegram_ads::tsv_envelope(account, file_name, bytes, campaign, now),
        other => bail!(
            "`voronka import` reads `tilda`, `manual_costs` and `telegram_ads` files, not {other:?}"
        ),
    };
    let mut key = env.key();
    let current = if slug == "tilda" {
        None
    } else {
        let keys = store.list(&format!("raw/{slug}/{account}/")).await?;
        manual_costs::current_import(&keys, &env)
    };
    let written = match current {
        Some(existing) => {
            key = existing;
            false
        }
        None => store
            .put_if_absent(&key, Bytes::from(env.to_json()))
            .await
            .with_context(|| format!("cannot store {key}"))?,
    };
    let acc = config.account(slug, account).cloned().unwrap_or_else(|| {
        voronka_core::config::AccountConfig {
            id: account.to_string(),
            base_url: None,
            credentials: BTreeMap::new(),
            timezone: None,
            currency: None,
            spend_multiplier: None,
            lookback_days: None,
            start_date: None,
            options: BTreeMap::new(),
        }
    });
    let connector = voronka_connectors::connector(slug).context("unknown source")?;
    let n = connector.normalize(
        &env,
        &voronka_connectors::NormalizeContext {
            account: &acc,
            school_tz: config.tz(),
        },
    );
    Ok(Imported {
        key,
        written,
        records: n.records.len(),
        rejected: n.rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"secret-token-123", b"secret-token-123"));
        assert!(!constant_time_eq(b"secret-token-123", b"secret-token-124"));
        assert!(!constant_time_eq(b"secret", b"secret-longer"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn token_is_read_and_stripped() {
        assert_eq!(
            query_param("a=1&token=abc%2B1", "token").as_deref(),
            Some("abc+1")
        );
        assert_eq!(strip_token("token=abc&formid=1"), "formid=1");
        assert_eq!(strip_token("formid=1&token=abc"), "formid=1");
        assert_eq!(percent_decode("%D0%90%41+b%"), "АA b%");
    }

    /// `voronka import manual_costs`: a blogger's two placements (15 000 ₽
    /// and 7 500,50 ₽) land in the channel's spend through the pipeline;
    /// the same file again writes nothing; a corrected version wins.
    #[tokio::test]
    async fn manual_costs_import_flows_into_channel_spend() {
        use chrono::{NaiveDate, TimeZone};
        use rust_decimal::Decimal;
        use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(voronka_store::LocalStore::new(dir.path().join("lake")));
        let config = Config::from_toml("").unwrap();
        let v1 = "date,platform,campaign,contractor,amount,currency,note\n\
                  2026-03-02,blogger,spring,Анна,15000,RUB,stories\n\
                  2026-03-05,blogger,spring,Анна,\"7500,50\",RUB,repost\n\
                  2026-03-06,blogger,spring,Анна,15 000,RUB,bad amount\n";
        let t = |h| Utc.with_ymd_and_hms(2026, 3, 10, h, 0, 0).unwrap();
        let import = |bytes: &'static str, h| {
            let store = store.clone();
            let config = config.clone();
            async move {
                import_file_with(
                    &*store,
                    &config,
                    "manual_costs",
                    "bloggers",
                    "costs.csv",
                    bytes.as_bytes(),
                    None,
                    t(h),
                )
                .await
                .unwrap()
            }
        };
        let first = import(v1, 9).await;
        assert!(first.written);
        assert_eq!((first.records, first.rejected.len()), (2, 1));
        assert_eq!(first.rejected[0].record, "line 4");
        assert_eq!(first.rejected[0].field, "amount");
        let again = import(v1, 10).await;
        assert!(!again.written);
        assert_eq!(again.key, first.key);
        assert_eq!(store.list("raw/").await.unwrap(), vec![first.key.clone()]);

        let p = crate::pipeline::Pipeline {
            store: store.clone(),
            config: config.clone(),
            driver: Driver::new(
                DriverOptions::default(),
                Arc::new(StaticSecrets(BTreeMap::new())),
            ),
        };
        let spend = |m: &voronka_core::metrics::Marts| -> Decimal {
            m.channels
                .iter()
                .filter(|c| c.platform == "blogger" && c.contractor == "Анна")
                .map(|c| c.spend)
                .sum()
        };
        let as_of = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        p.normalize_full().await.unwrap();
        let marts = p.compute(as_of, t(12)).await.unwrap();
        assert_eq!(spend(&marts), Decimal::new(2_250_050, 2));

        // A corrected version (same lines, 7 500,50 → 8 000) replaces it.
        let v2 = "date;platform;campaign;contractor;amount;currency;note\n\
                  2026-03-02;blogger;spring;Анна;15000;RUB;stories\n\
                  2026-03-05;blogger;spring;Анна;8000;RUB;repost\n";
        assert!(import(v2, 11).await.written);
        p.normalize_full().await.unwrap();
        let marts = p.compute(as_of, t(12)).await.unwrap();
        assert_eq!(spend(&marts), Decimal::from(23_000));

        // A third version deletes the first row: the newer upload replaces
        // every day it spans (manual costs are window records), so the
        // deleted row no longer counts: 8 000 only.
        let v3 = "date,platform,campaign,contractor,amount,currency,note
                  2026-03-02,telegram,spring,Канал,0.01,RUB,placeholder
                  2026-03-05,blogger,spring,Анна,8000,RUB,repost
";
        assert!(import(v3, 13).await.written);
        p.normalize_full().await.unwrap();
        let marts = p.compute(as_of, t(14)).await.unwrap();
        assert_eq!(spend(&marts), Decimal::from(8_000));
    }
}
