//! Behaviour aggregates that statistic tags need and SQL lacks: most frequent value, top-N list,
//! unique list and count, an ordered funnel within a window and retention flags. Each runs as a
//! `GroupsAccumulator`, the fast path for `GROUP BY customer_id`: the frequency aggregates with
//! their own flat state ([`frequency_groups`]), `window_funnel` with a flat event arena
//! ([`funnel_groups`]), `retention` with one mask per group, filled from bitmaps
//! ([`retention_groups`]).

mod counts;
mod frequency;
mod frequency_groups;
mod funnel;
mod funnel_groups;
pub(crate) mod groups;
mod interner;
mod retention_groups;
mod values;

pub use frequency::{FrequencyUdaf, Output};
pub use funnel::{Retention, WindowFunnel, funnel_level, retention_flags};

use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::AggregateUDF;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::physical_expr::expressions::Literal;

/// Every behaviour aggregate.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(FrequencyUdaf::most_frequent()),
        AggregateUDF::from(FrequencyUdaf::top_n()),
        AggregateUDF::from(FrequencyUdaf::unique_list()),
        AggregateUDF::from(FrequencyUdaf::unique_count()),
        AggregateUDF::from(WindowFunnel::new()),
        AggregateUDF::from(Retention::new()),
    ]
}

/// Argument `i` of an aggregate call, which must be an integer literal.
pub(crate) fn literal_arg(
    function: &str,
    args: &AccumulatorArgs,
    i: usize,
    what: &str,
) -> Result<i64> {
    let value = args
        .exprs
        .get(i)
        .and_then(|e| e.downcast_ref::<Literal>())
        .map(|l| l.value().clone());
    match value.map(|v| v.cast_to(&datafusion::arrow::datatypes::DataType::Int64)) {
        Some(Ok(ScalarValue::Int64(Some(n)))) => Ok(n),
        _ => plan_err!("{function}: {what} must be an integer literal"),
    }
}

#[cfg(test)]
mod frequency_tests;
#[cfg(test)]
mod funnel_tests;
#[cfg(test)]
mod tests;
