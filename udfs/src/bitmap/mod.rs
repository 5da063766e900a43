//! Roaring bitmaps for segment math: `bitmap_agg(id)` collects dense integer ids into a bitmap,
//! `bitmap_union(bitmap)` ORs bitmaps, and scalar functions combine and count them.
//!
//! A bitmap is a `BINARY` value in the portable Roaring format (RoaringFormatSpec), the format
//! every Roaring implementation (CRoaring, Java, Go, pyroaring, the `roaring` crate) reads and
//! writes, so stored bitmaps are readable outside TagFusion. The implementation is CRoaring
//! through the `croaring` crate: measured on segment workloads (docs/benchmarks.md) it was
//! 1.5–2.4× faster than the pure-Rust `roaring` crate on dense set operations and 8–21× on
//! sparse ones, and both crates write byte-identical bitmaps.

mod aggregate;
mod index;
mod scalar;

pub use aggregate::{BitmapAgg, BitmapUnion};
pub use croaring::Bitmap;
pub use index::{IndexedValues, ValueIndex};
pub use scalar::bitmap_functions;

use croaring::Portable;
use datafusion::common::{Result, exec_err};

/// Ids a bitmap can hold.
pub const MAX_ID: i64 = u32::MAX as i64;

/// A bitmap from its portable bytes; a clear error for anything else.
pub fn parse(function: &str, bytes: &[u8]) -> Result<Bitmap> {
    match Bitmap::try_deserialize::<Portable>(bytes) {
        Some(b) => Ok(b),
        None => exec_err!(
            "{function}: the value is not a roaring bitmap (portable format); make bitmaps with bitmap_agg(id)"
        ),
    }
}

/// The portable bytes of a bitmap, run-length containers where they are smaller.
pub fn bytes(bitmap: &Bitmap) -> Vec<u8> {
    let mut b = bitmap.clone();
    b.run_optimize();
    b.serialize::<Portable>()
}

/// `id` as a bitmap element, or a clear error.
pub fn element(function: &str, id: i64) -> Result<u32> {
    match u32::try_from(id) {
        Ok(v) => Ok(v),
        Err(_) => exec_err!(
            "{function}: bitmap ids must be integers from 0 to {MAX_ID}, got {id}; map keys to dense integer ids first (e.g. row_number() over the profile)"
        ),
    }
}

#[cfg(test)]
mod tests;
