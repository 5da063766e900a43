//! Arguments of a scalar function call as typed arrays: scalars are broadcast to one row and
//! the result is turned back into a scalar when every argument was one.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

pub(crate) struct Args<'a> {
    call: &'a ScalarFunctionArgs,
    /// Rows to produce: 1 when every argument is a scalar.
    pub rows: usize,
    scalar: bool,
}

macro_rules! typed {
    ($name:ident, $array:ty, $ty:expr) => {
        /// Argument `i` cast to this type; NULLs where it cannot be.
        pub fn $name(&self, i: usize) -> Result<$array> {
            let a = self.cast(i, &$ty)?;
            Ok(a.as_any()
                .downcast_ref::<$array>()
                .cloned()
                .unwrap_or_else(|| <$array>::new_null(self.rows)))
        }
    };
}

impl<'a> Args<'a> {
    pub fn new(call: &'a ScalarFunctionArgs) -> Self {
        let scalar = call
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { call.number_rows };
        Self { call, rows, scalar }
    }

    pub fn len(&self) -> usize {
        self.call.args.len()
    }

    /// Argument `i` as an array of `rows`, cast to `to`.
    pub fn cast(&self, i: usize, to: &DataType) -> Result<ArrayRef> {
        Ok(cast(&self.call.args[i].to_array(self.rows)?, to)?)
    }

    typed!(floats, Float64Array, DataType::Float64);
    typed!(ints, Int64Array, DataType::Int64);
    typed!(strings, StringArray, DataType::Utf8);
    typed!(booleans, BooleanArray, DataType::Boolean);
    typed!(binaries, BinaryArray, DataType::Binary);

    /// The result: a scalar when every argument was one.
    pub fn finish(&self, array: ArrayRef) -> Result<ColumnarValue> {
        if self.scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &array, 0,
            )?))
        } else {
            Ok(ColumnarValue::Array(array))
        }
    }
}

/// Shorthand for `Arc::new(array)` as an [`ArrayRef`].
pub(crate) fn array(a: impl Array + 'static) -> ArrayRef {
    Arc::new(a)
}
