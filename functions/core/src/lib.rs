//! voronka's pure middle: the canonical model, configuration, identity,
//! attribution and metrics.
//!
//! Invariants: this crate does no I/O (no files, network, clock or
//! environment: `as_of` and every input are passed in) and knows no vendor
//! wire format. Sources appear only as slugs in the data.

pub mod config;
pub mod identity;
pub mod metrics;
pub mod model;
pub mod money;
pub mod ru;
pub mod time;

pub use config::{Config, ConfigError};
pub use model::{Dataset, Record};
