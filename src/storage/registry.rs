//! The session's side of object storage: a store registry that opens S3 buckets on first use,
//! the `aws.*` table options, and a table factory that applies them.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::config::ConfigExtension;
use datafusion::common::{DataFusionError, extensions_options};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::logical_expr::CreateExternalTable;
use object_store::ObjectStore;
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

extensions_options! {
    /// `aws.*` OPTIONS of `CREATE EXTERNAL TABLE`: override the AWS environment for the
    /// table's bucket.
    pub struct AwsOptions {
        pub access_key_id: Option<String>, default = None
        pub secret_access_key: Option<String>, default = None
        pub session_token: Option<String>, default = None
        pub region: Option<String>, default = None
        pub endpoint: Option<String>, default = None
        pub allow_http: Option<String>, default = None
    }
}

impl ConfigExtension for AwsOptions {
    const PREFIX: &'static str = "aws";
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
