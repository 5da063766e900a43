//! Value-frequency aggregates: `most_frequent(x)`, `top_n(x, n)`, `unique_list(x)`,
//! `unique_count(x)`. One state — how often each group saw each value — serves all four; it is
//! kept flat for all groups at once ([`super::frequency_groups`]).
//!
//! `unique_count` is also the way around the distinct-aggregate memory trap of
//! PERFORMANCE.md: it is an ordinary aggregate, so it can sit next to `count(*)` and `sum(…)` in
//! one GROUP BY over a million customers without DataFusion's distinct rewrite.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature, Volatility,
};

use super::frequency_groups::{FrequencyGroups, FrequencySingle};
use super::literal_arg;
use super::values::{KeyKind, value_type};

/// What a frequency aggregate returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    /// The most frequent value; ties go to the smallest value.
    MostFrequent,
    /// The `n` most frequent values, most frequent first (ties: smaller value first).
    TopN(usize),
    /// Every distinct value, sorted.
    UniqueList,
    /// The number of distinct values.
    UniqueCount,
}

/// The SQL functions: one struct, four names.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FrequencyUdaf {
    name: &'static str,
    output: Output,
    signature: Signature,
}

impl FrequencyUdaf {
    pub fn most_frequent() -> Self {
        Self::new("most_frequent", Output::MostFrequent, 1)
    }
    pub fn top_n() -> Self {
        Self::new("top_n", Output::TopN(0), 2)
    }
    pub fn unique_list() -> Self {
        Self::new("unique_list", Output::UniqueList, 1)
    }
    pub fn unique_count() -> Self {
        Self::new("unique_count", Output::UniqueCount, 1)
    }

    fn new(name: &'static str, output: Output, args: usize) -> Self {
        Self {
            name,
            output,
            signature: Signature::any(args, Volatility::Immutable),
        }
    }

    fn aggregate(&self, args: &AccumulatorArgs) -> Result<(Output, DataType, KeyKind)> {
        let input = args.expr_fields[0].data_type();
        let output = match self.output {
            Output::TopN(_) => {
                let n = literal_arg(self.name, args, 1, "n")?;
                match usize::try_from(n) {
                    Ok(n) if n > 0 => Output::TopN(n),
                    _ => return plan_err!("top_n(x, n): n must be a positive integer, got {n}"),
                }
            }
            other => other,
        };
        Ok((output, value_type(input), KeyKind::of(input)))
    }
}

impl AggregateUDFImpl for FrequencyUdaf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let value = value_type(&arg_types[0]);
        Ok(match self.output {
            Output::MostFrequent => value,
            Output::UniqueCount => DataType::Int64,
            Output::TopN(_) | Output::UniqueList => {
                DataType::List(Arc::new(Field::new_list_field(value, true)))
            }
        })
    }

    fn is_nullable(&self) -> bool {
        self.output != Output::UniqueCount
    }

    fn default_value(&self, data_type: &DataType) -> Result<datafusion::common::ScalarValue> {
        if self.output == Output::UniqueCount {
            Ok(datafusion::common::ScalarValue::Int64(Some(0)))
        } else {
            datafusion::common::ScalarValue::try_from(data_type)
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let value = value_type(args.input_fields[0].data_type());
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "values"),
                DataType::List(Arc::new(Field::new_list_field(value, true))),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "counts"),
                DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, true))),
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let (output, value_type, kind) = self.aggregate(&args)?;
        Ok(match kind {
            KeyKind::Int => Box::new(FrequencySingle::<i64>::new(output, value_type)?),
            KeyKind::Text => Box::new(FrequencySingle::<Box<str>>::new(output, value_type)?),
        })
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let (output, value_type, kind) = self.aggregate(&args)?;
        Ok(match kind {
            KeyKind::Int => Box::new(FrequencyGroups::<i64>::new(output, value_type)),
            KeyKind::Text => Box::new(FrequencyGroups::<Box<str>>::new(output, value_type)),
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.output {
            Output::MostFrequent => &MOST_FREQUENT_DOC,
            Output::TopN(_) => &TOP_N_DOC,
            Output::UniqueList => &UNIQUE_LIST_DOC,
            Output::UniqueCount => &UNIQUE_COUNT_DOC,
        })
    }
}

use datafusion::logical_expr::aggregate_doc_sections::DOC_SECTION_GENERAL;

static MOST_FREQUENT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "The value that occurs most often in the group (the mode), NULLs ignored; ties go to the \
         smallest value, so the result is the same on every run. Returns the argument's type; \
         NULL when the group has no value.",
        "most_frequent(expression)",
    )
    .with_argument("expression", "the values to count")
    .with_sql_example(
        "CREATE TAG customer.favorite_channel AS\n  (SELECT customer_id, most_frequent(channel) FROM orders GROUP BY customer_id)",
    )
    .build()
});

static TOP_N_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "The n most frequent values of the group as a list, most frequent first (ties: smaller \
         value first), NULLs ignored; NULL when the group has no value. Exact, not sampled \
         (ClickHouse's topK is approximate).",
        "top_n(expression, n)",
    )
    .with_argument("expression", "the values to count")
    .with_argument("n", "how many values to keep: a positive integer literal")
    .with_sql_example("SELECT customer_id, top_n(category, 3) FROM orders GROUP BY customer_id")
    .build()
});

static UNIQUE_LIST_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "Every distinct value of the group as a sorted list (ClickHouse groupUniqArray, sorted), \
         NULLs ignored; NULL when the group has no value.",
        "unique_list(expression)",
    )
    .with_argument("expression", "the values to collect")
    .with_sql_example("SELECT customer_id, unique_list(channel) FROM orders GROUP BY customer_id")
    .build()
});

static UNIQUE_COUNT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "The number of distinct non-NULL values of the group (0 for none). Same result as \
         count(DISTINCT x), but an ordinary aggregate: it can share one GROUP BY with other \
         aggregates over millions of keys without DataFusion's distinct rewrite and its memory \
         growth.",
        "unique_count(expression)",
    )
    .with_argument("expression", "the values to count")
    .with_sql_example(
        "SELECT customer_id, count(*), unique_count(CAST(ts AS DATE)) AS active_days\nFROM app_events GROUP BY customer_id",
    )
    .build()
});
