//! TagFusion's session settings, under the `tagfusion.` prefix of DataFusion's configuration.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;
use datafusion::config::ConfigOptions;

extensions_options! {
    /// Settings that TagFusion's functions read at planning and execution time.
    pub struct TagFusionConfig {
        /// The as-of time of the snapshot being computed, `YYYY-MM-DD HH:MM:SS[.f]` in UTC.
        /// Empty means "the time the query started".
        pub as_of: String, default = String::new()
    }
}

impl ConfigExtension for TagFusionConfig {
    const PREFIX: &'static str = "tagfusion";
}

impl TagFusionConfig {
    /// The configured as-of time of a session, if one is set.
    pub fn from_options(options: &ConfigOptions) -> Option<&TagFusionConfig> {
        options.extensions.get::<TagFusionConfig>()
    }
}
