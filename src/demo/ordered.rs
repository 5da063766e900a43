//! Work split into numbered items, made on several threads and consumed in order.
//!
//! The demo generators draw their rows in chunks, each from its own random stream, so a chunk
//! depends on its number only; the chunks are made in parallel and written one after another,
//! with only a bounded number made ahead of the writer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};

/// Worker threads for generation: one per available core.
pub fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Makes the items `0..n` with `make` on `workers` threads and hands each to `consume`, on the
/// calling thread, in the order of their numbers. At most `ahead` items are made and not yet
/// consumed at any time, so memory stays bounded however large `n` is.
///
/// The first error of `make` or `consume` stops the work and is returned; items after it are
/// not consumed. A panic in `make` stops the work too and is propagated.
pub fn map_ordered<T: Send>(
    n: usize,
    workers: usize,
    ahead: usize,
    make: impl Fn(usize) -> Result<T> + Sync,
    mut consume: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    let gate = Gate::new(ahead.max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Result<T>)>();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            let (tx, gate, next, make) = (tx.clone(), &gate, &next, &make);
            scope.spawn(move || {
                let _halt = HaltOnPanic(gate);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || !gate.admit(i) || tx.send((i, make(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let result = consume_in_order(n, &rx, &gate, &mut consume);
        // Workers waiting for room stop; those making an item stop after it.
        gate.halt();
        result
    })
}

/// Receives the items and consumes them by number, keeping those that arrive early.
fn consume_in_order<T>(
    n: usize,
    rx: &mpsc::Receiver<(usize, Result<T>)>,
    gate: &Gate,
    consume: &mut impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    let mut early: BTreeMap<usize, T> = BTreeMap::new();
    for i in 0..n {
        let item = loop {
            if let Some(item) = early.remove(&i) {
                break item;
            }
            let (j, item) = rx
                .recv()
                .map_err(|_| Error::invalid("a demo data generator thread stopped"))?;
            early.insert(j, item?);
        };
        consume(i, item)?;
        gate.consumed(i + 1);
    }
    Ok(())
}

/// How far the workers may run ahead of the consumer, and whether the work stopped.
struct Gate {
    ahead: usize,
    state: Mutex<GateState>,
    changed: Condvar,
}

struct GateState {
    /// Items consumed so far (all those numbered below).
    consumed: usize,
    /// The work stopped: an error, a panic or the end.
    halted: bool,
}

impl Gate {
    fn new(ahead: usize) -> Self {
        Gate {
            ahead,
            state: Mutex::new(GateState {
                consumed: 0,
                halted: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until item `i` may be made (fewer than `ahead` items before it are unconsumed);
    /// false if the work stopped. Never waits for ever: every item below `i` was taken by a
    /// worker that makes it without waiting once the items before it are consumed.
    fn admit(&self, i: usize) -> bool {
        let mut state = self.lock();
        while !state.halted && i >= state.consumed + self.ahead {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        !state.halted
    }

    fn consumed(&self, count: usize) {
        self.lock().consumed = count;
        self.changed.notify_all();
    }

    fn halt(&self) {
        self.lock().halted = true;
        self.changed.notify_all();
    }
}

/// Halts the gate when a worker panics, so the others and the consumer do not wait for the
/// item it will never send.
struct HaltOnPanic<'a>(&'a Gate);

impl Drop for HaltOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.halt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Squares 0..n on `workers` threads, consumed in order.
    fn squares(n: usize, workers: usize, ahead: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        map_ordered(
            n,
            workers,
            ahead,
            |i| Ok(i * i),
            |i, sq| {
                out.push((i, sq));
                Ok(())
            },
        )
        .expect("no error");
        out
    }

    #[test]
    fn items_are_consumed_in_order_whatever_the_workers() {
        let expected: Vec<(usize, usize)> = (0..200).map(|i| (i, i * i)).collect();
        for (workers, ahead) in [(1, 1), (3, 1), (4, 8), (8, 2)] {
            assert_eq!(squares(200, workers, ahead), expected, "{workers} workers");
        }
        assert!(squares(0, 4, 4).is_empty());
    }

    #[test]
    fn the_first_error_stops_the_work() {
        let mut consumed = Vec::new();
        let made = map_ordered(
            100,
            4,
            4,
            |i| {
                if i == 7 {
                    Err(Error::invalid("seven"))
                } else {
                    Ok(i)
                }
            },
            |i, _| {
                consumed.push(i);
                Ok(())
            },
        );
        assert_eq!(made.map_err(|e| e.to_string()), Err("seven".to_string()));
        assert!(consumed.iter().all(|&i| i < 7), "{consumed:?}");

        let stopped = map_ordered(100, 3, 2, Ok, |i, _| {
            if i == 5 {
                Err(Error::invalid("full"))
            } else {
                Ok(())
            }
        });
        assert_eq!(stopped.map_err(|e| e.to_string()), Err("full".to_string()));
    }
}
