//! Values of a frequency aggregate as dense `u32` ids.
//!
//! An [`Interner`] gives each distinct value it sees the next id (0, 1, 2, …) and keeps the
//! values in id order, so the per-group state can store a 4-byte id instead of the value. Text is
//! looked up by `&str` straight from the input array (Utf8, LargeUtf8 or Utf8View, no cast), so
//! only a value seen for the first time allocates. Integers, dates and timestamps are kept as
//! `i64`; any other type by its text, as the aggregates always did ([`KeyKind`]).

use std::cmp::Ordering;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Builder, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::hash_utils::RandomState;
use datafusion::common::{Result, exec_err, internal_err, resources_err};
use indexmap::{Equivalent, IndexSet};

use super::values::{KeyKind, to_keys};

/// The distinct values seen, in id order.
#[derive(Debug)]
pub(crate) struct Interner<T> {
    set: IndexSet<T, RandomState>,
    /// Heap bytes owned by the values themselves (the text of `Box<str>`).
    heap_bytes: usize,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            set: IndexSet::default(),
            heap_bytes: 0,
        }
    }
}

/// A kind of interned value: `i64` or `Box<str>`.
pub(crate) trait Value: Hash + Eq + Ord + Debug + Send + Sync + Sized + 'static {
    /// How the argument is read ([`to_keys`] for a cast to this representation).
    const KIND: KeyKind;

    /// Replaces `ids` with one entry per row of `array`: the id of the row's value, or `None`
    /// for a NULL or a row that `filter` leaves out (false or NULL).
    fn intern(
        interner: &mut Interner<Self>,
        array: &ArrayRef,
        filter: Option<&BooleanArray>,
        ids: &mut Vec<Option<u32>>,
    ) -> Result<()>;

    /// The values of `ids` (`None` = NULL) as an Int64 or Utf8 array (the key type of
    /// [`KeyKind`]; `values::from_keys` turns it into the argument's type).
    fn build(
        interner: &Interner<Self>,
        ids: impl ExactSizeIterator<Item = Option<u32>>,
    ) -> Result<ArrayRef>;

    /// Heap bytes this value owns, for memory accounting.
    fn heap(&self) -> usize;
}

impl<T: Value> Interner<T> {
    /// The id of `value`, giving it the next id if it is new (`own` makes the stored copy).
    fn id<Q>(&mut self, value: &Q, own: impl FnOnce(&Q) -> T) -> Result<u32>
    where
        Q: ?Sized + Hash + Equivalent<T>,
    {
        if let Some(i) = self.set.get_index_of(value) {
            // Every index is below `u32::MAX`: checked when it was given out.
            return Ok(i as u32);
        }
        let Ok(id) = u32::try_from(self.set.len()) else {
            return resources_err!(
                "frequency aggregate: more than {} distinct values in one aggregation",
                u32::MAX
            );
        };
        let owned = own(value);
        self.heap_bytes += owned.heap();
        self.set.insert(owned);
        Ok(id)
    }

    /// The value of `id`.
    pub fn get(&self, id: u32) -> Result<&T> {
        match self.set.get_index(id as usize) {
            Some(v) => Ok(v),
            None => internal_err!("frequency aggregate: unknown value id {id}"),
        }
    }

