//! The webhook receiver: authenticates, caps, stores before parsing,
//! answers at once; a re-delivered `tranid` is one lead after normalize.

use std::collections::BTreeMap;
use std::sync::Arc;
use voronka::webhook::{Delivery, MAX_BODY, Receiver};
use voronka_connectors::driver::StaticSecrets;
use voronka_core::config::Config;
use voronka_store::{MemoryStore, Store};

const TOKEN: &str = "tilda-secret-0123456789";

fn config() -> Config {
    Config::from_toml(
        r#"
[sources.tilda]
accounts = [{ id = "main", credentials = { webhook_token = { env = "TILDA_WEBHOOK_TOKEN" } } }]
"#,
    )
    .unwrap()
}

fn receiver(store: Arc<dyn Store>) -> Receiver {
    let secrets = StaticSecrets(BTreeMap::from([(
        "webhook_token".to_string(),
        TOKEN.to_string(),
    )]));
    Receiver::new(&config(), &secrets, store).unwrap()
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

    let keys = store.list("raw/tilda/main/").await.unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for k in &keys {
        let text = String::from_utf8(store.get(k).await.unwrap().unwrap().to_vec()).unwrap();
        assert!(!text.contains(TOKEN), "the token leaked into {k}");
    }
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
