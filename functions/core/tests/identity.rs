//! Identity explanation (metrics.md §1, §7): why records are one person.
//! A chain: a Tilda lead with an e-mail only, a webinar viewer with a phone
//! only, a CRM contact with both (and its deal) become one person; the
//! explanation lists every record and the unions with their keys.

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use voronka_core::identity::{Explanation, Link, explain};
use voronka_core::model::*;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap()
}

fn lead(id: &str, name: &str, email: &str, phone: &str) -> Lead {
    Lead {
        source: "tilda".into(),
        account: "main".into(),
        id: id.into(),
        created_at: at(20),
        form: "reg".into(),
        form_name: String::new(),
        name: name.into(),
        email: email.into(),
        phone: phone.into(),
        utm: Utm::default(),
        extra: BTreeMap::new(),
    }
}

fn viewer(id: &str, email: &str, phone: &str) -> WebinarViewer {
    WebinarViewer {
        source: "bizon365".into(),
        account: "main".into(),
        webinar_id: "w1".into(),
        viewer_id: id.into(),
        webinar_start: at(21),
        name: String::new(),
        email: email.into(),
        phone: phone.into(),
        view_from: at(21),
        view_till: at(21),
        utm: Utm::default(),
    }
}

fn school() -> Dataset {
    let mut ds = Dataset::default();
    // Anna: e-mail only (lead), phone only (viewer), both (CRM contact),
    // and her deal (through the contact).
    ds.leads.push(lead("t1", "Анна", " Anna@Example.com", ""));
    ds.viewers.push(viewer("v1", "", "8 (999) 123-45-67"));
    ds.contacts.push(Contact {
        source: "amocrm".into(),
        account: "main".into(),
        id: "c1".into(),
        name: "Анна".into(),
        emails: vec!["anna@example.com".into()],
        phones: vec!["+7 999 123-45-67".into()],
        created_at: at(22),
        updated_at: at(22),
    });
    ds.deals.push(Deal {
        source: "amocrm".into(),
        account: "main".into(),
        id: "d1".into(),
        name: "Анна — курс".into(),
        pipeline_id: "1".into(),
        status_id: "142".into(),
        responsible_user_id: "u1".into(),
        price: dec!(30000),
        currency: "RUB".into(),
        created_at: at(22),
        updated_at: at(22),
        closed_at: None,
        contact_ids: vec!["c404".into(), "c1".into()],
        utm: Utm::default(),
        product: String::new(),
        deleted: false,
    });
    // Boris: another person; a record with nothing usable: its own.
    ds.leads
        .push(lead("t2", "Борис", "boris@example.com", "9990000001"));
    ds.viewers.push(viewer("v2", "", "12345"));
    ds
}

const ANNA: &str = "\
person e:anna@example.com: 4 records, 3 links
records:
  #1 lead tilda:main t1 · Анна · Anna@Example.com
  #2 contact amocrm:main c1 · Анна · anna@example.com · +7 999 123-45-67
  #3 webinar_viewer bizon365:main w1/v1 · 8 (999) 123-45-67
  #4 deal amocrm:main d1 · Анна — курс
links:
  #1 — #2 by e:anna@example.com
  #2 — #3 by p:79991234567
  #2 — #4 by contact:c1
";

#[test]
fn chain_is_explained_by_three_links() {
    let e = explain(&school(), "ANNA@example.com").expect("Anna is known");
    assert_eq!(e.key, "e:anna@example.com");
    let records: Vec<(&str, &str)> = e
        .records
        .iter()
        .map(|r| (r.entity, r.id.as_str()))
        .collect();
    assert_eq!(
        records,
        vec![
            ("lead", "t1"),
            ("contact", "c1"),
            ("webinar_viewer", "w1/v1"),
            ("deal", "d1"),
        ]
    );
    // What each record carried, and its normalized keys.
    assert_eq!(e.records[0].emails, vec!["Anna@Example.com"]);
    assert!(e.records[0].phones.is_empty());
    assert_eq!(
        e.records[1].keys,
        vec!["e:anna@example.com", "p:79991234567"]
    );
    assert_eq!(e.records[2].keys, vec!["p:79991234567"]);
    assert_eq!(
        e.links,
        vec![
            Link {
                key: "e:anna@example.com".into(),
                a: 0,
                b: 1
            },
            Link {
                key: "p:79991234567".into(),
                a: 1,
                b: 2
            },
            Link {
                key: "contact:c1".into(),
                a: 1,
                b: 3
            },
        ]
    );
    assert_eq!(e.to_string(), ANNA);
}

#[test]
fn phone_query_in_any_format_finds_the_same_person() {
    let by_email = explain(&school(), "anna@example.com").unwrap();
    for q in ["+7 (999) 123-45-67", "89991234567", "9991234567"] {
        let e = explain(&school(), q).unwrap();
        assert_eq!(e.key, "p:79991234567");
        assert_eq!(e.records, by_email.records, "{q}");
        assert_eq!(e.links, by_email.links, "{q}");
    }
}

#[test]
fn output_does_not_depend_on_input_order() {
    let a = explain(&school(), "anna@example.com").unwrap();
    let mut ds = school();
    ds.leads.reverse();
    ds.viewers.reverse();
    // Another copy of the contact data arrives first in a different file
    // order: still the same explanation.
    ds.contacts.reverse();
    ds.deals.reverse();
    let b: Explanation = explain(&ds, "anna@example.com").unwrap();
    assert_eq!(a, b);
    assert_eq!(b.to_string(), ANNA);
}

#[test]
fn other_people_and_unknown_queries() {
    let ds = school();
    let boris = explain(&ds, "+7 999 000-00-01").unwrap();
    assert_eq!(boris.records.len(), 1);
    assert!(boris.links.is_empty());
    assert_eq!(boris.records[0].id, "t2");
    assert_eq!(
        boris.to_string(),
        "person p:79990000001: 1 records, 0 links\nrecords:\n  \
         #1 lead tilda:main t2 · Борис · boris@example.com · 9990000001\nlinks:\n"
    );
    // Not an e-mail or phone; a number too short to match; nobody.
    assert_eq!(explain(&ds, "Анна"), None);
    assert_eq!(explain(&ds, "12345"), None);
    assert_eq!(explain(&ds, "zoe@example.com"), None);
}
