//! Quantile binning over the whole population: `quantile_bin(x, n) OVER ()` and the RFM score
//! `rfm_score(x [, higher_is_better]) OVER ()` (1–5 by quintile). Unlike `ntile`, equal values
//! always land in the same bin, so a customer's score does not depend on row order.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::window_doc_sections::DOC_SECTION_ANALYTICAL;
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, Volatility, WindowUDFImpl,
};

/// The quantile bin (1..=n) of every value; NULL stays NULL. A value's bin is decided by how
/// many values are strictly below it, so ties share a bin.
pub fn quantile_bins(values: &[Option<f64>], n: usize) -> Vec<Option<i64>> {
    let mut present: Vec<f64> = values.iter().flatten().copied().collect();
    let cuts = quantile_cuts(&mut present, n);
    values.iter().map(|v| v.map(|v| bin_of(v, &cuts))).collect()
}

/// The cut points of `n` quantile bins over `values` (no NaN; reordered in place). With `below`
/// the number of values strictly below `x`, `x`'s bin is `1 + floor(n * below / count)`; that
/// bin is at least `b` exactly when `below >= ceil((b - 1) * count / n)`, i.e. when `x` is
/// greater than the value of that rank. So the cuts are those n - 1 order statistics and
/// [`bin_of`] gives the same bin from them alone, without the population's rows.
pub fn quantile_cuts(values: &mut [f64], n: usize) -> Vec<f64> {
    let count = values.len();
    if count == 0 || n == 0 {
        return Vec::new();
    }
    let mut cuts = Vec::with_capacity(n - 1);
    // Ranks only grow with b: each selection continues in the part right of the last one.
    let mut from = 0;
    for b in 2..=n {
        let rank = ((b - 1) * count).div_ceil(n) - 1;
        let (_, value, _) = values[from..].select_nth_unstable_by(rank - from, f64::total_cmp);
        cuts.push(*value);
        from = rank;
    }
    cuts
}

/// The bin (1..=cuts + 1) of `x`: one more than the number of cuts strictly below it.
pub fn bin_of(x: f64, cuts: &[f64]) -> i64 {
    cuts.partition_point(|c| *c < x) as i64 + 1
}

/// `quantile_bin(x, n)` or `rfm_score(x [, higher_is_better])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct QuantileBin {
    name: &'static str,
    signature: Signature,
}

impl QuantileBin {
    pub fn new_quantile_bin() -> Self {
        Self {
            name: "quantile_bin",
            signature: Signature::any(2, Volatility::Immutable),
        }
    }

    pub fn new_rfm_score() -> Self {
        Self {
            name: "rfm_score",
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

#[derive(Debug)]
struct QuantileEvaluator {
    name: &'static str,
}

/// The constant argument `i` (the same on every row) as a scalar.
pub(crate) fn constant(
    function: &str,
    values: &[ArrayRef],
    i: usize,
    what: &str,
) -> Result<ScalarValue> {
    match values.get(i) {
        Some(a) if !a.is_empty() => ScalarValue::try_from_array(a, 0),
        Some(_) => Ok(ScalarValue::Null),
        None => plan_err!("{function}: missing {what}"),
    }
}

/// The number of bins and whether bin numbers are reversed, for `quantile_bin(x, n)` or
/// `rfm_score(x [, higher_is_better])`, from the call's constant second argument.
pub(crate) fn bin_settings(function: &str, second: Option<ScalarValue>) -> Result<(usize, bool)> {
    if function == "rfm_score" {
        let higher_is_better = match second {
            None | Some(ScalarValue::Null) | Some(ScalarValue::Boolean(None)) => true,
            Some(ScalarValue::Boolean(Some(b))) => b,
            Some(other) => {
                return exec_err!(
                    "rfm_score(x, higher_is_better): higher_is_better must be true or false, got {other}"
                );
            }
        };
        return Ok((5, !higher_is_better));
    }
    match second.map(|v| v.cast_to(&DataType::Int64)).transpose()? {
        Some(ScalarValue::Int64(Some(n))) if n >= 1 => Ok((n as usize, false)),
        other => exec_err!(
            "quantile_bin(x, n): n must be a positive integer, got {}",
            other.map_or("nothing".to_string(), |v| v.to_string())
        ),
    }
}

impl PartitionEvaluator for QuantileEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let x = cast(&values[0], &DataType::Float64)?;
        let x = x.as_primitive::<Float64Type>();
        let second = if values.len() > 1 {
            Some(constant(self.name, values, 1, "its second argument")?)
        } else {
            None
        };
        let (n, reverse) = bin_settings(self.name, second)?;
        let values: Vec<Option<f64>> = (0..num_rows)
            .map(|i| (x.is_valid(i) && !x.value(i).is_nan()).then(|| x.value(i)))
            .collect();
        let bins = quantile_bins(&values, n);
        Ok(Arc::new(
            bins.into_iter()
                .map(|b| b.map(|b| if reverse { n as i64 + 1 - b } else { b }))
                .collect::<Int64Array>(),
        ))
    }
}

impl WindowUDFImpl for QuantileBin {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(QuantileEvaluator { name: self.name }))
    }

    fn field(&self, args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let fields = args.input_fields();
        let expected = if self.name == "rfm_score" {
            1..=2
        } else {
            2..=2
        };
        if !expected.contains(&fields.len()) {
            return plan_err!(
                "{} takes {}, got {} arguments",
                self.name,
                if self.name == "rfm_score" {
                    "(x [, higher_is_better])"
                } else {
                    "(x, n)"
                },
                fields.len()
            );
        }
        if !fields[0].data_type().is_numeric() && !fields[0].data_type().is_null() {
            return plan_err!(
                "{}: x must be a number, got {}",
                self.name,
                fields[0].data_type()
            );
        }
        Ok(Arc::new(Field::new(args.name(), DataType::Int64, true)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(if self.name == "rfm_score" {
            &RFM_SCORE_DOC
        } else {
            &QUANTILE_BIN_DOC
        })
    }
}

static QUANTILE_BIN_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_ANALYTICAL,
        "Quantile binning over the window's partition (use OVER () for the whole population): \
         1 for the lowest n-th of the values … n for the highest. A value's bin is \
         1 + floor(n × (number of values below it) / (number of non-NULL values)), so equal \
         values share a bin (unlike ntile). NULL stays NULL.",
        "quantile_bin(x, n) OVER ()",
    )
    .with_argument("x", "a numeric expression")
    .with_argument("n", "number of bins (e.g. 10 for deciles)")
    .with_sql_example(
        "CREATE TAG customer.spend_decile KIND model AS quantile_bin(spend_365d, 10) OVER ()",
    )
    .build()
});

static RFM_SCORE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_ANALYTICAL,
        "RFM score 1–5 by quintile of the population: quantile_bin(x, 5), reversed when lower \
         values are better (recency: fewer days since the last order scores 5).",
        "rfm_score(x [, higher_is_better]) OVER ()",
    )
    .with_argument("x", "recency, frequency or monetary value")
    .with_argument(
        "higher_is_better",
        "true (default) for frequency and monetary value, false for recency",
    )
    .with_sql_example(
        "CREATE TAG customer.r_score KIND model AS rfm_score(recency_days, false) OVER ()",
    )
    .build()
});
