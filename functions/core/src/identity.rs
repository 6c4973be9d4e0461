//! Identity: normalized e-mails and phones, and persons as connected
//! components (union-find) over records that share one (metrics.md §1);
//! [`explain`] shows why records are one person.

use std::collections::HashMap;

/// Normalizes an e-mail for matching: trimmed, lowercased, exactly one `@`
/// with text on both sides; otherwise `None` (not usable for matching).
pub fn normalize_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let mut parts = e.split('@');
    let (local, domain) = (parts.next()?, parts.next()?);
    if parts.next().is_some() || local.is_empty() || domain.is_empty() {
        return None;
    }
    if e.chars().any(char::is_whitespace) {
        return None;
    }
    Some(e)
}

/// Normalizes a Russian phone for matching to `7XXXXXXXXXX`:
/// digits only; 11 digits starting with 8 become 7…; 10 digits starting
/// with 9 get a leading 7. Extension text ("доб. 12") is dropped: when all
/// digits don't form a valid number, the digits before the first letter
/// are tried. Fewer than 10 digits: `None`. Reading chosen where
/// metrics.md is silent: a number written with a leading `+` and 11–15
/// digits that is not Russian is kept as its digits (a foreign number);
/// anything else is not used for matching.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let all: String = raw.chars().filter(char::is_ascii_digit).collect();
    if let Some(p) = russian(&all) {
        return Some(p);
    }
    // Drop a trailing extension: the digits before the first letter.
    let head: String = raw
        .chars()
        .take_while(|c| !c.is_alphabetic())
        .filter(char::is_ascii_digit)
        .collect();
    if head.len() != all.len()
        && let Some(p) = russian(&head)
    {
        return Some(p);
    }
    // A foreign number written in international form (+375…, +998…).
    if raw.trim_start().starts_with('+')
        && (11..=15).contains(&all.len())
        && head.len() == all.len()
    {
        return Some(all);
    }
    None
}

/// The rules of metrics.md §1 for Russian numbers.
fn russian(d: &str) -> Option<String> {
    match d.len() {
        11 if d.starts_with('8') => Some(format!("7{}", &d[1..])),
        11 if d.starts_with('7') => Some(d.to_string()),
        10 if d.starts_with('9') => Some(format!("7{d}")),
        _ => None,
    }
}

/// Union-find over dense indexes with path halving and union by size.
#[derive(Debug, Clone, Default)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = self.parent[x as usize];
        }
        x
    }
    pub fn union(&mut self, a: u32, b: u32) {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
    }
}

/// Builds persons from records that each carry zero or more identity keys.
///
/// Usage: `add` each record's keys (returns the record's node), then
/// `finish` to get a person id per node. Person ids are dense and
/// assigned in node order, so the result does not depend on hash order.
#[derive(Debug, Default)]
pub struct PersonIndex {
    uf: UnionFind,
    key_node: HashMap<String, u32>,
    nodes: u32,
}

impl PersonIndex {
    pub fn new() -> PersonIndex {
        PersonIndex::default()
    }

    /// Registers one record with its raw e-mails and phones; returns its node.
    pub fn add<'a>(
        &mut self,
        emails: impl IntoIterator<Item = &'a str>,
        phones: impl IntoIterator<Item = &'a str>,
    ) -> u32 {
        let node = self.nodes;
        self.nodes += 1;
        self.uf.parent.push(node);
        self.uf.size.push(1);
        let keys = emails
            .into_iter()
            .filter_map(normalize_email)
            .map(|e| format!("e:{e}"))
            .chain(
                phones
                    .into_iter()
                    .filter_map(normalize_phone)
                    .map(|p| format!("p:{p}")),
            );
        for key in keys {
            match self.key_node.get(&key) {
                Some(&other) => self.uf.union(node, other),
                None => {
                    self.key_node.insert(key, node);
                }
            }
        }
        node
    }

    /// Dense person id for every node (index = node).
    pub fn finish(mut self) -> Vec<u32> {
        let mut ids = vec![u32::MAX; self.nodes as usize];
        let mut root_id: HashMap<u32, u32> = HashMap::new();
        let mut next = 0u32;
        for node in 0..self.nodes {
            let root = self.uf.find(node);
            let id = *root_id.entry(root).or_insert_with(|| {
                next += 1;
                next - 1
            });
            ids[node as usize] = id;
        }
        ids
    }
}

/// One record of an explained person, with the contact data it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainedRecord {
    /// `lead`, `contact`, `order`, `payment`, `webinar_viewer` or `deal`.
    pub entity: &'static str,
    pub source: String,
    pub account: String,
    /// The record's id (a viewer: `webinar_id/viewer_id`; an order: its
    /// system id, `number` holds the human one).
    pub id: String,
    /// An order's number ("" for other records).
    pub number: String,
    pub name: String,
    /// E-mails and phones as the record spelled them (empty ones left out).
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    /// What joins it: normalized `e:…` / `p:…` keys, sorted; a deal has
    /// `contact:<id>` (deals join through their first known CRM contact).
    pub keys: Vec<String>,
}

