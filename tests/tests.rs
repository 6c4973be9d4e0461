//! Cross-crate tests: the whole path from vendor payloads to pages.

mod e2e;
mod from_raw;
mod lambda_runtime;
mod normalize;
mod reliability;
mod webhook;
