//! The state of the frequency aggregates for all groups at once, flat and dense — the layout of
//! DataFusion's own count-distinct `GroupsAccumulator`, so a `GROUP BY customer_id` over
//! millions of customers allocates per distinct value, never per group or per row:
//!
//! ```text
//! values:   Interner<T>            value  -> id (u32), one per distinct value of the aggregation
//! counts:   Counts                 (group, id) -> how often the group saw the value: a dense
//!                                  matrix while there are ≤ 32 values, else a hash table
//!                                  (see [`super::counts`])
//! distinct: Vec<u32>               group -> number of distinct values (= its entries in counts)
//! best:     Vec<Best>              group -> its most frequent value so far (most_frequent only)
//! ```
//!
//! `most_frequent` keeps `best` up to date as counts grow (ties go to the smaller value), so it
//! and `unique_count` evaluate from the dense vectors alone. `top_n`, `unique_list` and the
//! partial state bucket the entries of `counts` by group (a counting sort on `distinct`), then
//! sort each group's small slice.
//!
//! The partial state is two list columns per group, the values and their counts (the same for
//! all four aggregates), so partial aggregation, `convert_to_state` and merging work as they
//! always did. `EmitTo::First(n)` drops groups `0..n` and shifts the others down, as DataFusion
//! expects.
//!
//! [`FrequencySingle`] runs the same state with one group as a plain [`Accumulator`] (no GROUP
//! BY, window frames), so every path gives the same result.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt64Array};
use datafusion::arrow::compute::filter;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, internal_err, resources_err};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use super::counts::Counts;
use super::frequency::Output;
use super::interner::{Interner, Value, included};
use super::values::{from_keys, list, to_keys, u64_lists};

/// A group's most frequent value so far; `count == 0` when it has none.
#[derive(Debug, Clone, Copy, Default)]
struct Best {
    id: u32,
    count: u64,
}

/// The (value id, count) pairs of some groups, bucketed by group: group `g`'s pairs are
/// `pairs[starts[g]..starts[g + 1]]`, in no particular order.
struct Buckets {
    starts: Vec<usize>,
    pairs: Vec<(u32, u64)>,
}

impl Buckets {
    fn groups(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }
}

/// Interned values are compacted when groups are emitted and fewer than half of them (and more
/// than this many) are still in use.
const COMPACT_MIN_VALUES: usize = 1 << 16;

/// A frequency aggregate over all groups (see the module documentation for the layout).
#[derive(Debug)]
pub(crate) struct FrequencyGroups<T: Value> {
    output: Output,
    /// The type values are returned in (the argument's type).
    value_type: DataType,
    values: Interner<T>,
    counts: Counts,
    distinct: Vec<u32>,
    /// Empty unless the output is `most_frequent`.
    best: Vec<Best>,
    /// Scratch: the value ids of the batch being added.
    ids: Vec<Option<u32>>,
}

impl<T: Value> FrequencyGroups<T> {
    pub fn new(output: Output, value_type: DataType) -> Self {
        Self {
            output,
            value_type,
            values: Interner::default(),
            counts: Counts::default(),
            distinct: Vec::new(),
            best: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// Makes room for `total_num_groups` groups.
    fn resize(&mut self, total_num_groups: usize) -> Result<()> {
        if total_num_groups > 1 << 32 {
            return resources_err!(
                "frequency aggregate: more than 2^32 groups in one aggregation ({total_num_groups})"
            );
        }
        if self.distinct.len() < total_num_groups {
            self.counts.resize(total_num_groups);
            self.distinct.resize(total_num_groups, 0);
            if self.output == Output::MostFrequent {
                self.best.resize(total_num_groups, Best::default());
            }
        }
        Ok(())
    }

    /// Adds `count` occurrences of value `id` to `group`.
    fn add(&mut self, group: usize, id: u32, count: u64) {
        if count == 0 {
            return;
        }
        let (count, was_zero) = self.counts.add(group, id, count);
        if was_zero {
            self.distinct[group] += 1;
        }
        // Counts only grow, so the best value only changes to the one that just grew.
        if let Some(best) = self.best.get_mut(group)
            && (count > best.count || (count == best.count && self.values.cmp(id, best.id).is_lt()))
        {
            *best = Best { id, count };
        }
    }

    /// Adds input rows: row `i` (its first argument) goes to group `group_indices[i]`.
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups)?;
        let Some(array) = values.first() else {
            return exec_err!("frequency aggregate: expected an argument");
        };
        let mut ids = std::mem::take(&mut self.ids);
        T::intern(&mut self.values, array, opt_filter, &mut ids)?;
        for (&group, id) in group_indices.iter().zip(&ids) {
            if let Some(id) = *id {
                self.add(group, id, 1);
            }
        }
        self.ids = ids;
        Ok(())
    }

