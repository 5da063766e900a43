//! What the session sees: schema `tagfusion` with the system tables, and one schema per entity
//! with `profile` (latest snapshot) and `profile_history` (every snapshot).

use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::prelude::{cast, ident, lit};

use crate::warehouse::delta_compatible;
pub use crate::warehouse::snapshot_literal;

use super::Engine;
use crate::catalog::{Catalog, store};
use crate::error::{Error, Result};

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
        // Scanned by name, so a plan says which entity's history it reads (tag usage).
        let profile = self
            .ctx
            .table(datafusion::common::TableReference::partial(
                entity.to_string(),
                "profile_history".to_string(),
            ))
            .await?
            .filter(ident("snapshot_at").eq(lit(snapshot_literal(latest.snapshot_at))))?
            .select(columns)?;
        replace_table(&schema, "profile", profile.into_view())?;
        self.register_segments(catalog, entity, &schema).await
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
