//! voronka-sandbox: a deterministic synthetic online school and in-process
//! fakes of its vendors (amoCRM, GetCourse, Yandex Direct, Meta, CBR,
//! Bizon365, Salebot, GA4, TikTok, VK Ads, myTarget, Google Ads) speaking
//! the real wire protocols, plus the Tilda and Salebot webhook deliveries.
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

mod demo;
mod extras;
mod generate;
mod model;
mod names;
pub mod rng;
mod server;
mod tilda;

pub use demo::{BASE_PLACEHOLDER, DemoAccount, SalebotDelivery, demo_accounts, salebot_deliveries};
pub use extras::{BIZON_GROUP, BIZON_ROOM, SALEBOT_BOT, SALEBOT_WHATSAPP};
pub use generate::{
    AMOCRM_ACCOUNT_ID, FORM_CALLBACK, FORM_LANDING2, FORM_MAIN, LOSS_REASONS, LOST, MAIN_OPEN,
    MAIN_PIPELINE, TILDA_PROJECT, UPSELL_OPEN, UPSELL_PIPELINE, WON, generate,
};
pub use model::*;
pub use server::{
    AMOCRM_AUTH_CODE, AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET, AMOCRM_REDIRECT_URI,
    AMOCRM_REFRESH_TOKEN, AMOCRM_TOKEN, BIZON_TOKEN, FACEBOOK_TOKEN, GA4_ACCESS_TOKEN,
    GA4_PROPERTY, GETCOURSE_KEY, GOOGLE_ACCESS_TOKEN, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET,
    GOOGLE_DEVELOPER_TOKEN, GOOGLE_LOGIN_CUSTOMER_ID, GOOGLE_REFRESH_TOKEN, SALEBOT_KEY, SLUGS,
    Sandbox, SandboxOptions, TIKTOK_TOKEN, VK_ACCESS_TOKEN, VK_CLIENT_ID, VK_CLIENT_SECRET,
    VK_REFRESH_TOKEN, YANDEX_TOKEN,
};
pub use tilda::{TildaDelivery, tilda_deliveries};
