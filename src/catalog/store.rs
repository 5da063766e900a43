//! Loads and saves the catalog as Delta tables. Rows go through serde: structs → JSON →
//! Arrow on the way in, Arrow → JSON → structs on the way out, with the Arrow schemas below as
//! the one description of each table.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::json::{ArrayWriter, ReaderBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    AuditRecord, Catalog, EntityDef, GraphRefresh, IdentityGraphDef, SegmentDef, SnapshotRecord,
    SourceDef, TagDef, TagStats, TagUsage, TagVersion,
};
use crate::error::{Error, Result};
use crate::warehouse::{Warehouse, WriteMode, snapshot_type};

pub const ENTITIES: &str = "_catalog/entities";
pub const TAGS: &str = "_catalog/tags";
pub const SOURCES: &str = "_catalog/sources";
pub const SNAPSHOTS: &str = "_catalog/snapshots";
pub const SEGMENTS: &str = "_catalog/segments";
pub const AUDIT: &str = "_catalog/audit";
pub const TAG_VERSIONS: &str = "_catalog/tag_versions";
pub const TAG_STATS: &str = "_catalog/tag_stats";
pub const TAG_USAGE: &str = "_catalog/tag_usage";
pub const IDENTITY_GRAPHS: &str = "_catalog/identity_graphs";
pub const IDENTITY_REFRESHES: &str = "_catalog/identity_refreshes";

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}
fn ts(name: &str) -> Field {
    Field::new(name, snapshot_type(), false)
}

pub static ENTITIES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("name", false),
        utf8("key", false),
        utf8("source_kind", false),
        utf8("source", false),
        utf8("description", true),
        Field::new("version", DataType::Int64, false),
        ts("created_at"),
        ts("updated_at"),
    ]))
});

pub static TAGS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("entity", false),
        utf8("name", false),
        utf8("kind", false),
        utf8("value_type", false),
        utf8("category", true),
        utf8("description", true),
        utf8("owner", true),
        Field::new("sensitive", DataType::Boolean, false),
        utf8("default_value", true),
        utf8("definition_kind", false),
        utf8("definition", false),
        Field::new(
            "depends_on",
            DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
            true,
        ),
        utf8("status", false),
        Field::new("version", DataType::Int64, false),
        Field::new("position", DataType::Int64, false),
        ts("created_at"),
        ts("updated_at"),
    ]))
});

/// Every column of a tag, then who changed it and how.
pub static TAG_VERSIONS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = TAGS_SCHEMA
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(utf8("author", false));
    fields.push(utf8("change", false));
    Arc::new(Schema::new(fields))
});

pub static TAG_STATS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("entity", false),
        utf8("tag", false),
        ts("snapshot_at"),
        Field::new("rows", DataType::Int64, false),
        Field::new("non_null", DataType::Int64, false),
        Field::new("nulls", DataType::Int64, false),
        Field::new("coverage", DataType::Float64, false),
        Field::new("distinct", DataType::Int64, true),
        utf8("top_values", true),
        utf8("quantiles", true),
        Field::new("psi", DataType::Float64, true),
    ]))
});

pub static TAG_USAGE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("entity", false),
        utf8("tag", false),
        utf8("via", false),
        Field::new("reads", DataType::Int64, false),
        ts("last_read_at"),
        utf8("user", false),
        ts("flushed_at"),
    ]))
});

fn string_list(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
        true,
    )
}

pub static SEGMENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("entity", false),
        utf8("name", false),
        utf8("description", true),
        utf8("definition", false),
        string_list("tags"),
        string_list("segments"),
        Field::new("version", DataType::Int64, false),
        Field::new("position", DataType::Int64, false),
        ts("created_at"),
        ts("updated_at"),
    ]))
});

pub static SOURCES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("name", false),
        utf8("sql", false),
        ts("created_at"),
    ]))
});

pub static SNAPSHOTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("entity", false),
        ts("snapshot_at"),
        utf8("operation", false),
        ts("started"),
        ts("finished"),
        Field::new("rows", DataType::Int64, false),
        Field::new("tags", DataType::Int64, false),
        utf8("status", false),
        utf8("message", true),
        Field::new("profile_version", DataType::Int64, true),
        Field::new("keys_version", DataType::Int64, true),
        Field::new("bitmaps_version", DataType::Int64, true),
    ]))
});

pub static AUDIT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        ts("at"),
        utf8("user", false),
        utf8("action", false),
        utf8("object", false),
        utf8("detail", true),
    ]))
});

pub static IDENTITY_GRAPHS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("name", false),
        utf8("description", true),
        utf8("definition", false),
        Field::new("version", DataType::Int64, false),
        ts("created_at"),
        ts("updated_at"),
    ]))
});

