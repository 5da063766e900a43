//! Aggregate values as hashable keys: integers, dates and timestamps as `i64`, everything else by
//! its text. Values go back to the argument's own type on the way out, so `most_frequent(city)`
//! is a string and `most_frequent(CAST(ts AS DATE))` a date.

use std::borrow::Borrow;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, ListArray, StringArray, UInt64Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, UInt64Type};
use datafusion::common::{Result, exec_err};

/// How values of an argument type are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Int,
    Text,
}

impl KeyKind {
    pub fn of(t: &DataType) -> Self {
        if t.is_integer() || matches!(t, DataType::Date32 | DataType::Timestamp(_, _)) {
            KeyKind::Int
        } else {
            KeyKind::Text
        }
    }

    pub fn data_type(self) -> DataType {
        match self {
            KeyKind::Int => DataType::Int64,
            KeyKind::Text => DataType::Utf8,
        }
    }
}

/// The type an aggregate returns for values of type `t`: the same type, strings as `Utf8`.
pub(crate) fn value_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => DataType::Utf8,
        DataType::Dictionary(_, v) => value_type(v),
        other => other.clone(),
    }
}

/// `array` as the key representation of `kind`.
pub(crate) fn to_keys(array: &ArrayRef, kind: KeyKind) -> Result<ArrayRef> {
    let array = match array.data_type() {
        DataType::Date32 => cast(array, &DataType::Int32)?,
        DataType::Dictionary(_, v) => cast(array, v)?,
        _ => array.clone(),
    };
    Ok(cast(&array, &kind.data_type())?)
}

/// Keys back to the value type `to`.
pub(crate) fn from_keys(keys: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if keys.data_type() == to {
        return Ok(keys.clone());
    }
    let keys = match to {
        DataType::Date32 => cast(keys, &DataType::Int32)?,
        _ => keys.clone(),
    };
    Ok(cast(&keys, to)?)
}

/// A value as a hash key.
pub(crate) trait Key:
    Hash + Eq + Ord + Clone + Debug + Send + Sync + Borrow<Self::Ref> + 'static
{
    type Ref: ?Sized + Hash + Eq;
    type Array: Array + Clone + 'static;
    fn downcast(keys: &ArrayRef) -> Result<Self::Array>;
    fn get(array: &Self::Array, i: usize) -> &Self::Ref;
    fn own(r: &Self::Ref) -> Self;
    /// Heap bytes of one key (for memory accounting).
    fn heap(&self) -> usize;
    /// An array of keys, NULL for `None`.
    fn build<'a>(keys: impl Iterator<Item = Option<&'a Self>>) -> ArrayRef;
}

impl Key for i64 {
    type Ref = i64;
    type Array = Int64Array;
    fn downcast(keys: &ArrayRef) -> Result<Int64Array> {
        match keys.as_primitive_opt::<Int64Type>() {
            Some(a) => Ok(a.clone()),
            None => exec_err!("expected Int64 keys, got {}", keys.data_type()),
        }
    }
    fn get(array: &Int64Array, i: usize) -> &i64 {
        &array.values()[i]
    }
    fn own(r: &i64) -> i64 {
        *r
    }
    fn heap(&self) -> usize {
        0
    }
    fn build<'a>(keys: impl Iterator<Item = Option<&'a i64>>) -> ArrayRef {
        Arc::new(keys.map(|k| k.copied()).collect::<Int64Array>())
    }
}

impl Key for Box<str> {
    type Ref = str;
    type Array = StringArray;
    fn downcast(keys: &ArrayRef) -> Result<StringArray> {
        match keys.as_string_opt::<i32>() {
            Some(a) => Ok(a.clone()),
            None => exec_err!("expected Utf8 keys, got {}", keys.data_type()),
        }
    }
    fn get(array: &StringArray, i: usize) -> &str {
        array.value(i)
    }
    fn own(r: &str) -> Box<str> {
        r.into()
    }
    fn heap(&self) -> usize {
        self.len()
    }
    fn build<'a>(keys: impl Iterator<Item = Option<&'a Box<str>>>) -> ArrayRef {
        Arc::new(keys.map(|k| k.map(|k| &**k)).collect::<StringArray>())
    }
}

/// A list array of `rows` (None = NULL row) whose elements are `values`, concatenated.
pub(crate) fn list(
    element: &DataType,
    lengths: Vec<Option<usize>>,
    values: ArrayRef,
) -> Result<ArrayRef> {
    let nulls = NullBuffer::from(lengths.iter().map(Option::is_some).collect::<Vec<_>>());
    let offsets = OffsetBuffer::from_lengths(lengths.into_iter().map(|l| l.unwrap_or(0)));
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(element.clone(), true)),
        offsets,
        values,
        (nulls.null_count() > 0).then_some(nulls),
    )?))
}

/// A `List<UInt64>` partial-state column downcast once per batch.
pub(crate) fn u64_lists(array: &ArrayRef) -> Result<(ListArray, UInt64Array)> {
    let Some(l) = array.as_list_opt::<i32>() else {
        return exec_err!("expected a list state, got {}", array.data_type());
    };
    let Some(v) = l.values().as_primitive_opt::<UInt64Type>() else {
        return exec_err!(
            "expected UInt64 list elements, got {}",
            l.values().data_type()
        );
    };
    Ok((l.clone(), v.clone()))
}
