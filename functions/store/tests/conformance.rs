//! Every backend passes the same conformance suite. The S3 backend runs
//! against a real S3-compatible server (`s3s-fs`), started per test.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use voronka_store::{LocalStore, MemoryStore, S3Config, S3Store, Store, StoreError, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    let store = MemoryStore::new();
    conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_store_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalStore::new(dir.path().join("data"));
    conformance::run_all(&store).await;
    // Running again over the same (now used) folder must pass too.
    conformance::run_all(&store).await;
    assert_no_temp_files(dir.path());
}

fn assert_no_temp_files(root: &std::path::Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains(".tmp-"),
                "temp file left behind: {}",
                entry.path().display()
            );
            if entry.file_type().expect("file type").is_dir() {
                stack.push(entry.path());
            }
        }
    }
}

#[tokio::test]
async fn local_crash_mid_write_leaves_no_partial_object() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalStore::new(dir.path());
    store
        .put("raw/src/a.json", Bytes::from_static(b"complete old"))
        .await
        .expect("put");

    // What a crash mid-`put` leaves behind: a partial temp file beside the
    // target (same naming scheme as the store's temp files), never renamed.
    let folder = dir.path().join("raw").join("src");
    std::fs::write(folder.join(".a.json.tmp-4242-7"), b"compl").expect("write temp");
    std::fs::write(folder.join(".b.json.tmp-4242-8"), b"half of b").expect("write temp");

    assert_eq!(
        store.list("raw/").await.expect("list"),
        vec!["raw/src/a.json".to_string()],
        "temp files must not be listed"
    );
    assert_eq!(
        store.get("raw/src/a.json").await.expect("get").as_deref(),
        Some(&b"complete old"[..]),
        "a leftover temp file must not shadow the existing object"
    );
    assert_eq!(
        store.get("raw/src/b.json").await.expect("get"),
        None,
        "an object whose write crashed must be absent, not partial"
    );
    assert!(
        store
            .put_if_absent("raw/src/b.json", Bytes::from_static(b"full b"))
            .await
            .expect("put_if_absent"),
        "a crashed write must not make the key look present"
    );
    assert_eq!(
        store.get("raw/src/b.json").await.expect("get").as_deref(),
        Some(&b"full b"[..])
    );
    store
        .put("raw/src/a.json", Bytes::from_static(b"new a"))
        .await
        .expect("put over a key with a stale temp file");
    assert_eq!(
        store.get("raw/src/a.json").await.expect("get").as_deref(),
        Some(&b"new a"[..])
    );
    // Keys that look like temp files are refused rather than hidden.
    match store
        .put("raw/src/.a.json.tmp-1-2", Bytes::from_static(b"x"))
        .await
    {
        Err(StoreError::InvalidKey { .. }) => {}
        other => panic!("temp-like key must be refused, got {other:?}"),
    }
    // A hidden file that is not a temp file is an ordinary key.
    store
        .put("raw/src/.hidden", Bytes::from_static(b"h"))
        .await
        .expect("put dotfile");
    assert_eq!(
        store.list("raw/src/").await.expect("list"),
        vec![
            "raw/src/.hidden".to_string(),
            "raw/src/a.json".to_string(),
            "raw/src/b.json".to_string()
        ]
    );
}

#[tokio::test]
async fn local_errors_name_backend_op_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A file where the root folder should be: every write must fail.
    let root = dir.path().join("not-a-folder");
    std::fs::write(&root, b"file").expect("write");
    let store = LocalStore::new(&root);
    let err = store
        .put("raw/x.json", Bytes::from_static(b"x"))
        .await
        .expect_err("put under a file must fail");
    match &err {
        StoreError::Backend {
            backend, op, key, ..
        } => {
            assert_eq!(backend, &format!("local {}", root.display()));
            assert_eq!(*op, "put");
            assert_eq!(key, "raw/x.json");
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("put") && text.contains("raw/x.json"),
        "{text}"
    );
    let err = store
        .put_if_absent("raw/y.json", Bytes::from_static(b"y"))
        .await
        .expect_err("put_if_absent under a file must fail");
    assert!(
        matches!(&err, StoreError::Backend { op: "put_if_absent", key, .. } if key == "raw/y.json"),
        "{err:?}"
    );
}

#[tokio::test]
async fn memory_clones_share_objects() {
    let a = MemoryStore::new();
    let b = a.clone();
    a.put("state/x", Bytes::from_static(b"1"))
        .await
        .expect("put");
    assert_eq!(
        b.get("state/x").await.expect("get").as_deref(),
        Some(&b"1"[..])
    );
}

// ---------------------------------------------------------------- S3 ----

const ACCESS_KEY: &str = "voronka-test-access";
const SECRET_KEY: &str = "voronka-test-secret-key";

/// Finds the `s3s-fs` binary, or fails the test with install instructions.
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
        "the S3 conformance test needs the s3s-fs server binary, which was not found \
         (looked at $VORONKA_S3S_FS, s3s-fs on PATH and ~/.cargo/bin/s3s-fs). Install it with\n\
         \n    cargo install s3s-fs@0.14.1 --features binary --locked\n\n\
         or point VORONKA_S3S_FS at an existing binary."
    );
}

/// The running server; killed when dropped (also when the test panics).
struct S3sFsServer {
    child: Child,
    endpoint: String,
    _data: tempfile::TempDir,
}

impl Drop for S3sFsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

