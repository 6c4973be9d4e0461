//! The voronka application: the pipeline steps over a store, the demo, the
//! CLI and the Lambda roles. `main.rs` is a thin shell over this library.
//!
//! This crate is an edge: it does the I/O (storage, HTTP through the
//! connectors' driver, the clock, the environment) around the pure crates.

pub mod bench;
pub mod cli;
pub mod demo;
pub mod export;
pub mod lambda;
pub mod pipeline;
pub mod state;
pub mod webhook;

use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;
use voronka_core::config::{Config, StorageConfig};
use voronka_store::{LocalStore, S3Config, S3Store, Store};

/// Opens the store the config names. A relative local path is resolved
/// against `base` (the config file's folder).
pub async fn open_store(config: &Config, base: &Path) -> Result<Arc<dyn Store>> {
    Ok(match &config.storage {
        StorageConfig::Local { path } => {
            let p = Path::new(path);
            let root = if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            };
            Arc::new(LocalStore::new(root))
        }
        StorageConfig::S3 {
            bucket,
            prefix,
            region,
            endpoint,
        } => Arc::new(
            S3Store::new(S3Config {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                region: region.clone(),
                endpoint: endpoint.clone(),
                access_key: None,
                secret_key: None,
            })
            .await
            .with_context(|| format!("cannot open s3://{bucket}/{prefix}"))?,
        ),
    })
}

/// Reads and validates a config file; errors name the file and the key.
pub fn load_config(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let config = Config::from_toml(&text).with_context(|| format!("in {}", path.display()))?;
    for (slug, source) in &config.sources {
        let Some(connector) = voronka_connectors::connector(slug) else {
            anyhow::bail!(
                "in {}: config key `sources.{slug}`: unknown source; known: {}",
                path.display(),
                voronka_connectors::SLUGS.join(", ")
            );
        };
        for (i, account) in source.accounts.iter().enumerate() {
            connector.validate(account).map_err(|e| {
                anyhow::anyhow!(
                    "in {}: config key `sources.{slug}.accounts[{i}]`: {e}",
                    path.display()
                )
            })?;
        }
    }
    Ok(config)
}