/// One union: `key` joined record `a` (the first record that carried the
/// key) with record `b` (indexes into [`Explanation::records`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub key: String,
    pub a: usize,
    pub b: usize,
}

/// Why records are one person: every record of the person and a spanning
/// list of the unions that joined them.
///
/// Records are ordered by entity (leads, CRM contacts, orders, payments,
/// webinar viewers, deals), then by content, so the output does not
/// depend on the order the records were loaded in. Links are the unions
/// in that order: each joins two records not yet joined, so there are
/// `records.len() - 1` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The query, normalized (`e:anna@example.com`, `p:79991234567`).
    pub key: String,
    pub records: Vec<ExplainedRecord>,
    pub links: Vec<Link>,
}

/// Explains the person who carries the query's e-mail or phone (after
/// normalization: `+7 (999) 123-45-67` finds `89991234567`). Every
/// record of the dataset is considered, whatever its date or form (the
/// marts count persons as of a date and over registration forms only, so
/// they may join fewer records). `None` when the query is neither a
/// usable e-mail nor phone, or no record carries it.
///
/// The CLI prints its `Display`:
///
/// ```text
/// person e:anna@example.com: 4 records, 3 links
/// records:
///   #1 lead tilda:main t1 · Анна · anna@example.com
///   #2 contact amocrm:main c1 · Анна · anna@example.com · +7 999 123-45-67
///   #3 webinar_viewer bizon365:main w1/v1 · 8 (999) 123-45-67
///   #4 deal amocrm:main d1 · Анна — курс
/// links:
///   #1 — #2 by e:anna@example.com
///   #2 — #3 by p:79991234567
///   #2 — #4 by contact:c1
/// ```
pub fn explain(ds: &crate::model::Dataset, query: &str) -> Option<Explanation> {
    let key = normalize_email(query)
        .map(|e| format!("e:{e}"))
        .or_else(|| normalize_phone(query).map(|p| format!("p:{p}")))?;

    fn rec(
        entity: &'static str,
        (source, account, id): (&str, &str, String),
        name: &str,
        emails: &[&str],
        phones: &[&str],
    ) -> ExplainedRecord {
        let mut keys: Vec<String> = emails
            .iter()
            .filter_map(|e| normalize_email(e))
            .map(|e| format!("e:{e}"))
            .chain(
                phones
                    .iter()
                    .filter_map(|p| normalize_phone(p))
                    .map(|p| format!("p:{p}")),
            )
            .collect();
        keys.sort();
        keys.dedup();
        let own = |v: &[&str]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        ExplainedRecord {
            entity,
            source: source.to_string(),
            account: account.to_string(),
            id,
            number: String::new(),
            name: name.trim().to_string(),
            emails: own(emails),
            phones: own(phones),
            keys,
        }
    }
    fn sorted<T: Ord>(v: &[T]) -> Vec<&T> {
        let mut v: Vec<&T> = v.iter().collect();
        v.sort();
        v
    }

    let mut records: Vec<ExplainedRecord> = Vec::new();
    for l in sorted(&ds.leads) {
        let r = rec(
            "lead",
            (&l.source, &l.account, l.id.clone()),
            &l.name,
            &[&l.email],
            &[&l.phone],
        );
        records.push(r);
    }
    let mut contact_record: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for c in sorted(&ds.contacts) {
        let emails: Vec<&str> = c.emails.iter().map(String::as_str).collect();
        let phones: Vec<&str> = c.phones.iter().map(String::as_str).collect();
        contact_record
            .entry((&c.source, &c.account, &c.id))
            .or_insert(records.len());
        records.push(rec(
            "contact",
            (&c.source, &c.account, c.id.clone()),
            &c.name,
            &emails,
            &phones,
        ));
    }
    for o in sorted(&ds.orders) {
        let mut r = rec(
            "order",
            (&o.source, &o.account, o.id.clone()),
            &o.name,
            &[&o.email],
            &[&o.phone],
        );
        r.number = o.number.clone();
        records.push(r);
    }
    for p in sorted(&ds.payments) {
        records.push(rec(
            "payment",
            (&p.source, &p.account, p.id.clone()),
            &p.name,
            &[&p.email],
            &[&p.phone],
        ));
    }
    for v in sorted(&ds.viewers) {
        records.push(rec(
            "webinar_viewer",
            (
                &v.source,
                &v.account,
                format!("{}/{}", v.webinar_id, v.viewer_id),
            ),
            &v.name,
            &[&v.email],
            &[&v.phone],
        ));
    }

    // Unions over the keys, in record order.
    let mut uf = UnionFind::new(records.len());
    let mut owner: HashMap<&str, usize> = HashMap::new();
    let mut links: Vec<Link> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        for k in &r.keys {
            match owner.get(k.as_str()) {
                None => {
                    owner.insert(k, i);
                }
                Some(&a) => {
                    if uf.find(a as u32) != uf.find(i as u32) {
                        uf.union(a as u32, i as u32);
                        links.push(Link {
                            key: k.clone(),
                            a,
                            b: i,
                        });
                    }
                }
            }
        }
    }
    let start = *owner.get(key.as_str())?;

    // Deals join through their first known contact.
    let mut deals: Vec<&crate::model::Deal> = ds.deals.iter().filter(|d| !d.deleted).collect();
    deals.sort();
    let mut deal_links: Vec<(usize, String, ExplainedRecord)> = Vec::new();
    for d in deals {
        let Some((cid, &c)) = d.contact_ids.iter().find_map(|c| {
            contact_record
                .get(&(d.source.as_str(), d.account.as_str(), c.as_str()))
                .map(|r| (c, r))
        }) else {
            continue;
        };
        let mut r = rec(
            "deal",
            (&d.source, &d.account, d.id.clone()),
            &d.name,
            &[],
            &[],
        );
        r.keys = vec![format!("contact:{cid}")];
        deal_links.push((c, format!("contact:{cid}"), r));
    }
    let root = uf.find(start as u32);
    let mut new_index: HashMap<usize, usize> = HashMap::new();
    let mut out_records = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if uf.find(i as u32) == root {
            new_index.insert(i, out_records.len());
            out_records.push(r.clone());
        }
    }
    let mut out_links: Vec<Link> = links
        .into_iter()
        .filter_map(|l| {
            Some(Link {
                a: *new_index.get(&l.a)?,
                b: *new_index.get(&l.b)?,
                key: l.key,
            })
        })
        .collect();
    for (contact, k, r) in deal_links {
        if let Some(&a) = new_index.get(&contact) {
            out_links.push(Link {
                key: k,
                a,
                b: out_records.len(),
            });
            out_records.push(r);
        }
    }
    Some(Explanation {
        key,
        records: out_records,
        links: out_links,
    })
}

