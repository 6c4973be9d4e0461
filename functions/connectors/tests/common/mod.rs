//! Shared test helpers for connector tests: a scripted mock HTTP server,
//! fixture loading and account/context builders.
//!
//! The mock server is an axum app on `127.0.0.1:0`. Each route matches a
//! method, an exact path and (optionally) query pairs that must be present;
//! it serves its scripted responses in order and repeats the last one
//! forever (so "5xx forever" is one response). Unmatched requests get a 404
//! whose body says so. Every request is recorded (method, path, raw query,
//! decoded query pairs, lowercased headers, body, arrival time).
//!
//! ```ignore
//! let server = MockServer::start().await;
//! server.route("GET", "/api/v4/leads")
//!     .query("page", "2")
//!     .respond([MockResponse::json(200, body)]);
//! // ... run the driver against server.base_url() ...
//! assert_eq!(server.requests().len(), 3);
//! ```
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};

/// One scripted response.
#[derive(Debug, Clone)]
pub struct MockResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sleep before answering (timeouts, ordering).
    pub delay: Option<Duration>,
}

impl MockResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> MockResponse {
        MockResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: None,
        }
    }
    /// A JSON body (`application/json`).
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> MockResponse {
        MockResponse::new(status, body).header("content-type", "application/json")
    }
    /// A text body (`text/plain; charset=utf-8`).
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> MockResponse {
        MockResponse::new(status, body).header("content-type", "text/plain; charset=utf-8")
    }
    /// Raw bytes with an explicit content type.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> MockResponse {
        MockResponse::new(status, body).header("content-type", content_type)
    }
    /// No body (204, 202...).
    pub fn empty(status: u16) -> MockResponse {
        MockResponse::new(status, Vec::new())
    }
    pub fn header(mut self, name: &str, value: &str) -> MockResponse {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn delay(mut self, d: Duration) -> MockResponse {
        self.delay = Some(d);
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw (still percent-encoded) query string, "" when none.
    pub raw_query: String,
    /// Decoded query pairs in order.
    pub query: Vec<(String, String)>,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl RecordedRequest {
    /// The first value of a decoded query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    /// Path plus `?query` as received.
    pub fn path_and_query(&self) -> String {
        if self.raw_query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.raw_query)
        }
    }
}

struct Route {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    responses: VecDeque<MockResponse>,
}

#[derive(Default)]
struct State {
    routes: Vec<Route>,
    requests: Vec<RecordedRequest>,
}

/// A scripted HTTP server; stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

/// Builder returned by [`MockServer::route`].
pub struct RouteBuilder<'a> {
    server: &'a MockServer,
    method: String,
    path: String,
    query: Vec<(String, String)>,
}

impl RouteBuilder<'_> {
    /// Also require this decoded query pair.
    pub fn query(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.to_string(), v.to_string()));
        self
    }
    /// Serve these responses in order; the last one repeats.
    pub fn respond(self, responses: impl IntoIterator<Item = MockResponse>) {
        let responses: VecDeque<MockResponse> = responses.into_iter().collect();
        assert!(!responses.is_empty(), "a route needs at least one response");
        self.server.state.lock().unwrap().routes.push(Route {
            method: self.method,
            path: self.path,
            query: self.query,
            responses,
        });
    }
}

impl MockServer {
    pub async fn start() -> MockServer {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock server");
        let addr = listener.local_addr().expect("mock server address");
        let st = state.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let st = st.clone();
            async move { handle(st, req).await }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("mock server runs");
        });
        MockServer { addr, state, task }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url() + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// Scripts a route; routes are tried in the order they were added.
    pub fn route(&self, method: &str, path: &str) -> RouteBuilder<'_> {
        RouteBuilder {
            server: self,
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query: Vec::new(),
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Requests to one path.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(state: Arc<Mutex<State>>, req: axum::extract::Request) -> axum::response::Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let query: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let recorded = RecordedRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        raw_query,
        query,
        headers,
        body,
        at,
    };
    let scripted = {
        let mut st = state.lock().unwrap();
        st.requests.push(recorded.clone());
        st.routes
            .iter_mut()
            .find(|r| {
                r.method == recorded.method
                    && r.path == recorded.path
                    && r.query
                        .iter()
                        .all(|(k, v)| recorded.query.iter().any(|(qk, qv)| qk == k && qv == v))
            })
            .map(|r| {
                if r.responses.len() > 1 {
                    r.responses.pop_front().expect("non-empty")
                } else {
                    r.responses.front().expect("non-empty").clone()
                }
            })
    };
    let resp = scripted.unwrap_or_else(|| {
        MockResponse::text(
            404,
            format!(
                "mock server: no scripted response for {} {}",
                recorded.method,
                recorded.path_and_query()
            ),
        )
    });
    if let Some(d) = resp.delay {
        tokio::time::sleep(d).await;
    }
    let mut out = axum::response::Response::new(Body::from(resp.body));
    *out.status_mut() = StatusCode::from_u16(resp.status).expect("valid status");
    for (k, v) in resp.headers {
        out.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(&v).expect("header value"),
        );
    }
    out
}

/// The repository's `fixtures/` folder.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Bytes of `fixtures/<slug>/<name>`.
pub fn fixture(slug: &str, name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(slug).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()))
}

/// UTF-8 text of `fixtures/<slug>/<name>`.
pub fn fixture_str(slug: &str, name: &str) -> String {
    String::from_utf8(fixture(slug, name)).expect("fixture is UTF-8")
}

/// An account from a JSON object (the shape of `[[sources.<slug>.accounts]]`),
/// e.g. `account(json!({"id": "main", "options": {"subdomain": "school"}}))`.
pub fn account(value: serde_json::Value) -> voronka_core::config::AccountConfig {
    serde_json::from_value(value).expect("valid account config")
}

/// A fetch context for `account` (school zone Europe/Moscow).
pub fn fetch_context<'a>(
    account: &'a voronka_core::config::AccountConfig,
    base_url: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> voronka_connectors::FetchContext<'a> {
    voronka_connectors::FetchContext {
        account,
        school_tz: chrono_tz::Europe::Moscow,
        base_url: base_url.to_string(),
        from,
        to,
        watermarks: BTreeMap::new(),
        now: chrono::DateTime::from_timestamp(1_764_000_000, 0).expect("valid time"),
    }
}

/// A date literal.
pub fn date(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}
