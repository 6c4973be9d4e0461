//! The metric engine: a pure function of (dataset, config, as_of).
//! Every definition of `docs/metrics.md` is implemented once, here.

pub mod channel;
pub mod checks;
pub mod cohorts;
pub mod engine;
pub mod export;
pub mod funnel;
pub mod managers;
pub mod marts;
pub mod resolve;

pub use engine::{Input, aggregate, marts_from, ratio, romi, summarize};
pub use marts::*;
pub use resolve::Resolved;
