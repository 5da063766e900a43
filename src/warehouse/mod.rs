//! The warehouse: a directory (or, later, an object-store prefix) of Delta Lake tables.
//!
//! Layout under the root:
//! - `_catalog/{entities,tags,segments,sources,snapshots,audit}`: the catalog and the audit
//!   log, one Delta table each;
//! - `<entity>/profile_history`: every snapshot of an entity's profile, with `snapshot_at`;
//! - `demo/`: the demo's generated source data (Parquet).
//!
//! Every change is one Delta commit, so readers see the state before or after it, never between.

mod preplanned;
mod types;

use preplanned::PreplannedTable;

pub use types::{delta_compatible, delta_compatible_schema, snapshot_literal, snapshot_type};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan};
use deltalake::DeltaTable;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::operations::write::{SchemaMode, WriteBuilder};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::protocol::SaveMode;
use url::Url;

use crate::error::{Error, Result};

/// Rows per Parquet row group of a profile file.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// Rows per Parquet data page of a profile file (page index granularity).
pub const PAGE_ROWS: usize = 8_192;

/// Parquet settings for profile files: small row groups and pages with statistics, so that
/// a lookup by key (sorted) or snapshot skips nearly everything.
fn lookup_friendly_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_statistics_enabled(EnabledStatistics::Page)
        .build()
}

/// Where the warehouse lives and how to reach its tables.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: Url,
}

/// How a write combines with what a table holds.
pub enum WriteMode {
    Append,
    /// Replace the whole table.
    Overwrite,
    /// Replace the rows matching a predicate, in the same commit as the new rows.
    Replace(Expr),
}

impl WriteMode {
    fn apply(self, builder: WriteBuilder) -> WriteBuilder {
        match self {
            WriteMode::Append => builder.with_save_mode(SaveMode::Append),
            WriteMode::Overwrite => builder.with_save_mode(SaveMode::Overwrite),
            WriteMode::Replace(p) => builder
                .with_save_mode(SaveMode::Overwrite)
                .with_replace_where(p),
        }
    }
}

impl Warehouse {
    /// Opens (creating if needed) the warehouse at a local path or URL.
    pub fn open(location: &str) -> Result<Self> {
        let root = if location.contains("://") {
            let mut url = Url::parse(location)
                .map_err(|e| Error::invalid(format!("warehouse '{location}' is not a URL: {e}")))?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            if url.scheme() != "file" {
                return Err(Error::invalid(format!(
                    "warehouse '{location}': only local warehouses are supported in this build"
                )));
            }
            url
        } else {
            let path = PathBuf::from(location);
            std::fs::create_dir_all(&path)
                .map_err(|e| Error::io(format!("cannot create warehouse '{location}'"), e))?;
            let abs = std::fs::canonicalize(&path)
                .map_err(|e| Error::io(format!("cannot open warehouse '{location}'"), e))?;
            Url::from_directory_path(&abs)
                .map_err(|_| Error::invalid(format!("warehouse path '{location}' is not valid")))?
        };
        Ok(Self { root })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The local directory of the warehouse.
    pub fn local_dir(&self) -> Option<PathBuf> {
        self.root.to_file_path().ok()
    }

    /// URL of a table or file under the root, e.g. `customer/profile_history`.
    pub fn url(&self, relative: &str) -> Result<Url> {
        let encoded: Vec<String> = relative
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>())
            .collect();
        let mut joined = encoded.join("/");
        joined.push('/');
        self.root
            .join(&joined)
            .map_err(|e| Error::invalid(format!("bad warehouse path '{relative}': {e}")))
    }

    /// Local path of something under the root.
    pub fn local_path(&self, relative: &str) -> Option<PathBuf> {
        self.local_dir().map(|d| d.join(Path::new(relative)))
    }

    /// Opens a Delta table, or `None` when there is none at that place yet.
    pub async fn table(&self, relative: &str) -> Result<Option<DeltaTable>> {
        if let Some(path) = self.local_path(relative)
            && !path.join("_delta_log").exists()
        {
            return Ok(None);
        }
        let table = DeltaTable::try_from_url(self.url(relative)?).await?;
        Ok(if table.version().is_some() {
            Some(table)
        } else {
            None
        })
    }

    /// Creates an empty table with `schema` if there is none.
    pub async fn ensure_table(&self, relative: &str, schema: &SchemaRef) -> Result<DeltaTable> {
        if let Some(t) = self.table(relative).await? {
            return Ok(t);
        }
        if let Some(path) = self.local_path(relative) {
            std::fs::create_dir_all(&path)
                .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        }
        let table = DeltaTable::try_from_url(self.url(relative)?).await?;
        let delta_schema: StructType = schema.as_ref().try_into_kernel()?;
        let created = table
            .create()
            .with_columns(delta_schema.fields().cloned())
            .with_save_mode(SaveMode::Ignore)
            .await?;
        Ok(created)
    }

    /// A DataFusion table provider over the table's current version.
    pub async fn provider(&self, table: &DeltaTable) -> Result<Arc<dyn TableProvider>> {
        Ok(table.table_provider().await?)
    }

    /// Writes record batches in one commit.
    pub async fn write_batches(
        &self,
        relative: &str,
        schema: &SchemaRef,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
    ) -> Result<DeltaTable> {
        let table = self.ensure_table(relative, schema).await?;
        let batches = if batches.is_empty() {
            vec![RecordBatch::new_empty(schema.clone())]
        } else {
            batches
        };
        Ok(mode.apply(table.write(batches)).await?)
    }

    /// Runs `plan` and writes its rows in one commit; new columns are added to the table.
    /// Nothing becomes visible unless the whole plan ran. Files get row groups of
    /// [`ROW_GROUP_ROWS`] and pages of [`PAGE_ROWS`] with statistics and a page index: a
    /// profile is written sorted by key, so a key lookup reads one page of one row group.
    pub async fn write_plan(
        &self,
        relative: &str,
        plan: LogicalPlan,
        state: &SessionState,
        mode: WriteMode,
    ) -> Result<DeltaTable> {
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let table = self.ensure_table(relative, &schema).await?;
        let physical = state.create_physical_plan(&plan).await?;
        let source =
            datafusion::datasource::provider_as_source(Arc::new(PreplannedTable::new(physical)));
        let plan = datafusion::logical_expr::LogicalPlanBuilder::scan("__tf_input", source, None)?
            .build()?;
        // No round-robin split above the ordered input either: delta-rs would interleave the
        // partitions' batches into one file.
        let mut outer = state.clone();
        outer
            .config_mut()
            .options_mut()
            .optimizer
            .enable_round_robin_repartition = false;
        let builder = table
            .write(Vec::new())
            .with_input_plan(plan)
            .with_session_state(Arc::new(outer))
            .with_schema_mode(SchemaMode::Merge)
            .with_writer_properties(lookup_friendly_properties());
        Ok(mode.apply(builder).await?)
    }

    /// Removes everything under `relative` (a dropped entity's profile).
    pub async fn remove(&self, relative: &str) -> Result<()> {
        if let Some(path) = self.local_path(relative)
            && path.exists()
        {
            std::fs::remove_dir_all(&path)
                .map_err(|e| Error::io(format!("cannot remove {}", path.display()), e))?;
        }
        Ok(())
    }
}
