//! Customer layering (客户分层): RFM classes, lifecycle stages, range binning and deterministic
//! A/B / holdout assignment.

mod ab;
mod activity;
mod bins;
mod lifecycle;
mod rfm;

pub use ab::{AbGroup, ab_bucket};
pub use activity::{ActivityLevel, ChurnWarning, activity};
pub use bins::RangeBin;
pub use lifecycle::{LifecycleStage, LifecycleThresholds, stage};
pub use rfm::{RFM_CLASSES, RfmClass, rfm_class_name};

#[cfg(test)]
mod tests;
