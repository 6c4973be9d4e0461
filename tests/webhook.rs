//! The webhook receiver: authenticates, caps, stores before parsing,
//! answers at once; a re-delivered `tranid` is one lead after normalize.
//! Tilda forms, Salebot bots and GetCourse deals (new-API arrays and
//! process callbacks with the data in the query string).

// The Tilda CSV import lives beside the receiver's tests (same binary).
#[path = "tilda_csv.rs"]
mod tilda_csv;

use std::collections::BTreeMap;
use std::sync::Arc;
use voronka::pipeline::Pipeline;
use voronka::webhook::{Delivery, MAX_BODY, Receiver};
use voronka_connectors::RawEnvelope;
use voronka_connectors::driver::{Driver, DriverOptions, StaticSecrets};
use voronka_core::config::Config;
use voronka_core::model::OrderStatus;
use voronka_store::{MemoryStore, Store};

const TOKEN: &str = "tilda-secret-0123456789";

fn config() -> Config {
    Config::from_toml(
        r#"
[sources.tilda]
accounts = [{ id = "main", credentials = { webhook_token = { env = "TILDA_WEBHOOK_TOKEN" } } }]

[sources.salebot]
accounts = [
  { id = "bots", credentials = { api_key = { env = "SALEBOT_KEY" }, webhook_token = { env = "SALEBOT_WEBHOOK_TOKEN" } } },
  { id = "api_only", credentials = { api_key = { env = "SALEBOT_KEY" } } },
]

[sources.getcourse]
accounts = [{ id = "main", credentials = { key = { env = "GC_KEY" }, webhook_token = { env = "GC_WEBHOOK_TOKEN" } }, options = { school = "myschool" } }]
"#,
    )
    .unwrap()
}

fn secrets() -> StaticSecrets {
    StaticSecrets(BTreeMap::from([(
        "webhook_token".to_string(),
        TOKEN.to_string(),
    )]))
}

fn receiver(store: Arc<dyn Store>) -> Receiver {
    Receiver::new(&config(), &secrets(), store).unwrap()
}

async fn send(
    r: &Receiver,
    method: &str,
    path: &str,
    query: &str,
    content_type: &str,
    body: &[u8],
) -> u16 {
    let headers = BTreeMap::from([("content-type".to_string(), content_type.to_string())]);
    r.handle_method(
        method,
        &Delivery {
            path,
            query,
            headers: &headers,
            body,
            received_at: chrono::Utc::now(),
        },
    )
    .await
    .status
}

async fn deliver(r: &Receiver, query: &str, body: &[u8]) -> u16 {
    let headers = BTreeMap::from([(
        "content-type".to_string(),
        "application/x-www-form-urlencoded".to_string(),
    )]);
    r.handle(&Delivery {
        path: "/webhook/tilda/main",
        query,
        headers: &headers,
        body,
        received_at: chrono::Utc::now(),
    })
    .await
    .status
}

/// Every envelope under `prefix`, checking that none holds the token.
async fn stored(store: &dyn Store, prefix: &str) -> Vec<RawEnvelope> {
    let mut out = Vec::new();
    for k in store.list(prefix).await.unwrap() {
        let bytes = store.get(&k).await.unwrap().unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains(TOKEN), "the token leaked into {k}");
        out.push(RawEnvelope::from_json(&bytes).unwrap());
    }
    out
}

