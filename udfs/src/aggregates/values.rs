//! Aggregate values as keys: integers, dates and timestamps as `i64`, everything else by its
//! text (interned as ids by [`super::interner`]). Values go back to the argument's own type on
//! the way out, so `most_frequent(city)` is a string and `most_frequent(CAST(ts AS DATE))` a date.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, UInt64Array};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, UInt64Type};
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
