//! Value-frequency aggregates: `most_frequent(x)`, `top_n(x, n)`, `unique_list(x)`,
//! `unique_count(x)`. One per-group state — a hash map from value to count — serves all four.
//!
//! `unique_count` is also the way around the distinct-aggregate memory trap of
//! PERFORMANCE.md: it is an ordinary aggregate, so it can sit next to `count(*)` and `sum(…)` in
//! one GROUP BY over a million customers without DataFusion's distinct rewrite.

use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, ListArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{HashMap, Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature, Volatility,
};

use super::groups::{GroupAggregate, Groups, Single};
use super::literal_arg;
use super::values::{Key, KeyKind, from_keys, list, to_keys, u64_lists, value_type};

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

#[derive(Debug)]
struct Frequency<K> {
    output: Output,
    /// The type values are returned in (the argument's type).
    value_type: DataType,
    kind: KeyKind,
    key: PhantomData<fn() -> K>,
}

impl<K: Key> Frequency<K> {
    /// The state's entries, most frequent first (ties: smaller value first).
    fn ranked(state: &HashMap<K, u64>) -> Vec<(&K, u64)> {
        let mut entries: Vec<(&K, u64)> = state.iter().map(|(k, c)| (k, *c)).collect();
        entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        entries
    }

    fn values_list(&self, lengths: Vec<Option<usize>>, keys: Vec<&K>) -> Result<ArrayRef> {
        let values = from_keys(&K::build(keys.into_iter().map(Some)), &self.value_type)?;
        list(&self.value_type, lengths, values)
    }
}

impl<K: Key> GroupAggregate for Frequency<K> {
    type State = HashMap<K, u64>;
    type Rows = K::Array;
    type Partials = (ListArray, K::Array, UInt64Array);

    fn rows(&self, values: &[ArrayRef]) -> Result<K::Array> {
        K::downcast(&to_keys(&values[0], self.kind)?)
    }

    fn update(&self, state: &mut Self::State, rows: &K::Array, row: usize) -> usize {
        if rows.is_null(row) {
            return 0;
        }
        add(state, K::get(rows, row), 1)
    }

    fn partials(&self, values: &[ArrayRef]) -> Result<Self::Partials> {
        let Some(lists) = values[0].as_any().downcast_ref::<ListArray>() else {
            return exec_err!("frequency state: expected a list of values");
        };
        let keys = K::downcast(&to_keys(lists.values(), self.kind)?)?;
        let (_, counts) = u64_lists(&values[1])?;
        Ok((lists.clone(), keys, counts))
    }

    fn merge(
        &self,
        state: &mut Self::State,
        (lists, keys, counts): &Self::Partials,
        row: usize,
    ) -> usize {
        if lists.is_null(row) {
            return 0;
        }
        let offsets = lists.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        (start..end)
            .map(|i| add(state, K::get(keys, i), counts.value(i)))
            .sum()
    }

    fn state(&self, states: &[Self::State]) -> Result<Vec<ArrayRef>> {
        let lengths: Vec<Option<usize>> = states.iter().map(|s| Some(s.len())).collect();
        let keys: Vec<&K> = states.iter().flat_map(|s| s.keys()).collect();
        let counts: UInt64Array = states.iter().flat_map(|s| s.values().copied()).collect();
        Ok(vec![
            self.values_list(lengths.clone(), keys)?,
            list(&DataType::UInt64, lengths, Arc::new(counts))?,
        ])
    }

    fn evaluate(&self, states: &[Self::State]) -> Result<ArrayRef> {
        match self.output {
            Output::UniqueCount => Ok(Arc::new(
                states
                    .iter()
                    .map(|s| Some(s.len() as i64))
                    .collect::<Int64Array>(),
            )),
            Output::MostFrequent => {
                let best = states
                    .iter()
                    .map(|s| Self::ranked(s).first().map(|(k, _)| *k));
                from_keys(&K::build(best), &self.value_type)
            }
            Output::TopN(n) => {
                let mut lengths = Vec::with_capacity(states.len());
                let mut keys = Vec::new();
                for s in states {
                    if s.is_empty() {
                        lengths.push(None);
                        continue;
                    }
                    let top = Self::ranked(s);
                    let take = top.len().min(n);
                    lengths.push(Some(take));
                    keys.extend(top.into_iter().take(take).map(|(k, _)| k));
                }
                self.values_list(lengths, keys)
            }
            Output::UniqueList => {
                let mut lengths = Vec::with_capacity(states.len());
                let mut keys = Vec::new();
                for s in states {
                    if s.is_empty() {
                        lengths.push(None);
                        continue;
                    }
                    let mut sorted: Vec<&K> = s.keys().collect();
                    sorted.sort_unstable();
                    lengths.push(Some(sorted.len()));
                    keys.extend(sorted);
                }
                self.values_list(lengths, keys)
            }
        }
    }
}

fn add<K: Key>(state: &mut HashMap<K, u64>, key: &K::Ref, count: u64) -> usize {
    if let Some(c) = state.get_mut(key) {
        *c += count;
        0
    } else {
        let key = K::own(key);
        let bytes = size_of::<(K, u64)>() + key.heap();
        state.insert(key, count);
        bytes
    }
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

macro_rules! by_kind {
    ($self:ident, $args:ident, $wrap:ident) => {{
        let (output, value_type, kind) = $self.aggregate(&$args)?;
        match kind {
            KeyKind::Int => Box::new($wrap::new(Arc::new(Frequency::<i64> {
                output,
                value_type,
                kind,
                key: PhantomData,
            }))),
            KeyKind::Text => Box::new($wrap::new(Arc::new(Frequency::<Box<str>> {
                output,
                value_type,
                kind,
                key: PhantomData,
            }))),
        }
    }};
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
        Ok(by_kind!(self, args, Single))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(by_kind!(self, args, Groups))
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
