//! The statistic scans of a refresh: which tags share one aggregation pass (compiler::fusion),
//! how each scan joins the profile query, and naming the tag behind a failure.

use std::collections::HashSet;

use datafusion::prelude::SessionContext;
use indicatif::ProgressBar;

use crate::catalog::TagDef;
use crate::compiler::fusion::keyed;
use crate::compiler::{self, Joined, Scan, VALUE_COLUMN};
use crate::engine::Engine;
use crate::engine::scratch::Scratch;
use crate::error::{Error, Result};
use crate::parser::quote_ident;

/// Aggregate function names (lower case) known to the session.
fn aggregate_names(rctx: &SessionContext) -> HashSet<String> {
    let state = rctx.state();
    let mut names: HashSet<String> = state
        .aggregate_functions()
        .iter()
        .flat_map(|(name, f)| std::iter::once(name.clone()).chain(f.aliases().iter().cloned()))
        .map(|n| n.to_lowercase())
        .collect();
    names.shrink_to_fit();
    names
}

/// How the statistic tags will be computed.
pub(super) fn plan<'t>(rctx: &SessionContext, statistics: &[&'t TagDef]) -> Vec<Scan<'t>> {
    let aggregates = aggregate_names(rctx);
    compiler::plan_scans(statistics, &|name| aggregates.contains(name))
}

fn tag_failed(tag: &TagDef, e: Error) -> Error {
    Error::invalid(format!("tag {} failed: {e}", tag.qualified()))
}

impl Engine {
    /// The joins of the profile query. Fused and grouped scans stream into it as subqueries
    /// (planned here, so a tag whose query does not plan is named); checked scans are computed
    /// first. A fused scan that does not plan falls back to one scan per tag.
    pub(super) async fn statistic_joins<'t>(
        &self,
        rctx: &SessionContext,
        scratch: &mut Scratch<'_>,
        scans: Vec<Scan<'t>>,
        progress: &ProgressBar,
    ) -> Result<Vec<Joined<'t>>> {
        let mut joined = Vec::new();
        for scan in scans {
            let columns = scan.columns();
            match scan {
                Scan::Checked { tag } => {
                    progress.set_message(format!("{}.{}", tag.entity, tag.name));
                    let table = self.compute_statistic(rctx, scratch, tag).await?;
                    joined.push(Joined::table(tag, &table));
                    progress.inc(1);
                }
                Scan::Grouped { tag, sql } => {
                    rctx.sql(&sql)
                        .await
                        .map_err(|e| tag_failed(tag, e.into()))?;
                    joined.push(Joined::query(&sql, columns));
                }
                Scan::Fused {
                    tags,
                    sql,
                    relation,
                } => match rctx.sql(&sql).await {
                    Ok(_) => joined.push(Joined::query(&sql, columns)),
                    Err(e) => {
                        tracing::warn!(
                            "the fused scan of {relation} did not plan ({e}); its tags run one by one"
                        );
                        for tag in tags {
                            let sql = keyed(&tag.definition);
                            rctx.sql(&sql)
                                .await
                                .map_err(|e| tag_failed(tag, e.into()))?;
                            joined.push(Joined::query(&sql, vec![(tag, VALUE_COLUMN.to_string())]));
                        }
                    }
                },
            }
        }
        Ok(joined)
    }

    /// After a refresh failed while running: runs each statistic tag alone, its values used, and
    /// names the first that fails; the refresh's own error when none does (or when memory ran
    /// out, which running them again would not explain).
    pub(super) async fn name_failing_tag(
        &self,
        rctx: &SessionContext,
        statistics: &[&TagDef],
        error: Error,
    ) -> Error {
        // Past the memory limit no single tag is to blame: rerunning each would only repeat it.
        if error.is_resources_exhausted() {
            return error;
        }
        for tag in statistics {
            let sql = format!(
                "SELECT count({}) FROM ({})",
                quote_ident(VALUE_COLUMN),
                keyed(&tag.definition)
            );
            let run = async {
                let df = rctx.sql(&sql).await?;
                df.collect().await
            };
            if let Err(e) = run.await {
                return tag_failed(tag, e.into());
            }
        }
        error
    }
}
