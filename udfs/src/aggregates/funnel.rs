//! `window_funnel(window, ts, step1, step2, …)` and `retention(cond1, cond2, …)`, with the
//! semantics of ClickHouse's `windowFunnel` (default mode) and `retention`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, UInt8Array, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit, UInt8Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::aggregate_doc_sections::DOC_SECTION_GENERAL;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature, Volatility,
};

use super::funnel_groups::FunnelGroups;
use super::groups::{GroupAggregate, Single};
use super::literal_arg;
use super::retention_groups::RetentionGroups;
use super::values::list;

/// At most this many steps or conditions (ClickHouse has the same limit).
const MAX_STEPS: usize = 32;
const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

fn booleans(values: &[ArrayRef]) -> Result<Vec<BooleanArray>> {
    values
        .iter()
        .map(|v| Ok(cast(v, &DataType::Boolean)?.as_boolean().clone()))
        .collect()
}

fn check_conditions(name: &str, conditions: &[DataType]) -> Result<()> {
    if conditions.is_empty() || conditions.len() > MAX_STEPS {
        return plan_err!(
            "{name} takes 1 to {MAX_STEPS} conditions, got {}",
            conditions.len()
        );
    }
    if let Some(t) = conditions
        .iter()
        .find(|t| !matches!(t, DataType::Boolean | DataType::Null))
    {
        return plan_err!("{name}: every condition must be a boolean expression, got {t}");
    }
    Ok(())
}

/// Timestamps as microseconds, dates as midnight in microseconds, integers as they are.
fn ticks(ts: &ArrayRef) -> Result<Int64Array> {
    let micros = match ts.data_type() {
        DataType::Timestamp(_, tz) => cast(
            &cast(ts, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?,
            &DataType::Int64,
        )?,
        DataType::Date32 => {
            let days = cast(&cast(ts, &DataType::Int32)?, &DataType::Int64)?;
            let days = days.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            Arc::new(
                days.unary::<_, datafusion::arrow::datatypes::Int64Type>(|d| d * MICROS_PER_DAY),
            )
        }
        _ => cast(ts, &DataType::Int64)?,
    };
    Ok(micros.as_primitive().clone())
}

// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub(super) struct Funnel {
    /// The window in the unit of the ticks.
    pub(super) window: i64,
    pub(super) steps: usize,
}

/// The funnel level reached by `events` = (tick, step) pairs, steps numbered from 1.
pub fn funnel_level(events: &mut [(i64, u8)], window: i64, steps: usize) -> i64 {
    events.sort_unstable();
    // For each step reached: the start tick of the chain that reached it.
    let mut started: Vec<Option<i64>> = vec![None; steps];
    for &(tick, step) in events.iter() {
        let step = usize::from(step) - 1;
        if step == 0 {
            started[0] = Some(tick);
        } else if let Some(start) = started[step - 1]
            && tick <= start.saturating_add(window)
        {
            started[step] = Some(start);
            if step + 1 == steps {
                return steps as i64;
            }
        }
    }
    started
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |i| i as i64 + 1)
}

impl GroupAggregate for Funnel {
    type State = Vec<(i64, u8)>;
    type Rows = (Int64Array, Vec<BooleanArray>);
    type Partials = (ListArray, Int64Array, UInt8Array);

    fn rows(&self, values: &[ArrayRef]) -> Result<Self::Rows> {
        Ok((ticks(&values[1])?, booleans(&values[2..])?))
    }

    fn update(&self, state: &mut Self::State, (ts, steps): &Self::Rows, row: usize) -> usize {
        if ts.is_null(row) {
            return 0;
        }
        let before = state.len();
        for (i, step) in steps.iter().enumerate() {
            if step.is_valid(row) && step.value(row) {
                state.push((ts.value(row), i as u8 + 1));
            }
        }
        (state.len() - before) * size_of::<(i64, u8)>()
    }

