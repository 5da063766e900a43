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
/// How many tags' value-count passes run at once.
const SUMMARIES_AT_ONCE: usize = 4;

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

/// Whether a tag holds lists: its values are counted element by element.
fn is_list(t: &TagDef) -> bool {
    matches!(
        t.value_type.data_type(),
        DataType::List(_) | DataType::LargeList(_)
    )
}

/// Whether a tag holds numbers: it gets quantiles, and decile bins for PSI.
fn is_number(t: &TagDef) -> bool {
    t.value_type.data_type().is_numeric() && !is_list(t)
}

/// The latest successful snapshot of `entity` before `at`: what drift is measured against.
fn previous_snapshot(catalog: &Catalog, entity: &str, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    catalog
        .snapshots
        .iter()
        .filter(|s| s.entity == entity && s.status == RunStatus::Ok && s.snapshot_at < at)
        .map(|s| s.snapshot_at)
        .max()
}

/// What one stats pass reads: an entity's `profile_history`, the snapshot at `at` and the
/// snapshot before it, if any.
struct Scope {
    history: String,
    at: DateTime<Utc>,
    previous: Option<DateTime<Utc>>,
}

impl Scope {
    /// The SQL literal of this snapshot.
    fn current(&self) -> String {
        snapshot_sql(self.at)
    }

    /// A condition on `snapshot_at` for this snapshot and the previous one.
    fn both(&self) -> String {
        let cur = self.current();
        match self.previous {
            Some(p) => format!("snapshot_at IN ({cur}, {})", snapshot_sql(p)),
            None => format!("snapshot_at = {cur}"),
        }
    }
}

/// Whether `approx_distinct` hashes a type as it is: integers, strings, dates, timestamps and
/// booleans. Other values (floats) are counted by their text, which costs a cast per row.
fn distinct_natively(t: &DataType) -> bool {
    t.is_integer()
        || matches!(
            t,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(_, _)
                | DataType::Boolean
        )
}

/// One pass over this snapshot: `n` rows, then `non_null_<i>` and `distinct_<i>` of every tag
/// (no distinct count for a list) and, for a number, its min and max `q0_<i>`, `q4_<i>`.
/// Every column aliased: two list tags would otherwise both be `CAST(NULL AS Int64)`.
fn counts_sql(tags: &[&TagDef], scope: &Scope) -> String {
    let mut columns = vec!["count(*) AS n".to_string()];
    for (i, t) in tags.iter().enumerate() {
        let c = quote_ident(&t.name);
        columns.push(format!("count({c}) AS non_null_{i}"));
        columns.push(if is_list(t) {
            format!("CAST(NULL AS BIGINT) AS distinct_{i}")
        } else if distinct_natively(t.value_type.data_type()) {
            format!("CAST(approx_distinct({c}) AS BIGINT) AS distinct_{i}")
        } else {
            format!("CAST(approx_distinct(CAST({c} AS VARCHAR)) AS BIGINT) AS distinct_{i}")
        });
        if is_number(t) {
            let x = format!("CAST({c} AS DOUBLE)");
            columns.push(format!("min({x}) AS q0_{i}"));
            columns.push(format!("max({x}) AS q4_{i}"));
        }
    }
    format!(
        "SELECT {} FROM {} WHERE snapshot_at = {}",
        columns.join(", "),
        scope.history,
        scope.current()
    )
}

/// The quartiles p25, median and p75.
const QUARTILES: [f64; 3] = [0.25, 0.5, 0.75];

/// One pass over this snapshot for the quartiles of the number tags `tags[i]` for each `i` in
/// `which` (those with too many values to count each): `q1_<i>` … `q3_<i>`, approximate.
fn quartiles_sql(tags: &[&TagDef], which: &[usize], scope: &Scope) -> String {
    let mut columns = Vec::new();
    for &i in which {
        let x = format!("CAST({} AS DOUBLE)", quote_ident(&tags[i].name));
        for (q, p) in QUARTILES.iter().enumerate() {
            columns.push(format!(
                "approx_percentile_cont({x}, {p}) AS q{}_{i}",
                q + 1
            ));
        }
    }
    format!(
        "SELECT {} FROM {} WHERE snapshot_at = {}",
        columns.join(", "),
        scope.history,
        scope.current()
    )
}

