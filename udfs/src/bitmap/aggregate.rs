//! `bitmap_agg(id)` and `bitmap_union(bitmap)`: aggregates into one bitmap per group.

use std::sync::{Arc, LazyLock};

use croaring::{Bitmap, Portable};
use datafusion::arrow::array::{ArrayRef, AsArray, BinaryArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::aggregate_doc_sections::DOC_SECTION_GENERAL;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature, Volatility,
};

use super::{bytes, element, parse};
use crate::aggregates::groups::{GroupAggregate, Groups, Single};

/// Per-group bitmaps; input is ids (`bitmap_agg`) or bitmaps (`bitmap_union`).
#[derive(Debug)]
struct Bitmaps {
    name: &'static str,
    union: bool,
}

/// A batch of input: ids, or parsed bitmaps.
enum Input {
    Ids(Vec<Option<u32>>),
    Bitmaps(Vec<Option<Bitmap>>),
}

/// Bytes one more id takes in a bitmap's array container.
const ID_BYTES: usize = 2;
/// Bytes a bitmap's first container takes (the container, its header and first allocation).
const CONTAINER_BYTES: usize = 64;

/// ORs `other` into `state`; returns how many bytes the state grew by (its serialized size is
/// a close measure of what roaring holds in memory).
fn union_into(state: &mut Bitmap, other: &Bitmap) -> usize {
    let before = state.get_serialized_size_in_bytes::<Portable>();
    state.or_inplace(other);
    state
        .get_serialized_size_in_bytes::<Portable>()
        .saturating_sub(before)
}

fn parse_all(function: &str, values: &ArrayRef) -> Result<Vec<Option<Bitmap>>> {
    let binary = cast(values, &DataType::Binary)?;
    let binary: &BinaryArray = binary.as_binary();
    binary
        .iter()
        .map(|v| v.map(|b| parse(function, b)).transpose())
        .collect()
}

impl GroupAggregate for Bitmaps {
    type State = Bitmap;
    type Rows = Input;
    type Partials = Vec<Option<Bitmap>>;

    fn rows(&self, values: &[ArrayRef]) -> Result<Input> {
        if self.union {
            return Ok(Input::Bitmaps(parse_all(self.name, &values[0])?));
        }
        let ids = cast(&values[0], &DataType::Int64)?;
        let ids = ids.as_primitive::<Int64Type>();
        Ok(Input::Ids(
            ids.iter()
                .map(|v| v.map(|id| element(self.name, id)).transpose())
                .collect::<Result<_>>()?,
        ))
    }

    fn update(&self, state: &mut Bitmap, rows: &Input, row: usize) -> usize {
        match rows {
            Input::Ids(ids) => match ids[row] {
                Some(id) => {
                    let first = state.is_empty();
                    let added = state.add_checked(id);
                    // A new id costs two bytes in an array container (the common case for a
                    // customer's ids); the first one also allocates the bitmap's container.
                    usize::from(added) * ID_BYTES + usize::from(first && added) * CONTAINER_BYTES
                }
                None => 0,
            },
            Input::Bitmaps(bitmaps) => match &bitmaps[row] {
                Some(b) => union_into(state, b),
                None => 0,
            },
        }
    }

    fn partials(&self, values: &[ArrayRef]) -> Result<Self::Partials> {
        parse_all(self.name, &values[0])
    }

    fn merge(&self, state: &mut Bitmap, partials: &Self::Partials, row: usize) -> usize {
        match &partials[row] {
            Some(b) => union_into(state, b),
            None => 0,
        }
    }

    fn state(&self, states: &[Bitmap]) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(states)?])
    }

    fn evaluate(&self, states: &[Bitmap]) -> Result<ArrayRef> {
        let values: Vec<Vec<u8>> = states.iter().map(bytes).collect();
        Ok(Arc::new(BinaryArray::from_iter_values(values)))
    }
}

macro_rules! bitmap_udaf {
    ($ty:ident, $name:literal, $union:literal, $doc:ident) => {
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $ty {
            signature: Signature,
        }

        impl $ty {
            pub fn new() -> Self {
                Self {
                    signature: Signature::any(1, Volatility::Immutable),
                }
            }

            fn bitmaps(&self) -> Arc<Bitmaps> {
                Arc::new(Bitmaps {
                    name: $name,
                    union: $union,
                })
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }

        impl AggregateUDFImpl for $ty {
            fn name(&self) -> &str {
                $name
            }
            fn signature(&self) -> &Signature {
                &self.signature
            }
            fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
                let t = &arg_types[0];
                let ok = if $union {
                    matches!(
                        t,
                        DataType::Binary
                            | DataType::LargeBinary
                            | DataType::BinaryView
                            | DataType::Null
                    )
                } else {
                    t.is_integer() || t.is_null()
                };
                if !ok {
                    return plan_err!(
                        "{}: expected {}, got {t}",
                        $name,
                        if $union {
                            "a bitmap (binary)"
                        } else {
                            "an integer id"
                        }
                    );
                }
                Ok(DataType::Binary)
            }
            fn is_nullable(&self) -> bool {
                false
            }
            fn default_value(&self, _t: &DataType) -> Result<ScalarValue> {
                Ok(ScalarValue::Binary(Some(bytes(&Bitmap::new()))))
            }
            fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
                Ok(vec![Arc::new(Field::new(
                    format_state_name(args.name, "bitmap"),
                    DataType::Binary,
                    true,
                ))])
            }
            fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
                Ok(Box::new(Single::new(self.bitmaps())))
            }
            fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
                true
            }
            fn create_groups_accumulator(
                &self,
                _args: AccumulatorArgs,
            ) -> Result<Box<dyn GroupsAccumulator>> {
                Ok(Box::new(Groups::new(self.bitmaps())))
            }
            fn documentation(&self) -> Option<&Documentation> {
                Some(&$doc)
            }
        }
    };
}

bitmap_udaf!(BitmapAgg, "bitmap_agg", false, BITMAP_AGG_DOC);
bitmap_udaf!(BitmapUnion, "bitmap_union", true, BITMAP_UNION_DOC);

static BITMAP_AGG_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "Collects the group's integer ids (0 … 4294967295) into a roaring bitmap, returned as \
         BINARY in the portable Roaring format (readable by any Roaring library). NULL ids are \
         skipped; an empty group gives an empty bitmap. Combine with bitmap_and / bitmap_or / \
         bitmap_andnot and count with bitmap_count: segment math without re-scanning rows.",
        "bitmap_agg(id)",
    )
    .with_argument("id", "a dense integer id of the entity")
    .with_sql_example(
        "SELECT bitmap_count(bitmap_and(\n  (SELECT bitmap_agg(uid) FROM customer.high_value),\n  (SELECT bitmap_agg(uid) FROM customer.coupon_lovers)))",
    )
    .build()
});

static BITMAP_UNION_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "The union (OR) of the group's bitmaps: e.g. everyone who was in a segment in any \
         snapshot, from one bitmap per snapshot.",
        "bitmap_union(bitmap)",
    )
    .with_argument("bitmap", "bitmaps made by bitmap_agg")
    .with_sql_example("SELECT bitmap_count(bitmap_union(members)) FROM segment_bitmaps")
    .build()
});
