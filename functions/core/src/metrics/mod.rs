//! The metric engine: a pure function of (dataset, config, as_of).
//! Every definition of `docs/metrics.md` is implemented once, here.

pub mod channel;
pub mod checks;
pub mod engine;
pub mod export;
pub mod marts;

pub use engine::{Input, aggregate, ratio, romi, summarize};
pub use marts::*;
