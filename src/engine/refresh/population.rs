//! Population models without holding the population. Model tags such as
//! `rfm_score(x) OVER ()`, `quantile_bin(x, 10) OVER ()`, `kmeans(4, …) OVER ()` or
//! `x >= avg(x) OVER ()` are window functions over one partition, the whole entity: DataFusion's
//! window operator gathers that partition into a single batch before it answers, so at 10
//! million customers one operator held the whole profile (7.8 GB) and the snapshot's sort could
//! not spill it.
//!
//! A refresh runs them in two steps instead. The rows below such a window are staged to
//! Parquet (streamed, spilling as any query does); every function of the window is fitted over
//! the staged rows as a one-row aggregate (`avg`, `quantile_bin_fit`, `kmeans_fit`, …; only the
//! columns they read are scanned); and the window is replaced by a projection that applies the
//! fitted values to each row as it streams to the snapshot. Windows that are not over the whole
//! population (PARTITION BY, ORDER BY, frames) or whose functions have no fitted form are left
//! to DataFusion.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction, WindowFunction};
use datafusion::logical_expr::{
    Aggregate, Expr, LogicalPlan, Projection, WindowFrame, WindowFrameBound, WindowFrameUnits,
    WindowFunctionDefinition, cast, lit,
};
use datafusion::prelude::SessionContext;
use tagfusion_udfs::layering::population_model;

use crate::engine::scratch::Scratch;
use crate::error::{Error, Result};

/// The table name prefix of staged rows.
const STAGE: &str = "__tf_stage_";

/// `plan` with every population window replaced by its fitted form, lowest first; the rows
/// under each are staged in `scratch` (which must outlive the plan's execution).
pub(super) async fn fit_population_models(
    rctx: &SessionContext,
    scratch: &mut Scratch<'_>,
    mut plan: LogicalPlan,
) -> Result<LogicalPlan> {
    while let Some(window) = lowest_population_window(&plan).cloned() {
        let fitted = fit(rctx, scratch, &window).await?;
        plan = plan
            .transform_up(|node| {
                Ok(
                    if matches!(node, LogicalPlan::Window(_)) && node == window {
                        Transformed::yes(fitted.clone())
                    } else {
                        Transformed::no(node)
                    },
                )
            })?
            .data;
    }
    Ok(plan)
}

