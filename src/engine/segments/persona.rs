//! Persona (个体画像): one key's tags from the latest snapshot, grouped by category path, with
//! each tag's description. The lookup filters `profile_history` on the snapshot and the key, so
//! the Delta file statistics and the Parquet row-group and page statistics of the key-sorted
//! snapshot skip everything but the pages holding that key.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::ScalarValue;
use datafusion::prelude::{ident, lit};

use crate::catalog::TagDef;
use crate::engine::registry::snapshot_literal;
use crate::engine::{Engine, Output};
use crate::error::{Error, Result};
use crate::parser::{KeyLiteral, quote_ident};

/// The columns of a persona: category, tag, value, description, snapshot_at.
pub static PERSONA_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("category", DataType::Utf8, true),
        Field::new("tag", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
        Field::new(
            "snapshot_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
});

impl From<&KeyLiteral> for ScalarValue {
    fn from(key: &KeyLiteral) -> Self {
        match key {
            KeyLiteral::Text(s) => ScalarValue::Utf8(Some(s.clone())),
            KeyLiteral::Integer(n) => ScalarValue::Int64(Some(*n)),
        }
    }
}

/// Tags in persona order: by category path (uncategorised last), then profile order.
fn persona_order(tags: &[TagDef]) -> Vec<&TagDef> {
    let mut tags: Vec<&TagDef> = tags.iter().filter(|t| t.is_active()).collect();
    tags.sort_by(|a, b| {
        (a.category.is_none(), &a.category, a.position).cmp(&(
            b.category.is_none(),
            &b.category,
            b.position,
        ))
    });
    tags
}

impl Engine {
    /// `PERSONA entity key` / `persona('entity', key)`. The lookup is audited.
    pub async fn persona(&self, entity: &str, key: ScalarValue) -> Result<Output> {
        crate::access::authorize_persona()?;
        let catalog = self.catalog();
        let def = catalog.entity(entity)?.clone();
        let Some(snapshot) = catalog.latest_snapshot(entity) else {
            return Err(Error::invalid(format!(
                "entity {entity} has no snapshot yet; run REFRESH ENTITY {entity} first"
            )));
        };
        let history = self
            .ctx
            .table(format!("{}.profile_history", quote_ident(entity)).as_str())
            .await?;
        let row = history
            .filter(
                ident("snapshot_at")
                    .eq(lit(snapshot_literal(snapshot.snapshot_at)))
                    .and(ident(&def.key).eq(lit(key.clone()))),
            )?
            .limit(0, Some(2))?
            .collect()
            .await?;
        let row: Vec<&RecordBatch> = row.iter().filter(|b| b.num_rows() > 0).collect();
        let shown = match &key {
            ScalarValue::Utf8(Some(s)) => format!("'{s}'"),
            other => other.to_string(),
        };
        let Some(batch) = row.first() else {
            return Err(Error::invalid(format!(
                "no {entity} with {} = {shown} in the snapshot of {}; check the key \
                 (SELECT {} FROM {entity}.profile LIMIT 10 lists some)",
                def.key,
                snapshot.snapshot_at.format("%Y-%m-%d %H:%M:%S"),
                quote_ident(&def.key),
            )));
        };
        self.audit("persona", entity, Some(shown)).await?;
        self.usage.record(
            entity,
            catalog
                .tags_of(entity)
                .iter()
                .filter(|t| t.is_active())
                .map(|t| t.name.as_str()),
            "persona",
        );

        let options = FormatOptions::default().with_null("");
        let mut categories = Vec::new();
        let mut names = Vec::new();
        let mut values = Vec::new();
        let mut descriptions = Vec::new();
        for tag in persona_order(catalog.tags_of(entity)) {
            let Some(column) = batch.column_by_name(&tag.name) else {
                continue;
            };
            let value = if column.is_null(0) {
                None
            } else {
                let formatter = ArrayFormatter::try_new(column.as_ref(), &options)
                    .map_err(datafusion::error::DataFusionError::from)?;
                Some(formatter.value(0).to_string())
            };
            categories.push(tag.category.clone());
            names.push(tag.name.clone());
            values.push(value);
            descriptions.push(tag.description.clone());
        }
        let n = names.len();
        let at = snapshot.snapshot_at.timestamp_micros();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(categories)),
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(values)),
            Arc::new(StringArray::from(descriptions)),
            Arc::new(TimestampMicrosecondArray::from(vec![at; n]).with_timezone("UTC")),
        ];
        let batch = RecordBatch::try_new(PERSONA_SCHEMA.clone(), columns)
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(Output::from_batches(PERSONA_SCHEMA.clone(), vec![batch]))
    }
}
