use std::sync::LazyLock;

use datafusion::arrow::array::{Array, BooleanArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{Args, array};

/// 高活跃 at or above `high`, 中活跃 at or above `mid`, 低活跃 above zero, 沉默 at zero.
pub fn activity(active: f64, high: f64, mid: f64) -> &'static str {
    if active >= high {
        "高活跃"
    } else if active >= mid {
        "中活跃"
    } else if active > 0.0 {
        "低活跃"
    } else {
        "沉默"
    }
}

/// `activity_level(active_days, high, mid)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ActivityLevel {
    signature: Signature,
}

impl ActivityLevel {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

impl Default for ActivityLevel {
    fn default() -> Self {
        Self::new()
    }
}

static ACTIVITY_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "Activity level (活跃度) from a count of active days (or sessions) in a window: 高活跃 \
         at or above `high`, 中活跃 at or above `mid`, 低活跃 above zero, 沉默 at zero.",
        "activity_level(active_days, high, mid)",
    )
    .with_argument("active_days", "active days (or events) in the window")
    .with_argument("high", "threshold of 高活跃")
    .with_argument("mid", "threshold of 中活跃")
    .with_sql_example(
        "CREATE TAG customer.app_activity AS activity_level(app_active_days_30d, 15, 5)",
    )
    .build()
});

impl ScalarUDFImpl for ActivityLevel {
    fn name(&self) -> &str {
        "activity_level"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !args.iter().all(|t| t.is_numeric() || t.is_null()) {
            return plan_err!(
                "activity_level expects three numbers (active_days, high, mid), got {args:?}"
            );
        }
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let args = Args::new(&args);
        let n = (0..3).map(|i| args.floats(i)).collect::<Result<Vec<_>>>()?;
        let out: StringArray = (0..args.rows)
            .map(|i| {
                (!n.iter().any(|a| a.is_null(i)))
                    .then(|| activity(n[0].value(i), n[1].value(i), n[2].value(i)))
            })
            .collect();
        args.finish(array(out))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&ACTIVITY_DOC)
    }
}

/// `churn_warning(recency_days, typical_gap_days [, factor])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ChurnWarning {
    signature: Signature,
}

impl ChurnWarning {
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for ChurnWarning {
    fn default() -> Self {
        Self::new()
    }
}

static CHURN_DOC: LazyLock<Documentation> =
    LazyLock::new(|| {
        Documentation::builder(
        DOC_SECTION_OTHER,
        "Churn warning (流失预警): true when a customer has been away longer than `factor` \
         times their usual gap between purchases (default 2); NULL when either is unknown or \
         the gap is not positive.",
        "churn_warning(recency_days, typical_gap_days [, factor])",
    )
    .with_argument("recency_days", "days since the last purchase")
    .with_argument("typical_gap_days", "the customer's usual days between purchases")
    .with_argument("factor", "how many usual gaps count as a warning, default 2")
    .with_sql_example(
        "CREATE TAG customer.churn_risk AS churn_warning(recency_days, avg_purchase_gap_days, 2)",
    )
    .build()
    });

impl ScalarUDFImpl for ChurnWarning {
    fn name(&self) -> &str {
        "churn_warning"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !(args.len() == 2 || args.len() == 3)
            || !args.iter().all(|t| t.is_numeric() || t.is_null())
        {
            return plan_err!(
                "churn_warning expects (recency_days, typical_gap_days [, factor]) as numbers, got {args:?}"
            );
        }
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let args = Args::new(&args);
        let n = (0..args.len())
            .map(|i| args.floats(i))
            .collect::<Result<Vec<_>>>()?;
        let out: BooleanArray = (0..args.rows)
            .map(|i| {
                if n.iter().any(|a| a.is_null(i)) || n[1].value(i) <= 0.0 {
                    return None;
                }
                let factor = n.get(2).map_or(2.0, |f| f.value(i));
                Some(n[0].value(i) > factor * n[1].value(i))
            })
            .collect();
        args.finish(array(out))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&CHURN_DOC)
    }
}
