//! The warehouse: a directory or an S3 prefix of Delta Lake tables.
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan};
use deltalake::DeltaTable;
use deltalake::TableProperty;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::{SchemaMode, WriteBuilder};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::protocol::SaveMode;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use url::Url;

use crate::error::{Error, Result};
use crate::storage;

/// Commits between Delta checkpoints of every warehouse table (delta-rs' default is 100).
pub const CHECKPOINT_INTERVAL: &str = "10";

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
    /// The bucket's store when the warehouse is on S3 (Delta tables open their own).
    store: Option<Arc<dyn ObjectStore>>,
    /// Tables opened before, brought up to date by reading only the commits since (one list
    /// request on S3) instead of replaying their log from the last checkpoint.
    opened: Arc<Mutex<HashMap<String, DeltaTable>>>,
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
    /// Opens (creating if needed) the warehouse at a local path, a `file://` URL or
    /// `s3://bucket/prefix`. On S3 the bucket is checked once here, so wrong credentials or a
    /// missing bucket fail at the start with one clear line; a new prefix is simply empty.
    pub async fn open(location: &str) -> Result<Self> {
        if !location.contains("://") {
            let path = PathBuf::from(location);
            std::fs::create_dir_all(&path)
                .map_err(|e| Error::io(format!("cannot create warehouse '{location}'"), e))?;
            let abs = std::fs::canonicalize(&path)
                .map_err(|e| Error::io(format!("cannot open warehouse '{location}'"), e))?;
            let root = Url::from_directory_path(&abs)
                .map_err(|_| Error::invalid(format!("warehouse path '{location}' is not valid")))?;
            return Ok(Self {
                root,
                store: None,
                opened: Arc::default(),
            });
        }
        let mut root = Url::parse(location)
            .map_err(|e| Error::invalid(format!("warehouse '{location}' is not a URL: {e}")))?;
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        match root.scheme() {
            "file" => {
                let path = root.to_file_path().map_err(|_| {
                    Error::invalid(format!("warehouse '{location}' is not a local path"))
                })?;
                Box::pin(Self::open(&path.display().to_string())).await
            }
            _ if storage::is_s3(&root) => {
                storage::register_delta_handlers();
                let store = storage::s3_store(&root, &[])?;
                let prefix = storage::object_path(&root)?;
                store.list_with_delimiter(Some(&prefix)).await?;
                Ok(Self {
                    root,
                    store: Some(store),
                    opened: Arc::default(),
                })
            }
            other => Err(Error::invalid(format!(
                "warehouse '{location}': '{other}://' is not supported; use a directory or \
                 s3://bucket/prefix"
            ))),
        }
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The local directory of the warehouse (`None` on S3).
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

    /// Local path of something under the root (`None` on S3).
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
        let table = self.delta(relative).await?;
        Ok(if table.version().is_some() {
            Some(table)
        } else {
            None
        })
    }

    /// A Delta table as it was at `version` (time travel), or `None` when there is no table.
    pub async fn table_at(&self, relative: &str, version: u64) -> Result<Option<DeltaTable>> {
        let Some(mut table) = self.table(relative).await? else {
            return Ok(None);
        };
        if table.version() != Some(version) {
            table.load_version(version).await?;
        }
        Ok(Some(table))
    }

    /// The Delta table at `relative`, loaded if it exists (version `None` if not).
    async fn delta(&self, relative: &str) -> Result<DeltaTable> {
        let opened = self
            .opened
            .lock()
            .ok()
            .and_then(|o| o.get(relative).cloned());
        if let Some(mut table) = opened {
            table.update_state().await?;
            self.remember(relative, &table);
            return Ok(table);
        }
        let table = DeltaTable::try_from_url_with_storage_options(
            self.url(relative)?,
            storage::delta_options(),
        )
        .await?;
        self.remember(relative, &table);
        Ok(table)
    }

    /// Keeps a loaded table for the next open (unless a newer version is kept already).
    fn remember(&self, relative: &str, table: &DeltaTable) {
        let Some(version) = table.version() else {
            return;
        };
        if let Ok(mut opened) = self.opened.lock()
            && opened
                .get(relative)
                .and_then(|t| t.version())
                .is_none_or(|v| v < version)
        {
            opened.insert(relative.to_string(), table.clone());
        }
    }

    /// Uploads a local file to `relative` under the root (S3), or copies it (local).
    pub async fn upload(&self, file: &Path, relative: &str) -> Result<()> {
        let Some(store) = &self.store else {
            let target = self
                .local_path(relative)
                .ok_or_else(|| Error::invalid("the warehouse has no local directory"))?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
            }
            std::fs::copy(file, &target)
                .map_err(|e| Error::io(format!("cannot copy to {}", target.display()), e))?;
            return Ok(());
        };
        let path = storage::object_path(&self.url(relative)?)?;
        let path = object_store::path::Path::from(path.as_ref().trim_end_matches('/'));
        let mut writer = object_store::buffered::BufWriter::new(store.clone(), path);
        let mut reader = tokio::fs::File::open(file)
            .await
            .map_err(|e| Error::io(format!("cannot read {}", file.display()), e))?;
        tokio::io::copy(&mut reader, &mut writer)
            .await
            .map_err(|e| Error::io(format!("cannot upload {}", file.display()), e))?;
        tokio::io::AsyncWriteExt::shutdown(&mut writer)
            .await
            .map_err(|e| Error::io(format!("cannot upload {}", file.display()), e))?;
        Ok(())
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
        let table = self.delta(relative).await?;
        let delta_schema: StructType = schema.as_ref().try_into_kernel()?;
        let created = table
            .create()
            .with_columns(delta_schema.fields().cloned())
            // Every open replays the log since the last checkpoint: catalog tables take a
            // commit per DDL statement, and on S3 each replayed commit is a request.
            .with_configuration_property(
                TableProperty::CheckpointInterval,
                Some(CHECKPOINT_INTERVAL),
            )
            .with_save_mode(SaveMode::Ignore)
            .await?;
        Ok(created)
    }

    /// A DataFusion table provider over the table's current version.
    pub async fn provider(&self, table: &DeltaTable) -> Result<Arc<dyn TableProvider>> {
        Ok(table.table_provider().await?)
    }

    /// Writes record batches in one commit; new columns are added to the table.
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
        self.write_to(relative, table, batches, mode, CommitProperties::default())
            .await
    }

    /// Appends batches in one commit on top of `table` as it was read (not brought up to
    /// date first), with `commit`'s properties. When `commit` carries a Delta application
    /// transaction, a commit another process made since with the same application id makes
    /// this one fail ("another process committed … first") instead of landing beside it.
    pub async fn append_to(
        &self,
        relative: &str,
        table: DeltaTable,
        batches: Vec<RecordBatch>,
        commit: CommitProperties,
    ) -> Result<DeltaTable> {
        self.write_to(relative, table, batches, WriteMode::Append, commit)
            .await
    }

    /// One commit of `batches` on top of `table` as given. Merge: a table written by an older
    /// TagFusion takes the columns added since.
    async fn write_to(
        &self,
        relative: &str,
        table: DeltaTable,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
        commit: CommitProperties,
    ) -> Result<DeltaTable> {
        let builder = table
            .write(batches)
            .with_schema_mode(SchemaMode::Merge)
            .with_commit_properties(commit);
        let written = mode.apply(builder).await?;
        self.remember(relative, &written);
        Ok(written)
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
        let written = mode.apply(builder).await?;
        self.remember(relative, &written);
        Ok(written)
    }

    /// Removes everything under `relative` (a dropped entity's profile).
    pub async fn remove(&self, relative: &str) -> Result<()> {
        if let Ok(mut opened) = self.opened.lock() {
            opened.retain(|path, _| !path.starts_with(relative));
        }
        if let Some(store) = &self.store {
            let prefix = storage::object_path(&self.url(relative)?)?;
            let locations = store
                .list(Some(&prefix))
                .map_ok(|meta| meta.location)
                .boxed();
            store
                .delete_stream(locations)
                .try_collect::<Vec<_>>()
                .await?;
            return Ok(());
        }
        if let Some(path) = self.local_path(relative)
            && path.exists()
        {
            std::fs::remove_dir_all(&path)
                .map_err(|e| Error::io(format!("cannot remove {}", path.display()), e))?;
        }
        Ok(())
    }
}
