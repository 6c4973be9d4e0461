//! S3 backend (AWS or any S3-compatible server).
//!
//! - `put` is one PutObject, which S3 applies atomically.
//! - `put_if_absent` is PutObject with `If-None-Match: *` (S3 conditional
//!   writes); `412 Precondition Failed` means the key existed. AWS answers
//!   `409 ConditionalRequestConflict` while a competing conditional write to
//!   the same key is in flight; that is retried a few times.
//! - `list` pages through ListObjectsV2 with continuation tokens.
//!
//! Observed with s3s-fs 0.14.1 (the test server): it honours
//! `If-None-Match: *` on PutObject (412 when the object exists), but checks
//! existence and then writes in two steps, so two *simultaneous* conditional
//! puts of a new key can both succeed there. AWS S3 itself decides
//! atomically. This backend does not fall back to HEAD-then-PUT anywhere.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::{Result, Store, StoreError, validate_key};

const DEFAULT_REGION: &str = "us-east-1";
/// Retries of a conditional put answered with 409 (concurrent conditional write).
const CONFLICT_RETRIES: u32 = 5;

/// Where and how to reach the bucket.
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket (without leading/trailing `/`); may be empty.
    pub prefix: String,
    /// Region; defaults to the environment's (when using the default chain),
    /// then `us-east-1`.
    pub region: Option<String>,
    /// Custom endpoint (S3-compatible servers); enables path-style addressing.
    pub endpoint: Option<String>,
    /// Static credentials; when either is missing the default AWS chain is used.
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

/// A store in an S3 bucket under an optional prefix.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Normalised prefix: empty, or ends with `/`.
    prefix: String,
    backend: String,
}

impl S3Store {
    /// Builds the client. With static credentials the client is configured
    /// only from `cfg` (no environment or profile is read); otherwise the
    /// default AWS chain (environment, profile, IMDS/ECS/Lambda role) supplies
    /// credentials and region.
    pub async fn new(cfg: S3Config) -> Result<S3Store> {
        let bucket = cfg.bucket.trim().to_string();
        let trimmed = cfg.prefix.trim_matches('/');
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        let backend = match &cfg.endpoint {
            Some(endpoint) => format!("s3://{bucket}/{prefix} at {endpoint}"),
            None => format!("s3://{bucket}/{prefix}"),
        };
        if bucket.is_empty() {
            return Err(StoreError::Backend {
                backend,
                op: "connect",
                key: String::new(),
                message: "bucket name is empty".to_string(),
            });
        }
        if !prefix.is_empty() {
            validate_key(trimmed)?;
        }

        let s3_config = match (&cfg.access_key, &cfg.secret_key) {
            (Some(access), Some(secret)) => {
                let region = cfg
                    .region
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REGION.to_string());
                let mut builder = aws_sdk_s3::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(region))
                    .credentials_provider(Credentials::new(
                        access.clone(),
                        secret.clone(),
                        None,
                        None,
                        "voronka-static",
                    ));
                if let Some(endpoint) = &cfg.endpoint {
                    builder = builder.endpoint_url(endpoint).force_path_style(true);
                }
                builder.build()
            }
            _ => {
                let region = RegionProviderChain::first_try(cfg.region.clone().map(Region::new))
                    .or_default_provider()
                    .or_else(Region::new(DEFAULT_REGION));
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(region)
                    .load()
                    .await;
                let mut builder = aws_sdk_s3::config::Builder::from(&shared);
                if let Some(endpoint) = &cfg.endpoint {
                    builder = builder.endpoint_url(endpoint).force_path_style(true);
                }
                builder.build()
            }
        };
        Ok(S3Store {
            client: Client::from_conf(s3_config),
            bucket,
            prefix,
            backend,
        })
    }

    /// The underlying SDK client (e.g. to create the bucket in tests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn error(&self, op: &'static str, key: &str, message: String) -> StoreError {
        StoreError::Backend {
            backend: self.backend.clone(),
            op,
            key: key.to_string(),
            message,
        }
    }

    fn sdk_error<E, R>(&self, op: &'static str, key: &str, err: SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        self.error(op, key, DisplayErrorContext(&err).to_string())
    }
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// A 404 about the key (not about the bucket: a missing bucket is an error).
fn is_missing_key<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    if http_status(err) != Some(404) {
        return false;
    }
    let code = err.as_service_error().and_then(|e| e.code());
    code != Some("NoSuchBucket")
}

#[async_trait]
impl Store for S3Store {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        validate_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.sdk_error("put", key, e))?;
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<bool> {
        validate_key(key)?;
        let mut attempt = 0;
        loop {
            let sent = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .if_none_match("*")
                .body(ByteStream::from(bytes.clone()))
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(true),
                Err(err) => match http_status(&err) {
                    Some(412) => return Ok(false),
                    Some(409) if attempt < CONFLICT_RETRIES => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    }
                    _ => return Err(self.sdk_error("put_if_absent", key, err)),
                },
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        validate_key(key)?;
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await;
        let output = match sent {
            Ok(output) => output,
            Err(err) => {
                let missing = matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_)))
                    || is_missing_key(&err);
                if missing {
                    return Ok(None);
                }
                return Err(self.sdk_error("get", key, err));
            }
        };
        let body = output.body.collect().await.map_err(|e| {
            self.error(
                "get",
                key,
                format!("reading body: {}", DisplayErrorContext(&e)),
            )
        })?;
        Ok(Some(body.into_bytes()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let full_prefix = self.full_key(prefix);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full_prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.sdk_error("list", prefix, e))?;
            for object in page.contents() {
                if let Some(stripped) = object.key().and_then(|k| k.strip_prefix(&self.prefix))
                    && stripped.starts_with(prefix)
                {
                    keys.push(stripped.to_string());
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            let Some(next) = page.next_continuation_token() else {
                return Err(self.error(
                    "list",
                    prefix,
                    "truncated page without a continuation token".to_string(),
                ));
            };
            if page.continuation_token() == Some(next) {
                return Err(self.error(
                    "list",
                    prefix,
                    "server repeated the same continuation token".to_string(),
                ));
            }
            token = Some(next.to_string());
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_missing_key(&err) => Ok(()),
            Err(err) => Err(self.sdk_error("delete", key, err)),
        }
    }

    fn describe(&self) -> String {
        self.backend.clone()
    }
}
