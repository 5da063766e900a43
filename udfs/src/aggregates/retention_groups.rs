//! `retention` over all groups at once: one `u64` mask per group (bit `i` set once some row met
//! condition `i`), filled a condition at a time from the set bits of its boolean column.
//!
//! A row loop asking each condition array for validity and value is what made `retention`
//! slower than the comparisons feeding it; here each condition is one `AND` of bitmaps (values,
//! validity, the `FILTER` clause) and a walk over the rows that met it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, UInt8Array, UInt64Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::funnel::push_flags;
use super::values::list;

/// The rows of `values` that are true and not NULL, and pass `filter` (true and not NULL).
fn met(values: &ArrayRef, filter: Option<&BooleanArray>) -> Result<BooleanBuffer> {
    let cast = cast(values, &DataType::Boolean)?;
    let mut rows = true_rows(cast.as_boolean());
    if let Some(f) = filter {
        rows = &rows & &true_rows(f);
    }
    Ok(rows)
}

fn true_rows(b: &BooleanArray) -> BooleanBuffer {
    match b.nulls() {
        Some(nulls) => b.values() & nulls.inner(),
        None => b.values().clone(),
    }
}

#[derive(Debug)]
pub(crate) struct RetentionGroups {
    conditions: usize,
    masks: Vec<u64>,
}

impl RetentionGroups {
    pub fn new(conditions: usize) -> Self {
        Self {
            conditions,
            masks: Vec::new(),
        }
    }

    /// The mask of each row of one batch on its own.
    fn row_masks(values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<Vec<u64>> {
        let n = values.first().map_or(0, |v| v.len());
        let mut masks = vec![0u64; n];
        for (i, v) in values.iter().enumerate() {
            for row in met(v, filter)?.set_indices() {
                masks[row] |= 1 << i;
            }
        }
        Ok(masks)
    }
}

impl GroupsAccumulator for RetentionGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.masks.resize(total_num_groups, 0);
        for (i, v) in values.iter().enumerate() {
            let bit = 1u64 << i;
            for row in met(v, opt_filter)?.set_indices() {
                self.masks[group_indices[row]] |= bit;
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.masks.resize(total_num_groups, 0);
        let Some(partials) = values.first().and_then(|v| v.as_primitive_opt()) else {
            return exec_err!("retention state: expected UInt64 masks");
        };
        let partials: &UInt64Array = partials;
        for (row, &group) in group_indices.iter().enumerate() {
            if partials.is_valid(row) {
                self.masks[group] |= partials.value(row);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let masks = emit_to.take_needed(&mut self.masks);
        let mut flags = Vec::with_capacity(masks.len() * self.conditions);
        for m in &masks {
            push_flags(&mut flags, *m, self.conditions);
        }
        list(
            &DataType::UInt8,
            vec![Some(self.conditions); masks.len()],
            Arc::new(UInt8Array::from(flags)),
        )
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let masks = emit_to.take_needed(&mut self.masks);
        Ok(vec![Arc::new(UInt64Array::from(masks))])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(UInt64Array::from(Self::row_masks(
            values, opt_filter,
        )?))])
    }

    fn size(&self) -> usize {
        self.masks.capacity() * size_of::<u64>()
    }
}
