//! Unguessable links to the private manager pages: `m/<token>/index.html`,
//! token = HMAC-SHA256(secret, manager name), first 128 bits as 32 lowercase
//! hex digits. Changing the secret changes every link.

use sha2::{Digest, Sha256};

const BLOCK: usize = 64;

/// HMAC-SHA256 (RFC 2104) over `sha2`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// The private page token of `manager`: 32 hex characters (128 bits).
pub fn manager_token(secret: &[u8], manager: &str) -> String {
    hex::encode(&hmac_sha256(secret, manager.as_bytes())[..16])
}

/// The relative path of a manager's private page: `m/<token>/index.html`.
pub fn manager_path(secret: &[u8], manager: &str) -> String {
    format!("m/{}/index.html", manager_token(secret, manager))
}

/// `(manager, relative link)` for `voronka links`, in the given order:
/// the link is `m/<token>/` (append it to the site's base URL).
/// "(без менеджера)" and empty names get no page, so no link.
pub fn manager_links(secret: &[u8], managers: &[String]) -> Vec<(String, String)> {
    managers
        .iter()
        .filter(|m| !m.is_empty() && m.as_str() != voronka_core::metrics::NO_MANAGER)
        .map(|m| (m.clone(), format!("m/{}/", manager_token(secret, m))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rfc4231_case_6_long_key() {
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
