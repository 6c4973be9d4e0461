//! Identity: normalized e-mails and phones, and persons as connected
//! components (union-find) over records that share one (metrics.md §1).

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
