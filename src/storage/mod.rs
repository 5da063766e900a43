//! Object storage: how S3 locations — source tables, exports, the warehouse — get their stores.
//!
//! Every S3 store starts from the standard AWS environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`, …). A source table may override them with `aws.*` OPTIONS of its
//! `CREATE EXTERNAL TABLE`; those options hold for the table's bucket. Requests are retried
//! [`max_retries`] times within [`retry_timeout`] (`TAGFUSION_S3_MAX_RETRIES`,
//! `TAGFUSION_S3_RETRY_TIMEOUT`), then fail with one line saying what to check (`error/storage.rs`).

mod registry;

pub use registry::{AwsOptions, S3TableFactory, Stores};

use std::collections::HashMap;
use std::sync::{Arc, Once};
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ObjectStore, RetryConfig};
use url::Url;

use crate::error::{Error, Result};

/// Whether a table option carries credentials (`aws.access_key_id`, `aws.secret_access_key`,
/// `aws.session_token` and every other spelling object_store accepts for them): such options
/// work for the session that gives them but are never written to the catalog
/// (see `engine::sources`).
pub fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let Some(name) = key.strip_prefix("aws.") else {
        return false;
    };
    matches!(
        name.parse::<AmazonS3ConfigKey>(),
        Ok(AmazonS3ConfigKey::AccessKeyId
            | AmazonS3ConfigKey::SecretAccessKey
            | AmazonS3ConfigKey::Token)
    )
}

/// What a redacted credential reads as in the catalog.
pub const REDACTED: &str = "<redacted>";

/// Whether a URL is on S3 (or an S3-compatible store).
pub fn is_s3(url: &Url) -> bool {
    matches!(url.scheme(), "s3" | "s3a")
}

/// Attempts per request after the first: `TAGFUSION_S3_MAX_RETRIES`, default 5.
pub fn max_retries() -> usize {
    std::env::var("TAGFUSION_S3_MAX_RETRIES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(5)
}

/// How long one request may keep retrying: `TAGFUSION_S3_RETRY_TIMEOUT` (`30`, `30s`, `2m`;
/// [`crate::units::parse_duration`]), default 60 s.
pub fn retry_timeout() -> Duration {
    std::env::var("TAGFUSION_S3_RETRY_TIMEOUT")
        .ok()
        .and_then(|v| crate::units::parse_duration(&v).ok())
        .unwrap_or(Duration::from_secs(60))
}

fn retry_config() -> RetryConfig {
    RetryConfig {
        max_retries: max_retries(),
        retry_timeout: retry_timeout(),
        ..RetryConfig::default()
    }
}

/// Storage options for delta-rs: the retry policy above (delta-rs reads the `AWS_*`
/// environment itself). Conditional puts make concurrent commits safe on S3, so no locking
/// provider is needed (docs/storage.md).
pub fn delta_options() -> HashMap<String, String> {
    HashMap::from([
        ("max_retries".to_string(), max_retries().to_string()),
        (
            "retry_timeout".to_string(),
            format!("{}s", retry_timeout().as_secs()),
        ),
    ])
}

/// Lets delta-rs open `s3://` and `s3a://` tables (once per process).
pub fn register_delta_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// An S3 store for the bucket of `url`: the AWS environment, then `overrides` (keys as in
/// `aws.*` table options, without the prefix: `endpoint`, `region`, `access_key_id`, …).
pub fn s3_store(url: &Url, overrides: &[(String, String)]) -> Result<Arc<dyn ObjectStore>> {
    let bucket = url
        .host_str()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Error::invalid(format!("'{url}' names no bucket: use s3://bucket/path")))?;
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry_config());
    for (key, value) in overrides {
        let config_key: AmazonS3ConfigKey = key.to_ascii_lowercase().parse().map_err(|_| {
            Error::invalid(format!(
                "unknown S3 option 'aws.{key}': use aws.access_key_id, aws.secret_access_key, \
                 aws.session_token, aws.region, aws.endpoint or aws.allow_http"
            ))
        })?;
        builder = builder.with_config(config_key, value);
    }
    let store = builder
        .build()
        .map_err(|e| Error::invalid(format!("cannot use S3 bucket '{bucket}': {e}")))?;
    Ok(Arc::new(store))
}

/// `s3://bucket/` of a URL: the key object stores are registered under.
pub fn bucket_url(url: &Url) -> Result<Url> {
    let bucket = url.host_str().unwrap_or_default();
    Url::parse(&format!("{}://{bucket}/", url.scheme()))
        .map_err(|e| Error::invalid(format!("bad S3 location '{url}': {e}")))
}

/// The object path of an S3 URL inside its bucket.
pub fn object_path(url: &Url) -> Result<object_store::path::Path> {
    object_store::path::Path::from_url_path(url.path())
        .map_err(|e| Error::invalid(format!("bad S3 location '{url}': {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_spelling_of_a_credential_is_secret() {
        for key in [
            "aws.access_key_id",
            "AWS.SECRET_ACCESS_KEY",
            "aws.session_token",
            "aws.token",
            "aws.aws_secret_access_key",
            "aws.aws_access_key_id",
        ] {
            assert!(super::is_secret_option(key), "{key}");
        }
        for key in [
            "aws.region",
            "aws.endpoint",
            "format.has_header",
            "secret_access_key",
        ] {
            assert!(!super::is_secret_option(key), "{key}");
        }
    }
}
