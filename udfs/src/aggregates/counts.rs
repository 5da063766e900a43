//! How often each group saw each value, for the frequency aggregates: a dense matrix while the
//! aggregation has seen few distinct values (a category, a channel, a city tier: the common
//! case), a hash table of (group, value) pairs beyond that.
//!
//! ```text
//! Dense:  counts[group * stride + id]   stride = a power of two ≥ the number of values (≤ 32)
//! Sparse: HashMap<group << 32 | id, count>
//! ```
//!
//! The dense form costs one array access per row instead of hashing and probing; it moves to
//! the sparse form for good when a 33rd value or a count past `u32::MAX` appears.

use datafusion::common::HashMap;

/// The most distinct values counted densely (per group: `4 × stride` bytes).
pub(crate) const DENSE_MAX_VALUES: usize = 32;

/// The key of a (group, value id) pair in the sparse table.
fn pair(group: usize, id: u32) -> u64 {
    // Groups are below 2^32: checked by the caller when it resizes.
    ((group as u64) << 32) | u64::from(id)
}

#[derive(Debug)]
pub(crate) enum Counts {
    Dense { stride: usize, counts: Vec<u32> },
    Sparse(HashMap<u64, u64>),
}

impl Default for Counts {
    fn default() -> Self {
        Counts::Dense {
            stride: 4,
            counts: Vec::new(),
        }
    }
}

impl Counts {
    /// Makes room for `groups` groups.
    pub fn resize(&mut self, groups: usize) {
        if let Counts::Dense { stride, counts } = self
            && counts.len() < groups * *stride
        {
            counts.resize(groups * *stride, 0);
        }
    }

    /// Adds `count` occurrences of value `id` to `group`; returns the group's new count of it
    /// and whether it had none before.
    #[inline]
    pub fn add(&mut self, group: usize, id: u32, count: u64) -> (u64, bool) {
        match self {
            Counts::Dense { stride, counts } => {
                let i = id as usize;
                if i < *stride {
                    let slot = &mut counts[group * *stride + i];
                    let old = *slot;
                    if let Ok(new) = u32::try_from(u64::from(old) + count) {
                        *slot = new;
                        return (u64::from(new), old == 0);
                    }
                    // A count past u32::MAX: only the sparse form holds it.
                    self.make_sparse();
                } else {
                    self.widen(i + 1);
                }
                self.add(group, id, count)
            }
            Counts::Sparse(map) => {
                let entry = map.entry(pair(group, id)).or_insert(0);
                let was_zero = *entry == 0;
                *entry += count;
                (*entry, was_zero)
            }
        }
    }

    /// Room for `values` distinct values: a wider matrix, or the sparse form past
    /// [`DENSE_MAX_VALUES`].
    fn widen(&mut self, values: usize) {
        let Counts::Dense { stride, counts } = self else {
            return;
        };
        if values > DENSE_MAX_VALUES {
            self.make_sparse();
            return;
        }
        let wider = values.next_power_of_two();
        let groups = counts.len() / *stride;
        let mut out = vec![0u32; groups * wider];
        for (from, to) in counts
            .chunks_exact(*stride)
            .zip(out.chunks_exact_mut(wider))
        {
            to[..from.len()].copy_from_slice(from);
        }
        *counts = out;
        *stride = wider;
    }

    fn make_sparse(&mut self) {
        let mut map = HashMap::default();
        self.for_each(usize::MAX, |group, id, count| {
            map.insert(pair(group, id), count);
        });
        *self = Counts::Sparse(map);
    }

    /// Calls `f(group, id, count)` for every value counted in groups `0..groups`, in no
    /// particular order.
    pub fn for_each(&self, groups: usize, mut f: impl FnMut(usize, u32, u64)) {
        match self {
            Counts::Dense { stride, counts } => {
                for (group, row) in counts.chunks_exact(*stride).enumerate().take(groups) {
                    for (id, &count) in row.iter().enumerate() {
                        if count > 0 {
                            f(group, id as u32, u64::from(count));
                        }
                    }
                }
            }
            Counts::Sparse(map) => {
                for (&key, &count) in map {
                    // The high half of the key is the group, the low half the value id.
                    let group = (key >> 32) as usize;
                    if group < groups {
                        f(group, key as u32, count);
                    }
                }
            }
        }
    }

    /// Forgets groups `0..n` and shifts the others down by `n`. For the sparse form, `compact`
    /// may renumber the value ids still in use (it gets every remaining pair).
    pub fn forget_first(&mut self, n: usize, compact: impl FnOnce(&mut [(u64, u64)])) {
        match self {
            Counts::Dense { stride, counts } => {
                let cut = (n * *stride).min(counts.len());
                counts.drain(..cut);
            }
            Counts::Sparse(map) => {
                let shift = pair(n, 0);
                let mut kept: Vec<(u64, u64)> = std::mem::take(map)
                    .into_iter()
                    .filter(|&(key, _)| key >= shift)
                    .map(|(key, count)| (key - shift, count))
                    .collect();
                compact(&mut kept);
                let mut fresh = HashMap::with_capacity(kept.len());
                fresh.extend(kept);
                *map = fresh;
            }
        }
    }

    /// Whether the counts moved to the sparse form.
    #[cfg(test)]
    fn is_sparse(&self) -> bool {
        matches!(self, Counts::Sparse(_))
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        match self {
            Counts::Dense { counts, .. } => counts.capacity() * size_of::<u32>(),
            // hashbrown: one (key, count) bucket and one control byte per slot.
            Counts::Sparse(map) => map.capacity() * (size_of::<(u64, u64)>() + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(c: &Counts, groups: usize) -> Vec<(usize, u32, u64)> {
        let mut out = Vec::new();
        c.for_each(groups, |g, id, n| out.push((g, id, n)));
        out.sort();
        out
    }

    #[test]
    fn dense_widens_then_goes_sparse_keeping_every_count() {
        let mut c = Counts::default();
        c.resize(3);
        assert_eq!(c.add(0, 1, 1), (1, true));
        assert_eq!(c.add(0, 1, 2), (3, false));
        assert_eq!(c.add(2, 3, 1), (1, true));
        // A fifth value widens the matrix.
        assert_eq!(c.add(1, 6, 5), (5, true));
        assert!(matches!(c, Counts::Dense { stride: 8, .. }));
        let before = pairs(&c, 3);
        assert_eq!(before, [(0, 1, 3), (1, 6, 5), (2, 3, 1)]);
        // Past DENSE_MAX_VALUES: sparse, nothing lost.
        assert_eq!(c.add(1, DENSE_MAX_VALUES as u32, 1), (1, true));
        assert!(c.is_sparse());
        assert_eq!(pairs(&c, 3).len(), 4);
        assert_eq!(pairs(&c, 2), [(0, 1, 3), (1, 6, 5), (1, 32, 1)]);
    }

    #[test]
    fn a_count_past_u32_goes_sparse() {
        let mut c = Counts::default();
        c.resize(1);
        c.add(0, 0, u64::from(u32::MAX));
        assert_eq!(c.add(0, 0, 2), (u64::from(u32::MAX) + 2, false));
        assert!(c.is_sparse());
    }

    #[test]
    fn forgetting_groups_shifts_the_rest_down() {
        for sparse in [false, true] {
            let mut c = Counts::default();
            c.resize(3);
            if sparse {
                c.make_sparse();
            }
            c.add(0, 0, 1);
            c.add(1, 1, 2);
            c.add(2, 2, 3);
            c.forget_first(1, |_| {});
            assert_eq!(pairs(&c, 10), [(0, 1, 2), (1, 2, 3)], "sparse: {sparse}");
        }
    }
}
