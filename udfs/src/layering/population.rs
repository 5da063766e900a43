//! Population models in two steps. `quantile_bin(x, n) OVER ()`, `rfm_score(x) OVER ()` and
//! `kmeans(k, …) OVER ()` need the whole population before they can answer for one row, which as
//! window functions means holding every row in one partition. Each is also a model fitted once
//! and applied to every row: `…_fit` aggregates the population into the model (a list of
//! numbers: quantile cut points, k-means scales and centres) and `…_apply` gives one row's
//! answer from it, the same as the window function's. A refresh fits the models over a staged
//! profile and applies them while it streams the rows to the snapshot (see
//! `tagfusion::engine::refresh::population`), so no operator holds the population.
//!
//! Layout of a model: quantile `[n, reversed (0/1), cut_2, …, cut_n]`; k-means
//! [`KMeansModel::to_values`].

use std::mem::size_of;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::aggregate_doc_sections::DOC_SECTION_STATISTICAL;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Documentation, Expr, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use super::kmeans::{KMeansModel, clusters, complete_rows};
use super::quantile::{bin_of, bin_settings, quantile_cuts};

/// A population window function split into its fit aggregate and its per-row apply function.
pub struct PopulationModel {
    window: &'static str,
    /// Aggregates the population into the model; takes the window function's arguments.
    pub fit: Arc<AggregateUDF>,
    /// One row's answer: `apply(model, …)` with the arguments of [`PopulationModel::apply_args`].
    pub apply: Arc<ScalarUDF>,
}

impl PopulationModel {
    /// The window call's arguments that `apply` reads after the model: the value for the
    /// quantile functions, the features for k-means (their constants live in the model).
    pub fn apply_args(&self, window_args: &[Expr]) -> Vec<Expr> {
        match self.window {
            "kmeans" => window_args.iter().skip(1).cloned().collect(),
            _ => window_args.iter().take(1).cloned().collect(),
        }
    }
}

/// The two-step form of the population window function `window`, if it has one.
pub fn population_model(window: &str) -> Option<PopulationModel> {
    let (window, apply) = match window {
        "quantile_bin" => ("quantile_bin", "quantile_bin_apply"),
        "rfm_score" => ("rfm_score", "quantile_bin_apply"),
        "kmeans" => ("kmeans", "kmeans_apply"),
        _ => return None,
    };
    Some(PopulationModel {
        window,
        fit: Arc::new(AggregateUDF::from(PopulationFit::new(window))),
        apply: Arc::new(ScalarUDF::from(PopulationApply::new(apply))),
    })
}

/// The fit aggregates and apply functions, for the function list.
pub fn fit_functions() -> Vec<AggregateUDF> {
    ["quantile_bin", "rfm_score", "kmeans"]
        .into_iter()
        .map(|w| AggregateUDF::from(PopulationFit::new(w)))
        .collect()
}

pub fn apply_functions() -> Vec<ScalarUDF> {
    ["quantile_bin_apply", "kmeans_apply"]
        .into_iter()
        .map(|n| ScalarUDF::from(PopulationApply::new(n)))
        .collect()
}

fn model_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

/// One list of numbers as a `List<Float64>` scalar.
fn list_scalar(values: Vec<f64>) -> ScalarValue {
    let item = Arc::new(Field::new_list_field(DataType::Float64, true));
    let offsets = OffsetBuffer::from_lengths([values.len()]);
    let values: ArrayRef = Arc::new(Float64Array::from(values));
    ScalarValue::List(Arc::new(ListArray::new(item, offsets, values, None)))
}

/// `quantile_bin_fit(x, n)`, `rfm_score_fit(x [, higher_is_better])`, `kmeans_fit(k, …)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PopulationFit {
    window: &'static str,
    name: String,
    signature: Signature,
}

