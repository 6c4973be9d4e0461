//! Local-folder backend: one file per key under a root directory.
//!
//! Writes go to a temp file in the target's directory (named
//! `.<name>.tmp-<pid>-<counter>`), are fsynced, and then renamed over the
//! target (`put`) or hard-linked to it (`put_if_absent`, which fails if the
//! target exists), so readers never see a partial object. Temp files left by
//! a crash are never listed and never shadow a key; keys whose last segment
//! looks like such a temp file are refused.
//!
//! Limitation of a file tree (not of S3): a key cannot be both an object and
//! a "directory" of other keys (`a` and `a/b`); such a put fails with a
//! backend error.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Result, Store, StoreError, validate_key};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Longest part of the target name kept in a temp file's name, so that the
/// temp name stays within the usual 255-byte file-name limit.
const TEMP_NAME_KEEP: usize = 150;

/// A store in a local folder (`./data` on a laptop).
#[derive(Debug, Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    backend: String,
    /// fsync files and folders after each write (default true).
    durable: bool,
}

impl LocalStore {
    /// A store rooted at `root`; the folder is created on the first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let backend = format!("local {}", root.display());
        Self {
            inner: Arc::new(Inner {
                root,
                backend,
                durable: true,
            }),
        }
    }

    /// A store for throwaway lakes (the demo, benchmarks): writes stay
    /// atomic (temp file + rename/link) but are not fsynced, so they are
    /// not durable across a power loss. Tens of thousands of small writes
    /// go from minutes to seconds.
    pub fn without_fsync(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let backend = format!("local {} (no fsync)", root.display());
        Self {
            inner: Arc::new(Inner {
                root,
                backend,
                durable: false,
            }),
        }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    async fn blocking<T, F>(&self, op: &'static str, key: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> io::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let outcome = tokio::task::spawn_blocking(move || f(&inner)).await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.inner.error(op, key, err.to_string())),
            Err(join) => Err(self
                .inner
                .error(op, key, format!("blocking task failed: {join}"))),
        }
    }
}

impl Inner {
    fn error(&self, op: &'static str, key: &str, message: String) -> StoreError {
        StoreError::Backend {
            backend: self.backend.clone(),
            op,
            key: key.to_string(),
            message,
        }
    }

    fn path_of(&self, key: &str) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(key.split('/'));
        path
    }

    /// Writes `bytes` to a fresh, fsynced temp file beside `target`.
    fn write_temp(&self, target: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
        let dir = target
            .parent()
            .ok_or_else(|| io::Error::other("key has no parent folder"))?;
        fs::create_dir_all(dir)?;
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| io::Error::other("key has no file name"))?;
        let mut keep = name.len().min(TEMP_NAME_KEEP);
        while !name.is_char_boundary(keep) {
            keep -= 1;
        }
        let temp = dir.join(format!(
            ".{}.tmp-{}-{}",
            &name[..keep],
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(bytes)?;
            if self.durable {
                file.sync_all()?;
            }
            Ok(())
        })();
        match written {
            Ok(()) => Ok(temp),
            Err(err) => {
                let _ = fs::remove_file(&temp);
                Err(err)
            }
        }
    }
}

/// True for names produced by [`Inner::write_temp`]: `.<name>.tmp-<digits>-<digits>`.
fn is_temp_name(name: &str) -> bool {
    if !name.starts_with('.') {
        return false;
    }
    let Some((_, tail)) = name.rsplit_once(".tmp-") else {
        return false;
    };
    let Some((pid, counter)) = tail.split_once('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(pid) && digits(counter)
}

fn check_local_key(key: &str) -> Result<()> {
    validate_key(key)?;
    if key.split('/').any(is_temp_name) {
        return Err(StoreError::InvalidKey {
            key: key.to_string(),
            reason: "segment looks like a local temp file ('.<name>.tmp-<n>-<n>')",
        });
    }
    Ok(())
}

/// Best-effort durability of a rename/link: fsync the directory entry.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The object does not exist (or a folder sits where it would be).
fn is_absent(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory
    )
}

fn walk(root: &Path, rel: &str, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        // The root does not exist yet, or a folder vanished during the walk.
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        // Names that are not UTF-8 cannot be keys.
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if is_temp_name(&name) {
            continue;
        }
        let key = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            let as_dir = format!("{key}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                walk(root, &key, prefix, out)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) && validate_key(&key).is_ok() {
            out.push(key);
        }
    }
    Ok(())
}

#[async_trait]
impl Store for LocalStore {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        check_local_key(key)?;
        let key_owned = key.to_string();
        self.blocking("put", key, move |inner| {
            let target = inner.path_of(&key_owned);
            let temp = inner.write_temp(&target, &bytes)?;
            if let Err(err) = fs::rename(&temp, &target) {
                let _ = fs::remove_file(&temp);
                return Err(err);
            }
            match target.parent() {
                Some(dir) if inner.durable => sync_dir(dir),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<bool> {
        check_local_key(key)?;
        let key_owned = key.to_string();
        self.blocking("put_if_absent", key, move |inner| {
            let target = inner.path_of(&key_owned);
            let temp = inner.write_temp(&target, &bytes)?;
            // link(2) fails with EEXIST if the target exists: the check and
            // the write are one atomic step.
            let linked = fs::hard_link(&temp, &target);
            let _ = fs::remove_file(&temp);
            match linked {
                Ok(()) => {
                    if let Some(dir) = target.parent().filter(|_| inner.durable) {
                        sync_dir(dir)?;
                    }
                    Ok(true)
                }
                Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(false),
                Err(err) => Err(err),
            }
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        check_local_key(key)?;
        let key_owned = key.to_string();
        self.blocking("get", key, move |inner| {
            match fs::read(inner.path_of(&key_owned)) {
                Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                Err(err) if is_absent(&err) => Ok(None),
                Err(err) => Err(err),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix_owned = prefix.to_string();
        self.blocking("list", prefix, move |inner| {
            let mut keys = Vec::new();
            walk(&inner.root, "", &prefix_owned, &mut keys)?;
            keys.sort_unstable();
            Ok(keys)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        check_local_key(key)?;
        let key_owned = key.to_string();
        self.blocking("delete", key, move |inner| {
            match fs::remove_file(inner.path_of(&key_owned)) {
                Err(err) if !is_absent(&err) => Err(err),
                _ => Ok(()),
            }
        })
        .await
    }

    fn describe(&self) -> String {
        format!("local folder {}", self.inner.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::is_temp_name;

    #[test]
    fn temp_names_are_recognised() {
        assert!(is_temp_name(".x.json.tmp-12-0"));
        assert!(is_temp_name(".абв test.html.tmp-1-99"));
        assert!(!is_temp_name("x.json.tmp-12-0"));
        assert!(!is_temp_name(".hidden"));
        assert!(!is_temp_name(".x.tmp-12"));
        assert!(!is_temp_name(".x.tmp-a-1"));
        assert!(!is_temp_name(".x.tmp-1-"));
    }
}
