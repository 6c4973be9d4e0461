//! The fake vendor APIs: one axum server on 127.0.0.1, one prefix per
//! vendor slug ([`SLUGS`]: `/amocrm`, `/getcourse`, `/yandex_direct`,
//! `/facebook`, `/cbr`, `/bizon365`, `/salebot`, `/ga4`, `/tiktok`,
//! `/vk_ads`, `/mytarget`, `/google_ads`); behind each prefix the vendor's
//! real paths, plus token endpoints: amoCRM `POST /oauth2/access_token`
//! (rotating refresh tokens), GA4 `POST /token` (JWT bearer), VK Ads and
//! myTarget `POST /api/v2/oauth2/token.json`, Google Ads `POST /token`.

// Handlers return the vendor's error response as the `Err` of small helpers.
#![allow(clippy::result_large_err)]

mod amocrm;
mod bizon;
mod cbr;
mod facebook;
mod ga4;
mod getcourse;
mod google_ads;
mod salebot;
mod tiktok;
mod vk;
mod yandex;

use crate::model::School;
use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// amoCRM: `Authorization: Bearer <AMOCRM_TOKEN>`.
pub const AMOCRM_TOKEN: &str = "sandbox-amocrm-token";
/// GetCourse: query (or form) parameter `key=<GETCOURSE_KEY>`.
pub const GETCOURSE_KEY: &str = "sandbox-getcourse-key";
/// Yandex Direct: `Authorization: Bearer <YANDEX_TOKEN>`.
pub const YANDEX_TOKEN: &str = "sandbox-yandex-token";
/// Meta: query parameter `access_token=<FACEBOOK_TOKEN>`.
pub const FACEBOOK_TOKEN: &str = "sandbox-facebook-token";
/// amoCRM OAuth (`POST /oauth2/access_token`): the integration's client id.
pub const AMOCRM_CLIENT_ID: &str = "sandbox-amocrm-client-id";
/// amoCRM OAuth: the integration's secret.
pub const AMOCRM_CLIENT_SECRET: &str = "sandbox-amocrm-client-secret";
/// amoCRM OAuth: the first refresh token (valid until used once; each
/// refresh returns a new pair and revokes the refresh token it used).
pub const AMOCRM_REFRESH_TOKEN: &str = "sandbox-amocrm-refresh-0";
/// amoCRM OAuth: an authorization code (`grant_type=authorization_code`),
/// good any number of times; it starts a fresh refresh chain.
pub const AMOCRM_AUTH_CODE: &str = "sandbox-amocrm-auth-code";
/// amoCRM OAuth: `redirect_uri` is not checked.
pub const AMOCRM_REDIRECT_URI: &str = "https://example.com/amocrm/oauth";
/// Bizon365: header `X-Token: <BIZON_TOKEN>`.
pub const BIZON_TOKEN: &str = "sandbox-bizon-token";
/// Salebot: the API key, as a path segment (`/salebot/<key>/get_clients`)
/// or a query parameter `api_key`.
pub const SALEBOT_KEY: &str = "sandbox-salebot-key";
/// GA4: the property id (`/ga4/v1beta/properties/<id>:runReport`).
pub const GA4_PROPERTY: &str = "412345678";
/// GA4: the Bearer token `POST /ga4/token` gives for any JWT assertion.
pub const GA4_ACCESS_TOKEN: &str = "sandbox-ga4-access";
/// TikTok: header `Access-Token: <TIKTOK_TOKEN>` (long-lived, no refresh).
pub const TIKTOK_TOKEN: &str = "sandbox-tiktok-token";
/// VK Ads and myTarget: the OAuth2 client id (`client_credentials`).
pub const VK_CLIENT_ID: &str = "sandbox-vk-client-id";
/// VK Ads and myTarget: the OAuth2 client secret.
pub const VK_CLIENT_SECRET: &str = "sandbox-vk-client-secret";
/// VK Ads and myTarget: the Bearer token the token endpoint gives.
pub const VK_ACCESS_TOKEN: &str = "sandbox-vk-access";
/// VK Ads and myTarget: the refresh token the token endpoint gives.
pub const VK_REFRESH_TOKEN: &str = "sandbox-vk-refresh";
/// Google Ads: header `developer-token`.
pub const GOOGLE_DEVELOPER_TOKEN: &str = "sandbox-google-developer-token";
/// Google Ads: the Bearer token (also what `POST /google_ads/token` gives).
pub const GOOGLE_ACCESS_TOKEN: &str = "sandbox-google-access";
/// Google Ads OAuth: client id, secret and refresh token accepted by
/// `POST /google_ads/token` (`grant_type=refresh_token`).
pub const GOOGLE_CLIENT_ID: &str = "sandbox-google-client-id";
pub const GOOGLE_CLIENT_SECRET: &str = "sandbox-google-client-secret";
pub const GOOGLE_REFRESH_TOKEN: &str = "sandbox-google-refresh";
/// Google Ads: the manager account (`login-customer-id`; optional).
pub const GOOGLE_LOGIN_CUSTOMER_ID: &str = "8127734509";