pub static IDENTITY_REFRESHES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let int = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        utf8("graph", false),
        ts("refreshed_at"),
        int("version"),
        utf8("source_rows", false),
        int("identifiers"),
        int("groups"),
        int("largest_group"),
        int("new_groups"),
        int("merges"),
        int("splits"),
        int("rejected"),
        int("max_one_id"),
        Field::new("seconds", DataType::Float64, false),
        utf8("status", false),
        utf8("message", true),
        Field::new("profile_version", DataType::Int64, true),
        Field::new("keys_version", DataType::Int64, true),
        Field::new("bitmaps_version", DataType::Int64, true),
    ]))
});

/// All catalog tables with their schemas.
pub fn tables() -> [(&'static str, &'static str, SchemaRef); 11] {
    [
        ("entities", ENTITIES, ENTITIES_SCHEMA.clone()),
        ("tags", TAGS, TAGS_SCHEMA.clone()),
        ("segments", SEGMENTS, SEGMENTS_SCHEMA.clone()),
        ("sources", SOURCES, SOURCES_SCHEMA.clone()),
        ("snapshots", SNAPSHOTS, SNAPSHOTS_SCHEMA.clone()),
        ("audit", AUDIT, AUDIT_SCHEMA.clone()),
        ("tag_versions", TAG_VERSIONS, TAG_VERSIONS_SCHEMA.clone()),
        ("tag_stats", TAG_STATS, TAG_STATS_SCHEMA.clone()),
        ("tag_usage", TAG_USAGE, TAG_USAGE_SCHEMA.clone()),
        (
            "identity_graphs",
            IDENTITY_GRAPHS,
            IDENTITY_GRAPHS_SCHEMA.clone(),
        ),
        (
            "identity_refreshes",
            IDENTITY_REFRESHES,
            IDENTITY_REFRESHES_SCHEMA.clone(),
        ),
    ]
}

pub fn to_batch<T: Serialize>(schema: &SchemaRef, rows: &[T]) -> Result<RecordBatch> {
    if rows.is_empty() {
        return Ok(RecordBatch::new_empty(schema.clone()));
    }
    let mut decoder = ReaderBuilder::new(schema.clone())
        .build_decoder()
        .map_err(datafusion::error::DataFusionError::from)?;
    decoder
        .serialize(rows)
        .map_err(datafusion::error::DataFusionError::from)?;
    decoder
        .flush()
        .map_err(datafusion::error::DataFusionError::from)?
        .ok_or_else(|| Error::invalid("catalog rows produced no batch"))
}

pub fn from_batches<T: DeserializeOwned>(batches: &[RecordBatch]) -> Result<Vec<T>> {
    let mut writer = ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .map_err(datafusion::error::DataFusionError::from)?;
    writer
        .finish()
        .map_err(datafusion::error::DataFusionError::from)?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("the warehouse catalog is unreadable: {e}")))
}

async fn read_rows<T: DeserializeOwned>(
    warehouse: &Warehouse,
    ctx: &SessionContext,
    relative: &str,
) -> Result<Vec<T>> {
    let Some(table) = warehouse.table(relative).await? else {
        return Ok(Vec::new());
    };
    let provider = warehouse.provider(&table).await?;
    let batches = ctx.read_table(provider)?.collect().await?;
    from_batches(&batches)
}

/// Creates the catalog tables if missing and loads them.
pub async fn load(warehouse: &Warehouse, ctx: &SessionContext) -> Result<Catalog> {
    for (_, path, schema) in tables() {
        warehouse.ensure_table(path, &schema).await?;
    }
    let entities: Vec<EntityDef> = read_rows(warehouse, ctx, ENTITIES).await?;
    let mut tags: Vec<TagDef> = read_rows(warehouse, ctx, TAGS).await?;
    let mut sources: Vec<SourceDef> = read_rows(warehouse, ctx, SOURCES).await?;
    let snapshots: Vec<SnapshotRecord> = read_rows(warehouse, ctx, SNAPSHOTS).await?;
    let mut segments: Vec<SegmentDef> = read_rows(warehouse, ctx, SEGMENTS).await?;
    let graphs: Vec<IdentityGraphDef> = read_rows(warehouse, ctx, IDENTITY_GRAPHS).await?;
    let mut graph_refreshes: Vec<GraphRefresh> =
        read_rows(warehouse, ctx, IDENTITY_REFRESHES).await?;
    graph_refreshes.sort_by_key(|r| r.refreshed_at);
    segments.sort_by(|a, b| (&a.entity, a.position).cmp(&(&b.entity, b.position)));
    tags.sort_by(|a, b| (&a.entity, a.position).cmp(&(&b.entity, b.position)));
    sources.sort_by_key(|s| s.created_at);
    let mut catalog = Catalog {
        entities: entities.into_iter().map(|e| (e.name.clone(), e)).collect(),
        sources,
        snapshots,
        graphs: graphs.into_iter().map(|g| (g.name.clone(), g)).collect(),
        graph_refreshes,
        ..Default::default()
    };
    for tag in tags
        .into_iter()
        .filter(|t| catalog.entities.contains_key(&t.entity))
    {
        catalog
            .tags
            .entry(tag.entity.clone())
            .or_default()
            .push(tag);
    }
    for segment in segments
        .into_iter()
        .filter(|s| catalog.entities.contains_key(&s.entity))
    {
        catalog
            .segments
            .entry(segment.entity.clone())
            .or_default()
            .push(segment);
    }
    Ok(catalog)
}

