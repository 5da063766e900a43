//! Set questions about segments: how much do they overlap (`segment_overlap`), and who entered
//! or left one between two snapshots (`segment_diff`).

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};

use crate::catalog::SegmentDef;
use crate::engine::refresh::segment_column;
use crate::engine::registry::snapshot_sql;
use crate::engine::segments::member_column;
use crate::engine::{Engine, Output};
use crate::error::{Error, Result};
use crate::parser::{QualifiedName, quote_ident};

/// The columns of `segment_overlap`: one row per pair of segments.
pub static OVERLAP_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("segment_a", DataType::Utf8, false),
        Field::new("segment_b", DataType::Utf8, false),
        Field::new("size_a", DataType::Int64, false),
        Field::new("size_b", DataType::Int64, false),
        Field::new("overlap", DataType::Int64, false),
        Field::new("only_a", DataType::Int64, false),
        Field::new("only_b", DataType::Int64, false),
        Field::new("jaccard", DataType::Float64, true),
    ]))
});

/// The columns of `segment_diff`, given the key's type.
pub fn diff_schema(key: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", key.clone(), false),
        Field::new("change", DataType::Utf8, false),
    ]))
}

impl Engine {
    /// Sizes and pairwise overlaps of segments of one entity, in one pass over the profile.
    pub async fn segment_overlap(&self, names: &[QualifiedName]) -> Result<Output> {
        if names.len() < 2 {
            return Err(Error::invalid(
                "segment_overlap needs at least two segments, e.g. \
                 segment_overlap('customer.vip', 'customer.churn_risk')",
            ));
        }
        let catalog = self.catalog();
        let entity_name = &names[0].entity;
        if let Some(other) = names.iter().find(|n| &n.entity != entity_name) {
            return Err(Error::invalid(format!(
                "segment_overlap compares segments of one entity; {other} is not a segment of {entity_name}"
            )));
        }
        let entity = catalog.entity(entity_name)?.clone();
        let segments: Vec<&SegmentDef> = names
            .iter()
            .map(|n| catalog.segment(n))
            .collect::<Result<_>>()?;
        self.require_profile(&entity.name).await?;
        self.usage.record(
            &entity.name,
            segments
                .iter()
                .flat_map(|s| s.tags.iter().map(String::as_str)),
            "segment",
        );
        let base = self.membership_sql(&catalog, &entity, &segments).await?;
        let n = segments.len();
        let mut aggregates: Vec<String> = (0..n)
            .map(|i| format!("count(*) FILTER (WHERE {})", member_column(i)))
            .collect();
        let mut pairs = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                aggregates.push(format!(
                    "count(*) FILTER (WHERE {} AND {})",
                    member_column(a),
                    member_column(b)
                ));
                pairs.push((a, b));
            }
        }
        let batches = self
            .ctx
            .sql(&format!(
                "SELECT {} FROM ({base}) AS __tf_b",
                aggregates.join(", ")
            ))
            .await?
            .collect()
            .await?;
        let counts: Vec<i64> = match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) => (0..b.num_columns())
                .map(|i| b.column(i).as_primitive::<Int64Type>().value(0))
                .collect(),
            None => vec![0; aggregates.len()],
        };
        let name = |i: usize| names[i].to_string();
        let rows: Vec<(usize, usize, i64)> = pairs
            .iter()
            .enumerate()
            .map(|(k, (a, b))| (*a, *b, counts[n + k]))
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| name(r.0)),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| name(r.1)),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| counts[r.0]),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| counts[r.1]),
            )),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| counts[r.0] - r.2),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| counts[r.1] - r.2),
            )),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
                let union = counts[r.0] + counts[r.1] - r.2;
                (union > 0).then(|| r.2 as f64 / union as f64)
            }))),
        ];
        let batch = RecordBatch::try_new(OVERLAP_SCHEMA.clone(), columns)
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(Output::from_batches(OVERLAP_SCHEMA.clone(), vec![batch]))
    }

    /// Who entered and who left a segment between the snapshots in force at `from` and `to`
    /// (the latest successful snapshot at or before each time), from the membership recorded
    /// with each snapshot.
    pub async fn segment_diff(
        &self,
        name: &QualifiedName,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Output> {
        let catalog = self.catalog();
        let segment = catalog.segment(name)?.clone();
        let entity = catalog.entity(&name.entity)?.clone();
        let snapshot_at = |t: DateTime<Utc>| -> Result<DateTime<Utc>> {
            catalog
                .snapshots
                .iter()
                .filter(|s| s.entity == entity.name && s.status == crate::catalog::RunStatus::Ok && s.snapshot_at <= t)
                .map(|s| s.snapshot_at)
                .max()
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "entity {} has no snapshot at or before {}; DESCRIBE SEGMENT {name} lists the snapshots",
                        entity.name,
                        t.format("%Y-%m-%d %H:%M:%S")
                    ))
                })
        };
        let (a, b) = (snapshot_at(from)?, snapshot_at(to)?);
        let history = format!("{}.profile_history", quote_ident(&entity.name));
        let df = self.ctx.table(history.as_str()).await?;
        let column = segment_column(&segment.name);
        if df.schema().field_with_unqualified_name(&column).is_err() {
            return Err(self.no_history(&segment));
        }
        let key = quote_ident(&entity.key);
        let members = |at: DateTime<Utc>| {
            format!(
                "SELECT {key} AS k, {col} AS m FROM {history} WHERE snapshot_at = {}",
                snapshot_sql(at),
                col = quote_ident(&column),
            )
        };
        // Both snapshots must have recorded the segment (it may be newer than one of them).
        let recorded = self
            .ctx
            .sql(&format!(
                "SELECT count(*) FILTER (WHERE m IS NOT NULL AND snapshot_at = {sa}), \
                        count(*) FILTER (WHERE m IS NOT NULL AND snapshot_at = {sb}) \
                 FROM (SELECT snapshot_at, {col} AS m FROM {history} \
                       WHERE snapshot_at IN ({sa}, {sb})) AS r",
                sa = snapshot_sql(a),
                sb = snapshot_sql(b),
                col = quote_ident(&column),
            ))
            .await?
            .collect()
            .await?;
        if let Some(r) = recorded.iter().find(|r| r.num_rows() > 0) {
            let counts = |i: usize| r.column(i).as_primitive::<Int64Type>().value(0);
            if counts(0) == 0 || counts(1) == 0 {
                return Err(self.no_history(&segment));
            }
        }
        let sql = format!(
            "SELECT coalesce(b.k, a.k) AS key, \
                    CASE WHEN coalesce(b.m, false) THEN 'entered' ELSE 'left' END AS change \
             FROM ({}) AS a FULL OUTER JOIN ({}) AS b ON a.k = b.k \
             WHERE coalesce(a.m, false) <> coalesce(b.m, false) \
             ORDER BY change, key",
            members(a),
            members(b)
        );
        let df = self.ctx.sql(&sql).await?;
        Ok(Output::from_stream(df.execute_stream().await?))
    }

    fn no_history(&self, segment: &SegmentDef) -> Error {
        Error::invalid(format!(
            "segment {} has no recorded membership for one of these snapshots (it is newer, or \
             uses IN (subquery), which is not recorded); DESCRIBE SEGMENT {} lists the snapshots it has",
            segment.qualified(),
            segment.qualified()
        ))
    }

    /// Fails with a clear message when the entity has not been refreshed yet.
    pub(in crate::engine) async fn require_profile(&self, entity: &str) -> Result<()> {
        match self
            .ctx
            .table(format!("{}.profile", quote_ident(entity)).as_str())
            .await
        {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::invalid(format!(
                "entity {entity} has no snapshot yet; run REFRESH ENTITY {entity} first"
            ))),
        }
    }
}
