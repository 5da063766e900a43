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

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::prelude::{SessionContext, cast, ident, lit};
use deltalake::DeltaTable;
use futures::StreamExt;
use tagfusion_udfs::bitmap::{Bitmap, ValueIndex, bytes};

use super::{RefreshJob, segment_column};
use crate::access::mask::segments_reading;
use crate::catalog::{SegmentDef, TagDef};
use crate::engine::Engine;
use crate::engine::keys::KEY_ID_COLUMN;
use crate::engine::scratch::Scratch;
use crate::error::Result;
use crate::failpoint;
use crate::warehouse::{WriteMode, snapshot_literal, snapshot_type};

/// A tag with at most this many distinct values in a snapshot gets a bitmap per value.
pub const MAX_VALUES: usize = 1000;

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

impl Engine {
    /// Writes the bitmaps of the snapshot `job` just committed in `profile` (the
    /// `profile_history` version written), from one pass over its rows; returns the version of
    /// the bitmaps table and the snapshot's rows (counted by the same pass).
    pub(super) async fn write_bitmaps(
        &self,
        rctx: &SessionContext,
        scratch: &mut Scratch<'_>,
        job: &RefreshJob,
        profile: &DeltaTable,
        segments: &[String],
    ) -> Result<(u64, usize)> {
        let history = scratch.provide(self.warehouse.provider(profile).await?)?;
        let df = rctx.table(history.as_str()).await?;
        let has = |c: &str| df.schema().has_column_with_unqualified_name(c);
        let tags: Vec<&TagDef> = job
            .tags
            .iter()
            .filter(|t| job.selected.contains(&t.name) || job.kept.contains(&t.name))
            .filter(|t| indexable(t) && has(&t.name))
            .collect();
        // A segment reading a sensitive tag, even through other segments, shows what masking
        // hides: no bitmap.
        let sensitive: BTreeSet<String> = job
            .tags
            .iter()
            .filter(|t| t.sensitive)
            .map(|t| t.name.clone())
            .collect();
        let hidden = segments_reading(&job.segments, &sensitive);
        let segs: Vec<&SegmentDef> = job
            .segments
            .iter()
            .filter(|s| segments.contains(&s.name) && !hidden.contains(&s.name))
            .collect();
        let mut columns = vec![cast(ident(KEY_ID_COLUMN), DataType::Int64)];
        columns.extend(tags.iter().map(|t| ident(&t.name)));
        columns.extend(segs.iter().map(|s| ident(segment_column(&s.name))));
        let mut stream = df
            .filter(ident("snapshot_at").eq(lit(snapshot_literal(job.as_of))))?
            .select(columns)?
            .execute_stream()
            .await?;
        let mut all = Bitmap::new();
        let mut rows = 0i64;
        let mut indexes: Vec<ValueIndex> =
            tags.iter().map(|_| ValueIndex::new(MAX_VALUES)).collect();
        let mut members: Vec<Bitmap> = segs.iter().map(|_| Bitmap::new()).collect();
        let mut ids_of_batch = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows() as i64;
            let ids = batch.column(0).as_primitive::<Int64Type>();
            for (i, index) in indexes.iter_mut().enumerate() {
                index.add(ids, batch.column(1 + i))?;
            }
            ids_of_batch.clear();
            ids_of_batch.extend(ids.iter().flatten().map(|id| id as u32));
            all.add_many(&ids_of_batch);
            for (j, bitmap) in members.iter_mut().enumerate() {
                let flags = batch.column(1 + tags.len() + j).as_boolean();
                ids_of_batch.clear();
                for row in 0..batch.num_rows() {
                    if flags.is_valid(row) && flags.value(row) && ids.is_valid(row) {
                        ids_of_batch.push(ids.value(row) as u32);
                    }
                }
                bitmap.add_many(&ids_of_batch);
            }
        }
        let mut out = BitmapRows::default();
        out.push("all", None, None, None, &all, Some(rows));
        for (s, bitmap) in segs.iter().zip(&members) {
            out.push(
                "segment",
                Some(&s.name),
                None,
                Some(s.version),
                bitmap,
                None,
            );
        }
        for (t, index) in tags.iter().zip(indexes) {
            let Some(done) = index.finish() else { continue };
            for (value, bitmap) in &done.values {
                out.push(
                    "value",
                    Some(&t.name),
                    Some(value),
                    Some(t.version),
                    bitmap,
                    None,
                );
            }
            if !done.nulls.is_empty() {
                out.push(
                    "null",
                    Some(&t.name),
                    None,
                    Some(t.version),
                    &done.nulls,
                    None,
                );
            }
        }
        let batch = out.batch(job.as_of)?;
        let mode = WriteMode::Replace(ident("snapshot_at").eq(lit(snapshot_literal(job.as_of))));
        let written = self
            .warehouse
            .write_batches(
                &bitmaps_path(&job.entity.name),
                &batch.schema(),
                vec![batch],
                mode,
            )
            .await?;
        failpoint::hit("refresh.after_bitmaps").await?;
        Ok((written.version().unwrap_or(0), rows as usize))
    }
}

/// The rows of the bitmaps table for one snapshot, column by column.
#[derive(Default)]
struct BitmapRows {
    kind: Vec<&'static str>,
    name: Vec<Option<String>>,
    value: Vec<Option<String>>,
    version: Vec<Option<i64>>,
    cardinality: Vec<i64>,
    rows: Vec<Option<i64>>,
    bitmap: Vec<Vec<u8>>,
}

impl BitmapRows {
    fn push(
        &mut self,
        kind: &'static str,
        name: Option<&str>,
        value: Option<&str>,
        version: Option<i64>,
        bitmap: &Bitmap,
        rows: Option<i64>,
    ) {
        self.kind.push(kind);
        self.name.push(name.map(str::to_string));
        self.value.push(value.map(str::to_string));
        self.version.push(version);
        self.cardinality.push(bitmap.cardinality() as i64);
        self.rows.push(rows);
        self.bitmap.push(bytes(bitmap));
    }

    fn batch(self, at: chrono::DateTime<chrono::Utc>) -> Result<RecordBatch> {
        let n = self.kind.len();
        let schema = Arc::new(Schema::new(vec![
            Field::new("snapshot_at", snapshot_type(), false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("value", DataType::Utf8, true),
            Field::new("version", DataType::Int64, true),
            Field::new("cardinality", DataType::Int64, false),
            Field::new("rows", DataType::Int64, true),
            Field::new("bitmap", DataType::Binary, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMicrosecondArray::from(vec![at.timestamp_micros(); n])
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(self.kind)),
            Arc::new(StringArray::from(self.name)),
            Arc::new(StringArray::from(self.value)),
            Arc::new(Int64Array::from(self.version)),
            Arc::new(Int64Array::from(self.cardinality)),
            Arc::new(Int64Array::from(self.rows)),
            Arc::new(BinaryArray::from_iter_values(self.bitmap)),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }
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
}
