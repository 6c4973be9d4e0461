//! The conformance suite every [`Store`] backend must pass.
//!
//! [`run_all`] panics with a message naming the backend and the failed
//! expectation. It works under the key prefix [`ROOT`]: it removes whatever
//! is there first and leaves that prefix empty when it passes, so it can run
//! against a persistent store (a folder, a bucket) repeatedly.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use bytes::Bytes;

use crate::{Store, StoreError};

/// Every key the suite writes starts with this.
pub const ROOT: &str = "conformance/";

/// Objects written by [`list_many`]: more than one S3 list page (1000).
pub const MANY: usize = 1100;

/// Which checks run. [`run_all`] uses [`Options::STRICT`]: every check.
/// Turning a check off is for test servers with a documented gap only
/// (see the S3 test); production backends must pass everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// [`folder_edge_cases`]: "folder" and "child" keys of an object read
    /// as missing.
    pub folder_edge_cases: bool,
    /// [`concurrent_puts`]: simultaneous writers of one key (with readers
    /// running meanwhile) leave one complete value.
    pub concurrent_puts: bool,
    /// [`concurrent_put_if_absent`]: simultaneous writers, exactly one wins.
    pub concurrent_put_if_absent: bool,
}

impl Options {
    pub const STRICT: Options = Options {
        folder_edge_cases: true,
        concurrent_puts: true,
        concurrent_put_if_absent: true,
    };
}

/// Runs every check in order; panics on the first failure.
pub async fn run_all(store: &dyn Store) {
    run_with(store, Options::STRICT).await;
}

/// Runs the checks `options` selects, in order; panics on the first failure.
pub async fn run_with(store: &dyn Store, options: Options) {
    clean(store).await;
    round_trip(store).await;
    overwrite(store).await;
    get_missing(store).await;
    if options.folder_edge_cases {
        folder_edge_cases(store).await;
    }
    put_if_absent(store).await;
    list_by_prefix(store).await;
    list_many(store).await;
    delete(store).await;
    invalid_keys(store).await;
    unicode_keys(store).await;
    if options.concurrent_puts {
        concurrent_puts(store).await;
    }
    if options.concurrent_put_if_absent {
        concurrent_put_if_absent(store).await;
    }
    clean(store).await;
    let left = list(store, ROOT).await;
    assert!(
        left.is_empty(),
        "[{}] keys left under {ROOT} after cleaning: {left:?}",
        store.describe()
    );
}

fn key(rel: &str) -> String {
    format!("{ROOT}{rel}")
}

async fn put(store: &dyn Store, key: &str, bytes: impl Into<Bytes>) {
    if let Err(err) = store.put(key, bytes.into()).await {
        panic!("[{}] put {key:?} failed: {err}", store.describe());
    }
}

async fn get(store: &dyn Store, key: &str) -> Option<Bytes> {
    match store.get(key).await {
        Ok(value) => value,
        Err(err) => panic!("[{}] get {key:?} failed: {err}", store.describe()),
    }
}

async fn put_if_absent_ok(store: &dyn Store, key: &str, bytes: impl Into<Bytes>) -> bool {
    match store.put_if_absent(key, bytes.into()).await {
        Ok(wrote) => wrote,
        Err(err) => panic!("[{}] put_if_absent {key:?} failed: {err}", store.describe()),
    }
}

async fn list(store: &dyn Store, prefix: &str) -> Vec<String> {
    match store.list(prefix).await {
        Ok(keys) => keys,
        Err(err) => panic!("[{}] list {prefix:?} failed: {err}", store.describe()),
    }
}

async fn del(store: &dyn Store, key: &str) {
    if let Err(err) = store.delete(key).await {
        panic!("[{}] delete {key:?} failed: {err}", store.describe());
    }
}

fn short(bytes: Option<&Bytes>) -> String {
    match bytes {
        None => "None".to_string(),
        Some(b) if b.len() <= 32 => format!("{:?}", b.as_ref()),
        Some(b) => format!("{} bytes starting {:?}", b.len(), &b[..16]),
    }
}

async fn expect_value(store: &dyn Store, key: &str, expected: Option<&[u8]>, what: &str) {
    let got = get(store, key).await;
    assert!(
        got.as_deref() == expected,
        "[{}] {what}: get {key:?} returned {}, expected {}",
        store.describe(),
        short(got.as_ref()),
        short(expected.map(Bytes::copy_from_slice).as_ref()),
    );
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Polls every future in the same task until all are done; results in order.
async fn join_all<'a, T>(futures: Vec<BoxFut<'a, T>>) -> Vec<T> {
    let mut pending: Vec<Option<BoxFut<'a, T>>> = futures.into_iter().map(Some).collect();
    let mut results: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut busy = false;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *result = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => busy = true,
                }
            }
        }
        if busy { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    results
        .into_iter()
        .map(|r| r.expect("join_all: every future completed"))
        .collect()
}

