use std::sync::LazyLock;

use chrono::Utc;
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, TimestampNanosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_DATETIME;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::as_of::as_of_nanos;

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 | DataType::Null
    )
}

/// Casts a date or timestamp argument to UTC nanoseconds without a zone.
fn to_nanos(value: &ColumnarValue, rows: usize) -> Result<TimestampNanosecondArray> {
    let array = value.to_array(rows)?;
    let target = DataType::Timestamp(TimeUnit::Nanosecond, None);
    let array: ArrayRef = match array.data_type() {
        DataType::Timestamp(unit, Some(_)) => {
            // Drop the zone: the instant in UTC is what counts.
            let same_unit = DataType::Timestamp(*unit, None);
            cast(&cast(&array, &same_unit)?, &target)?
        }
        _ => cast(&array, &target)?,
    };
    Ok(array
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .cloned()
        .unwrap_or_else(|| TimestampNanosecondArray::new_null(rows)))
}

/// Whole days from `from` to `to` (floor), null when either is null.
fn whole_days(from: &TimestampNanosecondArray, to: &TimestampNanosecondArray) -> Int64Array {
    from.iter()
        .zip(to.iter())
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => Some((b - a).div_euclid(NANOS_PER_DAY)),
            _ => None,
        })
        .collect()
}

fn scalar_or_array(result: Int64Array, all_scalar: bool) -> Result<ColumnarValue> {
    if all_scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &result, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(std::sync::Arc::new(result)))
    }
}

/// `days_since(ts)`: whole days from `ts` to the snapshot's `as_of()`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DaysSince {
    signature: Signature,
}

impl DaysSince {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Stable),
        }
    }
}

impl Default for DaysSince {
    fn default() -> Self {
        Self::new()
    }
}

static DAYS_SINCE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATETIME,
        "Whole days from a date or timestamp to the snapshot's as_of() (recency, R of RFM).",
        "days_since(ts)",
    )
    .with_argument("ts", "a date or timestamp")
    .with_sql_example("SELECT days_since(max(ts)) FROM orders GROUP BY customer_id")
    .build()
});

impl ScalarUDFImpl for DaysSince {
    fn name(&self) -> &str {
        "days_since"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !args.iter().all(is_temporal) {
            return plan_err!("days_since expects a date or timestamp, got {}", args[0]);
        }
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let from = to_nanos(&args.args[0], if scalar { 1 } else { rows })?;
        let as_of = as_of_nanos(&args.config_options, Utc::now())?;
        let to = TimestampNanosecondArray::from(vec![as_of; from.len()]);
        scalar_or_array(whole_days(&from, &to), scalar)
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DAYS_SINCE_DOC)
    }
}

/// `days_between(a, b)`: whole days from `a` to `b`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DaysBetween {
    signature: Signature,
}

impl DaysBetween {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl Default for DaysBetween {
    fn default() -> Self {
        Self::new()
    }
}

static DAYS_BETWEEN_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATETIME,
        "Whole days from the first date or timestamp to the second (floor).",
        "days_between(a, b)",
    )
    .with_argument("a", "start date or timestamp")
    .with_argument("b", "end date or timestamp")
    .build()
});

impl ScalarUDFImpl for DaysBetween {
    fn name(&self) -> &str {
        "days_between"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !args.iter().all(is_temporal) {
            return plan_err!("days_between expects two dates or timestamps, got {args:?}");
        }
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let a = to_nanos(&args.args[0], rows)?;
        let b = to_nanos(&args.args[1], rows)?;
        scalar_or_array(whole_days(&a, &b), scalar)
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DAYS_BETWEEN_DOC)
    }
}
