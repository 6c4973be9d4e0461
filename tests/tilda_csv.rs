//! `voronka import tilda FILE`: Tilda's leads export ("Заявки", CSV) as
//! one raw envelope, idempotently; rows → leads, a bad row → a parse error
//! naming its line and column; a webhook of the same `tranid` is the same
//! lead.

use chrono::{TimeZone, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use voronka::webhook::import_file;
use voronka_connectors::tilda::{CSV_ENTITY, csv_envelope, csv_leads};
use voronka_connectors::{NormalizeContext, ParseError};
use voronka_core::config::{AccountConfig, Config};
use voronka_core::model::{Lead, Record, Utm};
use voronka_store::{MemoryStore, Store};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../fixtures/tilda/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn account() -> AccountConfig {
    serde_json::from_value(serde_json::json!({"id": "main"})).unwrap()
}

fn leads(file: &str) -> (Vec<Lead>, Vec<ParseError>) {
    let env = csv_envelope("main", file, &fixture(file));
    let acc = account();
    let out = csv_leads(
        &env,
        &NormalizeContext {
            account: &acc,
            school_tz: chrono_tz::Europe::Moscow,
        },
    );
    let leads = out
        .records
        .into_iter()
        .map(|r| match r {
            Record::Lead(l) => l,
            other => panic!("not a lead: {other:?}"),
        })
        .collect();
    (leads, out.rejected)
}

fn lead(id: &str) -> Lead {
    Lead {
        source: "tilda".into(),
        account: "main".into(),
        id: id.into(),
        created_at: Utc::now(),
        form: String::new(),
        form_name: String::new(),
        name: String::new(),
        email: String::new(),
        phone: String::new(),
        utm: Utm::default(),
        extra: BTreeMap::new(),
    }
}

#[test]
fn bom_semicolons_russian_headers_and_a_bad_date() {
    let (got, rejected) = leads("leads_export.csv");
    // Moscow is UTC+3.
    let anna = Lead {
        created_at: Utc.with_ymd_and_hms(2026, 3, 1, 7, 15, 0).unwrap(),
        form: "form1069343426".into(),
        form_name: "Запись на курс".into(),
        name: "Анна".into(),
        email: "a@example.com".into(),
        phone: "+7 (999) 000-00-00".into(),
        utm: Utm {
            source: "yandex".into(),
            medium: "cpc".into(),
            campaign: "spring".into(),
            ..Utm::default()
        },
        extra: BTreeMap::from([("referer".to_string(), "https://school.example/".to_string())]),
        ..lead("7807982:7606836802")
    };
    let boris_id = got[1].id.clone();
    assert!(
        boris_id.starts_with("csv:") && boris_id.len() == 20,
        "no tranid: a row hash, {boris_id}"
    );
    let boris = Lead {
        created_at: Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap(),
        form: "form1069343426".into(),
        form_name: "Запись на курс".into(),
        name: "Борис".into(),
        email: "b@example.com".into(),
        extra: BTreeMap::from([("referer".to_string(), "https://school.example/".to_string())]),
        ..lead(&boris_id)
    };
    let galina = Lead {
        created_at: Utc.with_ymd_and_hms(2026, 3, 2, 20, 30, 0).unwrap(),
        form: "form555".into(),
        form_name: "Вебинар".into(),
        name: "Галина; старшая".into(),
        email: "g@example.com".into(),
        utm: Utm {
            source: "telegram".into(),
            medium: "post".into(),
            campaign: "may".into(),
            ..Utm::default()
        },
        ..lead("7807982:7606836999")
    };
    assert_eq!(got, vec![anna, boris, galina]);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(
        (rejected[0].record.as_str(), rejected[0].field.as_str()),
        ("line 4", "Дата")
    );
    assert!(rejected[0].reason.contains("2026-13-01"), "{rejected:?}");
    // The row hash is stable.
    assert_eq!(leads("leads_export.csv").0[1].id, boris_id);
}

#[test]
fn commas_and_english_headers() {
    let (got, rejected) = leads("leads_export_comma.csv");
    assert_eq!(rejected, vec![]);
    assert_eq!(got.len(), 1);
    let d = &got[0];
    assert_eq!(
        (d.name.as_str(), d.email.as_str(), d.phone.as_str()),
        ("Дмитрий", "d@example.com", "+79990000004")
    );
    assert_eq!((d.form.as_str(), d.form_name.as_str()), ("form1", "Заявка"));
    assert_eq!(
        (d.utm.source.as_str(), d.utm.campaign.as_str()),
        ("fb", "autumn")
    );
    assert_eq!(
        d.created_at,
        Utc.with_ymd_and_hms(2026, 3, 3, 5, 0, 0).unwrap()
    );
    assert_eq!(d.extra["_ga"], "GA1.1.9.8");
    assert_eq!(d.extra["_ym_uid"], "17");
    assert!(d.id.starts_with("csv:"));
}

#[test]
fn a_file_without_a_date_column_is_one_error() {
    let env = csv_envelope("main", "x.csv", b"Name;Email\nA;a@example.com\n");
    let acc = account();
    let out = csv_leads(
        &env,
        &NormalizeContext {
            account: &acc,
            school_tz: chrono_tz::Europe::Moscow,
        },
    );
    assert_eq!(out.records, vec![]);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(
        (
            out.rejected[0].record.as_str(),
            out.rejected[0].field.as_str()
        ),
        ("line 1", "sent")
    );
}

#[test]
fn the_envelope_key_depends_only_on_the_bytes() {
    let bytes = fixture("leads_export.csv");
    let a = csv_envelope("main", "/tmp/leads_export.csv", &bytes);
    let b = csv_envelope("main", "renamed.csv", &bytes);
    assert_eq!(a.key(), b.key());
    assert_eq!(a.entity, CSV_ENTITY);
    assert_eq!(a.meta["file"], "leads_export.csv");
    assert_eq!(
        a.body_bytes().unwrap(),
        bytes,
        "stored byte-exact, BOM and all"
    );
    let c = csv_envelope(
        "main",
        "leads_export.csv",
        &fixture("leads_export_comma.csv"),
    );
    assert_ne!(a.key(), c.key());
}

#[tokio::test]
async fn reimport_is_idempotent_and_a_webhook_of_the_same_tranid_is_the_same_lead() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("voronka.toml"),
        r#"
[storage]
kind = "local"
path = "lake"

[sources.tilda]
accounts = [{ id = "main", credentials = { webhook_token = { env = "TILDA_WEBHOOK_TOKEN" } } }]
"#,
    )
    .unwrap();
    let file = dir.join("Заявки.csv");
    std::fs::write(&file, fixture("leads_export.csv")).unwrap();
    let config = dir.join("voronka.toml");
    for _ in 0..2 {
        let cli = voronka::cli::parse(&[
            "voronka",
            "--config",
            config.to_str().unwrap(),
            "import",
            "tilda",
            file.to_str().unwrap(),
        ])
        .unwrap();
        voronka::cli::main(cli).await.unwrap();
    }
    let raw: Vec<_> = walk(&dir.join("lake/raw"));
    assert_eq!(raw.len(), 1, "{raw:?}");
    let normalized: Vec<_> = walk(&dir.join("lake/normalized/lead/tilda/main"));
    let lines: usize = normalized
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(lines, 3, "three good rows");

    // The store step directly: same bytes, same key, nothing written.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let cfg = Config::from_toml("").unwrap();
    let bytes = fixture("leads_export.csv");
    let first = import_file(&*store, &cfg, "tilda", "main", "a.csv", &bytes)
        .await
        .unwrap();
    let again = import_file(&*store, &cfg, "tilda", "main", "b.csv", &bytes)
        .await
        .unwrap();
    assert!(first.written && !again.written);
    assert_eq!(first.key, again.key);
    assert_eq!((first.records, first.rejected.len()), (3, 1));
    assert_eq!(store.list("raw/").await.unwrap(), vec![first.key.clone()]);
    assert!(
        import_file(&*store, &cfg, "getcourse", "main", "a.csv", &bytes)
            .await
            .is_err()
    );

    // A webhook of Анна's submission (same tranid) is the same lead: the
    // webhook's version (received later) wins.
    let form = b"Name=%D0%90%D0%BD%D0%BD%D0%B0&Email=a%40example.com&tranid=7807982%3A7606836802&formid=form1069343426";
    let env = voronka_connectors::tilda::webhook_envelope(
        "main",
        "",
        "application/x-www-form-urlencoded",
        form,
        Utc.with_ymd_and_hms(2026, 3, 1, 7, 15, 1).unwrap(),
        "wh",
        1,
    );
    store
        .put(&env.key(), bytes::Bytes::from(env.to_json()))
        .await
        .unwrap();
    let p = voronka::pipeline::Pipeline {
        store: store.clone(),
        config: cfg,
        driver: voronka_connectors::driver::Driver::new(
            voronka_connectors::driver::DriverOptions::default(),
            Arc::new(voronka_connectors::driver::StaticSecrets(BTreeMap::new())),
        ),
    };
    p.normalize().await.unwrap();
    let ds = p.load_dataset().await.unwrap();
    assert_eq!(ds.leads.len(), 3);
    let anna: Vec<&Lead> = ds
        .leads
        .iter()
        .filter(|l| l.id == "7807982:7606836802")
        .collect();
    assert_eq!(anna.len(), 1);
    assert_eq!(
        anna[0].created_at,
        Utc.with_ymd_and_hms(2026, 3, 1, 7, 15, 1).unwrap(),
        "the webhook's version"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
