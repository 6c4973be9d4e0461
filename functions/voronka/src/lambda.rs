//! The Lambda roles of the one binary. `main` builds the store, driver and
//! config once; each invocation calls a pipeline step. The role comes from
//! `VORONKA_ROLE` (`ingest`, `aggregate`, `render`, `pipeline`); the config
//! from the file `VORONKA_CONFIG` names (default `voronka.toml` beside the
//! binary). Handlers are idempotent: a re-delivered event re-fetches the
//! same window, which replaces the same days. `ingest` only fetches into
//! `raw/`; `pipeline` normalizes what arrived (incrementally, under the
//! lease `state/normalize.lock`), aggregates and renders.

use crate::pipeline::Pipeline;
use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use voronka_connectors::driver::{Driver, DriverOptions, EnvSecrets};
use voronka_core::time;

/// True when running under the Lambda runtime API.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// The event every role accepts (fields a role doesn't use are ignored).
#[derive(Debug, Default, Deserialize)]
pub struct Event {
    /// Source slug (ingest).
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub from: Option<NaiveDate>,
    #[serde(default)]
    pub to: Option<NaiveDate>,
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Ingest,
    Aggregate,
    Render,
    Pipeline,
    /// Vendor webhooks behind a Lambda function URL.
    Webhook,
}

impl std::str::FromStr for Role {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Role> {
        Ok(match s {
            "ingest" => Role::Ingest,
            "aggregate" => Role::Aggregate,
            "render" => Role::Render,
            "pipeline" => Role::Pipeline,
            "webhook" => Role::Webhook,
            other => anyhow::bail!(
                "VORONKA_ROLE={other:?}: expected ingest, aggregate, render, pipeline or webhook"
            ),
        })
    }
}

/// Runs one invocation of `role`.
pub async fn handle(p: &Pipeline, role: Role, event: Event) -> Result<Value> {
    let now = Utc::now();
    let yesterday = time::local_date(now, p.config.tz()) - chrono::Duration::days(1);
    let as_of = event.as_of.unwrap_or(yesterday);
    match role {
        Role::Ingest => {
            let slug = event
                .source
                .context("ingest event needs \"source\": a source slug")?;
            let window = event.from.zip(event.to);
            // Ingest only fetches into raw/: normalization is the pipeline
            // role's (one normalizer at a time, under its lease).
            let summaries = p.ingest(&slug, window, now).await?;
            let failed: Vec<String> = summaries.iter().flat_map(|s| s.failed.clone()).collect();
            if !failed.is_empty() {
                anyhow::bail!(
                    "{slug}: {} job(s) failed: {}",
                    failed.len(),
                    failed.join("; ")
                );
            }
            let raw_objects: usize = summaries.iter().map(|s| s.raw_objects).sum();
            let requests: u32 = summaries.iter().map(|s| s.requests).sum();
            Ok(json!({"source": slug, "raw_objects": raw_objects, "requests": requests}))
        }
        Role::Aggregate => {
            let m = p.aggregate(as_of, now).await?;
            Ok(json!({"as_of": m.as_of, "rows": m.channels.len()}))
        }
        Role::Render => {
            let n = p.render(now).await?;
            Ok(json!({"files": n}))
        }
        Role::Webhook => anyhow::bail!("the webhook role takes function-URL events"),
        Role::Pipeline => {
            let n = p.normalize().await?;
            let m = p.aggregate(as_of, now).await?;
            let files = p.render(now).await?;
            Ok(json!({"records": n.records, "as_of": m.as_of, "files": files}))
        }
    }
}

/// A Lambda function-URL request (payload format 2.0), the fields used.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlRequest {
    #[serde(default)]
    pub raw_path: String,
    #[serde(default)]
    pub raw_query_string: String,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
    #[serde(default)]
    pub request_context: RequestContext,
}

#[derive(Debug, Default, Deserialize)]
pub struct RequestContext {
    #[serde(default)]
    pub http: HttpContext,
}

#[derive(Debug, Default, Deserialize)]
pub struct HttpContext {
    #[serde(default)]
    pub method: String,
}

/// Handles one function-URL delivery; answers in the function-URL
/// response format.
pub async fn handle_webhook(receiver: &crate::webhook::Receiver, event: Value) -> Result<Value> {
    use base64::Engine;
    let req: FunctionUrlRequest =
        serde_json::from_value(event).context("not a function URL request")?;
    let body = match (&req.body, req.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(b), false) => b.clone().into_bytes(),
        (Some(b), true) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .context("body is not valid base64")?,
    };
    let headers = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let method = match req.request_context.http.method.as_str() {
        "" => "POST",
        m => m,
    };
    let answer = receiver
        .handle_method(
            method,
            &crate::webhook::Delivery {
                path: &req.raw_path,
                query: &req.raw_query_string,
                headers: &headers,
                body: &body,
                received_at: Utc::now(),
            },
        )
        .await;
    Ok(json!({
        "statusCode": answer.status,
        "headers": {"content-type": "text/plain; charset=utf-8"},
        "body": answer.body,
    }))
}

/// Serves invocations until the runtime stops.
pub async fn serve() -> Result<()> {
    let role: Role = std::env::var("VORONKA_ROLE")
        .context("VORONKA_ROLE is not set")?
        .parse()?;
    let path = std::env::var_os("VORONKA_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("voronka.toml"));
    let config = crate::load_config(&path)?;
    let base = path.parent().map(PathBuf::from).unwrap_or_default();
    let store = crate::open_store(&config, &base).await?;
    let driver = Driver::new(DriverOptions::default(), Arc::new(EnvSecrets));
    let receiver = match role {
        Role::Webhook => Some(Arc::new(crate::webhook::Receiver::new(
            &config,
            &EnvSecrets,
            store.clone(),
        )?)),
        _ => None,
    };
    let pipeline = Arc::new(Pipeline {
        store,
        config,
        driver,
    });
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let pipeline = pipeline.clone();
        let receiver = receiver.clone();
        async move {
            if let Some(receiver) = receiver {
                return handle_webhook(&receiver, ev.payload)
                    .await
                    .map_err(|e| Diagnostic {
                        error_type: "BadRequest".into(),
                        error_message: format!("{e:#}"),
                    });
            }
            let event: Event = serde_json::from_value(ev.payload).map_err(|e| Diagnostic {
                error_type: "BadEvent".into(),
                error_message: format!("bad event: {e}"),
            })?;
            handle(&pipeline, role, event)
                .await
                .map_err(|e| Diagnostic {
                    error_type: "VoronkaError".into(),
                    error_message: format!("{e:#}"),
                })
        }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}