/// The vendor prefixes served, also the keys of [`Sandbox::requests`].
pub const SLUGS: [&str; 12] = [
    "amocrm",
    "getcourse",
    "yandex_direct",
    "facebook",
    "cbr",
    "bizon365",
    "salebot",
    "ga4",
    "tiktok",
    "vk_ads",
    "mytarget",
    "google_ads",
];

/// Knobs of the fakes (fault injection, waits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOptions {
    /// GetCourse: how many polls of an export answer 909 "Файл еще не
    /// создан" before it is ready.
    pub getcourse_not_ready_polls: u32,
    /// GetCourse: requests allowed per sliding 2 hours (starts and polls).
    pub getcourse_request_limit: u32,
    /// Yandex Direct: the `retryIn` header (seconds) on 201/202.
    pub yandex_retry_in: u32,
    /// Meta: the n-th Facebook request (1-based, counting every request to
    /// `/facebook`) answers error 17 "User request limit reached" once.
    pub facebook_throttle_on_request: Option<u64>,
    /// Scripted misbehaviours of any vendor (fault injection, see
    /// [`Fault`]); empty by default. The first fault that fires on a
    /// request decides its answer.
    pub faults: Vec<Fault>,
}

/// A scripted misbehaviour: of the requests under `/<slug>` whose path
/// (after the prefix) contains `path_contains`, the first `skip` are
/// answered normally, the next `times` get `kind`, the rest are normal
/// again. Each fault counts its own matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub slug: String,
    /// Empty: every request of the vendor matches.
    pub path_contains: String,
    pub skip: u64,
    /// `u64::MAX`: forever.
    pub times: u64,
    pub kind: FaultKind,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            getcourse_not_ready_polls: 2,
            getcourse_request_limit: 100,
            yandex_retry_in: 0,
            facebook_throttle_on_request: None,
            faults: Vec::new(),
        }
    }
}

impl SandboxOptions {
    /// A fault on `slug`: by default an HTTP 503 on its first request,
    /// once; shape it with the [`Fault`] methods, add it with
    /// [`SandboxOptions::with_fault`].
    pub fn fault(slug: &str) -> Fault {
        Fault {
            slug: slug.to_string(),
            path_contains: String::new(),
            skip: 0,
            times: 1,
            kind: FaultKind::Respond {
                status: 503,
                headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
                body: "sandbox fault: HTTP 503".into(),
            },
        }
    }

    /// Adds `fault` (faults are tried in the order added).
    pub fn with_fault(mut self, fault: Fault) -> SandboxOptions {
        self.faults.push(fault);
        self
    }
}

impl Fault {
    /// Only requests whose path contains `part`.
    pub fn on_path(mut self, part: &str) -> Fault {
        self.path_contains = part.to_string();
        self
    }