    /// Orders two ids by their values (ids are always valid; an unknown one sorts first).
    pub fn cmp(&self, a: u32, b: u32) -> Ordering {
        self.set
            .get_index(a as usize)
            .cmp(&self.set.get_index(b as usize))
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Keeps only the values whose id `live` marks (`live` has one flag per value) and
    /// renumbers them densely in their old order, releasing the memory of the others. Returns
    /// each old id's new id (`u32::MAX` for a dropped value).
    pub fn retain(&mut self, live: &[bool]) -> Vec<u32> {
        let mut next = 0;
        let remap = live
            .iter()
            .map(|&keep| {
                if keep {
                    next += 1;
                    next - 1
                } else {
                    u32::MAX
                }
            })
            .collect();
        let mut flags = live.iter();
        let mut heap_bytes = 0;
        // `retain` visits the values in order.
        self.set.retain(|value| {
            let keep = flags.next().copied().unwrap_or(false);
            if keep {
                heap_bytes += value.heap();
            }
            keep
        });
        self.set.shrink_to_fit();
        self.heap_bytes = heap_bytes;
        remap
    }

    /// Bytes of memory held: the set's entries and index table, and the values' heap bytes.
    pub fn size(&self) -> usize {
        // indexmap keeps (hash, value) entries plus a table of `usize` indices with one control
        // byte each.
        let per_entry = size_of::<T>() + 2 * size_of::<usize>() + 1;
        self.set.capacity() * per_entry + self.heap_bytes
    }
}

/// Whether row `row` passes the aggregate's FILTER (a NULL filter value does not).
pub(crate) fn included(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

/// Fills `ids` from `values` (one item per row), interning each included non-NULL value with
/// `id_of`.
fn intern_rows<V>(
    values: impl Iterator<Item = Option<V>>,
    filter: Option<&BooleanArray>,
    ids: &mut Vec<Option<u32>>,
    mut id_of: impl FnMut(V) -> Result<u32>,
) -> Result<()> {
    ids.clear();
    for (row, value) in values.enumerate() {
        ids.push(match value {
            Some(v) if included(filter, row) => Some(id_of(v)?),
            _ => None,
        });
    }
    Ok(())
}

impl Value for i64 {
    const KIND: KeyKind = KeyKind::Int;

    fn intern(
        interner: &mut Interner<i64>,
        array: &ArrayRef,
        filter: Option<&BooleanArray>,
        ids: &mut Vec<Option<u32>>,
    ) -> Result<()> {
        let keys = to_keys(array, KeyKind::Int)?;
        let Some(keys) = keys.as_primitive_opt::<Int64Type>() else {
            return exec_err!("expected Int64 keys, got {}", keys.data_type());
        };
        intern_rows(keys.iter(), filter, ids, |v| interner.id(&v, |v| *v))
    }

    fn build(
        interner: &Interner<i64>,
        ids: impl ExactSizeIterator<Item = Option<u32>>,
    ) -> Result<ArrayRef> {
        let mut builder = Int64Builder::with_capacity(ids.len());
        for id in ids {
            match id {
                Some(id) => builder.append_value(*interner.get(id)?),
                None => builder.append_null(),
            }
        }
        Ok(Arc::new(builder.finish()))
    }

    fn heap(&self) -> usize {
        0
    }
}

impl Value for Box<str> {
    const KIND: KeyKind = KeyKind::Text;

    fn intern(
        interner: &mut Interner<Box<str>>,
        array: &ArrayRef,
        filter: Option<&BooleanArray>,
        ids: &mut Vec<Option<u32>>,
    ) -> Result<()> {
        let id_of = |s: &str| interner.id(s, |s: &str| Box::from(s));
        match array.data_type() {
            DataType::Utf8 => intern_rows(array.as_string::<i32>().iter(), filter, ids, id_of),
            DataType::LargeUtf8 => intern_rows(array.as_string::<i64>().iter(), filter, ids, id_of),
            DataType::Utf8View => intern_rows(array.as_string_view().iter(), filter, ids, id_of),
            // A dictionary by its values; anything else by its text, as `to_keys` does.
            DataType::Dictionary(_, values) => {
                Self::intern(interner, &cast(array, values)?, filter, ids)
            }
            _ => Self::intern(interner, &cast(array, &DataType::Utf8)?, filter, ids),
        }
    }

    fn build(
        interner: &Interner<Box<str>>,
        ids: impl ExactSizeIterator<Item = Option<u32>>,
    ) -> Result<ArrayRef> {
        let mut builder = StringBuilder::with_capacity(ids.len(), 0);
        for id in ids {
            match id {
                Some(id) => builder.append_value(interner.get(id)?),
                None => builder.append_null(),
            }
        }
        Ok(Arc::new(builder.finish()))
    }

    fn heap(&self) -> usize {
        self.len()
    }
}