/// `percentile_cont` of each of `ps` (linear between the two nearest values) over values
/// given as (value, how many), sorted by value; `None` when there are no values.
fn percentiles(sorted: &[(f64, i64)], ps: &[f64]) -> Vec<Option<f64>> {
    let n: i64 = sorted.iter().map(|(_, c)| c).sum();
    // The value at 0-based rank `r` of the expanded list.
    let at = |r: i64| {
        let mut seen = 0;
        for (v, c) in sorted {
            seen += c;
            if r < seen {
                return *v;
            }
        }
        sorted.last().map_or(f64::NAN, |(v, _)| *v)
    };
    ps.iter()
        .map(|p| {
            if n == 0 {
                return None;
            }
            let pos = p * (n - 1) as f64;
            let (lo, hi) = (pos.floor(), pos.ceil());
            let (a, b) = (at(lo as i64), at(hi as i64));
            Some(a + (b - a) * (pos - lo))
        })
        .collect()
}

/// The quartiles of a number tag from its counts per value in this snapshot.
fn quartiles_of(values: &[ValueCount]) -> Vec<Option<f64>> {
    let mut sorted: Vec<(f64, i64)> = values
        .iter()
        .filter(|v| v.current > 0)
        .filter_map(|v| Some((v.value.as_deref()?.parse::<f64>().ok()?, v.current)))
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    percentiles(&sorted, &QUARTILES)
}

/// The non-null and distinct values of the `i`th tag in the row of [`counts_sql`].
fn tag_counts(row: &RecordBatch, i: usize) -> (i64, Option<i64>) {
    let int = |name: String| {
        row.column_by_name(&name)
            .map(|a| a.as_primitive::<Int64Type>())
            .and_then(|a| (!a.is_null(0)).then(|| a.value(0)))
    };
    (
        int(format!("non_null_{i}")).unwrap_or(0),
        int(format!("distinct_{i}")),
    )
}

/// A value of a tag (an element for a list tag; `None` for NULL) and how often it occurs in
/// this and in the previous snapshot.
#[derive(Debug, Clone, PartialEq)]
struct ValueCount {
    value: Option<String>,
    current: i64,
    previous: i64,
}

/// Counts per value in this and the previous snapshot, as [`ValueCount`] columns `v, n, m`.
fn value_counts_sql(t: &TagDef, scope: &Scope) -> String {
    let (c, history, snapshots, cur) = (
        quote_ident(&t.name),
        &scope.history,
        scope.both(),
        scope.current(),
    );
    let (value, from) = if is_list(t) {
        (
            "e".to_string(),
            format!("(SELECT unnest({c}) AS e, snapshot_at FROM {history} WHERE {snapshots}) AS u"),
        )
    } else {
        (c, format!("{history} WHERE {snapshots}"))
    };
    format!(
        "SELECT CAST({value} AS VARCHAR) AS v, count(*) FILTER (WHERE snapshot_at = {cur}) AS n, \
                count(*) FILTER (WHERE snapshot_at <> {cur}) AS m \
         FROM {from} GROUP BY 1 ORDER BY n DESC, v"
    )
}

/// The [`TOP`] most frequent values of this snapshot with their counts (`男: 5123, 女: 4877`),
/// `values` sorted most frequent first.
fn top_values(values: &[ValueCount]) -> String {
    let top: Vec<String> = values
        .iter()
        .filter(|v| v.current > 0)
        .take(TOP)
        .map(|v| format!("{}: {}", v.value.as_deref().unwrap_or("NULL"), v.current))
        .collect();
    top.join(", ")
}

