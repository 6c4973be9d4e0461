//! The raw zone's record format: one JSON envelope per vendor response.
//!
//! Key layout (see `docs/storage.md`):
//! `raw/<slug>/<account>/<YYYY>/<MM>/<DD>/<HHMMSS>-<run>-<seq>-<entity>.json`
//! where the date and time are the UTC receipt time. Envelopes are
//! write-once. The body is kept byte-exact: as UTF-8 text when it is valid
//! UTF-8, else base64 (`body_encoding = "base64"`, e.g. windows-1251 XML).

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Response headers worth keeping (rate-limit state, request ids, paging).
pub const KEPT_HEADERS: [&str; 14] = [
    "content-type",
    "content-encoding",
    "retry-after",
    "retryin",
    "reportsinqueue",
    "requestid",
    "x-request-id",
    "x-business-use-case-usage",
    "x-ad-account-usage",
    "x-app-usage",
    "x-ratelimit-rps-remaining",
    "x-ratelimit-hourly-remaining",
    "x-ratelimit-daily-remaining",
    "date",
];

/// The request that produced a response, with credentials removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRequest {
    pub method: String,
    /// URL including query, credentials replaced by `***`.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEnvelope {
    /// Format version of this envelope.
    pub v: u32,
    pub source: String,
    pub account: String,
    /// Run id of the ingest that received it.
    pub run: String,
    /// Sequence number within the run.
    pub seq: u64,
    /// The job's entity (`leads`, `insights`...).
    pub entity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_to: Option<NaiveDate>,
    /// The job's metadata (connector-defined).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    pub request: RawRequest,
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub received_at: DateTime<Utc>,
    /// `utf8` or `base64`.
    pub body_encoding: String,
    pub body: String,
}

impl RawEnvelope {
    pub const VERSION: u32 = 1;

    /// Stores `bytes` exactly: UTF-8 text when valid, base64 otherwise.
    pub fn encode_body(bytes: &[u8]) -> (String, String) {
        match std::str::from_utf8(bytes) {
            Ok(s) => ("utf8".to_string(), s.to_string()),
            Err(_) => (
                "base64".to_string(),
                base64::engine::general_purpose::STANDARD.encode(bytes),
            ),
        }
    }

    /// The body bytes exactly as received.
    pub fn body_bytes(&self) -> Result<Vec<u8>, String> {
        match self.body_encoding.as_str() {
            "utf8" => Ok(self.body.as_bytes().to_vec()),
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(&self.body)
                .map_err(|e| format!("body is not valid base64: {e}")),
            other => Err(format!("unknown body_encoding {other:?}")),
        }
    }

    /// The storage key of this envelope.
    pub fn key(&self) -> String {
        format!(
            "raw/{}/{}/{}/{}-{}-{:06}-{}.json",
            self.source,
            self.account,
            self.received_at.format("%Y/%m/%d"),
            self.received_at.format("%H%M%S"),
            self.run,
            self.seq,
            sanitize(&self.entity),
        )
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("envelope serializes");
        v.push(b'\n');
        v
    }

    pub fn from_json(bytes: &[u8]) -> Result<RawEnvelope, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a raw envelope: {e}"))
    }

    /// A meta value or "".
    pub fn meta(&self, key: &str) -> &str {
        self.meta.get(key).map(String::as_str).unwrap_or("")
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_body_round_trips_exactly() {
        let bytes =
            b"<?xml version=\"1.0\" encoding=\"windows-1251\"?><a>\xc4\xee\xeb\xeb\xe0\xf0</a>";
        let (enc, body) = RawEnvelope::encode_body(bytes);
        assert_eq!(enc, "base64");
        let env = RawEnvelope {
            v: 1,
            source: "cbr".into(),
            account: "cbr".into(),
            run: "r1".into(),
            seq: 1,
            entity: "rates".into(),
            window_from: None,
            window_to: None,
            meta: BTreeMap::new(),
            request: RawRequest {
                method: "GET".into(),
                url: "https://example/".into(),
                body: None,
            },
            status: 200,
            headers: BTreeMap::new(),
            received_at: DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
            body_encoding: enc,
            body,
        };
        let back = RawEnvelope::from_json(&env.to_json()).unwrap();
        assert_eq!(back.body_bytes().unwrap(), bytes.to_vec());
        assert!(
            back.key().starts_with("raw/cbr/cbr/2025/11/24/"),
            "{}",
            back.key()
        );
    }
}
