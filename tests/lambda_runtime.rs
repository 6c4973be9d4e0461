//! The real binary as a Lambda function, offline: a local implementation of
//! the Lambda Runtime API (plain HTTP on 127.0.0.1) hands the process one
//! event and records what it posts back, as the Lambda service would.
//!
//! - `pipeline` over a local lake seeded by `voronka demo`;
//! - `pipeline` over a lake in a real S3-compatible server (`s3s-fs`),
//!   seeded with the demo's `raw/` and `state/`;
//! - a handler error (an ingest event without `"source"`) reaches
//!   `/invocation/{id}/error` with a message naming the problem;
//! - `ingest` reads a `{ secret = "amocrm" }` credential from
//!   `VORONKA_SECRET_AMOCRM`, the variable `infra/template.yaml` sets.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, mpsc};
use voronka_store::{S3Config, S3Store, Store};

/// How long one invocation may take before the test gives up (debug build,
/// 2 cores, other tests running beside it).
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(180);
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-central-1:123456789012:function:voronka-test";

// ------------------------------------------------------ runtime API ----

/// What the function posted back for an invocation.
#[derive(Debug)]
enum Outcome {
    Response {
        request_id: String,
        body: Value,
    },
    Error {
        request_id: String,
        error_type: Option<String>,
        body: Value,
    },
    InitError {
        body: Value,
    },
}

