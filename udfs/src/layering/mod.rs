//! Customer layering (客户分层): RFM scores and classes, lifecycle stages, activity, quantile and
//! range binning, k-means clusters (as window functions and as fit/apply pairs) and deterministic A/B / holdout assignment.

mod ab;
mod activity;
mod bins;
mod kmeans;
mod lifecycle;
mod population;
mod quantile;
mod rfm;

pub use ab::{AbGroup, ab_bucket};
pub use activity::{ActivityLevel, ChurnWarning, activity};
pub use bins::RangeBin;
pub use kmeans::{KMeans, KMeansModel, kmeans, standardise};
pub use lifecycle::{LifecycleStage, LifecycleThresholds, stage};
pub use population::{
    PopulationApply, PopulationFit, PopulationModel, apply_functions, fit_functions,
    population_model,
};
pub use quantile::{QuantileBin, bin_of, quantile_bins, quantile_cuts};
pub use rfm::{RFM_CLASSES, RfmClass, rfm_class_name};

#[cfg(test)]
mod tests;
