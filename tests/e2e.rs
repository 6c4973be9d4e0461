//! `voronka demo` end to end: sandbox vendors → connectors → raw →
//! normalized → marts → site, twice, byte-identical.

use std::collections::BTreeMap;
use std::path::Path;
use voronka::demo::{DemoOptions, run};

fn opts(out: &Path, seed: u64) -> DemoOptions {
    DemoOptions {
        out: out.to_path_buf(),
        seed,
        days: 35,
        scale: 0.3,
        end: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        progress: false,
    }
}

/// Every file under `dir/zone`, path -> bytes.
fn zone(dir: &Path, zone: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let root = dir.join(zone);
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(&root).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_renders_the_site_from_vendor_payloads_and_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let ra = run(opts(&a, 7)).await.unwrap();
    let rb = run(opts(&b, 7)).await.unwrap();

    // The expected pages exist and carry figures.
    let site = zone(&a, "site");
    for page in [
        "index.html",
        "checks.html",
        "version.json",
        "assets/echarts.min.js",
    ] {
        assert!(
            site.contains_key(page),
            "missing site/{page}: {:?}",
            site.keys()
        );
    }
    let index = String::from_utf8(site["index.html"].clone()).unwrap();
    assert!(
        index.contains("Сводка") || index.contains("Окупается"),
        "{index}"
    );

    // Non-empty metrics, pulled through every connector.
    let s = &ra.marts.summary;
    assert!(s.spend > rust_decimal::Decimal::ZERO, "spend {s:?}");
    assert!(s.leads > 0 && s.applications > 0 && s.sales > 0, "{s:?}");
    assert!(
        s.revenue1 > rust_decimal::Decimal::ZERO && s.revenue2 >= s.revenue1 - s.revenue1,
        "{s:?}"
    );
    assert!(s.romi1.is_some() && s.romi2.is_some());
    let normalized = zone(&a, "normalized");
    for entity in [
        "ad_stat/facebook",
        "ad_stat/yandex_direct",
        "ad_stat/tiktok",
        "ad_stat/vk_ads",
        "ad_stat/mytarget",
        "ad_stat/google_ads",
        "lead/tilda",
        "lead/salebot",
        "session/ga4",
        "webinar/bizon365",
        "webinar_viewer/bizon365",
        "deal/amocrm",
        "contact/amocrm",
        "order/getcourse",
        "payment/getcourse",
        "rate/cbr",
        "manager/amocrm",
        "pipeline/amocrm",
    ] {
        assert!(
            normalized.keys().any(|k| k.starts_with(entity)),
            "no normalized {entity}"
        );
    }
    // Attendance from Bizon viewers, sessions from GA4, YouTube from
    // Google Ads video campaigns.
    assert!(s.leads > 0 && ra.marts.channels.iter().map(|r| r.attendees).sum::<u64>() > 0);
    assert!(ra.marts.channels.iter().map(|r| r.sessions).sum::<u64>() > 0);
    assert!(
        ra.marts
            .channels
            .iter()
            .any(|r| r.platform == "youtube" && r.spend > rust_decimal::Decimal::ZERO)
    );
    // Instagram rows came out of Facebook insights.
    assert!(
        ra.marts
            .channels
            .iter()
            .any(|r| r.platform == "instagram" && r.spend > rust_decimal::Decimal::ZERO)
    );
    // Reconciliation holds.
    assert!(
        ra.marts
            .checks
            .iter()
            .filter(|c| c.check == "reconciliation")
            .all(|c| c.status == voronka_core::metrics::CheckStatus::Green),
        "{:#?}",
        ra.marts.checks
    );

    // Same seed: byte-identical normalized/, marts/ and site/.
    for z in ["normalized", "marts", "site"] {
        let (x, y) = (zone(&a, z), zone(&b, z));
        assert_eq!(
            x.keys().collect::<Vec<_>>(),
            y.keys().collect::<Vec<_>>(),
            "{z} files differ"
        );
        for (k, v) in &x {
            assert!(
                v == &y[k],
                "{z}/{k} differs between two runs with the same seed"
            );
        }
    }
    assert_eq!(ra.marts, rb.marts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_refuses_a_folder_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let err = run(opts(tmp.path(), 1)).await.err().expect("must refuse");
    assert!(
        format!("{err:#}").contains("not made by `voronka demo`"),
        "{err:#}"
    );
    assert!(tmp.path().join("precious.txt").exists());
}