impl PopulationFit {
    fn new(window: &'static str) -> Self {
        Self {
            window,
            name: format!("{window}_fit"),
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    /// The constant argument `i` of the call, if it has one.
    fn literal(&self, args: &AccumulatorArgs, i: usize, what: &str) -> Result<Option<ScalarValue>> {
        match args.exprs.get(i) {
            None => Ok(None),
            Some(e) => match e.downcast_ref::<Literal>() {
                Some(l) => Ok(Some(l.value().clone())),
                None => plan_err!("{}: {what} must be a constant", self.name),
            },
        }
    }
}

impl AggregateUDFImpl for PopulationFit {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let features = if self.window == "kmeans" {
            if arg_types.len() < 2 || !arg_types[0].is_integer() {
                return plan_err!("kmeans_fit(k, feature1, …) needs an integer k and features");
            }
            &arg_types[1..]
        } else {
            if arg_types.is_empty() || arg_types.len() > 2 {
                return plan_err!("{} takes the arguments of {}", self.name, self.window);
            }
            &arg_types[..1]
        };
        if let Some(t) = features.iter().find(|t| !t.is_numeric() && !t.is_null()) {
            return plan_err!("{}: every value must be a number, got {t}", self.name);
        }
        Ok(model_type())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let columns = if self.window == "kmeans" {
            args.input_fields.len().saturating_sub(1)
        } else {
            1
        };
        Ok((0..columns)
            .map(|i| {
                Arc::new(Field::new(
                    format!("{}[{i}]", args.name),
                    model_type(),
                    true,
                ))
            })
            .collect())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let kind = if self.window == "kmeans" {
            let k = self.literal(&args, 0, "k")?.unwrap_or(ScalarValue::Null);
            Fit::KMeans {
                k: clusters(k)?,
                columns: vec![Vec::new(); args.exprs.len().saturating_sub(1)],
            }
        } else {
            let second = self.literal(&args, 1, "its second argument")?;
            let (n, reversed) = bin_settings(self.window, second)?;
            Fit::Quantile {
                n,
                reversed,
                values: Vec::new(),
            }
        };
        Ok(Box::new(kind))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.window {
            "kmeans" => &KMEANS_FIT_DOC,
            "rfm_score" => &RFM_SCORE_FIT_DOC,
            _ => &QUANTILE_BIN_FIT_DOC,
        })
    }
}

/// The population seen so far: the values to cut, or the complete rows to cluster.
#[derive(Debug)]
enum Fit {
    Quantile {
        n: usize,
        reversed: bool,
        values: Vec<f64>,
    },
    KMeans {
        k: usize,
        columns: Vec<Vec<f64>>,
    },
}

impl Fit {
    fn columns_mut(&mut self) -> Vec<&mut Vec<f64>> {
        match self {
            Fit::Quantile { values, .. } => vec![values],
            Fit::KMeans { columns, .. } => columns.iter_mut().collect(),
        }
    }
}