/// Writes `rows` as the table's whole content (or appended) in one commit.
async fn write_rows<T: Serialize>(
    warehouse: &Warehouse,
    path: &str,
    schema: &SchemaRef,
    rows: &[T],
    mode: WriteMode,
) -> Result<()> {
    warehouse
        .write_batches(path, schema, vec![to_batch(schema, rows)?], mode)
        .await?;
    Ok(())
}

/// Saves the segments table (one commit).
pub async fn save_segments(warehouse: &Warehouse, catalog: &Catalog) -> Result<()> {
    let segments: Vec<&SegmentDef> = catalog.segments.values().flatten().collect();
    write_rows(
        warehouse,
        SEGMENTS,
        &SEGMENTS_SCHEMA,
        &segments,
        WriteMode::Overwrite,
    )
    .await
}

/// Saves the tags table (one commit).
pub async fn save_tags(warehouse: &Warehouse, catalog: &Catalog) -> Result<()> {
    let tags: Vec<&TagDef> = catalog.tags.values().flatten().collect();
    write_rows(warehouse, TAGS, &TAGS_SCHEMA, &tags, WriteMode::Overwrite).await
}

/// Saves the entities table (one commit). Tags whose entity is gone are ignored on load, so
/// dropping an entity is safe to commit before its tags.
pub async fn save_entities(warehouse: &Warehouse, catalog: &Catalog) -> Result<()> {
    let entities: Vec<&EntityDef> = catalog.entities.values().collect();
    write_rows(
        warehouse,
        ENTITIES,
        &ENTITIES_SCHEMA,
        &entities,
        WriteMode::Overwrite,
    )
    .await
}

pub async fn save_sources(warehouse: &Warehouse, sources: &[SourceDef]) -> Result<()> {
    write_rows(
        warehouse,
        SOURCES,
        &SOURCES_SCHEMA,
        sources,
        WriteMode::Overwrite,
    )
    .await
}

pub async fn append_snapshot(warehouse: &Warehouse, record: &SnapshotRecord) -> Result<()> {
    write_rows(
        warehouse,
        SNAPSHOTS,
        &SNAPSHOTS_SCHEMA,
        std::slice::from_ref(record),
        WriteMode::Append,
    )
    .await
}

/// Appends audit records in one commit.
pub async fn append_audits(warehouse: &Warehouse, records: &[AuditRecord]) -> Result<()> {
    write_rows(warehouse, AUDIT, &AUDIT_SCHEMA, records, WriteMode::Append).await
}

/// Appends one version of a tag (after the tags table itself was saved).
pub async fn append_tag_version(warehouse: &Warehouse, version: &TagVersion) -> Result<()> {
    write_rows(
        warehouse,
        TAG_VERSIONS,
        &TAG_VERSIONS_SCHEMA,
        std::slice::from_ref(version),
        WriteMode::Append,
    )
    .await
}

/// Writes the stats of some tags of one snapshot, replacing earlier stats of the same tags and
/// snapshot (a snapshot refreshed again), in one commit.
pub async fn save_tag_stats(
    warehouse: &Warehouse,
    entity: &str,
    snapshot_at: chrono::DateTime<chrono::Utc>,
    stats: &[TagStats],
) -> Result<()> {
    use datafusion::prelude::{ident, lit};
    let tags: Vec<datafusion::prelude::Expr> = stats.iter().map(|s| lit(s.tag.clone())).collect();
    let predicate = ident("entity")
        .eq(lit(entity.to_string()))
        .and(ident("snapshot_at").eq(lit(crate::warehouse::snapshot_literal(snapshot_at))))
        .and(ident("tag").in_list(tags, false));
    write_rows(
        warehouse,
        TAG_STATS,
        &TAG_STATS_SCHEMA,
        stats,
        WriteMode::Replace(predicate),
    )
    .await
}

pub async fn append_tag_usage(warehouse: &Warehouse, rows: &[TagUsage]) -> Result<()> {
    write_rows(
        warehouse,
        TAG_USAGE,
        &TAG_USAGE_SCHEMA,
        rows,
        WriteMode::Append,
    )
    .await
}

/// Saves the identity graphs table (one commit).
pub async fn save_graphs(warehouse: &Warehouse, catalog: &Catalog) -> Result<()> {
    let graphs: Vec<&IdentityGraphDef> = catalog.graphs.values().collect();
    write_rows(
        warehouse,
        IDENTITY_GRAPHS,
        &IDENTITY_GRAPHS_SCHEMA,
        &graphs,
        WriteMode::Overwrite,
    )
    .await
}

pub async fn append_graph_refresh(warehouse: &Warehouse, record: &GraphRefresh) -> Result<()> {
    write_rows(
        warehouse,
        IDENTITY_REFRESHES,
        &IDENTITY_REFRESHES_SCHEMA,
        std::slice::from_ref(record),
        WriteMode::Append,
    )
    .await
}
