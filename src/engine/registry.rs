//! What the session sees: schema `tagfusion` with the system tables, and one schema per entity
//! with `profile` (latest snapshot) and `profile_history` (every snapshot).

use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::{DataFrame, cast, ident, lit};

use crate::warehouse::delta_compatible;
pub use crate::warehouse::snapshot_literal;

use super::Engine;
use super::keys::keys_path;
use super::refresh::bitmaps_path;
use crate::catalog::SnapshotRecord;
use crate::catalog::{Catalog, store};
use crate::error::{Error, Result};
use datafusion::arrow::datatypes::DataType;

pub const SYSTEM_SCHEMA: &str = "tagfusion";
pub const DEFAULT_CATALOG: &str = "datafusion";

pub fn profile_history_path(entity: &str) -> String {
    format!("{entity}/profile_history")
}

/// The `snapshot_at` of a snapshot as a SQL literal (a timestamp without zone compares as UTC).
pub fn snapshot_sql(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("TIMESTAMP '{}'", at.format("%Y-%m-%d %H:%M:%S%.6f"))
}

/// Registers `provider` as `name`, replacing what was there.
fn replace_table(
    schema: &Arc<dyn SchemaProvider>,
    name: &str,
    provider: Arc<dyn TableProvider>,
) -> Result<()> {
    schema.deregister_table(name)?;
    schema.register_table(name.to_string(), provider)?;
    Ok(())
}

impl Engine {
    /// The schema provider called `name`, created if missing.
    pub(super) fn schema(&self, name: &str) -> Result<Arc<dyn SchemaProvider>> {
        let catalog = self
            .ctx
            .catalog(DEFAULT_CATALOG)
            .ok_or_else(|| Error::invalid("the session has no default catalog"))?;
        if let Some(schema) = catalog.schema(name) {
            return Ok(schema);
        }
        let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
        catalog.register_schema(name, schema.clone())?;
        Ok(schema)
    }

    pub(super) async fn register_all_tables(&self) -> Result<()> {
        self.register_system_tables().await?;
        self.register_identity_tables().await?;
        let catalog = self.catalog();
        for entity in catalog.entities.keys() {
            self.register_entity_tables(&catalog, entity).await?;
        }
        Ok(())
    }

    /// (Re-)registers the system tables at their latest versions.
    pub(super) async fn register_system_tables(&self) -> Result<()> {
        let schema = self.schema(SYSTEM_SCHEMA)?;
        for (name, path, table_schema) in store::tables() {
            let table = self.warehouse.ensure_table(path, &table_schema).await?;
            let provider = self.warehouse.provider(&table).await?;
            replace_table(&schema, name, provider)?;
        }
        Ok(())
    }

    /// (Re-)registers `<entity>.profile` and `<entity>.profile_history`.
    pub(super) async fn register_entity_tables(
        &self,
        catalog: &Catalog,
        entity: &str,
    ) -> Result<()> {
        let schema = self.schema(entity)?;
        let Some(def) = catalog.entities.get(entity) else {
            return Ok(());
        };
        let (Some(latest), Some(table)) = (
            catalog.latest_snapshot(entity),
            self.warehouse.table(&profile_history_path(entity)).await?,
        ) else {
            schema.deregister_table("profile")?;
            schema.deregister_table("profile_history")?;
            return self.register_segments(catalog, entity, &schema).await;
        };
        let provider = self.warehouse.provider(&table).await?;
        let history_schema = provider.schema();
        replace_table(&schema, "profile_history", provider.clone())?;

        // Columns in the types the catalog records (delta-rs reads strings as views; a profile
        // column has exactly the tag's value_type).
        let mut columns = Vec::new();
        if let Ok(key) = history_schema.field_with_name(&def.key) {
            columns.push(cast(ident(&def.key), delta_compatible(key.data_type())).alias(&def.key));
        }
        for tag in catalog.tags_of(entity).iter().filter(|t| t.is_active()) {
            if history_schema.field_with_name(&tag.name).is_ok() {
                columns.push(
                    cast(ident(&tag.name), tag.value_type.data_type().clone()).alias(&tag.name),
                );
            }
        }
        // The version the latest snapshot record names: a profile commit that no record names
        // (its refresh died before recording it) is never read.
        let pinned = match latest.profile_version {
            Some(v) if table.version() != Some(v as u64) => {
                match self.provider_at(&profile_history_path(entity), v).await {
                    Ok(Some(pinned)) => pinned,
                    // Its log expired (Delta keeps 30 days): the latest version holds the
                    // snapshot too, unless a later refresh failed after its commit.
                    other => {
                        tracing::warn!(
                            entity,
                            version = v,
                            error = ?other.err(),
                            "the profile's recorded version cannot be loaded; reading the latest"
                        );
                        provider
                    }
                }
            }
            _ => provider,
        };
        // Scanned by name, so a plan says which entity's history it reads (tag usage).
        let profile = self
            .scan_named(entity, "profile_history", pinned)?
            .filter(ident("snapshot_at").eq(lit(snapshot_literal(latest.snapshot_at))))?
            .select(columns)?;
        replace_table(&schema, "profile", profile.into_view())?;
        self.register_keys(entity, latest.keys_version, &schema)
            .await?;
        self.register_bitmaps(entity, latest, &schema).await?;
        self.register_segments(catalog, entity, &schema).await
    }