    /// After `n` normal answers.
    pub fn after(mut self, n: u64) -> Fault {
        self.skip = n;
        self
    }

    /// `n` times in a row (`u64::MAX`: forever).
    pub fn times(mut self, n: u64) -> Fault {
        self.times = n;
        self
    }

    /// Answers `status` with a one-line text body.
    pub fn status(mut self, status: u16) -> Fault {
        self.kind = FaultKind::Respond {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: format!("sandbox fault: HTTP {status}"),
        };
        self
    }

    /// Answers `status` with a JSON body (e.g. an error inside an HTTP 200).
    pub fn json(mut self, status: u16, body: &serde_json::Value) -> Fault {
        self.kind = FaultKind::Respond {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        };
        self
    }

    /// Adds a header (e.g. `Retry-After`) to a status or JSON answer.
    pub fn header(mut self, name: &str, value: &str) -> Fault {
        if let FaultKind::Respond { headers, .. } = &mut self.kind {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Serves the vendor's real answer with its body cut in half.
    pub fn truncated(mut self) -> Fault {
        self.kind = FaultKind::Truncate;
        self
    }

    /// Waits `d` before answering normally.
    pub fn delayed(mut self, d: std::time::Duration) -> Fault {
        self.kind = FaultKind::Delay(d);
        self
    }
}

/// What a firing [`Fault`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this instead of the vendor (e.g. a 429 with or without
    /// `Retry-After`, a 503, an error inside an HTTP 200, a 401).
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// The vendor's real answer with its body cut in half (a truncated,
    /// malformed body; status and headers kept, `content-length` fixed).
    Truncate,
    /// Wait this long before answering normally (client timeouts).
    Delay(std::time::Duration),
}

pub(crate) struct Shared {
    pub school: Arc<School>,
    pub opts: SandboxOptions,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    counters: [AtomicU64; 12],
    pub getcourse: Mutex<getcourse::GcState>,
    pub amocrm_oauth: Mutex<amocrm::OAuthState>,
    pub yandex: Mutex<HashMap<(String, String), (serde_json::Value, u32)>>,
    pub request_seq: AtomicU64,
    /// Matching requests seen, per entry of `opts.faults`.
    fault_hits: Vec<AtomicU64>,
}

impl Shared {
    fn count(&self, slug: &str) -> u64 {
        match SLUGS.iter().position(|s| *s == slug) {
            Some(i) => self.counters[i].fetch_add(1, Ordering::SeqCst) + 1,
            None => 0,
        }
    }

    /// A fresh request id for vendor error bodies and headers.
    pub fn request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::SeqCst) + 1;
        format!(
            "{:019}",
            8_000_000_000_000_000_000u64.wrapping_add(n * 7919)
        )
    }
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Binds 127.0.0.1 on a free port and serves every vendor on it.
    /// Must be called inside a tokio runtime.
    pub async fn start(school: Arc<School>, opts: SandboxOptions) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let opts_faults = opts.faults.len();
        let shared = Arc::new(Shared {
            school,
            opts,
            base: format!("http://{addr}"),
            counters: Default::default(),
            getcourse: Mutex::new(getcourse::GcState::new()),
            amocrm_oauth: Mutex::new(amocrm::OAuthState::new()),
            yandex: Mutex::new(HashMap::new()),
            request_seq: AtomicU64::new(0),
            fault_hits: (0..opts_faults).map(|_| AtomicU64::new(0)).collect(),
        });
        let app = axum::Router::new()
            .fallback(dispatch)
            .with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Sandbox {
            addr,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    /// `http://127.0.0.1:<port>`; a connector's base is `{base_url}/<slug>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `{base_url}/<slug>`.
    pub fn vendor_url(&self, slug: &str) -> String {
        format!("{}/{slug}", self.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received under `/<slug>` so far (any outcome); 0 for an
    /// unknown slug.
    pub fn requests(&self, slug: &str) -> u64 {
        SLUGS
            .iter()
            .position(|s| *s == slug)
            .map(|i| self.shared.counters[i].load(Ordering::SeqCst))
            .unwrap_or(0)
    }

    pub fn school(&self) -> &Arc<School> {
        &self.shared.school
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

/// Parsed request handed to a vendor module.
pub(crate) struct Req {
    pub method: Method,
    /// Path after the vendor prefix, starting with `/`.
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Decoded `application/x-www-form-urlencoded` body pairs, or the
    /// string-valued fields of a JSON object body.
    pub fn form(&self) -> Vec<(String, String)> {
        let trimmed = self.body.trim_ascii_start();
        if trimmed.starts_with(b"{") {
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&self.body) {
                return m
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, v)
                    })
                    .collect();
            }
            return Vec::new();
        }
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
    }
}