    fn partials(&self, values: &[ArrayRef]) -> Result<Self::Partials> {
        let Some(ts) = values[0].as_list_opt::<i32>() else {
            return exec_err!("window_funnel state: expected a list of ticks");
        };
        let Some(steps) = values[1].as_list_opt::<i32>() else {
            return exec_err!("window_funnel state: expected a list of steps");
        };
        let Some(step_values) = steps.values().as_primitive_opt::<UInt8Type>() else {
            return exec_err!("window_funnel state: expected UInt8 steps");
        };
        Ok((
            ts.clone(),
            ts.values().as_primitive().clone(),
            step_values.clone(),
        ))
    }

    fn merge(
        &self,
        state: &mut Self::State,
        (lists, ts, steps): &Self::Partials,
        row: usize,
    ) -> usize {
        let offsets = lists.value_offsets();
        let range = offsets[row] as usize..offsets[row + 1] as usize;
        let added = range.len();
        state.extend(range.map(|i| (ts.value(i), steps.value(i))));
        added * size_of::<(i64, u8)>()
    }

    fn state(&self, states: &[Self::State]) -> Result<Vec<ArrayRef>> {
        let lengths: Vec<Option<usize>> = states.iter().map(|s| Some(s.len())).collect();
        let ts: Int64Array = states.iter().flatten().map(|e| Some(e.0)).collect();
        let steps: UInt8Array = states.iter().flatten().map(|e| Some(e.1)).collect();
        Ok(vec![
            list(&DataType::Int64, lengths.clone(), Arc::new(ts))?,
            list(&DataType::UInt8, lengths, Arc::new(steps))?,
        ])
    }

    fn evaluate(&self, states: &[Self::State]) -> Result<ArrayRef> {
        Ok(Arc::new(
            states
                .iter()
                .map(|s| Some(funnel_level(&mut s.clone(), self.window, self.steps)))
                .collect::<Int64Array>(),
        ))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnel {
    signature: Signature,
}

impl WindowFunnel {
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    fn funnel(&self, args: &AccumulatorArgs) -> Result<Arc<Funnel>> {
        let window = literal_arg("window_funnel", args, 0, "window")?;
        if window < 0 {
            return plan_err!("window_funnel: the window must not be negative, got {window}");
        }
        let temporal = matches!(
            args.expr_fields[1].data_type(),
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
        );
        Ok(Arc::new(Funnel {
            window: if temporal {
                window.saturating_mul(MICROS_PER_SECOND)
            } else {
                window
            },
            steps: args.exprs.len() - 2,
        }))
    }
}

impl Default for WindowFunnel {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for WindowFunnel {
    fn name(&self) -> &str {
        "window_funnel"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() < 3 {
            return plan_err!(
                "window_funnel(window, ts, step1, step2, …) needs a window, a time and at least one step"
            );
        }
        if !arg_types[0].is_integer() {
            return plan_err!(
                "window_funnel: the window must be an integer (seconds for a timestamp or date), got {}",
                arg_types[0]
            );
        }
        if !(arg_types[1].is_integer()
            || matches!(arg_types[1], DataType::Timestamp(_, _) | DataType::Date32))
        {
            return plan_err!(
                "window_funnel: the time must be a timestamp, date or integer, got {}",
                arg_types[1]
            );
        }
        check_conditions("window_funnel", &arg_types[2..])?;
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "ticks"),
                DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "steps"),
                DataType::List(Arc::new(Field::new_list_field(DataType::UInt8, true))),
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Single::new(self.funnel(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(FunnelGroups::new(self.funnel(&args)?)))
    }

    fn default_value(&self, _data_type: &DataType) -> Result<datafusion::common::ScalarValue> {
        Ok(datafusion::common::ScalarValue::Int64(Some(0)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&WINDOW_FUNNEL_DOC)
    }
}

static WINDOW_FUNNEL_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "How far the group got through an ordered funnel within a time window: the largest k such \
         that there are events matching step1, step2, …, stepk in that order, each at most \
         `window` after the step1 event that started the chain (ClickHouse windowFunnel, default \
         mode). 0 when no event matches step1. Events are ordered by time; an event may match \
         several steps. Up to 32 steps.",
        "window_funnel(window, ts, step1, step2, …)",
    )
    .with_argument(
        "window",
        "integer literal: seconds when ts is a timestamp or date, otherwise ts's own unit",
    )
    .with_argument("ts", "event time: timestamp, date or integer")
    .with_argument("step1, step2, …", "boolean conditions, in funnel order")
    .with_sql_example(
        "SELECT customer_id, window_funnel(86400, ts, event = 'view', event = 'add_cart', event = 'pay')\nFROM app_events GROUP BY customer_id",
    )
    .build()
});

// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct RetentionAgg {
    conditions: usize,
}

/// The retention flags of a group whose conditions seen are the bits of `mask`.
pub fn retention_flags(mask: u64, conditions: usize) -> Vec<u8> {
    let mut flags = Vec::with_capacity(conditions);
    push_flags(&mut flags, mask, conditions);
    flags
}

/// Appends the retention flags of `mask` to `flags`: flag `i` is 1 when conditions 1 and `i`
/// were both met.
pub(crate) fn push_flags(flags: &mut Vec<u8>, mask: u64, conditions: usize) {
    let first = mask & 1 == 1;
    flags.extend((0..conditions).map(|i| u8::from(first && mask >> i & 1 == 1)));
}

impl GroupAggregate for RetentionAgg {
    type State = u64;
    type Rows = Vec<BooleanArray>;
    type Partials = UInt64Array;

    fn rows(&self, values: &[ArrayRef]) -> Result<Self::Rows> {
        booleans(values)
    }

    fn update(&self, state: &mut u64, conditions: &Self::Rows, row: usize) -> usize {
        for (i, c) in conditions.iter().enumerate() {
            if c.is_valid(row) && c.value(row) {
                *state |= 1 << i;
            }
        }
        0
    }

    fn partials(&self, values: &[ArrayRef]) -> Result<UInt64Array> {
        match values[0].as_primitive_opt() {
            Some(a) => Ok(a.clone()),
            None => exec_err!("retention state: expected UInt64 masks"),
        }
    }

    fn merge(&self, state: &mut u64, masks: &UInt64Array, row: usize) -> usize {
        *state |= masks.value(row);
        0
    }

    fn state(&self, states: &[u64]) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(UInt64Array::from(states.to_vec()))])
    }

    fn evaluate(&self, states: &[u64]) -> Result<ArrayRef> {
        let flags: UInt8Array = states
            .iter()
            .flat_map(|m| retention_flags(*m, self.conditions))
            .map(Some)
            .collect();
        list(
            &DataType::UInt8,
            vec![Some(self.conditions); states.len()],
            Arc::new(flags),
        )
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    signature: Signature,
}

impl Retention {
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for Retention {
    fn name(&self) -> &str {
        "retention"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_conditions("retention", arg_types)?;
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::UInt8,
            true,
        ))))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "seen"),
            DataType::UInt64,
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Single::new(Arc::new(RetentionAgg {
            conditions: args.exprs.len(),
        }))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RetentionGroups::new(args.exprs.len())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&RETENTION_DOC)
    }
}

static RETENTION_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "Retention flags of the group (ClickHouse retention): a list of 0/1, one per condition; \
         the first is 1 when any row met cond1, the i-th is 1 when some row met cond1 and some \
         row met cond_i. Sum the flags over customers for a retention table. Up to 32 conditions.",
        "retention(cond1, cond2, …)",
    )
    .with_argument("cond1", "the cohort condition (e.g. active on day 0)")
    .with_argument("cond2, …", "later conditions (e.g. active on day 1, day 7)")
    .with_sql_example(
        "SELECT customer_id, retention(CAST(ts AS DATE) = DATE '2026-06-01',\n  CAST(ts AS DATE) = DATE '2026-06-02', CAST(ts AS DATE) = DATE '2026-06-08')\nFROM app_events GROUP BY customer_id",
    )
    .build()
});