impl Accumulator for Fit {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |a| a.len());
        match self {
            Fit::Quantile { values: seen, .. } => {
                let x = cast(&values[0], &DataType::Float64)?;
                let x = x.as_primitive::<Float64Type>();
                seen.extend(x.iter().flatten().filter(|v| !v.is_nan()));
            }
            Fit::KMeans { columns, .. } => {
                let (_, complete) = complete_rows(&values[1..], rows)?;
                for (column, more) in columns.iter_mut().zip(complete) {
                    column.extend(more);
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (column, state) in self.columns_mut().into_iter().zip(states) {
            let lists = state.as_list::<i32>();
            for list in lists.iter().flatten() {
                column.extend(list.as_primitive::<Float64Type>().iter().flatten());
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self
            .columns_mut()
            .into_iter()
            .map(|c| list_scalar(std::mem::take(c)))
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let model = match self {
            Fit::Quantile {
                n,
                reversed,
                values,
            } => {
                let mut model = vec![*n as f64, if *reversed { 1.0 } else { 0.0 }];
                model.extend(quantile_cuts(values, *n));
                model
            }
            Fit::KMeans { k, columns } => KMeansModel::fit(std::mem::take(columns), *k).to_values(),
        };
        Ok(list_scalar(model))
    }

    fn size(&self) -> usize {
        let held = match self {
            Fit::Quantile { values, .. } => values.capacity(),
            Fit::KMeans { columns, .. } => columns.iter().map(Vec::capacity).sum(),
        };
        size_of::<Self>() + held * size_of::<f64>()
    }
}

/// `quantile_bin_apply(model, x)` and `kmeans_apply(model, feature1, …)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PopulationApply {
    name: &'static str,
    signature: Signature,
}

impl PopulationApply {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    /// The model in a list of numbers, read once for all the rows it applies to.
    fn model(&self, numbers: &[f64]) -> Result<Model> {
        if self.name == "kmeans_apply" {
            return match KMeansModel::from_values(numbers) {
                Some(m) => Ok(Model::KMeans(m)),
                None => exec_err!("kmeans_apply: the model is not one of kmeans_fit"),
            };
        }
        match numbers {
            [n, reversed, cuts @ ..] => Ok(Model::Quantile {
                n: *n as i64,
                reversed: *reversed != 0.0,
                cuts: cuts.to_vec(),
            }),
            _ => exec_err!("quantile_bin_apply: the model is not one of quantile_bin_fit"),
        }
    }
}

/// A model read from its list of numbers.
enum Model {
    Quantile {
        n: i64,
        reversed: bool,
        cuts: Vec<f64>,
    },
    KMeans(KMeansModel),
}

impl Model {
    /// Row `row`'s answer; `point` is scratch space for one row's values.
    fn answer(&self, values: &[Float64Array], row: usize, point: &mut Vec<f64>) -> Option<i64> {
        point.clear();
        for v in values {
            if v.is_null(row) {
                return None;
            }
            point.push(v.value(row));
        }
        match self {
            Model::Quantile { n, reversed, cuts } => {
                let x = *point.first()?;
                if x.is_nan() {
                    return None;
                }
                let bin = bin_of(x, cuts);
                Some(if *reversed { n + 1 - bin } else { bin })
            }
            Model::KMeans(model) => {
                if point.iter().any(|v| !v.is_finite()) {
                    return None;
                }
                model.assign(point)
            }
        }
    }
}

impl ScalarUDFImpl for PopulationApply {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let wanted = if self.name == "kmeans_apply" {
            2..usize::MAX
        } else {
            2..3
        };
        if !wanted.contains(&arg_types.len()) || !matches!(arg_types[0], DataType::List(_)) {
            return plan_err!(
                "{} takes a model (the result of {}) and the row's values",
                self.name,
                if self.name == "kmeans_apply" {
                    "kmeans_fit"
                } else {
                    "quantile_bin_fit or rfm_score_fit"
                }
            );
        }
        if let Some(t) = arg_types[1..]
            .iter()
            .find(|t| !t.is_numeric() && !t.is_null())
        {
            return plan_err!("{}: every value must be a number, got {t}", self.name);
        }
        Ok(DataType::Int64)
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let values = args.args[1..]
            .iter()
            .map(|v| {
                let a = v.to_array(rows)?;
                Ok(cast(&a, &DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone())
            })
            .collect::<Result<Vec<_>>>()?;
        let numbers = |list: ArrayRef| -> Vec<f64> {
            list.as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect()
        };
        let mut point = Vec::with_capacity(values.len());
        let out: Int64Array = match &args.args[0] {
            // The usual case: one model for every row, read once.
            ColumnarValue::Scalar(ScalarValue::List(list)) if list.len() == 1 => {
                if list.is_null(0) {
                    Int64Array::new_null(rows)
                } else {
                    let model = self.model(&numbers(list.value(0)))?;
                    (0..rows)
                        .map(|i| model.answer(&values, i, &mut point))
                        .collect()
                }
            }
            other => {
                let models = other.to_array(rows)?;
                let Some(models) = models.as_list_opt::<i32>() else {
                    return exec_err!("{}: the model must be a list of numbers", self.name);
                };
                (0..rows)
                    .map(|i| {
                        if models.is_null(i) {
                            return Ok(None);
                        }
                        let model = self.model(&numbers(models.value(i)))?;
                        Ok(model.answer(&values, i, &mut point))
                    })
                    .collect::<Result<_>>()?
            }
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(if self.name == "kmeans_apply" {
            &KMEANS_APPLY_DOC
        } else {
            &QUANTILE_BIN_APPLY_DOC
        })
    }
}

static QUANTILE_BIN_FIT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STATISTICAL,
        "The model of quantile_bin(x, n) OVER (): n, 0, then the n - 1 cut points (the values of \
         rank ceil((b - 1) × count / n), b = 2..n). quantile_bin_apply(model, x) gives each row \
         the bin quantile_bin would. A refresh uses the pair so no step holds the population.",
        "quantile_bin_fit(x, n)",
    )
    .with_argument("x", "a numeric expression")
    .with_argument("n", "number of bins (integer literal)")
    .with_sql_example("SELECT quantile_bin_fit(spend_365d, 10) FROM customer.profile")
    .build()
});

