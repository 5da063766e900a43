use std::sync::LazyLock;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_MATH;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{Args, array};

/// Shortest text for an edge: `100` rather than `100.0`.
fn edge(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The label of `x` among ascending `edges`: `<e1`, `[e1, e2)`, …, `>=en`.
pub fn range_label(x: f64, edges: &[f64]) -> String {
    match edges.iter().position(|e| x < *e) {
        Some(0) => format!("<{}", edge(edges[0])),
        Some(i) => format!("[{}, {})", edge(edges[i - 1]), edge(edges[i])),
        None => format!(">={}", edge(edges[edges.len() - 1])),
    }
}

/// `range_bin(x, edge1, edge2, …)`: a readable label for the range `x` falls in.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RangeBin {
    signature: Signature,
}

impl RangeBin {
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for RangeBin {
    fn default() -> Self {
        Self::new()
    }
}

static RANGE_BIN_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_MATH,
        "Range binning: the label of the range a number falls in, given ascending edges — \
         '<e1', '[e1, e2)', …, '>=en'; NULL stays NULL. For quantile binning use \
         ntile(n) OVER (ORDER BY x) in a model tag.",
        "range_bin(x, edge1 [, edge2, …])",
    )
    .with_argument("x", "the number to bin")
    .with_argument("edges", "one or more ascending numbers")
    .with_sql_example("CREATE TAG customer.spend_band AS range_bin(spend_365d, 0, 500, 2000, 5000)")
    .build()
});

impl ScalarUDFImpl for RangeBin {
    fn name(&self) -> &str {
        "range_bin"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.len() < 2 || !args.iter().all(|t| t.is_numeric() || t.is_null()) {
            return plan_err!(
                "range_bin expects a number and at least one numeric edge, got {args:?}"
            );
        }
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let call = Args::new(&args);
        let rows = call.rows;
        let columns = (0..call.len())
            .map(|i| call.floats(i))
            .collect::<Result<Vec<_>>>()?;
        let mut edges = Vec::with_capacity(columns.len() - 1);
        let out: StringArray = (0..rows)
            .map(|i| {
                if columns.iter().any(|c| c.is_null(i)) {
                    return None;
                }
                edges.clear();
                edges.extend(columns[1..].iter().map(|c| c.value(i)));
                edges.sort_by(f64::total_cmp);
                Some(range_label(columns[0].value(i), &edges))
            })
            .collect();
        call.finish(array(out))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&RANGE_BIN_DOC)
    }
}