    /// Merges partial states: row `i` (a values list and a counts list) goes to group
    /// `group_indices[i]`.
    fn merge(
        &mut self,
        states: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups)?;
        let [values, counts] = states else {
            return exec_err!(
                "frequency state: expected 2 columns (values, counts), got {}",
                states.len()
            );
        };
        let Some(lists) = values.as_list_opt::<i32>() else {
            return exec_err!("frequency state: expected a list of values");
        };
        let (count_lists, counts) = u64_lists(counts)?;
        // Intern only the elements the rows refer to (the list may be a slice).
        let offsets = lists.value_offsets();
        let first = offsets[0] as usize;
        let elements = lists
            .values()
            .slice(first, offsets[lists.len()] as usize - first);
        let mut ids = std::mem::take(&mut self.ids);
        T::intern(&mut self.values, &elements, None, &mut ids)?;
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            if count_lists.value_length(row) != lists.value_length(row) {
                return exec_err!("frequency state: values and counts differ in length");
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            let count_start = count_lists.value_offsets()[row] as usize;
            for (k, i) in (start..end).enumerate() {
                if let Some(id) = ids[i - first] {
                    self.add(group, id, counts.value(count_start + k));
                }
            }
        }
        self.ids = ids;
        Ok(())
    }

    /// The number of groups `emit_to` covers.
    fn emitted(&self, emit_to: EmitTo) -> usize {
        match emit_to {
            EmitTo::All => self.distinct.len(),
            EmitTo::First(n) => n.min(self.distinct.len()),
        }
    }

    /// Forgets groups `0..n` and shifts the others down by `n`.
    fn forget_first(&mut self, n: usize) {
        if n >= self.distinct.len() {
            // Nothing refers to any value any more: start afresh, releasing the memory.
            *self = Self::new(self.output, self.value_type.clone());
            return;
        }
        self.distinct.drain(..n);
        if !self.best.is_empty() {
            self.best.drain(..n);
        }
        let (values, best) = (&mut self.values, &mut self.best);
        self.counts.forget_first(n, |kept| {
            // Emitting group by group (sorted input, or merging after a spill) would otherwise
            // keep every value ever seen.
            if values.len() > COMPACT_MIN_VALUES && values.len() > 2 * kept.len() {
                compact_values(values, best, kept);
            }
        });
    }

    /// The pairs of groups `0..n`, bucketed by group.
    fn buckets(&self, n: usize) -> Result<Buckets> {
        let mut starts = Vec::with_capacity(n + 1);
        starts.push(0);
        let mut total = 0;
        for &d in &self.distinct[..n] {
            total += d as usize;
            starts.push(total);
        }
        let mut next = starts[..n].to_vec();
        let mut pairs = vec![(0, 0); total];
        let mut uncounted = None;
        self.counts
            .for_each(n, |group, id, count| match pairs.get_mut(next[group]) {
                Some(pair) => {
                    *pair = (id, count);
                    next[group] += 1;
                }
                None => uncounted = Some(group),
            });
        if let Some(group) = uncounted {
            return internal_err!("frequency aggregate: group {group} has uncounted values");
        }
        Ok(Buckets { starts, pairs })
    }

    /// The values of `ids` (`None` = NULL) in the argument's type.
    fn build(&self, ids: impl ExactSizeIterator<Item = Option<u32>>) -> Result<ArrayRef> {
        from_keys(&T::build(&self.values, ids)?, &self.value_type)
    }

    /// The final values of groups `0..n`, leaving the state as it is.
    fn evaluate_first(&self, n: usize) -> Result<ArrayRef> {
        match self.output {
            Output::UniqueCount => Ok(Arc::new(Int64Array::from_iter_values(
                self.distinct[..n].iter().map(|&d| i64::from(d)),
            ))),
            Output::MostFrequent => {
                self.build(self.best[..n].iter().map(|b| (b.count > 0).then_some(b.id)))
            }
            Output::TopN(top) => self.lists(self.buckets(n)?, Some(top)),
            Output::UniqueList => self.lists(self.buckets(n)?, None),
        }
    }

    /// One list per group, NULL for a group without values: its `top` most frequent values
    /// (ties: smaller value first), or with `None` all its values in order.
    fn lists(&self, mut buckets: Buckets, top: Option<usize>) -> Result<ArrayRef> {
        let by_value = |a: &(u32, u64), b: &(u32, u64)| self.values.cmp(a.0, b.0);
        let by_rank = |a: &(u32, u64), b: &(u32, u64)| b.1.cmp(&a.1).then_with(|| by_value(a, b));
        let mut lengths = Vec::with_capacity(buckets.groups());
        let mut ids = Vec::new();
        for g in 0..buckets.groups() {
            let slice = &mut buckets.pairs[buckets.starts[g]..buckets.starts[g + 1]];
            if slice.is_empty() {
                lengths.push(None);
                continue;
            }
            let take = match top {
                Some(top) if top < slice.len() => {
                    slice.select_nth_unstable_by(top - 1, by_rank);
                    slice[..top].sort_unstable_by(by_rank);
                    top
                }
                Some(_) => {
                    slice.sort_unstable_by(by_rank);
                    slice.len()
                }
                None => {
                    slice.sort_unstable_by(by_value);
                    slice.len()
                }
            };
            lengths.push(Some(take));
            ids.extend(slice[..take].iter().map(|p| p.0));
        }
        let values = self.build(ids.into_iter().map(Some))?;
        list(&self.value_type, lengths, values)
    }

    /// The partial states of groups `0..n` (values list, counts list), leaving the state as it
    /// is.
    fn state_first(&self, n: usize) -> Result<Vec<ArrayRef>> {
        let buckets = self.buckets(n)?;
        let lengths: Vec<Option<usize>> = buckets
            .starts
            .windows(2)
            .map(|w| Some(w[1] - w[0]))
            .collect();
        let values = self.build(buckets.pairs.iter().map(|p| Some(p.0)))?;
        let counts = UInt64Array::from_iter_values(buckets.pairs.iter().map(|p| p.1));
        Ok(vec![
            list(&self.value_type, lengths.clone(), values)?,
            list(&DataType::UInt64, lengths, Arc::new(counts))?,
        ])
    }

    /// Every input row as its own partial state: a one-value list, or an empty one for a NULL
    /// or filtered-out row.
    fn rows_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let Some(array) = values.first() else {
            return exec_err!("frequency aggregate: expected an argument");
        };
        let keys = to_keys(array, T::KIND)?;
        let kept: BooleanArray = (0..keys.len())
            .map(|row| Some(keys.is_valid(row) && included(opt_filter, row)))
            .collect();
        let lengths: Vec<Option<usize>> =
            kept.values().iter().map(|k| Some(usize::from(k))).collect();
        let values = from_keys(&filter(&keys, &kept)?, &self.value_type)?;
        let counts = UInt64Array::from_iter_values(std::iter::repeat_n(1, values.len()));
        Ok(vec![
            list(&self.value_type, lengths.clone(), values)?,
            list(&DataType::UInt64, lengths, Arc::new(counts))?,
        ])
    }

    /// Bytes of memory held: the counts table, the interned values and the vectors.
    fn memory(&self) -> usize {
        size_of::<Self>()
            + self.counts.memory()
            + self.values.size()
            + self.distinct.capacity() * size_of::<u32>()
            + self.best.capacity() * size_of::<Best>()
            + self.ids.capacity() * size_of::<Option<u32>>()
    }
}