struct Shared {
    /// Events waiting for `GET /next`; when none is queued `next` blocks,
    /// as the real service does between invocations.
    events: Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

/// A local Lambda Runtime API on a free 127.0.0.1 port.
struct RuntimeApi {
    addr: SocketAddr,
    events: mpsc::UnboundedSender<(String, Value)>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    async fn start() -> RuntimeApi {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(events_rx),
            outcomes: outcomes_tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the runtime API");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("runtime API server");
        });
        RuntimeApi {
            addr,
            events: events_tx,
            outcomes: outcomes_rx,
            server,
        }
    }

    /// Queues one invocation; returns its request id.
    fn invoke(&self, n: u32, payload: Value) -> String {
        let id = format!("00000000-0000-4000-8000-{n:012}");
        self.events
            .send((id.clone(), payload))
            .expect("runtime API is running");
        id
    }

    /// Waits for the function's answer; fails early (with its stderr) if
    /// the process exits, and after `INVOCATION_TIMEOUT`.
    async fn outcome(&mut self, function: &mut Function) -> Outcome {
        let deadline = Instant::now() + INVOCATION_TIMEOUT;
        loop {
            tokio::select! {
                got = self.outcomes.recv() => match got.expect("runtime API is running") {
                    Outcome::InitError { body } => panic!(
                        "the function failed to start: {body}; stderr:\n{}",
                        function.stderr()
                    ),
                    got => return got,
                },
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            if let Ok(Some(status)) = function.child.try_wait() {
                // A last answer may have arrived just before the exit.
                if let Ok(got) = self.outcomes.try_recv() {
                    return got;
                }
                panic!(
                    "the function exited ({status}) without answering the invocation; stderr:\n{}",
                    function.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no answer from the function within {INVOCATION_TIMEOUT:?}; stderr:\n{}",
                function.stderr()
            );
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let event = shared.events.lock().await.recv().await;
    let Some((id, payload)) = event else {
        // The test is over; keep the poll open until the process is killed.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline_ms = SystemTime::now()
        .checked_add(Duration::from_secs(900))
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .expect("clock after 1970")
        .as_millis();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    };
    set("Lambda-Runtime-Aws-Request-Id", id.clone());
    set("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string());
    set(
        "Lambda-Runtime-Invoked-Function-Arn",
        FUNCTION_ARN.to_string(),
    );
    set(
        "Lambda-Runtime-Trace-Id",
        format!(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=test:{id}"
        ),
    );
    set("Content-Type", "application/json".to_string());
    (StatusCode::OK, headers, payload.to_string()).into_response()
}

fn json_body(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let _ = shared.outcomes.send(Outcome::Response {
        request_id,
        body: json_body(&body),
    });
    StatusCode::ACCEPTED
}

async fn error(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = headers
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = shared.outcomes.send(Outcome::Error {
        request_id,
        error_type,
        body: json_body(&body),
    });
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let _ = shared.outcomes.send(Outcome::InitError {
        body: json_body(&body),
    });
    StatusCode::ACCEPTED
}

// --------------------------------------------------------- function ----

/// The voronka binary serving a role; killed when dropped.
struct Function {
    child: Child,
    stderr_path: PathBuf,
}

impl Function {
    /// Starts the binary against `api` with `role` and `config`, plus
    /// `extra` environment variables.
    fn start(
        api: &RuntimeApi,
        role: &str,
        config: &Path,
        logs: &Path,
        extra: &[(&str, &str)],
    ) -> Function {
        let stderr_path = logs.join(format!("{role}-{}.stderr", api.addr.port()));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_voronka"));
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "voronka-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/30/[$LATEST]test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/voronka-test")
            .env("VORONKA_ROLE", role)
            .env("VORONKA_CONFIG", config)
            // Nothing from the developer's AWS setup may leak in: the S3
            // case passes its own credentials and endpoint.
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // The demo config these tests reuse names this link secret.
            .env(
                "SANDBOX_SITE_LINK_SECRET",
                "voronka-demo-link-secret-not-for-production",
            )
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start the voronka binary");
        Function { child, stderr_path }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------ seeds ----

/// A small demo lake (local folder with `voronka.toml`, `raw/`, `state/`,
/// `normalized/`, `marts/`, `site/`).
async fn demo_lake(dir: &Path) -> PathBuf {
    let out = dir.join("demo");
    voronka::demo::run(voronka::demo::DemoOptions {
        out: out.clone(),
        seed: 11,
        days: 14,
        scale: 0.2,
        end: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("date"),
        progress: false,
    })
    .await
    .expect("voronka demo");
    out
}

/// Every file under `root/zone`, as (key relative to root, path).
fn files_under(root: &Path, zone: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(zone)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path
                    .strip_prefix(root)
                    .expect("under root")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((key, path));
            }
        }
    }
    out.sort();
    out
}

fn assert_pipeline_response(outcome: Outcome, request_id: &str) -> Value {
    match outcome {
        Outcome::Response {
            request_id: got,
            body,
        } => {
            assert_eq!(got, request_id);
            assert_eq!(body["as_of"], json!("2026-11-30"), "{body}");
            // Records normalized by this run: none when the lake's
            // normalized/ was already up to date with raw/.
            assert!(body["records"].as_u64().is_some(), "{body}");
            assert!(body["files"].as_u64().is_some_and(|n| n > 0), "{body}");
            body
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

// ------------------------------------------------------------ tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_pipeline_role_over_a_local_lake() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let lake = demo_lake(tmp.path()).await;
    // The invocation must produce these again.
    std::fs::remove_dir_all(lake.join("marts")).expect("remove marts");
    std::fs::remove_dir_all(lake.join("site")).expect("remove site");

    let mut api = RuntimeApi::start().await;
    let mut function = Function::start(
        &api,
        "pipeline",
        &lake.join("voronka.toml"),
        tmp.path(),
        &[],
    );
    let id = api.invoke(1, json!({"as_of": "2026-11-30"}));
    let outcome = api.outcome(&mut function).await;
    assert_pipeline_response(outcome, &id);

    for file in ["marts/marts.json", "site/index.html"] {
        assert!(lake.join(file).is_file(), "{file} was not written");
    }
    // Still alive and polling for the next event, as on Lambda.
    assert!(
        function.child.try_wait().expect("try_wait").is_none(),
        "the function must keep polling after an invocation; stderr:\n{}",
        function.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_handler_error_reaches_the_error_endpoint() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = tmp.path().join("voronka.toml");
    std::fs::write(
        &config,
        "timezone = \"Europe/Moscow\"\n\n[storage]\nkind = \"local\"\npath = \"data\"\n",
    )
    .expect("write config");

    let mut api = RuntimeApi::start().await;
    let mut function = Function::start(&api, "ingest", &config, tmp.path(), &[]);
    let id = api.invoke(1, json!({"from": "2026-11-01", "to": "2026-11-30"}));
    match api.outcome(&mut function).await {
        Outcome::Error {
            request_id,
            error_type,
            body,
        } => {
            assert_eq!(request_id, id);
            let message = body["errorMessage"].as_str().unwrap_or_default();
            assert!(
                message.contains("ingest event needs \"source\""),
                "errorMessage must name the missing field: {body} (error type header {error_type:?})"
            );
            assert!(body["errorType"].is_string(), "{body}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // One bad event does not stop the function: the next one is served.
    let id = api.invoke(2, json!({"source": "no_such_source"}));
    match api.outcome(&mut function).await {
        Outcome::Error {
            request_id, body, ..
        } => {
            assert_eq!(request_id, id);
            let message = body["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("no_such_source"), "{body}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The contract between `infra/template.yaml` and the binary: a credential
/// `{ secret = "amocrm" }` is read from `VORONKA_SECRET_AMOCRM`, the
/// variable the template fills from the `<stack>/amocrm` secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_ingest_reads_the_secret_variable_the_template_sets() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let end = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
    let school = Arc::new(voronka_sandbox::generate(&voronka_sandbox::SchoolSpec {
        seed: 5,
        days: 7,
        scale: 0.2,
        end,
    }));
    let sandbox =
        voronka_sandbox::Sandbox::start(school.clone(), voronka_sandbox::SandboxOptions::default())
            .await
            .expect("sandbox vendors");
    let base = sandbox.base_url();
    let (demo_config, _) = voronka::demo::sandbox_config(&school, &base, end);
    // The amoCRM account with its long-lived token read from a secret.
    let amocrm_url = format!("\"{base}/amocrm\"");
    assert!(demo_config.contains(&amocrm_url), "{demo_config}");
    let demo_config: Vec<String> = demo_config
        .lines()
        .map(|l| {
            if l.contains(&amocrm_url) {
                format!(
                    "  {{ id = \"main\", base_url = {amocrm_url}, credentials = {{ token = {{ secret = \"amocrm\" }} }} }}"
                )
            } else {
                l.to_string()
            }
        })
        .collect();
    let config = tmp.path().join("voronka.toml");
    std::fs::write(&config, demo_config.join("\n")).expect("write config");

    // Without the variable: the error names it.
    let mut api = RuntimeApi::start().await;
    let mut function = Function::start(&api, "ingest", &config, tmp.path(), &[]);
    let id = api.invoke(1, json!({"source": "amocrm"}));
    match api.outcome(&mut function).await {
        Outcome::Error {
            request_id, body, ..
        } => {
            assert_eq!(request_id, id);
            let message = body["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("VORONKA_SECRET_AMOCRM"), "{body}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    drop(function);

    // With it: amoCRM is ingested into raw/ (the pipeline role normalizes).
    let mut function = Function::start(
        &api,
        "ingest",
        &config,
        tmp.path(),
        &[("VORONKA_SECRET_AMOCRM", voronka_sandbox::AMOCRM_TOKEN)],
    );
    let id = api.invoke(2, json!({"source": "amocrm"}));
    match api.outcome(&mut function).await {
        Outcome::Response { request_id, body } => {
            assert_eq!(request_id, id);
            assert_eq!(body["source"], json!("amocrm"), "{body}");
            assert!(
                body["raw_objects"].as_u64().is_some_and(|n| n > 0),
                "{body}"
            );
        }
        other => panic!("expected a response, got {other:?}"),
    }
    assert!(
        tmp.path().join("raw/amocrm").is_dir(),
        "no raw/amocrm written"
    );
}

// --------------------------------------------------------------- S3 ----

const ACCESS_KEY: &str = "voronka-lambda-access";
const SECRET_KEY: &str = "voronka-lambda-secret-key";
const BUCKET: &str = "voronka-lake";

/// Finds `s3s-fs` as `functions/store/tests/conformance.rs` does.
fn s3s_fs_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("VORONKA_S3S_FS") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "VORONKA_S3S_FS={} does not point to a file",
            path.display()
        );
        return path;
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("s3s-fs"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/s3s-fs"));
    }
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return found;
    }
    panic!(
        "the Lambda S3 end-to-end test needs the s3s-fs server binary, which was not found \
         (looked at $VORONKA_S3S_FS, s3s-fs on PATH and ~/.cargo/bin/s3s-fs). Install it with\n\
         \n    cargo install s3s-fs@0.14.1 --features binary --locked\n\n\
         or point VORONKA_S3S_FS at an existing binary."
    );
}

/// The running server; killed when dropped (also when the test panics).
struct S3sFs {
    child: Child,
    endpoint: String,
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_s3s_fs(root: &Path) -> S3sFs {
    let binary = s3s_fs_binary();
    std::fs::create_dir_all(root).expect("s3s-fs root");
    let port = StdTcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(&binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(root)
        .env_remove("AWS_CA_BUNDLE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let mut server = S3sFs {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("s3s-fs exited before accepting connections: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "s3s-fs did not listen on {addr} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_pipeline_role_over_a_lake_in_s3() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = start_s3s_fs(&tmp.path().join("s3"));
    let lake = demo_lake(tmp.path()).await;

    // The bucket, seeded with the system of record (raw/) and state/: the
    // function rebuilds normalized/, marts/ and site/ from them.
    let s3 = S3Store::new(S3Config {
        bucket: BUCKET.to_string(),
        prefix: String::new(),
        region: None,
        endpoint: Some(server.endpoint.clone()),
        access_key: Some(ACCESS_KEY.to_string()),
        secret_key: Some(SECRET_KEY.to_string()),
    })
    .await
    .expect("S3Store::new");
    s3.client()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {BUCKET}: {e:?}"));
    let mut seeded = 0;
    for zone in ["raw", "state"] {
        for (key, path) in files_under(&lake, zone) {
            let bytes = std::fs::read(&path).expect("read seed file");
            s3.put(&key, bytes.into()).await.expect("seed the bucket");
            seeded += 1;
        }
    }
    assert!(
        seeded > 10,
        "the demo lake has too few raw/state files: {seeded}"
    );

    // The demo's config with its storage moved to the bucket.
    let demo_config = std::fs::read_to_string(lake.join("voronka.toml")).expect("demo config");
    let local = "[storage]\nkind = \"local\"\npath = \".\"\n";
    assert!(
        demo_config.contains(local),
        "the demo config changed its [storage] table:\n{demo_config}"
    );
    let config = tmp.path().join("lambda").join("voronka.toml");
    std::fs::create_dir_all(config.parent().expect("parent")).expect("config dir");
    std::fs::write(
        &config,
        demo_config.replace(
            local,
            &format!(
                "[storage]\nkind = \"s3\"\nbucket = \"{BUCKET}\"\nendpoint = \"{}\"\n",
                server.endpoint
            ),
        ),
    )
    .expect("write config");

    let mut api = RuntimeApi::start().await;
    // The S3 store takes credentials and region from the default chain, as
    // on Lambda (where the execution role supplies them).
    let mut function = Function::start(
        &api,
        "pipeline",
        &config,
        tmp.path(),
        &[
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let id = api.invoke(1, json!({"as_of": "2026-11-30"}));
    let outcome = api.outcome(&mut function).await;
    let body = assert_pipeline_response(outcome, &id);

    let keys = s3.list("").await.expect("list the bucket");
    for key in [
        "marts/marts.json",
        "site/index.html",
        "state/normalize.json",
    ] {
        assert!(
            keys.iter().any(|k| k == key),
            "{key} is not in the bucket: {body}"
        );
    }
    assert!(
        keys.iter().any(|k| k.starts_with("normalized/")),
        "no normalized/ in the bucket"
    );
    // Nothing was written beside the lake's zones, and the local folder
    // next to the config stayed empty (the store really is the bucket).
    let zones = [
        "raw/",
        "state/",
        "normalized/",
        "quarantine/",
        "marts/",
        "site/",
        "archive/",
    ];
    assert!(
        keys.iter().all(|k| zones.iter().any(|z| k.starts_with(z))),
        "unexpected keys: {keys:?}"
    );
    let beside: Vec<_> = std::fs::read_dir(config.parent().expect("parent"))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(beside, vec![std::ffi::OsString::from("voronka.toml")]);
    // The same marts as the local demo computed (same raw/, same as_of).
    let marts = s3
        .get("marts/marts.json")
        .await
        .expect("get")
        .expect("marts");
    let marts: Value = serde_json::from_slice(&marts).expect("marts json");
    let local_marts: Value =
        serde_json::from_slice(&std::fs::read(lake.join("marts/marts.json")).expect("local marts"))
            .expect("json");
    assert_eq!(
        marts["summary"], local_marts["summary"],
        "S3 and local marts differ"
    );
}