fn start_s3s_fs() -> S3sFsServer {
    let binary = s3s_fs_binary();
    let data = tempfile::tempdir().expect("temp dir for s3s-fs");
    let port = free_port();
    let child = Command::new(&binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(data.path())
        // Plain HTTP on loopback: no CA bundle, no proxies.
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let mut server = S3sFsServer {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        _data: data,
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
            "s3s-fs did not accept connections on {addr} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn s3_store(server: &S3sFsServer, bucket: &str, prefix: &str) -> S3Store {
    // Static credentials + explicit endpoint: the client reads no AWS
    // environment (AWS_CA_BUNDLE, profiles, AWS_ENDPOINT_URL) at all.
    S3Store::new(S3Config {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        region: None,
        endpoint: Some(server.endpoint.clone()),
        access_key: Some(ACCESS_KEY.to_string()),
        secret_key: Some(SECRET_KEY.to_string()),
    })
    .await
    .expect("S3Store::new")
}

async fn create_bucket(store: &S3Store) {
    store
        .client()
        .create_bucket()
        .bucket(store.bucket())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create bucket {}: {}",
                store.bucket(),
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        });
}

/// Checks switched off for s3s-fs 0.14.1 only, because of gaps of that
/// server (observed here, see also its source), not of `S3Store` or AWS S3:
/// - `folder_edge_cases`: it maps keys to files, so GET of a key that is a
///   "folder" of another key (`a` when `a/b` exists) answers
///   `500 InternalError` instead of `404 NoSuchKey`.
/// - `concurrent_puts`: it renames the data file and then writes the
///   checksum into a separate side file, so after simultaneous PUTs of one
///   key a GET may return one writer's bytes with another writer's CRC32;
///   the SDK then (rightly) fails the read with "body checksum mismatch".
/// - `concurrent_put_if_absent`: it honours `If-None-Match: *` (the
///   sequential write-once checks run and pass, so the header really is
///   sent and 412 is mapped to `Ok(false)`), but it checks for the object
///   and then writes in two steps, so simultaneous conditional PUTs of a new
///   key can both succeed (seen: writers [0, 1] both got 200). AWS S3
///   decides atomically; `S3Store` does not emulate this with HEAD+PUT.
const S3S_FS_OPTIONS: conformance::Options = conformance::Options {
    folder_edge_cases: false,
    concurrent_puts: false,
    concurrent_put_if_absent: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_store_conforms() {
    let server = start_s3s_fs();
    let store = s3_store(&server, "voronka-test", "schools/demo").await;
    create_bucket(&store).await;
    assert_eq!(
        store.describe(),
        format!("s3://voronka-test/schools/demo/ at {}", server.endpoint)
    );

    // Objects outside the prefix must stay invisible to the store.
    let outside = s3_store(&server, "voronka-test", "").await;
    outside
        .put("schools/demo-other/x", Bytes::from_static(b"other school"))
        .await
        .expect("put outside the prefix");
    outside
        .put("elsewhere", Bytes::from_static(b"e"))
        .await
        .expect("put outside the prefix");

    conformance::run_with(&store, S3S_FS_OPTIONS).await;

    assert_eq!(store.list("").await.expect("list"), Vec::<String>::new());
    assert_eq!(
        outside.list("").await.expect("list"),
        vec!["elsewhere".to_string(), "schools/demo-other/x".to_string()],
        "the suite must only touch keys under its store's prefix"
    );
    // The prefix is really applied on the wire.
    store
        .put("raw/k", Bytes::from_static(b"v"))
        .await
        .expect("put");
    assert_eq!(
        outside
            .get("schools/demo/raw/k")
            .await
            .expect("get")
            .as_deref(),
        Some(&b"v"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors_name_backend_op_and_key() {
    let server = start_s3s_fs();
    let good = s3_store(&server, "voronka-errors", "p").await;
    create_bucket(&good).await;
    // Wrong credentials: every operation fails with a backend error naming
    // the store, the operation and the key (a 403 is not a missing object).
    let store = S3Store::new(S3Config {
        bucket: "voronka-errors".to_string(),
        prefix: "p".to_string(),
        region: Some("us-east-1".to_string()),
        endpoint: Some(server.endpoint.clone()),
        access_key: Some(ACCESS_KEY.to_string()),
        secret_key: Some("wrong-secret".to_string()),
    })
    .await
    .expect("S3Store::new");
    let expect_backend = |op: &str, key: &str, err: Option<StoreError>| match err {
        Some(StoreError::Backend {
            backend,
            op: got_op,
            key: got_key,
            message,
        }) => {
            assert!(
                backend.starts_with("s3://voronka-errors/p/ at http://127.0.0.1:"),
                "{backend}"
            );
            assert_eq!(got_op, op);
            assert_eq!(got_key, key);
            assert!(!message.is_empty());
        }
        other => {
            panic!("{op} {key:?} with a wrong secret: expected a backend error, got {other:?}")
        }
    };
    let x = Bytes::from_static(b"x");
    expect_backend(
        "put",
        "raw/x.json",
        store.put("raw/x.json", x.clone()).await.err(),
    );
    expect_backend(
        "put_if_absent",
        "raw/y.json",
        store.put_if_absent("raw/y.json", x.clone()).await.err(),
    );
    expect_backend("get", "raw/x.json", store.get("raw/x.json").await.err());
    expect_backend("list", "raw/", store.list("raw/").await.err());
    expect_backend(
        "delete",
        "raw/x.json",
        store.delete("raw/x.json").await.err(),
    );
    assert_eq!(good.list("").await.expect("list"), Vec::<String>::new());

    let empty_bucket = S3Store::new(S3Config::default()).await;
    assert!(
        matches!(
            &empty_bucket,
            Err(StoreError::Backend { op: "connect", .. })
        ),
        "an empty bucket name must be refused: {empty_bucket:?}"
    );
}
