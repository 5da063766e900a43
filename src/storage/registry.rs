//! The session's side of object storage: a store registry that opens S3 buckets on first use,
//! the `aws.*` table options, and a table factory that applies them.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::DataFusionError;
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::logical_expr::CreateExternalTable;
use object_store::ObjectStore;
use object_store::aws::AmazonS3ConfigKey;
use url::Url;

use super::{bucket_url, is_s3, s3_store};

/// Object stores of a session: the local file system and whatever was registered, plus any S3
/// bucket a query names, opened from the AWS environment the first time it is used.
#[derive(Debug, Default)]
pub struct Stores {
    inner: DefaultObjectStoreRegistry,
}

impl Stores {
    pub fn new() -> Self {
        Self::default()
    }
}

impl ObjectStoreRegistry for Stores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Ok(store) => Ok(store),
            Err(_) if is_s3(url) => {
                let store = s3_store(url, &[]).map_err(|e| DataFusionError::External(e.into()))?;
                let key = bucket_url(url).map_err(|e| DataFusionError::External(e.into()))?;
                self.inner.register_store(&key, store.clone());
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }
}

/// `aws.*` OPTIONS of `CREATE EXTERNAL TABLE`: accepted here (DataFusion checks every option
/// against a registered namespace) and applied by [`S3TableFactory`] to the table's bucket.
/// Any key of object_store's S3 configuration works: `aws.access_key_id`,
/// `aws.secret_access_key`, `aws.session_token`, `aws.region`, `aws.endpoint`,
/// `aws.allow_http`, …
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    values: BTreeMap<String, String>,
}

impl ConfigExtension for AwsOptions {
    const PREFIX: &'static str = "aws";
}

impl ExtensionOptions for AwsOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> datafusion::error::Result<()> {
        let name = key.strip_prefix("aws.").unwrap_or(key).to_ascii_lowercase();
        if name.parse::<AmazonS3ConfigKey>().is_err() {
            return Err(DataFusionError::Configuration(format!(
                "unknown S3 option 'aws.{name}': use aws.access_key_id, aws.secret_access_key, \
                 aws.session_token, aws.region, aws.endpoint or aws.allow_http"
            )));
        }
        self.values.insert(name, value.to_string());
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        self.values
            .iter()
            .map(|(k, v)| ConfigEntry {
                key: format!("aws.{k}"),
                value: Some(v.clone()),
                description: "S3 option of an external table",
            })
            .collect()
    }
}

/// Wraps a file format's table factory: a table on S3 with `aws.*` options gets a store built
/// from them (for its bucket) before the table's files are listed.
#[derive(Debug)]
pub struct S3TableFactory {
    inner: Arc<dyn TableProviderFactory>,
}

impl S3TableFactory {
    pub fn new(inner: Arc<dyn TableProviderFactory>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl TableProviderFactory for S3TableFactory {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let overrides: Vec<(String, String)> = cmd
            .options
            .iter()
            .filter_map(|(k, v)| {
                k.to_ascii_lowercase()
                    .strip_prefix("aws.")
                    .map(|k| (k.to_string(), v.clone()))
            })
            .collect();
        if !overrides.is_empty() {
            for location in &cmd.locations {
                let Ok(url) = Url::parse(location) else {
                    continue;
                };
                if is_s3(&url) {
                    let external = |e: crate::error::Error| DataFusionError::External(e.into());
                    let store = s3_store(&url, &overrides).map_err(external)?;
                    state
                        .runtime_env()
                        .register_object_store(&bucket_url(&url).map_err(external)?, store);
                }
            }
        }
        self.inner.create(state, cmd).await
    }
}
