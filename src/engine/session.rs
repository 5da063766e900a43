//! The DataFusion session every statement runs in: TagFusion's functions and settings, the
//! S3 stores and table options, Delta's planner, the memory limit and TagFusion's analyzer rules.

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::delta_datafusion::planner::DeltaPlanner;

use super::balance;
use crate::error::Result;
use crate::storage;

/// A session with TagFusion's functions; `memory_limit` in bytes bounds query execution
/// (sorts, joins and aggregations spill past it).
pub(super) fn build(memory_limit: Option<usize>) -> Result<SessionContext> {
    let mut config = tagfusion_udfs::with_config(
        SessionConfig::new()
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(true),
    );
    // Strings are plain Utf8, not Utf8View (Parquet reads and VARCHAR in SQL): a profile
    // joins a dozen tag results onto the source rows, and view arrays carried through those
    // joins made writing the snapshot ~30x slower and ~35x larger in memory
    // (docs/benchmarks.md).
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    config.options_mut().sql_parser.map_string_types_to_utf8view = false;
    // S3 buckets are opened on first use from the AWS environment (crate::storage).
    let mut runtime =
        RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(storage::Stores::new()));
    if let Some(limit) = memory_limit {
        // A greedy pool: the fair spill pool starves the running operator (apache/datafusion#22036).
        runtime = runtime.with_memory_limit(limit, 1.0);
    }
    // Delta's planner wraps the default one: it adds the nodes delta-rs writes with.
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime.build_arc()?)
        .with_default_features()
        .with_analyzer_rules(analyzer_rules())
        .with_query_planner(DeltaPlanner::new())
        .build();
    // `aws.*` OPTIONS of CREATE EXTERNAL TABLE: accepted, and applied to the table's bucket.
    state
        .table_options_mut()
        .extensions
        .insert(storage::AwsOptions::default());
    for factory in state.table_factories_mut().values_mut() {
        *factory = Arc::new(storage::S3TableFactory::new(factory.clone()));
    }
    let mut ctx = SessionContext::new_with_state(state);
    tagfusion_udfs::register_all(&mut ctx)?;
    Ok(ctx)
}

/// DataFusion's analyzer rules, after TagFusion's balancing of long AND / OR chains (which
/// must come before type coercion: see `balance`).
fn analyzer_rules() -> Vec<Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>> =
        vec![Arc::new(balance::BalanceChains)];
    rules.extend(datafusion::optimizer::Analyzer::new().rules);
    rules
}