fn pipeline(store: Arc<dyn Store>) -> Pipeline {
    Pipeline {
        store,
        config: config(),
        driver: Driver::new(DriverOptions::default(), Arc::new(secrets())),
    }
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

const FORM: &[u8] = b"Name=%D0%90%D0%BD%D0%BD%D0%B0&Email=anna%40example.com&Phone=%2B7+999+000-00-00&utm_source=fb&tranid=7807982%3A1&formid=form1";

#[tokio::test]
async fn stores_authenticated_deliveries_and_refuses_the_rest() {
    let store = Arc::new(MemoryStore::new());
    let r = receiver(store.clone());
    assert_eq!(
        deliver(&r, &format!("token={TOKEN}"), b"test=test").await,
        200
    );
    assert_eq!(deliver(&r, &format!("token={TOKEN}"), FORM).await, 200);
    // Re-delivered by Tilda: accepted and stored again.
    assert_eq!(deliver(&r, &format!("token={TOKEN}"), FORM).await, 200);
    assert_eq!(deliver(&r, "token=wrong-token-xxxxxxx", FORM).await, 403);
    assert_eq!(deliver(&r, "", FORM).await, 403);
    let big = vec![b'a'; MAX_BODY + 1];
    assert_eq!(deliver(&r, &format!("token={TOKEN}"), &big).await, 413);
    // Tilda posts: a GET is refused even with the token.
    let q = format!("token={TOKEN}");
    assert_eq!(
        send(&r, "GET", "/webhook/tilda/main", &q, "", b"").await,
        405
    );

    let keys = store.list("raw/tilda/main/").await.unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    stored(&*store, "raw/tilda/main/").await;
}

#[tokio::test]
async fn a_webhook_needs_a_token() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = Config::from_toml("[sources.tilda]\naccounts = [{ id = \"main\" }]\n").unwrap();
    let err = Receiver::new(&config, &StaticSecrets(BTreeMap::new()), store)
        .err()
        .expect("must refuse an open webhook");
    assert!(
        err.to_string()
            .contains("sources.tilda.accounts[0].credentials.webhook_token"),
        "{err}"
    );
}

#[tokio::test]
async fn api_accounts_without_a_token_get_no_route() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let r = receiver(store.clone());
    assert_eq!(
        r.paths(),
        vec![
            "/webhook/tilda/main",
            "/webhook/salebot/bots",
            "/webhook/getcourse/main"
        ]
    );
    let q = format!("token={TOKEN}");
    assert_eq!(
        send(
            &r,
            "POST",
            "/webhook/salebot/api_only",
            &q,
            "application/json",
            b"{}"
        )
        .await,
        404
    );
    // A token that is named but too short is a config error, not an open route.
    let config = Config::from_toml(
        "[sources.getcourse]\naccounts = [{ id = \"main\", credentials = { webhook_token = { env = \"X\" } } }]\n",
    )
    .unwrap();
    let short = StaticSecrets(BTreeMap::from([(
        "webhook_token".to_string(),
        "short".to_string(),
    )]));
    let err = Receiver::new(&config, &short, store).err().unwrap();
    assert!(
        err.to_string()
            .contains("sources.getcourse.accounts[0].credentials.webhook_token"),
        "{err}"
    );
}

#[tokio::test]
async fn salebot_leads_and_chat_messages_are_stored_only_leads_normalize() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let r = receiver(store.clone());
    let path = "/webhook/salebot/bots";
    let q = format!("token={TOKEN}");
    let json = "application/json";
    let lead = fixture("salebot/webhook_lead.json");
    let message = fixture("salebot/webhook_message.json");
    assert_eq!(send(&r, "POST", path, &q, json, &lead).await, 200);
    assert_eq!(send(&r, "POST", path, &q, json, &message).await, 200);
    assert_eq!(
        send(&r, "POST", path, "token=nope-nope-nope-nope", json, &lead).await,
        403
    );
    assert_eq!(send(&r, "POST", path, "", json, &lead).await, 403);
    assert_eq!(send(&r, "GET", path, &q, "", b"").await, 405);
    let big = vec![b' '; MAX_BODY + 1];
    assert_eq!(send(&r, "POST", path, &q, json, &big).await, 413);

    let envs = stored(&*store, "raw/salebot/bots/").await;
    assert_eq!(envs.len(), 2);
    let mut bodies: Vec<Vec<u8>> = envs.iter().map(|e| e.body_bytes().unwrap()).collect();
    bodies.sort();
    let mut sent = vec![lead.clone(), message.clone()];
    sent.sort();
    assert_eq!(bodies, sent, "stored byte-exact, the message too");
    assert!(envs.iter().all(|e| e.entity == "webhook"));

    let p = pipeline(store.clone());
    let n = p.normalize().await.unwrap();
    assert_eq!(n.quarantined, 0);
    let ds = p.load_dataset().await.unwrap();
    assert_eq!(ds.leads.len(), 1, "the chat message gives no record");
    assert_eq!(ds.leads[0].source, "salebot");
    assert_eq!(ds.leads[0].account, "bots");
    assert_eq!(ds.leads[0].email, "anna@example.com");
}

