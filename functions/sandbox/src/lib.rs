//! voronka-sandbox: a deterministic synthetic online school and in-process
//! fakes of its vendors (amoCRM, GetCourse, Yandex Direct, Meta, CBR)
//! speaking the real wire protocols, plus the Tilda webhook deliveries.
//!
//! Independent of `voronka-core` and `voronka-connectors` on purpose: it is
//! the outside world, so the pipeline cannot cheat.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use voronka_sandbox::*;
//! let school = Arc::new(generate(&SchoolSpec::default()));
//! let sandbox = Sandbox::start(school.clone(), SandboxOptions::default()).await?;
//! let amocrm_base = format!("{}/amocrm", sandbox.base_url());
//! # let _ = amocrm_base; Ok(()) }
//! ```

mod generate;
mod model;
mod names;
pub mod rng;
mod server;
mod tilda;

pub use generate::{
    AMOCRM_ACCOUNT_ID, FORM_CALLBACK, FORM_LANDING2, FORM_MAIN, LOSS_REASONS, LOST, MAIN_OPEN,
    MAIN_PIPELINE, TILDA_PROJECT, UPSELL_OPEN, UPSELL_PIPELINE, WON, generate,
};
pub use model::*;
pub use server::{
    AMOCRM_TOKEN, FACEBOOK_TOKEN, GETCOURSE_KEY, SLUGS, Sandbox, SandboxOptions, YANDEX_TOKEN,
};
pub use tilda::{TildaDelivery, tilda_deliveries};
