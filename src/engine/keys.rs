//! The key dictionary of an entity: a dense 32-bit id for every key the entity ever had, what
//! its bitmaps are made of (SPEC §7).
//!
//! `<entity>/keys` is an append-only Delta table of (`key`, `key_id`, `allocated_at`). A
//! refresh first gives the keys it has never seen the next free ids, in key order, in one
//! commit; the snapshot then carries each row's id as column `tagfusion:key_id`, so id and row
//! become visible together. Ids are never reused: a key that leaves and comes back keeps its
//! id. Every allocating commit carries the Delta application transaction
//! [`KEY_IDS_APP`], so two processes allocating at once conflict and one of them fails rather
//! than both handing out the same ids. Past 2³² ids an entity is refused, never truncated.

use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;

use super::Engine;
use super::scratch::Scratch;
use crate::catalog::EntityDef;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::parser::quote_ident;
use crate::warehouse::{delta_compatible, snapshot_type};

/// The Delta application id of key allocations.
pub const KEY_IDS_APP: &str = "tagfusion.key_ids";
/// Ids per entity: bitmaps hold 32-bit ids.
pub const MAX_KEY_IDS: u64 = 1 << 32;
/// The column of a snapshot holding each row's key id.
pub const KEY_ID_COLUMN: &str = "tagfusion:key_id";

pub fn keys_path(entity: &str) -> String {
    format!("{entity}/keys")
}

/// The keys table of an entity whose keys are of `key_type`.
pub fn keys_schema(key_type: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", delta_compatible(key_type), false),
        Field::new("key_id", DataType::Int64, false),
        Field::new("allocated_at", snapshot_type(), false),
    ]))
}

/// The ids of `n` new keys when `next` is the first free one; refuses to go past 2³².
pub fn assign_ids(entity: &str, next: u64, n: u64) -> Result<Range<u64>> {
    match next.checked_add(n) {
        Some(end) if end <= MAX_KEY_IDS => Ok(next..end),
        _ => Err(Error::invalid(format!(
            "entity {entity} needs more than 4,294,967,296 key ids ({next} given out, {n} new \
             keys); TagFusion's bitmaps hold 32-bit ids (docs/storage.md, \"Beyond 2^32 keys\")"
        ))),
    }
}

impl Engine {
    /// Gives every key of `universe` (a SQL relation with the entity's key column) that has
    /// no id yet the next free ids, in key order, in one commit; returns the version of the
    /// keys table that holds an id for every key of `universe`, and registers that version in
    /// `scratch` (the name comes second).
    pub(super) async fn allocate_keys(
        &self,
        rctx: &SessionContext,
        scratch: &mut Scratch<'_>,
        entity: &EntityDef,
        universe: &str,
        as_of: DateTime<Utc>,
    ) -> Result<(u64, String)> {
        let key = quote_ident(&entity.key);
        let keys_of = format!("SELECT {key} AS k FROM {universe}");
        let key_type = rctx
            .sql(&keys_of)
            .await?
            .schema()
            .field(0)
            .data_type()
            .clone();
        let schema = keys_schema(&key_type);
        let path = keys_path(&entity.name);
        let table = self.warehouse.ensure_table(&path, &schema).await?;
        let version = table.version().unwrap_or(0);
        let generation = table
            .snapshot()?
            .transaction_version(table.log_store().as_ref(), KEY_IDS_APP)
            .await?
            .unwrap_or(0);
        let known = scratch.provide(self.warehouse.provider(&table).await?)?;
        let next = first_free_id(rctx, &known).await?;
        let new = rctx
            .sql(&format!(
                "SELECT DISTINCT u.k FROM ({keys_of}) AS u LEFT ANTI JOIN {known} AS d \
                 ON u.k = d.key WHERE u.k IS NOT NULL ORDER BY u.k"
            ))
            .await?
            .collect()
            .await?;
        let n: usize = new.iter().map(RecordBatch::num_rows).sum();
        if n == 0 {
            return Ok((version, known));
        }
        let ids = assign_ids(&entity.name, next, n as u64)?;
        let batches = id_batches(&schema, &new, ids.start, as_of)?;
        failpoint::hit("keys.before_commit").await?;
        let commit = CommitProperties::default()
            .with_application_transaction(Transaction::new(KEY_IDS_APP, generation + 1));
        // On top of the version the ids were chosen from: another allocation since conflicts.
        let written = self
            .warehouse
            .append_to(&path, table, batches, commit)
            .await?;
        failpoint::hit("refresh.after_keys").await?;
        let version = written.version().unwrap_or(version);
        let keys = scratch.provide(self.warehouse.provider(&written).await?)?;
        Ok((version, keys))
    }
}

/// One more than the largest id of the keys table registered as `known` (0 when empty).
async fn first_free_id(rctx: &SessionContext, known: &str) -> Result<u64> {
    let batches = rctx
        .sql(&format!("SELECT max(key_id) FROM {known}"))
        .await?
        .collect()
        .await?;
    let max = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0).as_primitive::<Int64Type>().clone())
        .and_then(|a| (!a.is_null(0)).then(|| a.value(0)));
    Ok(max.map_or(0, |m| m as u64 + 1))
}

/// The rows of the keys table for `new` keys (one column), ids from `first` on.
fn id_batches(
    schema: &SchemaRef,
    new: &[RecordBatch],
    first: u64,
    as_of: DateTime<Utc>,
) -> Result<Vec<RecordBatch>> {
    let mut next = first as i64;
    let at = as_of.timestamp_micros();
    let mut out = Vec::with_capacity(new.len());
    for b in new.iter().filter(|b| b.num_rows() > 0) {
        let n = b.num_rows() as i64;
        let key: ArrayRef =
            datafusion::arrow::compute::cast(b.column(0), schema.field(0).data_type())?;
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(next..next + n));
        let at: ArrayRef = Arc::new(
            datafusion::arrow::array::TimestampMicrosecondArray::from(vec![at; n as usize])
                .with_timezone("UTC"),
        );
        out.push(RecordBatch::try_new(schema.clone(), vec![key, ids, at])?);
        next += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stop_at_two_to_the_32() {
        assert_eq!(assign_ids("c", 0, 3).unwrap(), 0..3);
        assert_eq!(
            assign_ids("c", MAX_KEY_IDS - 2, 2).unwrap(),
            MAX_KEY_IDS - 2..MAX_KEY_IDS
        );
        let e = assign_ids("customer", MAX_KEY_IDS - 2, 3).unwrap_err();
        assert!(
            e.to_string()
                .contains("entity customer needs more than 4,294,967,296 key ids"),
            "{e}"
        );
        assert!(assign_ids("c", u64::MAX, 1).is_err());
        assert_eq!(assign_ids("c", 5, 0).unwrap(), 5..5);
    }

    #[test]
    fn keys_tables_keep_the_key_type() {
        assert_eq!(
            keys_schema(&DataType::Int32).field(0).data_type(),
            &DataType::Int32
        );
        assert_eq!(
            keys_schema(&DataType::Utf8View).field(0).data_type(),
            &DataType::Utf8
        );
    }
}
