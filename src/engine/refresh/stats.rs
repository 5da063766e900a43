//! Tag health (`tagfusion.tag_stats`): after every refresh, per refreshed tag and snapshot —
//! coverage, nulls, distinct values, top values (quantiles for numbers), and drift against the
//! previous snapshot as the population stability index (PSI).
//!
//! PSI = Σ (p − q) · ln(p / q) over bins, p and q the shares in this and the previous snapshot
//! (each at least 0.0001). Bins are the values of a categorical tag (at most
//! [`CATEGORICAL_MAX`] of them, NULL one of them) or, for a number with more values, the ten
//! ranges cut at the previous snapshot's deciles. Rule of thumb: < 0.1 stable, 0.1–0.25 some
//! drift, > 0.25 a shift worth a look.

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::catalog::{Catalog, EntityDef, RunStatus, TagDef, TagStats, store};
use crate::engine::Engine;
use crate::engine::registry::snapshot_sql;
use crate::error::Result;
use crate::parser::quote_ident;

/// A tag with at most this many distinct values is binned by value for PSI.
pub const CATEGORICAL_MAX: i64 = 50;
/// Top values are kept for tags with at most this many distinct values (and never for
/// sensitive tags).
const TOP_VALUES_MAX_DISTINCT: i64 = 10_000;
const TOP: usize = 5;
const EPSILON: f64 = 1e-4;

/// PSI of two count vectors over the same bins.
pub fn psi(current: &[i64], previous: &[i64]) -> Option<f64> {
    let (n, m) = (current.iter().sum::<i64>(), previous.iter().sum::<i64>());
    if n == 0 || m == 0 {
        return None;
    }
    Some(
        current
            .iter()
            .zip(previous)
            .map(|(a, b)| {
                let p = (*a as f64 / n as f64).max(EPSILON);
                let q = (*b as f64 / m as f64).max(EPSILON);
                (p - q) * (p / q).ln()
            })
            .sum(),
    )
}

fn ints(b: &RecordBatch, i: usize) -> Vec<i64> {
    let a = b.column(i).as_primitive::<Int64Type>();
    (0..a.len())
        .map(|r| if a.is_null(r) { 0 } else { a.value(r) })
        .collect()
}

fn floats(b: &RecordBatch, i: usize) -> Option<f64> {
    let a = b.column(i).as_primitive::<Float64Type>();
    (!a.is_null(0)).then(|| a.value(0))
}

fn short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