/// Runs `f` on every item with at most `limit` calls in flight.
async fn for_each_bounded<'a, T, F, Fut>(items: &'a [T], limit: usize, f: F)
where
    T: Sync,
    F: Fn(&'a T) -> Fut + Sync + 'a,
    Fut: Future<Output = ()> + Send + 'a,
{
    let next = AtomicUsize::new(0);
    let (next, f) = (&next, &f);
    let workers = (0..limit.max(1))
        .map(|_| {
            Box::pin(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    f(item).await;
                }
            }) as BoxFut<'_, ()>
        })
        .collect();
    join_all(workers).await;
}

/// Deletes everything under [`ROOT`].
pub async fn clean(store: &dyn Store) {
    let keys = list(store, ROOT).await;
    for_each_bounded(&keys, 16, |k| del(store, k)).await;
}

/// Binary bytes (every byte value, invalid UTF-8) and the empty object.
pub async fn round_trip(store: &dyn Store) {
    let all_bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let not_utf8 = vec![0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1, b'\n', b'\r'];
    let cases: [(&str, Vec<u8>); 4] = [
        ("rt/all-bytes.bin", all_bytes),
        ("rt/not-utf8.bin", not_utf8),
        ("rt/empty", Vec::new()),
        ("rt/text.json", br#"{"a":1}"#.to_vec()),
    ];
    for (rel, bytes) in &cases {
        put(store, &key(rel), bytes.clone()).await;
    }
    for (rel, bytes) in &cases {
        expect_value(store, &key(rel), Some(bytes), "round trip").await;
    }
    let got = get(store, &key("rt/empty")).await;
    assert!(
        matches!(&got, Some(b) if b.is_empty()),
        "[{}] an empty object must read back as Some(empty), got {}",
        store.describe(),
        short(got.as_ref())
    );
    let listed = list(store, &key("rt/")).await;
    let mut expected: Vec<String> = cases.iter().map(|(rel, _)| key(rel)).collect();
    expected.sort();
    assert_eq!(
        listed,
        expected,
        "[{}] list after round trip (the empty object must be listed too)",
        store.describe()
    );
}

/// A second put replaces the object entirely (also with a shorter value).
pub async fn overwrite(store: &dyn Store) {
    let k = key("ow/object");
    put(store, &k, vec![b'x'; 10_000]).await;
    put(store, &k, &b"second"[..]).await;
    expect_value(store, &k, Some(b"second"), "overwrite with shorter value").await;
    put(store, &k, &b"third, longer than second"[..]).await;
    expect_value(
        store,
        &k,
        Some(b"third, longer than second"),
        "overwrite again",
    )
    .await;
    assert_eq!(
        list(store, &key("ow/")).await,
        vec![k.clone()],
        "[{}] overwriting must not create extra keys",
        store.describe()
    );
}

/// Missing keys read as `None`, also under a missing "folder" and next to
/// existing keys.
pub async fn get_missing(store: &dyn Store) {
    expect_value(store, &key("missing/nothing-here"), None, "missing key").await;
    expect_value(store, &key("no/such/folder/x"), None, "missing folder").await;
    put(store, &key("gm/present"), &b"p"[..]).await;
    expect_value(store, &key("gm/presen"), None, "prefix of existing key").await;
    expect_value(
        store,
        &key("gm/present2"),
        None,
        "extension of existing key",
    )
    .await;
}

/// Keys that are a "folder" or a "child" of an existing object read as
/// missing, and deleting them is a no-op. S3 has no folders, so this holds
/// there; a file tree (like [`crate::LocalStore`]) must take care.
pub async fn folder_edge_cases(store: &dyn Store) {
    put(store, &key("fe/present"), &b"p"[..]).await;
    expect_value(store, &key("fe"), None, "'folder' of existing key").await;
    expect_value(
        store,
        &key("fe/present/child"),
        None,
        "'child' of existing key",
    )
    .await;
    del(store, &key("fe")).await;
    del(store, &key("fe/present/child")).await;
    expect_value(
        store,
        &key("fe/present"),
        Some(b"p"),
        "after deleting folder/child",
    )
    .await;
    del(store, &key("fe/present")).await;
}

/// Write-once semantics of `put_if_absent`.
pub async fn put_if_absent(store: &dyn Store) {
    let k = key("pia/once");
    assert!(
        put_if_absent_ok(store, &k, &b"first"[..]).await,
        "[{}] put_if_absent on a new key must write (return true)",
        store.describe()
    );
    expect_value(store, &k, Some(b"first"), "after first put_if_absent").await;
    assert!(
        !put_if_absent_ok(store, &k, &b"second"[..]).await,
        "[{}] put_if_absent on an existing key must return false",
        store.describe()
    );
    expect_value(
        store,
        &k,
        Some(b"first"),
        "put_if_absent must not change content",
    )
    .await;

    let k2 = key("pia/after-put");
    put(store, &k2, &b"plain put"[..]).await;
    assert!(
        !put_if_absent_ok(store, &k2, &b"other"[..]).await,
        "[{}] put_if_absent after put must return false",
        store.describe()
    );
    expect_value(store, &k2, Some(b"plain put"), "put_if_absent after put").await;

    let k3 = key("pia/empty");
    assert!(
        put_if_absent_ok(store, &k3, Bytes::new()).await,
        "[{}] put_if_absent of an empty object must write",
        store.describe()
    );
    assert!(
        !put_if_absent_ok(store, &k3, &b"not empty"[..]).await,
        "[{}] an existing empty object counts as present",
        store.describe()
    );
    expect_value(store, &k3, Some(b""), "empty object kept").await;

    del(store, &k).await;
    assert!(
        put_if_absent_ok(store, &k, &b"again"[..]).await,
        "[{}] put_if_absent after delete must write again",
        store.describe()
    );
    expect_value(store, &k, Some(b"again"), "put_if_absent after delete").await;
}

/// `list` is a string-prefix match, sorted bytewise, exact.
pub async fn list_by_prefix(store: &dyn Store) {
    let rels = [
        "ls/raw/b",
        "ls/raw/ab/1",
        "ls/raw/a/2",
        "ls/raw/amocrm/main/2026/12/03/x.json",
        "ls/raw/a/1",
        "ls/raw/a/10",
        "ls/raw/a/sub/deep/z",
        "ls/raw/A/upper",
        "ls/raw/a-dash",
        "ls/rawish/x",
        "ls/normalized/a/1",
    ];
    for rel in rels {
        put(store, &key(rel), rel.as_bytes().to_vec()).await;
    }
    let d = store.describe();
    let check = |prefix: &str, expected: &[&str], got: Vec<String>| {
        let expected: Vec<String> = expected.iter().map(|r| key(r)).collect();
        assert_eq!(got, expected, "[{d}] list {prefix:?}");
    };
    check(
        "ls/raw/a/",
        &[
            "ls/raw/a/1",
            "ls/raw/a/10",
            "ls/raw/a/2",
            "ls/raw/a/sub/deep/z",
        ],
        list(store, &key("ls/raw/a/")).await,
    );
    check(
        "ls/raw/a",
        &[
            "ls/raw/a-dash",
            "ls/raw/a/1",
            "ls/raw/a/10",
            "ls/raw/a/2",
            "ls/raw/a/sub/deep/z",
            "ls/raw/ab/1",
            "ls/raw/amocrm/main/2026/12/03/x.json",
        ],
        list(store, &key("ls/raw/a")).await,
    );
    check(
        "ls/raw/ab/",
        &["ls/raw/ab/1"],
        list(store, &key("ls/raw/ab/")).await,
    );
    check(
        "ls/raw/amo",
        &["ls/raw/amocrm/main/2026/12/03/x.json"],
        list(store, &key("ls/raw/amo")).await,
    );
    check(
        "ls/raw/a/1",
        &["ls/raw/a/1", "ls/raw/a/10"],
        list(store, &key("ls/raw/a/1")).await,
    );
    check(
        "ls/raw/b",
        &["ls/raw/b"],
        list(store, &key("ls/raw/b")).await,
    );
    check(
        "ls/raw",
        &[
            "ls/raw/A/upper",
            "ls/raw/a-dash",
            "ls/raw/a/1",
            "ls/raw/a/10",
            "ls/raw/a/2",
            "ls/raw/a/sub/deep/z",
            "ls/raw/ab/1",
            "ls/raw/amocrm/main/2026/12/03/x.json",
            "ls/raw/b",
            "ls/rawish/x",
        ],
        list(store, &key("ls/raw")).await,
    );
    check("ls/nothing/", &[], list(store, &key("ls/nothing/")).await);
    check("ls/raw/c", &[], list(store, &key("ls/raw/c")).await);

    let mut all: Vec<String> = rels.iter().map(|r| key(r)).collect();
    all.sort();
    check_sorted(&d, "ls/", &list(store, &key("ls/")).await);
    assert_eq!(list(store, &key("ls/")).await, all, "[{d}] list \"ls/\"");
    // The empty prefix lists the whole store, which includes ours.
    let everything = list(store, "").await;
    check_sorted(&d, "", &everything);
    for k in &all {
        assert!(
            everything.binary_search(k).is_ok(),
            "[{d}] list \"\" misses {k:?}"
        );
    }
}

fn check_sorted(describe: &str, prefix: &str, keys: &[String]) {
    for pair in keys.windows(2) {
        assert!(
            pair[0].as_bytes() < pair[1].as_bytes(),
            "[{describe}] list {prefix:?} is not strictly sorted: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// More keys than one S3 list page; written with bounded concurrency.
pub async fn list_many(store: &dyn Store) {
    let keys: Vec<String> = (0..MANY).map(|i| key(&format!("many/{i}.json"))).collect();
    for_each_bounded(&keys, 32, |k| put(store, k, k.as_bytes().to_vec())).await;
    let mut expected = keys.clone();
    expected.sort();
    let got = list(store, &key("many/")).await;
    assert_eq!(
        got.len(),
        MANY,
        "[{}] list of {MANY} keys returned {} keys",
        store.describe(),
        got.len()
    );
    assert_eq!(got, expected, "[{}] list of {MANY} keys", store.describe());
    // A narrower prefix inside the big set: many/10, many/100..109, many/1000..1099.
    let narrow = list(store, &key("many/10")).await;
    let expected_narrow: Vec<String> = expected
        .iter()
        .filter(|k| k.starts_with(&key("many/10")))
        .cloned()
        .collect();
    assert_eq!(expected_narrow.len(), 1 + 10 + 100);
    assert_eq!(
        narrow,
        expected_narrow,
        "[{}] list \"many/10\"",
        store.describe()
    );
    for_each_bounded(&keys, 32, |k| del(store, k)).await;
    assert_eq!(
        list(store, &key("many/")).await,
        Vec::<String>::new(),
        "[{}] after deleting {MANY} keys",
        store.describe()
    );
}

/// Delete removes the object; deleting a missing key is fine.
pub async fn delete(store: &dyn Store) {
    let k = key("del/x");
    let sibling = key("del/xy");
    put(store, &k, &b"x"[..]).await;
    put(store, &sibling, &b"xy"[..]).await;
    del(store, &k).await;
    expect_value(store, &k, None, "after delete").await;
    expect_value(store, &sibling, Some(b"xy"), "sibling after delete").await;
    assert_eq!(
        list(store, &key("del/")).await,
        vec![sibling.clone()],
        "[{}] deleted key must not be listed",
        store.describe()
    );
    del(store, &k).await;
    del(store, &key("del/never/existed")).await;
    expect_value(
        store,
        &sibling,
        Some(b"xy"),
        "sibling after deleting missing keys",
    )
    .await;
}

/// Bad keys are refused with [`StoreError::InvalidKey`] by every operation.
pub async fn invalid_keys(store: &dyn Store) {
    let d = store.describe();
    let bad = [
        "",
        "/abs",
        "/",
        "a/../b",
        "..",
        "a/./b",
        ".",
        "a//b",
        "trailing/",
        "back\\slash",
        "nul\0byte",
    ];
    for k in bad {
        let expect_invalid = |op: &str, err: Option<StoreError>| match err {
            Some(StoreError::InvalidKey { key, .. }) => {
                assert_eq!(key, k, "[{d}] {op}: InvalidKey must name the key")
            }
            Some(other) => panic!("[{d}] {op} {k:?}: expected InvalidKey, got {other}"),
            None => panic!("[{d}] {op} {k:?}: expected InvalidKey, got Ok"),
        };
        expect_invalid("put", store.put(k, Bytes::from_static(b"x")).await.err());
        expect_invalid(
            "put_if_absent",
            store.put_if_absent(k, Bytes::from_static(b"x")).await.err(),
        );
        expect_invalid("get", store.get(k).await.err());
        expect_invalid("delete", store.delete(k).await.err());
    }
}

/// Unicode, spaces and URL-special characters survive put/get/list/delete.
pub async fn unicode_keys(store: &dyn Store) {
    let rels = [
        "uni/site/m/абв test.html",
        "uni/日本語/ファイル.json",
        "uni/emoji 🎉/x",
        "uni/special/a+b=c&d;e,f@g$h!'()~.txt",
        "uni/special/percent %20 and %zz",
        "uni/special/question?hash#",
        "uni/ spaces /  double  ",
    ];
    for rel in rels {
        put(store, &key(rel), rel.as_bytes().to_vec()).await;
    }
    for rel in rels {
        expect_value(store, &key(rel), Some(rel.as_bytes()), "unicode key").await;
    }
    let mut expected: Vec<String> = rels.iter().map(|r| key(r)).collect();
    expected.sort();
    assert_eq!(
        list(store, &key("uni/")).await,
        expected,
        "[{}] list of unicode keys",
        store.describe()
    );
    assert_eq!(
        list(store, &key("uni/site/m/абв")).await,
        vec![key("uni/site/m/абв test.html")],
        "[{}] list by a unicode prefix",
        store.describe()
    );
    for rel in rels {
        del(store, &key(rel)).await;
        expect_value(store, &key(rel), None, "unicode key after delete").await;
    }
}

const WRITERS: usize = 16;
const PAYLOAD: usize = 64 * 1024;

fn payload(i: usize) -> Bytes {
    // Every payload differs in every byte from every other, so a mix of two
    // writes can never equal a single one.
    let mut bytes = vec![0u8; PAYLOAD];
    for (pos, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(16).wrapping_add((pos % 13) as u8);
    }
    bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
    Bytes::from(bytes)
}

/// Concurrent writers to one key leave exactly one complete value, and
/// concurrent readers never see a partial one.
pub async fn concurrent_puts(store: &dyn Store) {
    let k = key("conc/one-key");
    let initial = Bytes::from_static(b"initial");
    put(store, &k, initial.clone()).await;
    let payloads: Vec<Bytes> = (0..WRITERS).map(payload).collect();
    let d = store.describe();
    let mut tasks: Vec<BoxFut<'_, ()>> = Vec::new();
    for p in &payloads {
        let k = &k;
        tasks.push(Box::pin(async move { put(store, k, p.clone()).await }));
    }
    for _ in 0..4 {
        let (k, payloads, initial, d) = (&k, &payloads, &initial, &d);
        tasks.push(Box::pin(async move {
            for _ in 0..8 {
                let got = get(store, k).await;
                let ok = matches!(&got, Some(v) if v == initial || payloads.contains(v));
                assert!(
                    ok,
                    "[{d}] a concurrent reader saw a value that is neither the old nor one \
                     complete new value: {}",
                    short(got.as_ref())
                );
                tokio::task::yield_now().await;
            }
        }));
    }
    join_all(tasks).await;
    let got = get(store, &k).await;
    let winner = payloads.iter().position(|p| Some(p) == got.as_ref());
    assert!(
        winner.is_some(),
        "[{d}] after {WRITERS} concurrent puts the value is not one complete payload: {}",
        short(got.as_ref())
    );
    assert_eq!(
        list(store, &key("conc/")).await,
        vec![k.clone()],
        "[{d}] concurrent puts must leave exactly one key"
    );
}

/// Concurrent `put_if_absent` calls on one new key: exactly one wins, and
/// the stored value is the winner's.
pub async fn concurrent_put_if_absent(store: &dyn Store) {
    let d = store.describe();
    for round in 0..3 {
        let k = key(&format!("conc-pia/round-{round}"));
        let payloads: Vec<Bytes> = (0..WRITERS).map(payload).collect();
        let tasks: Vec<BoxFut<'_, bool>> = payloads
            .iter()
            .map(|p| {
                let k = &k;
                Box::pin(async move { put_if_absent_ok(store, k, p.clone()).await })
                    as BoxFut<'_, bool>
            })
            .collect();
        let wrote = join_all(tasks).await;
        let winners: Vec<usize> = (0..WRITERS).filter(|&i| wrote[i]).collect();
        assert_eq!(
            winners.len(),
            1,
            "[{d}] {WRITERS} concurrent put_if_absent on {k:?}: expected exactly one to \
             write, writers {winners:?} reported writing"
        );
        let got = get(store, &k).await;
        assert!(
            got.as_ref() == Some(&payloads[winners[0]]),
            "[{d}] put_if_absent race on {k:?}: stored value is not the winner's ({}): {}",
            winners[0],
            short(got.as_ref())
        );
    }
}
