//! Persona (个体画像): one key's tags from the latest snapshot, grouped by category path, with
//! each tag's description. The lookup filters `profile_history` on the snapshot and the key, so
//! the Delta file statistics and the Parquet row-group and page statistics of the key-sorted
//! snapshot skip everything but the pages holding that key.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::ScalarValue;
use datafusion::prelude::{ident, lit};

use crate::catalog::{EntityDef, TagDef};
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

/// A key as the messages and the audit show it: text quoted, numbers as they are.
fn shown_key(key: &ScalarValue) -> String {
    match key {
        ScalarValue::Utf8(Some(s)) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// The persona rows of one profile row (`row`, its first row): the active tags it has, in
/// [`persona_order`], with their values as text and `at` the snapshot time.
fn persona_batch(tags: &[TagDef], row: &RecordBatch, at: DateTime<Utc>) -> Result<RecordBatch> {
    let options = FormatOptions::default().with_null("");
    let mut categories = Vec::new();
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut descriptions = Vec::new();
    for tag in persona_order(tags) {
        let Some(column) = row.column_by_name(&tag.name) else {
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
    let at = at.timestamp_micros();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(categories)),
        Arc::new(StringArray::from(names)),
        Arc::new(StringArray::from(values)),
        Arc::new(StringArray::from(descriptions)),
        Arc::new(TimestampMicrosecondArray::from(vec![at; n]).with_timezone("UTC")),
    ];
    Ok(RecordBatch::try_new(PERSONA_SCHEMA.clone(), columns)
        .map_err(datafusion::error::DataFusionError::from)?)
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
        let rows = self
            .profile_row(&def, snapshot.snapshot_at, key.clone())
            .await?;
        let shown = shown_key(&key);
        let Some(row) = rows.iter().find(|b| b.num_rows() > 0) else {
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
        let batch = persona_batch(catalog.tags_of(entity), row, snapshot.snapshot_at)?;
        Ok(Output::from_batches(PERSONA_SCHEMA.clone(), vec![batch]))
    }

    /// The row of `key` in the snapshot at `at` (at most two rows are read).
    async fn profile_row(
        &self,
        entity: &EntityDef,
        at: DateTime<Utc>,
        key: ScalarValue,
    ) -> Result<Vec<RecordBatch>> {
        let history = self
            .ctx
            .table(format!("{}.profile_history", quote_ident(&entity.name)).as_str())
            .await?;
        Ok(history
            .filter(
                ident("snapshot_at")
                    .eq(lit(snapshot_literal(at)))
                    .and(ident(&entity.key).eq(lit(key))),
            )?
            .limit(0, Some(2))?
            .collect()
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testing;
    use crate::parser::TagStatus;
    use chrono::TimeZone;
    use datafusion::arrow::array::{Array, AsArray, Int64Array};

    fn tag(name: &str, category: Option<&str>, position: i64, status: TagStatus) -> TagDef {
        TagDef {
            category: category.map(str::to_string),
            description: Some(format!("about {name}")),
            status,
            position,
            ..testing::tag("c", name)
        }
    }

    #[test]
    fn keys_are_shown_quoted_when_text() {
        assert_eq!(shown_key(&ScalarValue::Utf8(Some("u1".into()))), "'u1'");
        assert_eq!(shown_key(&ScalarValue::Int64(Some(7))), "7");
    }

    #[test]
    fn persona_rows_follow_category_then_profile_order() {
        let tags = [
            tag("plain", None, 0, TagStatus::Approved),
            tag("b", Some("x/y"), 2, TagStatus::Approved),
            tag("a", Some("x/y"), 1, TagStatus::Approved),
            tag("gone", Some("x"), 3, TagStatus::Offline),
            tag("later", Some("x"), 4, TagStatus::Approved),
        ];
        let column = |v: Option<i64>| Arc::new(Int64Array::from(vec![v])) as ArrayRef;
        let row = RecordBatch::try_from_iter([
            ("plain", column(Some(1))),
            ("a", column(None)),
            ("b", column(Some(3))),
            ("gone", column(Some(4))),
        ])
        .unwrap();
        let at = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let b = persona_batch(&tags, &row, at).unwrap();
        let text = |c: usize| -> Vec<Option<String>> {
            let a = b.column(c).as_string::<i32>();
            (0..a.len())
                .map(|r| (!a.is_null(r)).then(|| a.value(r).to_string()))
                .collect()
        };
        let some =
            |v: &[&str]| -> Vec<Option<String>> { v.iter().map(|s| Some(s.to_string())).collect() };
        assert_eq!(text(1), some(&["a", "b", "plain"]));
        assert_eq!(text(0), [Some("x/y".into()), Some("x/y".into()), None]);
        assert_eq!(text(2), [None, Some("3".into()), Some("1".into())]);
        assert_eq!(text(3), some(&["about a", "about b", "about plain"]));
        let times = b
            .column(4)
            .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(times.value(2), at.timestamp_micros());
    }
}