static RFM_SCORE_FIT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STATISTICAL,
        "The model of rfm_score(x [, higher_is_better]) OVER (): 5, 1 when lower is better, then \
         the quintile cut points; apply it with quantile_bin_apply(model, x).",
        "rfm_score_fit(x [, higher_is_better])",
    )
    .with_argument("x", "recency, frequency or monetary value")
    .with_argument("higher_is_better", "true (default) or false, a literal")
    .with_sql_example("SELECT rfm_score_fit(recency_days, false) FROM customer.profile")
    .build()
});

static KMEANS_FIT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STATISTICAL,
        "The model of kmeans(k, …) OVER (), fitted the same way over the rows whose features are \
         all present: dims, k, each feature's mean and standard deviation, then each centre's id \
         and coordinates. kmeans_apply(model, feature1, …) gives each row its cluster.",
        "kmeans_fit(k, feature1 [, feature2, …])",
    )
    .with_argument("k", "number of clusters (integer literal)")
    .with_argument("feature1, …", "numeric features")
    .with_sql_example(
        "SELECT kmeans_fit(4, recency_days, orders_365d, spend_365d) FROM customer.profile",
    )
    .build()
});

static QUANTILE_BIN_APPLY_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The bin of x under a model of quantile_bin_fit or rfm_score_fit: the same number \
         quantile_bin(x, n) OVER () or rfm_score(x) OVER () gives over the fitted population. \
         NULL stays NULL.",
        "quantile_bin_apply(model, x)",
    )
    .with_argument("model", "the result of quantile_bin_fit or rfm_score_fit")
    .with_argument("x", "a numeric expression")
    .with_sql_example(
        "SELECT customer_id, quantile_bin_apply(m, spend_365d) FROM customer.profile,\n  (SELECT quantile_bin_fit(spend_365d, 10) AS m FROM customer.profile)",
    )
    .build()
});

static KMEANS_APPLY_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The cluster of a row under a model of kmeans_fit: its features standardised as the \
         model's were, then the id of the nearest centre. NULL when a feature is NULL.",
        "kmeans_apply(model, feature1 [, feature2, …])",
    )
    .with_argument("model", "the result of kmeans_fit")
    .with_argument("feature1, …", "the features, in the fit's order")
    .with_sql_example(
        "SELECT customer_id, kmeans_apply(m, recency_days, orders_365d) FROM customer.profile,\n  (SELECT kmeans_fit(4, recency_days, orders_365d) AS m FROM customer.profile)",
    )
    .build()
});
