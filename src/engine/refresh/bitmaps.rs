//! Bitmaps per snapshot (SPEC §7): after the profile commit, a refresh writes to
//! `<entity>/bitmaps` one roaring bitmap of key ids per segment, per value of every
//! low-cardinality tag (NULL apart), and one of every key of the snapshot — the bitmap index
//! Doris or Hologres users build by hand. The snapshot record names the version written, so
//! readers never use bitmaps of a snapshot that was not recorded.
//!
//! | column | meaning |
//! |---|---|
//! | `snapshot_at` | the snapshot |
//! | `kind` | `all` (every key id), `segment` (members), `value` (rows with that value), `null` |
//! | `name` | tag or segment (NULL for `all`) |
//! | `value` | the value as text (`CAST(v AS VARCHAR)`), kind `value` only |
//! | `version` | the tag's or segment's definition version |
//! | `cardinality` | how many ids the bitmap holds |
//! | `rows` | kind `all`: rows of the snapshot (differs from the cardinality only for NULL keys) |
//! | `bitmap` | portable roaring bitmap over `tagfusion:key_id` (what `bitmap_*` reads) |

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::{SessionContext, ident, lit};
use deltalake::DeltaTable;

use super::RefreshJob;
use crate::catalog::TagDef;
use crate::engine::Engine;
use crate::engine::keys::KEY_ID_COLUMN;
use crate::engine::registry::snapshot_sql;
use crate::engine::scratch::Scratch;
use crate::error::Result;
use crate::failpoint;
use crate::parser::{quote_ident, quote_str};
use crate::warehouse::{WriteMode, snapshot_literal};

/// A tag with at most about this many distinct values in a snapshot gets a bitmap per value
/// (the count is HyperLogLog's, within a few percent).
pub const MAX_VALUES: i64 = 1000;

pub fn bitmaps_path(entity: &str) -> String {
    format!("{entity}/bitmaps")
}

/// Whether a tag's values can be indexed: scalar types whose text round-trips exactly
/// (booleans, strings, integers, dates), and not sensitive (a bitmap would show what masking
/// hides).
fn indexable(tag: &TagDef) -> bool {
    let t = tag.value_type.data_type();
    !tag.sensitive
        && (t.is_integer() || matches!(t, DataType::Boolean | DataType::Utf8 | DataType::Date32))
}

/// The bitmap rows of one tag, over the snapshot rows registered as `rows`.
fn tag_sql(tag: &TagDef, rows: &str) -> String {
    let c = quote_ident(&tag.name);
    format!(
        "SELECT CASE WHEN {c} IS NULL THEN 'null' ELSE 'value' END AS kind, {} AS name, \
                CAST({c} AS VARCHAR) AS value, CAST({} AS BIGINT) AS version, \
                bitmap_agg(__tf_id) AS bitmap, CAST(NULL AS BIGINT) AS rows \
         FROM {rows} GROUP BY 1, 3",
        quote_str(&tag.name),
        tag.version
    )
}

