//! Time functions that make tag definitions point-in-time correct: `as_of()`, `days_since(ts)`
//! and `days_between(a, b)`.

mod as_of;
mod days;

pub use as_of::{AsOf, as_of_nanos, parse_as_of};
pub use days::{DaysBetween, DaysSince};

#[cfg(test)]
mod tests;
