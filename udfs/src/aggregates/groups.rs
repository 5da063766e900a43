//! One implementation per aggregate, two ways to run it: as a [`GroupsAccumulator`] (a `Vec` of
//! per-group states, the fast path DataFusion takes for `GROUP BY customer_id` over millions of
//! keys) and as a plain [`Accumulator`] (no GROUP BY, window frames). An aggregate only says how
//! one group's state takes a row, merges a partial state and turns into a value.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

pub(crate) trait GroupAggregate: Debug + Send + Sync + 'static {
    /// One group's state.
    type State: Default + Debug + Send + Sync + 'static;
    /// A batch of input arguments, downcast once per batch.
    type Rows;
    /// A batch of partial states (the arrays [`Self::state`] produced), downcast once per batch.
    type Partials;

    fn rows(&self, values: &[ArrayRef]) -> Result<Self::Rows>;
    /// Adds input row `row`; returns roughly how many bytes the state grew by.
    fn update(&self, state: &mut Self::State, rows: &Self::Rows, row: usize) -> usize;
    fn partials(&self, values: &[ArrayRef]) -> Result<Self::Partials>;
    /// Merges partial state `row`; returns roughly how many bytes the state grew by.
    fn merge(&self, state: &mut Self::State, partials: &Self::Partials, row: usize) -> usize;
    /// The partial states, one row per group, in the order of `state_fields`.
    fn state(&self, states: &[Self::State]) -> Result<Vec<ArrayRef>>;
    /// The final values, one row per group.
    fn evaluate(&self, states: &[Self::State]) -> Result<ArrayRef>;
}

/// Runs a [`GroupAggregate`] as a [`GroupsAccumulator`].
#[derive(Debug)]
pub(crate) struct Groups<A: GroupAggregate> {
    aggregate: Arc<A>,
    states: Vec<A::State>,
    bytes: usize,
}

impl<A: GroupAggregate> Groups<A> {
    pub fn new(aggregate: Arc<A>) -> Self {
        Self {
            aggregate,
            states: Vec::new(),
            bytes: 0,
        }
    }

    fn grow(&mut self, total_num_groups: usize) {
        if self.states.len() < total_num_groups {
            self.states.resize_with(total_num_groups, A::State::default);
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<A::State> {
        let taken = emit_to.take_needed(&mut self.states);
        if self.states.is_empty() {
            self.bytes = 0;
        }
        taken
    }
}

impl<A: GroupAggregate> GroupsAccumulator for Groups<A> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let rows = self.aggregate.rows(values)?;
        for (row, &group) in group_indices.iter().enumerate() {
            if opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            self.bytes += self.aggregate.update(&mut self.states[group], &rows, row);
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let states = self.take(emit_to);
        self.aggregate.evaluate(&states)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let states = self.take(emit_to);
        self.aggregate.state(&states)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let partials = self.aggregate.partials(values)?;
        for (row, &group) in group_indices.iter().enumerate() {
            self.bytes += self
                .aggregate
                .merge(&mut self.states[group], &partials, row);
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = self.aggregate.rows(values)?;
        let n = values.first().map_or(0, |v| v.len());
        let states: Vec<A::State> = (0..n)
            .map(|row| {
                let mut state = A::State::default();
                if !opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                    self.aggregate.update(&mut state, &rows, row);
                }
                state
            })
            .collect();
        self.aggregate.state(&states)
    }

    fn size(&self) -> usize {
        self.states.capacity() * size_of::<A::State>() + self.bytes
    }
}

/// Runs a [`GroupAggregate`] over one group as a plain [`Accumulator`].
#[derive(Debug)]
pub(crate) struct Single<A: GroupAggregate> {
    aggregate: Arc<A>,
    state: A::State,
    bytes: usize,
}

impl<A: GroupAggregate> Single<A> {
    pub fn new(aggregate: Arc<A>) -> Self {
        Self {
            aggregate,
            state: A::State::default(),
            bytes: 0,
        }
    }

    fn scalar(array: ArrayRef) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&array, 0)
    }
}

impl<A: GroupAggregate> Accumulator for Single<A> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = self.aggregate.rows(values)?;
        let n = values.first().map_or(0, |v| v.len());
        for row in 0..n {
            self.bytes += self.aggregate.update(&mut self.state, &rows, row);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Self::scalar(self.aggregate.evaluate(std::slice::from_ref(&self.state))?)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.bytes
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.aggregate
            .state(std::slice::from_ref(&self.state))?
            .into_iter()
            .map(Self::scalar)
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let partials = self.aggregate.partials(states)?;
        let n = states.first().map_or(0, |v| v.len());
        for row in 0..n {
            self.bytes += self.aggregate.merge(&mut self.state, &partials, row);
        }
        Ok(())
    }
}
