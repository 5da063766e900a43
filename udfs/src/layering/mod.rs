//! Customer layering (客户分层): RFM scores and classes, lifecycle stages, activity, quantile and
//! range binning, k-means clusters and deterministic A/B / holdout assignment.

mod ab;
mod activity;
mod bins;
mod kmeans;
mod lifecycle;
mod quantile;
mod rfm;

pub use ab::{AbGroup, ab_bucket};
pub use activity::{ActivityLevel, ChurnWarning, activity};
pub use bins::RangeBin;
pub use kmeans::{KMeans, kmeans, standardise};
pub use lifecycle::{LifecycleStage, LifecycleThresholds, stage};
pub use quantile::{QuantileBin, quantile_bins};
pub use rfm::{RFM_CLASSES, RfmClass, rfm_class_name};

#[cfg(test)]
mod tests;
