//! `window_funnel` over all groups at once, without an allocation per group: every matched
//! (tick, step) event of every group goes into one flat arena, in arrival order.
//!
//! ```text
//! events:  Vec<Event>   (group, step, tick) for each row × step that matched, all groups
//! lengths: Vec<u32>     group -> how many of the events are its
//! ```
//!
//! Emitting groups buckets their events by group (a counting sort on `lengths`) and runs
//! [`funnel_level`] on each group's slice, which sorts it; the others stay, shifted down.
//! The partial state is the same two list columns (ticks, steps) as the per-group path.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, UInt8Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, internal_err, resources_err};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::funnel::{Funnel, funnel_level};
use super::groups::GroupAggregate;
use super::interner::included;
use super::values::list;

/// One matched step of one group.
#[derive(Debug, Clone, Copy)]
struct Event {
    group: u32,
    step: u8,
    tick: i64,
}

/// The (tick, step) events of groups `0..n`, bucketed by group: group `g`'s events are
/// `events[starts[g]..starts[g + 1]]`.
struct Buckets {
    starts: Vec<usize>,
    events: Vec<(i64, u8)>,
}

#[derive(Debug)]
pub(crate) struct FunnelGroups {
    funnel: Arc<Funnel>,
    events: Vec<Event>,
    lengths: Vec<u32>,
}

impl FunnelGroups {
    pub fn new(funnel: Arc<Funnel>) -> Self {
        Self {
            funnel,
            events: Vec::new(),
            lengths: Vec::new(),
        }
    }

    fn resize(&mut self, total_num_groups: usize) -> Result<()> {
        if total_num_groups > 1 << 32 {
            return resources_err!(
                "window_funnel: more than 2^32 groups in one aggregation ({total_num_groups})"
            );
        }
        if self.lengths.len() < total_num_groups {
            self.lengths.resize(total_num_groups, 0);
        }
        Ok(())
    }

    fn push(&mut self, group: usize, tick: i64, step: u8) -> Result<()> {
        let length = &mut self.lengths[group];
        let Some(more) = length.checked_add(1) else {
            return resources_err!("window_funnel: more than 2^32 events in one group");
        };
        *length = more;
        self.events.push(Event {
            // Below 2^32: checked in `resize`.
            group: group as u32,
            step,
            tick,
        });
        Ok(())
    }

    fn emitted(&self, emit_to: EmitTo) -> usize {
        match emit_to {
            EmitTo::All => self.lengths.len(),
            EmitTo::First(n) => n.min(self.lengths.len()),
        }
    }

    /// Forgets groups `0..n` and shifts the others down by `n`.
    fn forget_first(&mut self, n: usize) {
        if n >= self.lengths.len() {
            self.events = Vec::new();
            self.lengths = Vec::new();
            return;
        }
        self.lengths.drain(..n);
        // `n` is below the number of groups, so below 2^32.
        let n = n as u32;
        self.events.retain_mut(|e| {
            let keep = e.group >= n;
            e.group = e.group.wrapping_sub(n);
            keep
        });
    }

    fn buckets(&self, n: usize) -> Result<Buckets> {
        let mut starts = Vec::with_capacity(n + 1);
        starts.push(0);
        let mut total = 0;
        for &l in &self.lengths[..n] {
            total += l as usize;
            starts.push(total);
        }
        let mut next = starts[..n].to_vec();
        let mut events = vec![(0, 0); total];
        for e in &self.events {
            let Some(slot) = next.get_mut(e.group as usize) else {
                continue;
            };
            let Some(event) = events.get_mut(*slot) else {
                return internal_err!("window_funnel: group {} has uncounted events", e.group);
            };
            *event = (e.tick, e.step);
            *slot += 1;
        }
        Ok(Buckets { starts, events })
    }

    fn evaluate_first(&self, n: usize) -> Result<ArrayRef> {
        let Buckets { starts, mut events } = self.buckets(n)?;
        let levels: Int64Array = starts
            .windows(2)
            .map(|w| {
                let group = &mut events[w[0]..w[1]];
                funnel_level(group, self.funnel.window, self.funnel.steps)
            })
            .map(Some)
            .collect();
        Ok(Arc::new(levels))
    }

    fn state_first(&self, n: usize) -> Result<Vec<ArrayRef>> {
        let Buckets { starts, events } = self.buckets(n)?;
        let lengths: Vec<Option<usize>> = starts.windows(2).map(|w| Some(w[1] - w[0])).collect();
        let ticks = Int64Array::from_iter_values(events.iter().map(|e| e.0));
        let steps = UInt8Array::from_iter_values(events.iter().map(|e| e.1));
        Ok(vec![
            list(&DataType::Int64, lengths.clone(), Arc::new(ticks))?,
            list(&DataType::UInt8, lengths, Arc::new(steps))?,
        ])
    }
}

impl GroupsAccumulator for FunnelGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups)?;
        let (ts, steps) = self.funnel.rows(values)?;
        for (row, &group) in group_indices.iter().enumerate() {
            if ts.is_null(row) || !included(opt_filter, row) {
                continue;
            }
            for (i, step) in steps.iter().enumerate() {
                if step.is_valid(row) && step.value(row) {
                    self.push(group, ts.value(row), i as u8 + 1)?;
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let n = self.emitted(emit_to);
        let levels = self.evaluate_first(n)?;
        self.forget_first(n);
        Ok(levels)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let n = self.emitted(emit_to);
        let state = self.state_first(n)?;
        self.forget_first(n);
        Ok(state)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups)?;
        let (lists, ticks, steps) = self.funnel.partials(values)?;
        let offsets = lists.value_offsets();
        for (row, &group) in group_indices.iter().enumerate() {
            for i in offsets[row] as usize..offsets[row + 1] as usize {
                self.push(group, ticks.value(i), steps.value(i))?;
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Every row its own group.
        let rows = values.first().map_or(0, |v| v.len());
        let mut single = Self::new(Arc::clone(&self.funnel));
        let groups: Vec<usize> = (0..rows).collect();
        single.update_batch(values, &groups, opt_filter, rows)?;
        single.state_first(rows)
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self.events.capacity() * size_of::<Event>()
            + self.lengths.capacity() * size_of::<u32>()
    }
}
