//! A bitmap index of one column: for each distinct value, the bitmap of the ids of the rows
//! holding it (and one of the rows where it is NULL), built in one pass over record batches.
//! Values are compared as text (`CAST(v AS VARCHAR)`, what SQL over the index groups by). An
//! index gives up — and frees what it held — once the column has more than its limit of
//! distinct values: such a column is not worth a bitmap per value.

use croaring::Bitmap;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::hash_utils::RandomState;
use datafusion::common::{Result, exec_err};
use indexmap::IndexSet;

/// The bitmaps of one column, by value.
#[derive(Debug)]
pub struct ValueIndex {
    max_values: usize,
    values: IndexSet<Box<str>, RandomState>,
    bitmaps: Vec<Bitmap>,
    nulls: Bitmap,
    gave_up: bool,
    /// Ids of the current batch per value, added to the bitmaps in bulk.
    pending: Vec<Vec<u32>>,
    pending_nulls: Vec<u32>,
}

/// What an index holds when the column had few enough values: each value with its bitmap, in
/// the order first seen, and the bitmap of NULLs.
#[derive(Debug)]
pub struct IndexedValues {
    pub values: Vec<(Box<str>, Bitmap)>,
    pub nulls: Bitmap,
}

impl ValueIndex {
    pub fn new(max_values: usize) -> Self {
        Self {
            max_values,
            values: IndexSet::default(),
            bitmaps: Vec::new(),
            nulls: Bitmap::new(),
            gave_up: false,
            pending: Vec::new(),
            pending_nulls: Vec::new(),
        }
    }

    /// Whether the column turned out to have too many values.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// Adds a batch: row `i` has id `ids[i]` (rows without an id are skipped) and value
    /// `column[i]`.
    pub fn add(&mut self, ids: &Int64Array, column: &ArrayRef) -> Result<()> {
        if self.gave_up {
            return Ok(());
        }
        let text = cast(column, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        for row in 0..ids.len() {
            if ids.is_null(row) {
                continue;
            }
            let id = match u32::try_from(ids.value(row)) {
                Ok(id) => id,
                Err(_) => return exec_err!("key id {} is not a 32-bit id", ids.value(row)),
            };
            if text.is_null(row) {
                self.pending_nulls.push(id);
                continue;
            }
            let value = text.value(row);
            let slot = match self.values.get_index_of(value) {
                Some(slot) => slot,
                None if self.values.len() >= self.max_values => {
                    *self = Self {
                        gave_up: true,
                        ..Self::new(self.max_values)
                    };
                    return Ok(());
                }
                None => {
                    self.values.insert(value.into());
                    self.bitmaps.push(Bitmap::new());
                    self.pending.push(Vec::new());
                    self.values.len() - 1
                }
            };
            self.pending[slot].push(id);
        }
        for (bitmap, ids) in self.bitmaps.iter_mut().zip(&mut self.pending) {
            bitmap.add_many(ids);
            ids.clear();
        }
        self.nulls.add_many(&self.pending_nulls);
        self.pending_nulls.clear();
        Ok(())
    }

    /// The bitmaps, or `None` if the column had too many values.
    pub fn finish(self) -> Option<IndexedValues> {
        if self.gave_up {
            return None;
        }
        Some(IndexedValues {
            values: self.values.into_iter().zip(self.bitmaps).collect(),
            nulls: self.nulls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BooleanArray, Int32Array, StringArray};
    use std::sync::Arc;

    fn members(b: &Bitmap) -> Vec<u32> {
        b.iter().collect()
    }

    #[test]
    fn values_get_their_rows_ids_across_batches() {
        let mut index = ValueIndex::new(10);
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("x"),
            None,
            Some("y"),
            Some("x"),
        ]));
        index
            .add(&Int64Array::from(vec![Some(7), Some(3), None, Some(1)]), &a)
            .unwrap();
        let b: ArrayRef = Arc::new(StringArray::from(vec![Some("y"), Some("z")]));
        index.add(&Int64Array::from(vec![9, 2]), &b).unwrap();
        let done = index.finish().unwrap();
        let values: Vec<(String, Vec<u32>)> = done
            .values
            .iter()
            .map(|(v, b)| (v.to_string(), members(b)))
            .collect();
        assert_eq!(
            values,
            [
                ("x".to_string(), vec![1, 7]),
                ("y".to_string(), vec![9]),
                ("z".to_string(), vec![2]),
            ]
        );
        assert_eq!(members(&done.nulls), [3]);
    }

    #[test]
    fn values_are_compared_as_text() {
        let mut index = ValueIndex::new(10);
        let flags: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true]));
        index.add(&Int64Array::from(vec![0, 1, 2]), &flags).unwrap();
        let done = index.finish().unwrap();
        let names: Vec<&str> = done.values.iter().map(|(v, _)| v.as_ref()).collect();
        assert_eq!(names, ["true", "false"]);
        let mut index = ValueIndex::new(10);
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![-5, 12]));
        index.add(&Int64Array::from(vec![0, 1]), &ints).unwrap();
        let names: Vec<String> = index
            .finish()
            .unwrap()
            .values
            .iter()
            .map(|(v, _)| v.to_string())
            .collect();
        assert_eq!(names, ["-5", "12"]);
    }

    #[test]
    fn too_many_values_give_up_for_good() {
        let mut index = ValueIndex::new(2);
        let a: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
        index.add(&Int64Array::from(vec![0, 1, 2]), &a).unwrap();
        assert!(index.gave_up());
        let b: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        index.add(&Int64Array::from(vec![3]), &b).unwrap();
        assert!(index.finish().is_none());
    }

    #[test]
    fn ids_beyond_32_bits_are_refused() {
        let mut index = ValueIndex::new(2);
        let a: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        let e = index
            .add(&Int64Array::from(vec![1i64 << 32]), &a)
            .unwrap_err();
        assert!(e.to_string().contains("not a 32-bit id"), "{e}");
    }
}