/// The window functions of `plan` a refresh fits over staged rows, as SQL-like text.
pub(super) fn population_windows(plan: &LogicalPlan) -> Vec<String> {
    let mut found = Vec::new();
    let _ = plan.apply(|node| {
        if is_population_window(node)
            && let LogicalPlan::Window(w) = node
        {
            found.extend(w.window_expr.iter().map(|e| e.to_string()));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The first population window with none below it.
fn lowest_population_window(plan: &LogicalPlan) -> Option<&LogicalPlan> {
    plan.inputs()
        .into_iter()
        .find_map(lowest_population_window)
        .or_else(|| is_population_window(plan).then_some(plan))
}

fn is_population_window(plan: &LogicalPlan) -> bool {
    let LogicalPlan::Window(w) = plan else {
        return false;
    };
    w.window_expr.iter().all(|e| fitted_form(e).is_some())
}

/// A window function over the whole population: no PARTITION BY, no ORDER BY and a frame of
/// every row, with a fitted form (any aggregate, or a TagFusion population model).
fn fitted_form(expr: &Expr) -> Option<&WindowFunction> {
    let f = match expr {
        Expr::WindowFunction(f) => f.as_ref(),
        Expr::Alias(a) => match a.expr.as_ref() {
            Expr::WindowFunction(f) => f.as_ref(),
            _ => return None,
        },
        _ => return None,
    };
    let p = &f.params;
    let fits = match &f.fun {
        WindowFunctionDefinition::AggregateUDF(_) => true,
        WindowFunctionDefinition::WindowUDF(u) => population_model(u.name()).is_some(),
    };
    (fits && p.partition_by.is_empty() && p.order_by.is_empty() && whole(&p.window_frame))
        .then_some(f)
}

/// A frame of every row of a partition without ORDER BY.
fn whole(frame: &WindowFrame) -> bool {
    let start = matches!(&frame.start_bound, WindowFrameBound::Preceding(v) if v.is_null());
    let end = match &frame.end_bound {
        WindowFrameBound::Following(v) => v.is_null(),
        // Without ORDER BY every row is a peer of the current one.
        WindowFrameBound::CurrentRow => frame.units != WindowFrameUnits::Rows,
        WindowFrameBound::Preceding(_) => false,
    };
    start && end
}

/// The window's replacement: its input (staged unless it already reads staged rows) with each
/// window function's fitted value applied.
async fn fit(
    rctx: &SessionContext,
    scratch: &mut Scratch<'_>,
    window: &LogicalPlan,
) -> Result<LogicalPlan> {
    let LogicalPlan::Window(w) = window else {
        return Err(Error::invalid("internal: not a window"));
    };
    let input = if reads_staged_rows(&w.input) {
        w.input.as_ref().clone()
    } else {
        stage(rctx, scratch, &w.input).await?
    };
    let input = Arc::new(input);
    // Each function with its two-step form (None for an aggregate, which is its own fit).
    let functions = w
        .window_expr
        .iter()
        .map(|e| {
            let f =
                fitted_form(e).ok_or_else(|| Error::invalid("internal: not a fitted window"))?;
            let model = match &f.fun {
                WindowFunctionDefinition::AggregateUDF(_) => None,
                WindowFunctionDefinition::WindowUDF(u) => Some(
                    population_model(u.name())
                        .ok_or_else(|| Error::invalid("internal: no fitted form"))?,
                ),
            };
            Ok((f, model))
        })
        .collect::<Result<Vec<_>>>()?;
    // The fit of every function, as one aggregate over the staged rows.
    let mut fits = Vec::new();
    for (i, (f, model)) in functions.iter().enumerate() {
        let p = &f.params;
        let udaf = match (&f.fun, model) {
            (_, Some(model)) => model.fit.clone(),
            (WindowFunctionDefinition::AggregateUDF(u), None) => u.clone(),
            (WindowFunctionDefinition::WindowUDF(_), None) => {
                return Err(Error::invalid("internal: no fitted form"));
            }
        };
        let aggregate = Expr::AggregateFunction(AggregateFunction::new_udf(
            udaf,
            p.args.clone(),
            p.distinct,
            p.filter.clone(),
            Vec::new(),
            p.null_treatment,
        ));
        fits.push(aggregate.alias(format!("__tf_fit{i}")));
    }
    let aggregate = Aggregate::try_new(input.clone(), Vec::new(), fits)?;
    let batches = DataFrame::new(rctx.state(), LogicalPlan::Aggregate(aggregate))
        .collect()
        .await?;
    let row = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::invalid("internal: fitting a population model returned no row"))?;
    // The input's columns, then each function's value for the row.
    let schema = window.schema();
    let n_input = w.input.schema().fields().len();
    let mut columns: Vec<Expr> = (0..n_input)
        .map(|i| {
            let (qualifier, field) = schema.qualified_field(i);
            Expr::Column(Column::new(qualifier.cloned(), field.name()))
        })
        .collect();
    for (i, (f, model)) in functions.iter().enumerate() {
        let fitted = lit(ScalarValue::try_from_array(row.column(i), 0)?);
        let value = match model {
            None => fitted,
            Some(model) => {
                let mut args = vec![fitted];
                args.extend(model.apply_args(&f.params.args));
                Expr::ScalarFunction(ScalarFunction::new_udf(model.apply.clone(), args))
            }
        };
        let (qualifier, field) = schema.qualified_field(n_input + i);
        columns.push(
            cast(value, field.data_type().clone())
                .alias_qualified(qualifier.cloned(), field.name()),
        );
    }
    Ok(LogicalPlan::Projection(Projection::try_new(
        columns, input,
    )?))
}

/// Whether `plan` only reshapes rows staged already (so reading it again costs a scan).
fn reads_staged_rows(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => scan.table_name.table().starts_with(STAGE),
        LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) | LogicalPlan::Filter(_) => {
            plan.inputs().into_iter().all(reads_staged_rows)
        }
        _ => false,
    }
}

/// Writes `plan`'s rows to Parquet in `scratch` and returns a plan that reads them back with
/// the same (qualified) columns.
async fn stage(
    rctx: &SessionContext,
    scratch: &mut Scratch<'_>,
    plan: &LogicalPlan,
) -> Result<LogicalPlan> {
    let schema = plan.schema().clone();
    // Positional names: the input may hold the same name under two qualifiers.
    let positional: Vec<Expr> = schema
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            Expr::Column(Column::new(qualifier.cloned(), field.name())).alias(format!("c{i}"))
        })
        .collect();
    let df = DataFrame::new(rctx.state(), plan.clone()).select(positional)?;
    let table = scratch.stage(STAGE, df).await?;
    let restored: Vec<Expr> = schema
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            Expr::Column(Column::from_name(format!("c{i}")))
                .alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    Ok(rctx
        .table(table.as_str())
        .await?
        .select(restored)?
        .into_unoptimized_plan())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;

    use super::*;
    use crate::engine::session;

    fn windows(plan: &LogicalPlan) -> usize {
        let mut n = 0;
        let _ = plan.apply(|node| {
            n += matches!(node, LogicalPlan::Window(_)) as usize;
            Ok(TreeNodeRecursion::Continue)
        });
        n
    }

    #[tokio::test]
    async fn population_windows_are_fitted_over_staged_rows() {
        let ctx = session::build(None).unwrap();
        ctx.sql(
            "CREATE TABLE t AS SELECT value AS id, (value * 37) % 101 AS x, value % 7 AS y \
             FROM generate_series(1, 2000)",
        )
        .await
        .unwrap();
        // Two levels of population models over a join (as a profile's levels are), and a
        // partitioned window that is not a population model.
        let sql = "SELECT id, hl, r, k, q, sum(x) OVER (PARTITION BY y) AS w FROM ( \
              SELECT *, quantile_bin(r + k, 3) OVER () AS q \
              FROM (SELECT *, CASE WHEN x >= avg(x) OVER () THEN 'H' ELSE 'L' END AS hl, \
                           rfm_score(x) OVER () AS r, kmeans(2, x, y) OVER () AS k \
                    FROM (SELECT t.id, t.x, t.y FROM t JOIN t AS u ON t.id = u.id) AS j) AS l1) AS l2 \
            ORDER BY id";
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.logical_plan().clone();
        assert_eq!(windows(&plan), 3);
        assert_eq!(population_windows(&plan).len(), 4);
        let expected = pretty_format_batches(&df.collect().await.unwrap())
            .unwrap()
            .to_string();

        let mut scratch = Scratch::new(&ctx);
        let fitted = fit_population_models(&ctx, &mut scratch, plan)
            .await
            .unwrap();
        // Only the partitioned window is left; the join's rows were staged once.
        assert_eq!(windows(&fitted), 1);
        let staged: Vec<String> = ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.starts_with(STAGE))
            .collect();
        assert_eq!(staged.len(), 1, "{staged:?}");
        let got = DataFrame::new(ctx.state(), fitted).collect().await.unwrap();
        assert_eq!(pretty_format_batches(&got).unwrap().to_string(), expected);
        assert!(expected.contains("| H "), "{expected}");
        drop(scratch);
        assert!(ctx.table(staged[0].as_str()).await.is_err());
    }
}