/// The query string with `name` set to `value` (replaced in place, or
/// appended), re-encoded.
pub(crate) fn with_param(query: &[(String, String)], name: &str, value: &str) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    let mut done = false;
    for (k, v) in query {
        if k == name {
            if !done {
                ser.append_pair(k, value);
                done = true;
            }
        } else {
            ser.append_pair(k, v);
        }
    }
    if !done {
        ser.append_pair(name, value);
    }
    ser.finish()
}

pub(crate) fn respond(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(body.into())
        .expect("valid response")
}

pub(crate) fn json(status: u16, content_type: &str, v: &serde_json::Value) -> Response {
    respond(status, content_type, v.to_string())
}

pub(crate) fn empty(status: u16) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .body(Body::empty())
        .expect("valid response")
}

fn not_found() -> Response {
    respond(404, "text/plain; charset=utf-8", "Not Found")
}

async fn dispatch(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let trimmed = path.trim_start_matches('/');
    let (slug, rest) = match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, "/"),
    };
    if !SLUGS.contains(&slug) {
        return not_found();
    }
    let seq = shared.count(slug);
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let req = Req {
        method,
        path: rest.to_string(),
        query,
        headers,
        body,
    };
    let fault = shared
        .opts
        .faults
        .iter()
        .zip(&shared.fault_hits)
        .filter(|(f, _)| f.slug == slug && req.path.contains(&f.path_contains))
        .filter_map(|(f, hits)| {
            let n = hits.fetch_add(1, Ordering::SeqCst);
            (n >= f.skip && n - f.skip < f.times).then_some(&f.kind)
        })
        .fold(None, |first, k| first.or(Some(k)))
        .cloned();
    match fault {
        None => vendor(&shared, slug, &req, seq),
        Some(FaultKind::Respond {
            status,
            headers,
            body,
        }) => {
            let mut b = Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(Body::from(body)).expect("valid fault response")
        }
        Some(FaultKind::Truncate) => {
            let full = vendor(&shared, slug, &req, seq);
            let (mut parts, body) = full.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            let cut = bytes.slice(..bytes.len() / 2);
            Response::from_parts(parts, Body::from(cut))
        }
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            vendor(&shared, slug, &req, seq)
        }
    }
}

fn vendor(shared: &Shared, slug: &str, req: &Req, seq: u64) -> Response {
    match slug {
        "amocrm" => amocrm::handle(shared, req),
        "getcourse" => getcourse::handle(shared, req),
        "yandex_direct" => yandex::handle(shared, req),
        "facebook" => facebook::handle(shared, req, seq),
        "cbr" => cbr::handle(shared, req),
        "bizon365" => bizon::handle(shared, req),
        "salebot" => salebot::handle(shared, req),
        "ga4" => ga4::handle(shared, req),
        "tiktok" => tiktok::handle(shared, req),
        "vk_ads" => vk::handle(shared, req, vk::Family::VkAds),
        "mytarget" => vk::handle(shared, req, vk::Family::MyTarget),
        "google_ads" => google_ads::handle(shared, req),
        _ => not_found(),
    }
}