#[tokio::test]
async fn getcourse_events_and_process_callbacks() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let r = receiver(store.clone());
    let path = "/webhook/getcourse/main";
    let q = format!("token={TOKEN}");
    let json = "application/json";
    // One payment: dealPaid and dealStatusChanged (same ts), two deliveries.
    let paid = fixture("getcourse/webhooks/deal_paid.json");
    let changed = fixture("getcourse/webhooks/deal_status_changed.json");
    assert_eq!(send(&r, "POST", path, &q, json, &paid).await, 200);
    assert_eq!(send(&r, "POST", path, &q, json, &changed).await, 200);
    // And both in one body.
    let pair = fixture("getcourse/webhooks/deal_paid_pair.json");
    assert_eq!(send(&r, "POST", path, &q, json, &pair).await, 200);
    // A process callback by GET (token anywhere in the query) and by POST.
    let callback = String::from_utf8(fixture("getcourse/webhooks/process_callback.txt")).unwrap();
    let get_query = format!("{callback}&token={TOKEN}");
    assert_eq!(send(&r, "GET", path, &get_query, "", b"").await, 200);
    let post_query = format!("token={TOKEN}&{callback}");
    assert_eq!(send(&r, "POST", path, &post_query, "", b"").await, 200);
    // Refused: wrong token, no token, too large, other methods.
    assert_eq!(
        send(&r, "GET", path, &format!("{callback}&token=x"), "", b"").await,
        403
    );
    assert_eq!(send(&r, "POST", path, &callback, json, &paid).await, 403);
    let big = vec![b' '; MAX_BODY + 1];
    assert_eq!(send(&r, "POST", path, &q, json, &big).await, 413);
    assert_eq!(send(&r, "PUT", path, &q, json, &paid).await, 405);

    let envs = stored(&*store, "raw/getcourse/main/").await;
    assert_eq!(envs.len(), 5);
    let callbacks: Vec<&RawEnvelope> = envs
        .iter()
        .filter(|e| e.request.url.contains('?'))
        .collect();
    assert_eq!(callbacks.len(), 2);
    let mut methods: Vec<&str> = callbacks
        .iter()
        .map(|e| e.request.method.as_str())
        .collect();
    methods.sort();
    assert_eq!(methods, vec!["GET", "POST"]);
    for e in &callbacks {
        assert_eq!(e.request.url, format!("/getcourse/webhook?{callback}"));
    }

    let p = pipeline(store.clone());
    let n = p.normalize().await.unwrap();
    assert_eq!(n.quarantined, 0);
    let ds = p.load_dataset().await.unwrap();
    assert_eq!(ds.payments, vec![], "webhooks give no payments");
    let mut orders: Vec<(&str, OrderStatus)> = ds
        .orders
        .iter()
        .map(|o| (o.id.as_str(), o.status))
        .collect();
    orders.sort();
    assert_eq!(
        orders,
        vec![
            ("871035642", OrderStatus::Paid),
            ("871050000", OrderStatus::InProgress)
        ],
        "three deliveries of one payment are one order; two callbacks one"
    );
    let paid_order = ds.orders.iter().find(|o| o.id == "871035642").unwrap();
    assert_eq!(paid_order.cost, rust_decimal_macros::dec!(14900));
    assert_eq!(paid_order.number, "11892043");
    assert_eq!(paid_order.email, "test@example.com");
}

#[tokio::test]
async fn a_flood_is_rate_limited_and_nothing_accepted_is_lost() {
    let store = Arc::new(MemoryStore::new());
    let r = receiver(store.clone());
    let burst = voronka::webhook::RATE_BURST as usize;
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..burst + 100 {
        match deliver(&r, &format!("token={TOKEN}"), FORM).await {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    // The burst is accepted; beyond it (refilled at 50/s while the loop
    // runs) deliveries are refused with 429, which vendors retry.
    assert!(ok >= burst, "{ok} accepted");
    assert!(limited > 0, "no delivery was rate limited");
    // Every accepted delivery is stored, none of the refused ones.
    assert_eq!(store.list("raw/tilda/main/").await.unwrap().len(), ok);
}