impl Engine {
    /// Writes the bitmaps of the snapshot `job` just committed in `profile` (the
    /// `profile_history` version written); returns the version of the bitmaps table.
    pub(super) async fn write_bitmaps(
        &self,
        rctx: &SessionContext,
        scratch: &mut Scratch<'_>,
        job: &RefreshJob,
        profile: &DeltaTable,
        segments: &[String],
    ) -> Result<u64> {
        let entity = &job.entity.name;
        let history = scratch.provide(self.warehouse.provider(profile).await?)?;
        let rows = format!(
            "(SELECT *, CAST({} AS BIGINT) AS __tf_id FROM {history} WHERE snapshot_at = {}) AS __tf_rows",
            quote_ident(KEY_ID_COLUMN),
            snapshot_sql(job.as_of)
        );
        let columns = profile_columns(rctx, &history).await?;
        let candidates: Vec<&TagDef> = job
            .tags
            .iter()
            .filter(|t| job.selected.contains(&t.name) || job.kept.contains(&t.name))
            .filter(|t| indexable(t) && columns.contains(&t.name))
            .collect();
        let few = self.few_valued(rctx, &candidates, &rows).await?;
        let mut parts = vec![format!(
            "SELECT 'all' AS kind, CAST(NULL AS VARCHAR) AS name, CAST(NULL AS VARCHAR) AS value, \
                    CAST(NULL AS BIGINT) AS version, bitmap_agg(__tf_id) AS bitmap, \
                    count(*) AS rows FROM {rows}"
        )];
        for s in &job.segments {
            if !segments.contains(&s.name) || self.reads_sensitive(job, &s.tags) {
                continue;
            }
            let column = quote_ident(&super::segment_column(&s.name));
            parts.push(format!(
                "SELECT 'segment', {}, CAST(NULL AS VARCHAR), CAST({} AS BIGINT), \
                        bitmap_agg(__tf_id) FILTER (WHERE {column}), CAST(NULL AS BIGINT) \
                 FROM {rows}",
                quote_str(&s.name),
                s.version
            ));
        }
        parts.extend(few.iter().map(|t| tag_sql(t, &rows)));
        let sql = format!(
            "SELECT {} AS snapshot_at, kind, name, value, version, \
                    CAST(bitmap_count(bitmap) AS BIGINT) AS cardinality, rows, bitmap \
             FROM ({}) AS __tf_bitmaps",
            snapshot_sql(job.as_of),
            parts.join(" UNION ALL ")
        );
        let plan = rctx.sql(&sql).await?.logical_plan().clone();
        let mode = WriteMode::Replace(ident("snapshot_at").eq(lit(snapshot_literal(job.as_of))));
        let written = self
            .warehouse
            .write_plan(&bitmaps_path(entity), plan, &rctx.state(), mode)
            .await?;
        failpoint::hit("refresh.after_bitmaps").await?;
        Ok(written.version().unwrap_or(0))
    }

    /// The tags of `candidates` with at most [`MAX_VALUES`] distinct values in `rows`.
    async fn few_valued<'t>(
        &self,
        rctx: &SessionContext,
        candidates: &[&'t TagDef],
        rows: &str,
    ) -> Result<Vec<&'t TagDef>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let counts: Vec<String> = candidates
            .iter()
            .map(|t| format!("CAST(approx_distinct({}) AS BIGINT)", quote_ident(&t.name)))
            .collect();
        let batches = rctx
            .sql(&format!("SELECT {} FROM {rows}", counts.join(", ")))
            .await?
            .collect()
            .await?;
        let Some(row) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(Vec::new());
        };
        Ok(candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let a = row.column(*i).as_primitive::<Int64Type>();
                !a.is_null(0) && a.value(0) <= MAX_VALUES
            })
            .map(|(_, t)| *t)
            .collect())
    }

    /// Whether any of `tags` (a segment's) is sensitive: its membership would show what
    /// masking hides, so it gets no bitmap.
    fn reads_sensitive(&self, job: &RefreshJob, tags: &[String]) -> bool {
        job.tags
            .iter()
            .any(|t| t.sensitive && tags.contains(&t.name))
    }
}

/// The column names of the profile registered as `history`.
async fn profile_columns(rctx: &SessionContext, history: &str) -> Result<Vec<String>> {
    Ok(rctx
        .table(history)
        .await?
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ValueType, testing};

    fn tag(name: &str, t: DataType, sensitive: bool) -> TagDef {
        TagDef {
            value_type: ValueType::new(t),
            sensitive,
            ..testing::tag("c", name)
        }
    }

    #[test]
    fn exact_scalar_types_are_indexed_unless_sensitive() {
        assert!(indexable(&tag("a", DataType::Utf8, false)));
        assert!(indexable(&tag("b", DataType::Boolean, false)));
        assert!(indexable(&tag("n", DataType::Int64, false)));
        assert!(indexable(&tag("d", DataType::Date32, false)));
        assert!(!indexable(&tag("f", DataType::Float64, false)));
        assert!(!indexable(&tag(
            "t",
            DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
            false
        )));
        assert!(!indexable(&tag("p", DataType::Utf8, true)));
    }

    #[test]
    fn a_tag_gives_a_row_per_value_and_one_for_null() {
        let sql = tag_sql(&tag("city", DataType::Utf8, false), "r");
        assert!(
            sql.starts_with("SELECT CASE WHEN \"city\" IS NULL THEN 'null' ELSE 'value' END"),
            "{sql}"
        );
        assert!(
            sql.contains("'city' AS name, CAST(\"city\" AS VARCHAR) AS value"),
            "{sql}"
        );
        assert!(sql.ends_with("FROM r GROUP BY 1, 3"), "{sql}");
    }
}
