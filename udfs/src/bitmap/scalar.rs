//! Scalar bitmap functions: set operations, cardinality, membership, ids.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use croaring::Bitmap;
use datafusion::arrow::array::{
    Array, BinaryArray, BooleanArray, Int64Array, Int64Builder, ListBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::{bytes, parse};
use crate::args::{Args, array};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    And,
    Or,
    AndNot,
    Xor,
    Count,
    AndCount,
    Contains,
    ToList,
}

impl Op {
    fn arity(self) -> usize {
        match self {
            Op::Count | Op::ToList => 1,
            _ => 2,
        }
    }
}

#[derive(Debug)]
struct BitmapFunction {
    name: &'static str,
    op: Op,
    signature: Signature,
    doc: Documentation,
}

impl PartialEq for BitmapFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for BitmapFunction {}
impl Hash for BitmapFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null
    )
}

impl ScalarUDFImpl for BitmapFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let bitmaps = if self.op == Op::Contains {
            1
        } else {
            self.op.arity()
        };
        if args.len() != self.op.arity() {
            return plan_err!(
                "{} takes {} arguments, got {}",
                self.name,
                self.op.arity(),
                args.len()
            );
        }
        if let Some(t) = args[..bitmaps].iter().find(|t| !is_binary(t)) {
            return plan_err!(
                "{}: expected a bitmap (made by bitmap_agg), got {t}",
                self.name
            );
        }
        if self.op == Op::Contains && !(args[1].is_integer() || args[1].is_null()) {
            return plan_err!(
                "bitmap_contains(bitmap, id): id must be an integer, got {}",
                args[1]
            );
        }
        Ok(match self.op {
            Op::And | Op::Or | Op::AndNot | Op::Xor => DataType::Binary,
            Op::Count | Op::AndCount => DataType::Int64,
            Op::Contains => DataType::Boolean,
            Op::ToList => DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
        })
    }

    fn invoke_with_args(&self, call: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let args = Args::new(&call);
        let a = args.binaries(0)?;
        let bitmap = |i: usize| -> Result<Option<Bitmap>> {
            a.is_valid(i)
                .then(|| parse(self.name, a.value(i)))
                .transpose()
        };
        let result = match self.op {
            Op::And | Op::Or | Op::AndNot | Op::Xor | Op::AndCount => {
                let b = args.binaries(1)?;
                let mut pairs = Vec::with_capacity(args.rows);
                for i in 0..args.rows {
                    let other = b
                        .is_valid(i)
                        .then(|| parse(self.name, b.value(i)))
                        .transpose()?;
                    pairs.push(bitmap(i)?.zip(other));
                }
                if self.op == Op::AndCount {
                    array(
                        pairs
                            .iter()
                            .map(|p| p.as_ref().map(|(x, y)| x.and_cardinality(y) as i64))
                            .collect::<Int64Array>(),
                    )
                } else {
                    let values: Vec<Option<Vec<u8>>> = pairs
                        .iter()
                        .map(|p| {
                            p.as_ref().map(|(x, y)| {
                                bytes(&match self.op {
                                    Op::And => x.and(y),
                                    Op::Or => x.or(y),
                                    Op::AndNot => x.andnot(y),
                                    _ => x.xor(y),
                                })
                            })
                        })
                        .collect();
                    array(BinaryArray::from_iter(values))
                }
            }
            Op::Count => array(
                (0..args.rows)
                    .map(|i| Ok(bitmap(i)?.map(|b| b.cardinality() as i64)))
                    .collect::<Result<Int64Array>>()?,
            ),
            Op::Contains => {
                let ids = args.ints(1)?;
                let mut out = Vec::with_capacity(args.rows);
                for i in 0..args.rows {
                    out.push(match (bitmap(i)?, ids.is_valid(i)) {
                        (Some(b), true) => {
                            Some(u32::try_from(ids.value(i)).is_ok_and(|id| b.contains(id)))
                        }
                        _ => None,
                    });
                }
                array(BooleanArray::from(out))
            }
            Op::ToList => {
                let mut builder = ListBuilder::new(Int64Builder::new());
                for i in 0..args.rows {
                    match bitmap(i)? {
                        Some(b) => {
                            builder
                                .values()
                                .extend(b.iter().map(|v| Some(i64::from(v))));
                            builder.append(true);
                        }
                        None => builder.append(false),
                    }
                }
                array(builder.finish())
            }
        };
        args.finish(result)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

fn function(
    name: &'static str,
    op: Op,
    description: &str,
    syntax: &str,
    example: &str,
) -> ScalarUDF {
    let mut doc = Documentation::builder(DOC_SECTION_OTHER, description, syntax).with_argument(
        "bitmap",
        "a bitmap made by bitmap_agg (BINARY, portable Roaring format)",
    );
    if op.arity() == 2 {
        doc = if op == Op::Contains {
            doc.with_argument("id", "an integer id")
        } else {
            doc.with_argument("other", "a second bitmap")
        };
    }
    ScalarUDF::from(BitmapFunction {
        name,
        op,
        signature: Signature::any(op.arity(), Volatility::Immutable),
        doc: doc.with_sql_example(example).build(),
    })
}

/// Every scalar bitmap function.
pub fn bitmap_functions() -> Vec<ScalarUDF> {
    vec![
        function(
            "bitmap_and",
            Op::And,
            "The ids in both bitmaps (intersection: segment A AND segment B).",
            "bitmap_and(bitmap, other)",
            "SELECT bitmap_count(bitmap_and(a, b)) FROM segments_as_bitmaps",
        ),
        function(
            "bitmap_or",
            Op::Or,
            "The ids in either bitmap (union: segment A OR segment B).",
            "bitmap_or(bitmap, other)",
            "SELECT bitmap_count(bitmap_or(a, b)) FROM segments_as_bitmaps",
        ),
        function(
            "bitmap_andnot",
            Op::AndNot,
            "The ids of the first bitmap that are not in the second (segment A AND NOT segment B).",
            "bitmap_andnot(bitmap, other)",
            "SELECT bitmap_count(bitmap_andnot(a, b)) FROM segments_as_bitmaps",
        ),
        function(
            "bitmap_xor",
            Op::Xor,
            "The ids in exactly one of the bitmaps.",
            "bitmap_xor(bitmap, other)",
            "SELECT bitmap_count(bitmap_xor(a, b)) FROM segments_as_bitmaps",
        ),
        function(
            "bitmap_count",
            Op::Count,
            "The number of ids in the bitmap (its cardinality).",
            "bitmap_count(bitmap)",
            "SELECT bitmap_count(bitmap_agg(uid)) FROM customer.high_value",
        ),
        function(
            "bitmap_and_count",
            Op::AndCount,
            "The number of ids in both bitmaps, without building the intersection (overlap of \
             two segments).",
            "bitmap_and_count(bitmap, other)",
            "SELECT bitmap_and_count(a, b) FROM segments_as_bitmaps",
        ),
        function(
            "bitmap_contains",
            Op::Contains,
            "Whether the bitmap holds the id.",
            "bitmap_contains(bitmap, id)",
            "SELECT bitmap_contains(members, 42) FROM segments_as_bitmaps",
        ),
        function(
            "bitmap_to_list",
            Op::ToList,
            "The bitmap's ids as a sorted list (unnest it to join back to the profile).",
            "bitmap_to_list(bitmap)",
            "SELECT unnest(bitmap_to_list(members)) AS uid FROM segments_as_bitmaps",
        ),
    ]
}