impl std::fmt::Display for ExplainedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}:{} {}",
            self.entity, self.source, self.account, self.id
        )?;
        if !self.number.is_empty() {
            write!(f, " №{}", self.number)?;
        }
        for part in std::iter::once(&self.name)
            .chain(&self.emails)
            .chain(&self.phones)
            .filter(|s| !s.is_empty())
        {
            write!(f, " · {part}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "person {}: {} records, {} links",
            self.key,
            self.records.len(),
            self.links.len()
        )?;
        writeln!(f, "records:")?;
        for (i, r) in self.records.iter().enumerate() {
            writeln!(f, "  #{} {r}", i + 1)?;
        }
        writeln!(f, "links:")?;
        for l in &self.links {
            writeln!(f, "  #{} — #{} by {}", l.a + 1, l.b + 1, l.key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Anna@Example.COM "),
            Some("anna@example.com".into())
        );
        assert_eq!(normalize_email("a@@b"), None);
        assert_eq!(normalize_email("@b.ru"), None);
        assert_eq!(normalize_email("a@"), None);
        assert_eq!(normalize_email("no-at-sign"), None);
        assert_eq!(normalize_email("a@b@c"), None);
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_phone("+7 (999) 123-45-67"),
            Some("79991234567".into())
        );
        assert_eq!(normalize_phone("89991234567"), Some("79991234567".into()));
        assert_eq!(normalize_phone("9991234567"), Some("79991234567".into()));
        assert_eq!(
            normalize_phone("7-999-123-45-67 доб. 12"),
            Some("79991234567".into())
        );
        assert_eq!(normalize_phone("12345"), None);
        assert_eq!(normalize_phone(""), None);
        // 10 digits not starting with 9 is not a Russian mobile: ignored.
        assert_eq!(normalize_phone("4951234567"), None);
        // International form of a foreign number is kept as digits.
        assert_eq!(
            normalize_phone("+375 29 123-45-67"),
            Some("375291234567".into())
        );
        assert_eq!(normalize_phone("375291234567"), None);
    }

    #[test]
    fn chain_of_identities_is_one_person() {
        let mut idx = PersonIndex::new();
        let a = idx.add(["anna@example.com"], []); // e-mail only
        let b = idx.add([], ["8 999 123 45 67"]); // phone only
        let c = idx.add(["ANNA@example.com "], ["+79991234567"]); // both
        let d = idx.add(["boris@example.com"], []);
        let e = idx.add([], []); // nothing usable: own person
        let ids = idx.finish();
        assert_eq!(ids[a as usize], ids[b as usize]);
        assert_eq!(ids[b as usize], ids[c as usize]);
        assert_ne!(ids[a as usize], ids[d as usize]);
        assert_ne!(ids[e as usize], ids[a as usize]);
        assert_ne!(ids[e as usize], ids[d as usize]);
        assert_eq!(ids, vec![0, 0, 0, 1, 2]);
    }
}
