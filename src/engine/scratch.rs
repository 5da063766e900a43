//! Temporary tables for validation and refresh (in memory, or staged to Parquet files):
//! uniquely named, removed when dropped.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::MemTable;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};

use crate::error::{Error, Result};

pub(super) struct Scratch<'a> {
    ctx: &'a SessionContext,
    names: Vec<String>,
    /// Directories of staged rows, deleted after the tables reading them are gone.
    dirs: Vec<tempfile::TempDir>,
}

impl<'a> Scratch<'a> {
    pub fn new(ctx: &'a SessionContext) -> Self {
        Self {
            ctx,
            names: Vec::new(),
            dirs: Vec::new(),
        }
    }

    /// Registers `batches` under a fresh name and returns it.
    pub fn register(&mut self, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<String> {
        let name = format!("__tf_{}", uuid::Uuid::new_v4().simple());
        let table = MemTable::try_new(schema, vec![batches])?;
        self.ctx.register_table(name.as_str(), Arc::new(table))?;
        self.names.push(name.clone());
        Ok(name)
    }

    /// Registers a table provider (a Delta table at some version) under a fresh name.
    pub fn provide(&mut self, provider: Arc<dyn TableProvider>) -> Result<String> {
        let name = format!("__tf_{}", uuid::Uuid::new_v4().simple());
        self.ctx.register_table(name.as_str(), provider)?;
        self.names.push(name.clone());
        Ok(name)
    }

    /// Streams `df`'s rows to Parquet files in a temporary directory (under `TMPDIR`, where
    /// DataFusion spills too) and registers them as a table named `prefix` + a fresh id.
    pub async fn stage(&mut self, prefix: &str, df: DataFrame) -> Result<String> {
        let dir = tempfile::Builder::new()
            .prefix("tagfusion-stage-")
            .tempdir()
            .map_err(|e| Error::invalid(format!("cannot create a staging directory: {e}")))?;
        let path = format!("{}/", dir.path().display());
        let mut options = TableParquetOptions::default();
        // Written once and read back at once: fast to write matters more than small.
        options.global.compression = Some("snappy".to_string());
        df.write_parquet(&path, DataFrameWriteOptions::new(), Some(options))
            .await?;
        let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        self.ctx
            .register_parquet(name.as_str(), &path, ParquetReadOptions::default())
            .await?;
        self.names.push(name.clone());
        self.dirs.push(dir);
        Ok(name)
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.ctx.deregister_table(name.as_str());
        }
    }
}