impl Engine {
    /// Computes and saves the stats of `tags` in the snapshot at `at`.
    pub(in crate::engine) async fn write_tag_stats(
        &self,
        catalog: &Catalog,
        entity: &EntityDef,
        at: DateTime<Utc>,
        tags: &[String],
    ) -> Result<()> {
        let history = format!("{}.profile_history", quote_ident(&entity.name));
        let Ok(df) = self.ctx.table(history.as_str()).await else {
            return Ok(());
        };
        let schema = df.schema().as_arrow().clone();
        let defs: Vec<&TagDef> = catalog
            .tags_of(&entity.name)
            .iter()
            .filter(|t| tags.contains(&t.name) && schema.field_with_name(&t.name).is_ok())
            .collect();
        if defs.is_empty() {
            return Ok(());
        }
        let previous = catalog
            .snapshots
            .iter()
            .filter(|s| s.entity == entity.name && s.status == RunStatus::Ok && s.snapshot_at < at)
            .map(|s| s.snapshot_at)
            .max();
        let cur = snapshot_sql(at);
        let snapshots = match previous {
            Some(p) => format!("snapshot_at IN ({cur}, {})", snapshot_sql(p)),
            None => format!("snapshot_at = {cur}"),
        };
        let is_list = |t: &TagDef| {
            matches!(
                t.value_type.data_type(),
                DataType::List(_) | DataType::LargeList(_)
            )
        };
        let is_number = |t: &TagDef| t.value_type.data_type().is_numeric();

        // One pass: rows, non-null and distinct values of every tag.
        // Every column aliased: two list tags would otherwise both be `CAST(NULL AS Int64)`.
        let mut columns = vec!["count(*) AS n".to_string()];
        for (i, t) in defs.iter().enumerate() {
            let c = quote_ident(&t.name);
            columns.push(format!("count({c}) AS non_null_{i}"));
            columns.push(if is_list(t) {
                format!("CAST(NULL AS BIGINT) AS distinct_{i}")
            } else {
                format!("CAST(approx_distinct(CAST({c} AS VARCHAR)) AS BIGINT) AS distinct_{i}")
            });
        }
        let sql = format!(
            "SELECT {} FROM {history} WHERE snapshot_at = {cur}",
            columns.join(", ")
        );
        let batches = self.ctx.sql(&sql).await?.collect().await?;
        let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(());
        };
        let rows = ints(first, 0)[0];
        let mut stats = Vec::new();
        for (i, t) in defs.iter().enumerate() {
            let non_null = ints(first, 1 + 2 * i)[0];
            let distinct_col = first.column(2 + 2 * i).as_primitive::<Int64Type>();
            let distinct = (!distinct_col.is_null(0)).then(|| distinct_col.value(0));
            let c = quote_ident(&t.name);
            let numeric = is_number(t) && !is_list(t);
            let categorical = !is_list(t) && distinct.is_some_and(|d| d <= CATEGORICAL_MAX);
            let mut top_values = None;
            let mut quantiles = None;
            let mut drift = None;

            if is_list(t) || distinct.is_some_and(|d| d <= TOP_VALUES_MAX_DISTINCT) {
                // Value counts in this and the previous snapshot (elements for lists).
                let (value, from) = if is_list(t) {
                    (
                        "e".to_string(),
                        format!(
                            "(SELECT unnest({c}) AS e, snapshot_at FROM {history} WHERE {snapshots}) AS u"
                        ),
                    )
                } else {
                    (c.clone(), format!("{history} WHERE {snapshots}"))
                };
                let sql = format!(
                    "SELECT CAST({value} AS VARCHAR) AS v, count(*) FILTER (WHERE snapshot_at = {cur}) AS n, \
                            count(*) FILTER (WHERE snapshot_at <> {cur}) AS m \
                     FROM {from} GROUP BY 1 ORDER BY n DESC, v"
                );
                let mut values: Vec<(Option<String>, i64, i64)> = Vec::new();
                for b in self.ctx.sql(&sql).await?.collect().await? {
                    let v = b.column(0).as_string::<i32>();
                    let (n, m) = (ints(&b, 1), ints(&b, 2));
                    for r in 0..b.num_rows() {
                        values.push(((!v.is_null(r)).then(|| v.value(r).to_string()), n[r], m[r]));
                    }
                }
                values.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                if !t.sensitive {
                    let top: Vec<String> = values
                        .iter()
                        .filter(|(_, n, _)| *n > 0)
                        .take(TOP)
                        .map(|(v, n, _)| format!("{}: {n}", v.as_deref().unwrap_or("NULL")))
                        .collect();
                    top_values = Some(top.join(", "));
                }
                if categorical && previous.is_some() {
                    let n: Vec<i64> = values.iter().map(|v| v.1).collect();
                    let m: Vec<i64> = values.iter().map(|v| v.2).collect();
                    drift = psi(&n, &m);
                }
            }
            if numeric {
                let x = format!("CAST({c} AS DOUBLE)");
                let sql = format!(
                    "SELECT min({x}), approx_percentile_cont({x}, 0.25), approx_percentile_cont({x}, 0.5), \
                            approx_percentile_cont({x}, 0.75), max({x}) \
                     FROM {history} WHERE snapshot_at = {cur}"
                );
                let b = self.ctx.sql(&sql).await?.collect().await?;
                if let Some(b) = b.iter().find(|b| b.num_rows() > 0) {
                    let q: Vec<String> = (0..5)
                        .map(|i| floats(b, i).map(short).unwrap_or_else(|| "NULL".into()))
                        .collect();
                    quantiles = Some(format!(
                        "min {}, p25 {}, median {}, p75 {}, max {}",
                        q[0], q[1], q[2], q[3], q[4]
                    ));
                }
                if !categorical && let Some(p) = previous {
                    drift = self.numeric_psi(&history, &x, at, p).await?;
                }
            }
            stats.push(TagStats {
                entity: entity.name.clone(),
                tag: t.name.clone(),
                snapshot_at: at,
                rows,
                non_null,
                nulls: rows - non_null,
                coverage: if rows > 0 {
                    non_null as f64 / rows as f64
                } else {
                    0.0
                },
                distinct,
                top_values,
                quantiles,
                psi: drift,
            });
        }
        store::save_tag_stats(&self.warehouse, &entity.name, at, &stats).await
    }

    /// PSI of a number over ten bins cut at the previous snapshot's deciles (plus NULL).
    async fn numeric_psi(
        &self,
        history: &str,
        x: &str,
        at: DateTime<Utc>,
        previous: DateTime<Utc>,
    ) -> Result<Option<f64>> {
        let (cur, prev) = (snapshot_sql(at), snapshot_sql(previous));
        let deciles: Vec<String> = (1..10)
            .map(|d| format!("approx_percentile_cont({x}, {})", d as f64 / 10.0))
            .collect();
        let b = self
            .ctx
            .sql(&format!(
                "SELECT {} FROM {history} WHERE snapshot_at = {prev}",
                deciles.join(", ")
            ))
            .await?
            .collect()
            .await?;
        let Some(b) = b.iter().find(|b| b.num_rows() > 0) else {
            return Ok(None);
        };
        let mut edges: Vec<f64> = (0..9).filter_map(|i| floats(b, i)).collect();
        edges.dedup();
        if edges.is_empty() {
            return Ok(None);
        }
        let edges: Vec<String> = edges.iter().map(|e| format!("{e:?}")).collect();
        let sql = format!(
            "SELECT range_bin({x}, {}) AS bin, count(*) FILTER (WHERE snapshot_at = {cur}) AS n, \
                    count(*) FILTER (WHERE snapshot_at = {prev}) AS m \
             FROM {history} WHERE snapshot_at IN ({cur}, {prev}) GROUP BY 1",
            edges.join(", ")
        );
        let (mut n, mut m) = (Vec::new(), Vec::new());
        for b in self.ctx.sql(&sql).await?.collect().await? {
            n.extend(ints(&b, 1));
            m.extend(ints(&b, 2));
        }
        Ok(psi(&n, &m))
    }
}

#[cfg(test)]
mod tests {
    use super::psi;

    #[test]
    fn psi_of_identical_and_shifted_distributions() {
        assert_eq!(psi(&[50, 50], &[50, 50]), Some(0.0));
        // (0.9-0.5)·ln(0.9/0.5) + (0.1-0.5)·ln(0.1/0.5) = 0.2351 + 0.6438
        let v = psi(&[90, 10], &[50, 50]).unwrap();
        assert!((v - 0.878_890).abs() < 1e-5, "{v}");
        assert_eq!(psi(&[1], &[0]), None);
    }
}
