//! A recorded vendor response dropped into raw/ is picked up by
//! `voronka run --from-raw` (docs/storage.md): no fetching, re-normalize,
//! aggregate, render.

use rust_decimal_macros::dec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_in_yandex_report_reaches_the_marts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("voronka.toml"),
        r#"
[storage]
kind = "local"
path = "lake"

[sources.yandex_direct]
accounts = [{ id = "main", spend_multiplier = "1.2", credentials = { token = { env = "NOT_NEEDED_FOR_FROM_RAW" } } }]
"#,
    )
    .unwrap();
    let key = "lake/raw/yandex_direct/main/2026/12/01/061500-20261201T061500000Z-manual-000001-report.json";
    let path = dir.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/raw/yandex_direct-report.envelope.json"
        ),
        &path,
    )
    .unwrap();

    let config = dir.join("voronka.toml");
    let cli = voronka::cli::parse(&[
        "voronka",
        "--config",
        config.to_str().unwrap(),
        "run",
        "--from-raw",
        "--as-of",
        "2026-11-30",
    ])
    .unwrap();
    voronka::cli::main(cli).await.unwrap();

    let marts: voronka_core::metrics::Marts =
        serde_json::from_slice(&std::fs::read(dir.join("lake/marts/marts.json")).unwrap()).unwrap();
    // 1 061 083 620 micros = 1 061.08362 RUB; 500 000 000 micros = 500 RUB;
    // x 1.2 (VAT) = 1 273.300344 + 600 = 1 873.300344 RUB.
    assert_eq!(marts.summary.spend, dec!(1873.300344));
    assert_eq!(marts.summary.impressions, 9112);
    assert_eq!(marts.summary.clicks, 354);
    let row = marts
        .channels
        .iter()
        .find(|r| r.date.to_string() == "2026-11-28")
        .unwrap();
    assert_eq!(
        (row.platform.as_str(), row.campaign.as_str()),
        ("yandex", "Поиск — курс")
    );
    assert!(dir.join("lake/site/index.html").exists());
    assert!(
        dir.join("lake/normalized/ad_stat/yandex_direct/main/2026-11-28.jsonl")
            .exists()
    );
}
