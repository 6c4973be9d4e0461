//! The data lake behind one trait.
//!
//! Keys are `/`-separated relative paths such as
//! `raw/amocrm/main/2026/12/03/…json`; the first segment is the zone
//! (`raw`, `normalized`, `quarantine`, `marts`, `site`, `state`). Every
//! backend passes the same [`conformance`] suite.
//!
//! Guarantees every backend gives:
//! - `put` is atomic: a reader sees the old object or the new one, never a
//!   part (temp file + rename locally; one PUT on S3);
//! - `put_if_absent` writes only when the key does not exist yet and says
//!   whether it wrote (the raw zone is write-once);
//! - `list` returns every key under a prefix, sorted bytewise, however many.

use async_trait::async_trait;
use bytes::Bytes;

pub mod conformance;
mod local;
mod memory;
mod s3;

pub use local::LocalStore;
pub use memory::MemoryStore;
pub use s3::{S3Config, S3Store};

/// A storage failure, naming the key and the backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("{backend}: {op} {key:?} failed: {message}")]
    Backend {
        backend: String,
        op: &'static str,
        key: String,
        message: String,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait]
pub trait Store: Send + Sync {
    /// Writes `bytes` at `key` atomically, replacing any previous object.
    async fn put(&self, key: &str, bytes: Bytes) -> Result<()>;
    /// Writes only if `key` is absent; `Ok(true)` if it wrote.
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<bool>;
    /// Reads an object; `Ok(None)` if absent.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;
    /// Every key starting with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Removes an object; absent keys are not an error.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Human-readable location ("local folder ./data", "s3://bucket/prefix").
    fn describe(&self) -> String;
}

/// Checks a key: relative, `/`-separated, no empty, `.` or `..` segments.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = |reason| {
        Err(StoreError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.starts_with('/') || key.ends_with('/') {
        return bad("must not start or end with '/'");
    }
    if key.contains('\\') || key.contains('\0') {
        return bad("must not contain '\\' or NUL");
    }
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return bad("empty, '.' or '..' segment");
        }
    }
    Ok(())
}