    /// A scan of `provider` (a table at a pinned version) named `<entity>.<table>`: plans say
    /// which entity's table they read (tag usage, masking).
    fn scan_named(
        &self,
        entity: &str,
        table: &str,
        provider: Arc<dyn TableProvider>,
    ) -> Result<DataFrame> {
        let scan = LogicalPlanBuilder::scan(
            TableReference::partial(entity.to_string(), table.to_string()),
            provider_as_source(provider),
            None,
        )?
        .build()?;
        Ok(DataFrame::new(self.ctx.state(), scan))
    }

    /// A provider over the table at `relative` as of the `version` a snapshot record names.
    async fn provider_at(
        &self,
        relative: &str,
        version: i64,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        match self.warehouse.table_at(relative, version as u64).await? {
            Some(table) => Ok(Some(self.warehouse.provider(&table).await?)),
            None => Ok(None),
        }
    }

    /// `<entity>.keys` (`key`, `key_id`): the key dictionary at the version the latest
    /// snapshot names; none before the first snapshot with key ids.
    async fn register_keys(
        &self,
        entity: &str,
        version: Option<i64>,
        schema: &Arc<dyn SchemaProvider>,
    ) -> Result<()> {
        schema.deregister_table("keys")?;
        let Some(version) = version else {
            return Ok(());
        };
        let Some(provider) = self.provider_at(&keys_path(entity), version).await? else {
            return Ok(());
        };
        let key_type = delta_compatible(provider.schema().field_with_name("key")?.data_type());
        let keys = self.scan_named(entity, "keys", provider)?.select(vec![
            cast(ident("key"), key_type).alias("key"),
            ident("key_id"),
        ])?;
        schema.register_table("keys".to_string(), keys.into_view())?;
        Ok(())
    }

    /// `<entity>.bitmaps` (`kind`, `name`, `value`, `version`, `cardinality`, `bitmap`): the
    /// latest snapshot's bitmaps, from the version its record names.
    async fn register_bitmaps(
        &self,
        entity: &str,
        latest: &SnapshotRecord,
        schema: &Arc<dyn SchemaProvider>,
    ) -> Result<()> {
        schema.deregister_table("bitmaps")?;
        let Some(version) = latest.bitmaps_version else {
            return Ok(());
        };
        let Some(provider) = self.provider_at(&bitmaps_path(entity), version).await? else {
            return Ok(());
        };
        let text = |c: &str| cast(ident(c), DataType::Utf8).alias(c);
        let bitmaps = self
            .scan_named(entity, "bitmaps", provider)?
            .filter(ident("snapshot_at").eq(lit(snapshot_literal(latest.snapshot_at))))?
            .select(vec![
                text("kind"),
                text("name"),
                text("value"),
                ident("version"),
                ident("cardinality"),
                cast(ident("bitmap"), DataType::Binary).alias("bitmap"),
            ])?;
        schema.register_table("bitmaps".to_string(), bitmaps.into_view())?;
        Ok(())
    }

    pub(super) fn deregister_entity(&self, entity: &str) -> Result<()> {
        if let Some(catalog) = self.ctx.catalog(DEFAULT_CATALOG) {
            if let Some(schema) = catalog.schema(entity) {
                for name in schema.table_names() {
                    schema.deregister_table(&name)?;
                }
            }
            catalog.deregister_schema(entity, true)?;
        }
        Ok(())
    }

    /// Every table name the session knows, bare and schema-qualified (for "did you mean").
    pub(super) fn table_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if let Some(catalog) = self.ctx.catalog(DEFAULT_CATALOG) {
            for schema_name in catalog.schema_names() {
                if schema_name == "information_schema" {
                    continue;
                }
                if let Some(schema) = catalog.schema(&schema_name) {
                    for t in schema.table_names() {
                        if t.starts_with("__tf_") {
                            continue;
                        }
                        if schema_name == "public" {
                            names.push(t.clone());
                        }
                        names.push(format!("{schema_name}.{t}"));
                    }
                }
            }
        }
        names.sort();
        names
    }
}