/// Drops the interned values no remaining pair uses and renumbers the rest, in `pairs` (keys
/// `group << 32 | id`) and `best`.
fn compact_values<T: Value>(values: &mut Interner<T>, best: &mut [Best], pairs: &mut [(u64, u64)]) {
    let mut live = vec![false; values.len()];
    for &(key, _) in pairs.iter() {
        live[key as u32 as usize] = true;
    }
    let remap = values.retain(&live);
    for (key, _) in pairs.iter_mut() {
        *key = (*key & !u64::from(u32::MAX)) | u64::from(remap[*key as u32 as usize]);
    }
    // A group's best value is one of its pairs, so it is live.
    for best in best.iter_mut().filter(|b| b.count > 0) {
        best.id = remap[best.id as usize];
    }
}

impl<T: Value> GroupsAccumulator for FrequencyGroups<T> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.update(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let n = self.emitted(emit_to);
        let result = self.evaluate_first(n)?;
        self.forget_first(n);
        Ok(result)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let n = self.emitted(emit_to);
        let result = self.state_first(n)?;
        self.forget_first(n);
        Ok(result)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.merge(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.rows_to_state(values, opt_filter)
    }

    fn size(&self) -> usize {
        self.memory()
    }
}

/// A frequency aggregate over one group (no GROUP BY, window frames): [`FrequencyGroups`] with
/// group 0 only, so it gives exactly the grouped results.
#[derive(Debug)]
pub(crate) struct FrequencySingle<T: Value> {
    groups: FrequencyGroups<T>,
    /// Scratch: group 0 for every row of a batch.
    zeros: Vec<usize>,
}

impl<T: Value> FrequencySingle<T> {
    pub fn new(output: Output, value_type: DataType) -> Result<Self> {
        let mut groups = FrequencyGroups::new(output, value_type);
        groups.resize(1)?;
        Ok(Self {
            groups,
            zeros: Vec::new(),
        })
    }

    fn zeros(&mut self, rows: usize) -> Vec<usize> {
        let mut zeros = std::mem::take(&mut self.zeros);
        zeros.resize(rows, 0);
        zeros
    }

    fn scalar(array: &ArrayRef) -> Result<ScalarValue> {
        ScalarValue::try_from_array(array, 0)
    }
}

impl<T: Value> Accumulator for FrequencySingle<T> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let zeros = self.zeros(values.first().map_or(0, |v| v.len()));
        let result = self.groups.update(values, &zeros, None, 1);
        self.zeros = zeros;
        result
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Self::scalar(&self.groups.evaluate_first(1)?)
    }

    fn size(&self) -> usize {
        size_of_val(self) - size_of::<FrequencyGroups<T>>()
            + self.groups.memory()
            + self.zeros.capacity() * size_of::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.groups
            .state_first(1)?
            .iter()
            .map(Self::scalar)
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let zeros = self.zeros(states.first().map_or(0, |v| v.len()));
        let result = self.groups.merge(states, &zeros, 1);
        self.zeros = zeros;
        result
    }
}
