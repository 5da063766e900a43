use std::sync::LazyLock;

use chrono::Utc;
use datafusion::arrow::array::{Array, Int64Array, StringArray, TimestampNanosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{Args, array};

use crate::time::as_of_nanos;

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// Thresholds of [`stage`], in days and orders.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleThresholds {
    /// First purchase at most this many days ago: 引入 (new).
    pub new_days: i64,
    /// Last purchase more than this many days ago: 休眠 (dormant).
    pub dormant_days: i64,
    /// Last purchase more than this many days ago: 流失 (lost).
    pub lost_days: i64,
    /// At least this many orders in the window: 成熟 (mature), else 成长 (growing).
    pub mature_orders: i64,
}

impl Default for LifecycleThresholds {
    fn default() -> Self {
        Self {
            new_days: 30,
            dormant_days: 90,
            lost_days: 180,
            mature_orders: 6,
        }
    }
}

/// The lifecycle stage from days since the first and the last purchase and recent orders:
/// 潜在 (no purchase yet), 引入, 成长, 成熟, 休眠, 流失.
pub fn stage(
    days_since_first: Option<i64>,
    days_since_last: Option<i64>,
    orders: i64,
    t: &LifecycleThresholds,
) -> &'static str {
    match (days_since_first, days_since_last) {
        (None, _) | (_, None) => "潜在",
        (Some(first), _) if first <= t.new_days => "引入",
        (_, Some(last)) if last > t.lost_days => "流失",
        (_, Some(last)) if last > t.dormant_days => "休眠",
        _ if orders >= t.mature_orders => "成熟",
        _ => "成长",
    }
}

/// `lifecycle_stage(first_ts, last_ts, orders [, new_days, dormant_days, lost_days, mature_orders])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LifecycleStage {
    signature: Signature,
}

impl LifecycleStage {
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }
}

impl Default for LifecycleStage {
    fn default() -> Self {
        Self::new()
    }
}

static LIFECYCLE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "Customer lifecycle stage (生命周期) as of the snapshot (as_of()): 潜在 without a \
         purchase, 引入 when the first purchase is at most new_days old, 流失 when the last is \
         more than lost_days old, 休眠 when more than dormant_days, 成熟 with at least \
         mature_orders orders, else 成长. Defaults: 30, 90, 180 days and 6 orders.",
        "lifecycle_stage(first_ts, last_ts, orders [, new_days, dormant_days, lost_days, mature_orders])",
    )
    .with_argument("first_ts", "time of the first purchase (NULL: none yet)")
    .with_argument("last_ts", "time of the last purchase")
    .with_argument("orders", "orders in the recent window (e.g. 180 days)")
    .with_sql_example(
        "CREATE TAG customer.stage AS lifecycle_stage(first_order_at, last_order_at, orders_180d, 30, 90, 180, 6)",
    )
    .build()
});

fn days_to(ts: &TimestampNanosecondArray, i: usize, as_of: i64) -> Option<i64> {
    (!ts.is_null(i)).then(|| (as_of - ts.value(i)).div_euclid(NANOS_PER_DAY))
}

impl ScalarUDFImpl for LifecycleStage {
    fn name(&self) -> &str {
        "lifecycle_stage"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let temporal = |t: &DataType| {
            matches!(
                t,
                DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 | DataType::Null
            )
        };
        if !(args.len() == 3 || args.len() == 7)
            || !temporal(&args[0])
            || !temporal(&args[1])
            || !args[2..].iter().all(|t| t.is_integer() || t.is_null())
        {
            return plan_err!(
                "lifecycle_stage expects (first_ts, last_ts, orders [, new_days, dormant_days, lost_days, mature_orders]), got {args:?}"
            );
        }
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let call = Args::new(&args);
        let rows = call.rows;
        let as_of = as_of_nanos(&args.config_options, Utc::now())?;
        let time = |i: usize| -> Result<TimestampNanosecondArray> {
            let a = args.args[i].to_array(rows)?;
            let a = match a.data_type() {
                DataType::Timestamp(unit, Some(_)) => cast(&a, &DataType::Timestamp(*unit, None))?,
                _ => a,
            };
            let a = cast(&a, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
            Ok(a.as_any()
                .downcast_ref::<TimestampNanosecondArray>()
                .cloned()
                .unwrap_or_else(|| TimestampNanosecondArray::new_null(rows)))
        };
        let int = |i: usize| call.ints(i);
        let (first, last, orders) = (time(0)?, time(1)?, int(2)?);
        let limits: Vec<Int64Array> = (3..args.args.len()).map(int).collect::<Result<_>>()?;
        let out: StringArray = (0..rows)
            .map(|i| {
                let mut t = LifecycleThresholds::default();
                if limits.len() == 4 {
                    if limits.iter().any(|l| l.is_null(i)) {
                        return None;
                    }
                    t = LifecycleThresholds {
                        new_days: limits[0].value(i),
                        dormant_days: limits[1].value(i),
                        lost_days: limits[2].value(i),
                        mature_orders: limits[3].value(i),
                    };
                }
                let n = if orders.is_null(i) {
                    0
                } else {
                    orders.value(i)
                };
                Some(stage(
                    days_to(&first, i, as_of),
                    days_to(&last, i, as_of),
                    n,
                    &t,
                ))
            })
            .collect();
        call.finish(array(out))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&LIFECYCLE_DOC)
    }
}