/// PSI over the values as bins.
fn categorical_psi(values: &[ValueCount]) -> Option<f64> {
    let n: Vec<i64> = values.iter().map(|v| v.current).collect();
    let m: Vec<i64> = values.iter().map(|v| v.previous).collect();
    psi(&n, &m)
}

/// A float of a one-row batch, by column name; `None` for NULL or no such column.
fn float_named(row: &RecordBatch, name: &str) -> Option<f64> {
    let a = row
        .column_by_name(name)?
        .as_primitive_opt::<Float64Type>()?;
    (!a.is_null(0)).then(|| a.value(0))
}

/// `min 1, p25 2.5, median 3, p75 4, max 9`.
fn quantiles_text(q: [Option<f64>; 5]) -> String {
    let q = q.map(|v| v.map_or_else(|| "NULL".to_string(), short));
    format!(
        "min {}, p25 {}, median {}, p75 {}, max {}",
        q[0], q[1], q[2], q[3], q[4]
    )
}

/// What a tag's values look like beyond their counts: the columns of [`TagStats`] that take
/// more than the one counting pass.
#[derive(Debug, Default)]
struct Summary {
    top_values: Option<String>,
    quantiles: Option<String>,
    psi: Option<f64>,
    /// p25, median, p75 of a number tag, exact from its counts per value when it has few
    /// enough values to count.
    quartiles: Option<Vec<Option<f64>>>,
}

