//! Every SQL function TagFusion ships.
//!
//! There is one list per kind of function ([`all_scalar_functions`], [`all_aggregate_functions`],
//! [`all_window_functions`]) and one way in, [`register_all`]: the CLI, the
//! Flight SQL server and Ballista executors all call it, so a function that works in one front
//! end works in every other. Functions that depend on the snapshot being computed read it from
//! the session configuration ([`TagFusionConfig`], `SET tagfusion.as_of = '…'`), never from a
//! global, so concurrent refreshes with different as-of times cannot see each other's value.

pub mod aggregates;
mod args;
pub mod bitmap;
pub mod config;
pub mod geo;
pub mod identity;
pub mod layering;
pub mod privacy;
pub mod time;

use std::sync::Arc;

use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use datafusion::prelude::SessionConfig;

pub use config::TagFusionConfig;

/// Every scalar function of TagFusion, in the order `SHOW FUNCTIONS` lists them.
pub fn all_scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(time::AsOf::new())),
        Arc::new(ScalarUDF::from(time::DaysSince::new())),
        Arc::new(ScalarUDF::from(time::DaysBetween::new())),
        Arc::new(ScalarUDF::from(geo::GeoDistance::new())),
        Arc::new(ScalarUDF::from(geo::GeoWithin::new())),
        Arc::new(ScalarUDF::from(layering::RfmClass::new())),
        Arc::new(ScalarUDF::from(layering::RangeBin::new())),
        Arc::new(ScalarUDF::from(layering::AbGroup::new())),
        Arc::new(ScalarUDF::from(layering::LifecycleStage::new())),
        Arc::new(ScalarUDF::from(layering::ActivityLevel::new())),
        Arc::new(ScalarUDF::from(layering::ChurnWarning::new())),
        Arc::new(ScalarUDF::from(identity::NormalizeId::new())),
    ]
    .into_iter()
    .chain(privacy::mask_functions().into_iter().map(Arc::new))
    .chain(bitmap::bitmap_functions().into_iter().map(Arc::new))
    .chain(layering::apply_functions().into_iter().map(Arc::new))
    .collect()
}

/// Every aggregate function of TagFusion.
pub fn all_aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    aggregates::aggregate_functions()
        .into_iter()
        .chain([
            AggregateUDF::from(bitmap::BitmapAgg::new()),
            AggregateUDF::from(bitmap::BitmapUnion::new()),
        ])
        .chain(layering::fit_functions())
        .map(Arc::new)
        .collect()
}

/// Every window function of TagFusion (population models: `… OVER ()`).
pub fn all_window_functions() -> Vec<Arc<WindowUDF>> {
    vec![
        Arc::new(WindowUDF::from(layering::QuantileBin::new_quantile_bin())),
        Arc::new(WindowUDF::from(layering::QuantileBin::new_rfm_score())),
        Arc::new(WindowUDF::from(layering::KMeans::new())),
    ]
}

/// Name and documentation of every function, scalar, aggregate and window.
pub fn all_function_docs() -> Vec<(String, Option<datafusion::logical_expr::Documentation>)> {
    let scalar = all_scalar_functions()
        .into_iter()
        .map(|f| (f.name().to_string(), f.documentation().cloned()));
    let aggregate = all_aggregate_functions()
        .into_iter()
        .map(|f| (f.name().to_string(), f.documentation().cloned()));
    let window = all_window_functions()
        .into_iter()
        .map(|f| (f.name().to_string(), f.documentation().cloned()));
    scalar.chain(aggregate).chain(window).collect()
}

/// Registers every TagFusion function with a DataFusion function registry (a `SessionContext`,
/// a `SessionState` or a Ballista executor's registry).
pub fn register_all(registry: &mut dyn FunctionRegistry) -> datafusion::error::Result<()> {
    for udf in all_scalar_functions() {
        registry.register_udf(udf)?;
    }
    for udaf in all_aggregate_functions() {
        registry.register_udaf(udaf)?;
    }
    for udwf in all_window_functions() {
        registry.register_udwf(udwf)?;
    }
    Ok(())
}

/// Adds TagFusion's configuration namespace (`tagfusion.*`) to a session configuration.
pub fn with_config(config: SessionConfig) -> SessionConfig {
    config.with_option_extension(TagFusionConfig::default())
}

#[cfg(test)]
mod docs_tests {
    /// A registry keeps the last function of a name: two sharing one (or one shadowing a
    /// DataFusion builtin by accident) would silently replace each other. Aliases count too.
    #[test]
    fn no_two_functions_share_a_name() {
        let mut names: Vec<String> = Vec::new();
        for f in super::all_scalar_functions() {
            names.push(f.name().to_string());
            names.extend(f.aliases().iter().cloned());
        }
        for f in super::all_aggregate_functions() {
            names.push(f.name().to_string());
            names.extend(f.aliases().iter().cloned());
        }
        for f in super::all_window_functions() {
            names.push(f.name().to_string());
            names.extend(f.aliases().iter().cloned());
        }
        let mut sorted = names.clone();
        sorted.sort();
        let twice: Vec<&String> = sorted
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| &w[0])
            .collect();
        assert!(twice.is_empty(), "functions sharing a name: {twice:?}");
        // Nor a DataFusion builtin's name.
        let builtins = datafusion::prelude::SessionContext::new();
        for name in &names {
            let state = builtins.state();
            assert!(
                !state.scalar_functions().contains_key(name)
                    && !state.aggregate_functions().contains_key(name)
                    && !state.window_functions().contains_key(name),
                "{name} shadows a DataFusion builtin"
            );
        }
    }

    /// Every function is documented for `SHOW FUNCTIONS` and in docs/functions.md.
    #[test]
    fn every_function_is_documented() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/functions.md"))
                .expect("docs/functions.md");
        for (name, documentation) in super::all_function_docs() {
            assert!(documentation.is_some(), "{name} has no documentation");
            assert!(
                doc.contains(&format!("`{name}(")),
                "docs/functions.md lacks {name}"
            );
        }
    }
}
