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

/// The one entity of the segments `segment_overlap` compares (at least two).
fn overlap_entity(names: &[QualifiedName]) -> Result<&str> {
    if names.len() < 2 {
        return Err(Error::invalid(
            "segment_overlap needs at least two segments, e.g. \
             segment_overlap('customer.vip', 'customer.churn_risk')",
        ));
    }
    let entity_name = &names[0].entity;
    if let Some(other) = names.iter().find(|n| &n.entity != entity_name) {
        return Err(Error::invalid(format!(
            "segment_overlap compares segments of one entity; {other} is not a segment of {entity_name}"
        )));
    }
    Ok(entity_name)
}

/// The counts `segment_overlap` takes over the membership columns of `n` segments: the size
/// of each, then the overlap of each pair (a, b), a < b, in the order of the pairs returned.
fn overlap_aggregates(n: usize) -> (Vec<String>, Vec<(usize, usize)>) {
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
    (aggregates, pairs)
}

/// The rows of [`OVERLAP_SCHEMA`], one per pair, from the counts of [`overlap_aggregates`].
fn overlap_batch(
    names: &[QualifiedName],
    pairs: &[(usize, usize)],
    counts: &[i64],
) -> Result<RecordBatch> {
    let n = names.len();
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
    Ok(RecordBatch::try_new(OVERLAP_SCHEMA.clone(), columns)
        .map_err(datafusion::error::DataFusionError::from)?)
}

impl Engine {
    /// Sizes and pairwise overlaps of segments of one entity, in one pass over the profile.
    pub async fn segment_overlap(&self, names: &[QualifiedName]) -> Result<Output> {
        let entity_name = overlap_entity(names)?;
        let catalog = self.catalog();
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
        let (aggregates, pairs) = overlap_aggregates(segments.len());
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
        let batch = overlap_batch(names, &pairs, &counts)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    fn names(list: &[&str]) -> Vec<QualifiedName> {
        list.iter()
            .map(|n| {
                let (entity, name) = n.split_once('.').unwrap();
                QualifiedName {
                    entity: entity.into(),
                    name: name.into(),
                }
            })
            .collect()
    }

    #[test]
    fn overlap_compares_two_or_more_segments_of_one_entity() {
        assert_eq!(overlap_entity(&names(&["c.a", "c.b"])).unwrap(), "c");
        let e = overlap_entity(&names(&["c.a"])).unwrap_err().to_string();
        assert!(
            e.starts_with("segment_overlap needs at least two segments"),
            "{e}"
        );
        let e = overlap_entity(&names(&["c.a", "d.b"]))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("d.b is not a segment of c"), "{e}");
    }

    #[test]
    fn overlap_counts_sizes_then_pairs() {
        let (aggregates, pairs) = overlap_aggregates(3);
        assert_eq!(pairs, [(0, 1), (0, 2), (1, 2)]);
        assert_eq!(aggregates.len(), 6);
        assert_eq!(
            aggregates[0],
            format!("count(*) FILTER (WHERE {})", member_column(0))
        );
        assert_eq!(
            aggregates[5],
            format!(
                "count(*) FILTER (WHERE {} AND {})",
                member_column(1),
                member_column(2)
            )
        );
    }

    #[test]
    fn overlap_rows_have_sizes_differences_and_jaccard() {
        let names = names(&["c.a", "c.b", "c.e"]);
        let (_, pairs) = overlap_aggregates(3);
        // Sizes 10, 6, 0; overlaps a∩b 4, a∩e 0, b∩e 0.
        let b = overlap_batch(&names, &pairs, &[10, 6, 0, 4, 0, 0]).unwrap();
        assert_eq!(b.num_rows(), 3);
        let text = |c: usize, r: usize| b.column(c).as_string::<i32>().value(r).to_string();
        let int = |c: usize, r: usize| b.column(c).as_primitive::<Int64Type>().value(r);
        let jaccard = b
            .column(7)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        assert_eq!((text(0, 0), text(1, 0)), ("c.a".into(), "c.b".into()));
        assert_eq!(
            (int(2, 0), int(3, 0), int(4, 0), int(5, 0), int(6, 0)),
            (10, 6, 4, 6, 2)
        );
        assert_eq!(jaccard.value(0), 4.0 / 12.0);
        assert_eq!(jaccard.value(1), 0.0);
        assert_eq!(jaccard.value(2), 0.0);
        // Two empty segments have no Jaccard index.
        let b = overlap_batch(&names[..2], &pairs[..1], &[0, 0, 0]).unwrap();
        assert!(b.column(7).is_null(0));
    }
}