/// The stats row of `tag`: `rows` in the snapshot, `non_null` and `distinct` of the tag.
fn tag_stats(
    entity: &str,
    tag: &TagDef,
    at: DateTime<Utc>,
    (rows, non_null, distinct): (i64, i64, Option<i64>),
    summary: Summary,
) -> TagStats {
    TagStats {
        entity: entity.to_string(),
        tag: tag.name.clone(),
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
        top_values: summary.top_values,
        quantiles: summary.quantiles,
        psi: summary.psi,
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
        let scope = Scope {
            history,
            at,
            previous: previous_snapshot(catalog, &entity.name, at),
        };
        let batches = self
            .ctx
            .sql(&counts_sql(&defs, &scope))
            .await?
            .collect()
            .await?;
        let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(());
        };
        let rows = ints(first, 0)[0];
        // The per-tag passes are small (one column each): a few at once keep both cores busy.
        let mut summaries = Vec::with_capacity(defs.len());
        let indexed: Vec<(usize, &&TagDef)> = defs.iter().enumerate().collect();
        for chunk in indexed.chunks(SUMMARIES_AT_ONCE) {
            let mut batch = Vec::with_capacity(chunk.len());
            for (i, t) in chunk {
                batch.push(self.summarise(t, tag_counts(first, *i).1, &scope));
            }
            summaries.extend(futures::future::try_join_all(batch).await?);
        }
        // Quartiles of the numbers with too many values to count: one approximate pass.
        let uncounted: Vec<usize> = (0..defs.len())
            .filter(|&i| is_number(defs[i]) && summaries[i].quartiles.is_none())
            .collect();
        let approx = if uncounted.is_empty() {
            None
        } else {
            let batches = self
                .ctx
                .sql(&quartiles_sql(&defs, &uncounted, &scope))
                .await?
                .collect()
                .await?;
            batches.into_iter().find(|b| b.num_rows() > 0)
        };
        let mut stats = Vec::new();
        for (i, (t, mut summary)) in defs.iter().zip(summaries).enumerate() {
            if is_number(t) {
                let middle = match summary.quartiles.take() {
                    Some(counted) => counted,
                    None => (1..=3)
                        .map(|q| {
                            let b = approx.as_ref()?;
                            float_named(b, &format!("q{q}_{i}"))
                        })
                        .collect(),
                };
                summary.quantiles = Some(quantiles_text([
                    float_named(first, &format!("q0_{i}")),
                    middle[0],
                    middle[1],
                    middle[2],
                    float_named(first, &format!("q4_{i}")),
                ]));
            }
            let (non_null, distinct) = tag_counts(first, i);
            stats.push(tag_stats(
                &entity.name,
                t,
                at,
                (rows, non_null, distinct),
                summary,
            ));
        }
        store::save_tag_stats(&self.warehouse, &entity.name, at, &stats).await
    }

    /// Top values (not of sensitive tags) and drift of one tag with `distinct` values in this
    /// snapshot.
    async fn summarise(&self, t: &TagDef, distinct: Option<i64>, scope: &Scope) -> Result<Summary> {
        let categorical = !is_list(t) && distinct.is_some_and(|d| d <= CATEGORICAL_MAX);
        let mut summary = Summary::default();
        if is_list(t) || distinct.is_some_and(|d| d <= TOP_VALUES_MAX_DISTINCT) {
            let values = self.value_counts(t, scope).await?;
            if is_number(t) {
                summary.quartiles = Some(quartiles_of(&values));
            }
            if !t.sensitive {
                summary.top_values = Some(top_values(&values));
            }
            if categorical && scope.previous.is_some() {
                summary.psi = categorical_psi(&values);
            }
        }
        if is_number(t) {
            let x = format!("CAST({} AS DOUBLE)", quote_ident(&t.name));
            if !categorical && let Some(p) = scope.previous {
                summary.psi = self.numeric_psi(&scope.history, &x, scope.at, p).await?;
            }
        }
        Ok(summary)
    }

    /// Counts per value of `t` in this and the previous snapshot (elements for lists), most
    /// frequent in this snapshot first, then by value.
    async fn value_counts(&self, t: &TagDef, scope: &Scope) -> Result<Vec<ValueCount>> {
        let mut values = Vec::new();
        for b in self
            .ctx
            .sql(&value_counts_sql(t, scope))
            .await?
            .collect()
            .await?
        {
            let v = b.column(0).as_string::<i32>();
            let (n, m) = (ints(&b, 1), ints(&b, 2));
            for r in 0..b.num_rows() {
                values.push(ValueCount {
                    value: (!v.is_null(r)).then(|| v.value(r).to_string()),
                    current: n[r],
                    previous: m[r],
                });
            }
        }
        values.sort_by(|a, b| b.current.cmp(&a.current).then(a.value.cmp(&b.value)));
        Ok(values)
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
    use super::*;
    use crate::catalog::{SnapshotRecord, ValueType, testing};
    use chrono::TimeZone;
    use datafusion::arrow::datatypes::Field;
    use std::sync::Arc;

    fn tag(name: &str, data_type: DataType) -> TagDef {
        TagDef {
            value_type: ValueType::new(data_type),
            ..testing::tag("c", name)
        }
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap()
    }

    fn scope(previous: Option<DateTime<Utc>>) -> Scope {
        Scope {
            history: "\"c\".profile_history".into(),
            at: at(2),
            previous,
        }
    }

    fn count(value: Option<&str>, current: i64, previous: i64) -> ValueCount {
        ValueCount {
            value: value.map(str::to_string),
            current,
            previous,
        }
    }

    #[test]
    fn lists_are_not_numbers() {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        assert!(is_list(&tag("l", list.clone())));
        assert!(!is_number(&tag("l", list)));
        assert!(is_number(&tag("n", DataType::Float64)));
        assert!(!is_list(&tag("s", DataType::Utf8)));
    }

    #[test]
    fn the_previous_snapshot_is_the_latest_successful_one_before() {
        let record = |entity: &str, day: u32, status: RunStatus| SnapshotRecord {
            entity: entity.into(),
            snapshot_at: at(day),
            operation: "refresh".into(),
            started: at(day),
            finished: at(day),
            rows: 0,
            tags: 0,
            status,
            message: None,
            profile_version: None,
            keys_version: None,
            bitmaps_version: None,
        };
        let catalog = Catalog {
            snapshots: vec![
                record("c", 1, RunStatus::Ok),
                record("c", 2, RunStatus::Failed),
                record("c", 3, RunStatus::Ok),
                record("c", 4, RunStatus::Ok),
                record("d", 3, RunStatus::Ok),
            ],
            ..Catalog::default()
        };
        assert_eq!(previous_snapshot(&catalog, "c", at(4)), Some(at(3)));
        assert_eq!(previous_snapshot(&catalog, "c", at(3)), Some(at(1)));
        assert_eq!(previous_snapshot(&catalog, "c", at(1)), None);
    }

    #[test]
    fn scope_reads_one_or_two_snapshots() {
        assert_eq!(
            scope(None).both(),
            "snapshot_at = TIMESTAMP '2024-01-02 00:00:00.000000'"
        );
        assert_eq!(
            scope(Some(at(1))).both(),
            "snapshot_at IN (TIMESTAMP '2024-01-02 00:00:00.000000', \
             TIMESTAMP '2024-01-01 00:00:00.000000')"
        );
    }

    #[test]
    fn counts_alias_every_column_and_skip_distinct_of_lists() {
        let list = tag(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        );
        let number = tag("n", DataType::Int64);
        let float = tag("f", DataType::Float64);
        let sql = counts_sql(&[&list, &number, &float], &scope(None));
        assert_eq!(
            sql,
            "SELECT count(*) AS n, count(\"l\") AS non_null_0, CAST(NULL AS BIGINT) AS distinct_0, \
             count(\"n\") AS non_null_1, \
             CAST(approx_distinct(\"n\") AS BIGINT) AS distinct_1, \
             min(CAST(\"n\" AS DOUBLE)) AS q0_1, max(CAST(\"n\" AS DOUBLE)) AS q4_1, \
             count(\"f\") AS non_null_2, \
             CAST(approx_distinct(CAST(\"f\" AS VARCHAR)) AS BIGINT) AS distinct_2, \
             min(CAST(\"f\" AS DOUBLE)) AS q0_2, max(CAST(\"f\" AS DOUBLE)) AS q4_2 \
             FROM \"c\".profile_history WHERE snapshot_at = TIMESTAMP '2024-01-02 00:00:00.000000'"
        );
    }

    #[test]
    fn quartiles_only_of_the_uncounted_numbers() {
        let (a, b) = (tag("a", DataType::Float64), tag("b", DataType::Int64));
        assert_eq!(
            quartiles_sql(&[&a, &b], &[1], &scope(None)),
            "SELECT approx_percentile_cont(CAST(\"b\" AS DOUBLE), 0.25) AS q1_1, \
             approx_percentile_cont(CAST(\"b\" AS DOUBLE), 0.5) AS q2_1, \
             approx_percentile_cont(CAST(\"b\" AS DOUBLE), 0.75) AS q3_1 \
             FROM \"c\".profile_history WHERE snapshot_at = TIMESTAMP '2024-01-02 00:00:00.000000'"
        );
    }

    #[test]
    fn value_counts_unnest_lists() {
        let list = tag(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        );
        let sql = value_counts_sql(&list, &scope(Some(at(1))));
        assert!(sql.starts_with("SELECT CAST(e AS VARCHAR) AS v"), "{sql}");
        assert!(
            sql.contains("FROM (SELECT unnest(\"l\") AS e, snapshot_at"),
            "{sql}"
        );
        let sql = value_counts_sql(&tag("s", DataType::Utf8), &scope(None));
        assert!(
            sql.starts_with("SELECT CAST(\"s\" AS VARCHAR) AS v"),
            "{sql}"
        );
        assert!(
            sql.contains("FROM \"c\".profile_history WHERE snapshot_at = "),
            "{sql}"
        );
    }

    #[test]
    fn top_values_are_the_first_present_ones() {
        let values = vec![
            count(Some("a"), 6, 1),
            count(None, 5, 0),
            count(Some("b"), 4, 0),
            count(Some("c"), 3, 0),
            count(Some("d"), 2, 0),
            count(Some("e"), 1, 0),
        ];
        assert_eq!(top_values(&values), "a: 6, NULL: 5, b: 4, c: 3, d: 2");
        assert_eq!(top_values(&[count(Some("gone"), 0, 7)]), "");
    }

    #[test]
    fn categorical_psi_bins_by_value() {
        let values = vec![count(Some("a"), 90, 50), count(Some("b"), 10, 50)];
        assert_eq!(categorical_psi(&values), psi(&[90, 10], &[50, 50]));
        assert_eq!(categorical_psi(&[count(Some("a"), 3, 0)]), None);
    }

    #[test]
    fn quantiles_read_as_short_numbers() {
        assert_eq!(
            quantiles_text([Some(1.0), Some(2.5), Some(3.0), None, Some(1e-5)]),
            "min 1, p25 2.5, median 3, p75 NULL, max 0"
        );
    }

    /// `percentile_cont` over the expanded, sorted list, by brute force.
    fn percentile_cont(expanded: &[f64], p: f64) -> Option<f64> {
        if expanded.is_empty() {
            return None;
        }
        let pos = p * (expanded.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        Some(expanded[lo] + (expanded[hi] - expanded[lo]) * (pos - lo as f64))
    }

    #[test]
    fn quartiles_from_counts_are_percentile_cont() {
        // 0, 1, 1, 3: what DataFusion's percentile_cont gives (0.75, 1, 1.5).
        let values = vec![
            count(Some("1"), 2, 0),
            count(Some("3"), 1, 0),
            count(Some("0"), 1, 5),
            count(None, 4, 0),
            count(Some("9"), 0, 3),
        ];
        assert_eq!(
            quartiles_of(&values),
            vec![Some(0.75), Some(1.0), Some(1.5)]
        );
        assert_eq!(quartiles_of(&[count(None, 3, 0)]), vec![None, None, None]);
        // Against brute force on pseudo-random counts, with negatives and fractions.
        let mut seed = 7u64;
        for round in 0..200 {
            let mut pairs = Vec::new();
            for v in 0..(round % 9 + 1) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                pairs.push((v as f64 * 0.5 - 2.0, (seed >> 60) as i64 + 1));
            }
            let mut expanded: Vec<f64> = pairs
                .iter()
                .flat_map(|(v, c)| std::iter::repeat_n(*v, *c as usize))
                .collect();
            expanded.sort_by(f64::total_cmp);
            let values: Vec<ValueCount> = pairs
                .iter()
                .rev()
                .map(|(v, c)| count(Some(&v.to_string()), *c, 0))
                .collect();
            let expected: Vec<Option<f64>> = QUARTILES
                .iter()
                .map(|p| percentile_cont(&expanded, *p))
                .collect();
            assert_eq!(quartiles_of(&values), expected, "{pairs:?}");
        }
    }

    #[test]
    fn stats_rows_have_coverage() {
        let t = tag("n", DataType::Int64);
        let s = tag_stats("c", &t, at(2), (4, 3, Some(2)), Summary::default());
        assert_eq!((s.nulls, s.coverage, s.distinct), (1, 0.75, Some(2)));
        let s = tag_stats("c", &t, at(2), (0, 0, None), Summary::default());
        assert_eq!(s.coverage, 0.0);
    }

    #[test]
    fn psi_of_identical_and_shifted_distributions() {
        assert_eq!(psi(&[50, 50], &[50, 50]), Some(0.0));
        // (0.9-0.5)·ln(0.9/0.5) + (0.1-0.5)·ln(0.1/0.5) = 0.2351 + 0.6438
        let v = psi(&[90, 10], &[50, 50]).unwrap();
        assert!((v - 0.878_890).abs() < 1e-5, "{v}");
        assert_eq!(psi(&[1], &[0]), None);
    }
}
